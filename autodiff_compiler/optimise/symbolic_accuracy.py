"""Accuracy for the `symbolic` pass: a rewrite is kept only where it is measured to be no less accurate.

Takes: a region's statements, its algebra (`symbolic_algebra.RegionAlgebra`),
an output name and the statements of a candidate rewrite.  Guarantees:

* `Grid` is a fixed set of points (the same for the same region): every input
  of the region, and every value the region reads that cannot be computed
  from its inputs (an array entry, a shape), drawn from magnitudes between
  1e-8 and 1e150 of both signs (ints and bools from small values); the
  region is run on each point in float64 exactly as the generated code runs
  it (the primitives' own implementations; an overflow is infinity, a
  division by zero raises, as under Numba);
* `reference(output)` is the output's exact value at each point, the
  region's own expression evaluated in mpmath from the point's values: at
  50 digits more than the widest decimal exponent among the point's
  values (1 - y at y = 1e150 needs more than 150), taken when the digits
  its sums and functions cancelled leave 25, else at twice as many until
  two precisions agree to 2**-80 (a value below the rounding of its
  largest term is 0), else at 1600 digits (`_exact`);
* `verdict(original, candidate)` accepts the candidate only when, at every
  point where the exact value is a finite real number, the candidate is
  finite and does not raise wherever the original is finite, and its
  relative error is at most the original's or within 16 roundings (2**-48)
  -- a few roundings' difference at a point where the original happens to be
  exact is not a loss; and over the points where the original is finite,
  its largest and its mean relative error are at most the original's.  At
  least `MIN_POINTS` points must be measured.  (Where the original is not
  finite but the exact value is -- `1/(1 - y_hat)` at `y_hat == 1.0` -- the
  rewrite may only gain; those points are counted as `repaired`.)
* `cancellation_points(grid, expr)` are points a random grid almost never
  draws: where a sum the candidate computes vanishes, where an input is a
  label, and where a square overflows or underflows.  The values of the region's
  functions (exp(x), tanh(x)) are given by a point, as its inputs are
  (`cancellation_grid`; clamps and comparisons are still computed, as the
  proof relates them to their operands), so a sum over one can be put on
  its root whatever x would give it (1 + exp(x) is 1.0 at x = -40).  First,
  (`extreme_grids`, with the functions computed) six points with every
  float at 1e52, 1e155 or 1e-12, in one sign or alternating, and each value
  the region reads alone at +-inf (the forward sweep overflowed; no exact
  value there, so `overflow_verdict` asks only that the candidate be finite
  where the original is); and (with the functions' values given) each value
  alone at +-1e155, 1e52, +-1e-160 or 1e-200, the rest 1, at +-1e100, the
  rest 3, and at +-1e300, the rest 1e4 or 1e10: where `x**6`, `x*x`,
  `(1 + x*x)**2` or a product overflow or underflow and
  the original, which only divides, does not.  Then, for each sum and each such float value the
  sum's numerator is a polynomial of degree 1 to 4 in (its square-free
  part: the root finder does not converge on a double root), in five tiers
  (`_Group`): the float nearest each real root with one other input of the
  sum at +-1e20 (beyond 2**53, where a unit added is lost) and the rest 1;
  where the sum is +-1e-9, +-1e-6 or +-1e-3 instead of 0, every other value
  1 (`y - p` with y = 1 beside p = 1 - 1e-9 reads p's rounding, 1e-7 of it),
  and beside the roots of any two of its terms that share a value, the
  values only the other terms read at 1e-12 (`t8*y - t8` in
  `t8*y - t8 - t4*y` at y = 1 + 1e-9; `_PairGroup`);
  the roots with every other input at +-1e20, +-3.7, +-1e-12 or +-3e-8 in
  alternating signs; the value at 1, 0 and -1 (a label: y = 1 beside
  y_hat = 1 - 3e-8 is no root of y_hat - y, but y_hat's rounding is 4e-9
  of it) with the others at each size; and a relative 1e-12 beside each
  root (at the root itself both forms may be exact; beside it a sum that
  cancels loses digits).  Within a tier the sums and values take turns, so
  that the cut at 96 points leaves none unmeasured; the points are the
  same for the same region and candidate.  An expansion that the original
  did not compute (`1 + t5*t3**2 - t5` for `1 + t5*(t3**2 - 1)`: t5 = 2e100
  and t3 = tanh(x) = 1.0 gave 0 for 1, a gradient of 0.99 for -0.41, found
  by the fuzzer at x = -9.5e99) cancels there catastrophically and the
  original does not.  `cancellation_verdict` accepts the candidate when,
  wherever the original is finite and the exact value a finite real
  number, the candidate is finite with a relative error at most 16 times
  the original's (4 bits) or 2**-30; where the original keeps no digit
  itself (relative error 1 or more: on a root it may give 0 for 4e-18), at
  most 2**30 times the original's.  At a root both may lose digits (the
  exact value is small), but never all of them where the original kept
  them.  The measure is relative everywhere, and that decides the
  tutorial's case: the binary cross-entropy's `y_hat - y` reads `y_hat`
  rounded to a unit in the last place of 1.0, 1e-4 of the gradient where
  y = 1 and 1 - y_hat = 1e-12, and is refused; `(1 - y - y*e)/(1 + e)`,
  e = exp(-z), reads neither and keeps every digit there and where y = 0,
  where the chain rule's 1/(1 - y_hat) loses the same four.
* `boundary_grid` puts the value a point gives where each comparison with a
  constant bound (a clamp's) is the bound plus or minus 1e-12 to 1e-3 of its
  size, through what a clamp clamps, the rest 1 (y = 1 beside y_hat = 1 - 1e-6
  inside a clamp at 1 - 1e-7); `boundary_verdict` is the grid's pointwise test
  there: at most the original's error or 16 roundings.
"""
from __future__ import annotations

