"""Formula: each partial derivative as the simplified formula a student writes, in the user's own names.

Takes: the function's `Source`, its typed primal IR (the pipeline after
`values`), the point (the arguments) and the `wrt` names.  Guarantees a `Formulas` whose `unicode()` reads

    ∂loss/∂w = x·(ŷ − y)
    ∂loss/∂b = ŷ − y
      where ŷ = 1/(1 + e^(−(w·x + b)))

and whose `latex()` is the same in LaTeX:

* each partial is SymPy's derivative of the function along the path its
  code takes at the point (the verifier's symbolic execution: branches and
  loops as the numbers go, kinks such as `min`/`max` on the side the numbers
  lie), simplified (`cancel`, `factor`, and `simplify` under a time limit), the
  shortest form kept;
* a local variable of the function is kept by name where that makes a
  formula shorter by at least a quarter (`ŷ` for `1/(1 + e^(−(w·x + b)))`: its
  one exponential is solved for), and then defined under `where` in terms of
  the parameters;
* the differentiated quantity is named after the variable the function
  returns (`∂z/∂x` for `return z`), else after the function;
* a partial with respect to an array is shown for a general entry when every
  entry has the same form (`∂f/∂xᵢ = 2·xᵢ/3`, for the entries of the point's
  `x`), else entry by entry;
* when the code branches, loops or has kinks, `path` says what was taken at
  the point (`line 7: for i in range(n): 3 trips`, `line 22: max picks its
  first argument`), and the text says that the formula holds on that path.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import numpy as np
import sympy

from .. import ir
from ..ir import Assign, For, If, While
from .executor import Executor, execute, numeric_inputs
from .expressions import derivative, with_time_limit
from .handforms import user_locals
from .mathprint import latex as latex_of, name_latex, name_unicode, unicode as unicode_of
from .symbolic import tree_size

SHORTER = 0.75          # a local is kept when it makes a formula at most this long (relative)
SIMPLIFY_SECONDS = 2.0
MAX_NODES = 600         # larger derivatives are shown as SymPy leaves them (cancelled only)
MAX_ENTRIES = 6         # array partials shown entry by entry up to this many entries


@dataclass
class Partial:
    wrt: str                       # the parameter (an array entry's name for arrays shown entry by entry)
    expr: object                   # SymPy expression over the parameters and kept locals
    general: bool = False          # an array partial shown for a general entry i
    note: str = ""


@dataclass
class Formulas:
    function: str
    output: str
    partials: list = field(default_factory=list)
    where: list = field(default_factory=list)          # (local name, its value over the parameters)
    path: list = field(default_factory=list)            # what the code took at the point, one line each
    point: str = ""                                     # the point, as `name=value, ...`

    # -------------------------------------------------------------- Unicode
    def unicode(self) -> str:
        lines = []
        for p in self.partials:
            head = f"∂{name_unicode(self.output)}/∂{name_unicode(p.wrt)}"
            lines.append(f"{head} = {unicode_of(p.expr)}" + (f"   ({p.note})" if p.note else ""))
        for k, (name, value) in enumerate(self.where):
            lines.append(f"  {'where' if k == 0 else '     '} {name_unicode(name)} = {unicode_of(value)}")
        lines += self._path_lines()
        return "\n".join(lines)

    def latex(self) -> str:
        lines = []
        output = name_latex(self.output)
        for p in self.partials:
            note = f" \\quad \\text{{({p.note})}}" if p.note else ""
            lines.append(f"\\frac{{\\partial {output}}}{{\\partial {name_latex(p.wrt)}}} = {latex_of(p.expr)}{note}")
        for k, (name, value) in enumerate(self.where):
            lines.append(f"\\text{{{'where' if k == 0 else 'and'} }} {name_latex(name)} = {latex_of(value)}")
        return "\n".join(lines + [f"% {line.strip()}" for line in self._path_lines()])

    def _path_lines(self) -> list:
        if not self.path:
            return []
        return [f"on the path taken at {self.point}:"] + [f"  {line}" for line in self.path]

    def markdown(self) -> str:
        body = "\n".join(f"$${line}$$" for line in self.latex().splitlines() if not line.startswith("%"))
        if self.path:
            body += "\n\n" + "On the path taken at " + self.point + ": " + "; ".join(self.path) + "."
        return body

    def __str__(self) -> str:
        return self.unicode()


# ------------------------------------------------------------------------ building

def formulas(source, primal: ir.Function, args, wrt: list) -> Formulas:
    """The formulas of d f / d wrt at `args` (see the module docstring); `primal` is the function's
    typed IR (the pipeline's state after its `values` pass)."""
    params = list(primal.params)
    V, _, symbols, point = execute(primal, tuple(args), role="primal program")
    locals_ = _locals(source, args, params)
    result = Formulas(source.name, _output_name(source) or source.name,
                      point=", ".join(f"{p}={_show(a)}" for p, a in zip(params, args)))
    used: dict = {}
    for name in wrt:
        s = symbols.get(name)
        if s is None:
            continue
        if isinstance(s, np.ndarray):
            result.partials += _array_partials(V.expr, name, s, locals_, used)
        else:
            result.partials.append(Partial(name, _in_user_names(derivative(V.expr, s), locals_, used)))
    result.where = [(n, _simplest(v)) for n, v in locals_.items() if n in used]
    result.path = describe_path(primal, args)
    return result


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=6, separator=",").replace(" ", "")
    return repr(value)


