"""Rewrite one region for the `symbolic` pass: candidates, proof, cost and accuracy, and the choice.

Takes: a region's statements (see `optimise.symbolic` for what a region is
and which of its outputs may change), its outputs, what is live after it,
the types and the program's own names.  Guarantees a decision, a dict that
JSON can hold:

* `outcome` "rewritten" with `stmts` -- the statements to insert at the
  region's end, `[target, primitive, operands, output]` with temporaries
  named `$0`, `$1`, ... -- only when every changed output's new form is proved
  equal (`symbolic_algebra.proves_equal`), passes the accuracy verdicts
  (`symbolic_accuracy.verdict` on the grid, `cancellation_verdict` where
  its sums vanish, `overflow_verdict` at extremes, `boundary_verdict` beside
  its clamps' bounds) and the region's live statements cost less
  than before; `figures` gives each changed output's largest and mean
  relative error on the grid, before and after, and how many of its forms
  were refused before the one kept;
* each output's forms are tried cheapest first: the cost search picks a
  combination among the first `OPTIONS` of each, and a form the proof or a
  verdict refuses falls back to the next of its first `FALLBACKS` that keeps
  the region cheaper (the binary cross-entropy's `y_hat - y` is refused
  where it loses digits, and `(1 - y - y*e)/(1 + e)` is kept); every form
  kept has passed every check;
* a form that passes but whose largest error on the grid exceeds `POOR`
  (2**-40) -- possible only where the original loses as much -- is kept only
  when no later form passes with an error `BETTER` (1024) times smaller or
  below `POOR`: a logistic loss's Hessian took `(1 - q)*q` with q = 1 - p,
  which loses 8 digits at z = 20 where `e*p**2` loses none;
* otherwise `outcome` says why nothing changed ("unchanged", "not readable").
"""
from __future__ import annotations

import itertools

import sympy

from ..ir import FLOAT, Var
from ..ir.names import is_temporary
from .symbolic_accuracy import (Grid, boundary_grid, boundary_verdict, cancellation_grid, cancellation_verdict,
                                extreme_grids, overflow_verdict, verdict)
from .symbolic_algebra import (CannotLower, CannotRead, RegionAlgebra, basic_forms, join_terms, lower,
                               masked_parts_polynomial, masked_terms, proves_equal, rewrite_with, size, useful,
                               weight)

MAX_KEPT = 12
OPTIONS = 4               # the forms of each output tried together in the cost search
FALLBACKS = 24            # the forms an output may fall back on, cheapest first, when one is less accurate
POOR = 2.0 ** -40         # a form whose largest error on the grid is more than this...
BETTER = 1024.0           # ...gives way to a later one this much more accurate that passes every check
PER_TERM = 2              # the forms of each masked term combined, at least
MAX_PROOFS = 12


def _region_cost(stmts: list, live: set) -> int:
    """The cost of the statements still needed when `live` is what is read after them."""
    needed = set(live)
    total = 0
    for stmt in reversed(stmts):
        if stmt.target in needed:
            total += weight(stmt)
            needed.discard(stmt.target)
            needed |= {v.name for v in stmt.args if isinstance(v, Var)}
    return total


class _Counter:
    def __init__(self):
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"${self.n - 1}"