import itertools
import math
import random

import mpmath
import sympy

from ..ir import Var
from ..rules import PRIMITIVES

DIGITS = 50
N_POINTS = 48
MIN_POINTS = 8
SEED = 20240612
MAGNITUDES = (0.0, 1e-8, 1e-3, 0.1, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 6.7, 10.0, 37.0, 100.0, 1e3, 1e8,
              1e150)
STRUCTURED = (0.5, 1.0, -0.7, 2.0, 6.7, 0.1, -3.0)
INTS = (0, 1, 2, 3, 5, -1, 7)
ULP = 2.0 ** -52
ROUNDING = 16 * ULP       # at a point, a rewrite may be off by a few roundings where the original is better


class _Raised(Exception):
    pass


def _call(prim_name: str, values: list):
    prim = PRIMITIVES[prim_name]
    if prim.evaluate is None:
        raise _Raised(prim_name)
    try:
        out = prim.evaluate(*values)
    except OverflowError:
        return math.inf
    except ValueError:          # a math domain error: Numba gives nan
        return math.nan
    except (ZeroDivisionError, TypeError, IndexError) as exc:
        raise _Raised(str(exc)) from None
    if isinstance(out, complex):
        return math.nan
    return out


def run(stmts: list, env: dict) -> dict:
    """Run scalar statements on Python numbers (in place on a copy of `env`); a statement that raises
    makes its target (and what reads it) `_RAISED`."""
    env = dict(env)
    for stmt in stmts:
        values = []
        for a in stmt.args:
            if isinstance(a, Var):
                values.append(env[a.name])
            else:
                values.append(a.value)
        if any(v is _RAISED for v in values):
            env[stmt.target] = _RAISED
            continue
        try:
            env[stmt.target] = _call(stmt.prim, values)
        except _Raised:
            env[stmt.target] = _RAISED
    return env


_RAISED = object()


def _finite(v) -> bool:
    return v is not _RAISED and isinstance(v, (int, float)) and math.isfinite(v)


class Grid:
    """The points a region is measured on (`points`, or the fixed grid), and its float64 run at each."""

    def __init__(self, alg, stmts: list, types: dict, points: list | None = None, free_generators: bool = False):
        self.alg = alg
        self.stmts = stmts
        free = []              # (name, type) of the values a point gives
        for name in alg.inputs:
            free.append((name, types.get(name)))
        self.sampled = set()
        for stmt in stmts:
            prim = PRIMITIVES[stmt.prim]
            arrays = any(isinstance(a, Var) and types.get(a.name) is not None and types[a.name].is_array
                         for a in stmt.args)
            if prim.evaluate is None or arrays:
                free.append((stmt.target, types.get(stmt.target)))
                self.sampled.add(stmt.target)
        if free_generators:
            # a function's value (exp(x)) taken as given, as an input is: points may then put it where a
            # sum over it cancels (1 + exp(-40) is 1.0), whatever x would give it
            for info in alg.gens.values():
                # not an opaque value (a clamp, a comparison): the proof relates those to their operands
                if info["kind"] == "function" and info["name"] not in self.sampled:
                    free.append((info["name"], info.get("type")))
                    self.sampled.add(info["name"])
        self.free = free
        # with functions' values given, the exact value is over them (`cur`), not over what they spell (`full`)
        self.expressions = alg.cur if free_generators else alg.full
        self.clamps = alg.given_clamps if free_generators else alg.exact_clamps
        self.points = self._fixed_points(free) if points is None else points
        runs = [self._run(p) for p in self.points]
        self.envs = [env for env, _ in runs]
        self.values = [values for _, values in runs]     # per point: id(statement) -> its result
        self._references: dict = {}

    @staticmethod
    def _fixed_points(free: list) -> list:
        rng = random.Random(SEED + len(free))
        points = []
        for k in range(N_POINTS):
            point = {}
            for index, (name, t) in enumerate(free):
                if t is not None and t.kind == "bool":
                    point[name] = bool(rng.getrandbits(1)) if k >= 2 else bool(k)
                elif t is not None and t.kind == "int":
                    point[name] = rng.choice(INTS)
                elif k < len(STRUCTURED):
                    point[name] = STRUCTURED[k] * (1 if index % 2 == 0 else -1) if k >= 3 else STRUCTURED[k]
                else:
                    point[name] = rng.choice(MAGNITUDES) * rng.choice((1.0, -1.0))
            points.append(point)
        return points

    def _run(self, point: dict) -> tuple:
        env = dict(point)
        values = {}
        for stmt in self.stmts:
            if stmt.target in self.sampled:
                env[stmt.target] = point[stmt.target]
            else:
                env = run([stmt], env)
            values[id(stmt)] = env[stmt.target]
        return env, values

    def candidate_values(self, stmts: list, name: str) -> list:
        """`name` after running `stmts` at the end of the region, at every point."""
        return [run(stmts, env).get(name, _RAISED) for env in self.envs]

    def original_values(self, name: str) -> list:
        return [env.get(name, _RAISED) for env in self.envs]

    def reference(self, name: str) -> list:
        """The exact value of `name` at every point (None where it is not a finite real number: `_exact`)."""
        if name in self._references:
            return self._references[name]
        expr = self.expressions[name]
        values = [_exact(lambda digits: self._value_at(expr, env, stmt_values, digits), _digits_for(env))
                  for env, stmt_values in zip(self.envs, self.values)]
        self._references[name] = values
        return values

    def _value_at(self, expr, env: dict, stmt_values: dict, digits: int) -> tuple:
        """`expr` at one point in `digits`-digit arithmetic: (an mpf, or None where it is not a finite real
        number; the digits its sums and functions cancelled, `LOSS`)."""
        with mpmath.workdps(digits):
            known: dict = {}

            def resolve(s):
                if s not in known:
                    clamp = self.clamps.get(s)
                    if clamp is not None:
                        kind, args = clamp
                        exact = [mp_value(a, resolve, {}) for a in args]
                        known[s] = (max(exact) if kind == "max" else min(exact) if kind == "min"
                                    else min(max(exact[0], exact[1]), exact[2]))
                    else:
                        v = self._generator_value(s, env, stmt_values)
                        if v is None:
                            raise _Unknown(str(s))
                        known[s] = v
                return known[s]
            memo: dict = {}
            try:
                r = mp_value(expr, resolve, memo)
            except (ZeroDivisionError, ValueError, TypeError, OverflowError, _Unknown):
                return None, math.inf
            if isinstance(r, mpmath.mpc):
                r = r.real if r.imag == 0 else None
            return counted(r if r is not None and mpmath.isfinite(r) else None, memo, digits)

    def _generator_value(self, s, env: dict, stmt_values: dict):
        info = self.alg.gens.get(s)
        if info is None:
            return None
        if info["kind"] == "const":
            return mpmath.mpf(info["value"])
        if info["kind"] == "input":
            v = env.get(info["name"])
        else:
            v = stmt_values.get(id(info["stmt"]))
        if v is None or v is _RAISED:
            return None
        if isinstance(v, bool):
            return mpmath.mpf(int(v))
        if isinstance(v, int):
            return mpmath.mpf(v)
        if not math.isfinite(v):
            return None
        return mpmath.mpf(v)


