"""Hoist: loop-invariant arithmetic moved out of loops (on the primal, before reversal).

Takes: a typed primal `ir.Function`.  Guarantees the same results, with
invariant statements computed once before their loop, so that no tape stores
them trip after trip.
"""
from __future__ import annotations

from .. import ir
from ..ir import Assign, Const, For, While

_HOISTABLE = {"add", "sub", "mul", "neg", "copy", "lt", "le", "gt", "ge", "eq", "ne", "not", "float"}


def hoist_invariants(function: ir.Function) -> None:
    """Move loop-invariant arithmetic out of loops (before reversal: no tape for it then).

    A statement moves when it is at the top of the loop body, its operands are
    not written in the loop, its target is written only there and not read in
    the loop before it, and its primitive cannot raise (so a loop that runs no
    trips loses nothing)."""
    function.body = _hoist_block(function.body, function)


def _hoist_block(block: list, function) -> list:
    out: list = []
    for stmt in block:
        for child in ir.child_blocks(stmt):
            child[:] = _hoist_block(child, function)
        if isinstance(stmt, (For, While)):
            written = ir.assigned_in(stmt.body) | (ir.assigned_in(stmt.test) if isinstance(stmt, While) else set())
            if isinstance(stmt, For):
                written.add(stmt.index)
            writes_total = {}
            for inner in ir.walk(function.body):
                for name in ir.writes(inner):
                    writes_total[name] = writes_total.get(name, 0) + 1
            kept, read_before = [], set(ir.used_in(stmt.test)) if isinstance(stmt, While) else set()
            for inner in stmt.body:
                safe_division = (isinstance(inner, Assign) and inner.prim == "div" and isinstance(inner.args[1], Const)
                                 and inner.args[1].value != 0)
                movable = (isinstance(inner, Assign) and (inner.prim in _HOISTABLE or safe_division)
                           and not (set(ir.operand_vars(inner.args)) & written)
                           and writes_total.get(inner.target) == 1 and inner.target not in read_before
                           and (stmt.exit_flag != inner.target))
                if movable:
                    out.append(inner)
                    written.discard(inner.target)
                else:
                    kept.append(inner)
                read_before |= ir.used_in([inner])
            stmt.body[:] = kept
        out.append(stmt)
    return out


