"""Factor: a factor common to every term of an adjoint's sum is multiplied once.

Takes: an adjoint `ir.Function` after `symbolic` (with `types` and
`exact_names`, the program's own values).  Guarantees the same gradients, to
rounding, with fewer operations.

Why.  The chain rule through `y = a*x**2 + b*x + 1` gives x's adjoint one
product per occurrence of x, each ending in y's adjoint:
`b*y_bar + 2*x*(a*y_bar)`.  Summing the partials first, as Tapenade's
statement-level preaccumulation does, gives `y_bar * (b + 2*x*a)`: one
multiplication by the adjoint, not one per occurrence -- what a hand-written
gradient does.  The same holds across statements: whatever terms of one sum
all end in the same adjoint.

Legality (asked of `ir.dataflow`; where it cannot show it, nothing fires).
The pass works inside the straight-line scalar regions of `optimise.symbolic`
(`find_regions`: consecutive assignments of scalars with no effect besides
their result).  A *sum* is an assignment there of an adjoint float (its target
not in `exact_names`) by `add` or `sub`.  Its *terms* are read off its
operands.  An operand's definition is read when it is the one definition
that reaches the read (`Dataflow.reaching`), lies in the same region, and
assigns an adjoint value (not a value of the program, which stays exactly as
computed) by `add`, `sub`, `neg`, `mul` or `copy`:

* *absorbed* when nothing else reads it (`Dataflow.uses_of` is that one
  read): its terms join the sum's, and once the sum is rewritten it is dead;
* *read through* when other statements read it too and it is a product: its
  two operands join the term as factors, and it stays (as does everything it
  reads), so it saves nothing.  Each sum is read both ways, with such products as one
  factor and read through, and the cheaper form is taken (the first on a
  tie): `g = x*x` read by `a*g + b*g` and elsewhere is the factor `g`;
* a product is read only when each side is one term (a product of sums is
  not distributed: a sum there is one factor).

Everything else is a *factor*: a constant, or a variable with the
definitions that reach its read.  A factor read by statement `s` must hold
the same value at the sum: no statement of the region between `s` and the
sum assigns it (the region is straight-line, so its order decides).  Every
factor variable is a float: an int's sum would be computed in 64-bit ints,
which may wrap where the products, in floats, did not; for the same reason
int constants are taken only up to 2**53, and a product of int constants
alone is computed in floats.

The rewrite fires when every term holds (as a multiset) at least one common
float variable, read with the same reaching definitions in each, and the new
form costs fewer operations than the absorbed definitions: the sum is
replaced, in place, by `common * (rest_1 + ... + rest_n)` (signs kept; a
term that is only the common factors is 1.0), computed into fresh
temporaries with the sum's own line, and the absorbed definitions, which
nothing else reads, become dead for `eliminate`.

Cost.  A sum is read through at most `MAX_STATEMENTS` definitions into at
most `MAX_TERMS` terms (a longer one keeps its form; the sums inside it are
read on their own), so the pass is linear in the length of a region.

What may differ.  `c1*f + c2*f` and `(c1 + c2)*f` are equal in real
arithmetic; in floats they differ by rounding (one rounding fewer), and a
product read through is reassociated (`a*(x*f)` becomes `(a*x)*f`), rounding
again.  Where partials come near the largest float, one form may overflow
where the other does not: `c1 + c2` beyond 1.8e308 while both products are
finite, or the other way, a product's infinity (and `inf - inf`) that the
factored form avoids.  Only adjoints are rewritten, and they flow only into
the sums and products that end in the returned gradients, as
`optimise.symbolic` argues.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

from .. import ir
from ..ir import FLOAT, INT, Assign, Const, Var, dataflow
from ..ir.names import Names
from .symbolic import find_regions

ABSORBED = {"add", "sub", "neg", "mul", "copy"}
SUMS = {"add", "sub"}
# operations each primitive of the new form costs (a copy costs nothing: propagation removes it)
COST = {"add": 1, "sub": 1, "neg": 1, "mul": 1, "copy": 0}
# bounds on one sum's reading, so that the pass stays linear in the region's length (a longer sum
# keeps its form; the sums inside it are still read on their own)
MAX_STATEMENTS = 64
MAX_TERMS = 32


@dataclass(frozen=True)
class Factor:
    """A constant (`name` None) or a variable with the definitions that reach its read."""
    name: str | None
    reaching: frozenset = frozenset()
    value: object = None

    def operand(self):
        return Var(self.name) if self.name is not None else Const(self.value)


@dataclass
class Term:
    sign: int
    factors: list


class _NotFactorable(Exception):
    """A sum this pass leaves alone (an int factor, a factor overwritten before the sum)."""


def factor_common(function: ir.Function) -> bool:
    """Rewrite every sum of `function` whose terms share a factor (module docstring); True when one
    changed.  The caller runs `eliminate` after it."""
    facts = dataflow.of(function)
    exact = getattr(function, "exact_names", None) or set(function.types)
    plans = []
    for region in find_regions(function):
        plans += _plans(region, facts, function.types, exact)
    if not plans:
        return False
    names = Names(set(function.types) | set(function.user_names) | set(function.params))
    replaced: dict = {}                  # per block: id of a rewritten sum -> its new statements
    for block, stmt, common, members, terms in plans:
        replaced.setdefault(id(block), (block, {}))[1][id(stmt)] = \
            _emit(stmt, common, members, terms, function.types, names)
    for block, new in replaced.values():
        block[:] = [out for stmt in block for out in new.get(id(stmt), (stmt,))]
    dataflow.invalidate(function)
    return True


def _plans(region, facts, types: dict, exact) -> list:
    """(block, sum, common factors, the terms that hold them, terms) of each sum of `region` to rewrite,
    read last to first so that a definition absorbed into a later rewritten sum is not a sum of its own."""
    order = {id(s): k for k, s in enumerate(region.stmts)}
    assigned: dict = {}                  # name -> the positions in the region of its assignments, ascending
    for k, stmt in enumerate(region.stmts):
        assigned.setdefault(stmt.target, []).append(k)
    absorbed: set = set()
    plans = []
    for stmt in reversed(region.stmts):
        if id(stmt) in absorbed or stmt.prim not in SUMS or stmt.target in exact or types.get(stmt.target) != FLOAT:
            continue
        best = None
        # products others read too taken as one factor, then read through: the cheaper form, the first on a tie
        for read_through in (False, True):
            reader = _Reader(region, order, assigned, facts, types, exact, stmt, read_through)
            try:
                terms = reader.terms(stmt)
            except _NotFactorable:
                break
            common, members = _group(terms, types)
            cost = _cost_of(common, members, terms) if common else None
            if cost is not None and cost < reader.cost and (best is None or cost < best[0]):
                best = (cost, (region.block, stmt, common, members, terms), reader.inside)
        if best is not None:
            plans.append(best[1])
            absorbed.update(best[2])
    return plans


class _Reader:
    """The terms of one sum, and the definitions absorbed into them (with what they cost)."""

    def __init__(self, region, order: dict, assigned: dict, facts, types: dict, exact, root, read_through: bool):
        self.region, self.order, self.assigned = region, order, assigned
        self.facts, self.types, self.exact = facts, types, exact
        self.root, self.read_through = root, read_through
        self.inside = [id(root)]
        self.cost = COST[root.prim]
        self.counting = True        # False inside a product read through (module docstring)
        self.visited = 0

    def terms(self, stmt) -> list:
        self.visited += 1
        if self.visited > MAX_STATEMENTS:
            raise _NotFactorable
        left = self.operand(stmt, 0)
        if stmt.prim == "copy":
            return left
        if stmt.prim == "neg":
            return [Term(-t.sign, t.factors) for t in left]
        if stmt.prim in SUMS:
            right = self.operand(stmt, 1)
            if len(left) + len(right) > MAX_TERMS:
                raise _NotFactorable
            return left + (right if stmt.prim == "add" else [Term(-t.sign, t.factors) for t in right])
        # mul: a product of one term by one term (a sum on either side is a factor of its own)
        right = self.operand(stmt, 1)
        return [Term(left[0].sign * right[0].sign, left[0].factors + right[0].factors)]

    def operand(self, reader, k: int) -> list:
        """The terms of `reader`'s operand `k` (module docstring: *absorbed*, *read through*); when
        `reader` is a product, a sum there is one factor."""
        arg = reader.args[k]
        if not self.counting:           # inside a product read through: its operands are factors
            return [self.leaf(reader, arg)]
        definition, only_reader = self.definition(reader, arg)
        if definition is None or not only_reader and (definition.prim != "mul" or not self.read_through):
            return [self.leaf(reader, arg)]
        inside, cost = len(self.inside), self.cost
        if only_reader:
            self.inside.append(id(definition))
            self.cost += COST[definition.prim]
        # a product read through stays, and so does everything it reads: nothing there is saved
        self.counting = only_reader
        terms = self.terms(definition)
        self.counting = True
        if len(terms) != 1 and reader.prim == "mul":
            del self.inside[inside:]
            self.cost = cost
            return [self.leaf(reader, arg)]
        return terms

    def definition(self, reader, arg) -> tuple:
        """(the definition of `arg` to read terms from, or None; is `reader` its one reader?)"""
        if not isinstance(arg, Var):
            return None, False
        reaching = self.facts.reaching(reader, arg.name)
        if len(reaching) != 1:
            return None, False
        (position,) = reaching
        if not isinstance(position, int):
            return None, False
        definition = self.facts.statement_at(position)
        if (id(definition) not in self.order or definition.prim not in ABSORBED or definition.target in self.exact
                or self.types.get(definition.target) not in (FLOAT, INT)):
            return None, False
        if self.order[id(definition)] >= self.order[id(reader)]:
            # a region is straight-line, so this cannot be; if it ever were (a definition reaching around a
            # loop), reading through it would move a later value before its reader: not read
            return None, False
        return definition, self.facts.uses_of(position) == {self.facts.pos(reader)}

    def leaf(self, reader, arg) -> Term:
        if isinstance(arg, Const):
            if type(arg.value) not in (int, float) or type(arg.value) is int and abs(arg.value) > 2 ** 53:
                raise _NotFactorable        # an int beyond 2**53 has no float of its own value
            return Term(1, [Factor(None, value=arg.value)])
        if self.types.get(arg.name) != FLOAT:
            raise _NotFactorable
        # the value read here must be the one the sum's place sees: nothing from the reader (which may
        # assign what it read) to the sum assigns it (the new statements assign the sum's target last)
        start, end = self.order[id(reader)], self.order[id(self.root)]
        positions = self.assigned.get(arg.name, ())
        k = bisect.bisect_left(positions, start)
        if k < len(positions) and positions[k] < end:
            raise _NotFactorable
        return Term(1, [Factor(arg.name, self.facts.reaching(reader, arg.name))])


def _group(terms: list, types: dict) -> tuple[list, list]:
    """(common factors, positions of the terms that hold them): the float variable that the most terms
    hold (at least two; the first met, on a tie), and with it every other float variable all those
    terms hold (as a multiset), in the first such term's order."""
    holding: dict = {}
    for term in terms:
        for factor in set(term.factors):
            if factor.name is not None and types.get(factor.name) == FLOAT:
                holding[factor] = holding.get(factor, 0) + 1
    best = None
    for term in terms:
        for factor in term.factors:
            if holding.get(factor, 0) >= 2 and (best is None or holding[factor] > holding[best]):
                best = factor
    if best is None:
        return [], []
    members = [k for k, term in enumerate(terms) if best in term.factors]
    rests = [list(terms[k].factors) for k in members]
    common = []
    for factor in terms[members[0]].factors:
        if factor.name is not None and types.get(factor.name) == FLOAT and all(factor in rest for rest in rests):
            common.append(factor)
            for rest in rests:
                rest.remove(factor)
    return common, members


