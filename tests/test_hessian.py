"""Hessians and Hessian-vector products: forward mode over the reverse-mode gradient program (its tapes
included), against central finite differences of the gradient and second differences of the function,
against SymPy's Hessian, and against reverse mode over the forward-mode gradient (a different
derivation of the same numbers); jit on and off, the simplifier on and off (see `_modes`); SciPy's
`hessp` argument order; pickling."""
import math
import pickle
import zlib

import numpy as np
import pytest

import corpus_forward as F
from _derivative_reference import assert_close, copy_args, jacobian_fd, polynomial_hessian

from autodiff_compiler import ArgumentError, AutodiffError, grad, hessian, hvp, jacobian, jvp

RNG = np.random.default_rng(5)
M = lambda *shape: RNG.normal(size=shape)

# (function, wrt index, points): scalar-valued functions with control flow and arrays
CASES = [
    (F.poly, 0, [(0.5,), (-2.0,)]),
    (F.trig_mix, 1, [(0.3, 1.2), (-1.0, 0.5)]),
    (F.branchy, 0, [(2.0, 1.0), (0.5, 1.5)]),
    (F.looped, 0, [(0.5, 3), (0.9, 5)]),
    (F.halving, 0, [(3.0,), (1.7,)]),
    (F.early_exit, 0, [(0.5, 10), (3.0, 4)]),
    (F.calls_helper, 1, [(0.3, 0.8)]),
    (F.rosenbrock2, 0, [(-1.2, 1.0), (0.5, 0.5)]),
    (F.vec_sum, 0, [(M(3),), (M(1),)]),
    (F.quad_form, 0, [(M(3), M(3, 3))]),
    (F.rosenbrock, 0, [(M(4),), (M(2),)]),
    (F.rosenbrock_loop, 0, [(M(4),)]),
    (F.softmax_ce, 0, [(M(4), 1)]),
    (F.matrix_loss, 0, [(M(3), M(5, 3), M(5))]),
    (F.stores, 0, [(M(2),)]),
    (F.rows_loop, 0, [(M(3, 2), 0.7)]),
    (F.reductions, 0, [(M(3, 2),)]),
]
IDS = [c[0].__name__ for c in CASES]


def _hessian_fd(fn, args, index):
    """Central differences of the gradient, itself central differences of the function (h = 1e-4)."""
    g = lambda *a: jacobian_fd(fn, a, index, h=1e-4)[0]
    return jacobian_fd(g, args, index, h=1e-4)[0]


def _insert(args, index, v):
    args = copy_args(args)
    return args[:index + 1] + [v] + args[index + 1:]


def _modes(name: str) -> list:
    """Every case in the default mode (jit, simplifier on) and both interpreted ones; jit with the
    simplifier off, the costliest compile, for a third of them, chosen by name (compiles are most of this
    file's time; the interpreted modes run the same programs)."""
    modes = [(True, True), (False, True), (False, False)]
    if zlib.crc32(name.encode()) % 3 == 0:
        modes.append((True, False))
    return modes


MODE_PARAMS = [pytest.param(c[0], c[1], c[2], jit, simplify,
                            id=f"{name}-{'simp' if simplify else 'nosimp'}-{'jit' if jit else 'nojit'}")
               for c, name in zip(CASES, IDS) for jit, simplify in _modes(name)]


@pytest.mark.parametrize("fn, wrt, points, jit, simplify", MODE_PARAMS)
def test_hessian_and_hvp_match_finite_differences(fn, wrt, points, jit, simplify):
    H = hessian(fn, wrt=wrt, jit=jit, simplify=simplify)
    Hv = hvp(fn, wrt=wrt, jit=jit, simplify=simplify)
    for args in points:
        expected = _hessian_fd(fn, args, wrt)
        got = H(*copy_args(args))
        assert_close(got, expected, 1e-4, 1e-4, f"{fn.__name__} Hessian at {args}")
        x = args[wrt]
        v = M(*np.shape(x)) if isinstance(x, np.ndarray) else float(RNG.normal())
        product = Hv(*_insert(args, wrt, v))
        reference = np.tensordot(np.asarray(got), v, axes=np.ndim(v)) if np.ndim(v) else got * v
        assert_close(product, reference, 1e-9, 1e-9, f"{fn.__name__} hvp at {args}")


