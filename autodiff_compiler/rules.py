"""The one rule table: every primitive, its derivative, and its names in Python, NumPy and SymPy.

Takes: nothing.  Guarantees: `PRIMITIVES[name]` describes primitive `name` once:

* `partials`: one expression per argument, written in the primitive language
  itself (Python syntax over the argument names `x`, `y`, `z` and the primal
  result `out`), so the reverse pass lowers them with the same lowering as
  user code, and the tests check each against `sympy.diff` of `sympy`;
  or `vjp`: for structural array primitives, the vector-Jacobian product in
  the same language, over the cotangent `g`;
  and `jvp`: the Jacobian-vector product, one expression per argument over
  `d`, that argument's tangent (forward mode adds the terms of the arguments
  that carry tangents; `None`: the result does not depend on that argument's
  values, only on its shape).  Forward mode reads `partials` where there are
  no `jvp` (`out_dot = sum_k partial_k * x_k_dot`); every primitive with a
  `vjp` also has a `jvp`, so that both transforms read this one table and
  derived programs (which use these helpers) can be differentiated again;
* `nondiff`: the primitive has derivative zero everywhere it is defined
  (comparisons, floor, sign, integer arithmetic) -- the explicit list, which
  holds only primitives whose derivative really is zero (a helper that is
  linear in an argument is not on it: it has a `jvp`);
* `refuse`: a primitive with a derivative that no rule here gives (a message
  saying so): a transform that would need it raises an `AutodiffError`;
* `scalar` / `array`: how the printer spells it for scalar and array operands
  (an operator symbol or a dotted function name);
* `sympy`: the primitive as a SymPy expression over `x`, `y`, `z`;
* `result`: how its result type follows from its arguments' types.

Each primitive is a `primitive.Primitive` record.  Adding a primitive is one
`_define` call.  A primitive that is neither differentiable nor in the
non-differentiable list cannot exist: `_define` refuses it.
"""
from __future__ import annotations

import ast
import math
import operator
from dataclasses import replace

from .primitive import Primitive
from .special import polygamma_scalar

ARG_NAMES = ("x", "y", "z")


PRIMITIVES: dict[str, Primitive] = {}
# (module, attribute) -> primitive name, for resolving calls in user code;
# module is "math", "numpy" or "builtins".
USER_FUNCTIONS: dict[tuple[str, str], str] = {}


def _define(name, arity, partials=None, *, vjp=None, jvp=None, nondiff=False, scalar=None, array=None,
            sympy=None, result="float", evaluate=None, math_name=None, numpy_names=(), builtin=None,
            scipy_names=(), examples=(), domain=(), effect=False, refuse=None, raises=False, error=None,
            raises_on_arrays=False, compiled=None, numpy_numbers=None, python_number=False, python_errors=None,
            compiled_only=False, compiled_ints=None, refused_kinds=()):
    if partials is None and vjp is None and jvp is None and not nondiff and refuse is None:
        raise ValueError(f"primitive {name!r} needs partials, a vjp or jvp, nondiff=True, or refuse=")
    if vjp is not None and jvp is None:
        raise ValueError(f"primitive {name!r} has a vjp but no jvp: forward mode reads this table too")
    names = []
    if math_name:
        names.append(("math", math_name))
    names += [("numpy", n) for n in numpy_names]
    names += [("scipy.special", n) for n in scipy_names]
    if builtin:
        names.append(("builtins", builtin))
    prim = Primitive(name, arity, tuple(partials) if partials else None,
                     vjp if isinstance(vjp, dict) or vjp is None or callable(vjp) else tuple(vjp),
                     nondiff, scalar, array, sympy, result, evaluate, tuple(names), examples=tuple(examples),
                     domain=tuple(domain), effect=effect,
                     jvp=jvp if jvp is None or callable(jvp) else tuple(jvp), refuse=refuse, raises=raises,
                     error=error, compiled=compiled, numpy_numbers=numpy_numbers, python_number=python_number,
                     raises_on_arrays=raises_on_arrays, python_errors=python_errors, compiled_only=compiled_only,
                     compiled_ints=compiled_ints, refused_kinds=tuple(refused_kinds))
    PRIMITIVES[name] = prim
    for key in names:
        USER_FUNCTIONS[key] = name
    return prim


def _math_function(name, partial, *, math_name=None, numpy_name=None, sympy=None, arity=1, evaluate=None,
                   python_errors=None):
    """A function of the math module with the NumPy ufunc of the same meaning; `python_errors`: where the
    math module's raises (`Primitive.python_errors`)."""
    math_name = math_name or name
    numpy_name = numpy_name or name
    _define(name, arity, partial, scalar=f"math.{math_name}", array=f"np.{numpy_name}",
            sympy=sympy or f"{name}({', '.join(ARG_NAMES[:arity])})", result="float",
            evaluate=evaluate or getattr(math, math_name), math_name=math_name, numpy_names=(numpy_name,),
            python_errors=python_errors)


# ----------------------------------------------------------------- arithmetic
_define("add", 2, ("1", "1"), scalar="+", array="+", sympy="x + y", result="join", evaluate=operator.add)
_define("sub", 2, ("1", "-1"), scalar="-", array="-", sympy="x - y", result="join", evaluate=operator.sub)
_define("mul", 2, ("y", "x"), scalar="*", array="*", sympy="x * y", result="join", evaluate=operator.mul)
_define("div", 2, ("1 / y", "-out / y"), scalar="/", array="/", sympy="x / y", result="float",
        evaluate=operator.truediv, numpy_names=("divide", "true_divide"), raises="zero divisor",
        error="division by zero", numpy_numbers="np.divide({0}, {1})")
# pow's partials at a zero base: 0 ** y is 0 (y > 0), 1 (y == 0) or inf, and the plain formulas would give
# 0 * inf.  The base is nudged to 1 exactly where they would (no branch: on arrays both sides of a branch are
# computed, and a second derivative through the side not taken would be nan); elsewhere the formulas are
# the plain ones, so that they differentiate again exactly.
_define("pow", 2, ("y * (x + indicator(x == 0) * indicator(y == 0)) ** (y - 1)",
                   "out * log(x + indicator(out == 0))"), scalar="**", array="**", sympy="x ** y",
        result="pow", evaluate=operator.pow, math_name="pow", numpy_names=("power",), builtin="pow",
        raises="negative integer exponent", python_errors=("pow",),
        error={"float": "division by zero", "int": "0 cannot be raised to a negative power"},
        numpy_numbers={"float": "np.power({0}, {1})", "array": "np.power({0}, {1})"})   # NumPy's ints raise too


def _numpy_int_power_check(exponent) -> bool:
    """What NumPy checks before raising its ints to the int power `exponent` (a number or an array)."""
    if any(e < 0 for e in getattr(exponent, "flat", (exponent,))):
        raise ValueError("Integers to negative integer powers are not allowed.")
    return True


def _ieee_divide(x, y) -> float:
    """x / y as IEEE arithmetic has it (NumPy's float division): no exception at y == 0."""
    if y != 0 or x != x or y != y:
        return x / y if y != 0 else math.nan
    if x == 0:
        return math.nan
    return math.copysign(math.inf, x) * math.copysign(1.0, y)


# division as NumPy divides arrays, entry by entry: inf or nan at a zero divisor, never an exception (the
# row loops of `optimise.fuse_rows` compute an array division on numbers; made after differentiation)
_define("ieee_div", 2, nondiff=True, scalar="np.divide({0}, {1})", array="np.divide({0}, {1})", result="float",
        evaluate=_ieee_divide)
_define("neg", 1, ("-1",), scalar="-", array="-", sympy="-x", result="join", evaluate=operator.neg,
        numpy_names=("negative",))
_define("copy", 1, ("1",), scalar="", array="", sympy="x", result="first", evaluate=lambda x: x)
_define("float", 1, ("1",), scalar="float", array="", sympy="x", result="float", evaluate=float,
        builtin="float", python_number=True)
