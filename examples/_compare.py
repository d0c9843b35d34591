"""A tiny helper shared by the examples: print the compiler's numbers beside
the hand-derived ones, and stop with an error if they disagree."""
import math
import sys


def compare(title, rows, source=None):
    """rows: (quantity, compiler's value, hand formula's value, hand formula as text)."""
    print(title)
    print(f"  {'quantity':<10} {'compiler':>22} {'by hand':>22}   hand formula")
    for name, ours, hand, formula in rows:
        print(f"  {name:<10} {ours:>22.16g} {hand:>22.16g}   {formula}")
    for name, ours, hand, _ in rows:
        assert math.isclose(ours, hand, rel_tol=1e-9, abs_tol=1e-12), (name, ours, hand)
    print("  ok: compiler and hand formula agree\n")
    if source is not None and "--source" in sys.argv:
        print(source)


def save_loss_curve(losses, path, ylabel):
    """Save the loss per epoch as a plot when matplotlib is installed (the examples run without it)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no loss curve saved)")
        return
    plt.plot(losses)
    plt.xlabel("epoch")
    plt.ylabel(ylabel)
    plt.savefig(path)
    print(f"loss curve saved to {path}")