MAX_DIGITS = 1600
AGREE = mpmath.mpf(2) ** -80      # two precisions agreeing this closely: the value is exact for float64


def _digits_for(env: dict) -> int:
    """The precision a point's reference starts at: `DIGITS` more than the widest decimal exponent among
    its float64 values (inputs and what the region computed from them), so that `1 - y` is exact at
    y = 1e150 (`_exact` doubles it where the sums cancel more)."""
    widest = 0.0
    for v in env.values():
        if isinstance(v, float) and v != 0.0 and math.isfinite(v):
            widest = max(widest, abs(math.log10(abs(v))))
    return min(DIGITS + math.ceil(widest), MAX_DIGITS)


def _exact(value_at, digits: int = DIGITS):
    """The exact value `value_at(digits)` -> (value or None, `LOSS` of digits) approaches.  A value is
    taken at the first precision that leaves it `TRUSTED` digits by the evaluation's own count of the
    digits its sums cancelled (`mp_value`).  Else the precision doubles, up to `MAX_DIGITS`, until two
    successive precisions agree to `AGREE` relatively or both give none (`counted` gives 0 for a value
    below the rounding of the largest term summed: `a/t*t - a` is mpmath's rounding, no two alike).  At
    `MAX_DIGITS` the last value is taken as it is.  A fixed precision is not enough: with y = 1e150,
    `1 - y` in 50 digits is -y, and a sum of such terms that cancels to 22 came out as 0 -- a reference
    that made the exact form of the logistic loss's Hessian look 1e301 times less accurate than the chain
    rule's -0.0.  (`_digits_for` starts beyond the point's own magnitudes: from 50 digits, `1 - y + y`
    cancels to 0 in both 50 and 100.)"""
    previous = _UNSET
    while True:
        value, lost = value_at(digits)
        if value is not None and lost <= digits - TRUSTED:
            return value
        if previous is not _UNSET:
            if previous is None and value is None:
                return None
            if previous is not None and value is not None and abs(value - previous) <= AGREE * abs(value):
                return value
        if digits >= MAX_DIGITS:
            return value
        previous, digits = value, min(2 * digits, MAX_DIGITS)


_UNSET = object()
TRUSTED = 25              # digits a reference keeps beyond what its sums cancelled (float64 needs 17)
NOISE = 5                 # no more left: the value is 0 to this precision
LARGEST = "$largest term"  # `mp_value`'s record, in its memo: the binary exponent of the largest term summed
LOSS = "$digits lost"     # `mp_value`'s count, in its memo: decimal digits its sums and functions cancel
LOG10_2 = math.log10(2.0)


