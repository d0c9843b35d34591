"""The dataflow layer (ir/dataflow.py) and the legality checks that ask it.

Facts are checked on small programs (corpus_dataflow.py) against what the
program does; then each optimisation is shown to fire where its legality
condition holds and not where it fails, and every pass of the pipeline can be
dumped and switched off.  No Numba here: these are questions about programs.
"""
import numpy as np
import pytest

import corpus_dataflow as C
from autodiff_compiler import AutodiffError, grad, value_and_grad
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.ir import FLOAT, INT, array_of, dataflow
from autodiff_compiler import ir
from autodiff_compiler.pipeline import OPTIMISATIONS, PASSES, State, derive, run_until

VEC = array_of(1)


def primal_after(fn, types, last="values", **options):
    state = run_until(State(source_of_function(fn), types, [next(iter(types))], **options), last)
    return state.primal


def find(function, text):
    """The statement whose printed form contains `text` (exactly one)."""
    found = [s for s in ir.walk(function.body) if text in str(s).split("\n")[0]]
    assert len(found) == 1, (text, [str(s).split("\n")[0] for s in found])
    return found[0]


def loops(function):
    return [s for s in ir.walk(function.body) if isinstance(s, (ir.For, ir.While))]


# ------------------------------------------------------------------------------ reaching definitions

def test_a_loop_index_is_a_definition_and_a_zero_trip_loop_defines_nothing():
    f = primal_after(C.loop_index_after, {"x": FLOAT, "n": INT})
    facts = dataflow.of(f)
    read = find(f, "mul(x, i)")
    loop = loops(f)[0]
    assert facts.reaching(read, "i") == {facts.pos(loop), dataflow.UNDEFINED}


def test_definitions_reach_through_the_back_edge_and_out_of_the_loop():
    f = primal_after(C.carried_and_local, {"x": FLOAT, "n": INT})
    facts = dataflow.of(f)
    update = [s for s in ir.walk(f.body) if isinstance(s, ir.Assign) and s.target == "s"][-1]
    add = find(f, "add(s, ")
    start = [s for s in f.body if isinstance(s, ir.Assign) and s.target == "s"][0]
    assert facts.reaching(add, "s") == {facts.pos(start), facts.pos(update)}
    assert facts.uses_of(facts.pos(update)) >= {facts.pos(add)}


def test_branches_join_their_definitions():
    f = primal_after(C.branch_join, {"x": FLOAT, "c": FLOAT})
    facts = dataflow.of(f)
    defs = {facts.pos(s) for s in ir.walk(f.body) if isinstance(s, ir.Assign) and s.target == "y"}
    result = [s for s in f.body if isinstance(s, ir.Assign) and s.target == "value"][0]
    assert facts.reaching(result, "y") == defs and len(defs) == 2


def test_a_statement_never_runs_when_only_an_unbound_name_or_such_statements_give_its_read_a_value():
    """`c` is False only on one side (the other side's branch was folded away): the reverse-like
    `if c:` may run, its read of `t` (no definition) never does, and neither does the pop in a loop
    whose only definition of the tape is the pop itself (a greatest fixed point: a trip cannot vouch
    for itself), nor what only they define; `u`, defined before, is read as usual.  A tape's
    allocation only names the array whose type it holds (`shape_of`): that is no read."""
    Var, Const = ir.Var, ir.Const
    read_t = ir.Assign("a", "mul", (Var("t"), Var("x")))
    pop = ir.Pop("t_tape", "p")
    uses_pop = ir.Assign("b", "add", (Var("p"), Var("a")))
    read_u = ir.Assign("d", "add", (Var("u"), Var("x")))
    loop = ir.For("k", Const(0), Const(2), Const(1), [pop, uses_pop])
    alloc = ir.TapeAlloc("v_tape", "np.float64", Const(1), False, shape_of="v")
    inner = ir.If(Var("c"), [read_t, loop, read_u], [])
    body = [ir.Assign("u", "copy", (Var("x"),)), alloc,
            ir.If(Var("x"), [ir.Assign("c", "copy", (Const(False),))], []), inner,
            ir.Assign("v", "copy", (Var("x"),))]
    function = ir.Function("f", ["x"], {"x": FLOAT}, body, Var("x"))
    facts = dataflow.of(function)
    assert [s for s in facts.statements if facts.never_runs(s)] == [read_t, pop, uses_pop]
    assert not facts.never_runs(inner) and not facts.never_runs(loop) and not facts.never_runs(alloc)


