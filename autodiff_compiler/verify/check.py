"""Check: compare a hand-derived gradient with the compiler's, and say exactly where it is wrong.

Takes: a function `f` (a live function, or a `parse.Source` read from a file),
the hand derivation `hand` -- a Python function with `f`'s parameters returning
one gradient per `wrt` name (a tuple for several), or a dict
`{wrt name: formula}` of SymPy-parsable strings over `f`'s parameters and local
variables (`"(y_hat - y)*x"`) -- the `wrt` names or indices, and the point
`at` (a dict by parameter name, or a tuple in parameter order).  Guarantees a
`CheckReport` with one entry per `wrt` name:

* "proved": the hand formula is symbolically equal (`simplify(hand - D) == 0`)
  to D, SymPy's derivative of `f` along the path taken at `at` (the same D the
  compiler's gradient is verified against, see `verify`);
* "agrees numerically": not proved symbolically, but equal at `at` and at
  points near it -- to 50 digits when the hand formula has a symbolic form,
  to a relative 1e-9 when `hand` could only be run on floats;
* "differs": with the simplified symbolic difference (when there is a
  symbolic form) and a concrete point -- `at` itself when they differ there --
  where both values are shown.

A Python `hand` is given a symbolic form, when possible, by calling it with
SymPy symbols (its `math`/`numpy` functions and `min`/`max`/`abs` read as their
SymPy counterparts from the rule table), else by running it through the
compiler's own front end and symbolic executor (branches follow `at`); failing
both it is compared on floats only.  Local variable names in formulas stand
for the last value the variable holds in `f` when it runs at `at`.

`assert_gradient_matches` raises `GradientMismatchError` -- an `AssertionError`
(so test runners show it as a failed assertion) and a `VerificationError`
(so it is an `AutodiffError`) -- whose message is the report.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy

from ..errors import ArgumentError, VerificationError
from ..frontend.parse import Source, source_of_function
from .expressions import agrees, as_list, evaluate, finite, nearby_points, short, simplified_difference, \
    with_time_limit
from .handforms import _hand_symbolically, _split, parse_formula, user_locals
from .limits import Undefined, Unsupported
from .prove import prove_at
from .symbolic import tree_size

NUMERIC_REL_TOL = 1e-9      # hand and compiler values compared on floats
NUMERIC_ABS_TOL = 1e-12


class GradientMismatchError(VerificationError, AssertionError):
    """A hand-derived gradient differs from the compiler's (raised by `assert_gradient_matches`)."""


# ------------------------------------------------------------------ report

@dataclass
class CheckEntry:
    name: str
    status: str                       # "proved", "agrees numerically", "differs"
    compiler_value: object            # d f / d name at `at` (the compiler's derived gradient)
    hand_value: object                # the hand derivation at `at`
    sympy_derivative: object = None   # SymPy's derivative of f (expression or object array)
    hand_expr: object = None          # the hand derivation symbolically, when it has a form
    difference: object = None         # simplified hand - SymPy, when there is a symbolic form
    where: dict | None = None         # a point where they differ (parameter name -> value)
    where_compiler: object = None
    where_hand: object = None
    note: str = ""
    difference_locals: dict = field(default_factory=dict)   # local name -> its value, used in `difference`
    readable: dict = field(default_factory=dict)            # "sympy"/"hand" -> the form over f's locals
    readable_locals: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "differs"


