"""Verify derivatives beyond the gradient: jvp, vjp, Jacobians, Hessians, Hessian-vector products, grad of grad.

Takes: a pipeline `State` of one of these derivations, the call's arguments
(and the extra inputs: tangents, the hvp vector, cotangents), and optionally
the user's Python function.  Guarantees, reusing the symbolic executor of
`verify.py` (so both prove the same way):

* the derived program is executed symbolically at the call's arguments; its
  tangent, vector and cotangent inputs become symbols too, so a proof holds
  for every direction, not one;
* the reference is SymPy's derivative of the symbolic value of the user's own
  function -- never of a program this compiler derived: for an object made
  from `grad` objects (`grad(grad(f))`, `hessian(grad(f))`) the innermost
  plain function is executed symbolically and differentiated once per level;
* jvp: sum_j dV/dw_j . t_j; vjp: sum_k ct_k . dV_k/dw_j; Jacobian: every
  dV_k[a]/dw_j[b]; Hessian: d2V/dw_k[a]dw_j[b]; hvp: sum_b H[a, b] v_b; each
  compared as `verify.compare_expressions` does (exactly when cheap, else in
  50-digit arithmetic at the call's point and points near it);
* the symbolic value is compared with the user's Python function at the
  call's point, as for gradients.
The report is a `verify.VerificationReport` (one entry per derivative part).
"""
from __future__ import annotations

import numpy as np

from . import verify as V
from .pipeline import State, Step, run_until
from .verify import forms, limits
from .verify.prove import deep_recursion, primal_against_function
from .verify.report import _show_point, _show_value


def _derivative(expr, symbol):
    """d expr / d symbol, elementwise for arrays of expressions."""
    if isinstance(expr, np.ndarray):
        out = np.empty(expr.shape, dtype=object)
        for index in np.ndindex(*expr.shape):
            out[index] = V.derivative(expr[index], symbol)
        return out
    return V.derivative(expr, symbol)


def _symbols_of(symbols: dict, name: str) -> list:
    """The symbols of parameter `name`, flattened by rows (one for a float)."""
    s = symbols.get(name)
    if s is None:
        raise V.Unsupported(f"{name!r} has no symbol (not a float parameter)")
    return list(s.flat) if isinstance(s, np.ndarray) else [s]


def _flat(expr) -> list:
    return list(expr.flat) if isinstance(expr, np.ndarray) else [expr]


def _reference_values(state, args):
    """(values of the user's function as SymPy expressions, one per output leaf, symbols, point, the
    symbolic primal SV of the plain function).  For a function wrapped in grad objects: the plain
    function's value, differentiated once per wrapping level."""
    if state.regions:
        plain = State(state.source, state.param_types, state.wrt, state.simplify, skip=state.skip,
                      steps=(Step("jacobian", tuple(state.wrt), mode="forward"),))
        primal = run_until(plain, "fuse").primal
    else:
        primal = state.primal
    result, _, symbols, point = V.execute(primal, args)
    values = list(result) if primal.returns else [result]
    # all outputs as one value, for the comparison with the user's function
    plain_value = values[0] if len(values) == 1 else V.SV(
        np.array([e for v in values for e in _flat(v.expr)], dtype=object),
        np.array([float(e) for v in values for e in np.ravel(v.num)]))
    exprs = [v.expr for v in values]
    for kind, wrt, with_value, single in state.regions:
        if len(exprs) != 1 or isinstance(exprs[0], np.ndarray):
            raise V.Unsupported("grad of a function that does not return one float")
        value = exprs[0]
        exprs = ([value] if with_value else []) + [_gradient(value, symbols, w) for w in wrt]
    return exprs, symbols, point, plain_value


def _gradient(value, symbols: dict, w: str):
    """d value / d w, shaped like w."""
    s = symbols.get(w)
    if s is None:
        raise V.Unsupported(f"{w!r} has no symbol (not a float parameter)")
    if isinstance(s, np.ndarray):
        return np.vectorize(lambda sym: V.derivative(value, sym), otypes=[object])(s)
    return V.derivative(value, s)