@pytest.mark.parametrize("fn, wrt, points", CASES, ids=IDS)
def test_forward_over_reverse_equals_reverse_over_forward(fn, wrt, points):
    """hessian(f): forward mode over the adjoint; jacobian(grad(f), mode="reverse"): reverse mode over the
    forward-mode gradient.  Two derivations, one Hessian."""
    args = points[0]
    a = hessian(fn, wrt=wrt, jit=False)(*copy_args(args))
    b = jacobian(grad(fn, wrt=wrt, jit=False), wrt=wrt, mode="reverse", jit=False)(*copy_args(args))
    assert_close(a, b, 1e-10, 1e-10, fn.__name__)


@pytest.mark.parametrize("fn, wrt, points", CASES, ids=IDS)
def test_hessian_and_hvp_proved_against_sympy(fn, wrt, points):
    args = points[0]
    hessian(fn, wrt=wrt, jit=False, verify=True)(*copy_args(args))
    x = args[wrt]
    v = np.ones_like(x) if isinstance(x, np.ndarray) else 1.0
    hvp(fn, wrt=wrt, jit=False, verify=True)(*_insert(args, wrt, v))


def test_tuple_wrt_nests():
    (hxx, hxy), (hyx, hyy) = hessian(F.rosenbrock2, wrt=(0, 1))(-1.2, 1.0)
    x, y = -1.2, 1.0
    assert (hxx, hxy, hyx, hyy) == pytest.approx((2 - 400 * (y - 3 * x * x), -400 * x, -400 * x, 200))
    x, A = M(3), M(3, 3)
    (hxx, hxA), (hAx, hAA) = hessian(F.quad_form, wrt=(0, 1))(x, A)
    assert hxx.shape == (3, 3) and hxA.shape == (3, 3, 3) and hAx.shape == (3, 3, 3) and hAA.shape == (3, 3, 3, 3)
    assert_close(hxx, A + A.T, 1e-12, 1e-12)


def test_hvp_takes_the_vector_after_the_differentiated_argument():
    x, A, v = M(3), M(3, 3), M(3)
    assert_close(hvp(F.quad_form)(x, v, A), (A + A.T) @ v, 1e-12, 1e-12)            # SciPy's hessp(x, p, *args)
    assert_close(hvp(F.quad_form, wrt=1)(x, A, np.outer(v, v)), np.zeros((3, 3)), 0, 0)   # linear in A
    with pytest.raises(ArgumentError, match="one wrt"):
        hvp(F.quad_form, wrt=(0, 1))
    with pytest.raises(ArgumentError, match="shape"):
        hvp(F.quad_form)(x, M(2), A)


def test_jvp_of_grad_is_value_and_hessian_vector_product():
    x, v = M(4), M(4)
    g, Hv = jvp(grad(F.rosenbrock))(x, tangents=(v,))
    assert_close(g, grad(F.rosenbrock)(x), 1e-12, 1e-12)
    assert_close(Hv, hvp(F.rosenbrock)(x, v), 1e-12, 1e-12)


def test_hessian_hvp_pickle():
    x, A, v = M(3), M(3, 3), M(3)
    for obj, args in ((hessian(F.quad_form), (x, A)), (hvp(F.quad_form), (x, v, A))):
        again = pickle.loads(pickle.dumps(obj))
        assert_close(again(*args), obj(*args), 0, 0)


