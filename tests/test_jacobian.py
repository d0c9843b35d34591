"""Jacobians (`jacobian`, by columns in forward mode, rows in reverse mode, or whichever are fewer) and
vector-Jacobian products (`vjp`): against central finite differences at several points and against
SymPy, with control flow and arrays, jit on and off, the simplifier on and off; shapes
`output.shape + input.shape` and JAX's nesting for tuple results and tuple `wrt`; errors; pickling."""
import pickle

import zlib

import numpy as np
import pytest

import corpus_forward as F
from _derivative_reference import assert_close, copy_args, jacobian_fd, polynomial_jacobian

from autodiff_compiler import AutodiffError, ArgumentError, grad, jacobian, vjp

RNG = np.random.default_rng(11)
M = lambda *shape: RNG.normal(size=shape)

CASES = [
    (F.vec_out, 0, [(M(3),), (M(1),)]),
    (F.matvec, (0, 1), [(M(3), M(2, 3)), (M(1), M(4, 1))]),
    (F.pair, (0, 1), [(0.3, 1.2), (-2.0, 0.5)]),
    (F.vec_and_scalar, (0, 1), [(M(3), 0.5)]),
    (F.to_matrix, 0, [(M(3),), (M(2),)]),
    (F.branchy_vec, 0, [(M(3), 1.5), (M(2), -1.0)]),
    (F.loop_vec, 0, [(M(3), 4), (M(2), 0)]),
    (F.exp_model, 0, [(np.array([2.0, 0.5, 0.1]), np.linspace(0, 2, 5), M(5))]),
    (F.rosen_residuals, 0, [(np.array([-1.2, 1.0]),), (np.array([0.5, 0.3]),)]),
    (F.nonlinear_system, 0, [(np.array([1.0, -1.0]),)]),
    (F.trig_mix, (0, 1), [(0.3, 1.2)]),                    # a float result: a gradient-shaped Jacobian
    (F.rosenbrock, 0, [(M(4),)]),
    (F.reductions, 0, [(M(3, 2),)]),                       # a matrix input: (3, 2) blocks
    (F.looped, 0, [(0.5, 3)]),
]
IDS = [c[0].__name__ for c in CASES]
MODES = ["forward", "reverse", "auto"]


def _indices(fn, wrt):
    import inspect
    params = list(inspect.signature(fn).parameters)
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    return [params.index(w) if isinstance(w, str) else w for w in items]


def _blocks(J, fn, args, wrt):
    """The Jacobian's blocks, outputs outer and wrt inner, as nested lists (the expected nesting)."""
    value = fn(*copy_args(args))
    outputs = list(value) if isinstance(value, tuple) else [value]
    per_output = list(J) if isinstance(value, tuple) else [J]
    assert len(per_output) == len(outputs)
    out = []
    for row in per_output:
        out.append(list(row) if isinstance(wrt, tuple) else [row])
    return out


def _fd_params():
    """Every case in both modes interpreted, and compiled in one of them, which decided by name (compiles
    are most of this test's time; the interpreted modes run the same programs)."""
    out = []
    for (fn, wrt, points), name in zip(CASES, IDS):
        compiled_mode = MODES[zlib.crc32(name.encode()) % len(MODES)]
        for mode in MODES:
            for jit in ([True] if mode == compiled_mode else []) + [False]:
                out.append(pytest.param(fn, wrt, points, mode, jit, id=f"{name}-{mode}-{'jit' if jit else 'nojit'}"))
    return out


@pytest.mark.parametrize("fn, wrt, points, mode, jit", _fd_params())
def test_jacobian_matches_finite_differences(fn, wrt, points, mode, jit):
    indices = _indices(fn, wrt)
    J = jacobian(fn, wrt=wrt, mode=mode, jit=jit)
    for args in points:
        got = _blocks(J(*copy_args(args)), fn, args, wrt)
        references = [jacobian_fd(fn, args, i) for i in indices]     # [wrt][output]
        for k, row in enumerate(got):
            for j, block in enumerate(row):
                expected = references[j][k]
                assert np.shape(block) == expected.shape, f"{fn.__name__}: block {k},{j} shape"
                if expected.ndim == 0:
                    assert isinstance(block, float), f"{fn.__name__}: a float by a float is a float"
                assert_close(block, expected, 1e-6, 1e-6, f"{fn.__name__} [{k}][{j}] at {args} ({mode})")


