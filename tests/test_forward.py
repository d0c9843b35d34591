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


# np.where (and min) compute the side they do not take; where it is undefined (sqrt, log, arcsin of a
# negative or too large number, a division by zero), so is its tangent, and the mask's zero times it was
# NaN.  (function, its derivative by hand, points with entries on both sides)
UNTAKEN = [
    (F.where_sqrt, lambda x: np.where(x > 0, 1.5 * np.sqrt(np.abs(x)), 2 * x),
     [np.array([0.5, -0.3, 1.2]), np.array([-2.0, 3.0]), np.array([-0.7])]),
    (F.where_log, lambda x: np.where(x > 0, 2 * x * np.log(np.abs(x)) + x, 1.5 * x * x),
     [np.array([0.7, -0.4, 2.0]), np.array([-1.5, 0.1])]),
    (F.where_division, lambda x: np.where(x < 1.0, 2 * x, -1 / (x - 0.5) ** 2),
     [np.array([0.2, 0.5, 3.0]), np.array([0.5, 1.5])]),
    (F.where_arcsin, lambda x: np.where(np.abs(x) < 1.0, np.arcsin(np.clip(x, -1, 1)) + x / np.sqrt(np.abs(1 - x * x)),
                                        3 * x * x), [np.array([0.3, 1.5, -2.0]), np.array([-0.6, 1.1])]),
    (F.where_number, lambda x: 1.5 * math.sqrt(x) if x > 0 else 2 * x, [-0.3, -2.0, 0.7]),
    (F.clamped_sqrt, lambda x: 2 * x if x > 1 else -x / math.sqrt(1 - x * x) + 2 * x, [2.0, 1.5, 0.5]),
]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("fn, slope, points", UNTAKEN, ids=[c[0].__name__ for c in UNTAKEN])
def test_untaken_side_of_where_leaves_no_nan_in_the_tangent(fn, slope, points, jit):
    """The careful rerun (`failures.careful_derivative`) drops the untaken side's tangent, as reverse mode's
    drops its adjoint: the tangent by hand and by finite differences, where it was NaN (jit) or a false
    "undefined at these arguments" (jit=False)."""
    j = jvp(fn, jit=jit)
    for x in points:
        t = M(*np.shape(x)) if isinstance(x, np.ndarray) else 0.7
        value, tangent = j(copy_args([x])[0], tangents=(t,))
        with np.errstate(all="ignore"):
            by_hand = float(np.sum(slope(x) * t))
            assert value == pytest.approx(fn(x), rel=1e-12)
            (differences,) = directional(fn, [x], [0], [t])
        assert tangent == pytest.approx(by_hand, rel=1e-10, abs=1e-12), f"{fn.__name__} at {x}"
        assert tangent == pytest.approx(float(differences), rel=1e-6, abs=1e-6), f"{fn.__name__} at {x}"


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_untaken_side_of_where_at_its_boundary_stays_undefined(jit):
    """At `x == 0` the mask of `np.where(x > 0, np.sqrt(x), 0.0)` compares equal numbers: no neighbourhood
    keeps the choice, the derivative from the right is infinite, and the rerun must not make the zero
    tangent of the side taken the answer (its forward-mode comparisons are guarded too: `Tie`)."""
    j = jvp(F.where_at_boundary, jit=jit)
    try:
        value, tangent = j(np.array([0.0, 1.0]), tangents=(np.ones(2),))
    except AutodiffError as exc:
        assert "undefined" in str(exc) or "division by zero" in str(exc)
    else:
        assert not np.isfinite(tangent)
    value, tangent = j(np.array([-1.0, 1.0]), tangents=(np.ones(2),))      # off the boundary: right
    assert tangent == pytest.approx(0.5, rel=1e-12)
