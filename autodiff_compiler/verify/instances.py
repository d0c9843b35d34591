"""Instances: which arguments to prove the generated code on, so that the proof is small and reaches
every branch.

Takes: a pipeline `State` (primal and adjoint IR), the call's arguments, and
optionally the user's function.  Guarantees a `Plan`, a list of `Instance`s
(argument tuples of the call's signature: same parameter types, array ranks
and dtypes) chosen as follows:

* the call itself comes first when it is small: every float array has at
  most `CALL_MAX_ELEMENTS` elements and a numeric run of the primal and of
  the gradient program takes at most `CALL_MAX_STATEMENTS` statements each;
* otherwise the first instance is the call shrunk: every array axis of length
  L > `SMALL_LENGTH` gets `SMALL_LENGTH` entries (a second distinct large
  length gets one fewer, so that distinct lengths stay distinct), the
  entries *drawn from the call's values* (the first ones; the same positions
  for every array sharing that length, so that `x[i]` stays paired with
  `y[i]`); an int parameter equal to an array length (or one less) follows
  that length, other ints above `SMALL_INT` are capped to it -- and when the
  function refuses that (an index past a shrunk axis), every int above 2,
  then 1, then 0 is capped to it; when no shrunk instance is accepted, the
  call itself is the instance;
* then candidate variations of that instance -- each length class at 1, 2
  and 3 entries, each array axis alone at 1 entry (the broadcasting side of
  a fused-loop guard), each length class at 0 entries (loops over it run no
  trip), ints at 0..3, other entries of the call's arrays (last, evenly
  spread, extremes, negated), float scalars negated, halved, doubled and
  times ten -- are run *numerically* (cheap), and a candidate is valid when
  the user's function accepts it (no exception, a finite result; its
  warnings silenced, at most `FUNCTION_SECONDS` in all) and the programs run
  on it; without the function (the CLI), when the primal runs;
* every run records the outcomes it reaches (see `executor.branch_points`):
  each side of every `if`, zero / one / several trips of every loop, each side
  of every kink and comparison, in both programs;
* instances are added greedily, the candidate reaching most outcomes not yet
  reached first, until the chosen instances together reach every outcome any
  valid candidate reaches (at most `MAX_INSTANCES` instances);
* a candidate on which a program misbehaves (`ProgramError`) or on which the
  primal's value differs from the user's function is always chosen (its proof
  then fails and says why);
* `Plan.unreached` lists the `if` sides and loop trip counts no candidate
  reached: they may be unreachable (a guard that always holds for this
  program), or reachable only by arguments the variations do not try.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .executor import OverBudget, branch_points, dry_run
from .limits import (CALL_MAX_ELEMENTS, CALL_MAX_STATEMENTS, INSTANCE_MAX_STATEMENTS, MAX_CANDIDATES,
                     MAX_INSTANCES, PRIMAL_REL_TOL, SMALL_INT, SMALL_LENGTH, ProgramError, Undefined,
                     Unsupported)
from ..ir import For, If, While

FUNCTION_SECONDS = 2.0      # total time the user's function may take over all candidates


@dataclass(eq=False)
class Instance:
    args: tuple
    label: str                          # how it was made from the call
    coverage: frozenset = frozenset()   # outcomes reached: (program, ordinal, outcome)
    defect: str | None = None           # a program misbehaved in the numeric run
    unsupported: str | None = None      # the numeric run met a construct it cannot run
    is_call: bool = False

    def describe(self, params: list) -> dict:
        """Shapes, ints and bools of the instance: what identifies it apart from its float entries."""
        out = {}
        for name, value in zip(params, self.args):
            if isinstance(value, np.ndarray):
                out[name] = {"shape": list(value.shape), "dtype": str(value.dtype),
                             **({} if value.dtype.kind == "f" else {"values": value.ravel().tolist()})}
            elif isinstance(value, (bool, np.bool_)):
                out[name] = bool(value)
            elif isinstance(value, (int, np.integer)):
                out[name] = int(value)
            else:
                out[name] = "float"
        return out


@dataclass
class Plan:
    instances: list
    call_is_instance: bool
    call_note: str = ""                 # why the call itself is not an instance
    reached: frozenset = frozenset()    # outcomes reached by any valid candidate
    candidates: int = 0                 # candidates run numerically
    descriptions: dict = field(default_factory=dict)   # program -> {ordinal: description}
    possible: dict = field(default_factory=dict)       # program -> {ordinal: set of outcomes}

    @property
    def covered(self) -> frozenset:
        out = set()
        for instance in self.instances:
            out |= instance.coverage
        return frozenset(out)

    def outcome_text(self, outcome) -> str:
        program, ordinal, side = outcome
        where = self.descriptions[program][ordinal]
        if isinstance(side, bool):
            side = "true" if side else "false"
        return f"{program} {where}: {side}"

    @property
    def unreached(self) -> list:
        """`if` sides, and loops never skipped or never repeated, that no candidate reached."""
        out = []
        for program, points in self.possible.items():
            for ordinal, sides in points.items():
                for side in sides:
                    if (program, ordinal, side) not in self.reached:
                        out.append((program, ordinal, side))
        return out


def _possible(function) -> dict:
    """{ordinal: outcomes worth listing when unreached} for `if`s and loops."""
    out = {}
    for stmt, (ordinal, _) in zip_points(function):
        if isinstance(stmt, If):
            out[ordinal] = (True, False)
        elif isinstance(stmt, (For, While)):
            out[ordinal] = ("0 trips", "2+ trips")
    return out


def zip_points(function):
    from .. import ir
    points = branch_points(function)
    for stmt in ir.walk(function.body):
        if id(stmt) in points:
            yield stmt, points[id(stmt)]


# --------------------------------------------------------------- candidates

def _floats_elements(args) -> int:
    return max((a.size for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"), default=0)


def _length_classes(args) -> list:
    """Distinct axis lengths of the array arguments, longest first."""
    return sorted({n for a in args if isinstance(a, np.ndarray) for n in a.shape}, reverse=True)


def _small_sizes(lengths: list) -> dict:
    """The primary map: lengths above SMALL_LENGTH become SMALL_LENGTH, SMALL_LENGTH - 1, ...
    (distinct where possible), the others stay."""
    sizes, big = {}, [n for n in lengths if n > SMALL_LENGTH]
    free = [k for k in range(SMALL_LENGTH, 1, -1) if k not in lengths] or [SMALL_LENGTH]
    for k, n in enumerate(big):
        sizes[n] = free[k % len(free)]
    for n in lengths:
        sizes.setdefault(n, n)
    return sizes


def _ties(params, args, lengths) -> dict:
    """{int parameter: (length, offset)} for ints equal to an array length (offset 0) or one less."""
    ties = {}
    for name, value in zip(params, args):
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            for n in lengths:
                if value == n and n > 1:
                    ties[name] = (n, 0)
                    break
                if value == n - 1 and n > 2:
                    ties[name] = (n, -1)
                    break
    return ties


def _picks(n: int, k: int, how: str, data=None) -> list:
    """k positions out of n (cycling when k > n)."""
    if how == "last" and k <= n:
        return list(range(n - k, n))
    if how == "spread" and k <= n:
        return sorted({int(round(p)) for p in np.linspace(0, n - 1, k)}) if k > 1 else [0]
    if how == "extremes" and data is not None and k <= n and data.ndim == 1 and data.dtype.kind == "f":
        chosen = [int(np.argmin(data)), int(np.argmax(data))]
        chosen += [i for i in range(n) if i not in chosen]
        return sorted(dict.fromkeys(chosen[:k]))
    return [i % n for i in range(k)]


def _take(value: np.ndarray, picks_per_axis: list) -> np.ndarray:
    out = value[np.ix_(*picks_per_axis)].copy() if value.ndim else value.copy()
    if value.dtype.kind == "f":
        # positions taken again (more entries than the call has) get distinct values
        scale = 0.25 * (1.0 + float(np.max(np.abs(value)))) if value.size else 0.25
        for axis, (n, picks) in enumerate(zip(value.shape, picks_per_axis)):
            rounds = np.array([i // n for i in range(len(picks))]) if n else np.zeros(len(picks))
            if rounds.any():
                shape = [1] * value.ndim
                shape[axis] = len(picks)
                out = out + (rounds * scale).reshape(shape)
    return out


class _Builder:
    """Makes argument tuples from a size map, picks, and per-parameter changes."""

    def __init__(self, params, args):
        self.params, self.args = list(params), tuple(args)
        self.lengths = _length_classes(args)
        self.ties = _ties(params, args, self.lengths)
        # the array that decides "extremes" positions for a length: the first float vector of it
        self.reference = {}
        for a in args:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim == 1:
                self.reference.setdefault(a.shape[0], a)

    def build(self, sizes: dict, how: str = "first", ints: dict | None = None, axis_one=None,
              replace: dict | None = None) -> tuple:
        ints, replace = ints or {}, replace or {}
        picks = {n: _picks(n, sizes[n], how, self.reference.get(n)) for n in self.lengths}
        out = []
        for name, value in zip(self.params, self.args):
            if name in replace:
                out.append(replace[name])
            elif isinstance(value, np.ndarray):
                per_axis = [picks[n] for n in value.shape]
                if axis_one is not None and axis_one[0] == name:
                    per_axis[axis_one[1]] = per_axis[axis_one[1]][:1]
                out.append(_take(value, per_axis))
            elif name in self.ties:
                n, offset = self.ties[name]
                out.append(type(value)(sizes[n] + offset))
            elif name in ints:
                out.append(type(value)(ints[name]))
            else:
                out.append(value)
        return tuple(out)


def _capped_ints(params, args, ties, cap) -> dict:
    return {name: (min(value, cap) if value >= 0 else max(value, -cap))
            for name, value in zip(params, args)
            if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and name not in ties and abs(value) > cap}


def candidates(params, args, *, shrink: bool, branchy: bool):
    """(label, args) pairs: first the bases a shrunk primary is chosen from (when `shrink`), then
    variations that may reach other branches."""
    b = _Builder(params, args)
    base_sizes = _small_sizes(b.lengths) if shrink else {n: n for n in b.lengths}
    out = []

    def label_sizes(sizes, how="first"):
        parts = []
        for name, value in zip(params, args):
            if isinstance(value, np.ndarray) and any(sizes[n] != n for n in value.shape):
                shape = tuple(sizes[n] for n in value.shape)
                parts.append(f"{name}: {'x'.join(map(str, shape))} of its {'x'.join(map(str, value.shape))} "
                             f"entries ({how})")
        return parts

    if shrink:
        for cap in (SMALL_INT, 2, 1, 0):
            ints = _capped_ints(params, args, b.ties, cap)
            parts = label_sizes(base_sizes) + [f"{k}={v} (was {args[params.index(k)]})" for k, v in ints.items()]
            out.append(("; ".join(parts) or "the call", b.build(base_sizes, ints=ints), ints))
    base_ints = out[0][2] if out else {}
    variations = []
    for n in b.lengths:
        for k in list(range(1, SMALL_LENGTH + 1)) + [0]:      # 0: loops over the axis run no trip
            if k != base_sizes[n]:
                sizes = {**base_sizes, n: k}
                variations.append((f"length {n} -> {k}", b.build(sizes, ints=base_ints)))
    for name, value in zip(params, args):
        if isinstance(value, np.ndarray):
            for axis, n in enumerate(value.shape):
                if base_sizes[n] > 1:
                    variations.append((f"{name}: axis {axis} with 1 entry",
                                       b.build(base_sizes, ints=base_ints, axis_one=(name, axis))))
        elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) \
                and name not in b.ties:
            current = base_ints.get(name, value)
            for k in range(0, SMALL_INT + 1):
                if k != current:
                    variations.append((f"{name}={k}", b.build(base_sizes, ints={**base_ints, name: k})))
    if branchy:
        for how in ("last", "spread", "extremes"):
            if any(base_sizes[n] < n for n in b.lengths):
                variations.append((f"other entries ({how})", b.build(base_sizes, how, ints=base_ints)))
        base = b.build(base_sizes, ints=base_ints)
        for name, value in zip(params, base):
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                variations.append((f"{name} negated", b.build(base_sizes, ints=base_ints, replace={name: -value})))
            elif isinstance(value, (bool, np.bool_)):
                variations.append((f"{name}={not value}", b.build(base_sizes, ints=base_ints,
                                                                  replace={name: not value})))
            elif isinstance(value, float):
                changes = (-value, value / 2, value * 2, value * 10) if value != 0.0 else (0.5, -0.5)
                for v in changes:
                    variations.append((f"{name}={v!r}", b.build(base_sizes, ints=base_ints, replace={name: v})))
    return [(label, built) for label, built, _ in out], variations


# ---------------------------------------------------------------- numeric runs

def _finite_number(value) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=float))))
    except (TypeError, ValueError):
        return False


def _same(a, b) -> bool:
    a, b = np.ravel(np.asarray(a, dtype=float)), np.ravel(np.asarray(b, dtype=float))
    return a.shape == b.shape and bool(np.all(np.isclose(a, b, rtol=PRIMAL_REL_TOL, atol=1e-12)))


class _Runner:
    def __init__(self, state, fn):
        self.state, self.fn = state, fn
        self.points = {"primal": branch_points(state.primal), "gradient": branch_points(state.adjoint)}
        self.fn_seconds = 0.0

    def run(self, args, label: str, budget: int, is_call: bool = False):
        """An `Instance`, or None when the candidate is not valid; `self.reason` says why not
        ("budget": a program ran past `budget` statements, "invalid": not an argument of the
        function)."""
        self.reason = "invalid"
        state, fn = self.state, self.fn
        primal, adjoint = state.primal, state.adjoint
        coverage: set = set()
        instance = Instance(tuple(args), label, is_call=is_call)
        primal_cov: set = set()
        expected = None
        if fn is not None and not is_call:
            # first: is it an argument of the function at all (shapes that agree, its asserts hold)?
            if self.fn_seconds > FUNCTION_SECONDS:
                return None
            start = time.perf_counter()
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")         # an empty mean, say: not the user's concern
                    expected = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
            except Exception:                       # not an argument the function accepts
                return None
            finally:
                self.fn_seconds += time.perf_counter() - start
            if not _finite_number(expected):
                return None
        try:
            value, _ = dry_run(primal, args, coverage=primal_cov, points=self.points["primal"],
                               budget=budget, role="primal program")
            primal_error = None
        except OverBudget:
            self.reason = "budget"
            return None
        except Undefined:
            return None
        except Unsupported as exc:
            instance.unsupported = str(exc)
            return instance
        except ProgramError as exc:
            primal_error, value = str(exc), None
        except Exception as exc:           # anything else the numeric run trips over
            primal_error, value = f"the primal program raised {exc!r}", None
        if primal_error is not None:
            if fn is None:
                return None
            instance.defect = primal_error
            return instance
        if expected is not None and _finite_number(value) and not _same(value, expected):
            instance.defect = f"the primal program gives {value!r} where the function gives {expected!r}"
        gradient_cov: set = set()
        try:
            dry_run(adjoint, args, returns=True, types=primal.types, coverage=gradient_cov,
                    points=self.points["gradient"], budget=budget, role="gradient program")
        except OverBudget:
            self.reason = "budget"
            return None
        except Undefined:
            return None
        except Unsupported as exc:
            instance.unsupported = str(exc)
        except ProgramError as exc:
            instance.defect = instance.defect or str(exc)
        except Exception as exc:
            instance.defect = instance.defect or f"the gradient program raised {exc!r}"
        coverage = {("primal",) + o for o in primal_cov} | {("gradient",) + o for o in gradient_cov}
        instance.coverage = frozenset(coverage)
        return instance


def _call_note(params, args) -> str:
    for name, value in zip(params, args):
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > CALL_MAX_ELEMENTS:
            return f"{name} has {value.size} elements"
    return "a numeric run of it takes more than {} statements".format(CALL_MAX_STATEMENTS)


def plan_instances(state, args, fn=None) -> Plan:
    """Choose the instances to prove (see the module docstring)."""
    primal = state.primal
    params = list(primal.params)
    args = tuple(args)
    runner = _Runner(state, fn)
    descriptions = {program: {o: text for o, text in points.values()} for program, points in runner.points.items()}
    possible = {"primal": _possible(primal), "gradient": _possible(state.adjoint)}
    branchy = bool(runner.points["primal"] or runner.points["gradient"])

    call = None
    if _floats_elements(args) <= CALL_MAX_ELEMENTS:
        call = runner.run(args, "the call", CALL_MAX_STATEMENTS, is_call=True)
        if call is None and runner.reason != "budget":
            # not defined at the call (or not an argument of it): the proof at the call says so
            call = Instance(args, "the call", is_call=True)
    bases, variations = candidates(params, args, shrink=call is None, branchy=branchy)
    valid = []
    primary = call
    run = 0
    if primary is None:
        for label, built in bases:
            run += 1
            primary = runner.run(built, label, INSTANCE_MAX_STATEMENTS)
            if primary is not None:
                break
    if primary is None:
        # nothing smaller runs: prove the call itself, as it is (the proof says what went wrong)
        primary = Instance(args, "the call", is_call=True)
        return Plan([primary], True, "", frozenset(), run, descriptions, possible)
    seen = {_fingerprint(primary.args)}
    for label, built in variations[:MAX_CANDIDATES]:
        key = _fingerprint(built)
        if key in seen:
            continue
        seen.add(key)
        run += 1
        candidate = runner.run(built, label, INSTANCE_MAX_STATEMENTS)
        if candidate is not None:
            valid.append(candidate)

    chosen = [primary]
    reached = set(primary.coverage)
    for candidate in valid:
        reached |= candidate.coverage
    defective = [c for c in valid if c.defect or c.unsupported]
    if defective and not (primary.defect or primary.unsupported):
        chosen.append(defective[0])
    covered = set().union(*(c.coverage for c in chosen))
    while len(chosen) < MAX_INSTANCES:
        best, gain = None, 0
        for candidate in valid:
            if candidate in chosen:
                continue
            new = len(candidate.coverage - covered)
            if new > gain:
                best, gain = candidate, new
        if best is None:
            break
        chosen.append(best)
        covered |= best.coverage
    note = "" if call is not None else _call_note(params, args)
    return Plan(chosen, call is not None, note, frozenset(reached), run + (call is not None), descriptions,
                possible)


def _fingerprint(args) -> tuple:
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append((a.shape, a.dtype.str, a.tobytes()))
        else:
            out.append((type(a).__name__, repr(a)))
    return tuple(out)


def show_args(params, args) -> str:
    """`name=value, ...` with short arrays written out."""
    parts = []
    for name, value in zip(params, args):
        if isinstance(value, np.ndarray):
            text = " ".join(np.array2string(value, precision=6, threshold=8).split())
            parts.append(f"{name}={text if len(text) < 60 else f'<array of shape {value.shape}>'}")
        else:
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)
