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


def plot_path(default):
    """Where a training example saves its loss curve: `--plot PATH`, else `default` (in the current folder)."""
    if "--plot" in sys.argv:
        index = sys.argv.index("--plot")
        if index + 1 < len(sys.argv):
            return sys.argv[index + 1]
    return default


def save_loss_curve(losses, path, ylabel, title=None):
    """Save the loss per epoch as a PNG when matplotlib is installed (pip install '.[plot]' or pip install matplotlib);
    the examples run without it."""
    try:
        from autodiff_compiler.plot import save_loss_curve as save
        save(losses, path, ylabel, title)
    except ImportError:
        print("(no loss curve saved: matplotlib is not installed; pip install '.[plot]' or pip install matplotlib)")
        return
    except Exception as exc:        # e.g. ArgumentError: matplotlib missing
        print(f"(no loss curve saved: {str(exc).splitlines()[0]}; pip install '.[plot]' or pip install matplotlib)")
        return
    print(f"loss curve saved to {path}")