# ------------------------------------------------------------------------------ liveness and loops

def test_strong_liveness_kills_a_dead_chain_at_once():
    f = primal_after(C.dead_chain, {"x": FLOAT})
    f.returns = (f.result,)
    facts = dataflow.of(f)
    chain = [s for s in f.body if isinstance(s, ir.Assign) and s.target in ("a", "b", "c")]
    assert len(chain) == 3
    assert all(not facts.needed(s) for s in chain)
    assert "a" in facts.live_out(chain[0])            # plain liveness still sees b read a


def test_loop_facts_carried_exposed_and_zero_trip():
    f = primal_after(C.carried_and_local, {"x": FLOAT, "n": INT})
    facts = dataflow.of(f)
    loop = loops(f)[0]
    assert "s" in facts.carried(loop)
    assert "t" not in facts.upward_exposed(loop) and "t" in facts.written_in(loop)
    assert facts.may_skip(loop)
    g = primal_after(C.one_trip_defines, {"x": FLOAT})
    assert not dataflow.of(g).may_skip(loops(g)[0])
    h = primal_after(C.zero_trip_keeps_old, {"x": FLOAT})
    assert dataflow.of(h).may_skip(loops(h)[0])


# ------------------------------------------------------------------------------ arrays sharing memory

def test_an_alias_shares_objects_and_a_store_writes_both_names():
    f = primal_after(C.alias_then_store, {"x": VEC}, last="types")
    facts = dataflow.of(f)
    store = [s for s in ir.walk(f.body) if isinstance(s, ir.Store)][0]
    assert set(facts.shared_at(store)) == {"a"}
    b_def = find(f, "b = copy(a)")
    assert facts.sharing_definition(facts.pos(b_def))


def test_sharing_that_no_later_read_can_see_is_left_alone():
    f = primal_after(C.alias_then_store, {"x": VEC})
    assert "b = copy(a)" in str(f)          # `a` is never read again: no copy needed
    x = np.array([1.0, 2.0])
    for jit in (False, True):
        np.testing.assert_allclose(grad(C.alias_then_store, jit=jit)(x), [6.0 * x[0], 0.0])


def test_a_view_read_before_a_store_is_copied_not_refused():
    f = primal_after(C.view_then_store, {"x": VEC})
    assert "subscript_copy" in str(f)
    x = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(grad(C.view_then_store, jit=False)(x), [0.0, 2 * x[1] + 1, 2 * x[2] + 1])


# ------------------------------------------------------------------------------ each optimisation's legality

def _loop_body_targets(function):
    return {s.target for loop in loops(function) for s in loop.body if isinstance(s, ir.Assign)}


def test_hoisting_fires_for_an_invariant_read_only_in_its_loop():
    f = primal_after(C.invariant_in_loop, {"x": FLOAT, "n": INT}, last="hoist")
    assert "k" not in _loop_body_targets(f)


def test_hoisting_does_not_fire_past_a_loop_that_may_not_run_when_the_value_is_read_after():
    f = primal_after(C.invariant_live_after_maybe_empty_loop, {"x": FLOAT, "n": INT}, last="hoist")
    assert "k" in _loop_body_targets(f)
    g = value_and_grad(C.invariant_live_after_maybe_empty_loop, jit=False)
    assert g(0.5, 0) == (1.0, 0.0)
    assert g(0.5, 2) == pytest.approx((4.5, 9.0))


def test_fusion_fires_for_a_chain_ending_in_a_sum():
    f = primal_after(C.chain_ending_in_sum, {"w": FLOAT, "x": VEC}, last="fuse")
    assert loops(f), str(f)


