"""Simplify: an adjoint IR function -> an equivalent, smaller one.

Takes: an `ir.Function` with `types`.  Guarantees the same results (bit for
bit on finite values, up to the usual `0 * x == 0` of AD tools) with, to a
fixed point:

* constants folded and propagated, `x * 1`, `x + 0`, `0 * x`, `x ** 1`,
  `x / 1` and `-(-c)` removed, branches on constants resolved;
* copies propagated towards the nicer name (the user's, or an adjoint's,
  rather than a temporary's);
* common subexpressions shared (available expressions, killed by assignment);
* dead statements removed (liveness), including adjoint initialisations that
  are overwritten before use and loops or branches left empty;
* a forward loop and the loop reversing it fused into one pass when the order
  of trips cannot matter (`fuse_mirrored_loops`);
* (`hoist_invariants`, run on the primal before reversal) loop-invariant
  arithmetic moved out of loops, so that no tape stores it trip after trip.

Loops are handled with the usual fixed point: what is known at a loop head is
what is known on entry *and* at the end of the body.
"""
from __future__ import annotations

import dataclasses
import re

from . import ir
from .ir import (FLOAT, Assign, Comment, Const, For, If, Pop, Push, Store, TapeAlloc, Var, While)
from .rules import PRIMITIVES

_FOLDABLE = {"add", "sub", "mul", "neg", "copy", "lt", "le", "gt", "ge", "eq", "ne", "not", "float",
             "pow", "div", "floordiv", "mod", "max", "min", "abs"}
_IMPURE = {"zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "array_copy", "full",
           "zeros2", "ones2", "empty2"}
_TEMPORARY = re.compile(r"^t\d+(_bar\d*)?$")


def is_temporary(name: str, user_names=frozenset()) -> bool:
    return bool(_TEMPORARY.match(name)) and name not in user_names


class Propagate:
    """Forward pass: constant and copy propagation, algebraic folding, CSE."""

    def __init__(self, function: ir.Function):
        self.types = function.types
        self.user = function.source_names if hasattr(function, "source_names") else frozenset()
        self.protected = set()   # variables the printer reads by name (loop exit flags)
        # arrays written in place (x_bar[i] += g): never let another name alias them
        self.stored = {stmt.array for stmt in ir.walk(function.body) if isinstance(stmt, Store)}
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
        zero = lambda operand: isinstance(operand, Const) and operand.value == 0 and not isinstance(operand.value, bool)
        one = lambda operand: isinstance(operand, Const) and operand.value == 1 and not isinstance(operand.value, bool)
        if prim == "add":
            if zero(args[0]) and same(args[1]):
                return args[1]
            if zero(args[1]) and same(args[0]):
                return args[0]
        elif prim == "sub":
            if zero(args[1]) and same(args[0]):
                return args[0]
            if zero(args[0]):
                return ("neg", (args[1],))
        elif prim == "mul":
            if (zero(args[0]) or zero(args[1])) and scalar and target_type == FLOAT:
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
            if zero(args[0]) and scalar and target_type == FLOAT:
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
        self.kill_array(avail, stmt.array)
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


def _meet_into(target: dict, a: dict, b: dict) -> None:
    target.clear()
    target.update({k: v for k, v in a.items() if k in b and b[k] == v})


