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


# A @custom_derivative function's value is its body's result as it is: returning its argument, it
# returns that array, as Python's call does (a second name for it, not a copy)
@custom_derivative("1.0")
def same_array(v):
    return v


@custom_derivative("2.0")
def doubled(v):
    return v * 2.0


def written_through_custom_identity(x):
    y = x * 1.0
    z = same_array(y)
    z[0] = 5.0              # changes y too: Python reads 5.0 in y below
    return np.sum(y * x)


def written_through_custom_new_array(x):
    y = x * 1.0
    z = doubled(y)
    z[0] = 5.0              # z is an array of its own: y is unchanged
    return np.sum(y * x) + np.sum(z * z)


def read_through_custom_identity(x):
    y = x * x
    z = same_array(y)
    return np.sum(z * y)


@custom_derivative("out * (1 - out)")
def sigmoid_rule(z):
    return 1 / (1 + np.exp(-z))


def logistic_of_arrays(w, x):
    return np.sum(sigmoid_rule(x * w) * w)


# custom rules of functions reducing their arrays: each partial is of the value's entry with respect to the
# operand's entries aligned with it (a norm's x / out); forward mode gave the tangent of the operand's shape
@custom_derivative("x / out")
def norm_rule(x):
    return np.sqrt(np.sum(x * x))


@custom_derivative("A / out")
def column_norms_rule(A):
    return np.sqrt(np.sum(A * A, axis=0))


@custom_derivative("A / out")
def column_norms_kept_rule(A):
    return np.sqrt(np.sum(A * A, axis=0, keepdims=True))


@custom_derivative("x", "w")
def weighted_sum_rule(w, x):
    return np.sum(w * x)


def norm_cubed(x):
    return norm_rule(x) ** 3 + norm_rule(x * x) * x[0]


def column_norms_loss(A):
    return np.sum(np.sin(column_norms_rule(A)) * (np.arange(A.shape[1]) + 1.0)) + column_norms_rule(A)[0] ** 2


def column_norms_kept_loss(A):
    return np.sum(np.sin(column_norms_kept_rule(A)) * A) + np.max(column_norms_kept_rule(A))


def weighted_sum_loss(w, x):
    return weighted_sum_rule(w, x) ** 2 + weighted_sum_rule(np.tanh(w), x * x)
