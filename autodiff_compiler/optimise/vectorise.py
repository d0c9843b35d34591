"""Vectorise: plan how the compiled (Numba) module runs a loop -- in blocks with vector math, in fixed chunks on threads.

Takes: a final `ir.Function` (after every other pass), the primitives with a
vector version on this machine (`backend.vecmath.functions()`), and whether
fused reductions may be split into chunks.  Guarantees: `plan_loops` returns,
for each loop it may change, a `LoopPlan` the printer follows when it writes
the module Numba compiles; it changes no statement.  A loop without a plan is
printed as it is.  Two plans, each with its legality condition checked on the
dataflow facts (`ir.dataflow`) of the function as it is:

* **blocks** (`LoopPlan.segments`): the trips run in blocks of `BLOCK`; in a
  block, the body is split at its vector calls (`exp`, `log`, ... of values
  the trip computes) into segments, each run for every trip of the block
  before the calls that follow it compute their values for the whole block,
  several lanes at a time (`vexp(...)`).  Values that cross from a segment to
  a later one go through per-block buffers; array elements are read again.
* **chunks** (`LoopPlan.chunked`): a loop whose only state across trips is
  float sums (`acc = acc + e`) runs over fixed chunks of `CHUNK` trips, each
  from its own partial sums (starting at -0.0, the identity of IEEE
  addition), which are then added to the sums in chunk order.  The chunks do
  not depend on the number of threads, so neither does the result; chunks may
  run in parallel (`prange`), since they share nothing but what they read,
  unless a statement may raise (`rules.may_raise`, as the module spells it:
  `ir.numbers.raises_in_compiled`): an exception in Numba's
  threads is lost, and their integer division by zero gives 0, so such
  chunks run on the calling thread, where the loop raises as written.
  (Numba's threads compute divisions by IEEE's rules, never raising: the
  printer reruns the chunks on the calling thread when a partial sum is not
  finite, so the error the loop raises is raised.)

* **forwards** (`LoopPlan.forwards`): a loop over a falling range (the
  reverse sweep's loops) whose trips share nothing but float sums runs over
  the rising range instead, which Numba's loop vectoriser handles better
  (MSE's adjoint: 1.41x the hand-written gradient backwards, 1.10x forwards,
  as measured for issue 11).  Without sums, the results are the same bits in
  either order; with sums, only when they are chunked, which already adds
  their terms in an order of its own (each chunk's trips now rising).

Loops may store into arrays, each trip into its own element only
(`_own_elements`: `a[i] = v` or `a[i] += v` at the loop index, every other
access of `a` in the loop the same element, and `a` sharing memory with no
other array the loop touches): trips then never touch each other's memory,
so blocks keep every dependence of a trip and the order of trips is free.
Such loops are not chunked (a chunk run again after a non-finite sum would
add into its elements twice).

**Array calls** (`ArrayCall`, from `plan_array_calls`): a whole-array call of
a unary vector function (`E = np.exp(Z - m)`) on a float array runs through
the same libmvec call (`vector_map(vexp, Z - m)`): an elementwise function
of a float64 array, which raises nothing (`rules.may_raise`), on a result of
the operand's shape.

Only the order of additions into the sums changes (chunks), and only the
vector functions' last bits (blocks and array calls: libmvec against the
scalar C library, within 1e-15 relative); every other value is computed as
written.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import ir
from ..rules import error_of, may_raise
from ..ir import Assign, Comment, Const, For, Store, Var, dataflow
from ..ir.numbers import numpy_numbers, raises_in_compiled, scalar_kind
from ..python_errors import checks_int64

BLOCK = 256                      # trips per block: buffers of 2 KiB stay in the L1 cache
# the vector functions of one operand, which `vector_map` applies to whole arrays
UNARY_VECTOR_FUNCTIONS = frozenset({"exp", "log", "log1p", "expm1", "sin", "cos", "tanh"})
PARALLEL_CHUNKS = 8              # fewer chunks than this run on the calling thread (same arithmetic)


def chunk_size() -> int:
    """Trips per chunk: fixed (the result depends on it, never on the thread count).  The environment
    variable AUTODIFF_COMPILER_CHUNK overrides it, for tests that want many chunks on small inputs."""
    value = os.environ.get("AUTODIFF_COMPILER_CHUNK", "")
    return int(value) if value.isdigit() and int(value) > 0 else 32768


@dataclass
class LoopPlan:
    loop: For
    segments: list = field(default_factory=list)     # [(statements, calls after them)], in order
    loads: list = field(default_factory=list)        # per segment: names read from buffers at its start
    remat: list = field(default_factory=list)        # per segment: definitions recomputed at its start
    stores: list = field(default_factory=list)       # per segment: names written to buffers at its end
    buffered: list = field(default_factory=list)     # every buffer's variable, in a fixed order
    uses_index: list = field(default_factory=list)   # per segment: does it read the loop index?
    chunked: bool = False
    chunk: int = 0                                   # trips per chunk (chunked only), read when planned
    sums: tuple = ()                                 # the float sums the chunks add to (chunked only)
    invariants: tuple = ()                           # what the trips read from before the loop
    forwards: bool = False                           # a falling range run rising (`step` is -1)
    may_raise: bool = False                          # some statement may raise: chunks stay on one thread

    @property
    def blocked(self) -> bool:
        return any(calls for _, calls in self.segments)


@dataclass(frozen=True)
class ArrayCall:
    """Print this statement's whole-array call as `vector_map(v<prim>, operand)`."""
    prim: str


