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

`int_bounds` is the same for Python's ints, with axis lengths and loop indices: the index arithmetic
(`i + 1`, `n - 1`, `2 * i`) that provably stays inside 64 bits, where compiled code computes exactly
what Python's unbounded ints do.
"""
from __future__ import annotations

import math

from .nodes import Assign, Const, For, Var, walk, writes

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
        if isinstance(operand.value, int) and abs(operand.value) >= 2 ** 1000:
            return _UNBOUNDED           # an int constant beyond any float
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


# ------------------------------------------------------------------ ints
# an array's length or size: at most this (2 ** 48 bytes is more memory than any machine addresses)
COUNT_BOUND = float(2 ** 48)


def int_bounds(body: list, types: dict, params=()) -> dict:
    """Int variable -> (lo, hi), as `float_bounds` for Python's ints: every value the variable holds on
    every run lies in [lo, hi].  Flow-insensitive: a variable is bounded where every statement that
    writes it is one of these, each bounded -- the bound is then the union of theirs: an assignment of
    `_INT_RULES`' primitives, an axis length or size (`result="count"` in the rule table: [0,
    COUNT_BOUND]), or a `for` loop over a range whose start and stop are bounded (its index lies between
    them; a loop index is often reused by the next loop).  A writer that reads what it writes (`k = k + 1`)
    is never bounded, nor is a parameter.  Sound by induction over a run, as `float_bounds`: bounds are
    floats, and below 2 ** 53 their arithmetic is exact; above it, the caller (`frontend.lower`'s 64-bit
    check) keeps a margin."""
    from ..rules import PRIMITIVES

    writers: dict[str, list] = {name: [None] for name in params}
    for stmt in walk(body):
        for name in writes(stmt):
            writers.setdefault(name, []).append(stmt)

    def boundable(stmt) -> bool:
        return isinstance(stmt, For) or isinstance(stmt, Assign) and (
            stmt.prim in _INT_RULES or PRIMITIVES[stmt.prim].result == "count")

    candidates = {name: stmts for name, stmts in writers.items()
                  if _is_int_number(types.get(name)) and all(s is not None and boundable(s) for s in stmts)}
    bounds: dict = {}
    changed = True
    while changed:
        changed = False
        for name, stmts in candidates.items():
            operands = [a for stmt in stmts for a in ((stmt.start, stmt.stop) if isinstance(stmt, For) else stmt.args)]
            if name in bounds or any(isinstance(a, Var) and a.name in candidates and a.name not in bounds
                                     for a in operands):
                continue
            bound = None
            for stmt in stmts:
                one = _int_writer_bound(stmt, bounds, PRIMITIVES)
                bound = one if bound is None else (min(bound[0], one[0]), max(bound[1], one[1]))
            bounds[name] = bound if not any(math.isnan(b) for b in bound) and bound[0] <= bound[1] else _UNBOUNDED
            changed = True
    return {name: b for name, b in bounds.items() if b != _UNBOUNDED}


def _int_writer_bound(stmt, bounds: dict, primitives) -> tuple:
    if isinstance(stmt, For):
        start, stop = (_operand(a, bounds) for a in (stmt.start, stmt.stop))
        return min(start[0], stop[0]), max(start[1], stop[1])
    if primitives[stmt.prim].result == "count":
        return 0.0, COUNT_BOUND
    return int_bound_of(stmt.prim, *[_operand(a, bounds) for a in stmt.args])


def int_bound_of(prim: str, *operands: tuple) -> tuple:
    """The bound of `prim` of ints in these bounds (each (lo, hi)); unbounded where no rule knows it."""
    rule = _INT_RULES.get(prim)
    bound = rule(*operands) if rule is not None else None
    return bound if bound is not None else _UNBOUNDED


def _is_int_number(t) -> bool:
    return t is not None and not t.is_array and t.kind in ("int", "bool")


def _constant(b) -> float | None:
    return b[0] if b[0] == b[1] and math.isfinite(b[0]) else None


def _floordiv(a, b):
    c = _constant(b)
    if c is None or c <= 0:
        return None
    return tuple(math.floor(q) if math.isfinite(q) else q for q in (a[0] / c, a[1] / c))


def _mod(a, b):
    c = _constant(b)
    return (0.0, c - 1) if c is not None and c > 0 else None


def _pow(a, b):
    e = _constant(b)
    if e is None or e < 0 or e != int(e):
        return None
    magnitude = max(abs(a[0]), abs(a[1])) ** e
    return -magnitude, magnitude


_INT_RULES = dict({k: v for k, v in _RULES.items() if k != "float"}, floordiv=_floordiv, mod=_mod, pow=_pow)
