"""Python's errors of values: where CPython raises on numbers, and Numba's code gives NaN or inf.

Takes: statements of the IR and the rule table's `Primitive.python_errors`.
Guarantees the one answer to "is this statement checked as CPython checks it,
and how" (`python_check`): a call of the math module's function (`math.sqrt(-1.0)`
raises ValueError, `math.exp(1000.0)` OverflowError) or Python's `x ** y` of its
own numbers (`0.0 ** -1.0` ZeroDivisionError, `10.0 ** 400` OverflowError, a
negative base to a fractional power a complex number); which constants make a
power safe (`python_power_may_raise`); and which intervals of an operand
prove a check unnecessary (`python_domain_holds`, `python_power_holds`, read
with `ir.ranges`' bounds).  The front end marks the statements
(`frontend.lower._mark_python_errors`, `settle_python_checks`), the printer
spells the checks (`backend.runtime.math_domain`, `math_range`, `math_pow`,
`python_power`).
"""
from __future__ import annotations

import functools
import math
import operator
import struct

from .rules import PRIMITIVES


# the checks of `Primitive.python_errors` that are named, not written as a test of the operand: of the result
# ("overflow", "pow"), of the operand against a limit found from the function (`overflow_test`: "overflow
# above", "overflow beyond"), and of the operand but true at points inside an interval ("poles": lgamma's 0,
# -1, ...)
NAMED_CHECKS = {"overflow": None, "overflow above": None, "overflow beyond": None, "pow": None,
                "poles": "{0} <= 0.0 and {0} > -math.inf and {0} == np.floor({0})"}


def domain_tests(prim: str) -> list:
    """The tests of the operand, `{0}`, for which a math-module call of `prim` raises ValueError."""
    tests = PRIMITIVES[prim].python_errors or ()
    return [NAMED_CHECKS.get(t) or t for t in tests if NAMED_CHECKS.get(t, t) is not None]


def python_domain_holds(prim: str, lo: float, hi: float) -> bool:
    """Does a math-module call of `prim` raise nothing for any operand in [lo, hi] (NaN aside, which
    raises nothing)?  Only for checks that are all tests of the operand against its domain, each false
    on an interval once false at its ends (`sqrt: x < 0`, `acos: abs(x) > 1`, `sin: isinf(x)`); not
    overflows, `math.pow`, or `lgamma`'s poles."""
    import numpy as np

    tests = PRIMITIVES[prim].python_errors or ()
    if not tests or any(t in NAMED_CHECKS for t in tests):
        return False
    return not any(eval(t.format(repr(end)), {"math": math, "np": np, "inf": math.inf})   # noqa: S307
                   for t in tests for end in (lo, hi))


# the param a `math.pow(x, y)` call carries, which tells it from Python's `x ** y` (both the primitive
# "pow"): they raise different errors where Numba's `**` gives NaN or an infinity (`python_check`)
MATH_MODULE_PARAM = ("module", "math")
# the param of `np.power(k, m)` until the front end has checked it (`frontend.lower`): of Python's ints too,
# NumPy's ints to a negative int power raise ValueError
NUMPY_FUNCTION_PARAM = ("module", "numpy")
# the param of Python's `x ** y` whose value nothing the function needs reads (`frontend.lower`'s
# `settle_python_checks`): a complex result (a negative base to a fractional power) is no error there
POWER_UNREAD = ("value", "unread")
# the param of a copy of a statement that only checks it, as Python's numbers (`frontend.number_flags`):
# its own value is never read, but it stands for one that may be, so a complex power raises there
CHECK_COPY = ("value", "check")
# the param of arithmetic of Python's ints that may leave 64 bits (`frontend.lower.settle_python_checks`):
# Python's ints are unbounded, Numba's wrap around, so the module Numba compiles checks it
# (`runtime.int_add`, `int_sub`, `int_mul`, `int_pow`, `int_neg`, `int_abs`, `int_floordiv`: OverflowError,
# `INT64_OVERFLOW`)
INT64_PARAM = ("ints", "unbounded")
# ... and of int *arrays*, NumPy's, which wrap around: compiled, checked as Python's are (a wrapped value is
# undefined in Numba's `nsw` arithmetic); in the module printed for Python, where a fused loop's elements
# of such an array may be Python's ints (`np.where(c, 2 ** 40, 3)`, `np.maximum(v, 2 ** 40)`), which would
# grow where the array's wrap, computed with NumPy's own ufunc of int64 numbers
INT64_NUMPY_PARAM = ("ints", "numpy")
INT64_PARAMS = (INT64_PARAM, INT64_NUMPY_PARAM)
INT64_OVERFLOW = "an integer beyond the 64 bits compiled code computes with"
# the primitives so checked, by the runtime helper that checks each
INT64_HELPERS = {"add": "int_add", "sub": "int_sub", "mul": "int_mul", "pow": "int_pow", "neg": "int_neg",
                 "abs": "int_abs", "floordiv": "int_floordiv"}
