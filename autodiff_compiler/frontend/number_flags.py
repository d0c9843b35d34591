"""Number flags: a name that holds NumPy's number on some runs and Python's on others says which, as it runs.

Takes the lowered body (`frontend.lower`, before versioning), its types so far, its parameters, and the
divisions, modulos and powers of numbers (`rules.Primitive.numpy_numbers`) that `ir.numbers` cannot
settle: no operand is an array or surely NumPy's, and some operand may be either (`numpy_numbers` and
`python_numbers` both find it).  Guarantees: each such statement `t = a / s` is preceded by its check

    s_is_python = not s_is_numpy
    if s_is_python:                            # Python's: raises ZeroDivisionError, as CPython does
        s_python = as_python(s)
        t_checked = a / s_python               # marked (`ir.Assign.error_effect`), never read
    t = a / s                                  # as before: NumPy's spelling, inf or nan, no exception

where the condition reads bool flags (`s_is_numpy`) that hold, at every point, whether the name's value
is NumPy's, exactly as Python's own types would say on this run: each is set right after every
statement that writes its name, from the rule of `ir.numbers` applied to the operands' flags (an
element or a reduction makes NumPy's number, arithmetic on one keeps it, `float()` and an axis length
make Python's, and `min` and `max` give the flag of the operand they pick); a parameter's is False on
entry, a loop index's False at the top of each trip.

Why at run time: `s = 0.0; for i in range(n): s += v[i]` holds Python's 0.0 when n == 0 and NumPy's
sum otherwise, so `1.0 / s` raises on one run and gives inf on another; a static answer either misses
the error (the gradient was a number where the function raises, soundness class MIXEDNUM) or raises
where Python gives inf.  Where a flag cannot be known (a value popped from a tape, a gradient's
result), it is False: checked as Python's, which raises where NumPy's would give inf -- an error,
never a number where the function raises.

The same flags decide NumPy's ints raised to an int power (`int_powers`): a negative exponent raises
ValueError there, where Python's ints give a float (`2 ** -1 == 0.5`).  Such a power is preceded by
`checked = int_power_check(m)` (`rules`, kept for its error) where an operand is surely NumPy's (an
element or an array of ints, `np.power`), and by `if k_is_numpy: checked = int_power_check(m)` where
an operand may be either.

The flags are bools nothing differentiates, written only for names a checked statement needs (and
the names their values come from); the `as_python` copy (`rules`) changes no value, it only tells
`ir.numbers` (and so the printer) that the division below it is Python's.  The check's value is never
read, so the adjoint has no branch on a flag (`split`), and a flag set in every trip of a loop is set
after it (`set_after_the_loop`): a sum over data and its reversal stay one pass, on threads.
"""
from __future__ import annotations

from .. import ir
from ..ir.names import Names
from ..ir.numbers import is_array_operand, makes_numpy_number, selects_an_operand, value_operands
from ..ir.nodes import Assign, Const, For, If, Pop, Region, Var
from ..python_errors import CHECK_COPY, NUMPY_FUNCTION_PARAM