def errors(values: list, reference: list) -> list:
    out = []
    for v, r in zip(values, reference):
        if r is None:
            out.append(None)
        elif not _finite(v):
            out.append(math.inf)
        else:
            scale = abs(r) if r != 0 else mpmath.mpf(1e-300)
            out.append(float(abs(mpmath.mpf(v) - r) / scale))
    return out


def raises_anew(original: list, candidate: list, reference: list) -> bool:
    """Does the candidate raise at a point where the exact value is finite and the original does not
    raise?  (`1/(t*t)` divides by zero where `t*t` underflows; the original's inf is wrong too, but a
    rewrite must not turn a value into an error that says the derivative is undefined.)"""
    return any(c is _RAISED and o is not _RAISED and r is not None
               for o, c, r in zip(original, candidate, reference))


def verdict(original: list, candidate: list, reference: list) -> tuple[bool, dict]:
    """(accepted?, figures) for two runs of one output against the exact values (see module doc)."""
    before, after = errors(original, reference), errors(candidate, reference)
    measured = [(b, a) for b, a in zip(before, after) if b is not None]
    figures = {"points": len(measured)}
    if len(measured) < MIN_POINTS or raises_anew(original, candidate, reference):
        return False, figures
    for b, a in measured:
        if math.isfinite(b) and not math.isfinite(a):
            return False, figures
        if math.isfinite(b) and a > max(b, ROUNDING):
            return False, figures
    # the largest and the mean error where the original is finite (elsewhere the rewrite can only gain)
    finite = [(b, a) for b, a in measured if math.isfinite(b)]
    figures["repaired"] = sum(1 for b, a in measured if not math.isfinite(b) and math.isfinite(a))
    if not finite:
        return False, figures
    figures.update(max_before=max(b for b, _ in finite), max_after=max(a for _, a in finite),
                   mean_before=sum(b for b, _ in finite) / len(finite),
                   mean_after=sum(a for _, a in finite) / len(finite))
    if figures["max_after"] > figures["max_before"] or figures["mean_after"] > figures["mean_before"]:
        return False, figures
    return True, figures


class _Unknown(Exception):
    pass


LARGE = 1e20                  # beyond 2**53: 1.0 added to it is lost
MODERATE = 3.7
MAX_CANCELLATION_POINTS = 96
NEAR = 1e-12
TINY = 1e-12
SMALL = 3e-8                  # 1 - SMALL read from its rounding is off by up to 4 times LOOSE, relatively
SIZES = (LARGE, -LARGE, MODERATE, -MODERATE, TINY, -TINY, SMALL, -SMALL)
LABELS = (1.0, 0.0, -1.0)
MAX_DEGREE = 4
OVERFLOWING = (1e52, 1e155, 1e-12)
FACTOR = 16                   # at a root, the candidate may lose at most 4 bits more than the original...
LOOSE = 2.0 ** -30            # ...or keep 30


def cancellation_grid(alg, stmts: list, types: dict, expr) -> Grid | None:
    """The cancellation points of `expr`, the region run at each with its functions' values given."""
    points = cancellation_points(Grid(alg, stmts, types, [], free_generators=True), expr)
    return Grid(alg, stmts, types, points, free_generators=True) if points else None


# one value at a time at these sizes, the rest at the second: its square overflows (1e155), its sixth
# power does (1e52), its square is subnormal (1e-160) or 0 (1e-200); the square of 1 + x*x overflows
# (1e100; the rest 3, not 1, where 1 - y would vanish); a product with moderate values overflows (1e300)
ALONE = (((1e155, -1e155, 1e52, 1e-160, -1e-160, 1e-200), 1.0), ((1e100, -1e100), 3.0), ((1e300, -1e300), 1e4),
         ((1e300, -1e300), 1e10))


def extreme_grids(alg, stmts: list, types: dict) -> list:
    """`overflow_grid`, and one value at a time at `ALONE`, the region's functions' values given as its
    inputs are: `(-x*y - 1)/x**2` for `-1/x - y/x` (the chain rule's) is 0 for -1e-155 at x = 1e155,
    y = 1, the squares `(1 + e)**2` and `y**2` overflow or underflow where only e = exp(x) or y is
    extreme (helper-49's review); `(1 - y)*x/(1 + x*x)**2` is 0 at x = 1e100, `e*y` overflows at
    e = exp(700) = 1e304, y = 1e5 (helper-50's).  `overflow_verdict` judges them all."""
    kinds = _kinds(Grid(alg, stmts, types, [], free_generators=True).free)
    points = [point for sizes, rest in ALONE for point in _alone(kinds, sizes, rest)]
    return [overflow_grid(alg, stmts, types), Grid(alg, stmts, types, points, free_generators=True)]


def _kinds(free: list) -> dict:
    """name -> "float", "int" or "bool", for the values a point gives."""
    return {name: t.kind if t is not None else "float" for name, t in free}


def _settable(alg, kinds: dict) -> set:
    """The generators a point may set: the float inputs and the functions' values."""
    return {s for s, info in alg.gens.items() if info["kind"] in ("input", "function")
            and kinds.get(info["name"]) == "float"}


