"""optimise/accumulate.py: `x = x + e` printed `x += e` where nothing but `x` can see the write.

Each accumulation the pass marks must give the numbers of the program without it (`skip=
("accumulate",)`), bitwise, with jit on and off, and the gradients must match finite differences.
Each legality condition has a program that needs it: an alias read after the write, a parameter's
array, a sum that grows the array by broadcasting, an operand that is a view of the array.  Without
the condition, each of them gives a wrong number or changes the caller's array.
"""
import numpy as np
import pytest

import corpus_soundness as S

from autodiff_compiler import grad, value_and_grad
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.ir import array_of, FLOAT
from autodiff_compiler import ir
from autodiff_compiler.pipeline import derive

JIT = pytest.mark.parametrize("jit", [False, True], ids=["nojit", "jit"])


def rnn_like(W, xs, h0):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
    return np.sum(h * h)


def alias_read_after(x, n):
    s = x * 0.0
    u = s
    for i in range(n):
        u = s                       # u holds s's array, read after s is summed into
        s = s + x * (i + 1.0)
    return np.sum(u * s)


def parameter_summed(x, n):
    for i in range(n):
        x = x + 0.5                 # in the first trip, x's array is the caller's
    return np.sum(x * x)


def grows_by_broadcast(v, A, n):
    s = v * 1.0
    for i in range(n):
        s = s + A                   # (1, 3) + (2, 3): the sum is larger than s
    return np.sum(s * s)


def view_of_itself(x, n):
    s = x * 2.0
    for i in range(n):
        s = s + s[:]                # the operand is a view of s's own memory
    return np.sum(s * x)


def int_counts(x, k, n):
    c = k * 1
    for i in range(n):
        c = c + k
    return np.sum(x * c)


def _fd(f, args, index, h=1e-6):
    x = args[index]
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = [a.copy() if isinstance(a, np.ndarray) else a for a in args], \
            [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        up[index][i] += h
        down[index][i] -= h
        out[i] = (f(*up) - f(*down)) / (2 * h)
    return out


def _marked(fn, types, wrt):
    state = derive(source_of_function(fn), types, wrt)
    return [s for s in ir.walk(state.adjoint.body) if isinstance(s, ir.Assign) and s.accumulate], state


CASES = [
    (rnn_like, lambda r: (0.3 * r.standard_normal((4, 4)), r.standard_normal((5, 4)), r.standard_normal(4)), 0),
    (alias_read_after, lambda r: (r.standard_normal(3), 3), 0),
    (parameter_summed, lambda r: (r.standard_normal(4), 3), 0),
    (grows_by_broadcast, lambda r: (r.standard_normal((1, 3)), r.standard_normal((2, 3)), 2), 0),
    (view_of_itself, lambda r: (r.standard_normal(5), 3), 0),
    (int_counts, lambda r: (r.standard_normal(4), np.arange(4), 3), 0),
]


@pytest.mark.parametrize("fn, make, wrt", CASES, ids=[c[0].__name__ for c in CASES])
@JIT
def test_the_numbers_of_the_program_without_the_pass(fn, make, wrt, jit):
    for seed in range(3):
        args = make(np.random.default_rng(seed))
        kept = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        value, got = value_and_grad(fn, wrt=wrt, jit=jit)(*args)
        want_value, want = value_and_grad(fn, wrt=wrt, jit=jit, skip=("accumulate",))(*args)
        assert value == want_value
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got, _fd(fn, list(args), wrt), rtol=1e-6, atol=1e-8)
        for a, b in zip(args, kept):        # the caller's arrays are unchanged
            np.testing.assert_array_equal(a, b)


def test_an_adjoint_summed_in_a_loop_is_summed_into_its_array():
    """The recurrence's weight adjoint: `W_bar += np.outer(...)` once per trip, not a new array."""
    g = grad(rnn_like, jit=False)
    g(0.3 * np.eye(4), np.ones((5, 4)), np.ones(4))
    assert "W_bar += np.outer(" in g.compiled_source
    assert "W_bar = W_bar +" not in g.compiled_source
    unmarked = grad(rnn_like, jit=False, skip=("accumulate",))
    unmarked(0.3 * np.eye(4), np.ones((5, 4)), np.ones(4))
    assert "W_bar += " not in unmarked.compiled_source and "W_bar = W_bar + np.outer(" in unmarked.compiled_source


