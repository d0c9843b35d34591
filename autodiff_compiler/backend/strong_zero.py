"""The careful rerun: a gradient where the fast one failed only on a value nothing near the point needs.

Takes: the text of a gradient module derived with `careful=True` and without the simplifier (its
structural zeros marked: `transforms.reverse.Reverse.structural`, adjoints started as
`structural(0.0)`), the name of its gradient function, and the call's arguments.

Guarantees: `run` executes that module in Python in IEEE arithmetic -- NumPy's float64 numbers, the
math module's functions that raise (`math.sqrt(-1.0)`, `math.log(0.0)`, `1 / 0.0`) giving NaN or an
infinity instead, and the helpers that check Python's errors passing their value on -- with one rule
more: a *structural* zero times anything is that zero.  A structural zero is the adjoint of a value no
result reads (yet), a partial that reads no active value but through an indicator (the mask of `min`,
`clip`, `np.where`), and anything such a zero multiplies.  Each is zero on a neighbourhood of the
point, so whatever it multiplies (the infinite derivative of `sqrt` at 0 in the branch `np.where` did
not take, of `asin` at a constant the branch put in its place) contributes exactly nothing to the
gradient.  Every other zero is IEEE's: `0 * inf` is NaN.  So a finite result is the gradient: the
infinities and NaNs of the failed run were all dropped by a structural zero or by an adjoint restarted
where its value was overwritten, both exact; one that reached the gradient leaves it non-finite, and
`run` returns None.  It returns None too on any exception (an error of Python's ints, a shape), so
the caller raises what it raised before.

Arrays carry no structural zeros (a mask of an array is IEEE's): there a NaN stays, and the caller
raises.  The rerun is for the failure path only; it is Python speed.
"""
from __future__ import annotations

import math
import types
import warnings

import numpy as np

from ..syntax import compile_code


class StructuralZero(np.float64):
    """0.0 that stays 0.0 when it multiplies anything (NaN and infinity included), added as IEEE's 0.0 is.
    A subclass of NumPy's float64 (itself a subclass of Python's float), so that its reflected operators
    run before a float's or a float64's own."""

    def __mul__(self, other):
        return self

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self

    def __neg__(self):
        return self

    __pos__ = __neg__

    def __add__(self, other):
        if type(other) is StructuralZero:
            return self
        return other + 0.0      # IEEE's 0.0 + x, and a new array, never the operand itself

    __radd__ = __add__

    def __sub__(self, other):
        if type(other) is StructuralZero:
            return self
        return 0.0 - other

    def __rsub__(self, other):
        return other - 0.0

    def __repr__(self) -> str:
        return "STRUCTURAL_ZERO"


STRUCTURAL_ZERO = StructuralZero(0.0)


def structural(value):
    """A number that is zero as the structural zero; anything else as it is."""
    if type(value) is not np.ndarray and value == 0:
        return STRUCTURAL_ZERO
    return value


def _lgamma(x):
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf     # the poles at 0, -1, -2, ...


def _gamma(x):
    try:
        return math.gamma(x)
    except (ValueError, OverflowError):
        return math.nan


# the math module's functions that raise, as NumPy's, which give NaN or an infinity; the rest are the math
# module's own (floor, trunc and ceil give ints, as the derived program expects)
_IEEE_MATH = {"sqrt": np.sqrt, "log": lambda x, base=None: np.log(x) if base is None else np.log(x) / np.log(base),
              "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp, "expm1": np.expm1,
              "asin": np.arcsin, "acos": np.arccos, "acosh": np.arccosh, "atanh": np.arctanh, "sinh": np.sinh,
              "cosh": np.cosh, "pow": np.power, "fmod": np.fmod, "lgamma": _lgamma, "gamma": _gamma,
              "tan": np.tan, "exp2": np.exp2}
IEEE_MATH = types.SimpleNamespace(**{name: getattr(math, name) for name in dir(math) if not name.startswith("_")})
for _name, _function in _IEEE_MATH.items():
    setattr(IEEE_MATH, _name, _function)


def _power(x, y, *rest):
    return np.power(np.float64(x), y)


# helpers of the printed module (`backend.runtime`) that raise Python's errors: in IEEE arithmetic they pass
# their value on
_IEEE_HELPERS = {"math_domain": lambda x, outside: x, "math_overflow": lambda x, beyond: x,
                 "math_range": lambda out, x: out, "math_pow": lambda out, x, y: out,
                 "python_power": _power, "python_power_int": _power, "squared": lambda x: x * x,
                 "structural": structural}


def _ieee_number(value):
    """A float argument as NumPy's float64 (whose division by zero is IEEE's), an int of 64 bits as int64."""
    if type(value) is float:
        return np.float64(value)
    if type(value) is int and -2 ** 63 <= value < 2 ** 63:
        return np.int64(value)
    return value


def load(text: str, filename: str) -> dict:
    """The module's namespace, with the math module and the raising helpers replaced by IEEE's."""
    namespace: dict = {"__name__": "autodiff_compiler_careful"}
    exec(compile_code(text, filename, "exec"), namespace)
    namespace["math"] = IEEE_MATH
    namespace.update(_IEEE_HELPERS)
    return namespace


def run(namespace: dict, name: str, args) -> object | None:
    """The careful gradient at `args` (copies of the arrays), its numbers as Python's floats; None where it
    raises or comes out non-finite."""
    args = [a.copy() if isinstance(a, np.ndarray) else _ieee_number(a) for a in args]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = namespace[name](*args)
    except Exception:       # noqa: BLE001 -- any error: the caller raises what the fast gradient raised
        return None
    items = result if type(result) is tuple else (result,)
    out = []
    for item in items:
        if isinstance(item, np.ndarray):
            if item.dtype.kind == "f" and not np.all(np.isfinite(item)):
                return None
            out.append(item)
        elif isinstance(item, (float, np.floating)):
            if not math.isfinite(item):
                return None
            out.append(float(item))
        else:
            out.append(item.item() if isinstance(item, np.generic) else item)
    return tuple(out) if type(result) is tuple else out[0]