def plan_array_calls(function: ir.Function, vector_functions: frozenset) -> dict:
    """id(statement) -> ArrayCall, for each `t = f(a)` with `f` a unary vector function of this machine,
    `a` and `t` float arrays, and `f` raising nothing there (`rules.may_raise`)."""
    types = function.types
    calls = {}
    for stmt in ir.walk(function.body):
        if not (isinstance(stmt, Assign) and stmt.prim in vector_functions & UNARY_VECTOR_FUNCTIONS
                and len(stmt.args) == 1 and isinstance(stmt.args[0], Var) and not stmt.params):
            continue
        operand, result = types.get(stmt.args[0].name), types.get(stmt.target)
        if operand is None or result is None or not (operand.is_array and result.is_array):
            continue
        if operand.dtype != "float64" or result.dtype != "float64" or may_raise(stmt.prim, stmt.args):
            continue
        calls[id(stmt)] = ArrayCall(stmt.prim)
    return calls


def plan_loops(function: ir.Function, vector_functions: frozenset, chunks: bool) -> dict:
    """Plans for the loops of `function` (by `id` of the `For`): see the module's docstring.

    Legality, asked of the dataflow facts: the loop is a `for` over `range`
    with step 1 or -1, no early exit, not inside another loop, and its body
    is straight-line assignments of scalars (array elements only read: no
    store, tape or nested block), so trips touch memory only by reading it;
    its index is not live after it.  Stores are allowed into arrays each trip
    writes at its own element only (`_own_elements`).  For blocks, each variable with a
    loop-carried dependence (`facts.carried`) or live after the loop is
    touched by one segment only (so its trip-by-trip order is kept), vector
    calls read and write only values of the trip, every value crossing
    segments is a float, and the segments keep every dependence of the body
    (true, anti and output, between any two statements).  For chunks, every
    variable with a loop-carried dependence or live after the loop is a
    float sum: each statement writing it is `v = v + e` with `e` not reading
    it, and nothing else in the loop reads it, and the loop stores nothing.
    Forwards: the step is -1 and no variable has a loop-carried dependence
    or is written in the loop and live after it (only own elements are
    stored), or each such variable is a float sum and the loop is chunked:
    no trip reads what another wrote, so the order is free (up to the order
    of additions into the sums, which chunks change anyway).
    Errors: the statements of the body that may raise (`rules.may_raise`: a
    division by what may be zero, an assert; not a division of NumPy's numbers,
    which the compiled module spells as NumPy divides, `ir.numbers`) all raise the same error
    (`rules.error_of`: every /, 'division by zero') when the plan runs trips
    out of order (forwards) or splits a trip over segments, unless those
    statements share one segment: the error a loop raises is then the one
    its plain form raises."""
    facts = dataflow.of(function)
    found = numpy_numbers(function.body, function.types)
    plans = {}
    for stmt in ir.walk(function.body):
        if not isinstance(stmt, For) or facts.loops_of(stmt):
            continue
        plan = _plan(function, facts, stmt, vector_functions, chunks, found)
        if plan is not None:
            plans[id(stmt)] = plan
    return plans


