"""Least squares with SciPy, Jacobians by the compiler: `least_squares(r, x0, jac=jacobian(r))`.

Three problems, each solved with the compiler's Jacobian and checked against the known answer:

* Rosenbrock as residuals r(x) = (10 (x1 - x0^2), 1 - x0), from (-1.2, 1): the minimum is (1, 1);
* an exponential curve fit y ~ a exp(-b t) + c to 40 noisy points generated from (2.5, 1.3, 0.5);
  the fit must match SciPy's own (finite-difference Jacobian) fit and the generating parameters
  to the noise level;
* a small nonlinear system x0^2 + x1^2 = 4, exp(x0) + x1 = 1, solved to r = 0.

`jacobian(r)` has shape (residuals, parameters); for these tall problems "auto" computes it by columns
in forward mode (one pass per parameter).

    python examples/scipy_least_squares.py     # --source prints the generated Jacobian of the curve fit
"""
import math
import sys

import numpy as np
from scipy.optimize import least_squares

from autodiff_compiler import jacobian


def rosenbrock_residuals(x):
    r = np.zeros(2)
    r[0] = 10.0 * (x[1] - x[0] * x[0])
    r[1] = 1.0 - x[0]
    return r


def exp_residuals(p, t, y):
    return p[0] * np.exp(-p[1] * t) + p[2] - y


def system(x):
    r = np.zeros(2)
    r[0] = x[0] * x[0] + x[1] * x[1] - 4.0
    r[1] = math.exp(x[0]) + x[1] - 1.0
    return r


if __name__ == "__main__":
    # Rosenbrock
    J = jacobian(rosenbrock_residuals)
    fit = least_squares(rosenbrock_residuals, np.array([-1.2, 1.0]), jac=J, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    print(f"Rosenbrock residuals: x = {fit.x}, cost = {fit.cost:.1e}, {fit.njev} Jacobians")
    assert np.allclose(fit.x, 1.0, atol=1e-10)

    # exponential curve fit
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 4.0, 40)
    truth = np.array([2.5, 1.3, 0.5])
    y = exp_residuals(truth, t, np.zeros_like(t)) + 0.01 * rng.standard_normal(t.size)
    x0 = np.array([1.0, 1.0, 0.0])
    J = jacobian(exp_residuals)
    ours = least_squares(exp_residuals, x0, jac=J, args=(t, y))
    theirs = least_squares(exp_residuals, x0, args=(t, y))          # SciPy's finite differences
    print(f"exponential fit:      (a, b, c) = {ours.x}  (generated from {truth}), {ours.njev} Jacobians")
    print(f"  SciPy with finite differences:  {theirs.x}")
    assert ours.success and np.allclose(ours.x, theirs.x, rtol=1e-6, atol=1e-8)
    assert np.allclose(ours.x, truth, atol=0.05)
    # the Jacobian itself, against central differences
    h = 1e-6
    columns = [(exp_residuals(ours.x + h * e, t, y) - exp_residuals(ours.x - h * e, t, y)) / (2 * h)
               for e in np.eye(3)]
    assert np.allclose(J(ours.x, t, y), np.array(columns).T, rtol=1e-6, atol=1e-8)

    # nonlinear system
    J = jacobian(system)
    root = least_squares(system, np.array([1.0, -1.0]), jac=J, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    print(f"nonlinear system:     x = {root.x}, residuals {system(root.x)}")
    assert np.max(np.abs(system(root.x))) < 1e-12
    print("ok: all three converge")
    if "--source" in sys.argv:
        print(jacobian(exp_residuals).source)