def _polynomial(numerator, unknown):
    """`numerator` as a polynomial in `unknown` of degree 1 to `MAX_DEGREE`, square-free (mpmath's
    polyroots does not converge on a double root, 2u(1 + u)**2); None when it is none."""
    try:
        poly = sympy.Poly(numerator, unknown).sqf_part()
    except sympy.PolynomialError:
        return None
    return poly if 1 <= poly.degree() <= MAX_DEGREE else None


def _unit(kind: str):
    """The value a point gives a name it does not set: 1 of its kind."""
    return {"bool": True, "int": 1}.get(kind, 1.0)


def _alone(kinds: dict, sizes: tuple, rest: float) -> list:
    """Each float at each of `sizes` in turn, the other floats at `rest`, ints and bools at 1."""
    floats = sorted(name for name, kind in kinds.items() if kind == "float")
    around = {name: rest if kind == "float" else _unit(kind) for name, kind in kinds.items()}
    return [dict(around, **{name: size}) for name in floats for size in sizes]


def overflow_grid(alg, stmts: list, types: dict) -> Grid:
    """Six points with every float the region reads at 1e52, 1e155 or 1e-12, in one sign or
    alternating, the region's functions computed from them; and, for each float it reads, that value at
    +inf and -inf, the rest 1 (a value the forward sweep overflowed).  `(t*u + v)/t` for `u + v/t` is
    nan where t = sqrt(x**4 + 0.5) is inf and u = 0, and the chain rule gives 0 (fuzz seed 109,
    control-44, x = -2e99 at --scale 1e100); `overflow_verdict` judges these points."""
    kinds = _kinds(Grid(alg, stmts, types, []).free)
    floats = sorted(name for name, kind in kinds.items() if kind == "float")
    ones = {name: _unit(kind) for name, kind in kinds.items()}
    points = []
    for size in OVERFLOWING:
        for alternate in (False, True):
            points.append(dict(ones, **{name: size * (-1.0 if alternate and k % 2 else 1.0)
                                        for k, name in enumerate(floats)}))
    points += _alone(kinds, (math.inf, -math.inf), 1.0)
    return Grid(alg, stmts, types, points)


def overflow_verdict(original: list, candidate: list, reference: list) -> bool:
    """`cancellation_verdict`, and wherever the original is finite -- with an exact value or not (an
    input at inf has none) -- the candidate is finite too."""
    if any(_finite(o) and not _finite(c) for o, c in zip(original, candidate)):
        return False
    return cancellation_verdict(original, candidate, reference)


def cancellation_points(grid: Grid, expr) -> list:
    """Points where a sum of the candidate `expr` vanishes, beside them, and at labels (see `_Group`), at
    most `MAX_CANCELLATION_POINTS`."""
    alg = grid.alg
    kinds = _kinds(grid.free)
    settable = _settable(alg, kinds)
    points = []
    seen = set()
    # a kept name is the program's own value: a sum over it is a sum over what it is computed from
    kept = {s: alg.defined[s.name] for s in expr.free_symbols if s not in alg.gens and s.name in alg.defined}
    sums = sorted({node for node in sympy.preorder_traversal(expr) if isinstance(node, sympy.Add)},
                  key=sympy.default_sort_key)
    groups = []                 # per sum and value it is a polynomial in
    for node in sums:
        numerator, denominator = sympy.fraction(sympy.together(node.xreplace(kept)))
        inputs = sorted(numerator.free_symbols & settable, key=sympy.default_sort_key)
        for unknown in inputs:
            poly = _polynomial(numerator, unknown)
            if poly is not None:
                groups.append(_Group(grid, poly, unknown, inputs, kinds, (numerator, denominator)))
    groups += _pair_groups(grid, sums, kept, settable, kinds)
    # tier by tier (see `_Group`), one point of each group in turn, so that a cut leaves no sum and no
    # value unmeasured; the roots are found only for the points taken
    for tier in range(_Group.TIERS):
        pending = [group.points(tier) for group in groups]
        while pending:
            for source in list(pending):
                point = next(source, None)
                if point is None:
                    pending.remove(source)
                    continue
                key = tuple(sorted(point.items()))
                if key not in seen:
                    seen.add(key)
                    points.append(point)
                if len(points) == MAX_CANCELLATION_POINTS:
                    return points
    return points


MAX_PAIRED_TERMS = 6
PAIR_OFFSETS = (1e-9, 1e-6)


def _pair_groups(grid: Grid, sums: list, kept: dict, settable: set, kinds: dict) -> list:
    """A `_PairGroup` for each two terms of a sum of 3 to `MAX_PAIRED_TERMS` terms that share a value,
    and each value the two terms' sum is a polynomial in."""
    groups = []
    for node in sums:
        if not 3 <= len(node.args) <= MAX_PAIRED_TERMS:
            continue
        for a, b in itertools.combinations(node.args, 2):
            shared = a.free_symbols & b.free_symbols
            if not shared:
                continue
            pair = sympy.Add(a, b).xreplace(kept)
            others = set().union(*(t.xreplace(kept).free_symbols for t in node.args if t is not a and t is not b))
            inputs = pair.free_symbols & settable
            rest = (others & settable) - inputs
            numerator = sympy.fraction(sympy.together(pair))[0]
            for unknown in sorted(inputs, key=sympy.default_sort_key):
                poly = _polynomial(numerator, unknown)
                if poly is not None:
                    groups.append(_PairGroup(grid, poly, unknown, inputs, rest, kinds))
    return groups