class Eliminate:
    """Backward pass: dead-code elimination by liveness."""

    def __init__(self, function: ir.Function):
        self.function = function

    def block(self, block: list, live: set) -> tuple[list, set]:
        out: list = []
        live = set(live)
        for stmt in reversed(block):
            kept, live = self.handlers[type(stmt)](self, stmt, live)
            if kept is not None:
                out.append(kept)
        out.reverse()
        return out, live

    def assign(self, stmt: Assign, live):
        if stmt.target not in live:
            return None, live
        live = (live - {stmt.target}) | set(ir.reads(stmt))
        return stmt, live

    def effect(self, stmt, live):
        return stmt, (live - set(w for w in ir.writes(stmt) if not isinstance(stmt, (Store, Push)))) | set(ir.reads(stmt))

    def store(self, stmt: Store, live):
        if stmt.array not in live:
            return None, live
        return stmt, live | set(ir.reads(stmt))

    def tape_alloc(self, stmt: TapeAlloc, live):
        if stmt.tape not in live:
            return None, live
        return stmt, (live - {stmt.tape}) | set(ir.reads(stmt))

    def comment(self, stmt, live):
        return stmt, live

    def if_(self, stmt: If, live):
        body, live_body = self.block(stmt.body, live)
        orelse, live_else = self.block(stmt.orelse, live)
        if not body and not orelse:
            return None, live
        return If(stmt.cond, body, orelse, stmt.loc), live_body | live_else | set(ir.operand_vars([stmt.cond]))

    def loop(self, stmt, live):
        live_head = set(live)
        extra = {stmt.exit_flag} if stmt.exit_flag else set()
        for _ in range(100):
            body, live_body = self.block(stmt.body, live_head | extra)
            if isinstance(stmt, While):
                test, live_test = self.block(stmt.test, live_body | set(live) | {ir.operand_vars([stmt.cond])[0]}
                                             if isinstance(stmt.cond, Var) else live_body | set(live))
                new_head = live_test | set(live)
            else:
                new_head = (live_body - {stmt.index}) | set(live)
            if new_head <= live_head:
                break
            live_head |= new_head
        if not body and not stmt.exit_flag:
            if isinstance(stmt, For):
                return None, live
        if isinstance(stmt, While):
            return While(test, stmt.cond, body, stmt.loc, stmt.exit_flag), live_head
        bounds = set(ir.operand_vars([stmt.start, stmt.stop, stmt.step]))
        return dataclasses.replace(stmt, body=body), \
            (live_head - {stmt.index}) | bounds

    handlers = {Assign: assign, Store: store, Push: effect, Pop: effect, TapeAlloc: tape_alloc,
                Comment: comment, If: if_, For: loop, While: loop}


def _fingerprint(function: ir.Function) -> str:
    return "\n".join(ir.format_block(function.body, 0)) + "|" + ",".join(map(str, function.returns))


def simplify(function: ir.Function, max_rounds: int = 20, fuse: bool = True) -> ir.Function:
    """Propagate, fold and eliminate until nothing changes."""
    for _ in range(max_rounds):
        before = _fingerprint(function)
        env: dict = {}
        avail: dict = {}
        propagate = Propagate(function)
        function.body = propagate.block(function.body, env, avail)
        # returned gradients keep their names (`b_bar = z_bar` reads better than returning `z_bar`)
        function.returns = tuple(propagate.substitute(r, env) if isinstance(propagate.substitute(r, env), Const)
                                 or is_temporary(r.name) else r for r in function.returns)
        live = set(ir.operand_vars(function.returns))
        function.body, _ = Eliminate(function).block(function.body, live)
        if _fingerprint(function) == before:
            break
    if fuse and fuse_mirrored_loops(function):
        return simplify(function, max_rounds, fuse=False)
    function.body = _drop_empty_sections(function.body)
    for stmt in ir.walk(function.body):
        for child in ir.child_blocks(stmt):
            child[:] = _drop_empty_sections(child)
    return function


def _drop_empty_sections(body: list) -> list:
    """Remove a section comment directly followed by another section comment or the end."""
    out = []
    for k, stmt in enumerate(body):
        if isinstance(stmt, Comment) and (k + 1 == len(body) or isinstance(body[k + 1], Comment)):
            continue
        out.append(stmt)
    return out


_HOISTABLE = {"add", "sub", "mul", "neg", "copy", "lt", "le", "gt", "ge", "eq", "ne", "not", "float"}