class NumberFlags:
    """The split of `dynamic` statements and the flags they need, for one lowered body."""

    def __init__(self, body: list, types: dict, numpy: frozenset, python: frozenset, names: Names):
        self.types, self.numpy, self.python, self.names = types, numpy, python, names
        # a region's stub stands for the gradient it computes (no flag can follow it there)
        stubs = {id(s) for r in ir.walk(body) if isinstance(r, Region) for s in r.stub}
        self.writers: dict = {}
        for stmt in ir.walk(body):
            if isinstance(stmt, Assign) and id(stmt) not in stubs:
                self.writers.setdefault(stmt.target, []).append(stmt)
        self.flags: dict = {}       # name -> its flag's name
        self.after: dict = {}       # id of a loop -> statements right after it (`set_after_the_loop`)
        self.moved: list = []       # per function (or region body) being rewritten: the flags moved
        self.int_powers: set = set()    # ids of powers of NumPy's ints (`int_powers`) to check
        self.surely_numpy: set = set()  # those of them checked always

    def mixed(self, operand) -> bool:
        return isinstance(operand, Var) and operand.name in self.numpy and operand.name in self.python

    def need(self, name: str) -> None:
        """Give `name` a flag, and every name its flag is computed from one too."""
        work = [name]
        while work:
            n = work.pop()
            if n in self.flags:
                continue
            self.flags[n] = self.names.fresh(f"{n}_is_numpy")
            for writer in self.writers.get(n, ()):
                terms = self.terms(writer)
                if isinstance(terms, list):
                    work += [a.name for a in terms]
                elif isinstance(terms, tuple):
                    work += [k.name for k in terms if isinstance(k, Var)]

    def kind_of(self, operand):
        """True: surely NumPy's; False: surely Python's (a constant too); the variable itself: either."""
        if not isinstance(operand, Var) or operand.name not in self.numpy:
            return False
        return True if operand.name not in self.python else operand

    def terms(self, stmt: Assign):
        """Whether `stmt` makes NumPy's number: a constant (True, False); the list of operands (mixed
        variables) whose flags it is the `or` of; or, for `min` and `max` of numbers, which give one
        operand as it is (`ir.numbers.selects_an_operand`), the tuple of the operands' kinds
        (`kind_of`), the flag being the picked operand's."""
        args = value_operands(stmt.prim, stmt.args)     # a `@custom_derivative` function's: its value
        arrays = [is_array_operand(a, self.types) for a in args]
        if not makes_numpy_number(stmt.prim, arrays, [True] * len(args), stmt.params):
            return False
        if any(arrays):
            return True
        kinds = [self.kind_of(a) for a in args]
        if selects_an_operand(stmt.prim) and len(kinds) == 2:
            return kinds[0] if kinds[0] is kinds[1] and isinstance(kinds[0], bool) else tuple(kinds)
        if any(k is True for k in kinds):
            return True
        mixed = []
        for k in kinds:
            if isinstance(k, Var) and k not in mixed:
                mixed.append(k)
        return mixed if mixed else False

    def either(self, target: str, operands: list, loc) -> list:
        """Statements assigning `target` the `or` of the flags of `operands` (mixed variables); the last
        one writes `target`, after every flag is read (`s_is_numpy` of `s = s + c` is its own operand)."""
        flags = [Var(self.flags[a.name]) for a in operands]
        if len(flags) == 1:
            return [Assign(target, "copy", (flags[0],), loc)] if flags[0].name != target else []
        out, value = [], flags[-1]
        for k in range(len(flags) - 2, -1, -1):
            name = target if k == 0 else self.names.temp()
            out.append(Assign(name, "where", (flags[k], Const(True), value), loc))
            value = Var(name)
        return out

    def set_flag(self, stmt: Assign) -> tuple:
        """The statements right before and right after `stmt` that set its target's flag."""
        terms = self.terms(stmt)
        flag = self.flags[stmt.target]
        if isinstance(terms, bool):
            return [], [Assign(flag, "copy", (Const(terms),), stmt.loc)]
        if isinstance(terms, tuple):
            # Python's max(a, b) is b exactly where b > a (min: b < a), NaN aside: compared before the
            # statement, which may overwrite an operand (`s = max(s, v[i])`)
            a, b = stmt.args
            picks_b = Var(self.names.temp())
            compare = "gt" if stmt.prim == "max" else "lt"
            flag_of = [Const(k) if isinstance(k, bool) else Var(self.flags[k.name]) for k in terms]
            return ([Assign(picks_b.name, compare, (b, a), stmt.loc)],
                    [Assign(flag, "where", (picks_b, flag_of[1], flag_of[0]), stmt.loc)])
        return [], self.either(flag, terms, stmt.loc)

    def split(self, stmt: Assign) -> list:
        """`stmt` as it was (NumPy's spelling: its operands may be NumPy's), after a copy of it that only
        checks it, as Python's numbers, where no operand's flag says NumPy's: the copy raises where Python
        raises, and its value is never read, so nothing differentiates it and the adjoint has no branch
        (a sum over a loop and its reversal stay one pass, `optimise.fuse_loops`).  The check runs
        first: `stmt` may overwrite an operand (`s = 1.0 / s`)."""
        mixed = []
        for a in stmt.args:
            if self.mixed(a) and a not in mixed:
                mixed.append(a)
        before: list = []
        if len(mixed) == 1:
            numpy = Var(self.flags[mixed[0].name])
        else:
            numpy = Var(self.names.temp())
            before = self.either(numpy.name, mixed, stmt.loc)
        python = Var(self.names.fresh(f"{mixed[0].name}_is_python"))
        before.append(Assign(python.name, "not", (numpy,), stmt.loc))
        casts, renamed = [], {}
        for a in mixed:
            renamed[a.name] = Var(self.names.fresh(f"{a.name}_python"))
            casts.append(Assign(renamed[a.name].name, "as_python", (a,), stmt.loc))
        check = Assign(self.names.fresh(f"{stmt.target}_checked"), stmt.prim,
                       tuple(renamed.get(a.name, a) if isinstance(a, Var) else a for a in stmt.args), stmt.loc,
                       tuple(stmt.params) + (CHECK_COPY,), error_effect=True)
        return before + [If(python, casts + [check], [], stmt.loc), stmt]

    def check_int_power(self, stmt: Assign) -> list:
        """The check of NumPy's ints raised to an int power (`int_powers`), to run before `stmt`: always where
        an operand is surely NumPy's, else where the mixed operands' flags say NumPy's."""
        check = Assign(self.names.fresh("checked"), "int_power_check", (stmt.args[1],), stmt.loc)
        if id(stmt) in self.surely_numpy:
            return [check]
        mixed = []
        for a in stmt.args:
            if self.mixed(a) and a not in mixed:
                mixed.append(a)
        if len(mixed) == 1:
            return [If(Var(self.flags[mixed[0].name]), [check], [], stmt.loc)]
        numpy = Var(self.names.temp())
        return self.either(numpy.name, mixed, stmt.loc) + [If(numpy, [check], [], stmt.loc)]

    def set_after_the_loop(self, loop: For) -> list:
        """Move out of `loop` each flag set to True on every trip and read in none: the statements, to
        run before the loop, that count its trips, and the loop's `after` list is returned by
        `rewrite` through `self.after`.

        Legality: the flag's statement is at the top level of a `for` loop's body (every trip that
        starts runs it: `break` and `continue` guard what follows them with a branch), it assigns the
        constant True, and no statement of the loop reads the flag.  Then after the loop the flag is
        True exactly where a trip ran -- where the range, evaluated once before the loop as Python
        evaluates it, is not empty -- and what it held before otherwise.  Why: a store in every trip of
        an accumulating loop keeps it from the chunks that run on threads (`optimise.vectorise`)."""
        flags = set(self.flags.values())
        moved = [s for s in loop.body if isinstance(s, Assign) and s.target in flags and s.prim == "copy"
                 and s.args == (Const(True),) and s.target not in ir.used_in(loop.body)]
        if not moved:
            return []
        loop.body[:] = [s for s in loop.body if not any(s is m for m in moved)]
        self.moved[-1].update(m.target for m in moved)
        trips, ran = self.names.temp(), self.names.temp()
        self.after[id(loop)] = [Assign(ran, "gt", (Var(trips), Const(0)), loop.loc)] + [
            Assign(m.target, "where", (Var(ran), Const(True), Var(m.target)), loop.loc)
            for m in dict((m.target, m) for m in moved).values()]
        return [Assign(trips, "range_length", (loop.start, loop.stop, loop.step), loop.loc)]

    def rewrite(self, block: list, dynamic: set, unknown_at_start=None) -> list:
        """`block` with its flags set and its `dynamic` statements split.  `unknown_at_start`: the
        parameters of a function (or a region's body, a function of its own) whose block this is; None
        for a nested block."""
        top = unknown_at_start is not None
        if top:
            self.moved.append(set())
        out = []
        for stmt in block:
            if isinstance(stmt, Region):
                # the region's body is a function of its own: its parameters' flags start unknown
                stmt.body[:] = self.rewrite(stmt.body, dynamic, stmt.params)
            else:
                for child in ir.child_blocks(stmt):
                    child[:] = self.rewrite(child, dynamic)
            if isinstance(stmt, For) and stmt.index in self.flags:
                stmt.body.insert(0, Assign(self.flags[stmt.index], "copy", (Const(False),), stmt.loc))
            if isinstance(stmt, For):
                out += self.set_after_the_loop(stmt)
            before, after = self.set_flag(stmt) if isinstance(stmt, Assign) and stmt.target in self.flags else ([], [])
            out += before
            if id(stmt) in self.int_powers:
                out += self.check_int_power(stmt)
            out += self.split(stmt) if id(stmt) in dynamic else [stmt]
            out += self.after.pop(id(stmt), [])
            out += after
            unknown = [stmt.target] if isinstance(stmt, Pop) else list(stmt.targets) if isinstance(stmt, Region) else []
            out += [Assign(self.flags[n], "copy", (Const(False),), getattr(stmt, "loc", None))
                    for n in unknown if n in self.flags]
        if top:
            # parameters start as Python's numbers; a flag set after a loop reads what it held before,
            # which must be defined where the name is not (`for i in range(n): s = v[i]`, none before)
            moved = self.moved.pop()
            starts = [self.flags[n] for n in unknown_at_start if n in self.flags]
            starts += sorted(f for f in moved if f not in starts)
            out[:0] = [Assign(f, "copy", (Const(False),)) for f in starts]
        return out


