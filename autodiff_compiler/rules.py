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

Adding a primitive is one `_define` call.  A primitive that is neither
differentiable nor in the non-differentiable list cannot exist: `_define`
refuses it.
"""
from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, field

ARG_NAMES = ("x", "y", "z")


@dataclass(frozen=True)
class Primitive:
    name: str
    arity: int
    partials: tuple | None = None     # expression strings, one per argument
    vjp: tuple | None = None          # expression strings over the cotangent `g`
    nondiff: bool = False
    scalar: str | None = None          # operator symbol or dotted name for scalar operands
    array: str | None = None           # the same for array operands
    sympy: str | None = None           # SymPy expression over x, y, z
    result: str = "float"              # "float", "join", "bool", "int", "first", "reduce", "dot"
    evaluate: object = None            # numeric Python implementation, for folding and checks
    user_names: tuple = ()             # (module, name) pairs under which user code calls it
    custom: bool = False               # declared by the user (@custom_derivative), checked by verify=True
    jvp: tuple | None = None           # expression strings over the argument's tangent `d` (None: shape only)
    refuse: str | None = None          # differentiable, but no rule here: why (an error message)

    @property
    def is_operator(self) -> bool:
        return self.scalar in _OPERATOR_SYMBOLS

    def partial_tree(self, index: int) -> ast.expr:
        return _parsed(self.partials[index])

    def names_in_partial(self, index: int) -> set[str]:
        """Which of x, y, z, out the partial for argument `index` reads."""
        return {node.id for node in ast.walk(self.partial_tree(index)) if isinstance(node, ast.Name)}


_OPERATOR_SYMBOLS = {"+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", ">=", "==", "!=", "@"}
_PARSED: dict[str, ast.expr] = {}


def _parsed(expr: str) -> ast.expr:
    if expr not in _PARSED:
        _PARSED[expr] = ast.parse(expr, mode="eval").body
    return _PARSED[expr]


PRIMITIVES: dict[str, Primitive] = {}
# (module, attribute) -> primitive name, for resolving calls in user code;
# module is "math", "numpy" or "builtins".
USER_FUNCTIONS: dict[tuple[str, str], str] = {}


def _define(name, arity, partials=None, *, vjp=None, jvp=None, nondiff=False, scalar=None, array=None,
            sympy=None, result="float", evaluate=None, math_name=None, numpy_names=(), builtin=None,
            refuse=None):
    if partials is None and vjp is None and jvp is None and not nondiff and refuse is None:
        raise ValueError(f"primitive {name!r} needs partials, a vjp or jvp, nondiff=True, or refuse=")
    if vjp is not None and jvp is None:
        raise ValueError(f"primitive {name!r} has a vjp but no jvp: forward mode reads this table too")
    names = []
    if math_name:
        names.append(("math", math_name))
    names += [("numpy", n) for n in numpy_names]
    if builtin:
        names.append(("builtins", builtin))
    prim = Primitive(name, arity, tuple(partials) if partials else None,
                     vjp if isinstance(vjp, dict) or vjp is None else tuple(vjp),
                     nondiff, scalar, array, sympy, result, evaluate, tuple(names),
                     jvp=tuple(jvp) if jvp is not None else None, refuse=refuse)
    PRIMITIVES[name] = prim
    for key in names:
        USER_FUNCTIONS[key] = name
    return prim


def _math_function(name, partial, *, math_name=None, numpy_name=None, sympy=None, arity=1, evaluate=None):
    """A function of the math module with the NumPy ufunc of the same meaning."""
    math_name = math_name or name
    numpy_name = numpy_name or name
    _define(name, arity, partial, scalar=f"math.{math_name}", array=f"np.{numpy_name}",
            sympy=sympy or f"{name}({', '.join(ARG_NAMES[:arity])})", result="float",
            evaluate=evaluate or getattr(math, math_name), math_name=math_name, numpy_names=(numpy_name,))


# ----------------------------------------------------------------- arithmetic
_define("add", 2, ("1", "1"), scalar="+", array="+", sympy="x + y", result="join", evaluate=operator.add)
_define("sub", 2, ("1", "-1"), scalar="-", array="-", sympy="x - y", result="join", evaluate=operator.sub)
_define("mul", 2, ("y", "x"), scalar="*", array="*", sympy="x * y", result="join", evaluate=operator.mul)
_define("div", 2, ("1 / y", "-out / y"), scalar="/", array="/", sympy="x / y", result="float",
        evaluate=operator.truediv, numpy_names=("divide", "true_divide"))
# pow's partials at a zero base: 0 ** y is 0 (y > 0), 1 (y == 0) or inf, and the plain formulas would give
# 0 * inf.  The base is nudged to 1 exactly where they would (no branch: on arrays both sides of a branch are
# computed, and a second derivative through the side not taken would be nan); elsewhere the formulas are
# the plain ones, so that they differentiate again exactly.
_define("pow", 2, ("y * (x + indicator(x == 0) * indicator(y == 0)) ** (y - 1)",
                   "out * log(x + indicator(out == 0))"), scalar="**", array="**", sympy="x ** y",
        result="pow", evaluate=operator.pow, math_name="pow", numpy_names=("power",), builtin="pow")
_define("neg", 1, ("-1",), scalar="-", array="-", sympy="-x", result="join", evaluate=operator.neg,
        numpy_names=("negative",))
_define("copy", 1, ("1",), scalar="", array="", sympy="x", result="first", evaluate=lambda x: x)
_define("float", 1, ("1",), scalar="float", array="", sympy="x", result="float", evaluate=float,
        builtin="float")
_define("mod", 2, ("1", "-floor(x / y)"), scalar="%", array="%", sympy="Mod(x, y)", result="join",
        evaluate=operator.mod, numpy_names=("mod", "remainder"))

# ---------------------------------------------------------- elementary functions
_math_function("sin", ("cos(x)",))
_math_function("cos", ("-sin(x)",))
_math_function("tan", ("1 + out ** 2",))
_math_function("asin", ("1 / sqrt(1 - x ** 2)",), numpy_name="arcsin")
_math_function("acos", ("-1 / sqrt(1 - x ** 2)",), numpy_name="arccos")
_math_function("atan", ("1 / (1 + x ** 2)",), numpy_name="arctan")
_math_function("atan2", ("y / (x ** 2 + y ** 2)", "-x / (x ** 2 + y ** 2)"), numpy_name="arctan2", arity=2)
_math_function("sinh", ("cosh(x)",))
_math_function("cosh", ("sinh(x)",))
_math_function("tanh", ("1 - out ** 2",))
_math_function("exp", ("out",))
_math_function("expm1", ("out + 1",), sympy="exp(x) - 1")
_math_function("log", ("1 / x",))
_math_function("log1p", ("1 / (1 + x)",), sympy="log(1 + x)")
_math_function("log2", ("1 / (x * 0.6931471805599453)",), sympy="log(x, 2)")
_math_function("log10", ("1 / (x * 2.302585092994046)",), sympy="log(x, 10)")
_math_function("sqrt", ("0.5 / out",))
# at the origin, hypot is a kink (a cone): 0 is its smallest subgradient, as sign(0) is abs's
_math_function("hypot", ("0.0 if out == 0 else x / out", "0.0 if out == 0 else y / out"),
               sympy="sqrt(x**2 + y**2)", arity=2)
_math_function("erf", ("1.1283791670955126 * exp(-x ** 2)",), numpy_name="erf")
_math_function("erfc", ("-1.1283791670955126 * exp(-x ** 2)",), numpy_name="erfc")
# math.erf has no NumPy counterpart; scipy.special's would need a dependency
USER_FUNCTIONS.pop(("numpy", "erf"))
USER_FUNCTIONS.pop(("numpy", "erfc"))

_define("abs", 1, ("sign(x)",), scalar="abs", array="np.abs", sympy="Abs(x)", result="join",
        evaluate=abs, math_name="fabs", numpy_names=("abs", "absolute", "fabs"), builtin="abs")
_define("min", 2, ("indicator(x <= y)", "indicator(x > y)"), scalar="min", array="np.minimum", sympy="Min(x, y)",
        result="join", evaluate=min, numpy_names=("minimum", "fmin"), builtin="min")
_define("max", 2, ("indicator(x >= y)", "indicator(x < y)"), scalar="max", array="np.maximum", sympy="Max(x, y)",
        result="join", evaluate=max, numpy_names=("maximum", "fmax"), builtin="max")

# ------------------------------------------------ the non-differentiable list
_define("stop_gradient", 1, nondiff=True, scalar="", array="", sympy="x", result="first",
        evaluate=lambda x: x)
_define("floordiv", 2, nondiff=True, scalar="//", array="//", result="join", evaluate=operator.floordiv,
        numpy_names=("floor_divide",))
_define("floor", 1, nondiff=True, scalar="math.floor", array="np.floor", sympy="floor(x)", result="int",
        evaluate=math.floor, math_name="floor", numpy_names=("floor",))
_define("ceil", 1, nondiff=True, scalar="math.ceil", array="np.ceil", sympy="ceiling(x)", result="int",
        evaluate=math.ceil, math_name="ceil", numpy_names=("ceil",))
_define("trunc", 1, nondiff=True, scalar="math.trunc", array="np.trunc", result="int",
        evaluate=math.trunc, math_name="trunc", numpy_names=("trunc",))
_define("int", 1, nondiff=True, scalar="int", array="", result="int", evaluate=int, builtin="int")
_define("sign", 1, nondiff=True, scalar="np.sign", array="np.sign", sympy="sign(x)", result="float",
        evaluate=lambda x: float((x > 0) - (x < 0)), numpy_names=("sign",))
for _name, _symbol, _fn in (("lt", "<", operator.lt), ("le", "<=", operator.le), ("gt", ">", operator.gt),
                            ("ge", ">=", operator.ge), ("eq", "==", operator.eq), ("ne", "!=", operator.ne)):
    _define(_name, 2, nondiff=True, scalar=_symbol, array=_symbol, result="bool", evaluate=_fn)
_define("not", 1, nondiff=True, scalar="not", array="~", result="bool", evaluate=operator.not_,
        numpy_names=("logical_not",))

_define("indicator", 1, nondiff=True, scalar="(1.0 if {0} else 0.0)", array="np.where({0}, 1.0, 0.0)",
        result="float", evaluate=lambda c: 1.0 if c else 0.0)
_define("slice_offset", 2, nondiff=True, array="slice_offset({0}, {1})", result="count",
        evaluate=lambda x, start: range(len(x))[start:].start if start is not None else 0)
_define("range_length", 3, nondiff=True, scalar="len(range({0}, {1}, {2}))", result="int",
        evaluate=lambda a, b, c: len(range(a, b, c)))

# ------------------------------------------------------------------ arrays
# Elementwise primitives above work on arrays too (their `array` spelling); the
# reverse pass sums their adjoints over broadcast axes (`arrays.unbroadcast`).
_define("where", 3, ("0", "indicator(x)", "1.0 - indicator(x)"), scalar="({1} if {0} else {2})", array="np.where",
        sympy="Piecewise((y, x), (z, True))", result="where", evaluate=lambda c, a, b: a if c else b,
        numpy_names=("where",))
# clip(x, lo, hi) is min(max(x, lo), hi), also when lo > hi (then it is hi, as np.clip)
_define("clip", 3, ("indicator(x >= y) * indicator(x <= z)", "indicator(x < y) * indicator(y <= z)",
                    "indicator(max(x, y) > z)"),
        scalar="min(max({0}, {1}), {2})", array="np.clip", sympy="Min(Max(x, y), z)", result="join",
        evaluate=lambda x, lo, hi: min(max(x, lo), hi), numpy_names=("clip",))
_define("array_copy", 1, ("1",), jvp=("array_copy(d)",), scalar="{0}.copy()", array="{0}.copy()", sympy="x", result="first",
        evaluate=lambda x: x.copy())

# Reductions, one primitive per axis (Numba has np.sum(axis=) but not np.max(axis=)).
# Their adjoints are vector-Jacobian products over the cotangent `g`; a scalar
# or lower-rank result broadcasts back when it is added to the adjoint.
_define("sum", 1, vjp=("expand_like(g, x)",), jvp=("sum(d)",), array="np.sum", sympy="x", result="reduce", numpy_names=("sum",))
_define("sum_axis0", 1, vjp=("expand_like(g, x)",), jvp=("sum_axis0(d)",), array="np.sum({0}, axis=0)", result="reduce")
_define("sum_axis1", 1, vjp=("expand_like(as_column(g), x)",), jvp=("sum_axis1(d)",), array="np.sum({0}, axis=1)", result="reduce")
_define("mean", 1, vjp=("expand_like(g / size(x), x)",), jvp=("mean(d)",), array="np.mean", result="reduce", numpy_names=("mean",))
_define("mean_axis0", 1, vjp=("expand_like(g / shape0(x), x)",), jvp=("mean_axis0(d)",), array="(np.sum({0}, axis=0) / {0}.shape[0])",
        result="reduce")
_define("mean_axis1", 1, vjp=("expand_like(as_column(g / shape1(x)), x)",), jvp=("mean_axis1(d)",),
        array="(np.sum({0}, axis=1) / {0}.shape[1])", result="reduce")
_define("amax", 1, vjp=("indicator(x == out) * (g / np_sum(indicator(x == out)))",),
        jvp=("sum(indicator(x == out) * d) / sum(indicator(x == out))",), array="np.max",
        result="reduce", numpy_names=("max", "amax"))
_define("amax_axis0", 1, vjp=("indicator(x == out) * (g / sum_axis0(indicator(x == out)))",),
        jvp=("sum_axis0(indicator(x == out) * d) / sum_axis0(indicator(x == out))",),
        array="amax_axis0", result="reduce")
_define("amax_axis1", 1, vjp=("indicator(x == as_column(out)) * as_column(g / sum_axis1(indicator(x == as_column(out))))",),
        jvp=("sum_axis1(indicator(x == as_column(out)) * d) / sum_axis1(indicator(x == as_column(out)))",),
        array="amax_axis1", result="reduce")
_define("amin", 1, vjp=("indicator(x == out) * (g / np_sum(indicator(x == out)))",),
        jvp=("sum(indicator(x == out) * d) / sum(indicator(x == out))",), array="np.min",
        result="reduce", numpy_names=("min", "amin"))
_define("amin_axis0", 1, vjp=("indicator(x == out) * (g / sum_axis0(indicator(x == out)))",),
        jvp=("sum_axis0(indicator(x == out) * d) / sum_axis0(indicator(x == out))",),
        array="amin_axis0", result="reduce")
_define("amin_axis1", 1, vjp=("indicator(x == as_column(out)) * as_column(g / sum_axis1(indicator(x == as_column(out))))",),
        jvp=("sum_axis1(indicator(x == as_column(out)) * d) / sum_axis1(indicator(x == as_column(out)))",),
        array="amin_axis1", result="reduce")
_define("prod", 1, vjp=("g * prod_others(x)",), jvp=("sum(prod_others(x) * d)",), array="np.prod", result="reduce", numpy_names=("prod",))
# each entry's partial of a product: the product of the others (no division, so exact at zeros)
_define("prod_others", 1, array="prod_others", result="first",
        refuse="second and higher derivatives through np.prod are not supported: write the product as a "
               "loop (p = p * x[i]) to differentiate it again")
# helpers of the derived programs: linear in their first argument, so that derived programs can be
# differentiated again (a zero derivative here would be a silently wrong second derivative)
_define("np_sum", 1, vjp=("expand_like(g, x)",), jvp=("np_sum(d)",), array="np.sum", result="reduce")
# adjoint helpers: a broadcast operand's adjoint summed back to its shape (see runtime.sum_like*)
_define("sum_like1", 2, vjp=("expand_like(g, x)",), jvp=("sum_like1(d, y)", None), array="sum_like1", result="first")
_define("sum_like2", 2, jvp=("sum_like2(d, y)", None), array="sum_like2", result="first")

# Linear algebra: the adjoint depends on the operands' ranks, so `vjp` is keyed by them.
_define("dot", 2, vjp={"1x1": ("g * y", "g * x"), "2x1": ("outer(g, y)", "dot(transpose(x), g)"),
                       "1x2": ("dot(y, g)", "outer(x, g)"), "2x2": ("dot(g, transpose(y))", "dot(transpose(x), g)")},
        jvp=("dot(d, y)", "dot(x, d)"),
        scalar="np.dot", array="np.dot", result="dot", numpy_names=("dot", "matmul"))
_define("outer", 2, vjp=("dot(g, y)", "dot(transpose(g), x)"), jvp=("outer(d, y)", "outer(x, d)"), array="np.outer", result="outer",
        numpy_names=("outer",))
_define("transpose", 1, vjp=("transpose(g)",), jvp=("transpose(d)",), array="{0}.T", result="first", numpy_names=("transpose",))

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
_define("as_column", 1, vjp=("first_column(g)",), jvp=("as_column(d)",), array="np.expand_dims({0}, 1)", result="column")
_define("as_row", 1, vjp=("first_row(g)",), jvp=("as_row(d)",), array="np.expand_dims({0}, 0)", result="column")
# a reduction's cotangent, broadcast back to the full shape of its operand
_define("expand_like", 2, jvp=("expand_like(d, y)", None), array="({0} + np.zeros_like({1}))", result="second")
_define("first_row", 1, jvp=("first_row(d)",), array="{0}[0]", result="drop")
_define("first_column", 1, jvp=("first_column(d)",), array="{0}[:, 0]", result="drop")
for _name in ("zeros", "ones", "empty"):
    _define(_name, 1, nondiff=True, scalar=f"np.{_name}", array=f"np.{_name}", result="create",
            numpy_names=(_name,))
    _define(f"{_name}_like", 1, nondiff=True, array=f"np.{_name}_like", result="like",
            numpy_names=(f"{_name}_like",))
    _define(f"{_name}2", 2, nondiff=True, scalar=f"np.{_name}(({{0}}, {{1}}))", array=f"np.{_name}(({{0}}, {{1}}))",
            result="create")

# A spelling with placeholders ({0}, {rest}, {axis}) is printed as one atom: it must be a call,
# a subscript, an attribute, or parenthesised (tests/test_rules.py checks this for every entry).

# Python operators -> primitive names, for the lowering
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
