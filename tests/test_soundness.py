"""Issue 8 ("no silent wrong gradient") as regression tests of whole classes.

Every row of the issue's table is a class here: the issue's own program plus
variations of the same pattern (other primitives, positions, nesting, sizes and
trip counts, 0 and 1 included), in corpus_soundness.py.  Every raw crash of the
issue's list is a case too.  Each case runs at two to four points in the
four interpreted modes (simplifier on/off x `grad`, `value_and_grad`) and,
for a quarter of each class's cases (its first, fifth, ...: every class), in
one of the four compiled ones, in turn (or those a class's failure shows in,
`Case.compiled`), so that every compiled mode runs about a sixteenth of each
class (compiles are most of this file's time: two compiled modes per case
took 19 of the suite's 71 CPU minutes, all eight modes for every case 23 of
57 at the time; one compiled mode per case 300 of the suite's 2,140 test
seconds at stop 48, for half of the cases 170 of 1,850 at stop 49).  The
interpreted modes run the same generated programs; the compiled one checks
what Numba makes of them.  `AUTODIFF_COMPILER_ALL_MODES=1` runs every case in
all eight.

Contracts (see `Case.contract`):

* GRAD: the right gradient (and, for `value_and_grad`, the function's own
  value).  For the classes of wrong gradients and for the crashes on constructs
  the README documents as supported.
* GRAD_OR_LOCATED: the right gradient, or an `AutodiffError` whose message names
  the function's file and a line of the function: never another exception type.
* GRAD_OR_ERROR: the right gradient or any `AutodiffError` (compositions such as
  `grad(grad(f))`, where there is no line of user code to blame).
* UNDEFINED: an `AutodiffError`, or a NaN or infinity where the derivative is: no
  derivative exists at the points (a one-sided infinite one), so no finite number
  is right.
* LOCATED_ERROR: an `AutodiffError` naming file and line (non-scalar results;
  once `jacobian` exists, the message must point to `jacobian` or `has_aux`).

References are independent of the compiler: central finite differences of the
function itself (`_reference.finite_difference`, element by element for
arrays), or a hand formula where differences are inconclusive (signed zero,
`0.0 ** y`, a base at zero).  Every call gets copies of the array arguments,
so functions that write into their arguments are compared fairly.

Cases that fail today carry `xfail(strict=True)` from the table KNOWN_FAILURES
at the end of this file: a fix turns them into XPASS failures, which tell you to
delete the entry.  Cases whose generated code writes out of bounds (and may
crash the interpreter) run their jit modes in a child process.
"""
from __future__ import annotations

import importlib.util
import inspect
import math
import os
import random
import re
import subprocess
import sys
import textwrap
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import pytest

import autodiff_compiler
import corpus_soundness as S
from _reference import finite_difference
from autodiff_compiler import AutodiffError, grad, hessian, value_and_grad

GRAD = "grad"
GRAD_OR_LOCATED = "grad or located AutodiffError"
GRAD_OR_ERROR = "grad or AutodiffError"
LOCATED_ERROR = "located AutodiffError"
UNDEFINED = "AutodiffError: no derivative there"

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)


def V(*values):
    return np.array(values, dtype=float)


def M(rows, cols, seed=0, low=-1.0, high=1.0):
    """A reproducible (rows, cols) matrix with distinct entries."""
    rng = np.random.default_rng(seed + 17 * rows + cols)
    return rng.uniform(low, high, size=(rows, cols))


