"""Accuracy group: the `symbolic` pass against 50-digit references, before and after.

    python benchmarks/run.py --only accuracy

For every scalar and control-flow function of the end-to-end corpus
(tests/test_end_to_end.py) and the tutorial functions of accuracy_fns.py, the
gradient module is derived with the pass and without it (`skip=("symbolic",)`).
Where the two modules are the same text the errors are the same and the
function is only counted.  Where they differ, both gradients are evaluated on a
grid -- the function's own points, and each float argument scaled by 0.3 and
3 -- and compared with SymPy's derivative of the function along the path taken
there, evaluated in 50-digit arithmetic (the verifier's `prove_at`).  Reported
per function: the largest and the median relative error over the grid before
and after (a point where a gradient raises or is not finite counts as an
infinite error), and the figures at the tutorial's point.  The target of the
"after" figures is the "before" one: a rewrite must never be less accurate.
"""
from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import mpmath

from harness import Metric, guarded

GROUP = "accuracy"
TESTS = Path(__file__).resolve().parent.parent / "tests"
SCALES = (0.3, 3.0)


def _functions():
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import accuracy_fns
    import test_end_to_end as E
    out = [(f.__name__, f, wrt, points) for f, wrt, points in accuracy_fns.FUNCTIONS]
    for case in E.CASES:
        wrt = case.wrt if case.wrt is not None else 0
        out.append((case.name, case.func, wrt, list(case.points)))
    return out


def _grid(points: list) -> list:
    grid = list(points)
    for p in points:
        for k, v in enumerate(p):
            if isinstance(v, float):
                for s in SCALES:
                    grid.append(p[:k] + (v * s,) + p[k + 1:])
    return list(dict.fromkeys(grid))


def _reference(g, args):
    """SymPy's derivative along the path at `args`, evaluated in 50 digits: a list per wrt name."""
    from autodiff_compiler.verify.expressions import evaluate
    from autodiff_compiler.verify.prove import prove_at
    signature = g.signature(args)
    state = g.state_for(signature, True)
    report = prove_at(state, args, None)
    if report.unsupported or report.undefined or not report.entries:
        return None
    values = []
    for entry in report.entries:
        v = evaluate(entry.sympy, report.point)
        values.append(v)
    return values


def _errors(got, reference) -> list:
    out = []
    got = got if isinstance(got, tuple) else (got,)
    for value, exact in zip(got, reference):
        if isinstance(exact, mpmath.mpc) or exact is None or not mpmath.isfinite(exact):
            continue
        if value is None or not math.isfinite(value):
            out.append(math.inf)
        elif exact == 0:
            out.append(0.0 if value == 0 else math.inf)
        else:
            with mpmath.workdps(50):
                out.append(float(abs(mpmath.mpf(value) - exact) / abs(exact)))
    return out


def _call(g, args):
    try:
        return g(*args)
    except Exception:            # undefined there (a division by zero the chain rule made): no number
        return None


def measure(name, fn, wrt, points) -> dict | None:
    from autodiff_compiler import grad
    on = grad(fn, wrt=wrt, jit=False)
    off = grad(fn, wrt=wrt, jit=False, skip=("symbolic",))
    on(*points[0])
    off(*points[0])
    if on.source == off.source:
        return None
    before, after = [], []
    for args in _grid(points):
        try:
            reference = _reference(off, args)
        except Exception:
            reference = None
        if reference is None:
            continue
        b, a = _call(off, args), _call(on, args)
        count = len(reference)
        b = tuple([None] * count) if b is None else b
        a = tuple([None] * count) if a is None else a
        before += _errors(b, reference)
        after += _errors(a, reference)
    if not before:
        return None
    reference = _reference(off, points[0]) or []
    none = (None,) * len(reference)
    first = _errors(_call(off, points[0]) or none, reference)
    first_after = _errors(_call(on, points[0]) or none, reference)
    return {"name": name, "points": len(_grid(points)), "max_before": max(before), "max_after": max(after),
            "median_before": statistics.median(before), "median_after": statistics.median(after),
            "at_first_before": max(first) if first else None,
            "at_first_after": max(first_after) if first_after else None}


def run(cfg):
    results, changed, unchanged = [], [], 0
    for name, fn, wrt, points in _functions():
        figures = guarded(cfg, GROUP, name, measure, name, fn, wrt, points)
        if figures is None:
            unchanged += 1
            continue
        changed.append(figures)
        results.append(Metric(GROUP, f"{name}: largest rel. error over the grid", figures["max_after"], "rel",
                              figures["max_before"],
                              note=f"before {figures['max_before']:.2e}; median {figures['median_before']:.2e} -> "
                                   f"{figures['median_after']:.2e}; at its first point "
                                   f"{_show(figures['at_first_before'])} -> {_show(figures['at_first_after'])}"))
    results.append(Metric(GROUP, "functions whose gradient module the pass changed", len(changed), "",
                          note=f"{unchanged} others unchanged (same module text, same numbers)"))
    return results


def _show(value) -> str:
    return "-" if value is None else f"{value:.2e}"