def _is_scalar(types: dict, name: str) -> bool:
    t = types.get(name)
    return t is not None and not t.is_array


def _is_float(types: dict, name: str) -> bool:
    t = types.get(name)
    return t is not None and not t.is_array and t.kind == "float"


def _plan(function, facts, loop: For, vector_functions, chunks: bool, found: frozenset = frozenset()):
    types = function.types
    if loop.exit_flag or not (isinstance(loop.step, Const) and loop.step.value in (1, -1)):
        return None
    body = [s for s in loop.body if not isinstance(s, Comment)]
    if not body or not all(isinstance(s, Store) or isinstance(s, Assign) and _is_scalar(types, s.target)
                           for s in body):
        return None
    for s in body:
        if isinstance(s, Store):
            if not (isinstance(s.value, Const) or _is_scalar(types, s.value.name)):
                return None
        elif s.prim != "subscript" and any(not _is_scalar(types, n) for n in ir.operand_vars(s.args)):
            return None          # only element reads touch arrays
        elif s.prim == "subscript" and not all(isinstance(a, (Var, Const)) for a in s.args[1:]):
            return None          # a slice: not an element
    if loop.index in facts.live_out(loop):
        return None
    written = set(ir.assigned_in(body))
    if loop.index in written:
        return None
    own = _own_elements(facts, loop, body, types)
    if own is None:
        return None
    # what may raise as the module Numba compiles spells it: not a division of NumPy's numbers, which is
    # spelled as NumPy divides (inf or nan: `ir.numbers`)
    raising = [k for k, s in enumerate(body) if isinstance(s, Assign) and raises_in_compiled(s, types, found)]
    # statements that raise the same error may swap places: the caller cannot tell which one raised.  An int
    # beyond 64 bits (`python_errors.checks_int64`) is the compiled code's own limit, not an error of the
    # function's (Python's ints run on): whichever trip meets it first, the caller sees an error where
    # Python would not, so it may swap places with any statement
    distinct = len({_error_of(body[k], types) for k in raising if not checks_int64(body[k])}) > 1
    confined = (facts.carried(loop) | (facts.live_out(loop) & written)) - {loop.index} - own
    invariants = tuple(sorted(((set(ir.used_in(body)) - written) | own) - {loop.index}))
    plan = LoopPlan(loop, invariants=invariants, may_raise=bool(raising))
    if chunks and not own:
        sums = _sums(body, confined, types)
        if sums:
            plan.chunked, plan.sums, plan.chunk = True, tuple(sorted(sums)), chunk_size()
    # chunks already add each sum's terms in another order than the loop's (legal: `_sums`); running
    # them over the rising range changes nothing else, and Numba compiles the rising loop better
    plan.forwards = loop.step.value == -1 and (not confined or plan.chunked) and not distinct
    scalars = written - own
    # a statement that may raise (a call from Python's math module, checked there) raises in its own
    # trip: a vector call would compute it for the block's trips at once, unchecked
    calls = {k for k, s in enumerate(body)
             if isinstance(s, Assign) and s.prim in vector_functions and _vector_call(s, types, scalars, confined)
             and k not in raising}
    if not (calls and _segment(plan, loop, body, calls, written, confined, types, own,
                               raising if distinct else [])):
        plan.segments = [(body, [])]
        plan.loads, plan.remat, plan.stores = [[]], [[]], [[]]
        plan.uses_index = [True]
    if not plan.chunked and not plan.blocked and not plan.forwards:
        return None
    return plan


