"""optimise/rank_one.py: `x += np.outer(u, v)` as a loop over x's entries, in the module Numba compiles.

Every gradient is compared bitwise with the same gradient derived without the pass (`skip=
("rank_one",)`: each entry is the same product and the same sum), with the interpreted module, and
with central finite differences along a random direction, at several seeds, simplify on and off.
The pass must fire where it is legal (the compiled module holds no `np.outer`, the module users read
keeps it) and must not fire where a legality condition fails: an outer product broadcast into the
matrix, an operand that is a view of the matrix, shapes nothing proved.
"""
import re

import numpy as np
import pytest

from autodiff_compiler import grad, ir
from autodiff_compiler.ir import array_of
from autodiff_compiler.optimise.rank_one import rank_one_loops


def rnn(Wh, Wx, b, xs, h0):
    # the reverse loop's `Wh_bar += np.outer(d, h)` and `Wx_bar += np.outer(d, xs[t])`
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(Wh @ h + Wx @ xs[t] + b)
    return 0.5 * np.sum(h * h)


def residual(W, xs, h):
    # the product of a temporary, `W_bar += np.outer(-r_bar, h)`
    s = 0.0
    for t in range(xs.shape[0]):
        r = xs[t] - W @ h
        s = s + np.sum(r * r)
    return s


def rows_then_recurrence(Z, V):
    # a row softmax (a loop over the rows in the module Numba compiles, writing matrices it made of Z's
    # lengths: `Shapes._created` gives them Z's classes) read by a recurrence
    E = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    P = E / np.sum(E, axis=1, keepdims=True)
    h = P[0] * 0.5
    for i in range(Z.shape[0]):
        h = np.tanh(V @ h + P[i])
    return np.sum(h)


def deflated(M, u, v, n):
    # the forward sweep's `A = A - np.outer(...)`: the reverse sweep reads each trip's A (a tape), so
    # nothing is summed into A's array, and the product stays NumPy's
    A = M * 1.0
    for k in range(n):
        A = A - np.outer(u, v * (k + 1.0))
    return np.sum(A * A * M)


def row_broadcast(M, u, v, n):
    # the product is one row, added to every row of A: a broadcast the loop would not make
    A = M * 1.0
    for k in range(n):
        A = A + np.outer(u[0:1], v)
    return np.sum(A * A)


def own_row(M, v, n):
    # an operand is a view of the matrix the sum is written into
    A = M * 1.0
    for k in range(n):
        A = A + np.outer(A[0], v)
    return np.sum(A * M)


def _rnn_args(r):
    return (0.3 * r.standard_normal((5, 5)), 0.3 * r.standard_normal((5, 3)), 0.1 * r.standard_normal(5),
            r.standard_normal((4, 3)), 0.1 * r.standard_normal(5))


CASES = [
    (rnn, _rnn_args, (0, 1, 2), True),
    (rnn, _rnn_args, (4,), False),          # no outer product in h0's adjoint
    (residual, lambda r: (r.standard_normal((3, 4)), r.standard_normal((5, 3)), r.standard_normal(4)), (0, 2), True),
    (rows_then_recurrence, lambda r: (r.standard_normal((5, 3)), 0.5 * r.standard_normal((3, 3))), (0, 1), True),
    (deflated, lambda r: (r.standard_normal((3, 4)), r.standard_normal(3), r.standard_normal(4), 3), (0, 1, 2),
     False),
    (row_broadcast, lambda r: (r.standard_normal((3, 4)), r.standard_normal(2), r.standard_normal(4), 2), (0, 1, 2),
     False),
    (own_row, lambda r: (0.5 * r.standard_normal((3, 3)), 0.5 * r.standard_normal(3), 2), (0, 1), False),
]


def _directional(fn, args, wrt, seed, h=1e-6):
    directions = [np.random.default_rng(seed + k).standard_normal(np.shape(args[w])) for k, w in enumerate(wrt)]
    plus, minus = list(args), list(args)
    for w, d in zip(wrt, directions):
        plus[w] = args[w] + h * d
        minus[w] = args[w] - h * d
    return (fn(*plus) - fn(*minus)) / (2 * h), directions


