"""Record: what the forward sweep must save for the reverse sweep (to-be-recorded analysis).

Takes: a `Reverse` builder (the typed primal, its active variables, and which
primal values each adjoint reads) and the primal's dataflow facts.
Guarantees a plan under which every adjoint reads exactly the values its
primal statement saw:

* a *reverse reader* of a variable is a primal statement whose reversal reads
  it: the partials of a differentiable assignment, the index operands of a
  store, the condition of a branch and the bounds of a loop that have reverse
  work, and the operands of a value recomputed in the reverse sweep;
* a definition W of `v` (an assignment, a store -- its overwritten elements --
  or a `for` loop's index) *saves* the value it overwrites, pushing it before
  W and popping it right after W's reversal, when W may run after some
  reverse reader R of `v`: later in the program, or in a loop both are in.
  Then, when the reverse sweep reaches R, every later overwrite has been
  undone.  The readers of a loop's index inside that loop are served by the
  reversed loop itself.  A definition that can only overwrite nothing (no
  definition reaches it) saves nothing; one that may overwrite nothing on
  some path starts its variable at zero, so that the save is defined;
* an *iteration local*, a value `v` defined exactly once, at the top of a
  loop's body, not read in a trip before that, and read in reverse only
  inside the loop, is instead pushed right after its definition and popped
  when its reversed trip starts -- or not saved at all but *recomputed*
  there, when it is a scalar computed from constants, loop indices (defined
  by their loop alone), values the loop does not write, other recomputed
  locals and, for a float, iteration locals the trip pops and *snapshots*: the value a
  scalar the loop writes has where the statement reads it, pushed right
  before the first recomputed statement that reads it since the body last
  wrote it, and popped into a name of its own when the reversed trip
  starts (a sum accumulated by an inner loop, a value carried from the
  last trip).  Those operands become reverse readers themselves, so they
  are saved across any later overwrite; the statement's own partials read
  its snapshots as well, so a variable read only through snapshots is not
  saved at each write (an inner loop's sum).  Recomputing rather than popping
  keeps the relations between a trip's values in one block of the reverse
  sweep, where the symbolic pass can see them (`p = 1/(1 + exp(-z))` and
  `1 - p` of the same `z`: their derivatives cancel analytically);
* a `while` loop's test runs once more than its body: its statements are
  saved and reversed like the body's (the reversed loop undoes each trip's
  test after the trip, and the last test before the loop);
* a branch condition and the bounds of a loop are read at the reversal of
  the whole statement: the front end and `reverse.prepare_loops` make sure
  nothing inside writes them, and the plan refuses (`InternalError`) a
  program where something does, rather than derive a wrong adjoint.
"""
from __future__ import annotations

import weakref

from .. import ir
from ..errors import InternalError
from ..ir import dataflow
from ..ir.nodes import Assign, Const, For, If, Slice, Store, Var, While
from ..python_errors import INT64_PARAMS
from ..rules import PRIMITIVES

TAPE_KINDS = ("float", "int", "bool")
# primitives whose value is a new array or has an effect: never recomputed
_NOT_RECOMPUTED = {"zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like",
                   "array_copy"} | {name for name, p in PRIMITIVES.items() if p.effect}


