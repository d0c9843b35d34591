"""Functions with branches, loops and calls for the end-to-end tests (issue 3).

Ordinary Python that runs as is; the references live in test_end_to_end.py.
"""
import math

import corpus_helpers
from corpus_helpers import clipped, damped, poly_loop, scaled_sq, softplus


# ---------------------------------------------------------------- issue 3's reference cases

def repeated_square(a, n):
    for i in range(n):
        a = a * a
    return a


def repeated_square_capped(a, n):
    for i in range(n):
        if a < 20:
            a = a * a
    return a


def euler_decay(x0, k, dt, n):
    x = x0
    for i in range(n):
        x = x - dt * k * x
    return x


def pendulum_energy(theta0, omega0, g, n):
    dt = 0.01
    length = 1.0
    theta = theta0
    omega = omega0
    for i in range(n):
        omega = omega - dt * (g / length) * math.sin(theta)
        theta = theta + dt * omega
    return 0.5 * length * length * omega ** 2 + g * length * (1.0 - math.cos(theta))


def halve_until_small(a):
    while abs(a) > 0.1:
        a = a * 0.5
    return a


def halve_until_small_sq(a):
    while abs(a) > 0.1:
        a = a * 0.5
    return a * a + math.sin(a)


def recurrence(x, n):
    for i in range(n):
        x = math.sin(x) * 0.9 + 0.1 * math.cos(x)
    return x


def recurrence_1000(x):
    for i in range(1000):
        x = math.sin(x) * 0.9 + 0.1 * math.cos(x)
    return x


def piecewise(x):
    if x < 1.0:
        y = x * x
    else:
        y = 2.0 * x - 1.0 + math.log(x)
    return y


# ---------------------------------------------------------------- branches

def nested_branches(x, y):
    if x > 0.0:
        if y > 0.0:
            z = x * y
        else:
            z = x - y
    elif x > -1.0:
        z = x * x * y
    else:
        if y > 1.0:
            z = math.exp(x) * y
        elif y > 0.0:
            z = y ** 3
        else:
            z = -x
    return z


def branch_defines(x):
    if x > 0.0:
        a = x * 2.0
        b = 3.0
    else:
        a = x ** 2
        c = 5.0
        b = c * x
    return a * b


def branch_without_else(x):
    y = x * 2.0
    if x > 1.0:
        y = y * x
    return y + x


def cond_expr(x, y):
    z = x * y if x > y else x + y
    return z * (2.0 if y > 0.0 else -3.0)


def bool_conditions(x, y):
    if 0.0 < x < 1.0 and not y > 2.0:
        r = x * y
    elif x >= 1.0 or y < -1.0:
        r = x + y * y
    else:
        r = x * x
    return r


def early_return(x):
    if x > 2.0:
        return x * x
    y = math.sin(x)
    if y < 0.0:
        return -y
    return y * 3.0


def branch_on_int(x, n):
    if n > 2:
        y = x ** 3
    else:
        y = math.sin(x)
    return y


# ---------------------------------------------------------------- loops

def range_stop(x, n):
    s = x
    for i in range(n):
        s = s * x + 1.0
    return s


def range_start_stop(x, a, b):
    s = x
    for i in range(a, b):
        s = s * x + i
    return s


def range_step(x, n):
    s = 0.0
    for i in range(1, n, 3):
        s = s + x ** i
    return s


def range_negative_step(x, n):
    s = 0.0
    for i in range(n, 0, -2):
        s = s + i * x ** i
    return s


def range_countdown(x, n):
    s = 1.0
    for i in range(n - 1, -1, -1):
        s = s * x + i * 0.5
    return s


def range_expression_bounds(x, n):
    s = 0.0
    for i in range(2 * n + 1):
        s = s + math.sin(x * i)
    return s


def loop_index_arith(x, n):
    s = 0.0
    for i in range(n):
        s = s + x * i + (i + 1) * x * x
    return s


def nested_loops(x, n, m):
    s = 0.0
    for i in range(n):
        t = x
        for j in range(m):
            t = t * x + j
        s = s + t * (i + 1)
    return s


def nested_carried(x, y, n, m):
    for i in range(n):
        for j in range(i, m):
            x = x * 0.9 + y * math.sin(x) * 0.1
        y = y + 0.1 * x
    return x * y


def loop_break(x, n):
    s = x
    for i in range(n):
        s = s * 1.5
        if s > 10.0:
            break
    return s * s


