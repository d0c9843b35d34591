"""Helpers imported by corpus_control.py: the "helper from another module" case.

`softplus` calls a private helper of this module, so the compiler has to read
globals from the helper's own module, not from the caller's.
"""
import math

DAMPING = 0.9


def _log1pexp(z):
    return math.log1p(math.exp(z))


def softplus(x):
    return _log1pexp(x)


def scaled_sq(x, c):
    return c * x * x


def damped(x):
    return DAMPING * x + 0.1 * math.sin(x)


def clipped(x):
    if x > 1.0:
        return 1.0 + 0.1 * (x - 1.0)
    return x


def poly_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s * x + 1.0
    return s
