"""Shrink: reduce a failing program to a small one that fails the same way.

Takes: a case (module source, function name, arguments, `wrt`), the failing
run `(mode, api)` and its record, and a `Checker` that runs candidates in a
worker process (so a candidate that crashes the process or hangs cannot stop
the shrinking).  Guarantees:

* the result fails *the same way*: same mode and API, same outcome class, same
  category (for `wrong`: gradient / value / structure / false-ArgumentError /
  mutated-argument; for `crash` and `refused`: the exception class and a
  normalised key of its message, e.g. "No implementation of function tanh" or
  "variable _ not defined"), on a point where the oracle still has a
  reference -- every accepted step was re-checked;
* every candidate first runs in plain Python here (with a time limit), so
  candidates that do not run are rejected cheaply;
* reductions, greedily to a fixed point or until the time budget is spent:
  delete statements (largest first; a block left empty gets `pass`), unwrap
  `if`/`for`/`while` into their bodies, replace expressions by their
  subexpressions or by constants, drop unused parameters, helpers, constants
  and imports, reduce `wrt` to one parameter, shrink arrays (drop a row,
  column or element), lower int arguments (trip counts) toward 0, and round
  float arguments;
* the returned case is at most as large as the input (source length).
"""
from __future__ import annotations

import ast
import copy
import re
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..timelimit import limited
from .execute import load_module, process
from .oracle import is_float_result
from .. import syntax


@dataclass
class Case:
    source: str
    func: str
    args: tuple
    wrt: object
    params: tuple

    @property
    def wrt_indices(self) -> list[int]:
        items = self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)
        return [self.params.index(w) if isinstance(w, str) else w for w in items]

    def task(self, runs, ident="shrink") -> dict:
        return {"id": ident, "kind": "shrink", "seed": 0, "index": 0, "source": self.source, "func": self.func,
                "args": self.args, "wrt": self.wrt, "wrt_indices": self.wrt_indices, "params": self.params,
                "runs": list(runs)}

    def size(self) -> tuple:
        return (len(self.source), sum(a.size if isinstance(a, np.ndarray) else 1 for a in self.args))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_key(record: dict) -> tuple:
    """What 'fails the same way' compares: outcome, category and a normalised message key."""
    outcome = record.get("outcome")
    category = record.get("category", "")
    key = ""
    if outcome in ("crash", "refused"):
        key = message_key(record.get("detail", "") or record.get("got", ""))
    return (outcome, category, key)


_PATTERNS = [
    re.compile(r"No implementation of function Function\(<[^>]*?(?:function|built-in function) ([\w.]+)>?\)"),
    re.compile(r"No implementation of function Function\(<([^>]+)>\)"),
    re.compile(r"(Variable '[^']*' is not defined)"),
    re.compile(r"(cannot access local variable '[^']*')"),
    re.compile(r"(Cannot unify [\w\s]+)"),
    re.compile(r"(Invalid use of [^\n(]+)"),
    re.compile(r"(Unknown attribute '[^']*' of type [\w]+)"),
    re.compile(r"(index \S+ is out of bounds)"),
    re.compile(r"(no derivative rule for [^\n(]+)"),
    re.compile(r"(unsupported construct[^\n]*)"),
    re.compile(r"(unsupported[^\n]*)"),
]


def message_key(text: str) -> str:
    text = _ANSI.sub("", str(text))
    for pattern in _PATTERNS:
        m = pattern.search(text)
        if m:
            return _normalise_message(m.group(1))
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("call:", "grad()")):
            return _normalise_message(line)
        if line.startswith(("call:", "grad()")):
            rest = line.split(":", 1)[1].strip()
            if rest:
                return _normalise_message(rest)
    return ""


def _normalise_message(text: str) -> str:
    text = re.sub(r"0x[0-9a-fA-F]+", "0x_", text)
    text = re.sub(r"'[^']*'", "'_'", text)
    text = re.sub(r"\b\d+(\.\d+)?\b", "N", text)
    text = re.sub(r"/\S+\.py", "FILE", text)
    return text[:80]


# --------------------------------------------------------------------------- running candidates

