"""A polynomial: y = x**2 + 3*x + 1, so dy/dx = 2*x + 3 (= 7 at x = 2)."""
from autodiff_compiler import grad
from _compare import compare


def poly(x):
    return x**2 + 3*x + 1


if __name__ == "__main__":
    dpoly = grad(poly)
    compare("y = x**2 + 3*x + 1 at x = 2", [
        ("dy/dx", dpoly(2.0), 2 * 2.0 + 3, "2*x + 3"),
    ], source=dpoly.source)
