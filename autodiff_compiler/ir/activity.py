"""Activity: which variables carry derivatives.

Takes: a typed IR function, the `wrt` names and the result variables.
Guarantees: `activity` returns the active variables: float-typed, depending
on a `wrt` input through differentiable primitives (varied) and reaching the
result (useful).  Only active variables get adjoints (reverse mode) or
tangents (forward mode).  In derived programs a tape carries what is pushed
on it to what is popped from it.
"""
from __future__ import annotations

from . import nodes as ir
from .nodes import Assign, Store
from ..rules import PRIMITIVES


def _derivative_edges(function: ir.Function) -> list:
    """(target, sources) for every statement through which a derivative can flow."""
    edges = []
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign) and not PRIMITIVES[stmt.prim].nondiff:
            edges.append((stmt.target, ir.operand_vars(stmt.args)))
        elif isinstance(stmt, Store):
            edges.append((stmt.array, ir.operand_vars([stmt.value])))
        elif isinstance(stmt, ir.Push):          # derived programs: a tape holds what is pushed on it
            edges.append((stmt.tape, ir.operand_vars([stmt.value])))
        elif isinstance(stmt, ir.Pop):
            edges.append((stmt.target, [stmt.tape]))
    return edges


def _closure(start: set, edges: list, forward: bool) -> set:
    """Everything reachable from `start` along the edges: forward, a target is reached when one of its
    sources is; backward, every source of a reached target is.  One walk over an index from each name
    to its neighbours (the edges once rescanned until nothing changed took a pass per statement of a
    straight line, backward: quadratic, 36 s of a 10,000-statement derivation)."""
    neighbours: dict = {}
    for target, sources in edges:
        if forward:
            for name in sources:
                neighbours.setdefault(name, []).append(target)
        else:
            neighbours.setdefault(target, []).extend(sources)
    reached = set(start)
    pending = list(reached)
    while pending:
        for name in neighbours.get(pending.pop(), ()):
            if name not in reached:
                reached.add(name)
                pending.append(name)
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
