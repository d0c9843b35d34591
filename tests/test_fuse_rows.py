"""optimise/fuse_rows.py: row-wise matrix statements as one loop over the rows, in the module Numba compiles.

Every gradient is compared with the same gradient derived without the pass
(`skip=("fuse_rows",)`: NumPy's array code, the reference the pass must
reproduce; libmvec against the scalar C library in the vector functions,
hence 1e-13 relative rather than bits) and with central finite differences,
at several seeds.  The pass must fire where it should (the compiled module
holds its row loop, the module users read does not) and must not fire where
a statement is not row-wise.  Edge cases -- ties and NaN in a row's maximum,
rows of length 0, no rows, a zero divisor -- must end as the array code ends:
the same numbers (NaN where it has NaN) or the same error.
"""
import re

import numpy as np
import pytest

from autodiff_compiler import grad, stop_gradient, value_and_grad
from autodiff_compiler.errors import AutodiffError

MARK = "one loop over the rows"


def softmax_ce(Z, Y):
    m = np.max(Z, axis=1, keepdims=True)
    E = np.exp(Z - m)
    lse = np.log(np.sum(E, axis=1, keepdims=True)) + m
    return -np.sum(Y * (Z - lse)) / Z.shape[0]


def shifted_lse(Z, b, w):
    # b (k,) is read whole by every row, w (n, 1) one number per row; the minimum's spread too
    low = np.min(Z, axis=1, keepdims=True)
    return np.sum(w * np.log(np.sum(np.exp(Z - low + b), axis=1, keepdims=True)))


def probabilities_read_after(Z):
    # P is read after the rows are done: it is written whole, the temporaries are not
    e = np.exp(Z)
    P = e / np.sum(e, axis=1, keepdims=True)
    return np.sum(P * P) + np.sum(P[0] * np.arange(P.shape[1]))


def row_ratio(Z):
    # a row summing to zero: inf and nan, as NumPy divides arrays, never an exception
    s = np.sum(Z, axis=1, keepdims=True)
    return np.sum(np.tanh(Z / s) * Z)


def _exp_sum(a, b):
    return np.sum(np.exp(a) * b - 1.0)


def inlined_copy(B, x):
    # the helper's parameter is a copy of B.T that nothing reads after the rows: a row's exp reads the
    # row of B.T the copy stands for (fuzz: arrays-4000-432, whose gradient read all of B.T there)
    return _exp_sum(B.T, x) ** 2 + np.sum(B * B)


def stopped_exp(Z):
    # exp of a matrix from before the rows, through stop_gradient (review: a TypingError as above)
    C = stop_gradient(Z)
    s = np.sum(np.exp(C), axis=1, keepdims=True)
    return np.sum(np.log(s) * Z)


def exp_of_output(Z):
    # S is read after the rows are done (S[0]): its row is in its matrix when exp reads it
    S = Z * 2.0 - np.min(Z, axis=1, keepdims=True)
    return np.sum(np.exp(S) * Z) + np.sum(S[0])


def column_centered(Z):
    # a maximum along axis 0 is not a row's: nothing fuses across it
    return np.sum(np.exp(Z - np.max(Z, axis=0, keepdims=True)) * Z)


def dense_layer(A, b):
    # a row added to every row and tanh of that: two statements, one loop and no temporary; the square
    # (NumPy's x * x) joins a loop, the cube does not; b's adjoint, the column sums of the rows', is
    # added up in the loop making them
    H = np.tanh(A + b)
    return np.sum(H ** 2 * A) + np.sum(H ** 3)


def tanh_layer(X, W, b, V):
    # the MLP's layer: the forward loop is two statements (X @ W + b, its tanh: no full-size temporary);
    # the backward one squares H, and sums the columns of its result into b's adjoint
    H = np.tanh(X @ W + b)
    return np.sum((H @ V) ** 2)


def centred_columns(Z):
    # the mean along axis 0, kept: its adjoint sums the columns of a matrix the loop makes, into a row
    C = Z - np.mean(Z, axis=0, keepdims=True)
    return np.sum(np.exp(C) * C)


