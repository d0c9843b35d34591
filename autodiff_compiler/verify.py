"""Verify: prove a derived gradient equal to SymPy's derivative of the same function.

Takes: a pipeline `State` (the primal IR with its types, the adjoint IR whose
`returns` are `(value, d value/d wrt_1, ...)`, the `wrt` names), the call's
arguments, and optionally the user's Python function.  Guarantees:

* both programs are executed *symbolically* at the call's arguments: every
  value is a pair (SymPy expression, number).  Float parameters become real
  SymPy symbols named after them, int and bool parameters stay the call's
  numbers (they drive control flow), float array parameters become arrays of
  element symbols (`x_0`, `A_0_1`) of the call's shape.  Branches follow the
  numeric value of their condition, `for` loops run with the call's bounds,
  `while` loops while their numeric condition holds; non-differentiable
  primitives are evaluated numerically and become constants; differentiable
  ones apply the rule table's `sympy` form (kinks such as `min`, `max`, `abs`
  and `%` follow the side taken at the call's arguments, ties going to the
  first argument, as the rule table's partials do);
* for every `wrt` name, the adjoint's gradient G is compared with
  D = SymPy's derivative of the symbolic primal value V: exactly
  (`simplify(G - D) == 0`) when both are small enough for that to be cheap,
  otherwise at the call's point and five random points near it (relative
  perturbation 1e-3, fixed seed) in 50-digit arithmetic, where they must agree
  to a relative 1e-25 (absolute 1e-30).  The report says which method proved
  each gradient.  The adjoint's returned value is compared with V the same way;
* the symbolic primal V, evaluated at the call's arguments, is compared with
  the user's own Python function called there (relative 1e-9), which catches
  lowering bugs that a comparison of two programs derived from the same IR
  cannot see.  Without the function (the CLI never executes the user's file)
  this check is skipped and the report says so;
* programs whose primitives have no SymPy form are not guessed at: the report
  says "unsupported" and names the primitive, and `raise_if_failed` raises.

Floating-point constants are read as the exact numbers they round
(0.1 -> 1/10, 0.6931471805599453 -> log(2), 0.3333333333333333 -> 1/3, ...,
to within two units in the last place), so that constants folded in double
precision by the compiler compare equal with SymPy's exact ones.  When some
constant matches no exact number (a folded `1/3 + 0.1 + pi`, say), the
numerical comparison can only ask for agreement to a relative 1e-12, and the
report says so.  Large expressions (long loops) are handled as DAGs:
differentiation and high-precision evaluation visit each shared subexpression
once, and nodes are built without SymPy's automatic simplification.

Array primitives without an elementwise SymPy form (reductions, `dot`,
reshapes, array creation, the runtime helpers) are applied by evaluating the
printer's own spelling of the primitive on object arrays of `Dual` numbers --
floats that carry their SymPy expression, whose arithmetic applies the rule
table and whose comparisons compare the numbers -- so values and expressions
are computed by the very NumPy calls the generated code makes.
"""
from __future__ import annotations

import math
import random
import signal
import sys
import threading
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import numpy as np
import sympy

from . import ir
from .errors import ArgumentError, VerificationError
from .ir import (Assign, Comment, Const, For, If, Pop, Push, Slice, Store, TapeAlloc, Var, While)
from .rules import PRIMITIVES, USER_FUNCTIONS

DIGITS = 50                 # working precision of the numerical comparison
REL_TOL = 1e-25
ABS_TOL = 1e-30
ROUNDED_REL_TOL = 1e-12     # when a constant is only known as a double (see `_exact_float`)
PRIMAL_REL_TOL = 1e-9
N_RANDOM_POINTS = 5
PERTURBATION = 1e-3
SEED = 20240605
EXACT_MAX_OPS = 150         # simplify() only below this many operations per side
EXACT_MAX_NODES = 1500      # ... and this many tree nodes (count_ops is exponential on DAGs)
EXACT_SECONDS = 3.0         # time guard for simplify()
EXACT_MAX_ELEMENTS = 16     # arrays with more elements are compared numerically only
SYMPY_DIFF_MAX_NODES = 4000  # above this, differentiate node by node over the DAG
MAX_LOOP_TRIPS = 200_000
BIG_NODES = 300             # larger expressions are built without SymPy's automatic simplification


class Unsupported(Exception):
    """The program holds something the symbolic executor cannot represent."""


class Undefined(Exception):
    """The function is not defined at the call's arguments (domain error, division by zero)."""


# ------------------------------------------------------------------- values

class SV:
    """A value: SymPy expression (or object array of them) and its number at the call's point."""
    __slots__ = ("expr", "num", "big")

    def __init__(self, expr, num, big=None):
        self.expr = expr
        self.num = num
        self.big = big          # expression too large for SymPy's automatic simplification; None: unknown

    @property
    def is_array(self) -> bool:
        return isinstance(self.num, np.ndarray)

    def is_big(self) -> bool:
        if self.big is None:
            self.big = not self.is_array and isinstance(self.expr, sympy.Basic) and \
                tree_size(self.expr, BIG_NODES) > BIG_NODES
        return self.big

    def copy(self) -> "SV":
        if self.is_array:
            return SV(self.expr.copy(), self.num.copy())
        return self

    def __repr__(self) -> str:
        return f"SV({self.expr!r}, {self.num!r})"


# ----------------------------------------------------------- exact constants

_CONSTANT_BASES = None
_EXACT_CACHE: dict = {}


def _bases():
    global _CONSTANT_BASES
    if _CONSTANT_BASES is None:
        roots = [sympy.pi, sympy.E, sympy.log(2), sympy.log(10), sympy.sqrt(2), sympy.sqrt(3),
                 sympy.sqrt(sympy.pi), sympy.sqrt(2 * sympy.pi)]
        bases = []
        for r in roots:
            bases += [r, 1 / r]
        _CONSTANT_BASES = [(b, float(b)) for b in bases]
    return _CONSTANT_BASES


def _within_ulps(a: float, b: float, ulps: int = 2) -> bool:
    return abs(a - b) <= ulps * math.ulp(b)


