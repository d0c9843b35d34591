"""Generator, arrays: vector and matrix expressions, reductions, products, slices, and array statements.

Takes: the generator's state.  Guarantees: broadcasting-correct array
expressions and statements (local arrays, element/slice/row stores, aliases,
copies) whose shapes are the ones the generator assumed.  Int data (an int64
parameter `K`, see `generate.Generator.int_data_parameters`) is read only beside
a float operand -- a broadcast partner, a mask in `np.where`, a product with a
float vector or matrix -- so that every expression drawn as a float array is one.
"""
from __future__ import annotations

import math

from .program import F, I, E, Var, _is_name, _size, broadcast, fmt, is_array



class ArrayExpressions:
    """Methods of `generate.Generator`; see its module docstring."""

    # ------------------------------------------------------------------ arrays
    def arrays_parameters(self) -> list:
        """(name, shape) of the array parameters of an `arrays` program."""
        rng = self.rng
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
        return specs

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
        # a matrix normalised row by row is what fuse_rows fuses: drawn more often than a vector's
        table = [(3 if leaves else 0, "leaf"), (3, "unary"), (4, "binary"), (1.2, "select"),
                 (1.2, "scale"), (2.0 if len(shape) == 2 and shape[1] > 1 else 0.8, "normalize")]
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
        out += self.int_data_products(shape, depth)
        return out

    def int_data_products(self, shape, depth) -> list:
        """Leaves multiplying int data by float operands: K @ x, x @ K, K @ W, V @ K."""
        out = []
        if depth <= 0:
            return out
        for v in self.int_data_vars():
            r, c = self.int_data[v.name] if len(self.int_data[v.name]) == 2 else (None, None)
            if r is None:
                continue
            if len(shape) == 1:
                if r == shape[0]:
                    out.append(lambda v=v, c=c: self.matvec(v, (c,), shape, depth))
                if c == shape[0]:
                    out.append(lambda v=v, r=r: self.vecmat(v, (r,), shape, depth))
                continue
            R, C = shape
            for w in self.array_vars():
                if len(w.t) != 2:
                    continue
                if r == R and w.t == (c, C):
                    out.append(lambda v=v, w=w: E(f"({v.name} @ {w.name})", shape, min(v.b * w.b * c, 1e4)))
                if c == C and w.t == (R, r):
                    out.append(lambda v=v, w=w: E(f"({w.name} @ {v.name})", shape, min(v.b * w.b * r, 1e4)))
        return out

    def int_data_vars(self) -> list[Var]:
        return [self.scope.values[name] for name in self.int_data if name in self.scope.values]

    def int_data_to(self, shape) -> list[Var]:
        """Int data parameters whose shape broadcasts to exactly `shape`."""
        return [v for v in self.int_data_vars() if broadcast(self.int_data[v.name], shape) == tuple(shape)]

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
        data = self.int_data_to(shape)
        if data:
            options.append((3, "ints"))
        what = self.weighted(options)
        if what == "ints":
            # int data beside a float operand (the result is float, as in NumPy)
            v = self.choose(data)
            return E(v.name, self.int_data[v.name], v.b)
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
                            "expm1", "log1p", "sinh", "cosh", "arcsin", "mod", "floor", "sign", "arcsinh", "exp2",
                            "flip", "cumsum"])
        if name in ("sin", "cos", "tanh", "arctan"):
            return E(f"np.{name}({a.code})", shape, 1.6)
        if name == "arcsinh":
            return E(f"np.arcsinh({a.code})", shape, math.log(2 * a.b + 1) + 1)
        if name == "exp2":
            a = self.small(a, 3.0)
            return E(f"np.exp2({a.code})", shape, 2 ** a.b + 1)
        if name == "flip":
            axis = self.choose(range(len(shape)))
            return E(f"np.flip({a.code}, axis={axis})", shape, a.b)
        if name == "cumsum":
            # along the last axis of a matrix, or the vector: the scan adds up to shape[-1] entries
            a = self.squash(a, 10)
            axis = f", axis={len(shape) - 1}" if len(shape) == 2 else ""
            return E(f"np.cumsum({a.code}{axis})", shape, a.b * shape[-1])
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
        data = self.int_data_to(shape)
        kind = self.rng.randrange(5 if data else 4)
        if kind == 4:
            # a mask of int data: np.where(K > 0, a, b)
            v = self.choose(data)
            b = self.broadcast_partner(shape, depth)
            op = self.choose([">", "<=", "=="])
            return E(f"np.where({v.name} {op} {self.rng.randint(-1, 2)}, {a.code}, {b.code})", shape,
                     max(a.b, b.b))
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
        """Reductions inside the chain: e * sum(e), e / sum(e), e - max(e), (e - mean(e)) / std; for a
        matrix also row by row (axis 1, keeping it): a row softmax, a row log-softmax, a row's minimum
        subtracted (what `optimise.fuse_rows` turns into one loop over the rows)."""
        a = self.aexpr(shape, depth)
        rows = len(shape) == 2 and shape[1] > 1
        kind = self.rng.randrange(8 if rows else 5)
        if kind >= 5:
            p = self.squash(a, 3.0)
            axis = self.choose(["axis=1", "axis=-1"])
            m = f"np.{self.choose(['max', 'max', 'min'])}({p.code}, {axis}, keepdims=True)"
            if kind == 5:
                e = f"np.exp({p.code} - {m})"
                return E(f"({e} / np.sum({e}, {axis}, keepdims=True))", shape, 1.0)
            if kind == 6:
                lse = f"(np.log(np.sum(np.exp({p.code} - {m}), {axis}, keepdims=True)) + {m})"
                return E(f"({p.code} - {lse})", shape, 2 * p.b + math.log(shape[1]) + 1.0)
            return E(f"({p.code} - {m})", shape, 2 * p.b)
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
                              (0.8 if len(shape) == 1 else 0, "moving"), (0.25, "subscript"),
                              (0.5 if len(shape) == 2 else 0, "axis_tuple"), (0.4, "var"), (0.5, "reshape")])
        n = _size(shape)
        if kind == "axis_tuple":
            fn = self.choose(["np.sum", "np.mean", "np.max"])
            axes = self.choose(["(0, 1)", "(-1, -2)", "(1, 0)"])
            return E(f"{fn}({a.code}, axis={axes})", F, a.b * n)
        if kind == "var":
            a = self.squash(a, 10)
            if len(shape) == 2 and self.chance(0.5):
                return E(f"np.sum(np.var({a.code}, axis={self.choose([0, 1, -1])}))", F, 4 * a.b * a.b * n)
            return E(f"np.var({a.code})", F, 4 * a.b * a.b)
        if kind == "reshape":
            form = self.choose(["np.sum(np.reshape({0}, (-1,)) * np.reshape({0}, ({n},)))",
                                "np.sum(({0}).ravel() ** 2)" if not _is_name(a.code) else "np.sum({0}.ravel() ** 2)",
                                "np.sum(np.reshape({0}, ({n}, 1)) * np.reshape({0}, (1, {n})))"])
            a = self.squash(a, 10)
            return E(form.format(a.code, n=n), F, a.b * a.b * n * n)
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
                if self.chance(0.4) and not in_loop:
                    # a slice of the same array, added in place: NumPy reads it as it was before the
                    # write where the two overlap (Numba's compiled loop would not: `aliasing`)
                    c = self.rng.randint(0, n - (b - a))
                    other = f"{v.name}[{c}:{c + b - a}]" + ("[::-1]" if self.chance(0.3) else "")
                    self.emit(f"{spelled} += {other}")
                    v.b = 2 * bound
                    return
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
        if r == c and not in_loop and self.chance(0.3):
            self.emit(f"{v.name}[:, :] += {v.name}.T")     # its own transpose, added in place (as above)
            v.b = 2 * bound
            return
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
