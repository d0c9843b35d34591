"""Analyse: types per argument signature, and activity.

Takes: an IR function (primal or adjoint) and the types of its parameters.
Guarantees:

* `infer_types` gives every variable one type (float, int, bool or a float
  array of rank n), the join over all its assignments, found by iterating to a
  fixed point; an int variable that later holds a float (`s = 0; s += x`) is a
  float, and its integer constants are rewritten as floats so the generated
  code types the same way under Numba;
* `activity` returns the active variables: float-typed, depending on a `wrt`
  input through differentiable primitives (varied) and reaching the result
  (useful).  Only active variables get adjoints.
"""
from __future__ import annotations

from . import ir
from .errors import AutodiffError
from .ir import BOOL, FLOAT, INT, Assign, Const, For, Pop, Push, Store, TapeAlloc, Type, Var, array_of, join
from .rules import PRIMITIVES


def type_of_operand(operand, types: dict) -> Type | None:
    if isinstance(operand, Var):
        return types.get(operand.name)
    if isinstance(operand, Const):
        value = operand.value
        return BOOL if isinstance(value, bool) else INT if isinstance(value, int) else FLOAT
    return None


def _elementwise(kind: str, arg_types: list) -> Type | None:
    arrays = [t for t in arg_types if t is not None and t.kind == "array"]
    if arrays:
        ndim = max(t.ndim for t in arrays)
        if kind == "bool":
            return array_of(ndim, "bool")
        if kind in ("join", "first"):
            acc = None
            for t in arg_types:
                acc = join(acc, t)
            return acc if acc.dtype != "bool" or kind == "first" else array_of(ndim, "int64")
        return array_of(ndim)
    if kind == "float":
        return FLOAT
    if kind == "bool":
        return BOOL
    if kind == "int":
        return INT
    if kind == "first":
        return arg_types[0]
    acc = None
    for t in arg_types:
        acc = join(acc, INT if t == BOOL else t)
    return acc


def result_type(stmt: Assign, types: dict) -> Type | None:
    arg_types = [type_of_operand(a, types) for a in stmt.args if not isinstance(a, ir.Slice)]
    prim = PRIMITIVES[stmt.prim]
    if prim.result in ("float", "join", "bool", "int", "first"):
        if any(t is None for t in arg_types[:1 if prim.result == "first" else None]):
            return None
        return _elementwise(prim.result, arg_types)
    if prim.result == "count":
        return INT
    if prim.result == "last":
        return arg_types[-1]
    if prim.result == "second":
        return arg_types[1]
    if prim.result == "pow":
        if any(t is None for t in arg_types):
            return None
        base, exponent = arg_types
        integral = base in (INT, BOOL) and exponent in (INT, BOOL)
        if integral and isinstance(stmt.args[1], Const) and stmt.args[1].value >= 0:
            return INT
        return _elementwise("float", arg_types)
    from .arrays import array_result_type
    return array_result_type(stmt, prim, arg_types)


def infer_types(function: ir.Function, param_types: dict) -> dict:
    """Types of every variable of `function`, given its parameters' types."""
    types = dict(param_types)
    for _ in range(100):
        before = dict(types)
        for stmt in ir.walk(function.body):
            if isinstance(stmt, Assign):
                t = result_type(stmt, types)
                if t is not None:
                    types[stmt.target] = join(types.get(stmt.target), t) if stmt.target in types else t
            elif isinstance(stmt, For):
                types[stmt.index] = INT
            elif isinstance(stmt, Pop):
                pass
        if types == before:
            break
    else:  # pragma: no cover - the lattice is finite, so this only guards against a bug
        raise AutodiffError("type inference did not converge")
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign) and stmt.target not in types:
            raise AutodiffError(f"cannot infer the type of {stmt.target!r}")
    _float_constants(function.body, types)
    return types


def _float_constants(block: list, types: dict) -> None:
    """`s = 0` where `s` is a float becomes `s = 0.0`, so that Numba types `s` as we do."""
    for stmt in ir.walk(block):
        if isinstance(stmt, Assign) and stmt.prim == "copy" and isinstance(stmt.args[0], Const):
            value = stmt.args[0].value
            if types.get(stmt.target) == FLOAT and not isinstance(value, float):
                stmt.args = (Const(float(value)),)
            elif types.get(stmt.target) == INT and isinstance(value, bool):
                stmt.args = (Const(int(value)),)


def _derivative_edges(function: ir.Function) -> list:
    """(target, sources) for every statement through which a derivative can flow."""
    edges = []
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign) and not PRIMITIVES[stmt.prim].nondiff:
            edges.append((stmt.target, ir.operand_vars(stmt.args)))
        elif isinstance(stmt, Store):
            edges.append((stmt.array, ir.operand_vars([stmt.value])))
    return edges


def _closure(start: set, edges: list, forward: bool) -> set:
    """Everything reachable from `start` along the edges (sources -> target when `forward`)."""
    reached = set(start)
    changed = True
    while changed:
        changed = False
        for target, sources in edges:
            if forward and target not in reached and any(name in reached for name in sources):
                reached.add(target)
                changed = True
            elif not forward and target in reached and not reached.issuperset(sources):
                reached.update(sources)
                changed = True
    return reached


def varied_by(function: ir.Function, wrt: set) -> set:
    """Variables that depend on a `wrt` input through differentiable primitives."""
    return _closure(wrt, _derivative_edges(function), forward=True)


def useful_for(function: ir.Function, results: set) -> set:
    """Variables the results depend on through differentiable primitives."""
    return _closure(results, _derivative_edges(function), forward=False)


def activity(function: ir.Function, wrt: set, types: dict, results: set | None = None) -> set:
    """Variables that need an adjoint: varied, useful and able to carry a derivative."""
    if results is None:
        results = set(ir.operand_vars([function.result]))
    active = varied_by(function, wrt) & useful_for(function, results)
    return {name for name in active if types.get(name) is not None and types[name].is_float}