class DerivativeReport(V.VerificationReport):
    """A `VerificationReport` whose entries are named parts of a derivative (`J[0][x]`, `H[x][x]`, ...)."""

    def __str__(self) -> str:
        if self.unsupported is not None or self.undefined is not None:
            return super().__str__()
        head = "verified against SymPy" if self.ok else "VERIFICATION FAILED"
        lines = [f"{head}: {self._call()}"]
        for e in self.entries:
            lines.append(f"  {e.name}: {e.verdict}")
            lines.append(f"    SymPy:   {V.short(e.sympy)}")
            if not e.ok:
                lines.append(f"    derived: {V.short(e.derived)}")
                if e.where is not None:
                    lines.append(f"    at {_show_point(e.where)}: derived = {_show_value(e.derived_value)}, "
                                 f"SymPy = {_show_value(e.sympy_value)}")
        lines.append(f"  primal: {self.primal_check}")
        return "\n".join(lines)


def _report(state, args, label) -> V.VerificationReport:
    primal = state.primal
    name = primal.name
    for kind, wrt, with_value, single in state.regions:
        name = f"grad({name})"
    report = DerivativeReport(f"{label} of {name}", list(primal.params), tuple(args), list(state.wrt))
    report.target = name
    return report


def _check(report, name, derived, reference, points, rel_tol):
    method, err, where = V.compare_expressions(derived, reference, points, rel_tol)
    check = V.GradientCheck(name, method is not None, method or "", derived, reference, err, where,
                            rel_tol=rel_tol)
    if where is not None and not isinstance(derived, np.ndarray):
        check.derived_value = V.evaluate(derived, where)
        check.sympy_value = V.evaluate(reference, where)
    report.entries.append(check)


def verify_state(kind: str, state, args, extra=(), fn=None) -> V.VerificationReport:
    """Prove the derivation `state` of kind "jvp", "vjp", "jacobian", "hessian", "hvp" or "grad" (of a
    function wrapped in grad objects) at `args` (see the module docstring)."""
    with deep_recursion():
        try:
            return _verify(kind, state, list(args), list(extra), fn)
        except RecursionError:
            report = _report(state, args, kind)
            report.unsupported = "the expressions are nested too deeply for SymPy (a very long loop?)"
            return report


