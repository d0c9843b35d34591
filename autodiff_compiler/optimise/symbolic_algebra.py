"""Symbolic algebra for the `symbolic` pass: a scalar region as rational functions, rewrites, and back to IR.

Takes: the statements of one region (see `optimise.symbolic`), the types, and
which names are still available at the region's end.  Guarantees:

* `RegionAlgebra` reads the region as rational functions over *generators*:
  the region's inputs, the result of every elementary function (`exp`,
  `log`, ...) and of every statement it does not read algebraically
  (comparisons, `min`/`max`, indicators, subscripts, ...), and every float
  constant that is not a small dyadic number -- each an independent real
  symbol.  Arithmetic (`+ - * /`, negation, copies, integer powers) is read
  exactly; anything read as a generator is kept as it is.  Two expressions
  are equal as programs' values wherever both are defined when they are the
  same rational function of the generators, which `cancel(a - b) == 0`
  decides exactly (`proves_equal`);
* `candidates(name)` are other forms of a value: `cancel`, `factor`, and the
  same in terms of names the region keeps -- a name `k = A(g, ...)` whose
  definition is a fraction of degree one in a generator `g` that is an
  elementary function's result lets `g` be replaced by its solution in `k`
  (`y_hat = 1/(1 + t3)` gives `t3 = (1 - y_hat)/y_hat`), and a definition that
  appears inside a value is replaced by its name;
* a clamped value (`t = max(u, c)`, `min`, `clip`) is replaced by the value
  it clamps only inside a product with the indicators (`indicator(u >= c)`)
  that say they are equal; such a product is emitted as a conditional (`... if
  u >= c else 0.0`) and only when the rest of it is a polynomial, so that no
  division or overflow can happen where the indicator is zero;
* `lower(exprs)` writes expressions back as A-normal-form statements, sharing
  common subexpressions (`sympy.cse`), with fresh temporaries; it refuses
  (`CannotLower`) anything outside arithmetic over available names, and
  arithmetic whose operands are all integers (whose Python type would change).
"""
from __future__ import annotations

from fractions import Fraction

import sympy

from .. import ir
from ..ir import FLOAT, Assign, Const, Var

# primitives read as arithmetic (their float results only)
ARITHMETIC = {"add", "sub", "mul", "div", "neg", "copy", "float", "square", "pow"}
# elementary functions: their results become generators (with the function kept for the reference)
FUNCTIONS = {"exp": sympy.exp, "log": sympy.log, "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
             "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "sqrt": sympy.sqrt,
             "atan": sympy.atan, "asin": sympy.asin, "acos": sympy.acos}
COMPARISONS = {"lt", "le", "gt", "ge"}
MAX_POWER = 8


class CannotLower(Exception):
    """A candidate holds something that cannot be written back as the IR's arithmetic."""


class CannotRead(Exception):
    """The region holds something the algebra does not model (it is then left alone)."""


class _Masked(sympy.Function):
    """`_Masked(c1, ..., ck, v)`: v where every condition symbol ci holds, else 0 (emitted as conditionals)."""
    nargs = None
    is_real = True


def _is_int_value(t) -> bool:
    return t is not None and t.kind in ("int", "bool")


