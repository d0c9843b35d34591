"""Functions for test_autograd_ideas.py."""
import math

import numpy as np

from autodiff_compiler import custom_derivative, no_grad, stop_gradient


def with_stop(x):
    return x * stop_gradient(x * x)


def all_stopped(x):
    return stop_gradient(x * x) + 0.0 * x


def with_nograd(x):
    with no_grad():
        c = x * x
    return x * c


def chain(x):
    y = x ** 2
    z = 3 * y
    return z + y


def square(x):
    return x * x


def plain_sigmoid(z):
    return 1 / (1 + math.exp(-z))


@custom_derivative("out * (1 - out)")
def my_sigmoid(z):
    return 1 / (1 + math.exp(-z))


def loss_plain(w, x, y):
    p = plain_sigmoid(w * x)
    return (p - y) ** 2


def loss_custom(w, x, y):
    p = my_sigmoid(w * x)
    return (p - y) ** 2


@custom_derivative("3 * x")
def bad_square(x):
    return x * x


def uses_bad(x):
    return bad_square(x) + x


def safe_sqrt(v):
    # torch.where(v > 0, v.sqrt(), 0): sqrt(-1) is NaN on the side not taken, and so is its gradient there
    return np.sum(np.where(v > 0, np.sqrt(v), 0.0))