def exact(value):
    """The exact SymPy number a Python number stands for (floats: see the module docstring)."""
    if isinstance(value, (bool, np.bool_)):
        return sympy.Integer(int(value))
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, sympy.Basic):
        return value
    v = float(value)
    cached = _EXACT_CACHE.get(v)
    if cached is None:
        cached = _exact_float(v)
        if len(_EXACT_CACHE) < 100_000:
            _EXACT_CACHE[v] = cached
    result, inexact = cached
    if inexact:
        _INEXACT_SEEN[0] += 1
    return result


# how many floats that matched no exact number (see `_exact_float`) have been read
_INEXACT_SEEN = [0]


def _exact_float(v: float):
    """(exact number, inexact?): a short decimal, a small fraction, or a simple multiple of
    pi, e, log 2, log 10, sqrt 2, sqrt 3, sqrt(pi), sqrt(2 pi) or their inverses that `v` is
    the double of (to within two units in the last place); else `v`'s shortest decimal,
    flagged inexact (it may be a double-precision rounding of some exact value)."""
    if math.isnan(v):
        return sympy.nan, False
    if math.isinf(v):
        return (sympy.oo if v > 0 else -sympy.oo), False
    if v == 0:
        return sympy.Integer(0), False
    text = repr(v)
    mantissa = text.split("e")[0].replace("-", "").replace(".", "").strip("0")
    if len(mantissa) <= 12:
        return sympy.Rational(text), False
    fraction = Fraction(v).limit_denominator(10 ** 6)
    if fraction != 0 and _within_ulps(float(fraction), v):
        return sympy.Rational(fraction.numerator, fraction.denominator), False
    for base, base_value in _bases():
        ratio = Fraction(v / base_value).limit_denominator(1000)
        if ratio != 0 and _within_ulps(float(ratio) * base_value, v, 4):
            return sympy.Rational(ratio.numerator, ratio.denominator) * base, False
    return sympy.Rational(text), True


def const_value(value) -> SV:
    return SV(exact(value), value)


# ------------------------------------------------------- primitives in SymPy

_SYMPY_NAMESPACE = dict(vars(sympy))
_LAMBDAS: dict = {}
_TEMPLATES: dict = {}
_KINKS = (sympy.Min, sympy.Max, sympy.Abs, sympy.sign, sympy.floor, sympy.ceiling, sympy.Mod,
          sympy.Heaviside, sympy.Piecewise)
_DUMMIES = tuple(sympy.Dummy(name, real=True) for name in ("x", "y", "z"))


def sympy_lambda(text: str):
    """The rule table's SymPy string compiled once into a function of x, y, z."""
    fn = _LAMBDAS.get(text)
    if fn is None:
        fn = eval(f"lambda x=None, y=None, z=None: ({text})", _SYMPY_NAMESPACE)
        _LAMBDAS[text] = fn
    return fn


def _template(prim):
    """(template over dummies, has kinks) for a primitive's SymPy form."""
    entry = _TEMPLATES.get(prim.sympy)
    if entry is None:
        template = sympy.sympify(sympy_lambda(prim.sympy)(*_DUMMIES[:prim.arity]))
        entry = (template, template.has(*_KINKS))
        _TEMPLATES[prim.sympy] = entry
    return entry


def _dummy_rank(expr) -> int:
    ranks = [i for i, d in enumerate(_DUMMIES) if expr.has(d)]
    return min(ranks) if ranks else len(_DUMMIES)


def resolve_kinks(expr, number_of):
    """Replace kinks (Min, Max, Abs, sign, floor, ceiling, Mod, Heaviside, Piecewise) by the
    smooth piece on the side `number_of(subexpression)` lies on.  Ties in Min/Max go to the
    argument over the earliest dummy (the primitive's first argument)."""
    if not isinstance(expr, sympy.Basic) or not expr.args:
        return expr
    args = [resolve_kinks(a, number_of) for a in expr.args]
    if isinstance(expr, (sympy.Min, sympy.Max)):
        values = [number_of(a) for a in args]
        best = min(values) if isinstance(expr, sympy.Min) else max(values)
        tied = [a for a, v in zip(args, values) if v == best]
        return min(tied, key=_dummy_rank)
    if isinstance(expr, sympy.Abs):
        value = number_of(args[0])
        return args[0] * (1 if value > 0 else -1 if value < 0 else 0)
    if isinstance(expr, sympy.sign):
        value = number_of(args[0])
        return sympy.Integer(1 if value > 0 else -1 if value < 0 else 0)
    if isinstance(expr, sympy.floor):
        return sympy.Integer(math.floor(number_of(args[0])))
    if isinstance(expr, sympy.ceiling):
        return sympy.Integer(math.ceil(number_of(args[0])))
    if isinstance(expr, sympy.Heaviside):
        value = number_of(args[0])
        return sympy.Integer(1 if value > 0 else 0) if value != 0 else sympy.Rational(1, 2)
    if isinstance(expr, sympy.Mod):
        a, b = args
        return a - b * sympy.Integer(math.floor(number_of(a) / number_of(b)))
    if isinstance(expr, sympy.Piecewise):
        for piece, cond in expr.args:
            if cond == sympy.true or bool(cond.subs({d: exact(number_of(d)) for d in cond.free_symbols})):
                return resolve_kinks(piece, number_of)
        raise Unsupported("a Piecewise with no branch true at the call's arguments")
    if args == list(expr.args):
        return expr
    return expr.func(*args)


def _numeric_result(value):
    if isinstance(value, complex):
        raise Undefined("the result is complex")
    if isinstance(value, np.generic):
        value = value.item()
    return value


def apply_scalar(prim, args: list) -> SV:
    nums = [a.num for a in args]
    try:
        num = _numeric_result(prim.evaluate(*nums))
    except (ZeroDivisionError, ValueError, OverflowError) as exc:
        raise Undefined(f"{prim.name}{tuple(nums)}: {exc}") from None
    if prim.nondiff:
        return SV(exact(num), num)
    if prim.sympy is None:
        raise Unsupported(f"primitive {prim.name!r} has no SymPy form in the rule table")
    template, kinked = _template(prim)
    exprs = [sympy.sympify(a.expr) for a in args]
    big = any(a.is_big() for a in args)
    if kinked:
        values = dict(zip(_DUMMIES, nums))

        def number_of(e):
            return float(e.xreplace({d: exact(v) for d, v in values.items()}))

        smooth = resolve_kinks(template, number_of)
    # SymPy's automatic simplification queries assumptions over the whole (unshared) tree on
    # every construction: on large expressions build the nodes as they are
    with sympy.evaluate(not big):
        if not kinked:
            expr = sympy.sympify(sympy_lambda(prim.sympy)(*exprs))
        else:
            expr = smooth.xreplace(dict(zip(_DUMMIES, exprs)))
    return SV(expr, num, True if big else None)