class RegionAlgebra:
    """The region's values as rational functions over generators, and what is known about them."""

    def __init__(self, stmts: list, types: dict, final_index: dict):
        self.types = types
        self.cur: dict[str, sympy.Expr] = {}      # name -> its value now (rational over generators)
        self.full: dict[str, sympy.Expr] = {}     # name -> its value with functions spelled out (reference)
        self.gens: dict[sympy.Symbol, dict] = {}  # generator -> {"kind", "name", "value", "stmt"}
        self.defined: dict[str, sympy.Expr] = {}  # final name -> its value (for the names kept)
        self.masks: dict[sympy.Symbol, sympy.Symbol] = {}     # indicator generator -> its condition generator
        self.relations: dict[sympy.Symbol, tuple] = {}        # condition generator -> (op, lhs, rhs)
        self.clamps: dict[sympy.Symbol, tuple] = {}           # clamp generator -> (kind, args)
        self.exact_clamps: dict[sympy.Symbol, tuple] = {}     # clamp generator -> (kind, full args)
        self.given_clamps: dict[sympy.Symbol, tuple] = {}     # ... -> (kind, args over functions' values)
        self.inputs: list[str] = []
        self.order: list[str] = []        # names in the order of their final definitions
        self._consts: dict[float, sympy.Symbol] = {}
        self.solutions: dict = {}          # name -> solve_for's answer
        self._versions: dict[str, int] = {}
        for index, stmt in enumerate(stmts):
            self._read(stmt, final=final_index.get(stmt.target) == index)

    # ---------------------------------------------------------------- reading
    def symbol_for_input(self, name: str) -> sympy.Symbol:
        s = sympy.Symbol(name, real=True)
        if s not in self.gens:
            self.gens[s] = {"kind": "input", "name": name, "type": self.types.get(name)}
            self.inputs.append(name)
        return s

    def const(self, value):
        if isinstance(value, bool):
            return sympy.Integer(int(value))
        if isinstance(value, int):
            return sympy.Integer(value)
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise CannotRead("a non-finite constant")
        fraction = Fraction(value)
        if fraction.denominator <= 1024 and abs(fraction.numerator) <= 2 ** 20:
            return sympy.Rational(fraction.numerator, fraction.denominator)
        if value not in self._consts:
            s = sympy.Symbol(f"c{len(self._consts)}_const", real=True)
            self._consts[value] = s
            self.gens[s] = {"kind": "const", "value": value}
        return self._consts[value]

    def operand(self, op, full: bool = False):
        if isinstance(op, Const):
            return self.const(op.value)
        if isinstance(op, Var):
            table = self.full if full else self.cur
            if op.name in table:
                return table[op.name]
            s = self.symbol_for_input(op.name)
            return s
        raise CannotRead(f"operand {op!r}")

    def _generator(self, stmt, kind: str, final: bool) -> sympy.Symbol:
        version = self._versions.get(stmt.target, 0)
        self._versions[stmt.target] = version + 1
        # the final value of a name is read as the name itself; earlier values get their own symbols
        name = stmt.target if final else f"{stmt.target}__v{version}"
        s = sympy.Symbol(name, real=True)
        self.gens[s] = {"kind": kind, "name": stmt.target, "stmt": stmt, "final": final,
                        "type": self.types.get(stmt.target)}
        return s

    def _read(self, stmt: Assign, final: bool) -> None:
        t = self.types.get(stmt.target)
        prim = stmt.prim
        if prim in ARITHMETIC and t is not None and t.kind == "float" and self._arithmetic(stmt):
            pass
        elif prim in FUNCTIONS and t is not None and t.kind == "float":
            g = self._generator(stmt, "function", final)
            self.cur[stmt.target] = g
            self.full[stmt.target] = FUNCTIONS[prim](self.operand(stmt.args[0], full=True))
        else:
            g = self._generator(stmt, "opaque", final)
            self.cur[stmt.target] = g
            self.full[stmt.target] = g
            args = [self.operand(a) if isinstance(a, Const) or (isinstance(a, Var) and not (
                self.types.get(a.name) is not None and self.types[a.name].is_array)) else None for a in stmt.args]
            if prim in COMPARISONS and None not in args:
                self.relations[g] = (prim, args[0], args[1])
            elif prim == "indicator" and isinstance(args[0], sympy.Symbol) and args[0] in self.relations:
                self.masks[g] = args[0]
            elif prim in ("min", "max", "clip") and None not in args and t is not None and t.kind == "float":
                self.clamps[g] = (prim, tuple(args))
                # its exact value, for the accuracy reference: the clamp of the exact arguments
                self.exact_clamps[g] = (prim, tuple(self.operand(a, full=True) for a in stmt.args))
                self.given_clamps[g] = (prim, tuple(self.operand(a) for a in stmt.args))
        if final:
            self.defined[stmt.target] = self.cur[stmt.target]
            self.order.append(stmt.target)

    def _arithmetic(self, stmt: Assign) -> bool:
        prim, args = stmt.prim, stmt.args
        if prim == "pow":
            if not (isinstance(args[1], Const) and isinstance(args[1].value, (int, float))
                    and float(args[1].value).is_integer() and abs(args[1].value) <= MAX_POWER):
                return False
        values = [self.operand(a) for a in args]
        fulls = [self.operand(a, full=True) for a in args]
        self.cur[stmt.target] = _apply(prim, values)
        self.full[stmt.target] = _apply(prim, fulls)
        return True

    # ------------------------------------------------------------- questions
    def available(self, final_names: set) -> set:
        """Symbols a candidate may read at the region's end: inputs, final generators, kept names."""
        out = set()
        for s, info in self.gens.items():
            if info["kind"] in ("input", "const") or info.get("final"):
                out.add(s)
        out |= {sympy.Symbol(n, real=True) for n in final_names}
        return out

    def name_value(self, name: str):
        return self.defined.get(name)

    def int_symbols(self) -> set:
        return {s for s, info in self.gens.items() if _is_int_value(info.get("type"))}


