"""Numeric special functions the rule table evaluates (`rules`: folding, checks) and the runtime copies
into generated modules (`backend.runtime`).

Takes: floats (and a count `n`).  Guarantees: plain Python that Numba compiles in `nopython` mode and
that runs unchanged without Numba, as accurate as each function's docstring says.
"""
import math


def polygamma_scalar(n, x):
    """The n-th derivative of the digamma function at x (n = 0: digamma): shifted up by the recurrence
    psi_n(x) = psi_n(x + 1) - (-1)**n n! / x**(n + 1), then the asymptotic series (error < 1e-15)."""
    if x <= 0.0 and x == math.floor(x):
        return math.nan
    factorial = 1.0
    for k in range(2, n + 1):
        factorial *= k
    sign = 1.0 if n % 2 == 0 else -1.0
    shift = 0.0
    y = x
    while y < 15.0:
        shift -= sign * factorial / y ** (n + 1)
        y += 1.0
    if n == 0:
        inverse_square = 1.0 / (y * y)
        value = math.log(y) - 0.5 / y - inverse_square * (1.0 / 12 - inverse_square * (
            1.0 / 120 - inverse_square * (1.0 / 252 - inverse_square * (1.0 / 240 - inverse_square * (1.0 / 132)))))
        return value + shift
    bernoulli = (1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6)
    total = factorial / n / y ** n + factorial / (2.0 * y ** (n + 1))
    for k in range(1, 8):
        rising = 1.0
        for j in range(2 * k + 1, 2 * k + n):
            rising *= j
        total += bernoulli[k - 1] * rising / y ** (2 * k + n)
    return -sign * total + shift
