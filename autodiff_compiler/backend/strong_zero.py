"""The careful rerun: a gradient where the fast one failed only on a value nothing near the point needs.

Takes: the text of a gradient module derived with `careful=True` and without the simplifier (its
structural zeros marked: `transforms.reverse.Reverse.structural`, adjoints started as
`structural(0.0)`), the name of its gradient function, and the call's arguments.  Or the module of a
derivative with forward mode in it (jvp, hvp, a Hessian, a Jacobian by columns), derived the same way:
its tangents' structural zeros marked too (`transforms.forward`), and the call's tangents or vector
after its arguments.

Guarantees: `run` executes that module in Python in IEEE arithmetic -- NumPy's float64 numbers, the
math module's functions that raise (`math.sqrt(-1.0)`, `math.log(0.0)`, `1 / 0.0`) giving NaN or an
infinity instead, and the helpers that check Python's errors passing their value on -- with one rule
more: a *structural* zero times anything is that zero.  A structural zero is the adjoint of a value no
result reads (yet), a partial that reads no active value but through an indicator (the mask of `min`,
`clip`, `np.where`), and anything such a zero multiplies.  Each is zero on a neighbourhood of the
point, so whatever it multiplies (the infinite derivative of `sqrt` at 0 in the branch `np.where` did
not take, of `asin` at a constant the branch put in its place) contributes exactly nothing to the
gradient.  Every other zero is IEEE's: `0 * inf` is NaN.  So a finite result is the gradient: the
infinities and NaNs of the failed run were all dropped by a structural zero or by an adjoint restarted
where its value was overwritten, both exact; one that reached the gradient leaves it non-finite, and
`run` returns None.  It returns None too on any exception (an error of Python's ints, a shape), so
the caller raises what it raised before.

Arrays carry their structural zeros as a mask (`StructuralArray`) through products, sums, indexing and
stores; any other operation gives a plain array whose zeros are IEEE's: there a NaN stays, and the
caller raises.  The rerun is for the failure path only; it is Python speed.
"""
from __future__ import annotations

import ast
import math
import operator
import types
import warnings

import numpy as np

from ..syntax import compile_code, parse


class StructuralZero(np.float64):
    """0.0 that stays 0.0 when it multiplies anything (NaN and infinity included), added as IEEE's 0.0 is.
    A subclass of NumPy's float64 (itself a subclass of Python's float), so that its reflected operators
    run before a float's or a float64's own; with an array it is an array's structural zeros
    (`_dispatch`)."""

    def __mul__(self, other):
        return _ufunc(np.multiply, (self, other)) if isinstance(other, np.ndarray) else self

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _ufunc(np.true_divide, (self, other)) if isinstance(other, np.ndarray) else self

    def __neg__(self):
        return self

    __pos__ = __neg__

    def __add__(self, other):
        if type(other) is StructuralZero:
            return self
        if isinstance(other, np.ndarray):
            return _ufunc(np.add, (self, other))
        return other + 0.0      # IEEE's 0.0 + x

    __radd__ = __add__

    def __sub__(self, other):
        if type(other) is StructuralZero:
            return self
        return _ufunc(np.subtract, (self, other)) if isinstance(other, np.ndarray) else 0.0 - other

    def __rsub__(self, other):
        return _ufunc(np.subtract, (other, self)) if isinstance(other, np.ndarray) else other - 0.0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _dispatch(ufunc, method, inputs, kwargs)

    def __repr__(self) -> str:
        return "STRUCTURAL_ZERO"


STRUCTURAL_ZERO = StructuralZero(0.0)


class StructuralArray(np.ndarray):
    """A float64 array with the mask of its structural zeros (`zero`, True there; None: no structure known,
    every zero IEEE's).  Only the operations that keep the mask exactly carry it -- the arithmetic of
    `_ZERO_RULES`, sums, indexing, stores and copies; anything else (a reshape, a transpose, a dot product)
    gives a plain array, whose zeros are IEEE's: the safe side."""

    zero = None

    def __array_finalize__(self, obj):
        self.zero = None        # a view or result NumPy made: which of its elements came from where is unknown

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _dispatch(ufunc, method, inputs, kwargs)

    def __getitem__(self, index):
        value = self.view(np.ndarray)[index]
        if self.zero is None:
            return value
        zero = self.zero[index]
        if isinstance(value, np.ndarray):
            return _structured(value, zero)     # a view of the mask too, for stores through the view
        return STRUCTURAL_ZERO if zero else value

    def __setitem__(self, index, value):
        self.view(np.ndarray)[index] = _plain(value)
        if self.zero is not None:
            self.zero[index] = _zero_of(value)

    def copy(self, order="C"):
        return _structured(self.view(np.ndarray).copy(order), None if self.zero is None else self.zero.copy(order))