def _apply(prim: str, v: list):
    if prim == "add":
        return v[0] + v[1]
    if prim == "sub":
        return v[0] - v[1]
    if prim == "mul":
        return v[0] * v[1]
    if prim == "div":
        if v[1] == 0:
            raise CannotRead("a division by the constant zero")
        return v[0] / v[1]
    if prim == "neg":
        return -v[0]
    if prim in ("copy", "float"):
        return v[0]
    if prim == "square":
        return v[0] ** 2
    if prim == "pow":
        exponent = int(v[1])
        if exponent < 0 and v[0] == 0:
            raise CannotRead("zero to a negative power")
        return v[0] ** exponent
    raise CannotRead(f"primitive {prim}")


# ------------------------------------------------------------------ clamps under indicators

def _canonical(relation: tuple) -> tuple:
    """(op, a, b) with op in lt/le: `a < b` or `a <= b`."""
    op, a, b = relation
    if op == "gt":
        return ("lt", b, a)
    if op == "ge":
        return ("le", b, a)
    return relation


def _clamp_value(kind: str, args: tuple, holds: set):
    """The argument a clamp equals when the relations `holds` (canonical (op, a, b)) are true, or None."""
    def below(a, b):          # a <= b known (a < b is stronger)
        return ("le", a, b) in holds or ("lt", a, b) in holds
    if kind == "max":
        a, b = args
        if below(b, a):
            return a
        if ("lt", a, b) in holds:
            return b
    elif kind == "min":
        a, b = args
        if below(a, b):
            return a
        if ("lt", b, a) in holds:
            return b
    elif kind == "clip":
        x, lo, hi = args
        if below(lo, x) and below(x, hi):
            return x
    return None


def masked_terms(alg: RegionAlgebra, expr):
    """`expr` as [(masks, coefficient, substituted)] -- a sum over products of indicator generators --
    with each clamp inside a product replaced by what it clamps where the product's indicators say
    they are equal; or None when `expr` is not a polynomial in its indicators."""
    masks = sorted((m for m in expr.free_symbols if m in alg.masks), key=str)
    if not masks:
        return None
    try:
        poly = sympy.Poly(expr, *masks)
    except sympy.PolynomialError:
        return None
    if any(c.has(*masks) for c in poly.coeffs()):
        return None
    terms = []
    for monomial, coefficient in poly.terms():
        present = tuple(m for m, power in zip(masks, monomial) if power)
        holds = {_canonical(alg.relations[alg.masks[m]]) for m in present}
        substituted = False
        for _ in range(8):
            replace = {}
            for g, (kind, args) in alg.clamps.items():
                if coefficient.has(g):
                    value = _clamp_value(kind, args, holds)
                    if value is not None:
                        replace[g] = value
            if not replace:
                break
            coefficient = coefficient.xreplace(replace)
            substituted = True
        terms.append((present, coefficient, substituted))
    return terms


