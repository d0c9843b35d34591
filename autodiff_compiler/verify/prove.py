"""Prove: a derived gradient program equal to SymPy's derivative of the same function.

Takes: a pipeline `State` (the primal IR with its types, the adjoint IR whose
`returns` are `(value, d value/d wrt_1, ...)` or the gradients alone, the
`wrt` names), the call's arguments, and optionally the user's Python
function.

`prove_at(state, args, fn)` proves at exactly `args` (one instance).  It
guarantees:

* both programs are executed *symbolically* on the instance (see
  `executor`): the primal gives V, the adjoint gives, for every `wrt` name, a
  gradient G -- along the path the generated code takes on that instance;
* each G is compared with D = SymPy's derivative of V: exactly
  (`simplify(G - D) == 0`) when both are small enough for that to be cheap,
  otherwise at the instance's point and five random points near it (relative
  perturbation 1e-3, fixed seed) in 50-digit arithmetic, where they must
  agree to a relative 1e-25 (1e-12 when some constant is known only as a
  double).  The report says which method proved each gradient.  The
  adjoint's returned value is compared with V the same way;
* V at the instance is compared with the user's own function called there
  (relative 1e-9), which catches lowering bugs that a comparison of two
  programs derived from the same IR cannot see; without the function (the
  CLI never executes the user's file) this check is skipped and said so;
* a program that misbehaves (reads a variable before assigning it, pops an
  empty tape, overruns a preallocated one, indexes out of range) fails the
  verification and the report names the statement; a primitive with no
  symbolic form is "unsupported" and named, never guessed at.

`verify_gradient(state, args, fn)` proves on the instances `instances.
plan_instances` chooses: the call itself when it is small, else a small
instance of the same generated code drawn from the call's values, plus
variations that reach the branch outcomes the first does not (the fused
loop's same-length path and its broadcasting fallback, zero-trip loops, the
other side of an `if`).  What that proves, precisely: for every instance I
listed in the report, the gradient program run on I equals SymPy's
derivative of the primal program run on I, along the path I takes, and the
primal program equals the user's function on I.  For the call itself, when
it is larger, this is evidence, not proof: the call runs the same
statements, and every branch outcome any candidate instance reaches was
proved on some instance; a defect that appears only with more entries or
loop trips than the instances have, or on an outcome no candidate reached
(listed in the report), is not excluded.  With `cache=True` a successful
proof is kept beside the compiled code and reused (see `cache`).
"""
from __future__ import annotations

import math
import sys

import mpmath
import numpy as np
import sympy

from .. import ir
from ..ir import Assign
from .cache import STATS, load_proof, proof_key, store_proof
from .executor import execute, symbolic_inputs
from .expressions import as_list, compare_expressions, derivative, evaluate, finite, nearby_points
from .forms import INEXACT_SEEN
from .instances import Instance, Plan, plan_instances
from .limits import (PRIMAL_REL_TOL, RECURSION_LIMIT, REL_TOL, ROUNDED_REL_TOL, ProgramError, Undefined,
                     Unsupported)
from .printed import run_printed, run_printed_numbers
from .report import GradientCheck, VerificationReport
from .symbolic import SV


def _numbers(value) -> list:
    if isinstance(value, np.ndarray):
        return [float(v) for v in value.ravel()]
    if isinstance(value, (tuple, list)):
        return [float(v) for v in value]
    return [float(value)]


def primal_against_function(primal: SV, point: dict, fn, args) -> tuple[bool, str]:
    """Compare the symbolic primal at the instance's point with the user's function there."""
    if fn is None:
        return True, ("symbolic value not compared with the Python function "
                      "(it was not executed; skipped)")
    try:
        call_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        expected = _numbers(fn(*call_args))
    except Exception as exc:   # the user's own function raised: nothing to compare with
        return True, f"symbolic value not compared: calling {getattr(fn, '__name__', 'fn')} raised {exc!r}"
    got = [float(v) for v in as_list(evaluate(primal.expr, point))]
    name = getattr(fn, "__name__", "fn")
    if len(got) != len(expected):
        return False, f"symbolic value has {len(got)} element(s), {name}(...) returned {len(expected)}"
    for g, e in zip(got, expected):
        if not math.isclose(g, e, rel_tol=PRIMAL_REL_TOL, abs_tol=1e-12):
            if _ill_conditioned(primal.expr, point, got) and _numbers(primal.num) == expected:
                # the program's own float64 run is the function's, to the bit: the exact value of the
                # path's formula is another number only because the formula amplifies rounding
                return True, (f"the path's formula is ill-conditioned at this point (exact {g!r}; a relative "
                              f"change of 2**-50 in its inputs moves it by more than {PRIMAL_REL_TOL}): its "
                              f"float64 run equals {name}(...), {e!r}")
            return False, (f"MISMATCH: the symbolic primal gives {g!r} but {name}(...) returns {e!r} "
                           "(the lowering changed the function)")
    shown = got[0] if len(got) == 1 else f"{len(got)} values"
    return True, f"symbolic value {shown!r} equals {name}(...) (rel. 1e-9)"


