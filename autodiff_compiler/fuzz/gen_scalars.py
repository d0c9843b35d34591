"""Generator, scalars: float, int and boolean expressions inside each function's domain.

Takes: the generator's state (`self`: random source, scope, loops).  Guarantees:
expressions of the documented scalar language whose values stay bounded and in
the domain of every function they pass through -- but for the kind `raising`
(`self.raising`), where now and then a guard is left out (`_risky`): an operand
of `log`, `sqrt`, a division or a negative power that may be zero or negative, an
`asin` of any value, an exponent that may overflow, a fractional power of a
negative base -- so that Python raises (or makes a complex number) at some
points, and the fuzzer checks that every derivative raises there too.
"""
from __future__ import annotations

import math

from .program import F, I, E, fmt, is_array



class ScalarExpressions:
    """Methods of `generate.Generator`; see its module docstring."""

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

    def _risky(self) -> bool:
        """Leave a guard out this time?  (Kind `raising` only, see the module's docstring.)"""
        return self.raising and self.chance(0.2)

    def small(self, e: E, limit: float = 3.0) -> E:
        """Squash to |e| <= limit (for exp, sinh, cosh, powers); risky: scaled up instead."""
        if not is_array(e.t) and self._risky():
            return E(f"({e.code} * 400.0)", F, limit)
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
        """An expression with value >= lo > 0; risky: of any sign (not made zero: a zero base of a fractional
        power or of `sqrt` is no error in Python, but a partial derivative there is infinite, and the chain
        rule's inf * 0 is AD's NaN where the function's derivative may be finite)."""
        a = self.fexpr(depth)
        if self._risky():
            return E(a.code, F, max(a.b, 1.0), 0.5)
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
        if self._risky() and self.chance(0.3):
            # a divisor that is zero where a condition holds: ZeroDivisionError there
            return E(f"({a.code} / ({p.code} if {self.cond(depth)} else 0.0))", F, a.b / p.lo)
        if self.chance(0.15):
            # a / c with a non-zero constant
            c = self.choose([2.0, -4.0, 0.5, 3.0])
            return E(f"({a.code} / {fmt(c)})", F, a.b / abs(c))
        return self.squash(E(f"({a.code} / {p.code})", F, a.b / p.lo), 200)

    def f_pow(self, depth) -> E:
        kind = self.rng.randrange(6)
        if kind <= 1:
            a = self.squash(self.fexpr(depth), 5)
            if self._risky():
                k = self.choose([400.0, 1.5, 0.5, -1.0, 2.5])
                return E(f"({a.code} ** {k!r})", F, 5.0)
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
            inner = self.choose(["(0.9 * math.tanh({a}))", "(0.5 * math.sin({a}))"] if not self._risky() else ["{a}"])
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