# the value unchanged, known to be Python's number: the front end writes it only in the branch a runtime
# flag says the operand holds Python's number there (`frontend.number_flags`), so that the division
# reading it is checked as Python's (`ir.numbers`) whatever the name holds on other runs
_define("as_python", 1, ("1",), scalar="", array="", sympy="x", result="first", evaluate=lambda x: x,
        python_number=True)
_define("mod", 2, ("1", "-floor_float(x / y)"), scalar="%", array="%", sympy="Mod(x, y)", result="join",
        evaluate=operator.mod, numpy_names=("mod", "remainder"), raises="zero divisor",
        error={"float": "modulo by zero", "int": "integer modulo by zero"},
        # (Numba's np.remainder of the smallest int64 by -1 is a hardware trap; its `%` gives NumPy's 0)
        numpy_numbers={"int": "(0 if {1} == 0 else {0} % {1})", "float": "np.remainder({0}, {1})",
                       "array": "np.remainder({0}, {1})"})

# ---------------------------------------------------------- elementary functions
# Python's math module raises where CPython's `math_1` finds NaN from an operand that is not NaN (ValueError:
# outside the domain, tested on the operand) or an infinity from a finite one (ValueError at a pole, as
# log(0.0); OverflowError where the function "overflow"s, past a limit of x for exp); NumPy's give them back
_math_function("sin", ("cos(x)",), python_errors=("math.isinf({0})",))
_math_function("cos", ("-sin(x)",), python_errors=("math.isinf({0})",))
_math_function("tan", ("1 + out ** 2",), python_errors=("math.isinf({0})",))
_math_function("asin", ("1 / sqrt(1 - x ** 2)",), numpy_name="arcsin", python_errors=("abs({0}) > 1.0",))
_math_function("acos", ("-1 / sqrt(1 - x ** 2)",), numpy_name="arccos", python_errors=("abs({0}) > 1.0",))
_math_function("atan", ("1 / (1 + x ** 2)",), numpy_name="arctan")
_math_function("atan2", ("y / hypot(x, y) / hypot(x, y)", "-x / hypot(x, y) / hypot(x, y)"), numpy_name="arctan2", arity=2)  # not x**2 + y**2: 0 at 1e-160 (a false division by zero, fuzz seed 110, scalar-21), inf at 1e155
_math_function("sinh", ("cosh(x)",), python_errors=("overflow beyond",))
_math_function("cosh", ("sinh(x)",), python_errors=("overflow beyond",))
_math_function("tanh", ("1 - out ** 2",))
_math_function("exp", ("out",), python_errors=("overflow above",))
_math_function("expm1", ("out + 1",), sympy="exp(x) - 1", python_errors=("overflow above",))
_math_function("log", ("1 / x",), python_errors=("{0} <= 0.0",))
_math_function("log1p", ("1 / (1 + x)",), sympy="log(1 + x)", python_errors=("{0} <= -1.0",))
_math_function("log2", ("1 / (x * 0.6931471805599453)",), sympy="log(x, 2)", python_errors=("{0} <= 0.0",))
_math_function("log10", ("1 / (x * 2.302585092994046)",), sympy="log(x, 10)", python_errors=("{0} <= 0.0",))
_math_function("sqrt", ("0.5 / out",), python_errors=("{0} < 0.0",))
# at the origin, hypot is a kink (a cone): 0 is its smallest subgradient, as sign(0) is abs's
_math_function("hypot", ("0.0 if out == 0 else x / out", "0.0 if out == 0 else y / out"),
               sympy="sqrt(x**2 + y**2)", arity=2)
_math_function("erf", ("1.1283791670955126 * exp(-x ** 2)",), numpy_name="erf")
_math_function("erfc", ("-1.1283791670955126 * exp(-x ** 2)",), numpy_name="erfc")
# math.erf has no NumPy counterpart: SciPy's (scipy.special.erf) is the same function, and arrays go
# through a runtime helper (Numba compiles math.erf, not scipy.special)
USER_FUNCTIONS.pop(("numpy", "erf"))
USER_FUNCTIONS.pop(("numpy", "erfc"))
for _name in ("erf", "erfc"):
    PRIMITIVES[_name] = replace(PRIMITIVES[_name], array=f"{_name}_array({{0}})",
                                user_names=(("math", _name), ("scipy.special", _name)))
    USER_FUNCTIONS[("scipy.special", _name)] = _name
_math_function("asinh", ("1 / sqrt(x ** 2 + 1)",), numpy_name="arcsinh")
_math_function("acosh", ("1 / sqrt(x ** 2 - 1)",), numpy_name="arccosh", python_errors=("{0} < 1.0",))
_math_function("atanh", ("1 / (1 - x ** 2)",), numpy_name="arctanh", python_errors=("abs({0}) >= 1.0",))
_define("exp2", 1, ("out * 0.6931471805599453",), scalar="(2.0 ** {0})", array="np.exp2", sympy="2 ** x",
        result="float", evaluate=lambda x: 2.0 ** x, numpy_names=("exp2",))
_define("reciprocal", 1, ("-out ** 2",), scalar="(1.0 / {0})", array="(1.0 / {0})", sympy="1 / x",
        result="float", evaluate=lambda x: 1.0 / x, numpy_names=("reciprocal",),
        raises=True, error="division by zero", numpy_numbers="np.divide(1.0, {0})",
        refused_kinds=[(kind, "np.reciprocal of integers is NumPy's integer reciprocal (0 for every integer but "
                              "1 and -1), not 1 / x") for kind in ("int", "bool")])
_define("deg2rad", 1, ("0.017453292519943295",), scalar="math.radians", array="np.deg2rad",
        sympy="x * pi / 180", result="float", evaluate=math.radians, math_name="radians",
        numpy_names=("deg2rad", "radians"))
_define("rad2deg", 1, ("57.29577951308232",), scalar="math.degrees", array="np.rad2deg",
        sympy="x * 180 / pi", result="float", evaluate=math.degrees, math_name="degrees",
        numpy_names=("rad2deg", "degrees"))
_define("sinc", 1, ("0.0 if x == 0 else (cos(3.141592653589793 * x) - out) / x",), scalar="np.sinc",
        array="np.sinc", sympy="sinc(pi * x)", result="float",
        evaluate=lambda x: 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x), numpy_names=("sinc",))
_define("cbrt", 1, ("1 / (3 * out ** 2)",), scalar="np.cbrt", array="np.cbrt",
        sympy="sign(x) * Abs(x) ** Rational(1, 3)", result="float",
        evaluate=lambda x: math.copysign(abs(x) ** (1 / 3), x), numpy_names=("cbrt",))
_define("logaddexp", 2, ("exp(x - out)", "exp(y - out)"), scalar="np.logaddexp", array="np.logaddexp",
        sympy="log(exp(x) + exp(y))", result="float",
        evaluate=lambda x, y: max(x, y) + math.log1p(math.exp(-abs(x - y))), numpy_names=("logaddexp",))
_define("logaddexp2", 2, ("exp2(x - out)", "exp2(y - out)"), scalar="np.logaddexp2", array="np.logaddexp2",
        sympy="log(2 ** x + 2 ** y, 2)", result="float",
        evaluate=lambda x, y: max(x, y) + math.log2(1 + 2.0 ** (-abs(x - y))), numpy_names=("logaddexp2",))
# SciPy's special functions (scipy.special.*): spelled with NumPy and the math module, or a runtime helper
_define("expit", 1, ("out * (1 - out)",), scalar="expit_scalar({0})", array="expit_array({0})",
        sympy="1 / (1 + exp(-x))", result="float",
        evaluate=lambda x: 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x)),
        scipy_names=("expit",))
_define("logit", 1, ("1 / (x * (1 - x))",), scalar="logit({0})", array="logit({0})", sympy="log(x / (1 - x))",
        result="float", evaluate=lambda x: math.log(x / (1 - x)), scipy_names=("logit",))
_define("xlogy", 2, ("log(y)", "0.0 if x == 0 else x / y"), scalar="(0.0 if {0} == 0 else {0} * math.log({1}))",
        array="np.where({0} == 0, 0.0, {0} * np.log({1}))", sympy="x * log(y)", result="float",
        evaluate=lambda x, y: 0.0 if x == 0 else x * math.log(y), scipy_names=("xlogy",))
