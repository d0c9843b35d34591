"""Functions whose helper tests/test_threads.py rebinds while other threads call their gradients."""
import numpy as np


def sq(x):
    return x * x


def cube(x):
    return x * x * x


helper = sq


def fs(x):
    return helper(x) + 1.0


def fa(x):
    return np.sum(helper(x))
