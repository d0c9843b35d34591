"""End-to-end corpus: every case x (jit on, off) x (simplifier on, off).

A case is a function from corpus_scalar.py / corpus_control.py, the `wrt` to
ask for, three or more argument points, and an independent reference: a
hand-derived formula (plain Python, compared at rel 1e-9) or None, meaning
central finite differences of the function itself (compared at rel 1e-6).
"""
import inspect
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

import corpus_control as C
import corpus_helpers as H
import corpus_scalar as S
from _reference import assert_close, finite_difference_grad

from autodiff_compiler import grad, value_and_grad

SQRT_PI = math.sqrt(math.pi)


@dataclass
class Case:
    name: str
    func: Callable
    wrt: Any                      # None (first parameter), int, str, or tuple of those
    points: list
    ref: Optional[Callable]       # ref(*args) -> gradient(s) shaped like grad's result, or None for FD
    verify_at: Any = "first"      # args for the verify=True test, "first" point, or None to skip it
    fd_ok: bool = True            # False where finite differences are not the derivative (stop_gradient)

    def wrt_indices(self):
        params = list(inspect.signature(self.func).parameters)
        items = self.wrt if isinstance(self.wrt, tuple) else (0 if self.wrt is None else self.wrt,)
        return tuple(params.index(w) if isinstance(w, str) else w for w in items)

    def grad_kwargs(self):
        return {} if self.wrt is None else {"wrt": self.wrt}

    def expected(self, args):
        if self.ref is not None:
            return self.ref(*args)
        fd = finite_difference_grad(self.func, args, self.wrt_indices())
        return fd if isinstance(self.wrt, tuple) else fd[0]

    @property
    def rel(self):
        return 1e-9 if self.ref is not None else 1e-6

    @property
    def abs_tol(self):
        return 1e-12 if self.ref is not None else 1e-7


def sign(x):
    return 1.0 if x > 0 else -1.0


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def softplus(z):
    return math.log1p(math.exp(z))


# ------------------------------------------------------------------ hand references (plain Python)

def ref_two_stage(a, b, x):
    y = a * x**2 + b * x + 1
    dz_dy = 2 * y + 2
    return (dz_dy * x**2, dz_dy * x, dz_dy * (2 * a * x + b))


def ref_logistic_wb(w, b, x, y):
    y_hat = sigmoid(w * x + b)
    return ((y_hat - y) * x, y_hat - y)


def ref_logistic_all(w, b, x, y):
    y_hat = sigmoid(w * x + b)
    return ((y_hat - y) * x, y_hat - y, (y_hat - y) * w, -(w * x + b))


def ref_augmented(x, y):
    u = x * x / y + x - 2.0
    return (2 * u * (2 * x / y + 1.0), 2 * u * (-x * x / (y * y)))


def ref_arith(x, y):
    n, d = x * x - y * y, x * y + 1.0
    return ((2 * x * d - n * y) / d**2, (-2 * y * d - n * x) / d**2)


def ref_pow(x, y):
    return (y * x ** (y - 1), x ** y * math.log(x))


def ref_chain_primitives(x):
    u = math.sin(2.0 * x)
    return math.exp(u) * math.cos(2.0 * x) * 2.0 * math.log(1.0 + x * x) + math.exp(u) * 2 * x / (1.0 + x * x)


def ref_min_max(x, y):
    return (1.0, 2.0) if x < y else (2.0, 1.0)


def ref_capped(a0, n):
    a, k = a0, 0
    for _ in range(n):
        if a < 20:
            a = a * a
            k += 1
    return 2**k * a0 ** (2**k - 1)


def ref_euler(x0, k, dt, n):
    r = 1.0 - k * dt
    return (r**n, x0 * n * r ** (n - 1) * (-dt) if n > 0 else 0.0)


def _halvings(a):
    k = 0
    while abs(a) > 0.1:
        a = a * 0.5
        k += 1
    return a, k


def ref_halve(a):
    return 0.5 ** _halvings(a)[1]


def ref_halve_sq(a):
    ak, k = _halvings(a)
    return (2 * ak + math.cos(ak)) * 0.5**k


def ref_recurrence(x, n=1000):
    """Hand-written adjoint: forward sweep storing x_i, reverse sweep."""
    xs = []
    for _ in range(n):
        xs.append(x)
        x = math.sin(x) * 0.9 + 0.1 * math.cos(x)
    x_bar = 1.0
    for xi in reversed(xs):
        x_bar = x_bar * (0.9 * math.cos(xi) - 0.1 * math.sin(xi))
    return x_bar


def ref_piecewise(x):
    return 2 * x if x < 1.0 else 2.0 + 1.0 / x


def ref_nested_branches(x, y):
    if x > 0.0:
        return (y, x) if y > 0.0 else (1.0, -1.0)
    if x > -1.0:
        return (2 * x * y, x * x)
    if y > 1.0:
        return (math.exp(x) * y, math.exp(x))
    if y > 0.0:
        return (0.0, 3 * y * y)
    return (-1.0, 0.0)


