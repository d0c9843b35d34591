"""Propagate: one forward pass of constant and copy propagation, algebraic folding and CSE.

Takes: an `ir.Function` with `types`.  Guarantees the same results (bit for
bit on finite values, up to the usual `0 * x == 0` of AD tools in the
adjoint's sums) with constants folded and propagated, `x * 1`, `x - 0`,
`x ** 1`, `x / 1` removed, branches on constants resolved, copies propagated
towards the nicer name, and common subexpressions shared.

Legality.  The pass walks the structured IR forward collecting *facts*, each
made by one statement (its origin): a copy `t = s` or a constant `t = c`
(`t` equals `s`), an expression computed into `t` (`t` holds `prim(args)`),
a zero array `t = zeros_like(...)`.  Facts are indexed by the variable they
define (copies, zero arrays) or by the expression (available expressions);
at a branch what holds after is what both sides hold (same fact, same
origin), at a loop head what holds on entry and at the end of every trip
(iterated to a fixed point), after a loop with an exit flag only what held
at its head.  A fact is *used* -- a read of `t` replaced by `s` or `c`, an
expression replaced by `t`, a statement dropped because its target already
holds its value, `z + c` folded to `c` -- only when the shared dataflow layer
answers that every path from the fact's origin to the reading statement is
clear of definitions of every variable the fact mentions
(`ir.dataflow.Dataflow.def_clear`: full definitions, and partial ones -- a
store or an in-place update into any array that may share the variable's
memory, from the layer's reaching definitions and array objects).  A copy
between arrays one of which may refer to written memory
(`Dataflow.written_memory`) is made a real copy (`array_copy`), so the pass
never creates two names for written memory.  Folding is exact in IEEE
arithmetic for the program's own values (signed zeros and NaNs included:
never `0.0 + x -> x` or `0 * x -> 0` there); the loose folds apply only to
what the reverse pass adds.  `float(a)` of a float is `a` only where `a` is
Python's number: of one that may be NumPy's (`ir.numbers`) it makes Python's,
whose division or power by zero raises where NumPy's gives inf.

Cost: a use asks `def_clear` once per variable of the fact (a binary search
in the layer's sorted definition positions), and a redefinition forgets the
facts about its target in constant time: linear in the program's size, up to
a logarithm, for straight-line code.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir.names import is_temporary
from ..ir import (FLOAT, INT, Assign, Comment, Const, For, If, Pop, Push, Store, TapeAlloc, Var, While)
from ..ir import dataflow
from ..ir.numbers import numpy_numbers
from ..rules import PRIMITIVES

_FOLDABLE = {"add", "sub", "mul", "neg", "copy", "lt", "le", "gt", "ge", "eq", "ne", "not", "float",
             "pow", "div", "floordiv", "mod", "max", "min", "abs"}
# a new array each time, or run for an effect (`rules.Primitive.effect`: an assert, a check)
_IMPURE = {"zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "array_copy", "full",
           "zeros2", "ones2", "empty2"} | {name for name, p in PRIMITIVES.items() if p.effect}


class Facts:
    """What the forward walk knows at one point: `copies` (name -> (operand, origin)), `exprs`
    (expression key -> (name, origin)), `zeros` (name -> origin); an origin is the position of the
    statement that made the fact, in the dataflow layer's numbering.  A fact states what its origin
    statement made true; whether it still holds where it is used is asked of the dataflow layer."""

    __slots__ = ("copies", "exprs", "zeros")

    def __init__(self, copies=None, exprs=None, zeros=None):
        self.copies = copies if copies is not None else {}
        self.exprs = exprs if exprs is not None else {}
        self.zeros = zeros if zeros is not None else {}

    def copy(self) -> "Facts":
        return Facts(dict(self.copies), dict(self.exprs), dict(self.zeros))

    def forget(self, name: str) -> None:
        """`name` is defined again: what was known about it is gone (facts that merely mention it
        go stale, and `def_clear` refuses them)."""
        self.copies.pop(name, None)
        self.zeros.pop(name, None)

    def set_to(self, other: "Facts") -> None:
        self.copies, self.exprs, self.zeros = other.copies, other.exprs, other.zeros

    def __eq__(self, other) -> bool:
        return (self.copies, self.exprs, self.zeros) == (other.copies, other.exprs, other.zeros)


def meet(a: Facts, b: Facts) -> Facts:
    """What holds on both paths: the same fact on each (a constant or a zero array made by different
    statements on the two paths is still one fact, with both origins)."""
    copies = {}
    for name, (operand, origins) in a.copies.items():
        other = b.copies.get(name)
        if other is None or other[0] != operand:
            continue
        if other[1] == origins:
            copies[name] = (operand, origins)
        elif isinstance(operand, Const) and type(operand.value) is type(other[0].value):
            copies[name] = (operand, origins | other[1])
    zeros = {name: origins | b.zeros[name] for name, origins in a.zeros.items() if name in b.zeros}
    return Facts(copies, _common(a.exprs, b.exprs), zeros)


def _common(a: dict, b: dict) -> dict:
    if len(b) < len(a):
        a, b = b, a
    return {k: v for k, v in a.items() if k in b and b[k] == v}


class Propagate:
    """Forward pass: constant and copy propagation, algebraic folding, CSE."""

    def __init__(self, function: ir.Function):
        self.types = function.types
        self.user = function.source_names if hasattr(function, "source_names") else frozenset()
        self.protected = set()   # variables the printer reads by name (loop exit flags)
        # the program's own values fold exactly; only what the reverse pass adds may fold loosely
        self.exact = getattr(function, "exact_names", None) or set(function.types)
        dataflow.invalidate(function)      # the facts of exactly this program
        self.df = dataflow.of(function)
        # arrays that may refer to memory something writes into: never give them a second name
        self.mutable = self.df.written_memory()
        # numbers that may be NumPy's (`ir.numbers`): `float()` of one makes Python's number, which
        # raises where NumPy's gives inf (`1.0 / float(v[0])`), so it is not folded away
        self.numpy_numbers = numpy_numbers(function.body, function.types)
        for stmt in ir.walk(function.body):
            if isinstance(stmt, (For, While)) and stmt.exit_flag:
                self.protected.add(stmt.exit_flag)

    def run(self, function: ir.Function) -> None:
        """Rewrite `function`'s body and returned operands."""
        facts = Facts()
        function.body = self.block(function.body, facts)
        # returned gradients keep their names (`b_bar = z_bar` reads better than returning `z_bar`)
        returns = []
        for r in function.returns:
            new = self.substitute(r, facts, None)
            returns.append(new if isinstance(new, Const) or is_temporary(r.name) else r)
        function.returns = tuple(returns)

    # ------------------------------------------------------------------ legality
    def holds(self, name: str, origins: frozenset, others, reader, every_trip: bool = False) -> bool:
        """Does a fact about `name` made at `origins` (and mentioning the variables `others`) still hold
        where `reader` runs?  Asked of the dataflow layer: when the reader reads `name` itself, every
        definition of it that may reach the read (partial ones, stores through shared memory, included)
        must be one of the origins; otherwise, and for every other variable, no definition may lie on
        a path from an origin to the reader (`def_clear`)."""
        df = self.df
        reaching = df.reaching(reader, name) if reader is not None else df.reaching_exit(name)
        if every_trip or not reaching:
            if not all(df.def_clear(name, df.statements[o], reader, every_trip) for o in origins):
                return False
        elif not reaching <= origins:
            return False
        return all(df.def_clear(n, df.statements[o], reader, every_trip) for n in others for o in origins)

    def copy_of(self, name: str, facts: Facts, reader, every_trip: bool = False):
        """The operand `name` equals where `reader` reads it, if a copy fact says so and still holds."""
        fact = facts.copies.get(name)
        if fact is None:
            return None
        source, origins = fact
        others = [source.name] if isinstance(source, Var) else []
        return source if self.holds(name, origins, others, reader, every_trip) else None

    def available(self, key, facts: Facts, reader):
        """The variable holding the expression `key` where `reader` runs, if a fact says so and still holds."""
        fact = facts.exprs.get(key)
        if fact is None:
            return None
        target, origins = fact
        return target if self.holds(target, origins, ir.operand_vars(key[1]), reader) else None

    def substitute(self, operand, facts: Facts, reader, every_trip: bool = False):
        if isinstance(operand, Var):
            found = self.copy_of(operand.name, facts, reader, every_trip)
            return operand if found is None else found
        if isinstance(operand, ir.Slice):
            return ir.Slice(*(self.substitute(p, facts, reader) if p is not None else None
                              for p in (operand.start, operand.stop, operand.step)))
        return operand

    def block(self, block: list, facts: Facts) -> list:
        out: list = []
        for stmt in block:
            handler = self.handlers[type(stmt)]
            result = handler(self, stmt, facts)
            if isinstance(result, list):
                out.extend(result)
            elif result is not None:
                out.append(result)
        return out

    def assign(self, stmt: Assign, facts: Facts):
        args = tuple(self.substitute(a, facts, stmt) for a in stmt.args)
        folded = self.fold(stmt.target, stmt.prim, args)
        if stmt.prim == "add" and not isinstance(folded, (Var, Const)):
            folded = self.add_to_zero_array(stmt, args, facts, folded)
        if isinstance(folded, (Var, Const)):
            prim, args = "copy", (folded,)
        else:
            prim, args = folded
        if prim == "copy" and args[0] == Var(stmt.target):
            return None     # `x = x` does nothing
        if prim == "copy" and self.would_share_written_memory(stmt.target, args[0]):
            prim = "array_copy"   # an alias would see (or make) the writes: a value needs its own array
        key = (prim, args, stmt.params)
        reads_target = stmt.target in ir.operand_vars(args)
        if prim != "copy" and prim not in _IMPURE and not reads_target \
                and self.available(key, facts, stmt) == stmt.target and self.checks_as_well(stmt, key, facts):
            return None     # the target already holds this value (the same computation ran before)
        facts.forget(stmt.target)
        if prim == "zeros_like":
            facts.zeros[stmt.target] = frozenset({self.df.pos(stmt)})
        if prim == "copy":
            source = args[0]
            if isinstance(source, Const) or self.prefer(stmt.target, source):
                if not (isinstance(source, Var) and source.name == stmt.target) and stmt.target not in self.protected:
                    facts.copies[stmt.target] = (source, frozenset({self.df.pos(stmt)}))
        elif prim not in _IMPURE:
            holder = self.available(key, facts, stmt)
            if holder is not None and holder != stmt.target and self.checks_as_well(stmt, key, facts):
                source = Var(holder)
                prim, args = "copy", (source,)
                if self.prefer(stmt.target, source):
                    facts.copies[stmt.target] = (source, frozenset({self.df.pos(stmt)}))
            elif not reads_target:
                facts.exprs[key] = (stmt.target, frozenset({self.df.pos(stmt)}))
        return Assign(stmt.target, prim, args, stmt.loc, stmt.params,
                      error_effect=stmt.error_effect and prim == stmt.prim)

    def checks_as_well(self, stmt: Assign, key, facts: Facts) -> bool:
        """May `stmt` give way to the earlier computation of `key`?  Always, unless `stmt` is a statement
        the user wrote whose error is part of the function (`error_effect`): then only when every statement that made the fact is one too, so
        that the check (an index, a divisor) stays in the program (dead-code elimination keeps those)."""
        if not stmt.error_effect:
            return True
        return all(self.df.statement_at(origin).error_effect for origin in facts.exprs[key][1])

    def would_share_written_memory(self, target: str, source) -> bool:
        """Would `target = source` make two names for an array that something writes into?"""
        t = self.types.get(target)
        return (isinstance(source, Var) and t is not None and t.is_array and source.name != target
                and (source.name in self.mutable or target in self.mutable))

    def add_to_zero_array(self, stmt: Assign, args: tuple, facts: Facts, folded):
        """`z + c` where `z` is known to be a zero array of the target's type is `c` (or a copy of it)."""
        target = stmt.target
        target_type = self.types.get(target)
        for zero, other in ((args[0], args[1]), (args[1], args[0])):
            if isinstance(zero, Var) and isinstance(other, Var) and self.types.get(other.name) == target_type:
                origins = facts.zeros.get(zero.name)
                if origins is not None and self.holds(zero.name, origins, (), stmt):
                    return ("array_copy", (other,)) if target in self.mutable else other
        return folded

    def prefer(self, target: str, source) -> bool:
        """Replace uses of `target` by `source`?  Not when that trades a nice name for a temporary."""
        if not isinstance(source, Var):
            return True
        return is_temporary(target) or not is_temporary(source.name)

    def fold(self, target: str, prim: str, args: tuple):
        """Algebraic simplification of one right-hand side: an operand, or (prim, args)."""
        spec = PRIMITIVES[prim]
        if prim == "copy":
            return args[0]
        target_type = self.types.get(target)
        scalar = target_type is None or not target_type.is_array
        if all(isinstance(a, Const) for a in args) and prim in _FOLDABLE and scalar:
            try:
                value = spec.evaluate(*(a.value for a in args))
            except (ArithmeticError, ValueError, TypeError):
                value = None
            if isinstance(value, complex):
                value = None        # Python's `(-2.0) ** 1.5`: the statement stays, checked where read
            if value is not None and value == value and abs(value) != float("inf"):
                if target_type == FLOAT:
                    value = float(value)
                return Const(value)
        same = lambda operand: (isinstance(operand, Var) and self.types.get(operand.name) == target_type)
        # `0.0 + x -> x`, `0.0 - x -> -x`, `0 * x -> 0`, `0 / x -> 0` can change a zero's sign (or a nan):
        # exact for integers, and for the adjoint sweep's sums of contributions; never for float values
        # of the program itself, where `atan2(0.0 - y, -1.0)` depends on it
        loose = target_type is not None and (target_type.kind in ("int", "bool") or target not in self.exact)
        zero = lambda operand: isinstance(operand, Const) and operand.value == 0 and not isinstance(operand.value, bool)
        one = lambda operand: isinstance(operand, Const) and operand.value == 1 and not isinstance(operand.value, bool)
        if prim == "add":
            if zero(args[0]) and same(args[1]) and loose:
                return args[1]
            if zero(args[1]) and same(args[0]) and loose:
                return args[0]
        elif prim == "sub":
            if zero(args[1]) and same(args[0]):
                return args[0]      # x - 0.0 is x, signed zeros included
            if zero(args[0]) and loose:
                return ("neg", (args[1],))
        elif prim == "mul":
            if (zero(args[0]) or zero(args[1])) and scalar and target_type == FLOAT and loose:
                return Const(0.0)
            if one(args[0]) and same(args[1]):
                return args[1]
            if one(args[1]) and same(args[0]):
                return args[0]
            for unit, other in ((args[0], args[1]), (args[1], args[0])):
                if one(unit) and isinstance(other, Var) and target_type == FLOAT and self.types.get(other.name) == INT:
                    return ("float", (other,))     # 1.0 * i, with i an int (Numba has no float() of a bool)
            if isinstance(args[1], Const) and args[1].value == -1:
                return ("neg", (args[0],))
            if isinstance(args[0], Const) and args[0].value == -1:
                return ("neg", (args[1],))
            if isinstance(args[1], Const) and not isinstance(args[0], Const):
                return ("mul", (args[1], args[0]))     # constants first: 2 * x
        elif prim == "div":
            if one(args[1]) and same(args[0]):
                return args[0]
            if zero(args[0]) and scalar and target_type == FLOAT and loose:
                return Const(0.0)
        elif prim == "floordiv":
            if one(args[1]) and same(args[0]) and target_type is not None and target_type.kind == "int":
                return args[0]
        elif prim == "pow":
            if one(args[1]) and same(args[0]):
                return args[0]
        elif prim == "float":
            if same(args[0]) and not (isinstance(args[0], Var) and args[0].name in self.numpy_numbers):
                return args[0]
        return prim, args

    def store(self, stmt: Store, facts: Facts):
        # what the store changes (this array, and every array that may share its memory) is a partial
        # definition in the dataflow layer: facts about them stop holding past here by `def_clear`
        return Store(stmt.array, tuple(self.substitute(i, facts, stmt) for i in stmt.index),
                     self.substitute(stmt.value, facts, stmt), stmt.prim, stmt.loc, stmt.error_effect)

    def push(self, stmt: Push, facts: Facts):
        return Push(stmt.tape, self.substitute(stmt.value, facts, stmt), stmt.growable, stmt.loc)

    def pop(self, stmt: Pop, facts: Facts):
        facts.forget(stmt.target)
        facts.forget(stmt.tape)
        return stmt

    def tape_alloc(self, stmt: TapeAlloc, facts: Facts):
        facts.forget(stmt.tape)
        return TapeAlloc(stmt.tape, stmt.dtype, self.substitute(stmt.capacity, facts, stmt), stmt.growable,
                         stmt.shape_of)

    def comment(self, stmt, facts: Facts):
        return stmt

    def if_(self, stmt: If, facts: Facts):
        cond = self.substitute(stmt.cond, facts, stmt)
        if isinstance(cond, Var) and cond.name in self.df.written_in(stmt):
            cond = stmt.cond    # the branch writes that variable: keep the value it was taken on
        if isinstance(cond, Const):
            return self.block(stmt.body if cond.value else stmt.orelse, facts)
        then, orelse_facts = facts.copy(), facts.copy()
        body = self.block(stmt.body, then)
        orelse = self.block(stmt.orelse, orelse_facts)
        facts.set_to(meet(then, orelse_facts))
        return If(cond, body, orelse, stmt.loc)

    def loop(self, stmt, facts: Facts):
        """Find what holds at the loop head (entry meets end of body), then rewrite the body."""
        if isinstance(stmt, For):
            bounds = [self.substitute(b, facts, stmt) for b in (stmt.start, stmt.stop, stmt.step)]
        head = facts.copy()
        if isinstance(stmt, For):
            head.forget(stmt.index)
        for _ in range(50):
            trial = head.copy()
            if isinstance(stmt, While):
                self.block(stmt.test, trial)
            self.block(stmt.body, trial)
            new_head = meet(head, trial)
            if isinstance(stmt, For):
                new_head.forget(stmt.index)
            if new_head == head:
                break
            head = new_head
        body_facts = head.copy()
        if isinstance(stmt, While):
            test = self.block(stmt.test, body_facts)
            # the condition is read after the test on every trip
            cond = self.substitute(stmt.cond, body_facts, stmt, every_trip=True)
            after = body_facts.copy()   # the test ran last
            body = self.block(stmt.body, body_facts)
            result = While(test, cond, body, stmt.loc, stmt.exit_flag)
        else:
            body = self.block(stmt.body, body_facts)
            result = dataclasses.replace(stmt, start=bounds[0], stop=bounds[1], step=bounds[2], body=body)
            after = head.copy()
        if stmt.exit_flag:
            # leaving early skips the rest of the body: only what holds at the head is certain
            after = head.copy()
            if isinstance(stmt, For):
                after.forget(stmt.index)
        facts.set_to(after)
        return result

    handlers = {Assign: assign, Store: store, Push: push, Pop: pop, TapeAlloc: tape_alloc,
                Comment: comment, If: if_, For: loop, While: loop}
