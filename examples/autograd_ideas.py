"""The PyTorch autograd ideas, in a compiler: requires_grad, detach/no_grad, retain_grad,
gradient accumulation and zeroing, a custom derivative (autograd.Function), and a safe square
root by `where` (whose gradient is NaN in PyTorch and JAX where the other side is taken)."""
import math

import numpy as np

from autodiff_compiler import custom_derivative, grad, no_grad, stop_gradient


def square(x):
    return x ** 2


def chain(x):
    y = x ** 2          # y.retain_grad()
    z = 3 * y
    return z + y


def detached(x):
    scale = stop_gradient(x * x)     # x.detach(): a value, no derivative
    with no_grad():                  # torch.no_grad(): assignments carry no derivative
        offset = math.sin(x)
    return scale * x + offset


@custom_derivative("out * (1 - out)")   # autograd.Function / jax.custom_vjp
def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def neuron(w, x):
    return sigmoid(w * x)


def safe_sqrt(v):
    # torch.where(v > 0, v.sqrt(), 0): sqrt(-1) is NaN on the side not taken, and so is its gradient there
    return np.sum(np.where(v > 0, np.sqrt(v), 0.0))


def main():
    # requires_grad=True is wrt=
    print("d/dx x**2 at 3:", grad(square, wrt="x")(3.0))
    # retain_grad: gradients of named intermediates beside the inputs'
    dx, inner = grad(chain, intermediates=("y",))(2.0)
    print(f"d/dx at 2: {dx} (hand: 6x + 2x = 16), d/dy: {inner['y']} (hand: 3 + 1 = 4)")
    # detach / no_grad
    print("d/dx of stop_gradient(x*x)*x + no_grad sin(x) at 2:", grad(detached)(2.0), "(hand: x*x = 4)")
    # accumulation into x.grad, then x.grad.zero_()
    x_grad = np.zeros(())
    accumulate = grad(square, accumulate=True)
    for call in range(3):
        accumulate(1.0, out=x_grad)
        print(f"after call {call + 1}: x.grad = {float(x_grad)}")
    x_grad[...] = 0.0
    print("after zeroing: x.grad =", float(x_grad))
    # a custom derivative, used wherever the function is called
    s = 1 / (1 + math.exp(-0.6))
    print("d sigmoid(w*x) / dw at w=0.5, x=1.2:", grad(neuron, verify=True)(0.5, 1.2),
          "(hand: s*(1-s)*x =", s * (1 - s) * 1.2, ")")
    # where: the gradient of the side taken, 0 for v <= 0 (the careful rerun; README, How it works)
    with np.errstate(invalid="ignore"):
        print("d/dv sum(where(v > 0, sqrt(v), 0)) at [-1, 4]:", grad(safe_sqrt)(np.array([-1.0, 4.0])),
              "(hand: [0, 1/(2*sqrt(4))] = [0, 0.25])")


if __name__ == "__main__":
    main()
