"""Generator: seeded random programs inside the documented language, with arguments and `wrt`.

Takes: a kind (`scalar`, `control`, `arrays`), a seed and an index.
Guarantees:

* determinism: `generate(kind, seed, index)` depends on nothing else (no hash
  order, no clock, no global state); the same triple gives a byte-identical
  `Program` (source, arguments, `wrt`) in any process;
* the source is a complete module (`import math`, `import numpy as np`,
  `from autodiff_compiler import stop_gradient`, module constants, helper
  functions, then `f`) that parses, and `f(*args)` runs in plain Python: every
  name read is definitely assigned on every path, every name keeps one type
  (float, int, or a float64 array of one shape), indices are in bounds,
  slices have the lengths the generator assumed, loops terminate (`for` over
  `range` with bounded arguments; `while` loops advance a counter or a float
  by at least 0.5 in the first statement of their body, with their guard's
  names never assigned in the body), and values stay in the domain of each
  function by construction (`math.log(1.0 + e * e)`, `math.sqrt(e * e + 0.5)`,
  `math.asin(0.9 * math.tanh(e))`, bases of non-integer powers positive,
  denominators bounded away from zero, arguments of `exp`/`sinh`/`cosh`
  squashed);
* only constructs listed in README "Supported language" appear; per kind:
  `scalar` (every scalar primitive of the rule table, comparisons, conditional
  expressions, `and`/`or`/`not`, overwrites, tuple and augmented assignment,
  `stop_gradient`, helper calls with defaults and keywords, module constants),
  `control` (the same plus nested `if`/`elif`/`else`, `for` over `range` with
  1-3 arguments from int parameters including zero-trip and negative steps,
  `while`, `break`/`continue`, early `return`, loop indices read after their
  loop and overwritten by later loops, range bounds reassigned in the body,
  trip-local values in nested loops, accumulators and carried values),
  `arrays` (vectors and matrices, broadcasting with scalars, rows, columns and
  length-1 vectors, elementwise functions, `np.where`/`np.clip`/
  `np.maximum`/`np.minimum`, reductions at any position of a chain with axis
  and keepdims, `.sum()`/`.mean()`, `np.dot`/`@` in all rank combinations,
  `np.outer`, `.T`, element/row reads, slices with negative and computed
  bounds, local arrays with element, slice and row stores, aliasing, `.copy()`,
  loops with array code);
* argument values are random doubles (scalars in about [-2, 2], array entries
  distinct), int parameters small (including zero and negative trip counts),
  and `wrt` is one or several float parameters, given by name or index, single
  or as a tuple.  Points at kinks are left to the oracle to detect.
"""
from __future__ import annotations

import ast
import math
import random
from dataclasses import dataclass, field

import numpy as np

KINDS = ("scalar", "control", "arrays")

HEADER = "import math\nimport numpy as np\nfrom autodiff_compiler import stop_gradient\n"


@dataclass
class Program:
    """One generated test case."""
    kind: str
    seed: int
    index: int
    source: str
    func: str
    args: tuple
    wrt: object                  # as passed to grad(): int, str, or a tuple of them
    params: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.seed}-{self.index}"

    @property
    def wrt_indices(self) -> list[int]:
        items = self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)
        return [self.params.index(w) if isinstance(w, str) else w for w in items]

    def args_source(self) -> str:
        return "(" + "".join(format_value(a) + ", " for a in self.args).rstrip(" ") + ")"


def format_value(value) -> str:
    """Python source for an argument value (exact: floats by repr)."""
    if isinstance(value, np.ndarray):
        return f"np.array({_format_list(value.tolist())})"
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    return repr(float(value))


def _format_list(items) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_format_list(i) for i in items) + "]"
    return repr(float(items))


# ----------------------------------------------------------------------------- expressions

class E:
    """A generated expression: its source (fully parenthesised), its type and a bound on |value|."""
    __slots__ = ("code", "t", "b", "lo")

    def __init__(self, code: str, t, b: float, lo: float | None = None):
        self.code = code
        self.t = t            # "f", "i", "b", or a shape tuple (float64 array)
        self.b = float(b)     # bound on the absolute value of (each entry of) the value
        self.lo = lo          # for positive expressions: a lower bound > 0


F, I = "f", "i"


def is_array(t) -> bool:
    return isinstance(t, tuple)


def broadcast(s1, s2):
    """NumPy broadcast of two shapes (() for scalars), or None."""
    s1, s2 = tuple(s1), tuple(s2)
    n = max(len(s1), len(s2))
    a = (1,) * (n - len(s1)) + s1
    b = (1,) * (n - len(s2)) + s2
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def fmt(x: float) -> str:
    return repr(float(x))


SAFE_FLOATS = (0.5, 0.25, 0.75, 1.5, 2.0, 0.3, 1.25, 0.1, 3.0, 0.9, 0.6, 1.0, 0.2, 2.5, 0.4)


@dataclass
class Var:
    name: str
    t: object
    b: float = 1.0
    lo: int | None = None          # int interval
    hi: int | None = None
    local_array: bool = False      # a float array this function made (stores allowed)


@dataclass
class Helper:
    name: str
    params: list                   # [(name, type)]
    defaults: dict                 # name -> default source
    ret_bound: float
    param_bound: float = 2.0


@dataclass
class Loop:
    kind: str                      # "for" | "while"
    trips: int                     # bound on this loop's trip count
    frozen: tuple = ()             # names the body must not assign
    accumulators: tuple = ()


class Scope:
    """Definitely assigned names -> their current facts, flow-sensitively."""

    def __init__(self, values: dict | None = None):
        self.values = dict(values or {})

    def copy(self) -> "Scope":
        return Scope({k: Var(**vars(v)) for k, v in self.values.items()})