# np.where (and min) compute the side they do not take; where it is undefined (sqrt, log, arcsin of a
# negative or too large number, a division by zero), so are its first and second derivatives, and the
# mask's zero times them was NaN in forward mode over the gradient.  (function, its second derivative by
# hand -- each function a sum over entries, or of a number, so its Hessian is diagonal -- and points)
UNTAKEN = [
    (F.where_sqrt, lambda x: np.where(x > 0, 0.75 / np.sqrt(np.abs(x)), 2.0),
     [np.array([0.5, -0.3, 1.2]), np.array([-2.0, 3.0])]),
    (F.where_log, lambda x: np.where(x > 0, 2 * np.log(np.abs(x)) + 3, 3 * x),
     [np.array([0.7, -0.4, 2.0]), np.array([-1.5, 0.1])]),
    (F.where_division, lambda x: np.where(x < 1.0, 2.0, 2 / (x - 0.5) ** 3), [np.array([0.2, 0.5, 3.0])]),
    (F.where_arcsin, lambda x: np.where(np.abs(x) < 1.0,
                                        1 / np.sqrt(np.abs(1 - x * x)) + np.abs(1 - x * x) ** -1.5, 6 * x),
     [np.array([0.3, 1.5, -2.0]), np.array([-0.6, 1.1])]),
    (F.where_number, lambda x: 0.75 / math.sqrt(x) if x > 0 else 2.0, [-0.3, 0.7]),
    (F.clamped_sqrt, lambda x: 2.0 if x > 1 else 2.0 - (1 - x * x) ** -1.5, [2.0, 0.5]),
]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("fn, curvature, points", UNTAKEN, ids=[c[0].__name__ for c in UNTAKEN])
def test_untaken_side_of_where_leaves_no_nan_in_the_hessian(fn, curvature, points, jit):
    """hessian, hvp, jvp(grad(f)) and jacobian(grad(f)) -- forward mode over the gradient -- with the careful
    rerun's structural zeros in both sweeps (`failures.careful_derivative`), against the second derivative by
    hand and second differences, where they were NaN (jit) or a false "undefined" (jit=False)."""
    H, Hv = hessian(fn, jit=jit), hvp(fn, jit=jit)
    over_grad = jacobian(grad(fn, jit=jit), jit=jit)
    for x in points:
        with np.errstate(all="ignore"):
            by_hand = np.diag(curvature(x)) if isinstance(x, np.ndarray) else curvature(x)
            differences = _hessian_fd(fn, [x], 0)
        v = M(*np.shape(x)) if isinstance(x, np.ndarray) else 0.6
        assert_close(H(copy_args([x])[0]), by_hand, 1e-10, 1e-12, f"{fn.__name__} Hessian at {x}")
        assert_close(by_hand, differences, 1e-4, 1e-4, f"{fn.__name__} hand Hessian at {x}")
        assert_close(Hv(copy_args([x])[0], v), np.dot(by_hand, v), 1e-10, 1e-12, f"{fn.__name__} hvp at {x}")
        assert_close(over_grad(copy_args([x])[0]), by_hand, 1e-10, 1e-12, f"{fn.__name__} jacobian(grad) at {x}")
        g, Hv_fwd = jvp(grad(fn, jit=jit), jit=jit)(copy_args([x])[0], tangents=(v,))
        assert_close(Hv_fwd, np.dot(by_hand, v), 1e-10, 1e-12, f"{fn.__name__} jvp(grad) at {x}")


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_untaken_side_of_where_at_its_boundary_has_no_made_up_hessian(jit):
    """At `x == 0`, `np.where(x > 0, np.sqrt(x), 0.0)` has no second derivative (from the right, an infinite
    one): the Hessian's entry is not finite or the call raises, never the zero of the side taken; off the
    boundary the rerun gives the Hessian."""
    try:
        H = hessian(F.where_at_boundary, jit=jit)(np.array([0.0, 1.0]))
    except AutodiffError as exc:
        assert "undefined" in str(exc)
    else:
        assert not np.isfinite(H[0, 0])
    assert_close(hessian(F.where_at_boundary, jit=jit)(np.array([-1.0, 1.0])), np.diag([0.0, -0.25]), 1e-12, 1e-12)


