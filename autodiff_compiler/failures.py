"""Failures: what an exception raised by derived code means for the caller.

Takes the user's function, the exception the compiled (or interpreted) module raised, the derivation
it ran (`pipeline.State`, for the `assert` sites and unbound-read checks it recorded; None when
unknown) and the call's arguments (None when they are not the function's own).  Guarantees: it
always raises, and always an `AutodiffError`: a failed `assert` or a read of an unbound name as the
function's own error naming its line; a division by zero, a domain or shape error as the caller's
`ArgumentError` where the function itself fails there too; anything else as an `InternalError` (a
bug of ours, never a raw error passed on).

Where the function runs to a finite value but its gradient failed on Python's arithmetic or came out
non-finite, `careful_gradient` reruns it with structural zeros (`backend.strong_zero`): the gradient
where that is finite, else None, and the caller raises (or returns) what it did before.
`careful_derivative` does the same for the other derivative programs (`jvp`, `hvp`, `hessian`,
`jacobian`, a `vjp`'s pullback): the same rerun of the same module, derived with the structural zeros
of forward mode's tangents marked too (`transforms.forward`).
"""
from __future__ import annotations

import contextvars
import linecache
import logging
import os
import re
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ArgumentError, AssertionFailedError, AutodiffError, InternalError, UnboundNameError
from .python_errors import INT64_OVERFLOW


def explain(fn, exc, state=None, args=None, converted=None, flat=None):
    """Raise the `AutodiffError` that says what `exc` means (see the module docstring).  `args`: the
    caller's values; `converted`: those the derived code ran on (Python's numbers, float64 arrays), where
    known, for the function's rerun when it runs to the end on the caller's own; `flat`: the derived
    program's own arguments, where known, to find the line whose derivative failed (`derivative_site`)."""
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
        python = PythonRun.of(fn, args, bounded=True, converted=converted)
        if not python.located:          # Python runs on (its ints are unbounded), or no line to name
            raise ArgumentError(f"{fn.__name__} makes {INT64_OVERFLOW} at these arguments",
                                hint="Python's ints are unbounded, NumPy's wrap around, and the compiled gradient's "
                                     "have 64 bits and may do neither, so it raises where they would leave them: "
                                     "make such a number a float (fact = 1.0), or derive with jit=False") from None
        _raise_where_python_raises(fn, python, FAILS_HERE)
    if isinstance(exc, (ZeroDivisionError, ValueError, OverflowError, IndexError)):
        _undefined(fn, exc, args, converted, state, flat)
    raise InternalError(f"the derived gradient of {fn.__name__} failed to run: "
                        f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                        hint="this is a bug in autodiff_compiler: please report it with the function; "
                             "grad(f, skip=(...)) with optimisations switched off may work meanwhile") from exc


# the last call's converted leaves (`api.DerivedFunction._flatten`) with the caller's own: a failure of
# the compiled code is explained by running the function again on the caller's values, and NumPy's
# float64 divides by zero to inf where the Python float it was converted to raises
_GIVEN_LEAVES = contextvars.ContextVar("given_leaves", default=((), ()))


def remember_given(flat: list, given: list) -> list:
    """`flat`, the flat arguments converted from `given`, the caller's own; remembered for this call (every
    call: matched by identity, a small int of an earlier call's would be this one's)."""
    _GIVEN_LEAVES.set((tuple(flat), tuple(given)))
    return flat


def given_leaves(flat) -> tuple:
    """The caller's own values of these flat arguments (`remember_given`), where known."""
    converted, given = _GIVEN_LEAVES.get()
    if len(converted) >= len(flat) and all(a is b for a, b in zip(converted, flat)):
        return tuple(given[:len(flat)])
    return tuple(flat)


FAILS_HERE = "the function itself fails on this line at these arguments, so its derivative is undefined there"
SHAPES_DO_NOT_FIT = "the arrays' shapes do not fit this line's operations"


_VALUE_ERRORS = (ArithmeticError, ValueError, LookupError)


def _about_shapes(exc) -> bool:
    text = str(exc)
    return any(word in text for word in ("shape", "size", "align", "broadcast", "index"))


