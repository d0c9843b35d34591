"""Array workloads for bench_arrays.py (the compiler reads their source)."""
import numpy as np


def logreg_vec(w, b, x, y):
    p = 1.0 / (1.0 + np.exp(-(w * x + b)))
    return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def logreg_loop(w, b, x, y):
    n = x.shape[0]
    s = 0.0
    for i in range(x.shape[0]):
        p = 1.0 / (1.0 + np.exp(-(w * x[i] + b)))
        s += -(y[i] * np.log(p) + (1.0 - y[i]) * np.log(1.0 - p))
    return s / n


def mse_vec(w, b, x, y):
    return np.mean((w * x + b - y) ** 2)


def mse_loop(w, b, x, y):
    n = x.shape[0]
    s = 0.0
    for i in range(x.shape[0]):
        r = w * x[i] + b - y[i]
        s += r * r
    return s / n


def rosenbrock_vec(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rank4_broadcast(Q, v):
    """A rank-4 array with a broadcast operand: compiled at LLVM level 2 (backend/load.py)."""
    return np.sum(np.tanh(Q * v) + Q[:, 0:1] * 0.5)
