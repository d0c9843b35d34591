"""One neuron with a sigmoid and binary cross-entropy: the PyTorch tutorial's
"single perceptron", with the gradient written by the compiler instead of
`loss.backward()`.

    z     = w*x + b
    y_hat = sigmoid(z), clamped to [1e-8, 1 - 1e-8] so that log() stays finite
    loss  = -(y*log(y_hat) + (1 - y)*log(1 - y_hat))

By hand: dloss/dy_hat * dy_hat/dz = (y_hat - y) / (y_hat*(1 - y_hat)) * y_hat*(1 - y_hat)
= y_hat - y, so dloss/dw = (y_hat - y)*x and dloss/db = y_hat - y.
"""
import math

from autodiff_compiler import value_and_grad
from _compare import compare


def loss(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))


if __name__ == "__main__":
    w, b = 1.0, 0.0             # parameters
    x, y = 6.7, 0.0             # one training example (feature, label)

    # value_and_grad returns the loss and its gradient, like a forward pass
    # followed by loss.backward().
    loss_and_grad = value_and_grad(loss, wrt=("w", "b"))
    value, (dw, db) = loss_and_grad(w, b, x, y)

    y_hat = 1 / (1 + math.exp(-(w*x + b)))
    compare("BCE loss of sigmoid(w*x + b) at w = 1, b = 0, x = 6.7, y = 0", [
        ("loss", value, -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat)),
         "-(y*log(y_hat) + (1-y)*log(1-y_hat))"),
        ("dloss/dw", dw, (y_hat - y) * x, "(y_hat - y) * x"),
        ("dloss/db", db, y_hat - y, "y_hat - y"),
    ], source=loss_and_grad.source)

    # One step of gradient descent, as an optimizer would take it.
    lr = 0.1
    w, b = w - lr*dw, b - lr*db
    print(f"after one step with lr = {lr}: w = {w:.4f}, b = {b:.4f}, "
          f"loss = {loss(w, b, x, y):.4f} (was {value:.4f})")
