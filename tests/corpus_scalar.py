"""Straight-line functions for the end-to-end tests (issue 2).

Every function here is ordinary Python that runs as is; the tests compare the
compiler's gradient with hand-derived formulas (in test_end_to_end.py) or with
finite differences of these very functions.
"""
import math
from math import sin
from math import sqrt as msqrt

import numpy as np
import numpy as xp

from autodiff_compiler import stop_gradient

SCALE = 2.5
OFFSET = -0.75
N_CONST = 3


# ---------------------------------------------------------------- issue 2's examples

def square(x):
    y = x ** 2
    return y


def sin_of_square(x):
    y = x ** 2
    return math.sin(y)


def poly(x):
    return x**2 + 3*x + 1


def two_stage(a, b, x):
    y = a*x**2 + b*x + 1
    z = y**2 + 2*y
    return z


def logistic_loss(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))


# ---------------------------------------------------------------- math primitives

def p_sin(x):
    return math.sin(x)


def p_cos(x):
    return math.cos(x)


def p_tan(x):
    return math.tan(x)


def p_asin(x):
    return math.asin(x)


def p_acos(x):
    return math.acos(x)


def p_atan(x):
    return math.atan(x)


def p_atan2(y, x):
    return math.atan2(y, x)


def p_sinh(x):
    return math.sinh(x)


def p_cosh(x):
    return math.cosh(x)


def p_tanh(x):
    return math.tanh(x)


def p_exp(x):
    return math.exp(x)


def p_expm1(x):
    return math.expm1(x)


def p_log(x):
    return math.log(x)


def p_log1p(x):
    return math.log1p(x)


def p_log2(x):
    return math.log2(x)


def p_log10(x):
    return math.log10(x)


def p_sqrt(x):
    return math.sqrt(x)


def p_hypot(x, y):
    return math.hypot(x, y)


def p_pow(x, y):
    return math.pow(x, y)


def p_fabs(x):
    return math.fabs(x)


def p_erf(x):
    return math.erf(x)


def p_erfc(x):
    return math.erfc(x)


def p_abs(x):
    return abs(x - 1.0) * 3.0


def p_min_max(x, y):
    return min(x, y) + 2.0 * max(x, y)


def p_min_const(x):
    return min(x, 1.0) * x


def p_float(x, n):
    return float(n) * x + float(x) * x


# chain rule through primitives
def chain_primitives(x):
    return math.exp(math.sin(2.0 * x)) * math.log(1.0 + x * x)


# ---------------------------------------------------------------- numpy scalar forms

def np_sin(x):
    return np.sin(x)


def np_cos(x):
    return np.cos(x)


def np_tan(x):
    return np.tan(x)


def np_arcsin(x):
    return np.arcsin(x)


def np_arccos(x):
    return np.arccos(x)


def np_arctan(x):
    return np.arctan(x)


def np_arctan2(y, x):
    return np.arctan2(y, x)


def np_sinh(x):
    return np.sinh(x)


def np_cosh(x):
    return np.cosh(x)


def np_tanh(x):
    return np.tanh(x)


def np_exp(x):
    return np.exp(x)


def np_expm1(x):
    return np.expm1(x)


def np_log(x):
    return np.log(x)


def np_log1p(x):
    return np.log1p(x)


def np_log2(x):
    return np.log2(x)


def np_log10(x):
    return np.log10(x)


def np_sqrt(x):
    return np.sqrt(x)


def np_hypot(x, y):
    return np.hypot(x, y)


def np_power(x, y):
    return np.power(x, y)


def np_fabs(x):
    return np.fabs(x)


def np_abs(x):
    return np.abs(x)


def np_minimum_maximum(x, y):
    return np.minimum(x, y) + 2.0 * np.maximum(x, y)


def alias_xp(x):
    return xp.sin(x) * xp.exp(x)


def from_math_import(x):
    return sin(x) * x + msqrt(x)


# ---------------------------------------------------------------- assignment forms

def unpack(x, y):
    a, b = x + y, x - y
    return a * b


def swap(a, b):
    a, b = b, a
    return a ** 3 + 2.0 * b


def swap_scaled(x, y):
    x, y = y, x * 2.0
    return x * y ** 2


def augmented(x, y):
    s = x
    s += y
    s *= x
    s -= 2.0 * y
    s /= y
    s **= 2
    return s


def reassign(x):
    y = x * 2.0
    y = y * y
    y = y + x
    return y


# ---------------------------------------------------------------- operators

def arith(x, y):
    return (x + y) * (x - y) / (x * y + 1.0)


def floordiv_float(x):
    return x * (x // 1.0)


def floordiv_int(x, n):
    return x * (n // 2)


def unary(x):
    return -x * +x + -(-x)


def pow_int(x):
    return x ** 3


def pow_neg_int(x):
    return x ** -2


def pow_zero(x):
    return x ** 0 + x


def pow_float(x):
    return x ** 2.5


def pow_half(x):
    return x ** 0.5


def pow_var(x, y):
    return x ** y


def pow_int_param(x, n):
    return x ** n


def const_base(x):
    return 2.0 ** x


def const_base_e(x):
    return math.e ** x + 3 ** x


# ---------------------------------------------------------------- constants

def module_constants(x):
    return SCALE * x + OFFSET * x ** 2 + x ** N_CONST


def math_constants(x):
    return math.pi * x ** 2 + math.e * x + np.pi * math.sin(x)


def int_literals(x):
    return 3 * x + 1 / (2 + x)


# ---------------------------------------------------------------- stop_gradient, activity

def stopgrad(x, y):
    return x * stop_gradient(x * y) + y


def stopgrad_square(x):
    return stop_gradient(x) ** 2 + x


def inactive_parts(x, y):
    z = y * 3.0
    w = math.exp(y)
    return x * 2.0 + z + w


def unused_param(x, y):
    return y * y


def int_becomes_float_straight(x):
    s = 0
    s += x
    s += x * x
    return s


def name_clash(x, x_bar):
    y_bar = x * x_bar
    return y_bar + x_bar ** 2 + x


def chained_compare_value(x, y):
    lo = -1.0
    return x * y if lo < x < y else x + 2.0 * y


def with_docstring(x):
    """A docstring is not a string operation."""
    # a comment
    y = x * x  # trailing comment
    pass
    return y * 3.0


def annotated_assign(x: float) -> float:
    y: float = x * 2.0
    return y * x


def with_default(x, c=2.0):
    return c * x * x


def pow_const_negative_base(x):
    return math.pow(x, 3) + x ** 3.0


def div_int(x, n):
    return x / n + n / x


def relu(x):
    return max(0.0, x) + 0.1 * min(0.0, x)


def bool_arith(x):
    mask = x > 0.0
    return mask * x * x + x
