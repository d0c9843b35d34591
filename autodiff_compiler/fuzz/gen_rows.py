"""Generator, rows: matrices worked on row by row, the way a softmax or a log-sum-exp is.

Takes: the generator's state, for kind `rows`.  Guarantees: a function of a
matrix `Z` (r rows and c columns, mostly both above 1, now and then one of them
1), some of a target `Y` of its shape (half the time int64 one-hot labels, which
every row statement may read as it reads a float matrix), a bias `b` (c,), a
column `C` (r, 1), a weight `W` (c, k), a recurrent weight `V` (c, c) and floats,
whose body is a straight run of 3-8 assignments:

* row statements: elementwise functions of matrices with columns, biases,
  matrices and floats broadcast in; sums, means, maxima and minima along axis 1
  or -1 keeping it; a row's maximum or minimum subtracted; `exp` of a shifted
  matrix and its ratio to its row sums; a log-softmax; a ratio to a positive
  column; `.copy()` and `stop_gradient`; an inlined array helper (a row
  softmax, a log-sum-exp with a keyword default);
* statements that end a run of row statements: a product with `W`, a sum along
  axis 0 used later as a bias, a column sliced out, an element read, a store
  into a copy, a loop over the rows, a recurrence `h = np.tanh(V @ h + M[i])`
  over them (whose adjoint sums an outer product into V's every trip), a name
  assigned again;
* a return reading the last value and some earlier ones (so that values the
  run makes are read after it).

Bounds as for `arrays`: every value stays finite, the argument of every `log`
and every divisor is at least 0.5 (a row sum of a shifted exponential is at
least 1).  This is the code `optimise.fuse_rows` turns into one loop over the
rows: the kind exists so that the fuzzer reaches that pass in most of its
compiled runs rather than in a few per thousand programs.
"""
from __future__ import annotations

import math

from .program import F, E, Var, _atom, _is_name, broadcast, fmt

# (template, bound of the value given the operand's bound b, lower bound > 0 or None); the operand is
# squashed to |x| <= 3 for the exponentials and to 10 for the rest first
_ROW_FUNCTIONS = (
    ("np.tanh({0})", lambda b: 1.0, None, 10.0),
    ("np.sin({0})", lambda b: 1.0, None, 10.0),
    ("np.cos({0})", lambda b: 1.0, None, 10.0),
    ("np.exp({0})", lambda b: math.exp(b), "exp", 3.0),
    ("np.expm1({0})", lambda b: math.exp(b), None, 3.0),
    ("np.log(1.0 + {0} * {0})", lambda b: math.log(1.0 + b * b), None, 10.0),
    ("np.log1p({0} * {0})", lambda b: math.log(1.0 + b * b), None, 10.0),
    ("np.sqrt({0} * {0} + 0.5)", lambda b: math.sqrt(b * b + 0.5), 0.7, 10.0),
    ("({0} * {0})", lambda b: b * b, None, 10.0),
    ("np.arctan({0})", lambda b: 1.6, None, 10.0),      # not a row form: ends a run
)

HELPERS = {
    "row_softmax": ("def row_softmax(M):\n"
                    "    e = np.exp(M - np.max(M, axis=1, keepdims=True))\n"
                    "    return e / np.sum(e, axis=1, keepdims=True)\n"),
    "row_lse": ("def row_lse(M, t=1.0):\n"
                "    m = np.max(M, axis=-1, keepdims=True)\n"
                "    return np.log(np.sum(np.exp((M - m) * t), axis=-1, keepdims=True)) + m\n"),
}


