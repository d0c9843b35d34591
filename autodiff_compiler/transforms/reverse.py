"""Reverse: a typed primal IR function -> its adjoint program (forward sweep, then reverse sweep).

Takes: the primal `ir.Function` with `types` filled in, and the names to
differentiate with respect to.  Guarantees an adjoint `ir.Function` that
returns `(value, d value / d wrt_1, ...)` and:

* has one adjoint statement group per active primal statement, instantiated
  from the rule table (`x_bar += out_bar * partial`), in reverse order, each
  carrying the primal statement's location;
* records on a tape exactly what the reverse sweep reads and the forward
  sweep overwrites (to-be-recorded analysis): a variable is pushed before it
  is overwritten only if the reverse sweep reads it and it is assigned more
  than once (in a loop, or at several places); the reverse sweep pops it back
  after its adjoint, so every adjoint sees the values its primal saw;
* branches are replayed from their (recorded) conditions; `for` loops run the
  same indices backwards; `while` loops and loops that may end early record
  their trip count;
* tapes are typed NumPy arrays, preallocated when their size is known on
  entry to the loop that fills them, growing otherwise.
"""
from __future__ import annotations

import ast
from collections import Counter

from .. import ir
from ..errors import ArgumentError, AutodiffError
from ..ir import (FLOAT, Assign, Comment, Const, For, If, Pop, Push, Store, TapeAlloc, Var, While)
from ..ir import Names
from ..ir.activity import activity
from ..ir.types import infer_types, type_of_operand
from ..rules import ARG_NAMES, PRIMITIVES
from . import adjoint_arrays as arrays
from .instantiate import Instantiate

_ALLOCATING = {"zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "zeros2", "ones2", "empty2",
               "array_copy"}
_ZERO = {"float": Const(0.0), "int": Const(0), "bool": Const(False)}
_TAPE_DTYPES = {"float": "np.float64", "int": "np.int64", "bool": "np.bool_"}