class _PairGroup:
    """Two terms of a longer sum that share a value (`t8*y` and `-t8` in `t8*y - t8 - t4*y`), and one
    value their sum is a polynomial in: at tier 1, beside each root of the two terms' sum (relatively
    `PAIR_OFFSETS` away), their other values at 3.7 and the values only the other terms read at
    1e-12, every other value 1.  The whole sum does not vanish there, so no other tier draws where the
    expanded `t8*y - t8` loses what the chain rule's `(1 - y)*t8` keeps: y = 1 + 1e-9 beside the
    clamped t8 = log(1e-7), 1e-8 of the gradient (helper-54's review)."""

    def __init__(self, grid: Grid, poly, unknown, inputs: set, rest: set, kinds: dict):
        self.grid, self.poly, self.unknown, self.kinds = grid, poly, unknown, kinds
        names = {grid.alg.gens[s]["name"]: MODERATE for s in inputs if s != unknown}
        names.update({grid.alg.gens[s]["name"]: TINY for s in rest})
        self.base = {name: names.get(name, _unit(kind)) for name, kind in kinds.items()}

    def points(self, tier: int):
        if tier != 1:
            return
        name = self.grid.alg.gens[self.unknown]["name"]
        for point in _roots(self.grid, self.poly, self.unknown, [], 1.0, self.kinds, base=self.base)[0::3]:
            root = point[name]
            for offset in PAIR_OFFSETS:
                step = offset * abs(root) if root != 0 else offset
                yield dict(point, **{name: root + step})
                yield dict(point, **{name: root - step})


class _Group:
    """The points of one sum and one value it is a polynomial in (`unknown`), in tiers: 0, the roots with
    one other input of the sum at +-1e20 and the rest 1 (a unit added to it is lost, as the 1 of
    1 + t*u**2 - t); 1, where the sum is each of `NEAR_SUMS` instead of 0, every other value 1; 2, the
    roots with every other input at each of `SIZES`; 3, `unknown` at the `LABELS` with the others at
    each size; 4, beside the roots of tiers 0 and 2."""
    TIERS = 5

    def __init__(self, grid: Grid, poly, unknown, inputs: list, kinds: dict, fraction: tuple):
        self.grid, self.poly, self.unknown, self.inputs, self.kinds = grid, poly, unknown, inputs, kinds
        self.fraction = fraction
        others = [s for s in inputs if s != unknown]
        self.configs = ([(size, other) for other in others for size in (LARGE, -LARGE)]
                        + [(size, None) for size in SIZES])
        self._found: dict = {}

    def _roots(self, config) -> list:
        if config not in self._found:
            size, only = config
            self._found[config] = _roots(self.grid, self.poly, self.unknown, self.inputs, size, self.kinds, only)
        return self._found[config]

    def points(self, tier: int):
        alg = self.grid.alg
        if tier == 0:
            configs = [c for c in self.configs if c[1] is not None]
        elif tier == 1:
            yield from self._near_sums()
            return
        elif tier == 2:
            configs = [c for c in self.configs if c[1] is None]
        elif tier == 3:
            for size in SIZES:
                yield from _labels(alg, self.inputs, self.unknown, size, self.kinds)
            return
        else:
            for k in (1, 2):
                for config in self.configs:
                    yield from self._roots(config)[k::3]
            return
        for config in configs:
            yield from self._roots(config)[0::3]

    def _near_sums(self):
        """Where the sum is a small value `d` of `NEAR_SUMS`, every other value 1: `y - p` with y = 1 and
        p = ea/(ea + eb) = 1 - 1e-9 reads p rounded to a unit in the last place of 1.0, 1e-7 of itself,
        where the chain rule keeps every digit (a softmax of two; helper-52's review).  No root of the
        sum is there, so no other tier draws it."""
        try:
            numerator, denominator = (sympy.Poly(part, self.unknown) for part in self.fraction)
        except sympy.PolynomialError:
            return
        if max(numerator.degree(), denominator.degree()) > MAX_DEGREE:
            return
        for d in NEAR_SUMS:
            # no square-free part: a double root of the sum minus d is a coincidence, and mpmath's
            # failure to converge on one is a point fewer (`_roots`), not an error
            poly = numerator - denominator * sympy.Rational(d)
            if poly.degree() >= 1:
                yield from _roots(self.grid, poly, self.unknown, [self.unknown], 1.0, self.kinds)[0::3]


NEAR_SUMS = (1e-9, -1e-9, 1e-6, -1e-6, 1e-3, -1e-3)


def _base(alg, inputs: list, unknown, size: float, kinds: dict, only=None) -> dict:
    """The sum's inputs other than `unknown` (or only `only`) at `size` in alternating signs (the first
    `size`'s), every other value 1."""
    names = {alg.gens[s]["name"] for s in inputs if s != unknown and (only is None or s == only)}
    base, sign = {}, 1.0
    for name, kind in kinds.items():
        if name in names:
            base[name] = sign * size
            sign = -sign
        else:
            base[name] = _unit(kind)
    return base


