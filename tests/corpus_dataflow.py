"""Small programs for the tests of the dataflow layer and the passes that ask it (test_dataflow.py).

Plain Python: the compiler reads their source; nothing here is differentiated by hand.
"""
import math

import numpy as np


def loop_index_after(x, n):
    s = 0.0
    for i in range(n):
        s = s + x
    z = x * i
    return s + z


def zero_trip_keeps_old(x):
    c = 1.0
    for i in range(0):
        c = x * 2.0
    return c * x


def one_trip_defines(x):
    c = 1.0
    for i in range(1):
        c = x * 2.0
    return c * x


def carried_and_local(x, n):
    s = 0.0
    for i in range(n):
        t = x * i
        s = s + t
    return s


def branch_join(x, c):
    if c > 0.0:
        y = x * 2.0
    else:
        y = x * 3.0
    return y


def dead_chain(x):
    a = x * 2.0
    b = a + 1.0
    c = b * b
    return x * 3.0


def alias_then_store(x):
    a = np.zeros_like(x)
    b = a
    b[0] = 3.0 * x[0]
    return np.sum(b * x)


def view_then_store(x):
    y = x * 1.0
    v = y[1:]
    s = np.sum(v * x[1:])
    y[0] = 5.0
    return s + np.sum(y)


def invariant_in_loop(x, n):
    s = 0.0
    for i in range(n):
        k = x * 3.0
        s = s + k * i
    return s


def invariant_live_after_maybe_empty_loop(x, n):
    k = 1.0
    s = 0.0
    for i in range(n):
        k = x * 3.0
        s = s + k
    return s + k


def reduction_read_in_chain(z):
    e = np.exp(z)
    p = e / np.sum(e)
    return np.sum(p * z)


def chain_ending_in_sum(w, x):
    return np.sum((w * x - 1.0) ** 2)


def accumulating_loop(w, x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + (w * x[i]) ** 2
    return s


def carried_loop(w, x):
    s = 0.0
    for i in range(x.shape[0]):
        s = 0.9 * s + w * x[i]
    return s * s


def while_with_test_value(x):
    t = 0.0
    while t < math.tanh(x) + 1.0:
        t = t + math.tanh(x) * 0.5 + 0.25
    return t


def copy_then_redefine(x):
    y = x * 2.0
    t = y
    y = x + 1.0
    return t * y


def redefined_in_loop(x, n):
    a = x * 2.0
    s = 0.0
    for i in range(n):
        s = s + a
        a = a + 1.0
    return s


def defined_in_branch(x, c):
    y = 1.0
    if c > 0.0:
        y = x * 3.0
    return y * x