def ref_cond_expr(x, y):
    m = 2.0 if y > 0.0 else -3.0
    return (m * y, m * x) if x > y else (m, m)


def ref_bool_conditions(x, y):
    if 0.0 < x < 1.0 and not y > 2.0:
        return (y, x)
    if x >= 1.0 or y < -1.0:
        return (1.0, 2 * y)
    return (2 * x, 0.0)


def ref_early_return(x):
    if x > 2.0:
        return 2 * x
    if math.sin(x) < 0.0:
        return -math.cos(x)
    return 3 * math.cos(x)


def _affine_recurrence_derivative(x, s, ds, adds):
    """d/dx of s <- s*x + c over the constants `adds`, with s, ds the start values."""
    for c in adds:
        s, ds = s * x + c, ds * x + s
    return ds


def ref_range_stop(x, n):
    return _affine_recurrence_derivative(x, x, 1.0, [1.0] * n)


def ref_range_start_stop(x, a, b):
    return _affine_recurrence_derivative(x, x, 1.0, list(range(a, b)))


def ref_range_step(x, n):
    return sum(i * x ** (i - 1) for i in range(1, n, 3))


def ref_range_negative_step(x, n):
    return sum(i * i * x ** (i - 1) for i in range(n, 0, -2))


def ref_range_countdown(x, n):
    return _affine_recurrence_derivative(x, 1.0, 0.0, [i * 0.5 for i in range(n - 1, -1, -1)])


def ref_range_expression_bounds(x, n):
    return sum(i * math.cos(x * i) for i in range(2 * n + 1))


def ref_nested_loops(x, n, m):
    dt = _affine_recurrence_derivative(x, x, 1.0, list(range(m)))
    return dt * n * (n + 1) / 2


def ref_loop_break(x, n):
    s, k = x, 0
    for _ in range(n):
        s = s * 1.5
        k += 1
        if s > 10.0:
            break
    return 2 * s * 1.5**k


