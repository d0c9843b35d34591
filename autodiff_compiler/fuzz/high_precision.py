"""High precision: the program's math and NumPy functions on mpmath numbers, for the oracle's reference.

Takes: numbers and NumPy arrays (of dtype object, holding mpmath numbers) from the oracle's instrumented
run (`oracle.Instrumented`) at high precision.
Guarantees: `MP_MATH` and `MP_NUMPY` stand for the math module and NumPy in that run, each function the
mathematical one to the working precision, raising ValueError where the float64 one leaves its domain (a
complex or non-finite result) and `OracleUnsupported` where no reference can be had (a periodic function
of an argument past `PERIODIC_LIMIT`, whose phase float64 does not keep).
"""
from __future__ import annotations

import math
import types

import numpy as np

try:
    import mpmath
except ImportError:      # pragma: no cover - mpmath comes with sympy
    mpmath = None


class OracleUnsupported(Exception):
    """The program uses something the oracle does not model."""


def _is_array(*values) -> bool:
    return any(isinstance(v, np.ndarray) for v in values)


# ------------------------------------------------------------------- the mpmath shim

def _to_mpf(x):
    if mpmath is not None and isinstance(x, mpmath.mpf):
        return x
    if isinstance(x, np.ndarray):
        return np.frompyfunc(_to_mpf, 1, 1)(x)
    if isinstance(x, (float, np.floating)):
        return mpmath.mpf(float(x))
    if isinstance(x, (np.integer, np.bool_)):       # mpmath takes Python's ints only
        return mpmath.mpf(int(x))
    return mpmath.mpf(x)


def _real(value):
    if isinstance(value, mpmath.mpc):
        raise ValueError("math domain error (complex result)")
    if isinstance(value, mpmath.mpf) and not mpmath.isfinite(value):
        raise ValueError("math domain error (non-finite result)")
    return value


def _mp_scalar(fn):
    def call(*args):
        return _real(fn(*[_to_mpf(a) for a in args]))
    return call


# a derivative past this magnitude may be inf although finite: its chain rule multiplies partials
# that overflow first (`x ** 400` near 1e303 times its exponent)
NEAR_OVERFLOW = 1e290
# past this magnitude, float64 keeps too few digits of a trigonometric function's phase: the high-precision
# run, whose argument differs from float64's by its rounding, computes another value (`1e136`: any)
PERIODIC_LIMIT = 1e8


def _mp_periodic(fn):
    """sin, cos, tan at high precision; of an argument beyond `PERIODIC_LIMIT`, no reference
    (ill-conditioned: the derivative through it, AD's and the differences', depends on the rounding)."""
    def call(x):
        x = _to_mpf(x)
        if abs(x) > PERIODIC_LIMIT:
            raise OracleUnsupported(f"ill-conditioned: a periodic function of {mpmath.nstr(x, 3)}")
        return _real(fn(x))
    return call


def _mp_erfc(x):
    """mpmath's erfc; past 1e10, where mpmath's own raises OverflowError (about 1e150 and up: its series
    test converts a huge int to a float; scalar-126-8 at --scale 1e100), the asymptotic series, whose four
    terms leave a relative error below 105 / (16 x**8), under 1e-79 there."""
    x = _to_mpf(x)
    if x > 1e10:
        w = 1 / (2 * x * x)
        return _real(mpmath.exp(-x * x) / (x * mpmath.sqrt(mpmath.pi)) * (1 - w + 3 * w ** 2 - 15 * w ** 3))
    return _real(mpmath.erfc(x))


def _mp_floordiv(a, b):
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        return a // b
    a, b = _to_mpf(a), _to_mpf(b)
    if b == 0:
        raise ZeroDivisionError("float floor division by zero")
    return mpmath.floor(a / b)


def _mp_mod(a, b):
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        return a % b
    a, b = _to_mpf(a), _to_mpf(b)
    if b == 0:
        raise ZeroDivisionError("float modulo")
    return a - mpmath.floor(a / b) * b


def _mp_pow(a, b):
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)) and b >= 0:
        return a ** b
    a, b = _to_mpf(a), _to_mpf(b)
    if a == 0 and b < 0:
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    return _real(a ** b)


