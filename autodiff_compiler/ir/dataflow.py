"""Dataflow: the facts about one IR function that every transform and optimisation asks.

Takes: an `ir.Function` (primal or adjoint; structured `If`/`For`/`While`
blocks, stores, tapes) and, for the array facts, its `types`.  Computed once
per function (`of(function)`, cached until a pass calls `invalidate`), it
guarantees, for the program exactly as written:

* **positions**: every statement numbered in program order (a compound
  statement before its children), with its enclosing loops and parent;
* **reaching definitions** (`reaching(stmt, var)`): the definitions that may
  reach each read.  A definition is an assignment, a `Pop`, a `TapeAlloc`, a
  parameter (`param:x`), the index of a `For` (defined at the head of every
  trip), or a `Store` -- a *partial* definition that does not kill the
  earlier ones, of the array and of every array that may share memory with it.
  A loop that may run zero times defines nothing on that path: what reaches
  its exit is what reached its entry joined with what its trips define.
  `UNDEFINED` reaches a read on a path where the variable was never assigned;
* **statements that never run** (`never_runs(stmt)`): a statement some read of
  which only an undefined variable or statements that never run can give a
  value, or nested in one that never runs (see the method);
* **def-use chains** (`uses_of(definition)`), **liveness** (`live_out(stmt)`,
  `live_in(stmt)`), understanding branches, loops (the back edge), early
  exits (lowered to flags that guard the rest of a trip), stores (a store
  reads its array: it is a partial definition);
* **loops**: `written_in(loop)` (every variable a trip may define, the index
  included), `upward_exposed(loop)` (read in a trip before any definition in
  that trip: its value may come from the previous trip), `carried(loop)`
  (upward exposed and written in the loop: a loop-carried dependence), and
  `may_skip(loop)` (the loop may run zero trips; decided only for constant
  bounds, otherwise assumed);
* **definition-clear paths** (`def_clear(name, origin, reader)`): no
  definition of `name` -- full, or partial (a store or an in-place update into
  any array that may share memory with it) -- lies on any path from the
  statement `origin` to the read by `reader` (or to the function's exit).
  Decided from positions and nesting: `origin` must run before `reader` on
  every path (its block encloses the reader's), and a loop around the reader
  but not the origin counts whole (its back edge); otherwise the answer is
  "not clear".  Indexed (sorted definition positions per variable), so a
  question costs a logarithm, not a scan;
* **arrays** (`objects(stmt, var)`): which allocations an array variable may
  refer to where it is read; `written_memory()`: every variable that may refer
  to memory a store or an in-place update writes into.  `b = a` makes an alias, slices, row reads and
  transposes are views: they refer to the same objects as their base; every
  other primitive makes a new array.  Parameters are objects of their own.

Every answer is conservative: "may" facts over-approximate, and a question
the layer cannot decide gets the answer that keeps an optimisation from
firing.
"""
from __future__ import annotations

import bisect

from . import nodes as ir
from .nodes import Assign, Comment, Const, For, If, Pop, Push, Slice, Store, TapeAlloc, Var, While

UNDEFINED = "undefined"
_ONLY_UNDEFINED = frozenset({UNDEFINED})

# primitives whose array result shares (or may share) memory with their first operand: views, and
# `sum_like` (its helpers return the operand itself when the shapes agree) and `slice_axis` (a slice)
SHARING = {"copy", "stop_gradient", "subscript", "transpose", "transpose_axes", "reshape", "reshape_as",
           "expand_dims", "squeeze", "sum_like", "slice_axis"}


def shared_operand(stmt) -> int | None:
    """The index of the operand whose array this assignment's result may be, or be a view of: the first of
    a view or alias (`SHARING`), or the operand the printer spells the assignment as, whatever the
    primitive (`np.sum(x, axis=())` prints as `x`: the rule table's spelling for these params is `{0}`; a
    `@custom_derivative` function's value is its last operand, the body's result as it is: `{1}` of one
    parameter).  None: the result is a new array (or no array)."""
    if stmt.prim in SHARING:
        return 0
    from ..rules import PRIMITIVES
    prim = PRIMITIVES.get(stmt.prim)
    if prim is None or prim.array is None:
        return None
    try:
        text = prim.spelling(True, stmt.params, len(stmt.args))
    except (KeyError, TypeError):       # params not yet resolved (`ir.types.specialise`): not printable yet
        return None
    if text == "":
        return 0
    if isinstance(text, str) and text.startswith("{") and text.endswith("}") and text[1:-1].isdigit() \
            and int(text[1:-1]) < len(stmt.args):
        return int(text[1:-1])
    return None