def _copy(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


# ------------------------------------------------------------------ cases

@dataclass
class Case:
    id: str
    cls: str                              # the issue's class (reason of the xfail marks)
    fn: Optional[Callable]                # the user's function (None for composed builds)
    points: list                          # argument tuples
    wrt: Any = 0                          # one index or name
    contract: str = GRAD
    ref: Optional[Callable] = None        # hand formula: ref(*args) -> gradient; None: finite differences
    value_ref: Optional[Callable] = None  # the value for value_and_grad; None: fn itself
    build: Optional[Callable] = None      # build(maker, jit, simplify) -> gradient object (compositions)
    isolate: bool = False                 # run the jit modes in a child process
    rtol: float = 1e-6
    compiled: tuple = ()                  # the compiled modes a class's failure shows in (default: one by id)

    def wrt_index(self):
        if isinstance(self.wrt, int):
            return self.wrt
        return list(inspect.signature(self.fn).parameters).index(self.wrt)


CASES: list[Case] = []


def case(cls, fn, points, **kw):
    c = Case(kw.pop("id", None) or fn.__name__, cls, fn, points, **kw)
    assert c.id not in {other.id for other in CASES}, c.id
    CASES.append(c)
    return c


# ---- the table of issue 8

FUSED = "reduction in the middle of a fused elementwise chain"
Z3, Z1, Z5 = V(0.1, 0.5, 0.3), V(-0.5), V(0.3, -1.2, 0.7, 2.0, 0.4)
case(FUSED, S.fused_mid_issue, [(Z3,), (Z1,), (Z5,)])
case(FUSED, S.fused_mid_center, [(Z3,), (Z1,), (Z5,)])
case(FUSED, S.fused_mid_normalise, [(Z3,), (Z1,), (Z5,)])
case(FUSED, S.fused_mid_scalar, [(0.5, Z3), (-1.0, Z1), (1.5, Z5)])
case(FUSED, S.fused_mid_sin_mean, [(Z3,), (Z1,), (Z5,)])
case(FUSED, S.fused_mid_two_uses, [(Z3,), (Z1,), (Z5,)])

SOFTMAX = "softmax (reduction in a fused chain, then division)"
case(SOFTMAX, S.softmax_issue, [(Z3, V(0.0, 1.0, 0.0)), (Z1, V(1.0)), (Z5, V(0.1, 0.2, 0.3, 0.4, 0.0))])
case(SOFTMAX, S.softmax_stable, [(Z3,), (Z1,), (Z5,)])
case(SOFTMAX, S.softmax_index, [(Z3, 2), (Z1, 0), (Z5, 1)])
case(SOFTMAX, S.softmax_temperature, [(0.5, Z3), (2.0, Z1), (1.5, Z5)])
case(SOFTMAX, S.softmax_normalise, [(Z3,), (Z1,), (Z5,)])

LOOPFUSE = "forward/reverse loop fusion"
case(LOOPFUSE, S.loopfuse_issue, [(V(0.1, 0.2, 0.3), 3), (V(0.5), 1), (V(0.1, 0.2), 0), (V(0.3, -0.2, 0.5, 1.0), 2)])
case(LOOPFUSE, S.loopfuse_doubling, [(1.5, 3), (0.7, 1), (2.0, 0)])
case(LOOPFUSE, S.loopfuse_horner, [(1.5, V(1.0, 2.0, 3.0)), (0.5, V(2.0)), (-0.7, V(0.3, -1.2, 0.7, 2.0, 0.4))])
case(LOOPFUSE, S.loopfuse_sin, [(V(0.1, 0.2, 0.3), 3), (V(0.5), 1), (V(0.1, 0.2), 0)])
case(LOOPFUSE, S.loopfuse_scaled, [(V(0.1, 0.5, 0.3), 0.7), (V(0.5), -1.5), (V(0.3, -1.2, 0.7, 2.0), 1.1)])
case(LOOPFUSE, S.loopfuse_affine, [(0.5, 3), (1.5, 1), (2.0, 0)])
case(LOOPFUSE, S.loopfuse_square_input, [(0.5, 3), (1.5, 1), (2.0, 0)])

TRIPLOCAL = "trip-local values in nested loops"
case(TRIPLOCAL, S.triplocal_issue, [(1.0, 2), (1.5, 1), (0.5, 3), (2.0, 0)])
case(TRIPLOCAL, S.triplocal_outer_index, [(1.0, 2), (1.5, 1), (0.5, 3), (2.0, 0)])
case(TRIPLOCAL, S.triplocal_while, [(1.0, 2), (1.5, 1), (0.5, 3), (2.0, 0)])
case(TRIPLOCAL, S.triplocal_inner_zero, [(1.2, 3), (0.8, 1), (1.1, 4)])
case(TRIPLOCAL, S.triplocal_two_locals, [(1.0, 2), (1.5, 1), (0.5, 3), (2.0, 0)])

INDEX = "loop index overwritten by a later loop"
case(INDEX, S.index_issue, [(1.0, 3), (1.5, 1), (0.5, 4)])
case(INDEX, S.index_zero_trip_second, [(1.5, 3, 0), (0.5, 2, 1), (2.0, 1, 3)])
case(INDEX, S.index_nested_same_name, [(1.5,), (-0.5,)])
case(INDEX, S.index_assigned_after, [(1.5, 3), (0.5, 1)])
case(INDEX, S.index_while_reuse, [(1.5, 3), (0.5, 1)])
case(INDEX, S.index_reused_by_while, [(0.7,), (-1.5,)])

BOUND = "range bound changed in the body"
case(BOUND, S.bound_issue, [(0.5, 2), (0.3, 3), (1.0, 1), (0.5, 0)])
case(BOUND, S.bound_grow, [(1.5, 2), (0.5, 0), (1.0, 3)], isolate=True)
case(BOUND, S.bound_start, [(1.5, 0, 4), (0.5, 2, 3), (1.0, 5, 2)])
case(BOUND, S.bound_step, [(0.7, 4), (0.3, 1), (0.5, 0)])
case(BOUND, S.bound_nested, [(1.5, 3), (0.5, 2), (1.0, 1)])

HOIST = "invariant hoisted past a zero-trip inner loop"
case(HOIST, S.hoist_issue, [(1.0, 4), (1.5, 3), (0.5, 1)])
case(HOIST, S.hoist_plus, [(1.0, 4), (1.5, 3), (0.5, 1)])
case(HOIST, S.hoist_shrinking, [(1.0, 3), (1.5, 2), (0.5, 4)])
case(HOIST, S.hoist_while, [(1.0, 4), (1.5, 3)])
case(HOIST, S.hoist_two_levels, [(1.0, 3), (1.5, 2)])

HOIST_RAISING = "a statement that may raise, in a loop of no trips"
A2, A3, B3 = V(0.5, -1.0), V(0.5, -1.0, 2.0), V(1.5, 0.25, -0.5)
for fn in (S.hoist_raising_mul, S.hoist_raising_sub, S.hoist_raising_compare, S.hoist_raising_nested):
    # zero trips with arrays that never broadcast together (the function runs), then trips that run
    case(HOIST_RAISING, fn, [(V(0.3, -0.7, 1.1), A2, B3, 0), (V(0.3, -0.7, 1.1), A3, B3, 2),
                             (V(1.5, 0.2, -0.4), A3, B3, 1)])
case(HOIST_RAISING, S.hoist_raising_partial, [(V(0.3, -0.7, 1.1), A2, B3, 0), (V(0.3, -0.7, 1.1), A3, B3, 3)])

SLICE = "fused unit-step slice reads"
case(SLICE, S.slice_issue_rebind, [(V(0.1, 0.2, 0.3, 0.4), 1), (V(0.5, 0.6, 0.7), 2), (V(0.3), 0)])
case(SLICE, S.slice_issue_negative, [(V(0.1, 0.2),), (V(0.5),), (V(0.1, 0.2, 0.3, 0.4, 0.5, 0.6),)], isolate=True)
case(SLICE, S.slice_stop_rebind, [(V(0.1, 0.2, 0.3, 0.4), 2), (V(0.5, 0.6, 0.7), 3), (V(0.3), 1)])
case(SLICE, S.slice_past_end, [(V(0.1, 0.2, 0.3),), (V(0.5),), (np.linspace(-1.0, 1.0, 12),)])
case(SLICE, S.slice_rebind_in_loop, [(V(0.1, 0.2, 0.3, 0.4), 3), (V(0.5, 0.6), 1), (V(0.5, 0.6, 0.7), 2)])
case(SLICE, S.slice_bound_reused_as_index, [(V(0.1, 0.2, 0.3, 0.4), 1), (V(0.5, 0.6, 0.7), 2), (V(0.3, 0.4), 0)],
     isolate=True)

BCAST1 = "broadcast back to a length-1 operand"
case(BCAST1, S.bcast1_issue, [(M(2, 3), V(0.5)), (M(1, 2), V(1.5)), (M(3, 1), V(-0.5))], wrt=1)
case(BCAST1, S.bcast1_vector, [(V(0.5), Z3), (V(1.5), Z1), (V(-0.3), Z5)])
case(BCAST1, S.bcast1_chain, [(V(0.5), Z3), (V(1.5), Z1), (V(-0.3), Z5)])
case(BCAST1, S.bcast1_exp_matrix, [(V(0.5), M(2, 3)), (V(-1.5), M(3, 1))])
case(BCAST1, S.bcast1_mean_matrix, [(V(0.5), M(2, 3)), (V(-1.5), M(3, 1))])
case(BCAST1, S.bcast1_operand_first, [(V(0.5), M(2, 3)), (V(-1.5), M(1, 2))])

VIEWSTORE = "views kept across stores"
case(VIEWSTORE, S.viewstore_issue, [(V(1.0, 2.0),), (V(0.5, -1.5),)])
case(VIEWSTORE, S.viewstore_rows_issue, [(M(2, 3),), (M(1, 2),), (M(3, 1),)])
case(VIEWSTORE, S.viewstore_view_then_store, [(V(1.0, 2.0),), (V(0.5, -1.5),)], contract=GRAD_OR_LOCATED)
case(VIEWSTORE, S.viewstore_overwrite, [(V(1.0, 2.0, 3.0),), (V(0.5, -1.5),)])
case(VIEWSTORE, S.viewstore_reversed_order, [(V(1.0, 2.0),), (V(0.5, -1.5),)])

SIGNED = "signed zero"
_atan2 = math.atan2
case(SIGNED, S.signed_issue, [(0.0,), (0.5,), (-1.0,)], ref=lambda y: 1.0 / (1.0 + y * y))
case(SIGNED, S.signed_times, [(0.0,), (0.5,), (-1.0,)],
     ref=lambda y: _atan2(0.0 - y, -1.0) + (y + 1.0) / (1.0 + y * y))
case(SIGNED, S.signed_mul_zero, [(1.5, -2.0), (0.5, 3.0)], ref=lambda x, y: _atan2(y * 0.0, -1.0))
case(SIGNED, S.signed_add_zero, [(1.5, -0.0), (0.5, 0.0), (2.0, -1.0)], ref=lambda x, y: _atan2(y + 0.0, -1.0))
case(SIGNED, S.signed_neg_difference, [(1.0, 1.0), (2.0, 0.5)],
     ref=lambda x, y: float(np.arctan2(-(y - x), -1.0)) - x / (1.0 + (x - y) ** 2))

ALIAS = "aliasing"
case(ALIAS, S.alias_issue, [(V(1.0, 2.0),), (V(0.5, -1.5, 2.0),)], contract=GRAD_OR_LOCATED)
case(ALIAS, S.alias_param_store, [(V(1.0, 2.0),), (V(0.5, -1.5, 2.0),)], contract=GRAD_OR_LOCATED)
case(ALIAS, S.alias_param_iadd, [(V(1.0, 2.0),), (V(0.5, -1.5, 2.0),)], contract=GRAD_OR_LOCATED)
case(ALIAS, S.alias_loop, [(V(1.0, 2.0),), (V(0.5, -1.5, 2.0),)], contract=GRAD_OR_LOCATED)
case(ALIAS, S.alias_view_store, [(V(1.0, 2.0),), (V(0.5, -1.5, 2.0),)], contract=GRAD_OR_LOCATED)
case(ALIAS, S.alias_chain, [(1.5,), (-0.5,)], contract=GRAD_OR_LOCATED)

HIGHER = "higher order"


def _nested(depth, fn):
    def build(maker, jit, simplify):
        g = fn
        for _ in range(depth - 1):
            g = grad(g, jit=jit, simplify=simplify)
        return maker(g, jit=jit, simplify=simplify)
    return build


# issue 9 made these compose (grad of grad objects, calls of grad objects): the derivative is due
case(HIGHER, None, [(3.0,), (-1.5,)], id="hi_grad_grad_cube", build=_nested(2, S.hi_cube), contract=GRAD,
     ref=lambda x: 6.0 * x, value_ref=lambda x: 3.0 * x * x)
case(HIGHER, None, [(3.0,), (-1.5,)], id="hi_grad_grad_grad_cube", build=_nested(3, S.hi_cube),
     contract=GRAD, ref=lambda x: 6.0, value_ref=lambda x: 6.0 * x)
case(HIGHER, None, [(0.7,), (2.0,)], id="hi_grad_grad_sin_times", build=_nested(2, S.hi_sin_times),
     contract=GRAD, ref=lambda x: 2 * math.cos(x) - x * math.sin(x),
     value_ref=lambda x: math.sin(x) + x * math.cos(x))
case(HIGHER, S.hi_calls_decorated, [(3.0,), (-1.5,)], contract=GRAD,
     ref=lambda x: 12.0 * x, value_ref=lambda x: 6.0 * x * x)
case(HIGHER, S.hi_calls_grad_object, [(0.5,), (-1.0,)], contract=GRAD,
     ref=lambda x: 4 * x + math.exp(x) * (1 + x), value_ref=lambda x: (2 * x + math.exp(x)) * x)

NONSCALAR = "non-scalar results"
case(NONSCALAR, S.nonscalar_issue_pair, [(3.0,), (-1.0,)], contract=LOCATED_ERROR)
case(NONSCALAR, S.nonscalar_issue_vector, [(V(1.0, 2.0),), (V(0.5),)], contract=LOCATED_ERROR)
case(NONSCALAR, S.nonscalar_identity, [(V(1.0, 2.0),), (V(0.5),)], contract=LOCATED_ERROR)
case(NONSCALAR, S.nonscalar_matvec, [(V(1.0, 2.0), M(3, 2))], contract=LOCATED_ERROR)
case(NONSCALAR, S.nonscalar_branch, [(V(1.0, 2.0), -1.0), (V(0.5), -2.0)], contract=LOCATED_ERROR)
case(NONSCALAR, S.nonscalar_slice, [(V(1.0, 2.0, 3.0),), (V(0.5, 1.5),)], contract=LOCATED_ERROR)

POW0 = "power at a zero base"
case(POW0, S.pow0_issue, [(0.6,), (2.0,), (1.0,)], ref=lambda y: 0.0)
case(POW0, S.pow0_base_param, [(0.6, 0.0), (2.5, 0.0), (1.5, 2.0)],
     ref=lambda y, x: 1.0 + (x ** y * math.log(x) if x > 0 else 0.0))
case(POW0, S.pow0_wrt_base, [(0.0, 2.5), (0.0, 1.0), (0.0, 3.0), (1.5, 2.0)], ref=lambda x, y: y * x ** (y - 1))
case(POW0, S.pow0_spellings, [(0.6,), (1.5,)], ref=lambda y: 0.0)
case(POW0, S.pow0_array_base, [(0.6, V(0.0, 2.0, 0.5)), (1.5, V(0.0)), (2.0, V(1.0, 0.0, 0.0, 3.0))],
     ref=lambda y, x: float(sum(v ** y * math.log(v) for v in x if v > 0)))

DOTF = "np.dot with a float operand"
case(DOTF, S.dotf_issue, [(V(1.0, 2.0, 3.0), 2.0), (V(0.5), -1.5), (V(0.3, -1.2, 0.7, 2.0), 0.5)])
case(DOTF, S.dotf_wrt_scalar, [(2.0, V(1.0, 2.0, 3.0)), (-1.5, V(0.5))])
case(DOTF, S.dotf_scalar_first, [(V(1.0, 2.0, 3.0), 2.0), (V(0.5), -1.5)])
case(DOTF, S.dotf_two_floats, [(1.5, 2.0), (-0.5, 3.0)])
case(DOTF, S.dotf_matrix, [(M(2, 3), 1.5), (M(1, 1), -2.0)])

EARLY = "early return and the value"
case(EARLY, S.early_issue, [(0.5, 2), (0.5, 0), (1.2, 1)])
case(EARLY, S.early_branch, [(1.5,), (-0.5,)])
case(EARLY, S.early_array, [(V(1.0, 2.0), 3), (V(0.5), 1), (V(1.0, 2.0, 3.0), 0)])
case(EARLY, S.early_loop_after_statements, [(0.5, 2), (1.5, 0), (-0.5, 1)])
case(EARLY, S.early_while_once, [(0.5,), (12.0,)])

PRINTER = "printer precedence of templated spellings (mean by axis)"
case(PRINTER, S.printer_issue, [(1.5, M(2, 3), M(2, 3, 1)), (0.5, M(1, 1), M(1, 1, 1)), (-1.0, M(3, 2), M(3, 2, 1))])
case(PRINTER, S.printer_axis0, [(1.5, M(2, 3), M(2, 3, 1)), (0.5, M(1, 1), M(1, 1, 1)), (-1.0, M(3, 2), M(3, 2, 1))])
case(PRINTER, S.printer_negated, [(1.5, M(2, 3)), (0.5, M(1, 1)), (-1.0, M(3, 2))])
case(PRINTER, S.printer_keepdims, [(1.5, M(2, 3), M(2, 3, 1)), (0.5, M(1, 1), M(1, 1, 1))])

REMADE = "views made again in the reversed trip instead of taped"
case(REMADE, S.remade_rows, [(M(3, 3, 1) * 0.5, M(4, 3, 2)), (M(2, 2, 3), M(1, 2, 4)), (M(3, 3, 5), M(3, 3, 6))])
case(REMADE, S.remade_rows, [(M(3, 3, 1) * 0.5, M(4, 3, 2)), (M(2, 2, 3), M(5, 2, 4))], wrt=1,
     id="remade_rows_wrt_xs")
case(REMADE, S.remade_window, [(0.7, V(0.1, 0.5, 0.3, -0.4)), (1.5, V(0.2, 0.3)), (-0.3, V(0.5))])
case(REMADE, S.remade_window, [(0.7, V(0.1, 0.5, 0.3, -0.4)), (1.5, V(0.2, 0.3, 0.9))], wrt=1,
     id="remade_window_wrt_x")
case(REMADE, S.remade_active_rows, [(0.7, M(3, 2, 7)), (-0.4, M(1, 4, 8)), (1.1, M(4, 3, 9))])
case(REMADE, S.remade_active_rows, [(0.7, M(3, 2, 7)), (-0.4, M(2, 4, 8))], wrt=1,
     id="remade_active_rows_wrt_xs")
case(REMADE, S.remade_base_stored_after, [(0.7, M(3, 2, 10)), (-0.4, M(2, 4, 11)), (1.3, M(4, 3, 12))])
case(REMADE, S.remade_base_stored_after, [(0.7, M(3, 2, 10)), (-0.4, M(2, 4, 11))], wrt=1,
     id="remade_base_stored_after_wrt_x0")
case(REMADE, S.remade_base_written_in_loop, [(0.7, M(3, 2, 13)), (-0.4, M(2, 4, 14)), (1.3, M(4, 3, 15))])
case(REMADE, S.remade_base_written_in_loop, [(0.7, M(3, 2, 13)), (1.3, M(4, 3, 15))], wrt=1,
     id="remade_base_written_in_loop_wrt_x0")
for _fn in (S.remade_alias_plain, S.remade_alias_transposed, S.remade_alias_slice, S.remade_alias_store_via_view):
    # the base written after the loop through another name: taped (undone name by name), not made again
    case(REMADE, _fn, [(0.7, M(3, 2, 21)), (-0.4, M(2, 3, 22)), (1.3, M(4, 2, 23))])
case(REMADE, S.remade_base_rebound_after, [(0.7, M(3, 2, 16)), (-0.4, M(2, 4, 17)), (1.3, M(4, 3, 18))])

BCAST = "broadcasts read through by the elementwise operation that uses them"
case(BCAST, S.bcast_softmax_rows, [(M(3, 4, 1), np.eye(4)[[0, 2, 1]]), (M(1, 3, 2), np.eye(3)[[2]]),
                                    (M(4, 1, 3), np.ones((4, 1)))])
case(BCAST, S.bcast_column_max, [(M(3, 4, 4),), (M(1, 3, 5),), (M(4, 1, 6),)])
case(BCAST, S.bcast_row_mean_scaled, [(M(3, 4, 7), 0.7), (M(1, 3, 8), -1.3), (M(4, 1, 9), 2.0)])
case(BCAST, S.bcast_row_mean_scaled, [(M(3, 4, 7), 0.7), (M(2, 3, 8), -1.3)], wrt=1, id="bcast_row_mean_scaled_w")
case(BCAST, S.bcast_smaller_operand, [(M(3, 4, 10),), (M(1, 3, 11),), (M(4, 1, 12),)])
case(BCAST, S.bcast_vector_against_matrix, [(M(3, 4, 13), V(0.1, -0.2, 0.3, 0.5)), (M(2, 1, 14), V(0.4))])
case(BCAST, S.bcast_vector_against_matrix, [(M(3, 4, 13), V(0.1, -0.2, 0.3, 0.5)), (M(2, 1, 14), V(0.4))],
     wrt=1, id="bcast_vector_against_matrix_v")
case(BCAST, S.bcast_sum_kept, [(M(3, 4, 15),), (M(1, 3, 16),), (M(4, 1, 17),)])
case(BCAST, S.bcast_in_loop, [(M(3, 4, 18), 2), (M(2, 3, 19), 0), (M(1, 2, 20), 3)])
case(BCAST, S.bcast_negated_column, [(M(3, 4, 21), M(3, 1, 22)), (M(3, 4, 23), M(1, 1, 24)), (M(1, 3, 25), M(1, 3, 26))],
     wrt=1)
case(BCAST, S.bcast_negated_row, [(M(3, 4, 27), V(0.1, -0.2, 0.3, 0.5)), (M(2, 1, 28), V(0.4, -0.7)), (M(2, 3, 29), V(0.4))],
     wrt=1)
case(BCAST, S.bcast_negated_in_loop, [(M(3, 4, 30), M(3, 1, 31), 3), (M(3, 4, 32), M(1, 4, 33), 2),
                                      (M(2, 2, 34), M(1, 1, 35), 0)], wrt=1)

INTPOW = "an integer to a negative integer power"
case(INTPOW, S.intpow_variable, [(3.0, 2, -1), (0.5, 3, -2), (1.5, 2, 3), (-0.7, 5, 0)],
     ref=lambda w, k, m: k ** m + 2 * w)
case(INTPOW, S.intpow_constant, [(3.0, 2), (0.5, 3), (-1.5, -4)], ref=lambda w, k: k ** -2 + k ** 2)
# (NumPy's own integer scalars refuse negative powers: the elements of an int array get exponents >= 0)
case(INTPOW, S.intpow_elements, [(3.0, np.array([1, 2, 4]), 1), (0.5, np.array([3, 5]), 3),
                                 (1.2, np.array([2, 2, 2, 7]), 2)], ref=lambda w, k, m: sum(float(v) ** m for v in k))
case(INTPOW, S.intpow_augmented, [(1.5, 2, -1), (0.5, 3, 2), (-1.5, 4, -2)], ref=lambda w, k, m: k ** m)
case(INTPOW, S.intpow_reassigned_in_loop, [(1.5, 2, -1), (0.5, 3, 2), (-1.5, 2, -2)],
     ref=lambda w, k, m: (k ** m) ** m)
case(INTPOW, S.intpow_bool_base, [(3.0, 2, -1), (0.5, 3, -2), (1.5, 1, 3)],
     ref=lambda w, k, m: float(k > 1) ** m + 2.0 ** m)

NUMPYINT = "NumPy's ints to an int power where it is >= 0: a negative power raises ValueError (NUMPYINT_RAISING)"
I = lambda *values: np.array(values, dtype=np.int64)      # noqa: E731
case(NUMPYINT, S.numpyint_issue, [(1.5, I(2, 3)), (0.5, I(3, 0)), (-1.5, I(-2, 2))])
case(NUMPYINT, S.numpyint_python_base, [(1.5, I(2)), (0.5, I(0)), (-1.5, I(5, -1))])
case(NUMPYINT, S.numpyint_np_power, [(1.5, 5), (0.5, 3), (-1.5, 4)])
case(NUMPYINT, S.numpyint_array_base, [(1.5, I(2, 3)), (0.5, I(0, -3)), (-1.5, I(1))])
case(NUMPYINT, S.numpyint_array_exponent, [(1.5, I(2, 3)), (0.5, I(0, 0)), (-1.5, I(4))])
case(NUMPYINT, S.numpyint_dead, [(1.5, I(2, 3)), (0.5, I(-3, 0))])
case(NUMPYINT, S.numpyint_in_loop, [(1.5, I(2, 3), 2), (0.5, I(-3), 0), (-1.5, I(), -1)])
case(NUMPYINT, S.numpyint_mixed, [(1.5, I(3), 1.0, 2), (0.5, I(3), -1.0, -1), (-1.5, I(-2), -1.0, -2),
                                  (1.5, I(0), 1.0, 0)])
case(NUMPYINT, S.numpyint_mixed_base, [(1.5, I(2, 3), 1.0), (0.5, I(3, 0), -1.0)])
case(NUMPYINT, S.numpyint_reassigned, [(1.5, I(2, 3)), (0.5, I(3, 0))])
case(NUMPYINT, S.numpyint_reassigned_in_loop, [(1.5, I(2, 3)), (0.5, I(3, 0)), (-1.5, I())])
case(NUMPYINT, S.numpyint_bool_base, [(1.5, I(2), 2), (0.5, I(-3), 0), (-1.5, I(0), 3)])

INTWRAP = "Python's ints inside 64 bits: beyond them the compiled gradient raises (test_python_ints_beyond_64_bits)"
case(INTWRAP, S.intwrap_factorial, [(1.5, 10), (-0.5, 21), (2.0, 0)])
case(INTWRAP, S.intwrap_power, [(1.5, 3), (-0.5, -4), (2.0, 0)])
case(INTWRAP, S.intwrap_sum, [(1.5, 3), (-0.5, 2 ** 61), (2.0, -7)])
case(INTWRAP, S.intwrap_int_of_float, [(1.5, 0.0123), (-0.5, -0.07), (2.0, 1e-19)])
case(INTWRAP, S.intwrap_floor, [(1.5, 7.5), (-0.5, -1e15), (2.0, 0.25)])
for _fn in (S.intwrap_add_one, S.intwrap_double, S.intwrap_sub_one, S.intwrap_square, S.intwrap_neg, S.intwrap_abs,
            S.intwrap_floordiv, S.intwrap_times_minus_one):
    case(INTWRAP, _fn, [(1.5, 3), (-0.5, -2 ** 30), (2.0, 0)])
case(INTWRAP, S.intwrap_big_constant_as_float, [(1.5,), (-0.5,)])
case(INTWRAP, S.intwrap_big_constant_compared, [(1.5, 3), (-0.5, 2 ** 63 - 1), (2.0, -2 ** 63)])
case(INTWRAP, S.intwrap_mixed, [(1.5, np.array([1, 2]), 7, 1.0), (-0.5, np.array([5]), 2 ** 40, -1.0)])
case(INTWRAP, S.intwrap_neighbours, [(1.5, V(0.5, 1.0, 2.0, -1.0), 4), (-0.5, V(3.0, 0.25), 2), (2.0, V(1.0), 0)])
case(INTWRAP, S.intwrap_range_step, [(1.5, 7, 2), (-0.5, 0, 3), (1.1, 10, 4), (0.9, -5, 1)])
case(INTWRAP, S.intwrap_range_down, [(1.5, 7, 2), (-0.5, 0, 3), (1.1, 10, 4), (0.9, 5, -1)])
case(INTWRAP, S.intwrap_range_from_one, [(1.5, 4), (-0.5, 1), (1.1, -2 ** 62)])
case(INTWRAP, S.intwrap_range_nested, [(1.5, V(0.5, 2.0), 5, 2), (-0.5, V(1.0), 0, 4), (1.1, V(2.0, -1.0), 2 ** 62, 2 ** 61)])
case(INTWRAP, S.intwrap_numpy_wrap_range, [(1.5, np.array([4])), (-0.5, np.array([-3])), (1.1, np.array([2 ** 62]))])
case(INTWRAP, S.intwrap_numpy_negation, [(1.5, np.array([-4])), (-0.5, np.array([3])), (1.1, np.array([-9]))])
case(INTWRAP, S.intwrap_numpy_array_compare, [(1.5, np.array([4, -2])), (-0.5, np.array([2 ** 62])), (1.1, np.array([0, 7, 1]))])
case(INTWRAP, S.intwrap_numpy_array_negation, [(1.5, np.array([4, -2])), (-0.5, np.array([-2 ** 62])), (1.1, np.array([0, 7, 1]))])
case(INTWRAP, S.intwrap_numpy_array_broadcast, [(1.5, np.array([4, -2])), (-0.5, np.array([2 ** 62])), (1.1, np.array([0, 7, 1]))])
case(INTWRAP, S.intwrap_numpy_dot, [(1.5, np.array([4, -2])), (-0.5, np.array([2 ** 30])), (1.1, np.array([0, 7, 1]))])
case(INTWRAP, S.intwrap_numpy_matvec, [(1.5, np.array([4, -2]), np.array([[1, -2], [3, 4], [0, 5]])), (-0.5, np.array([2 ** 20, 1]), np.array([[1, -2], [3, 4], [0, 5]]))])
case(INTWRAP, S.intwrap_numpy_bool_dot, [(1.5, np.array([4, -2])), (-0.5, np.array([2, 1])), (1.1, np.array([0, 7, 1]))])
case(INTWRAP, S.intwrap_numpy_range_bounds, [(1.5, np.array([0, 7, 2])), (-0.5, np.array([5, -4, -3])), (1.1, np.array([2, 2, 1]))])
case(INTWRAP, S.intwrap_numpy_range_stop, [(1.5, np.array([3])), (-0.5, np.array([-2])), (1.1, np.array([0]))])
case(INTWRAP, S.intwrap_numpy_remainder, [(1.5, np.array([-2 ** 63, 3]), -1), (-0.5, np.array([7, -3]), 4),
                                           (1.1, np.array([5, 2]), 0)])
case(INTWRAP, S.intwrap_numpy_floordiv_zero, [(1.5, np.array([7, 3]), np.array([0, 2])),
                                              (-0.5, np.array([-7, 9]), np.array([2, -4]))])
case(INTWRAP, S.intwrap_numpy_power_array, [(1.5, np.array([3]), 39), (-0.5, np.array([3, 5]), 3), (1.1, np.array([-7, 2]), 0)])
case(INTWRAP, S.intwrap_numpy_where_ints, [(1.5, np.array([2 ** 62 + 1, -1])), (-0.5, np.array([5, 3]))])
case(INTWRAP, S.intwrap_fused_constants, [(1.5, np.array([-1, 0])), (-0.5, np.array([-4, -2, -7]))])
case(INTWRAP, S.intwrap_fused_maximum, [(1.5, np.array([1, -2])), (-0.5, np.array([5, 0, -7]))])
case(INTWRAP, S.intwrap_fused_int_sum, [(1.5, np.array([1, 1])), (-0.5, np.array([-4, 2, -7]))])
case(INTWRAP, S.intwrap_gathered_ints, [(1.5, np.array([0, -1, 1, 1])), (-0.5, np.array([0, 2, -3, 5]))])
case(INTWRAP, S.intwrap_numpy_made_ints, [(1.5, -2 ** 61 + 1), (-0.5, 2 ** 60 + 7), (1.1, 3)])
case(INTWRAP, S.intwrap_numpy_axis_extrema, [(1.5, np.array([[2 ** 62 + 3, 5], [-1, 2 ** 61 + 9]])),
                                             (-0.5, np.array([[3, 5], [7, 1]]))])
case(INTWRAP, S.intwrap_range_trap, [(1.5, V(2.0), 0, 3, 1), (-0.5, V(0.5), 5, -1, -2), (1.1, V(4.0), 2, 2, 1)])
case(INTWRAP, S.intwrap_index_arithmetic, [(1.5, V(0.5, 1.0, 2.0, -1.0)), (-0.5, V(3.0, 0.25, 1.0)), (2.0, V(1.0))])

LAYOUT = "arrays of any layout (transposed, strided) carried by loops, taped, accumulated (Numba layout 'A')"
case(LAYOUT, S.layout_issue, [(3, -1.9, M(1, 1, 40), -1.7), (4, 0.8, M(2, 3, 41), 0.6), (0, 1.2, M(3, 2, 42), -0.4)],
     wrt=2)
case(LAYOUT, S.layout_transposed_carried, [(M(2, 2, 43), 3), (M(3, 3, 44), 1), (M(1, 1, 45), 0)])
case(LAYOUT, S.layout_strided_views, [(M(3, 4, 46), 2), (M(2, 3, 47), 1), (M(4, 1, 48), 0)])
case(LAYOUT, S.layout_transposed_taped, [(M(2, 3, 49), 3), (M(3, 2, 50), 1), (M(1, 1, 51), 2)])
case(LAYOUT, S.layout_fortran_accumulator, [(M(2, 2, 52), 2), (M(3, 3, 53), 0), (M(1, 1, 54), 3)])

TAPEARR = "array temporaries on the tape under branches / break"
case(TAPEARR, S.tapearr_issue, [(V(0.0, 0.8), 0.5), (V(0.3, -0.9), 1.5), (V(0.2, 0.4), -1.0)])
case(TAPEARR, S.tapearr_break, [(V(0.1, 0.2), 2), (V(0.5), 0), (V(0.1, -0.3, 0.2), 4)])
case(TAPEARR, S.tapearr_branch_vector, [(V(0.1, 0.2), 1.5), (V(0.3), 0.5), (V(0.1, 0.2, 0.3), -1.0)])
case(TAPEARR, S.tapearr_else, [(V(0.1, 0.2), 1.5), (V(0.3), 0.5), (V(0.1, 0.2, -0.3), 5.0)])

ROWSTORE = "row stores"
case(ROWSTORE, S.rowstore_issue, [(1.5, M(2, 3)), (0.5, M(1, 1)), (-1.0, M(3, 2))])
case(ROWSTORE, S.rowstore_vector, [(V(0.1, 0.2, 0.3), M(2, 3)), (V(0.5), M(1, 1)), (V(0.5, -1.0), M(3, 2))])
case(ROWSTORE, S.rowstore_explicit_slice, [(1.5, M(2, 3)), (0.5, M(1, 1)), (-1.0, M(3, 2))])
case(ROWSTORE, S.rowstore_recurrent, [(0.5, M(3, 2)), (1.5, M(1, 3)), (-0.5, M(2, 1))])
case(ROWSTORE, S.rowstore_read_back, [(V(0.5, -1.0, 2.0), M(2, 3)), (V(1.5), M(3, 1))])

CARRIED = "loop fusion with a carried adjoint"
case(CARRIED, S.carried_issue_halve, [(2.0,), (-1.0,)])
case(CARRIED, S.carried_issue_swap, [(1.0, 1), (1.0, 2), (0.5, 0), (0.5, 3)])
case(CARRIED, S.carried_invariant, [(2.0, 0), (2.0, 1), (1.5, 3)])
case(CARRIED, S.carried_affine, [(2.0, 1), (1.5, 3), (0.5, 0)])
case(CARRIED, S.carried_rotate, [(1.5, 0.5, 1), (1.5, 0.5, 2), (1.5, 0.5, 0), (2.0, 0.5, 3)])

KILL = "(new) active variable overwritten under a loop or branch by an inactive value"
case(KILL, S.kill_const, [(1.5, 2), (1.5, 0), (0.5, 1)])
case(KILL, S.kill_index, [(1.5, 2), (1.5, 0), (0.5, 1)])
case(KILL, S.kill_while, [(1.5,), (-0.5,)])
case(KILL, S.kill_nested, [(1.5, 2), (0.5, 0), (1.0, 1)])
case(KILL, S.kill_array, [(V(1.0, 2.0), 2), (V(0.5), 0), (V(1.0, 2.0, 3.0), 1)])
case(KILL, S.kill_float_count, [(1.5, 2), (1.5, 0), (0.5, 1)])
case(KILL, S.kill_array_if, [(V(1.0, 2.0), 1.0), (V(0.5, -1.5, 2.0), -1.0), (V(0.3), 2.0)])
case(KILL, S.kill_array_if_else, [(V(1.0, 2.0), 1.0), (V(0.5, -1.5, 2.0), -1.0)])
case(KILL, S.kill_array_stop_gradient, [(V(1.0, 2.0), 1.0), (V(0.5, -1.5), -1.0)],
     ref=lambda x, c: 5.0 * x if c > 0.0 else 4.0 * x)  # stop_gradient: finite differences do not apply
case(KILL, S.kill_array_used_before, [(V(1.0, 2.0), 1.0), (V(0.5, -1.5, 2.0), -1.0)])

# ---- the raw crashes of issue 8: the documented ones must give the gradient

POS = lambda rows, cols, seed=0: M(rows, cols, seed, 0.5, 2.0)  # noqa: E731  (positive bases)
case("crash: x ** y on matrices", S.crash_matrix_pow, [(POS(2, 2), M(2, 2, 1)), (POS(1, 3), M(1, 3, 1))])
case("crash: x ** y on matrices", S.crash_matrix_pow_exponent, [(M(2, 2, 1), POS(2, 2)), (M(1, 3, 1), POS(1, 3))])
case("crash: constant on the left of a comparison", S.crash_const_left_compare, [(1.5,), (-0.5,)])
case("crash: constant on the left of a comparison", S.crash_const_left_float, [(2.0,), (0.5,)])
case("crash: keepdims= from a parameter", S.crash_keepdims_param, [(M(2, 3), True), (M(3, 3), False)],
     contract=GRAD_OR_LOCATED)
case("crash: indexing a tuple", S.crash_tuple_index, [(1.0, 2.0, 3.0, 1), (1.0, 2.0, 3.0, 0)], wrt=1,
     contract=GRAD_OR_LOCATED)
case("crash: np.max(v, axis=0) on a vector", S.crash_max_axis0_vector, [(V(1.0, 3.0, 2.0),), (V(0.5),)])
case("crash: axis=-1", S.crash_sum_axis_neg1, [(V(1.0, 3.0, 2.0),), (V(0.5),)])
case("crash: axis=-1", S.crash_sum_axis_neg1_matrix, [(M(3, 3),), (M(1, 1),)])
case("crash: np.prod at a zero entry", S.crash_prod_zero, [(V(2.0, 0.0, 3.0),), (V(0.0),), (V(1.0, 2.0, 0.0, 0.0),)])
case("crash: np.prod at a zero entry", S.crash_prod_zero_chain, [(V(0.0, 1.5, 2.0),), (V(-1.0, 0.5),)])
case("crash: loop-local array whose length changes per trip", S.crash_loop_local_length,
     [(1.5, 3), (0.5, 1), (2.0, 0)], contract=GRAD_OR_LOCATED)
case("crash: type inference ignores statement order", S.crash_type_order_index, [(1.5, V(1.0, 2.0))],
     contract=GRAD_OR_LOCATED)
case("crash: type inference ignores statement order", S.crash_type_order_accumulator,
     [(V(1.0, 2.0), 2), (V(0.5), 1)], contract=GRAD_OR_LOCATED)
case("crash: 3-D arrays", S.crash_3d, [(np.linspace(-1.0, 1.0, 24).reshape(2, 3, 4),)], contract=GRAD_OR_LOCATED)
case("crash: moving slice bounds in a loop", S.crash_moving_slice,
     [(V(0.1, 0.2, 0.3, 0.4), 4), (V(0.5, 0.6, 0.7), 2), (V(0.5, 0.6), 0)])
case("crash: moving slice bounds in a loop", S.crash_moving_slice_start, [(V(0.1, 0.2, 0.3),), (V(0.5),)])
case("crash: -math.inf as the only use of math", S.crash_neg_inf, [(V(0.5, 2.0, 1.0),), (V(-1.5),)])
case("crash: np.where of scalars in a fused loop", S.crash_where_scalars, [(Z3, 1.0), (Z1, -1.0)])
case("crash: np.where of scalars in a fused loop", S.crash_where_scalars_value, [(V(-1.0, 0.5, 2.0),), (V(0.3),)])
case("crash: untaken-branch temporary", S.crash_untaken_temporary, [(1.0, V(0.5, 1.0)), (11.0, V(0.1, 0.2))])
case("crash: (B.T).sum()", S.crash_transpose_sum, [(M(2, 3),), (M(1, 1),)])
case("crash: (A + B).T", S.crash_transpose_expression, [(M(2, 3), M(2, 3, 1)), (M(1, 1), M(1, 1, 1))])
case("crash: np.sum(A, axis=0)[0]", S.crash_reduction_index, [(M(2, 3),), (M(1, 1),)])
case("crash: element and row stores into one array (one tape each)", S.mixed_rank_stores,
     [(M(3, 3), V(0.3, -0.2, 0.5), 0.7), (M(2, 2, 1), V(-0.4, 0.9), 1.1)])
case("crash: element and row stores into one array (one tape each)", S.mixed_rank_stores_loop,
     [(M(3, 3), V(0.3, -0.2, 0.5), 0.7), (M(2, 2, 1), V(-0.4, 0.9), 1.1)])
for _k, _name in ((1, "v"), (2, "s")):
    for _fn in (S.mixed_rank_stores, S.mixed_rank_stores_loop):
        case("crash: element and row stores into one array (one tape each)", _fn,
             [(M(3, 3), V(0.3, -0.2, 0.5), 0.7), (M(2, 2, 1), V(-0.4, 0.9), 1.1)], wrt=_k,
             id=f"{_fn.__name__}_{_name}")
case("crash: element and row stores into one array (one tape each)", S.mixed_rank_stores_while,
     [(M(1, 2), 0.6), (M(2, 3, 1), 1.3)])
U3 = V(0.711763, -1.015895, -0.457812)
case("crash: a view defined again after a store into its array", S.view_redefined_copy_store,
     [(U3, 0.1, 2), (U3, 0.5, 2), (U3, 0.1, 0)])
case("crash: a view defined again after a store into its array", S.view_redefined_loop,
     [(U3, 0.7, 3), (V(0.2, -0.4, 0.3), 1.3, 1)])
case("crash: a view defined again after a store into its array", S.view_redefined_loop,
     [(U3, 0.7, 3), (V(0.2, -0.4, 0.3), 1.3, 1)], wrt=1, id="view_redefined_loop_x")
case("crash: a view defined again after a store into its array", S.view_redefined_straight,
     [(U3, 0.7), (V(0.2, -0.4, 0.9, 1.1), -1.3)])
case("crash: a view defined again after a store into its array", S.view_redefined_straight,
     [(U3, 0.7), (V(0.2, -0.4, 0.9, 1.1), -1.3)], wrt=1, id="view_redefined_straight_x")
case("crash: a view defined again after a store into its array", S.view_redefined_while,
     [(U3, 0.7), (V(0.2, -0.4), -1.3)])
case("crash: a view defined again after a store into its array", S.view_redefined_while,
     [(U3, 0.7), (V(0.2, -0.4), -1.3)], wrt=1, id="view_redefined_while_x")
case("np.where of numbers as a value", S.zero_d_rebound, [(0.7,), (-0.4,)])
case("np.where of numbers as a value", S.zero_d_vector_inplace, [(V(0.5, -0.2), 1.5), (V(-0.3, 0.8, 0.1), -0.6)],
     wrt=1)
MASK = "a boolean array temporary under a branch in a loop"
case(MASK, S.mask_temporary_in_loop, [(V(0.3, -0.5, 0.2, 0.9), V(0.1, 0.4, -0.3, 0.6), 0.4),
                                      (V(0.8, 0.2, -0.6, 0.1), V(-0.2, 0.5, 0.7, 0.3), -0.7)])
case(MASK, S.mask_temporary_in_loop, [(V(0.3, -0.5, 0.2, 0.9), V(0.1, 0.4, -0.3, 0.6), 0.4)], wrt=2,
     id="mask_temporary_in_loop_z")
case(MASK, S.mask_temporary_for, [(V(0.3, -0.5, 0.9), 0.7, 3), (V(0.2, 0.1), -0.4, 2), (V(0.6,), 1.1, 0)])
CONSTANT_TEST = "a value only a branch with a constant test defines"
case(CONSTANT_TEST, S.constant_test_else, [(1.3, 0.1, -1), (0.7, -0.4, 0), (1.1, 0.5, 2)])
case(CONSTANT_TEST, S.constant_test_else, [(1.3, 0.1, -1), (0.7, -0.4, 2)], wrt=1, id="constant_test_else_y")
case(CONSTANT_TEST, S.constant_test_taken, [(0.4, 2), (1.2, 0), (-0.8, 3)])
case(CONSTANT_TEST, S.constant_test_in_loop, [(0.4, 3), (1.2, 0), (-0.8, 2)])
case(CONSTANT_TEST, S.constant_test_array, [(V(0.3, -0.5, 0.9), 0.7, 3), (V(0.2, 0.1), -0.4, 1)])
case(CONSTANT_TEST, S.constant_test_array, [(V(0.3, -0.5, 0.9), 0.7, 3), (V(0.2, 0.1), -0.4, 1)], wrt=1,
     id="constant_test_array_x")
REBOUND_STORE = "an array made anew in a loop, bound to another name and written through it"
case(REBOUND_STORE, S.rebound_store_loop, [(0.3, V(0.4, -0.2, 0.7), 2), (0.8, V(0.1, 0.5), 3),
                                           (-0.5, V(0.2, 0.3, 0.4), 2)])
case(REBOUND_STORE, S.rebound_store_loop, [(0.3, V(0.4, -0.2, 0.7), 2), (0.8, V(0.1, 0.5), 3)],
     wrt=1, id="rebound_store_loop_w")
case(REBOUND_STORE, S.rebound_store_named, [(V(0.3, -0.4, 0.2), 0.7, 3), (V(0.5, 0.1), -0.6, 2),
                                            (V(0.1, 0.2), 0.4, 0)])
case(REBOUND_STORE, S.rebound_store_named, [(V(0.3, -0.4, 0.2), 0.7, 3), (V(0.5, 0.1), -0.6, 2)], wrt=1,
     id="rebound_store_named_x")
case(REBOUND_STORE, S.rebound_store_while, [(V(0.3, -0.4, 0.2), 0.7), (V(0.5, 0.1), -0.6)])
case(REBOUND_STORE, S.rebound_store_while, [(V(0.3, -0.4, 0.2), 0.7), (V(0.5, 0.1), -0.6)], wrt=1,
     id="rebound_store_while_x")
BROADCAST_STORE = "a store that broadcasts its value over the part it writes"
case(BROADCAST_STORE, S.broadcast_store_vector, [(V(0.2, -0.4), 1.3), (V(0.5, 0.1), -0.7)])
case(BROADCAST_STORE, S.broadcast_store_vector, [(V(0.2, -0.4), 1.3), (V(0.5, 0.1), -0.7)], wrt=1,
     id="broadcast_store_vector_x")
case(BROADCAST_STORE, S.broadcast_store_rows, [(M(3, 3), V(0.3, -0.2, 0.5)), (M(2, 2, 1), V(0.4, 0.9))])
case(BROADCAST_STORE, S.broadcast_store_rows, [(M(3, 3), V(0.3, -0.2, 0.5)), (M(2, 2, 1), V(0.4, 0.9))], wrt=1,
     id="broadcast_store_rows_v")
case(BROADCAST_STORE, S.broadcast_store_column, [(M(2, 3), 0.7), (M(3, 4, 1), -1.1)])
case(BROADCAST_STORE, S.broadcast_store_column, [(M(2, 3), 0.7), (M(3, 4, 1), -1.1)], wrt=1,
     id="broadcast_store_column_c")
case(BROADCAST_STORE, S.broadcast_store_loop, [(V(0.2, -0.4, 0.3, 0.1), 0.6, 3), (V(0.5, 0.1, -0.2), 1.2, 0)])
case(BROADCAST_STORE, S.broadcast_store_loop, [(V(0.2, -0.4, 0.3, 0.1), 0.6, 3), (V(0.5, 0.1, -0.2), 1.2, 2)],
     wrt=1, id="broadcast_store_loop_x")

BOUNDS = "indices in range as Python has them (an index out of range is an error, never a number)"
W3, X4 = V(0.3, -1.2, 0.7), V(0.5, -0.4, 1.1, 0.2)
case(BOUNDS, S.bounds_index_arg, [(W3, 1), (W3, -1), (W3, -3), (V(2.0), 0)])
case(BOUNDS, S.bounds_loop_other, [(X4, V(0.1, 0.2, 0.3, 0.4)), (X4, V(0.1, 0.2, 0.3, 0.4, 0.5)), (V(0.5), V(1.0))])
case(BOUNDS, S.bounds_store, [(W3, 0), (W3, 2), (W3, -1)])
case(BOUNDS, S.bounds_matrix, [(M(3, 4, 5), 1, 2), (M(3, 4, 5), -1, -4), (M(2, 2, 6), 0, 1)])
case(BOUNDS, S.bounds_while, [(X4, 4), (X4, 2), (X4, 0)])
case(BOUNDS, S.bounds_wrapping, [(X4,), (V(0.7),), (W3,)])
case(BOUNDS, S.bounds_row_loop, [(M(3, 4, 7), 3), (M(3, 4, 7), 1), (M(3, 4, 7), 0)])
case(BOUNDS, S.bounds_dead_other, [(X4, V(1.0, 2.0), 1), (X4, V(1.0, 2.0), -2)])
case(BOUNDS, S.bounds_dead_loop, [(X4, X4), (V(0.5), V(1.0, 2.0))])
case(BOUNDS, S.bounds_dead_local, [(X4, 0), (X4, -1)])
case(BOUNDS, S.bounds_dead_store, [(X4, 1), (X4, -2)])

SLICELEN = "unit-step slices of one vector proved of one length (the fused loop without a fallback)"
case(SLICELEN, S.slicelen_issue, [(V(0.3, -1.2, 0.7, 1.1),), (V(0.5, 2.0),), (V(0.4),)])
case(SLICELEN, S.slicelen_inner, [(V(0.3, -1.2, 0.7, 1.1, 0.2),), (V(0.5, 2.0, -0.3),), (V(0.5, 2.0),)])
case(SLICELEN, S.slicelen_heads, [(V(0.3, -1.2, 0.7, 1.1, 0.2),), (V(0.5, 2.0, -0.3),), (V(0.5, 2.0),)])
case(SLICELEN, S.slicelen_unequal, [(V(0.3, -1.2),), (V(0.3, -1.2, 0.7),)])
case(SLICELEN, S.slicelen_two_arrays, [(V(0.3, -1.2, 0.7), V(0.5, 2.0, -0.3)), (V(0.3, -1.2), V(0.5, 2.0, -0.3, 0.1))])
case(SLICELEN, S.slicelen_rebound, [(V(0.3, -1.2, 0.7, 0.2), 4), (V(0.3, -1.2, 0.7, 0.2), 2), (V(0.3, -1.2, 0.7), 3)])

ZERODIV = "a division of numbers that raises, whose value no derivative needs (an error, never a number)"
case(ZERODIV, S.zerodiv_dead_issue, [(1.5, 2), (-0.5, 0.5)])
case(ZERODIV, S.zerodiv_dead_in_loop, [(1.5, 2), (-0.5, 0)])
case(ZERODIV, S.zerodiv_dead_in_branch, [(1.5, 2.0), (-0.5, 0.0)])
case(ZERODIV, S.zerodiv_dead_modulo, [(1.5, 2), (-0.5, 5)])
case(ZERODIV, S.zerodiv_dead_power, [(1.5, 2), (-0.5, -1)])
case(ZERODIV, S.zerodiv_stopped, [(1.5, 2.0), (-0.5, -1.0)])
case(ZERODIV, S.zerodiv_dead_array_sum, [(X4, 2.0), (W3, -1.0)])
case(ZERODIV, S.zerodiv_numpy_element, [(X4, 2.0), (W3, -1.0)])
case(ZERODIV, S.zerodiv_numpy_mean, [(X4, 2.0), (W3, -1.0)])

SHAPE_ERRORS = "a statement NumPy raises on (shapes that never broadcast, a singular matrix), unread"
A23, B23, B32 = M(2, 3), M(2, 3, 1), M(3, 2)
case(SHAPE_ERRORS, S.shape_dead_product, [(W3, A23, B23), (X4, A23, M(1, 3))])
case(SHAPE_ERRORS, S.shape_dead_matmul, [(W3, A23, B32), (X4, M(2, 2), M(2, 4))])
case(SHAPE_ERRORS, S.shape_dead_inv, [(W3, np.eye(2) + M(2, 2) * 0.1), (X4, np.eye(3))])
case(SHAPE_ERRORS, S.shape_value_only, [(W3, A23, B23), (X4, A23, V(0.5, 1.0, -1.0))])
case(SHAPE_ERRORS, S.shape_folded_zero, [(W3, A23, B23), (X4, M(3, 1), M(1, 2))])
case(SHAPE_ERRORS, S.shape_in_branch, [(W3, A23, B32, True), (X4, A23, A23, False)])
case(SHAPE_ERRORS, S.shape_dead_reshape, [(X4,), (V(0.5, -1.5),)])
case(SHAPE_ERRORS, S.shape_same_class, [(W3, V(1.0, 2.0, 3.0)), (X4, V(0.5, -0.5, 1.0, 2.0))])

UNBOUND = "a name a loop of no trips or an untaken branch may leave unassigned, read (bound here)"
case(UNBOUND, S.unbound_issue, [(X4, 2), (X4, 4), (W3, 1)], wrt=0)
case(UNBOUND, S.unbound_branch, [(0.7, 1.0), (-1.3, 2.0)])
case(UNBOUND, S.unbound_loop_local, [(X4, 2), (W3, 1)])
case(UNBOUND, S.unbound_result, [(0.7, 2), (-1.3, 1)])
case(UNBOUND, S.unbound_while, [(X4, 2), (W3, 3)])
case(UNBOUND, S.unbound_nested, [(X4, 2, 3), (W3, 1, 1), (X4, 0, 0)])
case(UNBOUND, S.unbound_guarded, [(X4, 0), (X4, 1), (X4, 4), (W3, 2)])
case(UNBOUND, S.unbound_redefined, [(X4, 2), (W3, 3)])
case(UNBOUND, S.unbound_in_helper, [(X4, 2), (W3, 3)])

INNERINDEX = "an inner loop's index read after it in an enclosing loop, unassigned before that loop"
case(INNERINDEX, S.innerindex_issue, [(X4, 2, 3), (W3, 3, 1), (X4, 1, 4)])
case(INNERINDEX, S.innerindex_as_number, [(X4, 2, 3), (W3, 3, 2)])
case(INNERINDEX, S.innerindex_while_outer, [(X4, 2, 3), (W3, 3, 1)])
case(INNERINDEX, S.innerindex_three_levels, [(X4, 3), (W3, 2)])
case(INNERINDEX, S.innerindex_varying_trips, [(X4, 4), (W3, 3), (X4, 2)])

NUMPYROUND = "NumPy's floor/ceil/trunc (inf stays inf, a float) and fmin/fmax (a NaN operand ignored)"
XZ, YZ3 = V(0.0, 1.3, -0.7), V(1.0, 3.0, -7.0)
XN, YN, ZN = V(0.3, -1.2, 2.0), V(0.0, 2.0, 0.5), V(0.0, 1.0, 2.0)
case(NUMPYROUND, S.npfloor_issue, [(XZ, YZ3), (V(0.6, 0.0, 2.0), V(-2.0, -1.0, 1.5))])
case(NUMPYROUND, S.npfloor_ceil, [(XZ, YZ3), (V(0.6, 0.0, 2.0), V(-2.0, 1.0, 1.5))])
case(NUMPYROUND, S.npfloor_trunc, [(XZ, YZ3), (V(0.5, -0.3), V(1.2, 0.4))])
case(NUMPYROUND, S.npfloor_number, [(V(0.3, -1.2), V(1.0, 2.0), V(1.0, -1.0)),
                                    (V(0.3, -1.2), V(1.0, 2.0), V(1.0, 0.5))])
case(NUMPYROUND, S.npfloor_is_float, [(V(0.3, -1.2), 2.5), (V(0.3, -1.2), -1.5)])
case(NUMPYROUND, S.npfmin_nan, [(XN, YN, ZN), (XN, V(1.0, 2.0, 3.0), V(1.0, 0.5, 2.0))])
case(NUMPYROUND, S.npfmax_nan_first, [(XN, YN, ZN), (XN, V(1.0, 2.0, 3.0), V(1.0, 0.5, 2.0))])
case(NUMPYROUND, S.npfmin_numbers, [(V(0.3, -1.2), V(1.0, -1.0), V(1.0, -1.0)),
                                    (V(0.3, -1.2), V(1.0, 2.0), V(1.0, 5.0))])

PYINT = "an int of a float (math.floor, int()) where it is finite: NaN and infinity raise (PYINT_RAISING)"
case(PYINT, S.pyint_issue, [(0.5, 1e-310), (-1.5, 3e-309)])
case(PYINT, S.pyint_unread, [(0.5, 1e-310), (-1.5, -2e-309)])
case(PYINT, S.pyint_nan, [(0.5, 1e-310), (-1.5, 0.0)])
case(PYINT, S.pyint_numpy_number, [(0.5, V(1e-300, 2e-300)), (-1.5, V(0.0, -1e-301))])
case(PYINT, S.pyint_trunc_in_loop, [(0.5, 1e-320, 2), (-1.5, 1e-300, 0)])

PYMATH = "a math-module function where it is defined: outside its domain, or overflowing, it raises (PYMATH_RAISING)"
case(PYMATH, S.pymath_issue, [(4.0,), (0.25,), (1.5,)])
case(PYMATH, S.pymath_unread_log, [(0.5, 2.0), (-1.5, 0.3)])
case(PYMATH, S.pymath_exp_overflow, [(0.3,), (-2.0,), (1.0,)])
case(PYMATH, S.pymath_acos_branch, [(0.3,), (0.95,), (-0.7,)])
case(PYMATH, S.pymath_cos_of_infinity, [(0.5, 1e-300), (-1.5, 2e-300)])
case(PYMATH, S.pymath_in_loop, [(V(1.0, 2.0, 0.5), 3), (V(0.3, 4.0), 2), (V(-1.0, 2.0), 0)])
case(PYMATH, S.pymath_imported, [(2.0,), (1.5,), (5.0,)])
case(PYMATH, S.pymath_log1p_atanh, [(0.5, 0.3), (-1.2, -0.5)])
case(PYMATH, S.pymath_log_base, [(2.0, 3.0), (-0.5, 10.0), (1.5, 0.5)])
case(PYMATH, S.pymath_where, [(2.0,), (0.5,)])
case(PYMATH, S.pymath_where_division, [(2.0, 3), (-1.5, 2)])
case(PYMATH, S.pymath_pow, [(1.5, 2.0), (0.5, 3.0), (-2.0, 2.0)])
case(PYMATH, S.pymath_lgamma, [(2.5,), (-2.5,), (0.3,)])

PYPOW = "Python's power of its numbers where it is defined: 0 to a negative power, overflow, a complex result raise (PYPOW_RAISING)"
case(PYPOW, S.pypow_issue, [(0.5,), (2.0,), (-0.3,)])
case(PYPOW, S.pypow_overflow_branch, [(0.5,), (1.5,), (-3.0,)])
case(PYPOW, S.pypow_unread, [(0.5, 2.0), (-1.5, -7.0)])
case(PYPOW, S.pypow_int_boundary, [(0.5, 2.0), (-1.5, -1.3571577374844447e18), (1.0e14, 3.0)])
case(PYPOW, S.pypow_exponent, [(0.5,), (-2.0,), (300.0,)])
case(PYPOW, S.pypow_complex_branch, [(0.5,), (2.0,)])
case(PYPOW, S.pypow_complex_unread, [(-4.0,), (4.0,), (-0.5,)])
case(PYPOW, S.pypow_ints, [(0.5, 2, -1), (-1.5, 0, 3), (0.7, 3, 0)])
case(PYPOW, S.pypow_builtin, [(1.5, 2.0), (0.5, -1.0), (3.0, 0.5)])
case(PYPOW, S.pypow_in_loop, [(0.5, 3), (1.5, 4), (-2.0, 0)])
case(PYPOW, S.pypow_clamped, [(0.5,), (-1.0,), (20.0,)])
case(PYPOW, S.pypow_complex_dead_compare, [(4.0,), (0.25,)])
case(PYPOW, S.pypow_float_of_numpy, [(0.5, V(0.5, 1.0)), (-1.5, V(2.0, 1.0))])
case(PYPOW, S.zerodiv_float_of_numpy, [(0.5, V(0.5, 1.0)), (-1.5, V(2.0, 1.0))])
case(PYPOW, S.pypow_math_of_numpy, [(0.5, V(0.25, 1.0)), (-1.5, V(4.0, 1.0))])
case(PYPOW, S.zerodiv_math_of_numpy, [(0.5, V(0.25, 1.0)), (-1.5, V(4.0, 1.0))])
case(PYPOW, S.pypow_math_pow_constant, [(1.5, 0.5), (-0.5, 2.0)])
case(PYPOW, S.zerodiv_fabs_of_numpy, [(0.5, V(0.25, 1.0)), (-1.5, V(-4.0, 1.0))])
case(PYPOW, S.zerodiv_custom_of_numpy, [(0.5, V(0.25, 1.0)), (-1.5, V(-4.0, 1.0))])

MIXEDNUM = "a name NumPy's on some runs and Python's on others: its division by zero raises only when Python's (MIXEDNUM_RAISING)"
case(MIXEDNUM, S.mixednum_issue, [(0.5, V(1.0, -0.5), 2), (-1.5, V(0.5, 1.0), 1), (2.0, V(0.25, 4.0), 2)])
case(MIXEDNUM, S.mixednum_branch_power, [(0.5, V(2.0)), (-1.5, V(0.25)), (3.0, V(-2.0))])
case(MIXEDNUM, S.mixednum_dead, [(0.5, V(1.0), 1), (-1.5, V(2.0, 1.0), 2)])
case(MIXEDNUM, S.mixednum_two_operands, [(0.5, V(2.0, 3.0), 1.0), (-0.5, V(2.0, 4.0), 3.0), (-2.0, V(1.0, 0.5), 1.0)])
case(MIXEDNUM, S.mixednum_chain, [(0.5, V(0.25), 1), (-1.5, V(1.0, 2.0), 2)])
case(MIXEDNUM, S.mixednum_in_loop, [(0.5, V(0.5, 1.0, 2.0), 2.0, 3), (-1.5, V(4.0, 1.0), 0.5, 2), (0.5, V(1.0), 0.0, 0)])
case(MIXEDNUM, S.mixednum_reassigned_param, [(0.5, 3.0, V(1.5)), (-1.5, 0.5, V(0.0)), (1.5, 3.0, V(0.25))])
case(MIXEDNUM, S.mixednum_complex, [(0.5, V(3.0), 1), (-1.5, V(0.5, 4.0), 2), (1.5, V(1.0, 0.5), 1)])
case(MIXEDNUM, S.mixednum_floordiv, [(0.5, V(0.25), 1), (-1.5, V(2.0, 4.0), 2)])
case(MIXEDNUM, S.mixednum_max, [(0.5, V(0.25), 1), (-1.5, V(2.0), 0), (1.5, V(0.5, 4.0), 2)])
case(MIXEDNUM, S.mixednum_max_loop, [(0.5, V(0.25, 2.0), 0.5), (-1.5, V(0.1, 0.2), 4.0)])
case(MIXEDNUM, S.mixednum_min_element, [(0.5, V(0.25)), (-1.5, V(-2.0))])
case(MIXEDNUM, S.mixednum_not, [(0.5, V(-0.25)), (-1.5, V(-2.0))])
case(MIXEDNUM, S.mixednum_bool, [(0.5, V(0.25)), (-1.5, V(-2.0))])
case(MIXEDNUM, S.mixednum_gradient_value, [(0.5, V(0.25)), (-1.5, V(2.0))])
case(MIXEDNUM, S.mixednum_first_in_loop, [(0.5, V(0.25, 2.0), 2, -1.0), (-1.5, V(0.5), 1, -1.0)])
case(MIXEDNUM, S.mixednum_module_numpy_scalar, [(0.5,), (-1.5,)], ref=lambda x: 0.25 + 2.0 * x / 1.25)

DEADADJ = "a value nothing reads, overwritten in a loop: its zero adjoint times an infinite partial was NaN"
VZ = V(0.0, 2.0, 0.0)
case(DEADADJ, S.deadadj_issue, [(0.5, VZ), (-1.5, V(1.0, 0.0)), (2.0, V(0.5))], ref=lambda x, v: 3.0 * len(v))
case(DEADADJ, S.deadadj_chain, [(0.5, VZ), (-1.5, V(1.0, 0.0)), (2.0, V(0.5))], ref=lambda x, v: 2.0 * x * len(v))
case(DEADADJ, S.deadadj_sqrt, [(0.5, VZ), (1.5, V(1.0, 0.0)), (2.0, V(0.5))],
     ref=lambda x, v: 1.5 * x * len(v))              # a * b = 0.5x * 1.5x = 0.75 x^2 per trip
case(DEADADJ, S.deadadj_while, [(0.5, VZ), (-1.5, V(1.0, 0.0)), (2.0, V(0.5))], ref=lambda x, v: math.cos(x) * len(v))
case(DEADADJ, S.deadadj_arrays, [(0.5, VZ), (-1.5, V(1.0, 0.0)), (2.0, V(0.5, 3.0))], ref=lambda x, v: 2.0 * np.sum(v))

VIEWTAPE = "a view of every element of an array a loop writes, made again in a trip that may skip it"
AV, RV = np.array([[0.3, -0.2, 0.5, 0.1]]), V(0.1, 0.2)
case(VIEWTAPE, S.viewtape_issue, [(AV, RV, 4), (AV * 2.0, V(-0.3, 0.4), 3)], wrt=1)
case(VIEWTAPE, S.viewtape_transpose, [(AV, RV, 4), (AV - 0.5, V(0.7, -0.1), 2)], wrt=0)
case(VIEWTAPE, S.viewtape_reshape, [(AV, RV, 4), (AV + 0.3, V(0.5, -0.6), 3)], wrt=0)

BOOLARG = "a bool argument read as a number (Numba has no float() of a bool)"
case(BOOLARG, S.boolarg_issue, [(1.5, True), (1.5, False)])
case(BOOLARG, S.boolarg_float_call, [(1.5, True), (-0.5, False)])
case(BOOLARG, S.boolarg_numpy_float, [(1.5, True), (-0.5, False)])
case(BOOLARG, S.boolarg_array, [(X4, True), (X4, False)])
case(BOOLARG, S.boolarg_loop, [(1.5, True), (-0.5, False)])
case(BOOLARG, S.boolarg_power, [(1.5, True), (1.5, False)])

DISPATCH = ("one gradient object called with arrays whose axes agree in different ways (a program per "
            "pattern, checked on entry: never one pattern's program on another's arrays)")
Z54, Z44 = M(5, 4, 1), M(4, 4, 2)
ONEHOT54 = np.eye(4)[[0, 2, 1, 3, 0]]
case(DISPATCH, S.dispatch_softmax, [(Z54, ONEHOT54), (Z54, M(1, 4, 3)), (Z54, M(5, 1, 4)), (Z44, M(4, 4, 5)),
                                    (Z54, ONEHOT54), (Z54, M(1, 1, 6))])
case(DISPATCH, S.dispatch_mse, [(0.5, 0.1, V(0.3, -1.2, 0.7), V(0.1, 0.2, 0.3)), (0.5, 0.1, V(0.3, -1.2, 0.7), V(0.4)),
                                (-0.5, 0.3, V(0.3, -1.2), V(0.1, 0.9)), (0.5, 0.1, V(0.3), V(0.4))])
case(DISPATCH, S.dispatch_recurrence, [(M(3, 3, 1) * 0.5, V(0.1, -0.2, 0.3), V(0.5, -0.4, 0.2), 3),
                                       (M(3, 3, 1) * 0.5, V(0.1), V(0.5, -0.4, 0.2), 2),
                                       (M(2, 3, 2) * 0.5, V(0.1, -0.2), V(0.5, -0.4, 0.2), 1),
                                       (M(3, 3, 1) * 0.5, V(0.1, -0.2, 0.3), V(0.5, -0.4, 0.2), 0)])
case(DISPATCH, S.dispatch_outer, [(M(3, 4, 1), V(0.1, 0.2, 0.3), V(0.5, -0.4, 0.2, 0.7)),
                                  (M(3, 3, 2), V(0.1, 0.2, 0.3), V(0.5, -0.4, 0.2)),
                                  (M(1, 3, 3), V(0.1), V(0.5, -0.4, 0.2))])
case(DISPATCH, S.dispatch_transpose, [(M(3, 2, 1), M(2, 4, 2), M(3, 4, 3)), (M(3, 2, 1), M(2, 4, 2), M(1, 4, 4)),
                                      (M(3, 2, 1), M(2, 4, 2), M(3, 1, 5)), (M(3, 3, 1), M(3, 3, 2), M(3, 3, 6)),
                                      (M(3, 2, 1), M(2, 4, 2), V(0.1, 0.2, -0.3, 0.4)), (M(3, 2, 1), M(2, 4, 2), M(1, 1, 7))])
case(DISPATCH, S.dispatch_accumulate, [(V(0.3, -1.2, 0.7), V(0.1, 0.2, 0.3), 3), (V(0.3, -1.2, 0.7), V(0.4), 2),
                                       (V(0.3), V(0.4, 0.5), 2), (V(0.3, -1.2, 0.7), V(0.1, 0.2, 0.3), 1)])
case(DISPATCH, S.dispatch_slices, [(V(0.3, -1.2, 0.7), V(0.1, 0.2, 0.3)), (V(0.3, -1.2, 0.7), V(0.1, 0.2)),
                                   (V(0.3, -1.2, 0.7, 0.2), V(0.5, 0.4, 0.1, 0.9)), (V(0.3, -1.2), V(0.1, 0.2))])

EXTREMUM = "the largest or smallest of bools read as a number (a bool, never an int, in the types)"
B22 = np.array([[True, False], [False, False]])
case(EXTREMUM, S.extremum_issue, [(1.5, True, False), (-0.5, False, False), (0.7, True, True)])
case(EXTREMUM, S.extremum_min_float, [(1.5, True, False), (-0.5, True, True)])
case(EXTREMUM, S.extremum_bool_and_int, [(1.5, True), (-0.5, False)])
case(EXTREMUM, S.extremum_reduce, [(1.5, B22), (-0.5, ~B22), (0.5, B22 & False)])
case(EXTREMUM, S.extremum_axis, [(1.5, B22), (-0.5, ~B22)])
case(EXTREMUM, S.extremum_elementwise, [(1.5, B22), (-0.5, ~B22)])
case(EXTREMUM, S.extremum_in_power, [(1.5, True, False), (1.5, False, False)])

PRUNED = ("a loop under a test of constants, which Numba drops before typing: the reversed loop, "
          "under a recorded test, reads the trip counter and tapes the dropped branch made")
JIT_NOSIMP = ("jit-nosimp-grad", "jit-nosimp-vag")   # the simplifier folds such tests away
V3 = V(0.3, -0.2, 0.5)
case(PRUNED, S.pruned_while_in_elif, [(0.7, 2), (-1.2, 0)], compiled=JIT_NOSIMP)
case(PRUNED, S.pruned_while_taken, [(0.7, 2), (-0.4, 0), (1.1, 1)], compiled=JIT_NOSIMP)
case(PRUNED, S.pruned_for_break, [(0.7, 3), (-1.5, 1)], compiled=JIT_NOSIMP)
case(PRUNED, S.pruned_nested, [(0.7, 2), (0.3, 0)], compiled=JIT_NOSIMP)
case(PRUNED, S.pruned_array_while, [(V3, 2), (V3, 0)], compiled=JIT_NOSIMP)
case(PRUNED, S.pruned_elif_for_exit, [(0.7, 3), (-0.6, 2)], compiled=JIT_NOSIMP)
case(PRUNED, S.pruned_array_for, [(V3, 2), (V(1.5), 1)], compiled=JIT_NOSIMP)

RESHAPED = ("an array variable assigned again in a branch with another shape: the reversal of what read it "
            "before reads the shape it had then, so its old value is recorded")
case(RESHAPED, S.reshaped_in_branch, [(M(4, 5, 1), M(1, 5, 2), 1.0), (M(4, 5, 1), M(1, 5, 2), -1.0),
                                      (M(3, 2, 3), M(1, 2, 4), 0.5)], wrt=1)
case(RESHAPED, S.reshaped_after_use, [(M(4, 5, 1), M(1, 5, 2), 1.0), (M(4, 5, 1), M(1, 5, 2), -1.0),
                                      (M(2, 3, 5), M(1, 3, 6), 2.0)], wrt=1)
case(RESHAPED, S.reshaped_vector, [(V(0.3, -0.2, 0.5), V(0.1, 0.4, -0.6), 1.0),
                                   (V(0.3, -0.2, 0.5), V(0.1, 0.4, -0.6), -2.0),
                                   (V(0.3, -0.2, 0.5), V(0.1, 0.4, -0.6), -0.5)], wrt=1)
case(RESHAPED, S.reshaped_local, [(V(0.3, -0.2, 0.5), 1.0), (V(0.3, -0.2, 0.5), -1.0)])
case(RESHAPED, S.reshaped_row_to_column, [(M(4, 3, 7), M(1, 3, 8), 1.0), (M(4, 3, 7), M(1, 3, 8), -1.0)],
     wrt=1)


# ---- indented defs: defined here, at the indentation the issue names

def _make_closure(c):
    def scaled_square(x):
        return c * x * x + math.sin(x)
    return scaled_square


def _make_plain():
    def inner_plain(x):
        return math.sin(x) * x
    return inner_plain


class _Model:
    @staticmethod
    def loss(x):
        return x * x * 3.0 + x

    def energy(self, x):
        return math.exp(x) * x


if __name__ != "__main__":  # an `if __name__ ...` block, taken when pytest imports this file
    def under_name_guard(x):
        return math.cos(x) * x * x

INDENT = "crash: indented def"
case(INDENT, _make_closure(1.5), [(0.5,), (-1.0,)], id="indent_closure", contract=GRAD_OR_LOCATED)
case(INDENT, _make_plain(), [(0.5,), (-1.0,)], id="indent_def_in_function", contract=GRAD_OR_LOCATED)
case(INDENT, _Model.loss, [(0.5,), (-1.0,)], id="indent_staticmethod", contract=GRAD_OR_LOCATED)
case(INDENT, _Model().energy, [(0.5,), (-1.0,)], id="indent_bound_method", contract=GRAD_OR_LOCATED)
case(INDENT, under_name_guard, [(0.5,), (-1.0,)], id="indent_under_name_guard", contract=GRAD_OR_LOCATED)

try:
    from scipy.optimize import rosen as _rosen
except ImportError:  # pragma: no cover - scipy is a test dependency
    _rosen = None
if _rosen is not None:
    case("crash: grad(scipy.optimize.rosen)", _rosen, [(V(0.5, 1.5, -0.3),), (V(1.2, 0.8),)], id="scipy_rosen",
         contract=GRAD_OR_LOCATED)

NUMPYDIV = ("a division of NumPy's numbers by zero (inf or nan, never an error), masked: the compiled module "
            "divided elements with Numba's operators, which raise")
JIT_ALL = ("jit-simp-grad", "jit-simp-vag", "jit-nosimp-grad", "jit-nosimp-vag")
XD, YZ, YZ2, YN, ZD = V(0.3, 1.2, 0.7), V(1.0, 0.0, 2.0), V(0.0, -0.5, 0.25), V(0.5, -2.0, 4.0), V(1.5, 0.7, 2.5)
for fn in (S.numpydiv_issue, S.numpydiv_reciprocal, S.numpydiv_modulo, S.numpydiv_power, S.numpydiv_loop):
    case(NUMPYDIV, fn, [(XD, YZ), (XD, YZ2), (XD, YN)], compiled=JIT_ALL)
for fn in (S.numpydiv_arrays, S.numpydiv_floordiv, S.numpydiv_loop_ops):
    case(NUMPYDIV, fn, [(XD, YZ, ZD), (XD, YZ2, ZD), (XD, YN, ZD)], compiled=JIT_ALL)
case(NUMPYDIV, S.numpydiv_sum_divisor, [(XD, V(0.0, 0.0, 0.0)), (XD, YZ), (XD, YN)], compiled=JIT_ALL)

EXPANDED = "a symbolic rewrite that cancels where the chain rule's form did not"


case(EXPANDED, S.symbolic_expansion_cancels, S.EXPANSION_POINTS, id="symbolic_expansion_cancels_x",
     ref=lambda x, y: S.symbolic_expansion_cancels_partials(x, y)[0])
case(EXPANDED, S.symbolic_expansion_cancels, S.EXPANSION_POINTS, id="symbolic_expansion_cancels_y", wrt=1,
     ref=lambda x, y: S.symbolic_expansion_cancels_partials(x, y)[1])

POLE = ("an infinite derivative of a value the input no longer reaches: the adjoint raises (an ArgumentError) "
        "where the gradient is 0")
for fn in (S.overwritten_at_a_pole_asin, S.overwritten_at_a_pole_sqrt):
    case(POLE, fn, [(1.5, 2), (0.9, 2)], ref=lambda x, n: 0.0)

POLE_TIE = ("an infinite partial at a tie of a branch: no derivative there (an error or NaN, never a finite "
            "number), or a value constant at run time whose adjoint goes nowhere (the gradient or an error)")
case(POLE_TIE, S.pole_of_a_run_time_constant, [(1.5, 2), (-0.7, 0), (0.3, 3)], ref=lambda x, n: 2.0 * x,
     contract=GRAD_OR_ERROR, compiled=JIT_ALL[:2])
for _fn in (S.pole_at_a_tied_branch, S.pole_at_a_tied_cusp):
    case(POLE_TIE, _fn, [(0.0,)], contract=UNDEFINED, compiled=JIT_ALL[::2])

CANCELLING = ("one statement's partials of one value that cancel exactly (atan2(y, y), y - y), reaching its "
              "adjoint one at a time with its other contributions in between")
case(CANCELLING, S.cancelling_atan2, S.CANCELLING_POINTS, wrt=2, ref=S.cancelling_atan2_partials)
case(CANCELLING, S.cancelling_difference, [(0.5,), (-1.25,), (3.0,)], ref=lambda y: 1.0 + math.cos(y))
case(CANCELLING, S.cancelling_difference_loop, [(0.5, 3), (-1.25, 1), (3.0, 0)],
     ref=lambda y, n: n - math.sin(y))
case(CANCELLING, S.cancelling_difference_arrays, [(V(0.5, -1.0, 2.0),), (V(0.25),)], ref=lambda v: np.cos(v))

OVERLAP = "an array added in place into memory it shares (a running sum in compiled code)"
for _fn in (S.overlap_issue, S.overlap_backward, S.overlap_reversed, S.overlap_whole_reversed,
            S.overlap_strided, S.overlap_through_alias, S.overlap_disjoint):
    # compiled, where the class's failure showed: in every mode, in turn (the interpreter was right)
    case(OVERLAP, _fn, [(V(1.0, 2.0, 3.0, 4.5),), (V(0.5, -1.5, 2.0, 0.25, -3.0),)],
         compiled=(JIT_ALL[len(CASES) % len(JIT_ALL)],))
case(OVERLAP, S.overlap_in_loop, [(V(1.0, 2.0, 3.0, 4.5), 2), (V(0.5, -1.5, 2.0), 0), (V(0.5, -1.5, 2.0), 1)],
     compiled=JIT_ALL[:2])
case(OVERLAP, S.overlap_transpose, [(M(3, 3),), (M(4, 4, seed=3),)], compiled=JIT_ALL[1:3])
case(OVERLAP, S.overlap_column, [(M(3, 2),), (M(4, 3, seed=3),)], compiled=JIT_ALL[2:])

KINDS = "a NumPy function of ints or bools that is not the float rule (np.reciprocal, np.sign, int32)"
X5 = V(0.3, -1.2, 0.7, 1.5, -0.4)
for _fn in (S.kinds_reciprocal_int, S.kinds_reciprocal_signed, S.kinds_reciprocal_float, S.kinds_sign_bool,
            S.kinds_sign_int, S.kinds_astype_int32, S.kinds_zeros_int32):
    case(KINDS, _fn, [(X5,), (V(1.0, 2.0, -2.5, 0.5, 0.25),)], contract=GRAD_OR_LOCATED)
case(KINDS, S.kinds_reciprocal_number, [(X5, 3), (X5, 1)], contract=GRAD_OR_LOCATED)

EXACT_INTS = "Python's int beyond 2**53 compared with a float or divided by `/` (Numba rounds it to a float first)"
X3 = V(0.3, -1.2, 0.7)
for _fn in (S.exact_int_float_greater, S.exact_int_float_equal, S.exact_int_float_in_loop):
    case(EXACT_INTS, _fn, [(X3, 2 ** 53 + 1), (X3, 2 ** 53), (X3, 2 ** 53 - 1)], wrt=0, compiled=JIT_ALL[:2])
case(EXACT_INTS, S.exact_float_int_less, [(X3, 2 ** 62 + 1), (X3, 2 ** 62)], compiled=JIT_ALL[2:])
case(EXACT_INTS, S.exact_int_true_divide, [(X3, 2 ** 53 + 1), (X3, 2 ** 53 + 5), (X3, 9)], compiled=JIT_ALL[1:3])
case(EXACT_INTS, S.exact_int_bounded_beyond_doubles, [(X3, 1), (X3, -2)], wrt=0, compiled=JIT_ALL[1:])
case(EXACT_INTS, S.exact_int_axis_length_mean, [(X3, 1.5), (V(0.2, 0.4, -0.5, 2.0), -1.0)], compiled=JIT_ALL[::2])
case(EXACT_INTS, S.exact_int_true_divide_negative, [(X3, 2 ** 53 + 3), (X3, 2 ** 60 + 11)], compiled=JIT_ALL[::3])

COMPLEX_POWER = "a power of constants that is complex in Python (CPython folds it), recomputed in compiled code"
case(COMPLEX_POWER, S.complex_power_recomputed, [(1.5, 2), (1.5, 0), (-0.5, 1)], contract=GRAD_OR_LOCATED,
     compiled=JIT_ALL)

# the known failures run in a compiled mode they fail in, so that their XPASS says when one is fixed
case(CANCELLING, S.cancelling_across_statements, [(-3.0244159442892915e-101,), (-1e-30,), (-0.5,)], ref=lambda x: 1.0,
     compiled=("jit-nosimp-grad",))
case(CANCELLING, S.cancelling_across_statements_fuzz, [(-3.0244159442892915e-101, 4, 4)], ref=lambda x, n, m: 1.0)
case(CANCELLING, S.cancelling_undefined_partial, [(0.32369312287088503, -1.4823384520500684), (2.0, -0.5)],
     ref=lambda y, x: 0.0)

STRUCTURAL = ("a partial that is zero near the point (a mask of np.where, min, clip; a constant) times an "
              "infinite or NaN partial: a false ArgumentError or a NaN gradient")
case(STRUCTURAL, S.structural_where_sqrt, [(-1.0,), (-0.25,), (4.0,)],
     ref=lambda x: 1.0 + (0.5 / math.sqrt(x) if x > 0 else 0.0))
case(STRUCTURAL, S.structural_where_log, [(-1.0,), (-2.5,), (2.0,)], ref=lambda x: 2.0 / x if x > 0 else 1.0)
case(STRUCTURAL, S.structural_clamp_pole, [(2.0,), (1.5,), (0.5,)],
     ref=lambda x: 1.0 - (x / math.sqrt(1.0 - x * x) if x < 1.0 else 0.0))
case(STRUCTURAL, S.structural_clip_pole, [(2.0,), (-3.0,), (0.5,)],
     ref=lambda x: 0.5 + (1.0 / math.sqrt(1.0 - x * x) if -1.0 < x < 1.0 else 0.0))
case(STRUCTURAL, S.structural_constant_exponent, [(-1.7647881170680284, 3), (-0.5, 2), (0.5, 1)],
     ref=lambda x, n: 1.0)
case(STRUCTURAL, S.structural_where_loop, [(1.5, 3), (0.5, 2), (2.5, 0)],
     ref=lambda x, n: 1.0 + sum(0.5 / math.sqrt(x - i) for i in range(n) if x > i))
case(STRUCTURAL, S.structural_where_sqrt_arrays, [(V(-1.0, 4.0),), (V(-0.5),), (V(1.0, 0.25),)],
     ref=lambda v: 1.0 + np.where(v > 0, 0.5 / np.sqrt(np.abs(v)), 0.0))
# the one-sided derivative there is 1: an error, or 1, never the 0 a strong zero of every zero would give
case(STRUCTURAL, S.nonstructural_product_at_zero, [(0.0,)], contract=GRAD_OR_ERROR, ref=lambda x: 1.0)

TIES = ("a piecewise choice at its boundary (np.sign or floor of x at a jump, a tie of min/max/clip, a branch or "
        "np.where on x == c, NaN compared): a zero there is one-sided, and the careful rerun must give up")
for fn in (S.tie_sign, S.tie_floor_ceil, S.tie_max_min, S.tie_branch, S.tie_where_constants):
    case(TIES, fn, [(0.0,)], contract=GRAD_OR_ERROR, ref=lambda x: 1.0)
case(TIES, S.tie_sign_loop, [(1.0,)], contract=GRAD_OR_ERROR, ref=lambda x: 2.0)
case(TIES, S.tie_nan_max, [(1.0,)], contract=GRAD_OR_ERROR, ref=lambda x: 1.0, compiled=("jit-simp-grad",))
# a NaN beside a finite operand of Python's max or min: the partial goes to the operand max returns (the
# interpreted gradient raises math.log's domain error of np.log's NaN, unlocated: an error, not a number)
for _fn in (S.tie_nan_beside_max, S.tie_nan_beside_min):
    case(TIES, _fn, [(V(0.3, -1.2, 0.7, 1.5),), (V(0.3, -0.1, -2.0, 0.5),), (V(0.3, 1.2, 0.7, 1.5),)],
         contract=GRAD_OR_ERROR, compiled=JIT_ALL[:2])
case(TIES, S.tie_nan_running_max, [(V(0.3, -1.2, 0.7, 1.5, -0.4),), (V(2.3, -1.2, 0.7, 1.5, 0.4),)],
     compiled=JIT_ALL[2:])
for fn in (S.tie_where_pole, S.tie_max_pole):
    case(TIES, fn, [(0.0,)], contract=UNDEFINED)
case(TIES, S.tie_min_pole, [(1.0,)], contract=UNDEFINED)
case(TIES, S.tie_where_two, [(1.0, 1.0)], wrt=1, contract=UNDEFINED)
# helper-61: a float tested for truth (`if t:`, `and`, `not`, `while t:`) and `astype(int)` jump too
for fn in (S.tie_truth_if, S.tie_truth_and, S.tie_truth_not, S.tie_truth_while):
    case(TIES, fn, [(0.25,)], contract=UNDEFINED)
case(TIES, S.tie_astype, [(V(1.0, 3.0),)], contract=UNDEFINED)
# helper-62: np.max along an axis is a runtime helper, guarded too; a tie elsewhere in the matrix is no tie
case(TIES, S.tie_max_along_rows, [(np.array([[1.0, 1.0], [-1.0, 2.0]]),)], contract=UNDEFINED)
case(TIES, S.min_along_columns, [(np.array([[1.0, 1.0], [-1.0, 2.0]]),), (np.array([[1.0, 3.0], [-1.0, 2.0]]),)],
     ref=lambda X: np.where(X < 0, 1.0, 0.5 / np.sqrt(np.abs(X))) + (X == np.min(X, axis=0)))

WHERE_NUMBERS = "np.where of a float condition: the rule's indicator of an array was the condition itself"
case(WHERE_NUMBERS, S.where_float_condition, [(V(3.5, -1.0), V(1.5, -3.0)), (V(3.5, 2.0), V(1.5, 0.0)),
                                              (V(0.25, 4.0), V(0.0, -0.5))],
     ref=lambda x, c: np.where(c != 0, 2 * x, 1.0) + np.where(x < 0, 1.0, 0.5 / np.sqrt(np.abs(x))))
case(WHERE_NUMBERS, S.where_float_condition_scalar, [(2.0, 0.5), (2.0, 0.0), (-1.5, -2.0)],
     ref=lambda x, c: (2 * x if c != 0 else 1.0) + 1.0)
# Python's int, not a wrapping int64: (2**32)**2 % 7 is 2
case(TIES, S.big_int_in_the_rerun, [(-1.0, 2 ** 32), (-1.0, 3037000500)], contract=GRAD_OR_ERROR,
     ref=lambda x, n: float((n * n) % 7))

SNAPSHOT = ("a value recomputed in the reverse sweep from a snapshot of a variable its loop writes (a sum an "
            "inner loop accumulates, a value carried from the last trip or written again later in the trip)")
case(SNAPSHOT, S.snapshot_inner_sum, [(V(0.5, -1.0), M(3, 2), V(1.0, 0.0, 1.0)), (V(10.0, 10.0), M(2, 2, 1), V(0.0, 1.0)),
                                      (V(0.3, 0.2), M(0, 2), V())], compiled=JIT_ALL[:2])
case(SNAPSHOT, S.snapshot_carried, [(0.3, 4), (-0.7, 1), (0.2, 0)])
case(SNAPSHOT, S.snapshot_two_epochs, [(0.4, 3), (-1.2, 1), (0.9, 0)])
case(SNAPSHOT, S.snapshot_int_index, [(V(0.1, -0.2, 0.3, 0.05), 6), (V(0.5, 0.25), 3), (V(0.7), 1)],
     compiled=JIT_ALL[2:])
case(SNAPSHOT, S.snapshot_while, [(0.3, 3), (-0.4, 1), (0.5, 0)])
case(SNAPSHOT, S.snapshot_break, [(0.2, 5), (1.5, 4), (0.5, 0)])
case(SNAPSHOT, S.snapshot_nested, [(0.3, 3), (-0.2, 2), (0.1, 0)])

CASES_BY_ID = {c.id: c for c in CASES}


# ------------------------------------------------------------------ references

_REFERENCE_CACHE: dict = {}


def _call(fn, args):
    return fn(*_copy(args))


def _fd_gradient(fn, args, index):
    """Central differences of fn(*args) with respect to args[index] (float or array), one element at a time."""
    x = args[index]
    if not isinstance(x, np.ndarray):
        return finite_difference(lambda *a: _call(fn, a), list(args), index)
    out = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(x.shape):
        def along(t, idx=idx):
            moved = x.copy()
            moved[idx] = t
            changed = list(args)
            changed[index] = moved
            return _call(fn, changed)
        out[idx] = finite_difference(along, [float(x[idx])], 0)
    return out


def reference(c: Case, k: int):
    """(expected gradient, expected value) of case c at its k-th point, computed once per session."""
    key = (c.id, k)
    if key not in _REFERENCE_CACHE:
        args = c.points[k]
        gradient = c.ref(*args) if c.ref is not None else _fd_gradient(c.fn, args, c.wrt_index())
        value = c.value_ref(*args) if c.value_ref is not None else (_call(c.fn, args) if c.fn else None)
        _REFERENCE_CACHE[key] = (gradient, value)
    return _REFERENCE_CACHE[key]


# ------------------------------------------------------------------ running one case in one mode

MODES = [(jit, simplify, api) for jit in (True, False) for simplify in (True, False) for api in ("grad", "vag")]


def mode_id(jit, simplify, api):
    return f"{'jit' if jit else 'py'}-{'simp' if simplify else 'nosimp'}-{api}"


def modes_of(case_id: str) -> list:
    """The modes a case runs in (see the module's docstring): a class found in one compiled mode
    names it (`Case.compiled`)."""
    if os.environ.get("AUTODIFF_COMPILER_ALL_MODES") == "1":
        return list(MODES)
    interpreted = [m for m in MODES if not m[0]]
    named = CASES_BY_ID[case_id].compiled
    if named:
        return [m for m in MODES if mode_id(*m) in named] + interpreted
    mode = _COMPILED_MODE.get(case_id)
    return ([mode] if mode else []) + interpreted


def _compiled_modes() -> dict:
    """Case id -> the compiled mode it runs in, for a quarter of each class: its first case, fifth, ...,
    the four compiled modes in turn (from a place decided by the class's name), so that every class
    runs compiled, and a class of five or more cases in more than one compiled mode."""
    compiled = [m for m in MODES if m[0]]
    by_class: dict = {}
    for c in CASES:
        by_class.setdefault(c.cls, []).append(c.id)
    chosen = {}
    for cls, ids in by_class.items():
        start = zlib.crc32(cls.encode())
        for k, case_id in enumerate(ids[::4]):
            chosen[case_id] = compiled[(start + k) % len(compiled)]
    return chosen


_COMPILED_MODE = _compiled_modes()


_GRADIENTS: dict = {}


def gradient_object(c: Case, jit: bool, simplify: bool, api: str):
    """The gradient object of a case in a mode, built once per session (it compiles per signature)."""
    key = (c.id, jit, simplify, api)
    if key not in _GRADIENTS:
        maker = grad if api == "grad" else value_and_grad
        if c.build is not None:
            _GRADIENTS[key] = c.build(maker, jit, simplify)
        else:
            _GRADIENTS[key] = maker(c.fn, wrt=c.wrt, jit=jit, simplify=simplify)
    return _GRADIENTS[key]


def _is_scalar(v):
    return isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, bool) or (
        isinstance(v, np.ndarray) and v.ndim == 0)