@dataclass
class CheckReport:
    function: str
    hand: str
    params: list
    at: dict
    entries: list = field(default_factory=list)
    compiler_note: str = ""

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entries)

    @property
    def by_name(self) -> dict:
        return {e.name: e for e in self.entries}

    def __getitem__(self, name: str) -> CheckEntry:
        return self.by_name[name]

    def __str__(self) -> str:
        at = _show_point(self.at)
        lines = [f"Gradient check of {self.function}({', '.join(self.params)}) at {at}",
                 f"hand derivation: {self.hand}", ""]
        for e in self.entries:
            lines.append(f"d{self.function}/d{e.name}: {e.status.upper()}")
            lines.append(f"  compiler:   {_show_value(e.compiler_value)}")
            lines.append(f"  hand:       {_show_value(e.hand_value)}")
            if e.status == "differs":
                if e.where is not None and _same_point(e.where, self.at):
                    lines.append(f"  difference: {_show_difference(e.where_hand, e.where_compiler)} "
                                 f"(hand - compiler, at the point above)")
                elif e.where is not None:
                    lines.append(f"  equal at the point above, but at {_show_point(e.where)}:")
                    lines.append(f"    compiler {_show_value(e.where_compiler)}, hand {_show_value(e.where_hand)}, "
                                 f"difference {_show_difference(e.where_hand, e.where_compiler)}")
                if e.difference is not None:
                    lines.append(f"  hand - compiler, simplified: {short(e.difference)}")
                    for local, value in e.difference_locals.items():
                        lines.append(f"    where {local} = {short(value)}  ({self.function}'s local {local})")
            if e.sympy_derivative is not None:
                lines.append(f"  SymPy's derivative: {short(e.readable.get('sympy', e.sympy_derivative))}")
            if e.hand_expr is not None and e.status != "proved":
                lines.append(f"  hand, symbolically: {short(e.readable.get('hand', e.hand_expr))}")
            shown = {k: v for k, v in e.readable_locals.items() if k not in e.difference_locals}
            for local, value in shown.items():
                lines.append(f"    where {local} = {short(value)}  ({self.function}'s local {local})")
            if e.note:
                lines.append(f"  note: {e.note}")
            lines.append("")
        differing = [e.name for e in self.entries if not e.ok]
        if differing:
            lines.append(f"verdict: the hand derivation is WRONG for {', '.join(differing)} "
                         f"({len(differing)} of {len(self.entries)} differ)")
        else:
            lines.append(f"verdict: the hand derivation is correct for {', '.join(e.name for e in self.entries)}")
        if self.compiler_note:
            lines.append(self.compiler_note)
        return "\n".join(lines)


def _same_point(a: dict, b: dict) -> bool:
    try:
        return all(float(a[k]) == float(b[k]) for k in a)
    except (KeyError, TypeError):
        return False


def _float(value):
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return np.array([_float(v) for v in value.flat]).reshape(value.shape)
    if isinstance(value, mpmath.mpc):
        return complex(value)
    return float(value)


def _show_value(value) -> str:
    value = _float(value)
    if value is None:
        return "?"
    if isinstance(value, np.ndarray):
        return " ".join(np.array2string(value, precision=12).split())
    if isinstance(value, complex):
        return f"{value:.12g}"
    text = f"{value:.12g}"
    return text if any(c in text for c in ".eni") else text + ".0"


def _show_difference(hand, compiler) -> str:
    hand, compiler = _float(hand), _float(compiler)
    if hand is None or compiler is None:
        return "?"
    diff = np.asarray(hand) - np.asarray(compiler)
    return _show_value(diff if diff.ndim else float(diff))


def _show_point(point: dict) -> str:
    parts = []
    for name, value in point.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{name}={np.array2string(np.asarray(value, dtype=float), precision=6)}")
        elif isinstance(value, mpmath.mpf):
            parts.append(f"{name}={float(value)!r}")
        else:
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)


# --------------------------------------------------------------- arguments

def _source_and_function(f):
    """(Source, the live function or None) for a function, a grad-wrapped one, or a Source."""
    if isinstance(f, Source):
        return f, None
    if hasattr(f, "__autodiff_wrapped__"):
        fn = f.__autodiff_wrapped__
    else:
        fn = f
    return source_of_function(fn), fn


def _wrt_names(wrt, params: list, hand) -> tuple[list, bool]:
    if wrt is None:
        if isinstance(hand, dict):
            wrt = tuple(hand)
            if len(wrt) == 1:
                wrt = wrt[0]
        else:
            wrt = 0
    single = not isinstance(wrt, (tuple, list))
    items = [wrt] if single else list(wrt)
    names = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ArgumentError(f"wrt entries must be parameter names or indices, got {item!r}")
        if isinstance(item, int):
            if not -len(params) <= item < len(params):
                raise ArgumentError(f"wrt={item} is out of range: the function has {len(params)} parameter(s)")
            item = params[item]
        if item not in params:
            raise ArgumentError(f"wrt={item!r} is not a parameter", hint=f"its parameters are: {', '.join(params)}")
        names.append(item)
    if not names:
        raise ArgumentError("wrt is empty", hint="name at least one parameter")
    return names, single


