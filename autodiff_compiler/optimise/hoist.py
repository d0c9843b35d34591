"""Hoist: loop-invariant arithmetic moved out of loops (on the primal, before reversal).

Takes: a typed primal `ir.Function`.  Guarantees the same results, with
invariant statements computed once before their loop, so that no tape stores
them trip after trip.
"""
from __future__ import annotations

from .. import ir
from ..ir import Assign, Const, For, Var, While, dataflow

_HOISTABLE = {"add", "sub", "mul", "neg", "copy", "lt", "le", "gt", "ge", "eq", "ne", "not", "float"}


def hoist_invariants(function: ir.Function) -> bool:
    """Move loop-invariant arithmetic out of loops (before reversal: no tape for it then).

    Legality, asked of the dataflow facts: a statement `t = op(args)` moves to
    just before its loop L when it is a top-level statement of L's body (it
    runs in every trip), no operand is written anywhere in L (the index
    included), nothing else in L defines `t`, no trip reads `t` before it, the
    statement cannot raise (`_cannot_raise`: at most one array operand, whose
    shape then cannot clash with another's), and either L runs at least once or `t` is not live after L
    (when L runs no trips, the hoisted value is never seen).  Inner loops go
    first, so an invariant can leave a nest one loop at a time."""
    changed = False
    while _hoist_one(function):
        changed = True
    return changed


def _hoist_one(function: ir.Function) -> bool:
    facts = dataflow.of(function)
    for loop in reversed(facts.statements):
        if not isinstance(loop, (For, While)):
            continue
        written = facts.written_in(loop)
        exposed = facts.upward_exposed(loop)
        for stmt in loop.body:
            if not (isinstance(stmt, Assign) and _cannot_raise(stmt, function.types)):
                continue
            others = set()
            for other in loop.body + (loop.test if isinstance(loop, While) else []):
                if other is not stmt:
                    others |= facts.written_in(other)
            if set(ir.operand_vars(stmt.args)) & written or stmt.target in others or stmt.target in exposed:
                continue
            if stmt.target == loop.exit_flag:
                continue
            if facts.may_skip(loop) and stmt.target in facts.live_out(loop):
                continue
            block = _block_of(function, facts, loop)
            loop.body.remove(stmt)
            block.insert(next(k for k, s in enumerate(block) if s is loop), stmt)
            dataflow.invalidate(function)
            return True
    return False


# of the hoistable primitives, those that raise on an array operand (`not a`, `float(a)`: a truth value or
# a number of an array of any size but 1); the others raise on arrays only when two of them do not
# broadcast together
_SCALAR_ONLY = {"not", "float"}


def _cannot_raise(stmt: Assign, types: dict) -> bool:
    """`stmt` raises on no run: arithmetic and comparisons of numbers, of one array with numbers (a
    scalar broadcasts into any shape), a copy or negation of anything, a division by a nonzero constant.
    (Arithmetic of Python's ints checked for 64 bits, `python_errors.checks_int64`, raises only at the
    compiled code's own limit, where Numba's ints would wrap: no trip lifts it, and moved before a loop of
    no trips it is an error where Python runs on, never a number.)
    Two array operands may not broadcast together (`(2,) * (3,)` raises): such a statement is not moved,
    since a loop that runs no trips must not raise it."""
    arrays = sum(1 for a in stmt.args if isinstance(a, Var) and types.get(a.name) is not None
                 and types[a.name].is_array)
    if stmt.prim in _SCALAR_ONLY:
        return arrays == 0
    if stmt.prim not in _HOISTABLE and not (stmt.prim == "div" and isinstance(stmt.args[1], Const)
                                            and stmt.args[1].value != 0):
        return False
    return arrays <= 1


def _block_of(function: ir.Function, facts, stmt) -> list:
    """The statement list that holds `stmt`."""
    parent = facts.parent.get(id(stmt))
    blocks = [function.body] if parent is None else ir.child_blocks(parent)
    return next(b for b in blocks if any(s is stmt for s in b))
