"""Symbolic values, and every primitive of the rule table applied to them.

Takes: operands as `SV`s -- a SymPy expression (or an object array of them)
paired with its number at the instance -- and a primitive name from
`rules.PRIMITIVES` with its static keyword data.  Guarantees:

* `apply` gives the primitive's result as an `SV` whose number is what the
  generated code computes and whose expression is the rule table's `sympy`
  form applied to the operands' expressions (kinks resolved on the side the
  numbers lie on, see `forms.resolve_kinks`); non-differentiable scalar
  primitives give constants;
* array primitives without an elementwise SymPy form (reductions, `dot`,
  reshapes, array creation, the runtime helpers) are applied by evaluating
  the printer's own spelling of the primitive on object arrays of `Dual`
  numbers -- floats that carry their SymPy expression, whose arithmetic
  applies the rule table and whose comparisons compare the numbers -- so
  values and expressions are computed by the very NumPy calls the generated
  code makes;
* `np.max`/`np.min` (and their axis forms) split a tie evenly among the tied
  entries, the rule table's convention for their adjoints (the expression
  is the mean of the tied entries: the same value, derivative 1/k each);
* `apply_numeric` computes the same number without any expression, for
  numeric runs of a program (see `executor.dry_run`);
* a primitive with no symbolic form raises `Unsupported` naming it; a domain
  error raises `Undefined`.
"""
from __future__ import annotations

import math
import operator

import numpy as np
import sympy
from sympy.core.operations import AssocOp

from ..rules import ELEMENTWISE_RESULTS, PRIMITIVES, USER_FUNCTIONS
from .forms import _DUMMIES, _template, exact, resolve_kinks, sympy_lambda
from .limits import BIG_NODES, ProgramError, Undefined, Unsupported
from .. import syntax


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
            return SV(None if self.expr is None else self.expr.copy(), self.num.copy())
        return self

    def __repr__(self) -> str:
        return f"SV({self.expr!r}, {self.num!r})"


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


def const_value(value) -> SV:
    return SV(exact(value), value)


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
    # every construction: on large expressions build the nodes as they are.  (Switching
    # `evaluate` clears SymPy's cache: only large expressions pay for it.)
    if big:
        expr = _unevaluated(smooth if kinked else template, dict(zip(_DUMMIES, exprs)))
        return SV(expr, num, True)
    if kinked:
        return SV(smooth.xreplace(dict(zip(_DUMMIES, exprs))), num)
    return SV(sympy.sympify(sympy_lambda(prim.sympy)(*exprs)), num)


def _unevaluated(template, mapping: dict):
    """`template` with its dummies replaced, every node built as it is: no evaluation, and no
    trip through SymPy's cache, whose lookups compare large DAGs as trees (exponential).  (The
    other way, switching SymPy's global `evaluate`, clears that cache on every primitive.)"""
    if template in mapping:
        return mapping[template]
    if not template.args or template.is_Number:
        return template
    args = tuple(_unevaluated(a, mapping) for a in template.args)
    func = template.func
    if issubclass(func, AssocOp):
        return func._from_args(args, is_commutative=True)
    if issubclass(func, sympy.Pow):
        node = sympy.Expr.__new__(func, *args)
        node.is_commutative = True          # what Pow.__new__ sets (real numbers commute)
        return node
    if issubclass(func, sympy.Expr):
        return sympy.Expr.__new__(func, *args)
    return func(*args)




def apply(prim_name: str, args: list, params: tuple = ()) -> SV:
    """Apply a primitive to SVs: scalars through `apply_scalar`, elementwise primitives element by
    element, everything else (reductions, dot, shapes, array creation) by evaluating the printer's
    own spelling of the primitive on arrays of `Dual` numbers."""
    prim = PRIMITIVES.get(prim_name)
    if prim is None:
        raise Unsupported(f"primitive {prim_name!r} is not in the rule table")
    arrays = any(a.is_array for a in args)
    if prim.name in _EXTREMA and len(args) == 1 and args[0].is_array and not params:
        return _extremum(prim.name, args[0])
    if prim.name in ("amax_axes", "amin_axes") and args[0].is_array:
        return _extremum_axes(prim.name[:4], args[0], dict(params))
    if prim.evaluate is not None and not params:
        if not arrays:
            return apply_scalar(prim, args)
        if prim.result in ELEMENTWISE_RESULTS:
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
    def __int__(self): return int(self.num)
    def __floor__(self): return math.floor(self.num)
    def __ceil__(self): return math.ceil(self.num)
    def __trunc__(self): return math.trunc(self.num)

    def __getattr__(self, name):
        # NumPy ufuncs on object arrays call the method of the same name (np.sin -> x.sin())
        if name.startswith("_"):
            raise AttributeError(name)
        if name in ("sum", "mean", "prod", "max", "min"):
            # np.sum(x) of a scalar calls x.sum(axis=None, ...): a reduction of one number is it
            return lambda *args, **kwargs: self
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

    # np.max / np.min of a whole array: a tie split evenly, as `apply` does (see `_extremum`)
    max = amax = staticmethod(lambda a, axis=None, **kw: dual_extremum("amax", a, axis))
    min = amin = staticmethod(lambda a, axis=None, **kw: dual_extremum("amin", a, axis))

    def __getattr__(self, name):
        return getattr(np, name)