def reassigned_sum(Z, s):
    # the rows read s as it was before them; the column sum is s's next value: an array of its own
    E = np.exp(Z + s)
    s = np.sum(E * Z, axis=0)
    return np.sum(s * s)


def _matrix(n, k, seed):
    return np.random.default_rng(seed).standard_normal((n, k))


def _onehot(n, k, seed):
    return np.eye(k)[np.random.default_rng(seed).integers(0, k, n)]


def _fd(fn, args, wrt, h=1e-6, seed=0):
    """Directional central difference of fn along a random direction in argument `wrt`."""
    direction = np.random.default_rng(seed).standard_normal(np.shape(args[wrt]))
    plus, minus = list(args), list(args)
    plus[wrt] = args[wrt] + h * direction
    minus[wrt] = args[wrt] - h * direction
    return (fn(*plus) - fn(*minus)) / (2 * h), direction


CASES = [
    (softmax_ce, lambda s: (_matrix(7, 5, s), _onehot(7, 5, s + 1)), 0),
    (shifted_lse, lambda s: (_matrix(6, 4, s), _matrix(1, 4, s + 1)[0], _matrix(6, 1, s + 2)), 0),
    (shifted_lse, lambda s: (_matrix(6, 4, s), _matrix(1, 4, s + 1)[0], _matrix(6, 1, s + 2)), 1),
    (probabilities_read_after, lambda s: (_matrix(5, 3, s),), 0),
    (row_ratio, lambda s: (_matrix(4, 6, s) + 3.0,), 0),
    (inlined_copy, lambda s: (_matrix(3, 5, s), 0.7 + s), 0),
    (exp_of_output, lambda s: (_matrix(4, 3, s) * 0.5,), 0),
    (dense_layer, lambda s: (_matrix(6, 5, s), _matrix(1, 5, s + 1)[0]), 0),
    (dense_layer, lambda s: (_matrix(6, 5, s), _matrix(1, 5, s + 1)[0]), 1),
    (tanh_layer, lambda s: (_matrix(6, 4, s), _matrix(4, 5, s + 1), _matrix(1, 5, s + 2)[0], _matrix(5, 3, s)), 2),
    (centred_columns, lambda s: (_matrix(5, 4, s) * 0.5,), 0),
    (reassigned_sum, lambda s: (_matrix(4, 3, s) * 0.5, _matrix(1, 3, s + 1)[0]), 0),
    (reassigned_sum, lambda s: (_matrix(4, 3, s) * 0.5, _matrix(1, 3, s + 1)[0]), 1),
]


_VARIANTS = [(True, ()), (True, ("vectorise",))]
# the cases after the first eight run with vector math only, but the first of them (a dense layer's tanh)
_RUNS = [(case, variant) for k, case in enumerate(CASES) for variant in (_VARIANTS if k < 8 else _VARIANTS[:1])] + \
    [(case, (False, ())) for case in CASES[:2]]          # simplify=False: the unsimplified adjoint's runs


@pytest.mark.parametrize("fn,make,wrt,simplify,skip", [c + v for c, v in _RUNS],
                         ids=[f"{c[0].__name__}-{c[2]}-{'plain' if not v[0] else 'scalar-math' if v[1] else 'simplify'}"
                              for c, v in _RUNS])
def test_row_loops_give_the_array_code_numbers(fn, make, wrt, simplify, skip):
    """With vector math (where this machine has libmvec), a row's exp or log is one vector call between
    the loops over its entries; without it (`skip=("vectorise",)`), each entry's, in the loop."""
    fused = grad(fn, wrt=wrt, simplify=simplify, skip=skip)
    plain = grad(fn, wrt=wrt, simplify=simplify, skip=skip + ("fuse_rows",))
    python = grad(fn, wrt=wrt, simplify=simplify, jit=False)
    for seed in (1, 2, 3):
        args = make(seed)
        got, want = fused(*args), plain(*args)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(python(*args), want, rtol=1e-12, atol=1e-14)
        fd, direction = _fd(fn, args, wrt, seed=seed)
        assert np.sum(got * direction) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    if simplify:
        assert MARK in fused.compiled_source and MARK not in fused.source
        assert MARK not in plain.compiled_source
        if skip:
            assert "vector_" not in fused.compiled_source