def has_dead_code(tree) -> bool:
    """A statement after return/break/continue in the same block (the generator never writes one)."""
    for node in ast.walk(tree):
        for name in ("body", "orelse"):
            block = getattr(node, name, None)
            if isinstance(block, list):
                for k, stmt in enumerate(block[:-1]):
                    if isinstance(stmt, (ast.Return, ast.Break, ast.Continue)):
                        return True
    return False


# A small static type inference, so that reductions keep the generator's discipline of one type
# per name (a float stays a float, an array keeps its rank): "F", "I", "B", "A1", "A2", or None (unknown).

_INT_FUNCS = {"floor", "ceil", "trunc", "int", "len"}
_ARRAY_MAKERS = {"zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "outer"}
_REDUCTIONS = {"sum", "mean", "max", "min", "prod", "amax", "amin"}


def _join(*types):
    known = [t for t in types if t is not None]
    if not known:
        return None
    arrays = [t for t in known if t.startswith("A")]
    if arrays:
        return max(arrays)
    if "F" in known:
        return "F"
    if len(known) < len(types):
        return None          # an unknown operand may be a float
    if "I" in known:
        return "I"
    return "B"


class _Types:
    def __init__(self, env):
        self.env = dict(env)

    def of(self, node):
        t = self._of(node)
        return t

    def _of(self, node):
        if isinstance(node, ast.Constant):
            v = node.value
            return "B" if isinstance(v, bool) else "I" if isinstance(v, int) else "F" if isinstance(v, float) else None
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.BinOp):
            left, right = self.of(node.left), self.of(node.right)
            if isinstance(node.op, ast.MatMult):
                return _dot_type(left, right)
            if isinstance(node.op, ast.Div) and left in ("I", "B") and right in ("I", "B"):
                return "F"
            return _join(left, right)
        if isinstance(node, ast.UnaryOp):
            return "B" if isinstance(node.op, ast.Not) else self.of(node.operand)
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            inner = [self.of(v) for v in (node.values if isinstance(node, ast.BoolOp) else [node.left] + node.comparators)]
            ranks = [t[1] for t in inner if t and t[0] in "AM"]
            return "M" + max(ranks) if ranks else "B"
        if isinstance(node, ast.IfExp):
            return _join(self.of(node.body), self.of(node.orelse))
        if isinstance(node, ast.Attribute):
            base = self.of(node.value)
            if node.attr == "T":
                return base
            if node.attr in ("pi", "e", "tau", "inf"):
                return "F"
            return None
        if isinstance(node, ast.Subscript):
            base = self.of(node.value)
            if base is None or not base.startswith("A"):
                return None
            rank = int(base[1])
            index = node.slice
            items = index.elts if isinstance(index, ast.Tuple) else [index]
            drop = sum(1 for i in items if not isinstance(i, ast.Slice))
            rest = rank - drop
            return "F" if rest <= 0 else f"A{rest}"
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def _call(self, node):
        func = node.func
        args = [self.of(a) for a in node.args]
        kw = {k.arg: k.value for k in node.keywords}
        if isinstance(func, ast.Attribute) and func.attr in ("sum", "mean") and not node.args and not \
                (isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy", "math")):
            return "F"
        if isinstance(func, ast.Attribute) and func.attr == "copy":
            return self.of(func.value)
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name is None:
            return None
        if name in _INT_FUNCS and not (args and args[0] and args[0].startswith("A")):
            return "I"
        if name == "float":
            return "F"
        if name in _REDUCTIONS and isinstance(func, ast.Attribute):
            if "axis" in kw and args and args[0] and args[0].startswith("A"):
                rank = int(args[0][1])
                keep = "keepdims" in kw
                return f"A{rank if keep else rank - 1}" if (keep or rank > 1) else "F"
            return "F"
        if name in ("zeros", "ones", "empty"):
            first = node.args[0] if node.args else None
            return "A2" if isinstance(first, ast.Tuple) and len(first.elts) == 2 else "A1"
        if name in ("zeros_like", "ones_like", "empty_like"):
            return args[0] if args else None
        if name == "outer":
            return "A2"
        if name in ("dot", "matmul"):
            return _dot_type(*(args + [None, None])[:2])
        if name == "stop_gradient":
            return args[0] if args else None
        if name == "where" and len(args) == 3:
            cond, a, b = args
            joined = _join(a, b)
            if cond and cond.startswith("M") and joined in ("F", "I"):
                return "A" + cond[1]
            return joined
        if isinstance(func, ast.Name) and name not in ("abs", "min", "max", "pow"):
            return None          # a helper: unknown
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math":
            return "F"
        joined = _join(*args)
        if joined in ("I", "B") and name not in ("abs", "min", "max", "pow"):
            return "F"
        return joined


def _dot_type(a, b):
    if a is None or b is None:
        return None
    ra = int(a[1]) if a.startswith("A") else 0
    rb = int(b[1]) if b.startswith("A") else 0
    if ra == 0 or rb == 0:
        return _join(a, b)
    rank = ra + rb - 2
    return "F" if rank == 0 else f"A{rank}"


def _arg_type(value):
    if isinstance(value, np.ndarray):
        return f"A{value.ndim}"
    if isinstance(value, bool):
        return "B"
    if isinstance(value, (int, np.integer)):
        return "I"
    return "F"


def type_stable(tree, func: str, args) -> bool:
    """Does every name of `func` keep one type (as far as a simple inference can tell)?"""
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func), None)
    if fn is None:
        return False
    return _infer(fn, args)[1]


