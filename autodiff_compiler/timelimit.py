"""Time limits for SymPy's work: simplify, solve and friends may run for minutes on an unlucky input.

Takes: a function of no arguments and a number of seconds.  Guarantees
`limited(fn, seconds)` returns fn()'s result, or None when the time ran out
(or cannot be limited: only the main thread receives SIGALRM) -- it never
runs on unbounded.  Shared by the symbolic optimisation (`optimise.symbolic`)
and the verifier (`verify.expressions.with_time_limit`), which once had a copy
of its own whose alarm, an `Exception`, SymPy's `except Exception` clauses
could swallow: a proof then ran for as long as simplify liked.
"""
from __future__ import annotations

import signal
import sys
import threading
import time


class _Timeout(BaseException):
    """Not an Exception: SymPy's own `except Exception` must not catch it and carry on."""


REPEAT = 0.25             # seconds between alarms once the budget is spent (see `limited`)


def can_limit() -> bool:
    """Can SymPy's work be interrupted here?  Only the main thread receives SIGALRM."""
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


def limited(fn, seconds: float):
    """fn() under a time limit (SIGALRM); None when the time ran out, or when `can_limit()` does not
    hold (then `fn` is not run at all).

    The alarm repeats every REPEAT seconds until it gets through: Python drops an exception raised
    in a weakref callback or a `__del__`, and SymPy's work would otherwise go on unbounded (the
    fuzzer saw a region run past 300 s that way).  A result reached after the first alarm is
    discarded all the same."""
    if seconds <= 0 or not can_limit():
        return None
    fired, disarmed = [], []

    def on_alarm(signum, frame):
        if disarmed:
            return
        fired.append(True)
        raise _Timeout()

    def quiet(unraisable, chained=sys.unraisablehook):
        if not isinstance(unraisable.exc_value, _Timeout):     # an alarm swallowed in a weakref callback:
            chained(unraisable)                                # counted by `fired`, not printed

    previous = signal.signal(signal.SIGALRM, on_alarm)
    hook, sys.unraisablehook = sys.unraisablehook, quiet
    old = signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT)
    started = time.monotonic()
    try:
        result = fn()
        return None if fired else result
    except _Timeout:
        return None
    finally:
        disarmed.append(True)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.unraisablehook = hook
        if old[0] > 0:      # an enclosing limit: what was left of it, less the time this one took
            signal.setitimer(signal.ITIMER_REAL, max(old[0] - (time.monotonic() - started), 1e-3), old[1])
