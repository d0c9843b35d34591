"""Forward mode (`jvp`): against central finite differences at several points and against SymPy
(`verify=True`), over scalars, branches, loops, while, break, helper calls, arrays, stores and
tuple results, with jit on and off and the simplifier on and off; the contract's structure and
errors; forward mode over a gradient program (tapes) is tested in test_hessian.py."""
import math
import pickle

import numpy as np
import pytest

import corpus_forward as F
from _derivative_reference import assert_close, copy_args, directional

from autodiff_compiler import AutodiffError, ArgumentError, jvp

RNG = np.random.default_rng(7)
M = lambda *shape: RNG.normal(size=shape)

# (function, wrt, points): every point is one call
CASES = [
    (F.poly, 0, [(0.5,), (-2.0,), (3.0,)]),
    (F.trig_mix, (0, 1), [(0.3, 1.2), (-1.0, 0.5), (2.0, -0.7)]),
    (F.branchy, (0, 1), [(2.0, 1.0), (0.5, 1.5), (-1.0, 0.3)]),
    (F.looped, 0, [(0.5, 3), (0.9, 5), (0.2, 0)]),
    (F.halving, 0, [(3.0,), (0.05,), (1.7,)]),
    (F.early_exit, 0, [(0.5, 10), (3.0, 4), (0.1, 0)]),
    (F.calls_helper, (0, 1), [(0.3, 0.8), (-1.2, 2.0)]),
    (F.clamps, 0, [(0.3,), (1.5,), (2.5,), (-1.0,)]),
    (F.vec_sum, 0, [(M(3),), (M(1),), (M(5),)]),
    (F.quad_form, (0, 1), [(M(3), M(3, 3)), (M(2), M(2, 2))]),
    (F.rosenbrock, 0, [(M(4),), (M(2),)]),
    (F.rosenbrock_loop, 0, [(M(4),), (M(3),)]),
    (F.softmax_ce, 0, [(M(4), 1), (M(3), 0)]),
    (F.matrix_loss, 0, [(M(3), M(5, 3), M(5))]),
    (F.stores, 0, [(M(2),)]),
    (F.rows_loop, (0, 1), [(M(3, 2), 0.7), (M(1, 4), -1.3)]),
    (F.reductions, 0, [(M(3, 2),), (M(2, 4),)]),
    (F.vec_out, 0, [(M(3),), (M(1),)]),
    (F.matvec, (0, 1), [(M(3), M(2, 3))]),
    (F.pair, (0, 1), [(0.3, 1.2), (-2.0, 0.5)]),
    (F.broadcast_length_one, 0, [(M(1), M(6)), (M(1), M(1)), (M(1), M(3))]),
    (F.broadcast_row_column, (0, 2), [(M(1, 3), M(4, 3), M(4, 1)), (M(1, 2), M(1, 2), M(1, 1))]),
    (F.vec_and_scalar, (0, 1), [(M(3), 0.5)]),
    (F.to_matrix, 0, [(M(3),)]),
    (F.branchy_vec, 0, [(M(3), 1.5), (M(3), -1.0)]),
    (F.loop_vec, 0, [(M(3), 4), (M(2), 0)]),
    (F.exp_model, 0, [(np.array([2.0, 0.5, 0.1]), np.linspace(0, 2, 5), M(5))]),
]
IDS = [f"{c[0].__name__}" for c in CASES]


def _indices(fn, wrt):
    import inspect
    params = list(inspect.signature(fn).parameters)
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    return [params.index(w) if isinstance(w, str) else w for w in items]


def _tangents(args, indices):
    return [M(*np.shape(args[i])) if isinstance(args[i], np.ndarray) else float(RNG.normal()) for i in indices]