def _mp_fmod(a, b):
    a, b = _to_mpf(a), _to_mpf(b)
    return mpmath.fmod(a, b) if hasattr(mpmath, "fmod") else a - mpmath.floor(a / b) * b


def _elementwise(fn, nin):
    ufunc = np.frompyfunc(fn, nin, 1)

    def call(*args, **kw):
        if kw:
            raise OracleUnsupported(f"keyword arguments to an elementwise function: {sorted(kw)}")
        if _is_array(*args):
            return ufunc(*args)
        return fn(*args)
    return call


def _mp_sign(x):
    x = _to_mpf(x)
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(-1) if x < 0 else mpmath.mpf(0)


def _mp_min2(a, b):
    return a if a <= b else b


def _mp_max2(a, b):
    return a if a >= b else b


def _mp_hypot(a, b):
    return _real(mpmath.sqrt(_to_mpf(a) ** 2 + _to_mpf(b) ** 2))


def _mp_math_pow(a, b):
    a, b = _to_mpf(a), _to_mpf(b)
    if a < 0 and b != mpmath.floor(b):
        raise ValueError("math domain error")
    return _mp_pow(a, b)


def _mp_log(x, base=None):
    x = _to_mpf(x)
    if x <= 0:
        raise ValueError("math domain error")
    if base is None:
        return mpmath.log(x)
    return mpmath.log(x) / mpmath.log(_to_mpf(base))


def _mp_checked_domain(fn, lo=None, hi=None, open_lo=False):
    def call(x):
        x = _to_mpf(x)
        if lo is not None and (x < lo or (open_lo and x == lo)):
            raise ValueError("math domain error")
        if hi is not None and x > hi:
            raise ValueError("math domain error")
        return _real(fn(x))
    return call


_MP_FLOORDIV = np.frompyfunc(_mp_floordiv, 2, 1) if mpmath else None
_MP_MOD = np.frompyfunc(_mp_mod, 2, 1) if mpmath else None
_MP_POW = np.frompyfunc(_mp_pow, 2, 1) if mpmath else None


def _mp_floor_int(x):
    return int(mpmath.floor(_to_mpf(x)))


def _mp_ceil_int(x):
    return int(mpmath.ceil(_to_mpf(x)))


def _mp_trunc_int(x):
    return int(_to_mpf(x))