def _verify(kind, state, args, extra, fn):
    report = _report(state, args, kind)
    inexact_before = forms.INEXACT_SEEN[0]
    try:
        values, symbols, point, plain_value = _reference_values(state, args)
        program = state.adjoint
        if kind in ("jvp", "hvp", "vjp"):
            # the extra inputs as symbols: the proof holds for every direction
            results, _, program_symbols, program_point = V.execute(program, args + extra, returns=True,
                                                                   types=program.types)
        else:
            results, _, program_symbols, program_point = V.execute(program, args, returns=True,
                                                                   types=program.types)
    except V.Unsupported as exc:
        report.unsupported = str(exc)
        return report
    except V.Undefined as exc:
        report.undefined = str(exc)
        return report
    point = dict(point)
    point.update(program_point)
    points = [point] + V.nearby_points(point)
    rel_tol = limits.ROUNDED_REL_TOL if forms.INEXACT_SEEN[0] > inexact_before else limits.REL_TOL
    report.rounded_constants = rel_tol > limits.REL_TOL
    report.symbols, report.point = symbols, point
    extra_names = program.params[len(state.primal.params):]
    wrt = list(state.steps[-1].wrt)
    first = state.steps[0]
    try:
        if kind in ("jvp", "jacobian") and len(state.steps) > 1 and first.kind == "reverse":
            # jvp(grad(f)), jacobian(grad(f)): derivatives of the gradient (and of the value, if returned)
            if len(values) != 1 or isinstance(values[0], np.ndarray):
                raise V.Unsupported("grad of a function that does not return one float")
            values = ([values[0]] if first.with_value else []) + [_gradient(values[0], symbols, w)
                                                                   for w in first.wrt]
        if kind == "jvp":
            count = len(results) // 2
            tangent_symbols = {w: program_symbols[t] for w, t in zip(wrt, extra_names)}
            for k, (value, tangent) in enumerate(zip(values, results[count:])):
                reference = 0
                for w in wrt:
                    t = tangent_symbols[w]
                    for sym, t_sym in zip(_symbols_of(symbols, w), _flat(t)):
                        reference = reference + _derivative(value, sym) * t_sym
                _check(report, f"tangent of output {k} (sum of d{report.target}/dw . w_dot)", tangent.expr, reference,
                       points, rel_tol)
        elif kind == "vjp":
            count = len(values)
            cts = [program_symbols[c] for c in extra_names]
            for j, w in enumerate(wrt):
                grad_sv = results[count + j]
                reference = np.empty(np.shape(symbols[w]), dtype=object) if isinstance(symbols[w], np.ndarray) \
                    else None
                entries = []
                for sym in _symbols_of(symbols, w):
                    total = 0
                    for value, ct in zip(values, cts):
                        for v, c in zip(_flat(value), _flat(ct)):
                            total = total + V.derivative(v, sym) * c
                    entries.append(total)
                reference = np.array(entries, dtype=object).reshape(np.shape(symbols[w])) \
                    if isinstance(symbols[w], np.ndarray) else entries[0]
                _check(report, f"ct . d{report.target}/d{w}", grad_sv.expr, reference, points, rel_tol)
        elif kind in ("jacobian", "hessian"):
            if kind == "hessian":
                (value,) = values
                values = [_gradient(value, symbols, w) for w in wrt]
            blocks = results[len(values):]
            for k, value in enumerate(values):
                for j, w in enumerate(wrt):
                    block = blocks[k * len(wrt) + j].expr
                    reference = np.array([[V.derivative(v, s) for s in _symbols_of(symbols, w)]
                                          for v in _flat(value)], dtype=object)
                    label = f"d2{report.target}/d{wrt[k]}d{w}" if kind == "hessian" else \
                        f"d(output {k})/d{w}"
                    _check(report, label, np.asarray(block, dtype=object).reshape(reference.shape), reference,
                           points, rel_tol)
        elif kind == "hvp":
            # one vector leaf per float leaf of the parameter (a container has several): (H v)_a sums
            # over every leaf b
            (value,) = values
            v_pairs = [(s_b, v_b) for w, name in zip(wrt, extra_names)
                       for s_b, v_b in zip(_symbols_of(symbols, w), _flat(program_symbols[name]))]
            for w, result in zip(wrt, results):
                entries = []
                for s_a in _symbols_of(symbols, w):
                    first = V.derivative(value, s_a)
                    total = 0
                    for s_b, v_b in v_pairs:
                        total = total + V.derivative(first, s_b) * v_b
                    entries.append(total)
                reference = np.array(entries, dtype=object).reshape(np.shape(symbols[w])) \
                    if isinstance(symbols[w], np.ndarray) else entries[0]
                _check(report, f"d2{report.target}/d{w}2 . v", result.expr, reference, points, rel_tol)
        elif kind == "grad":
            step = state.steps[0]
            (value,) = values[:1]
            grads = results[len(results) - len(step.wrt):]       # after the value (and aux), if returned
            for w, g in zip(step.wrt, grads):
                _check(report, f"d{report.target}/d{w}", g.expr, _gradient(value, symbols, w), points, rel_tol)
        else:  # pragma: no cover
            raise V.Unsupported(f"verification of {kind}")
    except V.Unsupported as exc:
        report.unsupported = str(exc)
        return report
    report.primal = plain_value.expr
    report.primal_ok, report.primal_check = primal_against_function(plain_value, point, _flattened(fn), args)
    return report


def _flattened(fn):
    """`fn` with its result flattened to one list of numbers (tuples of numbers and arrays)."""
    if fn is None:
        return None

    def flat(*args):
        out = []

        def visit(value):
            if isinstance(value, (tuple, list)):
                for v in value:
                    visit(v)
            else:
                out.extend(float(v) for v in np.ravel(value))
        visit(fn(*args))
        return out if len(out) != 1 else out[0]
    flat.__name__ = getattr(fn, "__name__", "fn")
    return flat


def verify_derived(obj, state, args, extra=(), fn=None) -> V.VerificationReport:
    """`verify=True` of a derivative object (`derivatives.py`, and `grad` of grad objects).  `args` are
    the program's (flat) arguments; `fn`, the user's function of them when it takes others (containers,
    module data, an object), else the plain function."""
    kind = {"value_and_grad": "grad"}.get(obj.kind, obj.kind)
    return verify_state(kind, state, args, extra, fn if fn is not None else obj.plain)
