"""timelimit: SymPy's work is bounded, wherever the alarm lands."""
import sys
import time

from autodiff_compiler import timelimit
from autodiff_compiler.verify.expressions import with_time_limit


def test_a_timeout_swallowed_inside_sympy_still_counts():
    """The alarm can land where Python swallows exceptions (a weakref callback) or where code catches
    everything: the region is then over the budget all the same, never decided on borrowed time."""

    def stubborn():
        try:
            time.sleep(0.3)
        except BaseException:
            pass
        return {"outcome": "rewritten"}
    assert timelimit.limited(stubborn, 0.05) is None
    assert timelimit.limited(lambda: {"outcome": "unchanged"}, 5.0) == {"outcome": "unchanged"}
    assert issubclass(timelimit._Timeout, BaseException) and not issubclass(timelimit._Timeout, Exception)


def test_an_alarm_swallowed_in_a_weakref_callback_is_not_printed(monkeypatch):
    """Python reports exceptions it cannot raise (in a weakref callback) to sys.unraisablehook: the
    alarm's own is dropped while the budget runs, anything else still reaches the previous hook."""
    from types import SimpleNamespace
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(type(u.exc_value).__name__))

    def inside():
        sys.unraisablehook(SimpleNamespace(exc_value=timelimit._Timeout(), object=None))
        sys.unraisablehook(SimpleNamespace(exc_value=ValueError("other"), object=None))
        return {"outcome": "unchanged"}
    assert timelimit.limited(inside, 5.0) == {"outcome": "unchanged"}
    assert seen == ["ValueError"]
    sys.unraisablehook(SimpleNamespace(exc_value=timelimit._Timeout(), object=None))
    assert seen == ["ValueError", "_Timeout"]          # restored afterwards


def test_an_alarm_swallowed_once_is_repeated_until_it_gets_through():
    """SymPy busy in a place that swallows the first alarm (the fuzzer's scalar-41-149 ran past 300 s
    that way): the next one, REPEAT seconds later, ends it."""
    started = time.monotonic()

    def swallows_the_first():
        swallowed = False
        while time.monotonic() - started < 20:
            try:
                time.sleep(0.01)
            except timelimit._Timeout:
                if swallowed:
                    raise
                swallowed = True
        return {"outcome": "rewritten"}
    assert timelimit.limited(swallows_the_first, 0.1) is None
    assert time.monotonic() - started < 0.1 + 4 * timelimit.REPEAT


def test_the_verifier_s_limit_is_not_swallowed_by_except_exception():
    """The verifier's own copy of the alarm was an Exception: SymPy's `except Exception` clauses (simplify
    drops rewrites that fail) swallowed it and a proof ran for minutes (CI timed out on one).  It is
    now the shared one."""
    started = time.monotonic()

    def catches_everything_sympy_catches():
        while time.monotonic() - started < 20:
            try:
                time.sleep(0.01)
            except Exception:          # what SymPy's simplify does around each rewrite
                pass
        return "finished"
    assert with_time_limit(catches_everything_sympy_catches, 0.1) is None
    assert time.monotonic() - started < 2.0
    assert with_time_limit(lambda: 42, 5.0) == 42


def test_an_enclosing_limit_keeps_the_time_it_had_left():
    """A limit inside another (a derivative object derived inside a function that runs again under a
    limit): the outer alarm is re-armed with what was left of it less the time the inner region took, not
    less the inner region's whole budget (a 2 s outer limit fired 0.5 s in, after an inner limit of 3 s
    had taken a few milliseconds, and the failure's line was lost)."""
    def outer():
        assert timelimit.limited(lambda: "inner", 3.0) == "inner"       # a budget longer than the outer's
        time.sleep(0.3)
        return "outer"
    assert timelimit.limited(outer, 2.0) == "outer"

    def outer_runs_over():
        timelimit.limited(lambda: None, 0.1)
        time.sleep(1.5)
        return "finished"
    started = time.monotonic()
    assert timelimit.limited(outer_runs_over, 0.5) is None               # the outer limit still holds
    assert time.monotonic() - started < 1.2