_define("gammaln", 1, ("polygamma(0, x)",), scalar="math.lgamma", array="gammaln_array({0})",
        sympy="log(Abs(gamma(x)))", result="float", evaluate=math.lgamma, math_name="lgamma",
        python_errors=("poles", "overflow"), scipy_names=("gammaln",))
# polygamma(n, x): the n-th derivative of digamma; n is a count (no derivative)
_define("polygamma", 2, ("0", "polygamma(x + 1, y)"), scalar="polygamma_scalar({0}, {1})",
        array="polygamma_array({0}, {1})", sympy="polygamma(x, y)", result="float",
        evaluate=lambda n, x: polygamma_scalar(n, x), scipy_names=("polygamma",),
        domain=("int", "real"))
_define("digamma", 1, ("polygamma(1, x)",), scalar="polygamma_scalar(0, {0})", array="polygamma_array(0, {0})",
        sympy="polygamma(0, x)", result="float", evaluate=lambda x: polygamma_scalar(0, x),
        scipy_names=("digamma", "psi"))
# np.add and friends are the operators
for _prim, _alias in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("copy", "positive")):
    USER_FUNCTIONS[("numpy", _alias)] = _prim


_define("abs", 1, ("sign(x)",), scalar="abs", array="np.abs", sympy="Abs(x)", result="join",
        evaluate=abs, math_name="fabs", numpy_names=("abs", "absolute", "fabs"), builtin="abs")
# Python's min(x, y) is x unless y < x (max: unless y > x): beside a NaN y it is x, which takes the partial
# (`indicator(x >= y)` alone gave 0 to both; found by a review).  A NaN x makes the value NaN either way.
# Of a constant y the NaN test folds away (the clamp `max(y_hat, 1e-8)` prints its one mask)
_define("min", 2, ("indicator(x <= y) + indicator(y != y)", "indicator(x > y)"), scalar="min", array="np.minimum",
        sympy="Min(x, y)", result="extremum", evaluate=min, numpy_names=("minimum",), builtin="min")
_define("max", 2, ("indicator(x >= y) + indicator(y != y)", "indicator(x < y)"), scalar="max", array="np.maximum",
        sympy="Max(x, y)", result="extremum", evaluate=max, numpy_names=("maximum",), builtin="max")
# np.fmin / np.fmax: a NaN operand is ignored (the other one is the result, and gets the derivative),
# where min / np.minimum propagate it -- so not the same primitive (elements in a fused loop too)
_define("fmin", 2, ("indicator(x <= y) + indicator(y != y) * indicator(x == x)",
                    "indicator(x > y) + indicator(x != x) * indicator(y == y)"),
        scalar="np.fmin", array="np.fmin", sympy="Min(x, y)", result="extremum",
        evaluate=lambda x, y: y if x != x else x if y != y else min(x, y), numpy_names=("fmin",))
_define("fmax", 2, ("indicator(x >= y) + indicator(y != y) * indicator(x == x)",
                    "indicator(x < y) + indicator(x != x) * indicator(y == y)"),
        scalar="np.fmax", array="np.fmax", sympy="Max(x, y)", result="extremum",
        evaluate=lambda x, y: y if x != x else x if y != y else max(x, y), numpy_names=("fmax",))

# ------------------------------------------------ the non-differentiable list
_define("stop_gradient", 1, nondiff=True, scalar="", array="", sympy="x", result="first", evaluate=lambda x: x)
_define("floordiv", 2, nondiff=True, scalar="//", array="//", result="join", evaluate=operator.floordiv,
        numpy_names=("floor_divide",), raises="zero divisor",
        error={"float": "division by zero", "int": "integer division by zero"},
        numpy_numbers="np.floor_divide({0}, {1})")
# Python's: an int, and NaN or infinity raise (ValueError, OverflowError), also of NumPy's numbers;
# Numba's conversion gives -2**63 instead, so the operand is checked first (`runtime.integral`)
_define("floor", 1, nondiff=True, scalar="math.floor(integral({0}))", array="np.floor", sympy="floor(x)",
        result="int", evaluate=math.floor, math_name="floor", raises="non-finite")
_define("ceil", 1, nondiff=True, scalar="math.ceil(integral({0}))", array="np.ceil", sympy="ceiling(x)",
        result="int", evaluate=math.ceil, math_name="ceil", raises="non-finite")
_define("trunc", 1, nondiff=True, scalar="math.trunc(integral({0}))", array="np.trunc", result="int",
        evaluate=math.trunc, math_name="trunc", raises="non-finite")
# NumPy's: a float (of a number too), and inf and NaN are their own floor -- where math.floor gives an
# int and raises on them (compiled, Numba's int conversion of inf is -2**63: a wrong number).  An
# element of an array in a fused loop is NumPy's number, so it is printed np.floor as well.
for _name, _math, _sympy in (("floor", math.floor, "floor(x)"), ("ceil", math.ceil, "ceiling(x)"),
                             ("trunc", math.trunc, None)):
    _define(f"{_name}_float", 1, nondiff=True, scalar=f"np.{_name}", array=f"np.{_name}", sympy=_sympy,
            result="float", numpy_names=(_name,),
            evaluate=lambda x, _math=_math: float(_math(x)) if math.isfinite(x) else float(x))
_define("int", 1, nondiff=True, scalar="int(integral({0}))", array="", result="int", evaluate=int,
        builtin="int", python_number=True, raises="non-finite")
_define("sign", 1, nondiff=True, scalar="np.sign", array="np.sign", sympy="sign(x)", result="float",
        evaluate=lambda x: float((x > 0) - (x < 0)), numpy_names=("sign",),
        refused_kinds=[("bool", "np.sign of bools raises UFuncTypeError in NumPy")])
for _name, _symbol, _fn in (("lt", "<", operator.lt), ("le", "<=", operator.le), ("gt", ">", operator.gt),
                            ("ge", ">=", operator.ge), ("eq", "==", operator.eq), ("ne", "!=", operator.ne)):
    _define(_name, 2, nondiff=True, scalar=_symbol, array=_symbol, result="bool", evaluate=_fn)
_define("not", 1, nondiff=True, scalar="not", array="~", result="bool", evaluate=operator.not_,    # `not np.True_`
        numpy_names=("logical_not",), python_number=True)      # is Python's False

_define("indicator", 1, nondiff=True, scalar="(1.0 if {0} else 0.0)", array="(1.0 * ({0}))",
        result="float", evaluate=lambda c: 1.0 if c else 0.0)
# a partial or adjoint of the careful rerun whose zero stays zero when multiplied (`backend.strong_zero`)
_define("structural", 1, nondiff=True, scalar="structural({0})", array="structural({0})", result="first", evaluate=lambda x: x)
_define("slice_offset", 2, nondiff=True, array="slice_offset({0}, {1})", result="count",
        evaluate=lambda x, start: range(len(x))[start:].start if start is not None else 0)
# Python's int of an int: `operator.index`, which `range` calls on its operands (`frontend.lower`
# puts it before a loop over a range of NumPy's ints, whose trip count and reversed bounds are then
# computed in Python's ints, as Python's range computes them)
_define("index", 1, nondiff=True, scalar="int", result="int", evaluate=int, python_number=True)
_define("range_length", 3, nondiff=True, scalar="len(range({0}, {1}, {2}))", result="int",
        evaluate=lambda a, b, c: len(range(a, b, c)))

# ------------------------------------------------------------------ arrays
# Elementwise primitives above work on arrays too (their `array` spelling); the
# reverse pass sums their adjoints over broadcast axes (`arrays.unbroadcast`).
_define("where", 3, ("0", "indicator(x)", "1.0 - indicator(x)"), scalar="({1} if {0} else {2})", array="np.where",
        sympy="Piecewise((y, x), (z, True))", result="where", evaluate=lambda c, a, b: a if c else b,
        numpy_names=("where",))
