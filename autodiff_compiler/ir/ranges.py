"""Ranges: bounds on the float numbers a function's own constants and clamps give.

Takes: a lowered function's statements and their types.  Guarantees (`float_bounds`): a dict from
float variables (numbers, not arrays; no parameter) to (lo, hi) such that on every run every value
the variable holds that is not NaN lies in [lo, hi].  Flow-insensitive: a variable is bounded only
when exactly one statement in the whole function writes it, an assignment of a primitive below,
and its bound follows from its operands' (a constant's own value, a bounded variable's bound, any
other operand (-inf, inf)).  Sound by induction over a run: each value is made by that one
statement from values made earlier, and IEEE rounding is monotone, so rounding the bounds'
arithmetic as the run rounds its own keeps every result inside.  NaN escapes every bound, and
every reader (`python_errors.python_domain_holds`) must be one that NaN cannot trip.

What it knows: `copy`, `float`, `neg`, `abs`, `add`, `sub`, `mul`, `min`, `max`, `clip` -- enough
for a clamp, `min(max(p, eps), 1 - eps)`, and what is computed from it (`1 - p`).
"""
from __future__ import annotations

import math

from .nodes import Assign, Const, Var, walk, writes

_UNBOUNDED = (-math.inf, math.inf)


def float_bounds(body: list, types: dict, params=()) -> dict:
    """Float variable -> (lo, hi): see the module's docstring.  `params` are never bounded (a parameter
    assigned once still holds the caller's value before)."""
    writers: dict[str, list] = {name: [None, None] for name in params}
    for stmt in walk(body):
        for name in writes(stmt):
            writers.setdefault(name, []).append(stmt)
    candidates = {name: stmts[0] for name, stmts in writers.items()
                  if len(stmts) == 1 and isinstance(stmts[0], Assign) and stmts[0].prim in _RULES
                  and _is_float_number(types.get(name))}
    bounds: dict = {}
    changed = True
    while changed:                 # each pass bounds what its operands' bounds (now known) give
        changed = False
        for name, stmt in candidates.items():
            if name in bounds or any(isinstance(a, Var) and a.name in candidates and a.name not in bounds
                                     for a in stmt.args):
                continue
            bound = _RULES[stmt.prim](*[_operand(a, bounds) for a in stmt.args])
            bounds[name] = bound if not any(math.isnan(b) for b in bound) and bound[0] <= bound[1] else _UNBOUNDED
            changed = True
    return {name: b for name, b in bounds.items() if b != _UNBOUNDED}


def _is_float_number(t) -> bool:
    return t is not None and not t.is_array and t.kind == "float"


def _operand(operand, bounds: dict) -> tuple:
    if isinstance(operand, Const) and isinstance(operand.value, (int, float)):
        value = float(operand.value)
        return (value, value) if not math.isnan(value) else _UNBOUNDED
    if isinstance(operand, Var):
        return bounds.get(operand.name, _UNBOUNDED)
    return _UNBOUNDED


def _mul(a, b):
    products = [x * y for x in a for y in b]
    if any(math.isnan(p) for p in products):          # 0 * inf: no bound
        return _UNBOUNDED
    return min(products), max(products)


def _abs(a):
    lo, hi = a
    if lo >= 0:
        return a
    if hi <= 0:
        return -hi, -lo
    return 0.0, max(-lo, hi)


def _min(a, b):
    return min(a[0], b[0]), min(a[1], b[1])


def _max(a, b):
    return max(a[0], b[0]), max(a[1], b[1])


_RULES = {
    "copy": lambda a: a, "float": lambda a: a, "neg": lambda a: (-a[1], -a[0]), "abs": _abs,
    "add": lambda a, b: (a[0] + b[0], a[1] + b[1]), "sub": lambda a, b: (a[0] - b[1], a[1] - b[0]),
    "mul": _mul, "min": _min, "max": _max, "clip": lambda x, lo, hi: _min(_max(x, lo), hi),
}
