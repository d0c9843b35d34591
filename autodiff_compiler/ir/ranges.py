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
# every int the module Numba compiles holds is an int64: a parameter is refused beyond (the API), a
# checked arithmetic raises beyond (`frontend.lower`'s 64-bit check), NumPy's ints are int64
INT64 = (-2 ** 63, 2 ** 63 - 1)
# an array's length or size: at most this (2 ** 48 bytes is more memory than any machine addresses)
COUNT_BOUND = 2 ** 48


def int_bounds(body: list, types: dict, params=(), checked=None) -> dict:
    """Int (and bool) variable -> (lo, hi), exact ints: every value the variable holds on every run lies in
    [lo, hi], and [lo, hi] lies in `INT64`.  Flow-insensitive: the bound is the union of those of every
    statement that writes the variable, where each is one the rules know: an assignment of `_INT_RULES`'
    primitives, an axis length or size (`result="count"`: [0, COUNT_BOUND]), a bool ([0, 1]), or a `for`
    loop over a range (its index lies in [start, stop - 1] for a positive constant step, [stop + 1, start]
    for a negative one, between them for any step: a loop index is often reused by the next loop).  Any
    other int (a parameter, a pop, a writer that reads what it writes, `k = k + 1`) has the bound
    `INT64`.  A writer whose exact bound leaves `INT64` is cut to it where it is `checked` (a predicate of
    the statement; default `python_errors.checks_int64`: it raises there), and else gives `INT64` whole:
    NumPy's ints wrap around (`v[0] + 1` of the largest int64 is the smallest).  Sound by induction over a
    run: each value is made by one writer from values made earlier."""
    from ..python_errors import checks_int64
    from ..rules import PRIMITIVES

    checked = checks_int64 if checked is None else checked

    def writer_bound(stmt):
        bound = _int_writer_bound(stmt, bounds, PRIMITIVES)
        if bound is not None and not (INT64[0] <= bound[0] and bound[1] <= INT64[1]) and not checked(stmt):
            return INT64                    # it wraps around: any int64
        return bound

    writers: dict[str, list] = {name: [None] for name in params}
    for stmt in walk(body):
        for name in writes(stmt):
            writers.setdefault(name, []).append(stmt)

    def boundable(stmt) -> bool:
        return isinstance(stmt, For) or isinstance(stmt, Assign) and (
            stmt.prim in _INT_RULES or PRIMITIVES[stmt.prim].result == "count")

    candidates = {name: stmts for name, stmts in writers.items()
                  if _is_int_number(types.get(name)) and all(s is not None and boundable(s) for s in stmts)}
    bounds: dict = {name: (0, 1) for name, t in types.items() if t is not None and not t.is_array and t.kind == "bool"}
    changed = True
    while changed:
        changed = False
        for name, stmts in candidates.items():
            operands = [a for stmt in stmts for a in ((stmt.start, stmt.stop) if isinstance(stmt, For) else stmt.args)]
            if name in bounds or any(isinstance(a, Var) and a.name in candidates and a.name not in bounds
                                     for a in operands):
                continue
            ones = [b for b in (writer_bound(stmt) for stmt in stmts) if b is not None]
            bound = (min(b[0] for b in ones), max(b[1] for b in ones)) if ones else INT64
            bounds[name] = (max(bound[0], INT64[0]), min(bound[1], INT64[1]))
            changed = True
    return bounds


def int_operand_bound(operand, bounds: dict) -> tuple:
    """The bound of an int operand: a constant's own value, a variable's from `int_bounds` (`INT64` for one
    it does not know)."""
    if isinstance(operand, Const) and isinstance(operand.value, int):
        return int(operand.value), int(operand.value)
    if isinstance(operand, Var):
        return bounds.get(operand.name, INT64)
    return INT64


def _int_writer_bound(stmt, bounds: dict, primitives):
    """The bound of what one writer assigns (None: nothing, a loop of no trips), possibly beyond `INT64`."""
    if isinstance(stmt, For):
        start, stop = (int_operand_bound(a, bounds) for a in (stmt.start, stmt.stop))
        step = stmt.step.value if isinstance(stmt.step, Const) and isinstance(stmt.step.value, int) else None
        if step is not None and step > 0:
            lo, hi = start[0], stop[1] - 1
        elif step is not None and step < 0:
            lo, hi = stop[0] + 1, start[1]
        else:
            lo, hi = min(start[0], stop[0]), max(start[1], stop[1])
        return (lo, hi) if lo <= hi else None
    if primitives[stmt.prim].result == "count":
        return 0, COUNT_BOUND
    return int_bound_of(stmt.prim, *[int_operand_bound(a, bounds) for a in stmt.args])


def int_bound_of(prim: str, *operands: tuple) -> tuple:
    """The exact bound of `prim` of ints in these bounds (each (lo, hi)), possibly beyond `INT64`; `INT64`
    itself where no rule knows the primitive."""
    rule = _INT_RULES.get(prim)
    bound = rule(*operands) if rule is not None else None
    return bound if bound is not None else INT64


def _is_int_number(t) -> bool:
    return t is not None and not t.is_array and t.kind in ("int", "bool")


def _int_mul(a, b):
    products = [x * y for x in a for y in b]
    return min(products), max(products)


def _int_abs(a):
    lo, hi = a
    return a if lo >= 0 else (-hi, -lo) if hi <= 0 else (0, max(-lo, hi))


def _int_floordiv(a, b):
    c = b[0] if b[0] == b[1] else None
    return (a[0] // c, a[1] // c) if c is not None and c > 0 else None


def _int_mod(a, b):
    c = b[0] if b[0] == b[1] else None
    return (0, c - 1) if c is not None and c > 0 else (c + 1, 0) if c is not None and c < 0 else None


def _int_pow(a, b):
    magnitude = max(abs(a[0]), abs(a[1]))
    if b[1] < 0:
        return None
    if b[0] != b[1]:
        # an exponent in [max(b[0], 0), b[1]] (a negative one raises for NumPy's ints, and makes Python's
        # a float): over-approximated by the largest magnitude, of either sign where the base may be negative
        if magnitude <= 1:
            return -1, 1
        top = magnitude ** b[1] if b[1] <= 64 else 2 ** 64
        return (0 if a[0] >= 0 else -top), top
    e = b[0]
    if magnitude >= 2 and e > 64:
        return -2 ** 64, 2 ** 64            # beyond 64 bits (without computing a huge power)
    return (a[0] ** e, a[1] ** e) if a[0] >= 0 else (-magnitude ** e, magnitude ** e)


_INT_RULES = {
    "copy": lambda a: a, "neg": lambda a: (-a[1], -a[0]), "abs": _int_abs,
    "add": lambda a, b: (a[0] + b[0], a[1] + b[1]), "sub": lambda a, b: (a[0] - b[1], a[1] - b[0]),
    "mul": _int_mul, "min": lambda a, b: (min(a[0], b[0]), min(a[1], b[1])),
    "max": lambda a, b: (max(a[0], b[0]), max(a[1], b[1])),
    "clip": lambda x, lo, hi: (min(max(x[0], lo[0]), hi[0]), min(max(x[1], lo[1]), hi[1])),
    "floordiv": _int_floordiv, "mod": _int_mod, "pow": _int_pow,
}