def test_the_softmax_allocates_only_its_gradient():
    g = grad(softmax_ce)
    args = (_matrix(9, 6, 4), _onehot(9, 6, 5))
    g(*args)
    body = g.compiled_source[g.compiled_source.index("def softmax_ce_grad"):]
    # one matrix (the gradient); the rest are rows of one buffer each, allocated before the row loop
    assert body.count("np.empty((") == 1, body
    assert "spread_axis1(" not in body and "sum_axis1(" not in body.split("for row")[1]


def test_value_and_grad_through_the_rows():
    vg = value_and_grad(softmax_ce)
    reference = value_and_grad(softmax_ce, skip=("fuse_rows",))
    for seed in (1, 2):
        args = (_matrix(5, 4, seed), _onehot(5, 4, seed))
        (v, g), (w, h) = vg(*args), reference(*args)
        assert v == pytest.approx(w, rel=1e-14)
        np.testing.assert_allclose(g, h, rtol=1e-13, atol=1e-15)


def softmax_of_log(Z, Y):
    # a negative entry makes its row's log NaN: the maximum the loop folds over values it makes is NaN
    return softmax_ce(np.log(Z), Y)


def test_ties_and_nan_in_a_row():
    Z = np.array([[1.0, 3.0, 3.0, 0.5],          # two maxima: the adjoint split between them
                  [2.0, 2.0, 2.0, 2.0],          # all tied
                  [0.0, 0.0, 1.0, 1.0]])
    Y = _onehot(3, 4, 7)
    got = grad(softmax_ce)(Z, Y)
    want = grad(softmax_ce, skip=("fuse_rows",))(Z, Y)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    positive = np.array([[1.0, 3.0, 3.0, 0.5], [2.0, -1.0, 2.0, 2.0], [0.5, 0.25, 1.0, 1.0]])
    with np.errstate(all="ignore"):
        fused, plain = grad(softmax_of_log), grad(softmax_of_log, skip=("fuse_rows",))
        got = _outcome(lambda: fused(positive, Y))
        want = _outcome(lambda: plain(positive, Y))
    assert got[0] == want[0]            # NaN in the result: both explain it the same way
    assert got[1] == want[1] if got[0] != "value" else np.allclose(got[1], want[1], equal_nan=True)
    assert "one loop over the rows" in fused.compiled_source


def test_a_zero_divisor_gives_inf_and_nan_as_the_array_code():
    Z = np.array([[1.0, -1.0, 2.0], [0.5, 0.25, 0.75]])
    with np.errstate(all="ignore"):
        got = grad(row_ratio)(Z)
        want = grad(row_ratio, skip=("fuse_rows",))(Z)
    np.testing.assert_allclose(got, want, rtol=1e-13, equal_nan=True)


def _outcome(call):
    try:
        return "value", call()
    except (AutodiffError, ValueError, ZeroDivisionError) as exc:
        return type(exc).__name__, str(exc).splitlines()[0]


def shifted_by_row_maximum(Z):
    m = np.max(Z, axis=1, keepdims=True)
    return np.sum(np.exp(Z - m))


def shifted_by_row_minimum(Z):
    m = np.min(Z, axis=1, keepdims=True)
    return np.sum(np.exp(Z - m))


