"""Transforms compose: grad(grad(f)) is the second derivative (reverse mode over the forward-mode first
derivative), a third grad the third; a function calling a `grad` object is differentiated through it;
jvp/jacobian/hessian/hvp accept grad objects; `value_and_grad(f, has_aux=True)`; every composition
that is not supported is an AutodiffError saying so, never a derivative of the wrong order."""
import math
import pickle

import numpy as np
import pytest

import corpus_forward as F
from _derivative_reference import assert_close, copy_args, jacobian_fd

from autodiff_compiler import (AutodiffError, ArgumentError, grad, hessian, hvp, jacobian, jvp,
                               value_and_grad, vjp)

MODES = [(True, True), (True, False), (False, True), (False, False)]
MODE_IDS = ["jit-simp", "jit-nosimp", "nojit-simp", "nojit-nosimp"]


@pytest.mark.parametrize("jit, simplify", MODES, ids=MODE_IDS)
def test_issue_cube(jit, simplify):
    opts = dict(jit=jit, simplify=simplify)
    g1 = grad(F.cube, **opts)
    g2 = grad(g1, **opts)
    g3 = grad(g2, **opts)
    assert g1(3.0) == 27.0
    assert g2(3.0) == 18.0
    assert g3(3.0) == 6.0
    assert grad(grad(grad(grad(F.cube, **opts), **opts), **opts), **opts)(3.0) == 0.0


