"""Functions the compiler must reject, each with a clear error (test_errors.py).

This module is imported (so each function is valid Python), never
differentiated successfully.
"""
import math

import numpy as np

COUNTER = 0
COEFFS = [1.0, 2.0, 3.0]
special = math.gamma


def bad_class(x):
    y = x * 2.0
    class Local:
        pass
    return y


def bad_lambda(x):
    sq = lambda t: t * t
    return sq(x)


def bad_try(x):
    try:
        y = math.log(x)
    except ValueError:
        y = 0.0
    return y


def bad_with(x):
    with open("/dev/null") as fh:
        y = x * 2.0
    return y


def bad_listcomp(x):
    terms = [x * i for i in range(3)]
    return x


def bad_string(x):
    label = "x = " + str(x)
    return x * 2.0


def bad_print(x):
    y = x * x
    print(y)
    return y


def bad_global(x):
    global COUNTER
    return x * 2.0


def bad_nonlocal(x):
    total = x
    def add(t):
        nonlocal total
        total = total + t
    add(1.0)
    return total


def bad_yield(x):
    yield x * 2.0


def bad_for_list(x):
    s = x
    for c in COEFFS:
        s = s * x + c
    return s


def bad_while_else(x):
    while x > 1.0:
        x = x * 0.5
    else:
        x = x + 1.0
    return x


def bad_import_inside(x):
    import cmath
    return x * 2.0


def no_rule_gamma(x):
    y = x * 2.0
    return math.gamma(y)


def no_rule_alias(x):
    return special(x) + x


def no_rule_numpy(x):
    y = np.i0(x)
    return y * x


def recursive(x, n):
    if n <= 0:
        return x
    return x * recursive(x, n - 1)


def ping(x, n):
    if n <= 0:
        return x
    return pong(x * 2.0, n - 1)


def pong(x, n):
    return ping(x + 1.0, n)


def two_params(x, y):
    return x * y + math.sin(x)


def with_int(x, n):
    s = x
    for i in range(n):
        s = s * x
    return s


def star_args(*xs):
    return xs[0] * 2.0


def undefined_name(x):
    y = x * 2.0
    return undefined_function(y)  # noqa: F821


def weighted_squares(x, w):
    return np.sum(w * x * x)


# arithmetic on bools: a number for Python's bools, a logical value for NumPy's
def bool_sum_of_numpy_bools(x):
    m = np.max(x > 0.0)                      # np.True_: m + m is True in NumPy, 2 in Python's ints
    return np.sum(x * (m + m))


def bool_sum_of_masks(x):
    j = np.max(x > 0.0, axis=0, keepdims=True)
    return np.sum(x * (j + j + j))           # bool arrays add by logical or


def bool_product_then_sum(x, p, q):
    return np.sum(x) * (p * q + p)           # np.True_ * np.True_ + np.True_ is True; True * True + True is 2


def bool_difference(x, p, q):
    return x * (p - q)                       # np.True_ - np.False_ raises in NumPy


def bool_negation(x, p):
    return x * -p


# the function runs to a finite value, but one line's derivative is undefined there (an infinite slope)
def root_at_zero(x):
    return math.sqrt(x) + x


def arccos_of_a_product(x):
    y = x * 1.0
    return math.acos(y)


def root_in_the_middle(x):
    a = x * 3.0
    b = math.sqrt(x)
    c = a * b + x
    return c


def _root_of(y):
    return math.sqrt(y)


def root_through_a_helper(x):
    return _root_of(x * x - 1.0) + x
