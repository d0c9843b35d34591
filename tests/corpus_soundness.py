"""Programs for test_soundness.py: issue 8, one group per class of wrong gradient
or raw crash.  Each group holds the issue's own program (`*_issue`) and
variations of the same pattern (other primitives, positions, nesting, sizes and
trip counts), so that a fix of the one program but not of its class still fails.

Plain module-level Python (the compiler reads the source); nothing here is
differentiated by hand.  The references live in the test file.
"""
import math
from math import sqrt as imported_sqrt

import numpy as np

from autodiff_compiler import custom_derivative, grad, stop_gradient


# ---------------------------------------------------------------- a reduction in the middle of a fused chain

def fused_mid_issue(z):
    e = np.exp(z)
    p = e * np.sum(e)
    return np.sum(p)


def fused_mid_center(z):
    d = z - np.mean(z)
    return np.sum(d * d)


def fused_mid_normalise(z):
    a = np.sin(z)
    r = a / np.sqrt(np.sum(a * a))
    return np.sum(r * z)


def fused_mid_scalar(c, z):
    e = np.exp(c * z)
    return np.sum(e * np.sum(e))


def fused_mid_sin_mean(z):
    e = np.sin(z)
    return np.sum(e * np.mean(e))


def fused_mid_two_uses(z):
    e = np.exp(z)
    p = np.sum(e) * e + e
    return np.sum(p * p)


# ---------------------------------------------------------------- softmax (a reduction in the middle, then a division)

def softmax_issue(z, y):
    e = np.exp(z)
    p = e / np.sum(e)
    return -np.sum(y * np.log(p))


def softmax_stable(z):
    e = np.exp(z - np.max(z))
    p = e / np.sum(e)
    return np.sum(p * p)


def softmax_index(z, k):
    e = np.exp(z)
    p = e / np.sum(e)
    return -math.log(p[k])


def softmax_temperature(t, z):
    e = np.exp(z / t)
    return np.sum(z * e / np.sum(e))


def softmax_normalise(z):
    e = np.cos(z)
    s = np.sum(e)
    return np.sum(e / s) * np.sum(z)


# ---------------------------------------------------------------- forward/reverse loop fusion

def loopfuse_issue(w, n):
    s = 0.0
    for i in range(n):
        s = 0.9 * s + w[i]
    return s * s


def loopfuse_doubling(x, n):
    s = 0.0
    for i in range(n):
        s = 2.0 * s + x
    return s


def loopfuse_horner(x, c):
    s = 0.0
    for i in range(c.shape[0]):
        s = s * x + c[i]
    return s


def loopfuse_sin(w, n):
    s = 0.0
    for i in range(n):
        s = math.sin(s) + w[i] * w[i]
    return s


def loopfuse_scaled(w, c):
    s = 0.0
    for i in range(w.shape[0]):
        s = s * c + w[i]
    return s * s


def loopfuse_affine(x, n):
    s = 1.0
    for i in range(n):
        s = 0.5 * s + x
    return s * s


def loopfuse_square_input(x, n):
    s = 0.0
    for i in range(n):
        s = 3.0 * s + x * x
    return s


# ---------------------------------------------------------------- trip-local values in nested loops

def triplocal_issue(x, m):
    s = 0.0
    for j in range(m):
        for i in range(3):
            c = x * i
        s = s + c * c
    return s


def triplocal_outer_index(x, m):
    s = 0.0
    for j in range(m):
        for i in range(2):
            c = math.sin(x * (i + j))
        s = s + c * x
    return s


def triplocal_while(x, m):
    s = 0.0
    for j in range(m):
        k = 0
        while k < 2:
            c = x * x + k
            k = k + 1
        s = s + c * c
    return s


def triplocal_inner_zero(x, m):
    s = 0.0
    c = x
    for j in range(m):
        for i in range(j % 2):
            c = c * x
        s = s + c
    return s


def triplocal_two_locals(x, m):
    s = 0.0
    for j in range(m):
        for i in range(2):
            a = x * (i + 1)
            b = a * a
        s = s + a * b
    return s


# ---------------------------------------------------------------- a loop index overwritten by a later loop

def index_issue(x, n):
    s = 0.0
    for i in range(n):
        s = s + x
    z = x * i
    for i in range(2):
        s = s + 0.1 * x
    return s + z * z


def index_zero_trip_second(x, n, m):
    s = 0.0
    for i in range(n):
        s = s + x * x
    for i in range(m):
        s = s + x
    return s + x * i


def index_nested_same_name(x):
    s = 0.0
    for i in range(2):
        for i in range(3):
            s = s + x * i
        s = s + x * i * i
    return s


def index_assigned_after(x, n):
    s = 0.0
    for i in range(n):
        s = s + x * i
    i = i + 2
    return s * x * i


def index_while_reuse(x, n):
    s = 0.0
    for i in range(n):
        s = s + math.sin(x * i)
    t = x * i
    i = 0
    while i < 3:
        s = s + x
        i = i + 1
    return s * t


def index_reused_by_while(x):
    s = 0.0
    for i in range(3):
        s = s + x * i
    while i > 0:
        s = s + x * i * i
        i = i - 1
    return s


# ---------------------------------------------------------------- a range bound changed in the body

def bound_issue(x, n):
    s = x
    for i in range(n):
        n = n - 1
        s = math.cos(s) * n
    return s


def bound_grow(x, n):
    s = 0.0
    for i in range(n):
        n = n + 2
        s = s + x * n
    return s * n


def bound_start(x, k, n):
    s = 0.0
    for i in range(k, n):
        k = k + 3
        s = s + x * x * k
    return s


def bound_step(x, n):
    step = 1
    s = 0.0
    for i in range(0, n, step):
        step = step + 1
        s = s + math.sin(x * step)
    return s


def bound_nested(x, m):
    s = 0.0
    n = m
    for j in range(m):
        for i in range(n):
            n = n - 1
            s = s + x * n
    return s


# ---------------------------------------------------------------- invariant hoisting past a zero-trip inner loop

def hoist_issue(x, m):
    s = 0.0
    for j in range(m):
        for i in range(1 - j % 2):
            c = x * j
        s = s + c * c
    return s


def hoist_plus(x, m):
    s = 0.0
    for j in range(m):
        for i in range(1 - j % 2):
            c = x + j
        s = s + c * x
    return s


def hoist_shrinking(x, m):
    s = 0.0
    for j in range(m):
        for i in range(m - 1 - j):
            c = x * x - j
        s = s + c
    return s


def hoist_while(x, m):
    s = 0.0
    for j in range(m):
        k = j % 2
        while k < 1:
            c = x * j
            k = k + 1
        s = s + c * x
    return s


def hoist_two_levels(x, m):
    s = 0.0
    for j in range(m):
        for k in range(2):
            for i in range((j + k + 1) % 2):
                c = x * (j - k)
            s = s + c * c
    return s


# ---------------------------------------------------------------- a statement that may raise, in a zero-trip loop
# (found in session 19: `t = A * B` was hoisted out of the loop, so a loop that runs no trips raised the
# broadcast error the function never raises; the gradient failed where the function runs)

def hoist_raising_mul(x, A, B, n):
    s = np.sum(x * x)
    for i in range(n):
        t = A * B
        s = s + np.sum(t) * x[0]
    return s


def hoist_raising_sub(x, A, B, n):
    s = np.sum(x * x)
    for i in range(n):
        t = A - B
        s = s + np.sum(t * t) * x[1]
    return s


def hoist_raising_compare(x, A, B, n):
    s = np.sum(x * x)
    for i in range(n):
        t = A > B
        s = s + np.sum(t * x[0])
    return s


def hoist_raising_partial(x, A, B, n):
    s = np.sum(x * x)
    for i in range(n):
        t = A * 2.0 + B          # A * 2.0 cannot raise (and may move); + B may
        s = s + np.sum(t) * x[2]
    return s


def hoist_raising_nested(x, A, B, n):
    s = np.sum(x * x)
    for j in range(2):
        for i in range(n):
            t = A + B
            s = s + np.sum(t) * x[j]
    return s


# ---------------------------------------------------------------- unit-step slice reads in a fused chain

def slice_issue_rebind(x, k):
    v = x[k:]
    k = 0
    return np.sum(np.sin(v) * v)


def slice_issue_negative(x):
    v = x[-5:]
    return np.sum(np.sin(v) * v)


def slice_stop_rebind(x, k):
    v = x[:k]
    k = k - 1
    return np.sum(v * v * v)


def slice_past_end(x):
    v = x[1:10]
    return np.sum(np.exp(v) * v)


def slice_rebind_in_loop(x, n):
    s = 0.0
    k = 1
    for i in range(n):
        v = x[k:]
        k = k - 1
        s = s + np.sum(v * v)
    return s


def slice_bound_reused_as_index(x, n):
    v = x[n:]
    s = 0.0
    for n in range(2):
        s = s + np.sum(v * v)
    return s


# ---------------------------------------------------------------- broadcasting back to a length-1 operand

def bcast1_issue(A, v):
    return np.sum(A * v)


def bcast1_vector(v, x):
    return np.sum(np.sin(x * v))


def bcast1_chain(v, x):
    return np.mean((v - x) ** 2)


def bcast1_exp_matrix(v, A):
    return np.sum(np.exp(A) * v + v)


def bcast1_mean_matrix(v, A):
    return np.mean((A - v) ** 2)


def bcast1_operand_first(v, A):
    return np.sum(v * A)


# ---------------------------------------------------------------- views kept across stores (in the adjoint)

def viewstore_issue(x):
    y = np.zeros(4)
    y[0:2] = x
    y[2:4] = x * x
    return np.sum(y * y)


def viewstore_rows_issue(X):
    h = np.zeros_like(X)
    for t in range(X.shape[0]):
        h[t] = X[t]
    return np.sum(h)


def viewstore_view_then_store(x):
    y = np.zeros(3)
    v = y[0:2]
    y[0] = x[0] * 3.0
    return np.sum(v * x)


def viewstore_overwrite(x):
    y = np.zeros_like(x)
    y[0:2] = x[0:2] * 2.0
    y[0:2] = y[0:2] * x[0:2]
    return np.sum(y * x)


def viewstore_reversed_order(x):
    y = np.zeros(4)
    y[2:4] = x * x
    y[0:2] = x
    return np.sum(y * y)


# ---------------------------------------------------------------- signed zero

def signed_issue(y):
    return math.atan2(0.0 - y, -1.0)


def signed_times(y):
    return math.atan2(0.0 - y, -1.0) * (y + 1.0)


def signed_mul_zero(x, y):
    z = y * 0.0
    return x * math.atan2(z, -1.0)


def signed_add_zero(x, y):
    return x * math.atan2(y + 0.0, -1.0)


def signed_neg_difference(x, y):
    return x * np.arctan2(-(y - x), -1.0)


# ---------------------------------------------------------------- aliasing

def alias_issue(x):
    a = np.zeros_like(x)
    b = a
    b[0] = 3 * x[0]
    return np.sum(a * x)


def alias_param_store(x):
    y = x
    y[0] = 0.0
    return np.sum(y * x)


def alias_param_iadd(x):
    y = x
    y += 1.0
    return np.sum(y * x)


def alias_loop(x):
    a = np.zeros_like(x)
    b = a
    for i in range(x.shape[0]):
        b[i] = x[i] * x[i]
    return np.sum(a * x)


def alias_view_store(x):
    a = np.zeros_like(x)
    b = a[1:]
    b[0] = x[0] * 2.0
    return np.sum(a * x)


def alias_chain(x):
    a = np.zeros(2)
    b = a
    c = b
    c[1] = x * x
    return a[1] * x


# an array added in place into memory it shares (NumPy reads the operand as it was before the write;
# a compiled loop read each element after the writes before it: a running sum, found in session 44)

def overlap_issue(x):
    y = x * 1.0
    y[1:] += y[:-1]
    return np.sum(y * y)


def overlap_backward(x):
    y = x * 1.0
    y[:-1] += y[1:]
    return np.sum(y * y * x)


def overlap_reversed(x):
    y = x * 1.0
    y[::-1] += y
    return np.sum(y * y)


def overlap_whole_reversed(x):
    y = x * 1.0
    y[:] += y[::-1]
    return np.sum(y * np.sin(y))


def overlap_strided(x):
    y = x * 1.0
    y[2:] += y[:-2]
    y[1:] += y[:-1]
    return np.sum(y * y * x)


def overlap_through_alias(x):
    y = x * 1.0
    z = y
    y[1:] += z[:-1]
    return np.sum(y * y)


def overlap_in_loop(x, n):
    y = x * 1.0
    for i in range(n):
        y[1:] += y[:-1] * 1.0
        y[1:] += y[:-1]
    return np.sum(y * y)


def overlap_transpose(A):
    B = A * 1.0
    B[:, :] += B.T
    return np.sum(B * B * A)


def overlap_column(A):
    B = A * 1.0
    B[1:, 0] += B[:-1, 0]
    return np.sum(B * B * A)