@pytest.mark.parametrize("jit, simplify", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("fn, args, second", [
    (F.sin_times, (0.7,), lambda x: 2 * math.cos(x) - x * math.sin(x)),
    (F.poly, (1.5,), lambda x: 18.0 * x),
    (F.halving, (3.0,), None),
    (F.looped, (0.5, 3), None),
    (F.branchy, (2.0, 1.0), None),
    (F.early_exit, (0.5, 10), None),
], ids=["sin_times", "poly", "halving", "looped", "branchy", "early_exit"])
def test_second_derivative_matches_differences_of_the_first(fn, args, second, jit, simplify):
    g = grad(fn, jit=jit, simplify=simplify)
    gg = grad(g, jit=jit, simplify=simplify)
    expected = jacobian_fd(lambda *a: grad(fn)(*a), list(args), 0, h=1e-5)[0]
    assert gg(*args) == pytest.approx(float(expected), rel=1e-6, abs=1e-8)
    if second is not None:
        assert gg(*args) == pytest.approx(second(args[0]), rel=1e-12)


def test_value_and_grad_of_a_gradient():
    value, second = value_and_grad(grad(F.cube))(2.0)
    assert (value, second) == (12.0, 12.0)


def test_mixed_partials():
    dx = grad(F.trig_mix, wrt=0)
    dxy = grad(dx, wrt=1)
    x, y = 0.3, 1.2
    expected = jacobian_fd(lambda a, b: grad(F.trig_mix, wrt=0)(a, b), [x, y], 1, h=1e-5)[0]
    assert dxy(x, y) == pytest.approx(float(expected), rel=1e-6)
    assert dxy(x, y) == pytest.approx(hessian(F.trig_mix, wrt=(0, 1))(x, y)[0][1], rel=1e-12)


def test_grad_of_grad_proved_against_sympy():
    grad(grad(F.sin_times), verify=True)(0.7)
    grad(grad(grad(F.cube)), verify=True)(3.0)
    grad(grad(F.looped), verify=True, jit=False)(0.5, 3)


@pytest.mark.parametrize("jit, simplify", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("fn, point, expected", [
    (F.calls_decorated, 3.0, lambda x: 12.0 * x),                          # 2 * 3x^2
    (F.calls_grad_object, 0.5, lambda x: 4 * x + math.exp(x) * (1 + x)),    # (2x + e^x) x
    (F.calls_value_and_grad, 0.3, None),
], ids=["decorated", "grad_object", "value_and_grad_object"])
def test_calls_of_grad_objects_are_differentiated_through(fn, point, expected, jit, simplify):
    g = grad(fn, jit=jit, simplify=simplify)
    got = g(point)
    if expected is not None:
        assert got == pytest.approx(expected(point), rel=1e-12)
    fd = jacobian_fd(fn, [point], 0, h=1e-6)[0]
    assert got == pytest.approx(float(fd), rel=1e-6)


def test_call_of_a_vector_gradient():
    x = np.array([0.3, -0.7, 1.1])
    got = grad(F.calls_vector_grad)(x)
    assert_close(got, jacobian_fd(F.calls_vector_grad, [x], 0)[0], 1e-6, 1e-7)
    grad(F.calls_vector_grad, verify=True, jit=False)(x)


def test_transforms_of_grad_objects():
    x, v = np.array([0.4, -1.2, 0.8]), np.array([1.0, 0.5, -2.0])
    g = grad(F.rosenbrock)
    H = hessian(F.rosenbrock)(x)
    assert_close(jacobian(g)(x), H, 1e-12, 1e-12)                       # forward over reverse
    assert_close(jacobian(g, mode="reverse")(x), H, 1e-9, 1e-9)         # reverse over forward
    assert_close(jvp(g)(x, tangents=(v,))[1], H @ v, 1e-12, 1e-12)
    assert_close(hvp(F.rosenbrock)(x, v), H @ v, 1e-12, 1e-12)
    value, pullback = vjp(g)(x)
    assert_close(pullback(v), H @ v, 1e-9, 1e-9)
    third = hessian(grad(F.cube))(2.0)                                  # d3/dx3 x^3
    assert third == 6.0
    assert hvp(grad(F.cube))(2.0, 1.0) == 6.0


def test_has_aux():
    w, X = np.array([1.0, 2.0]), np.arange(6.0).reshape(3, 2)
    (loss, aux), g = value_and_grad(F.loss_and_aux, has_aux=True)(w, X)
    r = X @ w
    assert loss == pytest.approx(r @ r) and isinstance(aux, np.ndarray)
    assert_close(aux, r, 0, 0)
    assert_close(g, 2 * X.T @ r, 1e-12, 1e-12)
    g2, aux2 = grad(F.loss_and_aux, has_aux=True)(w, X)
    assert_close(g2, g, 0, 0)
    assert_close(aux2, r, 0, 0)
    (value, (a, b)), dw = value_and_grad(F.loss_and_two, has_aux=True)(0.5, 2.0)
    assert (value, a, b, dw) == (0.5, 2.5, pytest.approx(math.sin(0.5)), 2.0)
    value_and_grad(F.loss_and_aux, has_aux=True, verify=True, jit=False)(w, X)


def test_has_aux_misuse():
    with pytest.raises(ArgumentError, match="has_aux"):
        value_and_grad(F.poly, has_aux=True)(1.0)
    with pytest.raises(ArgumentError, match="has_aux"):
        grad(F.poly, has_aux=True, intermediates=("x",))


def test_non_scalar_results_point_to_jacobian_or_has_aux():
    with pytest.raises(AutodiffError, match="jacobian") as info:
        grad(F.vec_out)(np.ones(3))
    assert "corpus_forward.py" in str(info.value)
    with pytest.raises(AutodiffError) as info:
        grad(F.pair)(0.3, 1.2)
    assert "jacobian" in str(info.value) and "has_aux" in str(info.value)
    with pytest.raises(AutodiffError, match="jacobian"):
        grad(grad(F.vec_sum))(np.ones(3))                  # the first gradient is a vector
    with pytest.raises(AutodiffError, match="jacobian"):
        hessian(F.vec_out)(np.ones(3))


def test_unsupported_compositions_say_so():
    for inner in (jvp(F.poly), jacobian(F.vec_out), hessian(F.poly), hvp(F.poly), vjp(F.poly),
                  grad(F.poly, intermediates=("x",)), value_and_grad(F.loss_and_aux, has_aux=True)):
        for outer in (grad, jvp, jacobian, hessian, hvp):
            with pytest.raises(AutodiffError, match="not supported"):
                outer(inner)


def test_composed_objects_pickle():
    objects = [grad(grad(F.cube)), grad(grad(grad(F.cube))), jacobian(grad(F.sin_times)),
               hessian(grad(F.cube)), jvp(grad(F.sin_times)), value_and_grad(grad(F.sin_times)),
               grad(F.calls_grad_object), value_and_grad(F.loss_and_aux, has_aux=True)]
    for obj in objects:
        again = pickle.loads(pickle.dumps(obj))
        if isinstance(obj, type(jvp(F.poly))):
            assert again(0.7, tangents=(1.0,)) == obj(0.7, tangents=(1.0,))
        elif obj.fn is F.loss_and_aux:
            w, X = np.array([1.0, 2.0]), np.arange(6.0).reshape(3, 2)
            (va, aa), ga = again(w, X)
            (vb, ab), gb = obj(w, X)
            assert va == vb and np.array_equal(aa, ab) and np.array_equal(ga, gb)
        else:
            assert again(0.7) == obj(0.7)