# ... where the operands are NumPy's (an array's elements; a statement not marked `error_effect`), by these
# where they differ: NumPy's int division by zero is 0 (a warning), Python's raises
NUMPY_INT64_HELPERS = {**INT64_HELPERS, "floordiv": "int_floordiv_numpy"}
# ... and, in the module printed for Python, by NumPy's ufunc of int64 numbers (`INT64_NUMPY_PARAM`)
NUMPY_INT64_UFUNCS = {"add": "np.add", "sub": "np.subtract", "mul": "np.multiply", "pow": "np.power",
                      "neg": "np.negative", "abs": "np.absolute", "floordiv": "np.floor_divide"}
# the keys of those params: facts for the analyses and the printer's choice, never arguments of a call
FACT_PARAMS = frozenset({MATH_MODULE_PARAM[0], POWER_UNREAD[0], INT64_PARAM[0], INT64_NUMPY_PARAM[0]})


def beyond_int64(operand) -> bool:
    """Is this operand an int constant beyond 64 bits (`2 ** 70`, folded), which Numba's ints cannot hold?"""
    return type(getattr(operand, "value", None)) is int and not -2 ** 63 <= operand.value < 2 ** 63


def int_as_float(value: int) -> float | None:
    """The float Python makes of an int (`x * 10 ** 20`), None where none holds it (Python's OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return None


def checks_int64(stmt) -> bool:
    """Is this statement arithmetic of ints that the module Numba compiles checks for leaving 64 bits
    (`INT64_PARAM`, `INT64_NUMPY_PARAM`)?  It may raise there, OverflowError, where Python computes on
    and NumPy wraps around."""
    return any(p in INT64_PARAMS for p in getattr(stmt, "params", ()))


def wraps_as_numpy(stmt) -> bool:
    """Is this statement arithmetic of NumPy's int arrays (or of their elements, once fused) that may leave
    64 bits (`INT64_NUMPY_PARAM`): NumPy's, which wraps around, whatever numbers its operands hold?"""
    return INT64_NUMPY_PARAM in tuple(getattr(stmt, "params", ()))


def python_check(stmt) -> str | None:
    """How the module Numba compiles must check a statement of numbers as CPython checks it, where Numba
    gives NaN or an infinity and Python raises: "math" a call of the math module's function
    (`Primitive.python_errors`: `math.sqrt(-1.0)`, `math.pow(0.0, -1.0)` raise ValueError), "power"
    Python's `x ** y` of its own numbers (CPython's `float_pow`: ZeroDivisionError for 0.0 to a negative
    power, OverflowError for an infinity from finite operands, and a complex number for a negative base
    to a fractional power, which a real gradient cannot go on with); None: not checked.  The lowering
    marks both `error_effect` (`frontend.lower._mark_python_errors`); a caller asks only of statements
    whose operands are numbers."""
    if not stmt.error_effect or stmt.prim not in PRIMITIVES or PRIMITIVES[stmt.prim].python_errors is None:
        return None
    if stmt.prim == "pow" and MATH_MODULE_PARAM not in tuple(stmt.params):
        return "power"
    return "math"


def python_power_may_raise(base, exponent, base_kind: str | None, exponent_kind: str | None) -> bool:
    """May Python's `base ** exponent` of its own numbers raise (or make a complex number) where Numba's
    gives inf or NaN (`python_check`: "power")?  Never of two ints to a power >= 0 (an int; Python's are
    unbounded), to the power 0 or 1, or of the base 1; of two constants, as Python computes them."""
    b, e = getattr(base, "value", None), getattr(exponent, "value", None)
    if isinstance(b, (int, float)) and isinstance(e, (int, float)):
        try:
            return isinstance(operator.pow(b, e), complex)
        except (ZeroDivisionError, OverflowError):
            return True
    if e in (0, 1) and not isinstance(e, bool) or b == 1 and not isinstance(b, bool):
        return False
    integers = base_kind in ("int", "bool") and exponent_kind in ("int", "bool")
    return not (integers and isinstance(e, int) and e >= 0)