def test_fusion_does_not_fire_when_the_chain_reads_its_own_sum():
    f = primal_after(C.reduction_read_in_chain, {"z": VEC}, last="fuse")
    fused = [loop for loop in loops(f) if any(isinstance(s, ir.Assign) and s.target.startswith("t")
                                              and s.prim == "div" for s in loop.body)]
    assert not fused, str(f)
    z = np.array([0.1, -0.3, 0.5])
    e = np.exp(z)
    p = e / e.sum()
    want = p * (z - np.dot(p, z)) + p
    np.testing.assert_allclose(grad(C.reduction_read_in_chain, jit=False)(z), want, rtol=1e-12)


def test_loop_pairs_fuse_when_the_reverse_trips_only_accumulate():
    state = derive(source_of_function(C.accumulating_loop), {"w": FLOAT, "x": VEC}, ["w"])
    assert "reverse of this trip, in the same pass" in state.text


def test_loop_pairs_do_not_fuse_over_a_carried_adjoint():
    state = derive(source_of_function(C.carried_loop), {"w": FLOAT, "x": VEC}, ["w"])
    assert "reverse of this trip, in the same pass" not in state.text
    x = np.array([0.3, -0.2, 0.7])
    s, ds = 0.0, 0.0
    for v in x:
        s, ds = 0.9 * s + 0.5 * v, 0.9 * ds + v
    assert grad(C.carried_loop, jit=False)(0.5, x) == pytest.approx(2 * s * ds, rel=1e-12)


def test_a_while_test_value_the_body_reads_is_saved_and_reversed():
    for simplify in (True, False):
        got = grad(C.while_with_test_value, jit=False, simplify=simplify)(0.4)
        h = 1e-6
        want = (C.while_with_test_value(0.4 + h) - C.while_with_test_value(0.4 - h)) / (2 * h)
        assert got == pytest.approx(want, rel=1e-6)


# ------------------------------------------------------------------------------ the pipeline as data

@pytest.mark.parametrize("name", [name for name, _ in PASSES])
def test_every_pass_can_be_run_to_and_shown(name):
    state = run_until(State(source_of_function(C.invariant_in_loop), {"x": FLOAT, "n": INT}, ["x"]), name)
    shown = state.adjoint if state.adjoint is not None else state.primal
    if name != "fence":
        assert "def " in str(shown)


@pytest.mark.parametrize("skipped", OPTIMISATIONS)
def test_each_optimisation_switches_off_alone_and_the_gradient_stays(skipped):
    x = np.array([0.3, -0.2, 0.7])
    want = grad(C.accumulating_loop, jit=False)(0.5, x)
    got = grad(C.accumulating_loop, jit=False, skip=(skipped,))(0.5, x)
    assert got == pytest.approx(want, rel=1e-12)


def test_an_unknown_pass_to_skip_is_an_error():
    with pytest.raises(AutodiffError, match="unknown optimisation"):
        grad(C.accumulating_loop, skip=("nonsense",))(0.5, np.ones(2))


# ------------------------------------------------------------------------------ what the facts cost
# The facts of a long function are its derivation's largest cost (15 builds of a 1,000-statement one):
# a pass with nothing to do asks for none, and a program whose arrays share no memory is read once.

def read_after_write_through_alias(x):
    a = np.zeros_like(x)
    b = a
    b[0] = 3.0 * x[0]
    return np.sum(a * x)


def numbers_only(x, y):
    a = x * y + 1.0
    b = np.sin(a) * x
    c = b / (1.0 + a * a)
    return c * c + a


def summed_in_a_loop_and_broadcast(x, A, n):
    s = np.zeros_like(x)
    for i in range(n):
        s = s + np.sin(x)
    return np.sum(s * s) + np.sum(np.tanh(A + x))


