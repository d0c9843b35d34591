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

A tape goes as a whole -- its allocation, pushes and pops -- when no pop's
value is strongly live after the pop (a value recorded and restored that
nothing needed reads: a value the adjoint needs only for its shape, once the
shape is proved, or the input of `tanh` whose adjoint reads its output).
Legality: a tape is the transform's own stack, read only by its pops (`ir.reads`
of every other statement never names it), so with no pop needed, nothing
depends on its contents or its top; a push only copies its value.

A statement that never runs (`Dataflow.never_runs`: it reads a variable that
only UNDEFINED, or statements that never run themselves, can give a value) goes,
with what it holds; `while` loops stay.  Legality: running it would raise
Python's UnboundLocalError, and no IR program reads a variable unbound (the
front end refuses a read no assignment reaches, `pipeline._check_defined`, and
guards one that a path may leave unbound with a check that raises first,
`frontend.bound_checks`; the transforms define what their sweeps read).  Such
reads appear when a branch is folded on one side of the program and not on the
other: the forward sweep's `if c:` with `c` proved False loses its definitions,
while the reverse sweep's `if c:` (where `c` may be undefined, to the
path-blind analysis) keeps its reads of them.  Python never runs them; Numba's
bytecode analysis refuses them (NotDefinedError).
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir import For, If, Pop, Push, TapeAlloc, While, dataflow


def eliminate(function: ir.Function) -> bool:
    """Remove the dead statements of `function`; True when something went."""
    facts = dataflow.of(function)
    dead_tapes = _dead_tapes(function, facts)
    sweep = _Sweep(facts, dead_tapes)
    function.body = sweep(function.body)
    dataflow.invalidate(function)
    if dead_tapes:
        eliminate(function)     # what only the tapes' pushes read is dead now too
    return sweep.removed


class _Sweep:
    """Called on a block: the block without its dead statements, at every depth.  (A class, not a
    recursive closure: a closure that calls itself is a reference cycle, and would keep the facts it
    reads alive until CPython's cyclic collector runs.)"""

    def __init__(self, facts, dead_tapes: set):
        self.facts = facts
        self.dead_tapes = dead_tapes
        self.removed = False

    def __call__(self, block: list) -> list:
        out = []
        for stmt in block:
            if not self.facts.needed(stmt) or self.facts.never_runs(stmt) or \
                    (isinstance(stmt, (Push, Pop, TapeAlloc)) and stmt.tape in self.dead_tapes):
                self.removed = True
                continue
            if isinstance(stmt, If):
                stmt = If(stmt.cond, self(stmt.body), self(stmt.orelse), stmt.loc)
            elif isinstance(stmt, For):
                stmt = dataclasses.replace(stmt, body=self(stmt.body))
            elif isinstance(stmt, While):
                stmt = While(self(stmt.test), stmt.cond, self(stmt.body), stmt.loc, stmt.exit_flag)
            out.append(stmt)
        return out


def _dead_tapes(function: ir.Function, facts) -> set:
    """The tapes none of whose popped values is strongly live after its pop (see the module's note)."""
    pops: dict = {}
    readers = set()             # names read by statements other than a tape's own
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Pop):
            pops.setdefault(stmt.tape, []).append(stmt)
        elif isinstance(stmt, (TapeAlloc, Push)):
            pops.setdefault(stmt.tape, [])
        else:
            readers.update(ir.reads(stmt))
    return {tape for tape, tape_pops in pops.items() if tape not in readers
            and all(pop.target not in facts.strongly_live_out(pop) for pop in tape_pops)}
