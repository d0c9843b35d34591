"""Runtime helpers that generated modules may need, copied into them by the printer.

Takes: nothing.  Guarantees: each helper is plain Python that Numba compiles
(`nopython` mode) and that runs unchanged without Numba; the printer copies the
source of exactly the helpers a module uses, so generated modules stay
self-contained.
"""
import math

import numpy as np

from ..special import polygamma_scalar  # noqa: F401  (a helper: its source is copied like the others')


def tape_grow(tape):
    """The same tape with twice the room: what it holds is kept."""
    grown = np.empty((2 * tape.shape[0] + 16,) + tape.shape[1:], tape.dtype)
    grown[:tape.shape[0]] = tape
    return grown


def slice_offset(vector, start):
    """Where `vector[start:]` begins in `vector`: a negative start counts from the end, clipped as NumPy does."""
    n = vector.shape[0]
    if start < 0:
        start += n
        if start < 0:
            start = 0
    elif start > n:
        start = n
    return start


def prod_others(x):
    """For each entry of `x`, the product of all the other entries (prefix times suffix products)."""
    flat = x.flatten()
    n = flat.shape[0]
    out = np.empty(n)
    acc = 1.0
    for k in range(n):
        out[k] = acc
        acc *= flat[k]
    acc = 1.0
    for k in range(n - 1, -1, -1):
        out[k] *= acc
        acc *= flat[k]
    return out.reshape(x.shape)


def reshape_to(array, shape):
    """`array` with the axes `shape` (NumPy's reshape; a non-contiguous array is copied first)."""
    return np.ascontiguousarray(array).reshape(shape)


def sum_like1(gradient, like):
    """`gradient` summed back to the shape of the vector `like` it was broadcast from."""
    if gradient.shape[0] == like.shape[0]:
        return gradient
    total = 0.0                                   # np.sum's order, in a loop: quicker to compile
    for k in range(gradient.shape[0]):
        total += gradient[k]
    out = np.empty(like.shape[0])
    for k in range(out.shape[0]):
        out[k] = total
    return out


def sum_like2(gradient, like):
    """`gradient` summed back to the shape of the matrix `like` it was broadcast from."""
    if gradient.shape[0] == like.shape[0] and gradient.shape[1] == like.shape[1]:
        return gradient
    out = np.ascontiguousarray(gradient)
    if like.shape[0] == 1 and out.shape[0] != 1:
        rows = np.zeros((1, out.shape[1]))      # np.sum(out, axis=0) as loops: quicker to compile
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                rows[0, j] += out[i, j]
        out = rows
    if like.shape[1] == 1 and out.shape[1] != 1:
        columns = np.empty((out.shape[0], 1))
        for i in range(out.shape[0]):
            total = 0.0
            for j in range(out.shape[1]):
                total += out[i, j]
            columns[i, 0] = total
        out = columns
    return out


def sum_axis0(matrix):
    """np.sum(matrix, axis=0), row by row (Numba compiles this in a tenth of the time of np.sum(axis=)),
    in NumPy's dtype: float64 of floats, int64 of ints and bools (`+ 0`)."""
    out = np.zeros(matrix.shape[1], matrix.dtype) + 0
    for i in range(matrix.shape[0]):
        out += matrix[i]
    return out


def sum_axis1(matrix):
    """np.sum(matrix, axis=1), row by row, each row added in order as Numba's np.sum adds it (loops:
    Numba compiles them in a fifth of the time of np.sum of a row), in NumPy's dtype (`sum_axis0`)."""
    out = np.zeros(matrix.shape[0], matrix.dtype) + 0
    for i in range(matrix.shape[0]):
        total = out[i]
        for j in range(matrix.shape[1]):
            total += matrix[i, j]
        out[i] = total
    return out