class Generator:
    """Builds one program; see the module docstring for what it guarantees."""

    MAX_TRIPS = 60            # bound on the total iterations of a loop nest

    def __init__(self, kind: str, rng: random.Random):
        self.kind = kind
        self.rng = rng
        self.constants: list[tuple[str, str]] = []
        self.constant_values: dict[str, Var] = {}
        self.helpers: list[Helper] = []
        self.counter = 0
        self.types: dict[str, object] = {}          # name -> fixed type in the current function
        self.loops: list[Loop] = []
        self.scope = Scope()
        self.lines: list[str] = []
        self.indent = 1
        self.array_shapes: list = []
        self.in_helper = False
        self.allow_returns = True

    # ------------------------------------------------------------------ utilities
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choose(self, items):
        return items[self.rng.randrange(len(items))]

    def weighted(self, table):
        """table: list of (weight, value); zero weights skipped."""
        table = [(w, v) for w, v in table if w > 0]
        total = sum(w for w, _ in table)
        r = self.rng.random() * total
        for w, v in table:
            r -= w
            if r < 0:
                return v
        return table[-1][1]

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, line: str):
        self.lines.append("    " * self.indent + line)

    def const(self) -> E:
        value = self.choose(SAFE_FLOATS)
        if self.chance(0.3):
            return E(f"({fmt(-value)})", F, value)
        return E(fmt(value), F, value)

    def recent(self, items):
        """Prefer recently assigned names, so that more of the work reaches the result."""
        weights = [(1.0 + k, item) for k, item in enumerate(items)]
        return self.weighted(weights)

    def with_var(self, make, tries: int = 4) -> E:
        """An expression that reads at least one variable (conditions on constants say little)."""
        e = make()
        for _ in range(tries):
            if any(n in self.scope.values or n in self.constant_values for n in _names_in(e.code)):
                return e
            e = make()
        return e

    def in_loop(self) -> bool:
        return bool(self.loops)

    def trips_total(self) -> int:
        total = 1
        for loop in self.loops:
            total *= max(1, loop.trips)
        return total

    def frozen(self) -> set:
        out = set()
        for loop in self.loops:
            out.update(loop.frozen)
        return out

    def vars_of(self, t, *, exclude=()) -> list[Var]:
        return [v for v in self.scope.values.values() if v.t == t and v.name not in exclude]

    # ------------------------------------------------------------------ squashing
    def squash(self, e: E, limit: float = 20.0) -> E:
        if e.b <= limit:
            return e
        if is_array(e.t):
            fn = self.choose(["np.tanh", "np.sin", "np.arctan"])
            return E(f"{fn}({e.code})", e.t, 1.6)
        kind = self.rng.randrange(4)
        if kind == 0:
            return E(f"math.tanh({e.code})", F, 1.0)
        if kind == 1:
            return E(f"math.sin({e.code})", F, 1.0)
        if kind == 2:
            return E(f"math.atan({e.code})", F, 1.6)
        return E(f"({e.code} / {fmt(2 * e.b)})", F, 0.5)

    def small(self, e: E, limit: float = 3.0) -> E:
        """Squash to |e| <= limit (for exp, sinh, cosh, powers)."""
        if e.b <= limit:
            return e
        if is_array(e.t):
            return E(f"({fmt(limit * 0.9)} * np.tanh({e.code}))", e.t, limit * 0.9)
        return E(f"({fmt(limit * 0.9)} * math.tanh({e.code}))", F, limit * 0.9)

    # ------------------------------------------------------------------ scalar floats
    def fexpr(self, depth: int) -> E:
        if depth <= 0 or self.chance(0.2):
            return self.fleaf()
        arrays = self.kind == "arrays" and not self.in_helper
        table = [
            (3, "arith"), (1.2, "neg_or_const"), (2, "div"), (1.5, "pow"), (4, "func"), (0.8, "np_func"),
            (1.2, "minmax"), (0.5, "modfloor"), (0.8, "ifexp"), (0.4, "stop"), (0.6, "convert"),
            (1.0 if self.helpers and not self.in_helper else 0, "helper"),
            (5 if arrays else 0, "reduce"), (2 if arrays else 0, "index"), (1.0 if arrays else 0, "dot"),
        ]
        what = self.weighted(table)
        return getattr(self, "f_" + what)(depth - 1)

    def fleaf(self) -> E:
        options = []
        floats = self.vars_of(F)
        if floats:
            options.append((6, "var"))
        if self.vars_of(I):
            options.append((1, "int"))
        options.append((2, "const"))
        if self.constant_values:
            options.append((0.7, "module"))
        if self.kind == "arrays" and not self.in_helper and self.array_vars():
            options.append((2, "element"))
        what = self.weighted(options)
        if what == "var":
            v = self.recent(floats)
            return E(v.name, F, v.b)
        if what == "int":
            v = self.choose(self.vars_of(I))
            scale = self.choose([0.5, 0.25, 1.0])
            b = max(abs(v.lo), abs(v.hi)) * scale
            if scale == 1.0:
                return E(f"float({v.name})", F, b) if self.chance(0.5) else E(f"({v.name} * 1.0)", F, b)
            return E(f"({fmt(scale)} * {v.name})", F, b)
        if what == "module":
            name = self.choose(sorted(self.constant_values))
            v = self.constant_values[name]
            return E(name, F, v.b)
        if what == "element":
            return self.f_index(0)
        if self.chance(0.1):
            return self.choose([E("math.pi", F, 3.2), E("math.e", F, 2.8), E("(math.tau / 4.0)", F, 1.6)])
        return self.const()

    def f_arith(self, depth) -> E:
        a, b = self.fexpr(depth), self.fexpr(depth)
        op = self.choose(["+", "-", "*", "+", "-", "*"])
        if op == "*":
            a, b = self.squash(a, 30), self.squash(b, 30)
            return self.squash(E(f"({a.code} * {b.code})", F, a.b * b.b), 200)
        return E(f"({a.code} {op} {b.code})", F, a.b + b.b)

    def f_neg_or_const(self, depth) -> E:
        a = self.fexpr(depth)
        if self.chance(0.5):
            return E(f"(-{a.code})", F, a.b)
        c = self.const()
        return E(f"({c.code} * {a.code})", F, c.b * a.b)

    def positive(self, depth) -> E:
        """An expression with value >= lo > 0."""
        a = self.fexpr(depth)
        kind = self.rng.randrange(8)
        if kind == 0:
            a = self.squash(a, 10)
            return E(f"(1.0 + {a.code} * {a.code})", F, 1 + a.b * a.b, 1.0)
        if kind == 1:
            return E(f"(2.0 + math.sin({a.code}))", F, 3.0, 1.0)
        if kind == 2:
            return E(f"math.exp(math.tanh({a.code}))", F, 2.72, 0.36)
        if kind == 3:
            a = self.squash(a, 10)
            return E(f"math.sqrt({a.code} * {a.code} + 0.5)", F, a.b + 1, 0.7)
        if kind == 4:
            a = self.squash(a, 10)
            return E(f"math.hypot({a.code}, 0.75)", F, a.b + 1, 0.75)
        if kind == 5:
            a = self.small(a, 3.0)
            return E(f"math.cosh({a.code})", F, math.cosh(a.b), 1.0)
        if kind == 6:
            return E(f"(1.5 + math.tanh({a.code}))", F, 2.5, 0.5)
        a = self.squash(a, 10)
        return E(f"np.sqrt(1.0 + {a.code} ** 2)", F, a.b + 1, 1.0)

    def f_div(self, depth) -> E:
        a, p = self.fexpr(depth), self.positive(depth)
        if self.chance(0.15):
            # a / c with a non-zero constant
            c = self.choose([2.0, -4.0, 0.5, 3.0])
            return E(f"({a.code} / {fmt(c)})", F, a.b / abs(c))
        return self.squash(E(f"({a.code} / {p.code})", F, a.b / p.lo), 200)

    def f_pow(self, depth) -> E:
        kind = self.rng.randrange(6)
        if kind <= 1:
            a = self.squash(self.fexpr(depth), 5)
            k = self.choose([2, 3, 2, 2.0])
            return E(f"({a.code} ** {k!r})", F, a.b ** k)
        p = self.positive(depth)
        top = max(p.b, 1 / p.lo)
        if kind == 2:
            c = self.choose([0.5, 1.5, -0.5, -1.0, 2.5, 0.25, -2])
            return self.squash(E(f"({p.code} ** {c!r})", F, top ** abs(c)), 200)
        y = self.small(self.fexpr(depth), 2.0)
        spelled = self.choose(["{p} ** {y}", "pow({p}, {y})", "math.pow({p}, {y})", "np.power({p}, {y})"])
        return self.squash(E("(" + spelled.format(p=p.code, y=y.code) + ")", F, top ** 2), 200)

    def f_func(self, depth) -> E:
        a = self.fexpr(depth)
        name = self.choose(["sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
                            "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "hypot", "erf", "erfc",
                            "fabs", "abs"])
        if name in ("sin", "cos", "atan", "tanh", "erf", "erfc"):
            return E(f"math.{name}({a.code})", F, 2.0 if name == "erfc" else 1.6)
        if name == "tan":
            a = self.squash(a, 1.0)
            if a.b > 1.2:
                a = E(f"math.tanh({a.code})", F, 1.0)
            return E(f"math.tan({a.code})", F, 1.6)
        if name in ("asin", "acos"):
            inner = self.choose(["(0.9 * math.tanh({a}))", "(0.5 * math.sin({a}))"])
            return E(f"math.{name}({inner.format(a=a.code)})", F, 3.2)
        if name == "atan2":
            b = self.fexpr(depth)
            return E(f"math.atan2({a.code}, {b.code})", F, 3.2)
        if name in ("sinh", "cosh", "exp", "expm1"):
            a = self.small(a, 3.0)
            return E(f"math.{name}({a.code})", F, math.cosh(a.b) + 1)
        if name in ("log", "log2", "log10", "sqrt"):
            p = self.positive(depth)
            b = max(abs(math.log(p.lo)), math.log(p.b + 1)) * 2 if name != "sqrt" else math.sqrt(p.b)
            return E(f"math.{name}({p.code})", F, b + 1)
        if name == "log1p":
            a = self.squash(a, 10)
            return E(f"math.log1p({a.code} * {a.code})", F, math.log1p(a.b * a.b) + 1)
        if name == "hypot":
            b = self.fexpr(depth)
            c = self.const()
            return E(f"math.hypot({a.code}, {b.code}, {c.code})" if self.chance(0.0) else
                     f"math.hypot({a.code}, {b.code})", F, a.b + b.b)
        if name == "fabs":
            return E(f"math.fabs({a.code})", F, a.b)
        return E(f"abs({a.code})", F, a.b)

    def f_np_func(self, depth) -> E:
        """NumPy functions applied to scalars."""
        a = self.fexpr(depth)
        name = self.choose(["sin", "cos", "tanh", "arctan", "exp", "log", "sqrt", "abs", "arctan2", "square",
                            "minimum", "maximum", "clip", "where", "sign", "inf"])
        if name in ("sin", "cos", "tanh", "arctan"):
            return E(f"np.{name}({a.code})", F, 1.6)
        if name == "sign":
            return E(f"(np.sign({a.code}) * {a.code})", F, a.b)
        if name == "inf":
            if self.chance(0.5):
                return E(f"min({a.code}, math.inf)", F, a.b)
            return E(f"max({a.code}, -math.inf)", F, a.b)
        if name == "exp":
            a = self.small(a, 3.0)
            return E(f"np.exp({a.code})", F, math.exp(a.b))
        if name in ("log", "sqrt"):
            p = self.positive(depth)
            return E(f"np.{name}({p.code})", F, max(p.b, 1 / p.lo) + 1)
        if name == "abs":
            return E(f"np.abs({a.code})", F, a.b)
        if name == "square":
            a = self.squash(a, 10)
            return E(f"np.square({a.code})", F, a.b * a.b)
        if name == "arctan2":
            b = self.fexpr(depth)
            return E(f"np.arctan2({a.code}, {b.code})", F, 3.2)
        if name in ("minimum", "maximum"):
            b = self.fexpr(depth)
            return E(f"np.{name}({a.code}, {b.code})", F, max(a.b, b.b))
        if name == "clip":
            lo = self.choose([-1.0, -0.5, 0.0, -0.25])
            hi = self.choose([0.5, 1.0, 0.25, 1.5])
            return E(f"np.clip({a.code}, {fmt(lo)}, {fmt(hi)})", F, max(abs(lo), abs(hi)))
        b = self.fexpr(depth)
        c = self.cond(depth)
        return E(f"np.where({c}, {a.code}, {b.code})", F, max(a.b, b.b))

    def f_minmax(self, depth) -> E:
        a, b = self.fexpr(depth), self.fexpr(depth)
        fn = self.choose(["min", "max"])
        if self.chance(0.2):
            c = self.fexpr(depth)
            return E(f"{fn}({a.code}, {b.code}, {c.code})", F, max(a.b, b.b, c.b))
        return E(f"{fn}({a.code}, {b.code})", F, max(a.b, b.b))

    def f_modfloor(self, depth) -> E:
        a = self.fexpr(depth)
        kind = self.rng.randrange(6)
        if kind == 0:
            c = self.choose([1.5, 2.0, 0.7, 1.0])
            return E(f"({a.code} % {fmt(c)})", F, c)
        if kind == 1:
            p = self.positive(depth)
            return E(f"({a.code} % {p.code})", F, p.b)
        if kind == 2:
            c = self.choose([1.5, 2.0, 0.7])
            return E(f"({a.code} // {fmt(c)})", F, a.b / c + 1)
        fn = self.choose(["math.floor", "math.ceil", "math.trunc", "int", "np.floor"])
        scale = self.choose([0.5, 1.0, 0.25])
        return E(f"({fmt(scale)} * {fn}({a.code}))", F, (a.b + 1) * scale)

    def f_ifexp(self, depth) -> E:
        a, b = self.fexpr(depth), self.fexpr(depth)
        return E(f"({a.code} if {self.cond(depth)} else {b.code})", F, max(a.b, b.b))

    def f_stop(self, depth) -> E:
        a = self.fexpr(depth)
        return E(f"stop_gradient({a.code})", F, a.b)

    def f_convert(self, depth) -> E:
        a = self.fexpr(depth)
        return E(f"float({a.code})", F, a.b)

    def f_helper(self, depth) -> E:
        h = self.choose(self.helpers)
        args = []
        for name, t in h.params:
            if t == F:
                args.append(self.squash(self.fexpr(depth), h.param_bound).code)
            else:
                args.append(self.aexpr(t, depth).code if not self.in_helper else "0.0")
        parts = []
        keywords = self.chance(0.5)
        for k, ((name, t), code) in enumerate(zip(h.params, args)):
            if name in h.defaults and self.chance(0.35) and all(n in h.defaults for n, _ in h.params[k:]):
                break                                   # leave the rest to their defaults
            if keywords and k > 0:
                parts.append(f"{name}={code}")
            else:
                parts.append(code)
        return E(f"{h.name}({', '.join(parts)})", F, h.ret_bound)

    # ------------------------------------------------------------------ conditions
    def cond(self, depth: int = 1) -> str:
        kind = self.weighted([(5, "cmp"), (1, "chain"), (1.5, "bool"), (0.6, "not"),
                              (1 if self.vars_of(I) else 0, "int")])
        if kind == "cmp":
            a = self.with_var(lambda: self.fexpr(max(0, depth - 1)))
            b = self.const() if self.chance(0.6) else self.fexpr(max(0, depth - 1))
            return f"({a.code} {self.choose(['<', '>', '<=', '>=', '<', '>', '!='])} {b.code})"
        if kind == "chain":
            a = self.with_var(lambda: self.fexpr(max(0, depth - 1)))
            lo = self.choose([-1.5, -0.5, -1.0, 0.0])
            hi = self.choose([0.5, 1.0, 1.5, 0.25])
            return f"({fmt(lo)} < {a.code} <= {fmt(hi)})"
        if kind == "bool":
            op = self.choose(["and", "or"])
            return f"({self.cond(0)} {op} {self.cond(0)})"
        if kind == "not":
            return f"(not {self.cond(0)})"
        v = self.choose(self.vars_of(I))
        c = self.rng.randint(v.lo, v.hi) if v.hi >= v.lo else 0
        return f"({v.name} {self.choose(['<', '>', '==', '!=', '>=', '<='])} {c})"

    # ------------------------------------------------------------------ ints
    def iexpr(self) -> tuple[str, int, int]:
        """An int expression and its value interval."""
        ints = self.vars_of(I)
        kind = self.weighted([(4 if ints else 0, "var"), (1, "const"), (2 if ints else 0, "arith"),
                              (1, "float"), (0.6 if ints else 0, "minmax")])
        if kind == "var":
            v = self.choose(ints)
            return v.name, v.lo, v.hi
        if kind == "const":
            c = self.rng.randint(-1, 4)
            return str(c), c, c
        if kind == "arith":
            v = self.choose(ints)
            op = self.choose(["+", "-", "//", "%", "*"])
            c = self.rng.randint(1, 3)
            if op == "+":
                return f"({v.name} + {c})", v.lo + c, v.hi + c
            if op == "-":
                return f"({v.name} - {c})", v.lo - c, v.hi - c
            if op == "*":
                return f"({v.name} * {c})", min(v.lo * c, v.hi * c), max(v.lo * c, v.hi * c)
            if op == "//":
                c = c + 1
                return f"({v.name} // {c})", v.lo // c, v.hi // c
            c = c + 1
            return f"({v.name} % {c})", 0, c - 1
        if kind == "float":
            a = self.squash(self.fexpr(1), 3.0)
            fn = self.choose(["int", "math.floor", "math.ceil", "math.trunc"])
            return f"{fn}({a.code})", -math.ceil(a.b) - 1, math.ceil(a.b) + 1
        v = self.choose(ints)
        c = self.rng.randint(0, 3)
        fn = self.choose(["min", "max"])
        if fn == "min":
            return f"min({v.name}, {c})", min(v.lo, c), min(v.hi, c)
        return f"max({v.name}, {c})", max(v.lo, c), max(v.hi, c)

    def clamp_int(self, code, lo, hi, want_lo, want_hi):
        """code clamped into [want_lo, want_hi] where its interval is not inside."""
        if lo < want_lo:
            code, lo, hi = f"max({code}, {want_lo})", max(lo, want_lo), max(hi, want_lo)
        if hi > want_hi:
            code, lo, hi = f"min({code}, {want_hi})", min(lo, want_hi), min(hi, want_hi)
        return code, lo, hi

    # ------------------------------------------------------------------ arrays
    def array_vars(self, t=None) -> list[Var]:
        return [v for v in self.scope.values.values() if is_array(v.t) and (t is None or v.t == t)]

    def shape_pool(self) -> list:
        """Shapes worth building expressions of."""
        pool = []
        for s in self.array_shapes:
            if s not in pool:
                pool.append(s)
        return pool

    def aexpr(self, shape, depth: int) -> E:
        """A float64 array expression of exactly `shape`."""
        leaves = self.array_leaves(shape, depth)
        if depth <= 0 or self.chance(0.25):
            return self.choose(leaves)() if leaves else self.array_fallback(shape)
        table = [(3 if leaves else 0, "leaf"), (3, "unary"), (4, "binary"), (1.2, "select"),
                 (1.2, "scale"), (0.8, "normalize")]
        what = self.weighted(table)
        if what == "leaf":
            return self.choose(leaves)()
        if what == "unary":
            return self.a_unary(shape, depth - 1)
        if what == "binary":
            return self.a_binary(shape, depth - 1)
        if what == "select":
            return self.a_select(shape, depth - 1)
        if what == "scale":
            a = self.aexpr(shape, depth - 1)
            s = self.squash(self.fexpr(depth - 1), 10)
            return self.squash(E(f"({s.code} * {a.code})", shape, s.b * a.b), 100)
        return self.a_normalize(shape, depth - 1)

    def array_fallback(self, shape) -> E:
        if len(shape) == 1:
            return E(f"np.ones({shape[0]})", shape, 1.0)
        return E(f"np.ones(({shape[0]}, {shape[1]}))", shape, 1.0)

    def array_leaves(self, shape, depth) -> list:
        """Callables building leaf-ish expressions of `shape`."""
        out = []
        for v in self.array_vars(shape):
            out.append(lambda v=v: E(v.name, shape, v.b))
            out.append(lambda v=v: E(v.name, shape, v.b))
        for v in self.array_vars():
            t = v.t
            if len(t) == 2:
                r, c = t
                if len(shape) == 1:
                    k = shape[0]
                    if c == k:
                        out.append(lambda v=v, r=r: E(f"{v.name}[{self.index_code(r)}]", shape, v.b))
                        out.append(lambda v=v: self.axis_reduce(v, 0, shape))
                    if r == k:
                        out.append(lambda v=v, c=c: E(f"{v.name}[:, {self.index_code(c)}]", shape, v.b))
                        out.append(lambda v=v: self.axis_reduce(v, 1, shape))
                    if r == k and depth > 0:
                        out.append(lambda v=v, c=c: self.matvec(v, (c,), shape, depth))
                    if c == k and depth > 0:
                        out.append(lambda v=v, r=r: self.vecmat(v, (r,), shape, depth))
                else:
                    R, C = shape
                    if (c, r) == shape:
                        out.append(lambda v=v: E(f"{v.name}.T", shape, v.b))
                    if R == 1 and c == C:
                        out.append(lambda v=v: self.axis_reduce(v, 0, shape, keepdims=True))
                    if C == 1 and r == R:
                        out.append(lambda v=v: self.axis_reduce(v, 1, shape, keepdims=True))
                    if r == R and depth > 0:
                        for w in self.array_vars():
                            if len(w.t) == 2 and w.t[1] == C and w.t[0] == c:
                                form = self.choose(["({a} @ {b})", "np.dot({a}, {b})"])
                                out.append(lambda v=v, w=w, form=form: E(form.format(a=v.name, b=w.name), shape,
                                                                         min(v.b * w.b * c, 1e4)))
                    if (c, r) == shape and depth > 0 and self.chance(0.3):
                        # the transpose of an expression: (A + B).T
                        out.append(lambda v=v: E(f"({self.aexpr((c, r), depth - 1).code}).T", shape, 1e3))
            else:
                (L,) = t
                if len(shape) == 1:
                    k = shape[0]
                    if L > k:
                        out.append(lambda v=v, L=L: self.vslice(v, L, shape))
                else:
                    R, C = shape
                    if L == R:
                        for w in self.array_vars():
                            if len(w.t) == 1 and w.t[0] == C:
                                out.append(lambda v=v, w=w: E(f"np.outer({v.name}, {w.name})", shape, v.b * w.b))
        return out

    def index_code(self, length: int) -> str:
        """An index valid for an axis of `length`: a loop index, an int variable, or a constant."""
        options = []
        for v in self.vars_of(I):
            if v.lo >= -length and v.hi <= length - 1:
                options.append(v.name)
        if options and self.chance(0.6):
            return self.choose(options)
        return str(self.rng.randint(-length, length - 1))

    def axis_reduce(self, v: Var, axis: int, shape, keepdims=False) -> E:
        fn = self.choose(["np.sum", "np.sum", "np.mean", "np.max", "np.min"])
        spelled_axis = axis if not (axis == 1 and self.chance(0.4)) else -1
        extra = ", keepdims=True" if keepdims else ""
        n = v.t[axis]
        b = v.b * n if fn == "np.sum" else v.b
        return E(f"{fn}({v.name}, axis={spelled_axis}{extra})", shape, b)

    def matvec(self, M: Var, vshape, shape, depth) -> E:
        x = self.aexpr(vshape, depth - 1)
        x = self.squash(x, 10)
        form = self.choose(["({M} @ {x})", "np.dot({M}, {x})"])
        return E(form.format(M=M.name, x=x.code), shape, min(M.b * x.b * vshape[0], 1e4))

    def vecmat(self, M: Var, vshape, shape, depth) -> E:
        x = self.squash(self.aexpr(vshape, depth - 1), 10)
        form = self.choose(["({x} @ {M})", "np.dot({x}, {M})"])
        return E(form.format(M=M.name, x=x.code), shape, min(M.b * x.b * vshape[0], 1e4))

    def vslice(self, v: Var, L: int, shape) -> E:
        k = shape[0]
        start = self.rng.randint(0, L - k)
        kind = self.rng.randrange(5)
        # a known-valued int variable as the start: x[k:] after k changes
        known = [w for w in self.vars_of(I) if w.lo == w.hi == L - k and w.name not in self.frozen()]
        if known and self.chance(0.5):
            return E(f"{v.name}[{self.choose(known).name}:]", shape, v.b)
        if kind == 0:
            return E(f"{v.name}[{start}:{start + k}]", shape, v.b)
        if kind == 1:
            return E(f"{v.name}[-{k}:]", shape, v.b)
        if kind == 2:
            return E(f"{v.name}[:{k}]", shape, v.b)
        if kind == 3:
            return E(f"{v.name}[{start}:{start - L + k if start - L + k < 0 else ''}]", shape, v.b) \
                if start - L + k < 0 else E(f"{v.name}[{start}:]", shape, v.b)
        return E(f"{v.name}[{L - k}:]", shape, v.b)

    def broadcast_partner(self, shape, depth) -> E:
        """An operand that broadcasts to `shape`: scalar, same shape, row, column or length-1."""
        options = [(3, "scalar"), (4, "same")]
        if len(shape) == 1:
            options.append((1, "one"))
        else:
            options += [(2, "row"), (1, "rowk"), (1.5, "col"), (0.5, "one")]
        what = self.weighted(options)
        if what == "scalar":
            return self.fexpr(depth)
        if what == "same":
            return self.aexpr(shape, depth)
        if what == "one":
            ones = self.array_vars((1,))
            if ones and self.chance(0.7):
                v = self.choose(ones)
                return E(v.name, (1,), v.b)
            return self.aexpr((1,), depth) if self.can_build((1,)) else self.fexpr(depth)
        if what == "row":
            return self.aexpr((shape[1],), depth)
        if what == "rowk":
            if self.can_build((1, shape[1])):
                return self.aexpr((1, shape[1]), depth)
            return self.aexpr((shape[1],), depth)
        if self.can_build((shape[0], 1)):
            return self.aexpr((shape[0], 1), depth)
        return self.fexpr(depth)

    def can_build(self, shape) -> bool:
        return bool(self.array_leaves(shape, 0)) or shape in self.array_shapes

    def a_unary(self, shape, depth) -> E:
        a = self.aexpr(shape, depth)
        name = self.choose(["sin", "cos", "tanh", "arctan", "exp", "log", "sqrt", "abs", "square", "neg", "pow",
                            "expm1", "log1p", "sinh", "cosh", "arcsin", "mod", "floor", "sign"])
        if name in ("sin", "cos", "tanh", "arctan"):
            return E(f"np.{name}({a.code})", shape, 1.6)
        if name in ("exp", "expm1", "sinh", "cosh"):
            a = self.small(a, 3.0)
            return E(f"np.{name}({a.code})", shape, math.exp(a.b) + 1)
        if name == "log":
            a = self.squash(a, 10)
            return E(f"np.log(1.0 + {a.code} * {a.code})", shape, 2 * math.log(a.b + 1) + 1)
        if name == "log1p":
            a = self.squash(a, 10)
            return E(f"np.log1p({a.code} ** 2)", shape, 2 * math.log(a.b + 1) + 1)
        if name == "sqrt":
            a = self.squash(a, 10)
            return E(f"np.sqrt({a.code} * {a.code} + 0.5)", shape, a.b + 1)
        if name == "arcsin":
            return E(f"np.arcsin(0.9 * np.tanh({a.code}))", shape, 1.6)
        if name == "abs":
            return E(f"np.abs({a.code})", shape, a.b)
        if name == "square":
            a = self.squash(a, 10)
            return E(f"np.square({a.code})", shape, a.b * a.b)
        if name == "pow":
            if self.chance(0.3):
                # a positive base to a scalar or elementwise exponent
                base = self.positive_array_or_scalar(a, depth)
                ex = self.small(self.fexpr(depth), 1.5) if self.chance(0.5) else \
                    self.small(self.aexpr(shape, depth), 1.5)
                form = self.choose(["({b} ** {e})", "np.power({b}, {e})"])
                return E(form.format(b=base.code, e=ex.code), shape, max(base.b, 1 / base.lo) ** 1.5)
            a = self.squash(a, 5)
            k = self.choose([2, 3])
            return E(f"({a.code} ** {k})", shape, a.b ** k)
        if name == "mod":
            return E(f"({a.code} % 1.5)", shape, 1.5)
        if name == "floor":
            return E(f"(0.5 * np.floor({a.code}))", shape, a.b + 1)
        if name == "sign":
            return E(f"(np.sign({a.code}) * {a.code})", shape, a.b)
        return E(f"(-{a.code})", shape, a.b)

    def a_binary(self, shape, depth) -> E:
        a = self.aexpr(shape, depth)
        b = self.broadcast_partner(shape, depth)
        if self.chance(0.5):
            a, b = b, a
        op = self.choose(["+", "-", "*", "+", "*", "/"])
        if op == "/":
            den = self.positive_array_or_scalar(b, depth)
            return self.squash(E(f"({a.code} / {den.code})", shape, a.b / den.lo), 100)
        if op == "*":
            a, b = self.squash(a, 20), self.squash(b, 20)
            return self.squash(E(f"({a.code} * {b.code})", shape, a.b * b.b), 100)
        return E(f"({a.code} {op} {b.code})", shape, a.b + b.b)

    def positive_array_or_scalar(self, e: E, depth) -> E:
        e = self.squash(e, 10)
        fn = "np.exp" if is_array(e.t) else "math.exp"
        kind = self.rng.randrange(3)
        if kind == 0:
            return E(f"(1.0 + {e.code} * {e.code})", e.t, 1 + e.b * e.b, 1.0)
        if kind == 1:
            return E(f"{fn}(0.5 * {'np' if is_array(e.t) else 'math'}.tanh({e.code}))", e.t, 1.7, 0.6)
        return E(f"(1.5 + {'np' if is_array(e.t) else 'math'}.cos({e.code}))", e.t, 2.5, 0.5)

    def a_select(self, shape, depth) -> E:
        a = self.aexpr(shape, depth)
        kind = self.rng.randrange(4)
        if kind == 0:
            b = self.broadcast_partner(shape, depth)
            c = self.const()
            op = self.choose([">", "<", ">=", "<="])
            return E(f"np.where({a.code} {op} {c.code}, {a.code}, {b.code})", shape, max(a.b, b.b))
        if kind == 1:
            lo = self.choose([-1.0, -0.5, 0.0])
            hi = self.choose([0.5, 1.0, 0.25])
            return E(f"np.clip({a.code}, {fmt(lo)}, {fmt(hi)})", shape, 1.0)
        b = self.broadcast_partner(shape, depth)
        fn = "np.maximum" if kind == 2 else "np.minimum"
        return E(f"{fn}({a.code}, {b.code})", shape, max(a.b, b.b))

    def a_normalize(self, shape, depth) -> E:
        """Reductions inside the chain: e * sum(e), e / sum(e), e - max(e), (e - mean(e)) / std."""
        a = self.aexpr(shape, depth)
        kind = self.rng.randrange(5)
        if kind == 0:
            a = self.small(a, 3.0)
            return self.squash(E(f"({a.code} * np.sum({a.code}))", shape, a.b * a.b * _size(shape)), 100)
        if kind == 1:
            p = self.squash(a, 3.0)
            p = E(f"np.exp({p.code})", shape, math.exp(p.b), math.exp(-p.b))
            return E(f"({p.code} / np.sum({p.code}))", shape, 1.0)
        if kind == 2:
            return E(f"({a.code} - np.max({a.code}))", shape, 2 * a.b)
        if kind == 3:
            a = self.squash(a, 10)
            return E(f"({a.code} / np.sqrt(np.sum({a.code} * {a.code}) + 0.5))", shape, 1.5 * math.sqrt(_size(shape)))
        a = self.squash(a, 10)
        return E(f"({a.code} - np.mean({a.code}))", shape, 2 * a.b)

    def f_reduce(self, depth) -> E:
        shapes = self.shape_pool()
        shape = self.choose(shapes)
        a = self.aexpr(shape, depth)
        kind = self.weighted([(4, "sum"), (2, "mean"), (1.5, "max"), (1.5, "min"), (0.6, "prod"),
                              (1, "method_sum"), (0.8, "method_mean"), (0.6, "axis"),
                              (0.8 if len(shape) == 1 else 0, "moving"), (0.25, "subscript")])
        n = _size(shape)
        if kind == "moving":
            return self.moving_slice_sum(shape, depth)
        if kind == "subscript":
            if len(shape) == 2:
                axis = self.choose([0, 1])
                fn = self.choose(["np.sum", "np.mean", "np.max"])
                return E(f"{fn}({a.code}, axis={axis})[{self.index_code(shape[1 - axis])}]", F, a.b * n)
            return E(f"({a.code})[{self.index_code(shape[0])}]" if not _is_name(a.code) else
                     f"{a.code}[{self.index_code(shape[0])}]", F, a.b)
        if kind == "sum":
            return E(f"np.sum({a.code})", F, a.b * n)
        if kind == "mean":
            return E(f"np.mean({a.code})", F, a.b)
        if kind in ("max", "min"):
            return E(f"np.{kind}({a.code})", F, a.b)
        if kind == "prod":
            p = self.squash(a, 3.0)
            return E(f"np.prod(1.0 + 0.5 * np.tanh({p.code}))", F, 1.5 ** n)
        if kind == "method_sum":
            return E(f"({a.code}).sum()" if not _is_name(a.code) else f"{a.code}.sum()", F, a.b * n)
        if kind == "method_mean":
            return E(f"({a.code}).mean()" if not _is_name(a.code) else f"{a.code}.mean()", F, a.b)
        # reduce along an axis, then fully
        if len(shape) == 2:
            axis = self.choose([0, 1, -1])
            fn = self.choose(["np.sum", "np.mean", "np.max", "np.min"])
            keep = ", keepdims=True" if self.chance(0.3) else ""
            inner = f"{fn}({a.code}, axis={axis}{keep})"
            outer = self.choose(["np.sum", "np.mean", "np.max"])
            return E(f"{outer}({inner})", F, a.b * n)
        fn = self.choose(["np.sum", "np.mean", "np.max", "np.min"])
        return E(f"{fn}({a.code}, axis={self.choose([0, -1])})", F, a.b * n)

    def moving_slice_sum(self, shape, depth) -> E:
        """np.sum over a slice whose bounds are int variables (an empty slice sums to 0)."""
        vecs = [v for v in self.array_vars() if len(v.t) == 1 and v.t[0] >= 2]
        if not vecs:
            return E(f"np.sum({self.aexpr(shape, depth).code})", F, 1e3)
        v = self.choose(vecs)
        L = v.t[0]
        ints = [w for w in self.vars_of(I) if w.lo >= 0 and w.hi <= L]
        if not ints:
            k = self.rng.randint(0, L - 1)
            return E(f"np.sum({v.name}[{k}:] ** 2)", F, v.b * v.b * L)
        w = self.choose(ints)
        form = self.choose(["{v}[{i}:]", "{v}[:{i}]", "{v}[{i}:{L}]", "{v}[{i}:] * 2.0"])
        inner = form.format(v=v.name, i=w.name, L=L)
        fn = self.choose(["np.sum({0})", "np.sum({0} ** 2)", "np.sum(np.sin({0}))"])
        return E(fn.format(inner), F, v.b * v.b * L + L)

    def f_index(self, depth) -> E:
        arrays = self.array_vars()
        if not arrays:
            return self.const()
        v = self.choose(arrays)
        if len(v.t) == 1:
            return E(f"{v.name}[{self.index_code(v.t[0])}]", F, v.b)
        return E(f"{v.name}[{self.index_code(v.t[0])}, {self.index_code(v.t[1])}]", F, v.b)

    def f_dot(self, depth) -> E:
        vecs = [s for s in self.shape_pool() if len(s) == 1]
        if not vecs:
            return self.f_reduce(depth)
        shape = self.choose(vecs)
        a = self.squash(self.aexpr(shape, depth), 10)
        b = self.squash(self.aexpr(shape, depth), 10)
        form = self.choose(["np.dot({a}, {b})", "({a} @ {b})"])
        if shape == (1,) and self.chance(0.3):
            # a float operand of np.dot
            s = self.squash(self.fexpr(depth), 10)
            return E(f"np.sum(np.dot({a.code}, {s.code}))", F, a.b * s.b)
        return E(form.format(a=a.code, b=b.code), F, a.b * b.b * shape[0])

    # ------------------------------------------------------------------ statements
    def assign_float(self, depth: int):
        """Assign a float: a new name, an overwrite, or an in-loop carried update."""
        frozen = self.frozen()
        floats = [v for v in self.vars_of(F) if v.name not in frozen]
        e = self.fexpr(depth)
        if floats and self.chance(0.45):
            v = self.choose(floats)
            self.update_float(v, e)
            return
        name = self.fresh("v")
        self.types[name] = F
        e = self.squash(e, 1e4)
        self.emit(f"{name} = {e.code}")
        self.scope.values[name] = Var(name, F, max(1.0, e.b))

    def carried(self, v: Var) -> bool:
        """Is `v` assigned before the innermost loop (so its bound must hold across trips)?"""
        return self.in_loop() and v.name in self.loop_entry_names[-1]

    def update_float(self, v: Var, e: E):
        if self.carried(v) or any(v.name in names for names in self.loop_entry_names):
            # keep |v| <= its bound at loop entry
            kind = self.rng.randrange(5)
            if kind == 0:
                c = self.choose([0.5, 0.9, -0.5, 0.8])
                t = self.squash(e, (1 - abs(c)) * v.b)
                if t.b > (1 - abs(c)) * v.b:
                    t = E(f"({fmt((1 - abs(c)) * 0.9)} * math.tanh({t.code}))", F, (1 - abs(c)) * 0.9)
                self.emit(f"{v.name} = {fmt(c)} * {v.name} + {t.code}")
            elif kind == 1:
                fn = self.choose(["math.sin", "math.tanh", "math.cos", "np.tanh"])
                self.emit(f"{v.name} = {fn}({v.name} * {self.squash(e, 3).code})")
            elif kind == 2:
                fn = self.choose(["math.cos", "math.tanh", "math.sin"])
                if self.chance(0.5):
                    self.emit(f"{v.name} *= {fn}({e.code})")
                else:
                    self.emit(f"{v.name} = {v.name} * (0.5 + 0.5 * math.tanh({e.code}))")
            elif kind == 3:
                t = self.squash(e, 1.0)
                if t.b > 1.0:
                    t = E(f"math.tanh({t.code})", F, 1.0)
                self.emit(f"{v.name} = {t.code}")
            else:
                self.emit(f"{v.name} = math.atan({v.name} + {self.squash(e, 3).code})")
            return
        kind = self.rng.randrange(6)
        e = self.squash(e, 1e3)
        if kind == 0:
            op = self.choose(["+=", "-="])
            self.emit(f"{v.name} {op} {e.code}")
            v.b = v.b + e.b
        elif kind == 1:
            e = self.squash(e, 10)
            self.emit(f"{v.name} *= {e.code}")
            v.b = max(1.0, v.b * e.b)
        elif kind == 2:
            p = self.positive(1)
            self.emit(f"{v.name} /= {p.code}")
            v.b = max(1.0, v.b / p.lo)
        elif kind == 3:
            e2 = self.squash(self.fexpr(1), 10)
            self.emit(f"{v.name} = {v.name} * {e2.code} + {e.code}")
            v.b = max(1.0, v.b * e2.b + e.b)
        else:
            self.emit(f"{v.name} = {e.code}")
            v.b = max(1.0, e.b)
        if v.b > 1e4:
            self.emit(f"{v.name} = math.tanh({v.name})")
            v.b = 1.0

    def assign_tuple(self, depth: int):
        frozen = self.frozen()
        floats = [v for v in self.vars_of(F) if v.name not in frozen]
        if len(floats) >= 2 and self.chance(0.5):
            a, b = self.rng.sample(floats, 2)
            if a.b == b.b or not (self.carried(a) or self.carried(b)):
                if self.in_loop() and (self.carried(a) or self.carried(b)):
                    bound = min(a.b, b.b)
                    t = self.squash(self.fexpr(depth), bound * 0.45)
                    if t.b > bound * 0.45:
                        t = E(f"({fmt(bound * 0.4)} * math.tanh({t.code}))", F, bound * 0.4)
                    self.emit(f"{a.name}, {b.name} = {b.name} * 0.5, {a.name} * 0.5 + {t.code}")
                else:
                    t = self.squash(self.fexpr(depth), 1e3)
                    self.emit(f"{a.name}, {b.name} = {b.name}, {a.name} + {t.code}")
                    a.b, b.b = b.b, a.b + t.b
                return
        n1, n2 = self.fresh("v"), self.fresh("v")
        e1, e2 = self.squash(self.fexpr(depth), 1e3), self.squash(self.fexpr(depth), 1e3)
        self.types[n1] = self.types[n2] = F
        self.emit(f"{n1}, {n2} = {e1.code}, {e2.code}")
        self.scope.values[n1] = Var(n1, F, max(1.0, e1.b))
        self.scope.values[n2] = Var(n2, F, max(1.0, e2.b))

    def assign_int(self):
        frozen = self.frozen()
        ints = [v for v in self.vars_of(I) if v.name not in frozen and not v.name.startswith("i")]
        code, lo, hi = self.iexpr()
        if ints and self.chance(0.5):
            v = self.choose(ints)
            if self.in_loop() and any(v.name in names for names in self.loop_entry_names):
                if self.chance(0.5):
                    # a bound changed in the body: n = n - 1
                    code, lo, hi = f"{v.name} - 1", v.lo - 1, v.hi - 1
                code, lo, hi = self.clamp_int(code, lo, hi, v.lo, v.hi)
            else:
                code, lo, hi = self.clamp_int(code, lo, hi, -6, 8)
                v.lo, v.hi = lo, hi
            self.emit(f"{v.name} = {code}")
            return
        code, lo, hi = self.clamp_int(code, lo, hi, -6, 8)
        name = self.fresh("k")
        self.types[name] = I
        self.emit(f"{name} = {code}")
        self.scope.values[name] = Var(name, I, lo=lo, hi=hi)

    # ------------------------------------------------------------------ control flow
    def block(self, count: int, depth: int) -> bool:
        """Emit `count` statements; True when the block surely leaves (return/break/continue)."""
        for _ in range(count):
            if self.statement(depth):
                return True
        return False

    def statement(self, depth: int) -> bool:
        control = self.kind in ("control", "arrays") and not self.in_helper
        nest = len(self.loops)
        arrays = self.kind == "arrays" and not self.in_helper
        table = [
            (5, "float"), (1, "tuple"), (1 if self.kind != "scalar" or self.vars_of(I) else 0.3, "int"),
            (2.5 if control and depth > 0 else (0.8 if depth > 0 and self.kind == "scalar" else 0), "if"),
            (2.2 if control and depth > 0 and self.trips_total() < 20 else 0, "for"),
            (0.8 if control and depth > 0 and self.trips_total() < 20 else 0, "while"),
            (0.6 if control and self.in_loop() else 0, "break"),
            (0.6 if control and self.in_loop() else 0, "continue"),
            (0.5 if control and self.allow_returns and (self.in_loop() or self.in_branch) else 0, "return"),
        ]
        if arrays:
            table += [(4, "array"), (2, "local"), (2.5 if self.local_arrays() else 0, "store"),
                      (0.6 if self.local_arrays() else 0, "alias"), (0.5, "template")]
        what = self.weighted(table)
        if what == "float":
            self.assign_float(2 if depth > 0 else 1)
        elif what == "tuple":
            self.assign_tuple(1)
        elif what == "int":
            self.assign_int()
        elif what == "if":
            return self.if_statement(depth)
        elif what == "for":
            self.for_statement(depth)
        elif what == "while":
            self.while_statement(depth)
        elif what in ("break", "continue"):
            self.emit(f"if {self.cond(1)}:")
            self.indent += 1
            self.emit(what)
            self.indent -= 1
        elif what == "return":
            self.emit(f"if {self.cond(1)}:")
            self.indent += 1
            self.emit(f"return {self.squash(self.fexpr(2), 1e4).code}")
            self.indent -= 1
        elif what == "array":
            self.assign_array(2)
        elif what == "local":
            self.make_local_array()
        elif what == "store":
            self.store()
        elif what == "alias":
            self.alias()
        elif what == "template":
            self.template()
        return False

    in_branch = False

    def if_statement(self, depth: int) -> bool:
        before = self.scope
        branches = []
        arms = 1 + (self.rng.random() < 0.5) + (self.rng.random() < 0.2)
        has_else = self.chance(0.6)
        was_in_branch = self.in_branch
        self.in_branch = True
        for arm in range(arms):
            keyword = "if" if arm == 0 else "elif"
            self.scope = before.copy()
            self.emit(f"{keyword} {self.cond(2)}:")
            self.indent += 1
            leaves = self.block(self.rng.randint(1, 2), depth - 1)
            self.indent -= 1
            branches.append((self.scope, leaves))
        if has_else:
            self.scope = before.copy()
            self.emit("else:")
            self.indent += 1
            leaves = self.block(self.rng.randint(1, 2), depth - 1)
            self.indent -= 1
            branches.append((self.scope, leaves))
        else:
            branches.append((before.copy(), False))
        self.in_branch = was_in_branch
        self.scope = self.join([s for s, leaves in branches if not leaves] or [before])
        return all(leaves for _, leaves in branches)

    def join(self, scopes: list[Scope]) -> Scope:
        """Names assigned on every path, with the weakest facts."""
        first = scopes[0]
        out = Scope()
        for name, v in first.values.items():
            if all(name in s.values for s in scopes):
                merged = Var(**vars(v))
                for s in scopes[1:]:
                    w = s.values[name]
                    merged.b = max(merged.b, w.b)
                    if merged.t == I:
                        merged.lo, merged.hi = min(merged.lo, w.lo), max(merged.hi, w.hi)
                    merged.local_array = merged.local_array and w.local_array
                out.values[name] = merged
        return out

    def range_args(self) -> tuple[str, int, int, int]:
        """Source of range(...) arguments, the trip bound and the index interval."""
        ints = [v for v in self.vars_of(I) if v.hi - v.lo <= 12]
        kind = self.rng.randrange(7)
        pick = (lambda: self.choose(ints)) if ints else None
        if kind <= 1 or pick is None:
            if pick is not None and self.chance(0.7):
                v = pick()
                code, lo, hi = self.clamp_int(v.name, v.lo, v.hi, -2, 6)
                return code, max(0, hi), 0, max(0, hi - 1)
            c = self.rng.randint(0, 4)
            return str(c), c, 0, max(0, c - 1)
        if kind == 2:
            v = pick()
            code, lo, hi = self.clamp_int(v.name, v.lo, v.hi, -2, 6)
            a = self.rng.randint(-1, 2)
            return f"{a}, {code}", max(0, hi - a), a, max(a, hi - 1)
        if kind == 3:
            v = pick()
            code, lo, hi = self.clamp_int(v.name, v.lo, v.hi, -2, 6)
            step = self.rng.randint(2, 3)
            return f"0, {code}, {step}", max(0, (hi + step - 1) // step), 0, max(0, hi - 1)
        if kind == 4:
            # negative step, counting down to zero (or below)
            v = pick()
            code, lo, hi = self.clamp_int(v.name, v.lo, v.hi, -2, 6)
            stop = self.choose([-1, 0, 1])
            return f"{code}, {stop}, -1", max(0, hi - stop), min(stop + 1, lo), max(hi, stop + 1)
        if kind == 5:
            v = pick()
            code, lo, hi = self.clamp_int(v.name, v.lo, v.hi, -2, 6)
            return f"{code} - 1, -1, -1", max(0, hi), -1, max(0, hi - 1)
        v, w = pick(), pick()
        c1, lo1, hi1 = self.clamp_int(v.name, v.lo, v.hi, -2, 6)
        c2, lo2, hi2 = self.clamp_int(w.name, w.lo, w.hi, -2, 6)
        return f"{c1}, {c2}", max(0, hi2 - lo1), min(lo1, 0), max(hi2 - 1, 0)

    loop_entry_names: list

    def for_statement(self, depth: int):
        index = self.choose(["i", "j", "l"]) if self.chance(0.8) else self.fresh("i")
        while index in self.frozen():
            index = self.fresh("i")
        if self.types.get(index, I) != I:
            index = self.fresh("i")
        arrays = self.kind == "arrays"
        vec_lengths = [v.t[0] for v in self.array_vars() if len(v.t) == 1]
        if arrays and vec_lengths and self.chance(0.5):
            L = self.choose(vec_lengths)
            holder = [v for v in self.array_vars() if v.t == (L,)][0]
            code = self.choose([f"{holder.name}.shape[0]", str(L)])
            if self.chance(0.3) and L > 1:
                code, trips, lo, hi = f"1, {code}", L - 1, 1, L - 1
            else:
                trips, lo, hi = L, 0, L - 1
            lo, hi = min(lo, hi), max(lo, hi)
        else:
            code, trips, lo, hi = self.range_args()
        if self.trips_total() * max(1, trips) > self.MAX_TRIPS:
            code, trips, lo, hi = "2", 2, 0, 1
        pre = None
        if self.chance(0.35) and index not in self.scope.values:
            pre = self.rng.randint(-1, 3)
            self.types[index] = I
            self.emit(f"{index} = {pre}")
            self.scope.values[index] = Var(index, I, lo=pre, hi=pre)
        acc = None
        if self.chance(0.5):
            acc = self.fresh("s")
            self.types[acc] = F
            init = self.choose(["0.0", "1.0", "0.5"])
            self.emit(f"{acc} = {init}")
            self.scope.values[acc] = Var(acc, F, 1.0 + 2.0 * max(1, trips))
        self.types[index] = I
        self.emit(f"for {index} in range({code}):")
        self.body_of_loop(Loop("for", trips, frozen=(index,), accumulators=(acc,) if acc else ()),
                          depth, index_var=Var(index, I, lo=min(lo, hi), hi=max(lo, hi)))
        if pre is not None:
            v = self.scope.values.get(index)
            if v is not None:
                v.lo, v.hi = min(pre, lo), max(pre, hi)

    def body_of_loop(self, loop: Loop, depth: int, index_var: Var | None = None, first_line: str | None = None):
        before = self.scope
        self.scope = before.copy()
        self.loops.append(loop)
        self.loop_entry_names.append(set(before.values))
        self.indent += 1
        if first_line:
            self.emit(first_line)
        if index_var is not None:
            self.scope.values[index_var.name] = index_var
        # accumulators: added into at the body's top level, at most twice
        leaves = False
        count = self.rng.randint(1, 3)
        acc_updates = 0
        for k in range(count):
            if loop.accumulators and acc_updates < 2 and self.chance(0.45):
                acc = loop.accumulators[0]
                t = self.squash(self.fexpr(2), 1.0)
                if t.b > 1.0:
                    t = E(f"math.tanh({t.code})", F, 1.0)
                self.emit(f"{acc} += {t.code}" if self.chance(0.5) else f"{acc} = {acc} + {t.code}")
                acc_updates += 1
                continue
            if self.statement(depth - 1):
                leaves = True
                break
        if loop.accumulators and acc_updates == 0 and not leaves:
            acc = loop.accumulators[0]
            t = self.squash(self.fexpr(1), 1.0)
            if t.b > 1.0:
                t = E(f"math.tanh({t.code})", F, 1.0)
            self.emit(f"{acc} = {acc} + {t.code}")
        self.indent -= 1
        self.loops.pop()
        self.loop_entry_names.pop()
        # after the loop: only what was assigned before it (a zero-trip loop defines nothing)
        after = Scope()
        for name, v in before.values.items():
            now = self.scope.values.get(name, v)
            merged = Var(**vars(v))
            if v.t == I and now.t == I:
                merged.lo, merged.hi = min(v.lo, now.lo), max(v.hi, now.hi)
            merged.b = max(v.b, now.b)
            after.values[name] = merged
        self.scope = after

    def while_statement(self, depth: int):
        kind = self.rng.randrange(2)
        if kind == 0:
            counter = self.fresh("c")
            self.types[counter] = I
            ints = [v for v in self.vars_of(I) if v.hi <= 8 and v.lo >= -4]
            if ints and self.chance(0.6):
                limit = self.choose(ints)
                limit_code, bound = limit.name, max(0, limit.hi)
                frozen = (counter, limit.name)
            else:
                bound = self.rng.randint(0, 4)
                limit_code, frozen = str(bound), (counter,)
            if self.trips_total() * max(1, bound) > self.MAX_TRIPS:
                limit_code, bound, frozen = "2", 2, (counter,)
            self.emit(f"{counter} = 0")
            self.scope.values[counter] = Var(counter, I, lo=0, hi=max(0, bound))
            extra = f" and {self.cond(1)}" if self.chance(0.4) else ""
            self.emit(f"while {counter} < {limit_code}{extra}:")
            # the guard's float names are frozen too
            names = tuple(n for n in _names_in(extra) if n in self.scope.values)
            self.body_of_loop(Loop("while", bound, frozen=frozen + names), depth,
                              first_line=f"{counter} += 1" if self.chance(0.5) else f"{counter} = {counter} + 1")
        else:
            t = self.fresh("t")
            self.types[t] = F
            limit = self.squash(self.fexpr(1), 2.0)
            limit_code = f"1.0 + {limit.code} * {limit.code}" if self.chance(0.5) else f"2.0 + {limit.code}"
            bound = 10
            if self.trips_total() * bound > self.MAX_TRIPS:
                limit_code, bound = "1.0", 2
            self.emit(f"{t} = 0.0")
            self.scope.values[t] = Var(t, F, 1.0 + 5.0)
            self.emit(f"while {t} < {limit_code}:")
            step = self.squash(self.fexpr(1), 1.0)
            names = tuple(n for n in _names_in(limit_code) if n in self.scope.values)
            self.body_of_loop(Loop("while", bound, frozen=(t,) + names), depth,
                              first_line=f"{t} = {t} + 0.5 + {step.code} * {step.code}")

    # ------------------------------------------------------------------ array statements
    def local_arrays(self) -> list[Var]:
        frozen = self.frozen()
        return [v for v in self.array_vars() if v.local_array and v.name not in frozen]

    def assign_array(self, depth: int):
        shape = self.choose(self.shape_pool())
        e = self.squash(self.aexpr(shape, depth), 1e3)
        frozen = self.frozen()
        same = [v for v in self.array_vars(shape) if v.name not in frozen and not v.name[0].isupper()
                and v.name not in self.params_set]
        if same and self.chance(0.4) and e.code not in self.params_set:
            v = self.choose(same)
            entry = any(v.name in names for names in self.loop_entry_names)
            if entry:
                # carried: keep the bound; a recurrence h = tanh(W @ h + x)
                self.emit(f"{v.name} = np.tanh({e.code})")
                e = E("", shape, 1.0)
            else:
                self.emit(f"{v.name} = {e.code}")
                v.b = max(1.0, e.b)
            v.local_array = False         # a fresh array now: not the one made by zeros (simpler)
            return
        name = self.fresh("q" if len(shape) == 1 else "Q")
        self.types[name] = shape
        self.emit(f"{name} = {e.code}")
        self.scope.values[name] = Var(name, shape, max(1.0, e.b))

    def make_local_array(self):
        shape = self.choose(self.shape_pool())
        name = self.fresh("y" if len(shape) == 1 else "Z")
        like = [v for v in self.array_vars(shape)]
        kind = self.rng.randrange(5)
        if kind == 0 and like:
            code = f"np.zeros_like({self.choose(like).name})"
        elif kind == 1 and like:
            code = f"np.ones_like({self.choose(like).name})"
        elif kind == 2 and like:
            code = f"{self.choose(like).name}.copy()"
        elif len(shape) == 1:
            code = f"np.{self.choose(['zeros', 'ones'])}({shape[0]})"
        else:
            code = f"np.{self.choose(['zeros', 'zeros', 'ones'])}(({shape[0]}, {shape[1]}))"
        self.types[name] = shape
        self.emit(f"{name} = {code}")
        b = 3.0
        if code.endswith(".copy()"):
            b = max(b, self.scope.values[code[:-7]].b)
        self.scope.values[name] = Var(name, shape, b, local_array=True)

    def store(self):
        v = self.choose(self.local_arrays())
        shape = v.t
        bound = v.b
        kind = self.rng.randrange(4)
        in_loop = self.in_loop()

        def value(limit):
            e = self.fexpr(2)
            e = self.squash(e, limit)
            if e.b > limit:
                e = E(f"math.tanh({e.code})", F, 1.0)
            return e
        if len(shape) == 1:
            n = shape[0]
            if kind <= 1:
                idx = self.index_code(n)
                if kind == 1 and not in_loop:
                    e = value(1.0)
                    self.emit(f"{v.name}[{idx}] += {e.code}")
                    v.b = bound + e.b
                else:
                    e = value(min(bound, 1.0))
                    self.emit(f"{v.name}[{idx}] = {e.code}")
                return
            if n >= 2 or kind == 2:
                a = self.rng.randint(0, n - 1)
                b = self.rng.randint(a + 1, n)
                sub = self.aexpr((b - a,), 2)
                sub = self.squash(sub, 1.0)
                if sub.b > 1.0:
                    sub = E(f"np.tanh({sub.code})", sub.t, 1.0)
                spelled = f"{v.name}[{a}:{b}]" if b < n or self.chance(0.5) else f"{v.name}[{a}:]"
                if self.chance(0.3) and not in_loop:
                    self.emit(f"{spelled} += {sub.code}")
                    v.b = bound + 1.0
                else:
                    self.emit(f"{spelled} = {sub.code}")
                return
            e = value(1.0)
            self.emit(f"{v.name}[0] = {e.code}")
            return
        r, c = shape
        if kind <= 1:
            row = self.aexpr((c,), 2)
            row = self.squash(row, 1.0)
            if row.b > 1.0:
                row = E(f"np.tanh({row.code})", row.t, 1.0)
            idx = self.index_code(r)
            if kind == 1 and not in_loop:
                self.emit(f"{v.name}[{idx}] += {row.code}")
                v.b = bound + 1.0
            else:
                self.emit(f"{v.name}[{idx}] = {row.code}")
            return
        e = value(1.0)
        self.emit(f"{v.name}[{self.index_code(r)}, {self.index_code(c)}] = {e.code}")

    def alias(self):
        v = self.choose(self.local_arrays())
        if self.chance(0.5):
            name = self.fresh("w")
            self.types[name] = v.t
            self.emit(f"{name} = {v.name}")
            self.scope.values[name] = Var(name, v.t, v.b, local_array=True)
            # store through the alias now, read the original later
            e = self.squash(self.fexpr(1), 1.0)
            if e.b > 1.0:
                e = E(f"math.tanh({e.code})", F, 1.0)
            idx = self.index_code(v.t[0])
            self.emit(f"{name}[{idx}] = {e.code}" if len(v.t) == 1 else
                      f"{name}[{idx}, {self.index_code(v.t[1])}] = {e.code}")
        else:
            name = self.fresh("w")
            self.types[name] = v.t
            self.emit(f"{name} = {v.name}.copy()")
            self.scope.values[name] = Var(name, v.t, v.b, local_array=True)

    def template(self):
        """Common numerical shapes: softmax, logsumexp, layer norm, a recurrence."""
        vecs = [s for s in self.shape_pool() if len(s) == 1]
        shape = self.choose(vecs) if vecs else self.choose(self.shape_pool())
        z = self.squash(self.aexpr(shape, 1), 5.0)
        kind = self.rng.randrange(4)
        e, p = self.fresh("e"), self.fresh("p")
        self.types[e] = self.types[p] = shape
        if kind == 0:
            m = self.choose(["np.max", "stop_gradient(np.max"])
            close = ")" if m.startswith("stop") else ""
            self.emit(f"{e} = np.exp({z.code} - {m}({z.code}){close})")
            self.emit(f"{p} = {e} / np.sum({e})")
            self.scope.values[e] = Var(e, shape, 1.0)
            self.scope.values[p] = Var(p, shape, 1.0)
        elif kind == 1:
            self.emit(f"{e} = np.exp({z.code})")
            self.emit(f"{p} = {e} * np.sum({e})")
            self.scope.values[e] = Var(e, shape, math.exp(5.0))
            self.scope.values[p] = Var(p, shape, 1e4)
        elif kind == 2:
            self.emit(f"{e} = {z.code} - np.mean({z.code})")
            self.emit(f"{p} = {e} / np.sqrt(np.mean({e} * {e}) + 0.1)")
            self.scope.values[e] = Var(e, shape, 10.0)
            self.scope.values[p] = Var(p, shape, 10.0 * math.sqrt(_size(shape)) + 1)
        else:
            s = self.fresh("v")
            self.types[s] = F
            self.emit(f"{e} = {z.code}")
            self.emit(f"{s} = np.log(np.sum(np.exp({e} - np.max({e})))) + np.max({e})")
            self.scope.values[e] = Var(e, shape, 5.0)
            self.scope.values[s] = Var(s, F, 10.0)

    # ------------------------------------------------------------------ functions
    def helper(self, k: int):
        name = f"h{k}"
        arrays = self.kind == "arrays" and self.array_shapes and self.chance(0.4)
        nparams = self.rng.randint(1, 3)
        params = []
        for p in range(nparams):
            pname = "abc"[p]
            if arrays and p == 0:
                params.append((pname, self.choose(self.array_shapes)))
            else:
                params.append((pname, F))
        defaults = {}
        for pname, t in reversed(params[1:]):
            if t == F and self.chance(0.5):
                defaults[pname] = fmt(self.choose(SAFE_FLOATS))
            else:
                break
        self.scope = Scope()
        self.types = {}
        self.in_helper = True
        for pname, t in params:
            self.types[pname] = t
            self.scope.values[pname] = Var(pname, t, 2.0)
        sig = ", ".join(p + (f"={defaults[p]}" if p in defaults else "") for p, _ in params)
        self.lines = [f"def {name}({sig}):"]
        self.indent = 1
        saved_kind = self.kind
        if arrays:
            self.kind = "scalar"
            a = params[0]
            e = self.fresh("v")
            fn = self.choose(["np.tanh", "np.sin", "np.cos"])
            rest = [p for p, t in params[1:]]
            scale = rest[0] if rest else "0.5"
            self.emit(f"{e} = np.sum({fn}({a[0]}) * {scale})")
            self.scope.values[e] = Var(e, F, 2.0 * _size(a[1]) * 2)
            self.types[e] = F
        self.block(self.rng.randint(0, 2), 1)
        ret = self.squash(self.fexpr(2), 1e3)
        self.emit(f"return {ret.code}")
        self.kind = saved_kind
        self.in_helper = False
        self.helpers.append(Helper(name, params, defaults, max(1.0, ret.b)))
        return "\n".join(self.lines)

    def module_constant(self):
        name = f"K{len(self.constants)}"
        value = self.choose(SAFE_FLOATS) * self.choose([1, -1, 2])
        self.constants.append((name, fmt(value)))
        self.constant_values[name] = Var(name, F, abs(value))

    # ------------------------------------------------------------------ the program
    def program(self, seed: int, index: int) -> Program:
        rng = self.rng
        kind = self.kind
        self.loop_entry_names = []
        # parameters and their values
        params: list[tuple[str, object]] = []
        values: list = []
        nfloat = rng.randint(1, 3)
        for name in ["x", "y", "z"][:nfloat]:
            params.append((name, F))
            values.append(_point(rng))
        nint = 0 if kind == "scalar" and rng.random() < 0.7 else rng.randint(1, 2)
        for name in ["n", "m"][:nint]:
            params.append((name, I))
            values.append(rng.choice([0, 1, 2, 3, 4, -1, 2, 3]))
        if kind == "arrays":
            shapes = []
            n = rng.randint(1, 4)
            m = rng.randint(1, 3)
            specs = [("u", (n,))]
            if rng.random() < 0.5:
                specs.append(("v", (n,)))
            if rng.random() < 0.8:
                specs.append(("A", (m, n)))
            if rng.random() < 0.3:
                specs.append(("B", (n, rng.randint(1, 3))))
            if rng.random() < 0.3:
                specs.append(("c", (1,)))
            if rng.random() < 0.2:
                specs.append(("C", (m, 1)))
            if rng.random() < 0.3:
                specs.append(("w", (m,)))
            if rng.random() < 0.3 and n > 1:
                specs.append(("r", (n + rng.randint(1, 2),)))
            order = list(specs)
            rng.shuffle(order)
            for name, shape in order:
                params.append((name, shape))
                values.append(_array(rng, shape))
                shapes.append(shape)
            self.array_shapes = []
            for s in shapes:
                if s not in self.array_shapes:
                    self.array_shapes.append(s)
            # derived shapes the expressions can reach
            for s in list(self.array_shapes):
                if len(s) == 2 and (s[1], s[0]) not in self.array_shapes and rng.random() < 0.5:
                    self.array_shapes.append((s[1], s[0]))
                if len(s) == 2 and (s[0],) not in self.array_shapes:
                    self.array_shapes.append((s[0],))
        # put scalar parameters in a random order among the arrays
        order = list(range(len(params)))
        rng.shuffle(order)
        params = [params[k] for k in order]
        values = [values[k] for k in order]
        self.params_set = {p for p, _ in params}

        for _ in range(rng.choice([0, 0, 1, 2])):
            self.module_constant()
        helper_sources = []
        for k in range(rng.choice([0, 0, 1, 1, 2])):
            self.loop_entry_names = []
            helper_sources.append(self.helper(k))

        # the main function
        self.scope = Scope()
        self.types = {}
        for (name, t), value in zip(params, values):
            self.types[name] = t
            if t == I:
                self.scope.values[name] = Var(name, I, lo=value, hi=value)
            elif t == F:
                self.scope.values[name] = Var(name, F, 2.0)
            else:
                self.scope.values[name] = Var(name, t, 1.5)
        defaults = {}
        if rng.random() < 0.15 and params[-1][1] == F:
            defaults[params[-1][0]] = fmt(self.choose(SAFE_FLOATS))
        self.lines = ["def f(" + ", ".join(p + (f"={defaults[p]}" if p in defaults else "")
                                             for p, _ in params) + "):"]
        self.indent = 1
        self.loops = []
        self.loop_entry_names = []
        count = {"scalar": (2, 7), "control": (2, 5), "arrays": (2, 5)}[kind]
        depth = 1 if kind == "scalar" else (3 if rng.random() < 0.3 else 2)
        leaves = self.block(rng.randint(*count), depth)
        if not leaves:
            ret = self.final_return()
            self.emit(f"return {ret}")
        body = "\n".join(self.lines)

        parts = [HEADER]
        if self.constants:
            parts.append("\n".join(f"{n} = {v}" for n, v in self.constants) + "\n")
        for h in helper_sources:
            parts.append("\n" + h + "\n")
        parts.append("\n" + body + "\n")
        source = _normalise("\n".join(parts))

        # wrt: float parameters (scalars and arrays), by name or index, single or a tuple
        candidates = [k for k, (p, t) in enumerate(params) if t != I]
        count = 1 if rng.random() < 0.5 else rng.randint(1, len(candidates))
        chosen = sorted(rng.sample(candidates, count)) if rng.random() < 0.7 else rng.sample(candidates, count)
        spell = rng.random()
        items = tuple(params[k][0] if spell < 0.5 else k for k in chosen)
        if count == 1 and rng.random() < 0.6:
            wrt = items[0]
        else:
            wrt = items
        args = tuple(values)
        return Program(kind, seed, index, source, "f", args, wrt, tuple(p for p, _ in params))

    def final_return(self) -> str:
        """A float combining the live values, so that most of the work reaches the result."""
        terms = []
        floats = self.vars_of(F)
        picked = self.rng.sample(floats, min(len(floats), 4)) if floats else []
        for v in picked:
            terms.append(self.squash(E(v.name, F, v.b), 100).code)
        if self.kind == "arrays":
            arrays = self.array_vars()
            for v in self.rng.sample(arrays, min(len(arrays), 3)):
                fn = self.choose(["np.sum", "np.mean", "np.sum"])
                inner = v.name if self.chance(0.5) else f"{v.name} * {v.name}"
                terms.append(f"{fn}({inner})")
        if not terms or self.chance(0.3):
            terms.append(self.squash(self.fexpr(2), 1e3).code)
        return " + ".join(terms)


def _names_in(code: str) -> list[str]:
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return []
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]