def _undefined(fn, exc, args=None, converted=None, state=None, flat=None):
    """A shape error is the caller's only where the function fails too; a domain error is the caller's.
    Where the function itself raises at these arguments, the error names that line and says what Python
    says there; where it runs but a line's derivative fails (`derivative_site`), it names that line."""
    text = str(exc).strip()
    python = PythonRun.of(fn, args, converted=converted)
    if _about_shapes(exc) and python.runs:
        raise InternalError(f"the derived gradient of {fn.__name__} failed where {fn.__name__} "
                            f"itself runs: {type(exc).__name__}: {text}",
                            hint="this is a bug in autodiff_compiler: please report it with the function "
                                 "and the shapes of its arguments") from None
    if python.located:
        # Python's words where it raises an error of a value there (Numba's may be another spelling of it:
        # "Maximum allowed size exceeded" for np.arange's step of 0, and NumPy's name the shapes); ours
        # where Python raises later, of another kind (a complex power: a TypeError comparing it)
        of_a_value = isinstance(python.exception, type(exc)) or isinstance(python.exception, _VALUE_ERRORS)
        _raise_where_python_raises(fn, python, SHAPES_DO_NOT_FIT if _about_shapes(python.exception) else FAILS_HERE,
                                   ours=None if of_a_value else text)
    site = None if _about_shapes(exc) or not python.runs else derivative_site(state, exc, flat)
    if site is not None:
        filename, which, line, source_line, said = site
        raise ArgumentError(f"{fn.__name__}: the derivative of {which} is undefined at these arguments ({said})",
                            filename=filename, line=line, source_line=source_line, hint=NO_DERIVATIVE) from None
    hint = "the arrays' shapes do not fit the operations of the function (it fails here too)" if _about_shapes(exc) \
        else "the function or its derivative is undefined here"
    # the first line only: Numba's messages go on with a location in the generated module
    raise ArgumentError(f"{fn.__name__}: {text.splitlines()[0] if text else type(exc).__name__} at these "
                        f"arguments", hint=hint) from None


NO_DERIVATIVE = ("the function runs here, but this line has no derivative at these arguments (an infinite slope, "
                 "as of a square root at 0 or asin at 1): take the gradient at another point")
# a line the comments heading a block of the reverse sweep name (`backend.printer`): "# line 3: ...",
# "# helper.py line 7: ...", a fused loop's "# lines 9, 10, 11: ...", and the lines the symbolic pass
# lists under its note ("#   line 194: ...")
_BLOCK_LINES = re.compile(r"#\s+(?:(?P<file>\S+\.py) )?lines? (?P<lines>\d+(?:, \d+)*)(?::|$)")


def derivative_site(state, exc, flat) -> tuple | None:
    """Where the derived program raised `exc`: (file, the lines in words, the one to show, its text, what
    Python says) for the lines of the user's code the failing statement's block of the reverse sweep derives
    (the comments heading it); None where no such block holds it.  The frames of `exc` say where, for the
    program Python ran (`jit=False`); Numba's raise without frames, so the interpreted program runs
    again on copies of `flat`, within RERUN_SECONDS.  Asked on the failure path only."""
    if state is None or getattr(state, "adjoint", None) is None or not getattr(state, "text", ""):
        return None
    from .backend.load import load
    from .optimise.symbolic import NOTE as SYMBOLIC_NOTE
    from .timelimit import can_limit, limited
    try:
        program = load(state.text, state.adjoint.name, jit=False)
    except Exception:       # noqa: BLE001 -- no site, then: the caller says what it said before
        return None
    path = program.__code__.co_filename
    found = _frame_in(exc, path)
    if found is None and flat is not None:
        def rerun():
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    program(*[a.copy() if isinstance(a, np.ndarray) else a for a in flat])
            except Exception as again:      # noqa: BLE001 -- its frames are the answer
                return _frame_in(again, path)
            return None
        found = (limited(rerun, RERUN_SECONDS) if can_limit() else rerun())
    if found is None:
        return None
    lineno, said = found
    above = [text.strip() for text in linecache.getlines(path)[:lineno - 1]]
    # up to the comments nearest above the failing statement, in its block (a blank line or the `def`
    # ends it: the forward sweep's blocks carry no such comments)
    end = len(above)
    while end and above[end - 1] and not above[end - 1].startswith(("#", "def ")):
        end -= 1
    start = end
    while start and above[start - 1].startswith("#"):
        start -= 1
    named = [m for m in map(_BLOCK_LINES.match, above[start:end]) if m is not None]
    if not named:
        return None
    if SYMBOLIC_NOTE in above[start]:
        # every line the block was simplified from, in their files: which of them fails is not known
        # here (helper-74: naming the last one named a line with a derivative everywhere)
        lines = "; ".join(f"{m['file'] + ' ' if m['file'] else ''}{_lines_in_words(m['lines'])}" for m in named)
        return state.source.filename, f"the lines SymPy simplified together ({lines})", None, None, said
    # the last is the statement's own line (those above it: the calls that led there)
    inner = named[-1]
    first = int(inner["lines"].split(", ")[0])
    which = _lines_in_words(inner["lines"])
    if inner["file"] is not None:           # a helper's line, in the file the comment names
        return inner["file"], which, first, None, said
    return state.source.filename, which, first, state.source.line_text(first).strip(), said