@pytest.mark.parametrize("fn, wrt, points", [
    (F.times_entry, 0, [(M(3), 1), (M(4), 0)]),
    (F.scaled_matvec, (0, 1), [(M(2, 3), M(3)), (M(3, 3), M(3))]),
], ids=["times_entry", "scaled_matvec"])
def test_auto_mode_compiles_both_programs_apart(fn, wrt, points):
    """mode="auto" puts forward mode's columns and reverse mode's rows in one compiled program: where a
    temporary of one was a number and of the other an array, Numba refused the program (an InternalError).
    Compiled and interpreted, against finite differences."""
    indices = _indices(fn, wrt)
    for jit in (True, False):
        J = jacobian(fn, wrt=wrt, mode="auto", jit=jit)
        for args in points:
            got = _blocks(J(*copy_args(args)), fn, args, wrt)
            references = [jacobian_fd(fn, args, i) for i in indices]
            for k, row in enumerate(got):
                for j, block in enumerate(row):
                    assert_close(block, references[j][k], 1e-6, 1e-6, f"{fn.__name__} [{k}][{j}] at {args}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn, wrt, points", CASES[:10], ids=IDS[:10])
def test_jacobian_without_simplifier(fn, wrt, points, mode):
    args = points[0]
    simplified = jacobian(fn, wrt=wrt, mode=mode, jit=False)(*copy_args(args))
    plain = jacobian(fn, wrt=wrt, mode=mode, jit=False, simplify=False)(*copy_args(args))
    for a, b in zip(_blocks(simplified, fn, args, wrt), _blocks(plain, fn, args, wrt)):
        for x, y in zip(a, b):
            assert_close(x, y, 1e-12, 1e-12, fn.__name__)


@pytest.mark.parametrize("jit", [False, True], ids=["nojit", "jit"])
@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_an_array_added_into_in_place_through_its_second_name(mode, jit):
    """`a = np.array([...x...])` then `a[i] += ...`, `a` returned: each column (or row) runs the program's
    forward sweep again, which must make the array again rather than take it from the value section (where
    the stores through `a` had changed it: with the simplifier off an InternalError from the audit of the
    generated code).  The simplifier off and on, against the exact Jacobian (a polynomial in x) and
    central differences."""
    fn = F.rotate_updates_out
    off = jacobian(fn, mode=mode, jit=jit, simplify=False)
    on = jacobian(fn, mode=mode, jit=jit)
    for x in (np.array([0.8, 0.6]), np.array([-1.2, 0.3]), np.array([0.5, -1.4])):
        exact = polynomial_jacobian(fn, [x], 0)
        assert_close(off(x.copy()), exact, 1e-12, 1e-12, f"simplify=False at {x} ({mode})")
        assert_close(on(x.copy()), exact, 1e-12, 1e-12, f"simplify=True at {x} ({mode})")
        assert_close(off(x.copy()), jacobian_fd(fn, [x], 0)[0], 1e-6, 1e-6, f"differences at {x} ({mode})")


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("fn, wrt, points", CASES, ids=IDS)
def test_jacobian_proved_against_sympy(fn, wrt, points, mode):
    jacobian(fn, wrt=wrt, mode=mode, jit=False, verify=True)(*copy_args(points[0]))


def test_shapes_follow_output_then_input():
    x, A = M(3), M(4, 3)
    assert jacobian(F.matvec)(x, A).shape == (4, 3)
    assert jacobian(F.matvec, wrt=1)(x, A).shape == (4, 4, 3)
    assert jacobian(F.to_matrix)(x).shape == (3, 3, 3)
    assert jacobian(F.reductions)(M(3, 2)).shape == (3, 2)
    assert isinstance(jacobian(F.poly)(2.0), float)


def test_tuples_nest_as_in_jax():
    (a, b), (c, d) = jacobian(F.pair, wrt=(0, 1))(0.3, 1.2)
    assert (a, b, c, d) == (1.2, 0.3, pytest.approx(np.cos(0.3)), 1.0)
    first, second = jacobian(F.pair)(0.3, 1.2)                  # one wrt: one block per output
    assert first == 1.2 and second == pytest.approx(np.cos(0.3))
    dx, dc = jacobian(F.trig_mix, wrt=(0, 1))(0.3, 1.2)          # one output: one block per wrt
    assert isinstance(dx, float) and isinstance(dc, float)


def test_auto_picks_rows_for_few_outputs_and_columns_for_few_inputs():
    wide, tall = jacobian(F.matvec, mode="auto"), jacobian(F.matvec, mode="auto")
    x = M(6)
    assert_close(wide(x, M(2, 6)).shape, (2, 6))
    assert_close(tall(M(2), M(6, 2)).shape, (6, 2))
    source = jacobian(F.matvec)
    source(x, M(2, 6))
    assert "fewer_rows" in source.source and "rows, by reverse mode" in source.source


def test_vjp_pullback_against_the_jacobian():
    x, A = M(3), M(4, 3)
    value, pullback = vjp(F.matvec)(x, A)
    assert_close(value, A @ x, 1e-12, 1e-12)
    ct = M(4)
    assert_close(pullback(ct), ct @ A, 1e-12, 1e-12)
    value, pullback = vjp(F.pair, wrt=(0, 1))(0.3, 1.2)
    gx, gy = pullback((1.0, 2.0))
    assert gx == pytest.approx(1.2 + 2.0 * np.cos(0.3)) and gy == pytest.approx(0.3 + 2.0)