def _infer(fn, args):
    """(name -> type, every name keeps one type) for a function; args None: parameter types unknown."""
    env = {a.arg: _arg_type(v) for a, v in zip(fn.args.args, args)} if args is not None else {}
    seen = dict(env)
    types = _Types(env)
    ok = True

    def assign(target, t):
        nonlocal ok
        if isinstance(target, ast.Name):
            if t is None:
                return
            old = seen.get(target.id)
            if old is not None and old != t and not ({old, t} <= {"I", "B"}):
                ok = False
            seen[target.id] = t if old is None else old
            types.env[target.id] = seen[target.id]
        elif isinstance(target, ast.Tuple):
            for elt in target.elts:
                assign(elt, None)

    def walk(stmts):
        for stmt in stmts:
            if isinstance(stmt, ast.Assign):
                value = stmt.value
                for target in stmt.targets:
                    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and \
                            len(target.elts) == len(value.elts):
                        for t_elt, v_elt in zip(target.elts, value.elts):
                            assign(t_elt, types.of(v_elt))
                    else:
                        assign(target, types.of(value))
            elif isinstance(stmt, ast.AugAssign):
                if isinstance(stmt.target, ast.Name):
                    assign(stmt.target, _join(types.of(stmt.target), types.of(stmt.value)))
            elif isinstance(stmt, ast.For):
                assign(stmt.target, "I")
                walk(stmt.body)
            elif isinstance(stmt, (ast.If, ast.While)):
                walk(stmt.body)
                walk(stmt.orelse)
    # two passes: names read in a loop before their assignment get their type on the second
    walk(fn.body)
    walk(fn.body)
    return seen, ok


def writes_parameter(tree, func: str, args) -> bool:
    """Does `func` store into an array parameter, directly or through a name bound to it (b = x)?"""
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func), None)
    if fn is None:
        return False
    aliases = {a.arg for a, v in zip(fn.args.args, args) if isinstance(v, np.ndarray)}
    changed = True
    while changed:
        changed = False
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute)):
                base = node.value.id if isinstance(node.value, ast.Name) else (
                    node.value.value.id if isinstance(node.value.value, ast.Name) and node.value.attr == "T"
                    else None)
                if base in aliases:
                    for t in node.targets:
                        if isinstance(t, ast.Name) and t.id not in aliases:
                            aliases.add(t.id)
                            changed = True
    for node in ast.walk(fn):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AugAssign) else []
        for t in targets:
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in aliases:
                return True
            if isinstance(node, ast.AugAssign) and isinstance(t, ast.Name) and t.id in aliases:
                return True
    return False