def _arguments(at, params: list, fn_name: str) -> tuple:
    if at is None:
        raise ArgumentError(f"check_gradient needs the point to check at: at={{{', '.join(p + '=...' for p in params)}}}")
    if isinstance(at, dict):
        missing = [p for p in params if p not in at]
        extra = [k for k in at if k not in params]
        if missing or extra:
            raise ArgumentError(f"at= must give every parameter of {fn_name} ({', '.join(params)})"
                                + (f"; missing: {', '.join(missing)}" if missing else "")
                                + (f"; unknown: {', '.join(extra)}" if extra else ""))
        values = [at[p] for p in params]
    else:
        values = list(at)
        if len(values) != len(params):
            raise ArgumentError(f"at= gives {len(values)} value(s) for the {len(params)} parameter(s) "
                                f"of {fn_name} ({', '.join(params)})")
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            v = np.asarray(v, dtype=float)
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v.item()
        if isinstance(v, np.generic):
            v = v.item()
        out.append(v)
    return tuple(out)



# ---------------------------------------------------------------- comparison

LOCAL_FORM_SECONDS = 2.0


def in_terms_of_locals(difference, locals_: dict):
    """`difference` rewritten over one of f's local variables, when that reads better:
    (expression, {local: its value}) or None.  A local qualifies when its value holds exactly
    one transcendental atom (say exp(-b - w*x) in y_hat = 1/(1 + exp(-b - w*x))) that
    SymPy can solve for; the atom is replaced and the result simplified."""
    if tree_size(difference, 400) > 400:
        return None
    best = None
    for name, value in locals_.items():
        if not isinstance(value, sympy.Basic) or not value.free_symbols or value.is_Symbol:
            continue
        atoms = [a for a in value.atoms(sympy.Function) if a.free_symbols]
        if len(atoms) != 1 or not difference.has(atoms[0]):
            continue
        atom = atoms[0]
        local = sympy.Symbol(name, real=True)

        def rewrite():
            solutions = sympy.solve(sympy.Eq(local, value), atom)
            if len(solutions) != 1:
                return None
            return sympy.simplify(difference.xreplace({atom: solutions[0]}))

        try:
            candidate = with_time_limit(rewrite, LOCAL_FORM_SECONDS)
        except Exception:      # solve/simplify give up in many ways
            candidate = None
        if candidate is None or candidate.has(atom) or not candidate.has(local):
            continue
        candidate = min((candidate, sympy.factor(candidate), sympy.expand(candidate)), key=lambda c: len(str(c)))
        if best is None or len(str(candidate)) < len(str(best[0])):
            best = (candidate, {name: value})
    return best


def _numeric_mismatch(a, b, points):
    """First point where a and b differ beyond 50-digit agreement: (point, a there, b there) or None;
    and the number of points where both could be evaluated."""
    evaluated = 0
    for p in points:
        try:
            av, bv = evaluate(a, p), evaluate(b, p)
        except (Undefined, Unsupported, ZeroDivisionError, ValueError, OverflowError):
            continue
        pairs = list(zip(as_list(av), as_list(bv)))
        if not all(finite(x) and finite(y) for x, y in pairs):
            continue
        evaluated += 1
        if not all(agrees(x, y) for x, y in pairs):
            return (p, av, bv), evaluated
    return None, evaluated


def _named_point(point: dict, params: list, args, symbols: dict) -> dict:
    """A {symbol: value} point as {parameter name: value}, int parameters from args."""
    out = {}
    for name, value in zip(params, args):
        s = symbols.get(name)
        if s is None:
            out[name] = value
        elif isinstance(s, np.ndarray):
            out[name] = np.array([float(point[e]) for e in s.flat]).reshape(s.shape)
        else:
            out[name] = point[s]
    return out