def _has_effect(stmt) -> bool:
    """A statement run for its effect, kept although nothing reads what it defines: an `assert`, and a
    statement the user wrote whose error is part of the function's meaning (`error_effect`: an element
    read or store with an integer index, Python's IndexError out of range; a division of numbers,
    ZeroDivisionError): a derivative must not be a number where the function raises."""
    if stmt.error_effect:
        return True
    if type(stmt) is Store:
        return False
    from ..rules import PRIMITIVES
    prim = PRIMITIVES.get(stmt.prim)
    return prim is not None and prim.effect


def param_def(name: str) -> str:
    return f"param:{name}"


class StructuredForward:
    """A forward dataflow analysis over the structured IR, to a fixed point at loops.

    Subclasses give `simple` (the transfer of a statement that is not a
    branch or loop: update the state in place), `join` (of two states), and
    optionally `read` (a compound statement reads its condition or bounds)
    and `begin_trip` (what the head of every `for` trip does: define the
    index).  The traversal guarantees: a branch's state after is the join of
    its sides; a loop's head is the join of its entry and the end of every
    trip, iterated until it stops changing, so the state after a loop covers
    zero trips; a `while` loop is left after a test, or after a trip that
    set its exit flag (the rest of a trip after `break` is guarded by flags
    in the IR, so the end of a trip covers it)."""

    def read(self, stmt, names, state) -> None:
        pass

    def begin_trip(self, loop, state) -> None:
        pass

    def join(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def simple(self, stmt, state) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, block: list, state: dict) -> dict:
        state = dict(state)
        for stmt in block:
            if isinstance(stmt, If):
                self.read(stmt, ir.operand_vars([stmt.cond]), state)
                state = self.join(self.run(stmt.body, state), self.run(stmt.orelse, state))
            elif isinstance(stmt, For):
                self.read(stmt, ir.operand_vars([stmt.start, stmt.stop, stmt.step]), state)
                head = state
                while True:
                    trip = dict(head)
                    self.begin_trip(stmt, trip)
                    end = self.run(stmt.body, trip)
                    if stmt.exit_flag:
                        self.read(stmt, [stmt.exit_flag], end)
                    new_head = self.join(head, end)
                    if new_head == head:
                        break
                    head = new_head
                state = head
            elif isinstance(stmt, While):
                head = state
                while True:
                    tested = self.run(stmt.test, head)
                    self.read(stmt, ir.operand_vars([stmt.cond]), tested)
                    end = self.run(stmt.body, tested)
                    if stmt.exit_flag:
                        self.read(stmt, [stmt.exit_flag], end)
                    new_head = self.join(head, end)
                    if new_head == head:
                        break
                    head = new_head
                state = self.join(tested, end) if stmt.exit_flag else tested
            elif not isinstance(stmt, Comment):
                self.simple(stmt, state)
        return state


