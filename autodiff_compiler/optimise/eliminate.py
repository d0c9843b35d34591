"""Eliminate: dead-code elimination by liveness.

Takes: an `ir.Function`.  Guarantees the same results with statements whose
targets are never read afterwards removed, including adjoint initialisations
that are overwritten before use and loops or branches left empty.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir import Assign, Comment, For, If, Pop, Push, Store, TapeAlloc, Var, While

class Eliminate:
    """Backward pass: dead-code elimination by liveness."""

    def __init__(self, function: ir.Function):
        self.function = function

    def block(self, block: list, live: set) -> tuple[list, set]:
        out: list = []
        live = set(live)
        for stmt in reversed(block):
            kept, live = self.handlers[type(stmt)](self, stmt, live)
            if kept is not None:
                out.append(kept)
        out.reverse()
        return out, live

    def assign(self, stmt: Assign, live):
        if stmt.target not in live:
            return None, live
        live = (live - {stmt.target}) | set(ir.reads(stmt))
        return stmt, live

    def effect(self, stmt, live):
        return stmt, (live - set(w for w in ir.writes(stmt) if not isinstance(stmt, (Store, Push)))) | set(ir.reads(stmt))

    def store(self, stmt: Store, live):
        if stmt.array not in live:
            return None, live
        return stmt, live | set(ir.reads(stmt))

    def tape_alloc(self, stmt: TapeAlloc, live):
        if stmt.tape not in live:
            return None, live
        return stmt, (live - {stmt.tape}) | set(ir.reads(stmt))

    def comment(self, stmt, live):
        return stmt, live

    def if_(self, stmt: If, live):
        body, live_body = self.block(stmt.body, live)
        orelse, live_else = self.block(stmt.orelse, live)
        if not body and not orelse:
            return None, live
        return If(stmt.cond, body, orelse, stmt.loc), live_body | live_else | set(ir.operand_vars([stmt.cond]))

    def loop(self, stmt, live):
        live_head = set(live)
        extra = {stmt.exit_flag} if stmt.exit_flag else set()
        for _ in range(100):
            body, live_body = self.block(stmt.body, live_head | extra)
            if isinstance(stmt, While):
                test, live_test = self.block(stmt.test, live_body | set(live) | {ir.operand_vars([stmt.cond])[0]}
                                             if isinstance(stmt.cond, Var) else live_body | set(live))
                new_head = live_test | set(live)
            else:
                new_head = (live_body - {stmt.index}) | set(live)
            if new_head <= live_head:
                break
            live_head |= new_head
        if not body and not stmt.exit_flag:
            if isinstance(stmt, For):
                return None, live
        if isinstance(stmt, While):
            return While(test, stmt.cond, body, stmt.loc, stmt.exit_flag), live_head
        bounds = set(ir.operand_vars([stmt.start, stmt.stop, stmt.step]))
        return dataclasses.replace(stmt, body=body), \
            (live_head - {stmt.index}) | bounds

    handlers = {Assign: assign, Store: store, Push: effect, Pop: effect, TapeAlloc: tape_alloc,
                Comment: comment, If: if_, For: loop, While: loop}


