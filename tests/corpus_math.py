"""The seed notebooks' computations, written as the tutorials write them (issue 12's --math cases)."""
import math

import numpy as np


def square(x):
    y = x**2
    return y


def sin_of_square(x):
    y = x**2
    z = math.sin(y)
    return z


def polynomial(x):
    y = x**2 + 3*x + 1
    return y


def composite(x, a, b):
    y = a*x**2 + b*x + 1
    z = y**2 + 2*y
    return z


def mean_of_squares(x):
    y = np.mean(x**2)
    return y


def neuron(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    loss = -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))
    return loss


def neuron_clamped(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    loss = -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))
    return loss


def loop_and_branch(x, n):
    s = 0.0
    for i in range(n):
        s = s + math.sin(x * i)
    if s > 0.5:
        s = s * s
    return s