def _float_args(named: dict, params: list) -> tuple:
    out = []
    for p in params:
        v = named[p]
        if isinstance(v, mpmath.mpf):
            v = float(v)
        out.append(v)
    return tuple(out)


def _compare_symbolic(entry: CheckEntry, hand_expr, derivative, points, at_point, locals_=None):
    entry.hand_expr = hand_expr
    entry.hand_value = evaluate(hand_expr, at_point)
    difference = None
    h_list, d_list = as_list(hand_expr), as_list(derivative)
    if len(h_list) != len(d_list):
        entry.status = "differs"
        entry.note = f"the hand gradient has {len(h_list)} element(s), the parameter {len(d_list)}"
        return None
    diffs = []
    for h, d in zip(h_list, d_list):
        diffs.append(simplified_difference(h, d))
        if diffs[-1] is None or diffs[-1] != 0:
            break       # not proved: the numbers decide, and the rest are simplified only to show a difference
    if len(diffs) == len(h_list) and all(d is not None and d == 0 for d in diffs):
        entry.status = "proved"
        return None
    mismatch, evaluated = _numeric_mismatch(hand_expr, derivative, points)
    if mismatch is None and evaluated:
        entry.status = "agrees numerically"
        entry.note = f"equal to 50 digits at {evaluated} point(s) near the one given; not proved symbolically"
        return None
    entry.status = "differs"
    diffs += [simplified_difference(h, d) for h, d in zip(h_list[len(diffs):], d_list[len(diffs):])]
    if all(d is not None for d in diffs):
        difference = diffs[0] if not isinstance(hand_expr, np.ndarray) else \
            np.array(diffs, dtype=object).reshape(np.shape(hand_expr))
    else:
        raw = [sympy.sympify(h) - sympy.sympify(d) for h, d in zip(h_list, d_list)]
        if all(tree_size(r, 300) <= 300 for r in raw):
            difference = raw[0] if not isinstance(hand_expr, np.ndarray) else \
                np.array(raw, dtype=object).reshape(np.shape(hand_expr))
    entry.difference = difference
    if locals_ and not isinstance(hand_expr, np.ndarray):
        local_form = in_terms_of_locals(sympy.sympify(hand_expr) - sympy.sympify(derivative), locals_)
        if local_form is not None and (difference is None or len(str(local_form[0])) <= len(str(difference))):
            entry.difference, entry.difference_locals = local_form
    if mismatch is not None:
        where, hand_there, sympy_there = mismatch
        entry.where = where
        entry.where_hand, entry.where_compiler = hand_there, sympy_there
    return None


def _readable(entry: CheckEntry, locals_: dict) -> None:
    """SymPy's derivative and the hand form over f's locals, where that is shorter."""
    for key, expr in (("sympy", entry.sympy_derivative), ("hand", entry.hand_expr)):
        if not isinstance(expr, sympy.Basic):
            continue
        form = in_terms_of_locals(expr, locals_)
        if form is not None and len(str(form[0])) < len(str(expr)):
            entry.readable[key] = form[0]
            entry.readable_locals.update(form[1])


def _compare_numeric(entry: CheckEntry, hand, index: int, count: int, single: bool, derivative,
                     points, params, args, symbols, why: str):
    entry.note = f"compared on floats only ({why})"
    mismatch = None
    evaluated = 0
    for k, p in enumerate(points):
        named = _named_point(p, params, args, symbols)
        try:
            result = hand(*_float_args(named, params))
            value = _split(result, count, single)[index]
            compiler = evaluate(derivative, p)
        except ArgumentError:
            raise
        except Exception:
            if k == 0:
                raise
            continue
        hand_values = [float(v) for v in np.ravel(np.asarray(value, dtype=float))]
        compiler_values = [float(v) for v in as_list(compiler)]
        if k == 0:
            entry.hand_value = np.asarray(value, dtype=float) if np.ndim(value) else float(value)
        evaluated += 1
        if len(hand_values) != len(compiler_values) or not all(
                math.isclose(h, c, rel_tol=NUMERIC_REL_TOL, abs_tol=NUMERIC_ABS_TOL)
                for h, c in zip(hand_values, compiler_values)):
            mismatch = (p, np.asarray(value, dtype=float) if np.ndim(value) else float(value), compiler)
            break
    if mismatch is None:
        entry.status = "agrees numerically"
        entry.note += f"; equal to a relative {NUMERIC_REL_TOL:g} at {evaluated} point(s)"
    else:
        entry.status = "differs"
        entry.where, entry.where_hand, entry.where_compiler = mismatch