# `a = np.array([...x...])` then `a[i] += ...`: in the IR `a` is a second name of the new array, and the
# stores change both.  The driver of forward over reverse runs the gradient's forward sweep again per
# column; taking that array from the value section gave every column the array the value section had
# already updated (hessian(simplify=False) raised the audit's InternalError; without the audit, the
# Hessian was four times too large).  Exact references: these functions are polynomials in x.
IN_PLACE = [
    (F.rotate_updates, [0.8, -1.3, 0.25]),        # 3 entries
    (F.swap_updates, [0.8, -0.6, 1.7]),           # 2
    (F.skip_updates, [0.8, -1.1, 0.4]),           # 4
    (F.backward_updates, [0.8, 2.5, -0.7]),
    (F.scaled_updates, [0.8, -0.9, 1.3]),
]


# interpreted all, compiled the three sizes (the driver is one program for both; compiles are the time)
IN_PLACE_PARAMS = [pytest.param(fn, points, jit, id=f"{fn.__name__}-{'jit' if jit else 'nojit'}")
                   for k, (fn, points) in enumerate(IN_PLACE) for jit in [False] + [True] * (k < 3)]


@pytest.mark.parametrize("fn, points, jit", IN_PLACE_PARAMS)
def test_hessian_of_an_array_added_into_in_place_through_its_second_name(fn, points, jit):
    """hessian with the simplifier off and on, and the forward-mode Jacobian of the gradient, against the
    exact second derivative and against central differences of the gradient; hvp agrees."""
    off, on = hessian(fn, jit=jit, simplify=False), hessian(fn, jit=jit)
    of_gradient = jacobian(grad(fn, jit=jit, simplify=False), mode="forward", jit=jit, simplify=False)
    product = hvp(fn, jit=jit, simplify=False)
    gradient = grad(fn, jit=jit)
    for x in points:
        exact = polynomial_hessian(fn, [x], 0)
        for name, got in (("simplify=False", off(x)), ("simplify=True", on(x)),
                          ("jacobian(grad)", of_gradient(x)), ("hvp", product(x, 1.0))):
            assert_close(got, exact, 1e-10, 1e-10, f"{fn.__name__} {name} at {x}")
        differences = (gradient(x + 1e-5) - gradient(x - 1e-5)) / 2e-5
        assert_close(off(x), differences, 1e-6, 1e-6, f"{fn.__name__} against differences of grad at {x}")


@pytest.mark.parametrize("jit", [False, True], ids=["nojit", "jit"])
def test_hessian_of_a_vector_entries_array_added_into_in_place(jit):
    """Two columns, each running the gradient's forward sweep again: the second must not start from the
    array the first updated.  hessian (simplifier off and on), the forward-mode Jacobian of the gradient,
    hvp, against the exact Hessian and central differences of the gradient."""
    fn = F.rotate_updates_vec
    off, on = hessian(fn, jit=jit, simplify=False), hessian(fn, jit=jit)
    of_gradient = jacobian(grad(fn, jit=jit, simplify=False), mode="forward", jit=jit, simplify=False)
    product = hvp(fn, jit=jit, simplify=False)
    for x in (np.array([0.8, 0.6]), np.array([-1.2, 0.3]), np.array([0.5, -1.4])):
        exact = polynomial_hessian(fn, [x], 0)
        v = np.array([0.7, -1.1])
        assert_close(off(x.copy()), exact, 1e-10, 1e-10, f"simplify=False at {x}")
        assert_close(on(x.copy()), exact, 1e-10, 1e-10, f"simplify=True at {x}")
        assert_close(of_gradient(x.copy()), exact, 1e-10, 1e-10, f"jacobian(grad) at {x}")
        assert_close(product(x.copy(), v), exact @ v, 1e-10, 1e-10, f"hvp at {x}")
        assert_close(off(x.copy()), _hessian_fd(fn, [x], 0), 1e-4, 1e-4, f"differences at {x}")
