"""Fuse elementwise: a run of elementwise vector statements ending in a sum or mean -> one loop.

Takes: a typed primal `ir.Function`.  Guarantees: the function computes the
same values; a fused group runs as one loop over the elements when every
vector involved has one length, and as written otherwise (broadcasting a
length-1 vector), so the meaning never changes.
"""
from __future__ import annotations

from .. import ir
from ..ir import Assign, Const, Slice, Var
from ..rules import PRIMITIVES

# ------------------------------------------------------- elementwise fusion

_ELEMENTWISE_RESULTS = {"float", "join", "bool", "int", "first", "pow", "where"}
_FUSED_REDUCTIONS = {"sum": "sum", "mean": "mean"}


def _is_vector(t) -> bool:
    return t is not None and t.is_array and t.ndim == 1


def _elementwise(stmt, types) -> bool:
    if not isinstance(stmt, Assign) or stmt.prim in ("subscript", "copy", "stop_gradient"):
        return False
    prim = PRIMITIVES[stmt.prim]
    if prim.result not in _ELEMENTWISE_RESULTS or (prim.partials is None and not prim.nondiff):
        return False
    operand_types = [types.get(a.name) if isinstance(a, Var) else None for a in stmt.args]
    return _is_vector(types.get(stmt.target)) and all(t is None or not t.is_array or _is_vector(t)
                                                      for t in operand_types)


def fuse_elementwise(function: ir.Function, names) -> bool:
    """Turn a run of elementwise vector statements ending in np.sum / np.mean into one loop.

    `np.mean((w * x + b - y) ** 2)` allocates an array per primitive, and so
    would its adjoint; as a loop over i it allocates nothing, and the reverse
    pass turns it into the loop a person would write.  The loop runs when all
    the vectors involved have one length; otherwise (broadcasting a length-1
    vector) the statements run as written, so the meaning never changes."""
    types = function.types
    writes: dict = {}
    for stmt in ir.walk(function.body):
        for name in ir.writes(stmt):
            writes[name] = writes.get(name, 0) + 1
    body, changed, k = function.body, False, 0
    while k < len(body):
        group, j = [], k
        while j < len(body) and (_elementwise(body[j], types) or (
                isinstance(body[j], Assign) and body[j].prim in _FUSED_REDUCTIONS and group
                and isinstance(body[j].args[0], Var) and body[j].args[0].name in {s.target for s in group})):
            group.append(body[j])
            j += 1
        while group and group[-1].prim not in _FUSED_REDUCTIONS:
            group.pop()
        j = k + len(group)
        reductions = [s for s in group if s.prim in _FUSED_REDUCTIONS]
        arrays = {s.target for s in group if s.prim not in _FUSED_REDUCTIONS}
        later = ir.used_in(body[j:]) | set(ir.operand_vars(
            [function.result] if function.result is not None else list(function.returns)))
        if reductions and len(arrays) >= 1 and not (arrays & later) \
                and all(writes.get(s.target) == 1 for s in group):
            views = _unit_slices(body[:k], types, writes)
            # views used only by this group move into its vectorised branch
            elsewhere = ir.used_in(body[:k] + body[j:]) | later
            moved = [s for s in body[:k] if isinstance(s, Assign) and s.target in views and s.target not in elsewhere]
            body[k:j] = _fused_loop(group, arrays, types, names, views, moved)
            for stmt in moved:
                body.remove(stmt)
                k -= 1
            changed = True
            k += 1
        k += 1
    return changed


def _unit_slices(before: list, types: dict, writes: dict) -> dict:
    """Vectors defined as `x[start:stop]` of a vector `x` nothing writes: name -> (x, start)."""
    views = {}
    for stmt in before:
        if isinstance(stmt, Assign) and stmt.prim == "subscript" and len(stmt.args) == 2 \
                and isinstance(stmt.args[1], Slice) and stmt.args[1].step is None \
                and isinstance(stmt.args[0], Var) and _is_vector(types.get(stmt.args[0].name)) \
                and writes.get(stmt.args[0].name, 0) == 0 and writes.get(stmt.target) == 1:
            views[stmt.target] = (stmt.args[0].name, stmt.args[1].start)
    return views


def _fused_loop(group: list, arrays: set, types: dict, names, views: dict | None = None,
                moved: list = ()) -> list:
    loc = group[0].loc
    inputs = []
    for stmt in group:
        for a in stmt.args:
            if isinstance(a, Var) and a.name not in arrays and _is_vector(types.get(a.name)) and a.name not in inputs:
                inputs.append(a.name)
    out: list = []
    moved_views = {s.target: s for s in moved}

    def length_of(name):
        """The length of an input; a moved view's is read from a slice of its own (no derivative)."""
        if name in moved_views:
            view = names.temp()
            out.append(Assign(view, "subscript", moved_views[name].args, loc))
            return Var(view)
        return Var(name)
    length = names.fresh("n_elements")
    out.append(Assign(length, "shape0", (length_of(inputs[0]),), loc))
    same = names.fresh("same_length")
    if len(inputs) == 1:
        out.append(Assign(same, "copy", (Const(True),), loc))
    elif len(inputs) == 2:
        other = names.temp()
        out += [Assign(other, "shape0", (length_of(inputs[1]),), loc), Assign(same, "eq", (Var(other), Var(length)), loc)]
    else:
        mismatches = names.temp()
        out.append(Assign(mismatches, "copy", (Const(0),), loc))
        for name in inputs[1:]:
            other, differs = names.temp(), names.temp()
            out += [Assign(other, "shape0", (length_of(name),), loc),
                    Assign(differs, "ne", (Var(other), Var(length)), loc),
                    Assign(mismatches, "add", (Var(mismatches), Var(differs)), loc)]
        out.append(Assign(same, "eq", (Var(mismatches), Const(0)), loc))
    # the loop: each vector read element by element, each reduction accumulated
    index = names.fresh("i")
    element = {}
    loop_body: list = []
    for name in inputs:
        element[name] = names.fresh(f"{name}_i")
        base, start = (views or {}).get(name, (None, None))
        if base is None:
            loop_body.append(Assign(element[name], "subscript", (Var(name), Var(index)), loc))
        elif start is None:
            # x[:stop][i] is x[i]; x[start:stop][i] is x[start + i] (negative starts count from the end alike)
            loop_body.append(Assign(element[name], "subscript", (Var(base), Var(index)), loc))
        else:
            position = names.temp()
            loop_body += [Assign(position, "add", (start, Var(index)), loc),
                          Assign(element[name], "subscript", (Var(base), Var(position)), loc)]
    before: list = []
    after: list = []
    for stmt in group:
        if stmt.prim in _FUSED_REDUCTIONS:
            total = names.fresh(f"{stmt.target}_sum")
            before.append(Assign(total, "copy", (Const(0.0),), stmt.loc))
            loop_body.append(Assign(total, "add", (Var(total), Var(element[stmt.args[0].name])), stmt.loc))
            if stmt.prim == "mean":
                after.append(Assign(stmt.target, "div", (Var(total), Var(length)), stmt.loc))
            else:
                after.append(Assign(stmt.target, "copy", (Var(total),), stmt.loc))
            continue
        scalar = element.setdefault(stmt.target, names.fresh(f"{stmt.target}_i"))
        args = tuple(Var(element[a.name]) if isinstance(a, Var) and a.name in element else a for a in stmt.args)
        loop_body.append(Assign(scalar, stmt.prim, args, stmt.loc, stmt.params))
    fused = before + [ir.For(index, Const(0), Var(length), Const(1), loop_body, loc)] + after
    return out + [ir.If(Var(same), fused, list(moved) + list(group), loc)]