def rewrite_region(stmts: list, outputs: list, live: set, types: dict, exact, overwritten=frozenset()) -> dict:
    final_index = {}
    for index, stmt in enumerate(stmts):
        final_index[stmt.target] = index
    try:
        alg = RegionAlgebra(stmts, types, final_index)
    except CannotRead as exc:
        return {"outcome": "not readable", "why": str(exc)}
    rewritable = [o for o in outputs if types.get(o) == FLOAT and o not in exact
                  and o in alg.cur and not isinstance(alg.cur[o], sympy.Symbol)]
    if not rewritable:
        return {"outcome": "unchanged", "why": "no adjoint output to rewrite"}
    # names a form may keep: the program's own values (computed anyway) and the outputs left as they
    # are; never the adjoint's intermediate values, which the rewrite is there to replace
    keepable = {n for n in alg.order if n not in rewritable and (n in exact or n in outputs)}
    kept_names = [n for n in reversed(alg.order) if n in keepable
                  and not isinstance(alg.defined[n], sympy.Symbol) and not alg.defined[n].is_Number
                  and types.get(n) == FLOAT]
    kept_names = sorted(kept_names, key=is_temporary)[:MAX_KEPT]          # the user's names first
    available = alg.available(keepable) - {sympy.Symbol(n, real=True) for n in alg.order
                                           if n not in keepable and sympy.Symbol(n, real=True) not in alg.gens}
    available -= {sympy.Symbol(o, real=True) for o in rewritable}
    # inputs a statement the region steps over assigns: at the region's end they hold other values
    available -= {sympy.Symbol(n, real=True) for n in overwritten}
    references, options = {}, {}
    for o in rewritable:
        references[o], options[o] = _options(alg, alg.cur[o], kept_names, available, types)
    base_stmts = list(stmts)
    base_cost = _region_cost(base_stmts, live)

    def assemble(choice: dict):
        exprs = {o: e for o, e in choice.items() if e is not None}
        if not exprs:
            return [], {}, base_cost
        new, owner, _ = lower(alg, exprs, available, _Counter(), types)
        return new, owner, _region_cost(base_stmts + new, live)

    choice = {o: None for o in rewritable}
    best = (base_cost, dict(choice))
    trials = [{o: (options[o][j] if j < len(options[o]) else None) for o in rewritable} for j in range(OPTIONS)]
    for trial in trials:
        cost = _cost_of(assemble, trial)
        if cost is not None and cost < best[0]:
            best = (cost, trial)
    for _ in range(2):                      # then each output alone, the others fixed
        for o in rewritable:
            for option in [None] + options[o][:OPTIONS]:
                trial = dict(best[1], **{o: option})
                cost = _cost_of(assemble, trial)
                if cost is not None and cost < best[0]:
                    best = (cost, trial)
    choice = best[1]
    if all(e is None for e in choice.values()):
        return {"outcome": "unchanged", "why": "no cheaper form", "cost": base_cost}
    grid = Grid(alg, stmts, types)
    extremes = extreme_grids(alg, stmts, types)
    boundary = boundary_grid(alg, stmts, types) if alg.relations else None
    figures, refusals = {}, {o: 0 for o in rewritable}     # per output: the last measure; forms refused
    provisional, settled = {}, set()        # per output: the first form kept that loses digits (`POOR`)
    while True:
        new, owner, cost = assemble(choice)
        rejected = []
        for o, expr in choice.items():
            if expr is None:
                continue
            if not proves_equal(alg, expr, references[o]):
                # never expected: every form comes from exact rewrites
                figures[o] = {"unproved": True}
                rejected.append(o)
                continue
            ok, numbers = verdict(grid.original_values(o), grid.candidate_values(new, o), grid.reference(o))
            figures[o] = numbers
            if ok:
                roots = cancellation_grid(alg, stmts, types, expr)
                numbers["cancellation_points"] = len(roots.points) if roots is not None else 0
                ok = all(overflow_verdict(g.original_values(o), g.candidate_values(new, o), g.reference(o))
                         for g in extremes)
                ok = ok and (roots is None or cancellation_verdict(roots.original_values(o),
                                                                   roots.candidate_values(new, o), roots.reference(o)))
                ok = ok and (boundary is None or boundary_verdict(boundary.original_values(o),
                                                                  boundary.candidate_values(new, o), boundary.reference(o)))
            if not ok:
                rejected.append(o)
            elif o not in settled and numbers.get("max_after", 0.0) > POOR:
                # it loses digits (so does the original, or it would be refused): a later form may keep them
                first = provisional.setdefault(o, (expr, numbers))
                if first[0] is expr or numbers["max_after"] * BETTER > first[1]["max_after"]:
                    rejected.append(o)
        for o in rejected:
            # the next form of this output that keeps the region cheaper, the others as they are; with
            # none, the output is left as it is, or takes the first form that lost digits
            refusals[o] += 1
            choice[o] = _fallback(assemble, choice, o, options[o], base_cost)
            if choice[o] is None and o in provisional:
                choice[o] = provisional[o][0]
                settled.add(o)
        for o in figures:
            figures[o]["rejected"] = refusals[o]
        if not rejected:
            break
        if all(e is None for e in choice.values()):
            return {"outcome": "unchanged", "why": "less accurate", "figures": _plain(figures)}
    if cost >= base_cost:
        return {"outcome": "unchanged", "why": "no cheaper form", "figures": _plain(figures)}
    return {"outcome": "rewritten", "cost_before": base_cost, "cost_after": cost,
            "stmts": [[s.target, s.prim, [_encode(a, types) for a in s.args], owner.get(id(s))] for s in new],
            "forms": {o: str(e) for o, e in choice.items() if e is not None},
            "figures": _plain(figures)}