def join_terms(terms: list, forms: list):
    """The sum of the terms with their coefficients in the given forms: a product with indicators
    whose clamps were replaced becomes `_Masked(indicators..., form)`."""
    total = sympy.Integer(0)
    for (present, _, substituted), form in zip(terms, forms):
        if substituted and present:
            total += _Masked(*present, form)
        else:
            total += sympy.Mul(*present) * form
    return total


def unmask(expr):
    """`_Masked(m1, ..., v)` read back as the product m1 * ... * v (for proofs)."""
    return expr.replace(lambda e: isinstance(e, _Masked), lambda e: sympy.Mul(*e.args))


def masked_parts_polynomial(expr) -> bool:
    """Every `_Masked` value is a polynomial (no division, nothing that can raise) in its symbols."""
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, _Masked):
            value = node.args[-1]
            if not value.is_polynomial(*value.free_symbols):
                return False
    return True


# ------------------------------------------------------------------------- forms

SIMPLIFY_MAX_NODES = 400


def size(expr) -> int:
    return sum(1 for _ in sympy.preorder_traversal(expr))


def basic_forms(expr) -> list:
    """`expr`, cancelled, and factored after cancelling (small expressions only)."""
    key = expr
    if key in _FORMS:
        return list(_FORMS[key])
    out = [expr]
    if size(expr) <= SIMPLIFY_MAX_NODES:
        try:
            cancelled = sympy.cancel(expr)
            out.append(cancelled)
            # cancelling may expand a product of sums (tenfold, in a loop's body): factoring that back
            # costs more than the rest of the search for it
            if size(cancelled) <= SIMPLIFY_MAX_NODES:
                out.append(sympy.factor(cancelled))
        except (sympy.PolynomialError, TypeError, ValueError):   # pragma: no cover - SymPy gives up
            pass
    out = _unique(out)
    if len(_FORMS) > 5000:
        _FORMS.clear()
    _FORMS[key] = tuple(out)
    return out


_FORMS: dict = {}


def _unique(items: list) -> list:
    seen, out = set(), []
    for e in items:
        key = e
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def solve_for(alg: RegionAlgebra, name: str) -> list:
    """[(generator, its value in terms of `name`)]: the generators the definition of `name` is a
    fraction of degree one in (only elementary functions' results and other generators computed in
    the region, never inputs: solving for an input would bring new divisions)."""
    if name in alg.solutions:
        return alg.solutions[name]
    value = alg.defined.get(name)
    out = []
    if value is not None and not value.is_Symbol and not value.is_Number:
        y = sympy.Symbol(name, real=True)
        numerator, _ = sympy.fraction(sympy.cancel(y - value))
        # over a common denominator a definition can grow tenfold (80 nodes to 4,000): a polynomial in
        # each generator is then built for seconds, and a form found so would be no shorter
        generators = sorted(value.free_symbols, key=str) if size(numerator) <= SIMPLIFY_MAX_NODES else []
        for g in generators:
            info = alg.gens.get(g)
            if info is None or info["kind"] not in ("function", "opaque"):
                continue
            try:
                poly = sympy.Poly(numerator, g)
            except sympy.PolynomialError:
                continue
            if poly.degree() != 1:
                continue
            a, b = poly.all_coeffs()
            if a.has(g) or b.has(g) or a == 0:
                continue
            out.append((g, sympy.cancel(-b / a)))
    alg.solutions[name] = out
    return out


def useful(alg: RegionAlgebra, name: str, expr) -> bool:
    """Can `name` shorten `expr`: its definition solves for a generator `expr` holds, or it is a sum or
    product of at least two terms over symbols `expr` holds?"""
    value = alg.defined.get(name)
    if value is None or value.is_Symbol or value.is_Number:
        return False
    if any(expr.has(g) for g, _ in solve_for(alg, name)):
        return True
    return _replaceable(value) and value.free_symbols <= expr.free_symbols and size(value) >= 4


def _replaceable(value) -> bool:
    """Is a kept definition worth replacing where it appears: a sum or product of terms, or a
    reciprocal (`y_hat = 1/(1 + e)` turns a division by `1 + e` into a product with `y_hat`)?"""
    return isinstance(value, (sympy.Add, sympy.Mul)) or is_reciprocal(value)