class RowPrograms:
    """Methods of `generate.Generator` for kind `rows`; see the module docstring."""

    def rows_parameters(self) -> list:
        rng = self.rng
        # a dimension of 1 is a class of its own for the shapes analysis (the pass then stays off): now and then
        r = rng.choice([2, 3, 4, 5, 2, 3, 4, 3, 2, 1])
        c = rng.choice([2, 3, 4, 5, 3, 2, 4, 3, 5, 1])
        specs = [("Z", (r, c))]
        if rng.random() < 0.5:
            specs.append(("Y", (r, c)))
        if rng.random() < 0.4:
            specs.append(("b", (c,)))
        if rng.random() < 0.3:
            specs.append(("C", (r, 1)))
        if rng.random() < 0.3:
            specs.append(("W", (c, rng.randint(2, 4))))
        if rng.random() < 0.4:
            specs.append(("V", (c, c)))
        return specs

    def rows_helpers(self) -> list[str]:
        """The array helpers the body may call (drawn before it)."""
        names = [name for name in HELPERS if self.chance(0.25)]
        self.row_helpers = names
        return [HELPERS[name] for name in names]

    def rows_body(self):
        self.row_lo: dict[str, float] = {}          # positive values: name -> lower bound of every entry
        self._locals_made = False
        table = [(5, "map"), (3, "softmax"), (2, "reduce"), (2, "shift"), (1.5, "logsoftmax"), (1, "ratio"),
                 (0.8, "copy"), (0.8 if self.row_helpers else 0, "helper"), (1.5, "interrupt"),
                 (0.6, "reassign")]
        for _ in range(self.rng.randint(3, 8)):
            getattr(self, "row_" + self.weighted(table))()
        self.emit(f"return {self.rows_return()}")

    # ------------------------------------------------------------------ values
    def _matrices(self, shape=None) -> list[Var]:
        return [v for v in self.array_vars() if len(v.t) == 2 and (shape is None or v.t == shape)]

    def _value(self, v: Var) -> E:
        return E(v.name, v.t, v.b, self.row_lo.get(v.name))

    def _matrix(self, limit: float = 20.0) -> E:
        """A recent matrix (a column now and then: row statements of a column are of little use), squashed
        to `limit`; the first statement reads `Z`, the matrix `wrt` names most often."""
        if not self._locals_made:
            chosen = self.scope.values["Z"]
        else:
            matrices = self._matrices()
            wide = [v for v in matrices if v.t[1] > 1]
            chosen = self.recent(wide if wide and self.chance(0.85) else matrices)
        return self.squash(self._value(chosen), limit)

    def _assign(self, e: E, name: str | None = None) -> str:
        name = name or self.fresh("M")
        self.emit(f"{name} = {e.code}")
        self._locals_made = True
        self.scope.values[name] = Var(name, e.t, e.b, local_array=True)
        self.types[name] = e.t
        if e.lo is not None and e.lo > 0:
            self.row_lo[name] = e.lo
        else:
            self.row_lo.pop(name, None)
        return name

    def _axis(self) -> str:
        return self.choose(["axis=1", "axis=-1", "axis=1"])

    def _operand(self, shape, besides: str = "") -> E | None:
        """Something that broadcasts into `shape` without changing it: a matrix, a column, a bias, a float
        (not the variable `besides`: `M - M` says little)."""
        options = [v for v in self.array_vars() if broadcast(shape, v.t) == tuple(shape) and v.name != besides]
        floats = self.vars_of(F)
        pick = self.weighted([(3 if options else 0, "array"), (1.5 if floats else 0, "float"), (0.7, "const")])
        if pick == "array":
            return self.squash(self._value(self.recent(options)), 10.0)
        if pick == "float":
            v = self.choose(floats)
            return self.squash(E(v.name, F, v.b), 10.0)
        return self.const()

    def _combine(self, a: E) -> E:
        other = self._operand(a.t, besides=a.code)
        op = self.choose(["+", "-", "*", "+"])
        bound = a.b * other.b if op == "*" else a.b + other.b
        return E(f"({a.code} {op} {other.code})" if self.chance(0.5) else f"({other.code} {op} {a.code})",
                 a.t, bound)

    # ------------------------------------------------------------------ row statements
    def row_map(self):
        a = self._matrix()
        if self.chance(0.7):
            a = self._combine(a)
        if self.chance(0.2):
            self._assign(self.squash(a, 50.0))
            return
        template, bound, lo, limit = self.choose(_ROW_FUNCTIONS)
        x = self.small(a, limit) if limit <= 3.0 else self.squash(a, limit)
        low = math.exp(-x.b) if lo == "exp" else lo
        self._assign(E(template.format(x.code), a.t, bound(x.b), low))

    def _max_of(self, a: E) -> str:
        fn = self.choose(["np.max", "np.max", "np.min"])
        return f"{fn}({a.code}, {self._axis()}, keepdims=True)"

    def row_softmax(self):
        """exp(M - max) and its ratio to the row sums, as one to four statements."""
        a = self._matrix(5.0)
        axis = self._axis()
        shift = self._max_of(a)
        # with a minimum subtracted the entries reach exp(2 b); every row sum is at least 1 either way
        bound = math.exp(2 * a.b) if shift.startswith("np.min") else 1.0
        if self.chance(0.4):
            shift = self._assign(E(shift, a.t[:1] + (1,), a.b))
        e = E(f"np.exp({a.code} - {shift})", a.t, bound)
        if self.chance(0.6):
            e = E(self._assign(e), a.t, bound)
        total = E(f"np.sum({e.code}, {axis}, keepdims=True)", a.t[:1] + (1,), e.b * a.t[1], 1.0)
        if self.chance(0.4):
            total = E(self._assign(total), total.t, total.b, 1.0)
        self._assign(E(f"({e.code} / {total.code})", a.t, 1.0))

    def row_logsoftmax(self):
        a = self._matrix()
        axis = self._axis()
        m = f"np.max({a.code}, {axis}, keepdims=True)"
        if self.chance(0.4):
            m = self._assign(E(m, a.t[:1] + (1,), a.b))
        lse = f"(np.log(np.sum(np.exp({a.code} - {m}), {axis}, keepdims=True)) + {m})"
        self._assign(E(f"({a.code} - {lse})", a.t, 2 * a.b + math.log(max(a.t[1], 1)) + 1.0))

    def row_reduce(self):
        a = self._matrix()
        fn = self.choose(["np.sum", "np.mean", "np.max", "np.min", "np.sum"])
        bound = a.b * a.t[1] if fn == "np.sum" else a.b
        lo = None
        if a.lo is not None:
            lo = a.lo * a.t[1] if fn == "np.sum" else a.lo
        self._assign(E(f"{fn}({a.code}, {self._axis()}, keepdims=True)", a.t[:1] + (1,), bound, lo))

    def row_shift(self):
        a = self._matrix()
        columns = [v for v in self.array_vars() if v.t == a.t[:1] + (1,)]
        if columns and self.chance(0.5):
            c = self.squash(self._value(self.recent(columns)), 20.0)
            self._assign(E(f"({a.code} - {c.code})", a.t, a.b + c.b))
            return
        self._assign(E(f"({a.code} - {self._max_of(a)})", a.t, 2 * a.b))

    def row_ratio(self):
        a = self._matrix()
        positive = [v for v in self.array_vars()
                    if self.row_lo.get(v.name, 0.0) >= 0.5 and broadcast(a.t, v.t) == a.t]
        pick = self.weighted([(3 if positive else 0, "positive"), (1, "square"), (1, "rowsum")])
        if pick == "positive":
            v = self.recent(positive)
            den = E(v.name, v.t, v.b, self.row_lo[v.name])
        elif pick == "square":
            d = self.squash(self._value(self.recent(self._matrices(a.t[:1] + (1,)) or self._matrices(a.t))), 10.0)
            den = E(f"({d.code} * {d.code} + 0.5)", d.t, d.b * d.b + 0.5, 0.5)
        else:
            d = self._matrix(10.0)
            if d.t[0] != a.t[0]:
                d = a
            den = E(f"(np.sum({d.code} * {d.code}, {self._axis()}, keepdims=True) + 0.5)", a.t[:1] + (1,),
                    d.b * d.b * d.t[1] + 0.5, 0.5)
        self._assign(E(f"({a.code} / {den.code})", a.t, a.b / den.lo))

    def row_copy(self):
        a = self._matrix(1e6)
        form = self.choose(["{0}.copy()", "stop_gradient({0})", "{0}.copy()"])
        self._assign(E(form.format(_atom(a.code)), a.t, a.b, a.lo))

    def row_helper(self):
        name = self.choose(self.row_helpers)
        a = self._matrix()
        if name == "row_softmax":
            self._assign(E(f"row_softmax({a.code})", a.t, 1.0))
            return
        t = self.choose(["", ", 0.5", ", t=2.0"])
        scale = 2.0 if "2.0" in t else 1.0
        self._assign(E(f"row_lse({a.code}{t})", a.t[:1] + (1,), (scale + 1) * 2 * a.b + math.log(a.t[1]) + 1.0))

    def row_reassign(self):
        locals_ = [v for v in self._matrices() if v.local_array]
        if not locals_:
            self.row_map()
            return
        v = self.recent(locals_)
        a = self._combine(self.squash(self._value(v), 20.0))
        self._assign(self.squash(E(f"({fmt(0.5)} * {a.code})", v.t, 0.5 * a.b), 20.0), v.name)

    # ------------------------------------------------------------------ statements that end a run
    def row_interrupt(self):
        a = self._matrix()
        r, c = a.t
        recurrent = [v for v in self.array_vars() if v.name == "V" and v.t == (c, c)]
        what = self.weighted([(1, "product"), (1.2, "bias"), (1, "slice"), (1, "element"), (1, "store"),
                              (1, "loop"), (4 if recurrent else 0, "recurrence")])
        products = [v for v in self.array_vars() if len(v.t) == 2 and v.t[0] == c and v.name == "W"]
        if what == "product" and products:
            w = products[0]
            self._assign(E(f"({a.code} @ {w.name})", (r, w.t[1]), a.b * w.b * c))
        elif what == "bias" or what == "product":
            fn = self.choose(["np.sum", "np.mean"])
            self._assign(E(f"{fn}({a.code}, axis=0)", (c,), a.b * (r if fn == "np.sum" else 1)), self.fresh("v"))
        elif what == "slice":
            j = self.rng.randrange(c)
            self._assign(E(f"{_atom(a.code)}[:, {j}:{j + 1}]", (r, 1), a.b, a.lo))
        elif what == "element":
            name = self.fresh("s")
            i, j = self.rng.randrange(r), self.rng.randrange(c)
            scale = f" * {self.const().code}" if _is_name(a.code) else ""
            self.emit(f"{name} = {_atom(a.code)}[{i}, {j}]{scale}")
            self.scope.values[name] = Var(name, F, a.b * 3.0)
            self.types[name] = F
        elif what == "store":
            name = self._assign(E(f"{_atom(a.code)}.copy()", a.t, a.b))
            floats = self.vars_of(F)
            value = self.squash(E(self.choose(floats).name, F, 2.0), 10.0) if floats else self.const()
            i = self.rng.randrange(r)
            if self.chance(0.5):
                self.emit(f"{name}[{i}, {self.rng.randrange(c)}] = {value.code}")
            else:
                self.emit(f"{name}[{i}] = {name}[{i}] * {value.code}")
            self.scope.values[name].b = max(a.b, value.b) * max(1.0, value.b)
            self.row_lo.pop(name, None)
        elif what == "recurrence":
            # a recurrence over the rows, h = tanh(V @ h + row): its adjoint sums an outer product into
            # V's every trip (`optimise.rank_one` writes it as a loop in the module Numba compiles)
            name = self.fresh("h")
            self.emit(f"{name} = {_atom(a.code)}[0] * {fmt(0.5)}")
            self.emit(f"for i in range({r}):")
            self.types["i"] = "i"
            self.emit(f"    {name} = np.tanh({recurrent[0].name} @ {name} + {_atom(a.code)}[i])")
            self.scope.values[name] = Var(name, (c,), 1.0, local_array=True)
            self.types[name] = (c,)
        else:
            name = self.fresh("s")
            k = self.rng.randrange(c)
            self.emit(f"{name} = 0.0")
            self.emit(f"for i in range({r}):")
            self.types["i"] = "i"
            scale = f" * {fmt(0.5)}" if _is_name(a.code) else ""
            self.emit(f"    {name} = {name} + {_atom(a.code)}[i, {k}]{scale}")
            self.scope.values[name] = Var(name, F, a.b * r)
            self.types[name] = F

    # ------------------------------------------------------------------ the result
    def rows_return(self) -> str:
        terms = []
        arrays = [v for v in self.array_vars() if v.local_array]
        last = arrays[-1:] if arrays else []
        others = arrays[:-1]
        picked = last + self.rng.sample(others, min(len(others), self.rng.randint(0, 3)))
        targets = {v.t: v for v in self.array_vars() if v.name == "Y"}
        for v in picked:
            x = self.squash(E(v.name, v.t, v.b), 100.0)
            if v.t in targets and self.chance(0.5):
                terms.append(f"np.sum({x.code} * Y)")
            else:
                terms.append(self.choose([f"np.sum({x.code})", f"np.mean({x.code} * {x.code})",
                                          f"np.sum({x.code}[0])" if len(v.t) == 2 else f"np.sum({x.code})"]))
        floats = [v for v in self.vars_of(F) if v.name not in ("x", "y", "z")]
        for v in self.rng.sample(floats, min(len(floats), 2)):
            terms.append(self.squash(E(v.name, F, v.b), 100.0).code)
        if not terms or self.chance(0.3):
            terms.append(self.squash(self.fexpr(1), 100.0).code)
        return " + ".join(terms)