@pytest.mark.parametrize("simplify", [True], ids=["simplify"])    # simplify=False switches the pass off
@pytest.mark.parametrize("fn,make,wrt,fires", CASES, ids=[f"{c[0].__name__}-{'-'.join(map(str, c[2]))}" for c in CASES])
def test_rank_one_loops_give_the_numbers_of_np_outer(fn, make, wrt, fires, simplify):
    looped = grad(fn, wrt=wrt, simplify=simplify)
    plain = grad(fn, wrt=wrt, simplify=simplify, skip=("rank_one",))
    python = grad(fn, wrt=wrt, simplify=simplify, jit=False)
    for seed in (1, 2, 3):
        args = make(np.random.default_rng(seed))
        got, want = looped(*args), plain(*args)
        got, want = (got if len(wrt) > 1 else (got,)), (want if len(wrt) > 1 else (want,))
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(python(*args) if len(wrt) > 1 else (python(*args),), want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        fd, directions = _directional(fn, args, wrt, seed)
        assert sum(np.sum(g * d) for g, d in zip(got, directions)) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    if simplify:
        # the module users read keeps np.outer where its adjoint or forward sweep has one
        assert ("np.outer" in looped.source) == ("np.outer" in plain.compiled_source)
        if fires:
            assert "np.outer" in plain.compiled_source and "np.outer" not in looped.compiled_source
            assert re.search(r"\[np\.uint64\(i\d+\), np\.uint64\(j\d+\)\] \+= term\d+\n", looped.compiled_source)
        else:
            assert looped.compiled_source == plain.compiled_source


def test_shapes_nothing_proved_keep_np_outer():
    """Without the shape classes (`skip=("shapes",)`), nothing proves the matrix as long as the
    product: the update stays `np.outer`'s, with the same numbers."""
    args = _rnn_args(np.random.default_rng(4))
    unproved = grad(rnn, wrt=(0, 1), skip=("shapes",))
    got, want = unproved(*args), grad(rnn, wrt=(0, 1))(*args)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert "np.outer" in unproved.compiled_source


def _bench(rows: str, start: str) -> ir.Function:
    """`s = start; A = s * 1.0; t = outer(w, v); A += t; return A` of u, v (vectors) and M (a matrix),
    w being u, u[0:1] or A's first row (then v is u), as `accumulate` leaves it: the programs above
    never broadcast a product into a sum, nor sum one of a view into its own matrix."""
    A, V, C = ir.Assign, ir.Var, ir.Const
    matrix, vector = array_of(2), array_of(1)
    second = V("u") if rows == "own" else V("v")
    made = {"all": A("w", "copy", (V("u"),)), "first": A("w", "subscript", (V("u"), ir.Slice(C(0), C(1)))),
            "own": A("w", "subscript", (V("A"), C(0)))}
    body = [A("s", "outer", (V("u"), second)) if start == "outer" else A("s", "mul", (V("M"), C(1.0))),
            A("A", "mul", (V("s"), C(1.0))), made[rows], A("t", "outer", (V("w"), second)),
            A("A", "add", (V("A"), V("t")), inplace="A", accumulate=True)]
    types = {"M": matrix, "u": vector, "v": vector, "s": matrix, "A": matrix, "w": vector, "t": matrix}
    return ir.Function("bench", ["M", "u", "v"], types, body, None, returns=(V("A"),))


@pytest.mark.parametrize("rows,start,fires", [("all", "outer", True), ("first", "outer", False), ("all", "M", False),
                                              ("own", "outer", False)],
                         ids=["same-shape", "one-row-broadcast", "shape-not-proved", "a-view-of-the-matrix"])
def test_only_a_product_of_the_matrixs_shape_and_not_of_its_memory_is_a_loop(rows, start, fires):
    """The loop walks the matrix's entries and reads u[i] and v[j] as it writes: a product of one row
    (u[0:1]), which NumPy broadcasts into every row, would read past u's first entry; a matrix whose
    shape nothing relates to u's and v's may be either; and a product of the matrix's own first row
    would read entries the loop has already changed, where np.outer read them all first."""
    from autodiff_compiler.backend.printer import print_module
    function = _bench(rows, start)
    assert rank_one_loops(function) == fires
    assert ("outer(w, " not in str(function)) == fires
    namespace: dict = {}
    exec(compile(print_module(function, "bench"), "<bench>", "exec"), namespace)
    rng = np.random.default_rng(5)
    u, v = rng.standard_normal(3), rng.standard_normal(4)
    second = u if rows == "own" else v
    M = rng.standard_normal((3, 4))
    s = np.outer(u, second) if start == "outer" else M * 1.0
    w = {"all": u, "first": u[0:1], "own": s[0]}[rows]
    np.testing.assert_array_equal(namespace["bench"](M, u, v), s + np.outer(w, second))
