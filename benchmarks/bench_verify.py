"""Benchmark group "verify": the first call of grad(f, verify=True), in fresh processes.

Rosenbrock (vectorised) at n = 100,000, in one cache directory, four processes in turn:
grad(f) with an empty cache (Numba compiles), grad(f) again (Numba's cache), grad(f,
verify=True) (the proof is made on small instances), and grad(f, verify=True) again (the proof
is read from the cache).  Each measures imports + grad() + the first call and checks the
gradient against scipy.optimize.rosen_der.  Target: under 5 s with verify=True.
"""
from __future__ import annotations

import tempfile

from harness import Metric, run_fresh, guarded

GROUP = "verify"
N = 100_000
TARGET = 5.0

CODE = """\
import json, time
t0 = time.perf_counter()
import numpy as np
import autodiff_compiler
from array_fns import rosenbrock_vec as fn
t1 = time.perf_counter()
x = np.linspace(-1.0, 1.5, {n})
g = autodiff_compiler.grad(fn, verify={verify})
gradient = g(x)
t2 = time.perf_counter()
from scipy.optimize import rosen_der
from autodiff_compiler.verify.cache import STATS
print(json.dumps({{"import": t1 - t0, "first_call": t2 - t1, "total": t2 - t0,
                  "right": bool(np.allclose(gradient, rosen_der(x), rtol=1e-9, atol=1e-9)),
                  "proved": STATS["proved"], "cached": STATS["cached"]}}))
"""


def first_calls(cfg):
    with tempfile.TemporaryDirectory(prefix="adc-bench-verify-") as d:
        runs = [("verify=False, empty cache", False), ("verify=False, Numba cache reused", False),
                ("verify=True, proof made", True), ("verify=True, proof read from the cache", True)]
        out = []
        for label, verify in runs:
            r = run_fresh(CODE.format(n=N, verify=verify), d, cfg)
            if not r["right"]:
                raise AssertionError(f"rosenbrock n={N} ({label}): the gradient disagrees with rosen_der")
            note = (f"imports {r['import']:.2f} s + grad() and first call {r['first_call']:.2f} s; "
                    f"proofs made {r['proved']}, read from the cache {r['cached']}")
            out.append(Metric(GROUP, f"rosenbrock n={N:,} first call, {label}", r["total"], "s",
                              TARGET if verify else None, note=note))
        return out


def run(cfg):
    r = guarded(cfg, GROUP, "rosenbrock first call", first_calls, cfg)
    return r or []
