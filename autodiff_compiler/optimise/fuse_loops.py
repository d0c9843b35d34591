"""Fuse loops: a forward loop and the loop reversing it run as one pass when trip order cannot matter.

Takes: an adjoint `ir.Function` (after simplification).  Guarantees the same
results (up to the rounding order of sums), with mirrored loop pairs merged.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir import Assign, Comment, For, If, Pop, Push, Store, TapeAlloc, Var, While, dataflow

def fuse_mirrored_loops(function: ir.Function) -> bool:
    """Fuse mirrored loop pairs in every block (see `_fusion_plan`), merging the two
    branches on one condition that hold the pair (forward sweep, reverse sweep) first."""
    fused = False
    blocks = [function.body] + [child for stmt in ir.walk(function.body) for child in ir.child_blocks(stmt)]
    for block in blocks:
        fused = _merge_branches_holding_pairs(block) | fused
    if fused:
        dataflow.invalidate(function)
    blocks = [function.body] + [child for stmt in ir.walk(function.body) for child in ir.child_blocks(stmt)]
    for block in blocks:
        fused = _fuse_in_block(function, block) | fused
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


def _fuse_in_block(function: ir.Function, block: list) -> bool:
    """Run a forward loop and the loop reversing it as one loop, when the order of trips cannot matter.

    In `value_and_grad` of a loop that accumulates (a sum over data, say), the
    reverse loop recomputes what it needs and only adds into adjoints; running
    its trips forwards, inside the forward loop, gives the same sums (up to
    rounding order) in one pass, and lets CSE share what both bodies compute.
    The legality conditions are `_fusion_plan`'s."""
    fused = False
    k = 0
    while k < len(block):
        forward = block[k]
        if isinstance(forward, For) and forward.pair is not None and not forward.reverses:
            for j in range(k + 1, len(block)):
                other = block[j]
                if isinstance(other, For) and other.pair == forward.pair and other.reverses:
                    plan = _fusion_plan(dataflow.of(function), forward, block[k + 1:j], other)
                    if plan is not None:
                        moved, kept = plan
                        marker = Comment("reverse of this trip, in the same pass")
                        merged = dataclasses.replace(forward, body=forward.body + [marker] + other.body, pair=None)
                        block[k:j + 1] = moved + [merged] + kept
                        dataflow.invalidate(function)
                        fused = True
                    break
        k += 1
    return fused


def _accumulates(stmt, name: str) -> bool:
    """Is `stmt` `name = name + e` (or `e + name`, or `name[...] += e`), with `e` not reading `name`?"""
    if isinstance(stmt, Assign) and stmt.target == name and stmt.prim == "add":
        for mine, other in ((0, 1), (1, 0)):
            if stmt.args[mine] == Var(name) and name not in ir.operand_vars([stmt.args[other]]):
                return True
        return False
    if isinstance(stmt, Store) and stmt.array == name and stmt.prim == "add":
        return name not in ir.operand_vars(list(stmt.index) + [stmt.value])
    return False


def _fusion_plan(facts, forward: For, between: list, backward: For):
    """Legality of running the reverse loop's trip k right after the forward loop's trip k.

    Conditions, asked of the dataflow facts:
    * no tape and no `while` in either loop, no loop in the reverse one, no early exit, one index;
    * every variable the reverse body writes is an *accumulator* (each of its
      definitions there is `v = v + e` or `v[...] += e`, and nothing else in
      the reverse body reads it), or *trip-local* (not read in a trip before
      it is defined: no loop-carried dependence, and not live after the loop);
      the index is not live after the reverse loop (the fused loop leaves it
      at the last forward index, not the first);
    * the reverse body reads nothing the forward loop writes, and the forward
      body reads and writes nothing the reverse body writes, except values
      trip-local to both (each body defines them before reading them);
    * the statements between the loops that the reverse body needs (definitions
      of what it reads, the accumulators' starting values) move before the
      forward loop: they read nothing the forward loop writes and write nothing
      it reads or writes, and no statement before them in between touches
      what they read or write; the other statements between read and write
      nothing the reverse loop reads or writes.
    Returns (moved, kept), or None when a condition fails."""
    if forward.exit_flag or backward.exit_flag or forward.index != backward.index:
        return None
    if any(isinstance(s, (Push, Pop, TapeAlloc, While)) for s in ir.walk(forward.body + backward.body)):
        return None
    if any(isinstance(s, For) for s in ir.walk(backward.body)):
        return None
    index = forward.index
    f_writes = facts.written_in(forward)
    f_reads = ir.used_in(forward.body)
    r_writes = facts.written_in(backward) - {index}
    r_reads = ir.used_in(backward.body) - {index}
    exposed = facts.upward_exposed(backward) - {index}
    accumulators = {name for name in r_writes
                    if all(_accumulates(s, name) for s in ir.walk(backward.body) if name in ir.writes(s))}
    local = r_writes - accumulators
    if local & exposed or local & facts.live_out(backward) or index in facts.live_out(backward):
        return None
    for stmt in ir.walk(backward.body):
        reads = set(ir.reads(stmt))
        if isinstance(stmt, Store):
            reads = set(ir.operand_vars(list(stmt.index) + [stmt.value]))
        if any(_accumulates(stmt, name) for name in accumulators):
            reads -= accumulators & set(ir.writes(stmt))
        if reads & accumulators:
            return None
    if (exposed - accumulators) & f_writes:
        return None           # the reverse body reads a value the forward loop changes trip by trip
    if ((f_reads | f_writes) & r_writes) - (local - facts.upward_exposed(forward)):
        return None           # the forward body would see (or overwrite) the reverse body's writes,
        #                       unless both bodies define the value afresh in each trip before reading it
    # the statements between the loops that the reverse body needs move before the forward loop
    needed = (exposed - accumulators) | accumulators
    moved_ids = set()
    for stmt in reversed(between):
        writes = facts.written_in(stmt)
        if writes & needed:
            if not isinstance(stmt, (Assign, Comment)):
                return None
            moved_ids.add(id(stmt))
            needed |= set(ir.reads(stmt))
    moved = [s for s in between if id(s) in moved_ids]
    kept = [s for s in between if id(s) not in moved_ids]
    for position, stmt in enumerate(between):
        reads = ir.used_in([stmt])
        writes = facts.written_in(stmt)
        if id(stmt) in moved_ids:
            if reads & f_writes or writes & (f_reads | f_writes):
                return None
            earlier = [s for s in between[:position] if id(s) not in moved_ids]
            touched = ir.used_in(earlier) | {w for s in earlier for w in facts.written_in(s)}
            if (reads | writes) & {w for s in earlier for w in facts.written_in(s)} or writes & touched:
                return None
        elif reads & r_writes or writes & (r_reads | r_writes):
            return None
    return moved, kept