def runs_in_python(case: Case, directory: str, seconds: float = 2.0, strict: bool = True) -> bool:
    """Does the primal load and return a finite float within `seconds` in plain Python?

    Candidates with unreachable statements, or where a name changes type (a float
    becoming an array), are refused too: a reduction must not turn a failure into
    one about dead code or a program outside the generator's discipline."""
    try:
        tree = syntax.parse(case.source)
    except SyntaxError:
        return False
    if not any(isinstance(n, ast.FunctionDef) and n.name == case.func for n in tree.body):
        return False
    if strict and (has_dead_code(tree) or not type_stable(tree, case.func, case.args) or
                   writes_parameter(tree, case.func, case.args)):
        return False

    def runs_to_a_finite_float() -> bool:
        try:
            module, _ = load_module(case.source, directory, stem="shrink")
            fn = getattr(module, case.func)
            with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
                value = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in case.args])
            return bool(is_float_result(value) and np.isfinite(value))
        except Exception:          # noqa: BLE001 -- any error rejects the candidate
            return False

    return limited(runs_to_a_finite_float, seconds) is True     # None: out of time (or not limitable)


class Checker:
    """Runs a candidate's oracle and one (mode, api) run in a worker; compares with the target failure."""

    def __init__(self, pool, mode: str, api: str, target: tuple, directory: str, fault: dict | None = None):
        self.pool = pool
        self.fault = fault
        self.mode, self.api = mode, api
        self.target = target
        self.directory = directory
        self.calls = 0
        self.last_record = None
        self.strict = True          # the static filters of runs_in_python (off when the original fails them)

    def run(self, case: Case) -> dict | None:
        """The run record for this case, or None (no reference / the oracle skipped)."""
        result = {}

        def done(record):
            result["record"] = record
        task = case.task([(self.mode, self.api)])
        if self.fault:
            task["fault"] = self.fault
        self.pool.run([task], done)
        record = result.get("record")
        if record is None or "skip" in record.get("oracle", {}) or not record["runs"]:
            return None
        return record["runs"][0]

    def __call__(self, case: Case) -> bool:
        if not runs_in_python(case, self.directory, strict=self.strict):
            return False
        self.calls += 1
        record = self.run(case)
        if record is None:
            return False
        if failure_key(record) == self.target:
            self.last_record = record
            return True
        return False


# --------------------------------------------------------------------------- AST edits

def _paths(node, path=()):
    """Pre-order (path, node) for every AST node; a path step is (field, index or None)."""
    yield path, node
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _paths(item, path + ((name, i),))
        elif isinstance(value, ast.AST):
            yield from _paths(value, path + ((name, None),))


def _get(tree, path):
    node = tree
    for name, index in path:
        node = getattr(node, name)
        if index is not None:
            node = node[index]
    return node


def _parent(tree, path):
    return _get(tree, path[:-1]), path[-1]


def _size(node) -> int:
    return sum(1 for _ in ast.walk(node))


def _unparse(tree) -> str | None:
    try:
        ast.fix_missing_locations(tree)
        text = ast.unparse(tree)
        syntax.parse(text)
        return text + "\n"
    except Exception:
        return None


def statement_deletions(tree):
    """Candidate trees with one statement deleted, largest statements first."""
    sites = [(path, node) for path, node in _paths(tree) if isinstance(node, ast.stmt) and path and
             path[-1][1] is not None]
    sites.sort(key=lambda pn: -_size(pn[1]))
    for path, node in sites:
        if isinstance(node, ast.FunctionDef):
            continue
        new = copy.deepcopy(tree)
        parent, (name, index) = _parent(new, path)
        block = getattr(parent, name)
        del block[index]
        if not block:
            if isinstance(parent, ast.Module):
                continue
            block.append(ast.Pass())
        yield new


def unwrap_compound(tree):
    """Replace an if/for/while by its body (or else-branch)."""
    for path, node in _paths(tree):
        if not isinstance(node, (ast.If, ast.For, ast.While)) or not path or path[-1][1] is None:
            continue
        options = [node.body]
        if isinstance(node, ast.If) and node.orelse:
            options.append(node.orelse)
        for option_index in range(len(options)):
            new = copy.deepcopy(tree)
            parent, (name, index) = _parent(new, path)
            block = getattr(parent, name)
            original = block[index]
            replacement = [original.body, original.orelse][option_index] if isinstance(original, ast.If) \
                else original.body
            prefix = []
            if isinstance(original, ast.For) and isinstance(original.target, ast.Name):
                start = original.iter.args[0] if isinstance(original.iter, ast.Call) and \
                    len(original.iter.args) > 1 else ast.Constant(0)
                prefix = [ast.Assign(targets=[ast.Name(original.target.id, ast.Store())], value=start)]
            block[index:index + 1] = prefix + [s for s in replacement if not isinstance(s, (ast.Break, ast.Continue))] \
                or [ast.Pass()]
            yield new


