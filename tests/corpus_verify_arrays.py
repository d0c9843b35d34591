"""Functions for test_verify_instances.py and test_verify_programs.py: programs whose gradient
code holds every construct the compiler emits (tapes that grow, tapes preallocated per loop,
stores with = and +=, slices, the fused-loop guard and its broadcasting side, loops that run
zero times, kinks on arrays), plus a fused softmax."""
import math

import numpy as np


def while_tape(x):
    s = x
    while s < 10.0:
        s = s * 1.7 + math.sin(s)
    return s * s


def break_tape(x, n):
    s = x
    for i in range(n):
        s = math.cos(s) * 2.0 + s
        if s > 4.0:
            break
    return s


def slices_and_stores(x):
    y = np.zeros_like(x)
    y[1:] = x[:-1] * x[1:]
    y[0] = x[0] * 2.0
    return np.sum(y * y) + np.sum(x[::2])


def sum_over_data(w, x, y):
    s = 0.0
    for i in range(x.shape[0]):
        r = w * x[i] - y[i]
        s = s + r * r
    return s


def broadcast_pair(x, y):
    return np.sum(np.exp(x) * y + x * x)


def matrix_rows(A, v):
    s = 0.0
    for i in range(A.shape[0]):
        s = s + np.sum(np.tanh(A[i] * v))
    return s


def branches_in_loop(x, n):
    s = 0.0
    for i in range(n):
        if s > 1.0:
            s = s * 0.5 + x
        else:
            s = s + x * x
    return s


def kinks_array(x):
    return np.sum(np.maximum(x, 0.5) * np.abs(x) + np.clip(x, -0.2, 0.6))


def power_loop(x, n):
    s = 1.0
    for i in range(n):
        s = s * x + 0.5
    return s


def cubes_to_n(x, n):
    s = 0.0
    for i in range(n):
        s = s + x[i] ** 3
    return s


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def softmax_sq(z):
    e = np.exp(z - np.max(z))
    p = e / np.sum(e)
    return np.sum(p * p)


def scaled_square(x, n):
    s = x
    for i in range(n):
        s = s * 1.1
    return s * s


def with_intermediate(x):
    y = x * x
    return math.sin(y) + y


def array_intermediate(x, w):
    h = np.tanh(x * w)
    return np.sum(h * h) + w


def extrema_axes(A):
    return np.sum(np.max(A, axis=0)) * np.sum(np.min(A, axis=1)) + np.max(A)


def two_layer_tanh(W1, b1, W2, b2, x):
    """A two-layer tanh network: its gradient and SymPy's derivative group the chain rule's factors
    differently (simplify ran out of time on them; expanding both makes them one)."""
    h = np.tanh(W1 @ x + b1)
    y = np.tanh(W2 @ h + b2)
    return np.sum(y ** 2)


def sliding_window(x):
    """A window that shrinks at the end of the array: the tape of its sines holds arrays of two lengths."""
    a = x * 2.0
    s = 0.5
    for t in range(3):
        w = a[t:t + 2]
        s = s * np.sum(np.sin(w)) + 1.0
    return s