# Result kinds of elementwise primitives (applied element by element on arrays).
_ELEMENTWISE = {"float", "join", "bool", "int", "first", "pow", "where"}


def apply(prim_name: str, args: list, params: tuple = ()) -> SV:
    """Apply a primitive to SVs: scalars through `apply_scalar`, elementwise primitives element by
    element, everything else (reductions, dot, shapes, array creation) by evaluating the printer's
    own spelling of the primitive on arrays of `Dual` numbers."""
    prim = PRIMITIVES.get(prim_name)
    if prim is None:
        raise Unsupported(f"primitive {prim_name!r} is not in the rule table")
    arrays = any(a.is_array for a in args)
    if prim.evaluate is not None and not params:
        if not arrays:
            return apply_scalar(prim, args)
        if prim.result in _ELEMENTWISE:
            try:
                return _elementwise(prim, args)
            except (AttributeError, TypeError):      # an evaluate written for whole arrays (x.copy())
                pass
    return _by_spelling(prim, args, params)


def _elementwise(prim, args: list) -> SV:
    shape = np.broadcast_shapes(*[a.num.shape for a in args if a.is_array])
    expanded = []
    for a in args:
        if a.is_array:
            expanded.append((np.broadcast_to(a.expr, shape), np.broadcast_to(a.num, shape)))
        else:
            expanded.append(None)
    exprs = np.empty(shape, dtype=object)
    nums = []
    for index in np.ndindex(*shape):
        element_args = [SV(e[0][index], e[1][index].item()) if e is not None else a
                        for e, a in zip(expanded, args)]
        out = apply_scalar(prim, element_args)
        exprs[index] = out.expr
        nums.append(out.num)
    return SV(exprs, _number_array(nums, shape))


def _number_array(nums: list, shape) -> np.ndarray:
    if nums and all(isinstance(n, (bool, np.bool_)) for n in nums):
        return np.array(nums, dtype=bool).reshape(shape)
    if nums and all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) for n in nums):
        return np.array(nums, dtype=np.int64).reshape(shape)
    return np.array(nums, dtype=float).reshape(shape)


class Dual:
    """A float that carries its SymPy expression: arithmetic applies the rule table's primitives,
    comparisons compare the numbers.  NumPy functions on object arrays of Duals then compute
    values and expressions together (np.sum, np.dot, np.max, reshapes, ...)."""
    __slots__ = ("expr", "num")

    def __init__(self, expr, num):
        self.expr = expr
        self.num = num

    @staticmethod
    def of(value) -> SV:
        if isinstance(value, Dual):
            return SV(value.expr, value.num)
        if isinstance(value, np.generic):
            value = value.item()
        return SV(exact(value), value)

    def _apply(self, name, *others, reverse=False):
        if any(isinstance(o, np.ndarray) for o in others):
            return NotImplemented           # NumPy broadcasts, calling back element by element
        operands = [Dual.of(self)] + [Dual.of(o) for o in others]
        if reverse:
            operands.reverse()
        out = apply_scalar(PRIMITIVES[name], operands)
        return Dual(out.expr, out.num) if not PRIMITIVES[name].nondiff else out.num

    def __add__(self, o): return self._apply("add", o)
    def __radd__(self, o): return self._apply("add", o, reverse=True)
    def __sub__(self, o): return self._apply("sub", o)
    def __rsub__(self, o): return self._apply("sub", o, reverse=True)
    def __mul__(self, o): return self._apply("mul", o)
    def __rmul__(self, o): return self._apply("mul", o, reverse=True)
    def __truediv__(self, o): return self._apply("div", o)
    def __rtruediv__(self, o): return self._apply("div", o, reverse=True)
    def __pow__(self, o): return self._apply("pow", o)
    def __rpow__(self, o): return self._apply("pow", o, reverse=True)
    def __mod__(self, o): return self._apply("mod", o)
    def __rmod__(self, o): return self._apply("mod", o, reverse=True)
    def __floordiv__(self, o): return self._apply("floordiv", o)
    def __rfloordiv__(self, o): return self._apply("floordiv", o, reverse=True)
    def __neg__(self): return self._apply("neg")
    def __pos__(self): return self
    def __abs__(self): return self._apply("abs")
    def __lt__(self, o): return self.num < _number(o)
    def __le__(self, o): return self.num <= _number(o)
    def __gt__(self, o): return self.num > _number(o)
    def __ge__(self, o): return self.num >= _number(o)
    def __eq__(self, o): return self.num == _number(o)
    def __ne__(self, o): return self.num != _number(o)
    __hash__ = object.__hash__
    def __float__(self): return float(self.num)
    def __bool__(self): return bool(self.num)

    def __getattr__(self, name):
        # NumPy ufuncs on object arrays call the method of the same name (np.sin -> x.sin())
        if name.startswith("_"):
            raise AttributeError(name)
        prim = USER_FUNCTIONS.get(("numpy", name))
        if prim is None:
            raise AttributeError(name)
        return lambda *others: self._apply(prim, *others)

    def __repr__(self) -> str:
        return f"Dual({self.expr}, {self.num})"


def _number(value):
    return value.num if isinstance(value, Dual) else value


def to_dual(value: SV):
    """An SV as NumPy sees it in the spelling evaluator: floats as Duals, ints/bools as numbers."""
    if value.is_array:
        if value.num.dtype.kind != "f":
            return value.num
        out = np.empty(value.num.shape, dtype=object)
        for index in np.ndindex(*value.num.shape):
            out[index] = Dual(value.expr[index], value.num[index].item())
        return out
    if isinstance(value.num, float):
        return Dual(value.expr, value.num)
    return value.num


