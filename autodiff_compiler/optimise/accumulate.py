"""Accumulate: an array summed into its own memory (`x += e`), not into a new array.

Takes: a typed adjoint `ir.Function` as it will be printed (after `audit`: no
transform or clean-up runs after this pass).  Guarantees the same numbers, with
one array allocation fewer per accumulation: `x = x + e`, `x = e + x` and
`x = x - e` of a float64 array `x` -- or `t = x + e; ...; x = t` where the
copy is the sum's only reader and `x` and `e` are unchanged until it (the sum
moves to the copy), as the forward sweep writes a loop's `x = x + e` --
become `x += e` / `x -= e` (NumPy and Numba write the sum into `x`'s array),
marked `Assign.accumulate` for the printer and `Assign.inplace` (a write into
`x`'s array) for every analysis asked later.
Each element is the same addition or subtraction, so the numbers are the
same.  What an adjoint does most -- `W_bar = W_bar + np.outer(d, h)` in a loop,
`Z_bar = Z_bar + t` -- then allocates only what it adds.

Legality, asked of the shared analyses:

* types (`function.types`): `x` is a float64 array, the statement's result
  has `x`'s type, and `e` is a float (number or array): no promotion, no
  change of rank;
* shapes (`ir.shapes`): `e` broadcasts into `x`'s shape class where the
  statement reads it (`Shapes.fits`), so the result has `x`'s shape, which
  writing into `x` requires;
* memory (`ir.dataflow`, with the statement as a write into `x`'s array): no
  other array variable `v` that shares memory with `x` there
  (`Dataflow.shared_at`) may be read at or after the statement, so nothing
  but `x` can see the write -- neither a read after it nor an operand the
  printer folds into it (`x += v * 2.0` with `v` a view of `x` would read
  what it writes).  Read means: `v` is live on entry to the statement
  (`Dataflow.live_in`), or so is a temporary computed from `v` through
  temporaries (the printer folds a temporary into its use, so its read of
  `v` happens there).  A sharer nothing reads any more (the `t` of
  `x_bar = copy(t)`, the adjoint's usual start) is no obstacle; for a sum
  moved to its copy every sharer is, since the sum's operands are read where
  it moves (and such operands count as read after every other statement).  And `x` may refer to no parameter's array (`Dataflow.objects`:
  the caller's memory).  After the statement, the old array is `x`'s or dead,
  so the layer's reading of the statement as a new array for `x` tells later
  questions nothing false.
"""
from __future__ import annotations

from .. import ir
from ..ir import Assign, Var, dataflow, shapes
from ..ir.names import is_temporary

# (primitive, the position of `x` among its operands) that sum into `x`
_ACCUMULATIONS = {("add", 0), ("add", 1), ("sub", 0)}


def accumulate(function: ir.Function) -> bool:
    """Mark every legal accumulation (module docstring); True if any was marked."""
    # every accumulation is an addition or subtraction whose result is a float64 array (the copy's
    # target has the sum's type): where there is none, nothing is asked of the analyses
    additions = [stmt for stmt in ir.walk(function.body) if isinstance(stmt, Assign)
                 and stmt.prim in ("add", "sub") and _is_float64_array(function.types.get(stmt.target))]
    if not additions:
        return False
    facts, classes = dataflow.of(function), shapes.of(function)
    candidates = []     # (the statement that becomes `x += e`, the sum, x)
    for stmt in additions:
        found = _accumulated(function, facts, classes, stmt)
        if found is not None:
            candidates.append(found)
    if not candidates:
        return False
    folded_from = _temporaries_computed_from(function)
    for site, _, x in candidates:
        site.inplace = x            # asked as a write into x's array there
    # a moved sum's operands are read where it moves (its copy), not where the facts see them read
    moved_reads = set()
    for site, total, _ in candidates:
        if site is not total:
            moved_reads |= set(ir.operand_vars(total.args))
    # the facts are monotone in the marks (a mark adds a write, not a definition or a sharing): those
    # refused in one round are refused in every later one, and a round that refuses none is the answer
    while candidates:
        dataflow.invalidate(function)
        facts = dataflow.of(function)
        refused = [c for c in candidates if _sharers(facts, *c, folded_from, moved_reads) or
                   any(isinstance(o, str) and o.startswith("param:") for o in facts.objects(c[0], c[2]))]
        if not refused:
            break
        for site, _, _ in refused:
            site.inplace = None
        candidates = [c for c in candidates if all(c[0] is not r[0] for r in refused)]
    sums = set()
    for site, total, x in candidates:
        args = total.args
        if args[1] == Var(x) and total.prim == "add":
            args = (args[1], args[0])            # x first: `x += e`
        site.prim, site.args, site.params, site.target, site.accumulate = total.prim, args, (), x, True
        if site is not total:
            sums.add(id(total))
    if sums:
        _drop(function.body, sums)
    dataflow.invalidate(function)
    return bool(candidates)