def _assert_matches(got, expected, rtol, what):
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray), f"{what}: expected an array of shape {expected.shape}, got {got!r}"
        assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    else:
        assert _is_scalar(got), f"{what}: expected one number, got {got!r}"
    scale = max(1.0, float(np.max(np.abs(expected))) if np.size(expected) else 1.0)
    ok = np.allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=1e-7 * scale)
    assert ok, f"{what}: got {np.round(np.asarray(got, dtype=float), 8)}, expected {np.round(expected, 8)}"


def _check_located(err: AutodiffError, c: Case):
    text = str(err)
    if c.fn is None:
        return
    fn = inspect.unwrap(c.fn)
    path = inspect.getsourcefile(fn)
    lines, start = inspect.getsourcelines(fn)
    base = os.path.basename(path)
    own_lines = range(start, start + len(lines))
    if err.filename is not None and os.path.basename(err.filename) != base:
        # a construct inside a function it calls: located there, and the call in this function named
        called = [int(n) for n in __import__("re").findall(rf"called from {__import__('re').escape(base)}:(\d+)", text)]
        assert called and any(n in own_lines for n in called), \
            f"{type(err).__name__} names neither the file {base} nor a call from it:\n{text}"
        return
    assert err.filename is not None and os.path.basename(err.filename) == base, \
        f"{type(err).__name__} does not name the file {base}:\n{text}"
    assert err.line is not None and err.line in own_lines, \
        f"{type(err).__name__} names line {err.line}, not a line of {fn.__name__} ({start}-{start + len(lines) - 1}):\n{text}"
    assert f"{base}:{err.line}" in text, f"the message does not show {base}:{err.line}:\n{text}"