def _labels(alg, inputs: list, unknown, size: float, kinds: dict) -> list:
    """`unknown` at 1, 0 and -1 (a label, an indicator), the sum's other inputs at `size`: y = 1 beside
    y_hat = 1 - 3e-8 is no root of y_hat - y, but y_hat's rounding is 4e-9 of it."""
    base = _base(alg, inputs, unknown, size, kinds)
    return [dict(base, **{alg.gens[unknown]["name"]: value}) for value in LABELS]


def _roots(grid: Grid, poly, unknown, inputs: list, size: float, kinds: dict, only=None, base=None) -> list:
    """The points where `poly` (in `unknown`) vanishes, the sum's other inputs `size` in alternating
    signs (the first `size`'s) and every other value 1 (or the values `base` gives)."""
    alg = grid.alg
    base = _base(alg, inputs, unknown, size, kinds, only) if base is None else base
    env, values = grid._run(base)
    known: dict = {}

    def resolve(s):
        if s not in known:
            v = grid._generator_value(s, env, values)
            if v is None:
                raise _Unknown(str(s))
            known[s] = v
        return known[s]
    out = []
    with mpmath.workdps(DIGITS):
        try:
            coefficients = [mp_value(c, resolve, {}) for c in poly.all_coeffs()]
            roots = mpmath.polyroots(coefficients) if coefficients[0] != 0 else []
        except (ZeroDivisionError, ValueError, TypeError, OverflowError, _Unknown, mpmath.libmp.NoConvergence):
            return []
    for root in roots:
        if isinstance(root, mpmath.mpc):
            if root.imag != 0:
                continue
            root = root.real
        value = float(root)
        # at the root itself (0.0, say) both forms may be exact; beside it, a relative NEAR away (NEAR
        # itself beside 0), a sum that cancels loses digits
        if not math.isfinite(value):
            continue
        step = NEAR * abs(value) if value != 0 else NEAR
        for near in (value, value + step, value - step):          # three per root, in this order
            out.append(dict(base, **{alg.gens[unknown]["name"]: near}))
    return out


# how far either side of a comparison's constant bound the boundary points lie, relative to the bound
# (at least 1): 1 - y_hat from 1e-8 to 1e-3 inside a clamp of y_hat to [1e-8, 1 - 1e-8]
BOUNDARY_STEPS = (1e-12, 1e-9, 1e-6, 1e-3)
MAX_BOUNDARY_POINTS = 96


def boundary_grid(alg, stmts: list, types: dict) -> Grid | None:
    """Points just either side of each comparison with a constant bound (a clamp's: `y_hat >= 1e-7`,
    `max(y_hat, 1e-7) <= 1 - 1e-7`), through what a clamp clamps: the value a point gives (1 + e, with
    e = exp(-z) given) put where the compared value is the bound plus or minus each of `BOUNDARY_STEPS`
    times the bound's size, every other value 1; the region's functions' values given, as for
    `cancellation_grid`.  The grid draws no point with y = 1 and 1 - y_hat between 1e-7 and 1e-4, where
    the clamped loss's `y_hat - y` loses up to 9 digits the chain rule keeps (helper-51's review)."""
    grid = Grid(alg, stmts, types, [], free_generators=True)
    points, seen = [], set()
    for point in _boundary_points(grid):
        key = tuple(sorted(point.items()))
        if key not in seen:
            seen.add(key)
            points.append(point)
            if len(points) == MAX_BOUNDARY_POINTS:
                break
    return Grid(alg, stmts, types, points, free_generators=True) if points else None


def _boundary_points(grid: Grid):
    """The boundary points of `boundary_grid`, comparison by comparison (found as they are taken)."""
    alg = grid.alg
    kinds = _kinds(grid.free)
    settable = _settable(alg, kinds)
    for condition in sorted(alg.relations, key=sympy.default_sort_key):
        _, lhs, rhs = alg.relations[condition]
        for side, bound in ((lhs, rhs), (rhs, lhs)):
            c = _constant(alg, bound)
            side = _unclamped(alg, side)
            if c is None or side is None:
                continue
            for unknown in sorted(side.free_symbols & settable, key=sympy.default_sort_key):
                for target in (c + sign * step * max(abs(c), 1.0) for step in BOUNDARY_STEPS for sign in (-1, 1)):
                    poly = _polynomial(sympy.fraction(sympy.together(side - sympy.Rational(target)))[0], unknown)
                    if poly is not None:
                        yield from _roots(grid, poly, unknown, [unknown], 1.0, kinds)[0::3]


def _constant(alg, value) -> float | None:
    """`value` as a float when it is a constant (a number, or a constant the algebra named)."""
    if value is None:
        return None
    if value.is_Number:
        return float(value)
    info = alg.gens.get(value) if value.is_Symbol else None
    return float(info["value"]) if info is not None and info["kind"] == "const" else None


def _unclamped(alg, side):
    """`side` with each clamp of one non-constant value replaced by that value (`max(y_hat, 1e-7)` by
    `y_hat`), or None when it is a constant or holds a clamp of several."""
    if side is None or _constant(alg, side) is not None:
        return None
    for _ in range(8):
        clamps = [g for g in side.free_symbols if g in alg.given_clamps]
        if not clamps:
            return side
        replace = {}
        for g in clamps:
            varying = [a for a in alg.given_clamps[g][1] if a is None or _constant(alg, a) is None]
            if len(varying) != 1 or varying[0] is None:
                return None
            replace[g] = varying[0]
        side = side.xreplace(replace)
    return None