_CONSTANTS = (1.0, 0.5, 2.0, 0, 1)


def _in_call_func(path, tree) -> bool:
    node = tree
    for name, index in path:
        if isinstance(node, ast.Call) and name == "func":
            return True
        if isinstance(node, ast.keyword) and name == "value":
            pass
        node = getattr(node, name)
        if index is not None:
            node = node[index]
    return False


_BOOLEAN = (ast.Compare, ast.BoolOp)


def _is_boolean(node, t) -> bool:
    return isinstance(node, _BOOLEAN) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)) or \
        (t is not None and t[0] in "BM") or (isinstance(node, ast.Constant) and isinstance(node.value, bool))


def _compatible(node, rep, t, r) -> bool:
    """May `rep` (type r) stand where `node` (type t) stood?  Conditions stay conditions, types stay."""
    if _is_boolean(node, t):
        return _is_boolean(rep, r)
    if _is_boolean(rep, r):
        return False
    if t is not None:
        return r == t
    return r is None or r in ("F", "I")


def _in_keyword(path, tree) -> bool:
    """Inside a keyword argument of a library call (axis=, keepdims=): structure, not a value to shrink."""
    node = tree
    for name, index in path:
        if isinstance(node, ast.Call) and name == "keywords" and isinstance(node.func, ast.Attribute):
            return True
        node = getattr(node, name)
        if index is not None:
            node = node[index]
    return False


def expression_replacements(tree, func=None, args=None):
    """Replace an expression by one of its subexpressions or by a constant, keeping its type."""
    envs = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            envs[node.name] = _infer(node, args if node.name == func else None)[0]
    sites = []
    for path, node in _paths(tree):
        if not isinstance(node, ast.expr) or not path:
            continue
        if isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
            continue
        if _in_call_func(path, tree) or _in_keyword(path, tree):
            continue
        if isinstance(node, ast.Constant):
            continue
        sites.append((path, node))
    sites.sort(key=lambda pn: -_size(pn[1]))
    for path, node in sites:
        owner = tree.body[path[0][1]] if path and path[0][0] == "body" else None
        types = _Types(envs.get(owner.name, {}) if isinstance(owner, ast.FunctionDef) else {})
        t = types.of(node)
        replacements = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr) and not isinstance(getattr(child, "ctx", None), ast.Store):
                replacements.append(child)
        if _is_boolean(node, t):
            replacements += [ast.Constant(True), ast.Constant(False)]
        elif t == "I":
            replacements += [ast.Constant(0), ast.Constant(1)]
        elif t is None or t == "F":
            replacements += [ast.Constant(c) for c in (1.0, 0.5)]
        seen = set()
        for rep in replacements:
            text = ast.unparse(rep)
            if text in seen or text == ast.unparse(node):
                continue
            if not _compatible(node, rep, t, types.of(rep)):
                continue
            seen.add(text)
            new = copy.deepcopy(tree)
            parent, (name, index) = _parent(new, path)
            rep_copy = copy.deepcopy(rep)
            if index is None:
                setattr(parent, name, rep_copy)
            else:
                getattr(parent, name)[index] = rep_copy
            yield new


def drop_unused_definitions(tree, func):
    """Remove helpers, module constants and imports nobody reads."""
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    used |= {n.value.id for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    body = []
    changed = False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name != func and node.name not in used:
            changed = True
            continue
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id not in used for t in node.targets):
            changed = True
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
            if not names:
                changed = True
                continue
            if len(names) != len(node.names):
                node = copy.deepcopy(node)
                node.names = names
                changed = True
        body.append(node)
    if not changed:
        return None
    new = copy.deepcopy(tree)
    new.body = body
    return new


# --------------------------------------------------------------------------- case-level edits

