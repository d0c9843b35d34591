"""Workloads for bench_higher.py (the compiler reads their source): Hessian-vector products, Jacobians
and forward mode."""
import math

import numpy as np


def rosenbrock_vec(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_loop(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        a = x[i + 1] - x[i] * x[i]
        c = 1.0 - x[i]
        s += 100.0 * a * a + c * c
    return s


def recurrence(x, n):
    for i in range(n):
        x = 0.9 * math.sin(x) + 0.1 * math.cos(x)
    return x


def logreg(w, X, y):
    p = 1.0 / (1.0 + np.exp(-np.dot(X, w)))
    return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def exp_residuals(p, t, y):
    return p[0] * np.exp(-p[1] * t) + p[2] - y


def tanh_layer(x, A):
    return np.tanh(np.dot(A, x))