def check_case(c: Case, jit: bool, simplify: bool, api: str):
    """Run case c in one mode at all its points; raise AssertionError on a breach of its contract."""
    where = f"{c.id} [{mode_id(jit, simplify, api)}]"
    try:
        g = gradient_object(c, jit, simplify, api)
        for k, args in enumerate(c.points):
            result = g(*_copy(args))
            if c.contract == LOCATED_ERROR:
                raise AssertionError(f"{where}: a non-scalar result gave {result!r} instead of an AutodiffError")
            if c.contract == UNDEFINED:
                slope = result[1] if api == "vag" else result
                assert not np.all(np.isfinite(np.asarray(slope, dtype=float))), \
                    f"{where}: gave {result!r} at point {k}, where no derivative exists"
                continue
            expected, value = reference(c, k)
            if api == "vag":
                assert isinstance(result, tuple) and len(result) == 2, f"{where}: value_and_grad gave {result!r}"
                got_value, result = result
                _assert_matches(got_value, value, 1e-9, f"{where}: value at point {k}")
            _assert_matches(result, expected, c.rtol, f"{where}: gradient at point {k}")
    except AutodiffError as err:
        if c.contract == GRAD:
            raise AssertionError(f"{where}: AutodiffError where a gradient is due: "
                                 f"{type(err).__name__}: {err}") from err
        if c.contract in (GRAD_OR_LOCATED, LOCATED_ERROR):
            _check_located(err, c)
        if c.contract == LOCATED_ERROR and getattr(autodiff_compiler, "jacobian", None) is not None:
            assert "jacobian" in str(err) or "has_aux" in str(err), \
                f"{where}: the error should point to jacobian or has_aux:\n{err}"
    except AssertionError:
        raise
    except Exception as exc:  # a raw crash: never acceptable
        raise AssertionError(f"{where}: raw {type(exc).__name__} (not an AutodiffError): "
                             f"{str(exc).strip()[:300]}") from exc