def _builds_by_pass(monkeypatch, fn, types):
    """{pass name: (facts built while it ran, statements visited by those builds, statements they hold)}."""
    from autodiff_compiler import pipeline
    builds, current = {}, [None]

    class Counted(dataflow.Dataflow):
        def __init__(self, function):
            self.visits = 0
            super().__init__(function)
            made, visited, held = builds.get(current[0], (0, 0, 0))
            simple = [s for s in ir.walk(function.body) if not isinstance(s, (ir.If, ir.For, ir.While, ir.Comment))]
            builds[current[0]] = (made + 1, visited + self.visits, held + len(simple))

        def simple(self, stmt, state):
            self.visits += 1
            super().simple(stmt, state)

    def tagged(name, run):
        def run_tagged(state):
            current[0] = name
            return run(state)
        return run_tagged
    original = pipeline.passes_of
    monkeypatch.setattr(dataflow, "Dataflow", Counted)
    monkeypatch.setattr(pipeline, "passes_of", lambda state: [(n, tagged(n, r)) for n, r in original(state)])
    derive(source_of_function(fn), types, [next(iter(types))])
    return builds


def test_the_passes_about_arrays_ask_no_facts_of_a_function_of_numbers(monkeypatch):
    """Broadcasts, the audit and accumulation each rewrite or refuse only statements that make or
    write arrays: of a function of numbers none asks for the facts (each built them, three of 15
    builds of a 1,000-statement derivation), and every build reads each statement once."""
    builds = _builds_by_pass(monkeypatch, numbers_only, {"x": FLOAT, "y": FLOAT})
    assert not {"broadcasts", "audit", "accumulate"} & set(builds), builds
    assert sum(made for made, _, _ in builds.values()) >= 5, builds           # the other passes still ask
    assert all(visited == held for _, visited, held in builds.values()), builds


def test_the_passes_about_arrays_still_ask_where_there_are_arrays(monkeypatch):
    """The counterpart: an adjoint that sums into an array in a loop and sums a broadcast back to a
    vector: all three ask for the facts (and the audit reads it again: the adjoint's arrays share)."""
    builds = _builds_by_pass(monkeypatch, summed_in_a_loop_and_broadcast, {"x": VEC, "A": array_of(2), "n": INT})
    assert {"broadcasts", "audit", "accumulate"} <= set(builds), builds


def test_the_audit_still_refuses_a_stale_read_of_a_program_that_writes_into_an_array():
    """`check_values` passes a program that writes into no array without asking; one that does is
    asked: `a` read after a write through `b`, which shares its memory, is an InternalError."""
    from autodiff_compiler.errors import InternalError
    from autodiff_compiler.ir.aliasing import check_values
    stale = primal_after(read_after_write_through_alias, {"x": VEC}, last="types")
    with pytest.raises(InternalError, match="reads a after a write through a name sharing its memory"):
        check_values(stale)
    check_values(primal_after(numbers_only, {"x": FLOAT, "y": FLOAT}, last="types"))


def added_into_its_own_memory(x):
    y = x * 1.0
    y[1:] += y[:-1]
    y[::-1] += y
    return np.sum(y * y)


def test_an_array_added_in_place_into_memory_it_shares_is_added_through_a_copy():
    """`y[1:] += y[:-1]` (a view of the array written) and `y[::-1] += y` (the array itself): NumPy reads
    the operand as it was before the write, Numba's compiled loop would read elements already written.
    Before the values pass the audit refuses both (a compiler bug in a generated program); the pass
    adds each through a copy made just before the store, after which the audit passes and the IR
    holds the two copies."""
    from autodiff_compiler.errors import InternalError
    from autodiff_compiler.ir.aliasing import check_values, make_values, overlapping_update
    typed = primal_after(added_into_its_own_memory, {"x": VEC}, last="types")
    facts = dataflow.of(typed)
    stores = [s for s in ir.walk(typed.body) if isinstance(s, ir.Store)]
    assert [overlapping_update(facts, s, typed.types) for s in stores] == [stores[0].value.name, "y"]
    with pytest.raises(InternalError, match="adds .* in place into memory it may share"):
        check_values(typed)
    assert make_values(typed)
    check_values(typed)
    copies = [s for s in ir.walk(typed.body) if isinstance(s, ir.Assign) and s.prim == "array_copy"]
    assert {s.target for s in copies} == {s.value.name for s in stores}, (copies, stores)