class Dataflow(StructuredForward):
    """Reaching definitions, def-use chains, liveness, loop and array facts of one function."""

    def __init__(self, function: ir.Function):
        self.params = tuple(function.params)   # not the function, which holds these facts (`of`)
        self.types = getattr(function, "types", {}) or {}
        self.statements: list = []
        self.position: dict[int, int] = {}
        self.loops: dict[int, tuple] = {}
        self.parent: dict[int, object] = {}
        self.block_of: dict[int, int] = {}       # statement -> id of the block (list) holding it
        self._blocks: dict[int, list] = {}
        self.end: dict[int, int] = {}            # compound statement -> last position inside it
        self._top = id(function.body)
        # the block analysed: a pass may put an equal new list in `function.body` (rebuilt, unchanged,
        # so not invalidated) -- strong liveness, computed later on demand, must walk this one
        self._body = function.body
        self._number(function.body, (), None)
        self._reaching: dict[tuple, frozenset] = {}
        self._overwritten: dict[tuple, frozenset] = {}
        self.definitions: dict[str, set] = {}
        for stmt in self.statements:
            for name in defined_by(stmt):
                self.definitions.setdefault(name, set()).add(self.position[id(stmt)])
        self._objects: dict = {}        # definition that may share memory -> frozenset of objects (arrays)
        self._shared_at: dict = {}      # store position -> {other array name: its reaching definitions}
        entry = {p: frozenset({param_def(p)}) for p in function.params}
        # the objects an array may refer to feed back into what a store defines: iterate to agreement
        while True:
            before = dict(self._objects)
            self.exit_state = self.run(function.body, entry)
            if self._objects == before:
                break
        self.uses: dict = {}
        for (pos, name), defs in self._reaching.items():
            for d in defs:
                self.uses.setdefault(d, set()).add(pos)
        self._live_out: dict[int, frozenset] = {}     # compound statements only
        self._live_in: dict[int, frozenset] = {}
        self._block_end: dict[int, frozenset] = {}    # id of a block -> live at its end
        self._strong_end: dict[int, frozenset] = {}
        results = ir.operand_vars(list(function.returns) or [function.result])
        self.live_at_exit = frozenset(results)
        self._backward(function.body, set(results))
        self._strong_out = self._strong_in = None
        self._around: dict[tuple, tuple] = {}     # (strong, position) -> (live before, live after)
        self._marks: dict[tuple, tuple] = {}      # (strong, block) -> `_checkpoints`
        self._upward: dict[int, frozenset] = {}
        self._sorted_defs = None
        self._written = None
        self._never = None

    # ------------------------------------------------------------------ numbering
    def _number(self, block: list, loops: tuple, parent) -> None:
        # the block as analysed: a pass may insert statements while it still asks these facts
        self._blocks[id(block)] = list(block)
        for stmt in block:
            self.position[id(stmt)] = len(self.statements)
            self.statements.append(stmt)
            self.loops[id(stmt)] = loops
            self.parent[id(stmt)] = parent
            self.block_of[id(stmt)] = id(block)
            inner = loops + ((stmt,) if isinstance(stmt, (For, While)) else ())
            for child in ir.child_blocks(stmt):
                self._number(child, inner, stmt)
            self.end[id(stmt)] = len(self.statements) - 1

    def pos(self, stmt) -> int:
        return self.position[id(stmt)]

    def loops_of(self, stmt) -> tuple:
        """The loops enclosing `stmt`, outermost first (a loop is not among its own)."""
        return self.loops[id(stmt)]

    def inside(self, stmt, compound) -> bool:
        """Is `stmt` nested (at any depth) in the compound statement `compound`?"""
        parent = self.parent.get(id(stmt))
        while parent is not None:
            if parent is compound:
                return True
            parent = self.parent.get(id(parent))
        return False

    def statement_at(self, position: int):
        return self.statements[position]

    # -------------------------------------------------------- reaching definitions
    # the sets are immutable and shared between the facts and the states: a first visit stores the state's
    # own set, a later one (a loop's next round) unites (most facts of a long function are first visits)
    def _read(self, stmt, names, state) -> None:
        pos = self.position[id(stmt)]
        reaching = self._reaching
        for name in names:
            key = (pos, name)
            defs = state.get(name, _ONLY_UNDEFINED)
            known = reaching.get(key)
            reaching[key] = defs if known is None else known | defs

    def _define(self, stmt, name: str, state: dict, partial: bool = False) -> None:
        pos = self.position[id(stmt)]
        key = (pos, name)
        before = state.get(name, _ONLY_UNDEFINED)
        known = self._overwritten.get(key)
        self._overwritten[key] = before if known is None else known | before
        if partial:
            state[name] = before | {pos}
        else:
            state[name] = frozenset({pos})

    # the StructuredForward hooks: reaching definitions (and the objects arrays refer to)
    def read(self, stmt, names, state: dict) -> None:
        self._read(stmt, names, state)

    def join(self, a: dict, b: dict) -> dict:
        return _join(a, b)

    def begin_trip(self, loop, state: dict) -> None:
        self._define(loop, loop.index, state)

    def simple(self, stmt, state: dict) -> None:
        if isinstance(stmt, Assign):
            self._read(stmt, ir.operand_vars(stmt.args), state)
            if stmt.inplace:
                self._read(stmt, [stmt.inplace], state)      # `y += v` writes into y's array
                self._sharing_names(stmt, stmt.inplace, state)
            self._note_objects(stmt, state)
            self._define(stmt, stmt.target, state)
        elif isinstance(stmt, Store):
            self._read(stmt, [stmt.array] + ir.operand_vars(stmt.index) + ir.operand_vars([stmt.value]), state)
            for name in self._sharing_names(stmt, stmt.array, state):
                self._define(stmt, name, state, partial=True)
        elif isinstance(stmt, (Push, Pop, TapeAlloc)):
            self._read(stmt, ir.reads(stmt), state)
            for name in ir.writes(stmt):
                self._define(stmt, name, state, partial=isinstance(stmt, Push))
        else:  # pragma: no cover - every statement kind is handled
            raise TypeError(f"dataflow: unknown statement {type(stmt).__name__}")

    def reaching(self, stmt, name: str) -> frozenset:
        """Definitions of `name` that may reach its read by `stmt` (empty if `stmt` does not read it)."""
        return self._reaching.get((self.position[id(stmt)], name), frozenset())

    def reaching_exit(self, name: str) -> frozenset:
        return self.exit_state.get(name, _ONLY_UNDEFINED)

    def uses_of(self, definition) -> set:
        """Positions of the statements that read a value `definition` may have made."""
        return self.uses.get(definition, set())

    def definitions_of(self, name: str) -> set:
        """Positions of every statement that defines `name`, fully or partially."""
        return self.definitions.get(name, set())

    def overwritten(self, stmt, name: str) -> frozenset:
        """Definitions of `name` whose value `stmt` may overwrite (UNDEFINED: on some path there is none)."""
        return self._overwritten.get((self.position[id(stmt)], name), frozenset())

    def may_be_undefined(self, stmt, name: str) -> bool:
        return UNDEFINED in self.reaching(stmt, name)

    def never_runs(self, stmt) -> bool:
        """Can `stmt` never run (with its reads bound)?  True when it is nested in a statement that never
        runs, or one of the variables it reads (`ir.reads`) has only UNDEFINED and statements that never
        run among its reaching definitions; a `while` loop is never said not to run (its test block runs
        before it reads its condition).  The largest such set (a fixed point that starts from "no
        statement runs"), so that a loop trip's own definition (a tape's top, popped again each trip)
        cannot vouch for itself.  Sound for a program that reads no variable unbound -- what the front
        end makes sure of for the user's function (`pipeline._check_defined`, `frontend.bound_checks`)
        and the transforms for their sweeps: the first run of such a statement would read a value that
        only an earlier run of one of them could have made."""
        if self._never is None:
            runs = [False] * len(self.statements)
            changed = True
            while changed:
                changed = False
                for pos, s in enumerate(self.statements):
                    if runs[pos]:
                        continue
                    parent = self.parent.get(id(s))
                    if parent is not None and not runs[self.position[id(parent)]]:
                        continue
                    reads = ir.operand_vars([s.capacity]) if isinstance(s, TapeAlloc) else ir.reads(s)
                    if isinstance(s, While) or all(self._may_have_value(pos, name, runs) for name in reads):
                        runs[pos] = changed = True
            self._never = frozenset(pos for pos, ran in enumerate(runs) if not ran)
        return self.position[id(stmt)] in self._never

    def _may_have_value(self, pos: int, name: str, runs: list) -> bool:
        defs = self._reaching.get((pos, name))
        if not defs:
            return True                 # not asked of this read: assume it has one
        return any(d != UNDEFINED and (not isinstance(d, int) or runs[d]) for d in defs)

    # ------------------------------------------------------ definition-clear paths
    def _all_definitions(self, name: str) -> list:
        """Sorted positions of every full or partial definition of `name` (stores and in-place updates
        through any array that may share its memory included)."""
        if self._sorted_defs is None:
            index: dict = {}
            for name_, positions in self.definitions.items():
                index.setdefault(name_, set()).update(positions)
            for pos, shared in self._shared_at.items():
                for other in shared:
                    index.setdefault(other, set()).add(pos)
            for pos, stmt in enumerate(self.statements):
                if isinstance(stmt, Assign) and stmt.inplace:
                    index.setdefault(stmt.inplace, set()).add(pos)
            self._sorted_defs = {n: sorted(p) for n, p in index.items()}
        return self._sorted_defs.get(name, [])

    def def_clear(self, name: str, origin, reader=None, every_trip: bool = False) -> bool:
        """Is every path from `origin` to the read by `reader` (None: the function's exit) free of
        definitions of `name`, full or partial?  Only answered "clear" when `origin` runs before the reader
        on every path: the block holding `origin` encloses the reader, which comes after it there.
        `every_trip`: the reader is a loop that reads on every trip (a `while` condition, after its test):
        what the loop defines counts too."""
        start = self.position[id(origin)]
        if reader is None:
            if self.block_of[id(origin)] != self._top:
                return False
            defs = self._all_definitions(name)
            return bisect.bisect_right(defs, start) == len(defs)
        stop = self.position[id(reader)]
        home, ancestor = self.block_of[id(origin)], reader
        while self.block_of[id(ancestor)] != home:
            ancestor = self.parent[id(ancestor)]
            if ancestor is None:
                return False
        if self.position[id(ancestor)] <= start:
            return False
        defs = self._all_definitions(name)
        if bisect.bisect_right(defs, start) != bisect.bisect_left(defs, stop):
            return False
        # a loop around the reader but not the origin: its back edge brings every definition in it
        around = self.loops[id(reader)][len(self.loops[id(origin)]):] + ((reader,) if every_trip else ())
        for loop in around:
            first, last = self.position[id(loop)], self.end[id(loop)]
            if bisect.bisect_left(defs, first) != bisect.bisect_right(defs, last):
                return False
        return True

    # ------------------------------------------------------------------- liveness
    def _backward(self, block: list, live: set, strong: bool = False) -> set:
        """Liveness, backwards over a block.  `strong`: only reads by statements whose own result is
        live (or that have effects) count, so a chain of dead assignments is dead all at once.

        Live sets are stored at block ends and around compound statements only (unions over the
        fixed-point passes, which only grow); a simple statement's are recomputed on demand from its
        block's end (`_live_around`), so a long block costs linear time, not its length times the
        number of live variables."""
        live = set(live)
        ends = self._strong_end if strong else self._block_end
        key = id(block)
        ends[key] = ends[key] | live if key in ends else frozenset(live)
        outs, ins = (self._strong_out, self._strong_in) if strong else (self._live_out, self._live_in)
        for stmt in reversed(block):
            kind = type(stmt)
            if kind is Assign:
                if not strong or stmt.target in live or _has_effect(stmt):
                    self._mark_needed(stmt, strong)
                    live.discard(stmt.target)
                    live.update(ir.operand_vars(stmt.args))
                else:
                    live.discard(stmt.target)
                continue
            if kind is Store:
                if not strong or stmt.array in live or stmt.error_effect:
                    self._mark_needed(stmt, strong)
                    live.update(ir.reads(stmt))
                continue
            if kind is Push:
                self._mark_needed(stmt, strong)
                live.update(ir.reads(stmt))
                continue
            if kind is Pop:
                self._mark_needed(stmt, strong)
                live.discard(stmt.target)
                live.update(ir.reads(stmt))
                continue
            if kind is TapeAlloc:
                if not strong or stmt.tape in live:
                    self._mark_needed(stmt, strong)
                    live.discard(stmt.tape)
                    live.update(ir.reads(stmt))
                else:
                    live.discard(stmt.tape)
                continue
            if kind is Comment:
                continue
            pos = self.position[id(stmt)]
            outs[pos] = outs[pos] | live if pos in outs else frozenset(live)
            if isinstance(stmt, If):
                body = self._backward(stmt.body, live, strong)
                orelse = self._backward(stmt.orelse, live, strong)
                if strong and not self._holds_needed(stmt):
                    pass            # nothing in it is needed: it goes, and its condition with it
                else:
                    self._mark_needed(stmt, strong)
                    live = body | orelse | set(ir.operand_vars([stmt.cond]))
            elif isinstance(stmt, For):
                exit_live = set(live)
                head = set(exit_live)
                flag = {stmt.exit_flag} if stmt.exit_flag else set()
                while True:
                    trip = self._backward(stmt.body, head | flag, strong)
                    new_head = (trip - {stmt.index}) | exit_live
                    if new_head <= head:
                        break
                    head |= new_head
                if strong and not (self._holds_needed(stmt) or stmt.exit_flag or stmt.index in exit_live):
                    live = exit_live    # nothing in it is needed, nor its index after it: it goes
                else:
                    self._mark_needed(stmt, strong)
                    live = head | set(ir.operand_vars([stmt.start, stmt.stop, stmt.step]))
            elif isinstance(stmt, While):
                exit_live = set(live)
                head = set(exit_live)
                flag = {stmt.exit_flag} if stmt.exit_flag else set()
                cond = set(ir.operand_vars([stmt.cond]))
                while True:
                    trip = self._backward(stmt.body, head | flag | exit_live, strong)
                    tested = self._backward(stmt.test, trip | exit_live | cond, strong)
                    if tested <= head:
                        break
                    head |= tested
                live = set(head)
                self._mark_needed(stmt, strong)     # a while loop stays: it may not end
            ins[pos] = ins[pos] | live if pos in ins else frozenset(live)
        return live

    # a block's live sets are kept after every CHECKPOINT-th statement from its end: a query walks back at
    # most that many statements from the nearest one (keeping every statement's sets cost the block's
    # length times the number of live variables: quadratic in a straight-line gradient)
    CHECKPOINT = 32

    def _live_around(self, stmt, strong: bool) -> tuple:
        """(live before, live after) a statement: stored for compound ones, else walked back from the
        nearest checkpoint after it in its block (`_checkpoints`: one walk per block, from its end,
        with the same transfer as `_backward`)."""
        pos = self.position[id(stmt)]
        outs, ins = (self._strong_out, self._strong_in) if strong else (self._live_out, self._live_in)
        if pos in outs:
            return ins.get(pos, frozenset()), outs[pos]
        found = self._around.get((strong, pos))
        if found is not None:
            return found
        block = self._blocks.get(self.block_of[id(stmt)])
        if block is None:
            return frozenset(), frozenset()
        marks, index_of = self._checkpoints(self.block_of[id(stmt)], block, strong)
        index = index_of.get(id(stmt))
        if index is None:               # inserted by a pass after the analysis: not in the block analysed
            return frozenset(), frozenset()
        last = len(block) - 1
        start = index + (last - index) % self.CHECKPOINT
        live = set(marks[start])            # live after block[start]
        for other in block[start:index:-1]:
            self._transfer(other, live, strong)
        after = frozenset(live)
        self._transfer(stmt, live, strong)
        found = self._around[(strong, pos)] = (frozenset(live), after)
        return found

    def _checkpoints(self, key: int, block: list, strong: bool) -> tuple:
        """({index: live after block[index]} at every CHECKPOINT-th statement from the block's end, and
        {id(statement): index}), walked once per block and strength."""
        found = self._marks.get((strong, key))
        if found is None:
            ends = self._strong_end if strong else self._block_end
            live = set(ends.get(key, frozenset()))
            marks = {}
            last = len(block) - 1
            for index in range(last, -1, -1):
                if (last - index) % self.CHECKPOINT == 0:
                    marks[index] = frozenset(live)
                self._transfer(block[index], live, strong)
            found = self._marks[(strong, key)] = (marks, {id(s): k for k, s in enumerate(block)})
        return found

    def _transfer(self, stmt, live: set, strong: bool) -> None:
        pos = self.position[id(stmt)]
        outs, ins = (self._strong_out, self._strong_in) if strong else (self._live_out, self._live_in)
        if pos in outs:
            live.clear()
            live.update(ins.get(pos, frozenset()))
            return
        if isinstance(stmt, Comment):
            return
        target = stmt.target if isinstance(stmt, (Assign, Pop)) else stmt.tape if isinstance(stmt, TapeAlloc) \
            else stmt.array if isinstance(stmt, Store) else None
        effect = isinstance(stmt, (Push, Pop)) or (isinstance(stmt, (Assign, Store)) and _has_effect(stmt))
        if strong and not effect and target not in live:
            if not isinstance(stmt, Store):
                live.discard(target)
            return
        if not isinstance(stmt, (Store, Push)):
            live.discard(target)
        live.update(ir.reads(stmt))

    def _mark_needed(self, stmt, strong: bool) -> None:
        if strong:
            self._needed.add(self.position[id(stmt)])

    def _holds_needed(self, compound) -> bool:
        return any(self.position[id(s)] in self._needed for child in ir.child_blocks(compound)
                   for s in ir.walk(child))

    def needed(self, stmt) -> bool:
        """Does dead-code elimination keep `stmt`?  An assignment, store or tape allocation whose target
        is strongly live after it, a push or pop, a branch or `for` loop holding something needed (a
        `for` loop also when it has an exit flag or its index is read after it), a `while` loop."""
        if isinstance(stmt, Comment):
            return True
        self._strong()
        return self.position[id(stmt)] in self._needed

    def live_out(self, stmt) -> frozenset:
        """Variables that may be read after `stmt` before being fully redefined."""
        return self._live_around(stmt, False)[1]

    def live_in(self, stmt) -> frozenset:
        return self._live_around(stmt, False)[0]

    def strongly_live_out(self, stmt) -> frozenset:
        """Like `live_out`, counting only reads by statements that are themselves needed (what
        dead-code elimination asks: a chain of assignments nothing needs is dead as a whole)."""
        self._strong()
        return self._live_around(stmt, True)[1]

    def _strong(self) -> None:
        if self._strong_out is None:
            self._strong_out, self._strong_in, self._needed, self._strong_end = {}, {}, set(), {}
            self._backward(self._body, set(self.live_at_exit), strong=True)

    # ---------------------------------------------------------------------- loops
    def written_in(self, compound) -> set:
        """Every variable a statement (and what it nests) may define; a For's index included."""
        names = set(defined_by(compound))
        for child in ir.child_blocks(compound):
            for stmt in ir.walk(child):
                names.update(defined_by(stmt))
        return names

    def upward_exposed(self, loop) -> frozenset:
        """Variables a trip of `loop` may read before defining them in that trip."""
        key = id(loop)
        if key not in self._upward:
            self._upward[key] = frozenset(_exposed(loop))
        return self._upward[key]

    def carried(self, loop) -> frozenset:
        """Variables with a loop-carried dependence: read before defined in a trip, and defined in the loop."""
        return self.upward_exposed(loop) & frozenset(self.written_in(loop))

    def may_skip(self, loop) -> bool:
        """May `loop` run zero trips?  True unless its bounds are constants that say otherwise."""
        if isinstance(loop, While):
            return True
        if all(isinstance(b, Const) for b in (loop.start, loop.stop, loop.step)):
            return len(range(loop.start.value, loop.stop.value, loop.step.value)) == 0
        return True

    def decided_by_constants(self, branch) -> bool:
        """May the test of the `If` or `While` `branch` be computed from constants alone?  A compiler
        may then decide it and drop the untaken side before typing (Numba prunes a branch whose test
        compares two constants).  "May": False only when some value the test is made from reads a
        parameter, a loop index, a tape, or a value that may be undefined or differ between paths."""
        return self._made_of_constants(branch, branch.cond, {})

    def _made_of_constants(self, stmt, operand, memo: dict) -> bool:
        """`decided_by_constants`, of the value `stmt` reads from `operand`; `memo`: definition -> answer."""
        if isinstance(operand, Const):
            return True
        defs = self.reaching(stmt, operand.name)
        if not defs:
            return True                     # not asked of this read: assume the worst
        for d in defs:
            if not isinstance(d, int):
                return False                # a parameter, or undefined on some path
            if d not in memo:
                memo[d] = False             # a cycle through a loop's back edge is not constant
                made = self.statements[d]
                memo[d] = isinstance(made, Assign) and not made.inplace and \
                    all(self._made_of_constants(made, arg, memo) for arg in made.args if isinstance(arg, (Const, Var)))
            if not memo[d]:
                return False
        return True

    # ---------------------------------------------------------------------- arrays
    def _is_array(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.is_array

    def _objects_of_defs(self, defs) -> frozenset:
        out = frozenset()
        for d in defs:
            if isinstance(d, str) and d.startswith("param:"):
                out |= {d}
            elif d == UNDEFINED or isinstance(self.statements[d], (Store, Push)):
                continue        # a partial definition keeps the objects of the definitions it joins
            else:
                out |= self._objects.get(d, frozenset({("new", d)}))
        return out

    def _note_objects(self, stmt: Assign, state: dict) -> None:
        """What the array an assignment makes may refer to: its operand's objects when it shares memory."""
        pos = self.position[id(stmt)]
        index = shared_operand(stmt) if self._is_array(stmt.target) else None
        operand = stmt.args[index] if index is not None else None
        if isinstance(operand, Var) and self._is_array(operand.name):
            base = self._objects_of_defs(state.get(operand.name, frozenset()))
            self._objects[pos] = self._objects.get(pos, frozenset()) | base
        # else a new array (or no array): the objects of a definition not in `_objects`, `("new", pos)`,
        # not stored, so that a program whose arrays share nothing agrees with itself after one run

    def _sharing_names(self, stmt, array: str, state: dict) -> list:
        """The array written into and every array variable that may share memory with it here."""
        names = [array]
        if not self._is_array(array):
            return names
        stored = self._objects_of_defs(state.get(array, frozenset()))
        shared = self._shared_at.setdefault(self.position[id(stmt)], {})
        for name, defs in state.items():
            if name != array and self._is_array(name) and stored & self._objects_of_defs(defs):
                names.append(name)
                shared[name] = shared.get(name, frozenset()) | defs
        return names

    def shared_at(self, store) -> dict:
        """Other array variables that may share memory with the array `store` writes into (a `Store`,
        or an in-place `Assign`), each with the definitions that may reach it there: the write
        changes them too."""
        return self._shared_at.get(self.position[id(store)], {})

    def sharing_definition(self, definition) -> bool:
        """Is `definition` an assignment whose array shares memory with its operand (alias or view)?"""
        if not isinstance(definition, int):
            return False
        stmt = self.statements[definition]
        new = frozenset({("new", definition)})
        return isinstance(stmt, Assign) and self._objects.get(definition, new) != new

    def objects(self, stmt, name: str) -> frozenset:
        """The array objects `name` may refer to where `stmt` reads it."""
        return self._objects_of_defs(self.reaching(stmt, name))

    def objects_of_definition(self, definition) -> frozenset:
        return self._objects_of_defs([definition])

    def written_memory(self) -> frozenset:
        """Every variable that may refer to memory something writes into (a store, or an in-place
        update `y += v`), anywhere in the function: the written names, and each array variable one of
        whose definitions (or whose parameter) may refer to a written object."""
        if self._written is None:
            names, written = set(), set()
            for stmt in self.statements:
                if isinstance(stmt, Store):
                    names.add(stmt.array)
                    written |= self.objects(stmt, stmt.array)
                elif isinstance(stmt, Assign) and stmt.inplace:
                    names.add(stmt.inplace)
                    written |= self.objects(stmt, stmt.inplace)
            for name, positions in self.definitions.items():
                if self._is_array(name) and any(self.objects_of_definition(d) & written for d in positions):
                    names.add(name)
            names.update(p for p in self.params if param_def(p) in written)
            self._written = frozenset(names)
        return self._written


def defined_by(stmt) -> list:
    """Variables a statement itself defines (fully or partially); nested blocks not included."""
    if isinstance(stmt, For):
        return [stmt.index]
    if isinstance(stmt, (If, While, Comment)):
        return []
    return ir.writes(stmt)


def _join(a: dict, b: dict) -> dict:
    out = dict(a)
    for name, defs in b.items():
        out[name] = out.get(name, _ONLY_UNDEFINED) | defs
    for name in a:
        if name not in b:
            out[name] = out[name] | {UNDEFINED}
    return out


def _exposed(loop) -> set:
    """Upward-exposed reads of one trip of a loop (its test included for a While)."""
    exposed: set = set()
    if isinstance(loop, For):
        _exposed_in(loop.body, frozenset({loop.index}), exposed)
    else:
        _exposed_in(loop.test + loop.body, frozenset(), exposed)
    if loop.exit_flag:
        exposed.add(loop.exit_flag)
    return exposed


def _exposed_in(block: list, defined: frozenset, exposed: set) -> frozenset:
    """Adds to `exposed` the reads in `block` of names not in `defined` (defined before it on every
    path); returns what is defined after it on every path."""
    for stmt in block:
        if isinstance(stmt, If):
            exposed.update(n for n in ir.operand_vars([stmt.cond]) if n not in defined)
            defined = _exposed_in(stmt.body, defined, exposed) & _exposed_in(stmt.orelse, defined, exposed)
        elif isinstance(stmt, (For, While)):
            if isinstance(stmt, For):
                exposed.update(n for n in ir.operand_vars([stmt.start, stmt.stop, stmt.step]) if n not in defined)
                inner = defined | {stmt.index}
            else:
                inner = _exposed_in(stmt.test, defined, exposed)
                exposed.update(n for n in ir.operand_vars([stmt.cond]) if n not in inner)
            _exposed_in(stmt.body, inner, exposed)     # may run zero times: defines nothing for sure
            if stmt.exit_flag and stmt.exit_flag not in defined:
                exposed.add(stmt.exit_flag)
            if isinstance(stmt, While):
                defined = inner
        else:
            exposed.update(n for n in ir.reads(stmt) if n not in defined)
            if isinstance(stmt, (Assign, Pop, TapeAlloc)):
                defined = defined | set(ir.writes(stmt))
    return defined


def of(function: ir.Function) -> Dataflow:
    """The dataflow facts of `function`, computed once until `invalidate(function)`."""
    cached = getattr(function, "_dataflow", None)
    if cached is None:
        cached = Dataflow(function)
        function._dataflow = cached
    return cached


def invalidate(function: ir.Function) -> None:
    """Forget the facts of `function`: call after changing its statements or types."""
    function._dataflow = None
    function._shapes = None     # `shapes.of`: computed from the facts