_CHILD_RESULTS: dict = {}


def _run_in_child(case_id: str, modes):
    """Child process: check_case for each mode, one result line per mode, printed as soon as known."""
    import json
    c = CASES_BY_ID[case_id]
    for jit, simplify, api in modes:
        try:
            check_case(c, jit, simplify, api)
            outcome = None
        except AssertionError as err:
            outcome = str(err)
        print("RESULT", json.dumps([mode_id(jit, simplify, api), outcome]), flush=True)


def check_in_child(c: Case, jit: bool, simplify: bool, api: str):
    """check_case for a case whose generated code writes out of bounds (and can crash the interpreter).

    One child process runs all the case's jit modes in turn; when it dies, the
    mode it was running is reported as killed and the rest run in a new child."""
    import json
    if c.id not in _CHILD_RESULTS:
        results, pending = {}, [m for m in modes_of(c.id) if m[0]]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([REPO_ROOT, TESTS_DIR, env.get("PYTHONPATH", "")])
        while pending:
            code = textwrap.dedent(f"""
                import sys
                sys.path[:0] = [{TESTS_DIR!r}, {REPO_ROOT!r}]
                import test_soundness as T
                T._run_in_child({c.id!r}, {pending!r})
            """)
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
            for line in proc.stdout.splitlines():
                if line.startswith("RESULT "):
                    mode, outcome = json.loads(line[len("RESULT "):])
                    results[mode] = outcome
            done = [m for m in pending if mode_id(*m) in results]
            pending = [m for m in pending if mode_id(*m) not in results]
            if pending:
                tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
                how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
                results[mode_id(*pending[0])] = f"{c.id} [{mode_id(*pending[0])}]: the process died ({how}): {tail}"
                pending = pending[1:]
            assert done or proc.returncode != 0, proc.stderr
        _CHILD_RESULTS[c.id] = results
    outcome = _CHILD_RESULTS[c.id][mode_id(jit, simplify, api)]
    if outcome is not None:
        raise AssertionError(outcome + " (in a child process)")


# ------------------------------------------------------------------ what fails today (issue 8)
#
# case id -> space-separated tokens; a token matches the modes holding all its
# parts: "all", "simp" (simplifier on: jit and py, grad and vag), "jit-simp",
# "vag", "py-nosimp-grad", ...  Delete a token when its XPASS tells you to.
# Regenerate after a fix: pytest tests/test_soundness.py --runxfail --junitxml=...
# and list the failing modes per case (measured on main at afd1ef7, checked at 94b56cf).