def _readings(function) -> int:
    """How many times the facts of `function` read it whole before its arrays' objects agreed."""
    readings = []

    class Counted(dataflow.Dataflow):
        def run(self, block, state):
            if block is function.body:
                readings.append(1)
            return super().run(block, state)
    facts = Counted(function)
    return len(readings), facts


def view_in_a_loop(x, n):
    a = x * 2.0
    for i in range(n):
        b = a[1:]
        b[0] = 3.0 * x[0]
        a = a * 0.5
    return np.sum(a * x)


def test_a_program_whose_arrays_share_memory_is_read_until_its_objects_agree():
    """The objects a view refers to feed back into what a later store defines, so the facts read a
    program with a view (or an alias) again until they stop changing; a program whose arrays share
    nothing agrees with itself after one reading.  Both give the same answers as before."""
    for fn in (C.alias_then_store, view_in_a_loop):
        f = primal_after(fn, {"x": VEC, "n": INT} if fn is view_in_a_loop else {"x": VEC}, last="types")
        count, facts = _readings(f)
        assert count >= 2, (fn.__name__, count)
        store = [s for s in ir.walk(f.body) if isinstance(s, ir.Store)][0]
        assert "a" in facts.shared_at(store), (fn.__name__, facts.shared_at(store))
        view = find(f, "b = copy(a)" if fn is C.alias_then_store else "b = subscript(a")
        made = find(f, "a = zeros_like(x)" if fn is C.alias_then_store else "a = mul(x, 2.0)")
        assert facts.sharing_definition(facts.pos(view)) and not facts.sharing_definition(facts.pos(made))
    count, _ = _readings(primal_after(numbers_only, {"x": FLOAT, "y": FLOAT}, last="types"))
    assert count == 1, count


# ------------------------------------------------------------------------------ definition-clear paths

def test_def_clear_sees_a_redefinition_between_origin_and_reader():
    f = primal_after(C.redefined_in_loop, {"x": FLOAT, "n": INT})
    facts = dataflow.of(f)
    origin, reader = find(f, "a = mul(x, 2.0)"), find(f, "value = copy(s)")
    assert not facts.def_clear("s", origin, reader) and not facts.def_clear("a", origin, reader)
    assert facts.def_clear("x", origin, reader) and facts.def_clear("x", origin, None)
    assert not facts.def_clear("a", origin, None)
    inner = find(f, "t2 = add(a, 1.0)")
    assert facts.def_clear("a", find(f, "t1 = add(s, a)"), inner)     # same trip, nothing between


def test_def_clear_counts_a_loop_around_the_reader_whole():
    f = primal_after(C.redefined_in_loop, {"x": FLOAT, "n": INT})
    facts = dataflow.of(f)
    origin, reader = find(f, "a = mul(x, 2.0)"), find(f, "add(s, a)")
    assert not facts.def_clear("a", origin, reader)      # the trip before redefined it (back edge)
    assert facts.def_clear("x", origin, reader)


def test_def_clear_is_not_clear_from_an_origin_that_may_not_have_run():
    f = primal_after(C.defined_in_branch, {"x": FLOAT, "c": FLOAT})
    facts = dataflow.of(f)
    origin, reader = find(f, "mul(x, 3.0)"), find(f, "mul(y, x)")
    assert not facts.def_clear("x", origin, reader)     # the branch may not have run: undecided, so no


def test_a_store_through_an_alias_is_a_partial_definition_of_both_names():
    f = primal_after(C.alias_then_store, {"x": VEC}, last="types")
    facts = dataflow.of(f)
    b_def = find(f, "b = copy(a)")
    store = [s for s in ir.walk(f.body) if isinstance(s, ir.Store)][0]
    after = f.body[f.body.index(store) + 1] if store in f.body else None
    assert {"a", "b"} <= facts.written_memory()
    if after is not None:
        assert not facts.def_clear("a", b_def, after) and not facts.def_clear("b", b_def, after)