def overlap_disjoint(x):
    y = x * 1.0
    y[2:4] += y[:2]         # no element in common: no copy is needed, and none changes a number
    return np.sum(y * y * x)


# NumPy's functions of ints and bools that are not the float rule's (found by a review, session 44)

def kinds_reciprocal_int(x):
    a = np.arange(1, 6)
    return np.sum(np.reciprocal(a) * x)


def kinds_reciprocal_signed(x):
    a = np.arange(1, 6) * 2 - 5
    return np.sum(np.reciprocal(a) * x * x)


def kinds_reciprocal_number(x, n):
    return np.sum(x) * np.reciprocal(n)


def kinds_reciprocal_float(x):
    return np.sum(np.reciprocal(x + 3.0) * x)


def kinds_sign_bool(x):
    b = x > 0
    return np.sum(np.sign(b) * x)


def kinds_sign_int(x):
    return np.sum(np.sign(np.arange(-2, 3)) * x)


def kinds_astype_int32(x):
    k = np.arange(5).astype(np.int32) * 1000000000
    return np.sum(x * k)


def kinds_zeros_int32(x):
    k = np.zeros(5, dtype=np.int32) + np.arange(5) * 1000000000
    return np.sum(x * k)


# Python's ints beyond 2**53 with its floats: compared exactly, divided with one rounding (compiled, Numba
# rounded the int to a float first; found by a review, session 44)

def exact_int_float_greater(x, n):
    if n > 9007199254740992.0:
        return x[0] * 2.0
    return x[0] * 3.0


def exact_int_float_equal(x, n):
    if n == 9007199254740992.0:
        return x[0] * 2.0
    return x[0] * 3.0


def exact_float_int_less(x, n):
    if 4611686018427387904.0 < n:       # the float first
        return x[0] * 2.0
    return x[0] * 3.0


def exact_int_float_in_loop(x, n):
    s = 0.0
    k = n
    for i in range(3):
        if k >= 9007199254740994.0:
            s = s + x[0] * (i + 1)
        k = k + 1
    return s + x[1]


def exact_int_true_divide(x, n):
    q = n / 3
    return (q - 3002399751580330.0) * x[0]


def exact_int_true_divide_negative(x, n):
    q = -n / 7
    return (q + 1286742750677284.0) * x[0] * x[1]


def exact_int_bounded_beyond_doubles(x, n):
    # k's bound is known (a loop index plus a constant) and reaches past 2**53: the exact helpers stay
    s = 0.0
    for i in range(4):
        k = i + 9007199254740991
        if k > 9007199254740992.0:
            s = s + x[0] * (i + 1)
        s = s + (k / 3 - 3002399751580330.0) * x[1]
    return s * n


def exact_int_axis_length_mean(x, n):
    # an axis length and a loop index are within 2**53: plain `/` and comparison, as Python computes them
    s = 0.0
    for i in range(x.shape[0]):
        if i < 1.5:
            s = s + x[i] * n
    return s / x.shape[0] + np.sum(x * x) / (x.shape[0] + 1)


def pole_of_a_run_time_constant(x, n):
    # s is 0 on every run (its while loop never runs), yet active by analysis: sqrt's partial at 0 raises in
    # Python (and in Numba's division), and the careful rerun gives up at max's tie (fuzz raising-144-55).
    # The derivative 2x exists; an error is the honest answer the tool can give, never another number
    s = 0.0
    for i in range(n):
        s = s + math.tanh(float(stop_gradient(s)))
    c = 0
    while c < 0:
        s = s + x
        c += 1
    return x * x + math.sqrt(max(s, 0.0)) + math.log(max(s, 0.0) + 1.0) * x


def pole_at_a_tied_branch(x):
    # at x = 0 the right derivative is infinite and the left one 1: no derivative (helper-71: an IEEE
    # rerun that dropped the untaken branch's infinity returned 1.0)
    s = 0.0
    if x > 0.0:
        s = x
    return math.sqrt(s) + x


def pole_at_a_tied_cusp(x):
    # sqrt(|x|) at 0: one-sided derivatives +inf and -inf (an IEEE rerun returned 3.0)
    s = 0.0
    if x != 0.0:
        s = abs(x)
    return math.sqrt(s) + 3.0 * x


def complex_power_recomputed(x, n):
    # CPython folds (-0.3) ** 2.5 into a complex constant; the reverse sweep's recomputation of it did not
    # compile (a TypingError; found by the fuzzer, raising-145-44)
    for i in range(n):
        x = x * (0.5 + 0.5 * math.tanh((-0.3) ** 2.5))
    return x


# ---------------------------------------------------------------- higher order

def hi_cube(x):
    return x ** 3


def hi_sin_times(x):
    return math.sin(x) * x


@grad
def hi_dcube(x):
    return x ** 3


def hi_calls_decorated(x):
    return hi_dcube(x) * 2.0


def hi_square_plus(x):
    return x * x + math.exp(x)


hi_dsquare = grad(hi_square_plus)


def hi_calls_grad_object(x):
    return hi_dsquare(x) * x


# ---------------------------------------------------------------- non-scalar results

def nonscalar_issue_pair(a):
    return 2 * a, a


def nonscalar_issue_vector(x):
    return 3 * x ** 2


def nonscalar_identity(x):
    return x


def nonscalar_matvec(x, A):
    return A @ x


def nonscalar_branch(x, c):
    if c > 0.0:
        return np.sum(x)
    return x * 2.0


def nonscalar_slice(x):
    return x[1:] * 2.0


# ---------------------------------------------------------------- power at a zero base

def pow0_issue(y):
    return 0.0 ** y


def pow0_base_param(y, x):
    return x ** y + y


def pow0_wrt_base(x, y):
    return x ** y


def pow0_spellings(y):
    return np.power(0.0, y * y) + math.pow(0.0, y) + pow(0.0, y) * y


def pow0_array_base(y, x):
    return np.sum(x ** y)


# ---------------------------------------------------------------- np.dot with a float operand

def dotf_issue(x, s):
    return np.sum(np.dot(x, s))


def dotf_wrt_scalar(s, x):
    return np.sum(np.dot(x, s) * x)


def dotf_scalar_first(x, s):
    return np.sum(np.sin(np.dot(s, x)))


def dotf_two_floats(a, b):
    return np.dot(a, b) * a


def dotf_matrix(A, s):
    return np.sum(np.dot(A, s) ** 2)


# ---------------------------------------------------------------- early return and the value

def early_issue(x, n):
    for i in range(n):
        return math.exp(x)
    return x


def early_branch(x):
    if x > 0.0:
        return x * x
    return -x


def early_array(w, n):
    for i in range(n):
        if i == 1:
            return np.sum(w * w)
    return np.sum(w)


def early_loop_after_statements(x, n):
    s = x
    for i in range(n):
        s = s * 2.0
        return s * x
    return s


def early_while_once(x):
    while x < 10.0:
        return math.sin(x)
    return x


# ---------------------------------------------------------------- printer precedence of templated spellings

def printer_issue(w, A, B):
    v = np.mean(A + B, axis=1)
    return w * np.sum(v)


def printer_axis0(w, A, B):
    return w * np.sum(np.mean(A - B, axis=0))


def printer_negated(w, A):
    return w * np.sum(np.mean(-A, axis=1))


def printer_keepdims(w, A, B):
    return w * np.sum(np.mean(A - B, axis=1, keepdims=True) * A)


# ---------------------------------------------------------------- array temporaries on the tape under branches / break

def tapearr_issue(u, x):
    s = 0.0
    for i in range(2):
        if x > 0.0:
            s = np.max(np.outer(u, u))
        x = x - 1.0
    return s


def tapearr_break(u, k):
    s = 0.0
    for i in range(4):
        if i == k:
            break
        v = np.exp(u * i)
        s = s + np.sum(v * u)
    return s


def tapearr_branch_vector(u, x):
    s = 0.0
    for i in range(3):
        if x > i:
            v = u * x - i
            s = s + np.sum(np.sin(v))
    return s


def tapearr_else(u, x):
    s = 0.0
    for i in range(3):
        if x > i:
            v = np.outer(u, u)
        else:
            v = np.outer(u, u * 2.0)
        s = s + np.sum(v) * i
    return s


# ---------------------------------------------------------------- row stores

def rowstore_issue(x, A):
    Z = np.zeros_like(A)
    for i in range(A.shape[0]):
        Z[i] = x * A[i]
    return np.sum(Z ** 2)


def rowstore_vector(w, A):
    Z = np.zeros_like(A)
    for i in range(A.shape[0]):
        Z[i] = A[i] * w
    return np.sum(np.sin(Z))


def rowstore_explicit_slice(x, A):
    Z = np.zeros_like(A)
    for i in range(A.shape[0]):
        Z[i, :] = A[i] * x
    return np.sum(Z * Z)


def rowstore_recurrent(w, X):
    H = np.zeros_like(X)
    H[0] = np.tanh(X[0] * w)
    for t in range(1, X.shape[0]):
        H[t] = np.tanh(X[t] * w + H[t - 1])
    return np.sum(H)


def rowstore_read_back(w, A):
    Z = np.zeros_like(A)
    s = 0.0
    for i in range(A.shape[0]):
        Z[i] = A[i] * w
        s = s + np.sum(Z[i] * Z[0])
    return s


# ---------------------------------------------------------------- loop fusion with a carried adjoint

def carried_issue_halve(x):
    t = x
    for i in range(1):
        t *= 0.5
    return t


def carried_issue_swap(x, n):
    a = x
    b = 0.0
    for i in range(n):
        b = a
        a = 1.0
    return math.sin(b)


def carried_invariant(x, n):
    c = x
    for i in range(n):
        c = x * x + 1.0
    return c * x


def carried_affine(x, n):
    t = x
    for i in range(n):
        t = t * 0.5 + 1.0
    return t * t


def carried_rotate(y, x, n):
    a = x
    b = y
    for i in range(n):
        a, b = b, a
    return a * a * x


# ---------------------------------------------------------------- (new) an active variable overwritten under a loop or branch by an inactive value

def kill_const(x, n):
    y = x
    for i in range(n):
        y = 2.0
    return y * x


def kill_index(x, n):
    y = x
    for i in range(n):
        y = i
    return y * x


def kill_while(x):
    y = x * x
    k = 0
    while k < 2:
        y = 3.0
        k = k + 1
    return y * x


def kill_nested(x, m):
    y = math.sin(x)
    for j in range(m):
        for i in range(2):
            y = 1.5
    return y + x


def kill_array(x, n):
    v = x * 2.0
    for i in range(n):
        v = np.ones_like(x)
    return np.sum(v * x)


def kill_float_count(x, n):
    y = x
    for i in range(n):
        y = float(n)
    return y * x


def kill_array_if(x, c):
    v = x * 2.0
    if c > 0.0:
        v = np.ones_like(x)
    return np.sum(v * x)


def kill_array_if_else(x, c):
    v = x * 2.0
    if c > 0.0:
        v = np.ones_like(x)
    else:
        v = np.zeros_like(x)
    return np.sum(v * x)


def kill_array_stop_gradient(x, c):
    v = x * 2.0
    if c > 0.0:
        v = stop_gradient(x * 5.0)
    return np.sum(v * x)


def kill_array_used_before(x, c):
    v = np.sin(x)
    s = np.sum(v)
    if c > 0.0:
        v = np.ones_like(x)
    return s + np.sum(v * x)


# ================================================================ raw crashes

def crash_matrix_pow(A, B):
    return np.sum(A ** B)


def crash_matrix_pow_exponent(B, A):
    return np.sum(A ** B)


def crash_const_left_compare(a):
    if 0 > a:
        return -a
    return a * a


def crash_const_left_float(a):
    return a * a if 1.5 < a else a


def crash_keepdims_param(A, k):
    return np.sum(np.sum(A, axis=1, keepdims=k) * A)


def crash_tuple_index(a, b, c, i):
    x = a, b, c
    return x[i]


def crash_max_axis0_vector(v):
    return np.max(v, axis=0) * np.sum(v)


def crash_sum_axis_neg1(v):
    return np.sum(v * v, axis=-1)


def crash_sum_axis_neg1_matrix(A):
    return np.sum(np.sum(A * A, axis=-1) * np.sum(A, axis=-2))


def crash_prod_zero(x):
    return np.prod(x)


def crash_prod_zero_chain(x):
    return np.prod(x * x + x) + np.sum(x)


def crash_loop_local_length(x, n):
    s = 0.0
    for i in range(n):
        v = np.ones(i + 1) * x
        s = s + np.sum(v * v)
    return s


def crash_type_order_index(x, v):
    s = 0.0
    for i in range(2):
        k = 1
        s = s + v[k] * x
        k = x * 2.0
        s = s + k
    return s


def crash_type_order_accumulator(v, n):
    s = 0.0
    for i in range(n):
        s = s + v * v
    return np.sum(s)