def from_dual(result) -> SV:
    if isinstance(result, np.ndarray) and result.ndim > 0:
        exprs = np.empty(result.shape, dtype=object)
        nums = []
        for index in np.ndindex(*result.shape):
            element = result[index]
            if isinstance(element, Dual):
                exprs[index], n = element.expr, element.num
            else:
                n = element.item() if isinstance(element, np.generic) else element
                exprs[index] = exact(n)
            nums.append(n)
        return SV(exprs, _number_array(nums, result.shape))
    if isinstance(result, np.ndarray):
        result = result.item() if result.dtype != object else result[()]
    if isinstance(result, Dual):
        return SV(result.expr, result.num)
    if isinstance(result, np.generic):
        result = result.item()
    if isinstance(result, tuple):       # a shape
        raise Unsupported("a tuple-valued primitive")
    return SV(exact(result), result)


def _dual_filled(shape, value, dtype=None):
    if dtype is not None and np.dtype(dtype).kind in "biu":
        return np.full(shape, value, dtype=dtype)
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*np.shape(out)):
        out[index] = Dual(sympy.Integer(value), float(value))
    return out


def _like(value, fill, dtype=None):
    if dtype is None and isinstance(value, np.ndarray) and value.dtype.kind in "biu":
        dtype = value.dtype
    return _dual_filled(np.shape(value), fill, dtype)


class _DualNumPy:
    """`np` for the spelling evaluator: array creation gives arrays of Duals."""

    zeros = staticmethod(lambda shape, dtype=None: _dual_filled(shape, 0, dtype))
    ones = staticmethod(lambda shape, dtype=None: _dual_filled(shape, 1, dtype))
    empty = staticmethod(lambda shape, dtype=None: _dual_filled(shape, 0, dtype))
    zeros_like = staticmethod(lambda a, dtype=None: _like(a, 0, dtype))
    ones_like = staticmethod(lambda a, dtype=None: _like(a, 1, dtype))
    empty_like = staticmethod(lambda a, dtype=None: _like(a, 0, dtype))

    @staticmethod
    def full(shape, fill, dtype=None):
        out = np.empty(shape, dtype=object)
        for index in np.ndindex(*np.shape(out)):
            out[index] = fill
        return out

    def __getattr__(self, name):
        return getattr(np, name)


_DUAL_NUMPY = _DualNumPy()
_SPELLING_NAMESPACE: dict = {}
_BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "**": "pow", "%": "mod", "//": "floordiv",
           "@": "matmul", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne",
           "&": "and_", "|": "or_"}


def _spelling_namespace() -> dict:
    if not _SPELLING_NAMESPACE:
        import inspect
        from .backend import runtime
        namespace = {"np": _DUAL_NUMPY, "numpy": _DUAL_NUMPY, "math": math, "__name__": "verify_runtime"}
        exec(compile(inspect.getsource(runtime), "<runtime helpers>", "exec"), namespace)
        namespace["np"] = _DUAL_NUMPY
        _SPELLING_NAMESPACE.update(namespace)
    return _SPELLING_NAMESPACE


def _by_spelling(prim, args: list, params: tuple) -> SV:
    import operator
    arrays = any(a.is_array for a in args)
    symbol = prim.array if arrays and prim.array is not None else prim.scalar
    if symbol is None:
        symbol = prim.array or prim.name
    values = [to_dual(a) for a in args]
    keywords = dict(params)
    try:
        with np.errstate(all="raise"):
            if "{" in symbol:
                names = [f"_a{i}" for i in range(len(values))]
                local = dict(zip(names, values))
                local.update({f"_k_{k}": v for k, v in keywords.items()})
                code = symbol.format(*names, rest=", ".join(names[1:]), **{k: f"_k_{k}" for k in keywords})
                result = eval(code, _spelling_namespace(), local)
            elif symbol == "":
                result = values[0]
            elif symbol in ("not", "~"):
                result = np.logical_not(values[0]) if arrays else not values[0]
            elif symbol == "-" and len(values) == 1:
                result = -values[0]
            elif symbol in _BINARY and len(values) == 2:
                result = getattr(operator, _BINARY[symbol])(values[0], values[1])
            else:
                result = eval(symbol, _spelling_namespace())(*values, **keywords)
    except (ZeroDivisionError, FloatingPointError) as exc:
        raise Undefined(f"{prim.name}: {exc}") from None
    except Undefined:
        raise
    except Unsupported:
        raise
    except Exception as exc:
        raise Unsupported(f"primitive {prim.name!r} ({symbol}) on these operands: {type(exc).__name__}: {exc}") \
            from None
    return from_dual(result)


# ------------------------------------------------------------------ executor