@pytest.mark.parametrize("shape", [(3, 0), (0, 4)], ids=["rows-of-length-0", "no-rows"])
def test_empty_rows_end_as_the_array_code(shape):
    """Rows of length 0: np.max along axis 1 raises (checked before the loop, where the array code
    raises); no rows: the gradient is empty, or the division by Z.shape[0] raises as written."""
    Z, Y = np.zeros(shape), np.zeros(shape)
    got = _outcome(lambda: grad(softmax_ce)(Z, Y))
    want = _outcome(lambda: grad(softmax_ce, skip=("fuse_rows",))(Z, Y))
    assert got[0] == want[0] and got[0] != "value"
    assert got[1] == want[1]
    got = _outcome(lambda: grad(shifted_lse)(Z, np.zeros(shape[1]), np.ones((shape[0], 1))))
    want = _outcome(lambda: grad(shifted_lse, skip=("fuse_rows",))(Z, np.zeros(shape[1]), np.ones((shape[0], 1))))
    assert got[0] == want[0]
    if got[0] == "value":
        np.testing.assert_array_equal(got[1], want[1])
        assert got[1].shape == shape
    else:
        assert got[1] == want[1]
    # rows of length 0 and a finite value (a sum of nothing): only the check before the loop raises
    for fn in (shifted_by_row_maximum, shifted_by_row_minimum):
        fused = grad(fn)
        fused(np.ones((3, 4)))
        assert MARK in fused.compiled_source and "empty_rows_check(" in fused.compiled_source
        got = _outcome(lambda: fused(Z))
        want = _outcome(lambda: grad(fn, skip=("fuse_rows",))(Z))
        assert got == want if got[0] != "value" else np.array_equal(got[1], want[1])
        assert (got[0] == "value") == (shape[0] == 0), got


def test_a_reduction_along_axis_0_stays_before_the_loop():
    """np.max along axis 0 is no row's: it is computed as written, and the loop reads it as the row
    every row shares; its adjoint's column sum is added up in the loop, row after row, into zeros made
    before it (the order `sum_axis0` adds in)."""
    g = grad(column_centered)
    Z = _matrix(5, 3, 2)
    got = g(Z)
    np.testing.assert_allclose(got, grad(column_centered, skip=("fuse_rows",))(Z), rtol=1e-13)
    fd, direction = _fd(column_centered, (Z,), 0)
    assert np.sum(got * direction) == pytest.approx(fd, rel=1e-6)
    text = g.compiled_source[g.compiled_source.index("def column_centered_grad"):]
    assert MARK in text and text.index("amax_axis0(") < text.index(MARK) < text.index("np.zeros((1, n_entries")
    assert "sum_axis0(" not in text and re.search(r"\[0, np\.uint64\(entry\d+\)\] \+= t\d+_j\d+\n", text)


def test_a_layer_leaves_no_array_expression_for_numba():
    """Numba compiles a loop in about half the time of an array expression: a run of two statements that
    saves a temporary is a loop (`X @ W + b` and its tanh), a square is `x * x` in the loop, and a sum
    along axis 0 (b's adjoint) is added up in the loop making its operand, in the order `sum_axis0`
    adds.  The numbers are test_row_loops_give_the_array_code_numbers'."""
    g = grad(tanh_layer, wrt=2)
    args = (_matrix(6, 4, 1), _matrix(4, 5, 2), _matrix(1, 5, 3)[0], _matrix(5, 3, 4))
    np.testing.assert_allclose(g(*args), grad(tanh_layer, wrt=2, skip=("fuse_rows",))(*args), rtol=1e-13)
    text = g.compiled_source[g.compiled_source.index("def tanh_layer_grad"):]
    assert text.count(MARK) == 3
    assert "**" not in text and "sum_axis0(" not in text and not re.search(r"\+ b\b", text)
    assert re.search(r"\n    t\d+ = np\.zeros\(n_entries\d+\)\n", text)
    assert re.search(r"\n            t\d+\[np\.uint64\(entry\d+\)\] \+= t\d+_j\d+\n", text)


@pytest.mark.parametrize("skip", [(), ("vectorise",)], ids=["vector-math", "scalar-math"])
def test_a_stopped_matrix_read_row_by_row(skip):
    """d/dZ of sum(log(s) * Z) with s = rowsum(exp(stop_gradient(Z))): log(s), broadcast along each row
    (the hand formula: finite differences would differentiate through s as well)."""
    g = grad(stopped_exp, skip=skip)
    plain = grad(stopped_exp, skip=skip + ("fuse_rows",))
    for shape, seed in (((4, 4), 1), ((3, 5), 2), ((5, 2), 3)):
        Z = _matrix(*shape, seed)
        want = np.broadcast_to(np.log(np.sum(np.exp(Z), axis=1, keepdims=True)), shape)
        np.testing.assert_allclose(g(Z), want, rtol=1e-13)
        np.testing.assert_allclose(plain(Z), want, rtol=1e-13)
    assert MARK in g.compiled_source
