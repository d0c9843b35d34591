"""Control-flow group.

(a) a 1000-step scalar recurrence, gradient wrt its starting value, against a
    hand-written Numba adjoint loop (forward sweep stores x per step in a
    preallocated float64 array, reverse sweep walks it backwards);
(b) tape memory of the same recurrence at 10**6 steps, in bytes per step;
(c) cold compile time of a function with ten nested ifs inside three nested loops.
"""
import math

import numba
import numpy as np

import control_flow_fns as fns
from harness import Metric, Workload, bench_workload, run_fresh, guarded

GROUP = "control_flow"
N_STEPS = 1000


@numba.njit
def d_recurrence(x, n):
    xs = np.empty(n)                         # the tape: one float per step
    for i in range(n):
        xs[i] = x
        x = math.sin(x) * 0.9 + 0.1 * math.cos(x)
    x_bar = 1.0
    for i in range(n - 1, -1, -1):
        xi = xs[i]
        x_bar *= 0.9 * math.cos(xi) - 0.1 * math.sin(xi)
    return x_bar


RECURRENCE = Workload(f"recurrence n={N_STEPS}", fns.recurrence, (0.5, N_STEPS), d_recurrence,
                      check_points=((-2.0, 10), (1.3, 1), (0.7, 0), (3.0, 250)))

# ---------------------------------------------------------------- (b) tape memory
# Peak memory of one call at n = 10**6 minus that at n = 10, divided by the extra
# steps. Two independent measurements in a fresh process: tracemalloc's peak
# (Numba's runtime allocates arrays through the Python raw allocator, which
# tracemalloc traces, so this is exact) and the peak RSS, reset before each call
# through /proc/self/clear_refs (Linux only; page-granular, and only meaningful for
# the first large allocation of a process, hence one process per variant).

TAPE_CODE = """\
import json, tracemalloc
which = {which!r}
if which == "ours":
    import autodiff_compiler
    from control_flow_fns import recurrence
    f = autodiff_compiler.grad(recurrence)
else:
    from bench_control_flow import d_recurrence as f

def rss_peak_delta(n):
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")                       # reset VmHWM to the current RSS
    except OSError:
        return None
    def status(key):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    before = status("VmRSS:")
    f(0.5, n)
    return status("VmHWM:") - before

def traced_peak_delta(n):
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    f(0.5, n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - before

small, big = 10, 10**6
f(0.5, small)                                   # compile
r_big = rss_peak_delta(big)                     # first big allocation in this process
r_small = rss_peak_delta(small)
traced = (traced_peak_delta(big) - traced_peak_delta(small)) / (big - small)
rss = None if r_big is None else (r_big - r_small) / (big - small)
print(json.dumps({{"traced": traced, "rss": rss}}))
"""

TAPE_TARGET = 8.0     # bytes per step per carried float; the recurrence carries one

# ---------------------------------------------------------------- (c) compile time

COMPILE_CODE = """\
import json, time
import numba
import autodiff_compiler
from control_flow_fns import branchy
args = (0.75, 4)
t0 = time.perf_counter()
g = autodiff_compiler.grad(branchy)
derive = None
try:                                  # split derivation from Numba compilation, if the API allows
    g.state_for(g.signature(args))
    derive = time.perf_counter() - t0
except Exception:
    pass
v = g(*args)
t1 = time.perf_counter()
hits = None
try:
    hits = sum(g.compiled_for(*args, value=False).stats.cache_hits.values())
except Exception:
    pass
h = 1e-6
fd = (branchy(args[0] + h, args[1]) - branchy(args[0] - h, args[1])) / (2 * h)
print(json.dumps({"compile": t1 - t0, "derive": derive, "grad": v, "fd": fd, "cache_hits": hits}))
"""


def tape_memory(cfg):
    import tempfile
    with tempfile.TemporaryDirectory(prefix="adc-bench-cache-") as d:
        ours = run_fresh(TAPE_CODE.format(which="ours"), d, cfg)
        hand = run_fresh(TAPE_CODE.format(which="hand"), d, cfg)
    rss = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    return [Metric(GROUP, "recurrence tape, ours", ours["traced"], "B/step", TAPE_TARGET,
                   note=f"tracemalloc peak, n=1e6 vs n=10; peak RSS gives {rss(ours['rss'])} B/step"),
            Metric(GROUP, "recurrence tape, hand", hand["traced"], "B/step", TAPE_TARGET,
                   note=f"reference (one float64 per step); peak RSS gives {rss(hand['rss'])} B/step")]


def compile_time(cfg):
    import tempfile
    with tempfile.TemporaryDirectory(prefix="adc-bench-cache-") as d:
        cold = run_fresh(COMPILE_CODE, d, cfg)
        warm = run_fresh(COMPILE_CODE, d, cfg)
    agree = math.isclose(cold["grad"], cold["fd"], rel_tol=1e-5, abs_tol=1e-6)
    if not agree:
        raise AssertionError(f"branchy: gradient {cold['grad']!r} disagrees with "
                             f"central difference {cold['fd']!r} at x=0.75, n=4")
    def note(r):
        parts = ["grad() + first call, fresh process (imports excluded)"]
        if r["derive"] is not None:
            parts.append(f"derivation {r['derive']:.2f} s, Numba {r['compile'] - r['derive']:.2f} s")
        if r["cache_hits"] is not None:
            parts.append(f"Numba cache {'hit' if r['cache_hits'] else 'miss'}")
        return "; ".join(parts)
    return [Metric(GROUP, "10 ifs x 3 loops, compile, empty cache", cold["compile"], "s", None,
                   note=note(cold) + "; gradient matches finite differences"),
            Metric(GROUP, "10 ifs x 3 loops, compile, cache reused", warm["compile"], "s", None,
                   note=note(warm))]


def run(cfg):
    results = []
    t = guarded(cfg, GROUP, RECURRENCE.name, bench_workload, GROUP, RECURRENCE, cfg)
    if t is not None:
        results.append(t)
    for name, fn in (("tape memory", tape_memory), ("compile time", compile_time)):
        r = guarded(cfg, GROUP, name, fn, cfg)
        if r is not None:
            results.extend(r)
    return results