def _is_name(code: str) -> bool:
    return code.isidentifier()


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _point(rng: random.Random) -> float:
    """A random double away from the small integers and halves the constants use."""
    while True:
        x = rng.uniform(-2.0, 2.0)
        if abs(x * 4 - round(x * 4)) > 0.02:
            return x


def _array(rng: random.Random, shape) -> np.ndarray:
    n = _size(shape)
    values = []
    while len(values) < n:
        x = round(rng.uniform(-1.5, 1.5), 6)
        if abs(x * 4 - round(x * 4)) > 0.02 and all(abs(x - y) > 0.05 for y in values):
            values.append(x)
    return np.array(values, dtype=np.float64).reshape(shape)


def _normalise(source: str) -> str:
    """Canonical formatting via `ast.unparse` (minimal parentheses, deterministic)."""
    tree = ast.parse(source)
    out = []
    for node in tree.body:
        text = ast.unparse(node)
        if isinstance(node, ast.FunctionDef) and out:
            out.append("")
        out.append(text)
        if isinstance(node, ast.FunctionDef):
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def generate(kind: str, seed: int, index: int) -> Program:
    """Program number `index` of `kind` for `seed`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    rng = random.Random(f"autodiff-fuzz:{kind}:{seed}:{index}")
    return Generator(kind, rng).program(seed, index)