def hoist_invariants(function: ir.Function) -> None:
    """Move loop-invariant arithmetic out of loops (before reversal: no tape for it then).

    A statement moves when it is at the top of the loop body, its operands are
    not written in the loop, its target is written only there and not read in
    the loop before it, and its primitive cannot raise (so a loop that runs no
    trips loses nothing)."""
    function.body = _hoist_block(function.body, function)


def _hoist_block(block: list, function) -> list:
    out: list = []
    for stmt in block:
        for child in ir.child_blocks(stmt):
            child[:] = _hoist_block(child, function)
        if isinstance(stmt, (For, While)):
            written = ir.assigned_in(stmt.body) | (ir.assigned_in(stmt.test) if isinstance(stmt, While) else set())
            if isinstance(stmt, For):
                written.add(stmt.index)
            writes_total = {}
            for inner in ir.walk(function.body):
                for name in ir.writes(inner):
                    writes_total[name] = writes_total.get(name, 0) + 1
            kept, read_before = [], set(ir.used_in(stmt.test)) if isinstance(stmt, While) else set()
            for inner in stmt.body:
                safe_division = (isinstance(inner, Assign) and inner.prim == "div" and isinstance(inner.args[1], Const)
                                 and inner.args[1].value != 0)
                movable = (isinstance(inner, Assign) and (inner.prim in _HOISTABLE or safe_division)
                           and not (set(ir.operand_vars(inner.args)) & written)
                           and writes_total.get(inner.target) == 1 and inner.target not in read_before
                           and (stmt.exit_flag != inner.target))
                if movable:
                    out.append(inner)
                    written.discard(inner.target)
                else:
                    kept.append(inner)
                read_before |= ir.used_in([inner])
            stmt.body[:] = kept
        out.append(stmt)
    return out


def fuse_mirrored_loops(function: ir.Function) -> bool:
    """Fuse mirrored loop pairs in every block (see `_fuse_in_block`), merging the two
    branches on one condition that hold the pair (forward sweep, reverse sweep) first."""
    fused = False
    blocks = [function.body] + [child for stmt in ir.walk(function.body) for child in ir.child_blocks(stmt)]
    for block in blocks:
        fused = _merge_branches_holding_pairs(block) | fused
    blocks = [function.body] + [child for stmt in ir.walk(function.body) for child in ir.child_blocks(stmt)]
    for block in blocks:
        fused = _fuse_in_block(block) | fused
    return fused


def _pairs_in(block: list, reverses: bool) -> set:
    return {s.pair for s in block if isinstance(s, For) and s.pair is not None and s.reverses == reverses}


def _merge_branches_holding_pairs(block: list) -> bool:
    """`if c: A1 else: B1; S; if c: A2 else: B2` -> `if c: A1; S; A2 else: B1; S; B2`, when A1 and A2
    hold the two halves of a loop pair and nothing writes `c` in between."""
    import copy
    for k, first in enumerate(block):
        if not (isinstance(first, If) and isinstance(first.cond, Var)):
            continue
        for j in range(k + 1, len(block)):
            second = block[j]
            between = block[k + 1:j]
            if isinstance(second, If) and second.cond == first.cond:
                if _pairs_in(first.body, False) & _pairs_in(second.body, True) and \
                        first.cond.name not in ir.assigned_in(between + [first]) and len(between) <= 40:
                    merged = If(first.cond, first.body + between + second.body,
                                first.orelse + copy.deepcopy(between) + second.orelse, first.loc)
                    block[k:j + 1] = [merged]
                    return True
                break
    return False