def _leaves(value):
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("fn, wrt, points", CASES, ids=IDS)
def test_jvp_matches_finite_differences(fn, wrt, points, jit, simplify):
    indices = _indices(fn, wrt)
    j = jvp(fn, wrt=wrt, jit=jit, simplify=simplify)
    for args in points:
        tangents = _tangents(args, indices)
        value, tangent = j(*copy_args(args), tangents=tuple(tangents) if isinstance(wrt, tuple) else tangents)
        expected_value = fn(*copy_args(args))
        for got, want in zip(_leaves(value), _leaves(expected_value)):
            assert_close(got, want, 1e-12, 1e-12, f"{fn.__name__} value at {args}")
        for got, want in zip(_leaves(tangent), directional(fn, args, indices, tangents)):
            assert_close(got, want, 1e-6, 1e-6, f"{fn.__name__} tangent at {args}")
        # the structure of the result: that of the function's own result
        assert type(tangent) is type(expected_value) or np.ndim(expected_value) == np.ndim(tangent)


@pytest.mark.parametrize("fn, wrt, points", CASES, ids=IDS)
def test_jvp_proved_against_sympy(fn, wrt, points):
    indices = _indices(fn, wrt)
    args = points[0]
    tangents = _tangents(args, indices)
    j = jvp(fn, wrt=wrt, jit=False, verify=True)
    j(*copy_args(args), tangents=tuple(tangents))        # raises VerificationError on a mismatch


def test_scalar_wrt_takes_a_bare_tangent_or_a_tuple():
    j = jvp(F.poly)
    assert j(2.0, tangents=1.0) == j(2.0, tangents=(1.0,)) == (F.poly(2.0), 9.0 * 4.0 - 2.0)


def test_tangent_shape_and_count_are_checked():
    j = jvp(F.vec_sum)
    with pytest.raises(ArgumentError, match="shape"):
        j(np.ones(3), tangents=(np.ones(2),))
    with pytest.raises(ArgumentError, match="tangents"):
        j(np.ones(3))
    with pytest.raises(ArgumentError, match="1 wrt"):
        j(np.ones(3), tangents=(np.ones(3), np.ones(3)))


def test_tangent_is_zero_for_an_output_independent_of_wrt():
    value, tangent = jvp(F.pair, wrt=1)(0.3, 1.2, tangents=(1.0,))
    assert tangent == (0.3, 1.0)


def test_jvp_pickles_and_has_source():
    j = jvp(F.trig_mix, wrt=(0, 1))
    args = (0.3, 1.2)
    expected = j(*args, tangents=(1.0, -1.0))
    again = pickle.loads(pickle.dumps(j))
    assert again(*args, tangents=(1.0, -1.0)) == expected
    assert "def trig_mix_jvp(x, y, x_dot, y_dot):" in j.source


def test_prod_second_derivative_is_refused_with_its_line():
    from autodiff_compiler import hessian
    with pytest.raises(AutodiffError, match="np.prod") as info:
        hessian(F.prod_loss)(np.array([1.0, 2.0, 3.0]))
    assert "corpus_forward.py" in str(info.value)
    # the first derivative by forward mode is fine
    value, tangent = jvp(F.prod_loss)(np.array([1.0, 2.0, 3.0]), tangents=(np.array([1.0, 0.0, 0.0]),))
    assert tangent == 6.0


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
def test_results_returned_from_inside_loops(jit, simplify):
    """`while c: return a` then `return b`: the result is assigned on every path, which Numba's
    path-blind typing cannot see; the tangent program starts it (and its tangent) as a zero, as the
    reverse program does.  jvp and hvp against finite differences, where the loop returns and where
    it does not run."""
    from autodiff_compiler import hvp, jvp
    for fn, points in ((F.while_return, [(1.0,), (-1.0,)]), (F.for_return, [(0.7, 3), (-2.0, 3), (0.7, 0)])):
        for args in points:
            x, rest = args[0], args[1:]
            h = 1e-6
            slope = (fn(x + h, *rest) - fn(x - h, *rest)) / (2 * h)
            curvature = (fn(x + h, *rest) - 2 * fn(x, *rest) + fn(x - h, *rest)) / h ** 2
            value, tangent = jvp(fn, jit=jit, simplify=simplify)(*args, tangents=(1.0,))
            assert value == pytest.approx(fn(*args), rel=1e-12) and tangent == pytest.approx(slope, rel=1e-6)
            assert hvp(fn, jit=jit, simplify=simplify)(x, 1.0, *rest) == pytest.approx(curvature, rel=1e-3, abs=1e-4)