def _build_shims():
    if mpmath is None:
        return None, None
    sqrt = _mp_checked_domain(mpmath.sqrt, lo=0)
    log = _mp_checked_domain(mpmath.log, lo=0, open_lo=True)
    log1p = _mp_checked_domain(mpmath.log1p, lo=-1, open_lo=True)
    log2 = _mp_checked_domain(lambda x: mpmath.log(x, 2), lo=0, open_lo=True)
    log10 = _mp_checked_domain(mpmath.log10, lo=0, open_lo=True)
    asin = _mp_checked_domain(mpmath.asin, lo=-1, hi=1)
    acos = _mp_checked_domain(mpmath.acos, lo=-1, hi=1)
    scalar = {
        "sin": _mp_periodic(mpmath.sin), "cos": _mp_periodic(mpmath.cos), "tan": _mp_periodic(mpmath.tan),
        "asin": asin, "acos": acos, "atan": _mp_scalar(mpmath.atan),
        "atan2": _mp_scalar(mpmath.atan2), "sinh": _mp_scalar(mpmath.sinh), "cosh": _mp_scalar(mpmath.cosh),
        "tanh": _mp_scalar(mpmath.tanh), "exp": _mp_scalar(mpmath.exp), "expm1": _mp_scalar(mpmath.expm1),
        "log1p": log1p, "log2": log2, "log10": log10, "sqrt": sqrt, "hypot": _mp_hypot,
        "erf": _mp_scalar(mpmath.erf), "erfc": _mp_erfc, "fabs": _mp_scalar(abs),
    }
    mp_math = types.SimpleNamespace(**scalar)
    mp_math.log = _mp_log
    mp_math.floor = _mp_floor_int
    mp_math.ceil = _mp_ceil_int
    mp_math.trunc = _mp_trunc_int
    mp_math.pow = _mp_math_pow
    mp_math.fmod = _mp_scalar(_mp_fmod)
    mp_math.pi, mp_math.e, mp_math.tau, mp_math.inf = math.pi, math.e, math.tau, math.inf
    mp_math.isfinite = lambda x: bool(mpmath.isfinite(x))

    ew1 = {name: _elementwise(fn, 1) for name, fn in scalar.items() if name not in ("atan2", "hypot")}
    mp_np = types.SimpleNamespace()
    for name, fn in ew1.items():
        setattr(mp_np, name, fn)
    for npname, name in (("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan")):
        setattr(mp_np, npname, ew1[name])
    mp_np.log = _elementwise(log, 1)
    mp_np.arctan2 = _elementwise(scalar["atan2"], 2)
    mp_np.hypot = _elementwise(_mp_hypot, 2)
    mp_np.abs = mp_np.absolute = mp_np.fabs = _elementwise(lambda x: abs(_to_mpf(x)), 1)
    mp_np.floor = _elementwise(lambda x: mpmath.floor(_to_mpf(x)), 1)
    mp_np.ceil = _elementwise(lambda x: mpmath.ceil(_to_mpf(x)), 1)
    mp_np.trunc = _elementwise(lambda x: mpmath.mpf(int(_to_mpf(x))), 1)
    mp_np.sign = _elementwise(_mp_sign, 1)
    mp_np.square = _elementwise(lambda x: _to_mpf(x) * _to_mpf(x), 1)
    mp_np.negative = _elementwise(lambda x: -_to_mpf(x), 1)
    mp_np.power = _elementwise(_mp_pow, 2)
    mp_np.divide = mp_np.true_divide = _elementwise(lambda a, b: _to_mpf(a) / _to_mpf(b), 2)
    mp_np.mod = mp_np.remainder = _elementwise(_mp_mod, 2)
    mp_np.floor_divide = _elementwise(_mp_floordiv, 2)
    mp_np.minimum = mp_np.fmin = _elementwise(_mp_min2, 2)
    mp_np.maximum = mp_np.fmax = _elementwise(_mp_max2, 2)
    mp_np.logical_not = np.logical_not
    mp_np.where = np.where

    def clip(x, lo, hi):
        return mp_np.minimum(mp_np.maximum(x, lo), hi)
    mp_np.clip = clip

    def _reduction(fn):
        def call(x, *args, **kw):
            if not isinstance(x, np.ndarray):
                x = np.asarray(x, dtype=object)
            result = fn(x, *args, **kw)
            return result.item() if isinstance(result, np.ndarray) and result.ndim == 0 else result
        return call
    mp_np.sum = _reduction(np.sum)
    mp_np.mean = _reduction(np.mean)
    mp_np.prod = _reduction(np.prod)
    mp_np.max = mp_np.amax = _reduction(np.max)
    mp_np.min = mp_np.amin = _reduction(np.min)
    mp_np.dot = np.dot
    mp_np.matmul = np.matmul
    mp_np.outer = np.outer
    mp_np.transpose = np.transpose
    mp_np.expand_dims = np.expand_dims
    # the language's reshaping, joining and scan functions move entries without arithmetic (cumsum adds)
    mp_np.reshape, mp_np.ravel, mp_np.flip, mp_np.concatenate = np.reshape, np.ravel, np.flip, np.concatenate
    mp_np.cumsum = np.cumsum
    mp_np.var = _reduction(np.var)
    mp_np.arcsinh = _elementwise(_mp_scalar(mpmath.asinh), 1)
    mp_np.exp2 = _elementwise(lambda x: mpmath.power(2, _to_mpf(x)), 1)

    def _filled(value):
        def make(shape, dtype=None):
            return np.full(shape, mpmath.mpf(value), dtype=object)

        def like(x, dtype=None):
            return np.full(np.shape(x), mpmath.mpf(value), dtype=object)
        return make, like
    mp_np.zeros, mp_np.zeros_like = _filled(0)
    mp_np.ones, mp_np.ones_like = _filled(1)
    mp_np.empty, mp_np.empty_like = _filled(0)
    mp_np.pi, mp_np.e, mp_np.inf = math.pi, math.e, math.inf
    mp_np.isfinite = np.isfinite
    mp_np.ndarray = np.ndarray
    return mp_math, mp_np


MP_MATH, MP_NUMPY = _build_shims()
