"""Failures: what an exception raised by derived code means for the caller.

Takes the user's function, the exception the compiled (or interpreted) module raised, the derivation
it ran (`pipeline.State`, for the `assert` sites and unbound-read checks it recorded; None when
unknown) and the call's arguments (None when they are not the function's own).  Guarantees: it
always raises, and always an `AutodiffError`: a failed `assert` or a read of an unbound name as the
function's own error naming its line; a division by zero, a domain or shape error as the caller's
`ArgumentError` where the function itself fails there too; anything else as an `InternalError` (a
bug of ours, never a raw error passed on).
"""
from __future__ import annotations

import warnings

import numpy as np

from .errors import ArgumentError, AssertionFailedError, AutodiffError, InternalError, UnboundNameError
from .python_errors import INT64_OVERFLOW


def explain(fn, exc, state=None, args=None):
    if isinstance(exc, AutodiffError):
        raise exc
    site = exc.args[0] if isinstance(exc, AssertionError) and state is not None and exc.args else None
    if site is not None and site in state.facts.unbound_reads:
        loc = state.facts.asserts[site]
        raise UnboundNameError(f"{fn.__name__} reads {state.facts.unbound_reads[site]!r} before it is assigned "
                               f"(at these arguments)", filename=loc.filename, line=loc.line, source_line=loc.text,
                               hint="Python raises UnboundLocalError here too: a loop that ran no trips or a "
                                    "branch not taken left it unassigned; assign it first") from None
    if site is not None and site in state.facts.asserts:
        loc = state.facts.asserts[site]
        raise AssertionFailedError(f"assertion failed in {fn.__name__}", filename=loc.filename,
                                   line=loc.line, source_line=loc.text,
                                   hint="the assert is checked when the gradient runs, as Python "
                                        "checks it when the function runs") from None
    if isinstance(exc, OverflowError) and INT64_OVERFLOW in str(exc):
        raise ArgumentError(f"{fn.__name__} makes {INT64_OVERFLOW} at these arguments",
                            hint="Python's ints are unbounded, NumPy's wrap around, and the compiled gradient's "
                                 "have 64 bits and may do neither, so it raises where they would leave them: make "
                                 "such a number a float (fact = 1.0), or derive with jit=False") from None
    if isinstance(exc, (ZeroDivisionError, ValueError, OverflowError, IndexError)):
        _undefined(fn, exc, args)
    raise InternalError(f"the derived gradient of {fn.__name__} failed to run: "
                        f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                        hint="this is a bug in autodiff_compiler: please report it with the function; "
                             "grad(f, skip=(...)) with optimisations switched off may work meanwhile") from exc


def _undefined(fn, exc, args=None):
    """A shape error is the caller's only where the function fails too; a domain error is the caller's."""
    text = str(exc)
    if any(word in text for word in ("shape", "size", "align", "broadcast", "index")):
        if args is not None and _function_runs(fn, args):
            raise InternalError(f"the derived gradient of {fn.__name__} failed where {fn.__name__} "
                                f"itself runs: {type(exc).__name__}: {text}",
                                hint="this is a bug in autodiff_compiler: please report it with the function "
                                     "and the shapes of its arguments") from None
        hint = "the arrays' shapes do not fit the operations of the function (it fails here too)"
    else:
        hint = "the function or its derivative is undefined here"
        where = _where_python_raises(fn, args, type(exc)) if args is not None else None
        if where is not None:
            filename, line, source_line = where
            raise ArgumentError(f"{fn.__name__}: {text} at these arguments (Python raises it here too)",
                                filename=filename, line=line, source_line=source_line,
                                hint="the function itself fails on this line at these arguments, so its "
                                     "derivative is undefined there") from None
    raise ArgumentError(f"{fn.__name__}: {text} at these arguments", hint=hint) from None


def _where_python_raises(fn, args, kind):
    """(file, line, source line) where the user's function itself raises `kind` at these arguments (run on
    copies, warnings silenced): the innermost frame of the user's code, which is where a math-module call
    outside its domain or a division by zero is (NumPy's own frames are skipped).  None when it runs."""
    import traceback

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    except kind as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)[1:]
                  if "site-packages" not in f.filename and "/numpy/" not in f.filename]
        if frames:
            return frames[-1].filename, frames[-1].lineno, frames[-1].line
    except Exception:       # noqa: BLE001 -- another error, or none: the plain message says enough
        return None
    return None


def _function_runs(fn, args) -> bool:
    """Does the user's function run at these arguments (on copies)?  Asked only when the gradient failed."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    except Exception:
        return False
    return True