def _fallback(assemble, choice: dict, output: str, options: list, base_cost: int):
    """The first form after `choice[output]` in `options` (cheapest first) that keeps the region cheaper
    than before, the other outputs' forms as chosen; None when there is none."""
    current = choice[output]
    position = next(k for k, form in enumerate(options) if form is current)
    for form in options[position + 1:]:
        cost = _cost_of(assemble, dict(choice, **{output: form}))
        if cost is not None and cost < base_cost:
            return form
    return None


def _cost_of(assemble, trial):
    try:
        return assemble(trial)[2]
    except CannotLower:
        return None


def _options(alg: RegionAlgebra, expr, kept: list, available: set, types: dict) -> tuple:
    """(the reference the options must be proved equal to, the cheapest forms of `expr`, unproved)."""
    terms = masked_terms(alg, expr)
    reference = join_terms(terms, [c for _, c, _ in terms]) if terms else expr
    candidates = []
    if terms:
        per_term = []
        # each term's cheapest forms, as many as keep the combinations within the fallbacks
        each = max(PER_TERM, int(FALLBACKS ** (1 / len(terms)) + 1e-9))
        for present, coefficient, substituted in terms:
            forms = _forms(alg, coefficient, kept, types)
            per_term.append(_cheapest(alg, forms, available, types, polynomial=substituted)[:each])
        if all(per_term):
            for combination in itertools.product(*per_term):
                candidates.append(join_terms(terms, list(combination)))
    if not terms or not any(substituted for _, _, substituted in terms):
        candidates += _forms(alg, expr, kept, types)
    candidates = [c for c in candidates if masked_parts_polynomial(c)]
    return reference, _cheapest(alg, candidates, available, types)[:FALLBACKS]


def _forms(alg: RegionAlgebra, expr, kept: list, types: dict) -> list:
    """`expr` cancelled and factored, and rewritten with one kept name, then with a second one."""
    forms = basic_forms(expr)
    first = []
    for name in kept:
        if useful(alg, name, expr):
            first += rewrite_with(alg, expr, name)
    second = []
    for f in _cheapest(alg, first, None, types)[:2]:
        for name in kept:
            if sympy.Symbol(name, real=True) not in f.free_symbols and useful(alg, name, f):
                second += rewrite_with(alg, f, name)
    return forms + first + second


def _cheapest(alg: RegionAlgebra, forms: list, available, types: dict, polynomial: bool = False) -> list:
    """The forms that can be written over `available` (None: any name), cheapest first; among equals,
    those reading fewer compiler temporaries (the user's names read better)."""
    scored = []
    seen = set()
    for f in forms:
        key = f
        if key in seen:
            continue
        seen.add(key)
        if available is not None and not f.free_symbols <= available:
            continue
        if polynomial and not f.is_polynomial(*f.free_symbols):
            continue
        try:
            new, _, _ = lower(alg, {"$out": f}, available if available is not None else f.free_symbols,
                              _Counter(), types)
        except CannotLower:
            continue
        temporaries = sum(1 for s in f.free_symbols if is_temporary(s.name))
        scored.append((sum(weight(s) for s in new), temporaries, len(new), size(f), str(f), f))
    scored.sort(key=lambda item: item[:5])
    return [f for *_, f in scored]


def _encode(operand, types: dict) -> dict:
    if isinstance(operand, Var):
        return {"v": operand.name}
    value = operand.value
    kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float"
    return {"c": value, "t": kind}


def _plain(figures: dict) -> dict:
    return {o: {k: (float(v) if isinstance(v, float) else v) for k, v in f.items()} for o, f in figures.items()}
