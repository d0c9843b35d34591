"""Generator, statements: assignments, branches, loops, helper functions and module constants.

Takes: the generator's state.  Guarantees: statements that keep every name
definitely assigned (a loop index, now and then, read after a loop that runs at every point, which
the compiler cannot prove) and of one type, loops that terminate, and helpers called
with their defaults and keywords.
"""
from __future__ import annotations

from .program import F, I, E, Helper, Loop, SAFE_FLOATS, Scope, Var, _names_in, _size, fmt



class Statements:
    """Methods of `generate.Generator`; see its module docstring."""

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
            (0.4 if self.raising else 0, "int overflow"),   # (kind `raising` only: the others draw as before)
        ]
        if arrays:
            table += [(4, "array"), (2, "local"), (2.5 if self.local_arrays() else 0, "store"),
                      (0.6 if self.local_arrays() else 0, "alias"), (0.5, "template")]
            # kind `raising` only (a zero weight draws nothing: the other kinds draw what they drew before)
            table += [(0.8 if self.raising and self.int_data_vars() else 0, "int power")]
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
        elif what == "int power":
            self.int_power()
        elif what == "int overflow":
            self.int_overflow()
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
            runs = trips >= 1                # a trip at every point (the program's shapes are fixed)
        else:
            code, trips, lo, hi = self.range_args()
            runs = False
        if self.trips_total() * max(1, trips) > self.MAX_TRIPS:
            code, trips, lo, hi = "2", 2, 0, 1
            runs = True
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
        unassigned_before = index not in self.scope.values
        self.body_of_loop(Loop("for", trips, frozen=(index,), accumulators=(acc,) if acc else ()),
                          depth, index_var=Var(index, I, lo=min(lo, hi), hi=max(lo, hi)))
        if pre is None and unassigned_before and runs and self.chance(0.3):
            # the index read after its loop, unassigned before it: the loop runs at every point of the
            # program, but the dataflow layer cannot know it, so the gradient runs with its bound check
            # (`frontend.bound_checks`; the raising side is tests/test_soundness.py's UNBOUND class)
            self.scope.values[index] = Var(index, I, lo=min(lo, hi), hi=max(lo, hi))
        if pre is not None:
            v = self.scope.values.get(index)
            if v is not None:
                v.lo, v.hi = min(pre, lo), max(pre, hi)
        if acc is not None and self.raising and acc in self.scope.values and self.chance(0.4):
            # a division by the accumulator, clamped: Python's 0.0 where the loop ran no trips (and its
            # init was 0.0) raises; NumPy's zero (a sum of elements) gives inf, which the clamp hides
            # (the soundness class MIXEDNUM: the gradient was the clamp's number where Python raises)
            name = self.fresh("v")
            self.types[name] = F
            self.emit(f"{name} = min(max({self.squash(self.fexpr(1), 10).code} / {acc}, -5.0), 5.0)")
            self.scope.values[name] = Var(name, F, 5.0)

    def int_power(self):
        """An element of int data raised to an int, or an int to an element's power, as NumPy's ints: a
        negative exponent raises ValueError there, where Python's ints give a float (the soundness class
        NUMPYINT: the gradient was Numba's or Python's number where the function raises)."""
        k = self.choose(self.int_data_vars())
        element = f"{k.name}[{', '.join('0' for _ in self.int_data[k.name])}]"
        code, lo, hi = self.clamp_int(*self.iexpr(), -2, 4)
        power = f"{element} ** {code}" if self.chance(0.6) else f"{code} ** {element}"
        name = self.fresh("v")
        self.types[name] = F
        self.emit(f"{name} = {self.squash(self.fexpr(1), 10).code} * float({power})")
        self.scope.values[name] = Var(name, F, 10.0 * 81.0)

    def int_overflow(self):
        """A power of Python's ints that passes 64 bits where the base's magnitude is 3 or more (`3 ** 45` is
        2.9e21), reduced to a small float: Python computes it exactly; the compiled gradient raises its
        ArgumentError there (a refusal, `execute`), and the gradient for Python (`jit=False`) is exact."""
        code, lo, hi = self.clamp_int(*self.iexpr(), -4, 4)
        name = self.fresh("v")
        self.types[name] = F
        self.emit(f"{name} = {self.squash(self.fexpr(1), 10).code} * float(({code}) ** 45 % 7)")
        self.scope.values[name] = Var(name, F, 60.0)

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
            # a loop's limit leaves no guard out (kind `raising`): `x ** 400.0` there is a loop of 1e22 trips
            raising, self.raising = self.raising, False
            limit = self.squash(self.fexpr(1), 2.0)
            self.raising = raising
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
