"""Tutorial functions for the accuracy group, beside the corpus of tests/test_end_to_end.py."""
import math


def neuron(w, b, x, y):
    """The PyTorch tutorial's one neuron, without the clamp."""
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))


def neuron_clamped(w, b, x, y):
    """The same, with the tutorial's clamp to [1e-8, 1 - 1e-8]."""
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def tanh_layer(w, x):
    h = math.tanh(w * x)
    return h * h / (1 + h)


def softmax2(a, b):
    """log of a two-class softmax: the cross-entropy of class a."""
    ea, eb = math.exp(a), math.exp(b)
    return -math.log(ea / (ea + eb))


def ratio(x, y):
    return (x * y) / (x + y)


# (function, wrt, points): the tutorial's point first
FUNCTIONS = [
    # (1.0, 0.0, 27.6, 1.0): confidently right, 1 - y_hat about 1e-12, where y_hat - y loses four digits
    (neuron, ("w", "b"), [(1.0, 0.0, 6.7, 0.0), (0.5, 0.1, 2.0, 1.0), (-1.2, 0.3, -0.7, 1.0), (2.0, -1.0, 1.5, 0.0),
                          (1.0, 0.0, 27.6, 1.0)]),
    (neuron_clamped, ("w", "b"), [(1.0, 0.0, 6.7, 0.0), (0.5, 0.1, 2.0, 1.0), (-1.2, 0.3, -0.7, 1.0),
                                  (2.0, -1.0, 1.5, 0.0), (1.0, 0.0, 16.0, 1.0)]),
    (sigmoid, ("z",), [(0.3,), (-2.0,), (6.7,), (20.0,)]),
    (tanh_layer, ("w",), [(0.5, 1.5), (-1.0, 0.3), (2.0, 2.0)]),
    (softmax2, ("a", "b"), [(0.5, 1.5), (-1.0, 3.0), (6.7, 0.0)]),
    (ratio, ("x", "y"), [(0.5, 1.5), (-1.0, 3.0), (6.7, 0.1)]),
]
