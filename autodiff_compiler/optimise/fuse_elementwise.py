"""Fuse elementwise: a run of elementwise vector statements ending in a sum or mean -> one loop.

Takes: a typed primal `ir.Function`.  Guarantees: the function computes the
same values; a fused group runs as one loop over the elements when every
vector involved has one length, and as written otherwise (broadcasting a
length-1 vector), so the meaning never changes.  When the shapes analysis
(`ir.shapes`) proves the vectors have one length on every run, the loop is
all there is: no test, no copy as written.
"""
from __future__ import annotations

from .. import ir
from ..ir import dataflow, shapes
from ..ir import Assign, Const, Slice, Var
from ..python_errors import INT64_NUMPY_PARAM
from ..rules import is_elementwise

# ------------------------------------------------------- elementwise fusion

_FUSED_REDUCTIONS = {"sum": "sum", "mean": "mean"}


def _is_vector(t) -> bool:
    return t is not None and t.is_array and t.ndim == 1


def _elementwise(stmt, types) -> bool:
    if not isinstance(stmt, Assign) or stmt.prim in ("subscript", "copy", "stop_gradient") \
            or not is_elementwise(stmt.prim):
        return False
    operand_types = [types.get(a.name) if isinstance(a, Var) else None for a in stmt.args]
    return _is_vector(types.get(stmt.target)) and all(t is None or not t.is_array or _is_vector(t)
                                                      for t in operand_types)


def fuse_elementwise(function: ir.Function, names, keep=frozenset()) -> bool:
    """Turn a run of elementwise vector statements ending in np.sum / np.mean into one loop.

    `np.mean((w * x + b - y) ** 2)` allocates an array per primitive, and so
    would its adjoint; as a loop over i it allocates nothing, and the reverse
    pass turns it into the loop a person would write.  The loop runs when all
    the vectors involved have one length; otherwise (broadcasting a length-1
    vector) the statements run as written, so the meaning never changes.

    Legality, checked on the dataflow facts (`ir.dataflow`): the group is a
    run of consecutive top-level statements, each elementwise over vectors or
    a sum/mean of a vector the group makes; no statement of the group reads a
    sum or mean the group computes (it only exists after the loop); every
    vector the group makes is read only inside the group and is not live after
    it; no vector the group reads from before it is also made in it.  A slice
    `v = x[a:b]` read through its base (`x[off + i]`, no copy) needs `x` and
    `a` unchanged from the slice to the group; its offset is computed as
    NumPy does (negative and too-large starts included).  Vectors named in
    `keep` (intermediates whose gradients the caller wants) are never fused
    away.

    The copy as written is left out when every vector the group reads from
    before it has one shape class where the group reads it (`ir.shapes`: one
    length on every run, `x[1:]` and `x[:-1]` for instance): the test it
    would stand behind always holds."""
    types = function.types
    body, changed, k = function.body, False, 0
    while k < len(body):
        facts = dataflow.of(function)
        group = _group_at(body, k, types)
        if group and _legal(group, facts) and not {s.target for s in group} & set(keep):
            j = k + len(group)
            views = _unit_slices(body, k, j, types, facts)
            # views used only by this group move into its vectorised branch
            positions = {facts.pos(s) for s in group}
            last = group[-1]
            moved = [body[m] for m in range(k) if isinstance(body[m], Assign) and body[m].target in views
                     and facts.uses_of(facts.pos(body[m])) <= positions
                     and body[m].target not in facts.live_out(last)]
            arrays = {s.target for s in group if s.prim not in _FUSED_REDUCTIONS}
            body[k:j] = _fused_loop(group, arrays, types, names, views, moved,
                                    one_length=_one_length(group, arrays, types, shapes.of(function)))
            for stmt in moved:
                body.remove(stmt)
                k -= 1
            dataflow.invalidate(function)
            changed = True
        k += 1
    return changed


def _group_at(body: list, k: int, types: dict) -> list:
    """The longest run from `k` of elementwise vector statements and sums/means of their vectors, whose
    members read no sum or mean of the run, ending in a sum or mean (or nothing)."""
    group, made, reduced = [], set(), set()
    j = k
    while j < len(body):
        stmt = body[j]
        reads = set(ir.operand_vars(stmt.args)) if isinstance(stmt, Assign) else set()
        if reads & reduced:
            break       # reads a sum the loop is still accumulating
        if _elementwise(stmt, types):
            made.add(stmt.target)
        elif isinstance(stmt, Assign) and stmt.prim in _FUSED_REDUCTIONS and isinstance(stmt.args[0], Var) \
                and stmt.args[0].name in made:
            reduced.add(stmt.target)
        else:
            break
        group.append(stmt)
        j += 1
    while group and group[-1].prim not in _FUSED_REDUCTIONS:
        group.pop()
    return group