class Executor:
    """Runs an IR function on SVs; records the last value of every variable in `env`."""

    def __init__(self, env: dict):
        self.env = env

    def operand(self, op) -> SV:
        if isinstance(op, Var):
            try:
                return self.env[op.name]
            except KeyError:
                raise Unsupported(f"variable {op.name!r} read before it is assigned") from None
        if isinstance(op, Const):
            return const_value(op.value)
        raise Unsupported(f"operand {op!r}")

    def params(self, params: tuple) -> tuple:
        """Static keyword data, operands read as their numbers."""
        return tuple((k, self.operand(v).num if isinstance(v, (Var, Const)) else v) for k, v in params)

    def index(self, index: tuple):
        out = []
        for part in index:
            if isinstance(part, Slice):
                out.append(slice(*(None if p is None else int(self.operand(p).num)
                                   for p in (part.start, part.stop, part.step))))
            else:
                value = self.operand(part)
                if value.is_array:
                    out.append(value.num)
                else:
                    out.append(int(value.num))
        return tuple(out)

    def run_block(self, block: list) -> None:
        for stmt in block:
            self.run_stmt(stmt)

    def run_stmt(self, stmt) -> None:
        env = self.env
        if isinstance(stmt, Assign):
            if stmt.prim in ("subscript", "getitem", "index"):
                array = self.operand(stmt.args[0])
                idx = self.index(stmt.args[1:])
                num = array.num[idx]
                expr = array.expr[idx]
                env[stmt.target] = SV(expr, num) if isinstance(num, np.ndarray) else SV(expr, num.item())
                return
            args = [self.operand(a) for a in stmt.args]
            if stmt.prim == "copy" and len(args) == 1 and not stmt.params:
                env[stmt.target] = args[0]       # arrays alias, as in Python
                return
            env[stmt.target] = apply(stmt.prim, args, self.params(stmt.params))
        elif isinstance(stmt, Store):
            target = env.get(stmt.array)
            if target is None or not target.is_array:
                raise Unsupported(f"store into {stmt.array!r}, which is not an array")
            idx = self.index(stmt.index)
            value = self.operand(stmt.value)
            if stmt.prim == "copy":
                target.expr[idx] = value.expr
                target.num[idx] = value.num
            else:
                current = SV(target.expr[idx], target.num[idx])
                if not isinstance(current.num, np.ndarray):
                    current = SV(current.expr, current.num.item())
                new = apply(stmt.prim, [current, value])
                target.expr[idx] = new.expr
                target.num[idx] = new.num
        elif isinstance(stmt, If):
            taken = self.operand(stmt.cond).num
            self.run_block(stmt.body if bool(taken) else stmt.orelse)
        elif isinstance(stmt, For):
            start, stop, step = (int(self.operand(b).num) for b in (stmt.start, stmt.stop, stmt.step))
            indices = range(start, stop, step)
            if len(indices) > MAX_LOOP_TRIPS:
                raise Unsupported(f"a loop of {len(indices)} trips is too long to execute symbolically")
            for i in indices:
                env[stmt.index] = SV(sympy.Integer(i), i)
                self.run_block(stmt.body)
                if stmt.exit_flag and bool(env[stmt.exit_flag].num):
                    break
        elif isinstance(stmt, While):
            trips = 0
            while True:
                self.run_block(stmt.test)
                if not bool(self.operand(stmt.cond).num):
                    break
                trips += 1
                if trips > MAX_LOOP_TRIPS:
                    raise Unsupported(f"a while loop ran more than {MAX_LOOP_TRIPS} trips")
                self.run_block(stmt.body)
                if stmt.exit_flag and bool(env[stmt.exit_flag].num):
                    break
        elif isinstance(stmt, TapeAlloc):
            env[stmt.tape] = []
        elif isinstance(stmt, Push):
            env[stmt.tape].append(self.operand(stmt.value).copy())
        elif isinstance(stmt, Pop):
            try:
                env[stmt.target] = env[stmt.tape].pop()
            except IndexError:
                raise Unsupported(f"pop from the empty tape {stmt.tape!r}") from None
        elif isinstance(stmt, Comment):
            pass
        else:
            raise Unsupported(f"statement {type(stmt).__name__}")


def symbolic_inputs(function: ir.Function, args, types: dict | None = None) -> tuple[dict, dict, dict]:
    """(env, symbols, point): parameter values as SVs, the symbol (or array of symbols) per
    float parameter, and each symbol's value at the call.  `types` default to the function's."""
    if len(args) != len(function.params):
        raise ArgumentError(f"{function.name} takes {len(function.params)} argument(s), got {len(args)}")
    types = function.types if types is None else types
    env, symbols, point = {}, {}, {}
    for name, value in zip(function.params, args):
        t = types.get(name)
        if isinstance(value, np.ndarray) and value.ndim > 0:
            if value.dtype.kind == "f" or (t is not None and t.is_float):
                syms = np.empty(value.shape, dtype=object)
                for index in np.ndindex(*value.shape):
                    s = sympy.Symbol(name + "_" + "_".join(map(str, index)), real=True)
                    syms[index] = s
                    point[s] = float(value[index])
                symbols[name] = syms
                env[name] = SV(syms.copy(), np.array(value, dtype=float))
            else:
                env[name] = SV(np.vectorize(exact, otypes=[object])(value), value.copy())
        elif isinstance(value, (bool, np.bool_)) or (t is not None and t.kind == "bool"):
            env[name] = SV(sympy.Integer(int(bool(value))), bool(value))
        elif isinstance(value, (int, np.integer)) and not (t is not None and t.kind == "float"):
            env[name] = SV(sympy.Integer(int(value)), int(value))
        else:
            s = sympy.Symbol(name, real=True)
            symbols[name] = s
            point[s] = float(value)
            env[name] = SV(s, float(value))
    return env, symbols, point


def execute(function: ir.Function, args, *, returns: bool = False, types: dict | None = None):
    """Run `function` symbolically at `args`; returns (results, env, symbols, point) where
    results is the result SV, or the tuple of `returns` SVs of an adjoint program."""
    env, symbols, point = symbolic_inputs(function, args, types)
    executor = Executor(env)
    executor.run_block(function.body)
    if returns or function.returns:
        results = tuple(executor.operand(op) for op in function.returns)
    else:
        results = executor.operand(function.result)
    return results, env, symbols, point


# ------------------------------------------------------------ DAG utilities

def tree_size(expr, limit: int) -> int:
    """Number of nodes of `expr` as a tree, counting at most up to limit + 1."""
    if not isinstance(expr, sympy.Basic):
        return 1
    count = 0
    stack = [expr]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return limit + 1
        stack.extend(node.args)
    return count


def derivative(expr, symbol):
    """d expr / d symbol: `sympy.diff` on small trees; on large ones the same chain rule applied
    once per distinct subexpression (SymPy's own `fdiff` for each function)."""
    expr = sympy.sympify(expr)
    if tree_size(expr, SYMPY_DIFF_MAX_NODES) <= SYMPY_DIFF_MAX_NODES:
        return sympy.diff(expr, symbol)
    with sympy.evaluate(False):
        return _dag_derivative(expr, symbol)


def _dag_derivative(expr, symbol):
    zero, one = sympy.Integer(0), sympy.Integer(1)
    memo: dict = {}
    keep = []
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if key in memo:
            continue
        if not node.args:
            memo[key] = one if node == symbol else zero
            keep.append(node)
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if id(a) not in memo)
            continue
        keep.append(node)
        ds = [memo[id(a)] for a in node.args]
        if all(d == 0 for d in ds):
            memo[key] = zero
        elif isinstance(node, sympy.Add):
            memo[key] = sympy.Add(*[d for d in ds if d != 0])
        elif isinstance(node, sympy.Mul):
            terms = []
            for i, d in enumerate(ds):
                if d != 0:
                    terms.append(d * sympy.Mul(*(node.args[:i] + node.args[i + 1:])))
            memo[key] = sympy.Add(*terms)
        elif isinstance(node, sympy.Pow):
            base, power = node.args
            dbase, dpower = ds
            if dpower == 0:
                memo[key] = power * base ** (power - 1) * dbase
            else:
                memo[key] = node * (dpower * sympy.log(base) + power * dbase / base)
        elif isinstance(node, sympy.Function) and not isinstance(node, sympy.core.function.AppliedUndef):
            try:
                memo[key] = sympy.Add(*[node.fdiff(i + 1) * d for i, d in enumerate(ds) if d != 0])
            except Exception:
                memo[key] = sympy.diff(node, symbol)
        else:
            memo[key] = sympy.diff(node, symbol)
    return memo[id(expr)]