# case id -> the modes it fails in ("all", or mode tokens: "jit", "py-simp-grad"), each run an xfail(strict)
KNOWN_FAILURES: dict = {
    # the compiled gradient returns NaN where the derivative is 1: Python's max(x, nan) is x, but max's rule
    # gives x the partial indicator(x >= nan), 0, and sqrt's NaN partial meets that 0 (interpreted, Python
    # raises there: an ArgumentError).  The careful rerun gives up where it compares a NaN (`Tie`)
    "tie_nan_max": "jit",
    # reverse mode's sum of partials that cancel across statements (corpus_soundness: control-128-76)
    "cancelling_across_statements": "nosimp", "cancelling_across_statements_fuzz": "all",
    # fuzz raising-168-22: an undefined partial (log of a negative base) on a path that cancels (`y - y`):
    # interpreted, an ArgumentError ("the derivative is undefined"); compiled, NaN.  The derivative is 0
    "cancelling_undefined_partial": "all",
}


# ------------------------------------------------------------------ the parametrisation

def _matches(token: str, mode: str) -> bool:
    return token == "all" or set(token.split("-")) <= set(mode.split("-"))


def known_failure(case_id: str, mode: str) -> bool:
    return any(_matches(token, mode) for token in KNOWN_FAILURES.get(case_id, "").split())


def _params():
    out = []
    for c in CASES:
        for jit, simplify, api in modes_of(c.id):
            mode = mode_id(jit, simplify, api)
            marks = []
            if known_failure(c.id, mode):
                marks.append(pytest.mark.xfail(strict=True, reason=f"issue 8: {c.cls}"))
            out.append(pytest.param(c, jit, simplify, api, id=f"{c.id}-{mode}", marks=marks))
    return out


@pytest.mark.parametrize("c, jit, simplify, api", _params())
def test_soundness(c, jit, simplify, api):
    if c.isolate and jit:
        check_in_child(c, jit, simplify, api)
    else:
        check_case(c, jit, simplify, api)


def test_known_failures_name_real_cases():
    assert set(KNOWN_FAILURES) <= set(CASES_BY_ID), set(KNOWN_FAILURES) - set(CASES_BY_ID)


@pytest.mark.parametrize("fn, name, taped", [
    (S.remade_window, "v", False), (S.remade_active_rows, "r", False), (S.remade_base_stored_after, "r", False),
    (S.remade_base_rebound_after, "r", False), (S.remade_base_written_in_loop, "r", True)])
def test_views_of_arrays_the_loop_does_not_write_are_made_again(fn, name, taped):
    """A row or window of an array the loop does not write is made again when its reversed trip starts
    (O(1)), not copied onto a tape each trip; a view of an array the loop writes is taped.  Gradients:
    the REMADE cases above."""
    c = next(c for c in CASES if c.fn is fn)
    g = value_and_grad(fn, wrt=0, jit=False)
    g(*_copy(c.points[0]))
    text = g.compiled_source
    assert (f"{name}_tape" in text) == taped, text
    if not taped:
        assert f"{name} = " in text.split("# reverse sweep")[1], text      # made again in the reverse sweep



# indices out of range: Python raises IndexError; compiled without bounds checks, x[k] read whatever lay
# beyond the array (a wrong number with no error, found by an adversarial review of g.native).  Every mode
# must raise an AutodiffError that says so, as the function itself raises.
OUT_OF_RANGE = [
    (S.bounds_index_arg, (W3, 3)), (S.bounds_index_arg, (W3, -4)), (S.bounds_index_arg, (V(2.0), 7)),
    (S.bounds_loop_other, (X4, V(0.1, 0.2, 0.3))), (S.bounds_loop_other, (X4, V(0.1))),
    (S.bounds_store, (W3, 3)), (S.bounds_store, (W3, -4)),
    (S.bounds_matrix, (M(3, 4, 5), 3, 0)), (S.bounds_matrix, (M(3, 4, 5), 0, 4)), (S.bounds_matrix, (M(3, 4, 5), -4, 0)),
    (S.bounds_while, (X4, 5)), (S.bounds_row_loop, (M(3, 4, 7), 4)),
    (S.bounds_dead_other, (X4, V(1.0, 2.0), 2)), (S.bounds_dead_loop, (X4, V(1.0, 2.0))),
    (S.bounds_dead_stopped, (X4, 4)), (S.bounds_dead_local, (X4, -5)), (S.bounds_dead_store, (X4, 2)),
]


ZERO_DIVISORS = [
    (S.zerodiv_dead_issue, (1.5, 0)), (S.zerodiv_dead_issue, (1.5, 0.0)), (S.zerodiv_dead_in_loop, (1.5, 3)),
    (S.zerodiv_dead_in_branch, (1.5, 0.0)), (S.zerodiv_dead_modulo, (1.5, 0)),
    (S.zerodiv_stopped, (1.5, 0.0)),
]


# what the function raises in Python, and what our error says: (Python's exception, a pattern)
_OUT_OF_RANGE_ERROR = (IndexError, "out of bounds")
_ZERO_DIVISOR_ERROR = (ZeroDivisionError, "by zero")
# where NumPy raises on arrays (broadcasting, product and reshape shapes; a singular matrix), in an
# unread statement or one only the value reads
_SHAPES = (ValueError, "broadcast|align|mismatch|incompatible|size|shape|reshape")
SHAPE_RAISING = [
    (S.shape_dead_product, (W3, A23, B32)) + _SHAPES, (S.shape_dead_product, (X4, A23, V(1.0, 2.0))) + _SHAPES,
    (S.shape_dead_matmul, (W3, A23, B23)) + _SHAPES, (S.shape_dead_inv, (W3, np.ones((2, 2)))) + (ValueError, "ingular"),
    (S.shape_value_only, (W3, A23, B32)) + _SHAPES, (S.shape_folded_zero, (W3, A23, B32)) + _SHAPES,
    (S.shape_in_branch, (W3, A23, B23, True)) + _SHAPES, (S.shape_dead_reshape, (W3,)) + _SHAPES,
]
# a name read where the loop that assigns it ran no trips (or the branch was not taken)
_UNBOUND = (UnboundLocalError, "before it is assigned")
UNBOUND_RAISING = [
    (S.unbound_issue, (X4, 0)) + _UNBOUND, (S.unbound_branch, (0.7, -1.0)) + _UNBOUND,
    (S.unbound_loop_local, (X4, 0)) + _UNBOUND, (S.unbound_result, (0.7, 0)) + _UNBOUND,
    (S.unbound_while, (X4, 0)) + _UNBOUND, (S.unbound_nested, (X4, 2, 0)) + _UNBOUND,
    (S.unbound_redefined, (X4, 0)) + _UNBOUND,
    # an inlined helper's name, as its user wrote it (not its IR name, `_last_square2_last`)
    (S.unbound_in_helper, (X4, 0), UnboundLocalError, "reads 'last' before it is assigned"),
]
# an int of NaN or of an infinity
_INFINITE = (OverflowError, "infinity to integer")
PYINT_RAISING = [
    (S.pyint_issue, (0.5, 1.0)) + _INFINITE, (S.pyint_unread, (0.5, -1.0)) + _INFINITE,
    (S.pyint_nan, (0.5, 1.0), ValueError, "NaN to integer"), (S.pyint_numpy_number, (0.5, V(1.0, 2.0))) + _INFINITE,
    # (its first trip's trunc(1e300) is an int beyond 64 bits: compiled, that raises first)
    (S.pyint_trunc_in_loop, (0.5, 1.0, 2), OverflowError, "infinity to integer|beyond the 64 bits"),
]
# CPython's math module: ValueError outside a function's domain (or at a pole), OverflowError past its range
_DOMAIN, _RANGE = (ValueError, "math domain error"), (OverflowError, "math range error")
PYMATH_RAISING = [
    (S.pymath_issue, (-4.0,)) + _DOMAIN, (S.pymath_unread_log, (0.5, -1.0)) + _DOMAIN,
    (S.pymath_unread_log, (0.5, 0.0)) + _DOMAIN, (S.pymath_exp_overflow, (1000.0,)) + _RANGE,
    (S.pymath_acos_branch, (2.0,)) + _DOMAIN, (S.pymath_cos_of_infinity, (0.5, 1.0)) + _DOMAIN,
    (S.pymath_in_loop, (V(1.0, -2.0), 2)) + _DOMAIN, (S.pymath_imported, (0.5,)) + _DOMAIN,
    (S.pymath_log1p_atanh, (0.5, -1.0)) + _DOMAIN, (S.pymath_log1p_atanh, (0.5, 2.0)) + _DOMAIN,
    (S.pymath_log_base, (2.0, -3.0)) + _DOMAIN, (S.pymath_log_base, (2.0, 1.0), ZeroDivisionError, "division by zero"),
    (S.pymath_where, (-1.0,)) + _DOMAIN, (S.pymath_where_division, (-1.0, 0), ZeroDivisionError, "division by zero"),
    (S.pymath_pow, (-1.0, 0.5)) + _DOMAIN, (S.pymath_pow, (10.0, 400.0)) + _RANGE, (S.pymath_pow, (0.0, -1.0)) + _DOMAIN,
    (S.pymath_lgamma, (0.0,)) + _DOMAIN, (S.pymath_lgamma, (-3.0,)) + _DOMAIN,
]
# CPython's float_pow: ZeroDivisionError for 0 to a negative power, OverflowError past the range; a
# complex number refused where the function reads it (Python's TypeError when it compares it)
_ZERO_POWER = (ZeroDivisionError, "0.0 cannot be raised to a negative power")
_POWER_RANGE = (OverflowError, "Numerical result out of range")
PYPOW_RAISING = [
    (S.pypow_issue, (0.0,)) + _ZERO_POWER, (S.pypow_overflow_branch, (10.0,)) + _POWER_RANGE,
    (S.pypow_unread, (0.5, 1e200)) + _POWER_RANGE, (S.pypow_exponent, (400.0,)) + _POWER_RANGE,
    (S.pypow_int_boundary, (0.5, 1.357157737484445e18)) + _POWER_RANGE,     # one float past Python's limit
    (S.pypow_int_boundary, (0.5, -1.357157737484445e18)) + _POWER_RANGE,
    (S.pypow_complex_branch, (-4.0,), TypeError, "complex number in Python"),
    (S.pypow_ints, (0.5, 0, -1)) + _ZERO_POWER, (S.pypow_builtin, (0.0, -1.0)) + _ZERO_POWER,
    (S.pypow_builtin, (-2.0, 0.5), TypeError, "complex number in Python"),
    (S.pypow_in_loop, (1e200, 3)) + _POWER_RANGE,
    (S.pypow_complex_dead_compare, (-4.0,), TypeError, "complex number in Python"),
    (S.pypow_float_of_numpy, (0.5, V(0.0, 1.0))) + _ZERO_POWER,
    (S.zerodiv_float_of_numpy, (0.5, V(0.0, 1.0)), ZeroDivisionError, "division by zero"),
    (S.pypow_math_of_numpy, (0.5, V(0.0, 1.0))) + _ZERO_POWER,
    (S.zerodiv_math_of_numpy, (0.5, V(0.0, 1.0)), ZeroDivisionError, "division by zero"),
    (S.zerodiv_fabs_of_numpy, (0.5, V(0.0, 1.0)), ZeroDivisionError, "division by zero"),
    (S.zerodiv_custom_of_numpy, (0.5, V(0.0, 1.0)), ZeroDivisionError, "division by zero"),
]
# Python's number in a name that holds NumPy's on other runs (a loop of no trips, the other branch)
MIXEDNUM_RAISING = [
    (S.mixednum_issue, (0.5, V(1.0, -1.0), 0)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_branch_power, (6.0, V(1.0))) + _ZERO_POWER,
    (S.mixednum_dead, (0.5, V(1.0), 0)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_two_operands, (-0.5, V(2.0, 3.0), 1.0)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_chain, (0.5, V(1.0), 0)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_chain, (0.5, V(0.0), 1)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_in_loop, (0.5, V(0.0, 1.0, 2.0), 0.0, 3)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_reassigned_param, (0.5, 0.0, V(1.0)), ZeroDivisionError, "modulo by zero"),
    (S.mixednum_complex, (0.5, V(1.0), 0), TypeError, "complex number in Python"),
    (S.mixednum_floordiv, (0.5, V(1.0), 0)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_max, (0.5, V(-1.0), 1)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_max_loop, (0.5, V(-1.0, -2.0), 0.0)) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_min_element, (0.5, V(3.0))) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_not, (0.5, V(1.0))) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_bool, (0.5, V(0.0))) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_gradient_value, (0.5, V(0.0))) + _ZERO_DIVISOR_ERROR,
    (S.mixednum_first_in_loop, (0.5, V(1.0), 1, 1.0)) + _ZERO_DIVISOR_ERROR,
]
# NumPy's ints to a negative int power (Python's give a float, Numba's 0)
_NEGATIVE_INT_POWER = (ValueError, "Integers to negative integer powers are not allowed")
NUMPYINT_RAISING = [
    (S.numpyint_issue, (1.5, I(2, -1))) + _NEGATIVE_INT_POWER,
    (S.numpyint_python_base, (1.5, I(-1))) + _NEGATIVE_INT_POWER,
    (S.numpyint_np_power, (1.5, 2)) + _NEGATIVE_INT_POWER,
    (S.numpyint_array_base, (1.5, I(-1, 2))) + _NEGATIVE_INT_POWER,
    (S.numpyint_array_exponent, (1.5, I(2, -3))) + _NEGATIVE_INT_POWER,
    (S.numpyint_dead, (1.5, I(2, -1))) + _NEGATIVE_INT_POWER,
    (S.numpyint_in_loop, (1.5, I(2, 3), -1)) + _NEGATIVE_INT_POWER,
    (S.numpyint_mixed, (1.5, I(2), 1.0, -1)) + _NEGATIVE_INT_POWER,
    (S.numpyint_bool_base, (1.5, I(2), -1)) + _NEGATIVE_INT_POWER,
    (S.numpyint_mixed_base, (1.5, I(2, -1), 1.0)) + _NEGATIVE_INT_POWER,
    (S.numpyint_reassigned, (1.5, I(2, -1))) + _NEGATIVE_INT_POWER,
    (S.numpyint_reassigned_in_loop, (1.5, I(2, -1))) + _NEGATIVE_INT_POWER,
]
RAISING = [(fn, args) + _OUT_OF_RANGE_ERROR for fn, args in OUT_OF_RANGE] + \
    [(fn, args) + _ZERO_DIVISOR_ERROR for fn, args in ZERO_DIVISORS] + SHAPE_RAISING + UNBOUND_RAISING + \
    PYINT_RAISING + PYMATH_RAISING + PYPOW_RAISING + MIXEDNUM_RAISING + NUMPYINT_RAISING
# the dead reads, stores and divisions: the gradient-only, Hessian and forward modules keep them although
# no derivative needs their values
RAISING_DEAD = [(fn, args) + _OUT_OF_RANGE_ERROR for fn, args in OUT_OF_RANGE[-5:]] + \
    [(fn, args) + _ZERO_DIVISOR_ERROR for fn, args in ZERO_DIVISORS[:1] + ZERO_DIVISORS[2:3] + ZERO_DIVISORS[-3:]] + \
    SHAPE_RAISING + UNBOUND_RAISING + PYINT_RAISING + PYMATH_RAISING + PYPOW_RAISING + MIXEDNUM_RAISING + \
    NUMPYINT_RAISING


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_a_math_modules_error_names_the_line_python_raises_it_on(jit):
    from autodiff_compiler.errors import ArgumentError
    with pytest.raises(ArgumentError, match="math domain error") as info:
        grad(S.pymath_unread_log, wrt=0, jit=jit)(0.5, -1.0)
    assert info.value.line == S.pymath_unread_log.__code__.co_firstlineno + 1        # t = math.log(y)
    assert "math.log(y)" in info.value.source_line and info.value.filename == S.__file__
    with pytest.raises(ArgumentError, match="math domain error") as info:
        grad(S.pymath_in_loop, wrt=0, jit=jit)(V(1.0, -2.0), 2)
    assert info.value.line == S.pymath_in_loop.__code__.co_firstlineno + 3           # s += math.log(x[i])


def test_a_math_module_function_of_an_array_is_refused():
    from autodiff_compiler.errors import UnsupportedSyntaxError
    with pytest.raises(TypeError):
        S.pymath_of_array(V(4.0, 9.0))
    with pytest.raises(UnsupportedSyntaxError, match="math.sqrt of an array") as info:
        grad(S.pymath_of_array)(V(4.0, 9.0))
    assert info.value.line == S.pymath_of_array.__code__.co_firstlineno + 1 and "np.sqrt" in info.value.hint


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
def test_numpys_functions_of_numbers_are_not_checked(simplify):
    """`np.sqrt(x)` of a negative number is NaN with a warning, and the function runs: the compiled
    gradient follows the branch NaN takes, as Python does (only the math module's calls are checked).
    (The module printed for Python spells it `math.sqrt`, which raises there: an error, not a number.)"""
    with np.errstate(invalid="ignore"):
        assert S.pymath_numpy_gives_nan(-4.0) == -4.0
        for x in (-4.0, 0.5, 4.0):
            got = grad(S.pymath_numpy_gives_nan, simplify=simplify)(x)
            assert got == pytest.approx(_fd_gradient(S.pymath_numpy_gives_nan, (x,), 0), rel=1e-6)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_a_power_whose_python_value_is_complex_is_refused_where_the_function_reads_it(jit, simplify):
    """`x ** 1.5` of a negative float is a complex number in Python: a function returning it has no real
    gradient, and the compiled one (NaN) must not give a number.  Where nothing reads the power, the
    complex number is harmless, and the gradient is the function's."""
    from autodiff_compiler.errors import ArgumentError

    def returns_it(x):
        return x ** 1.5 + x

    assert isinstance(returns_it(-4.0), complex)
    with pytest.raises(ArgumentError, match="complex number in Python"):
        grad(returns_it, jit=jit, simplify=simplify)(-4.0)
    assert grad(returns_it, jit=jit, simplify=simplify)(4.0) == pytest.approx(1.5 * 2.0 + 1.0, rel=1e-12)
    for x in (-4.0, -0.5, 3.0):
        assert grad(S.pypow_complex_unread, jit=jit, simplify=simplify)(x) == pytest.approx(3.0 + 2 * x, rel=1e-12)

    def returns_a_constant_one(x):          # a power of constants is not folded into a complex constant
        return x * x + (-2.0) ** 1.5

    def reads_none(x):
        t = (-2.0) ** 1.5
        return x * x

    assert isinstance(returns_a_constant_one(1.0), complex)
    with pytest.raises(ArgumentError, match="complex number in Python"):
        grad(returns_a_constant_one, jit=jit, simplify=simplify)(1.5)
    assert grad(reads_none, jit=jit, simplify=simplify)(1.5) == 3.0


def complex_times_array(y, A):
    q = (-1.25) ** 1.5 * A
    return y + np.sum(q * q)


def complex_summed(y, A):
    q = (-1.25) ** 1.5 * A
    return y + np.sum(q)


def complex_of_a_column(y, A):
    q = (-1.25) ** 1.5 * (A[:, 0] * A[:, 0])
    return y + np.mean(q * q) + np.sum(A)


def complex_in_a_loop(y, A):
    s = y
    for i in range(A.shape[0]):
        s = s + A[i] * (-0.5) ** 0.5
    return s


@pytest.mark.parametrize("api", ["grad", "value_and_grad"])
@pytest.mark.parametrize("jit, simplify", [(False, True), (False, False), (True, True)],
                         ids=["py-simp", "py-nosimp", "jit-simp"])       # compiled: the rerun is the same code
def test_a_complex_value_made_through_arrays_has_no_gradient(jit, simplify, api):
    """fuzz raising-162-44: a power of constants that is complex in Python, times an array, makes the
    function's value a complex number (NumPy's complex128).  The gradient with respect to `y`, which the
    power does not reach, raised at the power and was then rescued by the careful rerun as 1.0: the
    rerun asks whether the function runs to a finite real value, and NumPy's `float()` of a complex
    number drops its imaginary part (with a warning).  A complex value is no real value: the error stands."""
    from autodiff_compiler.errors import ArgumentError
    make = {"grad": grad, "value_and_grad": value_and_grad}[api]
    for fn, A in ((complex_times_array, V(1.0, 2.0)), (complex_summed, V(0.5, -3.0)),
                  (complex_of_a_column, np.array([[1.0], [2.0]])), (complex_in_a_loop, V(0.25, 1.5))):
        assert np.iscomplexobj(fn(0.5, A.copy()))
        with pytest.raises(ArgumentError, match="complex number in Python"):
            make(fn, wrt="y", jit=jit, simplify=simplify)(0.5, A)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_a_power_of_numpys_numbers_is_not_checked(jit, simplify):
    """NumPy's `np.float64(0.0) ** -1.0` is inf with a warning, no error: the gradient follows the branch
    inf takes, as Python does (only Python's own numbers are checked)."""
    with np.errstate(divide="ignore"):
        assert S.pypow_numpy_number(0.5, V(0.0, 1.0)) == 1.0
        for v in (V(0.0, 1.0), V(2.0, 1.0), V(0.5, -1.0)):
            want = 2.0 if 1.0 / v[0] > 1.0 else 1.0
            assert grad(S.pypow_numpy_number, jit=jit, simplify=simplify)(0.7, v) == want