def sum_like_nd(gradient, like):
    """`gradient` summed over the axes where `like` (of the same rank) has length 1 and it has not."""
    if gradient.shape == like.shape:
        return gradient
    flat = np.ascontiguousarray(gradient).ravel()
    out = np.zeros(like.size)
    ndim = len(like.shape)
    for position in range(flat.shape[0]):
        rest = position
        offset = 0
        stride = 1
        for k in range(ndim - 1, -1, -1):
            index = rest % gradient.shape[k]
            rest //= gradient.shape[k]
            if like.shape[k] != 1:
                offset += index * stride
            stride *= like.shape[k]
        out[offset] += flat[position]
    return out.reshape(like.shape)


def amax_axis0(matrix):
    """np.max(matrix, axis=0) (a matrix of no rows: NumPy's error, never an unchecked matrix[0])."""
    if matrix.shape[0] == 0:
        raise ValueError("zero-size array to reduction operation maximum which has no identity")
    out = matrix[0].copy()
    for i in range(1, matrix.shape[0]):
        out = np.maximum(out, matrix[i])
    return out


def amax_axis1(matrix):
    """np.max(matrix, axis=1) as Numba's np.max finds it in each row (the first NaN, else the first
    of the largest entries), in loops Numba compiles in a seventh of the time; of the matrix's dtype."""
    out = np.empty(matrix.shape[0], matrix.dtype)
    if matrix.shape[1] == 0 and matrix.shape[0] != 0:
        raise ValueError("zero-size array to reduction operation maximum which has no identity")
    for i in range(matrix.shape[0]):
        best = matrix[i, 0]
        if best == best:                        # not NaN: look further
            for j in range(1, matrix.shape[1]):
                value = matrix[i, j]
                if value > best:
                    best = value
                elif value != value:
                    best = value
                    break
        out[i] = best
    return out


def amin_axis0(matrix):
    """np.min(matrix, axis=0) (a matrix of no rows: NumPy's error, never an unchecked matrix[0])."""
    if matrix.shape[0] == 0:
        raise ValueError("zero-size array to reduction operation minimum which has no identity")
    out = matrix[0].copy()
    for i in range(1, matrix.shape[0]):
        out = np.minimum(out, matrix[i])
    return out


def amin_axis1(matrix):
    """np.min(matrix, axis=1) as Numba's np.min finds it in each row (the first NaN, else the first
    of the smallest entries), in loops Numba compiles in a seventh of the time; of the matrix's dtype."""
    out = np.empty(matrix.shape[0], matrix.dtype)
    if matrix.shape[1] == 0 and matrix.shape[0] != 0:
        raise ValueError("zero-size array to reduction operation minimum which has no identity")
    for i in range(matrix.shape[0]):
        best = matrix[i, 0]
        if best == best:                        # not NaN: look further
            for j in range(1, matrix.shape[1]):
                value = matrix[i, j]
                if value < best:
                    best = value
                elif value != value:
                    best = value
                    break
        out[i] = best
    return out


def spread_axis1(matrix, gradient, largest):
    """The adjoint of np.max (`largest`) or np.min of each row of `matrix`: the row's cotangent
    `gradient[i]` split evenly among the row's entries equal to its extremum, zero elsewhere -- the mask
    formula `(matrix == m) * (g / count)` in one pass over each row, without its full-size temporaries.
    The extremum is found as `amax_axis1` finds it: a row holding NaN has NaN for extremum, equal to
    none of its entries, and is NaN throughout, as the mask formula gives."""
    out = np.empty(matrix.shape)
    for i in range(matrix.shape[0]):
        if matrix.shape[1] == 0:
            break
        best = matrix[i, 0]
        for j in range(1, matrix.shape[1]):
            value = matrix[i, j]
            if value != value:
                best = value
                break
            if (value > best) if largest else (value < best):
                best = value
        ties = 0
        for j in range(matrix.shape[1]):
            if matrix[i, j] == best:
                ties += 1
        share = gradient[i] / ties if ties else np.nan
        rest = 0.0 if ties else np.nan
        for j in range(matrix.shape[1]):
            out[i, j] = share if matrix[i, j] == best else rest
    return out