_MP_FUNCTIONS = {
    sympy.sin: mpmath.sin, sympy.cos: mpmath.cos, sympy.tan: mpmath.tan, sympy.cot: mpmath.cot,
    sympy.sec: mpmath.sec, sympy.csc: mpmath.csc, sympy.asin: mpmath.asin, sympy.acos: mpmath.acos,
    sympy.atan: mpmath.atan, sympy.atan2: mpmath.atan2, sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh,
    sympy.tanh: mpmath.tanh, sympy.asinh: mpmath.asinh, sympy.acosh: mpmath.acosh,
    sympy.atanh: mpmath.atanh, sympy.exp: mpmath.exp, sympy.erf: mpmath.erf, sympy.erfc: mpmath.erfc,
    sympy.Abs: abs, sympy.sign: mpmath.sign, sympy.floor: mpmath.floor, sympy.ceiling: mpmath.ceil,
    sympy.Min: min, sympy.Max: max,
}


def _mp_log(*args):
    if len(args) == 1:
        return mpmath.log(args[0])
    return mpmath.log(args[0]) / mpmath.log(args[1])


def evaluate(expr, point: dict, digits: int = DIGITS):
    """`expr` at `point` ({symbol: number}) in `digits`-digit arithmetic (mpmath), visiting
    each distinct subexpression once.  Object arrays are evaluated elementwise."""
    if isinstance(expr, np.ndarray):
        out = np.empty(expr.shape, dtype=object)
        for index in np.ndindex(*expr.shape):
            out[index] = evaluate(expr[index], point, digits)
        return out
    if not isinstance(expr, sympy.Basic):
        expr = sympy.sympify(expr)
    with mpmath.workdps(digits + 10):
        values = {s: mpmath.mpf(v) if not isinstance(v, mpmath.mpf) else v for s, v in point.items()}
        memo: dict = {}
        keep = []
        stack = [(expr, False)]
        while stack:
            node, ready = stack.pop()
            key = id(node)
            if key in memo:
                continue
            if not ready and node.args and not node.is_Number:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if id(a) not in memo)
                continue
            keep.append(node)
            memo[key] = _mp_node(node, [memo[id(a)] for a in node.args] if node.args else [], values)
        result = memo[id(expr)]
    return result


def _mp_node(node, args, values):
    if node.is_Symbol:
        try:
            return values[node]
        except KeyError:
            raise Unsupported(f"no value for symbol {node}") from None
    if node.is_Integer:
        return mpmath.mpf(int(node))
    if node.is_Rational:
        return mpmath.mpf(int(node.p)) / int(node.q)
    if node.is_Float:
        return mpmath.mpf(node)
    if node is sympy.nan:
        return mpmath.nan
    if node.is_Add:
        return mpmath.fsum(args)
    if node.is_Mul:
        return mpmath.fprod(args)
    if node.is_Pow:
        base, power = args
        if node.args[1].is_Integer:
            return base ** int(node.args[1])
        return mpmath.power(base, power)
    if isinstance(node, sympy.log):
        return _mp_log(*args)
    fn = _MP_FUNCTIONS.get(node.func)
    if fn is not None:
        return fn(*args)
    if not node.args or not node.free_symbols:
        value = node.evalf(mpmath.mp.dps)
    else:
        value = node.func(*[sympy.Float(a, mpmath.mp.dps) if not isinstance(a, mpmath.mpc)
                            else sympy.Float(a.real, mpmath.mp.dps) + sympy.I * sympy.Float(a.imag, mpmath.mp.dps)
                            for a in args]).evalf(mpmath.mp.dps)
    re, im = value.as_real_imag()
    if im != 0:
        return mpmath.mpc(mpmath.mpf(re.evalf(mpmath.mp.dps)), mpmath.mpf(im.evalf(mpmath.mp.dps)))
    if not re.is_number or re.has(sympy.zoo, sympy.nan):
        raise Unsupported(f"cannot evaluate {node.func}")
    return mpmath.mpf(sympy.Float(re, mpmath.mp.dps))


def _finite(value) -> bool:
    try:
        return bool(mpmath.isfinite(value))
    except TypeError:
        return False


def relative_error(a, b) -> float:
    """|a - b| / max(|a|, |b|) (0 when both are 0), as a float."""
    diff = abs(a - b)
    scale = max(abs(a), abs(b))
    if scale == 0:
        return 0.0
    return float(diff / scale)


def agrees(a, b, rel_tol: float = REL_TOL) -> bool:
    diff = abs(a - b)
    return diff <= ABS_TOL or diff <= rel_tol * max(abs(a), abs(b))


def nearby_points(point: dict, count: int = N_RANDOM_POINTS, scale: float = PERTURBATION,
                  seed: int = SEED) -> list[dict]:
    """`count` points near `point`, each coordinate moved by a relative `scale` (absolute when 0)."""
    rng = random.Random(seed)
    out = []
    symbols = sorted(point, key=lambda s: s.name)
    for _ in range(count):
        p = {}
        for s in symbols:
            v = mpmath.mpf(point[s])
            u = mpmath.mpf(rng.uniform(-1.0, 1.0))
            p[s] = v * (1 + scale * u) if v != 0 else scale * u
        out.append(p)
    return out


def _as_list(value):
    if isinstance(value, np.ndarray):
        return [value[i] for i in np.ndindex(*value.shape)]
    return [value]


def _as_indices(value):
    if isinstance(value, np.ndarray):
        return list(np.ndindex(*value.shape))
    return [()]


class _Timeout(Exception):
    pass


