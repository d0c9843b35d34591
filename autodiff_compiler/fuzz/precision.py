"""Precision of the oracle's high-precision reference: where to start, and when to stop doubling.

Takes: a program's arguments; two references (`oracle.Reference`) computed at two precisions.
Guarantees: `decades` is how far apart the arguments' magnitudes are, the digits a reference needs
beyond its own to keep the smaller ones beside the larger; `step_decades` the digits it needs beyond
its own for a difference step to show in the value; `step_size` is the size a coordinate's
difference steps are a power of two of; `references_agree` says whether two references give the
same gradient within the errors they estimate.
"""
from __future__ import annotations

import numpy as np


def _magnitudes(args) -> np.ndarray:
    """The absolute values of the arguments' nonzero finite floats (float arrays' entries included)."""
    values = np.abs(np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in args
                                    if isinstance(a, (float, np.ndarray)) and np.asarray(a).dtype.kind == "f"]
                                   or [np.zeros(0)]))
    return values[np.isfinite(values) & (values > 0)]


def decades(args) -> int:
    """How many decades apart the arguments' nonzero finite floats are (at most 2,000)."""
    values = _magnitudes(args)
    return 0 if not values.size else min(2000, int(np.ceil(np.log10(values.max() / values.min()))))


def references_agree(first: object, second: object) -> bool:
    """Do two high-precision references (two precisions) give the same gradient, within their errors?"""
    scale = max(second.scale(), 1e-300)
    for a, b, e in zip(first.grads, second.grads, second.errors):
        a, b, e = (np.asarray(v, dtype=float) for v in (a, b, e))
        if np.any(~(np.abs(a - b) <= 1e-9 * (np.abs(b) + scale) + 3 * e + 1e-20)):
            return False
    return True


def step_size(x0, args):
    """The coordinate's own magnitude; for a zero, the smallest nonzero argument's (at most 1).  A step
    of 2**-50 beside r = 1e-100 moved v @ r by 1e85, through a tanh that saturated: the secant, not the
    derivative, and two steps that agreed on it (arrays-107-37, scaled by 1e100)."""
    return abs(x0) if x0 != 0 else _smallest(args)


def _smallest(args) -> float:
    """The smallest nonzero argument's magnitude, at most 1."""
    values = _magnitudes(args)
    return min(1.0, float(values.min())) if values.size else 1.0


def step_decades(value: float, args) -> int:
    """How many decades the value lies above the smallest difference step's size (at most 2,000): the
    digits a reference needs beyond its own for a step of 2**-50 of 5e-101 to move a value of 1.7
    (scalar-109-95 at --scale 1e100: at 40 digits both steps were lost in its rounding)."""
    if not np.isfinite(value) or value == 0:
        return 0
    with np.errstate(over="ignore"):
        decades = np.log10(abs(value) / _smallest(args))    # inf past the largest float (1e300 / 1e-100)
    return 2000 if not np.isfinite(decades) else max(0, min(2000, int(np.ceil(decades))))
