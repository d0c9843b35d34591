"""Execute: one program through the compiler in the requested modes, each result classified.

Takes: a program (module source, function name, arguments, `wrt`), a list of
runs `(mode, api)` -- mode one of `MODES` (jit on/off x simplify on/off), api
`grad` or `vag` (value_and_grad) -- and a directory for the module file.
Guarantees, per run, one outcome:

* `ok`: the result has the contract's structure (one gradient for a single
  `wrt`, a tuple for a tuple; a float for a float parameter, a float64 array
  of the parameter's shape for an array; `(value, grads)` from
  value_and_grad), agrees with the oracle's reference, and no argument was
  modified;
* `wrong`: numbers that disagree with the reference (confirmed in high
  precision where it can be computed), a wrong structure/shape/type, a wrong
  value from value_and_grad, a modified argument, or an `ArgumentError` raised
  at a point where the oracle proved the function and its gradient finite and
  smooth (the compiler claims "undefined here" where it is not: a wrong answer,
  not a refusal);
* `crash`: any exception that is not an `AutodiffError` (Numba typing errors,
  UnboundLocalError in generated code, ...), and an `InternalError` (the
  compiler's own word for the same: it caught itself, or the code it derived,
  failing); a worker that dies or hangs is recorded as a crash by the driver
  (`run.py`);
* `refused`: any other `AutodiffError` (the compiler declines the program; for
  generated programs, which are inside the documented language, a finding of
  its own, counted separately);
* `skipped`: the oracle has no trustworthy reference (primal raised or is not
  finite, kink within the step, inconclusive) -- then no mode is run at all;
  but where the function itself, run as the user runs it, raises Python's
  error of a value (ValueError, ZeroDivisionError, OverflowError; a TypeError
  of a complex number) or returns a complex number (`python_raises`), every run
  must raise too (`run_raising`): an `ArgumentError` (or another error of the
  function's own: a failed assert) is `ok`, a number `wrong`, an
  `InternalError` or a raw exception a `crash`.

A gradient that raises ArgumentError because Python made a complex number the
function reads (a negative base to a fractional power) where Python then
carries on with it (`abs` of it, `==`) is `refused`: a documented refusal; so
is a compiled gradient's "an integer beyond the 64 bits" where Python's ints
go past them (`python_errors.INT64_OVERFLOW`; for Python, `jit=False` must
give the gradient).

A task may carry `fault` = {"what": "segv"|"hang"|"exit", "when": substring of
the source, "run": (mode, api)}: the worker then kills or hangs itself before
that run.  It exists only so that the tests can check that the driver records
a dying or hanging worker as a crash and that the shrinker survives it.

Every run gets a fresh `grad`/`value_and_grad` object, fresh copies of the
arguments, and its wall and CPU time (derivation + Numba compile + call).
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import time
import traceback

import numpy as np

from ..python_errors import INT64_OVERFLOW
from .oracle import ENDLESS, Oracle, is_float_result

MODES = {
    "nojit-simp": (False, True),
    "nojit-nosimp": (False, False),
    "jit-simp": (True, True),
    "jit-nosimp": (True, False),
}
APIS = ("grad", "vag")
# derivatives beyond the gradient (issue 9), run when asked for (`--modes jit-simp:jvp,nojit-simp:hvp`,
# or `--modes derivatives`): jvp rebuilds the gradient from one directional derivative per entry of the
# wrt parameters and is checked against the oracle's gradient; hvp (forward over reverse mode) is checked
# against the Jacobian of the gradient by rows (reverse over forward mode), a different derivation
DERIVATIVE_APIS = ("jvp", "hvp")
ALL_APIS = APIS + DERIVATIVE_APIS
HVP_RTOL = 1e-6

OUTCOMES = ("ok", "wrong", "crash", "refused", "skipped")
SEVERITY = {"crash": 4, "wrong": 3, "refused": 2, "ok": 1, "skipped": 0}


def load_module(source: str, directory: str, stem: str = "fz"):
    """Write `source` to a file named by its hash and import it (a fresh module each time)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"{stem}_{digest}"
    path = os.path.join(directory, name + ".py")
    if not os.path.exists(path):
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            out.write(source)
        os.replace(path + ".tmp", path)
    module_name = f"autodiff_fuzz_programs.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name], path
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module, path