def _lines_in_words(numbers: str) -> str:
    """"line 3" or "lines 9, 10, 11" of a comment's numbers ("3", "9, 10, 11")."""
    return f"line{'s' if ',' in numbers else ''} {numbers}"


def _frame_in(exc, path: str) -> tuple | None:
    """(line, the error's words) of the last frame of `exc`'s traceback in the file `path`, or None."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    if not frames:
        return None
    said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return frames[-1].lineno, said


def _raise_where_python_raises(fn, python: "PythonRun", hint, ours: str | None = None):
    """The caller's error, located where Python raises at these arguments (`python.located`).  `ours`: the
    derived code's words, where they say what Python's do not (a complex power the compiled code refused
    to make, where Python raises later, comparing it); None for Python's."""
    filename, line, source_line = python.where
    said = str(python.exception).strip().splitlines()[0] if str(python.exception).strip() \
        else type(python.exception).__name__
    if python.converted:
        message = f"{said} at these arguments (Python raises it here on them as the derivative takes them: " \
                  f"Python's numbers, float64 arrays)"
    elif ours is None:
        message = f"{said} at these arguments (Python raises it here too)"
    else:
        message = f"{ours.splitlines()[0]} at these arguments (Python raises {type(python.exception).__name__} " \
                  f"here: {said})"
    raise ArgumentError(f"{fn.__name__}: {message}", filename=filename, line=line, source_line=source_line,
                        hint=hint) from None


# how long the function may run again to find where it raises: Python's ints never overflow, so where
# the compiled code's did, Python's may go on for very long (a loop doubling until it passes zero)
RERUN_SECONDS = 2.0
_OURS = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPYS = os.path.dirname(os.path.abspath(np.__file__)) + os.sep


@dataclass(frozen=True)
class PythonRun:
    """What the user's function does when run again in Python at the arguments a derivative failed at.

    known: it ran within RERUN_SECONDS (False: out of time, not timed, or no arguments to run it on);
    exception: what it raised (None: it returned); where: (file, line, source line) of the innermost
    frame of the user's code when it raised -- where a math-module call outside its domain, a division by
    zero or NumPy's shape error is (NumPy's frames and ours skipped) -- or None."""
    known: bool
    exception: BaseException | None = None
    where: tuple | None = None
    converted: bool = False          # raised on the converted arguments, where the caller's ran to the end

    @property
    def runs(self) -> bool:
        return self.known and self.exception is None

    @property
    def located(self) -> bool:
        return self.known and self.exception is not None and self.where is not None

    @classmethod
    def of(cls, fn, args, bounded: bool = False, converted=None) -> "PythonRun":
        """`fn` at `args` (`_run`), within RERUN_SECONDS where it can be timed (off the main thread it
        cannot: then without a limit, or, `bounded`, not at all); where it runs to the end and `converted`
        (the arguments as the derived code took them) differ, at those too (a float32 rounded otherwise
        picks another index; NumPy's float64 divides by zero to inf, Python's float raises).  A
        derivative object's own error inside the function is raised as it is: it names the line already."""
        from dataclasses import replace
        found = cls._at(fn, args, bounded)
        if found.runs and converted is not None and any(a is not c for a, c in zip(args, converted)):
            again = cls._at(fn, converted, bounded)
            if again.located:
                return replace(again, converted=True)
        return found

    @classmethod
    def _at(cls, fn, args, bounded: bool) -> "PythonRun":
        import traceback

        from .timelimit import can_limit, limited
        if args is None:
            return cls(False)

        def attempt():
            try:
                _run(fn, args)
            except AutodiffError:
                raise
            except Exception as exc:    # noqa: BLE001 -- whatever the function raises is the answer
                frames = [f for f in traceback.extract_tb(exc.__traceback__)
                          if not os.path.abspath(f.filename).startswith((_OURS, _NUMPYS))]
                # only its words and type are kept: its frames (and the failed call's exception, its
                # context) would wait for the cyclic collector, a call's worth of garbage per failed call
                exc.__traceback__, exc.__context__ = None, None
                return cls(True, exc, (frames[-1].filename, frames[-1].lineno, frames[-1].line) if frames else None)
            return cls(True)

        if can_limit():
            return limited(attempt, RERUN_SECONDS) or cls(False)
        return cls(False) if bounded else attempt()


