"""Generator: seeded random programs inside the documented language, with arguments and `wrt`.

Takes: a kind (`scalar`, `control`, `arrays`, `rows`), a seed and an index.
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
  loops with array code), `rows` (matrices worked on row by row, softmax and
  log-sum-exp, between statements that end such a run: `gen_rows.py`);
* argument values are random doubles (scalars in about [-2, 2], array entries
  distinct), int parameters small (including zero and negative trip counts),
  and `wrt` is one or several float parameters, given by name or index, single
  or as a tuple.  Points at kinks are left to the oracle to detect.
"""
from __future__ import annotations

import random

from .program import F, I, INTS, E, HEADER, Helper, ALL_KINDS, KINDS, Loop, Program, SAFE_FLOATS, Scope, Var, _array, _int_array, _names_in, _normalise, _point, broadcast, fmt, format_value, is_array  # noqa: F401 (KINDS, Program, format_value: re-exported)
from .gen_arrays import ArrayExpressions
from .gen_rows import RowPrograms
from .gen_scalars import ScalarExpressions
from .gen_statements import Statements



class Generator(ScalarExpressions, ArrayExpressions, RowPrograms, Statements):
    """Builds one program; see the module docstring for what it guarantees."""

    MAX_TRIPS = 60            # bound on the total iterations of a loop nest

    def __init__(self, kind: str, rng: random.Random, raising: bool = False):
        self.kind = kind
        self.rng = rng
        self.raising = raising          # kind "raising": values may leave a function's domain (`gen_scalars`)
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
        self.int_data: dict = {}                    # int data parameter -> its shape (kind arrays)
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
        nint = 0 if kind == "rows" or (kind == "scalar" and rng.random() < 0.7) else rng.randint(1, 2)
        for name in ["n", "m"][:nint]:
            params.append((name, I))
            values.append(rng.choice([0, 1, 2, 3, 4, -1, 2, 3]))
        if kind in ("arrays", "rows"):
            shapes = []
            specs = self.arrays_parameters() if kind == "arrays" else self.rows_parameters()
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
        int_params = self.int_data_parameters(seed, index, params, values)
        self.params_set = {p for p, _ in params}

        for _ in range(rng.choice([0, 0, 1, 2])):
            self.module_constant()
        helper_sources = []
        if kind == "rows":
            helper_sources += self.rows_helpers()
        else:
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
            elif t == INTS:
                self.scope.values[name] = Var(name, INTS, 3.0)
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
        if kind == "rows":
            self.rows_body()
            leaves = True
        else:
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
        candidates = [k for k, (p, t) in enumerate(params) if t not in (I, INTS) and p not in int_params]
        count = 1 if rng.random() < 0.5 else rng.randint(1, len(candidates))
        chosen = sorted(rng.sample(candidates, count)) if rng.random() < 0.7 else rng.sample(candidates, count)
        if kind == "rows" and rng.random() < 0.75:
            # the matrix the rows are of: most row statements are active then
            matrix = next(k for k, (p, _) in enumerate(params) if p == "Z")
            chosen = chosen if matrix in chosen else [matrix] + chosen[1:]
        spell = rng.random()
        items = tuple(params[k][0] if spell < 0.5 else k for k in chosen)
        if count == 1 and rng.random() < 0.6:
            wrt = items[0]
        else:
            wrt = items
        args = tuple(values)
        return Program(kind, seed, index, source, "f", args, wrt, tuple(p for p, _ in params))

    def int_data_parameters(self, seed: int, index: int, params: list, values: list) -> set:
        """Int data, drawn from a random stream of its own, so that a program without it is the one the
        generator made before it had int data.  `arrays`: now and then an int64 array `K` (counts in
        [-2, 3]) of a float array's shape, or a matrix whose product with `u` is defined, placed among
        the parameters.  `rows`: now and then the target `Y` as int one-hot labels.  Fills
        `self.int_data` (name -> shape of the `arrays` parameter) and returns the names no `wrt` may
        name; `params` and `values` are changed in place."""
        self.int_data = {}
        if self.kind not in ("arrays", "rows"):
            return set()
        side = random.Random(f"autodiff-fuzz:int-data:{self.kind}:{seed}:{index}")
        if self.kind == "rows":
            where = [k for k, (p, _) in enumerate(params) if p == "Y"]
            if not where or side.random() >= 0.5:
                return set()
            values[where[0]] = _int_array(side, params[where[0]][1], one_hot=True)
            return {"Y"}
        if side.random() >= 0.4:
            return set()
        shapes = [t for _, t in params if is_array(t)]
        n = next(t[0] for p, t in params if p == "u")
        shape = side.choice(shapes + [(side.randint(1, 3), n)])
        at = side.randrange(len(params) + 1)
        params.insert(at, ("K", INTS))
        values.insert(at, _int_array(side, shape))
        self.int_data["K"] = shape
        return {"K"}

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
            terms += self.int_data_terms()
        if not terms or self.chance(0.3):
            terms.append(self.squash(self.fexpr(2), 1e3).code)
        return " + ".join(terms)

    def int_data_terms(self) -> list[str]:
        """Int data read by the result: np.sum(K * v) for a float array v it broadcasts to, and for a
        matrix K a layer's loss, np.sum(np.tanh(K @ v)) (logistic regression on int features)."""
        terms = []
        for name, shape in self.int_data.items():
            partners = [v for v in self.array_vars() if broadcast(shape, v.t) == v.t]
            if partners and self.chance(0.6):
                terms.append(f"np.sum({name} * {self.choose(partners).name})")
            inputs = [v for v in self.array_vars() if len(shape) == 2 and v.t == shape[1:]]
            if inputs and self.chance(0.6):
                terms.append(f"np.sum(np.{self.choose(['tanh', 'sin', 'arctan'])}({name} @ {self.choose(inputs).name}))")
        return terms


def generate(kind: str, seed: int, index: int) -> Program:
    """Program number `index` of `kind` for `seed`."""
    if kind not in ALL_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(ALL_KINDS)}")
    rng = random.Random(f"autodiff-fuzz:{kind}:{seed}:{index}")
    if kind == "raising":
        # arrays too: a divisor that is Python's zero on some runs and an element on others (MIXEDNUM)
        program = Generator(rng.choice(["scalar", "control", "arrays"]), rng, raising=True).program(seed, index)
        program.kind = kind
        return program
    return Generator(kind, rng).program(seed, index)