def _with_source(case: Case, tree) -> Case | None:
    text = _unparse(tree)
    if text is None or text == case.source:
        return None
    return replace(case, source=text)


def parameter_drops(case: Case):
    tree = syntax.parse(case.source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == case.func)
    loads = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    wrt_idx = case.wrt_indices
    for k, arg in enumerate(fn.args.args):
        if arg.arg in loads:
            continue
        if k in wrt_idx and len(wrt_idx) == 1:
            continue
        new = copy.deepcopy(tree)
        nfn = next(n for n in new.body if isinstance(n, ast.FunctionDef) and n.name == case.func)
        del nfn.args.args[k]
        defaults = nfn.args.defaults
        first_default = len(fn.args.args) - len(defaults)
        if k >= first_default:
            del defaults[k - first_default]
        params = case.params[:k] + case.params[k + 1:]
        args = case.args[:k] + case.args[k + 1:]
        wrt = _remap_wrt(case.wrt, case.params, k)
        text = _unparse(new)
        if text is not None and wrt is not None:
            yield Case(text, case.func, args, wrt, params)


def _remap_wrt(wrt, params, removed):
    single = not isinstance(wrt, tuple)
    items = [wrt] if single else list(wrt)
    out = []
    for w in items:
        index = params.index(w) if isinstance(w, str) else w
        if index == removed:
            continue
        out.append(w if isinstance(w, str) else (index - 1 if index > removed else index))
    if not out:
        return None
    return out[0] if single else tuple(out)


def wrt_reductions(case: Case):
    if isinstance(case.wrt, tuple) and len(case.wrt) > 1:
        for w in case.wrt:
            yield replace(case, wrt=(w,))
    if isinstance(case.wrt, tuple) and len(case.wrt) == 1:
        yield replace(case, wrt=case.wrt[0])


def argument_reductions(case: Case):
    args = list(case.args)
    # arrays: every axis of one size shrunk together (keeps shapes consistent), then one array alone
    sizes = sorted({d for a in args if isinstance(a, np.ndarray) for d in a.shape if d > 1}, reverse=True)
    for d in sizes:
        new = [_shrink_axes(a, d) if isinstance(a, np.ndarray) else a for a in args]
        yield replace(case, args=tuple(new))
    for k, a in enumerate(args):
        if isinstance(a, np.ndarray):
            for axis in range(a.ndim):
                if a.shape[axis] > 1:
                    new = list(args)
                    new[k] = np.take(a, range(a.shape[axis] - 1), axis=axis)
                    yield replace(case, args=tuple(new))
    # ints toward 0 (trip counts)
    for k, a in enumerate(args):
        if isinstance(a, int) and not isinstance(a, bool) and a != 0:
            for v in (0, 1, a - 1 if a > 0 else a + 1):
                if v != a and abs(v) < abs(a) or (v == 1 and a > 1):
                    new = list(args)
                    new[k] = v
                    yield replace(case, args=tuple(new))
    # floats rounded
    for k, a in enumerate(args):
        if isinstance(a, float):
            for digits in (0, 1, 2):
                v = round(a, digits)
                if v != a and v != 0.0:
                    new = list(args)
                    new[k] = float(v)
                    yield replace(case, args=tuple(new))
                    break
        elif isinstance(a, np.ndarray):
            v = np.round(a, 1)
            if not np.array_equal(v, a):
                new = list(args)
                new[k] = v
                yield replace(case, args=tuple(new))


def _shrink_axes(a: np.ndarray, d: int) -> np.ndarray:
    for axis in range(a.ndim):
        if a.shape[axis] == d:
            a = np.take(a, range(d - 1), axis=axis)
    return a


def source_candidates(case: Case):
    tree = syntax.parse(case.source)
    dropped = drop_unused_definitions(tree, case.func)
    if dropped is not None:
        c = _with_source(case, dropped)
        if c is not None:
            yield c
    for gen in (statement_deletions, unwrap_compound,
                lambda t: expression_replacements(t, case.func, case.args)):
        for new in gen(tree):
            c = _with_source(case, new)
            if c is not None:
                yield c