def is_reciprocal(value) -> bool:
    """Is `value` one over something (`1/(1 + e)`, `(2 + x)**-2`)?"""
    return value is not None and value.is_Pow and value.exp.is_negative


def rewrite_with(alg: RegionAlgebra, expr, name: str) -> list:
    """`expr` in terms of the kept name `name`: by solving its definition for a generator, or by
    replacing its definition where it appears."""
    value = alg.defined.get(name)
    if value is None or value.is_Symbol or value.is_Number or not (value.free_symbols & expr.free_symbols):
        return []
    y = sympy.Symbol(name, real=True)
    out = []
    for g, solution in solve_for(alg, name):
        if expr.has(g):
            out += basic_forms(expr.xreplace({g: solution}))[1:]
    if _replaceable(value) and size(expr) <= SIMPLIFY_MAX_NODES:
        replaced = expr.subs(value, y)
        if replaced != expr and replaced.has(y):
            out += [replaced] + basic_forms(replaced)[2:]
        # a reciprocal shows as a divisor only in the cancelled p/q form, and its powers only factored
        # (`e/(1 + e)**2` is `e*p**2` with p = 1/(1 + e); cancelled, the square is expanded): replaced there too
        if is_reciprocal(value):
            for form in basic_forms(expr)[1:3]:
                replaced = form.subs(value, y)
                if replaced != form and replaced.has(y):
                    out += [replaced] + basic_forms(replaced)[2:]
    return _unique(out)


def proves_equal(alg: RegionAlgebra, candidate, reference) -> bool:
    """candidate == reference as rational functions of the generators (kept names read as their
    definitions, `_Masked` as products)."""
    back = {sympy.Symbol(n, real=True): v for n, v in alg.defined.items()
            if sympy.Symbol(n, real=True) not in alg.gens}
    a = unmask(candidate)
    for _ in range(len(back) + 1):
        replaced = a.xreplace(back)
        if replaced == a:
            break
        a = replaced
    try:
        return sympy.cancel(a - unmask(reference)) == 0
    except (sympy.PolynomialError, TypeError, ValueError):   # pragma: no cover
        return False


# ------------------------------------------------------------------------ lowering

# what a statement costs, roughly in cycles of its latency class (elementary functions are generators:
# they are never emitted, only kept or dropped with the statements that compute them)
WEIGHTS = {"add": 1, "sub": 1, "mul": 1, "neg": 1, "copy": 0, "float": 0, "div": 6, "pow": 2,
           "square": 1, "where": 1, "indicator": 1, "lt": 1, "le": 1, "gt": 1, "ge": 1, "eq": 1, "ne": 1,
           "min": 1, "max": 1, "clip": 2, "abs": 1, "subscript": 1, "sqrt": 8}
FUNCTION_WEIGHT = 20


def weight(stmt) -> int:
    if stmt.prim in FUNCTIONS and stmt.prim != "sqrt":
        return FUNCTION_WEIGHT
    if stmt.prim == "pow" and not (isinstance(stmt.args[1], Const) and stmt.args[1].value == 2):
        return FUNCTION_WEIGHT if not isinstance(stmt.args[1], Const) else 3
    return WEIGHTS.get(stmt.prim, 4)