# clip(x, lo, hi) is min(max(x, lo), hi), also when lo > hi (then it is hi, as np.clip)
def _clip_compiled(types, operands):
    """Numba's np.clip keeps an int or bool array's dtype, where NumPy's result is float beside a float bound
    (0.5 clipped to 0, silently): that array is clipped as float64."""
    def is_float(t, operand):
        return t is not None and (t.kind == "float" or t.is_array and t.dtype.startswith("float")) \
            or type(getattr(operand, "value", None)) is float
    first = types[0]
    if first is not None and first.is_array and not first.dtype.startswith("float") \
            and any(is_float(t, o) for t, o in zip(types[1:], operands[1:])):
        return "np.clip(np.asarray({0}, np.float64), {1}, {2})"
    return None


_define("clip", 3, ("indicator(x >= y) * indicator(x <= z)", "indicator(x < y) * indicator(y <= z)",
                    "indicator(max(x, y) > z)"),
        scalar="min(max({0}, {1}), {2})", array="np.clip", sympy="Min(Max(x, y), z)", result="join",
        evaluate=lambda x, lo, hi: min(max(x, lo), hi), numpy_names=("clip",), compiled=_clip_compiled)
# a number (one element of a fused loop, a symbolic entry) is its own copy
_define("array_copy", 1, ("1",), jvp=("array_copy(d)",), scalar="{0}", array="{0}.copy()", sympy="x", result="first",
        evaluate=lambda x: x.copy() if getattr(x, "ndim", 0) else x)


def _typed(ndim: int, dtype: str = "float64") -> tuple:
    """The type of an array of rank `ndim` (a number when it is 0), as `(kind, ndim, dtype)`: the fields
    of `ir.nodes.Type`, which `ir.types` builds from it (the rule table comes before the IR)."""
    if ndim:
        return ("array", ndim, dtype)
    return ("float", 0, "float64") if dtype.startswith("float") else ("bool", 0, "float64") if dtype == "bool" \
        else ("int", 0, "float64")


def _rank(t) -> int:
    return t.ndim if t is not None and t.kind == "array" else 0


def _dtype(t) -> str:
    if t is not None and t.kind == "array":
        return t.dtype
    return "float64" if t is None or t.kind == "float" else "int64"


def _params_text(p: dict, *names) -> str:
    return ", ".join(f"{k}={p[k]!r}" for k in names)


# Whole-array reductions.  Their adjoints are vector-Jacobian products over the cotangent `g`.
_define("sum", 1, vjp=("expand_like(g, x)",), jvp=("sum(d)",), array="np.sum", sympy="x", result="reduce", numpy_names=("sum",),
        examples=(((2, 3),), ((2, 3, 2),)))
_define("mean", 1, vjp=("expand_like(g / size(x), x)",), jvp=("mean(d)",), array="np.mean", result="reduce", numpy_names=("mean",),
        examples=(((2, 3),), ((4,),)))
_define("amax", 1, vjp=("indicator(x == out) * (g / np_sum(indicator(x == out)))",),
        jvp=("sum(indicator(x == out) * d) / sum(indicator(x == out))",), array="np.max",
        result="reduce_extremum", numpy_names=("max", "amax"), examples=(((2, 3),),))
_define("amin", 1, vjp=("indicator(x == out) * (g / np_sum(indicator(x == out)))",),
        jvp=("sum(indicator(x == out) * d) / sum(indicator(x == out))",), array="np.min",
        result="reduce_extremum", numpy_names=("min", "amin"), examples=(((2, 3),),))
_define("prod", 1, vjp=("g * prod_others(x)",), jvp=("sum(prod_others(x) * d)",), array="np.prod", result="reduce", numpy_names=("prod",),
        examples=(((2, 3),),))
# each entry's partial of a product: the product of the others (no division, so exact at zeros)
_PROD_REFUSAL = ("second and higher derivatives through np.prod are not supported: write the product as a "
                 "loop (p = p * x[i]) to differentiate it again")
_define("prod_others", 1, array="prod_others", result="first", refuse=_PROD_REFUSAL)
# helpers of the derived programs: linear in their first argument, so that derived programs can be
# differentiated again (a zero derivative here would be a silently wrong second derivative)
_define("np_sum", 1, vjp=("expand_like(g, x)",), jvp=("np_sum(d)",), array="np.sum", result="reduce",
        examples=(((2, 3),),))

# Reductions along axes, for arrays of any rank.  The front end writes `np.sum(x, axis=a, keepdims=k)`
# as `sum_axes` with the params as written (`axis`, `keepdims`); `ir.types.specialise` resolves them
# against the operand's rank into the params every rule below reads: `axes` (sorted, non-negative),
# `keepdims` and `ndim` (the operand's rank).  One vjp per reduction, written over `unreduce`, which
# broadcasts a reduced cotangent back to the operand's shape.


def _reduced_type(kind: str):
    """The result type of a reduction along axes (its `result`, marked `reduces_axes`): "sum" (of bools
    or ints an int, as NumPy), "mean" (a float) or "extremum" (the operand's dtype: the largest of bools
    is a bool)."""
    def result(types, p):
        t = types[0]
        if t is None:
            return None
        ndim = _rank(t)
        if "axes" in p:
            axes, keep = set(p["axes"]), p["keepdims"]
        else:
            axis, keep = p.get("axis"), bool(p.get("keepdims", False))
            written = range(ndim) if axis is None else axis if isinstance(axis, tuple) else (axis,)
            axes = {a % ndim for a in written} if ndim else set()
        dtype = "float64" if kind == "mean" or _dtype(t).startswith("float") else \
            _dtype(t) if kind == "extremum" else "int64"
        return _typed(ndim if keep else ndim - len(axes), dtype)
    result.reduces_axes = True
    return result


def _sum_chain(text: str, axes) -> str:
    for a in sorted(axes, reverse=True):
        text = f"np.sum({text}, axis={a})"
    return text


def _expand_chain(text: str, axes) -> str:
    """Size-1 axes inserted at `axes` (positions in the result), as keepdims leaves them."""
    for a in sorted(axes):
        text = f"np.expand_dims({text}, {a})"
    return text


def _count(axes, operand: str = "{0}") -> str:
    return " * ".join(f"{operand}.shape[{a}]" for a in axes)


def _ones(ndim: int) -> str:
    return "(" + ", ".join(["1"] * ndim) + ",)"


def _sum_axes_spelling(p, count):
    axes, keep, ndim = p["axes"], p["keepdims"], p["ndim"]
    if not axes:                     # a sum over no axes: a new array of the same numbers, as NumPy's
        return "np.copy({0})"
    if len(axes) == ndim:            # a full reduction that keeps its dimensions
        return f"(np.zeros({_ones(ndim)}) + np.sum({{0}}))"
    if ndim == 2 and len(axes) == 1:
        # a matrix's rows or columns: runtime helpers Numba compiles in a tenth of the time of np.sum(axis=),
        # and runs in a sixth (1000x100 rows: 41 us against 235 us)
        return _expand_chain(f"sum_axis{axes[0]}({{0}})", axes) if keep else f"sum_axis{axes[0]}({{0}})"
    text = _sum_chain("{0}", axes)
    return _expand_chain(text, axes) if keep else text


def _mean_axes_spelling(p, count):
    return f"({_sum_axes_spelling(p, count)} / ({_count(p['axes'])}))"


def _rows_spelling(helper: str):
    """amax/amin/prod along axes: the operand's reduced axes moved last, as the columns of a matrix
    (runtime helpers `<helper>_rows`), the result reshaped to the reduced shape."""
    def spelling(p, count):
        axes, keep, ndim = p["axes"], p["keepdims"], p["ndim"]
        if ndim == 2 and len(axes) == 1 and helper in ("amax", "amin"):
            text = f"{helper}_axis{axes[0]}({{0}})"
            return _expand_chain(text, axes) if keep else text
        kept = [a for a in range(ndim) if a not in axes]
        perm = tuple(kept + list(axes))
        shape = [("1" if a in axes else f"{{0}}.shape[{a}]") for a in range(ndim)] if keep else \
            [f"{{0}}.shape[{a}]" for a in kept]
        return f"reshape_to({helper}_rows({{0}}, {perm}, {_count(axes)}), ({', '.join(shape)},))"
    return spelling


