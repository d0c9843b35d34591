"""Printed: the generated module's text run on one instance, so that what is proved is the code
the user runs, printer included.

Takes: the module text (`state.text`), the name of its gradient function, and
one instance's parameter values as the symbolic executor made them (SVs
over the instance's symbols).  Guarantees:

* `run_printed` executes the text as Python (what `jit=False` runs) with
  `math` and `numpy` replaced by stand-ins that apply the rule table to
  `Dual` numbers (floats that carry their SymPy expression), `float(x)`
  keeping a Dual a Dual, and every float literal read as the exact number
  it stands for (as the IR run reads constants); float parameters are passed as Duals over the same
  symbols the IR run uses, so the module's results are SymPy expressions
  comparable with SymPy's derivative; the results come back as SVs;
* `run_printed_numbers` executes the same text on plain numbers (real `math`
  and `numpy`), to tell a defect of the text (it fails on numbers too) from a
  construct the Dual stand-ins cannot follow;
* exceptions: `ProgramError` when the text fails on numbers where the IR
  program ran (it is wrong on this instance), `Unsupported` when only the
  symbolic run fails.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import math

import numpy as np

from ..rules import PRIMITIVES, USER_FUNCTIONS
from .forms import exact
from .limits import ProgramError, Undefined, Unsupported
from .symbolic import _DUAL_NUMPY, Dual, apply_scalar, dual_extremum, from_dual, to_dual
from .. import syntax

_CODE: dict = {}


def _apply(prim_name: str, args):
    out = apply_scalar(PRIMITIVES[prim_name], [Dual.of(a) for a in args])
    return out.num if PRIMITIVES[prim_name].nondiff else Dual(out.expr, out.num)


class _DualMath:
    """`math` for the printed module: its functions apply the rule table when given Duals."""

    def __getattr__(self, name):
        real = getattr(math, name)
        prim = USER_FUNCTIONS.get(("math", name))
        if prim is None or not callable(real):
            return real

        def call(*args):
            if any(isinstance(a, Dual) for a in args):
                return _apply(prim, args)
            return real(*args)
        return call


_DUAL_MATH = _DualMath()


def _float(value=0.0):
    return value if isinstance(value, Dual) else builtins.float(value)


def _importer(symbolic: bool):
    real_import = builtins.__import__

    def load(name, globals=None, locals=None, fromlist=(), level=0):
        if symbolic and name == "math":
            return _DUAL_MATH
        if symbolic and name == "numpy":
            return _DUAL_NUMPY
        return real_import(name, globals, locals, fromlist, level)
    return load


class _ExactLiterals(ast.NodeTransformer):
    """Every float literal `c` becomes `_exact_literal(c)`: a Dual holding the exact number `c`
    stands for (see `forms.exact`), so that arithmetic on literals is exact, as in the IR run."""

    def visit_Constant(self, node):
        if type(node.value) is float:
            return ast.copy_location(ast.Call(ast.Name("_exact_literal", ast.Load()), [node], []), node)
        return node


def _exact_literal(value: float) -> Dual:
    return Dual(exact(value), value)


def _function(text: str, name: str, symbolic: bool):
    key = (hashlib.sha256(text.encode()).hexdigest(), symbolic)
    code = _CODE.get(key)
    if code is None:
        tree = syntax.parse(text)
        if symbolic:
            tree = ast.fix_missing_locations(_ExactLiterals().visit(tree))
        code = syntax.compile_code(tree, f"<generated module {name}>", "exec")
        _CODE[key] = code
    scope = dict(vars(builtins))
    scope["__import__"] = _importer(symbolic)
    if symbolic:
        scope["float"] = _float
        scope["_exact_literal"] = _exact_literal
    namespace = {"__builtins__": scope, "__name__": f"autodiff_compiler_verified.{name}"}
    exec(code, namespace)
    if symbolic:
        # the runtime helpers for max/min along an axis: ties split evenly, as the IR run does
        for helper in ("amax_axis0", "amax_axis1", "amin_axis0", "amin_axis1"):
            if helper in namespace:
                namespace[helper] = lambda matrix, helper=helper: dual_extremum(helper[:4], matrix, int(helper[-1]))
        # sums along an axis, on object arrays (the helpers start from a float array)
        for helper, axis in (("sum_axis0", 0), ("sum_axis1", 1)):
            if helper in namespace:
                namespace[helper] = lambda matrix, axis=axis: np.sum(matrix, axis=axis)
        # a helper that computes a primitive by a series: the primitive itself, on Duals
        if "polygamma_scalar" in namespace:
            real = namespace["polygamma_scalar"]
            namespace["polygamma_scalar"] = lambda n, x, real=real: _apply("polygamma", (n, x)) \
                if isinstance(x, Dual) else real(n, x)
    return namespace[name]


def _as_tuple(result, count: int) -> tuple:
    return tuple(result) if count > 1 else (result,)


def run_printed(text: str, name: str, inputs: list, count: int) -> tuple:
    """The module's results (`count` of them) as SVs, run on Duals; raises Unsupported/Undefined."""
    fn = _function(text, name, symbolic=True)
    values = [to_dual(v).copy() if isinstance(to_dual(v), np.ndarray) else to_dual(v) for v in inputs]
    try:
        with np.errstate(all="raise"):
            result = fn(*values)
    except (Undefined, Unsupported):
        raise
    except (ZeroDivisionError, FloatingPointError, OverflowError) as exc:
        raise Undefined(f"the printed module: {exc}") from None
    except Exception as exc:
        raise Unsupported(f"the printed module, run symbolically: {type(exc).__name__}: {exc}") from None
    return tuple(from_dual(r) for r in _as_tuple(result, count))


def run_printed_numbers(text: str, name: str, inputs: list, count: int) -> tuple:
    """The module's results on plain numbers; raises ProgramError when the text fails."""
    fn = _function(text, name, symbolic=False)
    values = [v.num.copy() if isinstance(v.num, np.ndarray) else v.num for v in inputs]
    try:
        with np.errstate(all="ignore"):
            result = fn(*values)
    except Exception as exc:
        raise ProgramError(f"the printed module raises {type(exc).__name__}: {exc}") from None
    return _as_tuple(result, count)
