"""Newton-type minimisation with SciPy, derivatives by the compiler: Rosenbrock in 10 dimensions.

    minimize(f, x0, jac=grad(f), hessp=hvp(f), method="trust-ncg")     # Hessian-vector products only
    minimize(f, x0, jac=grad(f), hess=hessian(f), method="Newton-CG")   # the whole Hessian

`hvp(f)(x, p)` is SciPy's `hessp(x, p, *args)`: forward mode over the reverse-mode gradient, one
gradient's cost times a small constant and no n-by-n matrix.  Each run is checked against SciPy's own
`rosen_der` / `rosen_hess` at the start point, and the minimiser must reach (1, ..., 1).

    python examples/scipy_newton.py            # --source prints the generated Hessian-vector product
"""
import sys

import numpy as np
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess, rosen_hess_prod

from autodiff_compiler import grad, hessian, hvp


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


if __name__ == "__main__":
    n = 10
    x0 = np.linspace(-1.2, 1.2, n)
    g, hp, H = grad(rosenbrock), hvp(rosenbrock), hessian(rosenbrock)

    # the derivatives, against SciPy's hand-written ones
    p = np.cos(np.arange(n))
    print("at x0, against scipy.optimize.rosen_der / rosen_hess_prod / rosen_hess:")
    for name, ours, theirs in (("gradient", g(x0), rosen_der(x0)), ("Hessian . p", hp(x0, p), rosen_hess_prod(x0, p)),
                               ("Hessian", H(x0), rosen_hess(x0))):
        error = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
        print(f"  {name:<12} max relative difference {error:.1e}")
        assert error < 1e-12, name
    assert abs(rosenbrock(x0) - rosen(x0)) < 1e-9

    for method, derivatives, options in (("trust-ncg", dict(hessp=hp), {"gtol": 1e-10}),
                                         ("Newton-CG", dict(hess=H), {"xtol": 1e-12})):
        result = minimize(rosenbrock, x0, jac=g, method=method, options=options, **derivatives)
        error = np.max(np.abs(result.x - 1.0))
        print(f"{method:<10} {result.nit:3d} iterations, {result.nfev:3d} evaluations of f, "
              f"f = {result.fun:.3e}, max |x - 1| = {error:.1e}: {'converged' if result.success else result.message}")
        assert result.success and error < 1e-6, method
    print("ok: both methods reach the minimum at (1, ..., 1)")
    if "--source" in sys.argv:
        print(hp.source)
