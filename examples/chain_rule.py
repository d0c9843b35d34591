"""The chain rule, as in the PyTorch autograd tutorial.

In PyTorch you would write

    x = torch.tensor(4.0, requires_grad=True)
    z = torch.sin(x**2)
    z.backward()
    x.grad                      # tensor(-7.6613)

Here you write the function as ordinary Python and ask for its gradient.
The compiler reads the source of `f`, writes the derivative as new Python
code (print it with `python examples/chain_rule.py --source`, or
`autodiff-compiler grad examples/chain_rule.py:f`), and compiles it with Numba.
"""
import math

from autodiff_compiler import grad
from _compare import compare


def square(x):
    return x**2


def f(x):
    y = x**2
    return math.sin(y)


if __name__ == "__main__":
    dsquare = grad(square)      # dy/dx of y = x**2
    compare("y = x**2 at x = 3", [
        ("dy/dx", dsquare(3.0), 2 * 3.0, "2*x"),
    ])

    df = grad(f)                # dz/dx of z = sin(x**2)
    compare("z = sin(x**2) at x = 4", [
        ("dz/dx", df(4.0), 2 * 4.0 * math.cos(4.0**2), "dz/dy * dy/dx = cos(x**2) * 2*x"),
    ], source=df.source)
