"""Eliminate: dead-code elimination, asking the dataflow layer's liveness.

Takes: an `ir.Function`.  Guarantees the same results with every statement
removed whose effect nothing needs.  Legality, asked of `ir.dataflow`: an
assignment, a store or a tape allocation goes when its target is not
*strongly live* after it (no statement that is itself needed reads it before
it is fully redefined -- so a chain of dead assignments goes at once); the
primitives have no effects besides their result, so nothing else changes.
Pushes and pops move a tape's top and stay; a branch left with two empty
sides goes, and so does a `for` loop left with an empty body, no exit flag, and
an index nothing reads after it (the loop leaves its index at the last value).
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir import Assign, For, If, Store, TapeAlloc, While, dataflow


def eliminate(function: ir.Function) -> bool:
    """Remove the dead statements of `function`; True when something went."""
    facts = dataflow.of(function)
    removed = False

    def needed(stmt) -> bool:
        target = {Assign: "target", Store: "array", TapeAlloc: "tape"}.get(type(stmt))
        return target is None or getattr(stmt, target) in facts.strongly_live_out(stmt)

    def sweep(block: list) -> list:
        nonlocal removed
        out = []
        for stmt in block:
            if isinstance(stmt, If):
                stmt = If(stmt.cond, sweep(stmt.body), sweep(stmt.orelse), stmt.loc)
                if not stmt.body and not stmt.orelse:
                    removed = True
                    continue
            elif isinstance(stmt, For):
                index_needed = stmt.index in facts.strongly_live_out(stmt)   # it leaves its last value
                stmt = dataclasses.replace(stmt, body=sweep(stmt.body))
                if not stmt.body and not stmt.exit_flag and not index_needed:
                    removed = True
                    continue
            elif isinstance(stmt, While):
                stmt = While(sweep(stmt.test), stmt.cond, sweep(stmt.body), stmt.loc, stmt.exit_flag)
            elif not needed(stmt):
                removed = True
                continue
            out.append(stmt)
        return out

    function.body = sweep(function.body)
    dataflow.invalidate(function)
    return removed