class _DualLinalg:
    """`np.linalg` on arrays of Duals: SymPy's matrix algebra on the expressions, NumPy's on the numbers."""

    @staticmethod
    def _split(array):
        values = np.asarray(array, dtype=object)
        nums = np.array([float(v.num) if isinstance(v, Dual) else float(v) for v in values.flat]).reshape(values.shape)
        exprs = [v.expr if isinstance(v, Dual) else exact(v) for v in values.flat]
        return sympy.Matrix(*values.shape, exprs) if values.ndim == 2 else sympy.Matrix(exprs), nums

    @staticmethod
    def _join(matrix, nums):
        out = np.empty(nums.shape, dtype=object)
        flat = list(matrix) if nums.ndim else [matrix]
        for index, expr, num in zip(np.ndindex(*nums.shape), flat, nums.flat):
            out[index] = Dual(expr, float(num))
        return out

    def det(self, a):
        matrix, nums = self._split(a)
        return Dual(matrix.det(method="berkowitz"), float(np.linalg.det(nums)))

    def slogdet(self, a):
        matrix, nums = self._split(a)
        sign, logdet = np.linalg.slogdet(nums)
        return float(sign), Dual(sympy.log(sign * matrix.det(method="berkowitz")), float(logdet))

    def inv(self, a):
        matrix, nums = self._split(a)
        return self._join(matrix.inv(), np.linalg.inv(nums))

    def solve(self, a, b):
        matrix, nums = self._split(a)
        rhs, rhs_nums = self._split(b)
        return self._join(matrix.inv() * rhs, np.linalg.solve(nums, rhs_nums))

    def __getattr__(self, name):
        return getattr(np.linalg, name)


_DualNumPy.linalg = _DualLinalg()


def dual_extremum(name: str, array, axis=None):
    """`name` (amax, amin) of an array of Duals, whole or along `axis`, as `apply` computes it."""
    values = np.asarray(array, dtype=object)
    if values.dtype == object and values.ndim and any(isinstance(v, Dual) for v in values.flat):
        nums = np.array([float(v.num) if isinstance(v, Dual) else float(v) for v in values.flat]).reshape(values.shape)
        exprs = np.array([v.expr if isinstance(v, Dual) else exact(v) for v in values.flat],
                         dtype=object).reshape(values.shape)
        return to_dual(_extremum(name, SV(exprs, nums), axis))
    reduce = np.max if name.startswith("amax") else np.min
    return reduce(np.asarray(array), axis=None if axis is None else axis)


_DUAL_NUMPY = _DualNumPy()
_NAMESPACES: dict = {}
_BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "**": "pow", "%": "mod", "//": "floordiv",
           "@": "matmul", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne",
           "&": "and_", "|": "or_"}


def _spelling_namespace(numeric: bool = False) -> dict:
    """Globals for evaluating a spelling: `np` (Dual-aware unless `numeric`), `math`, and the
    runtime helpers the printer copies into generated modules."""
    namespace = _NAMESPACES.get(numeric)
    if namespace is None:
        import inspect
        from ..backend import runtime
        numpy = np if numeric else _DUAL_NUMPY
        namespace = {"np": numpy, "numpy": numpy, "math": math, "__name__": "verify_runtime"}
        helpers = [name for name, value in vars(runtime).items() if inspect.isfunction(value)]
        source = "\n\n".join(runtime.SOURCES.get(name) or inspect.getsource(getattr(runtime, name))
                               for name in helpers)
        exec(syntax.compile_code(source, "<runtime helpers>", "exec"), namespace)
        namespace["np"] = numpy
        # the careful rerun's mark of a structural zero (`backend.strong_zero`): of the value, the value
        namespace["structural"] = lambda value: value
        _NAMESPACES[numeric] = namespace
    return namespace


def spelling_of(prim, arrays: bool, params: tuple = (), count: int | None = None) -> str:
    """How the printer spells `prim` for scalar or array operands."""
    return prim.spelling(arrays, params, count)


