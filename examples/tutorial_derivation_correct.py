"""The same one-neuron derivation as tutorial_derivation_buggy.py, done right -- and proved.

    z      = w*x + b
    y_hat  = sigmoid(z), clamped to [1e-8, 1 - 1e-8]
    loss   = -(y*log(y_hat) + (1 - y)*log(1 - y_hat))

    dloss/dy_hat = (y_hat - y) / (y_hat*(1 - y_hat))
    dy_hat/dz    = y_hat*(1 - y_hat)
    dloss/dw     = dloss/dy_hat * dy_hat/dz * dz/dw = (y_hat - y)*x
    dloss/db     = dloss/dy_hat * dy_hat/dz * dz/db = y_hat - y

`check_gradient` proves both equal to SymPy's derivative of `loss`, once from a
Python function and once from formula strings that use `loss`'s own local
variable `y_hat`.
Run:  python examples/tutorial_derivation_correct.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from autodiff_compiler.check import check_gradient


def loss(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))


def hand_gradients(w, b, x, y):
    """The chain rule, step by step: returns (dL/dw, dL/db)."""
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    dloss_dy_hat = (y_hat - y) / (y_hat * (1 - y_hat))
    dy_hat_dz = y_hat * (1 - y_hat)
    dz_dw = x
    dz_db = 1
    dL_dw = dloss_dy_hat * dy_hat_dz * dz_dw
    dL_db = dloss_dy_hat * dy_hat_dz * dz_db
    return dL_dw, dL_db


AT = dict(w=1.0, b=0.0, x=6.7, y=0.0)

if __name__ == "__main__":
    print(check_gradient(loss, hand_gradients, wrt=("w", "b"), at=AT))
    print()
    print(check_gradient(loss, {"w": "(y_hat - y)*x", "b": "y_hat - y"}, at=AT))