class Reverse:
    def __init__(self, function: ir.Function, wrt: list[str], results: list | None = None):
        self.primal = function
        self.types = function.types
        self.wrt = list(wrt)
        self.results = results or [function.result]
        self.active = activity(function, set(wrt), self.types,
                               set(ir.operand_vars(self.results)))
        taken = set(function.user_names) | set(function.params)
        for stmt in ir.walk(function.body):
            taken.update(ir.writes(stmt))
            taken.update(ir.reads(stmt))
        self.names = Names(taken)
        self.adjoints: dict[str, str] = {}
        self.tapes: dict[str, str] = {}
        self.trips: dict[int, str] = {}
        self.loop_depth = 0
        self.intermediates: dict = {}
        self.count_assignments()
        self.find_first_definitions()
        self.find_recorded()

    # ------------------------------------------------------------- bookkeeping
    def adjoint_of(self, name: str) -> str:
        if name not in self.adjoints:
            self.adjoints[name] = self.names.fresh(f"{name}_bar")
        return self.adjoints[name]

    def tape_of(self, name: str) -> str:
        if name not in self.tapes:
            self.tapes[name] = self.names.fresh(f"{name}_tape")
        return self.tapes[name]

    def count_assignments(self) -> None:
        """Which variables are assigned more than once per call (several places, or in a loop)."""
        counts: Counter = Counter(self.primal.params)
        in_loop: set = set()

        def visit(block, depth):
            for stmt in block:
                for name in ir.writes(stmt):
                    counts[name] += 1
                    if depth:
                        in_loop.add(name)
                for child in ir.child_blocks(stmt):
                    visit(child, depth + isinstance(stmt, (For, While)))
        visit(self.primal.body, 0)
        self.reassigned = {name for name, n in counts.items() if n > 1} | in_loop

    def find_first_definitions(self) -> None:
        """Top-level assignments that define their variable for the first time: nothing to save there.

        Variables first written inside a branch or loop are `undefined_first`:
        the forward sweep starts them at zero so that saving them is defined."""
        seen = set(self.primal.params)
        self.first_definitions: set = set()
        self.undefined_first: list = []
        for stmt in self.primal.body:
            if isinstance(stmt, Assign) and stmt.target not in seen:
                self.first_definitions.add(id(stmt))
            for inner in [stmt] + [s for child in ir.child_blocks(stmt) for s in ir.walk(child)]:
                for name in ir.writes(inner):
                    if name not in seen and inner is not stmt:
                        self.undefined_first.append(name)
                    seen.add(name)

    def find_iteration_locals(self) -> None:
        """Recorded variables defined once per trip at the top of a loop body, not read before that.

        Such a value is either recomputed when its reversed trip starts (when it
        is a scalar computed from constants, parameters, variables assigned once
        outside loops, loop indices and other such values: what a hand-written
        adjoint recomputes), or else saved right after its definition and
        restored when the reversed trip starts.  One value per trip at most,
        and never an undefined one."""
        writes = Counter(name for stmt in ir.walk(self.primal.body) for name in ir.writes(stmt))
        constant_after_definition = {p for p in self.primal.params if writes[p] == 0}
        constant_after_definition |= {s.target for s in self.primal.body
                                      if isinstance(s, Assign) and writes[s.target] == 1}
        self.iteration_locals: dict[int, list] = {}
        self.recomputed: dict[int, list] = {}
        self.local_definitions: set = set()

        def visit(block, indices):
            for loop in block:
                for child in ir.child_blocks(loop):
                    inner = indices | ({loop.index} if isinstance(loop, For) and writes[loop.index] == 1 else set())
                    visit(child, inner)
                if isinstance(loop, (For, While)):
                    self._loop_locals(loop, writes, constant_after_definition,
                                      indices | ({loop.index} if isinstance(loop, For) and writes[loop.index] == 1
                                                 else set()))
        visit(self.primal.body, set())

    def _loop_locals(self, loop, writes, constant, indices) -> None:
        read_so_far = ir.used_in(loop.test) if isinstance(loop, While) else set()
        recomputable: dict[str, Assign] = {}
        for stmt in loop.body:
            local = (isinstance(stmt, Assign) and writes[stmt.target] == 1 and stmt.target not in read_so_far
                     and stmt.target not in self.primal.params)
            if local and not self.types[stmt.target].is_array and stmt.prim not in _ALLOCATING and all(
                    isinstance(a, Const) or (isinstance(a, Var) and (a.name in constant or a.name in indices
                                                                     or a.name in recomputable))
                    for a in stmt.args):
                recomputable[stmt.target] = stmt
            if local and id(stmt) in self.save_sites:
                self.local_definitions.add(id(stmt))
                if stmt.target not in recomputable:
                    self.iteration_locals.setdefault(id(loop), []).append(stmt.target)
            read_so_far |= ir.used_in([stmt])
        # recompute the needed values and what they are computed from, in program order
        wanted = {s.target for s in loop.body if id(s) in self.local_definitions and s.target in recomputable}
        for stmt in reversed(loop.body):
            if isinstance(stmt, Assign) and stmt.target in wanted:
                wanted |= {a.name for a in stmt.args if isinstance(a, Var) and a.name in recomputable}
        self.recomputed[id(loop)] = [s for s in loop.body if isinstance(s, Assign) and s.target in wanted]

    def is_recomputed(self, stmt) -> bool:
        return any(stmt is s for stmts in self.recomputed.values() for s in stmts)

    def saves(self, stmt) -> bool:
        """Does the forward sweep push the old value of `stmt`'s target before `stmt`?"""
        return id(stmt) in self.save_sites and id(stmt) not in self.local_definitions

    def differentiable(self, stmt) -> bool:
        return isinstance(stmt, Assign) and stmt.target in self.active and not PRIMITIVES[stmt.prim].nondiff

    def partial_reads(self, stmt: Assign) -> set:
        """Primal variables the adjoint of `stmt` reads."""
        prim = PRIMITIVES[stmt.prim]
        binding = dict(zip(ARG_NAMES, stmt.args))
        binding["out"] = Var(stmt.target)
        names = set()
        if prim.partials is None:
            return arrays.vjp_reads(stmt, prim, binding, self.active, self.types)
        for index, arg in enumerate(stmt.args):
            if isinstance(arg, Var) and arg.name in self.active:
                for symbol in prim.names_in_partial(index):
                    operand = binding.get(symbol)
                    if isinstance(operand, Var):
                        names.add(operand.name)
        # `unbroadcast` reads operands' shapes only: no need to save their values (arrays keep
        # one shape from trip to trip of a loop)
        return names

    def find_recorded(self) -> None:
        """To-be-recorded analysis.

        `needed`: variables the reverse sweep reads.  An assignment saves the
        value it overwrites only if a reverse-sweep reader of that variable can
        run before it in forward order: earlier in the program, or in a loop
        they share.  `recorded` holds the variables saved anywhere."""
        self.positions: dict[int, tuple] = {}

        def number(block, loops):
            for stmt in block:
                self.positions[id(stmt)] = (len(self.positions), loops)
                for child in ir.child_blocks(stmt):
                    number(child, loops + ((id(stmt),) if isinstance(stmt, (For, While)) else ()))
        number(self.primal.body, ())
        self.recorded = set()
        self.save_sites: set = set()
        self.local_definitions: set = set()
        self.iteration_locals: dict = {}
        self.recomputed: dict = {}
        while True:
            sites: dict[str, list] = {}
            for stmt in ir.walk(self.primal.body):
                names = set()
                if self.differentiable(stmt):
                    names = self.partial_reads(stmt)
                elif isinstance(stmt, Store):
                    names = arrays.store_reads(self, stmt)
                elif isinstance(stmt, If) and (self.has_reverse_work(stmt.body) or self.has_reverse_work(stmt.orelse)):
                    names = set(ir.operand_vars([stmt.cond]))
                elif isinstance(stmt, For) and self.has_reverse_work(stmt.body):
                    names = set(ir.operand_vars([stmt.start, stmt.stop, stmt.step]))
                for name in names:
                    sites.setdefault(name, []).append(self.positions[id(stmt)])
            self.needed = set(sites)
            save_sites = set()
            for stmt in ir.walk(self.primal.body):
                if not isinstance(stmt, (Assign, Store)) or id(stmt) in self.first_definitions:
                    continue
                target = stmt.target if isinstance(stmt, Assign) else stmt.array
                position, loops = self.positions[id(stmt)]
                if any(p < position or set(l) & set(loops) for p, l in sites.get(target, ())):
                    save_sites.add(id(stmt))
            recorded = {s.target if isinstance(s, Assign) else s.array
                        for s in ir.walk(self.primal.body) if id(s) in save_sites}
            if save_sites == self.save_sites and recorded == self.recorded:
                break
            self.save_sites, self.recorded = save_sites, recorded
            self.find_iteration_locals()

    def has_reverse_work(self, block: list) -> bool:
        for stmt in ir.walk(block):
            if self.differentiable(stmt) or (isinstance(stmt, Assign) and (
                    self.saves(stmt) or id(stmt) in self.local_definitions)):
                return True
            if isinstance(stmt, Store) and (stmt.array in self.active or stmt.array in self.recorded):
                return True
        return False

    def needs_trips(self, loop) -> bool:
        return isinstance(loop, While) or loop.exit_flag is not None

    # ------------------------------------------------------------ forward sweep
    def forward(self, block: list) -> list:
        out: list = []
        for stmt in block:
            if isinstance(stmt, Assign):
                if self.saves(stmt):
                    out.append(Push(self.tape_of(stmt.target), Var(stmt.target), loc=stmt.loc))
                out.append(stmt)
                if id(stmt) in self.local_definitions and not self.is_recomputed(stmt):
                    out.append(Push(self.tape_of(stmt.target), Var(stmt.target), loc=stmt.loc))
            elif isinstance(stmt, Store):
                out += arrays.forward_store(self, stmt)
            elif isinstance(stmt, If):
                out.append(If(stmt.cond, self.forward(stmt.body), self.forward(stmt.orelse), stmt.loc))
            elif isinstance(stmt, (For, While)):
                out += self.forward_loop(stmt)
            else:
                raise AutodiffError(f"internal: cannot reverse {type(stmt).__name__}")
        return out

    def forward_loop(self, loop) -> list:
        out: list = []
        reverse_work = self.has_reverse_work(loop.body)
        trips = None
        if reverse_work and self.needs_trips(loop):
            trips = self.trips[id(loop)] = self.names.fresh("trips")
            out.append(Assign(trips, "copy", (Const(0),), loop.loc))
        self.loop_depth += 1
        body = self.forward(loop.body)
        self.loop_depth -= 1
        if trips:
            body.append(Assign(trips, "add", (Var(trips), Const(1)), loop.loc))
        if isinstance(loop, For):
            out.append(For(loop.index, loop.start, loop.stop, loop.step, body, loop.loc, loop.exit_flag,
                           pair=id(loop)))
        else:
            out.append(While(loop.test, loop.cond, body, loop.loc, loop.exit_flag))
        if trips and self.loop_depth:
            out.append(Push(self.tape_of(trips), Var(trips), loc=loop.loc))
        return out

    # ------------------------------------------------------------ reverse sweep
    def backward(self, block: list) -> list:
        out: list = []
        for stmt in reversed(block):
            if isinstance(stmt, Assign):
                if self.differentiable(stmt):
                    out += self.adjoint_assign(stmt)
                if self.saves(stmt):
                    out.append(Pop(self.tape_of(stmt.target), stmt.target, stmt.loc))
            elif isinstance(stmt, Store):
                out += arrays.adjoint_store(self, stmt)
            elif isinstance(stmt, If):
                body, orelse = self.backward(stmt.body), self.backward(stmt.orelse)
                if body or orelse:
                    out.append(If(stmt.cond, body, orelse, stmt.loc))
            elif isinstance(stmt, (For, While)):
                out += self.backward_loop(stmt)
        return out

    def backward_loop(self, loop) -> list:
        if not self.has_reverse_work(loop.body):
            return []
        out: list = []
        trips = self.trips.get(id(loop))
        self.loop_depth += 1
        body = [Pop(self.tape_of(name), name, loop.loc) for name in self.iteration_locals.get(id(loop), [])]
        body += [Assign(s.target, s.prim, s.args, s.loc, s.params) for s in self.recomputed.get(id(loop), [])]
        body += self.backward(loop.body)
        self.loop_depth -= 1
        if trips and self.loop_depth:
            out.append(Pop(self.tape_of(trips), trips, loop.loc))
        emit = out.append
        if isinstance(loop, While):
            out.append(For(self.names.fresh("trip"), Const(0), Var(trips), Const(1), body, loop.loc))
            return out
        start, step = loop.start, loop.step
        make = Instantiate(self.names, emit, loop.loc)
        if trips:
            # the indices run: start + (trips - 1) * step, ..., start
            last = make(ast.parse("start + (trips - 1) * step", mode="eval").body,
                        {"start": start, "trips": Var(trips), "step": step})
        elif isinstance(step, Const) and step.value == 1:
            last = make(ast.parse("stop - 1", mode="eval").body, {"stop": loop.stop})
        elif isinstance(step, Const):
            # the last index range(start, stop, step) produces (any value past the end if it is empty)
            formula = ("start + (stop - start - 1) // step * step" if step.value > 0
                       else "start + (stop - start + 1) // step * step")
            last = make(ast.parse(formula, mode="eval").body, {"start": start, "stop": loop.stop, "step": step})
        else:
            last = make(ast.parse("start + (range_length(start, stop, step) - 1) * step", mode="eval").body,
                        {"start": start, "stop": loop.stop, "step": step})
        end = make(ast.parse("start - step", mode="eval").body, {"start": start, "step": step})
        backstep = make(ast.parse("-step", mode="eval").body, {"step": step})
        out.append(For(loop.index, last, end, backstep, body, loop.loc, pair=id(loop), reverses=True))
        return out

    def adjoint_assign(self, stmt: Assign) -> list:
        out: list = []
        prim = PRIMITIVES[stmt.prim]
        out_bar = Var(self.adjoint_of(stmt.target))
        make = Instantiate(self.names, out.append, stmt.loc)
        binding = dict(zip(ARG_NAMES, stmt.args))
        binding["out"] = Var(stmt.target)
        contributions = []
        if prim.partials is None:
            contributions = arrays.instantiate_vjp(self, stmt, prim, binding, out_bar, make)
        else:
            for index, arg in enumerate(stmt.args):
                if isinstance(arg, Var) and arg.name in self.active:
                    partial = make(prim.partial_tree(index), binding)
                    contribution = make.apply("mul", (partial, out_bar))
                    contribution = arrays.unbroadcast(self, contribution, arg, stmt, make)
                    contributions.append((arg.name, contribution))
        if stmt.target in self.intermediates:
            # retain_grad: the adjoint of this value is complete here, before it is reset
            out.append(Assign(self.intermediates[stmt.target], "copy", (out_bar,), stmt.loc))
        # a contribution that is the target's adjoint itself must be read before that is reset
        contributions = [(name, make.apply("copy", (c,)) if c == out_bar else c) for name, c in contributions]
        # the target is overwritten here: the adjoint of its earlier value starts from zero
        out.append(self.zero_assign(stmt.target, stmt.loc))
        for name, contribution in contributions:
            bar = self.adjoint_of(name)
            out.append(Assign(bar, "add", (Var(bar), contribution), stmt.loc))
        return out

    def zero_assign(self, name: str, loc=None) -> Assign:
        """`name_bar = 0` in the type of `name` (a zero array of its shape for arrays)."""
        bar = self.adjoint_of(name)
        if self.types[name].is_array:
            return Assign(bar, "zeros_like", (Var(name),), loc)
        return Assign(bar, "copy", (Const(0.0),), loc)

    # ---------------------------------------------------------------- assembly
    def tape_allocations(self, forward: list) -> list:
        """One `TapeAlloc` per tape, preallocated where one top-level `for` fills it."""
        sites: dict[str, list] = {}

        def visit(block, loops):
            for stmt in block:
                if isinstance(stmt, Push):
                    sites.setdefault(stmt.tape, []).append((stmt, loops))
                for child in ir.child_blocks(stmt):
                    visit(child, loops + ((stmt,) if isinstance(stmt, (For, While)) else ()))
        visit(forward, ())
        allocations = {}
        for tape, pushes in sites.items():
            nests = {tuple(id(loop) for loop in p[1]) for p in pushes}
            value = pushes[0][0].value
            dtype = self.tape_dtype(value)
            value_type = self.types.get(value.name, FLOAT) if isinstance(value, Var) else FLOAT
            shape_of = value.name if value_type.is_array else None
            loop = pushes[0][1][0] if pushes[0][1] else None
            if nests == {()}:
                # outside loops: one slot per push site
                allocations[tape] = (None, TapeAlloc(tape, dtype, Const(len(pushes)), False, shape_of))
                growable = False
            elif len(nests) == 1 and len(pushes[0][1]) == 1 and isinstance(loop, For):
                # filled by one top-level for loop: its trip count times the pushes per trip
                allocations[tape] = (loop, TapeAlloc(tape, dtype, ("trips", loop, len(pushes)), False, shape_of))
                growable = False
            else:
                allocations[tape] = (None, TapeAlloc(tape, dtype, Const(64), True, shape_of))
                growable = True
            for push, _ in pushes:
                push.growable = growable
        return allocations

    def tape_dtype(self, value) -> str:
        t = type_of_operand(value, self.types) or FLOAT
        if t.is_array:
            return "np.float64" if t.dtype.startswith("float") else f"np.{t.dtype}"
        return _TAPE_DTYPES[t.kind]

    def place_allocations(self, forward: list, allocations: dict) -> list:
        """Put each preallocated tape right before the loop that fills it, sized by its trip count."""
        before: dict[int, list] = {}
        head: list = []
        for tape, (loop, alloc) in sorted(allocations.items()):
            if loop is None:
                head.append(alloc)
                continue
            statements: list = []
            make = Instantiate(self.names, statements.append, loop.loc)
            _, _, per_trip = alloc.capacity
            step = loop.step
            if isinstance(step, Const) and step.value == 1:
                count = make(ast.parse("max(stop - start, 0) * per", mode="eval").body,
                             {"start": loop.start, "stop": loop.stop, "per": Const(per_trip)})
            elif isinstance(step, Const) and step.value > 0:
                count = make(ast.parse("max(stop - start + step - 1, 0) // step * per", mode="eval").body,
                             {"start": loop.start, "stop": loop.stop, "step": step, "per": Const(per_trip)})
            elif isinstance(step, Const):
                count = make(ast.parse("max(start - stop - step - 1, 0) // (-step) * per", mode="eval").body,
                             {"start": loop.start, "stop": loop.stop, "step": step, "per": Const(per_trip)})
            else:
                count = make(ast.parse("range_length(start, stop, step) * per", mode="eval").body,
                             {"start": loop.start, "stop": loop.stop, "step": step, "per": Const(per_trip)})
            alloc.capacity = count
            before.setdefault(id(loop), []).extend(statements + [alloc])
        def place(block: list) -> list:
            out = []
            for stmt in block:
                for child in ir.child_blocks(stmt):
                    child[:] = place(child)
                out += before.get(id(stmt), [])
                out.append(stmt)
            return out
        return head + place(forward)

    def build(self, with_value: bool = True) -> ir.Function:
        starts = [Assign(name, "copy", (_ZERO[self.types[name].kind],)) for name in
                  dict.fromkeys(self.undefined_first) if name in self.recorded and not self.types[name].is_array]
        forward = starts + self.forward(self.primal.body)
        allocations = self.tape_allocations(forward)
        forward = self.place_allocations(forward, allocations)
        seeds: list = []
        for result in self.results:
            if isinstance(result, Var) and result.name in self.active:
                seeds.append(Assign(self.adjoint_of(result.name), "copy", (Const(1.0),)))
        reverse_body = self.backward(self.primal.body)
        # every adjoint starts at zero (the simplifier drops the ones overwritten first)
        inits = [self.zero_assign(name) for name in sorted(self.active) if name in self.adjoints
                 and not any(isinstance(r, Var) and r.name == name for r in self.results)]
        for name in self.wrt:
            if name not in self.adjoints:
                inits.append(self.zero_assign(name))
        body = ([Comment("forward sweep")] + forward + [Comment("reverse sweep")] + inits + seeds
                + reverse_body)
        grads = tuple(Var(self.adjoint_of(name)) for name in self.wrt)
        captured = []
        for name, capture in self.intermediates.items():
            if name not in self.active:    # the result does not depend on it through wrt
                inits.append(Assign(capture, "copy", (Const(0.0),)))
            captured.append(Var(capture))
        grads += tuple(captured)
        returns = ((self.results[0],) if with_value else ()) + grads
        suffix = "value_and_grad" if with_value else "grad"
        adjoint = ir.Function(f"{self.primal.name}_{suffix}", list(self.primal.params), {}, body, None,
                              self.primal.filename, self.primal.firstline, returns=returns,
                              docstring=self.primal.docstring, user_names=frozenset(self.names.taken))
        param_types = {p: self.types[p] for p in self.primal.params}
        adjoint.types = infer_adjoint_types(adjoint, param_types, self.types)
        return adjoint


def infer_adjoint_types(adjoint: ir.Function, param_types: dict, primal_types: dict) -> dict:
    """Types of an adjoint program: the primal's, plus adjoints (their primal's type) and tapes."""
    types = dict(primal_types)
    types.update(infer_types(adjoint, {**primal_types, **param_types}))
    return types


def reverse(function: ir.Function, wrt: list[str], with_value: bool = True,
            intermediates: tuple = ()) -> ir.Function:
    for name in wrt:
        t = function.types.get(name)
        if t is None or not t.is_float:
            raise AutodiffError(f"cannot differentiate with respect to {name!r} of type {t}")
    for name in intermediates:
        definitions = [s for s in ir.walk(function.body) if isinstance(s, Assign) and s.target == name]
        if len(definitions) != 1 or not function.types.get(name, ir.INT).is_float:
            raise ArgumentError(
                f"intermediate {name!r} of {function.name} must be a float variable assigned exactly once "
                f"(found {len(definitions)} assignment(s))",
                hint="give the value you want the gradient of its own name: 'y = ...' once")
    builder = Reverse(function, wrt)
    builder.intermediates = {name: builder.names.fresh(f"{name}_grad") for name in intermediates}
    return builder.build(with_value)