def _structured(values: np.ndarray, zero) -> StructuralArray:
    out = values.view(StructuralArray)
    if zero is not None and not (isinstance(zero, np.ndarray) and zero.shape == values.shape):
        zero = np.broadcast_to(zero, values.shape).copy()
    out.zero = zero
    return out


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray)
    return np.float64(value) if type(value) is StructuralZero else value


def _zero_of(value):
    """The structural-zero mask of an operand: True for the scalar, its mask for an array (False: none)."""
    if type(value) is StructuralZero:
        return True
    if isinstance(value, StructuralArray) and value.zero is not None:
        return value.zero
    return False


# which elements of a result are structural zeros, from its operands' masks: a product's (and a quotient's
# numerator's) wherever one operand's is, a sum's where both are
_ZERO_RULES = {np.multiply: lambda z: np.logical_or(z[0], z[1]), np.true_divide: lambda z: z[0],
               np.add: lambda z: np.logical_and(z[0], z[1]), np.subtract: lambda z: np.logical_and(z[0], z[1]),
               np.negative: lambda z: z[0], np.positive: lambda z: z[0]}


def _ufunc(ufunc, inputs):
    return _dispatch(ufunc, "__call__", inputs, {})


def _dispatch(ufunc, method, inputs, kwargs):
    """A ufunc of structural operands: IEEE's result, with the structural zeros `_ZERO_RULES` gives (and, for
    a sum, where every summed element is one) set to 0.0 and masked; other ufuncs give plain results."""
    out = kwargs.pop("out", None)
    if out is not None:
        kwargs["out"] = tuple(_plain(o) for o in out)
    result = getattr(ufunc, method)(*[_plain(i) for i in inputs], **kwargs)
    zero = None
    if method == "__call__" and ufunc in _ZERO_RULES:
        zero = _ZERO_RULES[ufunc]([_zero_of(i) for i in inputs])
    elif method == "reduce" and ufunc is np.add and isinstance(_zero_of(inputs[0]), np.ndarray):
        zero = np.logical_and.reduce(_zero_of(inputs[0]), axis=kwargs.get("axis", 0),
                                     keepdims=kwargs.get("keepdims", False))
    target = out[0] if out is not None else None
    if zero is None or not np.any(zero):
        if isinstance(target, StructuralArray):
            target.zero = None
        return target if target is not None else result
    if not isinstance(result, np.ndarray) or result.ndim == 0:
        return STRUCTURAL_ZERO if bool(zero) else result
    result[np.broadcast_to(zero, result.shape)] = 0.0
    if target is not None:
        if isinstance(target, StructuralArray):
            target.zero = np.broadcast_to(zero, target.shape).copy()
        return target
    return _structured(result, zero)


def structural(value):
    """A structural partial or a zero adjoint: a number that is zero as the structural zero, an array with
    its zeros masked as structural; anything else as it is."""
    if isinstance(value, np.ndarray):
        return _structured(np.array(value, dtype=np.float64), np.asarray(value) == 0)
    if value == 0:
        return STRUCTURAL_ZERO
    return value


def _lgamma(x):
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf     # the poles at 0, -1, -2, ...


def _gamma(x):
    try:
        return math.gamma(x)
    except (ValueError, OverflowError):
        return math.nan


# the math module's functions that raise, as NumPy's, which give NaN or an infinity; the rest are the math
# module's own (floor, trunc and ceil give ints, as the derived program expects)
_IEEE_MATH = {"sqrt": np.sqrt, "log": lambda x, base=None: np.log(x) if base is None else np.log(x) / np.log(base),
              "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp, "expm1": np.expm1,
              "asin": np.arcsin, "acos": np.arccos, "acosh": np.arccosh, "atanh": np.arctanh, "sinh": np.sinh,
              "cosh": np.cosh, "pow": np.power, "fmod": np.fmod, "lgamma": _lgamma, "gamma": _gamma,
              "tan": np.tan, "exp2": np.exp2}
IEEE_MATH = types.SimpleNamespace(**{name: getattr(math, name) for name in dir(math) if not name.startswith("_")})
for _name, _function in _IEEE_MATH.items():
    setattr(IEEE_MATH, _name, _function)


def _contiguous(array, dtype=None):
    """np.ascontiguousarray, keeping an array's structural zeros (NumPy's gives a plain array)."""
    if isinstance(array, StructuralArray) and dtype is None:
        return array if array.flags.c_contiguous else array.copy()
    return np.ascontiguousarray(array) if dtype is None else np.ascontiguousarray(array, dtype=dtype)


