"""Logistic regression on a batch, trained by gradient descent: `loss.backward()` as a compiled gradient.

Mean binary cross-entropy of sigmoid(w*x + b) over 200 points whose label is 1
when x > 0.5; the loss and parameters are printed every 100 epochs, and a loss
curve saved to logistic_regression_loss.png (or `--plot PATH`) when matplotlib
is installed (`pip install '.[plot]' or pip install matplotlib`).  The gradients are checked against
the hand formulas mean((y_hat - y) * x) and mean(y_hat - y) on the last step.
"""
import numpy as np

from autodiff_compiler import value_and_grad

from _compare import plot_path, save_loss_curve


def bce(w, b, x, y):
    z = w * x + b
    y_hat = 1 / (1 + np.exp(-z))
    y_hat = np.clip(y_hat, 1e-8, 1 - 1e-8)
    return -np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))


def main():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 2.0, 200)
    y = (x > 0.5).astype(float)
    step = value_and_grad(bce, wrt=("w", "b"))
    w, b, lr = 0.0, 0.0, 0.5
    losses = []
    for epoch in range(1, 501):
        loss, (dw, db) = step(w, b, x, y)
        w -= lr * dw
        b -= lr * db
        losses.append(loss)
        if epoch % 100 == 0:
            print(f"epoch {epoch:3d}  loss {loss:.4f}  w {w:.3f}  b {b:.3f}  boundary x = {-b / w:.3f}")
    loss, (dw, db) = step(w, b, x, y)
    y_hat = 1 / (1 + np.exp(-(w * x + b)))
    print(f"dL/dw: compiler {dw:.6f}, hand mean((y_hat - y) * x) {np.mean((y_hat - y) * x):.6f}")
    print(f"dL/db: compiler {db:.6f}, hand mean(y_hat - y)       {np.mean(y_hat - y):.6f}")
    assert np.isclose(dw, np.mean((y_hat - y) * x)) and np.isclose(db, np.mean(y_hat - y))
    save_loss_curve(losses, plot_path("logistic_regression_loss.png"), "mean BCE",
                    "Logistic regression: mean BCE per epoch (lr 0.5)")
    return w, b


if __name__ == "__main__":
    main()