def _fuse_in_block(block: list) -> bool:
    """Run a forward loop and the loop reversing it as one loop, when the order of trips cannot matter.

    In `value_and_grad` of a loop that accumulates (a sum over data, say), the
    reverse loop recomputes what it needs and only adds into adjoints; running
    its trips forwards, inside the forward loop, gives the same sums (up to
    rounding order) in one pass, and lets CSE share what both bodies compute.
    Conditions: no tape in either loop; every variable the reverse body writes
    is either defined before it is read in each trip, or an accumulator
    (`v = v + e`, `e` not reading accumulators), or an array it adds into;
    the reverse body reads nothing the forward body writes unless it defines
    it first; and the statements between the loops that the reverse body
    needs do not depend on the forward loop (they move before it)."""
    fused = False
    k = 0
    while k < len(block):
        forward = block[k]
        if isinstance(forward, For) and forward.pair is not None and not forward.reverses \
                and forward.exit_flag is None:
            for j in range(k + 1, len(block)):
                other = block[j]
                if isinstance(other, For) and other.pair == forward.pair and other.reverses:
                    plan = _fusion_plan(forward, block[k + 1:j], other)
                    if plan is not None:
                        moved, kept = plan
                        marker = Comment("reverse of this trip, in the same pass")
                        merged = dataclasses.replace(forward, body=forward.body + [marker] + other.body, pair=None)
                        block[k:j + 1] = moved + [merged] + kept
                        fused = True
                    break
        k += 1
    return fused


def _fusion_plan(forward: For, between: list, backward: For):
    if any(isinstance(s, (Push, Pop, TapeAlloc, While)) for s in ir.walk(forward.body + backward.body)):
        return None
    if any(isinstance(s, For) for s in ir.walk(backward.body)):
        return None
    forward_writes = ir.assigned_in(forward.body) | {forward.index}
    # classify what the reverse body writes
    local, accumulators, defined = set(), set(), set()
    for stmt in backward.body:
        if not isinstance(stmt, (Assign, Store, Comment)):
            return None
        if isinstance(stmt, Store):
            if stmt.prim != "add" or stmt.array in defined:
                return None
            accumulators.add(stmt.array)
            continue
        if isinstance(stmt, Comment):
            continue
        target, reads = stmt.target, set(ir.reads(stmt))
        if stmt.prim == "add" and stmt.args and stmt.args[0] == Var(target) and target not in defined:
            accumulators.add(target)
            if target in ir.operand_vars(stmt.args[1:]):
                return None
        else:
            if target in accumulators:
                return None
            defined.add(target)
    for stmt in backward.body:
        reads = set(ir.reads(stmt))
        if isinstance(stmt, Assign) and stmt.target in accumulators:
            reads = set(ir.operand_vars(stmt.args[1:]))
        if isinstance(stmt, Store):
            reads = set(ir.operand_vars(stmt.index) + ir.operand_vars([stmt.value]))
        if reads & accumulators:
            return None
    if (accumulators | defined) & (ir.used_in(forward.body) - defined):
        return None           # the forward body would see the reverse body's writes
    backward_reads = ir.used_in(backward.body) - defined - accumulators
    if backward.index != forward.index or backward_reads & (forward_writes - {forward.index}):
        return None           # the reverse body reads a value the forward loop carries
    # the statements between the loops that the reverse body needs move before the forward loop
    needed = set(backward_reads | accumulators)
    moved_ids = set()
    for stmt in reversed(between):
        if isinstance(stmt, Assign) and stmt.target in needed:
            moved_ids.add(id(stmt))
            needed |= set(ir.reads(stmt))
        elif set(ir.writes(stmt)) & needed or (ir.child_blocks(stmt) and ir.assigned_in([stmt]) & needed):
            return None
    moved = [s for s in between if id(s) in moved_ids]
    kept = [s for s in between if id(s) not in moved_ids]
    for position, stmt in enumerate(between):
        if id(stmt) not in moved_ids:
            continue
        if set(ir.reads(stmt)) & forward_writes or stmt.target in forward_writes | ir.used_in(forward.body):
            return None
        earlier = [s for s in between[:position] if id(s) not in moved_ids]
        if stmt.target in ir.used_in(earlier) | ir.assigned_in(earlier):
            return None
    return moved, kept