def _is_float64_array(t) -> bool:
    return t is not None and t.is_array and t.dtype == "float64"


def _accumulated(function: ir.Function, facts, classes, stmt):
    """(site, sum, x) when `stmt` is `x = x + e` (or `e + x`, `x - e`; the site is `stmt`), or `t = x + e`
    whose only reader is a copy `x = t` later in its block, with `x` and `e` unchanged in between
    (the site is the copy: the sum moves there), of a float64 array `x` and a float `e` that broadcasts
    into `x`'s shape; else None."""
    if not isinstance(stmt, Assign) or stmt.inplace or stmt.accumulate or len(stmt.args) != 2 \
            or stmt.prim not in ("add", "sub"):
        return None
    site, x = stmt, stmt.target
    if Var(x) not in stmt.args:
        uses = facts.uses_of(facts.position[id(stmt)])
        copy = facts.statements[next(iter(uses))] if len(uses) == 1 else None
        # the one reader, later in the same block (asked of the layer: a scan of the block was quadratic)
        if copy is not None and (facts.block_of[id(copy)] != facts.block_of[id(stmt)]
                                 or facts.position[id(copy)] < facts.position[id(stmt)]):
            copy = None
        if not isinstance(copy, Assign) or copy.prim != "copy" or copy.inplace \
                or copy.args != (Var(stmt.target),) or stmt.target in facts.live_out(copy):
            return None
        x = copy.target
        if not facts.def_clear(x, stmt, copy) or any(isinstance(a, Var) and not facts.def_clear(a.name, stmt, copy)
                                                    for a in stmt.args):
            return None
        site = copy
    position = next((k for k, a in enumerate(stmt.args) if a == Var(x)), None)
    if position is None or (stmt.prim, position) not in _ACCUMULATIONS:
        return None
    other, x_type = stmt.args[1 - position], function.types.get(x)
    if isinstance(other, Var):
        e = function.types.get(other.name)
        if e is None or not e.is_float or other.name == x:
            return None
    elif not isinstance(other, ir.Const) or type(other.value) is not float:
        return None
    if x_type is None or not x_type.is_array or x_type.dtype != "float64" or function.types.get(stmt.target) != x_type:
        return None
    try:
        cls = classes.key(stmt, Var(x))
        return (site, stmt, x) if cls is not None and classes.fits(stmt, other, cls) else None
    except shapes._Pending:     # a class the analysis has not decided: not proved
        return None


def _sharers(facts, site, total, x, folded_from: dict, moved_reads: set) -> set:
    """The other array variables that may share memory with `x` where the sum is written into it and may
    be read at or after it (module docstring).  Not the sum `t` of `t = x + e; ...; x = t`: it goes, and
    where the copy reads it, it holds the array this trip's sum made (its one definition there runs
    before, in the same block), which no earlier value of `x` can be (the layer names arrays by the
    statement that makes them, so a loop's `x = t` of an earlier trip looks like sharing)."""
    names = set(facts.shared_at(site))
    if site is not total:
        names.discard(total.target)
        return names            # the sum's operands are read where it moves: every sharer counts
    read = facts.live_in(site) | moved_reads
    return {v for v in names if v in read or folded_from.get(v, frozenset()) & read}


def _temporaries_computed_from(function: ir.Function) -> dict:
    """Each variable -> the temporaries computed from it through temporaries (`t1 = f(v)`, `t2 = g(t1)`)
    that the printer may fold into a later statement, reading `v` there.  The printer folds a temporary
    (by the name's form, `is_temporary`) read by one statement (`backend.printer.plan_inlining`, counting
    as `_use_counts` does, asked here of the same program); one read by two or more is computed where it
    is defined, reading `v` there, and a read after the sum shows as `v` live there."""
    uses: dict[str, int] = {}
    for stmt in ir.walk(function.body):
        for name in ir.reads(stmt):
            uses[name] = uses.get(name, 0) + 1
    for name in ir.operand_vars(function.returns):
        uses[name] = uses.get(name, 0) + 1
    readers: dict[str, set] = {}
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign) and is_temporary(stmt.target) and uses.get(stmt.target, 0) <= 1:
            for name in ir.operand_vars(stmt.args):
                readers.setdefault(name, set()).add(stmt.target)
    closure: dict[str, frozenset] = {}
    for name in readers:
        # each closure found on its own (a memo cut at a cycle, as loops make, would leave it short)
        found, todo = set(), [name]
        while todo:
            for temporary in readers.get(todo.pop(), ()):
                if temporary not in found:
                    found.add(temporary)
                    todo.append(temporary)
        closure[name] = frozenset(found)
    return closure


def _drop(block: list, ids: set) -> None:
    block[:] = [stmt for stmt in block if id(stmt) not in ids]
    for stmt in block:
        for child in ir.child_blocks(stmt):
            _drop(child, ids)