def _remove(factors: list, common: list) -> list:
    rest = list(factors)
    for factor in common:
        rest.remove(factor)
    return rest


def _cost_of(common: list, members: list, terms: list) -> int:
    """Operations of the new form: the products of each term (of each member's rest), the group's sum
    and its product by the common factors, the outer sum, and a negation when every outer term is
    negative."""
    others = [t for k, t in enumerate(terms) if k not in members]
    products = sum(len(t.factors) - 1 for t in others) + \
        sum(max(len(_remove(terms[k].factors, common)) - 1, 0) for k in members)
    group_sign = -1 if all(terms[k].sign < 0 for k in members) else 1
    negation = 1 if group_sign < 0 and all(t.sign < 0 for t in others) else 0
    return products + (len(members) - 1) + len(common) + len(others) + negation


def _emit(stmt: Assign, common: list, members: list, terms: list, types: dict, names: Names) -> list:
    """The statements computing `stmt`'s target as the terms outside the group plus `common * (sum of
    the members' rests)`, in the terms' order, with the sum's own line; the last assigns its target."""
    out = []

    def assign(prim: str, *args) -> Var:
        target = names.temp()
        is_float = any(isinstance(a, Var) and types.get(a.name) == FLOAT or
                       isinstance(a, Const) and isinstance(a.value, float) for a in args)
        types[target] = FLOAT if is_float else INT
        out.append(Assign(target, prim, tuple(args), stmt.loc))
        return Var(target)

    def product(factors: list):
        if not factors:
            return Const(1.0)
        value = factors[0].operand()
        if all(f.name is None and type(f.value) is int for f in factors):
            # ints alone: one of them as a float, so that nothing is computed in 64-bit ints (each
            # was multiplied into a float adjoint before; below 2**53 the float is the int's value)
            value = Const(float(factors[0].value))
        for factor in factors[1:]:
            value = assign("mul", value, factor.operand())
        return value

    def signed_sum(items: list):
        """items: (sign, make the operand); the sum, and -1 when it is the negation of that sum."""
        negative = all(sign < 0 for sign, _ in items)
        first = next(k for k, (sign, _) in enumerate(items) if sign > 0 or negative)
        ordered = [items[first]] + items[:first] + items[first + 1:]
        total = ordered[0][1]()
        for sign, make in ordered[1:]:
            total = assign("add" if negative or sign > 0 else "sub", total, make())
        return total, -1 if negative else 1

    def group():
        inner, _ = signed_sum([(terms[k].sign * group_sign, lambda k=k: product(_remove(terms[k].factors, common)))
                               for k in members])
        return assign("mul", product(common), inner)

    group_sign = -1 if all(terms[k].sign < 0 for k in members) else 1
    items = []
    for k, term in enumerate(terms):
        if k == members[0]:
            items.append((group_sign, group))
        elif k not in members:
            items.append((term.sign, lambda term=term: product(term.factors)))
    total, sign = signed_sum(items)
    if sign < 0:
        out.append(Assign(stmt.target, "neg", (total,), stmt.loc))
    else:
        last = out.pop()            # the group's product or the outer sum: it assigns the target
        del types[last.target]
        out.append(Assign(stmt.target, last.prim, last.args, stmt.loc))
    return out