def with_time_limit(fn, seconds: float):
    """fn() under a time limit (SIGALRM, main thread only); None when it ran out of time or
    cannot be limited (then it is not run at all)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return None

    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    except _Timeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_timer[0] > 0:
            signal.setitimer(signal.ITIMER_REAL, max(old_timer[0] - seconds, 1e-3), old_timer[1])


def small_enough_for_simplify(*exprs) -> bool:
    for e in exprs:
        e = sympy.sympify(e)
        if tree_size(e, EXACT_MAX_NODES) > EXACT_MAX_NODES:
            return False
        if sympy.count_ops(e) > EXACT_MAX_OPS:
            return False
    return True


def simplified_difference(a, b, seconds: float = EXACT_SECONDS):
    """simplify(a - b) when cheap, under a time limit; None when not attempted or too slow."""
    a, b = sympy.sympify(a), sympy.sympify(b)
    if a is b:
        return sympy.Integer(0)
    if not small_enough_for_simplify(a, b):
        return None
    if a == b:
        return sympy.Integer(0)
    difference = a - b
    if difference == 0:
        return sympy.Integer(0)
    try:
        return with_time_limit(lambda: sympy.simplify(difference), seconds)
    except Exception:          # simplify gives up in many ways; the numerical comparison remains
        return None


def compare_expressions(derived, reference, points: list[dict], rel_tol: float = REL_TOL):
    """(method or None, max relative error, first disagreeing point or None).

    method: "exact" (simplify(derived - reference) == 0) or "numeric" (agreement to `rel_tol`
    at every evaluable point); None when they differ."""
    derived_list, reference_list = _as_list(derived), _as_list(reference)
    if len(derived_list) != len(reference_list):
        return None, math.inf, None
    exact_ok = len(derived_list) <= EXACT_MAX_ELEMENTS
    for g, d in (zip(derived_list, reference_list) if exact_ok else ()):
        diff = simplified_difference(g, d)
        if diff is None or diff != 0:
            exact_ok = False
            break
    if exact_ok:
        return "exact", 0.0, None
    worst = 0.0
    evaluated = 0
    for p in points:
        try:
            for g, d in zip(derived_list, reference_list):
                gv, dv = evaluate(g, p), evaluate(d, p)
                if not (_finite(gv) and _finite(dv)):
                    raise Undefined("not finite")
                worst = max(worst, relative_error(gv, dv))
                if not agrees(gv, dv, rel_tol):
                    return None, worst, p
        except (Undefined, ZeroDivisionError, ValueError, OverflowError):
            continue
        evaluated += 1
    if evaluated == 0:
        return None, math.inf, None
    return "numeric", worst, None


# ------------------------------------------------------------------- report

def short(expr, limit: int = 400) -> str:
    """`str(expr)` when it is short, else a summary (printing large DAGs is exponential)."""
    if isinstance(expr, np.ndarray) and expr.ndim > 1:
        text = "[" + ", ".join(short(row, limit) for row in expr) + "]"
        return text if len(text) <= limit * 2 else f"<array of {expr.size} expressions>"
    if isinstance(expr, np.ndarray):
        parts = [short(e, limit) for e in expr.flat]
        text = "[" + ", ".join(parts) + "]"
        return text if len(text) <= limit * 2 else f"<array of {expr.size} expressions>"
    if isinstance(expr, sympy.Basic):
        size = tree_size(expr, 600)
        if size > 600:
            return f"<expression with more than 600 nodes>"
    text = str(expr)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class GradientCheck:
    """One wrt input: the derived gradient, SymPy's derivative, and how they compared."""
    name: str
    ok: bool
    method: str              # "exact", "numeric", or "" when they differ
    derived: object          # the adjoint's gradient, symbolically (expression or object array)
    sympy: object            # SymPy's derivative of the symbolic primal
    max_error: float         # largest relative difference seen (0.0 when proved exactly)
    where: dict | None = None    # a point at which they differ
    derived_value: object = None
    sympy_value: object = None
    rel_tol: float = REL_TOL     # the agreement required of "numeric"

    @property
    def verdict(self) -> str:
        if not self.ok:
            return f"MISMATCH (relative error {self.max_error:.3g})"
        if self.method == "exact":
            return "proved exactly (simplify(derived - SymPy) == 0)"
        if self.rel_tol > REL_TOL:
            return (f"verified numerically to a relative {self.rel_tol:g} (some constants are known only "
                    f"as doubles; max rel. error {self.max_error:.1e} at {1 + N_RANDOM_POINTS} points)")
        return (f"proved numerically ({DIGITS} digits, {1 + N_RANDOM_POINTS} points, "
                f"max rel. error {self.max_error:.1e})")


@dataclass
class VerificationReport:
    function: str
    params: list
    args: tuple
    wrt: list
    entries: list = field(default_factory=list)
    primal_check: str = ""
    primal_ok: bool = True
    value_ok: bool = True
    value_detail: str = ""
    unsupported: str | None = None
    undefined: str | None = None
    rounded_constants: bool = False
    primal: object = None        # the symbolic primal value V
    symbols: dict = field(default_factory=dict)
    point: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.unsupported is None and self.undefined is None and self.primal_ok and self.value_ok
                and all(e.ok for e in self.entries))

    @property
    def by_name(self) -> dict:
        return {e.name: e for e in self.entries}

    def _call(self) -> str:
        args = ", ".join(f"{p}={_show_arg(a)}" for p, a in zip(self.params, self.args))
        return f"{self.function}({args})"

    def __str__(self) -> str:
        lines = []
        if self.unsupported is not None:
            lines.append(f"verification of {self.function}: unsupported -- {self.unsupported}")
            return "\n".join(lines)
        if self.undefined is not None:
            lines.append(f"verification of {self.function}: {self.function} is undefined at "
                         f"{self._call()} -- {self.undefined}")
            return "\n".join(lines)
        head = "verified against SymPy" if self.ok else "VERIFICATION FAILED"
        lines.append(f"{head}: {self._call()}")
        for e in self.entries:
            lines.append(f"  d{self.function}/d{e.name}: {e.verdict}")
            lines.append(f"    SymPy:   {short(e.sympy)}")
            if not e.ok:
                lines.append(f"    derived: {short(e.derived)}")
                if e.where is not None:
                    lines.append(f"    at {_show_point(e.where)}: derived = {_show_value(e.derived_value)}, "
                                 f"SymPy = {_show_value(e.sympy_value)}")
        if not self.value_ok:
            lines.append(f"  value: MISMATCH -- {self.value_detail}")
        lines.append(f"  primal: {self.primal_check}")
        return "\n".join(lines)

    def raise_if_failed(self) -> "VerificationReport":
        if self.undefined is not None:
            raise ArgumentError(f"{self.function}: undefined at these arguments ({self.undefined})",
                                hint="the function or its derivative is undefined here")
        if not self.ok:
            raise VerificationError(str(self))
        return self


