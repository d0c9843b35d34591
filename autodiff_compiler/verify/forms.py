"""Exact numbers and the SymPy form of every primitive.

Takes: Python numbers (floats folded by the compiler in double precision,
ints, bools) and the rule table's `sympy` strings.  Guarantees:

* `exact(v)` is the exact SymPy number a float stands for: a short decimal,
  a small fraction, or a simple multiple of pi, e, log 2, log 10, sqrt 2,
  sqrt 3, sqrt(pi), sqrt(2 pi) or their inverses that `v` is the double of (to
  within two units in the last place); otherwise `v`'s shortest decimal, and
  the read is counted in `INEXACT_SEEN` (the comparison then asks only for a
  relative 1e-12, since the constant may be a rounding of some exact value);
* `sympy_lambda(text)` is the rule table's SymPy string as a function of x,
  y, z, compiled once;
* `resolve_kinks(expr, number_of)` replaces every kink (Min, Max, Abs, sign,
  floor, ceiling, Mod, Heaviside, Piecewise) by the smooth piece on the side
  the numbers lie on; ties in Min/Max go to the primitive's first argument,
  as the rule table's partials do.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import sympy

from .limits import Unsupported

# ----------------------------------------------------------- exact constants

_CONSTANT_BASES = None
_EXACT_CACHE: dict = {}


def _bases():
    global _CONSTANT_BASES
    if _CONSTANT_BASES is None:
        roots = [sympy.pi, sympy.E, sympy.log(2), sympy.log(10), sympy.sqrt(2), sympy.sqrt(3),
                 sympy.sqrt(sympy.pi), sympy.sqrt(2 * sympy.pi)]
        bases = []
        for r in roots:
            bases += [r, 1 / r]
        _CONSTANT_BASES = [(b, float(b)) for b in bases]
    return _CONSTANT_BASES


def _within_ulps(a: float, b: float, ulps: int = 2) -> bool:
    return abs(a - b) <= ulps * math.ulp(b)


def exact(value):
    """The exact SymPy number a Python number stands for (floats: see the module docstring)."""
    if isinstance(value, (bool, np.bool_)):
        return sympy.Integer(int(value))
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, sympy.Basic):
        return value
    v = float(value)
    cached = _EXACT_CACHE.get(v)
    if cached is None:
        cached = _exact_float(v)
        if len(_EXACT_CACHE) < 100_000:
            _EXACT_CACHE[v] = cached
    result, inexact = cached
    if inexact:
        INEXACT_SEEN[0] += 1
    return result


# how many floats that matched no exact number (see `_exact_float`) have been read
INEXACT_SEEN = [0]


def _exact_float(v: float):
    """(exact number, inexact?): a short decimal, a small fraction, or a simple multiple of
    pi, e, log 2, log 10, sqrt 2, sqrt 3, sqrt(pi), sqrt(2 pi) or their inverses that `v` is
    the double of (to within two units in the last place); else `v`'s shortest decimal,
    flagged inexact (it may be a double-precision rounding of some exact value)."""
    if math.isnan(v):
        return sympy.nan, False
    if math.isinf(v):
        return (sympy.oo if v > 0 else -sympy.oo), False
    if v == 0:
        return sympy.Integer(0), False
    text = repr(v)
    mantissa = text.split("e")[0].replace("-", "").replace(".", "").strip("0")
    if len(mantissa) <= 12:
        return sympy.Rational(text), False
    fraction = Fraction(v).limit_denominator(10 ** 6)
    if fraction != 0 and _within_ulps(float(fraction), v):
        return sympy.Rational(fraction.numerator, fraction.denominator), False
    for base, base_value in _bases():
        ratio = Fraction(v / base_value).limit_denominator(1000)
        if ratio != 0 and _within_ulps(float(ratio) * base_value, v, 4):
            return sympy.Rational(ratio.numerator, ratio.denominator) * base, False
    return sympy.Rational(text), True


# ------------------------------------------------------- primitives in SymPy

_SYMPY_NAMESPACE = dict(vars(sympy))
_LAMBDAS: dict = {}
_TEMPLATES: dict = {}
_KINKS = (sympy.Min, sympy.Max, sympy.Abs, sympy.sign, sympy.floor, sympy.ceiling, sympy.Mod,
          sympy.Heaviside, sympy.Piecewise)
_DUMMIES = tuple(sympy.Dummy(name, real=True) for name in ("x", "y", "z"))


def sympy_lambda(text: str):
    """The rule table's SymPy string compiled once into a function of x, y, z."""
    fn = _LAMBDAS.get(text)
    if fn is None:
        fn = eval(f"lambda x=None, y=None, z=None: ({text})", _SYMPY_NAMESPACE)
        _LAMBDAS[text] = fn
    return fn


def _template(prim):
    """(template over dummies, has kinks) for a primitive's SymPy form."""
    entry = _TEMPLATES.get(prim.sympy)
    if entry is None:
        template = sympy.sympify(sympy_lambda(prim.sympy)(*_DUMMIES[:prim.arity]))
        entry = (template, template.has(*_KINKS))
        _TEMPLATES[prim.sympy] = entry
    return entry


def _dummy_rank(expr) -> int:
    ranks = [i for i, d in enumerate(_DUMMIES) if expr.has(d)]
    return min(ranks) if ranks else len(_DUMMIES)


def resolve_kinks(expr, number_of):
    """Replace kinks (Min, Max, Abs, sign, floor, ceiling, Mod, Heaviside, Piecewise) by the
    smooth piece on the side `number_of(subexpression)` lies on.  Ties in Min/Max go to the
    argument over the earliest dummy (the primitive's first argument)."""
    if not isinstance(expr, sympy.Basic) or not expr.args:
        return expr
    args = [resolve_kinks(a, number_of) for a in expr.args]
    if isinstance(expr, (sympy.Min, sympy.Max)):
        values = [number_of(a) for a in args]
        best = min(values) if isinstance(expr, sympy.Min) else max(values)
        tied = [a for a, v in zip(args, values) if v == best]
        return min(tied, key=_dummy_rank)
    if isinstance(expr, sympy.Abs):
        value = number_of(args[0])
        return args[0] * (1 if value > 0 else -1 if value < 0 else 0)
    if isinstance(expr, sympy.sign):
        value = number_of(args[0])
        return sympy.Integer(1 if value > 0 else -1 if value < 0 else 0)
    if isinstance(expr, sympy.floor):
        return sympy.Integer(math.floor(number_of(args[0])))
    if isinstance(expr, sympy.ceiling):
        return sympy.Integer(math.ceil(number_of(args[0])))
    if isinstance(expr, sympy.Heaviside):
        value = number_of(args[0])
        return sympy.Integer(1 if value > 0 else 0) if value != 0 else sympy.Rational(1, 2)
    if isinstance(expr, sympy.Mod):
        a, b = args
        return a - b * sympy.Integer(math.floor(number_of(a) / number_of(b)))
    if isinstance(expr, sympy.Piecewise):
        for piece, cond in expr.args:
            if cond == sympy.true or bool(cond.subs({d: exact(number_of(d)) for d in cond.free_symbols})):
                return resolve_kinks(piece, number_of)
        raise Unsupported("a Piecewise with no branch true at the call's arguments")
    if args == list(expr.args):
        return expr
    return expr.func(*args)