def _ill_conditioned(expr, point: dict, base: list) -> bool:
    """Does a relative change of 2**-50 (a few roundings) of the inputs move `expr` from `base`, its values
    at `point`, by more than PRIMAL_REL_TOL?  Then the exact value of a path's formula says nothing of its
    float64 run (fifty trips of a Newton iteration for the square root of a negative number: helper-72's
    instance)."""
    for sign in (1.0, -1.0):
        moved = {s: v * (1.0 + sign * 2.0 ** -50) for s, v in point.items()}
        values = [float(v) for v in as_list(evaluate(expr, moved))]
        if any(not math.isclose(a, b, rel_tol=PRIMAL_REL_TOL, abs_tol=1e-12) for a, b in zip(base, values)):
            return True
    return False


class deep_recursion:
    """Context manager: a recursion limit high enough for deeply nested expressions."""

    def __enter__(self):
        self.previous = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.previous, RECURSION_LIMIT))
        return self

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.previous)
        return False


def _new_report(state, args) -> VerificationReport:
    primal = state.primal
    return VerificationReport(primal.name, list(primal.params), tuple(args), list(state.leaf_wrt))


# -------------------------------------------------------------- one instance

def prove_at(state, args, fn=None, label: str = "the call") -> VerificationReport:
    """Prove the adjoint program of `state` equal to SymPy's derivative at exactly `args`."""
    with deep_recursion():
        try:
            report = _prove_at(state, args, fn)
        except RecursionError:
            report = _new_report(state, args)
            report.unsupported = "the expressions are nested too deeply for SymPy (a very long loop?)"
    report.label = label
    return report


