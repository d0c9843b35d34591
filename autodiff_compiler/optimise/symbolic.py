"""Symbolic: straight-line scalar regions of the adjoint rewritten by SymPy, proved equal, never less accurate.

Takes: an adjoint `ir.Function` after `simplify` (with `types` and
`exact_names`, the program's own values).  Guarantees the same gradients, to
rounding, and at least as accurate: where the chain rule leaves divisions that
cancel at no cost in accuracy, the gradient is computed by the shorter form
(`3 - (1/(2 + x))**2` for `-(1/(2 + x))/(2 + x) + 3`, squaring the reciprocal the
function computes).  Where the shorter form
loses digits the chain rule keeps, it is refused: the binary cross-entropy's
`y_hat - y` reads `y_hat` rounded near 1, 1e-4 of the gradient where y = 1 and
1 - y_hat = 1e-12 (`symbolic_accuracy`).

Legality (checked on `ir.dataflow`'s facts; where they cannot show it, nothing
fires).  A *region* is a maximal run of consecutive statements of one block
(comments aside) that are assignments of scalars with no effect besides their
result: the target and every operand are floats, ints or bools, except the
array read by a scalar `subscript` or a shape (no store can happen inside the
run, so what it reads is fixed).  No statement of a region assigns a name
that the region read before assigning it: its *inputs* hold their entry
values throughout, and at the region's end every name holds its last value.
Two kinds of statement may sit inside the run without belonging to it: an
accumulation of a value of the program into a name the region has not
assigned (`s = t20` after `t20 = s + t19`), reading none of its adjoint
values (`_steps_over`); and an assignment with no effect besides its result
that reads nothing the region assigns and assigns nothing it reads (a
Jacobian driver's `J = np.zeros((1, 1))` between a Hessian's value and its
tangents: `_inert`).  Either stays where it is, no region statement after it
mentions its target, and no rewrite reads what it assigns.
The region's *outputs* are the names it assigns whose last value is live after
its last statement (`Dataflow.live_out`).  Only outputs that a transform
added (adjoint values and tangents, not in `exact_names`) and that are floats
are rewritten: they flow only into sums and products that end in the
returned derivatives (the transforms compare, index and branch on the
program's own values only), so a rewrite that changes a signed zero cannot
change what the program does.  The pass runs on the last program of a
derivation only (`pipeline.passes_of`): the gradient's, or the tangents of a
jvp, an hvp, a Hessian or a Jacobian; a later transform would differentiate
SymPy's forms, which nothing has proved it may.  A rewrite of an output:

* reads only what holds its meaning at the region's end -- the inputs, and
  the last value of a name the region assigns (never an earlier value of a
  name assigned again, never another output being rewritten);
* is proved equal: both are the same rational function of the region's
  generators (`symbolic_algebra`), and a clamped value (`max(u, c)`) is
  replaced by `u` only inside a product with the indicators that say they
  are equal, emitted as a conditional whose other side is 0.0 and only when
  the rest of the product is a polynomial (nothing there can raise);
* is measured to be no less accurate, against 50-digit values of the region's
  own expression on a fixed grid of points and just either side of its
  comparisons' constant bounds, and never far less accurate where one of its
  sums vanishes or nearly does (`symbolic_accuracy`);
* makes the region cheaper (fewer or cheaper live statements: divisions and
  elementary functions cost most).

The new statements go right after the region's last statement, under a
comment naming the source lines they were computed from (they have no line
of their own); the old definitions become dead and dead-code elimination
(liveness) removes them.

Every rewritten output is a float: SymPy's integers are written as float
constants, and a form that is an int variable alone, or a conditional that
may give an int, is refused (a gradient must never come back as the int 1).

Cost and bounds.  SymPy is imported only when some region holds a division
by a variable (nothing else is worth rewriting), and before the clock starts;
regions longer than `MAX_REGION` statements are left alone, and a function's
regions share a time budget (`SECONDS`, under SIGALRM, repeated until it gets
through: an alarm swallowed inside SymPy still ends the work) after which the
rest stay as they are, today's code.  Only the main thread can be
interrupted: in other threads (a Dask worker's, say) only decisions already
in the cache are applied, and the other regions keep today's code.  Each region's
outcome is kept in `<cache>/symbolic/` keyed by the region's text and
`PASS_VERSION`, so a later process repeats neither the work nor the SymPy
import.  So is a region that ran out of the whole budget computing
(`_spent_the_budget`: given all of it, and the thread's CPU time nearly all of
it): it keeps today's code in later processes too, which then spend the budget
on the regions after it.  Without that, a 10-statement loop body's first
region used the 3 s in every process and the second was never decided.

Determinism.  A decision depends only on the region's text and types (SymPy's
orderings are canonical, the accuracy grid fixed; the module text is the same
under any PYTHONHASHSEED).  The exceptions are the time budget and threads: a
region that runs out of time, or that is met first outside the main thread,
is not rewritten there.  Only the first outcome is cached, and only where the
region had the whole budget to itself and computed for nearly all of it: one
starved by the regions before it, or slowed by an overloaded machine (a
thread that got a fraction of a core), may be rewritten by a later
compilation.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass

from .. import ir
from ..ir import FLOAT, Assign, Comment, Const, Var, dataflow
from ..ir.names import Names
from ..rules import PRIMITIVES
from ..timelimit import can_limit, limited

PASS_VERSION = 13
MAX_REGION = 80
MAX_OUTPUTS = 16
MAX_KEPT = 12
OPTIONS_PER_OUTPUT = 4
SECONDS = 3.0

# primitives with a scalar result that read an array (their first operand)
ARRAY_READS = {"subscript", "subscript_copy", "shape0", "shape1", "size"}

# what the last call decided, region by region (for tests and the accuracy benchmark)
LAST: list = []


@dataclass
class Region:
    block: list
    stmts: list
    # what the statements it steps over (`find_regions`) read of the region's names (live there), and the
    # names they assign (a rewrite may not read them: they no longer hold the region's entry values)
    read_between: frozenset = frozenset()
    overwritten: frozenset = frozenset()


# ------------------------------------------------------------------------ regions

def _eligible(stmt, types: dict) -> bool:
    if not isinstance(stmt, Assign) or stmt.inplace or stmt.params:
        return False
    t = types.get(stmt.target)
    if t is None or t.is_array or stmt.prim not in PRIMITIVES:
        return False
    for k, a in enumerate(stmt.args):
        if isinstance(a, ir.Slice):
            return False
        if isinstance(a, Var):
            ta = types.get(a.name)
            if ta is None or (ta.is_array and not (k == 0 and stmt.prim in ARRAY_READS)):
                return False
        elif isinstance(a, Const) and isinstance(a.value, float) and a.value - a.value != 0.0:
            return False
    return True


def find_regions(function: ir.Function, step_over_accumulations: bool = False) -> list:
    """Every region of every block (see the module docstring), in program order.  With
    `step_over_accumulations`, a region goes on past an accumulation of the program's value
    (`_steps_over`)."""
    types = function.types
    exact = getattr(function, "exact_names", None) or set(function.types)
    regions = []
    _scan(function.body, regions, types, exact, step_over_accumulations)
    return regions


def _scan(block: list, regions: list, types: dict, exact, step_over_accumulations: bool) -> None:
    """Appends the regions of `block` and of the blocks nested in it to `regions` (`find_regions`)."""
    current, exposed, assigned, stepped, read_between = [], set(), set(), set(), set()

    def close():
        nonlocal current, exposed, assigned, stepped, read_between
        if current:
            regions.append(Region(block, current, frozenset(read_between), frozenset(stepped)))
        current, exposed, assigned, stepped, read_between = [], set(), set(), set(), set()

    for stmt in block:
        for child in ir.child_blocks(stmt):
            if not (isinstance(stmt, ir.While) and child is stmt.test):
                _scan(child, regions, types, exact, step_over_accumulations)
        if isinstance(stmt, Comment):
            continue
        if not _eligible(stmt, types):
            if step_over_accumulations and current and _inert(stmt, assigned, exposed, stepped):
                stepped.add(stmt.target)
                continue
            close()
            continue
        reads = set(ir.operand_vars(stmt.args))
        # what would end the region: a write of a name it read (membership tests: a region is long)
        rewrites = stmt.target in exposed or (stmt.target in reads and stmt.target not in assigned)
        if rewrites and step_over_accumulations and current and _steps_over(stmt, reads, assigned, stepped, exact):
            stepped.add(stmt.target)
            read_between |= reads & assigned
            continue
        if rewrites or (stepped and (stmt.target in stepped or not reads.isdisjoint(stepped))):
            close()
            if stmt.target in reads:
                continue            # `s = s + t` rereads what it writes: a region of its own cannot hold it
        exposed |= reads - assigned
        assigned.add(stmt.target)
        current.append(stmt)
    close()


def _steps_over(stmt, reads: set, assigned: set, stepped: set, exact) -> bool:
    """May a region go on past `stmt`, leaving it where it is?  When `stmt` is what would end the region
    -- it writes a name the region read (`s = t20` after `t20 = s + t19`) or itself rereads (`s = s + t`)
    -- and that name is a value of the program the region has not assigned, and of the region's names
    it reads only values of the program, never an adjoint one.  Such a statement changes nothing the
    region computes: no region statement after it reads or writes its target (one that does ends the
    region), the rewrite reads no name it assigns (`Region.overwritten`), and it reads none of the
    outputs a rewrite replaces, while the definitions it does read stay where they are, live there
    (`Region.read_between`).  (In a loop whose trip runs its reverse in the same pass, the primal's
    `s += loss_i` sits between the trip's forward values and their adjoints.)"""
    return (stmt.target not in assigned and stmt.target not in stepped and stmt.target in exact
            and all(name in exact for name in reads if name in assigned))


def _inert(stmt, assigned: set, exposed: set, stepped: set) -> bool:
    """May a region go on past `stmt`, a statement it cannot hold, leaving it where it is?  When it is an
    assignment with no effect besides its result (`J = np.zeros((1, 1))`, which a Jacobian's driver puts
    between a Hessian's value and its tangents) that reads none of the names the region assigns and
    assigns none the region reads or assigns: the region computes the same with it anywhere, no region
    statement after it mentions its target (`find_regions` ends the region there), and a rewrite never
    reads it (`Region.overwritten`)."""
    if not isinstance(stmt, Assign) or stmt.inplace or stmt.error_effect or stmt.accumulate:
        return False
    target = stmt.target
    return (target not in assigned and target not in exposed and target not in stepped
            and assigned.isdisjoint(ir.operand_vars(stmt.args)))


def _promising(region: Region, function: ir.Function) -> bool:
    """Worth SymPy's time: a division by a variable, and an adjoint float among its assignments."""
    exact = getattr(function, "exact_names", None) or set(function.types)
    if len(region.stmts) > MAX_REGION or len(region.stmts) < 3:
        return False
    divides = any(s.prim == "div" and isinstance(s.args[1], Var) for s in region.stmts)
    adjoint = any(function.types.get(s.target) == FLOAT and s.target not in exact for s in region.stmts)
    return divides and adjoint


# --------------------------------------------------------------------- the pass

def symbolic_simplify(function: ir.Function, cache_dir: str | None = None, seconds: float | None = None) -> bool:
    """Rewrite the promising regions of `function` in place; True when something changed."""
    LAST.clear()
    seconds = SECONDS if seconds is None else seconds
    regions = [r for r in find_regions(function, step_over_accumulations=True) if _promising(r, function)]
    if not regions:
        return False
    facts = dataflow.of(function)
    exact = getattr(function, "exact_names", None) or set(function.types)
    plans = []
    for region in regions:
        last = region.stmts[-1]
        live = facts.live_out(last)
        final = {s.target for s in region.stmts}
        outputs = [s.target for s in region.stmts if s.target in live and s.target in final]
        outputs = list(dict.fromkeys(outputs))
        # what an accumulation stepped over reads stays: counted as live in the region's cost
        plans.append((region, outputs, set(live) | region.read_between))
    names = Names(set(function.types) | set(function.user_names) | set(function.params))
    interruptible = can_limit()
    if interruptible and any(_cached(cache_dir, _key(r, o, function.types, exact)) is None for r, o, _ in plans):
        from . import symbolic_rewrite  # noqa: F401  (SymPy's import, 1-2 s, is not the regions' time)
    deadline = time.monotonic() + seconds
    changed = False
    for region, outputs, live in plans:
        if time.monotonic() > deadline:
            LAST.append({"outcome": "over the time budget"})
            break
        key = _key(region, outputs, function.types, exact)
        decision = _cached(cache_dir, key)
        if decision is None and not interruptible:
            LAST.append({"outcome": "not decided outside the main thread"})
            continue
        if decision is None:
            remaining = deadline - time.monotonic()
            started = _thread_seconds()
            decision = limited(lambda: _decide(region, outputs, live, function.types, exact), remaining)
            if decision is None:
                over = {"outcome": "over the time budget"}
                spent = _thread_seconds() - started
                if _spent_the_budget(remaining, spent, seconds):
                    _store(cache_dir, key, dict(over, seconds=round(spent, 2)))
                LAST.append(over)
                continue
            _store(cache_dir, key, decision)
        else:
            decision = dict(decision, cached=True)
        LAST.append(decision)
        if decision["outcome"] == "rewritten":
            _apply(region, decision, function, names)
            changed = True
    if changed:
        dataflow.invalidate(function)
    return changed


# the CPU time of the thread deciding (only the main thread decides: `limited`), which other threads'
# work does not count in and an overloaded machine does not inflate
_thread_seconds = time.thread_time


def _spent_the_budget(given: float, spent: float, seconds: float) -> bool:
    """Did a region that ran out of time have the whole budget (`seconds`) and compute for nearly all
    of it (`spent` CPU seconds of the `given` wall seconds)?  Then it keeps today's code in later
    processes too (its outcome is cached); a region given what the regions before it left, or whose
    thread got a fraction of a core, is tried again by the next compilation."""
    return given >= 0.95 * seconds and spent >= 0.9 * given


def _decide(region: Region, outputs: list, live: set, types: dict, exact) -> dict:
    from .symbolic_rewrite import rewrite_region
    return rewrite_region(region.stmts, outputs, live, types, exact, region.overwritten)


def _apply(region: Region, decision: dict, function: ir.Function, names: Names) -> None:
    """Insert the decided statements after the region's last statement (temporaries renamed fresh)."""
    rename = {}
    new = [Comment(NOTE + ":" + "".join(f"\n  {_describe(loc, function)}"
                                  for loc in _sources(region, {o for *_, o in decision["stmts"]})))]
    for target, prim, args, owner in decision["stmts"]:
        if target.startswith("$"):
            rename[target] = names.temp()
            function.types[rename[target]] = FLOAT
        operands = tuple(_operand(a, rename) for a in args)
        # no line of its own: the note above names the lines it comes from
        new.append(Assign(rename.get(target, target), prim, operands, None))
    position = next(k for k, s in enumerate(region.block) if s is region.stmts[-1])
    region.block[position + 1:position + 1] = new


NOTE = "simplified by SymPy (the symbolic pass) from"


def _sources(region: Region, outputs: set) -> list:
    """The source lines of the region's statements the rewritten outputs were computed from, each once,
    in the order the region first uses them."""
    needed, used = set(outputs), []
    for stmt in reversed(region.stmts):
        if stmt.target in needed:
            needed |= set(ir.operand_vars(stmt.args))
            used.append(stmt)
    seen, out = set(), []
    for stmt in reversed(used):
        chain, site = [], stmt.loc
        while site is not None:          # an inlined helper's line: the calls that led there first
            chain.append(site)
            site = site.via
        for site in reversed(chain):
            if (site.filename, site.line) not in seen:
                seen.add((site.filename, site.line))
                out.append(site)
    return out


def _describe(loc, function: ir.Function) -> str:
    where = f"line {loc.line}" if loc.filename == function.filename else \
        f"{os.path.basename(loc.filename)} line {loc.line}"
    return f"{where}: {loc.text}" if loc.text else where


def _operand(encoded, rename: dict):
    if "v" in encoded:
        return Var(rename.get(encoded["v"], encoded["v"]))
    value = encoded["c"]
    return Const({"int": int, "bool": bool, "float": float}[encoded["t"]](value))


# ------------------------------------------------------------------ cache, budget

def _key(region: Region, outputs: list, types: dict, exact) -> str:
    names = set()
    for s in region.stmts:
        names.add(s.target)
        names.update(ir.operand_vars(s.args))
    text = "\n".join([f"v{PASS_VERSION}"] + [repr(str(s)) for s in region.stmts]
                     + [f"{n}: {types.get(n)} {'exact' if n in exact else ''}" for n in sorted(names)]
                     + ["outputs: " + ",".join(outputs)]
                     + ([f"read between: {sorted(region.read_between)}; overwritten: {sorted(region.overwritten)}"]
                        if region.overwritten else []))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _cached(cache_dir, key: str):
    if not cache_dir:
        return None
    path = os.path.join(cache_dir, "symbolic", key + ".json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _store(cache_dir, key: str, decision: dict) -> None:
    if not cache_dir:
        return
    folder = os.path.join(cache_dir, "symbolic")
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(decision, out)
        os.replace(temporary, os.path.join(folder, key + ".json"))
    except OSError:          # a read-only cache: the work is simply not kept
        pass


