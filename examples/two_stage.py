"""Two stages and three inputs, as in the PyTorch "computational graph" example:

    y = a*x**2 + b*x + 1
    z = y**2 + 2*y

`grad(..., wrt=("x", "a", "b"))` gives all three partial derivatives from one
reverse sweep, the way `z.backward()` fills `x.grad`, `a.grad` and `b.grad`.
"""
from autodiff_compiler import grad
from _compare import compare


def z_of(x, a, b):
    y = a*x**2 + b*x + 1
    z = y**2 + 2*y
    return z


if __name__ == "__main__":
    x, a, b = 1.0, 2.0, 3.0
    dz = grad(z_of, wrt=("x", "a", "b"))
    dz_dx, dz_da, dz_db = dz(x, a, b)

    # By hand: dz/dy = 2*y + 2, and dy/dx = 2*a*x + b, dy/da = x**2, dy/db = x.
    y = a*x**2 + b*x + 1
    dz_dy = 2*y + 2
    compare("z = y**2 + 2*y, y = a*x**2 + b*x + 1 at x = 1, a = 2, b = 3", [
        ("dz/dx", dz_dx, dz_dy * (2*a*x + b), "(2*y + 2) * (2*a*x + b)"),
        ("dz/da", dz_da, dz_dy * x**2, "(2*y + 2) * x**2"),
        ("dz/db", dz_db, dz_dy * x, "(2*y + 2) * x"),
    ], source=dz.source)