class Lowerer:
    """SymPy expressions -> A-normal-form statements over the names available at the region's end."""

    def __init__(self, alg: RegionAlgebra, available: set, fresh, types: dict):
        self.alg = alg
        self.available = available
        self.fresh = fresh              # () -> a new temporary's name
        self.types = types
        self.stmts: list = []
        self.owner: dict = {}           # id(statement) -> the output whose lowering emitted it
        self.current = None
        self.memo: dict = {}
        self.temps: set = set()

    def emit(self, prim: str, args: tuple) -> Var:
        if prim in ("add", "sub", "mul", "neg", "pow") and all(self._is_int(a) for a in args):
            raise CannotLower("integer arithmetic")
        if prim == "where" and self._is_int(args[1]):
            raise CannotLower("a conditional that may give an int")     # temporaries are floats
        name = self.fresh()
        self.temps.add(name)
        stmt = Assign(name, prim, tuple(args))
        self.stmts.append(stmt)
        self.owner[id(stmt)] = self.current
        return Var(name)

    def _is_int(self, operand) -> bool:
        if isinstance(operand, Const):
            return isinstance(operand.value, int)
        t = self.types.get(operand.name) if operand.name not in self.temps else FLOAT
        return _is_int_value(t)

    # ------------------------------------------------------------ expressions
    def value(self, expr):
        key = expr
        if key in self.memo:
            return self.memo[key]
        before = len(self.stmts)
        operand = self._value(expr)
        emitted = self.stmts[before:]
        if len(emitted) >= 2 or any(s.prim in ("div", "where") for s in emitted):
            self.memo[key] = operand
        return operand

    def _value(self, expr):
        if isinstance(expr, sympy.Symbol):
            return self._symbol(expr)
        if expr.is_Number:
            return self._number(expr)
        if isinstance(expr, _Masked):
            masks, inner = expr.args[:-1], expr.args[-1]
            result = self.value(inner)
            for m in reversed(masks):
                condition = self.alg.masks[m]
                result = self.emit("where", (self._symbol(condition), result, Const(0.0)))
            return result
        if isinstance(expr, sympy.Add):
            return self._sum(expr)
        if isinstance(expr, sympy.Mul):
            return self._product(expr)
        if isinstance(expr, sympy.Pow):
            base, exponent = expr.args
            if exponent.is_Integer and 0 < exponent <= MAX_POWER:
                return self._power(base, int(exponent))
            if exponent.is_Integer and -MAX_POWER <= exponent < 0:
                return self.emit("div", (Const(1), self._power(base, -int(exponent))))
        raise CannotLower(f"{type(expr).__name__}")

    def _symbol(self, s):
        if s not in self.available:
            raise CannotLower(f"{s} is not available at the region's end")
        info = self.alg.gens.get(s)
        if info is not None and info["kind"] == "const":
            return Const(info["value"])
        if info is not None and info["kind"] == "input":
            return Var(info["name"])
        if info is not None:
            return Var(info["name"])
        return Var(s.name)

    def _number(self, n):
        if n.is_Integer:
            return Const(int(n))
        if n.is_Rational:
            fraction = Fraction(int(n.p), int(n.q))
            if float(fraction) == fraction:            # exactly a double
                return Const(float(fraction))
            return self.emit("div", (Const(int(n.p)), Const(int(n.q))))
        raise CannotLower(f"number {n}")

    def _power(self, base, exponent: int):
        b = self.value(base)
        if exponent == 1:
            return b
        return self.emit("pow", (b, Const(exponent)))

    def _sum(self, expr):
        # positive terms first (no negation), numbers last among them; then fewer factors first, so
        # that 1 - y - t*y is (1 - y) - t*y: exact where y is near 1, which the verdicts then measure
        terms = sorted(expr.args, key=lambda t: (t.could_extract_minus_sign(), bool(t.is_Number), _factors(t)))
        first = terms[0]
        if first.could_extract_minus_sign():
            acc = self.emit("neg", (self.value(-first),))
        else:
            acc = self.value(first)
        for t in terms[1:]:
            if t.could_extract_minus_sign():
                acc = self.emit("sub", (acc, self.value(-t)))
            else:
                acc = self.emit("add", (acc, self.value(t)))
        return acc

    def _reciprocal(self, factor) -> bool:
        """Is `factor` a kept name whose value is a reciprocal (`y_hat = 1/(1 + e)`)?"""
        return factor.is_Symbol and is_reciprocal(self.alg.defined.get(factor.name))

    def _quotients_first(self, factors: list) -> list:
        """The factors of a product in the order they are multiplied, each kept reciprocal `1/d` beside
        the first other factor that shares a value with `d`, the pair multiplied first: a quotient before
        its scaling.  `(1 - y - y*e) * y_hat` then `* x` is exact at z = -709 (e = exp(709)), where
        `(1 - y - y*e) * x` overflows; `(y - p) * (t5 * s2) * x`, with s2 = 1/(1 + t5), where
        `(y - p) * s2` underflows (helper-52's review).  Sums come first, as SymPy's order has them last."""
        groups = [[f] for f in factors if not self._reciprocal(f)]
        groups.sort(key=lambda g: 0 if isinstance(g[0], (sympy.Add, _Masked)) else 1)
        unpaired = []
        for r in (f for f in factors if self._reciprocal(f)):
            shared = self.alg.defined[r.name].base.free_symbols
            group = next((g for g in groups if len(g) == 1 and g[0].free_symbols & shared), None)
            if group is None:
                unpaired.append([r])
            else:
                group.append(r)
        return groups + unpaired

    def _product(self, expr):
        coefficient, factors = expr.as_coeff_mul()
        if coefficient < 0:
            sums = [f for f in factors if isinstance(f, sympy.Add)]
            if sums:
                # -(y - y_hat) * x is (y_hat - y) * x: negation is exact, a - b == -(b - a)
                factors = list(factors)
                factors[factors.index(sums[0])] = -sums[0]
                return self.value(sympy.Mul(-coefficient, *factors, evaluate=False))
            return self.emit("neg", (self.value(-expr),))
        numerator, denominator = [], []
        for f in factors:
            if isinstance(f, sympy.Pow) and f.args[1].is_Integer and f.args[1] < 0:
                denominator.append(f.args[0] ** -f.args[1])
            else:
                numerator.append(f)
        acc = None
        p, q = sympy.Rational(coefficient).p, sympy.Rational(coefficient).q
        if p != 1:
            acc = Const(int(p))
        for group in self._quotients_first(numerator):
            operand = self.value(group[0])
            if len(group) == 2:
                operand = self.emit("mul", (operand, self.value(group[1])))
            acc = operand if acc is None else self.emit("mul", (acc, operand))
        if acc is None:
            acc = Const(1)
        if denominator or q != 1:
            den = Const(int(q)) if q != 1 else None
            for f in denominator:
                operand = self.value(f)
                den = operand if den is None else self.emit("mul", (den, operand))
            acc = self.emit("div", (acc, den))
        return acc


