"""Kinds: whether each parameter is a number or an array, read from the function's body.

Takes: a function's `Source` (read, never run).  Guarantees `infer_kinds`
gives every parameter a type, or raises an `ArgumentError` that names the
parameters it cannot decide and shows the `--at` syntax that decides them:

* a parameter used as a range bound or an index (directly or through integer
  arithmetic) is an int (`counting_variables`);
* a parameter that is subscripted, reduced (`np.sum`, `.mean()`, ...),
  passed to `np.dot`/`@`/`np.outer`, transposed, or whose `.shape`/`.size`/
  `len` is read, is an array; its rank is at least the number of indices of
  its subscripts, 2 when its `.T`, `.shape[1]` or an `axis=1` is read, and
  otherwise 2 for a name written with a capital (`X`, `W`) and 1 for others;
* the other parameters are floats -- unless the function also makes sense
  with one of them an array (it still returns one number, every reduction
  and product still has arrays): then the body cannot decide, and that is
  the error;
* "makes sense" is the compiler's own type inference: every variable one
  kind, `if`/`while` conditions numbers, reductions and matrix products of
  arrays, and one number returned;
* `default_point(types)` gives reproducible values for the parameters a
  point does not give (floats 0.3, 0.47, ...; vectors of 3 and 2 x 2
  matrices), for the CLI's `--verify` and `--math`.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import ir
from ..errors import ArgumentError, AutodiffError
from ..ir import FLOAT, INT, array_of
from ..ir.types import check_consistent, infer_types
from .lower import lower

REDUCTIONS = {"sum", "mean", "amax", "amin", "prod", "np_sum"}
AXIS1 = {"sum_axis1", "mean_axis1", "amax_axis1", "amin_axis1"}
AXIS0 = {"sum_axis0", "mean_axis0", "amax_axis0", "amin_axis0"}
ARRAY_ONLY = REDUCTIONS | AXIS0 | AXIS1 | {"dot", "outer", "transpose", "shape0", "shape1", "size", "shape",
                                          "subscript", "subscript_copy"}
MAX_TRIALS = 64
# primitives whose int result counts an array's entries: their operand is the array, not a count
COUNTS = {"shape", "shape0", "shape1", "size", "slice_offset", "range_length"}


def counting_variables(function) -> set:
    """Variables used as range bounds or array indices (directly or through integer arithmetic):
    they drive control flow, so they are ints and have no derivative."""
    direct = set()
    for stmt in ir.walk(function.body):
        if isinstance(stmt, ir.For):
            direct |= set(ir.operand_vars([stmt.start, stmt.stop, stmt.step]))
        elif isinstance(stmt, ir.Assign) and stmt.prim in ("subscript", "subscript_copy"):
            direct |= set(ir.operand_vars(stmt.args[1:]))
        elif isinstance(stmt, ir.Store):
            direct |= set(ir.operand_vars(stmt.index))
    changed = True
    while changed:
        changed = False
        for stmt in ir.walk(function.body):
            if isinstance(stmt, ir.Assign) and stmt.target in direct and stmt.prim not in COUNTS:
                for name in ir.operand_vars(stmt.args):
                    if name not in direct:
                        direct.add(name)
                        changed = True
    return direct


def _aliases(function, params: list) -> dict:
    """variable -> the parameter it is a copy of (`v = x`)."""
    root = {p: p for p in params}
    for stmt in ir.walk(function.body):
        if isinstance(stmt, ir.Assign) and stmt.prim in ("copy", "stop_gradient") and \
                isinstance(stmt.args[0], ir.Var) and stmt.args[0].name in root:
            root[stmt.target] = root[stmt.args[0].name]
    return root


def _evidence(function, params: list) -> dict:
    """{parameter: (least rank, prefers rank 2)} for the parameters the body shows to be arrays."""
    root = _aliases(function, params)
    found: dict = {}
    rows: dict = {}            # a subscript's result -> (its array's root, indices used so far)

    def note(name, rank=1, two=False):
        p = root.get(name)
        if p is None:
            return
        least, prefers = found.get(p, (1, False))
        found[p] = (max(least, rank), prefers or two)
    for stmt in ir.walk(function.body):
        if not isinstance(stmt, ir.Assign) or stmt.prim not in ARRAY_ONLY or not stmt.args:
            continue
        first = stmt.args[0]
        if not isinstance(first, ir.Var):
            continue
        if stmt.prim in ("subscript", "subscript_copy"):
            count = len(stmt.args) - 1
            base, before = rows.get(first.name, (first.name, 0))
            rows[stmt.target] = (base, before + count)
            note(base, before + count)
        elif stmt.prim in ("transpose", "shape1") or stmt.prim in AXIS1:
            note(first.name, 1, two=True)
        elif stmt.prim in ("dot", "outer"):
            for a in stmt.args:
                if isinstance(a, ir.Var):
                    note(a.name)
        else:
            note(first.name)
    return found


def consistent(function, types: dict) -> bool:
    """Does the function make sense with these parameter types (see the module docstring)?"""
    try:
        inferred = infer_types(function, types)
        function.types = inferred
        check_consistent(function)
    except (AutodiffError, KeyError, IndexError, TypeError, ValueError):
        return False
    result = function.result
    if isinstance(result, ir.Var) and inferred.get(result.name) is not None and inferred[result.name].is_array:
        return False
    for stmt in ir.walk(function.body):
        if isinstance(stmt, (ir.If, ir.While)) and isinstance(stmt.cond, ir.Var):
            t = inferred.get(stmt.cond.name)
            if t is not None and t.is_array:
                return False
        if isinstance(stmt, ir.Assign) and stmt.prim in ARRAY_ONLY - {"subscript", "subscript_copy"}:
            for a in stmt.args[:2 if stmt.prim in ("dot", "outer") else 1]:
                t = inferred.get(a.name) if isinstance(a, ir.Var) else None
                if t is None or not t.is_array:
                    return False
    return True


def _provisional(source, given: dict) -> dict:
    """Types to lower with when the lowering needs ranks: a parameter subscripted with k indices (k
    summed along `p[i][j]`) is an array of rank k, 2 when its `.T` or `.shape[1]` is read; read for its
    `.shape`/`.size` or passed to a reduction or product, rank 1; the others stay unknown."""
    import ast
    params = [a.arg for a in source.node.args.args]
    rank: dict = {}

    def depth(node) -> tuple:
        """(parameter, indices) of a subscript chain `p[...][...]`."""
        count = 0
        while isinstance(node, ast.Subscript):
            index = node.slice
            count += len(index.elts) if isinstance(index, ast.Tuple) else 1
            node = node.value
        return (node.id, count) if isinstance(node, ast.Name) else (None, 0)

    for node in ast.walk(source.node):
        if isinstance(node, ast.Subscript):
            name, count = depth(node)
            if name in params:
                rank[name] = max(rank.get(name, 1), count)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in params:
            if node.attr == "T":
                rank[node.value.id] = max(rank.get(node.value.id, 1), 2)
            elif node.attr in ("shape", "size", "sum", "mean", "max", "min"):
                rank.setdefault(node.value.id, 1)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            for side in (node.left, node.right):
                if isinstance(side, ast.Name) and side.id in params:
                    rank.setdefault(side.id, 2 if side.id[:1].isupper() else 1)
    types = {p: array_of(r) for p, r in rank.items() if p not in given}
    types.update(given)
    return types


def _lower_for_kinds(source, given: dict):
    """The function lowered without types, or, where the lowering needs ranks, with provisional ones."""
    try:
        return lower(source)
    except AutodiffError:
        types = _provisional(source, given)
        return lower(source, {p: types.get(p) for p in (a.arg for a in source.node.args.args)})


def infer_kinds(source, given: dict | None = None) -> dict:
    """{parameter: Type} from the body (see the module docstring); `given` types are kept as they are."""
    given = dict(given or {})
    function, _ = _lower_for_kinds(source, given)
    params = list(function.params)
    counting = counting_variables(function) & set(params)
    evidence = _evidence(function, params)
    fixed = dict(given)
    for p in params:
        if p not in fixed and p in counting:
            fixed[p] = INT
    arrays = [p for p in params if p not in fixed and p in evidence]
    others = [p for p in params if p not in fixed and p not in evidence]

    def ranks(p):
        least, two = evidence[p]
        order = [2, 1] if (two or p[:1].isupper()) else [1, 2]
        return [r for r in order if r >= least] or [least]

    def first_consistent(extra_arrays=()):
        choices = [ranks(p) for p in arrays] + [[1] for _ in extra_arrays]
        for k, combination in enumerate(itertools.product(*choices)):
            if k == MAX_TRIALS:
                break
            types = dict(fixed)
            types.update({p: array_of(r) for p, r in zip(list(arrays) + list(extra_arrays), combination)})
            types.update({p: FLOAT for p in others if p not in extra_arrays})
            if consistent(function, types):
                return types
        return None

    chosen = first_consistent()
    if chosen is not None:
        ambiguous = [p for p in others if first_consistent((p,)) is not None]
        if ambiguous:
            raise _undecided(source, ambiguous, "a number or an array")
        return {p: chosen[p] for p in params}
    flips = [p for p in others if first_consistent((p,)) is not None]
    if len(flips) == 1:
        return {p: t for p, t in first_consistent((flips[0],)).items() if p in params}
    if flips or others:
        raise _undecided(source, flips or others, "a number or an array")
    raise _undecided(source, arrays or params, "a vector or a matrix")


def _undecided(source, names: list, what: str) -> ArgumentError:
    names = list(dict.fromkeys(names))
    listed = ", ".join(names)
    if what == "a vector or a matrix":
        hint = (f"say it with --at: --at {names[0]}=[[1.0,2.0],[3.0,4.0]] (a matrix) or "
                f"--at {names[0]}=[1.0,2.0,3.0] (a vector)")
    else:
        numbers = ",".join(f"{n}=0.5" for n in names[:2])
        vectors = ",".join(f"{n}=[0.5,1.5]" for n in names[:2])
        hint = (f"say it with --at: --at {numbers} (numbers) or --at {vectors} (vectors; a matrix is "
                f"[[1.0,2.0],[3.0,4.0]]); from Python, call the gradient with the arguments")
    verb = "is" if len(names) == 1 else "are"
    return ArgumentError(f"cannot tell from the body of {source.name} whether {listed} {verb} {what}",
                         filename=source.filename, line=source.node.lineno, hint=hint)


def default_point(types: dict, given: dict) -> dict:
    """Reproducible values for the parameters `given` lacks (ints are not guessed: None for them)."""
    point = {}
    for k, (name, t) in enumerate(types.items()):
        if name in given:
            continue
        if t == FLOAT:
            point[name] = round(0.3 + 0.17 * k, 4)
        elif t.kind == "array":
            point[name] = np.linspace(0.2, 0.9, 3) + 0.1 * k if t.ndim == 1 else np.full((2, 2), 0.5 + 0.1 * k)
        else:
            point[name] = None
    return point