@pytest.mark.parametrize("fn, types, name", [
    (alias_read_after, {"x": array_of(1), "n": ir.INT}, "s"),          # u shares s's array, read after
    (parameter_summed, {"x": array_of(1), "n": ir.INT}, "x"),                       # the caller's array
    (grows_by_broadcast, {"v": array_of(2), "A": array_of(2), "n": ir.INT}, "s"),   # the sum has A's shape
    (view_of_itself, {"x": array_of(1), "n": ir.INT}, "s"),                         # s[::-1] is s's memory
    (int_counts, {"x": array_of(1), "k": array_of(1, "int64"), "n": ir.INT}, "c"),  # an int array
], ids=["alias", "parameter", "broadcast", "view", "int"])
def test_an_accumulation_nothing_proves_legal_is_not_marked(fn, types, name):
    """Each legality condition, on a program that needs it: the summation into `name` stays a new array.
    For the memory conditions (alias, parameter, view) the summation is typed and shaped as one the pass
    takes: only the memory condition refuses it."""
    from autodiff_compiler.ir import dataflow, shapes
    from autodiff_compiler.optimise.accumulate import _accumulated
    if name in ("s", "x") and fn is not grows_by_broadcast:
        plain = derive(source_of_function(fn), types, [next(iter(types))], skip=("accumulate",)).adjoint
        facts, classes = dataflow.of(plain), shapes.of(plain)
        found = [c[2] for stmt in ir.walk(plain.body) if (c := _accumulated(plain, facts, classes, stmt)) is not None]
        assert name in found, found
    marked, state = _marked(fn, types, [next(iter(types))])
    assert not [s for s in marked if s.target == name], [str(s) for s in marked]
    sums = [s for s in ir.walk(state.adjoint.body) if isinstance(s, ir.Assign) and s.prim == "add"
            and ir.Var(name) in s.args]
    assert sums, "the program has the summation the test is about"


def sum_no_axes_accumulated(x, n):
    y = np.sum(x, axis=())          # NumPy: a new array of x's numbers
    for i in range(n):
        y = y + np.sin(x)
    return np.sum(y * y)


def store_into_sum_no_axes(x):
    y = np.sum(x, axis=())
    y[0] = 5.0                      # into y's own array, not the caller's
    return np.sum(y * x)


NO_AXES = [(sum_no_axes_accumulated, lambda r: (r.standard_normal(5), 2), 0),
           (store_into_sum_no_axes, lambda r: (r.standard_normal(4),), 0)]


@pytest.mark.parametrize("fn, make, wrt", NO_AXES, ids=[c[0].__name__ for c in NO_AXES])
@JIT
def test_a_sum_over_no_axes_is_a_new_array(fn, make, wrt, jit):
    """The review found `np.sum(x, axis=())` printed as `x` itself while the dataflow layer took it for a
    new array: `y += ...` wrote into the caller's x (wrong value and gradient).  It prints as a copy now."""
    test_the_numbers_of_the_program_without_the_pass(fn, make, wrt, jit)


def test_a_statement_printed_as_its_operand_shares_its_memory(monkeypatch):
    """Whatever the primitive, a statement the printer spells as its operand itself (the rule table's
    spelling is `{0}`) makes an alias in the dataflow layer (`dataflow.prints_operand`): with the old
    spelling of a sum over no axes, the accumulation into it is refused and the caller's array kept."""
    import dataclasses
    from autodiff_compiler import rules
    spelled = rules.PRIMITIVES["sum_axes"].array
    monkeypatch.setitem(rules.PRIMITIVES, "sum_axes", dataclasses.replace(
        rules.PRIMITIVES["sum_axes"], array=lambda p, count: "{0}" if not p["axes"] else spelled(p, count)))
    marked, state = _marked(sum_no_axes_accumulated, {"x": array_of(1), "n": ir.INT}, ["x"])
    assert not [s for s in marked if s.target == "y"], [str(s) for s in marked]
    x = np.linspace(0.1, 0.6, 6)
    kept = x.copy()
    got = grad(sum_no_axes_accumulated, jit=False, skip=("symbolic",))(x, 2)
    np.testing.assert_array_equal(x, kept)
    np.testing.assert_allclose(got, _fd(sum_no_axes_accumulated, [kept.copy(), 2], 0), rtol=1e-6)