# where the name holds NumPy's number, a zero divisor is inf or nan with a warning, and the function runs
MIXEDNUM_NUMPY_ZERO = [
    (S.mixednum_issue, (0.5, V(1.0, -1.0), 2)), (S.mixednum_branch_power, (0.5, V(0.0))),
    (S.mixednum_dead, (0.5, V(0.0), 1)), (S.mixednum_two_operands, (-2.0, V(2.0, 0.0), 1.0)),
    (S.mixednum_two_operands, (0.5, V(2.0, 3.0), 1.0)), (S.mixednum_in_loop, (0.5, V(0.0, 1.0, 2.0), 0.0, 2)),
    (S.mixednum_reassigned_param, (0.5, 3.0, V(0.0))), (S.mixednum_complex, (0.5, V(0.0), 1)),
    (S.mixednum_floordiv, (0.5, V(0.0), 1)),
    (S.mixednum_max, (0.5, V(0.0), 1)), (S.mixednum_max_loop, (0.5, V(-1.0, 0.0), -2.0)),
    (S.mixednum_min_element, (0.5, V(1.0))),                 # min(np.float64(1.0), 1.0) is the first
    (S.mixednum_first_in_loop, (0.5, V(0.0), 1, -1.0)),
]


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
@pytest.mark.parametrize("fn, args", MIXEDNUM_NUMPY_ZERO, ids=[f"{fn.__name__}{k}" for k, (fn, _) in
                                                                enumerate(MIXEDNUM_NUMPY_ZERO)])
def test_where_a_mixed_name_holds_numpys_number_its_division_by_zero_is_no_error(fn, args, jit, simplify):
    """The same division, on a run where its divisor is NumPy's zero: inf (nan for 0/0 or a fractional
    power of a negative number), a warning, and the branch that value takes -- the gradient is the
    function's (finite differences), with no error (`frontend.number_flags` decides as the function runs)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fn(*_copy(args))                                 # Python runs it
        want = _fd_gradient(fn, args, 0)
        got = grad(fn, wrt=0, jit=jit, simplify=simplify)(*_copy(args))
    assert got == pytest.approx(want, rel=1e-6)


def test_only_names_of_both_kinds_get_flags():
    """A flag is written for a name that holds NumPy's number on some runs and Python's on others, and
    only where a division (power, modulo) of it needs one; a copy of the division, as Python's, checks
    it where the flag says Python's.  A flag set in every trip of a loop is set after it, from the
    trip count: the loop stays an accumulation that runs in chunks."""
    def accumulates(x, v, n):
        s = 0.0
        for i in range(n):
            s += v[i]
        return s * x / 2.0 + x / (1.0 + v[0] * v[0])     # a division, by no such name

    for jit in (True, False):
        assert "_is_numpy" not in grad(accumulates, jit=jit).source
        text = grad(S.mixednum_issue, jit=jit).source
        flag = re.search(r"(s_is_numpy\d*) = \(True if \(len\(range\(0, n, 1\)\) > 0\) else False\)", text)
        assert flag is not None, text
        assert f"s_is_python = not {flag.group(1)}" in text and "s_python = s" in text
        assert "t_checked = 1.0 / s_python" in text and "t = 1.0 / s\n" in text
    g = grad(S.mixednum_issue)
    g(0.5, V(1.0, 2.0), 2)
    compiled = g.compiled_source
    assert "np.divide(1.0, s)" in compiled and "1.0 / s_python" in compiled
    assert "_chunk(" in compiled and "s_is_numpy = True" not in compiled


def test_only_powers_that_may_raise_are_checked():
    """The module Numba compiles checks Python's `x ** y` (`runtime.python_power`) unless the constants
    or a clamp prove it raises nothing; the module printed for Python spells an integer power `x ** 2`
    (Python raises the errors itself) and a fractional one the helper, which refuses a complex value."""
    def square(x):
        return x ** 2 + x ** 1

    assert "python_power_int(x, 2, 1.3407807929942596e+154)" in grad(square).compiled_source
    assert "python_power(x, 1" not in grad(square).compiled_source
    assert "python_power" not in grad(square, jit=False).source and "x ** 2" in grad(square, jit=False).source
    assert "python_power" not in grad(S.pypow_clamped).compiled_source
    assert "python_power(x, 2.5, True)" in grad(S.pypow_complex_branch, jit=False).source
    assert "python_power" not in grad(S.pypow_complex_unread, jit=False).source


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
@pytest.mark.parametrize("fn", [S.zerodiv_dead_array_sum, S.zerodiv_numpy_element, S.zerodiv_numpy_mean],
                         ids=lambda fn: fn.__name__)
def test_a_dead_division_of_numpys_numbers_by_zero_is_no_error(fn, jit, simplify):
    """NumPy divides its own numbers by zero to inf with a warning, where Python's raise: an unused
    division of an element, a sum or a mean is not kept for an error the function does not raise, so
    the gradient at k = 0 is the one at any other k.  With simplify=False nothing unused is removed:
    the module Numba compiles divides NumPy's numbers as NumPy does (`ir.numbers`), to inf."""
    x = V(0.5, -0.4, 1.1, 0.2)
    with np.errstate(divide="ignore", invalid="ignore"):
        fn(x, 0.0)                                       # Python gives a value
    g = grad(fn, jit=jit, simplify=simplify)
    np.testing.assert_allclose(g(x, 0.0), g(x, 2.0), rtol=0, atol=0)
    np.testing.assert_allclose(g(x, 2.0), _fd_gradient(fn, (x, 2.0), 0), rtol=1e-6, atol=1e-8)


ADJOINT_DIVISIONS = [(S.numpydiv_issue, (XD, YZ)), (S.numpydiv_arrays, (XD, YZ, ZD)),
                     (S.numpydiv_reciprocal, (XD, YZ)), (S.numpydiv_floordiv, (XD, YZ, ZD)),
                     (S.numpydiv_power, (XD, YZ2)), (S.numpydiv_loop, (XD, YZ)),
                     (S.numpydiv_sum_divisor, (XD, V(0.0, 0.0, 0.0)))]


@pytest.mark.parametrize("jit, simplify, api", MODES, ids=[mode_id(*m) for m in MODES])
@pytest.mark.parametrize("fn, args", ADJOINT_DIVISIONS, ids=[fn.__name__ for fn, _ in ADJOINT_DIVISIONS])
def test_adjoints_dividing_numpys_numbers_by_zero_raise_nothing(fn, args, jit, simplify, api):
    """The reverse sweep's divisions (`g / y`, `-out / y`, `y ** -3`) of NumPy's numbers are NumPy's too:
    with respect to the divisor, where it is 0 the gradient is AD's 0 * inf = nan (the minimum masks the
    entry), never an error; elsewhere it is the finite differences' value.  (NUMPYDIV holds the
    gradients with respect to x.)"""
    make = grad if api == "grad" else value_and_grad
    got = make(fn, wrt=1, jit=jit, simplify=simplify)(*_copy(args))
    if api == "vag":
        got = got[1]
    y = args[1]
    want = _fd_gradient(fn, args, 1)
    finite = y != 0.0
    if fn is S.numpydiv_floordiv:                       # floor division: a derivative of 0 everywhere
        finite = np.ones_like(finite)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6, atol=1e-7)


def _raising_params():
    """Each raising case in the four interpreted modes and in one compiled one, the four in turn down the
    list (with and without the simplifier, which may fold a raising expression away; `grad` and
    `value_and_grad`): every compiled mode runs a quarter of the cases, of every kind
    (`AUTODIFF_COMPILER_ALL_MODES=1`: all eight)."""
    out = []
    compiled = [m for m in MODES if m[0]]
    for k, (fn, args, error, message) in enumerate(RAISING):
        modes = [compiled[k % len(compiled)]] + [m for m in MODES if not m[0]]
        for jit, simplify, api in MODES if os.environ.get("AUTODIFF_COMPILER_ALL_MODES") == "1" else modes:
            out.append(pytest.param(fn, args, error, message, jit, simplify, api,
                                    id=f"{fn.__name__}{k}-{mode_id(jit, simplify, api)}"))
    return out


@pytest.mark.parametrize("fn, args, error, message, jit, simplify, api", _raising_params())
def test_where_the_function_raises_every_mode_raises(fn, args, error, message, jit, simplify, api):
    """An index out of range, a division by zero, shapes that do not fit: an error, never a number, and
    one naming the line of the function that raises in Python."""
    with pytest.raises(error) as by_python:
        fn(*_copy(args))                                 # Python's own verdict
    make = grad if api == "grad" else value_and_grad
    g = make(fn, wrt=0, jit=jit, simplify=simplify)
    with pytest.raises(AutodiffError, match=message) as by_gradient:
        g(*_copy(args))
    line = _raising_line(fn, by_python.value)
    assert (os.path.basename(by_gradient.value.filename or ""), by_gradient.value.line) == \
        (os.path.basename(fn.__code__.co_filename), line), str(by_gradient.value)


def _raising_line(fn, exc) -> int:
    """The line of `fn`'s file where Python raised `exc` (the innermost frame there)."""
    import traceback
    return [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == fn.__code__.co_filename][-1]


@pytest.mark.parametrize("fn, args, error, message", RAISING_DEAD, ids=[fn.__name__ for fn, *_ in RAISING_DEAD])
def test_where_the_function_raises_every_derivative_raises(fn, args, error, message):
    """Hessians, forward mode and a vjp's value (its own primal program) raise too: compiled for half of the
    cases (by name), interpreted for the others (compiles are most of this test's time)."""
    from autodiff_compiler import hessian, jvp, vjp
    jit = zlib.crc32(fn.__name__.encode()) % 2 == 0
    with pytest.raises(AutodiffError, match=message) as by_grad:
        grad(fn, wrt=0, jit=jit)(*_copy(args))
    with pytest.raises(AutodiffError, match=message) as by_hessian:
        hessian(fn, jit=jit)(*_copy(args))
    with pytest.raises(AutodiffError, match=message) as by_jvp:
        jvp(fn, wrt=0, jit=jit)(*_copy(args), tangents=(np.ones_like(args[0]),))
    with pytest.raises(AutodiffError, match=message) as by_vjp:
        vjp(fn, wrt=0, jit=jit)(*_copy(args))
    # located as the gradient's error is: the line Python raises on, where the function fails there
    where = (by_grad.value.filename, by_grad.value.line)
    for by in (by_hessian, by_jvp, by_vjp):
        assert (by.value.filename, by.value.line) == where, str(by.value)


# beyond 64 bits: Python's exact value, from which the gradient's (the hand formula)
INTWRAP_BEYOND = [
    (S.intwrap_factorial, (1.5, 25), sum(k * 1.5 ** (k - 1) / math.factorial(k) for k in range(1, 25))),
    (S.intwrap_factorial, (-0.75, 30), sum(k * (-0.75) ** (k - 1) / math.factorial(k) for k in range(1, 30))),
    (S.intwrap_power, (1.5, 5), float(5 ** 30 % 7)),
    (S.intwrap_power, (1.5, -9), float((-9) ** 30 % 7)),
    (S.intwrap_sum, (1.5, 2 ** 62), float(2 ** 63 % 5)),
    (S.intwrap_sum, (1.5, -2 ** 62 - 5), float((-2 ** 63 - 10) % 5)),
    (S.intwrap_int_of_float, (1.5, 3.0), float(int(3.0 * 1e20) % 7)),
    (S.intwrap_floor, (1.5, 1e25), float(math.floor(1e25) % 5)),
    (S.intwrap_add_one, (1.5, 2 ** 63 - 1), float(2 ** 63 % 1000)),
    (S.intwrap_double, (1.5, 2 ** 62), float(2 ** 63 % 1000)),
    (S.intwrap_sub_one, (1.5, -2 ** 63), float((-2 ** 63 - 1) % 1000)),
    (S.intwrap_square, (1.5, 3037000501), float(3037000501 ** 2)),
    (S.intwrap_neg, (1.5, -2 ** 63), float(2 ** 63)),
    (S.intwrap_abs, (1.5, -2 ** 63), float(2 ** 63)),
    (S.intwrap_floordiv, (1.5, -2 ** 63), float(2 ** 63)),
    (S.intwrap_times_minus_one, (1.5, -2 ** 63), float(2 ** 63)),
    (S.intwrap_big_constant, (1.5, 3), float(3 * 10 ** 400 % 7)),
    (S.intwrap_mixed, (1.5, np.array([1, 2]), 2 ** 62, 1.0), float(2 ** 64 % 1000)),
    # Numba's range of these ran no trips (Python's two), or its reverse sweep wrapped
    (S.intwrap_range_step, (1.5, 2 ** 63 - 1, 3 * 2 ** 61), 3 * 1.5 ** 2),
    (S.intwrap_range_step, (1.5, 5, -2 ** 63), 1.0),                    # -step leaves 64 bits; no trips
    (S.intwrap_range_down, (1.5, 2 ** 63 - 1, 3 * 2 ** 61), 3 * 1.5 ** 2 + 0.5),
    (S.intwrap_range_from_one, (1.5, -2 ** 63), 1.0),                  # no trips in Python
    (S.intwrap_range_nested, (1.5, V(0.5, 2.0), 2 ** 63 - 1, 3 * 2 ** 61), 5.0),
    # NumPy's ints wrap around, and Numba's wrapped values are undefined (`add nsw`): the loops ran
    (S.intwrap_numpy_wrap_range, (1.5, np.array([2 ** 63 - 1])), 1.0),
    (S.intwrap_numpy_negation, (1.5, np.array([-2 ** 63])), 1.0),
    # ... elementwise in arrays, and in their products (a fused loop folded `t + 1 > t`; np.dot of ints
    # failed to compile)
    (S.intwrap_numpy_array_compare, (1.5, np.array([2 ** 63 - 1, 0])), 3.0),
    (S.intwrap_numpy_array_negation, (1.5, np.array([-2 ** 63, 5])), 2.0 - 2.0 ** 63),
    (S.intwrap_numpy_array_broadcast, (1.5, np.array([2 ** 62, -2 ** 62])), 2.0),
    (S.intwrap_numpy_power_array, (1.5, np.array([3]), 40), 1.0 + float(((3 ** 40 + 2 ** 63) % 2 ** 64 - 2 ** 63) % 1000)),
    (S.intwrap_numpy_where_ints, (1.5, np.array([2 ** 63 - 1, 1])), 3.0 + float((2 ** 63 - 1) % 1000)),
    (S.intwrap_numpy_dot, (1.5, np.array([2 ** 31, 0])), 3.0 * 2 ** 62 - 2.0 ** 64),
    (S.intwrap_numpy_matvec, (1.5, np.array([2 ** 32, 1]), np.array([[2 ** 31, 1]])),
     float(2 ** 63 - 2 ** 31) + float(2 ** 33 + 2 ** 34 + 5)),        # (2 ** 32) * (2 ** 32 + 2) wraps
    # ... also where a fused loop's elements are made from constants alone (Python's ints, for Python)
    (S.intwrap_fused_constants, (1.5, np.array([1, -1])), 0.0 + 2.0),           # 2 ** 80 wraps to 0
    (S.intwrap_fused_maximum, (1.5, np.array([-2 ** 41, 3])), 0.0 + 2.0),
    (S.intwrap_gathered_ints, (1.5, np.array([1, -1, 1, 1])), 9.0),           # 2 ** 80 wraps to 0
]


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
@pytest.mark.parametrize("fn, args, want", INTWRAP_BEYOND, ids=[f"{fn.__name__}-{k}" for k, (fn, _, _) in enumerate(INTWRAP_BEYOND)])
def test_python_ints_beyond_64_bits(fn, args, want, jit, simplify):
    """Python's ints are unbounded: where the function's go beyond 64 bits, the compiled gradient raises an
    ArgumentError saying so (Numba's would wrap around: a wrong number), and the gradient for Python
    (jit=False) computes with Python's own ints, exactly."""
    from autodiff_compiler.errors import ArgumentError
    fn(*args)                                   # the function runs
    if jit:
        with pytest.raises(ArgumentError, match="beyond the 64 bits") as info:
            grad(fn, wrt=0, jit=True, simplify=simplify)(*args)
        assert "float" in info.value.hint and "jit=False" in info.value.hint
    else:
        assert grad(fn, wrt=0, jit=False, simplify=simplify)(*args) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_an_int_sum_is_numpys_also_fused(jit, simplify):
    """NumPy's sum of ints is int64, which wraps around.  Fused into a loop, its total was a float: 2 ** 53 + 1
    rounded, and 1024 of them did not wrap (a wrong number in every mode).  Now the total is an int:
    NumPy's for Python; compiled, NumPy's, or (fused, where the total would wrap) the ArgumentError."""
    from autodiff_compiler.errors import ArgumentError
    for v in (np.array([1, 1]), np.array([1] * 1024), np.array([-1, 1, 1])):
        want = S.intwrap_fused_int_sum(1.0, v) - S.intwrap_fused_int_sum(0.0, v)
        g = grad(S.intwrap_fused_int_sum, wrt=0, jit=jit, simplify=simplify)
        try:
            assert g(1.5, v) == want, (v, want)
        except ArgumentError as err:
            assert jit and len(v) == 1024 and "64 bits" in str(err)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_loops_over_numpys_ints_run_as_pythons_range(jit, simplify):
    """`range` takes Python's ints of NumPy's int operands, so a loop runs exactly as in Python however
    large its bounds; the gradient's reverse sweep computes its bounds from those ints too (they were
    NumPy's, and wrapped: 6.125 where the gradient is 15.5, an IndexError for `range(iv[0])` of the
    smallest int64).  Compiled, a loop whose bounds or reverse bounds leave 64 bits raises (`range_check`):
    `range(n)` of the smallest int64 was reversed from a wrapped `n - 1`, undefined in Numba's ints (a
    build of this change died there of a hardware trap)."""
    from autodiff_compiler.errors import ArgumentError
    huge = ((S.intwrap_numpy_range_bounds, np.array([2 ** 63 - 1, -2 ** 63, -3 * 2 ** 61]), 15.5),
            (S.intwrap_numpy_range_bounds, np.array([-2 ** 63, 2 ** 63 - 1, 3 * 2 ** 61]), 15.5),
            (S.intwrap_numpy_range_stop, np.array([-2 ** 63]), 1.0),
            (S.intwrap_numpy_range_stop, np.array([-2 ** 63 + 1]), 1.0))
    for fn, iv, want in huge:
        assert (fn(1.5 + 1e-6, iv) - fn(1.5 - 1e-6, iv)) / 2e-6 == pytest.approx(want, rel=1e-6)
        g = grad(fn, wrt=0, jit=jit, simplify=simplify)
        if jit and (fn is S.intwrap_numpy_range_bounds or iv[0] == -2 ** 63):       # (`n - 1` has no int64)
            with pytest.raises(ArgumentError, match="beyond the 64 bits"):
                g(1.5, iv)
        else:
            assert g(1.5, iv) == pytest.approx(want, rel=1e-12)
    if not jit:
        g = grad(S.intwrap_numpy_range_bounds, wrt=0, jit=False)
        g(1.5, np.array([0, 7, 2]))
        assert "int(iv[0])" in g.compiled_source and "range(start, stop, step)" in g.compiled_source


def test_index_arithmetic_inside_64_bits_is_not_checked():
    """`2 * i + 1`, `n - 1 - i` of a loop index and an axis length, `i - 1` and `i + 1` of `range(1, n)` for
    any int64 n stay inside 64 bits (`ir.ranges.int_bounds`): compiled as Numba's ints, with no check (a
    check would cost the loop its fused reverse sweep); `fact *= k` of an int that grows is checked."""
    for fn, args in ((S.intwrap_index_arithmetic, (1.5, V(0.5, 1.0, 2.0, -1.0))),
                     (S.intwrap_neighbours, (1.5, V(0.5, 1.0, 2.0, -1.0), 4))):
        g = grad(fn, wrt=0)
        g(*args)
        body = g.compiled_source.split(f"def {fn.__name__}_grad(")[1]      # (`range_check` calls some)
        assert not any(h in body for h in ("int_add(", "int_sub(", "int_mul(", "int_pow(")), fn
    g = grad(S.intwrap_factorial, wrt=0)
    g(1.5, 5)
    assert "int_mul(fact, k)" in g.compiled_source and "int_mul" not in g.source