class _CarefulNumpy:
    """NumPy, as the careful module sees it: its own, but for `ascontiguousarray` (`_contiguous`)."""

    ascontiguousarray = staticmethod(_contiguous)

    def __getattr__(self, name):
        return getattr(np, name)


IEEE_NUMPY = _CarefulNumpy()


def _power(x, y, *rest):
    return np.power(np.float64(x), y)


# helpers of the printed module (`backend.runtime`) that raise Python's errors: in IEEE arithmetic they pass
# their value on
_IEEE_HELPERS = {"math_domain": lambda x, outside: x, "math_overflow": lambda x, beyond: x,
                 "math_range": lambda out, x: out, "math_pow": lambda out, x, y: out,
                 "python_power": _power, "python_power_int": _power, "squared": lambda x: x * x,
                 "structural": structural}


def _ieee_number(value):
    """A float argument as NumPy's float64 (whose division by zero is IEEE's); an int stays Python's
    (NumPy's int64 would wrap where Python's does not)."""
    return np.float64(value) if type(value) is float else value


class Tie(Exception):
    """A piecewise choice at its boundary (a comparison of equal or NaN floats, a floor of an integer, a
    sign of zero): no neighbourhood of the point keeps the choice, so no zero that depends on it is
    structural there, and the careful rerun gives up."""


def _floats(*values) -> bool:
    return any(isinstance(v, (float, np.floating)) or (isinstance(v, np.ndarray) and v.dtype.kind == "f")
               for v in values)


def _tied(a, b) -> bool:
    """Are two operands (numbers or arrays) of which one is a float equal or NaN anywhere?"""
    if not _floats(a, b):
        return False
    with np.errstate(all="ignore"):
        a, b = np.asarray(_plain(a)), np.asarray(_plain(b))
        return bool(np.any((a == b) | (a != a) | (b != b)))


def _integral(x, offset=0.0) -> bool:
    """Is a float operand (any entry) an integer plus `offset`, or NaN?"""
    if not _floats(x):
        return False
    with np.errstate(all="ignore"):
        x = np.asarray(_plain(x))
        return bool(np.any((x - offset == np.floor(x - offset)) | (x != x)))


_COMPARISONS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
                ast.Eq: operator.eq, ast.NotEq: operator.ne}


def _compare(a, op, b):
    if _tied(a, b):
        raise Tie(f"{a!r} and {b!r} compared")
    return op(a, b)


def _pairwise_tie(values) -> bool:
    return any(_tied(a, b) for k, a in enumerate(values) for b in values[k + 1:])


# the functions whose result jumps somewhere (or picks an operand): called through `_guarded`, which raises
# `Tie` at such a point first.  Keyed by their spelling in the printed module.
_GUARDS = {
    "min": _pairwise_tie, "max": _pairwise_tie, "np.minimum": _pairwise_tie, "np.maximum": _pairwise_tie,
    "np.fmin": _pairwise_tie, "np.fmax": _pairwise_tie,
    "np.clip": lambda v: _tied(v[0], v[1]) or _tied(v[0], v[2]),
    "math.floor": lambda v: _integral(v[0]), "math.ceil": lambda v: _integral(v[0]),
    "math.trunc": lambda v: _integral(v[0]), "int": lambda v: _integral(v[0]),
    "np.floor": lambda v: _integral(v[0]), "np.ceil": lambda v: _integral(v[0]),
    "np.trunc": lambda v: _integral(v[0]), "np.rint": lambda v: _integral(v[0], 0.5),
    "np.round": lambda v: _integral(v[0], 0.5) or _integral(v[0]), "round": lambda v: _integral(v[0], 0.5),
    "np.sign": lambda v: _tied(v[0], 0.0), "math.copysign": lambda v: _tied(v[1], 0.0),
    "np.argmax": lambda v: _repeats(v[0]), "np.argmin": lambda v: _repeats(v[0]),
    "np.argsort": lambda v: _repeats(v[0]), "np.sort": lambda v: _repeats(v[0]),
    "np.max": lambda v: _repeats(v[0]), "np.min": lambda v: _repeats(v[0]),
    "np.amax": lambda v: _repeats(v[0]), "np.amin": lambda v: _repeats(v[0]),
    # np.max / np.min along axes, as the runtime's helpers compute them: an extremum attained twice (of a
    # group of the helpers of more axes, any repeated entry: conservative)
    "amax_axis0": lambda v: _extremum_tied(v[0], 0, np.max), "amax_axis1": lambda v: _extremum_tied(v[0], 1, np.max),
    "amin_axis0": lambda v: _extremum_tied(v[0], 0, np.min), "amin_axis1": lambda v: _extremum_tied(v[0], 1, np.min),
    "amax_rows": lambda v: _repeats(v[0]), "amin_rows": lambda v: _repeats(v[0]),
    "np.mod": lambda v: _remainder_jumps(v[0], v[1]), "np.floor_divide": lambda v: _remainder_jumps(v[0], v[1]),
    "np.remainder": lambda v: _remainder_jumps(v[0], v[1]), "math.fmod": lambda v: _remainder_jumps(v[0], v[1]),
    "np.fmod": lambda v: _remainder_jumps(v[0], v[1]), "divmod": lambda v: _remainder_jumps(v[0], v[1]),
}