def loop_continue(x, n):
    s = 0.0
    for i in range(n):
        if (i // 3) * 3 == i:
            continue
        s = s + x * x * i
    return s


def loop_continue_on_value(x, n):
    s = x
    for i in range(n):
        if s > 5.0:
            continue
        s = s * x
    return s


def while_counter(x, n):
    i = 0
    s = x
    while i < n:
        s = s * x + 1.0
        i += 1
    return s


def while_break(x):
    i = 0
    s = x
    while i < 100:
        s = s * 1.1 + 0.5
        if s > 50.0:
            break
        i = i + 1
    return s


def zero_iterations(x, n):
    s = x * 2.0
    for i in range(n):
        s = s * x
    return s


def empty_range_literal(x):
    s = x * 3.0
    for i in range(5, 2):
        s = s * x
    return s


def int_becomes_float(x, n):
    s = 0
    for i in range(n):
        s += x * i
    return s


# ---------------------------------------------------------------- user helpers

def local_helper(x, y):
    return x * y + math.sin(x)


def inner(x):
    return x * x + 1.0


def same_helper_twice(x):
    return inner(x) * 2.0 + inner(x * 3.0)


def nested_helper_calls(x, y):
    return local_helper(inner(x), softplus(y))


def imported_helpers(x):
    return softplus(x) + scaled_sq(x, 0.5) + damped(x)


def module_attribute_helper(x):
    return corpus_helpers.softplus(x) * 2.0


def helper_with_branch(x):
    return clipped(x) + clipped(2.0 * x) + clipped(-x)


def helper_with_loop(x, n):
    return poly_loop(x, n) * x


def helpers_in_loop(x, n):
    s = x
    for i in range(n):
        s = local_helper(s * 0.5, 0.3)
        if s > 0.5:
            s = softplus(s) - 0.5
        else:
            s = scaled_sq(s, 0.9) + damped(s)
    return s


def helper_in_branch(x):
    if x > 0.0:
        y = inner(x)
    else:
        y = softplus(x)
    return y * x


# ---------------------------------------------------------------- more loop shapes

def poly_eval(x, n):
    s = 0.0
    for i in range(n):
        s = s + (i + 1.0) * x ** i
    return s


def return_inside_loop(x, n):
    s = x
    for i in range(n):
        s = s * 1.5 + 0.1
        if s > 10.0:
            return s * x
    return s


def inner_break_only(x, n, m):
    s = x
    for i in range(n):
        for j in range(m):
            s = s * 1.2
            if j >= i:
                break
        s = s + 0.5
    return s


def while_in_for(x, n):
    s = x
    for i in range(n):
        t = 0
        while t < i:
            s = s * 0.9 + 0.05 * s * s
            t += 1
    return s


def for_in_while(x):
    s = x
    k = 0
    while s < 100.0:
        for j in range(3):
            s = s * 1.1 + 0.2
        k = k + 1
    return s * k


def long_while(x):
    i = 0
    s = x
    while i < 100000:
        s = s * 0.99999 + 0.00001 * math.sin(s)
        i += 1
    return s


def bool_param(x, flag):
    if flag:
        y = x * x
    else:
        y = -x
    return y


def step_param(x, n, k):
    s = 0.0
    for i in range(n, -n, k):
        s = s + x * i + x * x
    return s


def loop_variable_after_loop(x, n):
    s = x
    t = 0.0
    for i in range(n):
        t = s * i
        s = s + t * 0.1
    return s + t * x


def ternary_in_loop(x, n):
    s = x
    for i in range(n):
        s = s * 2.0 if s < 3.0 else s - 1.0 + 0.1 * s * s
    return s


# ---------------------------------------------------------------- helpers: scoping and calling conventions

def acc(x):
    s = x * 2.0
    return s + 1.0


def bump(x):
    x = x + 1.0
    return x * x


def shrink(a):
    while abs(a) > 1.0:
        a = a * 0.5
    return a


def polar(x, y):
    r = math.sqrt(x * x + y * y)
    return r, math.atan2(y, x)


def shadowing(x):
    s = x
    s = acc(s) * s
    return s


def helper_mutates_parameter(x):
    y = bump(x)
    return y + x


def helper_while_in_loop(x, n):
    s = x
    for i in range(n):
        s = shrink(s * 3.0) + 0.1
    return s


def clipped_in_loop(x, n):
    s = x
    for i in range(n):
        s = clipped(s * 1.7)
    return s


def helper_keyword_call(x):
    return scaled_sq(x, c=0.5) + scaled_sq(c=2.0, x=x)


def tuple_returning_helper(x, y):
    r, theta = polar(x, y)
    return r * theta
