"""A two-layer MLP whose parameters are a dict, trained by gradient descent: gradients in the same dict.

Regression of y = sin(3 x0) + x1**2 on 256 points of the square [-1, 1]^2 by a
tanh network with 16 hidden units.  `value_and_grad(loss, wrt="params")`
returns the gradient as a dict with the keys and shapes of `params`, so the
update is one dict comprehension.  The data arrays are module-level globals,
read by the loss as constants of the derivative (they are passed to the
compiled gradient at every call, so changing them is seen).  On the last step
the gradient is checked against central finite differences.
"""
import numpy as np

from autodiff_compiler import value_and_grad

RNG = np.random.default_rng(0)
X = RNG.uniform(-1.0, 1.0, size=(256, 2))
Y = np.sin(3.0 * X[:, 0]) + X[:, 1] ** 2


def loss(params):
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    prediction = hidden @ params["W2"] + params["b2"]
    return np.mean((prediction - Y) ** 2)


def finite_difference(params, key, index, h=1e-6):
    up = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in params.items()}
    down = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in params.items()}
    if isinstance(params[key], np.ndarray):
        up[key][index] += h
        down[key][index] -= h
    else:
        up[key] += h
        down[key] -= h
    return (loss(up) - loss(down)) / (2 * h)


def main():
    params = {"W1": RNG.normal(scale=0.8, size=(2, 16)), "b1": np.zeros(16),
              "W2": RNG.normal(scale=0.3, size=16), "b2": 0.0}
    step = value_and_grad(loss, wrt="params")
    lr = 0.2
    first = None
    for epoch in range(1, 2001):
        value, grads = step(params)
        first = value if first is None else first
        params = {k: params[k] - lr * grads[k] for k in params}
        if epoch % 500 == 0:
            print(f"epoch {epoch:4d}  loss {value:.5f}")
    value, grads = step(params)
    print("gradient keys and shapes:", {k: np.shape(g) for k, g in grads.items()})
    assert sorted(grads) == sorted(params) and all(np.shape(grads[k]) == np.shape(params[k]) for k in params)
    checks = [("W1", (1, 3)), ("b1", (5,)), ("W2", (7,)), ("b2", None)]
    for key, index in checks:
        got = grads[key][index] if index is not None else grads[key]
        want = finite_difference(params, key, index)
        print(f"d loss / d {key}{list(index) if index else ''}: compiler {got:.8f}, finite differences {want:.8f}")
        assert np.isclose(got, want, rtol=1e-5, atol=1e-8)
    print(f"loss {first:.4f} -> {value:.4f}")
    assert value < 0.1 * first
    print("ok: trained, gradients in the structure of the parameters")


if __name__ == "__main__":
    main()
