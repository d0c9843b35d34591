"""Plot: a hand derivation and the compiler's derivative over a range of one variable, into a PNG.

Takes: the checked function, the hand derivation (a function with the same
parameters, or `{wrt name: formula}` strings as `check_gradient` takes
them), the `wrt` names, the point `at`, the variable to sweep and its range.
Guarantees:

* one panel per `wrt` name: the compiler's gradient (its compiled code, at
  `samples` points from `lo` to `hi`, every other argument as in `at`) as a
  solid line, the hand derivation dashed, the point `at` marked; a point
  where either is undefined (it raises, or is not finite) is a gap;
* a formula's local names (`y_hat`) are read as the values they hold along
  the path the function takes at `at` (the check's own reading);
* the figure is written to `path` (PNG, matplotlib's Agg backend: no display
  needed) and `path` is returned;
* without matplotlib an `ArgumentError` says how to install it
  (`pip install '.[plot]' or pip install matplotlib`).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import ArgumentError

SAMPLES = 241


def _matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArgumentError("drawing needs matplotlib, which is not installed",
                            hint="pip install matplotlib (from a clone of this project: pip install '.[plot]')") from None
    return plt


def parse_range(text: str, params: list) -> tuple:
    """`w=-3:3` -> ("w", -3.0, 3.0), or an ArgumentError saying what to write."""
    name, sep, span = text.partition("=")
    lo, colon, hi = span.partition(":")
    try:
        lo, hi = float(lo), float(hi)
    except ValueError:
        lo = hi = None
    if not sep or not colon or lo is None or not lo < hi:
        raise ArgumentError(f"--plot expects VAR=LO:HI with LO < HI, got {text!r}", hint="e.g. --plot w=-3:3")
    name = name.strip()
    if name not in params:
        raise ArgumentError(f"--plot {name}: not a parameter", hint=f"the parameters are {', '.join(params)}")
    return name, lo, hi


def _values(result, count: int) -> list:
    items = result if isinstance(result, tuple) else (result,)
    out = []
    for v in list(items)[:count]:
        try:
            v = float(v)
        except (TypeError, ValueError):
            v = math.nan
        out.append(v if math.isfinite(v) else math.nan)
    return out + [math.nan] * (count - len(out))


def _formula_functions(f, hand: dict, wrt: list, params: list, at: dict):
    """Each formula as a NumPy function of the parameters (locals read at `at`)."""
    import sympy
    from .frontend.parse import source_of_function
    from .verify.handforms import parse_formula, user_locals
    source = source_of_function(f)
    args = tuple(at[p] for p in params)
    symbols = {p: sympy.Symbol(p, real=True) for p in params}
    locals_ = user_locals(source, args, params)
    point = {symbols[p]: at[p] for p in params}
    out = []
    for name in wrt:
        expr = parse_formula(str(hand[name]), name, params, symbols, locals_, point)
        out.append(sympy.lambdify([symbols[p] for p in params], expr, modules="math"))
    return out


def plot_check(f, hand, wrt: list, at: dict, variable: str, lo: float, hi: float, path: str,
               samples: int = SAMPLES, title: str | None = None) -> str:
    """Draw the compiler's and the hand derivation's gradients along `variable` (see the module doc)."""
    plt = _matplotlib()
    from .api import grad
    import inspect
    params = list(inspect.signature(f).parameters)
    g = grad(f, wrt=tuple(wrt))
    formulas = _formula_functions(f, hand, wrt, params, at) if isinstance(hand, dict) else None
    xs = np.linspace(lo, hi, samples)
    if lo < at[variable] < hi:
        xs = np.sort(np.append(xs, at[variable]))
    compiler = np.full((len(xs), len(wrt)), np.nan)
    by_hand = np.full((len(xs), len(wrt)), np.nan)
    for k, x in enumerate(xs):
        args = tuple(float(x) if p == variable else at[p] for p in params)
        try:
            compiler[k] = _values(g(*args), len(wrt))
        except Exception:          # undefined there: a gap
            pass
        try:
            if formulas is not None:
                by_hand[k] = [float(fn(*args)) for fn in formulas]
            else:
                by_hand[k] = _values(hand(*args), len(wrt))
        except Exception:
            pass
    by_hand[~np.isfinite(by_hand)] = np.nan
    figure, axes = plt.subplots(len(wrt), 1, figsize=(7.0, 2.6 * len(wrt) + 0.6), sharex=True, squeeze=False)
    name = f.__name__
    for j, w in enumerate(wrt):
        ax = axes[j][0]
        ax.plot(xs, compiler[:, j], color="#1f77b4", linewidth=2.2, label="compiler")
        ax.plot(xs, by_hand[:, j], color="#d62728", linewidth=1.8, linestyle="--", label="hand derivation")
        ax.axvline(at[variable], color="0.6", linewidth=0.8, linestyle=":")
        here = np.flatnonzero(xs == at[variable])
        if here.size:
            ax.plot([at[variable]] * 2, [compiler[here[0], j], by_hand[here[0], j]], "o", color="0.3",
                    markersize=4, label=f"the checked point ({variable}={at[variable]:g})")
        ax.set_ylabel(f"d{name}/d{w}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    others = ", ".join(f"{p}={at[p]!r}" for p in params if p != variable)
    axes[-1][0].set_xlabel(variable + (f"   ({others})" if others else ""))
    figure.suptitle(title or f"Gradient of {name}: hand derivation and compiler, along {variable}", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def save_loss_curve(losses, path: str, ylabel: str = "loss", title: str | None = None) -> str:
    """A training loss per epoch, as the examples save it."""
    plt = _matplotlib()
    figure, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(np.arange(1, len(losses) + 1), losses, color="#1f77b4", linewidth=2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