def _copy(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def describe(value, digits: int = 10) -> str:
    """A short printable form of a result."""
    if isinstance(value, tuple):
        return "(" + ", ".join(describe(v, digits) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=digits, threshold=20):
            return "array(" + np.array2string(value, separator=", ").replace("\n", "") + ")"
    if isinstance(value, float):
        text = f"{value:.{digits}g}"
        return text if any(c in text for c in ".ena") else text + ".0"
    return repr(value)


def expected_structure(args, wrt_indices, single, api):
    grads = [args[i] for i in wrt_indices]
    shaped = tuple(np.zeros(g.shape) if isinstance(g, np.ndarray) else 0.0 for g in grads)
    out = shaped[0] if single else shaped
    return ("<value>", out) if api == "vag" else out


def split_result(result, args, wrt_indices, single, api):
    """(value or None, grads list) or raise ValueError saying how the structure is wrong."""
    value = None
    if api == "vag":
        if not isinstance(result, tuple) or len(result) != 2:
            raise ValueError(f"value_and_grad returned {type(result).__name__}"
                             f"{'' if not isinstance(result, tuple) else ' of length %d' % len(result)}, "
                             f"expected (value, gradients)")
        value, result = result
        if not is_float_result(value) or isinstance(value, np.ndarray):
            raise ValueError(f"value is {type(value).__name__}, expected a float")
    if single:
        grads = [result]
    else:
        if not isinstance(result, tuple):
            raise ValueError(f"a tuple wrt gave {type(result).__name__}, expected a tuple of {len(wrt_indices)}")
        if len(result) != len(wrt_indices):
            raise ValueError(f"a tuple wrt of {len(wrt_indices)} gave {len(result)} gradients")
        grads = list(result)
    for g, index in zip(grads, wrt_indices):
        arg = args[index]
        if isinstance(arg, np.ndarray):
            if not isinstance(g, np.ndarray):
                raise ValueError(f"gradient for array parameter {index} is {type(g).__name__}, expected ndarray")
            if g.shape != arg.shape:
                raise ValueError(f"gradient for parameter {index} has shape {g.shape}, expected {arg.shape}")
            if g.dtype != np.float64:
                raise ValueError(f"gradient for parameter {index} has dtype {g.dtype}, expected float64")
        else:
            if isinstance(g, np.ndarray) or not is_float_result(g):
                raise ValueError(f"gradient for float parameter {index} is {type(g).__name__}"
                                 f"{' of shape %s' % (g.shape,) if isinstance(g, np.ndarray) else ''}, "
                                 f"expected a float")
    return value, grads


def _short_traceback(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    text = "".join(lines).strip()
    return text[:600]


def _cause(exc) -> str:
    """The exception an InternalError wraps, by type (what the failure class is keyed on)."""
    cause = exc.__cause__
    return type(cause).__name__ if cause is not None else "compiler"


def _unit_tangents(args, wrt_indices):
    """(k, position, tangents) for every entry of every wrt parameter: that entry 1, everything else 0."""
    for k, index in enumerate(wrt_indices):
        shape = np.shape(args[index])
        for position in (np.ndindex(*shape) if shape else [()]):
            tangents = []
            for j, other in enumerate(wrt_indices):
                if isinstance(args[other], np.ndarray):
                    t = np.zeros(np.shape(args[other]))
                    if j == k:
                        t[position] = 1.0
                else:
                    t = 1.0 if j == k else 0.0
                tangents.append(t)
            yield k, position, tuple(tangents)


def _jvp_gradient(fn, args, wrt, wrt_indices, jit, simplify):
    """(value, gradient rebuilt from one jvp per entry of the wrt parameters), in wrt order."""
    from autodiff_compiler import jvp
    j = jvp(fn, wrt=wrt, jit=jit, simplify=simplify)
    grads = [np.zeros(np.shape(args[i])) if isinstance(args[i], np.ndarray) else 0.0 for i in wrt_indices]
    value = None
    for k, position, tangents in _unit_tangents(args, wrt_indices):
        value, tangent = j(*_copy(args), tangents=tangents)
        if isinstance(grads[k], np.ndarray):
            grads[k][position] = tangent
        else:
            grads[k] = tangent
    return value, grads


def _hvp_against_rows(fn, args, wrt_indices, jit, simplify):
    """(forward-over-reverse H v, reverse-over-forward H v or None when that derivation is refused)."""
    from autodiff_compiler import grad, hvp, jacobian
    from autodiff_compiler.errors import AutodiffError
    index = wrt_indices[0]
    x = args[index]
    rng = np.random.default_rng(len(repr(args)))
    v = rng.standard_normal(np.shape(x)) if isinstance(x, np.ndarray) else float(rng.standard_normal())
    call = _copy(args)
    got = hvp(fn, wrt=index, jit=jit, simplify=simplify)(*call[:index + 1], v, *call[index + 1:])
    try:
        H = jacobian(grad(fn, wrt=index, jit=jit, simplify=simplify), wrt=index, mode="reverse", jit=jit,
                     simplify=simplify)(*_copy(args))
    except AutodiffError:
        return got, None
    reference = np.tensordot(np.asarray(H), np.asarray(v), axes=np.ndim(v)) if np.ndim(v) else H * v
    return got, reference


# Python's errors of a value: where the function raises one, every derivative must raise
PYTHON_VALUE_ERRORS = (ValueError, ZeroDivisionError, OverflowError)
# what a gradient says where the function reads a complex number Python made (`runtime.python_power`)
COMPLEX_REFUSAL = "complex number in Python"


def python_raises(fn, args) -> str | None:
    """How the function, run as the user runs it (NumPy's warnings silenced, not raised), fails at these
    arguments: Python's error of a value (`PYTHON_VALUE_ERRORS`, or a TypeError of a complex number), or
    a complex result; None when it returns something else or fails otherwise."""
    import warnings
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = fn(*_copy(args))
    except PYTHON_VALUE_ERRORS as exc:
        return f"raises {type(exc).__name__}: {str(exc)[:80]}"
    except TypeError as exc:
        return f"raises TypeError: {str(exc)[:80]}" if "complex" in str(exc) else None
    except Exception:             # noqa: BLE001 -- not an error of a value: no verdict
        return None
    return "returns a complex number" if isinstance(value, complex) else None


def run_raising(fn, args, wrt, wrt_indices, verdict: str, mode: str, api: str) -> dict:
    """Run one (mode, api) where the function itself fails (`python_raises`): the derivative must raise
    an error of the caller's, never give a number."""
    from autodiff_compiler import grad, hvp, value_and_grad
    from autodiff_compiler.errors import AutodiffError, InternalError
    jit, simplify = MODES[mode]
    record = {"mode": mode, "api": api, "expected": f"an error (the function {verdict})"}
    start, cpu = time.perf_counter(), time.process_time()
    call_args = _copy(args)
    try:
        if api == "jvp":
            result = _jvp_gradient(fn, call_args, wrt, wrt_indices, jit, simplify)
        elif api == "hvp":
            index = wrt_indices[0]
            v = np.ones(np.shape(args[index])) if isinstance(args[index], np.ndarray) else 1.0
            result = hvp(fn, wrt=index, jit=jit, simplify=simplify)(*call_args[:index + 1], v, *call_args[index + 1:])
        else:
            make = grad if api == "grad" else value_and_grad
            result = make(fn, wrt=wrt, jit=jit, simplify=simplify)(*call_args)
    except InternalError as exc:
        record.update(outcome="crash", category=f"InternalError: {_cause(exc)}", exc=type(exc).__name__,
                      detail=str(exc)[:600], got=str(exc).splitlines()[0][:200])
        return _timed(record, start, cpu)
    except AutodiffError as exc:
        record.update(outcome="ok", exc=type(exc).__name__, got=str(exc).splitlines()[0][:200])
        return _timed(record, start, cpu)
    except Exception as exc:      # noqa: BLE001 -- every other exception is a crash
        record.update(outcome="crash", category=type(exc).__name__, exc=type(exc).__name__,
                      detail=_short_traceback(exc), got=str(exc).strip()[:200])
        return _timed(record, start, cpu)
    record.update(outcome="wrong", category="number where Python raises", got=describe(result),
                  detail=f"gave a number where the function {verdict}")
    return _timed(record, start, cpu)


def run_one(fn, args, wrt, wrt_indices, oracle: Oracle, mode: str, api: str) -> dict:
    """Run one (mode, api) and classify it."""
    from autodiff_compiler import grad, value_and_grad
    from autodiff_compiler.errors import ArgumentError, AutodiffError, InternalError
    jit, simplify = MODES[mode]
    single = not isinstance(wrt, tuple)
    if api in DERIVATIVE_APIS:
        return run_derivative(fn, args, wrt, wrt_indices, oracle, mode, api)
    make = grad if api == "grad" else value_and_grad
    call_args = _copy(args)
    record = {"mode": mode, "api": api}
    start = time.perf_counter()
    cpu = time.process_time()
    phase = "grad()"
    try:
        g = make(fn, wrt=wrt, jit=jit, simplify=simplify)
        phase = "call"
        result = g(*call_args)
    except ArgumentError as exc:
        if COMPLEX_REFUSAL in str(exc):
            record.update(outcome="refused", category="complex intermediate", exc=type(exc).__name__,
                          detail=str(exc)[:600], got=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            return _timed(record, start, cpu)
        if jit and INT64_OVERFLOW in str(exc):
            record.update(outcome="refused", category="int beyond 64 bits", exc=type(exc).__name__,
                          detail=str(exc)[:600], got=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            return _timed(record, start, cpu)
        record.update(outcome="wrong", category="false-ArgumentError", exc=type(exc).__name__,
                      detail=f"raised {type(exc).__name__} ({phase}) where the function and its gradient are "
                             f"finite and smooth: {str(exc).splitlines()[0][:300]}",
                      got=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                      expected=describe(_expected(oracle, single, api)))
        return _timed(record, start, cpu)
    except InternalError as exc:
        record.update(outcome="crash", category=f"InternalError: {_cause(exc)}", exc=type(exc).__name__,
                      detail=f"{phase}: {str(exc)[:600]}",
                      got=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                      expected=describe(_expected(oracle, single, api)))
        return _timed(record, start, cpu)
    except AutodiffError as exc:
        record.update(outcome="refused", category=type(exc).__name__, exc=type(exc).__name__,
                      detail=str(exc)[:600], got=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                      expected=describe(_expected(oracle, single, api)))
        return _timed(record, start, cpu)
    except Exception as exc:      # noqa: BLE001 -- every other exception is a crash
        record.update(outcome="crash", category=type(exc).__name__, exc=type(exc).__name__,
                      detail=f"{phase}: {_short_traceback(exc)}",
                      got=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}",
                      expected=describe(_expected(oracle, single, api)))
        return _timed(record, start, cpu)
    _timed(record, start, cpu)
    record["expected"] = describe(_expected(oracle, single, api))
    record["got"] = describe(result)
    if mode == NATIVE_MODE:
        differs = _native_differs(g, args, result)
        if differs:
            record.update(outcome="wrong" if "differs" in differs else "crash", category="native", detail=differs)
            return record
    # arguments must be unchanged
    for k, (before, after) in enumerate(zip(args, call_args)):
        if isinstance(before, np.ndarray) and not np.array_equal(before, after):
            record.update(outcome="wrong", category="mutated-argument",
                          detail=f"argument {k} was modified by the call")
            return record
    try:
        value, grads = split_result(result, args, wrt_indices, single, api)
    except ValueError as exc:
        record.update(outcome="wrong", category="structure", detail=str(exc))
        return record
    verdict, rel, method = oracle.check_grads(grads)
    record["rel_error"] = rel
    record["method"] = method
    if verdict == "inconclusive":
        record.update(outcome="skipped", category="inconclusive", detail=f"no reference: {method}")
        return record
    if verdict == "wrong":
        record.update(outcome="wrong", category="gradient",
                      detail=f"gradient disagrees with the {method} reference (relative error {rel:.3g})")
        return record
    if api == "vag":
        v_verdict, v_rel = oracle.check_value(value)
        if v_verdict != "ok":
            record.update(outcome="wrong", category="value", rel_error=v_rel,
                          detail=f"value {value!r} != primal {oracle.value64!r}")
            record["expected"] = describe(_expected(oracle, single, api))
            return record
    record["outcome"] = "ok"
    return record


NATIVE_MODE = "jit-simp"     # the mode whose gradient objects also build `g.native(...)` (issue 11)


def _native_differs(g, args, result) -> str:
    """'' when the object called again (through its signature's entry: a checked router for numbers,
    `call_entries.make_entry`), `g.native(*args)` (the checked native entry), and the object itself once
    the signature is hot, give exactly the object's result, or the function is not one they cover; else
    what went wrong."""
    from autodiff_compiler.errors import ArgumentError, AutodiffError
    differs = _call_again(g, args, result, "called again")
    if differs:
        return differs
    try:
        native = g.native(*_copy(args))
    except ArgumentError:
        return ""                   # containers, module data...: the entry covers numbers and float arrays
    except Exception as exc:        # noqa: BLE001
        return f"g.native() raised {type(exc).__name__}: {str(exc).strip()[:300]}"
    try:
        got = native(*_copy(args))
    except AutodiffError as exc:
        return f"g.native(...)(*args) differs: raised {type(exc).__name__} where the object returned"
    except Exception as exc:        # noqa: BLE001
        return f"g.native(...)(*args) raised {type(exc).__name__}: {str(exc).strip()[:300]}"
    if not _identical(got, result):
        return f"g.native(...)(*args) differs: {describe(got)} where the object gave {describe(result)}"
    # the object itself once this signature is hot: its `__call__` is then the router to that native entry
    # (`backend/router.py`), or the frame around it
    from autodiff_compiler.call_entries import is_native_entry
    g._promote(tuple(_copy(args)))
    if not is_native_entry(type(g).__dict__.get("__call__")):
        return "g(*args) once hot: no native entry installed where g.native(...) was built"
    return _call_again(g, args, result, "once hot")


def _call_again(g, args, result, when: str) -> str:
    """'' when g(*args) now returns exactly `result` (the object's first call); else what it did."""
    try:
        again = g(*_copy(args))
    except Exception as exc:        # noqa: BLE001
        return f"g(*args) {when} raised {type(exc).__name__}: {str(exc).strip()[:300]}"
    if not _identical(again, result):
        return f"g(*args) {when} differs: {describe(again)} where the object gave {describe(result)}"
    return ""


def _identical(a, b) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and \
            all(_identical(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and \
            np.array_equal(a, b, equal_nan=True)
    return type(a) is type(b) and (a == b or (a != a and b != b))


def run_derivative(fn, args, wrt, wrt_indices, oracle: Oracle, mode: str, api: str) -> dict:
    """Run jvp or hvp in one mode and classify it (see DERIVATIVE_APIS)."""
    from autodiff_compiler.errors import ArgumentError, AutodiffError, InternalError
    jit, simplify = MODES[mode]
    single = not isinstance(wrt, tuple)
    record = {"mode": mode, "api": api}
    start, cpu = time.perf_counter(), time.process_time()
    call_args = _copy(args)
    try:
        if api == "jvp":
            value, grads = _jvp_gradient(fn, call_args, wrt, wrt_indices, jit, simplify)
        else:
            got, reference = _hvp_against_rows(fn, call_args, wrt_indices, jit, simplify)
    except ArgumentError as exc:
        if jit and INT64_OVERFLOW in str(exc):
            record.update(outcome="refused", category=f"{api}: int beyond 64 bits", exc=type(exc).__name__,
                          detail=str(exc)[:600], got=str(exc).splitlines()[0][:200])
            return _timed(record, start, cpu)
        record.update(outcome="wrong", category=f"{api}: false-ArgumentError", exc=type(exc).__name__,
                      detail=f"{api} raised {type(exc).__name__} where the function and its gradient are finite "
                             f"and smooth: {str(exc).splitlines()[0][:300]}", got=str(exc).splitlines()[0][:200])
        return _timed(record, start, cpu)
    except InternalError as exc:
        record.update(outcome="crash", category=f"{api}: InternalError: {_cause(exc)}", exc=type(exc).__name__,
                      detail=str(exc)[:600], got=str(exc).splitlines()[0][:200])
        return _timed(record, start, cpu)
    except AutodiffError as exc:
        record.update(outcome="refused", category=f"{api}: {type(exc).__name__}", exc=type(exc).__name__,
                      detail=str(exc)[:600], got=str(exc).splitlines()[0][:200])
        return _timed(record, start, cpu)
    except Exception as exc:      # noqa: BLE001 -- every other exception is a crash
        record.update(outcome="crash", category=f"{api}: {type(exc).__name__}", exc=type(exc).__name__,
                      detail=_short_traceback(exc), got=str(exc).strip()[:200])
        return _timed(record, start, cpu)
    _timed(record, start, cpu)
    for k, (before, after) in enumerate(zip(args, call_args)):
        if isinstance(before, np.ndarray) and not np.array_equal(before, after):
            record.update(outcome="wrong", category="mutated-argument", detail=f"argument {k} was modified")
            return record
    if api == "jvp":
        record["expected"] = describe(_expected(oracle, single, "grad"))
        record["got"] = describe(grads[0] if single else tuple(grads))
        verdict, rel, method = oracle.check_grads(grads)
        record.update(rel_error=rel, method=method)
        if verdict == "inconclusive":
            record.update(outcome="skipped", category="inconclusive", detail=f"no reference: {method}")
        elif verdict == "wrong":
            record.update(outcome="wrong", category="jvp",
                          detail=f"jvp's columns disagree with the {method} gradient (relative error {rel:.3g})")
        elif oracle.check_value(value)[0] != "ok":
            record.update(outcome="wrong", category="jvp value", detail=f"value {value!r} != {oracle.value64!r}")
        else:
            record["outcome"] = "ok"
        return record
    record["got"], record["expected"] = describe(got), describe(reference)
    if reference is None:
        record.update(outcome="skipped", category="no reverse-over-forward reference")
        return record
    got, reference = np.asarray(got, dtype=float), np.asarray(reference, dtype=float)
    scale = max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    if got.shape != reference.shape:
        record.update(outcome="wrong", category="hvp structure", detail=f"shape {got.shape}, not {reference.shape}")
    elif not np.all(np.isfinite(got)) and np.all(np.isfinite(reference)):
        record.update(outcome="wrong", category="hvp", detail="not finite where the other derivation is")
    elif not np.allclose(got, reference, rtol=HVP_RTOL, atol=HVP_RTOL * scale, equal_nan=True):
        rel = float(np.max(np.abs(got - reference))) / scale
        record.update(outcome="wrong", category="hvp", rel_error=rel,
                      detail=f"forward over reverse and reverse over forward disagree (relative {rel:.3g})")
    else:
        record["outcome"] = "ok"
    return record


def _expected(oracle: Oracle, single: bool, api: str):
    ref = oracle.reference
    if ref is None:
        return None
    grads = tuple(ref.grads)
    out = grads[0] if single else grads
    return (oracle.value64, out) if api == "vag" else out


def _timed(record, start, cpu):
    record["seconds"] = time.perf_counter() - start
    record["cpu"] = time.process_time() - cpu
    return record


def process(program: dict, runs: list, directory: str):
    """Yield ('oracle', info) and then ('run', record) for each run, in order."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        module, path = load_module(program["source"], directory)
        fn = getattr(module, program["func"])
    except Exception as exc:      # the generator's own bug: report, never hide
        yield ("oracle", {"skip": f"generator: module does not load: {_short_traceback(exc)}",
                          "seconds": time.perf_counter() - t0, "generator_bug": True})
        return
    args = program["args"]
    wrt = program["wrt"]
    wrt_indices = program["wrt_indices"]
    oracle = Oracle(program["source"], program["func"], args, wrt_indices, function=fn, filename=path)
    try:
        reason = oracle.prepare()
    except AssertionError as exc:
        yield ("oracle", {"skip": f"oracle: {exc}", "seconds": time.perf_counter() - t0, "oracle_bug": True})
        return
    info = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "notes": list(oracle.notes)}
    if reason is not None:
        # where the oracle's own run found no end, neither would the function's
        verdict = None if ENDLESS in reason else python_raises(fn, args)
        if verdict is None:
            info["skip"] = reason
            yield ("oracle", info)
            return
        info["raises"] = verdict
        yield ("oracle", info)
        for mode, api in runs:
            with np.errstate(all="ignore"):
                yield ("run", run_raising(fn, args, wrt, wrt_indices, verdict, mode, api))
        return
    info["method"] = oracle.reference.method
    info["value"] = oracle.value64
    yield ("oracle", info)
    fault = program.get("fault")
    for mode, api in runs:
        if fault and fault.get("run", (mode, api)) == (mode, api) and fault.get("when", "") in program["source"]:
            _inject(fault["what"])
        with np.errstate(all="ignore"):
            record = run_one(fn, args, wrt, wrt_indices, oracle, mode, api)
        yield ("run", record)


def _inject(what: str):
    """Fault injection for the fuzzer's own tests: make this worker die or hang like a compiled crash would."""
    if what == "segv":
        import signal
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what == "hang":
        time.sleep(3600)
    elif what == "exit":
        os._exit(3)


def worst(outcomes) -> str:
    outcomes = list(outcomes)
    if not outcomes:
        return "skipped"
    return max(outcomes, key=lambda o: SEVERITY[o])