I8, I32, U64 = np.int8, np.int32, np.uint64
# (function, arguments, the gradient in x, or None: refused with an ArgumentError naming the argument)
NUMPYARG = [
    (S.numpyarg_square_element, (1.5, np.array([100], I8)), None),
    (S.numpyarg_square_element, (1.5, np.array([100], I32)), None),
    (S.numpyarg_square_element, (1.5, np.array([100])), 10000.0),
    (S.numpyarg_negate, (1.5, np.array([-128], I8)), None),
    (S.numpyarg_negate, (1.5, np.array([-128])), 128.0),
    (S.numpyarg_power, (1.5, np.int64(2), -1), None),
    (S.numpyarg_power, (1.5, 2, np.int64(-1)), None),
    (S.numpyarg_power, (1.5, 2, -1), 0.5),
    (S.numpyarg_power_of_two, (1.5, np.int64(-1)), None),
    (S.numpyarg_power_of_two, (1.5, np.int32(3)), None),
    (S.numpyarg_power_of_two, (1.5, 3), 8.0),
    (S.numpyarg_sqrt, (1.5, np.array([4, 9], I8)), None),
    (S.numpyarg_sqrt, (1.5, np.array([4, 9], I32)), 5.0),
    (S.numpyarg_float_data, (1.5, np.array([100, -3], I8)), 97.0),
    (S.numpyarg_float_data, (1.5, np.array([7, 2], U64)), 9.0),
    (S.numpyarg_index, (1.5, np.array([1], I8), V(0.5, 2.0)), 2.0),
    (S.numpyarg_compare, (1.5, np.array([5], I8)), 2.0),
    (S.numpyarg_compare, (1.5, np.array([2 ** 64 - 1], U64)), None),
    (S.numpyarg_compare, (1.5, np.array([2], U64)), 1.0),
    (S.numpyarg_float_power, (1.5, np.int64(-2)), -2 * 1.5 ** -3),
    (S.numpyarg_float_power, (1.5, np.int32(3)), 3 * 1.5 ** 2),
    (S.numpyarg_arctan2, (1.5, np.array([1, 2], I8)), None),
    (S.numpyarg_arctan2, (1.5, np.array([1, 2], I32)), math.atan2(1, 2)),
    (S.numpyarg_true_division, (1.5, np.array([4, 9], I8)), 13 / 3),
    (S.numpyarg_outer, (1.5, np.array([50000, 50000], I32)), None),
    (S.numpyarg_outer, (1.5, np.array([5, 7])), 144.0),
    (S.numpyarg_length, (1.5, np.array([2, 1, 2], I32)), 1.0),
]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
@pytest.mark.parametrize("fn, args, want", NUMPYARG, ids=[f"{fn.__name__}-{k}" for k, (fn, _, _) in enumerate(NUMPYARG)])
def test_numpys_int_arguments_are_refused_where_converting_them_changes_the_function(fn, args, want, jit):
    """The API computes with Python's ints and int64 arrays: NumPy's int numbers and int arrays of other
    widths are converted.  Where the function computes from them what the conversion would change
    (`ir.numbers.int_parameter_uses`: arithmetic wrapping at the array's width, NumPy's int powers, which
    raise for a negative exponent, float16 results of NumPy's functions of 8-bit ints, a uint64 beyond
    int64), the call is an ArgumentError; elsewhere the gradient is the hand formula's.  Before, each
    refused case gave a number where Python gives another one or raises."""
    from autodiff_compiler.errors import ArgumentError
    with np.errstate(over="ignore"):
        try:
            fn(*args)
        except ValueError:
            assert want is None                              # NumPy's ints to a negative power
    g = grad(fn, wrt=0, jit=jit)
    if want is None:
        with pytest.raises(ArgumentError, match="NumPy's"):
            g(*args)
    else:
        assert g(*args) == pytest.approx(want, rel=1e-12)


def _numpy_int_successor(x, k):
    m = k + 1                           # of NumPy's largest int64: the smallest
    return x * (m > k) + x * float(k * k)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
def test_numpys_int64_numbers_raise_compiled_where_they_wrap(simplify):
    """An `np.int64` argument is NumPy's number in the function: its arithmetic wraps around.  The compiled
    gradient raises where it would wrap (`INT64_PARAM`: the argument is made Python's int, checked for
    64 bits), and gives the function's derivative inside 64 bits, as the gradient for Python does.  (For
    Python, the argument is Python's int, which grows where NumPy's wraps: see the README.)"""
    from autodiff_compiler.errors import ArgumentError
    with np.errstate(over="ignore"):
        for k in (np.int64(2 ** 63 - 1), np.int64(2 ** 32), np.int64(-7), np.int64(3)):
            d = 0.25
            want = (_numpy_int_successor(1.5 + d, k) - _numpy_int_successor(1.5 - d, k)) / (2 * d)
            compiled = grad(_numpy_int_successor, wrt=0, simplify=simplify)
            if abs(int(k)) >= 2 ** 31:
                with pytest.raises(ArgumentError, match="beyond the 64 bits"):
                    compiled(1.5, k)
            else:
                for g in (compiled, grad(_numpy_int_successor, wrt=0, jit=False, simplify=simplify)):
                    assert g(1.5, k) == pytest.approx(want)
                    assert g(1.5, int(k)) == pytest.approx(want)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
def test_numpys_int64_arguments_bound_loops_as_pythons_ints(simplify):
    """`np.int64` arguments as loop bounds near the int64 edges: the gradient for Python computes the
    reverse sweep's bounds and the tape's size in Python's ints (the second review found a gradient of
    1.0 where it is 17.5, a loop of 2 ** 63 trips and an InternalError when they were NumPy's); compiled,
    the derivative or an ArgumentError beyond 64 bits.  Against central differences and hand values."""
    from autodiff_compiler.errors import ArgumentError
    cases = ((S.intwrap_argument_range_step, np.int64(-2 ** 63 + 1), 17.5),
             (S.intwrap_argument_range_step, np.int64(2), 17.5),
             (S.intwrap_argument_range_from_one, np.int64(-2 ** 63), 1.0),
             (S.intwrap_argument_range_from_one, np.int64(4), 4 * 1.5 ** 3))
    for fn, k, want in cases:
        assert (fn(1.5 + 1e-6, k) - fn(1.5 - 1e-6, k)) / 2e-6 == pytest.approx(want, rel=1e-6)
        assert grad(fn, wrt=0, jit=False, simplify=simplify)(1.5, k) == pytest.approx(want, rel=1e-12)
        try:
            assert grad(fn, wrt=0, simplify=simplify)(1.5, k) == pytest.approx(want, rel=1e-12)
        except ArgumentError as err:
            assert abs(int(k)) > 2 ** 62 and "beyond the 64 bits" in str(err)
    assert hessian(S.intwrap_argument_range_step, wrt=0, jit=False)(1.5, np.int64(-2 ** 63 + 1)) == pytest.approx(29.0)


def test_a_trip_count_that_would_trap_raises_compiled():
    """`len(range(2 ** 63 - 1, -1, -1))` divides the smallest int64 by -1 in Numba's code: a hardware trap
    that kills the process.  The trip count a flag reads (`frontend.number_flags`) is checked first, so
    the compiled gradient raises an ArgumentError.  (Python's `len` of that range raises OverflowError
    too: `jit=False` refuses it as well, a false error of a loop of 2 ** 63 trips.)"""
    from autodiff_compiler.errors import ArgumentError
    args = (1.5, V(2.0), 2 ** 63 - 1, -1, -1)
    assert S.intwrap_range_trap(*args) == pytest.approx(1.5 / 2.0)
    for simplify in (True, False):
        with pytest.raises(ArgumentError, match="beyond the 64 bits"):
            grad(S.intwrap_range_trap, wrt=0, simplify=simplify)(*args)


def test_only_ranges_whose_bounds_may_wrap_are_checked():
    """Loops over an axis, and `range(k)` of a loop index, stay inside 64 bits (`frontend.lower._range_fits`):
    no check.  `range(n)` of an int parameter (the reverse sweep starts at `n - 1`, which wraps at the
    smallest int64), `range(1, n)` (`1 - n` wraps there too) and a range of an unknown step are checked in
    the module Numba compiles, before the loop and its tape; the module for Python has no check."""
    def counted(x, n):
        s = x
        for i in range(n):
            s = s * x
        return s

    def triangle(x, n):
        s = x
        for i in range(n):
            for j in range(i):          # i lies in [0, n - 1]: no check
                s = s * x
        return s

    g = grad(triangle, wrt=0)
    assert g(1.5, 4) == pytest.approx(7 * 1.5 ** 6)
    assert g.compiled_source.count("= range_check(") == 1 and "= range_check(0, n, 1)" in g.compiled_source
    for fn, args, checked, loop in (
            (counted, (1.5, 3), "range_check(0, n, 1)", "for i in range(n)"),
            (S.loopfuse_horner, (1.5, V(1.0, 2.0, 3.0)), None, None),
            (S.intwrap_range_from_one, (1.5, 3), "range_check(1, n, 1)", "for i in range(1, n)"),
            (S.intwrap_range_step, (1.5, 7, 2), "range_check(0, n, k)", "len(range(0, n, k))"),    # the tape's size
            (S.intwrap_range_nested, (1.5, V(0.5, 2.0), 5, 2), "range_check(0, n, k)", "for i in range(0, n, k)")):
        g = grad(fn, wrt=0)
        g(*args)
        assert "range_check" not in g.source
        if checked is None:
            assert "range_check(" not in g.compiled_source, fn
        else:
            body = g.compiled_source.split(f"def {fn.__name__}_grad(")[1]
            assert checked in body and body.index(checked) < body.index(loop), (fn, g.compiled_source)


def test_the_checked_int_helpers_agree_with_pythons_ints_compiled():
    """Each of `runtime`'s checked int helpers, compiled by Numba, returns Python's exact result where it fits
    in 64 bits and raises OverflowError where it does not, at the edges (the largest and smallest int64,
    products near 2 ** 63 either side) and at random pairs.  A test of the result after the operation
    would be folded away (Numba's `add nsw`): these test before."""
    import itertools
    import random
    import numba
    from autodiff_compiler.backend import runtime
    top, bottom = 2 ** 63 - 1, -2 ** 63
    mul = numba.njit(runtime.int_mul)
    compiled = {name: numba.njit(getattr(runtime, name)) for name in ("int_add", "int_sub", "int_neg", "int_abs",
                                                                      "int_floordiv")}
    compiled["int_mul"] = mul
    namespace = dict(vars(runtime), int_mul=mul)
    exec(runtime.SOURCES["int_pow"], namespace)
    compiled["int_pow"] = numba.njit(namespace["int_pow"])
    exact = {"int_add": lambda a, b: a + b, "int_sub": lambda a, b: a - b, "int_mul": lambda a, b: a * b,
             "int_pow": lambda a, m: a ** m, "int_neg": lambda a: -a, "int_abs": abs, "int_floordiv": lambda a, b: a // b}
    rng = random.Random(7)
    edges = [0, 1, -1, 2, -2, 3, top, bottom, top - 1, bottom + 1, 2 ** 62, -2 ** 62, 3037000499, 3037000500,
             -3037000500, 3037000501, 6074000998, 2 ** 32, -2 ** 32, 2 ** 31 + 1, 2 ** 62 - 1, -2 ** 62 - 1]
    values = edges + [rng.randint(bottom, top) for _ in range(25)] + [rng.randint(-2 ** 33, 2 ** 33) for _ in range(25)]
    checked = 0
    for name, fn in compiled.items():
        if name in ("int_neg", "int_abs"):
            cases = [(a,) for a in values]
        elif name == "int_pow":
            cases = [(a, m) for a in values[:30] for m in range(0, 66, 3)]
        else:
            cases = [(a, b) for a, b in itertools.product(values, values) if not (name == "int_floordiv" and b == 0)]
        for args in cases:
            want = exact[name](*args)
            if bottom <= want <= top:
                assert fn(*args) == want, (name, args)
            else:
                with pytest.raises(OverflowError):
                    fn(*args)
            checked += 1
    assert checked > 20000


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
def test_an_int_constant_beyond_64_bits(simplify):
    """`2 ** 70` (a constant the simplifier folds) and `10 ** 400`: the module Numba compiles has no such int,
    so it raises where it computes with one (the simplifier may fold the whole expression first: then the
    gradient is exact); for Python the gradient is exact."""
    from autodiff_compiler.errors import ArgumentError
    assert grad(S.intwrap_folded_constant, jit=False, simplify=simplify)(1.5) == float(2 ** 70 % 7)
    if simplify:        # folded whole: float(2 ** 70 % 7) is a float constant
        assert grad(S.intwrap_folded_constant, jit=True, simplify=True)(1.5) == float(2 ** 70 % 7)
    else:
        with pytest.raises(ArgumentError, match="beyond the 64 bits"):
            grad(S.intwrap_folded_constant, jit=True, simplify=False)(1.5)
    assert grad(S.intwrap_big_constant, jit=False, simplify=simplify)(1.5, 0) == 0.0
    with pytest.raises(ArgumentError, match="beyond the 64 bits"):
        grad(S.intwrap_big_constant, jit=True, simplify=simplify)(1.5, 0)     # its constant, even times 0


# ---- random int64 programs against NumPy (the class of NUMPYWRAP)

_INT_EDGES = (0, 1, -1, 2, 7, -9, 2 ** 31, -2 ** 31 - 1, 3037000500, 2 ** 62, 2 ** 63 - 1, -2 ** 63)
_LOW, _HIGH = -2 ** 63, 2 ** 63 - 1


class _Wrapped(Exception):
    """An exact intermediate beyond int64, where NumPy's would wrap around."""


# NumPy's int64 operations of Python ints, exactly (NumPy's `//` and `%` by 0 are 0)
_EXACT_INT = {"neg": lambda a: -a, "abs": abs, "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
              "mul": lambda a, b: a * b, "floordiv": lambda a, b: 0 if b == 0 else a // b,
              "mod": lambda a, b: 0 if b == 0 else a % b, "pow": lambda a, b: a ** b, "max": max,
              "where": lambda c, a, b: a if c > 0 else b}


def _exact_int(op, *xs):
    r = _EXACT_INT[op](*xs)
    if not _LOW <= r <= _HIGH:
        raise _Wrapped
    return r


def _draw_int_vector(rng, depth):
    """(source, exact evaluator of (iv, jv, k) as lists of Python ints) of an int64 vector expression."""
    if depth == 0 or rng.random() < 0.25:
        leaf = rng.choice(["iv", "jv", "iv[::-1]", "k", "where", "where"])
        if leaf == "k":
            return "(iv * 0 + k)", lambda e: [e["k"]] * len(e["iv"])
        if leaf == "where":     # elements made from constants alone: Python's ints in a fused loop for Python
            yes, no = rng.choice([(3037000500, -9), (2 ** 62, -2 ** 62), (2 ** 63 - 1, 7)])
            return f"np.where(jv > 0, {yes}, {no})", lambda e: [yes if y > 0 else no for y in e["jv"]]
        if leaf == "iv[::-1]":
            return leaf, lambda e: e["iv"][::-1]
        return leaf, lambda e, leaf=leaf: list(e[leaf])
    op = rng.choice(["neg", "abs", "add", "sub", "mul", "floordiv", "mod", "pow", "max", "where", "const"])
    a_src, a = _draw_int_vector(rng, depth - 1)
    if op in ("neg", "abs"):
        src = f"(-{a_src})" if op == "neg" else f"np.abs({a_src})"
        return src, lambda e: [_exact_int(op, x) for x in a(e)]
    if op == "pow":
        p = rng.choice([2, 3])
        return f"({a_src} ** {p})", lambda e: [_exact_int("pow", x, p) for x in a(e)]
    if op == "const":
        c = rng.choice([1, -1, 3, 0, 1000, 3037000500])
        sym = rng.choice(["add", "mul", "floordiv", "mod", "max"])
        if sym == "max":        # np.maximum's element may be the constant itself
            return f"np.maximum({a_src}, {c})", lambda e: [_exact_int("max", x, c) for x in a(e)]
        text = {"add": "+", "mul": "*", "floordiv": "//", "mod": "%"}[sym]
        return f"({a_src} {text} {c})", lambda e: [_exact_int(sym, x, c) for x in a(e)]
    b_src, b = _draw_int_vector(rng, depth - 1)
    if op == "max":
        return f"np.maximum({a_src}, {b_src})", lambda e: [_exact_int("max", x, y) for x, y in zip(a(e), b(e))]
    if op == "where":
        c_src, c = _draw_int_vector(rng, depth - 1)
        return (f"np.where({c_src} > 0, {a_src}, {b_src})",
                lambda e: [_exact_int("where", z, x, y) for z, x, y in zip(c(e), a(e), b(e))])
    text = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%"}[op]
    return f"({a_src} {text} {b_src})", lambda e: [_exact_int(op, x, y) for x, y in zip(a(e), b(e))]


_INT_PROGRAM = """import numpy as np


def f(x, iv, jv, k):
    e = {expr}
    return {result}
"""
# what f returns of e, by seed: e kept as an array (read at e[0]); e only inside one sum, fused into its loop;
# the int sum of e, fused (its total was a float: 2 ** 53 + 1 rounded, 2 ** 63 - 1 + 7 did not wrap)
_INT_RESULTS = ("np.sum(x * np.where(e > 0, 1.0, 2.0)) + x * float(e[0] % 1000)",
                "np.sum(x * np.where(e > 0, 1.0, 2.0) + x * (e % 1000))",
                "x * float(np.sum(e) % 1000)",
                "np.sum(x * np.where(e > 0, 1.0, 2.0) + x * (e % 1000))")


def _int_program(seed, tmp_path):
    rng = random.Random(seed)
    src, evaluate = _draw_int_vector(rng, 3)
    path = tmp_path / f"ints_{seed}.py"
    path.write_text(_INT_PROGRAM.format(expr=src, result=_INT_RESULTS[seed % 4]))
    spec = importlib.util.spec_from_file_location(f"ints_{seed}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    points = []
    for _ in range(3):
        iv = [rng.choice(_INT_EDGES) for _ in range(3)]
        jv = [rng.choice(_INT_EDGES) for _ in range(3)]
        points.append((iv, jv, rng.choice(_INT_EDGES[:8])))
    return src, module.f, evaluate, points


# (35 and 53 gave Python's ints where NumPy wraps, in a fused loop of elements made from constants alone;
# 2 and 6, a float total of an int sum)
@pytest.mark.parametrize("seed", [*range(8), 35, 53])
def test_random_int_array_programs_are_numpys_or_raise_beyond_64_bits(seed, tmp_path):
    """Random int64 vector expressions (+ - * // % **, negation, abs, np.maximum, np.where, constants and a
    parameter; elements made from constants alone, which a fused loop for Python held as Python's ints) at points drawn from the int64 edges: the gradient for Python is NumPy's, wrapped values
    included; the compiled one is NumPy's too, or (only where an exact intermediate leaves 64 bits, which
    `_exact_int` evaluates in Python's ints) an ArgumentError saying so.  The class of NUMPYWRAP's
    findings: LLVM folded `t + 1 > t`, Numba's np.remainder trapped, a product was float64."""
    from autodiff_compiler.errors import ArgumentError
    src, f, evaluate, points = _int_program(seed, tmp_path)
    for iv, jv, k in points:
        args = (1.5, np.array(iv, dtype=np.int64), np.array(jv, dtype=np.int64), k)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                numpy_says = f(1.0, *args[1:]) - f(0.0, *args[1:])
            except (ValueError, OverflowError) as exc:
                numpy_says = exc
        try:
            exact = evaluate({"iv": iv, "jv": jv, "k": k})
            if seed % 4 == 2 and not _LOW <= sum(exact) <= _HIGH:     # the sum's total, NumPy's, wraps
                exact = None
        except _Wrapped:
            exact = None
        for jit in (True, False):
            g = grad(f, wrt=0, jit=jit)
            where = f"seed {seed}: {src} at {args[1:]} jit={jit}"
            if isinstance(numpy_says, Exception):
                continue
            try:
                got = g(*args)
            except ArgumentError as err:
                assert jit and exact is None and "64 bits" in str(err), f"{where}: {err}"
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert got == numpy_says, f"{where}: got {got}, NumPy's {numpy_says}"


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_atan2_partials_neither_underflow_nor_overflow(jit):
    """The rule's partials were y/(x**2 + y**2): 0 + 0 where x and y are near 1e-160, a false "division by
    zero" (fuzz seed 110, scalar-21 at --scale 1e100), and inf near 1e155; over hypot they are neither.
    Against the hand partials in 60-digit arithmetic, at tiny, huge and ordinary points."""
    import mpmath

    def angle(a, b):
        return math.atan2(a, b) * 2.0

    g = grad(angle, wrt=(0, 1), jit=jit)
    for a, b in ((1e-160, 3e-161), (-2e-170, 1e-170), (1e155, -4e154), (3e200, 1e200), (0.5, -1.5), (-2.0, 0.3)):
        with mpmath.workdps(60):
            A, B = mpmath.mpf(a), mpmath.mpf(b)
            want = (2 * B / (A * A + B * B), -2 * A / (A * A + B * B))
        got = g(a, b)
        for value, exact in zip(got, want):
            assert abs(value - exact) <= 1e-14 * abs(exact), (a, b, got)
