"""Hand forms: a hand-derived gradient (a Python function or formula strings) as SymPy expressions.

Takes: the hand derivation given to `check_gradient` -- a Python function with
the checked function's parameters, or formula strings over its parameters
and local variables -- the SymPy symbols of those parameters, and the point
`at`.  Guarantees:

* `_hand_symbolically` gives one SymPy form per `wrt` name, by calling the
  hand function with SymPy symbols (its `math`/`numpy` functions and
  `min`/`max`/`abs` read as their SymPy counterparts from the rule table), or
  else by running it through the compiler's own front end and the symbolic
  executor (branches follow `at`); or None and the reasons, when it has no
  symbolic form (it is then compared on floats only);
* `parse_formula` reads a formula string; a local variable name stands for
  the last value the variable holds in the checked function at `at`
  (`user_locals`); unknown names are an `ArgumentError` naming them;
* kinks in a hand form follow the side taken at `at`, and its float
  literals are read as the exact numbers they stand for.
"""
from __future__ import annotations

import builtins
import math
import types

import mpmath
import numpy as np
import sympy
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

from ..errors import ArgumentError, AutodiffError
from ..ir import Var
from ..frontend.parse import Source, source_of_function
from ..rules import MODULE_CONSTANTS, PRIMITIVES, USER_FUNCTIONS
from .executor import Executor, symbolic_inputs
from .expressions import evaluate
from .forms import _KINKS, exact, resolve_kinks, sympy_lambda
from .limits import Undefined, Unsupported
from .symbolic import SV, tree_size

class _SymPyModule:
    """`math` or `numpy` as seen by a hand function called with SymPy symbols."""

    def __init__(self, module: str):
        self._module = module

    def __getattr__(self, attr):
        if (self._module, attr) in MODULE_CONSTANTS:
            return exact(MODULE_CONSTANTS[(self._module, attr)])
        prim = USER_FUNCTIONS.get((self._module, attr))
        if prim is not None and PRIMITIVES[prim].sympy is not None:
            return sympy_lambda(PRIMITIVES[prim].sympy)
        if self._module == "numpy" and attr in ("asarray", "array"):
            return lambda x, *a, **k: np.asarray(x, dtype=object)
        if self._module == "numpy" and attr in ("sum", "dot", "prod", "mean", "zeros_like", "ones_like"):
            return getattr(np, attr)
        value = getattr(sympy, attr, None)
        if value is None:
            raise AttributeError(f"{self._module}.{attr} has no SymPy counterpart")
        return value


def _builtin_counterpart(name: str):
    prim = USER_FUNCTIONS.get(("builtins", name))
    if prim is not None and PRIMITIVES[prim].sympy is not None:
        fn = sympy_lambda(PRIMITIVES[prim].sympy)
        if name in ("min", "max"):
            head = sympy.Min if name == "min" else sympy.Max
            return lambda *args: head(*args)
        return fn
    return None


def _symbolic_globals(fn) -> dict:
    import numpy
    namespace = dict(fn.__globals__)
    math_like = {id(math): _SymPyModule("math"), id(numpy): _SymPyModule("numpy")}
    by_object = {}
    for (module, attr), prim in USER_FUNCTIONS.items():
        modules = {"math": math, "numpy": numpy, "builtins": builtins}
        target = getattr(modules[module], attr, None) if module in modules else None
        if target is not None and PRIMITIVES[prim].sympy is not None:
            by_object.setdefault(id(target), sympy_lambda(PRIMITIVES[prim].sympy))
    for name in _global_names(fn.__code__):
        if name in namespace:
            value = namespace[name]
            if id(value) in math_like:
                namespace[name] = math_like[id(value)]
            elif id(value) in by_object and callable(value):
                namespace[name] = by_object[id(value)]
            elif isinstance(value, float):
                namespace[name] = exact(value)
        else:
            counterpart = _builtin_counterpart(name)
            if counterpart is not None:
                namespace[name] = counterpart
    return namespace


def _global_names(code) -> set:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _call_with_symbols(hand, symbolic_args):
    """hand(*symbolic_args) with math/numpy/min/max/abs read as SymPy; raises if it cannot."""
    patched = types.FunctionType(hand.__code__, _symbolic_globals(hand), hand.__name__,
                                 hand.__defaults__, hand.__closure__)
    return patched(*symbolic_args)


def _to_sympy(value):
    """A hand function's result as SymPy (expression or object array); TypeError when not symbolic."""
    if isinstance(value, np.ndarray):
        out = np.empty(value.shape, dtype=object)
        for index in np.ndindex(*value.shape):
            out[index] = _to_sympy(value[index])
        return out
    if isinstance(value, (list, tuple)):
        return np.array([_to_sympy(v) for v in value], dtype=object)
    if isinstance(value, sympy.Basic):
        if isinstance(value, (sympy.logic.boolalg.Boolean, sympy.core.relational.Relational)) and not value.is_number:
            raise TypeError("a condition, not a number")
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return exact(value)
    raise TypeError(f"cannot read {type(value).__name__} as a number")


def _split(result, count: int, single: bool) -> list:
    if single and count == 1:
        if isinstance(result, tuple) and len(result) == 1:
            return [result[0]]
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != count:
        raise ArgumentError(f"the hand derivation returns {_describe(result)}; expected a tuple of {count} "
                            "gradients, one per wrt name, in order")
    return list(result)


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"{len(value)} value(s)"
    return "one value"


# -------------------------------------------------- symbolic forms of the hand derivation