def _repeats(x) -> bool:
    """Has a float array two equal entries, or a NaN (where a maximum, an argmax or a sort picks one)?"""
    if not _floats(x):
        return False
    flat = np.sort(np.ravel(_plain(x)))
    return bool(np.any(flat[1:] == flat[:-1]) or np.any(flat != flat))


def _extremum_tied(x, axis: int, extremum) -> bool:
    """Is the maximum (minimum) of some row or column of a float matrix attained twice, or NaN?"""
    x = np.asarray(_plain(x), dtype=float)
    if x.size == 0:
        return False
    with np.errstate(all="ignore"):
        return bool(np.any(np.sum(x == extremum(x, axis=axis, keepdims=True), axis=axis) > 1) or np.any(x != x))


def _remainder_jumps(a, b) -> bool:
    """Is `a % b` (`a // b`) of floats at a jump: a a multiple of b, or NaN?"""
    if not _floats(a, b):
        return False
    with np.errstate(all="ignore"):
        r = np.fmod(np.asarray(_plain(a), dtype=float), np.asarray(_plain(b), dtype=float))
        return bool(np.any((r == 0) | (r != r)))


# the extremum of a whole array (and its index) stays where it is near the point unless it is attained twice
# or NaN: other equal entries (two zeros below the maximum) choose nothing (helper-69: a NaN gradient)
_WHOLE_ARRAY_EXTREMA = {"np.max": np.max, "np.amax": np.max, "np.argmax": np.max,
                        "np.min": np.min, "np.amin": np.min, "np.argmin": np.min}


def _extremum_twice(x, extremum) -> bool:
    """Is the maximum (minimum) of a float array attained twice, or is an entry NaN?"""
    if not _floats(x):
        return False
    flat = np.ravel(np.asarray(_plain(x), dtype=float))
    with np.errstate(all="ignore"):
        return flat.size > 0 and bool(np.sum(flat == extremum(flat)) > 1 or np.any(flat != flat))


def _guarded(spelling, function, *args, **kwargs):
    extremum = _WHOLE_ARRAY_EXTREMA.get(spelling) if len(args) == 1 and not kwargs else None
    if _extremum_twice(args[0], extremum) if extremum is not None else _GUARDS[spelling](args):
        raise Tie(f"{spelling} at a jump")
    return function(*args, **kwargs)


def _truth(value):
    """A value tested for truth (`if t:`, `a and b`, `not t`): a float's test jumps at 0 and is NaN's."""
    if _floats(value) and _tied(value, 0.0):
        raise Tie(f"{value!r} tested for truth")
    return value


def _astype(array, dtype, *args, **kwargs):
    """`array.astype(dtype)`: to an integer type it truncates, and jumps at the integers."""
    if np.dtype(dtype).kind in "iub" and _integral(array):
        raise Tie("astype of an integer")
    return array.astype(dtype, *args, **kwargs)


def _truth_test(node):
    return ast.Call(ast.Name("_truth", ast.Load()), [node], [])


_GUARDED_NODES = (ast.Compare, ast.BinOp, ast.Call, ast.If, ast.While, ast.IfExp, ast.BoolOp, ast.UnaryOp)