def crash_3d(x):
    return np.sum(np.sin(x) * x ** 2)


def crash_moving_slice(x, n):
    s = 0.0
    for i in range(n):
        s += np.sum(x[i:n] ** 2)
    return s


def crash_moving_slice_start(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.sum(np.sin(x[:i + 1]) * x[0])
    return s


def crash_neg_inf(x):
    m = -math.inf
    for i in range(x.shape[0]):
        m = max(m, x[i])
    return m * m


def crash_where_scalars(x, c):
    return np.sum(np.where(c > 0.0, 1.0, 2.0) * x)


def crash_where_scalars_value(x):
    return np.sum(np.where(x > 0.0, x * x, 0.0))


def crash_untaken_temporary(x, u):
    s = x
    if x > 10.0:
        t = np.exp(u)
        s = s + np.sum(t * x)
    return s * s


def crash_transpose_sum(B):
    return (B.T).sum() * np.sum(B * B)


def crash_transpose_expression(A, B):
    return np.sum((A + B).T * A.T)


def crash_reduction_index(A):
    return np.sum(A, axis=0)[0] * np.sum(A * A)


# ---- stores of parts of different rank into one array (an element, then a row) whose overwritten
# values the reverse sweep needs: each part rank has its own tape (one shared tape mixed floats and rows)

def mixed_rank_stores(A, v, s):
    Z = A * 1.0
    y = np.sum(Z ** 2)
    Z[0, 0] = s * s
    t = np.sum(np.sin(Z))
    Z[1] = v * s
    u = np.sum(np.cos(Z) * Z)
    Z[:, 0] = v * 2.0
    return y + t + u + np.sum(Z * Z * Z)


def mixed_rank_stores_loop(A, v, s):
    Z = A * 1.0
    total = 0.0
    for i in range(A.shape[0]):
        Z[i, i] = s * Z[i, i]
        total = total + np.sum(np.sin(Z))
        Z[i] = v * Z[i]
        total = total + np.sum(Z ** 3)
    return total


def mixed_rank_stores_while(A, s):
    # the fuzzer's program (arrays-8000-892), shrunk by hand: element then row stores in a while loop
    Z = np.zeros_like(A)
    t = 0.0
    while t < 1.0 + s * s:
        t = t + 0.5
        Z[0, 1] = math.sin(t * s)
        Z[0] = np.tanh(np.max(Z, axis=0) + A[0])
    return np.sum(Z * Z) + np.sum(np.dot(Z[:, 0], Z))


# ---- a view of an array, defined again after a store into that array: the reverse sweep records
# the view's old value where it is redefined (found by the fuzzer, seed 9200: `y1[2:3] = y1[1:2]` in a
# loop made the audit stop the derivation with an InternalError); each such view becomes a copy

def view_redefined_copy_store(u, x, n):
    y = u.copy()
    for k in range(n):
        if x > 0.3:
            pass
        else:
            y[2:3] = y[1:2]
    return np.sum(y * y) * x


def view_redefined_loop(u, x, n):
    y = u * 1.0
    for k in range(n):
        t = y[1:]
        y[0:2] = np.tanh(t) * x
    return np.sum(y * y)


def view_redefined_straight(u, x):
    y = u * x
    t = y[1:3]
    y[0:2] = t * 2.0
    t = y[0:2]
    y[1:3] = np.sin(t)
    return np.sum(y * y)


def view_redefined_while(u, x):
    y = u.copy()
    s = 0.0
    while s < 1.0:
        s = s + 0.4
        r = y[-1:]
        y[0:1] = r * x + s
    return np.sum(y ** 3)


# ---- stores that broadcast their value (NumPy repeats a length-1 axis, or a lower-rank value, over
# the part it writes): the part's adjoint sums back to the value's shape.  Found writing the tests
# above: `y[0:2] = t` with t of length 1 gave half the gradient with jit (silently) and a shape error
# without

def broadcast_store_vector(u, x):
    y = u * 1.0
    t = y[1:]
    y[0:2] = np.tanh(t) * x
    return np.sum(y * y)


def broadcast_store_rows(A, v):
    Z = A * 1.0
    Z[0:2, :] = np.sin(v) * 2.0
    return np.sum(Z * Z * A)


def broadcast_store_column(A, c):
    Z = A * 1.0
    Z[:, 1:3] = np.exp(Z[:, 0:1]) * c
    return np.sum(Z ** 2)


def broadcast_store_loop(u, x, n):
    y = u * 1.0
    for k in range(n):
        y[0:3] = y[k:k + 1] * x + np.sin(y[0:3])
    return np.sum(y ** 3)


# ---- np.where / np.array of numbers (0-d arrays) used as values: rebinding is fine; only augmented
# assignment, which NumPy does in place, is refused (tests/test_language.py)

def zero_d_rebound(z):
    y = np.where(z > 0.0, z * z, z)
    v = y
    y = y / np.exp(z)
    return v * 3.0 + y


def zero_d_vector_inplace(v, z):
    y = np.where(v > 0.0, v * z, z)
    y *= 2.0
    return np.sum(y * y)


# ---- array temporaries of another dtype (a boolean mask, an integer array) made under a branch in a
# loop: the reverse sweep starts them before their first assignment (found by the fuzzer, seeds 9200 and
# 9300: `np.where(y1 >= 0.1, y1, v)` under an `if` in a `while`, InternalError "cannot start t26 (bool[:])")

def mask_temporary_in_loop(u, v, z):
    y1 = np.zeros(4)
    y = 0.0
    t = 0.0
    while t < 1.0 + u[1] * u[1]:
        t = t + 0.3 + z * z
        y1[1] = np.tanh(y1[1] + z)
        if y1[0] < 0.6:
            y = np.dot(np.where(y1 >= 0.1, y1, v), u)
    return y * z


def mask_temporary_for(u, z, n):
    s = 0.0
    for k in range(n):
        w = u * z + k
        if z > 0.0:
            s = s + np.sum(np.where(w > 0.5, w * w, np.sin(w)))
    return s


# ---- a value that only a branch with a constant test defines: Numba decides the test from the
# constants and drops that side before typing, while the reverse sweep's branch (on the recorded
# test) stays, so the value it reads had no type (found by the fuzzer, seed 9400, control-9400-203,
# jit on and simplifier off: TypingError "cannot determine type of t103").  The constant's name is
# assigned twice, so only Numba's SSA form sees the constant on the path of the test

def constant_test_else(x, y, n):
    v = -3.0
    if n > 0:
        y = y * x
        v = y
    else:
        if v != 2.5:
            y = y + 1.0
        else:
            x = x * max(x / (2.0 + math.sin(y)), y)
    return x + y


def constant_test_taken(x, k):
    c = 2
    s = 0.0
    if k > 5:
        c = k
        s = x
    else:
        if c == 2:
            s = math.sin(x) * x
        else:
            s = math.cos(x) * math.exp(x)
    if k > 1:
        s = s * x
    return s + c


def constant_test_in_loop(x, n):
    s = 0.0
    level = 1.5
    if x > 10.0:
        level = x
    else:
        for i in range(n):
            if level > 3.0:
                t = math.tanh(x * s)
                s = s + t * x
            else:
                s = s + x * math.sin(s + i)
    return s * level


def constant_test_array(u, x, m):
    w = u * x
    mode = 1
    if m > 2:
        w = w * w
        mode = m
    else:
        if mode == 2:
            w = np.exp(w) * np.sin(w)
        else:
            w = w * u
    return np.sum(w * u) * mode


# ---- an array made anew in each trip of a loop (any primitive), bound to another name, then written
# through that name: where it is made again, the reverse sweep records its old value, which the write
# had changed (found by the fuzzer, seed 9500, arrays-9500-2223: `y1[0:3] = ...; y1 = np.tanh(y1)` in a
# loop, the audit's InternalError "reads t25 after a write through a name sharing its memory").  The
# name bound to it becomes a copy

def rebound_store_loop(x, w, n):
    y1 = np.ones_like(w)
    for i in range(n):
        if x > 0.0:
            y1[0:3] = np.tanh(x * np.abs(y1))
            y1 = np.tanh(y1)
    return np.sum(y1 * w)


def rebound_store_named(u, x, n):
    y = u * 1.0
    s = 0.0
    for i in range(n):
        t = np.exp(0.5 * y)
        s = s + np.sum(t * u)
        y = t
        y[1] = x * y[0]
    return s + np.sum(y)


def rebound_store_while(u, x):
    y = u * x
    k = 0
    while k < 3:
        y[0] = x * np.sum(y)
        y = np.sin(y) * x
        k = k + 1
    return np.sum(y * y)


# ---- views made again in the reversed trip (record.recomputable: `xs[t]`, `xs[t:k]` not taped)

def remade_rows(W, xs):
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
    return np.sum(h * h)


def remade_window(w, x):
    s = 0.0
    for t in range(x.shape[0] - 1):
        k = t + 2
        v = x[t:k]
        s = s + np.sum(np.sin(v * w))
    return s


def remade_active_rows(w, xs):
    h = w * 0.5
    for t in range(xs.shape[0]):
        r = xs[t]
        h = np.sum(np.tanh(r * h + w))
    return h


def remade_base_stored_after(w, x0):
    z = x0.copy()
    s = 0.0
    for t in range(z.shape[0]):
        r = z[t]
        s = s + np.sum(np.sin(r * w))
    z[0] = z[1] * w                       # a store into the base after the loop: undone before it
    return s + np.sum(z * z)


def remade_base_written_in_loop(w, x0):
    z = x0.copy()
    for t in range(z.shape[0] - 1):
        r = z[t]
        z[t + 1] = np.tanh(r * w + z[t + 1])
    return np.sum(z * z)


def remade_base_rebound_after(w, x0):
    z = x0 * w
    s = 0.0
    for t in range(z.shape[0]):
        r = z[t]
        s = s + np.sum(r * r * w)
    z = z * 2.0                            # the base bound anew after the loop: its old value is kept
    return s + np.sum(z)


# ---- broadcasts read through (optimise.broadcasts: op(a, expand(g, x)) -> op(a, g) when a has x's shape)

def bcast_softmax_rows(Z, Y):
    m = np.max(Z, axis=1, keepdims=True)
    E = np.exp(Z - m)
    lse = np.log(np.sum(E, axis=1, keepdims=True)) + m
    return -np.sum(Y * (Z - lse)) / Z.shape[0]


def bcast_column_max(Z):
    m = np.max(Z, axis=0, keepdims=True)
    return np.sum(np.exp(Z - m) * Z)


def bcast_row_mean_scaled(A, w):
    c = A - np.mean(A, axis=1, keepdims=True)
    return np.sum(np.tanh(c * w) * c)


def bcast_smaller_operand(A):
    # the mean (1, m) multiplies A's adjoint broadcast: it must not stand in for A's shape
    r = np.mean(A, axis=0, keepdims=True)
    return np.sum(r * A) + np.sum(np.sin(A))


def bcast_vector_against_matrix(A, v):
    return np.sum(np.exp(A * v) * v)


def bcast_sum_kept(A):
    s = np.sum(A, axis=1, keepdims=True)
    return np.sum(np.sqrt(s * s + 1.0) * A) + np.sum(np.max(A, axis=1, keepdims=True) * s)


def bcast_in_loop(Z, k):
    total = 0.0
    for i in range(k):
        m = np.max(Z, axis=1, keepdims=True)
        Z = np.tanh(Z - m) * 1.5
        total = total + np.sum(Z * Z)
    return total


def remade_alias_plain(w, x0):
    a = x0 * 1.0
    z = a
    s = 0.1
    for t in range(z.shape[0]):
        r = z[t]
        s = s + np.sum(np.sin(r * w * s))
    a[0] = a[0] * s
    return s + np.sum(a * a)


def remade_alias_transposed(w, x0):
    a = x0 * 1.0
    z = a.T
    s = 0.1
    for t in range(z.shape[0]):
        r = z[t]
        s = s + np.sum(np.sin(r * w * s))
    a[0] = a[0] * s
    return s + np.sum(a * a)


def remade_alias_slice(w, x0):
    a = x0 * 1.0
    z = a[1:]
    s = 0.0
    for t in range(z.shape[0]):
        r = z[t]
        s = s + np.sum(np.sin(r * w))
    a[1] = a[1] * s
    return s + np.sum(a)


def remade_alias_store_via_view(w, x0):
    a = x0 * 1.0
    s = 0.1
    for t in range(a.shape[0]):
        r = a[t]
        s = s + np.sum(np.sin(r * w * s))
    b = a[1:]
    b[0] = b[0] * s
    return s + np.sum(b * b)


# ---- an integer to a possibly negative integer power is a float (Python), never Numba's integer power

def intpow_variable(w, k, m):
    return w * k ** m + w * w


def intpow_constant(w, k):
    return w * k ** -2 + w * (k ** 2)


def intpow_elements(w, k, m):
    s = 0.0
    for i in range(k.shape[0]):
        s = s + w * k[i] ** m
    return s


def intpow_bool_base(w, k, m):
    return w * (k > 1) ** m + w * 2 ** m


def intpow_augmented(w, k, m):
    k **= m                              # an int parameter the body makes a float
    return w * k


def intpow_reassigned_in_loop(w, k, m):
    for i in range(2):
        k = k ** m
    return w * k


# ---- arrays of any layout (transposes 'F', strided views 'A', 'C') carried by loops, taped and accumulated:
# Numba must type each such variable one layout, or an array expression over it gets layout 'A' (a crash)

def layout_issue(n, y, A, x):
    Q2 = x * A.T
    for i in range(0, n, 3):
        y = y * (0.5 + 0.5 * math.tanh(np.sum(np.max(Q2, axis=1, keepdims=True))))
    return y + np.sum(A)


def layout_transposed_carried(A, n):
    Q = A.T * 2.0                        # 'F' before the loop, 'C' in it
    for i in range(n):
        Q = np.sin(Q) + A
    return np.sum(Q * 3.0)


def layout_strided_views(A, n):
    s = 0.1
    B = A.T
    for i in range(n):
        C = B[:, ::2] * s + B[:, ::2]    # strided views of a transpose, taped
        s = s + np.sum(np.tanh(C) * B[:, ::2])
    return s


def layout_transposed_taped(A, n):
    y = 1.0
    Q = A.T
    for i in range(n):
        R = Q * y                        # 'F', taped; its adjoint accumulated across trips
        y = y * math.tanh(np.sum(np.max(R, axis=0, keepdims=True) * R))
    return y + np.sum(Q * A.T)


def layout_fortran_accumulator(A, n):
    G = np.zeros_like(A.T)               # 'F' zeros (A square), accumulated with 'C' terms
    for i in range(n):
        G = G + np.sin(A * (i + 1.0))
    return np.sum(G * A) + np.sum(2.0 * G)


# ---------------------------------------------------------------- indices: in range as Python has them, out of range an error

def bounds_index_arg(w, k):
    return w[k] * w[k] + np.sum(w)       # k from the caller; negative k counts from the end


def bounds_loop_other(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        r = 2.0 * x[i] - y[i]            # y may be shorter than x
        s += r * r
    return s / x.shape[0]


def bounds_store(x, k):
    z = np.zeros(3)
    z[k] = x[0] * x[1]
    return np.sum(z * z) + x[0]


def bounds_matrix(A, i, j):
    return A[i, j] ** 2 + np.sum(A[i] * A[i])


def bounds_while(x, n):
    i = 0
    s = 0.0
    while i < n:
        s += math.sin(x[i]) * x[i]
        i += 1
    return s


def bounds_wrapping(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i - 1]             # x[-1] at i = 0: the last entry, as in Python
    return s


def bounds_row_loop(A, n):
    s = 0.0
    for t in range(n):
        s += np.sum(np.tanh(A[t]) * A[t])
    return s


# out of range where the gradient needs no value of the read: the read is still Python's, and raises

def bounds_dead_other(x, y, k):
    return np.sum(x ** 2) + y[k]         # y, k not differentiated


def bounds_dead_loop(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 2 + y[i]            # y shorter than x
    return s


def bounds_dead_stopped(x, k):
    return np.sum(x ** 2) + stop_gradient(x[k])


def bounds_dead_local(x, k):
    t = x[k]                             # read, never used
    return np.sum(x ** 2)


def bounds_dead_store(x, k):
    z = np.zeros(2)
    z[k] = 1.0                           # stored, never read
    return np.sum(x ** 2)


# ---------------------------------------------------------------- a bool where a number is read (Numba has no float() of a bool)

def boolarg_issue(x, k):
    return x * k                         # the adjoint of x is k, a float made from a bool


def boolarg_float_call(x, k):
    return float(k) * x ** 2


def boolarg_numpy_float(x, k):
    return k * x ** 2 + np.float64(k)


def boolarg_array(x, k):
    return np.sum(x * k) + np.sum(np.sin(x)) * k


def boolarg_loop(x, k):
    s = 0.0
    for i in range(3):
        s = s + x * k * i
    return s


def boolarg_power(x, k):
    return x ** k + x * x


# ---------------------------------------------------------------- the largest or smallest of bools is a bool (Numba has no float() of a bool)

def extremum_issue(x, p, q):
    return x * max(p, q)                 # the adjoint of x is max(p, q): a bool, read as a number


def extremum_min_float(x, p, q):
    return float(min(p, q)) * x ** 2


def extremum_bool_and_int(x, p):
    return x * max(p, 3) + x * min(p, 0)  # a bool and an int: an int


def extremum_reduce(x, b):
    return x * np.max(b) + x * x * float(np.min(b))


def extremum_axis(x, b):
    return np.sum(x * np.max(b, axis=0)) + np.sum(x * np.min(b, axis=1, keepdims=True))


def extremum_elementwise(x, b):
    return np.sum(x * np.maximum(b, b[::-1]) + x * np.minimum(b, True))


def extremum_in_power(x, p, q):
    return x ** max(p, q) + x * x


# ---------------------------------------------------------------- programs specialised on which axes agree at dispatch

def dispatch_softmax(Z, Y):
    m = np.max(Z, axis=1, keepdims=True)
    E = np.exp(Z - m)
    lse = np.log(np.sum(E, axis=1, keepdims=True)) + m
    return -np.sum(Y * (Z - lse)) / Z.shape[0]      # Y: Z's shape, a row, a column


def dispatch_mse(w, b, x, y):
    return np.mean((w * x + b - y) ** 2)              # y: x's length or one element


def dispatch_recurrence(W, b, h, n):
    for t in range(n):
        h = np.tanh(W @ h + b)                        # W square or not, b a vector or one element
    return 0.5 * np.sum(h * h)


def dispatch_outer(A, u, v):
    return np.sum(A * np.outer(u, v)) + np.sum(np.sin(u)) * np.sum(v * v)


def dispatch_transpose(A, B, C):
    return np.sum(np.tanh(A @ B + C) * (A @ B))       # C broadcast to A @ B in every way


def dispatch_accumulate(x, y, n):
    s = np.zeros_like(x)
    for i in range(n):
        s = s + x * y                                 # y: x's length or one element
    return np.sum(s * s)


def dispatch_slices(x, y):
    return np.sum(x[1:] * y[:-1] + x[:-1] ** 2)       # lengths agree, or y[:-1] has one element


# ---------------------------------------------------------------- slices of one vector proved of one length (no fallback)

def slicelen_issue(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def slicelen_inner(x):
    return np.sum(x[1:-1] * x[2:] + np.sin(x[:-2]))


def slicelen_heads(x):
    return np.sum(x[:3] * x[-3:])


def slicelen_unequal(x):
    return np.sum(x[1:] * x[:-2] ** 2)         # lengths n - 1 and n - 2: they broadcast at n = 2 and 3


def slicelen_two_arrays(x, y):
    return np.sum(x[1:] * y[:-1])              # other arrays: lengths not known to agree


def slicelen_rebound(x, k):
    a = x[1:]
    x = x[:k]
    return np.sum(a * x[1:])                    # the second base is another value of x


# ---------------------------------------------------------------- a division by zero whose value no derivative needs

def zerodiv_dead_issue(x, k):
    t = 1.0 / k                          # computed, never used: Python raises at k == 0
    return x * x


def zerodiv_dead_in_loop(x, n):
    s = 0.0
    for i in range(n):
        r = 1.0 / (i - 2)                # raises at the trip i == 2
        s = s + x * i
    return s


def zerodiv_dead_in_branch(x, k):
    if x > 0.0:
        u = x / k                        # raises where the branch runs
    return x ** 3


def zerodiv_dead_modulo(x, m):
    j = 7 % m
    return math.sin(x) * x


def zerodiv_dead_power(x, k):
    p = k ** -1                          # 0 ** -1 raises, but a power is not kept for it (lower.py): no k == 0 here
    return x * x * x


def zerodiv_stopped(x, k):
    return x * x + stop_gradient(x / k) * 0.0


def zerodiv_dead_array_sum(x, k):
    t = np.sum(x) / k                    # NumPy's float64 divided by 0.0 is inf in Python (never an error case)
    return np.sum(x ** 2)


def zerodiv_numpy_element(x, k):
    s = 0.0
    for i in range(x.shape[0]):
        r = x[i] / k                     # NumPy's float64 divided by 0.0: inf and a warning, no error
        s = s + x[i] * x[i]
    return s


def zerodiv_numpy_mean(x, k):
    t = np.mean(x) / k                   # likewise: the function has a value at every k
    return np.sum(x ** 3)


# ---- NUMPYDIV: a division of NumPy's numbers by zero, where the function runs: NumPy gives inf or nan (and
# a warning), never an error.  The module Numba compiles turned array operations into loops over elements
# and divided the elements with Numba's operators, which raise as Python's do: the gradient failed
# ("division by zero at these arguments") where the function has a finite gradient.  The zero divisor's
# inf is masked by a minimum (or a where) here, so the gradient with respect to x is finite.

def numpydiv_issue(x, y):
    return np.sum(x * np.minimum(1.0 / y, 5.0))


def numpydiv_arrays(x, y, z):
    return np.sum(x * np.minimum(z / y, 5.0))


def numpydiv_reciprocal(x, y):
    return np.sum(np.minimum(np.reciprocal(y), 4.0) * x)


def numpydiv_floordiv(x, y, z):
    return np.sum(x * np.fmin(np.abs(z // y), 5.0))


def numpydiv_modulo(x, y):
    return np.sum(np.where(y == 0.0, x * x, x % y))          # x % 0.0 is nan, and the where drops it


def numpydiv_power(x, y):
    return np.sum(x * np.minimum(y ** -2, 5.0) + x * x * np.minimum(y ** -3, 2.0))


def numpydiv_loop(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * min(1.0 / y[i], 5.0)                  # np.float64(1.0) / 0.0 is inf in Python too
    return s


def numpydiv_loop_ops(x, y, z):
    s = 0.0
    for i in range(x.shape[0]):
        q = min(abs(z[i] // y[i]), 3.0)
        p = min(y[i] ** -2, 4.0)
        r = z[i] % y[i]
        if y[i] != 0.0:
            s = s + x[i] * (q + p + r)
        else:
            s = s + x[i] * (q + p)
    return s


def numpydiv_sum_divisor(x, y):
    t = np.sum(y * y)                                         # a reduction is NumPy's number too
    return np.sum(x * x) * min(1.0 / t, 3.0) + np.sum(x) * min(2.0 / t, 4.0)    # t == 0 when y is


# ---- PRUNED: loops in branches whose tests compare constants (Numba drops those branches before
# typing; the reverse sweep's branches test recorded conditions, which it keeps)

def pruned_while_in_elif(x, n):
    c = 0.18
    if c - c > 1.0:
        y = x * 2.0
    elif c != 0.4:
        y = x * 1.5
    else:
        y = x * 0.5
        t = 0.0
        while t < 2.0:
            t = t + 0.5 + math.atan(y) ** 2
            y = 0.8 * y + 0.1
    return y * x


def pruned_while_taken(x, n):
    c = 0.25
    y = x
    if c < 0.5:
        t = 0.0
        while t < 1.0 + n:
            t = t + 0.5
            y = math.sin(y) * x
    else:
        y = y * 3.0
    return y


def pruned_for_break(x, n):
    c = 2.0
    y = x
    if c > 3.0:
        for i in range(n):
            y = y * x
            if y > 4.0:
                break
    return y + x


def pruned_nested(x, n):
    c = 1.0
    y = x
    if c == 2.0:
        for i in range(n):
            t = 0.0
            while t < 1.0:
                t = t + 0.25 + 0.1 * y * y
                y = y * 0.9 + x
    return y * y


def pruned_array_while(x, n):
    c = 0.5
    s = np.sum(x * x)
    if c > 1.0:
        k = 0
        while k < n:
            x = np.sin(x) * 0.5
            k = k + 1
        s = np.sum(x)
    return s


def pruned_elif_for_exit(x, n):
    c = 0.3
    y = x * x
    if c > 1.0:
        y = y + 1.0
    elif c < 0.0:
        for i in range(n):
            y = y * 0.5 + x
            if y < 0.1:
                return y
    return y * x


def pruned_array_for(x, n):
    c = 0.5
    s = np.sum(x * x)
    if c > 1.0:
        for k in range(n):
            x = np.sin(x) * 0.5 + x
        s = np.sum(x * x)
    elif c > 2.0:
        for k in range(n):
            x = np.cos(x) * x
            if np.sum(x) > 5.0:
                break
        s = np.sum(x)
    return s


# ---- BCAST, sums back of negations (`sum_like(-a, like)` summed first, then negated)

def bcast_negated_column(Z, c):
    return np.sum(np.sin(Z - c) * Z)


def bcast_negated_row(x, b):
    return np.sum((x - b) ** 2) - np.sum(-b * x)


def bcast_negated_in_loop(x, c, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(np.tanh(x - c * i))
    return s


# ---- RESHAPED: an array variable assigned again, in a branch, with another shape.  The reversal of what
# read it before reads the shape it had then (its adjoint's zeros, the sum of a broadcast back to it):
# the old value must be recorded although nothing reads its numbers (the review of session 13 found the
# gradient of `c` summed back to the new value's shape, wrong numbers of the wrong shape, no error)

def reshaped_in_branch(Z, c, t):
    if t > 0:
        c = np.sum(Z, axis=1, keepdims=True) * 0.2
    return np.sum(np.sin(Z - c))


def reshaped_after_use(Z, c, t):
    s = np.sum(np.sin(Z - c))
    if t > 0:
        c = np.sum(Z, axis=1, keepdims=True) * 0.2
    return s + np.sum(np.cos(Z * c))


def reshaped_vector(x, v, t):
    s = np.sum(np.tanh(x * v))
    if t > 0:
        v = np.sum(v, keepdims=True) * x[0:1]
    elif t < -1.0:
        v = v[0:2] * 2.0
    return s + np.sum(v * v)


def reshaped_local(x, t):
    a = x * 2.0
    s = np.sum(a * x)
    if t > 0:
        a = np.ones(1) * s
    return s + np.sum(a * a)


def reshaped_row_to_column(Z, w, t):
    s = np.sum(Z * w)
    if t > 0:
        w = Z[:, 0:1] * 0.5
    return s + np.sum(np.sin(Z * w))


# ---------------------------------------------------------------- NumPy raises on arrays' shapes or values:
# an unread statement that may raise is kept (ir.shapes.mark_shape_errors)

def shape_dead_product(x, A, B):
    t = A * B                            # (2, 3) * (3, 2): ValueError, never read
    return np.sum(x ** 2)


def shape_dead_matmul(x, A, B):
    t = A @ B                            # inner axes 3 and 2: ValueError
    return np.sum(x * x * x)


def shape_dead_inv(x, A):
    t = np.linalg.inv(A)                 # LinAlgError for a singular matrix
    return np.sum(np.sin(x))


def shape_value_only(x, A, B):
    return np.sum(x ** 2) + np.sum(A * B)     # the gradient wrt x needs no A * B


def shape_folded_zero(x, A, B):
    return np.sum(x * x) + 0.0 * np.sum(A - B)


def shape_in_branch(x, A, B, flag):
    if flag:
        t = A @ B
        u = np.sum(t)
    return np.sum(x * x)


def shape_dead_reshape(x):
    t = x.reshape(2, -1)                 # an odd number of elements: ValueError
    return np.sum(x ** 3)


def shape_same_class(x, y):
    t = x * y                            # one class (dispatch proved the lengths equal): never raises
    return np.sum(x ** 2)


# ---- a read of a name a loop of no trips or an untaken branch leaves unassigned: Python raises
# UnboundLocalError; compiled, Numba read the unbound slot as 0 (a gradient where the function raises)

def unbound_issue(x, n):
    s = 0.0
    for i in range(n):
        s += x[i] * x[i]
    s += x[i] * 3.0                      # n == 0: i is unbound
    return s


def unbound_branch(x, c):
    if c > 0.0:
        y = x * x
    return y * x                         # c <= 0: y is unbound


def unbound_loop_local(x, n):
    for i in range(n):
        t = x[i] * x[i]
    return np.sum(x) + t


def unbound_result(x, n):
    for i in range(n):
        y = np.sin(x) * i
    return y                             # the result itself


def unbound_while(x, n):
    k = 0
    while k < n:
        last = x[k] ** 2
        k += 1
    return last * x[0]


def unbound_nested(x, m, n):
    s = 0.0
    for i in range(m):
        for j in range(n):
            s += x[j] * x[i]
        s += x[j]                        # n == 0 (m > 0): j is unbound
    return s


def unbound_guarded(x, n):
    s = 0.0
    for i in range(n):
        if i > 0:
            s += prev * x[i]             # never unbound: the first trip assigns it first
        prev = x[i] ** 2
    return s + x[0]


def unbound_redefined(x, n):
    for i in range(n):
        y = x[i] * 2.0
    y = np.sum(x ** 2)                   # bound on every path: no check
    return y * x[i]                      # but i is not (n == 0)


def _last_square(x, n):
    for i in range(n):
        last = x[i] * x[i]
    return last * 3.0                    # n == 0: `last` is unbound in the inlined helper


def unbound_in_helper(x, n):
    return _last_square(x, n) + x[0]


# ---- an inner loop's index read after it, in an enclosing loop, and unassigned before the enclosing
# loop: the reversed enclosing trip read the index the reversed inner loop left (its first value), not
# the one the forward trip read (a wrong gradient in every mode, found with the bound checks above)

def innerindex_issue(x, m, n):
    s = 0.0
    for i in range(m):
        for j in range(n):
            s += x[j] * x[i]
        s += x[j]
    return s


def innerindex_as_number(x, m, n):
    s = 0.0
    for i in range(m):
        for j in range(n):
            s += x[i] * x[j]
        s += x[i] * j                    # the index as a number
    return s


def innerindex_while_outer(x, m, n):
    s = 0.0
    k = 0
    while k < m:
        for j in range(n):
            s += np.sin(x[j])
        s += x[j] ** 2
        k += 1
    return s


def innerindex_three_levels(x, n):
    s = 0.0
    for a in range(2):
        for b in range(2):
            for j in range(n):
                s += x[j] * x[b]
            s += x[j] * x[a]
    return s


def innerindex_varying_trips(x, m):
    s = 0.0
    for i in range(1, m):
        for j in range(i):
            s += x[j] * x[i]
        s += x[j] ** 3                   # a different last index on every trip
    return s


# ---- NumPy's floor, ceil, trunc, fmin, fmax: NumPy's semantics on elements and on numbers.  np.floor
# of inf is inf (a float), where math.floor raises and compiled gave -2**63 as an int; np.fmin ignores
# a NaN operand, where np.minimum and min propagate it.  Both were spelled as the other in fused loops.

def npfloor_issue(x, y):
    return np.sum(x * np.fmin(np.abs(np.floor(y / x)), 5.0))     # x holds 0: floor(inf) is inf


def npfloor_ceil(x, y):
    return np.sum(x ** 2 * np.fmax(-np.abs(np.ceil(y / x)), -3.0))        # ceil(-inf) is -inf


def npfloor_trunc(x, y):
    t = np.trunc(y / x)
    return np.sum(np.sin(x) * np.minimum(np.abs(t), 2.0))


def npfloor_number(x, y, z):
    k = np.floor(np.sum(y) / np.sum(z))  # a NumPy number: the sum of z is 0, so inf
    return np.sum(x * x) * min(k, 3.0)


def npfloor_is_float(x, y):
    k = np.floor(y)                      # a float, as NumPy gives it
    return np.sum(x * k / 2.0)


def npfmin_nan(x, y, z):
    return np.sum(np.fmin(x, y / z) * x)                   # 0 / 0: NaN, ignored


def npfmax_nan_first(x, y, z):
    return np.sum(np.fmax(y / z, x) ** 2)                  # the NaN operand first


def npfmin_numbers(x, y, z):
    m = np.fmin(np.sum(y) / np.sum(z), 0.5)                # a NaN number for sums of 0: 0.5
    return np.sum(x) * m + np.fmax(np.sum(y) / np.sum(z), -1.0) * x[0]


# ---- an int of a float (math.floor, math.ceil, math.trunc, int()) at NaN or infinity: Python raises
# (ValueError, OverflowError), NumPy's numbers too; compiled, Numba's conversion gave -2**63 (a wrong
# number), and an unread one was removed

def pyint_issue(x, y):
    return min(math.floor(y * 1e308 * 10.0), 5) * x      # y * 1e308 * 10.0 overflows to inf


def pyint_unread(x, y):
    k = math.floor(y * 1e308 * 10.0)
    return x * x


def pyint_nan(x, y):
    t = y * 1e308 * 10.0
    return x * int(t - t)                # inf - inf is NaN: ValueError


def pyint_numpy_number(x, v):
    return x * math.ceil(np.sum(v) * 1e308)


def pyint_trunc_in_loop(x, y, n):
    s = 0.0
    for i in range(n):
        s += x * math.trunc(y * 1e300 * 10.0 ** (10 * i))     # inf at i = 1 for y > 1e-10
    return s


# ---- Python's math module raises where NumPy's functions, and Numba's math module, give NaN or an
# infinity (CPython's `math_1`: NaN from an operand that is not NaN, an infinity from a finite one): a
# value that then only steers a branch or a min, or that nothing reads, gave a gradient where the
# function raises (the raising points are PYMATH_RAISING)

def pymath_issue(x):
    t = math.sqrt(x)                     # x < 0: ValueError; Numba's NaN steered the branch
    if t > 1.0:
        return x * x
    return x


def pymath_unread_log(x, y):
    t = math.log(y)                      # y <= 0: ValueError, although nothing reads t
    return x * 3.0 + y * y


def pymath_exp_overflow(x):
    t = math.exp(x)                      # x > 709.78: OverflowError
    return min(t, 2.0) * x


def pymath_acos_branch(x):
    t = math.acos(x)                     # |x| > 1: ValueError
    return x * 2.0 if t > 0.5 else x * x


def pymath_cos_of_infinity(x, s):
    u = s * 1e308 * 10.0                 # a Python float overflows to inf (no error) for s >= 1
    t = math.cos(u)                      # cos(inf): ValueError
    return x * x + min(t, 2.0) * 0.0


def pymath_in_loop(x, n):
    s = 0.0
    for i in range(n):
        s += math.log(x[i])              # of NumPy's number too: x[i] <= 0 raises
    return s


def pymath_imported(x):
    r = imported_sqrt(x - 1.0)           # `from math import sqrt`: the math module's own function
    return x * 2.0 if r >= 0.0 else x


def pymath_log1p_atanh(x, y):
    return math.log1p(y) * x + math.atanh(y * 0.5) * x * x


def pymath_numpy_gives_nan(x):
    t = np.sqrt(x)                       # NumPy's: NaN and a warning, the function runs (no check)
    if t > 1.0:
        return x * x
    return x


def pymath_log_base(x, b):
    return math.log(x * x + 1.0, b) * x  # log(., b) / log(b): b <= 0 ValueError, b == 1 ZeroDivisionError


def pymath_where(x):
    y = np.where(x > 0, math.log(x), 0.0)     # Python evaluates both operands: x <= 0 raises
    return y * x + x


def pymath_where_division(x, n):
    y = np.where(x > 0, 1.0 / n, 0.0)         # n == 0 raises, whichever side the condition takes
    return y * x + x


def pymath_pow(x, y):
    return min(math.pow(x, y), 5.0) * x       # a negative x to a fractional y, 0 to a negative one, overflow


def pymath_lgamma(x):
    return min(math.lgamma(x), 5.0) * x + x   # the poles 0, -1, -2, ... raise


def pymath_of_array(x):
    return np.sum(math.sqrt(x))               # Python: TypeError (the math module takes numbers)


# ---- Python's `x ** y` of its own numbers raises where Numba's (and NumPy's) give inf or NaN (CPython's
# `float_pow`): 0.0 to a negative power ZeroDivisionError (`0.0 ** -1.0` too, where Numba raises only
# for an int exponent), an infinity from finite operands OverflowError; a negative base to a fractional
# power is a complex number, which a comparison then refuses (TypeError).  The compiled gradient went on
# with inf or NaN: a number where the function raises (the raising points are PYPOW_RAISING)

def pypow_issue(x):
    t = x ** -1.0                        # x == 0: ZeroDivisionError; Numba's inf steered the branch
    if t > 1.0:
        return x * x
    return x


def pypow_overflow_branch(x):
    t = x ** 400.0                       # |x| > 5.9: OverflowError
    return x * x if t > 1.0 else x


def pypow_unread(x, y):
    t = y ** 3                           # |y| > 5.6e102: OverflowError, although nothing reads t
    return x * 3.0 + y


def pypow_int_boundary(x, y):
    t = y ** 17                          # Python's pow overflows from 1.3571577374844447e18 on, where
    u = x ** 22                          # Numba's squarings do one float later; for x ** 22 one float sooner
    return x * 3.0 + min(max(y, -1.0), 1.0) + min(u, 1.0)


def pypow_exponent(x):
    return min(10.0 ** x, 5.0) * x       # x > 308.25: OverflowError


def pypow_complex_branch(x):
    t = x ** 2.5                         # x < 0: complex; Python's `>` then raises TypeError
    return x * x if t > 1.0 else x


def pypow_complex_unread(x):
    t = x ** 0.5                         # complex for x < 0, but nothing reads it: no error
    return x * 3.0 + x * x


def pypow_ints(x, n, m):
    t = n ** m                           # 0 ** -1: ZeroDivisionError (an int to a negative power is a float)
    return x * 2.0 + x * x


def pypow_builtin(x, y):
    return min(pow(x, y), 5.0) * x + x   # the builtin is the operator


def pypow_in_loop(x, n):
    s = 0.0
    for i in range(n):
        s += min(x ** i, 2.0) * x        # |x| ** i past the largest float: OverflowError
    return s


def pypow_clamped(x):
    p = min(max(x, 0.001), 10.0)         # in [0.001, 10]: p ** -2.0 raises nothing, and is not checked
    return p ** -2.0 * x + p ** 2.5


def pypow_complex_dead_compare(x):
    t = x ** 0.5                         # x < 0: complex, and Python's `>` raises TypeError although
    b = t > 1.0                          # nothing reads b (the review's F1)
    return x * x


def pypow_float_of_numpy(x, v):
    t = float(v[0]) ** -1.0              # float() makes Python's number of NumPy's: 0 raises (the simplifier
    return x * 2.0 if t > 1.0 else x     # folded float(a) into a, the review's F2)


def zerodiv_float_of_numpy(x, v):
    t = 1.0 / float(v[0])                # the same for a division
    return x * 2.0 if t > 1.0 else x


def pypow_math_of_numpy(x, v):
    t = math.sqrt(v[0]) ** -1.0          # the math module gives Python's float of NumPy's (the review's F4)
    return x * 2.0 if t > 1.0 else x


def zerodiv_math_of_numpy(x, v):
    t = 1.0 / math.tanh(v[0])            # tanh: no domain check of its own, its float is Python's
    return x * 2.0 if t > 1.0 else x


def zerodiv_fabs_of_numpy(x, v):
    t = 1.0 / math.fabs(v[0])            # fabs: the builtin abs() would keep NumPy's number (jit=False)
    return x * 2.0 if t > 1.0 else x


@custom_derivative("2 * x")
def square_as_python(x):
    return float(x * x)                  # Python's float, also of NumPy's number


def zerodiv_custom_of_numpy(x, v):
    t = 1.0 / square_as_python(v[0])     # its value is the body's: Python's float, whatever its operand
    return x * 2.0 if t > 1.0 else x


def pypow_numpy_number(x, v):
    t = v[0] ** -1.0                     # NumPy's number: inf and a warning at 0, no error
    return x * 2.0 if t > 1.0 else x


# ---- a name that holds NumPy's number on some runs and Python's on others: a sum of elements over a loop
# that may run no trips (Python's 0.0 then), a number from an array in one branch only.  `ir.numbers`
# called it NumPy's, so its division (power, modulo) was spelled as NumPy's, inf and no error, where
# Python's raises: a number where the function raises (the raising points are MIXEDNUM_RAISING)

def mixednum_issue(x, v, n):
    s = 0.0
    for i in range(n):
        s += v[i]
    t = 1.0 / s                          # n == 0: Python's 0.0, ZeroDivisionError; a zero sum: inf
    if t > 1.0:
        return x * x
    return x


def mixednum_branch_power(x, v):
    if x > 5.0:
        s = 0.0
    else:
        s = v[0]
    t = s ** -1.0                        # x > 5: ZeroDivisionError; v[0] == 0: inf
    return x * x if t > 1.0 else x


def mixednum_dead(x, v, n):
    s = 0.0
    for i in range(n):
        s += v[i] * v[i]
    t = 1.0 / s                          # nothing reads t: kept for its error, when Python's
    return x * 3.0


def mixednum_two_operands(x, v, c):
    a = c
    b = c - 1.0
    if x > 0.0:
        a = v[0]
    elif x < -1.0:
        b = v[1]
    t = a / b                            # NumPy's when either is: raises for c == 1 in [-1, 0] only
    return x * x if t > 1.0 else x


def mixednum_chain(x, v, n):
    s = 0.0
    for i in range(n):
        s = s + v[i]
    u = s * 2.0 + 0.0                    # u is NumPy's exactly when s is
    k = float(u)                         # Python's always: checked
    return min(1.0 / u, 2.0) * x + min(1.0 / k, 3.0) * x


def mixednum_in_loop(x, v, c, n):
    s = 1.0
    total = 0.0
    for i in range(n):
        total += min(1.0 / s, 4.0) * x   # Python's c == 0 raises; NumPy's v[i] == 0 gives inf
        s = v[i] if i % 2 == 0 else c
    return total


def mixednum_reassigned_param(x, y, v):
    if y > 1.0:
        y = v[0]
    return x * x if 2.0 % y > 1.0 else x     # y == 0 from the caller: modulo by zero


def mixednum_complex(x, v, n):
    s = -1.0
    for i in range(n):
        s = s + v[i]
    t = s ** 0.5                         # Python's -1.0: complex (its `>` raises); NumPy's: nan
    return x * x if t > 0.5 else x


def mixednum_floordiv(x, v, n):
    s = 0.0
    for i in range(n):
        s += v[i]
    q = 7.0 // s                         # n == 0: ZeroDivisionError; NumPy's zero: nan
    return x * x if q > 1.0 else x


# the review of the flags: `min` and `max` give one operand as it is (Python's 0.0 beside NumPy's number),
# `not` and `bool()` give Python's bool, and a gradient object Python's float
def mixednum_max(x, v, n):
    s = 1.0
    for i in range(n):
        s = v[i]
    u = max(s, 0.0)                      # Python's 0.0 where v[i] <= 0: its division raises
    t = 1.0 / u
    return x * x if t > 1.0 else x


def mixednum_max_loop(x, v, c):
    m = c
    for i in range(v.shape[0]):
        m = max(m, v[i])                 # Python's c until an element is larger
    return x * x if min(1.0 / m, 3.0) > 1.0 else x


def mixednum_min_element(x, v):
    u = min(v[0], 1.0)                   # Python's 1.0 where v[0] >= 1
    return x * x if 1.0 / (u - 1.0) > 1.0 else x


def mixednum_not(x, v):
    b = not (v[0] > 0.0)                 # Python's bool of NumPy's np.bool_
    return x * x if 1 / b > 0.5 else x


def mixednum_bool(x, v):
    b = bool(v[0])                       # Python's bool: 1 / False raises
    return x * x if 1 / b > 0.5 else x


def _mixednum_inner(x, v):
    return x * v[0]


_mixednum_inner_grad = grad(_mixednum_inner)


def mixednum_gradient_value(x, v):
    d = _mixednum_inner_grad(x, v)       # v[0], as Python's float: a gradient object gives one
    return x * x if 1.0 / d > 1.0 else x


def mixednum_first_in_loop(x, v, n, c):
    for i in range(n):
        s = v[i]                         # its flag is set after the loop, from the trip count
    if c > 0.0:
        s = 0.0
    t = 1.0 / s
    return x * x if t > 1.0 else x


MIXEDNUM_EPS = np.float64(0.25)             # NumPy's number at module level: Python's float in the code


def mixednum_module_numpy_scalar(x):
    return x * MIXEDNUM_EPS + x * x / (MIXEDNUM_EPS + 1.0)


# ---- a value nothing reads, overwritten in a loop (where the straight line's versions cannot tell the two
# apart): its adjoint is zero, but the reverse sweep multiplied that zero by its partial, which is inf at
# NumPy's zero (`x / v[i]`, `np.sqrt(v[i] * x)`): NaN in the gradient with simplify=False, where the
# function's derivative is finite (DEADADJ; found by the fuzzer, raising-84-102)

def deadadj_issue(x, v):
    s = 0.0
    for i in range(v.shape[0]):
        t = x / v[i]                     # inf at v[i] == 0 (NumPy's: a warning), never read
        t = x * 3.0
        s += t
    return s


def deadadj_chain(x, v):
    s = 0.0
    for i in range(v.shape[0]):
        t = x / v[i]
        u = t * 2.0                      # read only by u, which nothing reads
        t = x * x
        s += t
    return s


def deadadj_sqrt(x, v):
    s = 0.0
    for i in range(v.shape[0]):
        a = x / (v[i] * v[i])            # inf at 0
        b = np.sqrt(v[i] * x)            # an infinite partial at 0
        a = x * 0.5
        b = a + x
        s += a * b
    return s


def deadadj_while(x, v):
    s = 0.0
    k = 0
    while k < v.shape[0]:
        t = x / v[k]
        t = np.sin(x)
        s += t
        k += 1
    return s


def deadadj_arrays(x, V):
    s = 0.0
    for i in range(2):
        T = x / V                        # elementwise inf where V is 0
        T = V * x
        s += np.sum(T)
    return s


# ---- a view of every element of an array (`Z.ravel()`, `Z.T`, a reshape) that a loop writes, made again
# in a trip that may skip it (`continue`): the reverse sweep recorded the view's old value for its shape
# after the write had changed it (an InternalError of the audit, found by the fuzzer: arrays-70-128)

def viewtape_issue(A, r, n):
    s1 = 0.3
    Z = np.zeros_like(A)
    for j in range(0, n, 2):
        Z[0, j] = math.sin(np.mean(r) + s1)
        if s1 > 1.0:
            continue
        s1 = math.atan(s1 + np.sum(Z.ravel() ** 2))
    return s1


def viewtape_transpose(A, r, n):
    s = 0.2
    Z = A.copy()
    for j in range(n):
        Z[0, j] = Z[0, j] * r[0] + s
        if s > 3.0:
            continue
        s = s + np.sum(np.tanh(Z.T) * 0.5)
    return s


def viewtape_reshape(A, r, n):
    s = 0.1
    Z = A * 1.0
    for j in range(n):
        Z[0, j] = r[1] * s
        if j == 1:
            continue
        s = s + np.sum(np.sin(Z.reshape(2, 2)))
    return s


# ---- NumPy's ints to a negative int power: NumPy raises ValueError ("Integers to negative integer powers
# are not allowed"), where Python's ints give a float (2 ** -1 == 0.5) and Numba's ints 0; every mode gave
# a number (0.5, or -1.0 for the sum of an int array's powers) where the function raises (NUMPYINT)

def numpyint_issue(x, iv):
    return x * iv[0] ** iv[1]            # an element to an element's power


def numpyint_python_base(x, iv):
    return x * x * 2 ** iv[0]            # Python's int to NumPy's: NumPy's power


def numpyint_np_power(x, n):
    k = n - 3                            # Python's ints; np.power makes NumPy's of them
    return x * np.power(2, k)


def numpyint_array_base(x, iv):
    return x * np.sum(iv ** iv[0])


def numpyint_array_exponent(x, iv):
    return np.sum(x * 2 ** iv)


def numpyint_dead(x, iv):
    t = iv[0] ** iv[1]                   # nothing reads it: kept for its error
    return x * 3.0


def numpyint_in_loop(x, iv, m):
    s = 0
    for i in range(iv.shape[0]):
        s += iv[i] ** m
    return x * s


def numpyint_mixed(x, iv, c, m):
    k = 2
    if c > 0.0:
        k = iv[0]                        # NumPy's here, Python's 2 otherwise: a flag decides
    return x * x * k ** m


def numpyint_bool_base(x, iv, m):
    b = iv[0] > 0                        # NumPy's bool
    return x * b ** m + x


# ---- Python's ints beyond 64 bits: Python's are unbounded, Numba's wrap around.  The compiled gradient
# computed with the wrapped number (n ** 30 % 7 of 5 is 1, wrapped 4): a wrong number with no error
# (INTWRAP).  Now arithmetic of Python's ints that may leave 64 bits is checked there, and raises

def intwrap_factorial(x, n):
    s = 0.0
    fact = 1
    for k in range(n):
        if k > 0:
            fact *= k                    # 21! is beyond 64 bits
        s += x ** k / fact
    return s


def intwrap_power(x, n):
    return x * (n ** 30 % 7)


def intwrap_sum(x, n):
    k = n + n
    return x * float(k % 5)


def intwrap_int_of_float(x, y):
    k = int(y * 1e20)                    # Python's exact int; Numba's conversion gives -2**63 beyond 64 bits
    return x * float(k % 7)


def intwrap_floor(x, y):
    return x * (math.floor(y) % 5)


def intwrap_index_arithmetic(x, v):
    s = 0.0
    n = v.shape[0]
    for i in range(n // 2):
        s += x * v[2 * i + 1] - v[n - 1 - i] * x * x     # provably inside 64 bits: no check
    return s


def intwrap_add_one(x, n):
    m = n + 1                            # the helper tests before it adds: Numba's `+` is LLVM's `add nsw`
    return float(m % 1000) * x


def intwrap_double(x, n):
    m = n * 2
    return float(m % 1000) * x


def intwrap_sub_one(x, n):
    m = n - 1
    return float(m % 1000) * x


def intwrap_square(x, n):
    m = n * n                            # 3037000501 ** 2 is just past 2 ** 63: the exact test decides
    return float(m) * x


def intwrap_neg(x, n):
    m = -n                               # of the smallest int64
    return float(m) * x


def intwrap_abs(x, n):
    m = abs(n)
    return float(m) * x


def intwrap_floordiv(x, n):
    m = n // -1
    return float(m) * x


def intwrap_times_minus_one(x, n):
    m = n * -1                           # the simplifier makes it a negation
    return float(m) * x


def intwrap_big_constant(x, n):
    k = n * 10 ** 400                    # a constant beyond 64 bits, and beyond any float
    return float(k % 7) * x


def intwrap_folded_constant(x):
    k = 2 ** 70                          # folded by the simplifier into a constant beyond 64 bits
    return float(k % 7) * x


def intwrap_mixed(x, iv, n, c):
    k = n if c > 0.0 else iv[0]          # Python's int on this run: checked
    m = k * 4
    return float(m % 1000) * x


# Numba computes a range's trip count from `stop - start` in int64, and the reverse sweep goes back over it
# with `start - step`, `-step` and the trip count times the step: past 64 bits they wrapped (two trips in
# Python, none compiled; `range(1, n)` of the smallest int64 ran 2 ** 63 - 1 trips)
def intwrap_range_step(x, n, k):
    s = x
    for i in range(0, n, k):
        s = s * x
    return s


def intwrap_range_down(x, n, k):
    s = x
    for i in range(n, 0, -k):
        s = s * x + 0.5
    return s


def intwrap_range_from_one(x, n):
    s = x
    for i in range(1, n):
        s = s * x
    return s


def intwrap_range_nested(x, v, n, k):
    s = 0.0
    for j in range(v.shape[0]):
        for i in range(0, n, k):
            s = s + x * v[j]
    return s


def intwrap_numpy_wrap_range(x, iv):
    m = iv[0] + 1                        # NumPy wraps the largest int64 to the smallest: the range is empty;
    s = x                                # Numba's `add nsw` let LLVM assume it does not, and the loop ran
    for i in range(1, m):
        s = s + x
        if i >= 2:
            break
    return s


def intwrap_numpy_negation(x, iv):
    m = -iv[0]                           # of the smallest int64: itself, in NumPy
    s = x
    for i in range(1, m):
        s = s + 2.0 * x
        if i >= 2:
            break
    return s


def intwrap_numpy_array_compare(x, iv):
    # NumPy's `iv + 1` wraps the largest int64 to the smallest, elementwise; in the fused loop Numba's
    # `add nsw` let LLVM fold `t + 1 > t` to true
    return np.sum(x * np.where(iv + 1 > iv, 1.0, 2.0))


def intwrap_numpy_array_negation(x, iv):
    w = -iv                              # of the smallest int64: itself, in NumPy
    return np.sum(x * np.where(w < 0, 1.0, 3.0)) + x * w[0]


def intwrap_numpy_array_broadcast(x, iv):
    d = iv[:, None] - iv[None, :]        # an array statement of ints, not fused: computed element by element
    return np.sum(x * np.where(d > 0, 2.0, 0.5))


def intwrap_numpy_dot(x, iv):
    return x * np.dot(iv * 3, iv)        # NumPy's int dot (Numba's np.dot multiplies floats only)


def intwrap_numpy_matvec(x, iv, iA):
    return np.sum(x * (iA @ (iv - 1))) + x * np.sum(np.outer(iv, iv + 2))


def intwrap_numpy_bool_dot(x, iv):
    hits = np.dot(iv > 0, iv < 3)        # of bools alone, a bool: any pair both true
    return x * hits + x


def intwrap_numpy_range_bounds(x, iv):
    s = x                                # Python's range takes Python's ints of NumPy's: the reverse sweep's
    for i in range(iv[0], iv[1], iv[2]): # bounds (`start + (trips - 1) * step`) wrapped in NumPy's ints
        s = s * x + 0.5
    return s


def intwrap_numpy_range_stop(x, iv):
    s = x
    for i in range(iv[0]):               # of the smallest int64: empty; reversed from `iv[0] - 1`, wrapped
        s = s * x + 0.5
    return s


def intwrap_numpy_remainder(x, iv, k):
    w = iv % k                           # of the smallest int64 by -1: Numba's np.remainder traps
    n = iv[0]
    return np.sum(x * w) + x * (n % k + 1)


def intwrap_numpy_floordiv_zero(x, iv, jv):
    return np.sum(x * (iv // jv)) + np.sum(x * (iv[:, None] // jv[0]))     # NumPy's int // 0 is 0


def intwrap_numpy_power_array(x, iv, k):
    w = iv ** k                          # NumPy's ints: an int64 array (it was made float64)
    return np.sum(x * np.where(w % 2 == 1, 1.0, 2.0)) + x * float(w[0] % 1000)


def intwrap_numpy_where_ints(x, iv):
    c = np.where(iv > 0, iv, 0)          # ints (it was made float64), checked where c + 1 wraps
    return np.sum(x * np.where(c + 1 > c, 1.0, 2.0)) + x * float(c[0] % 1000)


def intwrap_fused_constants(x, v):
    m = np.where(v > 0, 2 ** 40, 3)      # fused, its elements are the constants: Python's ints for Python
    return np.sum(x * (m * m % 7))       # NumPy's 2 ** 80 wraps to 0; Python's int gave 2 ** 80 % 7


def intwrap_fused_maximum(x, v):
    m = np.maximum(v, -2 ** 40)          # Python's max(v_i, -2 ** 40) is the constant itself, a Python int
    return np.sum(x * (m * m % 7))


def intwrap_fused_int_sum(x, v):
    s = np.sum(np.where(v > 0, 2 ** 53 + 1, 7))     # fused, its total was a float: rounded, and never wrapped
    return x * float(s % 1000)


def intwrap_gathered_ints(x, v):
    m = np.array([2 ** 40, 3, 5, 7])     # NumPy's int64 (it was float64: 2 ** 80 never wrapped)
    return np.sum(x * ((m * v * m) % 7))


def intwrap_numpy_made_ints(x, k):
    a = np.zeros(2, dtype=np.int64) + k  # dtype= was dropped: floats
    b = np.full(2, k) * 3
    return np.sum(x * np.where(a - 1 < a, 1.0, 2.0)) + x * float((a[0] + b[1]) % 1000)


def intwrap_numpy_axis_extrema(x, iA):
    s = np.max(iA, axis=1)               # ints beyond 2 ** 53: the helpers computed in floats
    t = np.sum(iA, axis=0)
    return np.sum(x * (s % 1000)) + np.sum(x * (t % 1000))


def intwrap_range_trap(x, v, a, b, k):
    s = 1.0                              # Python's 0.0 or NumPy's number: a flag counts the loop's trips first,
    for i in range(a, b, k):             # `len(range(a, b, k))`: the smallest int64 divided by -1 is a hardware
        s = v[0] * x                     # trap in Numba, which killed the process
        break
    return x * x / s


def numpyint_mixed_base(x, iv, c):
    k = 2 if c > 0.0 else iv[0]          # either kind; the exponent is surely NumPy's
    m = k ** iv[1]
    return x * m


def pypow_math_pow_constant(x, y):
    return x * math.pow(1.0 + 0.4 * 0.4, 0.75) + y * math.fabs(-2.0)


def intwrap_big_constant_as_float(x):
    return x * 10 ** 20 + x / 2 ** 70    # Python makes these ints floats: the compiled code too


def intwrap_big_constant_compared(x, n):
    return x * 2.0 if n < 10 ** 20 else x     # every int64 is below it


def intwrap_neighbours(x, v, n):
    s = 0.0
    for i in range(1, n):                # any int64 n: i - 1 and i + 1 stay inside 64 bits
        s += v[i] * v[i - 1] * x + v[(i + 1) % n] * x * x
    return s


def numpyint_reassigned(x, iv):
    k = iv[0]
    k **= iv[1]                          # a name of two types: the front end sees a float, versioning an int
    return x * k


def numpyint_reassigned_in_loop(x, iv):
    s = 0.0
    for i in range(iv.shape[0]):
        k = iv[i]
        k **= iv[1]                      # no second name in a loop: the definitions reaching it decide
        s += k
    return x * s


# NumPy's int arguments the API converts (NumPy's int numbers to Python's ints, int arrays of another width
# to int64 ones): where what the function computes from them would change, the call is refused (NUMPYARG)
def numpyarg_square_element(x, v):
    return x * (v[0] * v[0])             # int8: 100 * 100 wraps to 16


def numpyarg_negate(x, v):
    return x * float(-v[0])              # int8: -(-128) is -128


def numpyarg_power(x, k, m):
    return x * k ** m                    # np.int64(2) ** -1 raises ValueError; Python's 2 ** -1 is 0.5


def numpyarg_power_of_two(x, m):
    return x * 2 ** m                    # 2 ** np.int64(-1) raises too


def numpyarg_sqrt(x, v):
    return np.sum(x * np.sqrt(v))        # int8: a float16 array


def numpyarg_float_data(x, v):
    return np.sum(x * v)                 # a float64 array, whatever the ints' width


def numpyarg_index(x, v, w):
    return x * w[v[0]]                   # an index, of any width


def numpyarg_compare(x, v):
    return x * 2.0 if v[0] > 3 else x    # uint64 beyond int64 would change sign


def numpyarg_float_power(x, n):
    return x ** n                        # a float to NumPy's int power: a float, as Python's


def numpyarg_arctan2(x, v):
    return x * np.arctan2(v[0], v[1])    # int8: a float16


def numpyarg_true_division(x, v):
    return np.sum(x * (v / 3))           # float64 of any width


def numpyarg_outer(x, v):
    return x * np.sum(np.outer(v, v))    # int32: the products wrap at 32 bits


def numpyarg_length(x, y):
    s = 0.0
    for i in range(y.shape[0] - 1):      # a count of an int32 array's axis: Python's int
        s += x * (y[i] == 2)
    return s


def _cosh_half_square(a):
    v1 = 0.5 * a
    a -= -(v1 if v1 < -2.5 else a)
    return math.cosh(v1 * v1)


def symbolic_reference_beyond_float64(x):
    # the symbolic pass's mpmath reference of tanh(cosh((x / 2) ** 2)) at its sample points needed memory in
    # proportion to the operand's exponent: a MemoryError while deriving (fuzz seed 94, scalar-60)
    x *= -x / (1.5 + math.tanh(_cosh_half_square(x)))
    return math.cosh(1.0) + x + 1.0


def intwrap_argument_range_step(x, k):
    s = x
    for i in range(k, k + 9, 3):         # an np.int64 argument near the smallest int64: reversed from k - 3
        s = s * x + 1.0
    return s


def intwrap_argument_range_from_one(x, k):
    s = x
    for i in range(1, k):                # the tape's size max(k - 1, 0)
        s = s * x
    return s


def symbolic_expansion_cancels(x, y):
    # the symbolic pass wrote x's adjoint as 1 + t5*t3**2 - t5 over t4, for the chain rule's
    # 1 + t5*(t3**2 - 1): with t3 = tanh(x) = -1.0 exactly and t5 beyond 2**53, the 1 was lost and the
    # gradient came back 1.0 for -0.147 at x = -1e20 (fuzz seed 912, scalar-62, inputs scaled by 1e100)
    y = x / (1.5 + math.tanh(x)) / math.sqrt(y * y + 0.5)
    x, y = (y, x + y)
    if x > 0.5:
        y *= -4.25
    return x * math.atan(y) + y


def symbolic_expansion_cancels_partials(x, y):
    """(df/dx, df/dy) of symbolic_expansion_cancels by hand; 1 - t*t is 0.0 where tanh saturates."""
    t, s = math.tanh(x), math.sqrt(y * y + 0.5)
    first = x / (1.5 + t) / s
    d_dx = (1.0 / (1.5 + t) - x * (1.0 - t * t) / (1.5 + t) ** 2) / s
    d_dy = -x / (1.5 + t) * y / s ** 3
    scale = -4.25 if first > 0.5 else 1.0
    last = scale * (x + first)
    slope = 1.0 / (1.0 + last * last)       # last * last: inf, not Python's OverflowError, beyond 1e154
    return (d_dx * math.atan(last) + first * slope * scale * (1.0 + d_dx) + scale * (1.0 + d_dx),
            d_dy * math.atan(last) + first * slope * scale * d_dy + scale * d_dy)


# tanh saturated with its quotient beyond 2**53 (the first three), saturated with a small quotient, ordinary
EXPANSION_POINTS = [(-1e20, 0.7), (-9.5e99, 1.27e-100), (-3e15, 0.5), (40.0, 0.3), (0.8, -0.4), (-2.0, 1.5)]


def symbolic_overflowed_input(x, n):
    # fuzz seed 109, control-44, at --scale 1e100: at x = -2e99, x**2 * x**2 overflows and the region's
    # input t = sqrt(x**4 + 0.5) is inf; the pass wrote u + v/t as (t*u + v)/t, nan there (inf * 0),
    # where the chain rule gives 0, the exact value's float
    if x >= 0.5:
        x = stop_gradient(math.sqrt(math.hypot(x, 0.75)))
    elif (x if -1.5 < 0.25 * n <= 1.0 else -1.5) <= 0.9:
        x /= math.sqrt(x ** 2 * x ** 2 + 0.5)
    else:
        j = 2
        s2 = 1.0
        for j in range(n, -1, -1):
            s2 = math.atan(s2 + math.tanh(s2))
            s2 = s2 + math.tanh(-np.where(s2 <= 2.0, x, 0.25 * j))
            s2 = s2 * (0.5 + 0.5 * math.tanh(x))
    v3 = math.fabs(math.pow(1.0 + 0.5 * 0.5, 1.8 * math.tanh(x)))
    return v3 + x


# fuzz seed 122, raising-19: where the branch makes x a constant, the derivative of asin (sqrt) at it is
# infinite, and the adjoint's 1 / sqrt(1 - x*x) (0.5 / sqrt(x)) raised ZeroDivisionError, an ArgumentError
# "the function or its derivative is undefined here", though nothing of it reaches the gradient, 0 (the
# constant's adjoint drops it).  The careful rerun (`backend.strong_zero`) gives the 0.
def overwritten_at_a_pole_asin(x, n):
    if x > 0.3:
        x = 0.5 * n
    return x + math.asin(x)


def overwritten_at_a_pole_sqrt(x, n):
    if x > 0.3:
        x = 0.0 * n
    return x + math.sqrt(x)


# fuzz seed 125 at --scale 1e100, raising-269: a statement that reads one value in two operands has two
# partials of it, here +-1/(2y) = -+3.4e99 at y = -1.5e-100, which cancel exactly.  Added to y's adjoint
# one at a time, with y's other contributions (about 1.6) between them, those were lost: 0.549 for 1.633
# in the modes without the simplifier.  The reverse transform now adds one statement's partials of a name
# together first.
def cancelling_atan2(x, n, y):
    x = x * y + math.asin(0.9 * math.tanh(y))
    v1 = math.atan2(y, y) / (y + math.e)
    return v1 + y + x


def cancelling_atan2_partials(x, n, y):
    # atan2(y, y) is the constant -3pi/4 (pi/4) for y < 0 (y > 0)
    a = math.atan2(y, y)
    return -a / (y + math.e) ** 2 + 1.0 + x + 0.9 * (1 - math.tanh(y) ** 2) / math.sqrt(1 - (0.9 * math.tanh(y)) ** 2)


def cancelling_difference(y):
    return y + 1e300 * (y - y) + math.sin(y)


def cancelling_difference_loop(y, n):
    s = 0.0
    for i in range(n):
        s = s + y + 1e300 * (y - y)
    return s + math.cos(y)


def cancelling_difference_arrays(v):
    return np.sum(np.sin(v)) + 1e300 * np.sum(v - v)


CANCELLING_POINTS = [(-0.35, 3, -1.4884695425240588e-100), (0.7, 1, 2.5e-120), (1.5, 2, -0.8), (-2.0, 0, 3.0)]



# A structural zero times an infinite or NaN partial: the famous NaN gradient of `np.where` (JAX's FAQ), a
# clamp followed by a function with a pole at the clamp's bound, and a constant zero exponent of a negative
# base (fuzz seed 125 at --scale 1e100, raising-18).  The fast gradient raised a false ArgumentError
# (Python's math errors) or returned NaN (Numba's); the careful rerun keeps a zero that is zero near the
# point a zero when it multiplies.
def structural_where_sqrt(x):
    return np.where(x > 0, np.sqrt(x), 0.0) + x


def structural_where_log(x):
    safe = np.where(x > 0.0, x, 1.0)
    return np.where(x > 0.0, np.log(safe), x) + np.where(x > 0.0, np.log(x), 0.0)


def structural_clamp_pole(x):
    y = min(x, 1.0)
    return math.sqrt(1.0 - y * y) + x


def structural_clip_pole(x):
    y = np.clip(x, -1.0, 1.0)
    return math.asin(y) + 0.5 * x


def structural_constant_exponent(x, n):
    p = 1.8 * math.tanh(x * float(n % 1))       # 0 for every x: x ** p is 1
    return np.clip(x ** p, -1.0, 0.25) + x


def structural_where_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.where(x > i, np.sqrt(x - i), 0.0)
    return s + x


def structural_where_sqrt_arrays(v):
    return np.sum(np.where(v > 0, np.sqrt(v), 0.0)) + np.sum(v)


# helper-60's review of the careful rerun: a zero that holds on one side of a jump only.  Each function is x
# (or 2x - 1) near the point, whose fast gradient fails on an infinite partial; the rerun gave 0 (1 for
# the loop) until it learned to give up at a tie (`backend.strong_zero.Tie`)
def tie_sign(x):
    return np.sign(x) * math.sqrt(x * x)


def tie_floor_ceil(x):
    return (math.floor(x) + math.ceil(x)) * math.sqrt(x * x)


def tie_max_min(x):
    return math.sqrt(max(0.0, x)) ** 2 - math.sqrt(-min(0.0, x)) ** 2


def tie_branch(x):
    c = 1.0 if x > 0 else 0.0
    d = 1.0 if x < 0 else 0.0
    return (c - d) * math.sqrt(x * x)


def tie_where_constants(x):
    return np.where(x > 0, 1.0, 0.0) * math.sqrt(x * x) - np.where(x < 0, 1.0, 0.0) * math.sqrt(x * x)


def tie_sign_loop(x):
    s = 0.0
    for i in range(2):
        c = np.sign(x - i)
        s = s + c * math.sqrt((x - i) ** 2)
    return s


def tie_nan_max(x):
    # Python's max(x, nan) is x: near 1 the function is x, but max's rule gives x the partial 0 there
    return max(x, np.sqrt(x - 2.0))


def tie_nan_beside_max(x):
    a = np.log(x[1])          # NaN where x[1] < 0: Python's max(x[2], nan) is x[2]
    m = max(x[2], a)
    return x[3] * m


def tie_nan_beside_min(x):
    a = np.log(x[1])
    m = min(x[2], a)
    return x[3] * m * m


def tie_nan_running_max(x):
    m = -np.inf
    t = np.log(x)
    for i in range(5):
        m = max(m, t[i])
    return m * x[0]


# no derivative: 0 on one side, infinite on the other
def tie_where_pole(x):
    return np.where(x > 0, np.sqrt(x), 0.0)


def tie_max_pole(x):
    return math.sqrt(max(0.0, x)) + 0.0 * x


def tie_min_pole(x):
    return math.asin(min(1.0, x)) + x


def tie_where_two(x, y):
    return np.where(x > y, np.sqrt(x - y), 0.0) + x * y


def tie_truth_if(x):
    c = 1.0 if (x - 0.25) else 0.0
    return np.where(c > 0.5, np.sqrt(np.abs(x - 0.25)), x - 0.25)


def tie_truth_and(x):
    c = (x - 0.25) and 1.0
    return np.where(c > 0.5, np.sqrt(np.abs(x - 0.25)), x - 0.25)


def tie_truth_not(x):
    c = 0.0 if not (x - 0.25) else 1.0
    return np.where(c > 0.5, np.sqrt(np.abs(x - 0.25)), x - 0.25)


def tie_truth_while(x):
    t = x - 0.25
    c = 0.0
    while t:
        c = 1.0
        t = 0.0
    return np.where(c > 0.5, np.sqrt(np.abs(x - 0.25)), x - 0.25)


def tie_astype(x):
    n = x.astype(np.int64)
    return np.sum(np.where(n >= 1, x - 1.0, np.sqrt(np.abs(x - 1.0))))


def tie_max_along_rows(X):
    return np.sum(np.max(X, axis=1)) + np.sum(np.where(X < 0, X, np.sqrt(X)))


def min_along_columns(X):
    return np.sum(np.min(X, axis=0)) + np.sum(np.where(X < 0, X, np.sqrt(X)))


# helper-62: np.where of a float condition tests each number for truth, but the rule's indicator of an array
# was `1.0 * c`, c itself: without the simplifier a wrong gradient at every point (10.27 for 7.27 here),
# and with the careful rerun in every mode where the other side's sqrt is NaN
def where_float_condition(x, c):
    return np.sum(np.where(c, x * x, x)) + np.sum(np.where(x < 0, x, np.sqrt(x)))


def where_float_condition_scalar(x, c):
    return np.where(c, x * x, x) + x


def big_int_in_the_rerun(x, n):
    k = (n * n) % 7
    return x * k + np.where(x > 0, np.sqrt(x), 0.0)


# a zero that is not structural: sqrt(x) * sqrt(x) at 0, whose adjoint 0 * inf is NaN in the careful
# rerun too, so the gradient raises (it is undefined there: the function is not defined left of 0)
def nonstructural_product_at_zero(x):
    return math.sqrt(x) * math.sqrt(x)


# A known failure (`KNOWN_FAILURES`), fuzz seed 128 at --scale 1e100, control-128-76: atan2(-x, x) is 3pi/4 for
# every x < 0, its two partials -+1/(2x) (1.65e100 at -3e-101) cancel exactly, but they reach x's adjoint
# by two statements (the negation's adjoint, then atan2's own), with `return v + x`'s 1 added first: 0 for 1.
# The same-name case is summed first (CANCELLING); across statements the sum of reverse mode is
# ill-conditioned where the derivative is not.  The simplifier merges the short form; the fuzz program's
# longer one defeats it too.
def cancelling_across_statements(x):
    v = math.atan2(-x, x)
    return v + x


# fuzz raising-168-22: the exponent's partial of pow at a negative base, log(x), is undefined, on a path
# whose contributions cancel (`y - y`): the function is constant in y, its derivative 0.  Interpreted,
# the gradient raises "the derivative of this line is undefined"; compiled, it returns NaN.
def cancelling_undefined_partial(y, x):
    y = y - y
    return math.pow(x, y * 400.0)


def _cancelling_h1(a, b):
    k3 = math.floor(0.1 * a)
    return max(a - b, -0.9)


def cancelling_across_statements_fuzz(x, n, m):
    v4 = math.atan2(-x, x)
    if np.cos(float(m)) > v4 / math.cosh(2.7 * math.tanh(v4)):
        x *= (1.0 + (0.25 * m + v4) * (0.25 * m + v4)) ** (-0.5)
    if max(v4, v4) < 3.0:
        c8 = 0
        j = -1
        s12 = 0.5
        for j in range(0, c8, 3):
            for i13 in range(n):
                v4 = math.tanh(v4 * (math.acos(0.5 * math.sin(0.75)) / 6.4))
            if x >= 0.2:
                continue
            s12 = s12 + math.tanh(math.sinh(2.7 * math.tanh(_cancelling_h1(math.tanh(v4), x / 17.269626515938324))))
    return v4 + x


# Snapshots (`transforms.record`): a value recomputed when its reversed trip starts, from the value that a
# variable the loop writes had where the value read it -- a sum an inner loop accumulates, a value carried
# from the last trip, a variable written again later in the trip, an integer index, a while loop's, a trip
# that ends at a break.  Each reads the variable in another epoch than the tape's own restore would give.
def snapshot_inner_sum(w, X, y):
    s = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(w.shape[0]):
            z += X[i, j] * w[j]
        p = 1.0 / (1.0 + np.exp(-z))
        s -= y[i] * np.log(p) + (1.0 - y[i]) * np.log(1.0 - p)
    return s


def snapshot_carried(x, n):
    a = x
    s = 0.0
    for i in range(n):
        b = math.exp(a * 0.5)
        c = b * b + a
        s += c * math.sin(b)
        a = a * 0.9 + math.cos(s) * 0.1
    return s


def snapshot_two_epochs(x, n):
    v = x
    s = 0.0
    for i in range(n):
        p = math.tanh(v)
        q = p * p
        v = v + q
        r = math.sin(v)
        t = r * p + q
        s += t * t
        v = v * 0.5
    return s


def snapshot_int_index(x, n):
    s = 0.0
    k = 0
    for i in range(n):
        k = (k + 3) % x.shape[0]
        e = x[k] * 2.0
        f = math.exp(e) + k
        s += f * f
    return s


def snapshot_while(x, n):
    s = 0.0
    z = x
    i = 0
    while i < n:
        z = z * 1.1
        for j in range(3):
            z = z + 0.1 * j * x
        p = 1.0 / (1.0 + math.exp(-z))
        s += math.log(p) * math.log(1.0 - p)
        i += 1
    return s


def snapshot_break(x, n):
    s = 0.0
    z = x
    for i in range(n):
        z = z * 0.7 + 0.3
        if z > 2.0:
            break
        q = math.sqrt(z * z + 1.0)
        s += q * math.log(q)
    return s


def snapshot_nested(x, n):
    s = 0.0
    for i in range(n):
        a = 0.0
        for j in range(i + 1):
            b = 0.0
            for k in range(j + 1):
                b += x * (k + 1)
            c = math.sin(b)
            a += c * c
        d = math.exp(-a)
        s += d / (1.0 + d)
    return s