def _show_arg(value) -> str:
    if isinstance(value, np.ndarray):
        text = " ".join(np.array2string(value, precision=6, threshold=8).split())
        return text if len(text) < 60 else f"<array of shape {value.shape}>"
    return repr(value)


def _show_value(value) -> str:
    if value is None:
        return "?"
    try:
        return mpmath.nstr(value, 15)
    except Exception:
        return str(value)


def _show_point(point: dict) -> str:
    return ", ".join(f"{s}={mpmath.nstr(v, 15)}" for s, v in sorted(point.items(), key=lambda kv: kv[0].name))


# --------------------------------------------------------------------- main

def _symbolic_run(state, args):
    """(V, returns, symbols, point, primal env) -- raises Unsupported / Undefined."""
    primal_result, primal_env, symbols, point = execute(state.primal, args)
    adjoint_results, _, _, _ = execute(state.adjoint, args, returns=True, types=state.primal.types)
    return primal_result, adjoint_results, symbols, point, primal_env


def _numbers(value) -> list:
    if isinstance(value, np.ndarray):
        return [float(v) for v in value.ravel()]
    if isinstance(value, (tuple, list)):
        return [float(v) for v in value]
    return [float(value)]


def primal_against_function(primal: SV, point: dict, fn, args) -> tuple[bool, str]:
    """Compare the symbolic primal at the call's point with the user's function there."""
    if fn is None:
        return True, ("symbolic value not compared with the Python function "
                      "(it was not executed; skipped)")
    try:
        call_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        expected = _numbers(fn(*call_args))
    except Exception as exc:   # the user's own function raised: nothing to compare with
        return True, f"symbolic value not compared: calling {getattr(fn, '__name__', 'fn')} raised {exc!r}"
    got = [float(v) for v in _as_list(evaluate(primal.expr, point))]
    name = getattr(fn, "__name__", "fn")
    if len(got) != len(expected):
        return False, f"symbolic value has {len(got)} element(s), {name}(...) returned {len(expected)}"
    for g, e in zip(got, expected):
        if not math.isclose(g, e, rel_tol=PRIMAL_REL_TOL, abs_tol=1e-12):
            return False, (f"MISMATCH: the symbolic primal gives {g!r} but {name}(...) returns {e!r} "
                           "(the lowering changed the function)")
    shown = got[0] if len(got) == 1 else f"{len(got)} values"
    return True, f"symbolic value {shown!r} equals {name}(...) (rel. 1e-9)"


RECURSION_LIMIT = 12_000     # SymPy recurses over the nesting depth of expressions (long loops)


class deep_recursion:
    """Context manager: a recursion limit high enough for deeply nested expressions."""

    def __enter__(self):
        self.previous = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.previous, RECURSION_LIMIT))
        return self

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.previous)
        return False


def verify_gradient(state, args, fn=None) -> VerificationReport:
    """Prove the adjoint program of `state` equal to SymPy's derivative at `args` (see module doc)."""
    with deep_recursion():
        try:
            return _verify_gradient(state, args, fn)
        except RecursionError:
            report = VerificationReport(state.primal.name, list(state.primal.params), tuple(args),
                                        list(state.wrt))
            report.unsupported = "the expressions are nested too deeply for SymPy (a very long loop?)"
            return report


def _verify_gradient(state, args, fn=None) -> VerificationReport:
    primal = state.primal
    args = tuple(args)
    report = VerificationReport(primal.name, list(primal.params), args, list(state.wrt))
    inexact_before = _INEXACT_SEEN[0]
    try:
        V, returns, symbols, point, _ = _symbolic_run(state, args)
    except Unsupported as exc:
        report.unsupported = str(exc)
        return report
    except Undefined as exc:
        report.undefined = str(exc)
        return report
    report.primal, report.symbols, report.point = V.expr, symbols, point
    points = [point] + nearby_points(point)
    # a constant known only as a double (folded in double precision, say) limits the agreement
    # to be expected; REL_TOL otherwise
    report.rounded_constants = _INEXACT_SEEN[0] > inexact_before
    rel_tol = ROUNDED_REL_TOL if report.rounded_constants else REL_TOL

    with_value = getattr(state, "with_value", True)
    value, grads = (returns[0], returns[1:]) if with_value else (None, returns)
    if len(grads) != len(state.wrt):
        report.value_ok = False
        report.value_detail = f"the adjoint returns {len(grads)} gradient(s) for {len(state.wrt)} wrt name(s)"
        return report
    if value is not None:
        method, err, where = compare_expressions(value.expr, V.expr, points, rel_tol)
        if method is None:
            report.value_ok = False
            report.value_detail = (f"the gradient program's value differs from the primal's "
                                   f"(max rel. error {err:.3g})")

    for name, G in zip(state.wrt, grads):
        sym = symbols.get(name)
        if sym is None:
            report.unsupported = f"{name!r} has no symbol (not a float parameter)"
            return report
        if isinstance(sym, np.ndarray):
            if isinstance(V.expr, np.ndarray):
                report.unsupported = "gradients of array-valued functions"
                return report
            D = np.empty(sym.shape, dtype=object)
            for index in np.ndindex(*sym.shape):
                D[index] = derivative(V.expr, sym[index])
        else:
            if isinstance(V.expr, np.ndarray):
                report.unsupported = "gradients of array-valued functions"
                return report
            D = derivative(V.expr, sym)
        derived = G.expr
        if isinstance(D, np.ndarray) and not isinstance(derived, np.ndarray):
            derived = np.full(D.shape, derived, dtype=object)   # a broadcast zero, say
        method, err, where = compare_expressions(derived, D, points, rel_tol)
        check = GradientCheck(name, method is not None, method or "", derived, D, err, where,
                              rel_tol=rel_tol)
        if where is not None:
            check.derived_value = evaluate(derived, where) if not isinstance(derived, np.ndarray) else None
            check.sympy_value = evaluate(D, where) if not isinstance(D, np.ndarray) else None
        report.entries.append(check)

    report.primal_ok, report.primal_check = primal_against_function(V, point, fn, args)
    return report