def _run(fn, args):
    """The user's function at these arguments (on copies of the arrays), warnings silenced.  What it prints
    is printed (derived code prints nothing, and silencing sys.stdout would silence every thread)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])


def _finite_leaves(value) -> bool:
    """Is a result (a number, an array, or a tuple or list of them) made of finite floats alone?"""
    if isinstance(value, (tuple, list)):
        return all(_finite_leaves(item) for item in value)
    if np.iscomplexobj(value):
        return False        # a complex number is no real value (NumPy's float() of it drops the imaginary part)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return bool(np.all(np.isfinite(array)))


def finite_value(fn, args) -> float | None:
    """The user's function's value at these arguments as a float, where it runs to a finite number; else
    None.  Asked only when the gradient failed (`api.GradientFunction._careful`)."""
    try:
        value = _run(fn, args)
        if np.iscomplexobj(value):
            return None     # `(-1.25) ** 1.5 * A`: NumPy's float() of it would drop the imaginary part
        value = float(value)
    except Exception:
        return None
    return value if value - value == 0.0 else None



def derivation_at(gradient, args):
    """The derivation (`pipeline.State`) the gradient object `gradient` runs at `args` (as the caller
    gave them, every parameter there): derived already, on the failure path."""
    args = gradient.complete(tuple(args), {})
    return gradient.state_for(gradient.full_signature(gradient.signature(args)), gradient.with_value,
                              gradient._dims_for(args))


def failed_call(gradient, state, args) -> tuple:
    """(the derivation, the derived program's arguments) of the gradient object's failed call at `args`
    (`api.GradientFunction._flatten`); (`state`, None) where they cannot be made (the failure is then
    explained without them)."""
    try:
        state = derivation_at(gradient, args) if state is None else state
        return state, gradient._flatten(state, gradient.complete(tuple(args), {}))
    except Exception:       # noqa: BLE001 -- a missing detail of an error message, never a new error
        return state, None


def careful_gradient(gradient, args):
    """The gradient at `args` by the careful rerun (`backend.strong_zero`), as the compiled program returns
    it (the value first for `value_and_grad`: the function's own), where the fast gradient failed (an error
    of Python's arithmetic, or a non-finite result) while the function itself runs there to a finite value.
    None where it does not apply (containers, module arrays, methods, `has_aux`, `intermediates`,
    derivative objects inside) or its gradient is not finite either.  Module numbers are baked in as the
    fast derivation saw them (a change `_forget`s the careful module too).  `gradient`: the
    `api.GradientFunction` whose call failed."""
    from .pipeline import derive

    g = gradient
    if g.kind not in ("grad", "value_and_grad") or g.has_aux or g.intermediates or g.bound is not None \
            or g.regions or args is None:
        return None
    try:
        args = g.complete(tuple(args), {})
        signature = g.full_signature(g.signature(args))
        with g._lock:       # the careful module of the derivation the object has now (`_forget` drops both)
            state = derivation_at(g, args)
            if state.facts.structures or state.facts.data:
                return None
            value = finite_value(g.fn, args)
            if value is None:
                return None
            careful_module = _careful_module(g, (signature, g.with_value), lambda: derive(
                g._source, dict(zip(g.all_params, signature)), g.wrt, simplify=False, with_value=g.with_value,
                skip=g.skip, steps=g.steps(), careful=True))
    except Exception as exc:     # noqa: BLE001 -- no rerun, then: the caller raises what it raised before
        _no_rerun(g, exc)
        return None
    from .backend import strong_zero
    namespace, name = careful_module
    result = strong_zero.run(namespace, name, g._flatten(state, args))
    if result is not None and g.with_value:
        result = (value,) + result[1:] if type(result) is tuple else value
    return result


def arithmetic_error(exc) -> bool:
    """Is `exc` an error of Python's float arithmetic (a division by zero, a math domain or range error),
    which the careful rerun's IEEE arithmetic may get past -- not an int beyond 64 bits?"""
    return isinstance(exc, (ZeroDivisionError, ValueError, OverflowError)) and INT64_OVERFLOW not in str(exc)


# the steps whose careful derivation marks its structural zeros (each transform's: `careful=True`)
_CAREFUL_STEPS = ("reverse", "vjp", "forward", "jacobian")


def careful_derivative(derived, state, args, given) -> tuple | None:
    """The outputs of a derivative program other than the gradient (`derivatives.ProgramFunction`: jvp,
    hvp, hessian, jacobian, a vjp's pullback) at `args` (its flat arguments, then its tangents, vector or
    cotangents) by the careful rerun (`backend.strong_zero`), where the fast program failed (an error of
    Python's arithmetic, or a non-finite output) while the function itself runs to finite values at the
    caller's own arguments (`given`, the flat ones).  None where it does not apply (containers, module
    data, methods, a non-finite argument) or its outputs are not all finite either (a derivative object
    called inside the function is expanded without structural zeros:
    `transforms.jacobian.gradient_statements`).  `state`: the derivation of the failed program."""
    from .pipeline import derive

    g = derived
    if g.bound is not None or state.facts.structures or state.facts.data \
            or any(step.kind not in _CAREFUL_STEPS for step in state.steps):
        return None
    if not all(_finite_leaves(a) for a in args) or not _runs_finite(g.plain, given):
        return None
    try:
        with g._lock:       # the careful module of the derivation the object has now (`_forget` drops both)
            key = next(k for k, known in g._states.items() if known is state)
            careful_module = _careful_module(g, key, lambda: derive(
                g._source, dict(zip(g.all_params, key)), g.wrt, simplify=False, skip=g.skip, steps=g.steps(),
                regions=g.derivation_regions(), careful=True))
    except Exception as exc:     # noqa: BLE001 -- no rerun, then: the caller raises (returns) what it did
        _no_rerun(g, exc)
        return None
    from .backend import strong_zero
    namespace, name = careful_module
    result = strong_zero.run(namespace, name, list(args))
    if result is None:
        return None
    return result if type(result) is tuple else (result,)


def _runs_finite(fn, args) -> bool:
    """Does the user's function run at these arguments to finite values (numbers or arrays)?"""
    try:
        return _finite_leaves(_run(fn, args))
    except Exception:       # noqa: BLE001 -- the function fails here: no derivative to rescue
        return False


def _careful_module(g, key, derivation):
    """(namespace, function name) of the careful module of the derivative object `g` for `key`, derived
    (`derivation()`, a `pipeline.State` with its structural zeros marked) and loaded on first need.  A
    program with forward mode in it has its comparisons guarded everywhere (`strong_zero.load`): its zero
    tangents are structural wherever a comparison stays put, in the reverse sweep it differentiates too."""
    from .backend import strong_zero
    module = g._careful_modules.get(key)
    if module is None:
        careful = derivation()
        everywhere = any(step.kind in ("forward", "jacobian") for step in careful.steps)
        module = g._careful_modules[key] = (strong_zero.load(
            careful.text, f"<careful {g.kind} of {g.fn.__name__}>", careful.adjoint.name, everywhere=everywhere),
            careful.adjoint.name)
    return module


def _no_rerun(g, exc) -> None:
    if not isinstance(exc, AutodiffError):
        logging.getLogger("autodiff_compiler").debug("no careful rerun of %s: %s: %s", g.fn.__name__,
                                                     type(exc).__name__, exc)
