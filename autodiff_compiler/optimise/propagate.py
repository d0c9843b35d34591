"""Propagate: one forward pass of constant and copy propagation, algebraic folding and CSE.

Takes: an `ir.Function` with `types`.  Guarantees the same results (bit for
bit on finite values, up to the usual `0 * x == 0` of AD tools in the
adjoint's sums) with constants folded and propagated, `x * 1`, `x - 0`,
`x ** 1`, `x / 1` removed, branches on constants resolved, copies propagated
towards the nicer name, and common subexpressions shared.

Legality.  This pass is its own forward dataflow analysis of *available
copies and expressions*, run over the structured IR: at a branch what holds
after is what holds on both sides; at a loop head, what holds on entry and at
the end of every trip (iterated to a fixed point); after a loop with an exit
flag, only what held at its head.  A copy `t = s` (or a constant) replaces
later reads of `t` only while no definition of `t` or of `s` has happened on
any path since; an expression computed into `t` replaces a later identical
one only while no definition of `t` or of its operands has; a store into an
array kills every available expression that reads an array that may share its
memory (`ir.dataflow.SHARING` links); a copy between arrays that something
writes into is made a real copy (`array_copy`), so the pass never creates two
names for written memory.  Folding is exact in IEEE arithmetic for the
program's own values (signed zeros and NaNs included: never `0.0 + x -> x` or
`0 * x -> 0` there); the loose folds apply only to what the reverse pass adds.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ..ir.names import is_temporary
from ..ir import (FLOAT, Assign, Comment, Const, For, If, Pop, Push, Store, TapeAlloc, Var, While)
from ..ir.dataflow import SHARING
from ..rules import PRIMITIVES

_FOLDABLE = {"add", "sub", "mul", "neg", "copy", "lt", "le", "gt", "ge", "eq", "ne", "not", "float",
             "pow", "div", "floordiv", "mod", "max", "min", "abs"}
_IMPURE = {"zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "array_copy", "full", "assert_true"}
class Propagate:
    """Forward pass: constant and copy propagation, algebraic folding, CSE."""

    def __init__(self, function: ir.Function):
        self.types = function.types
        self.user = function.source_names if hasattr(function, "source_names") else frozenset()
        self.protected = set()   # variables the printer reads by name (loop exit flags)
        # the program's own values fold exactly; only what the reverse pass adds may fold loosely
        self.exact = getattr(function, "exact_names", None) or set(function.types)
        # arrays written in place (x_bar[i] += g): never let another name alias them
        self.stored = {stmt.array for stmt in ir.walk(function.body) if isinstance(stmt, Store)}
        self.mutable = _sharing_memory_with(function, self.stored)
        for stmt in ir.walk(function.body):
            if isinstance(stmt, (For, While)) and stmt.exit_flag:
                self.protected.add(stmt.exit_flag)

    # environments: env maps var -> operand equal to it; avail maps expression key -> var
    @staticmethod
    def kill(env: dict, avail: dict, name: str) -> None:
        env.pop(("zero", name), None)
        for key in [k for k, v in env.items() if k == name or (isinstance(v, Var) and v.name == name)]:
            del env[key]
        for key in [k for k, v in avail.items() if v == name or name in ir.operand_vars(k[1])]:
            del avail[key]

    def kill_array(self, avail: dict, array: str) -> None:
        for key in [k for k, v in avail.items() if v == array or array in ir.operand_vars(k[1])]:
            del avail[key]

    def substitute(self, operand, env):
        if isinstance(operand, Var) and operand.name in env:
            return env[operand.name]
        if isinstance(operand, ir.Slice):
            return ir.Slice(*(self.substitute(p, env) if p is not None else None
                              for p in (operand.start, operand.stop, operand.step)))
        return operand

    def block(self, block: list, env: dict, avail: dict) -> list:
        out: list = []
        for stmt in block:
            handler = self.handlers[type(stmt)]
            result = handler(self, stmt, env, avail)
            if isinstance(result, list):
                out.extend(result)
            elif result is not None:
                out.append(result)
        return out

    def assign(self, stmt: Assign, env, avail):
        args = tuple(self.substitute(a, env) for a in stmt.args)
        folded = self.fold(stmt.target, stmt.prim, args)
        if stmt.prim == "add" and not isinstance(folded, (Var, Const)):
            folded = self.add_to_zero_array(stmt.target, args, env, folded)
        if isinstance(folded, (Var, Const)):
            prim, args = "copy", (folded,)
        else:
            prim, args = folded
        if prim == "copy" and args[0] == Var(stmt.target):
            return None     # `x = x` does nothing
        if prim == "copy" and self.would_share_written_memory(stmt.target, args[0]):
            prim = "array_copy"   # an alias would see (or make) the writes: a value needs its own array
        if prim != "copy" and prim not in _IMPURE and avail.get((prim, args, stmt.params)) == stmt.target \
                and stmt.target not in ir.operand_vars(args):
            return None     # the target already holds this value (the same computation ran before)
        self.kill(env, avail, stmt.target)
        if prim == "zeros_like":
            env[("zero", stmt.target)] = True
        key = (prim, args, stmt.params)
        if prim == "copy":
            source = args[0]
            if isinstance(source, Const) or self.prefer(stmt.target, source):
                if not (isinstance(source, Var) and source.name == stmt.target) and stmt.target not in self.protected:
                    env[stmt.target] = source
        elif prim not in _IMPURE:
            if key in avail and avail[key] != stmt.target:
                source = Var(avail[key])
                prim, args = "copy", (source,)
                if self.prefer(stmt.target, source):
                    env[stmt.target] = source
            elif stmt.target not in ir.operand_vars(args):
                avail[key] = stmt.target
        return Assign(stmt.target, prim, args, stmt.loc, stmt.params)

    def would_share_written_memory(self, target: str, source) -> bool:
        """Would `target = source` make two names for an array that something writes into?"""
        t = self.types.get(target)
        return (isinstance(source, Var) and t is not None and t.is_array and source.name != target
                and (source.name in self.mutable or target in self.mutable))

    def add_to_zero_array(self, target: str, args: tuple, env: dict, folded):
        """`z + c` where `z` is known to be a zero array of the target's type is `c` (or a copy of it)."""
        target_type = self.types.get(target)
        for zero, other in ((args[0], args[1]), (args[1], args[0])):
            if isinstance(zero, Var) and env.get(("zero", zero.name)) and isinstance(other, Var) \
                    and self.types.get(other.name) == target_type:
                return ("array_copy", (other,)) if target in self.stored else other
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
                if one(unit) and isinstance(other, Var) and target_type == FLOAT:
                    return ("float", (other,))     # 1.0 * i, with i an int
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
            if same(args[0]):
                return args[0]
        return prim, args

    def store(self, stmt: Store, env, avail):
        for array in {stmt.array} | self.mutable:
            self.kill_array(avail, array)      # views of the array see the store too
        env.pop(("zero", stmt.array), None)
        return Store(stmt.array, tuple(self.substitute(i, env) for i in stmt.index),
                     self.substitute(stmt.value, env), stmt.prim, stmt.loc)

    def push(self, stmt: Push, env, avail):
        return Push(stmt.tape, self.substitute(stmt.value, env), stmt.growable, stmt.loc)

    def pop(self, stmt: Pop, env, avail):
        self.kill(env, avail, stmt.target)
        return stmt

    def tape_alloc(self, stmt: TapeAlloc, env, avail):
        return TapeAlloc(stmt.tape, stmt.dtype, self.substitute(stmt.capacity, env), stmt.growable, stmt.shape_of)

    def comment(self, stmt, env, avail):
        return stmt

    def if_(self, stmt: If, env, avail):
        cond = self.substitute(stmt.cond, env)
        if isinstance(cond, Var) and cond.name in ir.assigned_in(stmt.body) | ir.assigned_in(stmt.orelse):
            cond = stmt.cond    # the branch writes that variable: keep the value it was taken on
        if isinstance(cond, Const):
            return self.block(stmt.body if cond.value else stmt.orelse, env, avail)
        env_then, avail_then = dict(env), dict(avail)
        env_else, avail_else = dict(env), dict(avail)
        body = self.block(stmt.body, env_then, avail_then)
        orelse = self.block(stmt.orelse, env_else, avail_else)
        _meet_into(env, env_then, env_else)
        _meet_into(avail, avail_then, avail_else)
        return If(cond, body, orelse, stmt.loc)

    def loop(self, stmt, env, avail):
        """Find what holds at the loop head (entry meets end of body), then rewrite the body."""
        varying = ir.assigned_in(stmt.body) | (ir.assigned_in(stmt.test) if isinstance(stmt, While) else set())
        if isinstance(stmt, For):
            varying.add(stmt.index)
            bounds = [self.substitute(b, env) for b in (stmt.start, stmt.stop, stmt.step)]
        head_env, head_avail = dict(env), dict(avail)
        if isinstance(stmt, For):
            self.kill(head_env, head_avail, stmt.index)
        for _ in range(50):
            trial_env, trial_avail = dict(head_env), dict(head_avail)
            if isinstance(stmt, While):
                self.block(stmt.test, trial_env, trial_avail)
            self.block(stmt.body, trial_env, trial_avail)
            new_env, new_avail = dict(head_env), dict(head_avail)
            _meet_into(new_env, head_env, trial_env)
            _meet_into(new_avail, head_avail, trial_avail)
            if isinstance(stmt, For):
                self.kill(new_env, new_avail, stmt.index)
            if new_env == head_env and new_avail == head_avail:
                break
            head_env, head_avail = new_env, new_avail
        body_env, body_avail = dict(head_env), dict(head_avail)
        if isinstance(stmt, While):
            test = self.block(stmt.test, body_env, body_avail)
            cond = self.substitute(stmt.cond, body_env)
            after_env, after_avail = dict(body_env), dict(body_avail)   # the test ran last
            body = self.block(stmt.body, body_env, body_avail)
            result = While(test, cond, body, stmt.loc, stmt.exit_flag)
        else:
            body = self.block(stmt.body, body_env, body_avail)
            result = dataclasses.replace(stmt, start=bounds[0], stop=bounds[1], step=bounds[2], body=body)
            after_env, after_avail = dict(head_env), dict(head_avail)
        if stmt.exit_flag:
            # leaving early skips the rest of the body: only what holds at the head is certain
            after_env, after_avail = dict(head_env), dict(head_avail)
            if isinstance(stmt, For):
                self.kill(after_env, after_avail, stmt.index)
        env.clear(), env.update(after_env)
        avail.clear(), avail.update(after_avail)
        return result

    handlers = {Assign: assign, Store: store, Push: push, Pop: pop, TapeAlloc: tape_alloc,
                Comment: comment, If: if_, For: loop, While: loop}


def _sharing_memory_with(function: ir.Function, stored: set) -> set:
    """The arrays written into, and every array that may be a view or alias of one (either way)."""
    shared = set(stored)
    links = [(s.target, s.args[0].name) for s in ir.walk(function.body)
             if isinstance(s, Assign) and s.prim in SHARING and s.args and isinstance(s.args[0], Var)]
    changed = True
    while changed:
        changed = False
        for a, b in links:
            if (a in shared) != (b in shared):
                shared |= {a, b}
                changed = True
    return shared


def _meet_into(target: dict, a: dict, b: dict) -> None:
    target.clear()
    target.update({k: v for k, v in a.items() if k in b and b[k] == v})