def _prove_at(state, args, fn=None) -> VerificationReport:
    args = tuple(args)
    report = _new_report(state, args)
    inexact_before = INEXACT_SEEN[0]
    V = None
    try:
        V, _, symbols, point = execute(state.primal, args, role="primal program")
        returns, _, _, _ = execute(state.adjoint, args, returns=True, types=state.primal.types,
                                   role="gradient program")
    except Unsupported as exc:
        report.unsupported = str(exc)
        return report
    except Undefined as exc:
        finite = _finite_derivatives(state, V, symbols, point) if V is not None else None
        if finite is not None:          # the function is differentiable here; its gradient program is not
            report.program_error = (f"the gradient program is undefined here ({exc}) where SymPy's "
                                    f"derivative is finite ({finite})")
        else:
            report.undefined = str(exc)
        return report
    except ProgramError as exc:
        raised = _raises(fn, args)
        if raised is not None:          # the user's function fails here too: not a point of it
            report.undefined = raised
        else:
            report.program_error = str(exc)
        return report
    report.primal, report.symbols, report.point = V.expr, symbols, point
    points = [point] + nearby_points(point)
    # a constant known only as a double (folded in double precision, say) limits the agreement
    # to be expected; REL_TOL otherwise
    report.rounded_constants = INEXACT_SEEN[0] > inexact_before
    rel_tol = ROUNDED_REL_TOL if report.rounded_constants else REL_TOL

    with_value = getattr(state, "with_value", True)
    value, grads = (returns[0], returns[1:]) if with_value else (None, returns)
    intermediates = tuple(getattr(state, "intermediates", ()) or ())
    if len(grads) != len(state.leaf_wrt) + len(intermediates):
        report.value_ok = False
        report.value_detail = (f"the adjoint returns {len(grads)} gradient(s) for {len(state.leaf_wrt)} wrt name(s)"
                               + (f" and {len(intermediates)} intermediate(s)" if intermediates else ""))
        return report
    grads, intermediate_grads = grads[:len(state.leaf_wrt)], grads[len(state.leaf_wrt):]
    if value is not None:
        method, err, where = compare_expressions(value.expr, V.expr, points, rel_tol)
        if method is None:
            report.value_ok = False
            report.value_detail = (f"the gradient program's value differs from the primal's "
                                   f"(max rel. error {err:.3g})")

    for name, G in zip(state.leaf_wrt, grads):
        sym = symbols.get(name)
        if sym is None:
            report.unsupported = f"{name!r} has no symbol (not a float parameter)"
            return report
        if isinstance(V.expr, np.ndarray):
            report.unsupported = "gradients of array-valued functions"
            return report
        if isinstance(sym, np.ndarray):
            D = np.empty(sym.shape, dtype=object)
            for index in np.ndindex(*sym.shape):
                D[index] = derivative(V.expr, sym[index])
        else:
            D = derivative(V.expr, sym)
        derived = G.expr
        if isinstance(D, np.ndarray) and not isinstance(derived, np.ndarray):
            derived = np.full(D.shape, derived, dtype=object)   # a broadcast zero, say
        method, err, where = compare_expressions(derived, D, points, rel_tol)
        check = GradientCheck(name, method is not None, method or "", derived, D, err, where,
                              rel_tol=rel_tol)
        if where is not None:
            check.derived_value = evaluate(derived, where) if not isinstance(derived, np.ndarray) else None
            check.sympy_value = evaluate(D, where) if not isinstance(D, np.ndarray) else None
        report.entries.append(check)

    if intermediates:
        _check_intermediates(report, state, args, intermediates, intermediate_grads, points, rel_tol)
    report.primal_ok, report.primal_check = primal_against_function(V, point, fn, args)
    if getattr(state, "text", ""):
        _check_printed(report, state, args, returns, V, points, rel_tol)
    return report