def _fingerprint(case: Case) -> str:
    return case.source + "\x00" + repr([a.tolist() if isinstance(a, np.ndarray) else a for a in case.args]) + \
        "\x00" + repr(case.wrt)


def _rotated(family, case, skip):
    """(position, candidate) from position `skip` to the end, then from the start up to `skip`."""
    for position, candidate in enumerate(family(case)):
        if position >= skip:
            yield position, candidate
    if skip:
        for position, candidate in enumerate(family(case)):
            if position >= skip:
                break
            yield position, candidate


def shrink(case: Case, check, budget_seconds: float = 120.0, log=None) -> Case:
    """Greedy reduction to a fixed point (or until the budget is spent); `check(case)` -> still fails?"""
    deadline = time.monotonic() + budget_seconds
    current = case
    tried: set = set()

    def attempt(candidate: Case) -> bool:
        key = _fingerprint(candidate)
        if key in tried:
            return False
        tried.add(key)
        return check(candidate)

    families = (source_candidates, parameter_drops, wrt_reductions, argument_reductions)
    progress = True
    while progress and time.monotonic() < deadline:
        progress = False
        for family in families:
            skip = 0          # resume near the last success, then wrap around: every candidate gets a turn
            while time.monotonic() < deadline:
                success = False
                for position, candidate in _rotated(family, current, skip):
                    if time.monotonic() >= deadline:
                        break
                    if family is not argument_reductions and candidate.size() > current.size():
                        continue
                    if attempt(candidate):
                        current = candidate
                        success = progress = True
                        skip = max(0, position - 1)
                        if log:
                            log(current)
                        break
                if not success:
                    break
    # tidy: unused definitions once more
    tree = syntax.parse(current.source)
    dropped = drop_unused_definitions(tree, current.func)
    if dropped is not None:
        c = _with_source(current, dropped)
        if c is not None and check(c):
            current = c
    return current


# --------------------------------------------------------------------------- failures of a run

def features(source: str, func: str = "f") -> tuple:
    """A coarse structural fingerprint of a (shrunk) program: the constructs and calls it uses."""
    tree = syntax.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.For, ast.While, ast.Return, ast.Break, ast.Continue, ast.AugAssign,
                             ast.IfExp, ast.BoolOp, ast.Subscript, ast.Slice, ast.Tuple)):
            found.add(type(node).__name__)
        elif isinstance(node, ast.Call):
            found.add("call:" + ast.unparse(node.func))
        elif isinstance(node, ast.BinOp):
            found.add(type(node.op).__name__)
        elif isinstance(node, ast.Attribute) and node.attr in ("T", "shape"):
            found.add("." + node.attr)
    return tuple(sorted(found))


def _mode_cost(run: dict) -> tuple:
    return (run["mode"].startswith("jit"), run["mode"].endswith("nosimp"), run["api"] != "grad")


@dataclass
class Shrunk:
    key: tuple                      # failure_key
    programs: list                  # ids of the run's programs in this group
    runs_seen: list                 # sorted (mode, api) where the group failed
    original: dict                  # the task shrunk
    mode: str
    api: str
    case: Case | None = None
    record: dict | None = None      # the shrunk case's failing run
    modes_failing: list = field(default_factory=list)   # the shrunk case re-run in every mode
    seconds: float = 0.0

    def header(self) -> list[str]:
        out = [f"failure class: {' / '.join(k for k in self.key if k)}",
               f"found in {len(self.programs)} program(s), runs: {', '.join(f'{m}:{a}' for m, a in self.runs_seen)}",
               f"shrunk from {self.original['id']} in mode {self.mode} ({self.api}) in {self.seconds:.0f} s"]
        if self.modes_failing:
            out.append("the shrunk program fails in: " + ", ".join(self.modes_failing))
        return out


def group_failures(records, outcomes=("wrong", "crash")) -> dict:
    """failure_key + nojit mode pattern -> list of (record, run)."""
    groups: dict = {}
    for record in records:
        for run in record["runs"]:
            if run["outcome"] not in outcomes:
                continue
            key = failure_key(run)
            groups.setdefault(key, []).append((record, run))
    return groups