def _reduction_vjp(kind: str):
    def vjp(p, ranks):
        P = _params_text(p, "axes", "keepdims", "ndim")
        if kind == "sum":
            return (f"unreduce(g, x, {P})",)
        if kind == "mean":
            return (f"unreduce(g / count_axes(x, axes={p['axes']!r}), x, {P})",)
        if kind == "prod":
            return (f"unreduce(g, x, {P}) * prod_others_axes(x, axes={p['axes']!r}, ndim={p['ndim']!r})",)
        # amax / amin: the cotangent split evenly among the entries equal to the extremum, by one
        # primitive (a pass over each row) rather than a mask, its row counts and a broadcast product
        return (f"spread_axes(x, g, largest={kind == 'amax'!r}, {P})",)
    return vjp


def _reduction_jvp(kind: str):
    def jvp(p, ranks):
        P = _params_text(p, "axes", "keepdims", "ndim")
        if kind in ("sum", "mean"):
            return (f"{kind}_axes(d, {P})",)
        if kind == "prod":
            return (f"sum_axes(prod_others_axes(x, axes={p['axes']!r}, ndim={p['ndim']!r}) * d, {P})",)
        mask = f"indicator(x == unreduce(out, x, {P}))"
        return (f"sum_axes({mask} * d, {P}) / sum_axes({mask}, {P})",)
    return jvp


_AXES_EXAMPLES = (((2, 3, 2), {"axes": (1,), "keepdims": False, "ndim": 3}),
                  ((2, 3, 2), {"axes": (0, 2), "keepdims": True, "ndim": 3}),
                  ((3, 2), {"axes": (0,), "keepdims": False, "ndim": 2}),
                  ((2, 2, 2, 2), {"axes": (1, 3), "keepdims": False, "ndim": 4}))
_define("sum_axes", 1, vjp=_reduction_vjp("sum"), jvp=_reduction_jvp("sum"), array=_sum_axes_spelling, result=_reduced_type("sum"),
        examples=_AXES_EXAMPLES + (((3,), {"axes": (0,), "keepdims": True, "ndim": 1}),))
_define("mean_axes", 1, vjp=_reduction_vjp("mean"), jvp=_reduction_jvp("mean"), array=_mean_axes_spelling, result=_reduced_type("mean"),
        examples=_AXES_EXAMPLES)
_define("amax_axes", 1, vjp=_reduction_vjp("amax"), jvp=_reduction_jvp("amax"), array=_rows_spelling("amax"), result=_reduced_type("extremum"),
        examples=_AXES_EXAMPLES)
_define("amin_axes", 1, vjp=_reduction_vjp("amin"), jvp=_reduction_jvp("amin"), array=_rows_spelling("amin"), result=_reduced_type("extremum"),
        examples=_AXES_EXAMPLES)


def _spread_spelling(p, count):
    """`spread_axes`: a matrix's rows by `spread_axis1`; any other axes moved last and grouped into rows
    by `spread_rows`, the result's axes put back (a view of a new array)."""
    axes, keep, ndim, largest = p["axes"], p["keepdims"], p["ndim"], p["largest"]
    if ndim == 2 and tuple(axes) == (1,):
        return f"spread_axis1({{0}}, {'{1}[:, 0]' if keep else '{1}'}, {largest!r})"
    kept = [a for a in range(ndim) if a not in axes]
    perm = tuple(kept + list(axes))
    inverse = tuple(perm.index(a) for a in range(ndim))
    return f"spread_rows({{0}}, {{1}}, {perm}, {inverse}, {_count(axes)}, {largest!r})"


def _spread_vjp(p, ranks):
    # the transpose of the spread: the cotangent's mean over the extremum's entries, the extremum's jvp
    P = _params_text(p, "axes", "keepdims", "ndim")
    mask = f"indicator(x == unreduce({'amax' if p['largest'] else 'amin'}_axes(x, {P}), x, {P}))"
    return (None, f"sum_axes({mask} * g, {P}) / sum_axes({mask}, {P})")


def _spread_jvp(p, ranks):
    return (None, f"spread_axes(x, d, {_params_text(p, 'largest', 'axes', 'keepdims', 'ndim')})")


# The adjoint of `amax_axes` / `amin_axes` (`largest`): the cotangent `y` of the extremum of `x` along
# `axes` split evenly among the entries equal to it, zero elsewhere; NaN along a group holding NaN.
# Linear in `y`; constant in `x` where it is differentiable (a tie moves only where entries are equal).
_define("spread_axes", 2, vjp=_spread_vjp, jvp=_spread_jvp, array=_spread_spelling,
        result=lambda types, p: _typed(_rank(types[0]), "float64"),
        examples=(((3, 4), (3,), {"largest": True, "axes": (1,), "keepdims": False, "ndim": 2}),
                  ((3, 4), (3, 1), {"largest": False, "axes": (1,), "keepdims": True, "ndim": 2}),
                  ((3, 4), (4,), {"largest": True, "axes": (0,), "keepdims": False, "ndim": 2}),
                  ((2, 3, 2), (2, 1, 2), {"largest": True, "axes": (1,), "keepdims": True, "ndim": 3}),
                  ((2, 3, 2), (3,), {"largest": False, "axes": (0, 2), "keepdims": False, "ndim": 3}),
                  ((2, 2, 2, 2), (2, 2), {"largest": True, "axes": (1, 3), "keepdims": False, "ndim": 4})))
_define("prod_axes", 1, vjp=_reduction_vjp("prod"), jvp=_reduction_jvp("prod"), array=_rows_spelling("prod"), result=_reduced_type("sum"),
        examples=_AXES_EXAMPLES)


def _unreduce_spelling(p, count):
    text = "{0}" if p["keepdims"] else _expand_chain("{0}", p["axes"])
    return f"({text} + np.zeros_like({{1}}))"


# a reduction's cotangent broadcast back to the full shape of its operand (the second operand, read
# for its shape only); its own adjoint is the reduction
_define("unreduce", 2, vjp=lambda p, ranks: (f"sum_axes(g, {_params_text(p, 'axes', 'keepdims', 'ndim')})",),
        jvp=lambda p, ranks: (f"unreduce(d, y, {_params_text(p, 'axes', 'keepdims', 'ndim')})", None),
        array=_unreduce_spelling, result=lambda types, p: _typed(_rank(types[1]), _dtype(types[0])),
        examples=(((3,), (3, 2), {"axes": (1,), "keepdims": False, "ndim": 2}),
                  ((2, 1, 2), (2, 3, 2), {"axes": (1,), "keepdims": True, "ndim": 3})))
_define("count_axes", 1, nondiff=True, array=lambda p, count: f"({_count(p['axes'])})", result="count",
        examples=(((2, 3, 2), {"axes": (0, 2)}),))
_define("prod_others_axes", 1, refuse=_PROD_REFUSAL,
        array=lambda p, count: "prod_others_rows({0}, %r, %r, %s)" % (
            tuple([a for a in range(p["ndim"]) if a not in p["axes"]] + list(p["axes"])),
            _inverse(tuple([a for a in range(p["ndim"]) if a not in p["axes"]] + list(p["axes"]))),
            _count(p["axes"])), result="first", examples=(((2, 3, 2), {"axes": (1,), "ndim": 3}),))


def _inverse(perm) -> tuple:
    out = [0] * len(perm)
    for k, a in enumerate(perm):
        out[a] = k
    return tuple(out)


def _sum_like_spelling(p, count):
    ndim = p.get("ndim", 0)
    return {1: "sum_like1({0}, {1})", 2: "sum_like2({0}, {1})"}.get(ndim, "sum_like_nd({0}, {1})")