def _resolve(expr, point: dict):
    """Kinks (Min, Max, Abs, ...) in a hand formula follow the side taken at `point`."""
    if isinstance(expr, np.ndarray):
        out = np.empty(expr.shape, dtype=object)
        for index in np.ndindex(*expr.shape):
            out[index] = _resolve(expr[index], point)
        return out
    if not isinstance(expr, sympy.Basic) or not expr.has(*_KINKS):
        return expr
    return resolve_kinks(expr, lambda e: float(mpmath.re(evaluate(e, point))))


def _lowered(source: Source):
    """The function lowered without SSA versioning: user variables keep their names."""
    from ..frontend.lower import Lowering
    from ..frontend.parse import fence
    fence(source)
    return Lowering(source).lower_function()


def _run_lowered(source: Source, args) -> tuple:
    """(result SVs -- a tuple for a tuple return --, env) of a function run symbolically."""
    function = _lowered(source)
    env, _, _ = symbolic_inputs(function, args)
    executor = Executor(env)
    executor.run_block(function.body)
    result_name = function.result.name if isinstance(function.result, Var) else None
    if result_name is not None and result_name not in env and f"{result_name}_0" in env:
        parts = []
        k = 0
        while f"{result_name}_{k}" in env:
            parts.append(env[f"{result_name}_{k}"])
            k += 1
        return tuple(parts), env, function
    return executor.operand(function.result), env, function


def user_locals(source: Source, args, params: list) -> dict:
    """{local variable name: SymPy value} -- the last value each local of `source` holds at `args`."""
    try:
        _, env, _ = _run_lowered(source, args)
    except (Unsupported, Undefined, AutodiffError):
        return {}
    from ..frontend.lower import identifiers
    names = identifiers(source.node) - set(params)
    out = {}
    for name in names:
        value = env.get(name)
        if isinstance(value, SV) and not value.is_array:
            out[name] = value.expr
    return out


_TRANSFORMATIONS = standard_transformations + (convert_xor,)


def parse_formula(text: str, wrt: str, params: list, symbols: dict, locals_: dict, point: dict):
    """A SymPy-parsable formula over f's parameters and locals, as an expression over the symbols."""
    namespace = {"math": _SymPyModule("math"), "np": _SymPyModule("numpy"), "numpy": _SymPyModule("numpy")}
    for name, expr in locals_.items():
        namespace[name] = expr
    for name in params:
        if name in symbols:
            namespace[name] = symbols[name]
    try:
        expr = parse_expr(text, local_dict=namespace, transformations=_TRANSFORMATIONS)
    except (SyntaxError, TypeError, ValueError, AttributeError, NameError) as exc:
        raise ArgumentError(f"cannot read the formula for {wrt}: {text!r} ({exc})",
                            hint="write a SymPy/Python expression over the function's parameters "
                                 "and local variables, e.g. '(y_hat - y)*x'") from None
    expr = _to_sympy(expr)
    known = set()
    for s in symbols.values():
        known.update(s.flat if isinstance(s, np.ndarray) else [s])
    unknown = sorted(str(s) for s in (expr.free_symbols if isinstance(expr, sympy.Basic) else set())
                     if s not in known)
    if unknown:
        raise ArgumentError(f"the formula for {wrt} ({text!r}) uses unknown name(s): {', '.join(unknown)}",
                            hint=f"use the parameters ({', '.join(params)})"
                                 + (f" or the local variables ({', '.join(sorted(locals_))})" if locals_ else ""))
    return _exact_floats(_resolve(expr, point))


def _brief(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(first) > 100:
        first = first[:97] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _exact_floats(expr):
    """Float literals of a hand formula read as the exact numbers they stand for (2.0 -> 2)."""
    if isinstance(expr, np.ndarray):
        out = np.empty(expr.shape, dtype=object)
        for index in np.ndindex(*expr.shape):
            out[index] = _exact_floats(expr[index])
        return out
    if not isinstance(expr, sympy.Basic) or tree_size(expr, 2000) > 2000:
        return expr
    floats = expr.atoms(sympy.Float)
    if not floats:
        return expr
    return expr.xreplace({f: exact(float(f)) for f in floats})


def _hand_symbolically(hand, params: list, args, symbols: dict, count: int, single: bool, point: dict):
    """(list of SymPy forms, how it was obtained) or (None, why not)."""
    symbolic_args = []
    for name, value in zip(params, args):
        symbolic_args.append(symbols.get(name, value))
    reasons = []
    if callable(hand):
        try:
            result = _call_with_symbols(hand, symbolic_args)
            forms = [_exact_floats(_resolve(_to_sympy(r), point)) for r in _split(result, count, single)]
            return forms, "called with SymPy symbols"
        except ArgumentError:
            raise
        except Exception as exc:      # math on symbols, `if` on a symbolic condition, ...
            reasons.append(f"calling it with SymPy symbols raised {_brief(exc)}")
    try:
        source = hand if isinstance(hand, Source) else source_of_function(hand)
        result, _, function = _run_lowered(source, args)
        hand_params = function.params
        rename = {sympy.Symbol(h, real=True): sympy.Symbol(p, real=True)
                  for h, p in zip(hand_params, params) if h != p}
        values = result if isinstance(result, tuple) else (result,)
        forms = []
        for sv in _split(values if len(values) > 1 else values[0], count, single):
            expr = sv.expr
            if rename:
                expr = np.vectorize(lambda e: e.xreplace(rename), otypes=[object])(expr) \
                    if isinstance(expr, np.ndarray) else expr.xreplace(rename)
            forms.append(expr)
        return forms, "executed symbolically by the compiler's front end"
    except ArgumentError:
        raise
    except Exception as exc:
        reasons.append(f"the compiler's front end could not run it: {_brief(exc)}")
    return None, "; ".join(reasons)


