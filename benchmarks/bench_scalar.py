"""Scalar group: the four examples, against hand-written Numba gradients.

Also the cold first call (import + grad() + Numba compilation, in a fresh
process with an empty cache directory) and the warm one (a second fresh
process reusing that cache directory), beside the same two figures for a
trivial `numba.njit(cache=True)` function: the floor under any Numba-based
tool on this machine.
"""
import math

import numba

import scalar_fns as fns
from harness import (Metric, Workload, bench_workload, first_call_note, first_call_times,
                     guarded, numba_floor_times)

GROUP = "scalar"


# ----------------------------------------------- hand-written gradients

@numba.njit
def d_square(x):
    return 2.0 * x


@numba.njit
def d_chain(x):
    return 2.0 * x * math.cos(x * x)


@numba.njit
def d_poly(x):
    return 2.0 * x + 3.0


@numba.njit
def d_two_stage(x, a, b):
    y = a * x * x + b * x + 1.0
    dz_dy = 2.0 * y + 2.0
    return dz_dy * (2.0 * a * x + b), dz_dy * x * x, dz_dy * x


@numba.njit
def d_logistic(w, b, x, y):
    y_hat = 1.0 / (1.0 + math.exp(-(w * x + b)))
    if y_hat < 1e-8 or y_hat > 1.0 - 1e-8:   # clamped: the loss is flat there
        return 0.0, 0.0
    d = y_hat - y                            # dloss/dz
    return d * x, d


WORKLOADS = [
    Workload("square", fns.square, (3.0,), d_square,
             check_points=((-1.5,), (0.0,), (7.25,))),
    Workload("chain_rule", fns.chain, (4.0,), d_chain,
             check_points=((-1.5,), (0.3,), (2.0,))),
    Workload("polynomial", fns.poly, (2.0,), d_poly,
             check_points=((-1.5,), (0.0,), (11.0,))),
    Workload("two_stage", fns.two_stage, (1.0, 2.0, 3.0), d_two_stage, wrt=("x", "a", "b"),
             check_points=((-0.5, 1.5, -2.0), (2.0, -1.0, 0.25))),
    Workload("logistic", fns.logistic, (1.0, 0.0, 6.7, 0.0), d_logistic, wrt=("w", "b"),
             check_points=((0.3, -0.2, 1.5, 1.0), (-2.0, 0.5, 0.7, 0.0),
                           (5.0, 0.0, 6.7, 0.0))),        # the last one is clamped
]

COLD_TARGET, WARM_TARGET = 1.0, 0.2
# fresh-process first calls: the smallest and the largest example
FIRST_CALL_WORKLOADS = [WORKLOADS[1], WORKLOADS[-1]]


def run(cfg):
    results = []
    for w in WORKLOADS:
        t = guarded(cfg, GROUP, w.name, bench_workload, GROUP, w, cfg)
        if t is not None:
            results.append(t)
    for w in FIRST_CALL_WORKLOADS:
        r = guarded(cfg, GROUP, w.name + " first call", first_call_times,
                    "scalar_fns", w.fn.__name__, w.args, w.wrt, cfg)
        if r is None:
            continue
        cold, warm = r
        results.append(Metric(GROUP, f"{w.name} first call, empty cache", cold["total"], "s",
                              COLD_TARGET, note=first_call_note(cold, "grad() + first call")))
        results.append(Metric(GROUP, f"{w.name} first call, cache reused", warm["total"], "s",
                              WARM_TARGET, note=first_call_note(warm, "grad() + first call")))
    r = guarded(cfg, GROUP, "numba floor", numba_floor_times, cfg)
    if r is not None:
        cold, warm = r
        results.append(Metric(GROUP, "reference: plain njit(cache=True), empty cache", cold["total"], "s",
                              note=first_call_note(cold, "first call") + "; sin(x*x), no autodiff"))
        results.append(Metric(GROUP, "reference: plain njit(cache=True), cache reused", warm["total"], "s",
                              note=first_call_note(warm, "first call") + "; sin(x*x), no autodiff"))
    return results
