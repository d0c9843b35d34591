"""Broadcasts: an elementwise operation reads the value a broadcast was made from, not the broadcast.

Takes: a typed adjoint `ir.Function` (the program printed: after the last
transform and its clean-up).  Guarantees the same results, with fewer full-size
temporaries: `op(a, b)` where `b = expand_like(g, x)` or `b = unreduce(g, x,
keepdims=True)` (`g` broadcast to `x`'s shape, `g + np.zeros_like(x)`: what the
adjoints of sums and reductions make) becomes `op(a, g)`, and the broadcast
goes when nothing else reads it.  NumPy broadcasts `g` inside `op` to the same
shape, element for element, so the values are the same; only a zero's sign can
differ, where `g + 0.0` would have made a `-0.0` in `g` a `0.0`.

Legality, asked of the shared analyses:

* `op` is elementwise (`rules.is_elementwise`): its result has the broadcast
  shape of its operands and each element depends on the matching elements;
* another operand of `op` has `x`'s shape (`ir.shapes`: the same shape
  class): the broadcast of the operands then has `x`'s shape without `b`, so
  the result's shape is the same;
* `g` is a float (scalar or array): the result type is the one `g + zeros`
  gave, and no integer arithmetic changes meaning (`x ** 2` and `x ** 2.0`);
* `g` holds at `op` the value it held where `b` was made
  (`Dataflow.def_clear`, partial definitions through shared memory included),
  and `b` is read through one definition (a chain of copies is followed).

And the other way: `sum_like(c, like)` (`c` summed back to the shape `like`
was broadcast from) becomes `c` itself (a `copy`, which shares it), as
`runtime.sum_like*` returns it when the shapes agree.  Legality: `c` and
`like` have the same shape class where the statement reads them (`ir.shapes`;
the classes may rest on what dispatch proved of the arguments' axes, which
the program checks on entry).

And `sum_like(-a, like)` becomes `-sum_like(a, like)` (as do `sum_axes` and
`np_sum` of a negation): the negation runs on the summed (smaller) array or
number instead of making a full-size one.  Negation is
exact and rounding is symmetric, so the sums are the same numbers (a zero's
sign aside).  Legality: `-a` is read through one definition (`_made_by`),
`a` is a float array holding there the value it held where `-a` was made
(`Dataflow.def_clear`), and, for `sum_like`, the shapes of `-a` and `like`
are not known to agree (then the sum is a copy, above).

And `sum_like(c, like)` of a matrix `c` whose shape class differs from
`like`'s on exactly one axis, where `like`'s has length 1 (`shapes.ONE`),
becomes the sum over that axis keeping it (`sum_axis0`/`sum_axis1`): the same
additions in the same order as `runtime.sum_like2`, and one helper fewer to
compile (`_summed_axis` states the legality).
"""
from __future__ import annotations

from .. import ir
from ..ir import Assign, Var, dataflow, shapes
from ..rules import is_elementwise

_BROADCASTS = ("expand_like", "unreduce")
# the sums the adjoints of broadcasts make: back to an operand's shape, over leading axes, of everything
_SUMS = ("sum_like", "sum_axes", "np_sum")


def absorb_broadcasts(function: ir.Function) -> bool:
    """Rewrite every legal `op(a, broadcast(g, x))` to `op(a, g)`; True if anything changed."""
    # each rewrite reads a broadcast or rewrites a sum: where the program makes neither, nothing is
    # asked of the analyses (and the rewrites make no new one)
    if not any(isinstance(stmt, Assign) and stmt.prim in _BROADCASTS + _SUMS for stmt in ir.walk(function.body)):
        return False
    changed = False
    for _ in range(20):
        facts = dataflow.of(function)
        classes = shapes.of(function)
        rewrites = []
        for stmt in ir.walk(function.body):
            if isinstance(stmt, Assign) and is_elementwise(stmt.prim) and not stmt.inplace:
                for k, arg in enumerate(stmt.args):
                    source = _broadcast_source(function, facts, classes, stmt, k)
                    if source is not None:
                        rewrites.append((stmt, k, source))
                        break              # one operand per statement and sweep: the facts are stale after it
            if not isinstance(stmt, Assign) or stmt.prim not in _SUMS or stmt.inplace \
                    or not isinstance(stmt.args[0], Var):
                continue
            if stmt.prim == "sum_like" and isinstance(stmt.args[1], Var) \
                    and classes.key(stmt, stmt.args[0]) is not None \
                    and classes.key(stmt, stmt.args[0]) == classes.key(stmt, stmt.args[1]):
                rewrites.append((stmt, None, stmt.args[0]))
            elif stmt.prim == "sum_like" and (axis := _summed_axis(function, classes, stmt)) is not None:
                rewrites.append((stmt, "axis", axis))
            elif (negated := _negated(function, facts, stmt)) is not None:
                rewrites.append((stmt, "neg", negated))
        if not rewrites:
            break
        sums_of_negations = {}
        names = _names(function) if any(k == "neg" for _, k, _ in rewrites) else None
        for stmt, k, source in rewrites:
            if k is None:                  # a sum back to the shape it has: the value itself
                stmt.prim, stmt.args, stmt.params = "copy", (source,), ()
            elif k == "axis":              # a sum back over one known axis of a matrix
                stmt.prim, stmt.args = "sum_axes", stmt.args[:1]
                stmt.params = (("axes", (source,)), ("keepdims", True), ("ndim", 2))
            elif k == "neg":               # -sum_like(a, like), the sum made first (see _sum_first)
                sums_of_negations[id(stmt)] = Assign(names.temp(), stmt.prim, (source,) + stmt.args[1:],
                                                     stmt.loc, stmt.params)
            else:
                stmt.args = stmt.args[:k] + (source,) + stmt.args[k + 1:]
        if sums_of_negations:
            _sum_first(function, function.body, sums_of_negations)
        dataflow.invalidate(function)
        changed = True
    return changed