def spread_rows(array, gradient, perm, inverse, k, largest):
    """`spread_axis1` over the groups of `k` entries of `array` with its axes in the order `perm`
    (the reduced axes last), the result's axes put back in `array`'s order (`inverse`)."""
    moved = np.ascontiguousarray(np.transpose(array, perm))
    rows = moved.reshape((moved.size // k, k))
    spread = spread_axis1(rows, np.ascontiguousarray(gradient).reshape(rows.shape[0]), largest)
    return np.transpose(spread.reshape(moved.shape), inverse)


def amax_rows(array, perm, k):
    """The maxima over the last `k`-entry groups of `array` with its axes in the order `perm`."""
    moved = np.ascontiguousarray(np.transpose(array, perm))
    rows = moved.reshape((moved.size // k, k))
    out = np.empty(rows.shape[0], array.dtype)
    for i in range(rows.shape[0]):
        out[i] = np.max(rows[i])
    return out


def amin_rows(array, perm, k):
    """The minima over the last `k`-entry groups of `array` with its axes in the order `perm`."""
    moved = np.ascontiguousarray(np.transpose(array, perm))
    rows = moved.reshape((moved.size // k, k))
    out = np.empty(rows.shape[0], array.dtype)
    for i in range(rows.shape[0]):
        out[i] = np.min(rows[i])
    return out


def prod_rows(array, perm, k):
    """The products over the last `k`-entry groups of `array` with its axes in the order `perm`, in NumPy's
    dtype (`sum_axis0`)."""
    moved = np.ascontiguousarray(np.transpose(array, perm))
    rows = moved.reshape((moved.size // k, k))
    out = np.zeros(rows.shape[0], array.dtype) + 0
    for i in range(rows.shape[0]):
        out[i] = np.prod(rows[i])
    return out


def prod_others_rows(array, perm, inverse, k):
    """For each entry, the product of the other entries of its group (see `prod_rows`), in place."""
    moved = np.ascontiguousarray(np.transpose(array, perm))
    rows = moved.reshape((moved.size // k, k))
    out = np.empty(rows.shape)
    for i in range(rows.shape[0]):
        acc = 1.0
        for j in range(k):
            out[i, j] = acc
            acc *= rows[i, j]
        acc = 1.0
        for j in range(k - 1, -1, -1):
            out[i, j] *= acc
            acc *= rows[i, j]
    return np.transpose(out.reshape(moved.shape), inverse)


def squeeze_all(array):
    """The one entry of an array of length-1 axes (np.squeeze of it)."""
    if array.size != 1:
        raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return np.ascontiguousarray(array).ravel()[0]


def diagonal_of(matrix, offset):
    """np.diagonal(matrix, offset), as a new vector."""
    n = matrix.shape[0]
    m = matrix.shape[1]
    length = min(n, m - offset) if offset >= 0 else min(n + offset, m)
    out = np.empty(max(length, 0))
    for i in range(max(length, 0)):
        if offset >= 0:
            out[i] = matrix[i, i + offset]
        else:
            out[i] = matrix[i - offset, i]
    return out


def diag_embed(vector, like, offset):
    """A matrix shaped like `like`, zero but for `vector` on its diagonal `offset`."""
    out = np.zeros(like.shape)
    for i in range(vector.shape[0]):
        if offset >= 0:
            out[i, i + offset] = vector[i]
        else:
            out[i - offset, i] = vector[i]
    return out


def unsort(gradient, values):
    """The cotangent of np.sort(values) sent back to the positions the entries came from."""
    out = np.empty(gradient.shape[0])
    order = np.argsort(values, kind="mergesort")
    for i in range(order.shape[0]):
        out[order[i]] = gradient[i]
    return out


def sort_gather(tangent, values):
    """`tangent` permuted as np.sort permutes `values` (the tangent of np.sort(values))."""
    out = np.empty(tangent.shape[0])
    order = np.argsort(values, kind="mergesort")
    for i in range(order.shape[0]):
        out[i] = tangent[order[i]]
    return out


def unsort_rows(gradient, values):
    """`unsort` of every row (np.sort of a matrix sorts each row)."""
    out = np.empty(gradient.shape)
    for r in range(values.shape[0]):
        order = np.argsort(values[r], kind="mergesort")
        for i in range(order.shape[0]):
            out[r, order[i]] = gradient[r, i]
    return out


def sort_gather_rows(tangent, values):
    """`sort_gather` of every row: `tangent` permuted as np.sort permutes each row of `values`."""
    out = np.empty(tangent.shape)
    for r in range(values.shape[0]):
        order = np.argsort(values[r], kind="mergesort")
        for i in range(order.shape[0]):
            out[r, i] = tangent[r, order[i]]
    return out


def expit_scalar(x):
    """The logistic function, without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def expit_array(x):
    """The logistic function of each entry, without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(x):
    """log(x / (1 - x)), for numbers and arrays."""
    return np.log(x) - np.log1p(-x)


def gammaln_array(x):
    """math.lgamma of each entry."""
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = math.lgamma(x[index])
    return out


def erf_array(x):
    """math.erf of each entry."""
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = math.erf(x[index])
    return out


def erfc_array(x):
    """math.erfc of each entry."""
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = math.erfc(x[index])
    return out


def polygamma_array(n, x):
    """polygamma_scalar(n, .) of each entry."""
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = polygamma_scalar(n, x[index])
    return out


def matmul(a, b):
    """np.dot(a, b), in the module Numba compiles: a library function (`backend.library`), so that
    Numba's np.dot of each pair of layouts is compiled once per machine, not once per process (about
    0.5 s each).  Numba's np.dot multiplies floats only: an int or bool operand is taken as float64, as
    NumPy takes it beside a float one (`np.asarray` of a float64 array is that array, no copy).  The
    printer calls it only where an operand is a float array and `backend.products` has no function for
    them (a float matrix or vector with a float matrix: `matrix_product`, `matrix_vector`,
    `vector_matrix`, compiled once for all layouts; `primitive.Primitive.compiled`)."""
    return np.dot(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


def squared(x):
    """x * x, a square the derivative computes, for Python (`jit=False`): Python's float power raises
    OverflowError past 1e154, where this gives inf, as the module Numba compiles does."""
    return x * x


def integral(x):
    """The operand of `math.floor`, `math.ceil`, `math.trunc` or `int()`, checked as Python checks it:
    NaN raises ValueError, an infinity OverflowError (Numba's conversion gives -2**63)."""
    if x != x:
        raise ValueError("cannot convert float NaN to integer")
    if x == np.inf or x == -np.inf:
        raise OverflowError("cannot convert float infinity to integer")
    return x


def integral64(x):
    """`integral` in the module Numba compiles, whose ints have 64 bits: a float beyond them raises
    OverflowError (Python's `int(1e30)` is an exact int; Numba's conversion is -2**63)."""
    if x != x:
        raise ValueError("cannot convert float NaN to integer")
    if x == np.inf or x == -np.inf:
        raise OverflowError("cannot convert float infinity to integer")
    if not -9.223372036854775808e18 <= x < 9.223372036854775808e18:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return x


def math_domain(x, outside):
    """The operand `x` of a math-module function (`math.log(x)`), checked as CPython checks it: `outside`
    the function's domain it raises ValueError (Numba's math functions give NaN or an infinity there).
    Tested on the operand, so that a call nobody reads costs a compare, not the function."""
    if outside:
        raise ValueError("math domain error")
    return x


def math_overflow(x, beyond):
    """The operand `x` of a math-module function that overflows past a limit of its operand
    (`math.exp(x)`: `python_errors.overflow_test`), checked as CPython's `math_1` checks the result:
    `beyond` the limit, a finite `x` raises OverflowError (Numba's function gives the infinity).  Tested
    on the operand, so that the test need not wait for the function, and a call nobody reads costs a
    compare."""
    if beyond:
        raise OverflowError("math range error")
    return x


def math_range(out, x):
    """The result `out` of a math-module function that may overflow (`math.exp(x)`), checked as CPython's
    `math_1` checks it: an infinity from a finite `x` raises OverflowError (Numba's gives the infinity)."""
    if out - out != 0.0 and out == out and x - x == 0.0:
        raise OverflowError("math range error")
    return out


def math_pow(out, x, y):
    """The result `out` of `math.pow(x, y)`, checked as CPython's `math_pow` checks it: of finite `x` and
    `y`, NaN (a negative `x` to a fractional power) or an infinity at `x == 0` raises ValueError, another
    infinity OverflowError (Numba's `x ** y` gives them back)."""
    if x - x == 0.0 and y - y == 0.0 and out - out != 0.0:
        if out != out or x == 0.0:
            raise ValueError("math domain error")
        raise OverflowError("math range error")
    return out


def python_power(x, y, complex_raises):
    """`x ** y` of Python's numbers, as CPython's `float_pow` computes it where Numba's `**` gives inf or
    NaN: 0.0 to a negative power raises ZeroDivisionError, an infinity from finite operands
    OverflowError.  A negative finite `x` to a fractional finite `y` is a complex number in Python, which
    a gradient of a real function cannot go on with: ValueError where `complex_raises` (a value the
    function reads), tested first, so that the same text raises when Python runs the helper, where
    `x ** y` would be complex."""
    if complex_raises and x < 0.0 and x - x == 0.0 and y - y == 0.0 and y % 1.0 != 0.0:
        raise ValueError("a negative number to a fractional power is a complex number in Python")
    if x == 0.0 and y < 0.0 and y - y == 0.0:
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    out = x ** y
    if out - out != 0.0 and out == out and x - x == 0.0 and y - y == 0.0:
        raise OverflowError("(34, 'Numerical result out of range')")
    return out


def python_power_int(x, n, limit):
    """`x ** n` of Python's float `x` and a constant int `n` >= 2, checked as `python_power` checks it
    but before computing it: its one error, OverflowError, is where a finite `x` passes `limit` in
    magnitude (`python_errors.python_power_limit`).  A test of the operand, not of the result, so
    that where nothing reads the power, LLVM drops it and the test costs a comparison."""
    if abs(x) > limit and x - x == 0.0:
        raise OverflowError("(34, 'Numerical result out of range')")
    return x ** n


def int_power_check(exponent):
    """The exponent of NumPy's ints raised to an int power, checked as NumPy checks it: a negative one
    raises ValueError (Python's ints give a float, Numba's ints 0)."""
    if exponent < 0:
        raise ValueError("Integers to negative integer powers are not allowed.")
    return True


def int_powers_check(exponents):
    """`int_power_check` of each entry of an int array."""
    for e in exponents.flat:
        if e < 0:
            raise ValueError("Integers to negative integer powers are not allowed.")
    return True


# Python's ints are unbounded, Numba's int64 wrap around: arithmetic of Python's ints that may leave 64
# bits (`python_errors.INT64_PARAM`) is computed by these, which raise where it would wrap (the message is
# python_errors.INT64_OVERFLOW).  Each tests its operands before it computes: Numba's integer arithmetic
# is LLVM's `nsw` (no signed wrap), so a test of the result after the fact may be folded away.
# 9223372036854775807 is 2 ** 63 - 1, the largest int64; the smallest is written -9223372036854775807 - 1.


def int_add(a, b):
    """a + b of Python's ints, or OverflowError where it leaves 64 bits."""
    if b > 0 and a > 9223372036854775807 - b or b < 0 and a < -9223372036854775807 - 1 - b:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return a + b


def int_sub(a, b):
    """a - b of Python's ints, or OverflowError where it leaves 64 bits."""
    if b < 0 and a > 9223372036854775807 + b or b > 0 and a < -9223372036854775807 - 1 + b:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return a - b


def int_mul(a, b):
    """a * b of Python's ints, or OverflowError where it leaves 64 bits.  The float product decides: below
    9.2e18 it is inside (2 ** 63 is 9.223e18, far more than its rounding away), above 9.3e18 outside;
    between, the magnitudes are compared with the largest one the sign allows, in exact integers."""
    estimate = abs((a * 1.0) * (b * 1.0))          # (Numba has no float() of a bool)
    if estimate < 9.2e18:
        return a * b
    if estimate > 9.3e18:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    smallest = -9223372036854775807 - 1
    if a == smallest or b == smallest:          # its magnitude has no int64: only a product by 1 is inside
        if a == 1 or b == 1:
            return a * b
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    magnitude_a, magnitude_b = abs(a), abs(b)
    if magnitude_b == 1:
        return a * b                                        # |a| itself, which fits
    largest = 9223372036854775807 // magnitude_b            # floor(MAX / |b|)
    if (a < 0) != (b < 0) and 9223372036854775807 % magnitude_b == magnitude_b - 1:
        largest += 1                                        # floor(2 ** 63 / |b|): a negative product
    if magnitude_a > largest:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return a * b


def int_pow(a, m):
    """a ** m of Python's ints (m >= 0), or OverflowError where it leaves 64 bits."""
    if abs(a * 1.0) ** m < 9.2e18:
        return a ** m
    out = 1
    for _ in range(m):          # |a| >= 2 here: it leaves 64 bits within 63 trips
        out = int_mul(out, a)
    return out


def int_neg(a):
    """-a of a Python int, or OverflowError for the smallest int64, whose negation has no int64."""
    if a == -9223372036854775807 - 1:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return -a


def int_abs(a):
    """abs(a) of a Python int, or OverflowError as `int_neg`."""
    if a == -9223372036854775807 - 1:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return abs(a)


def int_floordiv(a, b):
    """a // b of Python's ints, or OverflowError for the smallest int64 by -1 (Numba's gives 0)."""
    if b == -1 and a == -9223372036854775807 - 1:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return a // b


def int_floordiv_numpy(a, b):
    """a // b of NumPy's ints: 0 for a zero divisor (NumPy's, with a warning), else `int_floordiv`."""
    if b == 0:
        return 0
    return int_floordiv(a, b)


def int_elements1(op, a):
    """`op` (a checked helper above: `int_neg`, `int_abs`) of each element of the int array `a`: NumPy's
    would wrap around, Numba's is undefined there, so it raises OverflowError where one leaves 64 bits."""
    out = np.empty(a.shape, np.int64)
    for k in np.ndindex(a.shape):
        out[k] = op(a[k])
    return out


def int_elements2(op, a, b):
    """`op` (a checked helper above: `int_add`, `int_mul`...) of int arrays or numbers `a` and `b`,
    broadcast as NumPy does, element by element: OverflowError where one leaves 64 bits."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    left, right = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    out = np.empty(shape, np.int64)
    for k in np.ndindex(shape):
        out[k] = op(left[k], right[k])
    return out


def int_dot(a, b, dtype):
    """np.dot (and @) of int or bool arrays of rank 1 or 2, in the module Numba compiles: Numba's np.dot
    multiplies floats only, and NumPy's int products wrap around where Numba's are undefined, so each
    product and sum is checked (`int_mul`, `int_add`: OverflowError beyond 64 bits).  `dtype`: NumPy's
    result, int64 (bool of bools alone: a sum stored as a bool is "any pair both true")."""
    n = a.shape[-1]
    if b.shape[0] != n:
        raise ValueError("shapes not aligned")
    out = np.zeros(a.shape[:-1] + b.shape[1:], dtype)
    for i in np.ndindex(a.shape[:-1]):
        for j in np.ndindex(b.shape[1:]):
            total = 0
            for k in range(n):
                total = int_add(total, int_mul(a[i + (k,)], b[(k,) + j]))
            out[i + j] = total
    return out[()]


def int_outer(a, b, dtype):
    """np.outer of int or bool arrays, as `int_dot` computes np.dot: each product checked (`int_mul`)."""
    left, right = np.ravel(a), np.ravel(b)
    out = np.empty((left.shape[0], right.shape[0]), dtype)
    for i in range(left.shape[0]):
        for j in range(right.shape[0]):
            out[i, j] = int_mul(left[i], right[j])
    return out


def beyond_64_bits(raises):
    """An int constant of the function beyond 64 bits, in the module Numba compiles, which has no such int:
    OverflowError where it is computed with (called with 1; typed as the int it stands for)."""
    if raises != 0:
        raise OverflowError("an integer beyond the 64 bits compiled code computes with")
    return raises


def range_check(start, stop, step):
    """A loop over `range(start, stop, step)` of Python's ints, or OverflowError before it where Numba's
    trip count (from `stop - start`) or the reverse sweep's bounds (`start - step`, `-step`, its first
    index from `stop - 1` or `stop - start -+ 1`, and the trip count times the step: at most
    `|stop - start| + |step| - 1` where the loop runs) would leave 64 bits."""
    span = int_sub(stop, start)
    int_sub(start, step)
    int_neg(step)
    int_sub(stop, 1)
    int_sub(span, 1)
    int_add(span, 1)
    if span > 0 and step > 0 or span < 0 and step < 0:
        int_add(int_abs(span), int_abs(step) - 1)
    return True


def empty_rows_check(rows, entries, largest):
    """np.max (`largest`) or np.min along axis 1 of a matrix of `rows` rows of `entries` entries raises
    where NumPy's does, as `amax_axis1` and `amin_axis1` raise: rows of no entries."""
    if entries == 0 and rows != 0:
        if largest:
            raise ValueError("zero-size array to reduction operation maximum which has no identity")
        raise ValueError("zero-size array to reduction operation minimum which has no identity")
    return True


def int_float_compare(n, f, op):
    """Python's comparison `op` (0 `<`, 1 `<=`, 2 `>`, 3 `>=`, 4 `==`, 5 `!=`) of its int `n` and the float
    `f`, which Python makes exactly: Numba compares float(n), rounded beyond 2**53 (`2**53 + 1 > 2.0**53`
    is True in Python, False of the rounded int)."""
    if -9007199254740992 <= n <= 9007199254740992:      # float(n) is n: the float comparison is exact
        x = float(n)
        return (x < f, x <= f, x > f, x >= f, x == f, x != f)[op]
    if f != f:
        return op == 5
    if f >= 9.223372036854775808e18:
        order = -1
    elif f < -9.223372036854775808e18:
        order = 1
    else:
        whole = int(math.floor(f))      # exact: a float this large or small is whole, and fits int64
        order = -1 if n < whole else 1 if n > whole else (-1 if f > whole else 0)
    return (order < 0, order <= 0, order > 0, order >= 0, order == 0, order != 0)[op]


def int_true_divide(n, d):
    """`n / d` of Python's ints, correctly rounded as Python's is: Numba divides float(n) by float(d), rounded
    twice beyond 2**53.  ZeroDivisionError for d == 0, as Python raises."""
    if d == 0:
        raise ZeroDivisionError("division by zero")
    if n == 0 or -9007199254740992 <= n <= 9007199254740992 and -9007199254740992 <= d <= 9007199254740992:
        return float(n) / float(d)      # both exact: one rounding (of 0: 0.0 or -0.0, as Python's)
    negative = (n < 0) != (d < 0)
    # |n|, |d| as uint64 (|-2**63| does not fit int64): long division, bit by bit, in unsigned arithmetic
    a = np.uint64(n) if n >= 0 else np.uint64(0) - np.uint64(n)
    b = np.uint64(d) if d >= 0 else np.uint64(0) - np.uint64(d)
    quotient = a // b
    rest = a - quotient * b
    mantissa = quotient
    bits = 0                # significant bits in `mantissa`
    while bits < 64 and (mantissa >> np.uint64(bits)) != np.uint64(0):      # (a shift by 64 is undefined)
        bits += 1
    scale = 0               # the value is mantissa * 2**-scale, plus what `rest` / b adds below it
    while bits < 55:        # 53 bits, a rounding bit and one more: the rest decides ties (sticky)
        rest = rest + rest
        bit = rest >= b
        if bit:
            rest = rest - b
        mantissa = mantissa + mantissa + np.uint64(1 if bit else 0)
        scale += 1
        if mantissa != np.uint64(0):
            bits += 1
    drop = bits - 53        # 2 or more when the quotient alone had more than 55 bits
    kept = mantissa >> np.uint64(drop)
    dropped = mantissa - (kept << np.uint64(drop))
    half = np.uint64(1) << np.uint64(drop - 1)
    if dropped > half or (dropped == half and (rest != np.uint64(0) or kept & np.uint64(1))):
        kept = kept + np.uint64(1)
    value = math.ldexp(float(kept), drop - scale)
    return -value if negative else value


def store_into(view, value):
    """`a[i] = value` of an array into the sub-array `view = a[i]` (`print_memory`): Numba's slice
    assignment, with its overlap copy and its ValueError, compiled once per machine (its error message
    took about 3.5 s to compile in each process)."""
    view[...] = value
    return True


def assert_true(ok, site):
    """`assert` in the function: AssertionError(site) when it fails (the API names the line)."""
    if not ok:
        raise AssertionError(site)
    return True


HELPERS = ["tape_grow", "slice_offset", "prod_others", "reshape_to", "sum_like1", "sum_like2", "sum_like_nd",
           "sum_axis0", "sum_axis1", "amax_axis0", "amax_axis1", "amin_axis0", "amin_axis1", "amax_rows", "amin_rows", "prod_rows",
           "spread_axis1", "spread_rows",
           "prod_others_rows", "squeeze_all", "diagonal_of", "diag_embed", "unsort", "sort_gather", "unsort_rows", "sort_gather_rows", "expit_scalar",
           "expit_array", "logit", "gammaln_array", "erf_array", "erfc_array", "polygamma_scalar",
           "polygamma_array", "matmul", "int_power_check", "int_powers_check", "int_add", "int_sub", "int_mul", "int_pow", "int_neg", "int_abs", "int_floordiv", "int_floordiv_numpy", "int_elements1", "int_elements2", "int_dot", "int_outer", "beyond_64_bits", "range_check", "empty_rows_check", "int_float_compare", "int_true_divide", "store_into", "assert_true", "squared", "integral", "integral64", "math_domain", "math_overflow", "math_range", "math_pow",
           "python_power", "python_power_int"]

# The helpers' source text, read once when this module is imported: a generated module copies it, and it
# must be the code this process runs (reading the file again later would pick up an edit or an upgrade
# of the package made since, a helper under another's name).
SOURCES = {name: __import__("inspect").getsource(globals()[name]) for name in HELPERS}


def helpers_called(text: str, seen=None) -> list:
    """The helpers a spelling (or a helper's source) calls, and the helpers those call, by name."""
    import re
    seen = set() if seen is None else seen
    called = re.findall(r"([A-Za-z_][A-Za-z_0-9]*)\(", text)
    for name in called + ([text] if text.isidentifier() else []):     # a bare name spelling: `prod_others`
        if name in HELPERS and name not in seen:
            seen.add(name)
            helpers_called(SOURCES[name].split(":", 1)[1], seen)
    return sorted(seen)