def _error_of(stmt: Assign, types: dict):
    """What the caller sees when `stmt` raises (`rules.error_of`, from its operands' kinds); a statement
    whose error the table cannot name (an assert: its line) is its own."""
    return error_of(stmt.prim, tuple(scalar_kind(a, types) for a in stmt.args)) or ("statement", id(stmt))


def _own_elements(facts, loop: For, body: list, types: dict):
    """The arrays the loop stores into, when each trip writes only its own element of each: every store
    into `a` is `a[i] = v` or `a[i] += v` with `i` the loop index, every read of `a` in the loop is
    `a[i]`, `a` is one-dimensional, and no other array the loop reads or writes may share memory with it
    (`dataflow.objects` where the loop stores), and the range's lowest index is a constant >= 0 (else
    `a[-1]` of one trip is `a[n - 1]` of another).  Then two trips never touch one element, whatever
    their order.  None when some store is not of that kind."""
    index = Var(loop.index)
    stored = {s.array for s in body if isinstance(s, Store)}
    if not stored:
        return frozenset()
    # a negative index is an element counted from the end, which another trip's index may name: the
    # lowest index the range reaches must be a constant >= 0
    lowest = loop.start if loop.step.value == 1 else loop.stop
    if not (isinstance(lowest, Const) and type(lowest.value) is int and lowest.value >= (0 if loop.step.value == 1 else -1)):
        return None
    for s in body:
        if isinstance(s, Store):
            if s.index != (index,) or s.prim not in ("copy", "add") or types.get(s.array) is None \
                    or types[s.array].ndim != 1:
                return None
        elif any(name in stored for name in ir.operand_vars(s.args)):
            if not (s.prim == "subscript" and s.args[0].name in stored and tuple(s.args[1:]) == (index,)):
                return None
    objects = {}                  # each array the loop touches: what it may refer to, where a trip reads it
    for s in body:
        for name in ir.reads(s):
            if name not in objects and types.get(name) is not None and types[name].is_array:
                objects[name] = facts.objects(s, name)
    for name in stored:
        if not objects[name] or any(objects[name] & objects[other] for other in objects if other != name):
            return None
    return frozenset(stored)


def _vector_call(stmt: Assign, types: dict, written: set, confined: set) -> bool:
    """A call the block may compute for all its trips at once: float operands the trip computes (not a
    constant, not a value from before the loop), float result, none of them a loop-carried value."""
    names = [stmt.target] + [a.name for a in stmt.args if isinstance(a, Var)]
    if len(names) != 1 + len(stmt.args):
        return False
    return all(_is_float(types, n) and n not in confined for n in names) and \
        all(n in written for n in names[1:])


def _sums(body: list, confined: set, types: dict):
    """The loop's state across trips, if it is only float sums; else None.  A sum `v` is read only by
    `v + e`, `e + v` or `v - e` (`e` not `v`), whose result is `v` itself or a temporary read only by
    `v = copy(temporary)`, the only other kind of statement writing `v`."""
    def update(s, name):
        """`s` adds to the sum `name`: `name + e`, `e + name` or `name - e`, into `name` itself or into a
        temporary whose only reader is `name = copy(temporary)` (not into another sum)."""
        if not (isinstance(s, Assign) and len(s.args) == 2 and s.args[0] != s.args[1]):
            return False
        if not ((s.prim == "add" and Var(name) in s.args) or (s.prim == "sub" and s.args[0] == Var(name))):
            return False
        if s.target == name:
            return True
        readers = [r for r in body if s.target in ir.reads(r)]
        return s.target not in confined and bool(readers) and all(
            isinstance(r, Assign) and r.prim == "copy" and r.target == name for r in readers)
    for name in confined:
        if not _is_float(types, name):
            return None
        for s in body:
            if name in ir.reads(s) and not update(s, name):
                return None
            if name in ir.writes(s) and not update(s, name):
                if s.prim != "copy" or not isinstance(s.args[0], Var):
                    return None
                carrier = s.args[0].name
                defs = [d for d in body if carrier in ir.writes(d)]
                readers = [r for r in body if carrier in ir.reads(r)]
                if carrier in confined or len(defs) != 1 or not update(defs[0], name) or readers != [s]:
                    return None
    return set(confined)


