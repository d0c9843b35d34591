"""Reads of a name that may be unassigned: checked when the function runs, as Python checks them.

Takes the lowered function, its regions expanded (`pipeline._types`), and its `assert` sites.  Guarantees: every read of a
variable that the dataflow layer (`ir.dataflow`) finds reachable both from an assignment and from the
function's entry with no assignment on the way -- a loop index read after a loop that may run no
trips, a name bound in one branch only -- is preceded by a check that fails when the name is unbound
on this call.  The check is an `assert_true` of a bool flag (`<name>_bound`), False on entry and set
True right after every statement that assigns the name; its site is recorded in `unbound_reads`
(site -> the name as the user wrote it), so that the API raises `UnboundNameError` naming the line, where Python raises
UnboundLocalError.

Why a check and not a refusal: `for i in range(n): ...` followed by `x[i]` is a valid program whenever
n > 0, and the dataflow layer cannot know n.  Why not leave it: the generated Python code would fail
with a raw UnboundLocalError, and Numba reads an unbound variable as whatever its slot holds (zero):
a gradient where the function raises.

A read that no assignment reaches at all is an error before anything runs (`pipeline._check_defined`).
The flags are bools that nothing differentiates; they cost one store per assignment of a name that
needs one, and no name that is definitely assigned gets one.
"""
from __future__ import annotations

from .. import ir
from ..ir import dataflow
from ..ir.nodes import Assign, Const, For, If, Loc, Var, While


def insert_bound_checks(function: ir.Function, names: ir.Names, asserts: dict, user_variables: dict) -> dict:
    """Insert the checks and flags (in place); returns the new sites, site -> the unbound name as the
    user wrote it (an inlined callee's `s`, not its IR name `helper2_s`).  `asserts` (site -> Loc) gains
    one entry per check.  Only `user_variables` (IR name -> user's name) are checked: the names the
    lowering makes for itself (a return's value and flag, temporaries) are bound wherever they are
    read, by construction, though a path-insensitive analysis cannot see it (`if x > 1: return a`,
    then `return b`: the value is set on both paths, guarded by the flag)."""
    facts = dataflow.of(function)
    maybe_unbound: list = []       # (statement that reads, name), in program order
    for stmt in facts.statements:
        for name in dict.fromkeys(ir.reads(stmt)):
            reaching = facts.reaching(stmt, name)
            if dataflow.UNDEFINED in reaching and len(reaching) > 1 and name in user_variables:
                maybe_unbound.append((stmt, name))
    result_unbound = []
    for operand in ([function.result] if function.result is not None else []) + list(function.returns):
        if isinstance(operand, Var):
            reaching = facts.reaching_exit(operand.name)
            if dataflow.UNDEFINED in reaching and len(reaching) > 1 and operand.name in user_variables:
                result_unbound.append(operand.name)
    if not maybe_unbound and not result_unbound:
        return {}
    flags = {name: names.fresh(f"{name}_bound")
             for name in dict.fromkeys([n for _, n in maybe_unbound] + result_unbound)}
    sites: dict = {}

    def check(name: str, loc: Loc | None) -> Assign:
        site = len(asserts) + 1
        asserts[site] = loc if loc is not None else Loc(function.filename, function.firstline, "")
        sites[site] = user_variables[name]
        return Assign(names.fresh("checked"), "assert_true", (Var(flags[name]),), loc, (("site", site),))

    checks_before: dict = {}      # id(statement) -> checks to run just before it
    for stmt, name in maybe_unbound:
        checks_before.setdefault(id(stmt), []).append(check(name, getattr(stmt, "loc", None)))
    function.body = _rewrite(function.body, flags, checks_before)
    function.body[:0] = [Assign(flag, "copy", (Const(False),)) for flag in flags.values()]
    last_loc = next((s.loc for s in reversed(list(ir.walk(function.body))) if getattr(s, "loc", None)), None)
    function.body += [check(name, last_loc) for name in result_unbound]
    dataflow.invalidate(function)
    return sites


def _set_flags(stmt, flags: dict) -> list:
    return [Assign(flags[name], "copy", (Const(True),), getattr(stmt, "loc", None))
            for name in ir.writes(stmt) if name in flags]


def _rewrite(block: list, flags: dict, checks_before: dict) -> list:
    out: list = []
    for stmt in block:
        checks = checks_before.get(id(stmt), [])
        if isinstance(stmt, While):
            # the condition is read after the test block, on every trip
            stmt.test = _rewrite(stmt.test, flags, checks_before) + checks
            stmt.body = _rewrite(stmt.body, flags, checks_before)
            out.append(stmt)
            continue
        out += checks
        if isinstance(stmt, For):
            stmt.body = _set_flags(stmt, flags) + _rewrite(stmt.body, flags, checks_before)
            out.append(stmt)
            continue
        if isinstance(stmt, If):
            stmt.body = _rewrite(stmt.body, flags, checks_before)
            stmt.orelse = _rewrite(stmt.orelse, flags, checks_before)
        out.append(stmt)
        out += _set_flags(stmt, flags)
    return out