def test_vjp_checks_the_cotangent():
    value, pullback = vjp(F.vec_out)(M(3))
    with pytest.raises(ArgumentError, match="shape"):
        pullback(np.ones(2))
    value, pullback = vjp(F.pair)(0.3, 1.2)
    with pytest.raises(ArgumentError, match="tuple"):
        pullback(1.0)


def test_vjp_proved_against_sympy():
    value, pullback = vjp(F.exp_model, verify=True)(np.array([2.0, 0.5, 0.1]), np.linspace(0, 1, 3), M(3))
    pullback(M(3))
    value, pullback = vjp(F.loop_vec, verify=True, jit=False)(M(2), 3)
    pullback(M(2))


def test_grad_of_a_vector_points_to_jacobian():
    with pytest.raises(AutodiffError, match="jacobian") as info:
        grad(F.vec_out)(M(3))
    assert "corpus_forward.py" in str(info.value)
    with pytest.raises(AutodiffError, match="jacobian|has_aux"):
        grad(F.pair)(0.3, 1.2)


def test_unknown_mode():
    with pytest.raises(ArgumentError, match="mode"):
        jacobian(F.vec_out, mode="sideways")


def test_jacobian_and_vjp_pickle():
    x, A = M(3), M(2, 3)
    for mode in MODES:
        J = jacobian(F.matvec, wrt=(0, 1), mode=mode)
        again = pickle.loads(pickle.dumps(J))
        for a, b in zip(J(x, A), again(x, A)):
            assert_close(a, b, 0, 0)
        assert again.mode == mode
    V = vjp(F.matvec)
    again = pickle.loads(pickle.dumps(V))
    ct = M(2)
    assert_close(V(x, A)[1](ct), again(x, A)[1](ct), 0, 0)
    value, pullback = V(x, A)
    assert_close(pickle.loads(pickle.dumps(pullback))(ct), pullback(ct), 0, 0)


@pytest.mark.parametrize("jit", [False, True], ids=["nojit", "jit"])
def test_jacobians_of_rank_3_arrays_are_refused_by_name(jit):
    """Blocks are written by rows of vectors and matrices: an input or output of rank 3 is an
    ArgumentError naming it (it was one naming no reason, and an entry-by-entry store into a rank-3
    array wrote whole slabs), while the gradient and hvp of the same function are right."""
    from autodiff_compiler import hessian, hvp
    T = np.arange(12.0).reshape(2, 3, 2) * 0.1 + 0.1
    for make, fn in ((hessian, F.cube_sum_rank3), (jacobian, F.rank3_tanh), (jacobian, F.cube_sum_rank3)):
        with pytest.raises(ArgumentError, match=r"rank 3 \(T\) are not supported"):
            make(fn, jit=jit)(T)
    v = np.linspace(-1.0, 1.0, 12).reshape(T.shape)
    np.testing.assert_allclose(grad(F.cube_sum_rank3, jit=jit)(T), 3 * T ** 2, rtol=1e-14)
    np.testing.assert_allclose(hvp(F.cube_sum_rank3, jit=jit)(T, v), 6 * T * v, rtol=1e-14)
    M = T.reshape(4, 3)
    np.testing.assert_allclose(hessian(F.cube_sum_rank3, jit=jit)(M).reshape(12, 12), np.diag(6 * M.ravel()), rtol=1e-14)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_untaken_side_of_where_leaves_no_nan_in_columns_rows_or_pullback(jit):
    """`np.where(x > 0, np.sqrt(x) * x, -x)` computes sqrt of the negative entries too: its columns (forward
    mode), rows (reverse mode) and pullback were NaN there (jit) or a false "undefined" (jit=False); the
    careful rerun (`failures.careful_derivative`) drops the untaken side, against the derivative by hand
    and finite differences."""
    for x in (np.array([0.5, -0.3, 1.2]), np.array([-2.0, 3.0]), np.array([-0.1])):
        with np.errstate(all="ignore"):
            by_hand = np.diag(np.where(x > 0, 1.5 * np.sqrt(np.abs(x)), -1.0))
            (differences,) = jacobian_fd(F.where_vector, [x], 0)
        assert_close(by_hand, differences, 1e-6, 1e-6)
        for mode in MODES:
            J = jacobian(F.where_vector, mode=mode, jit=jit)(x.copy())
            assert_close(J, by_hand, 1e-12, 1e-12, f"{mode} at {x}")
        ct = M(*x.shape)
        value, pullback = vjp(F.where_vector, jit=jit)(x.copy())
        assert_close(pullback(ct), by_hand.T @ ct, 1e-12, 1e-12, f"pullback at {x}")
