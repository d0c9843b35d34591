"""A hand derivation from a PyTorch autograd tutorial, checked by the compiler -- and found wrong.

The tutorial trains one neuron (a sigmoid and binary cross-entropy) and derives
the gradient by hand with the chain rule before calling `loss.backward()`:

    dloss_dy_pred = (y_pred - y) / (1 - y_pred)          # should be / (y_pred * (1 - y_pred))
    dL_dw = dloss_dy_pred * dy_pred_dz + dz_dw           # should be * dz_dw
    dL_db = dloss_dy_pred * dy_pred_dz + dz_db           # should be * dz_db

Two mistakes: a missing factor y_pred in the denominator, and `+` where the
chain rule multiplies.  `check_gradient` proves the compiler's gradient equal
to SymPy's derivative and shows where the hand derivation departs from it.
Run:  python examples/tutorial_derivation_buggy.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from autodiff_compiler.check import check_gradient


def loss(w, b, x, y):
    z = w*x + b
    y_pred = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_pred = min(max(y_pred, eps), 1 - eps)
    return -(y*math.log(y_pred) + (1 - y)*math.log(1 - y_pred))


def hand_gradients(w, b, x, y):
    """The tutorial's derivation, mistakes included: returns (dL/dw, dL/db)."""
    z = w*x + b
    y_pred = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_pred = min(max(y_pred, eps), 1 - eps)
    dloss_dy_pred = (y_pred - y) / (1 - y_pred)
    dy_pred_dz = y_pred * (1 - y_pred)
    dz_dw = x
    dz_db = 1
    dL_dw = dloss_dy_pred * dy_pred_dz + dz_dw
    dL_db = dloss_dy_pred * dy_pred_dz + dz_db
    return dL_dw, dL_db


if __name__ == "__main__":
    report = check_gradient(loss, hand_gradients, wrt=("w", "b"), at=dict(w=1.0, b=0.0, x=6.7, y=0.0))
    print(report)
    sys.exit(0 if not report.ok else 1) if "--exit-status" in sys.argv else None