def _spell(prim, values: list, params: tuple, arrays: bool, numeric: bool):
    """The printer's spelling of `prim` evaluated on `values` (Duals, or plain numbers)."""
    symbol = spelling_of(prim, arrays, params, len(values))
    keywords = dict(params)
    try:
        with np.errstate(all="raise"):
            if "{" in symbol:
                names = [f"_a{i}" for i in range(len(values))]
                local = dict(zip(names, values))
                local.update({f"_k_{k}": v for k, v in keywords.items()})
                code = symbol.format(*names, rest=", ".join(names[1:]), args=", ".join(names),
                                     **{k: f"_k_{k}" for k in keywords})
                return eval(code, _spelling_namespace(numeric), local)
            if symbol == "":
                return values[0]
            if symbol in ("not", "~"):
                return np.logical_not(values[0]) if arrays else not values[0]
            if symbol == "-" and len(values) == 1:
                return -values[0]
            if symbol in _BINARY and len(values) == 2:
                return getattr(operator, _BINARY[symbol])(values[0], values[1])
            return eval(symbol, _spelling_namespace(numeric))(*values, **keywords)
    except (ZeroDivisionError, FloatingPointError) as exc:
        raise Undefined(f"{prim.name}: {exc}") from None
    except (Undefined, Unsupported):
        raise
    except AssertionError:
        # an `assert` of the program (the user's, or a shape check of the lowering) does not hold:
        # the program is not defined at these arguments
        raise Undefined(f"{prim.name}: an assertion of the program does not hold") from None
    except Exception as exc:
        text = f"primitive {prim.name!r} ({symbol}) on these operands: {type(exc).__name__}: {exc}"
        if numeric:
            raise ProgramError(text) from None
        raise Unsupported(text) from None


def _by_spelling(prim, args: list, params: tuple) -> SV:
    arrays = any(a.is_array for a in args)
    return from_dual(_spell(prim, [to_dual(a) for a in args], params, arrays, numeric=False))


# ------------------------------------------------------------- max and min

_EXTREMA = {"amax": np.max, "amin": np.min}


def _extremum_axes(name: str, value: SV, params: dict) -> SV:
    """np.max / np.min along several axes (the reduced axes moved last and flattened into one),
    ties split as `_extremum` splits them; keepdims as the params say."""
    axes, keep, ndim = tuple(params["axes"]), params["keepdims"], params["ndim"]
    kept = [a for a in range(ndim) if a not in axes]
    perm = kept + list(axes)
    nums, exprs = np.transpose(value.num, perm), np.transpose(value.expr, perm)
    shape = nums.shape[:len(kept)]
    k = int(np.prod(nums.shape[len(kept):], dtype=np.int64))   # not -1: no groups at all is an empty result
    nums = nums.reshape(shape + (k,))
    exprs = exprs.reshape(shape + (k,))
    out = _extremum(name, SV(exprs, nums), len(kept))
    if keep:
        full = tuple(1 if a in axes else value.num.shape[a] for a in range(ndim))
        if not isinstance(out.num, np.ndarray):
            return SV(np.array([out.expr], dtype=object).reshape(full), np.array([out.num]).reshape(full))
        return SV(out.expr.reshape(full), out.num.reshape(full))
    return out


def _extremum(name: str, value: SV, axis=None) -> SV:
    """np.max / np.min (whole array or along an axis), a tie split evenly among the tied entries:
    the expression is the mean of the entries equal to the extremum."""
    reduce = _EXTREMA[name]
    nums, exprs = value.num, value.expr
    if axis is not None and axis >= nums.ndim:
        raise Unsupported(f"primitive {name!r} on an array of rank {nums.ndim}")
    if nums.size == 0:
        raise Undefined(f"{name} of an empty array")
    if axis is None:
        nums, exprs = nums.reshape(1, -1), exprs.reshape(1, -1)
    else:
        nums, exprs = np.moveaxis(nums, axis, -1), np.moveaxis(exprs, axis, -1)
    out_nums = reduce(nums, axis=-1)
    out_exprs = np.empty(out_nums.shape, dtype=object)
    for index in np.ndindex(*out_nums.shape):
        best = out_nums[index]
        tied = [e for n, e in zip(nums[index], exprs[index]) if n == best]
        if not tied:                        # NaN
            raise Undefined(f"{name} of an array holding NaN")
        out_exprs[index] = tied[0] if len(tied) == 1 else sympy.Add(*tied) / len(tied)
    if axis is None:
        return SV(out_exprs[0], float(out_nums[0]))
    return SV(out_exprs, out_nums.astype(float))


# ----------------------------------------------------------------- numbers

def apply_numeric(prim_name: str, nums: list, params: tuple = ()):
    """The number the generated code computes for `prim_name` on `nums` (no expression)."""
    prim = PRIMITIVES.get(prim_name)
    if prim is None:
        raise Unsupported(f"primitive {prim_name!r} is not in the rule table")
    arrays = any(isinstance(n, np.ndarray) for n in nums)
    if prim.evaluate is not None and not params and not arrays:
        try:
            return _numeric_result(prim.evaluate(*nums))
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            raise Undefined(f"{prim.name}{tuple(nums)}: {exc}") from None
        except TypeError as exc:
            raise ProgramError(f"primitive {prim.name!r} on {tuple(nums)}: {exc}") from None
    result = _spell(prim, list(nums), params, arrays, numeric=True)
    if isinstance(result, np.ndarray) and result.ndim == 0:
        result = result.item()
    elif isinstance(result, np.generic):
        result = result.item()
    elif isinstance(result, tuple):
        raise Unsupported("a tuple-valued primitive")
    return result