def _legal(group: list, facts) -> bool:
    positions = {facts.pos(s) for s in group}
    made = {s.target for s in group if s.prim not in _FUSED_REDUCTIONS}
    if not made:
        return False
    last = group[-1]
    for stmt in group:
        if stmt.prim in _FUSED_REDUCTIONS:
            continue
        if not facts.uses_of(facts.pos(stmt)) <= positions or stmt.target in facts.live_out(last):
            return False        # the vector is needed after the group: it must exist
    for stmt in group:
        for name in ir.operand_vars(stmt.args):
            defs = facts.reaching(stmt, name)
            inside = {d for d in defs if d in positions}
            if inside and inside != defs:
                return False
            if not inside and name in made:
                return False    # read from before the group, and made again in it
    return True


def _one_length(group: list, arrays: set, types: dict, classes) -> bool:
    """Do the vectors the group reads from before it share one shape class where it reads them?"""
    seen = set()
    for stmt in group:
        for a in stmt.args:
            if isinstance(a, Var) and a.name not in arrays and _is_vector(types.get(a.name)):
                seen.add(classes.key(stmt, a))
    return len(seen) == 1 and None not in seen


def _unit_slices(body: list, k: int, j: int, types: dict, facts) -> dict:
    """Vectors `v = x[start:stop]` (unit step) read by the group body[k:j], whose base `x` and start
    nothing writes between the slice and the end of the group: name -> (x, start)."""
    views = {}
    group_reads = {name for stmt in body[k:j] for name in ir.operand_vars(stmt.args)}
    for m in range(k):
        stmt = body[m]
        if not (isinstance(stmt, Assign) and stmt.prim == "subscript" and len(stmt.args) == 2
                and isinstance(stmt.args[1], Slice) and stmt.args[1].step in (None, Const(1))
                and isinstance(stmt.args[0], Var) and _is_vector(types.get(stmt.args[0].name))
                and stmt.target in group_reads):
            continue
        base, start = stmt.args[0].name, stmt.args[1].start
        watched = {base, stmt.target} | set(ir.operand_vars([start]))
        if any(watched & facts.written_in(s) for s in body[m + 1:j]):
            continue
        views[stmt.target] = (base, start)
    return views


def _fused_loop(group: list, arrays: set, types: dict, names, views: dict | None = None,
                moved: list = (), one_length: bool = False) -> list:
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
    same = None if one_length else names.fresh("same_length")
    if one_length:
        pass                    # the shapes analysis proved it: no test
    elif len(inputs) == 1:
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
            # x[:stop][i] is x[i]
            loop_body.append(Assign(element[name], "subscript", (Var(base), Var(index)), loc))
        else:
            # x[start:stop][i] is x[offset + i], the offset as NumPy clips the start
            if isinstance(start, Const) and start.value >= 0:
                offset = start
            else:
                offset = Var(names.temp())
                out.append(Assign(offset.name, "slice_offset", (Var(base), start), loc))
            position = names.temp()
            loop_body += [Assign(position, "add", (offset, Var(index)), loc),
                          Assign(element[name], "subscript", (Var(base), Var(position)), loc)]
    before: list = []
    after: list = []
    for stmt in group:
        if stmt.prim in _FUSED_REDUCTIONS:
            total = names.fresh(f"{stmt.target}_sum")
            # NumPy's sum of ints (or bools) is int64, which wraps around: the total is an int, its additions
            # of ints NumPy's (`INT64_NUMPY_PARAM`: checked compiled, wrapping for Python); a count of bools
            # cannot leave 64 bits
            summed = types.get(stmt.args[0].name)
            integral = stmt.prim == "sum" and summed is not None and not summed.dtype.startswith("float")
            wraps = (INT64_NUMPY_PARAM,) if integral and summed.dtype != "bool" else ()
            before.append(Assign(total, "copy", (Const(0 if integral else 0.0),), stmt.loc))
            loop_body.append(Assign(total, "add", (Var(total), Var(element[stmt.args[0].name])), stmt.loc, wraps))
            if stmt.prim == "mean":
                after.append(Assign(stmt.target, "div", (Var(total), Var(length)), stmt.loc))
            else:
                after.append(Assign(stmt.target, "copy", (Var(total),), stmt.loc))
            continue
        scalar = element.setdefault(stmt.target, names.fresh(f"{stmt.target}_i"))
        args = tuple(Var(element[a.name]) if isinstance(a, Var) and a.name in element else a for a in stmt.args)
        loop_body.append(Assign(scalar, stmt.prim, args, stmt.loc, stmt.params))
    fused = before + [ir.For(index, Const(0), Var(length), Const(1), loop_body, loc)] + after
    if one_length:
        return out + fused
    return out + [ir.If(Var(same), fused, list(moved) + list(group), loc)]