def boundary_verdict(original: list, candidate: list, reference: list) -> bool:
    """At the boundary points, as at the grid's: wherever the original is finite and the exact value a
    finite real number, the candidate is finite and its error at most the original's or 16 roundings."""
    if raises_anew(original, candidate, reference):
        return False
    for b, a in zip(errors(original, reference), errors(candidate, reference)):
        if b is not None and math.isfinite(b) and not (math.isfinite(a) and a <= max(b, ROUNDING)):
            return False
    return True


def cancellation_verdict(original: list, candidate: list, reference: list) -> bool:
    """Is the candidate, at the cancellation points, never far less accurate than the original?"""
    if raises_anew(original, candidate, reference):
        return False
    for b, a in zip(errors(original, reference), errors(candidate, reference)):
        if b is None or not math.isfinite(b):
            continue
        # where the original keeps no digit (on a root it may give 0 for 4e-18) no digit can be lost:
        # the candidate may then be off by 2**30 times the original's error, never by more
        allowed = max(FACTOR * b, LOOSE) if b < 1 else b / LOOSE
        if not (math.isfinite(a) and a <= allowed):
            return False
    return True


_MP = {sympy.exp: mpmath.exp, sympy.log: mpmath.log, sympy.sin: mpmath.sin, sympy.cos: mpmath.cos,
       sympy.tan: mpmath.tan, sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh, sympy.tanh: mpmath.tanh,
       sympy.atan: mpmath.atan, sympy.asin: mpmath.asin, sympy.acos: mpmath.acos}


def mp_value(expr, resolve, memo: dict):
    """`expr` in mpmath's current precision, its symbols' values from `resolve(symbol)`, each
    subexpression once."""
    if expr in memo:
        return memo[expr]
    if expr.is_Symbol:
        out = resolve(expr)
    elif expr.is_Integer:
        out = mpmath.mpf(int(expr))
    elif expr.is_Rational:
        out = mpmath.mpf(int(expr.p)) / int(expr.q)
    elif isinstance(expr, sympy.Add):
        terms = [mp_value(a, resolve, memo) for a in expr.args]
        out = mpmath.fsum(terms)
        # the rounding of the largest term, relative to the sum: what cancelling costs (binary exponents)
        largest = max(mpmath.mag(t) for t in terms)
        memo[LARGEST] = max(memo.get(LARGEST, -math.inf), largest)
        if largest != -math.inf:
            _lose(memo, min(largest - mpmath.mag(out), 10 ** 6) * LOG10_2 if out else math.inf)
    elif isinstance(expr, sympy.Mul):
        out = mpmath.mpf(1)
        for a in expr.args:
            out = out * mp_value(a, resolve, memo)
    elif isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        b = mp_value(base, resolve, memo)
        if exponent.is_Integer:
            out = b ** int(exponent)
            _lose(memo, math.log10(abs(int(exponent))))     # b's relative error, times the exponent
        elif exponent == sympy.Rational(1, 2):
            out = mpmath.sqrt(b)
        else:
            out = b ** mp_value(exponent, resolve, memo)
    elif type(expr) in _MP:
        operand = mp_value(expr.args[0], resolve, memo)
        if mpmath.mag(operand) > 1100:
            # beyond every float64 (2 ** 1024): no float64 reference, and mpmath's `tanh(cosh(cosh(y)))` of
            # such an operand needs memory in proportion to its exponent (a MemoryError, seed 94's scalar-60)
            raise _Unknown(f"{type(expr).__name__} of a number beyond float64")
        out = _MP[type(expr)](operand)
        # the operand's relative error, times the function's condition number |x f'(x) / f(x)| (bounded
        # by |x| for exp, sinh, cosh and a reduced argument; 1/|log x| for log; 1/sqrt(1 - x*x) beside asin)
        if type(expr) is sympy.log:
            condition = math.inf if out == 0 else 1 / abs(out)
        elif type(expr) in (sympy.asin, sympy.acos):
            condition = math.inf if abs(operand) >= 1 else float(1 / mpmath.sqrt(1 - operand * operand))
        else:
            condition = float(abs(operand))
        if condition > 1:
            _lose(memo, math.log10(condition) if math.isfinite(condition) else math.inf)
    else:
        raise _Unknown(type(expr).__name__)
    memo[expr] = out
    return out


def counted(value, memo: dict, digits: int) -> tuple:
    """(value, digits lost) of an evaluation at `digits` digits with `mp_value`'s `memo`: the value 0 when
    it lies below the rounding of the largest term any of its sums added (all but `NOISE` digits
    cancelled: mpmath's rounding of a value that is 0), with every digit lost."""
    if value is None:
        return None, math.inf
    if value and mpmath.mag(value) < memo.get(LARGEST, -math.inf) - int((digits - NOISE) / LOG10_2):
        return mpmath.mpf(0), math.inf
    return +value, memo.get(LOSS, 0.0)


def _lose(memo: dict, digits: float) -> None:
    """Count `digits` more lost in this evaluation (`LOSS`: summed over every sum and function, an upper
    bound along any one path)."""
    if digits > 0:
        memo[LOSS] = memo.get(LOSS, 0.0) + digits
