"""Execute: run an IR program (primal or adjoint) on one instance, symbolically or on numbers.

Takes: an `ir.Function` -- the primal, or an adjoint program with its tapes,
growable tapes, `Store`s with `copy`/`add`, slices, fused-loop guards and
fused loop pairs -- and the arguments of one instance.  Guarantees:

* symbolic runs (`execute`): every value is an `SV` (SymPy expression and
  number).  Float parameters become real SymPy symbols named after them
  (`x`; array elements `x_0`, `A_0_1`), int and bool parameters stay numbers
  (they drive control flow).  Branches follow the numbers, `for` loops run
  their bounds, `while` loops while the numeric condition holds, so the run
  follows exactly the path the generated code takes on this instance;
* numeric runs (`dry_run`) do the same on numbers only, and record which
  *outcomes* the run reaches: each side of every `if`, whether every loop ran
  zero, one or several trips, and each side of every kink (min, max, clip,
  abs, sign, where) and comparison, keyed by the statement's position in the
  program (`branch_points`), so that instances can be chosen to reach them;
* Python semantics are kept where they matter: arrays alias on assignment,
  slices are views, a store into an int array truncates, a pushed value is
  cast to its tape's dtype;
* what the generated code would do wrong raises `ProgramError` naming the
  statement: reading a variable before it is assigned (on the path taken),
  popping an empty tape, pushing past a preallocated tape's capacity or with
  another shape, indexing out of range.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from .. import ir
from ..errors import ArgumentError
from ..ir import Assign, Comment, Const, For, If, Pop, Push, Slice, Store, TapeAlloc, Var, While
from ..python_errors import FACT_PARAMS
from ..rules import PRIMITIVES
from .forms import exact
from .limits import MAX_LOOP_TRIPS, ProgramError, Unsupported
from .symbolic import SV, apply, apply_numeric, const_value

# Assignments whose operands decide a side: their outcomes count as branches (see `_kink_outcomes`).
KINK_PRIMS = {"min", "max", "clip", "abs", "sign", "where", "lt", "le", "gt", "ge", "eq", "ne"}


class OverBudget(Exception):
    """A numeric run executed more statements than it was allowed."""


@dataclass
class Tape:
    """A tape as the generated code holds it: typed slots, a fixed capacity unless growable."""
    dtype: str
    capacity: int | None
    items: list = field(default_factory=list)
    shape: tuple | None = None


def branch_points(function: ir.Function) -> dict:
    """{id(statement): (ordinal, description)} for every `if`, loop and kink of `function`, the
    ordinal counting them in program order (stable for the same program text)."""
    points = {}
    for stmt in ir.walk(function.body):
        line = f"line {stmt.loc.line}" if getattr(stmt, "loc", None) else "no line"
        if isinstance(stmt, If):
            text = f"if {stmt.cond} ({line})"
        elif isinstance(stmt, For):
            text = f"for {stmt.index} in range({stmt.start}, {stmt.stop}, {stmt.step}) ({line})"
        elif isinstance(stmt, While):
            text = f"while {stmt.cond} ({line})"
        elif isinstance(stmt, Assign) and stmt.prim in KINK_PRIMS:
            text = f"{stmt.target} = {stmt.prim}({', '.join(map(str, stmt.args))}) ({line})"
        else:
            continue
        points[id(stmt)] = (len(points), text)
    return points


def _trips(count: int) -> str:
    return "0 trips" if count == 0 else "1 trip" if count == 1 else "2+ trips"


def _kink_outcomes(prim: str, nums: list) -> set:
    """The sides a kink or comparison took, elementwise (ties go to the first argument)."""
    try:
        if prim in ("min", "max", "clip"):
            x = np.asarray(nums[0], dtype=float)
            if prim == "clip":
                lo, hi = np.asarray(nums[1], dtype=float), np.asarray(nums[2], dtype=float)
                below, above = x < lo, x > hi
                sides = np.where(below, 0, np.where(above, 2, 1))
                return {("below", "inside", "above")[k] for k in np.unique(sides)}
            y = np.asarray(nums[1], dtype=float)
            first = (x <= y) if prim == "min" else (x >= y)
            return {"first" if f else "second" for f in np.unique(first)}
        if prim in ("abs", "sign"):
            signs = np.sign(np.asarray(nums[0], dtype=float))
            return {("negative", "zero", "positive")[int(s) + 1] for s in np.unique(signs)}
        if prim == "where":
            return {bool(c) for c in np.unique(np.asarray(nums[0], dtype=bool))}
    except (TypeError, ValueError):
        return set()
    return set()


class Executor:
    """Runs an IR function on `SV`s (symbolic) or on numbers (`symbolic=False`, expressions None);
    `env` holds the last value of every variable.  `coverage`, when a set, collects the outcomes
    reached as (ordinal, outcome) pairs; `budget` bounds the statements executed."""

    def __init__(self, env: dict, *, symbolic: bool = True, role: str = "program",
                 coverage: set | None = None, points: dict | None = None, budget: int | None = None,
                 cuts: dict | None = None):
        self.env = env
        self.cuts = cuts or {}          # variable -> symbol(s) its value is replaced by when assigned
        self.cut_values: dict = {}      # variable -> the SV it held before the replacement
        self.symbolic = symbolic
        self.role = role
        self.coverage = coverage
        self.points = points or {}
        self.budget = budget
        self.steps = 0
        self.stmt = None

    # ------------------------------------------------------------ operands
    def _where(self) -> str:
        loc = getattr(self.stmt, "loc", None)
        line = f"line {loc.line}: " if loc is not None else ""
        if isinstance(self.stmt, (Assign, Store)):
            return f" ({line}{self.stmt})"
        return f" ({line.rstrip(': ')})" if line else ""

    def defect(self, text: str) -> ProgramError:
        return ProgramError(f"the {self.role} {text}{self._where()}")

    def operand(self, op) -> SV:
        if isinstance(op, Var):
            try:
                return self.env[op.name]
            except KeyError:
                raise self.defect(f"reads {op.name!r} before it is assigned on the path taken") from None
        if isinstance(op, Const):
            if op.value is None:                 # an omitted slice bound, say
                return SV(None, None)
            return const_value(op.value) if self.symbolic else SV(None, op.value)
        raise Unsupported(f"operand {op!r}")

    def params(self, params: tuple) -> tuple:
        """Static keyword data, operands read as their numbers (not the facts for analyses,
        `python_errors.FACT_PARAMS`)."""
        return tuple((k, self.operand(v).num if isinstance(v, (Var, Const)) else v) for k, v in params
                     if k not in FACT_PARAMS)

    def index(self, index: tuple):
        out = []
        for part in index:
            if isinstance(part, Slice):
                out.append(slice(*(None if p is None else int(self.operand(p).num)
                                   for p in (part.start, part.stop, part.step))))
            else:
                value = self.operand(part)
                out.append(value.num if value.is_array else int(value.num))
        return tuple(out)

    def record(self, stmt, outcomes) -> None:
        if self.coverage is not None and id(stmt) in self.points:
            ordinal = self.points[id(stmt)][0]
            for outcome in outcomes:
                self.coverage.add((ordinal, outcome))

    # ---------------------------------------------------------- statements
    def run_block(self, block: list) -> None:
        for stmt in block:
            self.run_stmt(stmt)

    def run_stmt(self, stmt) -> None:
        if isinstance(stmt, Comment):
            return
        self.steps += 1
        if self.budget is not None and self.steps > self.budget:
            raise OverBudget()
        self.stmt = stmt
        handler = _HANDLERS.get(type(stmt))
        if handler is None:
            raise Unsupported(f"statement {type(stmt).__name__}")
        handler(self, stmt)
        if self.cuts and isinstance(stmt, Assign) and stmt.target in self.cuts:
            self.cut(stmt.target)

    def cut(self, name: str) -> None:
        """Replace the value just assigned to `name` by its symbol(s): the program from here on is
        a function of that value, as `intermediates=` asks for the gradient of it."""
        if name in self.cut_values:
            raise Unsupported(f"the gradient of the intermediate {name!r}, assigned more than once on this path")
        value = self.env[name]
        self.cut_values[name] = value
        symbol = self.cuts[name]
        if value.is_array:
            symbol = symbol(value.num.shape) if callable(symbol) else symbol
            self.env[name] = SV(symbol.copy(), value.num.copy())
        else:
            self.env[name] = SV(symbol(()) if callable(symbol) else symbol, value.num)

    def assign(self, stmt: Assign) -> None:
        env = self.env
        prim = PRIMITIVES.get(stmt.prim)
        if stmt.prim in ("subscript", "getitem", "index") or (prim is not None and prim.result == "subscript"):
            array = self.operand(stmt.args[0])
            idx = self.index(stmt.args[1:])
            try:
                num = array.num[idx]
                expr = array.expr[idx] if self.symbolic else None
            except IndexError as exc:
                raise self.defect(f"indexes {stmt.args[0]} out of range ({exc})") from None
            except TypeError:
                raise Unsupported(f"subscript of the non-array {stmt.args[0]}") from None
            if isinstance(num, np.ndarray) and prim is not None and (prim.array or "").endswith(".copy()"):
                num, expr = num.copy(), (None if expr is None else expr.copy())    # a copy, not a view
            env[stmt.target] = SV(expr, num if isinstance(num, np.ndarray) else num.item())
            return
        args = [self.operand(a) for a in stmt.args]
        if stmt.prim == "copy" and len(args) == 1 and not stmt.params:
            env[stmt.target] = args[0]       # arrays alias, as in Python
            return
        params = self.params(stmt.params)
        if self.symbolic:
            env[stmt.target] = apply(stmt.prim, args, params)
        else:
            nums = [a.num for a in args]
            env[stmt.target] = SV(None, apply_numeric(stmt.prim, nums, params))
            if self.coverage is not None and stmt.prim in KINK_PRIMS:
                if stmt.prim in ("lt", "le", "gt", "ge", "eq", "ne"):
                    outcomes = {bool(v) for v in np.unique(np.asarray(env[stmt.target].num, dtype=bool))}
                else:
                    outcomes = _kink_outcomes(stmt.prim, nums)
                self.record(stmt, outcomes)

    def store(self, stmt: Store) -> None:
        target = self.env.get(stmt.array)
        if target is None:
            raise self.defect(f"stores into {stmt.array!r} before it is assigned")
        if not target.is_array:
            raise Unsupported(f"store into {stmt.array!r}, which is not an array")
        idx = self.index(stmt.index)
        value = self.operand(stmt.value)
        try:
            if stmt.prim == "copy":
                new = value
            else:
                current = SV(target.expr[idx] if self.symbolic else None, target.num[idx])
                if not isinstance(current.num, np.ndarray):
                    current.num = current.num.item()
                new = apply(stmt.prim, [current, value]) if self.symbolic else \
                    SV(None, apply_numeric(stmt.prim, [current.num, value.num]))
            target.num[idx] = new.num
            if self.symbolic:
                if target.num.dtype.kind != "f":     # an int or bool array keeps the cast numbers
                    stored = target.num[idx]
                    target.expr[idx] = np.vectorize(exact, otypes=[object])(stored) \
                        if isinstance(stored, np.ndarray) else exact(stored.item())
                else:
                    target.expr[idx] = new.expr
        except IndexError as exc:
            raise self.defect(f"stores into {stmt.array} out of range ({exc})") from None
        except ValueError as exc:
            raise self.defect(f"stores a value of another shape into {stmt.array} ({exc})") from None

    def if_(self, stmt: If) -> None:
        taken = bool(self.operand(stmt.cond).num)
        self.record(stmt, (taken,))
        self.run_block(stmt.body if taken else stmt.orelse)

    def for_(self, stmt: For) -> None:
        env = self.env
        start, stop, step = (int(self.operand(b).num) for b in (stmt.start, stmt.stop, stmt.step))
        if step == 0:
            raise self.defect("calls range() with step 0")
        indices = range(start, stop, step)
        if self.budget is not None and self.steps + len(indices) > self.budget:
            raise OverBudget()
        if len(indices) > MAX_LOOP_TRIPS:
            raise Unsupported(f"a loop of {len(indices)} trips is too long to execute symbolically")
        trips = 0
        for i in indices:
            env[stmt.index] = SV(sympy.Integer(i), i) if self.symbolic else SV(None, i)
            trips += 1
            self.run_block(stmt.body)
            if stmt.exit_flag and bool(self.operand(Var(stmt.exit_flag)).num):
                break
        self.record(stmt, (_trips(trips),))

    def while_(self, stmt: While) -> None:
        trips = 0
        while True:
            self.run_block(stmt.test)
            if not bool(self.operand(stmt.cond).num):
                break
            trips += 1
            if trips > MAX_LOOP_TRIPS:
                raise Unsupported(f"a while loop ran more than {MAX_LOOP_TRIPS} trips")
            self.run_block(stmt.body)
            if stmt.exit_flag and bool(self.operand(Var(stmt.exit_flag)).num):
                break
        self.record(stmt, (_trips(trips),))

    # --------------------------------------------------------------- tapes
    def tape_alloc(self, stmt: TapeAlloc) -> None:
        capacity = None
        if not stmt.growable and isinstance(stmt.capacity, (Var, Const)):
            capacity = int(self.operand(stmt.capacity).num)
        self.env[stmt.tape] = Tape(stmt.dtype, capacity)

    def _tape(self, name: str) -> Tape:
        tape = self.env.get(name)
        if not isinstance(tape, Tape):
            raise self.defect(f"uses the tape {name!r} before allocating it")
        return tape

    def push(self, stmt: Push) -> None:
        tape = self._tape(stmt.tape)
        value = self.operand(stmt.value)
        if not stmt.growable and tape.capacity is not None and len(tape.items) >= tape.capacity:
            raise self.defect(f"pushes past the end of the tape {stmt.tape!r} (room for {tape.capacity})")
        if value.is_array:
            # a tape of arrays is a list, each item of its own shape (`backend.print_memory`: a window
            # `a[t:t + 2]` shrinks at the end of the array, helper-72); of one rank, which Numba types
            if tape.shape is None:
                tape.shape = value.num.shape
            elif len(tape.shape) != value.num.ndim:
                raise self.defect(f"pushes arrays of {len(tape.shape)} and {value.num.ndim} axes "
                                  f"onto the tape {stmt.tape!r}")
            tape.items.append(value.copy())
            return
        kind = np.dtype(tape.dtype.replace("np.", "")).kind
        if kind in "biu":               # the slot's dtype: a float pushed onto an int tape is truncated
            cast = bool(value.num) if kind == "b" else int(value.num)
            if cast != value.num or type(cast) is not type(value.num):
                value = SV(exact(cast), cast) if self.symbolic else SV(None, cast)
        elif isinstance(value.num, (int, np.integer)):
            value = SV(value.expr, float(value.num))
        tape.items.append(value)

    def pop(self, stmt: Pop) -> None:
        tape = self._tape(stmt.tape)
        if not tape.items:
            raise self.defect(f"pops the empty tape {stmt.tape!r}")
        self.env[stmt.target] = tape.items.pop()


_HANDLERS = {Assign: Executor.assign, Store: Executor.store, If: Executor.if_, For: Executor.for_,
             While: Executor.while_, TapeAlloc: Executor.tape_alloc, Push: Executor.push, Pop: Executor.pop}


# ------------------------------------------------------------------- inputs

def symbolic_inputs(function: ir.Function, args, types: dict | None = None) -> tuple[dict, dict, dict]:
    """(env, symbols, point): parameter values as SVs, the symbol (or array of symbols) per
    float parameter, and each symbol's value at the instance.  `types` default to the function's."""
    if len(args) != len(function.params):
        raise ArgumentError(f"{function.name} takes {len(function.params)} argument(s), got {len(args)}")
    types = function.types if types is None else types
    env, symbols, point = {}, {}, {}
    for name, value in zip(function.params, args):
        t = types.get(name)
        if isinstance(value, np.ndarray) and value.ndim > 0:
            if value.dtype.kind == "f" or (t is not None and t.is_float):
                syms = np.empty(value.shape, dtype=object)
                for index in np.ndindex(*value.shape):
                    s = sympy.Symbol(name + "_" + "_".join(map(str, index)), real=True)
                    syms[index] = s
                    point[s] = float(value[index])
                symbols[name] = syms
                env[name] = SV(syms.copy(), np.array(value, dtype=float))
            else:
                env[name] = SV(np.vectorize(exact, otypes=[object])(value), value.copy())
        elif isinstance(value, (bool, np.bool_)) or (t is not None and t.kind == "bool"):
            env[name] = SV(sympy.Integer(int(bool(value))), bool(value))
        elif isinstance(value, (int, np.integer)) and not (t is not None and t.kind == "float"):
            env[name] = SV(sympy.Integer(int(value)), int(value))
        else:
            s = sympy.Symbol(name, real=True)
            symbols[name] = s
            point[s] = float(value)
            env[name] = SV(s, float(value))
    return env, symbols, point


def numeric_inputs(function: ir.Function, args, types: dict | None = None) -> dict:
    """Parameter values as number-only SVs (arrays copied), typed as `symbolic_inputs` types them."""
    if len(args) != len(function.params):
        raise ArgumentError(f"{function.name} takes {len(function.params)} argument(s), got {len(args)}")
    types = function.types if types is None else types
    env = {}
    for name, value in zip(function.params, args):
        t = types.get(name)
        if isinstance(value, np.ndarray) and value.ndim > 0:
            float_array = value.dtype.kind == "f" or (t is not None and t.is_float)
            env[name] = SV(None, np.array(value, dtype=float) if float_array else value.copy())
        elif isinstance(value, (bool, np.bool_)) or (t is not None and t.kind == "bool"):
            env[name] = SV(None, bool(value))
        elif isinstance(value, (int, np.integer)) and not (t is not None and t.kind == "float"):
            env[name] = SV(None, int(value))
        else:
            env[name] = SV(None, float(value))
    return env


def _results(executor: Executor, function: ir.Function, returns: bool):
    if returns or function.returns:
        return tuple(executor.operand(op) for op in function.returns)
    return executor.operand(function.result)


def execute(function: ir.Function, args, *, returns: bool = False, types: dict | None = None,
            role: str = "program", cuts: dict | None = None):
    """Run `function` symbolically at `args`; returns (results, env, symbols, point) where
    results is the result SV, or the tuple of `returns` SVs of an adjoint program.  With `cuts`
    ({variable: symbol, or a function of the value's shape giving an array of symbols}) those
    variables become symbols where they are assigned; what they held is in `env["__cut__"]`."""
    env, symbols, point = symbolic_inputs(function, args, types)
    executor = Executor(env, role=role, cuts=cuts)
    executor.run_block(function.body)
    executor.stmt = None
    results = _results(executor, function, returns)
    if cuts:
        env["__cut__"] = executor.cut_values
    return results, env, symbols, point


def dry_run(function: ir.Function, args, *, returns: bool = False, types: dict | None = None,
            coverage: set | None = None, points: dict | None = None, budget: int | None = None,
            role: str = "program"):
    """Run `function` on numbers at `args`: (results as numbers, statements executed).  Outcomes
    reached are added to `coverage` (see `branch_points`); raises `OverBudget` past `budget`."""
    executor = Executor(numeric_inputs(function, args, types), symbolic=False, role=role,
                        coverage=coverage, points=points, budget=budget)
    executor.run_block(function.body)
    executor.stmt = None
    results = _results(executor, function, returns)
    numbers = tuple(r.num for r in results) if isinstance(results, tuple) else results.num
    return numbers, executor.steps