def _output_name(source) -> str | None:
    body = source.node.body
    last = body[-1] if body else None
    if isinstance(last, ast.Return) and isinstance(last.value, ast.Name):
        return last.value.id
    return None


def _locals(source, args, params) -> dict:
    """{local: its last value} for the locals worth naming, in the order they are first assigned."""
    values = user_locals(source, args, params)
    order = []
    for node in ast.walk(source.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in order:
            order.append(node.id)
    out = {}
    output = _output_name(source)
    for name in order:
        value = values.get(name)
        if name == output or name in params or value is None or not isinstance(value, sympy.Basic):
            continue
        if value.is_Symbol or value.is_Number or not value.free_symbols:
            continue
        out[name] = value
    return out


def _array_partials(V, name: str, s: np.ndarray, locals_: dict, used: dict) -> list:
    entries = [derivative(V, e) for e in s.flat]
    if s.ndim == 1 and len(entries) > 1:
        general = sympy.Symbol(f"{name}_i", real=True)
        forms = [_simplest(e) for e in entries]
        first = forms[0].xreplace({s.flat[0]: general})
        if all(sympy.simplify(f.xreplace({s.flat[k]: general}) - first) == 0 for k, f in enumerate(forms)) \
                and not any(first.has(e) for e in s.flat):
            count = len(entries)
            note = f"i = 0, …, {count - 1}" if count > 3 else f"i = {', '.join(map(str, range(count)))}"
            return [Partial(f"{name}_i", _in_user_names(first, locals_, used), general=True, note=note)]
    out = []
    for k, (symbol, e) in enumerate(zip(s.flat, entries)):
        if k == MAX_ENTRIES:
            out.append(Partial(str(symbol), sympy.Symbol("…"), note=f"and {len(entries) - k} more entries"))
            break
        out.append(Partial(str(symbol), _in_user_names(e, locals_, used)))
    return out


def _length(expr) -> int:
    return len(unicode_of(expr))


def _simplest(expr):
    """The shortest of `expr`, cancelled, factored and (when small) simplified."""
    expr = sympy.sympify(expr)
    forms = [expr]
    if tree_size(expr, MAX_NODES) <= MAX_NODES:
        try:
            cancelled = sympy.cancel(expr)
            forms += [cancelled, sympy.factor(cancelled), sympy.factor(expr)]
        except (sympy.PolynomialError, TypeError, ValueError):
            pass
        simplified = with_time_limit(lambda: sympy.simplify(expr), SIMPLIFY_SECONDS)
        if simplified is not None:
            forms += [simplified, sympy.factor(simplified)]
    return min(forms, key=lambda f: (_length(f), tree_size(f, 10 ** 6)))


def _solve_atom(local: sympy.Symbol, value, atom):
    """atom in terms of `local` when local = value is a fraction of degree one in the atom, else None."""
    g = sympy.Dummy("g", real=True)
    numerator, _ = sympy.fraction(sympy.cancel(local - value.xreplace({atom: g})))
    try:
        poly = sympy.Poly(numerator, g)
    except sympy.PolynomialError:
        return None
    if poly.degree() != 1:
        return None
    a, b = poly.all_coeffs()
    return None if a == 0 else sympy.cancel(-b / a)


def _rewrites(expr, name: str, value) -> list:
    local = sympy.Symbol(name, real=True)
    out = []
    atoms = [a for a in value.atoms(sympy.Function) if a.free_symbols]
    if len(atoms) == 1 and expr.has(atoms[0]):
        solution = _solve_atom(local, value, atoms[0])
        if solution is not None:
            replaced = expr.xreplace({atoms[0]: solution})
            if not replaced.has(atoms[0]):
                out.append(_simplest(replaced))
    if isinstance(value, (sympy.Add, sympy.Mul)):
        for form in {expr, sympy.factor(expr), sympy.expand(expr)}:
            replaced = form.subs(value, local)
            if replaced != form and replaced.has(local):
                out.append(_simplest(replaced))
    return out


def _in_user_names(expr, locals_: dict, used: dict):
    """`expr` simplified, with locals kept by name where each makes it at most SHORTER as long."""
    raw = sympy.sympify(expr)
    best = _simplest(raw)
    bases = [raw, best]
    for _ in range(3):
        found = None
        for name, value in locals_.items():
            if sympy.Symbol(name, real=True) in best.free_symbols:
                continue
            for base in bases:
                for candidate in _rewrites(base, name, value):
                    if _length(candidate) <= SHORTER * _length(best) and \
                            (found is None or _length(candidate) < _length(found[1])):
                        found = (name, candidate)
        if found is None:
            break
        used[found[0]] = True
        best = found[1]
        bases = [best]
    return best


# ------------------------------------------------------------------------- paths

class _PathRecorder(Executor):
    """A numeric run that notes, per branch, loop and kink of the primal, what the run took."""

    def __init__(self, env):
        super().__init__(env, symbolic=False)
        self.taken: dict = {}         # id(stmt) -> list of outcomes
        self.trips: dict = {}         # id(loop) -> list of trip counts, one per entry
        self.order: list = []

    def note(self, stmt, outcome) -> None:
        if id(stmt) not in self.taken:
            self.order.append(stmt)
        self.taken.setdefault(id(stmt), []).append(outcome)

    def run_stmt(self, stmt) -> None:
        if isinstance(stmt, If):
            self.note(stmt, bool(self.operand(stmt.cond).num))
        if isinstance(stmt, (For, While)):
            self.trips.setdefault(id(stmt.body), [])
            self.trips[id(stmt.body)].append(0)
            self.note(stmt, None)
        if isinstance(stmt, Assign) and stmt.prim in _KINKS:
            nums = [self.operand(a).num for a in stmt.args]
            self.note(stmt, _kink_side(stmt, nums))
        super().run_stmt(stmt)

    def run_block(self, block: list) -> None:
        if id(block) in self.trips:
            self.trips[id(block)][-1] += 1
        super().run_block(block)


_KINKS = {"min", "max", "abs", "clip", "where", "sign"}


def _argument(op) -> str:
    """An operand as the user wrote it: a name of theirs or a number, else an ellipsis."""
    if isinstance(op, ir.Const):
        return repr(op.value)
    if isinstance(op, ir.Var) and not ir.is_temporary(op.name) and "__" not in op.name:
        return op.name
    return "…"


def _kink_side(stmt, nums: list) -> str:
    prim = stmt.prim
    shown = [_argument(a) for a in stmt.args]
    call = f"{prim}({', '.join(shown)})"

    def picks(k):
        ordinal = ("first", "second", "third")[k]
        return f"{call} takes {shown[k] if shown[k] != '…' else f'its {ordinal} argument'}"
    try:
        if any(isinstance(n, np.ndarray) for n in nums):
            return f"{call} elementwise"
        if prim == "max":
            return picks(0 if nums[0] >= nums[1] else 1)
        if prim == "min":
            return picks(0 if nums[0] <= nums[1] else 1)
        if prim == "clip":
            return picks(1 if nums[0] < nums[1] else 2 if nums[0] > nums[2] else 0)
        if prim in ("abs", "sign"):
            side = "positive" if nums[0] > 0 else "negative" if nums[0] < 0 else "zero"
            return f"the argument of {call} is {side}"
        if prim == "where":
            return f"the condition of {call} is {'true' if nums[0] else 'false'}"
    except TypeError:
        pass
    return f"{call}: ?"


def describe_path(primal: ir.Function, args) -> list:
    """One line per branch, loop and kink the code reaches at `args` (empty for straight-line code)."""
    recorder = _PathRecorder(numeric_inputs(primal, tuple(args)))
    try:
        recorder.run_block(primal.body)
    except Exception:           # the function is undefined there: the formula says nothing of a path
        return []
    lines = []
    for stmt in recorder.order:
        outcomes = recorder.taken[id(stmt)]
        loc = getattr(stmt, "loc", None)
        where = f"line {loc.line}: `{loc.text.strip()}`" if loc is not None and loc.text else \
            (f"line {loc.line}" if loc is not None else "")
        if isinstance(stmt, If):
            sides = sorted(set(outcomes), reverse=True)
            what = " and ".join("true" if s else "false" for s in sides)
            lines.append(f"{where} is {what}" + (f" ({len(outcomes)} times)" if len(outcomes) > 1 else ""))
        elif isinstance(stmt, (For, While)):
            counts = recorder.trips.get(id(stmt.body), [])
            if len(counts) == 1:
                lines.append(f"{where} runs {_trips(counts[0])}")
            else:
                lines.append(f"{where} runs {len(counts)} times, {_trips(sum(counts))} in all")
        else:
            sides = list(dict.fromkeys(outcomes))
            lines.append(f"{where}: {' and '.join(sides)}")
    return _merge_lines(lines)


def _trips(count: int) -> str:
    return "1 trip" if count == 1 else f"{count} trips"


def _merge_lines(lines: list) -> list:
    """Several kinks on one line of source read as one line (`... : max takes ...; min takes ...`)."""
    out = []
    for line in lines:
        if out and ": " in line and ": " in out[-1] and line.split("`: ")[0] == out[-1].split("`: ")[0] \
                and "`: " in line:
            out[-1] += "; " + line.split("`: ", 1)[1]
        else:
            out.append(line)
    return out