def int_powers(body: list, types: dict, numpy_of) -> tuple[list, list]:
    """The powers `k ** m` of ints (or bools) that NumPy may compute, where a negative `m` raises ValueError,
    as (surely, maybe): surely NumPy's where an operand is an int array or the call is `np.power`; maybe
    where an operand may hold NumPy's int (`numpy_of()`: `ir.numbers.numpy_numbers` of `body`, asked only
    once an int power is found), which `insert_number_flags` sorts further with Python's analysis.  Not:
    a constant exponent >= 0."""
    surely, maybe, numpy = [], [], None
    for stmt in ir.walk(body):
        if not (isinstance(stmt, Assign) and stmt.prim == "pow" and len(stmt.args) == 2):
            continue
        kinds = [types.get(a.name) if isinstance(a, Var) else None for a in stmt.args]
        if not all(isinstance(a, Const) and type(a.value) in (int, bool) or t is not None and t.is_whole
                   for a, t in zip(stmt.args, kinds)):
            continue
        exponent = stmt.args[1]
        if isinstance(exponent, Const) and exponent.value >= 0:
            continue
        if NUMPY_FUNCTION_PARAM in stmt.params or any(t is not None and t.is_array for t in kinds):
            surely.append(stmt)
            continue
        numpy = numpy_of() if numpy is None else numpy
        if any(isinstance(a, Var) and a.name in numpy for a in stmt.args):
            maybe.append(stmt)
    return surely, maybe


def insert_number_flags(body: list, dynamic: list, types: dict, params, numpy: frozenset, python: frozenset,
                        names: Names, int_checks: tuple = ((), ())) -> list:
    """The body with each statement of `dynamic` split on its operands' flags (the module's docstring), and
    each power of `int_checks` (`int_powers`: surely NumPy's, maybe) checked; `numpy`, `python`:
    `ir.numbers.numpy_numbers` and `python_numbers` of `body`."""
    flags = NumberFlags(body, types, numpy, python, names)
    surely, maybe = int_checks
    for stmt in maybe:
        if any(flags.kind_of(a) is True for a in stmt.args) or not any(flags.mixed(a) for a in stmt.args):
            surely = list(surely) + [stmt]      # an operand surely NumPy's (the others' kinds then do not matter)
    flags.surely_numpy = {id(s) for s in surely}
    flags.int_powers = flags.surely_numpy | {id(s) for s in maybe}
    for stmt in list(dynamic) + list(maybe):
        if id(stmt) not in flags.surely_numpy:
            for a in stmt.args:
                if flags.mixed(a):
                    flags.need(a.name)
    return flags.rewrite(body, {id(s) for s in dynamic}, params)
