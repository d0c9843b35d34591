"""SciPy's optimisers with the compiler's derivatives (issue 9): `minimize` with `jac=grad(f)` and
`hessp=hvp(f)` (trust-ncg) or `hess=hessian(f)` (Newton-CG), and `least_squares` with
`jac=jacobian(r)`, on Rosenbrock, an exponential curve fit and a small nonlinear system; each must
converge to the known answer, and the derivatives equal SciPy's hand-written ones where it has them."""
import numpy as np
import pytest
from scipy.optimize import least_squares, minimize, rosen_der, rosen_hess, rosen_hess_prod

import corpus_forward as F
from autodiff_compiler import grad, hessian, hvp, jacobian

X0 = np.linspace(-1.2, 1.2, 8)


@pytest.mark.parametrize("fn", [F.rosenbrock, F.rosenbrock_loop], ids=["vectorised", "loop"])
def test_rosenbrock_derivatives_equal_scipys(fn):
    p = np.sin(np.arange(X0.size))
    np.testing.assert_allclose(grad(fn)(X0), rosen_der(X0), rtol=1e-12)
    np.testing.assert_allclose(hvp(fn)(X0, p), rosen_hess_prod(X0, p), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hessian(fn)(X0), rosen_hess(X0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [F.rosenbrock, F.rosenbrock_loop], ids=["vectorised", "loop"])
def test_trust_ncg_with_hessp(fn):
    result = minimize(fn, X0, jac=grad(fn), hessp=hvp(fn), method="trust-ncg", options={"gtol": 1e-10})
    assert result.success
    np.testing.assert_allclose(result.x, 1.0, atol=1e-8)


@pytest.mark.parametrize("fn", [F.rosenbrock, F.rosenbrock_loop], ids=["vectorised", "loop"])
def test_newton_cg_with_hess(fn):
    result = minimize(fn, X0, jac=grad(fn), hess=hessian(fn), method="Newton-CG", options={"xtol": 1e-12})
    assert result.success
    np.testing.assert_allclose(result.x, 1.0, atol=1e-8)


def test_least_squares_rosenbrock():
    fit = least_squares(F.rosen_residuals, np.array([-1.2, 1.0]), jac=jacobian(F.rosen_residuals),
                        xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(fit.x, 1.0, atol=1e-10)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_least_squares_exponential_fit(mode):
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 4.0, 30)
    truth = np.array([2.5, 1.3, 0.5])
    y = F.exp_model(truth, t, np.zeros_like(t)) + 0.01 * rng.standard_normal(t.size)
    x0 = np.array([1.0, 1.0, 0.0])
    ours = least_squares(F.exp_model, x0, jac=jacobian(F.exp_model, mode=mode), args=(t, y))
    theirs = least_squares(F.exp_model, x0, args=(t, y))
    assert ours.success
    np.testing.assert_allclose(ours.x, theirs.x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.x, truth, atol=0.05)


def test_least_squares_nonlinear_system():
    root = least_squares(F.nonlinear_system, np.array([1.0, -1.0]), jac=jacobian(F.nonlinear_system),
                         xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert np.max(np.abs(F.nonlinear_system(root.x))) < 1e-12