def _spelling(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


class _Guard(ast.NodeTransformer):
    """The comparisons, remainders and jumping calls of the gradient function's forward sweep (lines before
    `reverse`), and of its structural partials (`structural(...)`) anywhere, through the guards above: the
    choices the program makes and the masks the structural zeros come from.  A test inside another
    partial (pow's `x == 0` that keeps 0 ** 0's partial finite) chooses no zero that is trusted."""

    def __init__(self, reverse: int):
        self.reverse = reverse
        self.inside_structural = 0

    def visit(self, node):
        if isinstance(node, ast.Call) and _spelling(node.func) == "structural":
            self.inside_structural += 1
            try:
                return self.generic_visit(node)
            finally:
                self.inside_structural -= 1
        if isinstance(node, _GUARDED_NODES) and not self.inside_structural \
                and getattr(node, "lineno", 0) >= self.reverse:
            return self.generic_visit(node)
        return super().visit(node)

    def visit_If(self, node):
        self.generic_visit(node)
        node.test = _truth_test(node.test)
        return node

    visit_While = visit_IfExp = visit_If

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        node.values = [_truth_test(value) for value in node.values]
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            node.operand = _truth_test(node.operand)
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        operands = [node.left] + node.comparators
        tests = [ast.Call(ast.Name("_compare", ast.Load()), [a, ast.Name(f"_{type(op).__name__}", ast.Load()), b], [])
                 for a, op, b in zip(operands, node.ops, operands[1:])]
        if any(type(op) not in _COMPARISONS for op in node.ops):
            return node         # `is`, `in`: of no floats here
        return tests[0] if len(tests) == 1 else ast.BoolOp(ast.And(), tests)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Mod, ast.FloorDiv)):
            name = "np.mod" if isinstance(node.op, ast.Mod) else "np.floor_divide"
            return ast.Call(ast.Name("_guarded", ast.Load()),
                            [ast.Constant(name), ast.Name("_mod" if name == "np.mod" else "_floordiv", ast.Load()),
                             node.left, node.right], [])
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "astype":
            return ast.Call(ast.Name("_astype", ast.Load()), [node.func.value] + node.args, node.keywords)
        spelling = _spelling(node.func)
        if spelling in _GUARDS:
            return ast.Call(ast.Name("_guarded", ast.Load()), [ast.Constant(spelling), node.func] + node.args,
                            node.keywords)
        return node


_REVERSE_SWEEP = "    # reverse sweep"     # the printer's comment where the reverse sweep starts (`transforms.reverse`)


def _guard(text: str, filename: str, name: str, everywhere: bool = False) -> ast.Module:
    """The module's tree with the piecewise choices of its function `name` guarded (`_Guard`; the helpers
    it defines keep their tests: of their own values, never a piecewise choice); `everywhere`: every
    comparison of the function, the reverse sweep's too."""
    tree = parse(text, filename)
    lines = text.splitlines()
    for k, node in enumerate(tree.body):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            reverse = node.end_lineno + 1 if everywhere else next(
                (n for n in range(node.lineno, node.end_lineno + 1) if lines[n - 1].startswith(_REVERSE_SWEEP)),
                node.end_lineno + 1)
            tree.body[k] = ast.fix_missing_locations(_Guard(reverse).visit(node))
    return tree


_GUARD_NAMES = {"_compare": _compare, "_guarded": _guarded, "_truth": _truth, "_astype": _astype, "_mod": operator.mod, "_floordiv": operator.floordiv,
                **{f"_{op.__name__}": function for op, function in _COMPARISONS.items()}}


def load(text: str, filename: str, name: str, everywhere: bool = False) -> dict:
    """The module's namespace, with the math module and the raising helpers replaced by IEEE's, and the
    piecewise choices of its function `name` guarded against ties (`Tie`): those of its forward sweep and
    of its structural partials; `everywhere`, every one (a program of forward mode, whose zero tangents of
    comparisons and indicators are structural wherever they stand: `transforms.forward`)."""
    namespace: dict = {"__name__": "autodiff_compiler_careful", **_GUARD_NAMES}
    exec(compile_code(_guard(text, filename, name, everywhere), filename, "exec"), namespace)
    namespace["math"], namespace["np"] = IEEE_MATH, IEEE_NUMPY
    namespace.update(_IEEE_HELPERS)
    return namespace


def run(namespace: dict, name: str, args) -> object | None:
    """The careful gradient at `args` (copies of the arrays), its numbers as Python's floats; None where it
    raises or comes out non-finite."""
    args = [a.copy() if isinstance(a, np.ndarray) else _ieee_number(a) for a in args]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = namespace[name](*args)
    except Exception:       # noqa: BLE001 -- any error: the caller raises what the fast gradient raised
        return None
    items = result if type(result) is tuple else (result,)
    out = []
    for item in items:
        if isinstance(item, np.ndarray):
            item = item.view(np.ndarray)        # a plain array: its zeros IEEE's again in the caller's hands
            if item.dtype.kind == "f" and not np.all(np.isfinite(item)):
                return None
            out.append(item)
        elif isinstance(item, (float, np.floating)):
            if not math.isfinite(item):
                return None
            out.append(float(item))
        else:
            out.append(item.item() if isinstance(item, np.generic) else item)
    return tuple(out) if type(result) is tuple else out[0]