def _segment(plan: LoopPlan, loop: For, body: list, calls: set, written: set, confined: set, types,
             own: frozenset = frozenset(), raising: list = ()) -> bool:
    """Split `body` at its vector calls (positions: segment k at 2k, calls after it at 2k+1), keeping
    every dependence; fills the plan's segments, buffers, loads and stores.  False when a confined
    variable would span segments or a crossing value is not a float.  Arrays stored at own elements
    (`own`) stay where they are: a later segment reads its trip's element after every earlier segment
    ran for the block, and no other trip touches that element."""
    n = len(body)
    reads = [set(ir.reads(s)) for s in body]
    writes = [set(ir.writes(s)) for s in body]
    preds = [[a for a in range(b) if writes[a] & reads[b] or reads[a] & writes[b] or writes[a] & writes[b]]
             for b in range(n)]
    position = [0] * n
    for b in range(n):
        p = max((position[a] for a in preds[b]), default=0)
        parity = 1 if b in calls else 0
        position[b] = p if p % 2 == parity else p + 1
    last = max(position)
    last += last % 2
    # ordinary statements as late as their successors allow (what a segment computes is used there)
    succs = [[b for b in range(n) if a in preds[b]] for a in range(n)]
    for a in reversed(range(n)):
        if a in calls:
            continue
        latest = min((position[b] - (1 if b in calls else 0) for b in succs[a]), default=last)
        position[a] = max(position[a], latest - latest % 2)
    segments = last // 2 + 1
    for name in confined:
        where = {position[k] for k in range(n) if name in reads[k] | writes[k]}
        if len(where) > 1:
            return False
    if len({position[k] for k in raising}) > 1:
        return False             # two statements that may raise, in two segments: the first error could change
    # values crossing segments: recomputed (element reads by the index or invariants) or buffered
    definitions = {}
    for k, s in enumerate(body):
        if isinstance(s, Assign):
            definitions.setdefault(s.target, []).append(k)
    remat_ok = {name for name, ks in definitions.items() if len(ks) == 1 and body[ks[0]].prim == "subscript"
                and all(isinstance(a, Const) or a.name == loop.index or a.name not in written
                        for a in body[ks[0]].args[1:]) and body[ks[0]].args[0].name not in written}
    plan.segments, plan.loads, plan.remat, plan.stores, plan.uses_index = [], [], [], [], []
    needed_from_buffer: set = set()
    for seg in range(segments):
        stmts = [body[k] for k in range(n) if position[k] == 2 * seg]
        seg_calls = [body[k] for k in range(n) if position[k] == 2 * seg + 1]
        exposed, defined = [], set()
        for s in stmts:
            for name in ir.reads(s):
                if name in written and name not in defined and name not in exposed and name not in confined \
                        and name not in own:
                    exposed.append(name)
            defined.update(ir.writes(s))
        remat = [name for name in exposed if name in remat_ok]
        loads = [name for name in exposed if name not in remat_ok]
        needed_from_buffer.update(loads)
        for c in seg_calls:
            needed_from_buffer.update(a.name for a in c.args)
        plan.segments.append((stmts, seg_calls))
        plan.loads.append(loads)
        plan.remat.append([body[definitions[name][0]] for name in remat])
        index_read = any(loop.index in ir.reads(s) for s in stmts + plan.remat[-1])
        plan.uses_index.append(index_read)
    call_targets = {c.target for _, cs in plan.segments for c in cs}
    if any(not _is_float(types, name) for name in needed_from_buffer | call_targets):
        return False
    plan.buffered = sorted(needed_from_buffer | call_targets)
    for stmts, _ in plan.segments:
        plan.stores.append(sorted({w for s in stmts for w in ir.writes(s)} & needed_from_buffer))
    return True