def shrink_failures(records, out: str | None, *, budget_seconds: float = 90.0, max_groups: int = 30,
                    outcomes=("wrong", "crash"), env: dict | None = None, per_group: int = 1,
                    timeout: float = 120.0, say=print) -> list[Shrunk]:
    """Shrink the smallest program of each failure group; write <out>/shrunk/*.py; return the results."""
    import os
    import tempfile
    from .run import Pool, reproduction_source, worker_environment
    from .execute import MODES
    groups = group_failures(records, outcomes)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:max_groups]
    scratch = tempfile.mkdtemp(prefix="autodiff-shrink-")
    env = env or worker_environment(os.environ.get("AUTODIFF_COMPILER_CACHE") or os.path.join(scratch, "cache"),
                                    0, True)
    pool = Pool(1, env, os.path.join(scratch, "programs"), timeout)
    results = []
    try:
        for key, items in ordered:
            programs = sorted({r["id"] for r, _ in items})
            runs_seen = sorted({(run["mode"], run["api"]) for _, run in items},
                               key=lambda ma: (list(MODES).index(ma[0]), ma[1]))
            candidates = sorted(items, key=lambda rr: (len(rr[0]["task"]["source"]), _mode_cost(rr[1])))
            distinct, picked = set(), []
            for record, run in candidates:
                if record["id"] not in distinct:
                    distinct.add(record["id"])
                    picked.append((record, run))
            for record, run in picked[:per_group]:
                # shrink in the cheapest mode where this program fails the same way
                same = [r for r in record["runs"] if failure_key(r) == key]
                run = min(same, key=_mode_cost)
                task = record["task"]
                case = Case(task["source"], task["func"], tuple(task["args"]), task["wrt"], tuple(task["params"]))
                checker = Checker(pool, run["mode"], run["api"], key, os.path.join(scratch, "candidates"))
                os.makedirs(checker.directory, exist_ok=True)
                item = Shrunk(key, programs, runs_seen, task, run["mode"], run["api"])
                say(f"shrinking {task['id']} ({' / '.join(k for k in key if k)}) in {run['mode']}:{run['api']} ...")
                start = time.monotonic()
                if not runs_in_python(case, checker.directory):
                    checker.strict = False
                if not checker(case):
                    say("  does not reproduce in isolation; kept as is")
                    item.case, item.record = case, run
                else:
                    item.case = shrink(case, checker, budget_seconds)
                    checker(item.case)
                    item.record = checker.last_record or run
                item.seconds = time.monotonic() - start
                # where does the shrunk program fail?
                item.modes_failing = _modes_failing(pool, item.case)
                twin = next((r for r in results if r.key == item.key and
                             features(r.case.source, r.case.func) == features(item.case.source, item.case.func)), None)
                if twin is not None:
                    # the same class again: keep the smaller program
                    twin.duplicates = getattr(twin, "duplicates", 0) + 1
                    if item.case.size() < twin.case.size():
                        results[results.index(twin)] = item
                        item.duplicates = twin.duplicates
                        item.file = getattr(twin, "file", None)
                    else:
                        continue
                else:
                    results.append(item)
                if out:
                    folder = os.path.join(out, "shrunk")
                    os.makedirs(folder, exist_ok=True)
                    name = f"{results.index(item) + 1:02d}-{key[0]}-{_slug(key)}.py"
                    shrunk_task = item.case.task([], ident=task["id"] + "-shrunk")
                    shrunk_task.update(kind=task["kind"], seed=task["seed"], index=task["index"])
                    with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
                        handle.write(reproduction_source(shrunk_task, [item.record], item.header()))
                    item.file = os.path.join(folder, name)
    finally:
        pool.close()
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def _modes_failing(pool, case: Case) -> list[str]:
    from .execute import APIS, MODES
    result = {}
    pool.run([case.task([(m, a) for m in MODES for a in APIS])], lambda r: result.setdefault("r", r))
    record = result.get("r")
    if not record or "skip" in record.get("oracle", {}):
        return []
    return [f"{r['mode']}:{r['api']}={r['outcome']}" for r in record["runs"] if r["outcome"] not in ("ok",)]


def _slug(key) -> str:
    text = "-".join(k for k in key[1:] if k)
    return re.sub(r"[^A-Za-z0-9]+", "_", text)[:50].strip("_") or "failure"
