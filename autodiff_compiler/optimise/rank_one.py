"""Rank-one updates: `x += np.outer(u, v)` as a loop over x's entries, in the module Numba compiles.

Takes: a typed adjoint after `accumulate` (the program Numba compiles: the
pipeline hands it a copy, so the module users read keeps `np.outer`).
Guarantees: the same numbers -- each entry becomes `x[i, j] + u[i] * v[j]`,
the product `np.outer` computes and the sum `+=` adds -- with no
outer-product array allocated, and no `np.outer` in the module: Numba
compiles its `np.outer` in about 1.6 s in every gradient module that spells
it (a recurrent network's adjoint, `Wh_bar += np.outer(d, h)` in the reverse
loop), a loop in a few hundredths, and the loop runs without the matrix the
product would allocate on every trip.

Legality, asked of the shared analyses:

* the update is an accumulation `x += t` (`Assign.accumulate`:
  `accumulate` proved that nothing but `x` sees the write into its array);
* `t` has one definition there, `t = outer(u, v)` in the same block, and no
  other reader (`Dataflow.reaching`, `Dataflow.uses_of`): the product is
  computed nowhere else, so its statement goes;
* between the product and the update there are only assignments that write
  no array (not in place, not accumulations, no store, no compound
  statement, no tape) and rebind none of `u`, `v`, `x`: the loop reads `u`
  and `v` at the update as `np.outer` read them at the product;
* types (`function.types`): `x` a float64 matrix, `u` and `v` float64
  vectors: no promotion;
* shapes (`ir.shapes`): `x`'s axes have the classes of `u`'s and `v`'s
  lengths (the same lengths on every run; `Shapes.kept_by_accumulations`: a
  loop's `x += ...` keeps the class `x` had before the loop): no broadcast,
  and the update raises nothing, as the loop does not;
* memory (`Dataflow.objects`): `x` refers to no array object `u` or `v` may
  refer to, so the loop's writes never change what it reads (`np.outer`
  read all of `u` and `v` before the sum was written).
"""
from __future__ import annotations

from .. import ir
from ..ir import Assign, Comment, Const, For, Store, Var, dataflow, shapes
from ..ir.nodes import FLOAT, INT


def rank_one_loops(function: ir.Function) -> bool:
    """Rewrite every legal rank-one update (module docstring); True if any was."""
    sites = [stmt for stmt in ir.walk(function.body) if isinstance(stmt, Assign) and stmt.accumulate
             and stmt.prim == "add"]
    if not any(isinstance(s, Assign) and s.prim == "outer" for s in ir.walk(function.body)) or not sites:
        return False
    facts, classes = dataflow.of(function), shapes.of(function)
    found = [plan for plan in (_update(function, facts, classes, site) for site in sites) if plan is not None]
    if not found:
        return False
    names = ir.Names(set(function.params) | {n for s in ir.walk(function.body) for n in ir.writes(s) + ir.reads(s)})
    for site, product, block in found:
        loops = _loops(function, names, site, product)
        block[:] = [s for s in block if s is not product]
        at = next(k for k, s in enumerate(block) if s is site)
        block[at:at + 1] = loops
    dataflow.invalidate(function)
    return True


def _update(function, facts, classes, site):
    """(site, its product, the block holding both) if the site is a legal rank-one update, else None."""
    types = function.types
    x, added = site.args[0], site.args[1]
    if not (isinstance(x, Var) and x.name == site.target and isinstance(added, Var)) or not _float64(types, x.name, 2):
        return None
    definitions = facts.reaching(site, added.name)
    if len(definitions) != 1 or not isinstance(next(iter(definitions)), int):
        return None
    definition = next(iter(definitions))
    product = facts.statement_at(definition)
    if not (isinstance(product, Assign) and product.prim == "outer" and not product.error_effect
            and facts.uses_of(definition) == {facts.pos(site)}):
        return None
    u, v = product.args
    if not (isinstance(u, Var) and isinstance(v, Var) and _float64(types, u.name, 1) and _float64(types, v.name, 1)):
        return None
    block = ir.block_holding(function.body, site)
    positions = [k for k, s in enumerate(block) if s is product or s is site]
    if len(positions) != 2 or block[positions[0]] is not product:
        return None
    rebound = {u.name, v.name, x.name}
    for stmt in block[positions[0] + 1:positions[1]]:
        if isinstance(stmt, Comment):
            continue
        if not isinstance(stmt, Assign) or stmt.inplace or stmt.accumulate or stmt.target in rebound:
            return None
    try:
        lengths = (classes.key(product, u)[0], classes.key(product, v)[0])
    except shapes.Pending:
        return None
    if classes.kept_by_accumulations(site, x.name) != lengths:
        return None
    if facts.objects(site, x.name) & (facts.objects(product, u.name) | facts.objects(product, v.name)):
        return None
    return site, product, block


def _float64(types, name, ndim) -> bool:
    t = types.get(name)
    return t is not None and t.is_array and t.ndim == ndim and t.dtype == "float64"


def _loops(function, names, site, product) -> list:
    """for i in range(x.shape[0]): u_i = u[i]; for j in range(x.shape[1]): x[i, j] += u_i * v[j]."""
    types, loc = function.types, site.loc
    x, (u, v) = site.target, product.args

    def fresh(base, t):
        name = names.fresh(base, numbered=True)
        types[name] = t
        return name

    rows, columns, i, j = fresh("n_rows", INT), fresh("n_columns", INT), fresh("i", INT), fresh("j", INT)
    u_i, v_j, term = fresh(f"{u.name}_i", FLOAT), fresh(f"{v.name}_j", FLOAT), fresh("term", FLOAT)
    inner = [Assign(v_j, "subscript", (v, Var(j)), loc), Assign(term, "mul", (Var(u_i), Var(v_j)), loc),
             Store(x, (Var(i), Var(j)), Var(term), "add", loc)]
    outer = [Assign(u_i, "subscript", (u, Var(i)), loc), For(j, Const(0), Var(columns), Const(1), inner, loc)]
    return [Assign(rows, "shape", (Var(x),), loc, (("axis", 0),)),
            Assign(columns, "shape", (Var(x),), loc, (("axis", 1),)),
            For(i, Const(0), Var(rows), Const(1), outer, loc)]