def python_power_holds(lo: float, hi: float, exponent) -> bool:
    """Does Python's `x ** exponent` (a constant) raise nothing, and make no complex number, for every x in
    [lo, hi]?  No negative x to a fractional power, no 0 to a negative one, and the largest magnitude
    (at the end farthest from 0 for a positive power, nearest for a negative one) well inside the range:
    below 1e300, far more than `pow`'s last-place error away from the largest float."""
    e = exponent
    if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) \
            or not (math.isfinite(lo) and math.isfinite(hi)):
        return False
    if lo < 0.0 and e != int(e) or e < 0 and lo <= 0.0 <= hi:
        return False
    if 0 <= e <= 1:
        return True
    magnitude = max(abs(lo), abs(hi)) if e > 0 else min(abs(lo), abs(hi))
    try:
        return float(magnitude) ** e < 1e300
    except OverflowError:
        return False


# the largest int exponent `python_power_limit` answers for: beyond it Numba computes `x ** n` with `math.pow`
POWER_LIMIT_EXPONENTS = 0x10000


def overflow_test(prim: str) -> str | None:
    """The test of the operand `{0}` for which the math module's `prim` raises OverflowError, where its
    rule says the error is of the operand's magnitude ("overflow above": `math.exp(x)` overflows exactly
    for a finite x above a limit; "overflow beyond": `math.cosh(x)` for |x| beyond one); None for every
    other primitive.  Tested on the operand, like a domain, so that the check does not wait for the
    function (inside a caller's loop, `math_range` of exp's result cost 1.22x the hand-written logistic
    gradient, this test 1.09x) and costs a compare where nothing reads the call."""
    tests = PRIMITIVES[prim].python_errors or ()
    finite = "{0} - {0} == 0.0"         # math.exp(inf) is inf, no error; NaN compares false
    if "overflow above" in tests:
        return f"{{0}} > {overflow_limit(prim, 1.0)!r} and {finite}"
    if "overflow beyond" in tests:
        return f"({{0}} > {overflow_limit(prim, 1.0)!r} or {{0}} < -{overflow_limit(prim, -1.0)!r}) and {finite}"
    return None


@functools.cache
def overflow_limit(prim: str, sign: float) -> float:
    """The largest float `x` >= 0 for which the math module's `prim` of `sign * x` raises no OverflowError
    (inf where none does): a bisection over the floats' bit patterns from 1.0, for a function that
    overflows past some magnitude and not before it (the rule's "overflow above"/"overflow beyond"), the
    256 floats below the limit tested again, so that a libm not quite monotone there cannot leave one
    that overflows inside it."""
    function = PRIMITIVES[prim].evaluate

    def number(x: float) -> bool:
        try:
            function(sign * x)
            return True
        except OverflowError:
            return False

    return math.inf if number(_as_float(_INF_BITS - 1)) else _last_finite(number)


_INF_BITS = struct.unpack("<q", struct.pack("<d", math.inf))[0]


def _as_float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def _last_finite(finite) -> float:
    """The largest float >= 1.0 at which `finite` (true at 1.0, false past some magnitude) holds: a
    bisection over the floats' bit patterns, the 256 floats below tested again, so that a function not
    quite monotone there cannot leave one false inside the limit (`python_power_limit`, `overflow_limit`)."""
    below, above = struct.unpack("<q", struct.pack("<d", 1.0))[0], _INF_BITS
    while above - below > 1:
        middle = (below + above) // 2
        below, above = (middle, above) if finite(_as_float(middle)) else (below, middle)
    lowest_false = next((bits for bits in range(below - 256, below + 1) if not finite(_as_float(bits))), None)
    return _as_float(below if lowest_false is None else lowest_false - 1)


@functools.cache
def python_power_limit(n: int) -> float:
    """The largest float `x` for which Python's `x ** n` (a constant int 2 <= n <= `POWER_LIMIT_EXPONENTS`)
    and Numba's (squarings: `numba.cpython.numbers.static_power_impl`) are both finite.  A finite `x`
    beyond it in magnitude raises OverflowError in Python, or makes Numba's power inf where Python's is a
    number just below the largest float: raising there too is the checked side.  Both powers grow with
    `|x|` (rounding is monotone), so the limit is found by bisection over the floats' bit patterns; the
    256 floats below it are tested again, so that a libm `pow` not quite monotone there cannot leave a
    float that overflows inside the limit."""
    def finite(x: float) -> bool:
        squared, power, k = x, 1.0, n
        while k:
            if k & 1:
                power *= squared
            k >>= 1
            squared *= squared
        try:
            return math.isfinite(power) and math.isfinite(x ** n)
        except OverflowError:
            return False

    return _last_finite(finite)