# a broadcast operand's adjoint summed back to its shape (axes of length 1 that were broadcast; see
# runtime.sum_like*); `adjoint_arrays.unbroadcast` sums the leading axes first
_define("sum_like", 2, vjp=("expand_like(g, x)",), jvp=lambda p, ranks: (f"sum_like(d, y, ndim={p.get('ndim', 0)!r})", None),
        array=_sum_like_spelling, result="first",
        examples=(((2, 3), (1, 3), {"ndim": 2}), ((3,), (1,), {"ndim": 1}), ((2, 2, 3), (2, 1, 3), {"ndim": 3})))
def _expand_like_vjp(p, ranks):
    """The adjoint of broadcasting `x` to `like`'s shape: the cotangent summed back to `x`'s shape
    (leading axes `x` lacks summed away, then the axes where `x` has length 1)."""
    x, like = ranks
    if x == 0:
        return ("np_sum(g)",)
    if x < like:
        leading = tuple(range(like - x))
        return (f"sum_like(sum_axes(g, axes={leading!r}, keepdims=False, ndim={like}), x, ndim={x})",)
    return (f"sum_like(g, x, ndim={x})",)


_define("expand_like", 2, vjp=_expand_like_vjp, jvp=("expand_like(d, y)", None), array="({0} + np.zeros_like({1}))",
        result="second", examples=(((1, 3), (2, 3)), ((3,), (2, 3)), ((1,), (4,))))

# Linear algebra: the adjoint depends on the operands' ranks, so `vjp` is keyed by them.
_define("dot", 2, vjp={"1x1": ("g * y", "g * x"), "2x1": ("outer(g, y)", "dot(transpose(x), g)"),
                       "1x2": ("dot(y, g)", "outer(x, g)"), "2x2": ("dot(g, transpose(y))", "dot(transpose(x), g)")},
        jvp=("dot(d, y)", "dot(x, d)"), scalar="np.dot", array="np.dot",
        compiled={"2x2": "matrix_product", "2x1": "matrix_vector", "1x2": "vector_matrix", "": "matmul"}, compiled_ints="int_dot", result="dot", numpy_names=("dot", "matmul"),
        examples=(((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2))))
_define("outer", 2, vjp=("dot(g, y)", "dot(transpose(g), x)"), jvp=("outer(d, y)", "outer(x, d)"), array="np.outer",
        compiled_ints="int_outer", result="outer",
        examples=(((3,), (2,)),))     # np.outer flattens its operands first: `frontend.lower_matrix._outer`
# `.T` reverses every axis (its own inverse); `np.transpose(x, axes)` permutes them
_define("transpose", 1, vjp=("transpose(g)",), jvp=("transpose(d)",), array="{0}.T", result="first", examples=(((2, 3),), ((2, 3, 2),)))
_define("transpose_axes", 1, vjp=lambda p, ranks: (f"transpose_axes(g, axes={_inverse(p['axes'])!r})",),
        jvp=lambda p, ranks: (f"transpose_axes(d, axes={tuple(p['axes'])!r})",),
        array=lambda p, count: f"np.transpose({{0}}, {tuple(p['axes'])!r})", result="first",
        examples=(((2, 3, 2), {"axes": (2, 0, 1)}), ((2, 3), {"axes": (1, 0)})))
# d det = det * trace(inv(x) d); d log|det| = trace(inv(x) d); d inv = -inv d inv; d solve(A, b) = solve(A, db - dA out)
_define("det", 1, vjp=("g * out * transpose(inv(x))",), jvp=("out * sum(transpose(inv(x)) * d)",), array="np.linalg.det({0})",
        result=lambda types, p: _typed(0), examples=(((3, 3),),), raises_on_arrays=True)
# log|det x| (slogdet's second result) and its sign (the first)
_define("logabsdet", 1, vjp=("g * transpose(inv(x))",), jvp=("sum(transpose(inv(x)) * d)",), array="np.linalg.slogdet({0})[1]",
        result=lambda types, p: _typed(0), examples=(((3, 3),),), raises_on_arrays=True)
_define("slogdet_sign", 1, nondiff=True, array="np.linalg.slogdet({0})[0]", result=lambda types, p: _typed(0),
        raises_on_arrays=True)
_define("inv", 1, vjp=("-dot(transpose(out), dot(g, transpose(out)))",), jvp=("-dot(out, dot(d, out))",), array="np.linalg.inv({0})",
        result="first", examples=(((3, 3),),), raises_on_arrays=True)
_define("solve", 2, vjp={"2x1": ("-outer(solve(transpose(x), g), out)", "solve(transpose(x), g)"),
                         "2x2": ("-dot(solve(transpose(x), g), transpose(out))", "solve(transpose(x), g)")},
        jvp=("-solve(x, dot(d, out))", "solve(x, d)"), array="np.linalg.solve({0}, {1})", result="second", examples=(((3, 3), (3,)), ((3, 3), (3, 2))),
        raises_on_arrays=True)

# Reading and building arrays.  `subscript`'s adjoint is the one statement-form rule:
# it adds the cotangent into the indexed part of the array's adjoint (`x_bar[i] += g`).
_define("subscript", 1, vjp=("scatter",), jvp=("gather",), scalar="{0}[{rest}]", array="{0}[{rest}]", result="subscript")
# a copy of the indexed part (never a view): what `ir.aliasing` makes of a view a later store would change
_define("subscript_copy", 1, vjp=("scatter",), jvp=("gather",), scalar="{0}[{rest}]", array="{0}[{rest}].copy()",
        result="subscript")
_define("shape", 1, nondiff=True, array="{0}.shape[{axis}]", result="count")
_define("shape0", 1, nondiff=True, array="{0}.shape[0]", result="count")
_define("shape1", 1, nondiff=True, array="{0}.shape[1]", result="count")
_define("size", 1, nondiff=True, array="{0}.size", result="count")
_define("square", 1, ("2 * x",), scalar="np.square", array="np.square", sympy="x**2", result="join",
        evaluate=lambda x: x * x, numpy_names=("square",))

# Reshaping.  `reshape(x, d0, d1, ...)` (a `-1` dimension as NumPy has it); the others keep the
# operand's entries and change only its axes.  Every adjoint reshapes the cotangent back.
_define("reshape", None, vjp=("reshape_as(g, x)",), jvp=("reshape_as(d, out)",), array="reshape_to({0}, ({rest},))",
        result=lambda types, p: None if types[0] is None else _typed(len(types) - 1, _dtype(types[0])),
        examples=(((2, 3), 3, 2), ((2, 3), -1), ((6,), 2, -1, 3)), raises_on_arrays=True)
_define("reshape_as", 2, vjp=("reshape_as(g, x)",), jvp=("reshape_as(d, y)", None), array="reshape_to({0}, {1}.shape)",
        result=lambda types, p: None if types[0] is None or types[1] is None else _typed(_rank(types[1]), _dtype(types[0])),
        examples=(((6,), (2, 3)),))
_define("expand_dims", 1, vjp=("reshape_as(g, x)",), jvp=("reshape_as(d, out)",), array=lambda p, count: _expand_chain("{0}", p["axes"]),
        result=lambda types, p: None if types[0] is None else _typed(_rank(types[0]) + len(p["axes"]), _dtype(types[0])),
        examples=(((2, 3), {"axes": (0, 2)}), ((3,), {"axes": (1,)})))


def _squeeze_spelling(p, count):
    kept = [f"{{0}}.shape[{a}]" for a in range(p["ndim"]) if a not in p["axes"]]
    if not kept:
        return "squeeze_all({0})"
    return f"reshape_to({{0}}, ({', '.join(kept)},))"


# size-1 axes removed (a larger axis is an error, as in NumPy: the reshape does not fit)
_define("squeeze", 1, vjp=("reshape_as(g, x)",),
        jvp=lambda p, ranks: (f"squeeze(d, {_params_text(p, 'axes', 'ndim')})",), array=_squeeze_spelling,
        result=lambda types, p: None if types[0] is None else _typed(p["ndim"] - len(p["axes"]), _dtype(types[0])),
        examples=(((2, 1, 3), {"axes": (1,), "ndim": 3}), ((1, 1), {"axes": (0, 1), "ndim": 2})))