def _identical(a, b) -> bool:
    """The same expression (or array of them), compared over the DAG: each pair of nodes once
    (SymPy's `==` recurses over the tree, exponential on shared subexpressions)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        if a.shape != b.shape:
            return False
        pairs = list(zip(a.flat, b.flat))
    else:
        pairs = [(a, b)]
    seen = set()
    while pairs:
        x, y = pairs.pop()
        if x is y or (id(x), id(y)) in seen:
            continue
        seen.add((id(x), id(y)))
        if not (isinstance(x, sympy.Basic) and isinstance(y, sympy.Basic)):
            if x != y:
                return False
            continue
        if type(x) is not type(y) or hash(x) != hash(y) or len(x.args) != len(y.args):
            return False
        if not x.args:
            if x != y:
                return False
            continue
        pairs.extend(zip(x.args, y.args))
    return True


def _check_printed(report, state, args, ir_returns, V, points, rel_tol) -> None:
    """Run the printed module on the instance and compare what it returns with what was proved."""
    env, _, _ = symbolic_inputs(state.primal, args)
    inputs = [env[p] for p in state.primal.params]
    name, count = state.adjoint.name, len(state.adjoint.returns)
    inexact_before = INEXACT_SEEN[0]
    try:
        results = run_printed(state.text, name, inputs, count)
    except (Unsupported, Undefined) as exc:
        try:
            numbers = run_printed_numbers(state.text, name, inputs, count)
        except ProgramError as err:
            report.module_ok = False
            report.module_check = f"{err} on this instance, where the gradient program runs"
            return
        _compare_printed_numbers(report, numbers, ir_returns, exc)
        return
    if len(results) != len(ir_returns):
        report.module_ok = False
        report.module_check = f"the printed module returns {len(results)} value(s), the program {len(ir_returns)}"
        return
    with_value = getattr(state, "with_value", True)
    same = all(_identical(r.expr, g.expr) for r, g in zip(results, ir_returns))
    if same:
        report.module_check = ("run symbolically on this instance, the printed module gives the very "
                               "expressions proved above")
        return
    if INEXACT_SEEN[0] > inexact_before:      # a literal of the text known only as a double
        rel_tol = max(rel_tol, ROUNDED_REL_TOL)
    # `stop_gradient(e)` prints as `e`: the IR proof holds its value constant at the instance, the
    # printed module keeps its expression, so the two agree at the instance's point only
    frozen = any(isinstance(stmt, Assign) and stmt.prim == "stop_gradient"
                 for function in (state.primal, state.adjoint) for stmt in ir.walk(function.body))
    if frozen:              # ... and the IR holds the value as the double it computed
        points = points[:1]
        rel_tol = max(rel_tol, ROUNDED_REL_TOL)
    else:                   # the IR proof covers the six points; a printer's slip shows at two
        points = points[:2]
    if with_value:
        method, err, _ = compare_expressions(results[0].expr, V.expr, points, rel_tol, try_exact=False)
        if method is None:
            report.module_ok = False
            report.module_check = f"the printed module's value differs from the primal's (rel. error {err:.3g})"
            return
    for check, result in zip(report.entries, results[1:] if with_value else results):
        derived = result.expr
        if isinstance(check.sympy, np.ndarray) and not isinstance(derived, np.ndarray):
            derived = np.full(check.sympy.shape, derived, dtype=object)
        method, err, where = compare_expressions(derived, check.sympy, points, rel_tol, try_exact=False)
        if method is None:
            report.module_ok = False
            wrong = GradientCheck(check.name, False, "", derived, check.sympy, err, where, rel_tol=rel_tol)
            if where is not None and not isinstance(derived, np.ndarray):
                wrong.derived_value, wrong.sympy_value = evaluate(derived, where), evaluate(check.sympy, where)
            report.module_entries.append(wrong)
    if report.module_ok and frozen:
        report.module_check = ("run symbolically on this instance, the printed module's gradients equal SymPy's "
                               f"derivative at its point (to a relative {rel_tol:g}; stop_gradient values are constants "
                               "there)")
    elif report.module_ok:
        report.module_check = ("run symbolically on this instance, the printed module's gradients equal SymPy's "
                               f"derivative to a relative {rel_tol:g} at {len(points)} points")
    else:
        report.module_check = "the printed module's gradients differ from SymPy's derivative"


def _compare_printed_numbers(report, numbers, ir_returns, why) -> None:
    """The printed module could only run on numbers: compare them with the proved expressions."""
    point = report.point
    for number, proved in zip(numbers, ir_returns):
        expected = [float(v) for v in as_list(evaluate(proved.expr, point))]
        got = [float(v) for v in np.ravel(np.asarray(number, dtype=float))]
        if len(got) != len(expected) or not all(
                math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12) for g, e in zip(got, expected)):
            report.module_ok = False
            report.module_check = (f"the printed module gives {got} where the proved gradient program gives "
                                   f"{expected} on this instance")
            return
    report.module_check = (f"the printed module, run on numbers (its symbolic run stopped: {why}), gives the "
                           f"proved values to a relative 1e-9")


def _check_intermediates(report, state, args, names, derived, points, rel_tol) -> None:
    """`intermediates=`: the gradient of a local variable is SymPy's derivative of the value with
    respect to a symbol standing for that variable where it is assigned (then the symbol is put
    back to the variable's own expression, so both sides are functions of the parameters)."""
    cuts = {}
    for name in names:
        def symbols_of(shape, name=name):
            if not shape:
                return sympy.Symbol(f"{name}__intermediate", real=True)
            out = np.empty(shape, dtype=object)
            for index in np.ndindex(*shape):
                out[index] = sympy.Symbol(f"{name}__intermediate_{'_'.join(map(str, index))}", real=True)
            return out
        cuts[name] = symbols_of
    V_cut, env, _, _ = execute(state.primal, args, role="primal program", cuts=cuts)
    held = env.get("__cut__", {})
    for name in names:
        if name not in held:
            report.unsupported = f"the intermediate {name!r} is not assigned on the path taken"
            return
    replacements = {}
    cut_symbols = {}
    for name in names:
        original = held[name]
        shape = original.num.shape if original.is_array else ()
        syms = cuts[name](shape)
        cut_symbols[name] = syms
        pairs = zip(np.ravel(np.asarray(syms, dtype=object)), np.ravel(np.asarray(original.expr, dtype=object)))
        replacements.update(pairs)
    for name, G in zip(names, derived):
        syms = cut_symbols[name]
        if isinstance(syms, np.ndarray):
            D = np.empty(syms.shape, dtype=object)
            for index in np.ndindex(*syms.shape):
                D[index] = sympy.sympify(derivative(V_cut.expr, syms[index])).xreplace(replacements)
        else:
            D = sympy.sympify(derivative(V_cut.expr, syms)).xreplace(replacements)
        expr = G.expr
        if isinstance(D, np.ndarray) and not isinstance(expr, np.ndarray):
            expr = np.full(D.shape, expr, dtype=object)
        method, err, where = compare_expressions(expr, D, points, rel_tol)
        check = GradientCheck(f"{name} (intermediate)", method is not None, method or "", expr, D, err, where,
                              rel_tol=rel_tol)
        if where is not None and not isinstance(expr, np.ndarray):
            check.derived_value, check.sympy_value = evaluate(expr, where), evaluate(D, where)
        report.entries.append(check)


def _finite_derivatives(state, V, symbols, point) -> str | None:
    """SymPy's derivatives at the point, as text, when all of them are finite; else None."""
    if isinstance(V.expr, np.ndarray):
        return None
    shown = []
    for name in state.leaf_wrt:
        sym = symbols.get(name)
        if sym is None:
            return None
        try:
            values = [evaluate(derivative(V.expr, s), point) for s in np.ravel(np.asarray(sym, dtype=object))]
        except (Undefined, Unsupported, ZeroDivisionError, ValueError, OverflowError, TypeError):
            return None
        if not all(finite(v) for v in values):
            return None
        shown.append(f"d/d{name} = " + ", ".join(mpmath.nstr(v, 12) for v in values[:4])
                     + (", ..." if len(values) > 4 else ""))
    return "; ".join(shown)


def _raises(fn, args) -> str | None:
    """What the user's function raises at `args`, or None (also when there is no function)."""
    if fn is None:
        return None
    try:
        fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    except Exception as exc:
        return f"{getattr(fn, '__name__', 'fn')}(...) raises {exc!r} here"
    return None


# ------------------------------------------------------------ all instances

def verify_gradient(state, args, fn=None, *, cache: bool = False) -> VerificationReport:
    """Prove the gradient program of `state` on the instances chosen for the call `args` (see the
    module docstring).  The report is the first instance's, with the others in `instances`.  What
    it does is logged (logger `autodiff_compiler`, INFO) when the call is proved on small instances
    or the proof takes more than a second."""
    import logging
    import time
    log = logging.getLogger("autodiff_compiler")
    started = time.perf_counter()
    args = tuple(args)
    name = state.primal.name
    try:
        plan = plan_instances(state, args, fn)
    except (Unsupported, Undefined, ProgramError, RecursionError, ValueError, TypeError, IndexError) as exc:
        # choosing instances failed: prove at the call itself, and say why
        plan = Plan([Instance(args, "the call", is_call=True)], True,
                    f"small instances could not be chosen: {type(exc).__name__}: {exc}")
    key = None
    if cache:
        key = proof_key(state, fn, plan)
        stored = load_proof(state, key)
        if stored is not None:
            report = _new_report(state, args)
            report.plan, report.cached, report.cached_text = plan, stored["path"], stored["report"]
            log.debug("verify %s: proof read from the cache (%s)", name, stored["path"])
            return report
    first, *others = plan.instances
    count = len(plan.instances)
    if not first.is_call:
        log.info("verify %s: the call is too large to prove as it is; proving the same generated code on %d "
                 "small instance(s) (arrays of at most 3 entries per axis, loop bounds at most 3)", name, count)

    def progress(k, instance):
        if not first.is_call or time.perf_counter() - started > 1.0:
            log.info("verify %s: instance %d of %d proved (%s), %.1f s so far", name, k, count, instance.label,
                     time.perf_counter() - started)
    report = prove_at(state, first.args, fn, first.label)
    report.plan = plan
    if not first.is_call:
        report.call_args = args
    STATS["proved"] += 1
    if not report.ok:        # the first instance settles it; the others would only add time
        return report
    progress(1, first)
    for k, instance in enumerate(others, start=2):
        other = prove_at(state, instance.args, fn, instance.label)
        report.instances.append(other)
        progress(k, instance)
    if cache and report.ok:
        store_proof(state, key, report, plan)
    elapsed = time.perf_counter() - started
    if elapsed > 1.0 or not first.is_call:
        log.info("verify %s: %s in %.1f s", name, "proved" if report.ok else "FAILED", elapsed)
    return report
