"""Simplify: an adjoint (or primal) IR function -> an equivalent, smaller one.

Takes: an `ir.Function` with `types`.  Guarantees the same results, with
`optimise.propagate` (folding, propagation, CSE) and `optimise.eliminate`
(dead code) run to a fixed point.
"""
from __future__ import annotations

from .. import ir
from ..ir import Comment, dataflow
from .eliminate import eliminate
from .propagate import Propagate

def _fingerprint(function: ir.Function) -> str:
    return "\n".join(ir.format_block(function.body, 0)) + "|" + ",".join(map(str, function.returns))


def simplify(function: ir.Function, max_rounds: int = 20) -> ir.Function:
    """Propagate, fold and eliminate until nothing changes."""
    for _ in range(max_rounds):
        before = _fingerprint(function)
        Propagate(function).run(function)
        dataflow.invalidate(function)
        eliminate(function)
        if _fingerprint(function) == before:
            break
    function.body = _drop_empty_sections(function.body)
    for stmt in ir.walk(function.body):
        for child in ir.child_blocks(stmt):
            child[:] = _drop_empty_sections(child)
    return function


def _drop_empty_sections(body: list) -> list:
    """Remove a section comment directly followed by another section comment or the end."""
    out = []
    for k, stmt in enumerate(body):
        if isinstance(stmt, Comment) and (k + 1 == len(body) or isinstance(body[k + 1], Comment)):
            continue
        out.append(stmt)
    return out


