"""Fuse loops: a forward loop and the loop reversing it run as one pass when trip order cannot matter.

Takes: an adjoint `ir.Function` (after simplification).  Guarantees the same
results (up to the rounding order of sums), with mirrored loop pairs merged.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir import Assign, Comment, For, If, Pop, Push, Store, TapeAlloc, Var, While

def fuse_mirrored_loops(function: ir.Function) -> bool:
    """Fuse mirrored loop pairs in every block (see `_fuse_in_block`), merging the two
    branches on one condition that hold the pair (forward sweep, reverse sweep) first."""
    fused = False
    blocks = [function.body] + [child for stmt in ir.walk(function.body) for child in ir.child_blocks(stmt)]
    for block in blocks:
        fused = _merge_branches_holding_pairs(block) | fused
    blocks = [function.body] + [child for stmt in ir.walk(function.body) for child in ir.child_blocks(stmt)]
    for block in blocks:
        fused = _fuse_in_block(block) | fused
    return fused


def _pairs_in(block: list, reverses: bool) -> set:
    return {s.pair for s in block if isinstance(s, For) and s.pair is not None and s.reverses == reverses}


def _merge_branches_holding_pairs(block: list) -> bool:
    """`if c: A1 else: B1; S; if c: A2 else: B2` -> `if c: A1; S; A2 else: B1; S; B2`, when A1 and A2
    hold the two halves of a loop pair and nothing writes `c` in between."""
    import copy
    for k, first in enumerate(block):
        if not (isinstance(first, If) and isinstance(first.cond, Var)):
            continue
        for j in range(k + 1, len(block)):
            second = block[j]
            between = block[k + 1:j]
            if isinstance(second, If) and second.cond == first.cond:
                if _pairs_in(first.body, False) & _pairs_in(second.body, True) and \
                        first.cond.name not in ir.assigned_in(between + [first]) and len(between) <= 40:
                    merged = If(first.cond, first.body + between + second.body,
                                first.orelse + copy.deepcopy(between) + second.orelse, first.loc)
                    block[k:j + 1] = [merged]
                    return True
                break
    return False


def _fuse_in_block(block: list) -> bool:
    """Run a forward loop and the loop reversing it as one loop, when the order of trips cannot matter.

    In `value_and_grad` of a loop that accumulates (a sum over data, say), the
    reverse loop recomputes what it needs and only adds into adjoints; running
    its trips forwards, inside the forward loop, gives the same sums (up to
    rounding order) in one pass, and lets CSE share what both bodies compute.
    Conditions: no tape in either loop; every variable the reverse body writes
    is either defined before it is read in each trip, or an accumulator
    (`v = v + e`, `e` not reading accumulators), or an array it adds into;
    the reverse body reads nothing the forward body writes unless it defines
    it first; and the statements between the loops that the reverse body
    needs do not depend on the forward loop (they move before it)."""
    fused = False
    k = 0
    while k < len(block):
        forward = block[k]
        if isinstance(forward, For) and forward.pair is not None and not forward.reverses \
                and forward.exit_flag is None:
            for j in range(k + 1, len(block)):
                other = block[j]
                if isinstance(other, For) and other.pair == forward.pair and other.reverses:
                    plan = _fusion_plan(forward, block[k + 1:j], other)
                    if plan is not None:
                        moved, kept = plan
                        marker = Comment("reverse of this trip, in the same pass")
                        merged = dataclasses.replace(forward, body=forward.body + [marker] + other.body, pair=None)
                        block[k:j + 1] = moved + [merged] + kept
                        fused = True
                    break
        k += 1
    return fused


def _fusion_plan(forward: For, between: list, backward: For):
    if any(isinstance(s, (Push, Pop, TapeAlloc, While)) for s in ir.walk(forward.body + backward.body)):
        return None
    if any(isinstance(s, For) for s in ir.walk(backward.body)):
        return None
    forward_writes = ir.assigned_in(forward.body) | {forward.index}
    # classify what the reverse body writes
    local, accumulators, defined = set(), set(), set()
    for stmt in backward.body:
        if not isinstance(stmt, (Assign, Store, Comment)):
            return None
        if isinstance(stmt, Store):
            if stmt.prim != "add" or stmt.array in defined:
                return None
            accumulators.add(stmt.array)
            continue
        if isinstance(stmt, Comment):
            continue
        target, reads = stmt.target, set(ir.reads(stmt))
        if stmt.prim == "add" and stmt.args and stmt.args[0] == Var(target) and target not in defined:
            accumulators.add(target)
            if target in ir.operand_vars(stmt.args[1:]):
                return None
        else:
            if target in accumulators:
                return None
            defined.add(target)
    for stmt in backward.body:
        reads = set(ir.reads(stmt))
        if isinstance(stmt, Assign) and stmt.target in accumulators:
            reads = set(ir.operand_vars(stmt.args[1:]))
        if isinstance(stmt, Store):
            reads = set(ir.operand_vars(stmt.index) + ir.operand_vars([stmt.value]))
        if reads & accumulators:
            return None
    if (accumulators | defined) & (ir.used_in(forward.body) - defined):
        return None           # the forward body would see the reverse body's writes
    backward_reads = ir.used_in(backward.body) - defined - accumulators
    if backward.index != forward.index or backward_reads & (forward_writes - {forward.index}):
        return None           # the reverse body reads a value the forward loop carries
    # the statements between the loops that the reverse body needs move before the forward loop
    needed = set(backward_reads | accumulators)
    moved_ids = set()
    for stmt in reversed(between):
        if isinstance(stmt, Assign) and stmt.target in needed:
            moved_ids.add(id(stmt))
            needed |= set(ir.reads(stmt))
        elif set(ir.writes(stmt)) & needed or (ir.child_blocks(stmt) and ir.assigned_in([stmt]) & needed):
            return None
    moved = [s for s in between if id(s) in moved_ids]
    kept = [s for s in between if id(s) not in moved_ids]
    for position, stmt in enumerate(between):
        if id(stmt) not in moved_ids:
            continue
        if set(ir.reads(stmt)) & forward_writes or stmt.target in forward_writes | ir.used_in(forward.body):
            return None
        earlier = [s for s in between[:position] if id(s) not in moved_ids]
        if stmt.target in ir.used_in(earlier) | ir.assigned_in(earlier):
            return None
    return moved, kept