def _negated(function, facts, stmt: Assign):
    """The `a` of `sum_like(-a, like)`, when summing `a` there instead is legal (module docstring)."""
    made = _made_by(facts, stmt, stmt.args[0].name)
    if made is None or made.prim != "neg" or not isinstance(made.args[0], Var):
        return None
    a = made.args[0]
    t = function.types.get(a.name)
    if t is None or not t.is_array or not t.is_float or not facts.def_clear(a.name, made, stmt):
        return None
    return a


def _summed_axis(function, classes, stmt: Assign):
    """The one axis `sum_like(c, like)` sums a matrix `c` over, when the shape classes prove it: `like`'s
    axis has length 1 (`shapes.ONE`) and `c`'s does not, the other axis of both is the same term, both
    are float matrices.  `runtime.sum_like2` then adds the same numbers in the same order as
    `sum_axis0`/`sum_axis1` (from 0.0, along the axis in order); were `c`'s axis of length 1 after all,
    the shapes would agree and `sum_like2` return `c` itself, and the sum `0.0 + c` differs from it only
    in a zero's sign."""
    c, like = stmt.args
    if not isinstance(like, Var):
        return None
    types = [function.types.get(a.name) for a in (c, like)]
    if any(t is None or not t.is_array or not t.is_float or t.ndim != 2 for t in types):
        return None
    shape, target = classes.key(stmt, c), classes.key(stmt, like)
    if shape is None or target is None or len(shape) != 2 or len(target) != 2:
        return None
    summed = [k for k in (0, 1) if target[k] == shapes.ONE and shape[k] != shapes.ONE]
    if len(summed) != 1 or shape[1 - summed[0]] != target[1 - summed[0]]:
        return None
    return summed[0]


def _names(function) -> ir.Names:
    taken = set(function.user_names) | set(function.types) | set(function.params)
    taken.update(name for s in ir.walk(function.body) for name in ir.writes(s))
    return ir.Names(taken)


def _sum_first(function, block: list, sums: dict) -> None:
    """Put each new sum right before its statement, which becomes the sum's negation."""
    k = 0
    while k < len(block):
        stmt = block[k]
        for child in ir.child_blocks(stmt):
            _sum_first(function, child, sums)
        total = sums.get(id(stmt))
        if total is not None:
            function.types[total.target] = function.types[stmt.target]
            stmt.prim, stmt.args, stmt.params = "neg", (Var(total.target),), ()
            block.insert(k, total)
            k += 1
        k += 1


def _broadcast_source(function, facts, classes, stmt: Assign, k: int):
    """The `g` of a broadcast `stmt` reads as its operand `k`, when reading `g` there is legal."""
    arg = stmt.args[k]
    if not isinstance(arg, Var):
        return None
    made = _made_by(facts, stmt, arg.name)
    if made is None or made.prim not in _BROADCASTS:
        return None
    if made.prim == "unreduce" and dict(made.params).get("keepdims") is not True:
        return None                # the reduced axes would have to be put back first
    g, x = made.args[0], made.args[1]
    t = function.types.get(g.name) if isinstance(g, Var) else None
    if isinstance(g, Var):
        if t is None or not t.is_float:
            return None
        if not facts.def_clear(g.name, made, stmt):
            return None
    elif not isinstance(getattr(g, "value", None), float):
        return None
    target = classes.key(made, x)
    if target is None:
        return None
    others = [a for j, a in enumerate(stmt.args) if j != k]
    if not any(classes.key(stmt, a) == target for a in others if isinstance(a, Var)):
        return None
    return g


def _made_by(facts, stmt, name: str, depth: int = 0):
    """The assignment that made the value `stmt` reads from `name`, through copies; None if more than
    one definition may reach a read on the way."""
    defs = facts.reaching(stmt, name)
    if len(defs) != 1 or depth > 20:
        return None
    (d,) = defs
    if not isinstance(d, int):
        return None
    made = facts.statement_at(d)
    if not isinstance(made, Assign) or made.inplace:
        return None
    if made.prim == "copy" and isinstance(made.args[0], Var):
        return _made_by(facts, made, made.args[0].name, depth + 1)
    return made
