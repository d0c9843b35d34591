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

from .. import ir
from ..errors import ArgumentError, AutodiffError, InternalError, NoDerivativeRuleError
from ..ir import (FLOAT, Assign, Comment, Const, For, If, Pop, Push, Store, TapeAlloc, Var, While)
from ..ir import Names, dataflow
from ..ir.activity import activity
from ..ir.types import infer_types, rename_statement, type_of_operand
from ..rules import ARG_NAMES, PRIMITIVES
from . import adjoint_arrays as arrays
from .instantiate import Instantiate, structural_partial
from .record import RecordPlan
from .. import syntax

_ALLOCATING = {"zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "array_copy"}
# empty arrays of other dtypes, made from an empty float array: (primitive, extra operands)
_CONVERT_EMPTY = {"bool": ("ne", (Const(0.0),)), "int64": ("to_int", ())}
_ZERO = ir.ZERO_OF_KIND
_TAPE_DTYPES = {"float": "np.float64", "int": "np.int64", "bool": "np.bool_"}


def rule_binding(stmt: Assign) -> dict:
    """What the names of a rule-table expression stand for: the operands as x, y, z and as a0, a1, ...
    (for primitives of any number of operands), the result as `out`."""
    binding = dict(zip(ARG_NAMES, stmt.args))
    binding.update((f"a{k}", arg) for k, arg in enumerate(stmt.args))
    binding["out"] = Var(stmt.target)
    return binding


class Reverse:
    def __init__(self, function: ir.Function, wrt: list[str], results: list | None = None, careful: bool = False):
        self.primal = function
        self.careful = careful          # structural zeros marked for the careful rerun (`structural`)
        self.types = function.types
        self.primal_names = frozenset(function.types)
        self.wrt = list(wrt)
        self.results = results or [function.result]
        self.active = activity(function, set(wrt), self.types,
                               set(ir.operand_vars(self.results)))
        taken = set(function.user_names) | set(function.params) | set(function.types)   # typed names too (stale ones)
        for stmt in ir.walk(function.body):
            taken.update(ir.writes(stmt))
            taken.update(ir.reads(stmt))
        self.names = Names(taken)
        self.adjoints: dict[str, str] = {}
        self.tapes: dict[str, str] = {}
        self.trips: dict[int, str] = {}
        self.trip_starts: list = []         # trip counters started at the top (see forward_loop)
        self.pruned_loops: set = set()      # forward-sweep loops under a test of constants (ids)
        self.loop_depth = 0
        self.intermediates: dict = {}
        self.check_rules()
        self.plan = RecordPlan(self)
        # snapshots (`record`): each pushed before its site, popped into a name of its own
        self.snapshot_names: dict = {}
        self.snapshot_sites: dict = {}
        for snapshots in self.plan.snapshots.values():
            for site, variable, key in snapshots:
                self.snapshot_names[key] = name = self.names.fresh(f"{variable}_read")
                self.types[name] = self.types[variable]
                self.snapshot_sites.setdefault(site, []).append((variable, name))

    def check_rules(self) -> None:
        """Refuse, naming the line, what reverse mode has no rule for (rather than derive a wrong adjoint):
        a primitive with no partials and no vjp (helpers of derived programs, `refuse=` entries), and the
        tapes of a derived program (reverse mode is applied to primal programs only)."""
        for stmt in ir.walk(self.primal.body):
            if isinstance(stmt, (Push, Pop, TapeAlloc)):
                raise AutodiffError("reverse mode over a gradient program (one with tapes) is not supported",
                                    hint="differentiate the gradient by forward mode: jvp, hvp, hessian, or "
                                         "jacobian(..., mode='forward')")
            if self.differentiable(stmt):
                prim = PRIMITIVES[stmt.prim]
                if prim.refuse or (prim.partials is None and prim.vjp is None):
                    loc = stmt.loc
                    raise NoDerivativeRuleError(
                        prim.refuse or f"no reverse-mode rule for the primitive {stmt.prim!r}",
                        filename=loc.filename if loc else None, line=loc.line if loc else None,
                        source_line=loc.text if loc else None,
                        hint="differentiate by forward mode (jvp, jacobian(..., mode='forward'))")

    # ------------------------------------------------------------- bookkeeping
    def adjoint_of(self, name: str) -> str:
        if name not in self.adjoints:
            self.adjoints[name] = self.names.fresh(f"{name}_bar")
        return self.adjoints[name]

    def tape_of(self, name: str) -> str:
        if name not in self.tapes:
            self.tapes[name] = self.names.fresh(f"{name}_tape")
        return self.tapes[name]

    # ---------------------------------------------------------- what to record
    def saves(self, stmt) -> bool:
        """Does the forward sweep push the old value of `stmt`'s target before `stmt`?"""
        return self.plan.saves(stmt)

    def has_reverse_work(self, block: list) -> bool:
        return self.plan.has_reverse_work(block)

    @property
    def recorded(self) -> set:
        return self.plan.recorded

    @property
    def save_sites(self) -> set:
        return self.plan.save_sites

    def differentiable(self, stmt) -> bool:
        return isinstance(stmt, Assign) and stmt.target in self.active and not PRIMITIVES[stmt.prim].nondiff

    def partial_reads(self, stmt: Assign) -> set:
        """Primal variables the adjoint of `stmt` reads."""
        prim = PRIMITIVES[stmt.prim]
        binding = rule_binding(stmt)
        names = set()
        if prim.partials is None:
            return arrays.vjp_reads(stmt, prim, binding, self.active, self.types)
        for index, arg in enumerate(stmt.args):
            if isinstance(arg, Var) and arg.name in self.active:
                for symbol in prim.names_in_partial(index):
                    operand = binding.get(symbol)
                    if isinstance(operand, Var):
                        names.add(operand.name)
                # `unbroadcast` reads the operand's shape, which may change from trip to trip of a loop
                # (`x[i:n] * y[i:n]`), or where the variable is assigned again (`c = ...` in a branch, with
                # another shape): the reversal needs the shape the operand had here
                facts = dataflow.of(self.primal)
                if arrays.reads_shape(self, arg, stmt) and \
                        (facts.loops_of(stmt) or len(facts.definitions_of(arg.name)) > 1):
                    names.add(arg.name)
        return names

    def needs_trips(self, loop) -> bool:
        return isinstance(loop, While) or loop.exit_flag is not None

    # ------------------------------------------------------------ forward sweep
    def forward(self, block: list) -> list:
        out: list = []
        for stmt in block:
            if isinstance(stmt, Assign):
                out += [Push(self.tape_of(name), Var(variable), loc=stmt.loc)
                        for variable, name in self.snapshot_sites.get(id(stmt), ())]
                if self.saves(stmt):
                    out.append(Push(self.tape_of(stmt.target), Var(stmt.target), loc=stmt.loc))
                out.append(stmt)
                if id(stmt) in self.plan.local_definitions and not self.plan.is_recomputed(stmt):
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
        reverse_work = self.has_reverse_work(self.trip_of(loop))
        trips = None
        # Numba may drop a branch whose test compares constants before it types the function, and
        # then cannot type the reversed loop, whose branch tests a recorded condition: the loop's
        # trip counter and tapes start defined at the top as well
        pruned = self._under_constant_test(dataflow.of(self.primal), loop)
        if reverse_work and self.needs_trips(loop):
            trips = self.trips[id(loop)] = self.names.fresh("trips")
            out.append(Assign(trips, "copy", (Const(0),), loop.loc))
            if pruned:
                self.trip_starts.append(Assign(trips, "copy", (Const(0),), loop.loc))
        self.loop_depth += 1
        body = self.forward(loop.body)
        self.loop_depth -= 1
        if trips:
            body.append(Assign(trips, "add", (Var(trips), Const(1)), loop.loc))
        if isinstance(loop, For):
            if id(loop) in self.plan.index_saves:
                out.append(Push(self.tape_of(loop.index), Var(loop.index), loc=loop.loc))
            out.append(For(loop.index, loop.start, loop.stop, loop.step, body, loop.loc, loop.exit_flag,
                           pair=id(loop)))
            if pruned:
                self.pruned_loops.add(id(out[-1]))
        else:
            self.loop_depth += 1
            test = self.forward(loop.test)
            self.loop_depth -= 1
            out.append(While(test, loop.cond, body, loop.loc, loop.exit_flag))
        if trips and self.loop_depth:
            out.append(Push(self.tape_of(trips), Var(trips), loc=loop.loc))
        return out

    @staticmethod
    def trip_of(loop) -> list:
        """The statements one trip runs: a while loop's test, then its body."""
        return (loop.test + loop.body) if isinstance(loop, While) else loop.body

    # ------------------------------------------------------------ reverse sweep
    def backward(self, block: list) -> list:
        out: list = []
        for stmt in reversed(block):
            if isinstance(stmt, Assign):
                if self.differentiable(stmt):
                    out += self.adjoint_assign(stmt)      # restores the target's earlier value too
                else:
                    if self.saves(stmt):
                        out.append(Pop(self.tape_of(stmt.target), stmt.target, stmt.loc))
                    if stmt.target in self.active and not self.array_local(stmt):
                        # overwritten with a value that carries no derivative (`v = np.ones_like(x)`):
                        # the adjoint of its earlier value starts from zero all the same
                        out += self.zero_assigns(stmt.target, stmt.loc)
            elif isinstance(stmt, Store):
                out += arrays.adjoint_store(self, stmt)
            elif isinstance(stmt, If):
                body, orelse = self.backward(stmt.body), self.backward(stmt.orelse)
                if body or orelse:
                    out.append(If(stmt.cond, body, orelse, stmt.loc))
            elif isinstance(stmt, (For, While)):
                out += self.backward_loop(stmt)
        return out

    def snapshot_reads_of(self, stmt) -> dict:
        """{variable: the name of its snapshot} for a statement recomputed from snapshots (`record`)."""
        return {variable: self.snapshot_names[key]
                for variable, key in self.plan.snapshot_reads.get(id(stmt), {}).items()}

    def recomputation(self, stmt: Assign) -> Assign:
        """`stmt` made again when its reversed trip starts, reading the snapshots the plan took for it."""
        again = Assign(stmt.target, stmt.prim, stmt.args, stmt.loc, stmt.params)
        rename_statement(again, self.snapshot_reads_of(stmt))
        return again

    def backward_loop(self, loop) -> list:
        if not self.has_reverse_work(self.trip_of(loop)):
            if id(loop) in self.plan.index_saves:
                # nothing to reverse in it, but it overwrote an index something earlier reads
                return [Pop(self.tape_of(loop.index), loop.index, loop.loc)]
            return []
        out: list = []
        trips = self.trips.get(id(loop))
        self.loop_depth += 1
        body = [Pop(self.tape_of(name), name, loop.loc) for name in self.plan.iteration_locals.get(id(loop), [])]
        body += [Pop(self.tape_of(self.snapshot_names[key]), self.snapshot_names[key], loop.loc)
                 for _, _, key in self.plan.snapshots.get(id(loop), ())]
        body += [self.recomputation(s) for s in self.plan.recomputed.get(id(loop), [])]
        body += [zero for s in loop.body if self.array_local(s) and s.target in self.active
                 for zero in self.zero_assigns(s.target, s.loc)]
        body += self.backward(loop.body)
        if isinstance(loop, While):
            # forward: test, body, test, body, ..., the test that ends it; reversed trip by trip
            body += self.backward(loop.test)
            last_test = self.backward(loop.test)
        self.loop_depth -= 1
        if trips and self.loop_depth:
            out.append(Pop(self.tape_of(trips), trips, loop.loc))
        emit = out.append
        if isinstance(loop, While):
            out += last_test
            out.append(For(self.names.fresh("trip"), Const(0), Var(trips), Const(1), body, loop.loc))
            return out
        start, step = loop.start, loop.step
        make = Instantiate(self.names, emit, loop.loc)
        if trips:
            # the indices run: start + (trips - 1) * step, ..., start
            last = make(syntax.expression("start + (trips - 1) * step"),
                        {"start": start, "trips": Var(trips), "step": step})
        elif isinstance(step, Const) and step.value == 1:
            last = make(syntax.expression("stop - 1"), {"stop": loop.stop})
        elif isinstance(step, Const):
            # the last index range(start, stop, step) produces (any value past the end if it is empty)
            formula = ("start + (stop - start - 1) // step * step" if step.value > 0
                       else "start + (stop - start + 1) // step * step")
            last = make(syntax.expression(formula), {"start": start, "stop": loop.stop, "step": step})
        else:
            last = make(syntax.expression("start + (range_length(start, stop, step) - 1) * step"),
                        {"start": start, "stop": loop.stop, "step": step})
        end = make(syntax.expression("start - step"), {"start": start, "step": step})
        backstep = make(syntax.expression("-step"), {"step": step})
        out.append(For(loop.index, last, end, backstep, body, loop.loc, pair=id(loop), reverses=True))
        if id(loop) in self.plan.index_saves:
            # the reversed loop leaves its index at the first trip's: give back what it held before the loop
            out.append(Pop(self.tape_of(loop.index), loop.index, loop.loc))
        return out

    def adjoint_assign(self, stmt: Assign) -> list:
        out: list = []
        prim = PRIMITIVES[stmt.prim]
        out_bar = Var(self.adjoint_of(stmt.target))
        make = Instantiate(self.names, out.append, stmt.loc, self.types)
        binding = rule_binding(stmt)
        snapshots = {variable: self.snapshot_names[key] for variable, key in self.plan.partial_snapshots(stmt).items()}
        if snapshots:
            # a recomputed statement's partials read the snapshots its recomputation read: the values the
            # forward trip saw, so that the variables themselves need no save at each later write
            binding = {symbol: Var(snapshots[v.name]) if isinstance(v, Var) and v.name in snapshots else v
                       for symbol, v in binding.items()}
        contributions = []
        if stmt.target not in dataflow.of(self.primal).strongly_live_out(stmt):
            # nothing the results need reads this value (it is overwritten first, in a loop where the
            # straight line's versions cannot tell it apart): its adjoint is exactly zero, and zero times a
            # partial that is inf (`x / v[i]` at NumPy's zero) would be a NaN in the gradient
            pass
        elif prim.partials is None:
            contributions = arrays.instantiate_vjp(self, stmt, prim, binding, out_bar, make)
        else:
            for index, arg in enumerate(stmt.args):
                if isinstance(arg, Var) and arg.name in self.active:
                    partial = make(prim.partial_tree(index), binding)
                    if isinstance(partial, Const) and partial.value == 0 and not isinstance(partial.value, bool):
                        continue        # a structural zero (a custom rule's value), as in forward mode
                    if self.careful and not isinstance(partial, Const) and self.structural(prim, index, binding):
                        partial = make.apply("structural", (partial,))
                    contribution = make.apply("mul", (partial, out_bar))
                    contribution = arrays.unbroadcast(self, contribution, arg, stmt, make)
                    contributions.append((arg.name, contribution))
        if stmt.target in self.intermediates:
            # retain_grad: the adjoint of this value is complete here, before it is reset
            out.append(Assign(self.intermediates[stmt.target], "copy", (out_bar,), stmt.loc))
        # a contribution that is the target's adjoint itself must be read before that is reset
        contributions = [(name, make.apply("copy", (c,)) if c == out_bar else c) for name, c in contributions]
        contributions = self.summed_per_operand(contributions, make)
        if self.saves(stmt):
            out.append(Pop(self.tape_of(stmt.target), stmt.target, stmt.loc))
        # the target was overwritten here: the adjoint of its earlier value (restored just now, so an
        # array's zeros take that value's shape) starts from zero -- and may receive a contribution
        # itself, when the statement read its own target (`s = s + e`).  An array made afresh in
        # each trip starts its adjoint when its reversed trip starts instead: its shape may change.
        if not self.array_local(stmt):
            out += self.zero_assigns(stmt.target, stmt.loc)
        for name, contribution in contributions:
            bar = self.adjoint_of(name)
            out.append(Assign(bar, "add", (Var(bar), contribution), stmt.loc))
        return out

    def structural(self, prim, index: int, binding: dict) -> bool:
        """Is the partial for operand `index` constant near this point wherever it is zero
        (`instantiate.structural_partial`)?  The careful rerun (`backend.strong_zero`) keeps such a zero a
        zero when it multiplies an infinite or NaN adjoint, since nothing near the point moves that value."""
        return structural_partial(prim, index, binding, self.active)

    @staticmethod
    def summed_per_operand(contributions: list, make) -> list:
        """One contribution per operand name: a statement that reads a name in several operands
        (`atan2(y, y)`, `y - y`) adds that name's partials together before their sum reaches the name's
        adjoint.  Their terms may cancel exactly (atan2's +-1/(2y), about 3e99 at y = -1.5e-100), and
        once added to the adjoint one at a time, with other contributions in between, the adjoint's
        own terms were lost beside them (fuzz raising-125-269: 0.549 for 1.633)."""
        summed: dict = {}
        for name, contribution in contributions:
            summed[name] = contribution if name not in summed else make.apply("add", (summed[name], contribution))
        return list(summed.items())

    def undefined_at_start(self) -> list:
        """Variables to start defined: those a save may push before their first assignment, and the
        active arrays the forward sweep may leave unassigned (an untaken branch, a loop that ran no
        trips), whose adjoints start as zeros of their shape."""
        names = list(self.plan.undefined_first)
        facts = dataflow.of(self.primal)
        for name in sorted(self.active):
            t = self.types.get(name)
            if t is not None and t.is_array and name not in names and name not in self.primal.params \
                    and dataflow.UNDEFINED in facts.reaching_exit(name):
                names.append(name)
        # Numba drops a branch whose test compares constants before it types the function: a value
        # only such branches define has no type where the reverse sweep (whose branches test a
        # recorded condition, never constant to Numba) reads it
        for name in sorted(facts.definitions):
            if name in names or name in self.primal.params or not self._startable(name) \
                    or dataflow.UNDEFINED not in facts.reaching_exit(name):
                continue
            if all(self._under_constant_test(facts, facts.statement_at(d)) for d in facts.definitions_of(name)):
                names.append(name)
        # Numba types a variable only if every read it cannot rule out has a value: a result assigned
        # on every path that its path-blind analysis cannot see (`while c: return a` then `return b`)
        for result in ir.operand_vars(self.results):
            if result not in names and dataflow.UNDEFINED in facts.reaching_exit(result):
                names.append(result)
        return names

    def _startable(self, name: str) -> bool:
        t = self.types.get(name)
        if t is None:
            return False
        return t.dtype in ("float64", *_CONVERT_EMPTY) if t.is_array else t.kind in _ZERO

    @staticmethod
    def _under_constant_test(facts, stmt) -> bool:
        """Is `stmt` inside a branch or loop whose test a compiler may decide from constants?"""
        parent = facts.parent.get(id(stmt))
        while parent is not None:
            if isinstance(parent, (If, While)) and facts.decided_by_constants(parent):
                return True
            parent = facts.parent.get(id(parent))
        return False

    def array_local(self, stmt) -> bool:
        """An array defined once per trip of a loop, restored when its reversed trip starts."""
        return id(stmt) in self.plan.local_definitions and self.types[stmt.target].is_array

    def start_value(self, name: str) -> list:
        """`name = 0` in its type; an empty array of its rank and dtype for arrays (a boolean or integer
        one made from an empty float array, as `ne`/`to_int` of it)."""
        t = self.types[name]
        if t.is_array and t.dtype == "float64":
            return [Assign(name, "zeros", (Const(0),) * t.ndim)]
        if t.is_array and t.dtype in _CONVERT_EMPTY:
            empty = self.names.temp()
            self.types[empty] = ir.array_of(t.ndim)
            prim, extra = _CONVERT_EMPTY[t.dtype]
            return [Assign(empty, "zeros", (Const(0),) * t.ndim), Assign(name, prim, (Var(empty),) + extra)]
        if t.is_array:
            if name in self.plan.undefined_first:
                raise InternalError(f"cannot start {name} ({t}) before its first assignment")
            return []
        return [Assign(name, "copy", (_ZERO[t.kind],))]

    def zero_assigns(self, name: str, loc=None) -> list:
        """`name_bar = 0` in the type of `name` (a zero array of its shape for arrays); careful, a
        structural zero (`backend.strong_zero`): no result has reached that adjoint yet."""
        bar = self.adjoint_of(name)
        if not self.types[name].is_array:
            return [Assign(bar, "structural" if self.careful else "copy", (Const(0.0),), loc)]
        if not self.careful:
            return [Assign(bar, "zeros_like", (Var(name),), loc)]
        zeros = self.names.temp()
        self.types[zeros] = self.types[name]
        return [Assign(zeros, "zeros_like", (Var(name),), loc), Assign(bar, "structural", (Var(zeros),), loc)]

    # ---------------------------------------------------------------- assembly
    def tape_allocations(self, forward: list) -> list:
        """One `TapeAlloc` per tape, preallocated where one top-level `for` fills it."""
        sites: dict[str, list] = {}
        _pushes_with_loops(forward, (), sites)
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
            if id(loop) in self.pruned_loops:       # see forward_loop: an empty tape at the top too
                head.append(TapeAlloc(tape, alloc.dtype, Const(0), False, alloc.shape_of))
            statements: list = []
            make = Instantiate(self.names, statements.append, loop.loc)
            _, _, per_trip = alloc.capacity
            step = loop.step
            if isinstance(step, Const) and step.value == 1:
                count = make(syntax.expression("max(stop - start, 0) * per"),
                             {"start": loop.start, "stop": loop.stop, "per": Const(per_trip)})
            elif isinstance(step, Const) and step.value > 0:
                count = make(syntax.expression("max(stop - start + step - 1, 0) // step * per"),
                             {"start": loop.start, "stop": loop.stop, "step": step, "per": Const(per_trip)})
            elif isinstance(step, Const):
                count = make(syntax.expression("max(start - stop - step - 1, 0) // (-step) * per"),
                             {"start": loop.start, "stop": loop.stop, "step": step, "per": Const(per_trip)})
            else:
                count = make(syntax.expression("range_length(start, stop, step) * per"),
                             {"start": loop.start, "stop": loop.stop, "step": step, "per": Const(per_trip)})
            alloc.capacity = count
            before.setdefault(id(loop), []).extend(statements + [alloc])
        def place(block: list) -> list:
            return [placed for stmt in block for placed in (*before.get(id(stmt), ()), stmt)]
        return head + ir.rewrite_blocks(forward, place)

    def build(self, with_value: bool = True, outputs: tuple | None = None, seeds: list | None = None,
              extra_params: tuple = (), function_name: str | None = None) -> ir.Function:
        """The adjoint program.  It returns `outputs` (default: the first result, when `with_value`),
        then the gradients.  `seeds`: (result, cotangent operand) pairs (default: each result's adjoint
        starts at 1.0); `extra_params` (the cotangents a vjp takes) follow the primal's parameters."""
        # a save may read a variable before its first assignment (a value made in a loop's first trip):
        # start such variables defined (the value saved then is never read back)
        starts = [start for name in self.undefined_at_start() for start in self.start_value(name)]
        forward = self.forward(self.primal.body)
        forward = starts + self.trip_starts + forward
        allocations = self.tape_allocations(forward)
        forward = self.place_allocations(forward, allocations)
        seed_statements: list = []
        seeded: set = set()
        if seeds is None:
            seeds = [(result, Const(1.0)) for result in self.results]
        for result, seed in seeds:
            if isinstance(result, Var) and result.name in self.active:
                bar = self.adjoint_of(result.name)
                if result.name in seeded:           # `return x, x`: both cotangents reach x
                    seed_statements.append(Assign(bar, "add", (Var(bar), seed)))
                elif self.types[result.name].is_array:
                    # the reverse sweep writes into adjoint arrays: never into the caller's cotangent
                    seed_statements.append(Assign(bar, "array_copy", (seed,)))
                else:
                    seed_statements.append(Assign(bar, "copy", (seed,)))
                seeded.add(result.name)
        seeds = seed_statements
        reverse_body = self.backward(self.primal.body)
        # every adjoint starts at zero (the simplifier drops the ones overwritten first)
        inits = [zero for name in sorted(self.active) if name in self.adjoints
                 and not any(isinstance(r, Var) and r.name == name for r in self.results)
                 for zero in self.zero_assigns(name)]
        for name in self.wrt:
            if name not in self.adjoints:
                inits += self.zero_assigns(name)
        grads = tuple(Var(self.adjoint_of(name)) for name in self.wrt)
        captured = []
        for name, capture in self.intermediates.items():
            if name not in self.active:    # the result does not depend on it through wrt
                inits.append(Assign(capture, "copy", (Const(0.0),)))
            captured.append(Var(capture))
        grads += tuple(captured)
        if outputs is None:
            outputs = (self.results[0],) if with_value else ()
        values = []
        for value in outputs:
            if isinstance(value, Var) and value.name in self.recorded:
                # the reverse sweep gives the result its earlier values back: return the one it had
                value_out = self.names.fresh(f"{value.name}_out")
                copy = "array_copy" if self.types[value.name].is_array else "copy"
                forward.append(Assign(value_out, copy, (value,)))
                value = Var(value_out)
            values.append(value)
        returns = tuple(values) + grads
        body = ([Comment("forward sweep")] + forward + [Comment("reverse sweep")] + inits + seeds
                + reverse_body)
        suffix = "value_and_grad" if with_value else "grad"
        adjoint = ir.Function(function_name or f"{self.primal.name}_{suffix}",
                              list(self.primal.params) + list(extra_params),
                              {}, body, None,
                              self.primal.filename, self.primal.firstline, returns=returns,
                              docstring=self.primal.docstring, user_names=frozenset(self.names.taken),
                              param_dims=self.primal.param_dims)
        param_types = {p: self.types[p] for p in adjoint.params}
        adjoint.types = infer_adjoint_types(adjoint, param_types, self.types)
        # the program's own values, which the simplifier must fold exactly (signed zeros and all)
        adjoint.exact_names = self.primal_names
        return adjoint


def infer_adjoint_types(adjoint: ir.Function, param_types: dict, primal_types: dict) -> dict:
    """Types of an adjoint program: the primal's, plus adjoints (their primal's type) and tapes."""
    types = dict(primal_types)
    types.update(infer_types(adjoint, {**primal_types, **param_types}))
    return types


def _pushes_with_loops(block: list, loops: tuple, sites: dict) -> None:
    """Adds each push in `block` to `sites[tape]`, as (push, the loops around it from `block` in)."""
    for stmt in block:
        if isinstance(stmt, Push):
            sites.setdefault(stmt.tape, []).append((stmt, loops))
        for child in ir.child_blocks(stmt):
            _pushes_with_loops(child, loops + ((stmt,) if isinstance(stmt, (For, While)) else ()), sites)


def split_self_reads(function: ir.Function) -> None:
    """`s = f(s, e)` becomes `t = f(s, e); s = t`: the reverse pass restores a statement's target before
    its partials read their operands, so no statement may read its own target.  The front end never
    makes one; a derived program (forward mode's tangents, which reverse mode differentiates again)
    or an optimisation might."""
    names = Names(set(function.types) | set(function.user_names) | set(function.params))
    changed = False

    def split(block: list) -> list:
        nonlocal changed
        out = []
        for stmt in block:
            if isinstance(stmt, Assign) and stmt.target in ir.operand_vars(stmt.args):
                temp = names.temp()
                function.types[temp] = function.types[stmt.target]
                out.append(Assign(temp, stmt.prim, stmt.args, stmt.loc, stmt.params))
                out.append(Assign(stmt.target, "copy", (Var(temp),), stmt.loc, (), stmt.inplace))
                changed = True
            else:
                out.append(stmt)
        return out
    function.body = ir.rewrite_blocks(function.body, split)
    if changed:
        dataflow.invalidate(function)


def prepare_loops(function: ir.Function) -> None:
    """Make every `for` loop one the reverse sweep can run backwards, meaning unchanged:

    * bounds the body writes (`for i in range(n): n = n - 1`) are read into
      copies first: Python reads them once, on entry, and the reversed loop
      reads them again after the forward loop has run;
    * an index the body writes too (an inner loop reusing the name, `i = ...`)
      becomes a copy of a fresh counter at the top of each trip: the reversed
      loop sets the counter, and the index is an ordinary variable, saved and
      restored like any other."""
    facts = dataflow.of(function)
    names = Names(set(function.types) | set(function.user_names) | set(function.params))
    changed = False

    def prepare(block: list) -> list:
        nonlocal changed
        out = []
        for stmt in block:
            if isinstance(stmt, For):
                written = facts.written_in(stmt)
                if any(stmt.index in facts.written_in(s) for s in stmt.body):
                    counter = names.fresh(f"{stmt.index}_count")
                    function.types[counter] = function.types[stmt.index]
                    stmt.body.insert(0, Assign(stmt.index, "copy", (Var(counter),), stmt.loc))
                    stmt.index = counter
                    changed = True
                bounds = []
                for bound in (stmt.start, stmt.stop, stmt.step):
                    if isinstance(bound, Var) and bound.name in written:
                        copy = names.fresh(f"{bound.name}_entry")
                        function.types[copy] = function.types[bound.name]
                        out.append(Assign(copy, "copy", (bound,), stmt.loc))
                        bound = Var(copy)
                        changed = True
                    bounds.append(bound)
                stmt.start, stmt.stop, stmt.step = bounds
            out.append(stmt)
        return out
    function.body = ir.rewrite_blocks(function.body, prepare)
    if changed:
        dataflow.invalidate(function)


def reverse(function: ir.Function, wrt: list[str], with_value: bool = True,
            intermediates: tuple = (), results: list | None = None, outputs: tuple | None = None,
            careful: bool = False) -> ir.Function:
    """The adjoint program of `function`: the gradients of its first result (or of `results`, summed)
    with respect to `wrt`, after `outputs` (default: the value, when `with_value`); `careful`: with its
    structural zeros marked (`Reverse.structural`), for the rerun of `backend.strong_zero`."""
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
    split_self_reads(function)
    prepare_loops(function)
    builder = Reverse(function, wrt, results, careful)
    builder.intermediates = {name: builder.names.fresh(f"{name}_grad") for name in intermediates}
    return builder.build(with_value, outputs)


def vjp(function: ir.Function, wrt: list[str], name: str | None = None, careful: bool = False) -> ir.Function:
    """The vector-Jacobian product program of `function`: it takes the function's parameters, then one
    cotangent per output (shaped like it), and returns the outputs, then sum_k ct_k . d out_k / d wrt_j
    for each `wrt` parameter j; `careful`: with its structural zeros marked (`Reverse.structural`)."""
    from .forward import outputs_of
    for w in wrt:
        t = function.types.get(w)
        if t is None or not t.is_float:
            raise AutodiffError(f"cannot differentiate with respect to {w!r} of type {t}")
    split_self_reads(function)
    prepare_loops(function)
    outputs = outputs_of(function)
    builder = Reverse(function, wrt, list(outputs), careful=careful)
    cotangents = []
    for output in outputs:
        base = output.name if isinstance(output, Var) else "output"
        ct = builder.names.fresh(f"{base}_ct")
        t = function.types.get(output.name) if isinstance(output, Var) else None
        builder.types[ct] = t if t is not None and t.is_float else FLOAT
        cotangents.append(ct)
    seeds = [(o, Var(c)) for o, c in zip(outputs, cotangents)]
    return builder.build(True, outputs, seeds, tuple(cotangents), name or f"{function.name}_vjp")