def test_propagation_never_reads_a_copy_past_a_redefinition_of_its_source():
    for fn, args, want in ((C.copy_then_redefine, (1.5,), 2 * 2.0 * 1.5 + 2.0),
                           (C.redefined_in_loop, (0.5, 3), 6.0),
                           (C.defined_in_branch, (0.7, 1.0), 6 * 0.7)):
        for simplify in (True, False):
            got = grad(fn, jit=False, simplify=simplify)(*args)
            assert got == pytest.approx(want), (fn.__name__, simplify, got)


# ---- which numbers are NumPy's and which Python's (ir/numbers.py): both analyses over-approximate, checked
# against the types Python's own run gives every local variable, line by line

def _observed_kinds(fn, args) -> dict:
    """user's name -> the set of {"numpy", "python"} its values had while `fn(*args)` ran."""
    import sys
    seen: dict = {}

    def tracer(frame, event, arg):
        if frame.f_code is fn.__code__:
            for name, value in frame.f_locals.items():
                if isinstance(value, np.generic):
                    seen.setdefault(name, set()).add("numpy")
                elif isinstance(value, (float, int)):
                    seen.setdefault(name, set()).add("python")
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        with np.errstate(all="ignore"):
            fn(*args)
    except (ZeroDivisionError, TypeError):
        pass
    finally:
        sys.settrace(old)
    return seen


@pytest.mark.parametrize("fn, args", [
    ("mixednum_issue", [(0.5, np.array([1.0, -1.0]), 0), (0.5, np.array([1.0, -1.0]), 2)]),
    ("mixednum_branch_power", [(6.0, np.array([1.0])), (0.5, np.array([2.0]))]),
    ("mixednum_two_operands", [(0.5, np.array([2.0, 3.0]), 1.0), (-0.5, np.array([2.0, 3.0]), 2.0),
                               (-2.0, np.array([2.0, 3.0]), 2.0)]),
    ("mixednum_chain", [(0.5, np.array([1.0]), 0), (0.5, np.array([0.5]), 1)]),
    ("mixednum_in_loop", [(0.5, np.array([1.0, 2.0, 3.0]), 2.0, 3)]),
    ("mixednum_reassigned_param", [(0.5, 0.5, np.array([1.0])), (0.5, 3.0, np.array([1.0]))]),
    ("mixednum_max", [(0.5, np.array([-1.0]), 1), (0.5, np.array([2.0]), 1)]),
    ("mixednum_max_loop", [(0.5, np.array([-1.0, 2.0]), 0.0)]),
    ("mixednum_not", [(0.5, np.array([1.0])), (0.5, np.array([-1.0]))]),
])
def test_numpy_and_python_numbers_cover_what_python_runs(fn, args):
    """Every name Python's run shows holding NumPy's number is in `numpy_numbers`, every one holding
    Python's in `python_numbers`; a name in one only holds that kind on every run seen."""
    import corpus_soundness as S
    from autodiff_compiler.ir.numbers import numpy_numbers, python_numbers
    fn = getattr(S, fn)
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    types = {n: (VEC if isinstance(a, np.ndarray) else INT if isinstance(a, int) else FLOAT)
             for n, a in zip(names, args[0])}
    state = run_until(State(source_of_function(fn), types, [names[0]]), "types")
    primal, users = state.primal, state.facts.user_variables
    numpy = numpy_numbers(primal.body, primal.types)
    python = python_numbers(primal.body, primal.types, primal.params)
    observed: dict = {}
    for point in args:
        for name, kinds in _observed_kinds(fn, point).items():
            observed.setdefault(name, set()).update(kinds)
    versions = lambda user: {n for n, u in users.items() if u == user} | ({user} if user in primal.params else set())  # noqa: E731
    for name, kinds in observed.items():
        if isinstance(types.get(name), ir.Type) and types[name].is_array or name == "i":
            continue
        mine = versions(name)
        assert mine, name
        if "numpy" in kinds:
            assert mine & numpy, (name, kinds)
        if "python" in kinds:
            assert mine & python, (name, kinds)
    assert {"s", "a", "b", "y", "u", "m"} & {n for n, k in observed.items() if k == {"numpy", "python"}} or \
        fn.__name__ == "mixednum_not"