# Joining.  `concatenate(a0, a1, ...)` along `axis` (non-negative); its adjoint splits the cotangent
# back into the operands' parts along that axis.
def _concatenate_vjp(p, ranks):
    axis, out = p["axis"], []
    for i in range(len(ranks)):
        start = " + ".join(f"shape(a{j}, axis={axis})" for j in range(i)) or "0"
        stop = " + ".join(f"shape(a{j}, axis={axis})" for j in range(i + 1))
        out.append(f"slice_axis(g, {start}, {stop}, axis={axis}, ndim={ranks[0]})")
    return out


def _gathered_dtype(types) -> str:
    """NumPy's dtype of an array of numbers: bool of bools alone, int64 of ints (`np.array([2 ** 40, 3])`)."""
    kinds = {t.kind if t is not None else "float" for t in types}
    return "bool" if kinds == {"bool"} else "int64" if kinds == {"int"} else "float64"


def _joined_type(types, p):
    if any(t is None for t in types):
        return None
    acc = None
    for t in types:
        acc = t if acc is None or _dtype(t).startswith("float") else acc
    return acc


def _concatenate_jvp(p, ranks):
    """Operand k's term: the concatenation with its tangent in its place and zeros elsewhere."""
    count = len(ranks)
    return tuple(f"concatenate({', '.join('d' if j == k else f'zeros_like(a{j})' for j in range(count))}, "
                 f"axis={p['axis']})" for k in range(count))


_define("concatenate", None, vjp=_concatenate_vjp, jvp=_concatenate_jvp,
        array=lambda p, count: f"np.concatenate(({{args}},), axis={p['axis']})", result=_joined_type,
        examples=(((2,), (3,), {"axis": 0}), ((2, 3), (2, 1), (2, 2), {"axis": 1})), raises_on_arrays=True)
_define("slice_axis", 3, jvp=lambda p, ranks: (f"slice_axis(d, y, z, {_params_text(p, 'axis', 'ndim')})", None, None),
        array=lambda p, count: "{0}[" + ", ".join("{1}:{2}" if a == p["axis"] else ":"
                                                  for a in range(p["ndim"])) + "]",
        result="first", examples=(((2, 5), 1, 3, {"axis": 1, "ndim": 2}),))
# numbers gathered into a vector (`np.array([a, b, c])`)
_define("array_from", None, vjp=lambda p, ranks: tuple(f"g[{i}]" for i in range(len(ranks))),
        jvp=lambda p, ranks: tuple("array_from(" + ", ".join("d" if j == k else "0.0" for j in range(len(ranks))) + ")"
                                   for k in range(len(ranks))),
        array="np.array(({args},))", scalar="np.array(({args},))",
        result=lambda types, p: _typed(1, _gathered_dtype(types)), examples=((0.5, 1.5, -0.5),))

# Matrix structure.
_define("diagonal", 1, vjp=lambda p, ranks: (f"diag_embed(g, x, offset={p['offset']!r})",),
        jvp=lambda p, ranks: (f"diagonal(d, offset={p['offset']!r})",),
        array="diagonal_of({0}, {offset})", result=lambda types, p: _typed(1, _dtype(types[0])),
        examples=(((3, 3), {"offset": 0}), ((3, 4), {"offset": 1}), ((4, 3), {"offset": -2})))
_define("diag_embed", 2, vjp=lambda p, ranks: (f"diagonal(g, offset={p['offset']!r})",),
        jvp=lambda p, ranks: (f"diag_embed(d, y, offset={p['offset']!r})", None),
        array="diag_embed({0}, {1}, {offset})", result="second",
        examples=(((3,), (3, 3), {"offset": 0}), ((2,), (3, 3), {"offset": 1}), ((2,), (3, 3), {"offset": -1})))
_define("diag_matrix", 1, vjp=lambda p, ranks: (f"diagonal(g, offset={p['offset']!r})",),
        jvp=lambda p, ranks: (f"diag_matrix(d, offset={p['offset']!r})",),
        array="np.diag({0}, {offset})", result=lambda types, p: _typed(2, _dtype(types[0])),
        examples=(((3,), {"offset": 0}), ((2,), {"offset": 1})))
_define("triu", 1, vjp=lambda p, ranks: (f"triu(g, k={p['k']!r})",), jvp=lambda p, ranks: (f"triu(d, k={p['k']!r})",), array="np.triu({0}, {k})", result="first",
        examples=(((3, 3), {"k": 0}), ((3, 4), {"k": 1})))
_define("tril", 1, vjp=lambda p, ranks: (f"tril(g, k={p['k']!r})",), jvp=lambda p, ranks: (f"tril(d, k={p['k']!r})",), array="np.tril({0}, {k})", result="first",
        examples=(((3, 3), {"k": 0}), ((3, 4), {"k": -1})))
# sorting permutes the entries; the cotangent goes back through the (stable) permutation
# (np.sort of a matrix sorts each row: the same, row by row)
_define("sort", 1, vjp=lambda p, ranks: ("unsort(g, x)" if ranks[0] == 1 else "unsort_rows(g, x)",),
        jvp=lambda p, ranks: ("sort_gather(d, x)" if ranks[0] == 1 else "sort_gather_rows(d, x)",),
        array="np.sort({0})", result="first", examples=(((5,),), ((3, 4),)))
# the permutation np.sort applies to `y`, applied to `x` (sort's tangent), and its inverse (the cotangent's
# way back): each the other's adjoint, linear in `x`; the order does not move with `y` (zero there)
_define("unsort", 2, vjp=("sort_gather(g, y)",), jvp=("unsort(d, y)", None), array="unsort({0}, {1})", result="first",
        examples=(((5,), (5,)),))
_define("sort_gather", 2, vjp=("unsort(g, y)",), jvp=("sort_gather(d, y)", None), array="sort_gather({0}, {1})",
        result="first", examples=(((5,), (5,)),))
_define("unsort_rows", 2, vjp=("sort_gather_rows(g, y)",), jvp=("unsort_rows(d, y)", None),
        array="unsort_rows({0}, {1})", result="first", examples=(((3, 4), (3, 4)),))
_define("sort_gather_rows", 2, vjp=("unsort_rows(g, y)",), jvp=("sort_gather_rows(d, y)", None),
        array="sort_gather_rows({0}, {1})", result="first", examples=(((3, 4), (3, 4)),))


def _reversed(p) -> str:
    if p["ndim"] == 1:
        return "[::-1]"
    return "[" + ", ".join("::-1" if a == p["axis"] else ":" for a in range(p["ndim"])) + "]"


def _cumsum_spelling(reverse: bool):
    def spelling(p, count):
        flip = _reversed(p) if reverse else ""
        inner = f"{{0}}{flip}" if reverse else "{0}"
        axis = f", axis={p['axis']}" if p["ndim"] > 1 else ""
        return f"np.cumsum({inner}{axis}){flip}"
    return spelling


_define("cumsum", 1, vjp=lambda p, ranks: (f"rev_cumsum(g, {_params_text(p, 'axis', 'ndim')})",),
        jvp=lambda p, ranks: (f"cumsum(d, {_params_text(p, 'axis', 'ndim')})",),
        array=_cumsum_spelling(False), result="first",
        examples=(((4,), {"axis": 0, "ndim": 1}), ((3, 2), {"axis": 0, "ndim": 2}), ((2, 3), {"axis": 1, "ndim": 2})))
# the sums from the end: cumsum's adjoint (and cumsum is its adjoint)
_define("rev_cumsum", 1, vjp=lambda p, ranks: (f"cumsum(g, {_params_text(p, 'axis', 'ndim')})",),
        jvp=lambda p, ranks: (f"rev_cumsum(d, {_params_text(p, 'axis', 'ndim')})",),
        array=_cumsum_spelling(True), result="first",
        examples=(((4,), {"axis": 0, "ndim": 1}), ((2, 3), {"axis": 1, "ndim": 2})))

# Making arrays (no derivative)
def _creator_spelling(name: str):
    def spelling(p, count):
        shape = "{0}" if count == 1 else "({args})"
        return f"np.{name}({shape}, np.{_NUMPY_DTYPE[p['dtype']]})" if "dtype" in p else f"np.{name}({shape})"
    return spelling


