"""Functions for test_verify.py and test_check.py: ordinary Python that runs as is.

Straight-line code over every scalar primitive, branches, loops, kinks (min,
max, abs, %), stop_gradient and helpers -- each is verified against SymPy at
the points listed in test_verify.py.
"""
import math

import numpy as np

from autodiff_compiler import stop_gradient

THIRD = 1.0 / 3.0


# ------------------------------------------------------------------ straight line

def cubic(x, a, b):
    return a * x ** 3 + b * x + 1.0


def trig_mix(x, y):
    u = math.sin(x) * math.cos(y) + math.tan(x * y)
    return u * math.exp(-x) + math.atan2(y, x)


def inverse_trig(x):
    return math.asin(x) + math.acos(x / 2) + math.atan(3 * x)


def hyperbolic(x):
    return math.sinh(x) * math.cosh(x) - math.tanh(x) ** 2


def logs(x, y):
    return math.log(x) + math.log1p(y) + math.log2(x * y) + math.log10(x + y) + math.expm1(x)


def roots_and_powers(x, y):
    return math.sqrt(x) + math.hypot(x, y) + x ** y + 2.0 ** x + x ** 0.5 + x ** -1.5


def special(x):
    return math.erf(x) * math.erfc(x / 2)


def folded_constants(x):
    return x * THIRD + 0.1 * x + x * (1.0 - 1e-8) + math.pi * x


def numpy_scalars(x, y):
    return np.sin(x) * np.arctan2(y, x) + np.hypot(x, y) + np.power(x, 2.5)


def logistic(w, b, x, y):
    z = w * x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    return -(y * math.log(y_hat) + (1 - y) * math.log(1 - y_hat))


def with_stop_gradient(x, y):
    c = stop_gradient(x * y)
    return c * x + y


def with_int(x, n):
    return x ** n + n * x


# ------------------------------------------------------------------ kinks

def kinks(x, y):
    return abs(x - y) + min(x, y) * max(x, 2 * y) + math.fabs(x)


def modulo(x, y):
    return (x * 3.7) % y + x


def clamp(x):
    return min(max(x, -1.0), 1.0) * x


# ------------------------------------------------------------------ branches

def branchy(x, y):
    if x > y:
        z = x * y
    else:
        z = x + y * y
    if z > 1.0 and x > 0.0:
        return math.sin(z)
    return z * z


def early_exit(x):
    if x < 0.0:
        return -x
    y = x * x
    if y > 4.0:
        return y
    return math.sqrt(y + 1.0)


# ------------------------------------------------------------------ loops

def power_loop(x, n):
    s = 1.0
    for i in range(n):
        s = s * x + i
    return s


def recurrence(x, n):
    for i in range(n):
        x = math.sin(x) * 0.9 + 0.1 * math.cos(x)
    return x


def halving(a):
    while abs(a) > 0.1:
        a = a * 0.5
    return a * a + math.sin(a)


def loop_with_break(x, n):
    s = x
    for i in range(n):
        s = s * 1.5 + x
        if s > 10.0:
            break
    return s


def nested(x, y, n, m):
    s = 0.0
    for i in range(n):
        t = y
        for j in range(m):
            t = t * x + 1.0
        s = s + t * i
    return s


def _helper(u, v):
    return u * math.exp(-v)


def with_helper(x, y):
    a = _helper(x, y)
    b = _helper(a, x)
    return a + b


# ------------------------------------------------------------------ for test_check

def cube(x):
    return x ** 3


def sigmoid_loss(w, x):
    p = 1.0 / (1.0 + math.exp(-w * x))
    return p * p


def newton_root_times_sine(x):
    """Newton's iteration for sqrt(x), at most 50 trips: at a negative x it wanders chaotically, and the
    exact value of that path's formula is another number than its float64 run."""
    y = x
    k = 0
    while abs(y * y - x) > 1e-12 * x and k < 50:
        y = 0.5 * (y + x / y)
        k += 1
    return y * math.sin(x)