class RecordPlan:
    def __init__(self, reverse):
        # the plan belongs to its `Reverse` (`reverse.plan`): a weak reference back, so that the two
        # are not a reference cycle, freed only by CPython's cyclic collector
        self.reverse = weakref.proxy(reverse)
        self.primal = reverse.primal
        self.types = reverse.types
        self.facts = dataflow.of(self.primal)
        self.save_sites: set = set()          # ids of assignments/stores that push the value they overwrite
        self.index_saves: set = set()         # ids of for loops that push their index before they run
        self.local_definitions: set = set()   # ids of assignments that push (or recompute) the value they make
        self.iteration_locals: dict = {}      # id(loop) -> names popped when a reversed trip starts
        self.recomputed: dict = {}            # id(loop) -> assignments recomputed when a reversed trip starts
        self.snapshots: dict = {}             # id(loop) -> [(id(site), variable, key)]: pushed before the site
        self.snapshot_reads: dict = {}        # id(recomputed assignment) -> {variable: key of its snapshot}
        self.undefined_first: list = []
        self._test_statements = {id(s) for loop in ir.walk(self.primal.body) if isinstance(loop, While)
                                 for s in ir.walk(loop.test)}
        for _ in range(100):
            before = (set(self.save_sites), set(self.index_saves), set(self.local_definitions),
                      {k: [id(s) for s in v] for k, v in self.recomputed.items()})
            readers = self.reverse_readers()
            self.plan_saves(readers)
            self.plan_locals(readers)
            after = (self.save_sites, self.index_saves, self.local_definitions,
                     {k: [id(s) for s in v] for k, v in self.recomputed.items()})
            if before == after:
                break
        else:  # pragma: no cover
            raise InternalError("to-be-recorded analysis did not converge")
        self.readers = self.reverse_readers()
        self.check_realisable()
        self.recorded = self._recorded_names()

    # --------------------------------------------------------------- reverse readers
    def reverse_readers(self) -> dict:
        """Variable -> the primal statements whose reversal reads it."""
        readers: dict = {}

        def add(names, stmt):
            for name in names:
                readers.setdefault(name, []).append(stmt)
        reverse = self.reverse
        for stmt in self.facts.statements:
            if isinstance(stmt, Assign) and stmt.target in reverse.active and self.types[stmt.target].is_array \
                    and (self.facts.loops_of(stmt) or self.facts.overwritten(stmt, stmt.target) - {dataflow.UNDEFINED}):
                # the reset of its adjoint (zeros of its shape) reads the shape of the value it overwrites,
                # which may differ from trip to trip (`np.sin(x[:i + 1])`) or from the new value's (`c = ...`
                # in a branch, with another shape): see `plan_saves`
                add([stmt.target], stmt)
            if reverse.differentiable(stmt):
                snapshots = self.partial_snapshots(stmt)
                add([name for name in reverse.partial_reads(stmt) if name not in snapshots], stmt)
            elif isinstance(stmt, Store) and self.store_has_work(stmt):
                add(ir.operand_vars(stmt.index), stmt)
            elif isinstance(stmt, If) and (self.has_reverse_work(stmt.body) or self.has_reverse_work(stmt.orelse)):
                add(ir.operand_vars([stmt.cond]), stmt)
            elif isinstance(stmt, For) and self.has_reverse_work(stmt.body):
                add(ir.operand_vars([stmt.start, stmt.stop, stmt.step]), stmt)
        for stmts in self.recomputed.values():
            for stmt in stmts:
                # a recomputation reads its snapshots, not the variables they were taken of
                snapshots = self.snapshot_reads.get(id(stmt), {})
                add([name for name in ir.operand_vars(stmt.args) if name not in snapshots], stmt)
        return readers

    def store_has_work(self, stmt: Store) -> bool:
        return stmt.array in self.reverse.active or id(stmt) in self.save_sites

    def has_reverse_work(self, block: list) -> bool:
        for stmt in ir.walk(block):
            if isinstance(stmt, Assign) and stmt.target in self.reverse.active:
                return True     # a derivative, or the reset of one (an active value overwritten)
            if self.reverse.differentiable(stmt) or id(stmt) in self.save_sites or \
                    id(stmt) in self.local_definitions or id(stmt) in self.index_saves:
                return True
            if isinstance(stmt, Store) and self.store_has_work(stmt):
                return True
        return False

    # ------------------------------------------------------------------------ saves
    def runs_after(self, writer, reader) -> bool:
        """May `writer` run after `reader` (later in the program, or in a loop both are in)?"""
        facts = self.facts
        if facts.pos(writer) > facts.pos(reader):
            return True
        return bool(set(map(id, facts.loops_of(writer))) & set(map(id, facts.loops_of(reader))))

    def plan_saves(self, readers: dict) -> None:
        facts = self.facts
        saves, index_saves = set(), set()
        for stmt in facts.statements:
            if isinstance(stmt, (Assign, Store)):
                name = stmt.target if isinstance(stmt, Assign) else stmt.array
                if id(stmt) in self.local_definitions:
                    continue
                old = facts.overwritten(stmt, name)
                if old and old <= {dataflow.UNDEFINED}:
                    continue           # it can only overwrite nothing
                # (an assignment is a reader of its own target where its reversal resets the adjoint to
                # the zeros of the overwritten value's shape: it needs that value back, loop or not)
                if any(self.runs_after(stmt, r) or r is stmt for r in readers.get(name, ())):
                    saves.add(id(stmt))
            elif isinstance(stmt, For):
                entry = self.index_on_entry(stmt)
                if entry <= {dataflow.UNDEFINED}:
                    continue
                outside = [r for r in readers.get(stmt.index, ()) if not facts.inside(r, stmt)]
                if any(self.runs_after(stmt, r) for r in outside):
                    index_saves.add(id(stmt))
        self.save_sites, self.index_saves = saves, index_saves

    def index_on_entry(self, loop: For) -> frozenset:
        """Definitions of a for loop's index that may reach the loop's entry (not its own trips).  In an
        enclosing loop, the loop's own definitions (its trips, its body's) reach its entry again from the
        enclosing loop's previous trip: the dataflow layer's set cannot tell those from its own trips'
        back edge, so they are kept (an index read after the inner loop needs its value restored when
        the enclosing trip is reversed, though on the first trip nothing assigned it)."""
        facts = self.facts
        if facts.loops_of(loop):
            return frozenset(facts.overwritten(loop, loop.index))
        return frozenset(d for d in facts.overwritten(loop, loop.index)
                         if not (isinstance(d, int) and (d == facts.pos(loop) or
                                                         facts.inside(facts.statement_at(d), loop))))

    # ----------------------------------------------------------------- iteration locals
    def plan_locals(self, readers: dict) -> None:
        facts = self.facts
        self.local_definitions, self.iteration_locals, self.recomputed = set(), {}, {}
        self.snapshots, self.snapshot_reads = {}, {}
        for loop in facts.statements:
            if not isinstance(loop, (For, While)):
                continue
            exposed = facts.upward_exposed(loop)
            written = facts.written_in(loop)
            recomputable: dict = {}
            reads: dict = {}            # id(recomputable assignment) -> {variable: snapshot key}
            poppable: dict = {}         # scalar single locals a reversed trip can pop when it starts
            epochs: dict = {}           # variable -> key of its value since the body last wrote it
            wanted: list = []
            popped: list = []
            for stmt in loop.body:
                if isinstance(stmt, Assign) and self.single_local(stmt, exposed):
                    snapshots = self.recomputable(stmt, loop, written, recomputable, poppable, epochs)
                    if snapshots is not None:
                        recomputable[stmt.target] = stmt
                        reads[id(stmt)] = snapshots
                    name = stmt.target
                    stmt_readers = readers.get(name, ())
                    inside = all(facts.inside(r, loop) for r in stmt_readers)
                    if inside and name not in recomputable and self.tapeable(name):
                        poppable[name] = stmt
                    if inside and any(self.runs_after(stmt, r) for r in stmt_readers):
                        self.local_definitions.add(id(stmt))
                        if name in recomputable:
                            wanted.append(name)
                        else:
                            popped.append(name)
                for name in facts.written_in(stmt) if not isinstance(stmt, Assign) else (stmt.target,):
                    epochs.pop(name, None)      # a write starts a new value: a later read needs a new snapshot
            # recompute the wanted values and the recomputable values they are computed from, in order
            needed_names = set(wanted)
            for stmt in reversed(loop.body):
                if isinstance(stmt, Assign) and stmt.target in needed_names:
                    needed_names |= {a.name for a in self.operands(stmt) if isinstance(a, Var) and a.name in recomputable}
            chain = [s for s in loop.body if isinstance(s, Assign) and s.target in needed_names
                     and recomputable.get(s.target) is s]
            if chain:
                self.recomputed[id(loop)] = chain
            # what the chain reads from the forward trip: the locals it pops, the snapshots pushed for it
            sites: dict = {}
            for stmt in chain:
                for arg in self.operands(stmt):
                    if isinstance(arg, Var) and poppable.get(arg.name) is not None and arg.name not in popped:
                        popped.append(arg.name)
                        self.local_definitions.add(id(poppable[arg.name]))
                for variable, key in reads[id(stmt)].items():
                    sites.setdefault(key, (stmt, variable))
                if reads[id(stmt)]:
                    self.snapshot_reads[id(stmt)] = reads[id(stmt)]
            if popped:
                order = {name: k for k, name in enumerate(s.target for s in loop.body if isinstance(s, Assign))}
                self.iteration_locals[id(loop)] = sorted(popped, key=order.__getitem__)
            if sites:
                self.snapshots[id(loop)] = [(id(site), variable, key) for key, (site, variable) in sites.items()]

    def single_local(self, stmt: Assign, exposed) -> bool:
        """Is `stmt` the only definition of its target, which no trip reads before it?"""
        name = stmt.target
        return (self.facts.definitions_of(name) == {self.facts.pos(stmt)} and name not in exposed
                and name not in self.primal.params and id(stmt) not in self._test_statements)

    def recomputable(self, stmt: Assign, loop, written: set, recomputable: dict, poppable: dict,
                     epochs: dict) -> dict | None:
        """A scalar, or a view `x[t]` / `x[a:b]` (basic indexing: O(1) to make again; its copy, when
        `ir.aliasing` made one: no dearer than the copy a tape would take), computed from
        constants, loop indices, values the loop does not write, other recomputed locals and, for a
        float (a value derivatives read, where recomputing shows the symbolic pass its relations: a
        branch's condition or an index is cheaper and plainer on a tape of its own), scalar locals a
        reversed trip pops (`poppable`) and snapshots of scalars the loop writes.  Returns {variable:
        snapshot key} for the snapshots it reads (`epochs` gives the key of each variable's current
        value), None when it is not recomputable.  A view
        reads the memory of its base: the aliasing pass refuses a program that writes that memory
        through another name and reads it afterwards, and later writes into the base itself are
        undone before the reversed trip (its operands become reverse readers), so the view made again
        sees the elements the forward trip saw."""
        t = self.types.get(stmt.target)
        if t is None or stmt.prim in _NOT_RECOMPUTED or any(p not in INT64_PARAMS for p in stmt.params):
            return None
        if t.is_array and not (self.is_view(stmt) and not self.written_through_another_name(stmt)):
            return None
        snapshots: dict = {}
        for arg in self.operands(stmt):
            if isinstance(arg, Const):
                continue
            if not isinstance(arg, Var):
                return None
            name = arg.name
            if name in recomputable or self.is_index(name, stmt):
                continue
            if name in poppable and t.kind == "float":
                continue
            if name in written and t.kind == "float" and self.tapeable(name):
                snapshots[name] = epochs.setdefault(name, (id(loop), name, id(stmt)))
                continue
            if name in written:
                return None
        return snapshots

    def partial_snapshots(self, stmt) -> dict:
        """{variable: snapshot key} that the partials of a recomputed statement read in the variables'
        places (`Reverse.adjoint_assign`): the rule table's partials only, not a vjp's, which reads its
        operands where it likes."""
        return self.snapshot_reads.get(id(stmt), {}) if PRIMITIVES[stmt.prim].partials is not None else {}

    def tapeable(self, name: str) -> bool:
        """Can a tape hold the value of `name`: a float, an integer or a boolean?"""
        t = self.types.get(name)
        return t is not None and not t.is_array and t.kind in TAPE_KINDS

    def is_view(self, stmt: Assign) -> bool:
        """Is `stmt` a basic subscript of an array (integers and slices, no index arrays), as a view or
        as the copy `ir.aliasing` makes of a view a later store would change?"""
        if stmt.prim not in ("subscript", "subscript_copy"):
            return False
        for index in stmt.args[1:]:
            for operand in self.operands_of_index(index):
                if isinstance(operand, Var) and (self.types.get(operand.name) is None
                                                 or self.types[operand.name].is_array):
                    return False
        return True

    def written_through_another_name(self, view: Assign) -> bool:
        """May a store or in-place update anywhere in the function write the memory of the view's base
        through another name (`z = a[1:]`, then `a[1] = ...`)?  The reverse sweep undoes writes name by
        name: a write through `a` is undone into `a`, which the view made again from `z` would see only
        through their shared memory, and the audit refuses that program (an InternalError where
        taping the view gives the gradient)."""
        base = view.args[0]
        if not isinstance(base, Var):
            return True
        facts = self.facts
        for stmt in facts.statements:
            written = stmt.array if isinstance(stmt, Store) else \
                stmt.inplace if isinstance(stmt, Assign) and stmt.inplace else None
            if written is not None and written != base.name and base.name in facts.shared_at(stmt):
                return True
        return False

    def operands(self, stmt: Assign) -> list:
        """The operands a statement reads: its arguments, a slice's bounds in place of the slice."""
        return [operand for arg in stmt.args for operand in self.operands_of_index(arg)]

    @staticmethod
    def operands_of_index(arg) -> list:
        if isinstance(arg, Slice):
            return [b for b in (arg.start, arg.stop, arg.step) if b is not None]
        return [arg]

    def is_index(self, name: str, stmt) -> bool:
        """Is `name` the index of a loop enclosing `stmt`, defined by that loop alone?"""
        facts = self.facts
        for loop in facts.loops_of(stmt):
            if isinstance(loop, For) and loop.index == name and facts.definitions_of(name) == {facts.pos(loop)}:
                return True
        return False

    def is_recomputed(self, stmt) -> bool:
        return any(stmt is s for stmts in self.recomputed.values() for s in stmts)

    # ----------------------------------------------------------------------- checks
    def check_realisable(self) -> None:
        """Refuse a plan the reverse sweep cannot carry out (rather than derive a wrong adjoint)."""
        facts = self.facts
        for stmt in facts.statements:
            if isinstance(stmt, If) and (self.has_reverse_work(stmt.body) or self.has_reverse_work(stmt.orelse)):
                if set(ir.operand_vars([stmt.cond])) & (ir.assigned_in(stmt.body) | ir.assigned_in(stmt.orelse)):
                    raise InternalError(f"a branch writes its own condition {stmt.cond}")
            if isinstance(stmt, For) and self.has_reverse_work(stmt.body):
                bounds = set(ir.operand_vars([stmt.start, stmt.stop, stmt.step]))
                if bounds & facts.written_in(stmt):
                    raise InternalError(f"loop bounds {sorted(bounds)} written inside the loop")

    def _recorded_names(self) -> set:
        names = set()
        for stmt in self.facts.statements:
            if id(stmt) in self.save_sites:
                names.add(stmt.target if isinstance(stmt, Assign) else stmt.array)
                name = stmt.target if isinstance(stmt, Assign) else stmt.array
                if dataflow.UNDEFINED in self.facts.overwritten(stmt, name) and name not in self.undefined_first:
                    self.undefined_first.append(name)
            if id(stmt) in self.index_saves:
                names.add(stmt.index)
                if dataflow.UNDEFINED in self.index_on_entry(stmt) and stmt.index not in self.undefined_first:
                    self.undefined_first.append(stmt.index)
        for locals_ in self.iteration_locals.values():
            names.update(locals_)
        return names

    def saves(self, stmt) -> bool:
        """Does the forward sweep push the old value of `stmt`'s target before `stmt`?"""
        return id(stmt) in self.save_sites