_NUMPY_DTYPE = {"int64": "int64", "bool": "bool_"}      # a dtype param's NumPy name
for _name in ("zeros", "ones", "empty"):       # float64, or the `dtype` param: "int64", "bool"
    _define(_name, None, nondiff=True, scalar=_creator_spelling(_name), array=_creator_spelling(_name),
            result="create", numpy_names=(_name,), examples=((3,), (2, 3), (2, 1, 2)))
    _define(f"{_name}_like", 1, nondiff=True, array=f"np.{_name}_like", result="like",
            numpy_names=(f"{_name}_like",))
_define("arange", None, nondiff=True, scalar="np.arange({args})", array="np.arange({args})",
        result=lambda types, p: _typed(1, "int64"))
_define("linspace_unit", 1, nondiff=True, scalar="np.linspace(0.0, 1.0, {0})", array="np.linspace(0.0, 1.0, {0})",
        result=lambda types, p: _typed(1))
_define("eye", 1, nondiff=True, scalar="np.eye({0})", array="np.eye({0})", result=lambda types, p: _typed(2))
_define("to_float", 1, nondiff=True, scalar="float({0})", array="{0}.astype(np.float64)",    # of int arrays
        result=lambda types, p: None if types[0] is None else _typed(_rank(types[0])))
_define("to_int", 1, nondiff=True, scalar="int({0})", array="{0}.astype(np.int64)",
        result=lambda types, p: None if types[0] is None else _typed(_rank(types[0]), "int64"))
# NumPy's ints to an int power (an element of an int array, an int array, np.power of ints): a negative
# exponent raises ValueError there, where Python's ints give a float (`2 ** -1 == 0.5`) and Numba's give
# 0.  Its operand is the exponent; the front end puts it before such a power (`frontend.lower`)
_define("int_power_check", 1, nondiff=True, effect=True, scalar="int_power_check({0})",
        array="int_powers_check({0})", result=lambda types, p: _typed(0, "bool"),
        evaluate=lambda e: _numpy_int_power_check(e), raises=True)
# `for i in range(start, stop, step)` of ints whose bounds do not prove it: Numba computes the trip count
# from `stop - start` in int64, and the reverse sweep `start - step` and `trips * step`; where any of them
# would leave 64 bits (Python's ints are unbounded) the module Numba compiles raises OverflowError before
# the loop, `python_errors.INT64_OVERFLOW` (`frontend.lower._check_ranges` puts it there)
_define("range_check", 3, nondiff=True, effect=True, compiled_only=True, scalar="range_check({0}, {1}, {2})",
        array="range_check({0}, {1}, {2})", result=lambda types, p: _typed(0, "bool"), raises=True)
# `np.max` / `np.min` along axis 1 folded into a loop over the rows (`optimise.fuse_rows`): ValueError
# before the loop where NumPy's raises, rows of no entries (`runtime.empty_rows_check`)
# (its operands are numbers: the scalar spelling is the only one)
_define("empty_rows_check", 2, nondiff=True, effect=True, compiled_only=True, result="bool", raises=True,
        scalar=lambda p, count: f"empty_rows_check({{0}}, {{1}}, {p['largest']!r})",
        examples=(((), (), {"largest": True}), ((), (), {"largest": False})))
# `assert cond`: checked in the forward sweep (the runtime helper raises AssertionError(site))
_define("assert_true", 1, nondiff=True, effect=True, scalar="assert_true({0}, {site})", array="assert_true({0}, {site})",
        result="bool", evaluate=bool, raises=True)

# A spelling with placeholders ({0}, {rest}, {axis}) is printed as one atom: it must be a call,
# a subscript, an attribute, or parenthesised (tests/test_rules.py checks this for every entry).

# Python operators -> primitive names, for the lowering
def may_raise(prim: str, args: tuple, python_math: bool = False) -> bool:
    """May a statement applying `prim` to `args` raise in Numba-compiled code (`Primitive.raises`)?  A
    division (/, %, //) by a nonzero constant cannot, nor a power with a float or nonnegative constant
    exponent (Numba raises for `0.0 ** -3`, not for `0.0 ** -3.0`); Numba's math functions return inf
    or NaN instead of raising -- but a call from Python's math module (`python_math`: a statement the
    lowering marked, `Primitive.python_errors`) is checked as CPython checks it, unless its operand is
    a constant it takes."""
    if python_math and prim in PRIMITIVES and PRIMITIVES[prim].python_errors:
        values = [getattr(a, "value", None) for a in args]
        if all(isinstance(v, (int, float)) for v in values):
            try:
                PRIMITIVES[prim].evaluate(*values)
            except (ValueError, OverflowError, ZeroDivisionError):
                return True
            return False
        return True
    kind = PRIMITIVES[prim].raises if prim in PRIMITIVES else True
    second = getattr(args[1], "value", None) if len(args) > 1 else None       # a constant's value
    number = isinstance(second, (int, float)) and not isinstance(second, bool)
    if kind == "zero divisor":
        return not (number and second != 0)
    if kind == "negative integer exponent":
        return not (number and (isinstance(second, float) or second >= 0))
    if kind == "non-finite":
        first = getattr(args[0], "value", None)
        return not (isinstance(first, (int, float)) and math.isfinite(first))
    return bool(kind)


# Result kinds of primitives applied element by element (NumPy broadcasting their array operands);
# `ir.types` gives each its type: "float" a float, "bool" a bool, "int" an int, "first" the first
# operand's, "join" the widest operand's with a bool counted as an int (True + True is 2), "extremum"
# the widest operand's with bools kept (max(True, False) is True), "pow" and "where" their own.
ELEMENTWISE_RESULTS = frozenset({"float", "join", "extremum", "bool", "int", "first", "pow", "where"})


def is_elementwise(prim: str) -> bool:
    """Is `prim` applied element by element, its array result of the broadcast shape of its operands?
    (A differentiable primitive with scalar partials, or a non-differentiable one, whose result kind
    is one of the elementwise kinds; not an effect.)"""
    p = PRIMITIVES.get(prim)
    return p is not None and isinstance(p.result, str) and p.result in ELEMENTWISE_RESULTS \
        and (p.partials is not None or p.nondiff) and not p.effect


def reduces_axes(prim: str) -> bool:
    """Is `prim` a reduction along axes (`sum_axes`, `amax_axes`, ...: params `axes`, `keepdims`)?"""
    p = PRIMITIVES.get(prim)
    return p is not None and getattr(p.result, "reduces_axes", False)


def error_of(prim: str, operand_kinds: tuple):
    """The error a statement applying `prim` raises in Numba-compiled code, as its caller sees it
    (`Primitive.error`: Numba's ZeroDivisionError message, which for //, % and ** depends on whether
    every operand is an integer or a bool), given its operands' kinds ("float", "int", "bool"; None
    when unknown); None when nothing tells it apart from another statement's (an assert names its own
    line; an operand of unknown kind may be either).  Two statements with the same error may trade
    places: whichever raises, the caller sees the same exception."""
    error = PRIMITIVES[prim].error if prim in PRIMITIVES else None
    if not isinstance(error, dict):
        return error
    if any(kind not in ("float", "int", "bool") for kind in operand_kinds):
        return None
    return error["int" if all(kind in ("int", "bool") for kind in operand_kinds) else "float"]


BINARY_OPERATORS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
                    ast.FloorDiv: "floordiv", ast.Mod: "mod"}
UNARY_OPERATORS = {ast.USub: "neg", ast.Not: "not"}
COMPARISONS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}

# constants user code may read from the math and numpy modules
MODULE_CONSTANTS = {("math", "pi"): math.pi, ("math", "e"): math.e, ("math", "tau"): math.tau,
                    ("numpy", "pi"): math.pi, ("numpy", "e"): math.e, ("math", "inf"): math.inf,
                    ("numpy", "inf"): math.inf}


def register(prim: Primitive) -> None:
    """Add a user-declared primitive (see `custom_derivative`) to the table."""
    PRIMITIVES[prim.name] = prim
