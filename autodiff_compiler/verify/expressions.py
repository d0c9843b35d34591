"""Expressions: differentiate, evaluate in high precision, and compare, on large DAGs too.

Takes: SymPy expressions (or object arrays of them) as the symbolic executor
builds them -- shared subexpressions, nodes built without automatic
simplification when large -- and points ({symbol: number}).  Guarantees:

* `derivative(e, s)` is d e / d s: `sympy.diff` on small trees, the same
  chain rule applied once per distinct subexpression on large ones;
* `evaluate(e, point)` is e at the point in `DIGITS`-digit arithmetic
  (mpmath), visiting each distinct subexpression once;
* `compare_expressions(derived, reference, points)` says how two expressions
  (or arrays of them) were found equal: "exact" when `expand(a - b)` or
  `simplify(a - b)` is 0 (tried only when both are small -- simplify on
  smaller ones than expand -- each under a time limit), "numeric" when they
  agree to a relative `REL_TOL` at every point where both can be evaluated
  (at least one), None with the worst error and a disagreeing point when not;
* `short(e)` prints an expression, or a summary when printing would be long
  (printing a large DAG is exponential).
"""
from __future__ import annotations

import math
import random

import mpmath
import numpy as np
import sympy

from ..timelimit import limited
from . import limits
from .limits import (ABS_TOL, DIGITS, EXACT_MAX_ELEMENTS, EXACT_MAX_NODES, EXACT_MAX_OPS, EXACT_SECONDS,
                     EXPAND_SECONDS,
                     N_RANDOM_POINTS, PERTURBATION, REL_TOL, SEED, Undefined, Unsupported)
from .symbolic import tree_size

def derivative(expr, symbol):
    """d expr / d symbol: `sympy.diff` on small trees; on large ones the same chain rule applied
    once per distinct subexpression (SymPy's own `fdiff` for each function)."""
    expr = sympy.sympify(expr)
    if tree_size(expr, limits.SYMPY_DIFF_MAX_NODES) <= limits.SYMPY_DIFF_MAX_NODES:
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


def finite(value) -> bool:
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


def as_list(value):
    if isinstance(value, np.ndarray):
        return [value[i] for i in np.ndindex(*value.shape)]
    return [value]


def with_time_limit(fn, seconds: float):
    """fn() under a time limit (`timelimit.limited`); None when it ran out of time or cannot be
    limited (then it is not run at all)."""
    return limited(fn, seconds)


def small_enough_for_expand(*exprs) -> bool:
    return all(tree_size(sympy.sympify(e), EXACT_MAX_NODES) <= EXACT_MAX_NODES for e in exprs)


def few_enough_operations_for_simplify(*exprs) -> bool:
    """Asked only of trees `small_enough_for_expand` admitted: count_ops is exponential on DAGs."""
    return all(sympy.count_ops(sympy.sympify(e)) <= EXACT_MAX_OPS for e in exprs)


def simplified_difference(a, b, seconds: float = EXACT_SECONDS):
    """a - b in a simplest form found cheaply: 0 when `expand` makes it 0 (under EXPAND_SECONDS; for
    trees of up to EXACT_MAX_NODES nodes), else simplify(a - b) under `seconds` (when each side also
    has at most EXACT_MAX_OPS operations); None when not attempted or too slow.

    Why expand first: a gradient and SymPy's derivative are mostly the same products of the same
    function applications grouped differently (the chain rule's factors distributed or not), which
    expanding both sides makes identical in milliseconds, where simplify's trigonometric and
    factoring passes ran out of their 3 s on a two-layer tanh network (and the proof fell back to
    numbers).  A nonzero expansion is not returned: simplify's form is what a report prints."""
    a, b = sympy.sympify(a), sympy.sympify(b)
    if a is b:
        return sympy.Integer(0)
    if not small_enough_for_expand(a, b):
        return None
    if a == b:
        return sympy.Integer(0)
    difference = a - b
    if difference == 0:
        return sympy.Integer(0)
    try:
        if with_time_limit(lambda: sympy.expand(difference), EXPAND_SECONDS) == 0:
            return sympy.Integer(0)
    except Exception:          # noqa: BLE001 -- expand gives up in ways of its own: simplify may not
        pass
    if not few_enough_operations_for_simplify(a, b):
        return None
    try:
        return with_time_limit(lambda: sympy.simplify(difference), seconds)
    except Exception:          # simplify gives up in many ways; the numerical comparison remains
        return None


def compare_expressions(derived, reference, points: list[dict], rel_tol: float = REL_TOL,
                        try_exact: bool = True):
    """(method or None, max relative error, first disagreeing point or None).

    method: "exact" (simplify(derived - reference) == 0) or "numeric" (agreement to `rel_tol`
    at every evaluable point); None when they differ."""
    derived_list, reference_list = as_list(derived), as_list(reference)
    if len(derived_list) != len(reference_list):
        return None, math.inf, None
    if points:
        # a difference at the first point settles it without trying simplify()
        try:
            for g, d in zip(derived_list, reference_list):
                gv, dv = evaluate(g, points[0]), evaluate(d, points[0])
                if finite(gv) and finite(dv) and not agrees(gv, dv, rel_tol):
                    return None, relative_error(gv, dv), points[0]
        except (Undefined, Unsupported, ZeroDivisionError, ValueError, OverflowError, TypeError):
            pass
    exact_ok = try_exact and len(derived_list) <= EXACT_MAX_ELEMENTS
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
                if not (finite(gv) and finite(dv)):
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
            return "<expression with more than 600 nodes>"
    text = str(expr)
    return text if len(text) <= limit else text[:limit - 3] + "..."