def test_the_ir_dump_shows_an_accumulation():
    """`--dump accumulate` (the IR after the pass) shows a marked sum as the module prints it."""
    marked, state = _marked(alias_read_after, {"x": array_of(1), "n": ir.INT}, ["x"])
    assert "s_bar" in [s.target for s in marked]
    text = "\n".join(ir.format_block(state.adjoint.body, 0))
    assert "s_bar += " in text and "s_bar = add(s_bar" not in text


# ------------------------------------------------ sharers nothing reads any more

def _softmax_args(r):
    return r.standard_normal((6, 4)), np.eye(4)[r.integers(0, 4, 6)]


@JIT
def test_a_copy_of_a_dead_temporary_is_summed_into(jit):
    """The adjoint starts `Z_bar = copy(t)`: `Z_bar` shares `t`'s array, which nothing reads after the
    later `Z_bar = Z_bar + ...` (nor does any temporary the printer folds there): the sum goes into
    `Z_bar`'s array, with the numbers of the program without the pass and of finite differences.  (The
    array code, as `fuse_rows` does not leave it: its loop over the rows writes each sum once.)"""
    softmax_rows = S.bcast_softmax_rows        # the row-wise softmax cross-entropy of the soundness corpus
    test_the_numbers_of_the_program_without_the_pass(softmax_rows, _softmax_args, 0, jit)
    g = grad(softmax_rows, jit=jit, skip=("fuse_rows",))
    g(*_softmax_args(np.random.default_rng(0)))
    assert "Z_bar = Z_bar +" not in g.compiled_source and g.compiled_source.count("Z_bar += ") == 2
    assert "m_bar -= " in g.compiled_source


def _program(body: list, returns: tuple) -> ir.Function:
    """A float64-vector program of `x` (the memory conditions' test bench: each statement as written)."""
    vector = array_of(1)
    names = {s.target for s in body} | {"x"}
    return ir.Function("bench", ["x"], {name: vector for name in names}, body, None, returns=returns)


def _run(function: ir.Function, x):
    from autodiff_compiler.backend.printer import print_module
    namespace: dict = {}
    exec(compile(print_module(function, "bench"), "<bench>", "exec"), namespace)
    return namespace["bench"](x.copy())


def _sharer_programs():
    A, V = ir.Assign, ir.Var
    # y shares a's array; a is read by a temporary folded into a statement after the sum into y
    folded_after = ([A("a", "mul", (V("x"), ir.Const(1.0))), A("y", "copy", (V("a"),)),
                     A("t1", "mul", (V("a"), ir.Const(2.0))), A("y", "add", (V("y"), ir.Const(1.0))),
                     A("r", "add", (V("y"), V("t1")))], (V("r"),))
    # y shares a's array; a is read itself after the sum
    read_after = ([A("a", "mul", (V("x"), ir.Const(1.0))), A("y", "copy", (V("a"),)),
                   A("y", "add", (V("y"), ir.Const(1.0))), A("r", "mul", (V("y"), V("a")))], (V("r"),))
    # y shares a's array, which nothing reads after the sum: marked
    dead = ([A("a", "mul", (V("x"), ir.Const(1.0))), A("y", "copy", (V("a"),)),
             A("t1", "mul", (V("a"), ir.Const(2.0))), A("r", "add", (V("y"), V("t1"))),
             A("y", "add", (V("y"), ir.Const(1.0))), A("s", "mul", (V("y"), V("r")))], (V("s"),))
    return {"folded_after": folded_after, "read_after": read_after, "dead": dead}


@pytest.mark.parametrize("name", ["folded_after", "read_after", "dead"])
def test_a_sharer_read_at_or_after_the_sum_refuses_it(name):
    """`y = copy(a)` shares `a`'s array.  The sum into `y` is refused while `a` is read after it, itself
    or through a temporary the printer folds into a later statement (`r = y + a * 2.0`, which would
    read the sum's result); it is marked once nothing reads `a`.  Each program gives the numbers of the
    program as written, with the pass or without it."""
    from autodiff_compiler.optimise.accumulate import accumulate
    body, returns = _sharer_programs()[name]
    x = np.array([0.5, -1.25, 2.0])
    want = _run(_program([dataclasses_copy(s) for s in body], returns), x)
    function = _program([dataclasses_copy(s) for s in body], returns)
    accumulate(function)
    marked = [s.target for s in ir.walk(function.body) if isinstance(s, ir.Assign) and s.accumulate]
    assert marked == (["y"] if name == "dead" else []), marked
    np.testing.assert_array_equal(_run(function, x), want)


def dataclasses_copy(stmt):
    import dataclasses
    return dataclasses.replace(stmt)