def ref_loop_continue(x, n):
    return 2 * x * sum(i for i in range(n) if (i // 3) * 3 != i)


def ref_loop_continue_on_value(x, n):
    s, k = x, 0
    for _ in range(n):
        if s > 5.0:
            continue
        s = s * x
        k += 1
    return (k + 1) * x**k


def ref_while_break(x):
    i, s, k = 0, x, 0
    while i < 100:
        s = s * 1.1 + 0.5
        k += 1
        if s > 50.0:
            break
        i = i + 1
    return 1.1**k


def ref_nested_helper_calls(x, y):
    u, v = x * x + 1.0, softplus(y)
    return ((v + math.cos(u)) * 2 * x, u * sigmoid(y))


def ref_helper_with_branch(x):
    def dc(t):
        return 0.1 if t > 1.0 else 1.0
    return dc(x) + 2 * dc(2 * x) - dc(-x)


def ref_helper_with_loop(x, n):
    p = 0.0
    for _ in range(n):
        p = p * x + 1.0
    return p + x * _affine_recurrence_derivative(x, 0.0, 0.0, [1.0] * n)


def ref_helper_in_branch(x):
    if x > 0.0:
        return 3 * x * x + 1.0
    return sigmoid(x) * x + softplus(x)


def ref_poly_eval(x, n):
    return sum((i + 1.0) * i * x ** (i - 1) for i in range(1, n))


def ref_return_inside_loop(x, n):
    s, ds = x, 1.0
    for _ in range(n):
        s, ds = s * 1.5 + 0.1, ds * 1.5
        if s > 10.0:
            return ds * x + s
    return ds


def ref_inner_break_only(x, n, m):
    return 1.2 ** sum(min(i + 1, m) for i in range(n))


def ref_for_in_while(x):
    s, k = x, 0
    while s < 100.0:
        for _ in range(3):
            s = s * 1.1 + 0.2
        k += 1
    return k * 1.1 ** (3 * k)


def ref_long_while(x):
    s, ds = x, 1.0
    for _ in range(100000):
        s, ds = s * 0.99999 + 0.00001 * math.sin(s), ds * (0.99999 + 0.00001 * math.cos(s))
    return ds


def ref_ternary_in_loop(x, n):
    s, ds = x, 1.0
    for _ in range(n):
        if s < 3.0:
            s, ds = s * 2.0, ds * 2.0
        else:
            s, ds = s - 1.0 + 0.1 * s * s, ds * (1.0 + 0.2 * s)
    return ds


def ref_helper_while_in_loop(x, n):
    s, ds = x, 1.0
    for _ in range(n):
        a, k = s * 3.0, 0
        while abs(a) > 1.0:
            a, k = a * 0.5, k + 1
        s, ds = a + 0.1, ds * 3.0 * 0.5 ** k
    return ds


def ref_clipped_in_loop(x, n):
    s, ds = x, 1.0
    for _ in range(n):
        t = s * 1.7
        if t > 1.0:
            s, ds = 1.0 + 0.1 * (t - 1.0), ds * 1.7 * 0.1
        else:
            s, ds = t, ds * 1.7
    return ds


def ref_tuple_returning_helper(x, y):
    r, theta = math.hypot(x, y), math.atan2(y, x)
    return (x * theta / r - y / r, y * theta / r + x / r)


# ------------------------------------------------------------------ the corpus

P_TRIG = [(0.3,), (-2.0,), (5.0,)]
P_UNIT = [(0.3,), (-0.7,), (0.95,)]
P_POS = [(0.3,), (2.0,), (10.0,)]
P_ANY = [(0.3,), (-1.5,), (2.0,)]
P2 = [(1.0, 2.0), (-0.5, -3.0), (2.0, -0.1)]
P_POW = [(2.0, 3.0), (0.5, -1.5), (3.0, 0.7)]
P_MINMAX = [(1.0, 2.0), (3.0, -1.0), (-0.5, 0.5), (2.5, 2.0)]

LOGISTIC_POINTS = [(1.0, 0.0, 6.7, 0.0), (0.5, 0.1, 2.0, 1.0), (-1.2, 0.3, -0.7, 1.0), (2.0, -1.0, 1.5, 0.0)]

SCALAR_CASES = [
    # issue 2's worked examples
    Case("square", S.square, None, [(3.0,), (-1.5,), (0.25,), (0.0,)], lambda x: 2 * x),
    Case("sin_of_square", S.sin_of_square, None, [(4.0,), (-0.3,), (1.7,)], lambda x: 2 * x * math.cos(x * x)),
    Case("poly", S.poly, None, [(2.0,), (-3.5,), (0.1,)], lambda x: 2 * x + 3),
    Case("two_stage", S.two_stage, ("a", "b", "x"), [(2.0, 3.0, 1.0), (-0.5, 1.5, 2.0), (0.3, -2.0, -1.1)],
         ref_two_stage),
    Case("logistic_wb", S.logistic_loss, ("w", "b"), LOGISTIC_POINTS, ref_logistic_wb),
    Case("logistic_all", S.logistic_loss, (0, 1, 2, 3), LOGISTIC_POINTS, ref_logistic_all),
    Case("logistic_clamped", S.logistic_loss, ("w", "b"),
         [(1.0, 0.0, 30.0, 0.0), (1.0, 0.5, 25.0, 0.0), (-2.0, 0.0, 15.0, 1.0)], lambda w, b, x, y: (0.0, 0.0)),
    # math primitives
    Case("p_sin", S.p_sin, None, P_TRIG, math.cos),
    Case("p_cos", S.p_cos, None, P_TRIG, lambda x: -math.sin(x)),
    Case("p_tan", S.p_tan, None, [(0.3,), (-1.0,), (2.0,)], lambda x: 1.0 / math.cos(x) ** 2),
    Case("p_asin", S.p_asin, None, P_UNIT, lambda x: 1.0 / math.sqrt(1 - x * x)),
    Case("p_acos", S.p_acos, None, P_UNIT, lambda x: -1.0 / math.sqrt(1 - x * x)),
    Case("p_atan", S.p_atan, None, [(0.3,), (-4.0,), (10.0,)], lambda x: 1.0 / (1 + x * x)),
    Case("p_atan2", S.p_atan2, (0, 1), P2, lambda y, x: (x / (x * x + y * y), -y / (x * x + y * y))),
    Case("p_sinh", S.p_sinh, None, P_ANY, math.cosh),
    Case("p_cosh", S.p_cosh, None, P_ANY, math.sinh),
    Case("p_tanh", S.p_tanh, None, P_ANY, lambda x: 1 - math.tanh(x) ** 2),
    Case("p_exp", S.p_exp, None, P_ANY, math.exp),
    Case("p_expm1", S.p_expm1, None, P_ANY + [(1e-5,)], math.exp),
    Case("p_log", S.p_log, None, P_POS, lambda x: 1.0 / x),
    Case("p_log1p", S.p_log1p, None, [(0.3,), (-0.5,), (5.0,)], lambda x: 1.0 / (1.0 + x)),
    Case("p_log2", S.p_log2, None, P_POS, lambda x: 1.0 / (x * math.log(2.0))),
    Case("p_log10", S.p_log10, None, P_POS, lambda x: 1.0 / (x * math.log(10.0))),
    Case("p_sqrt", S.p_sqrt, None, [(0.3,), (2.0,), (100.0,)], lambda x: 0.5 / math.sqrt(x)),
    Case("p_hypot", S.p_hypot, (0, 1), [(3.0, 4.0), (-1.0, 0.5), (0.2, -2.0)],
         lambda x, y: (x / math.hypot(x, y), y / math.hypot(x, y))),
    Case("p_pow", S.p_pow, (0, 1), P_POW, ref_pow),
    Case("p_fabs", S.p_fabs, None, P_TRIG, sign),
    Case("p_erf", S.p_erf, None, [(0.3,), (-1.0,), (2.0,)], lambda x: 2.0 / SQRT_PI * math.exp(-x * x)),
    Case("p_erfc", S.p_erfc, None, [(0.3,), (-1.0,), (2.0,)], lambda x: -2.0 / SQRT_PI * math.exp(-x * x)),
    Case("p_abs", S.p_abs, None, [(0.3,), (2.0,), (-1.0,)], lambda x: 3.0 * sign(x - 1.0)),
    Case("p_min_max", S.p_min_max, (0, 1), P_MINMAX, ref_min_max),
    Case("p_min_const", S.p_min_const, None, [(0.3,), (-2.0,), (3.0,)], lambda x: 2 * x if x < 1.0 else 1.0),
    Case("p_float", S.p_float, 0, [(1.5, 3), (-0.5, 2), (2.0, -4)], lambda x, n: n + 2 * x),
    Case("chain_primitives", S.chain_primitives, None, P_ANY, ref_chain_primitives),
    # numpy scalar forms
    Case("np_sin", S.np_sin, None, P_TRIG, math.cos),
    Case("np_cos", S.np_cos, None, P_TRIG, lambda x: -math.sin(x)),
    Case("np_tan", S.np_tan, None, [(0.3,), (-1.0,), (2.0,)], lambda x: 1.0 / math.cos(x) ** 2),
    Case("np_arcsin", S.np_arcsin, None, P_UNIT, lambda x: 1.0 / math.sqrt(1 - x * x)),
    Case("np_arccos", S.np_arccos, None, P_UNIT, lambda x: -1.0 / math.sqrt(1 - x * x)),
    Case("np_arctan", S.np_arctan, None, [(0.3,), (-4.0,), (10.0,)], lambda x: 1.0 / (1 + x * x)),
    Case("np_arctan2", S.np_arctan2, (0, 1), P2, lambda y, x: (x / (x * x + y * y), -y / (x * x + y * y))),
    Case("np_sinh", S.np_sinh, None, P_ANY, math.cosh),
    Case("np_cosh", S.np_cosh, None, P_ANY, math.sinh),
    Case("np_tanh", S.np_tanh, None, P_ANY, lambda x: 1 - math.tanh(x) ** 2),
    Case("np_exp", S.np_exp, None, P_ANY, math.exp),
    Case("np_expm1", S.np_expm1, None, P_ANY, math.exp),
    Case("np_log", S.np_log, None, P_POS, lambda x: 1.0 / x),
    Case("np_log1p", S.np_log1p, None, [(0.3,), (-0.5,), (5.0,)], lambda x: 1.0 / (1.0 + x)),
    Case("np_log2", S.np_log2, None, P_POS, lambda x: 1.0 / (x * math.log(2.0))),
    Case("np_log10", S.np_log10, None, P_POS, lambda x: 1.0 / (x * math.log(10.0))),
    Case("np_sqrt", S.np_sqrt, None, [(0.3,), (2.0,), (100.0,)], lambda x: 0.5 / math.sqrt(x)),
    Case("np_hypot", S.np_hypot, (0, 1), [(3.0, 4.0), (-1.0, 0.5), (0.2, -2.0)],
         lambda x, y: (x / math.hypot(x, y), y / math.hypot(x, y))),
    Case("np_power", S.np_power, (0, 1), P_POW, ref_pow),
    Case("np_fabs", S.np_fabs, None, P_TRIG, sign),
    Case("np_abs", S.np_abs, None, P_TRIG, sign),
    Case("np_minimum_maximum", S.np_minimum_maximum, (0, 1), P_MINMAX, ref_min_max),
    Case("alias_xp", S.alias_xp, None, P_ANY, lambda x: math.exp(x) * (math.cos(x) + math.sin(x))),
    Case("from_math_import", S.from_math_import, None, P_POS,
         lambda x: math.cos(x) * x + math.sin(x) + 0.5 / math.sqrt(x)),
    # assignment forms
    Case("unpack", S.unpack, (0, 1), P2, lambda x, y: (2 * x, -2 * y)),
    Case("swap", S.swap, ("a", "b"), P2, lambda a, b: (2.0, 3 * b * b)),
    Case("swap_scaled", S.swap_scaled, ("x", "y"), P2, lambda x, y: (8 * x * y, 4 * x * x)),
    Case("augmented", S.augmented, ("x", "y"), [(1.0, 2.0), (0.5, -3.0), (-2.0, 1.5)], ref_augmented),
    Case("reassign", S.reassign, None, P_ANY, lambda x: 8 * x + 1),
    # operators
    Case("arith", S.arith, ("x", "y"), [(1.0, 2.0), (0.5, -0.3), (-2.0, 1.5)], ref_arith),
    Case("floordiv_float", S.floordiv_float, None, [(2.5,), (-1.3,), (7.7,)], lambda x: float(math.floor(x))),
    Case("floordiv_int", S.floordiv_int, 0, [(1.5, 5), (2.0, -3), (0.5, 4)], lambda x, n: float(n // 2)),
    Case("unary", S.unary, None, P_ANY, lambda x: -2 * x + 1),
    Case("pow_int", S.pow_int, None, P_ANY + [(0.0,)], lambda x: 3 * x * x),
    Case("pow_neg_int", S.pow_neg_int, None, [(0.5,), (-1.5,), (3.0,)], lambda x: -2 * x ** -3),
    Case("pow_zero", S.pow_zero, None, [(0.5,), (-2.0,), (3.0,)], lambda x: 1.0),
    Case("pow_float", S.pow_float, None, P_POS + [(0.0,)], lambda x: 2.5 * x ** 1.5),
    Case("pow_half", S.pow_half, None, P_POS, lambda x: 0.5 * x ** -0.5),
    Case("pow_var", S.pow_var, (0, 1), P_POW, ref_pow),
    Case("pow_int_param", S.pow_int_param, 0, [(1.5, 3), (-0.7, 4), (2.0, 1), (2.0, 0), (1.5, -2)],
         lambda x, n: n * x ** (n - 1)),
    Case("const_base", S.const_base, None, P_ANY, lambda x: 2.0 ** x * math.log(2.0)),
    Case("const_base_e", S.const_base_e, None, P_ANY, lambda x: math.exp(x) + 3.0 ** x * math.log(3.0)),
    # constants
    Case("module_constants", S.module_constants, None, P_ANY, lambda x: 2.5 - 1.5 * x + 3 * x * x),
    Case("math_constants", S.math_constants, None, P_ANY,
         lambda x: 2 * math.pi * x + math.e + math.pi * math.cos(x)),
    Case("int_literals", S.int_literals, None, P_ANY, lambda x: 3 - 1 / (2 + x) ** 2),
    # stop_gradient, activity, int -> float
    Case("stopgrad", S.stopgrad, (0, 1), P2, lambda x, y: (x * y, 1.0), fd_ok=False),
    Case("stopgrad_square", S.stopgrad_square, None, P_ANY, lambda x: 1.0, fd_ok=False),
    Case("inactive_parts", S.inactive_parts, "x", P2, lambda x, y: 2.0),
    Case("unused_param", S.unused_param, "x", P2, lambda x, y: 0.0),
    Case("unused_param_both", S.unused_param, ("x", "y"), P2, lambda x, y: (0.0, 2 * y)),
    Case("int_becomes_float_straight", S.int_becomes_float_straight, None, P_ANY, lambda x: 1 + 2 * x),
    Case("with_docstring", S.with_docstring, None, P_ANY, lambda x: 6 * x),
    Case("annotated_assign", S.annotated_assign, None, P_ANY, lambda x: 4 * x),
    Case("with_default", S.with_default, None, [(1.5,), (-0.5,), (2.0,)], lambda x: 4 * x),
    Case("pow_const_negative_base", S.pow_const_negative_base, None, [(-2.0,), (1.5,), (-0.5,)],
         lambda x: 6 * x * x),
    Case("div_int", S.div_int, "x", [(1.5, 3), (-0.5, 2), (2.0, -4)], lambda x, n: 1 / n - n / x ** 2),
    Case("relu", S.relu, None, [(1.5,), (-0.5,), (2.0,), (-3.0,)], lambda x: 1.0 if x > 0 else 0.1),
    Case("bool_arith", S.bool_arith, None, [(1.5,), (-0.5,), (2.0,)], lambda x: 2 * x + 1 if x > 0 else 1.0),
    Case("chained_compare_value", S.chained_compare_value, ("x", "y"), [(0.5, 2.0), (3.0, 1.0), (-2.0, 1.0)],
         lambda x, y: (y, x) if -1.0 < x < y else (1.0, 2.0)),
]

CONTROL_CASES = [
    # issue 3's reference cases
    Case("repeated_square", C.repeated_square, "a", [(1.1, 3), (0.9, 4), (-1.05, 2), (1.01, 5)],
         lambda a, n: 2**n * a ** (2**n - 1)),
    Case("repeated_square_capped", C.repeated_square_capped, "a", [(1.5, 5), (3.0, 4), (1.1, 3), (-2.0, 4)],
         ref_capped),
    Case("euler_decay", C.euler_decay, ("x0", "k"),
         [(1.0, 0.5, 0.01, 100), (2.5, 1.3, 0.05, 10), (-0.7, 2.0, 0.001, 1000), (1.0, 0.5, 0.1, 0)],
         ref_euler, verify_at=(2.5, 1.3, 0.05, 10)),
    Case("pendulum_energy", C.pendulum_energy, ("theta0", "omega0", "g"),
         [(0.3, 0.0, 9.81, 200), (1.0, 0.5, 9.81, 200), (-0.5, 1.2, 3.7, 200)], None,
         verify_at=(0.3, 0.0, 9.81, 4)),
    Case("halve_until_small", C.halve_until_small, None, [(3.0,), (-7.3,), (0.05,), (0.7,), (1e30,)], ref_halve),
    Case("halve_until_small_sq", C.halve_until_small_sq, None, [(3.0,), (-7.3,), (0.05,), (0.7,)],
         ref_halve_sq),
    Case("recurrence", C.recurrence, "x", [(0.3, 1000), (-1.2, 1000), (2.0, 1000), (0.5, 0)],
         ref_recurrence, verify_at=(0.3, 5)),
    Case("recurrence_1000", C.recurrence_1000, None, [(0.3,), (-1.2,), (2.0,)], ref_recurrence,
         verify_at=None),
    Case("piecewise", C.piecewise, None, [(0.5,), (-2.0,), (1.5,), (3.0,)], ref_piecewise),
    # branches
    Case("nested_branches", C.nested_branches, ("x", "y"),
         [(1.0, 2.0), (1.0, -2.0), (-0.5, 3.0), (-2.0, 2.0), (-2.0, 0.5), (-2.0, -1.0)], ref_nested_branches),
    Case("branch_defines", C.branch_defines, None, [(1.5,), (-2.0,), (0.5,), (-0.3,)],
         lambda x: 6.0 if x > 0.0 else 15 * x * x),
    Case("branch_without_else", C.branch_without_else, None, [(2.0,), (0.5,), (-1.0,)],
         lambda x: 4 * x + 1 if x > 1.0 else 3.0),
    Case("cond_expr", C.cond_expr, ("x", "y"), [(2.0, 1.0), (1.0, 2.0), (0.5, -1.0), (-2.0, -1.0)],
         ref_cond_expr),
    Case("bool_conditions", C.bool_conditions, ("x", "y"),
         [(0.5, 1.0), (0.5, 3.0), (2.0, 0.5), (-0.5, -2.0), (-0.5, 0.0)], ref_bool_conditions),
    Case("early_return", C.early_return, None, [(3.0,), (1.0,), (-1.0,), (1.9,)], ref_early_return),
    Case("branch_on_int", C.branch_on_int, "x", [(1.5, 3), (1.5, 1), (-0.5, 5)],
         lambda x, n: 3 * x * x if n > 2 else math.cos(x)),
    # loops
    Case("range_stop", C.range_stop, "x", [(0.9, 5), (1.2, 1), (-0.5, 3)], ref_range_stop),
    Case("range_start_stop", C.range_start_stop, "x", [(0.9, 2, 6), (1.1, -3, 2), (0.5, 4, 4), (-0.8, 0, 5)],
         ref_range_start_stop),
    Case("range_step", C.range_step, "x", [(0.9, 10), (1.2, 2), (-0.7, 8)], ref_range_step),
    Case("range_negative_step", C.range_negative_step, "x", [(0.9, 7), (1.1, 6), (-0.8, 5), (0.5, 0)],
         ref_range_negative_step),
    Case("range_countdown", C.range_countdown, "x", [(0.9, 5), (1.3, 3), (-0.6, 6)], ref_range_countdown),
    Case("range_expression_bounds", C.range_expression_bounds, "x", [(0.3, 2), (1.1, 4), (-0.7, 0)],
         ref_range_expression_bounds),
    Case("loop_index_arith", C.loop_index_arith, "x", [(0.5, 4), (-1.5, 7), (2.0, 1)],
         lambda x, n: n * (n - 1) / 2 + x * n * (n + 1)),
    Case("nested_loops", C.nested_loops, "x", [(0.9, 3, 4), (1.1, 2, 0), (-0.5, 4, 3), (0.7, 0, 3)],
         ref_nested_loops),
    Case("nested_carried", C.nested_carried, ("x", "y"), [(0.5, 0.3, 4, 6), (1.2, -0.4, 3, 3), (-0.8, 1.5, 5, 4)],
         None, verify_at=(0.5, 0.3, 2, 3)),
    Case("loop_break", C.loop_break, "x", [(1.0, 10), (0.5, 3), (-2.0, 5), (20.0, 4)], ref_loop_break),
    Case("loop_continue", C.loop_continue, "x", [(0.5, 7), (-1.5, 10), (2.0, 2)], ref_loop_continue),
    Case("loop_continue_on_value", C.loop_continue_on_value, "x", [(1.5, 10), (0.5, 4), (3.0, 5), (-3.0, 5)],
         ref_loop_continue_on_value),
    Case("while_counter", C.while_counter, "x", [(0.9, 5), (1.2, 0), (-0.5, 3)], ref_range_stop),
    Case("while_break", C.while_break, None, [(1.0,), (10.0,), (-3.0,), (60.0,)], ref_while_break,
         verify_at=(60.0,)),
    Case("zero_iterations", C.zero_iterations, "x", [(1.5, 0), (-2.0, 0), (0.5, 0)], lambda x, n: 2.0),
    Case("empty_range_literal", C.empty_range_literal, None, P_ANY, lambda x: 3.0),
    Case("int_becomes_float", C.int_becomes_float, "x", [(1.5, 4), (-0.5, 1), (2.0, 7)],
         lambda x, n: n * (n - 1) / 2),
    # the user's own functions
    Case("same_helper_twice", C.same_helper_twice, None, P_ANY, lambda x: 22 * x),
    Case("nested_helper_calls", C.nested_helper_calls, ("x", "y"), P2, ref_nested_helper_calls),
    Case("imported_helpers", C.imported_helpers, None, P_ANY,
         lambda x: sigmoid(x) + x + 0.9 + 0.1 * math.cos(x)),
    Case("module_attribute_helper", C.module_attribute_helper, None, P_ANY, lambda x: 2 * sigmoid(x)),
    Case("helper_with_branch", C.helper_with_branch, None, [(0.3,), (0.8,), (2.0,), (-2.0,)],
         ref_helper_with_branch),
    Case("helper_with_loop", C.helper_with_loop, "x", [(0.9, 5), (1.2, 0), (-0.5, 3)], ref_helper_with_loop),
    Case("helpers_in_loop", C.helpers_in_loop, "x", [(0.7, 5), (2.0, 3), (-1.0, 4)], None,
         verify_at=(0.7, 2)),
    Case("helper_in_branch", C.helper_in_branch, None, [(1.5,), (-0.5,), (0.2,), (-2.0,)], ref_helper_in_branch),
    Case("shadowing", C.shadowing, None, P_ANY, lambda x: 4 * x + 1),
    Case("helper_mutates_parameter", C.helper_mutates_parameter, None, P_ANY, lambda x: 2 * (x + 1) + 1),
    Case("helper_while_in_loop", C.helper_while_in_loop, "x", [(0.7, 4), (2.0, 3), (-1.5, 5)],
         ref_helper_while_in_loop),
    Case("clipped_in_loop", C.clipped_in_loop, "x", [(0.3, 4), (2.0, 3), (-1.0, 5)], ref_clipped_in_loop),
    Case("helper_keyword_call", C.helper_keyword_call, None, P_ANY, lambda x: 5 * x),
    Case("tuple_returning_helper", C.tuple_returning_helper, ("x", "y"), P2, ref_tuple_returning_helper),
    # more loop shapes
    Case("poly_eval_at_zero", C.poly_eval, "x", [(0.0, 5), (0.5, 4), (-1.3, 6), (0.0, 1)], ref_poly_eval),
    Case("return_inside_loop", C.return_inside_loop, "x", [(1.0, 10), (0.2, 3), (5.0, 4), (-1.0, 5)],
         ref_return_inside_loop),
    Case("inner_break_only", C.inner_break_only, "x", [(1.0, 4, 3), (0.5, 3, 5), (-2.0, 5, 2), (1.0, 3, 0)],
         ref_inner_break_only),
    Case("while_in_for", C.while_in_for, "x", [(0.5, 5), (1.2, 4), (-0.3, 6)], None),
    Case("for_in_while", C.for_in_while, None, [(1.0,), (50.0,), (0.3,), (150.0,)], ref_for_in_while),
    Case("long_while", C.long_while, None, [(0.5,), (-2.0,), (3.0,)], ref_long_while, verify_at=None),
    Case("bool_param", C.bool_param, "x", [(1.5, True), (1.5, False), (-2.0, True)],
         lambda x, flag: 2 * x if flag else -1.0),
    Case("step_param", C.step_param, "x", [(1.0, 5, -2), (0.7, -3, 2), (-0.5, 4, -3)],
         lambda x, n, k: float(sum(i + 2 * x for i in range(n, -n, k)))),
    Case("loop_variable_after_loop", C.loop_variable_after_loop, "x", [(0.5, 4), (1.2, 0), (-0.8, 3)], None),
    Case("ternary_in_loop", C.ternary_in_loop, "x", [(1.0, 6), (0.3, 4), (5.0, 3), (-1.0, 3)], ref_ternary_in_loop),
]

CASES = SCALAR_CASES + CONTROL_CASES

_names = [c.name for c in CASES]
assert len(_names) == len(set(_names)), "case names must be unique"
assert all(len(c.points) >= 3 for c in CASES), "every case needs at least three points"


def _check_case(case, g, result_of=lambda r: r):
    for args in case.points:
        got = result_of(g(*args))
        assert_close(got, case.expected(args), rel=case.rel, abs_tol=case.abs_tol,
                     what=f"{case.name}{args}")


@pytest.mark.parametrize("simplify", [True, False], ids=["simplify", "nosimplify"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gradient(case, jit, simplify):
    g = grad(case.func, jit=jit, simplify=simplify, **case.grad_kwargs())
    _check_case(case, g)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_value_and_grad(case):
    vg = value_and_grad(case.func, jit=False, **case.grad_kwargs())
    for args in case.points:
        value, gradient = vg(*args)
        assert_close(value, case.func(*args), rel=1e-12, abs_tol=1e-12, what=f"{case.name}{args} value")
        assert_close(gradient, case.expected(args), rel=case.rel, abs_tol=case.abs_tol,
                     what=f"{case.name}{args} gradient")


VERIFY_CASES = [c for c in CASES if c.verify_at is not None]


@pytest.mark.parametrize("case", VERIFY_CASES, ids=[c.name for c in VERIFY_CASES])
def test_verify(case):
    """verify=True proves the gradient against SymPy on the first call and returns it."""
    args = case.points[0] if case.verify_at == "first" else case.verify_at
    g = grad(case.func, jit=False, verify=True, **case.grad_kwargs())
    assert_close(g(*args), case.expected(args), rel=case.rel, abs_tol=case.abs_tol, what=f"{case.name}{args}")


# ------------------------------------------------------------------ issue 2's numbers, literally

@pytest.mark.parametrize("simplify", [True, False], ids=["simplify", "nosimplify"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_issue2_worked_examples(jit, simplify):
    kw = dict(jit=jit, simplify=simplify)
    assert grad(S.square, **kw)(3.0) == pytest.approx(6.0, rel=1e-12)
    assert grad(S.sin_of_square, **kw)(4.0) == pytest.approx(-7.661275842587077, rel=1e-12)
    assert grad(S.poly, **kw)(2.0) == pytest.approx(7.0, rel=1e-12)
    da, db, dx = grad(S.two_stage, wrt=("a", "b", "x"), **kw)(2.0, 3.0, 1.0)
    assert (da, db, dx) == (pytest.approx(14.0), pytest.approx(14.0), pytest.approx(98.0))
    dw, dbias = grad(S.logistic_loss, wrt=("w", "b"), **kw)(1.0, 0.0, 6.7, 0.0)
    assert dw == pytest.approx(6.691763029237442, rel=1e-9)
    assert dbias == pytest.approx(0.9987706013787226, rel=1e-9)
    value, dw_only = value_and_grad(S.logistic_loss, wrt="w", **kw)(1.0, 0.0, 6.7, 0.0)
    assert value == pytest.approx(6.701230154951767, rel=1e-12)
    assert round(value, 4) == 6.7012 and round(dw_only, 4) == 6.6918 and round(dbias, 4) == 0.9988
    assert dw_only == pytest.approx(dw, rel=1e-12)


def _forward_difference(f, args, index, h=1e-7):
    up = list(args)
    up[index] = args[index] + h
    return (f(*up) - f(*args)) / h


def test_reference_helpers_self_check():
    """The hand references agree with finite differences (guards against typos in the references)."""
    for case in CASES:
        if case.ref is None or not case.fd_ok:
            continue
        for args in case.points:
            try:
                fd = finite_difference_grad(case.func, args, case.wrt_indices())
                [float(d) for d in fd]
            except (TypeError, ValueError, ZeroDivisionError):     # at the edge of the domain: one-sided
                fd = tuple(_forward_difference(case.func, args, i) for i in case.wrt_indices())
            ref = case.ref(*args)
            ref = ref if isinstance(ref, tuple) else (ref,)
            for r, d in zip(ref, fd):
                assert math.isclose(r, d, rel_tol=1e-5, abs_tol=1e-6), (case.name, args, ref, fd)


@pytest.mark.skipif(os.environ.get("NUMBA_OPT") == "3", reason="the suite itself runs at the users' level")
def test_the_corpus_at_the_users_optimisation_level(subprocess_env):
    """The suite compiles at Numba's level 0 (conftest.py: compile time); users' gradients compile at
    level 3.  This file's corpus (every case, jit on and off, simplify on and off, its references)
    runs once more, in a child process at level 3, so that nothing only LLVM's full optimisation shows
    (reads of memory never written, say) goes unseen: its compiled tests (the interpreted ones and
    SymPy's proofs do not depend on the level) with the simplifier on, the users' default."""
    env = dict(subprocess_env, NUMBA_OPT="3")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                             os.path.abspath(__file__), "-k",
                             "not users_optimisation_level and not nojit and not nosimplify and not test_verify"
                             " and not test_value_and_grad and not reference_helpers"],
                            env=env, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__))))
    tail = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and " failed" not in result.stdout, tail
