"""Functions whose helpers tests/test_bindings.py rebinds between calls (a notebook cell redefining a helper,
a monkeypatch, a switched activation): each gradient must follow what the function calls now."""
import numpy as np

import _rebound_other as other


def g(x):
    return x ** 2


def f(x):
    return g(x) * 3.0


def two(x, y):
    return g(x) * y


def f_array(x):
    return np.sum(g(x) * x)


ACT = np.tanh


def f_act(x):
    return np.sum(ACT(x))


def f_other(x):
    return other.fn(x) + x


def h(x):
    return x ** 2


def mid(x):
    return h(x) + x


def chain(x):
    return mid(x) * 2.0


def powered(x, n=3):
    return x ** n


def f_defaults(x):
    return powered(x) + 1.0


class Model:
    def __init__(self, w):
        self.w = w

    def act(self, x):
        return x ** 2

    def loss(self, x):
        return self.act(x) * self.w


class Tools:
    @staticmethod
    def helper(x):
        return x ** 2


def f_static(x):
    return Tools.helper(x) + 1.0


def make_closure():
    """`outer` calls `inner` through its closure's cell; `rebind` puts another function in the cell."""
    def inner(x):
        return x ** 2

    def outer(x):
        return inner(x) * 2.0

    def rebind(fn):
        nonlocal inner
        inner = fn
    return outer, rebind