def _factors(term) -> int:
    """How many symbols a term multiplies (with their powers): t*y**2 has 3."""
    total = 0
    for factor in sympy.Mul.make_args(term):
        base, exponent = factor.as_base_exp()
        if base.is_Symbol:
            total += int(exponent) if exponent.is_Integer and exponent > 0 else 1
        elif not factor.is_Number:
            total += 1
    return total


def lower(alg: RegionAlgebra, exprs: dict, available: set, fresh, types: dict) -> tuple:
    """(statements computing `{name: expr}`, the last assigning each name; {id(statement): the name
    whose expression it belongs to}; the temporaries among their targets)."""
    lowerer = Lowerer(alg, available, fresh, types)
    results = {}
    for name, expr in exprs.items():
        lowerer.current = name
        results[name] = lowerer.value(expr)
    stmts = lowerer.stmts
    uses: dict = {}
    for s in stmts:
        for v in ir.operand_vars(s.args):
            uses[v] = uses.get(v, 0) + 1
    for r in results.values():
        if isinstance(r, Var):
            uses[r.name] = uses.get(r.name, 0) + 1
    for name, operand in list(results.items()):
        # every output is a float (an adjoint): an int constant is written as a float, and an int
        # variable alone is not a form for it (`y_bar = n` would make the gradient an int)
        if isinstance(operand, Const) and isinstance(operand.value, (bool, int)):
            results[name] = Const(float(operand.value))
        elif isinstance(operand, Var) and operand.name not in lowerer.temps and lowerer._is_int(operand):
            raise CannotLower(f"{operand.name} is an int, {name} a float")
    out = list(stmts)
    for name, operand in results.items():
        if isinstance(operand, Var) and operand.name in lowerer.temps and uses.get(operand.name) == 1:
            for s in out:
                if s.target == operand.name:
                    s.target = name
                    break
            lowerer.temps.discard(operand.name)
        else:
            stmt = Assign(name, "copy", (operand,))
            lowerer.owner[id(stmt)] = name
            out.append(stmt)
    return out, lowerer.owner, lowerer.temps
