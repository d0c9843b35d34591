"""Eliminate: dead-code elimination, asking the dataflow layer's liveness.

Takes: an `ir.Function`.  Guarantees the same results with every statement
removed whose effect nothing needs.  Legality, asked of `ir.dataflow`
(`Dataflow.needed`, from *strong* liveness: only reads by statements that are
themselves needed count, so a chain of dead assignments goes at once): an
assignment, a store or a tape allocation goes when its target is not strongly
live after it (the primitives have no effects besides their result); pushes
and pops move a tape's top and stay; a branch goes when nothing in it is
needed, and so does a `for` loop, unless it has an exit flag or its index is
read after it (a loop leaves its index at the last value); `while` loops
stay (they may not end).
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir import For, If, While, dataflow


def eliminate(function: ir.Function) -> bool:
    """Remove the dead statements of `function`; True when something went."""
    facts = dataflow.of(function)
    removed = False

    def sweep(block: list) -> list:
        nonlocal removed
        out = []
        for stmt in block:
            if not facts.needed(stmt):
                removed = True
                continue
            if isinstance(stmt, If):
                stmt = If(stmt.cond, sweep(stmt.body), sweep(stmt.orelse), stmt.loc)
            elif isinstance(stmt, For):
                stmt = dataclasses.replace(stmt, body=sweep(stmt.body))
            elif isinstance(stmt, While):
                stmt = While(sweep(stmt.test), stmt.cond, sweep(stmt.body), stmt.loc, stmt.exit_flag)
            out.append(stmt)
        return out

    function.body = sweep(function.body)
    dataflow.invalidate(function)
    return removed