def check_gradient(f, hand, wrt=None, at=None) -> CheckReport:
    """Compare the hand derivation `hand` of f's gradient with the compiler's at `at` (see module doc)."""
    from ..api import type_of_argument
    from ..pipeline import derive

    source, fn = _source_and_function(f)
    params = [a.arg for a in source.node.args.args]
    names, single = _wrt_names(wrt, params, hand)
    args = _arguments(at, params, source.name)
    if isinstance(hand, dict):
        missing = [n for n in names if n not in hand]
        if missing:
            raise ArgumentError(f"no formula for {', '.join(missing)}",
                                hint="give one formula per wrt name, e.g. {'w': '(y_hat - y)*x'}")
    param_types = {p: type_of_argument(a, p, source.name) for p, a in zip(params, args)}
    state = derive(source, param_types, names, with_value=True)
    verification = prove_at(state, args, fn)
    if verification.unsupported is not None:
        raise VerificationError(f"cannot check {source.name}: {verification.unsupported}")
    if verification.undefined is not None:
        raise ArgumentError(f"{source.name} is undefined at {_show_point(dict(zip(params, args)))} "
                            f"({verification.undefined})", hint="check at another point")

    symbols, point = verification.symbols, verification.point
    points = [point] + nearby_points(point)
    hand_name = _hand_description(hand)
    report = CheckReport(source.name, hand_name, params, dict(zip(params, args)))
    if not verification.ok:
        report.compiler_note = ("warning: the compiler's own gradient did not verify against SymPy:\n"
                                + str(verification))

    hand_forms, how = None, ""
    locals_ = user_locals(source, args, params)
    if isinstance(hand, dict):
        hand_forms = [parse_formula(str(hand[n]), n, params, symbols, locals_, point) for n in names]
    else:
        hand_forms, how = _hand_symbolically(hand, params, args, symbols, len(names), single, point)

    for k, name in enumerate(names):
        check = verification.by_name[name]
        entry = CheckEntry(name, "differs", evaluate(check.derived, point), None, check.sympy)
        if hand_forms is not None:
            _compare_symbolic(entry, hand_forms[k], check.sympy, points, point, locals_)
        else:
            if not callable(hand):
                raise ArgumentError(f"cannot evaluate the hand derivation: {how}")
            _compare_numeric(entry, hand, k, len(names), single, check.sympy, points, params, args,
                             symbols, how)
        if locals_:
            _readable(entry, locals_)
        if entry.where is not None:
            entry.where = _named_point(entry.where, params, args, symbols)
        report.entries.append(entry)
    return report


def _hand_description(hand) -> str:
    if isinstance(hand, dict):
        return "; ".join(f"d/d{k} = {v}" for k, v in hand.items())
    if isinstance(hand, Source):
        return f"{hand.name} ({hand.filename})"
    name = getattr(hand, "__qualname__", None) or getattr(hand, "__name__", repr(hand))
    try:
        where = f" ({inspect.getsourcefile(hand)}:{inspect.getsourcelines(hand)[1]})"
    except (TypeError, OSError):
        where = ""
    return f"{name}{where}"


def assert_gradient_matches(f, hand, wrt=None, at=None) -> CheckReport:
    """`check_gradient`, raising `GradientMismatchError` (an AssertionError) with the report when
    any gradient differs; returns the report otherwise."""
    report = check_gradient(f, hand, wrt=wrt, at=at)
    if not report.ok:
        raise GradientMismatchError(str(report))
    return report
