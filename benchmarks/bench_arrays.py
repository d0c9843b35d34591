"""Array group: batch logistic regression (mean BCE), MSE and Rosenbrock.

Each workload is timed three ways: the primal (`numba.njit(f)`), a hand-written
`numba.njit` gradient (one fused loop returning `(value, grads...)`) and our
compiled gradient, both as `g(*args)` and as the raw Numba dispatcher from
`g.compiled_for(*args)` (which returns `(value, grads...)`, like the hand one).
The in-njit-loop table calls all three from compiled code. Ratios use `g(*args)`
in the Python table and the dispatcher in the in-loop table.

Peak memory of one call is measured with tracemalloc (Numba's arrays come from
Python's allocator, so it sees them): ours, beyond the gradient arrays it
returns, against the primal's. `jax.jit(jax.grad(f))` is timed on the vectorised workloads only
if jax is importable; otherwise the group prints 'jax: not installed'.

Before/after in the same run: the workloads marked `paths` are timed again on
the scalar path (`[scalar: SIMD=0, threads=0]`: AUTODIFF_COMPILER_SIMD=0 and
AUTODIFF_COMPILER_THREADS=0, the loops as written, scalar `math.exp`) and with
chunks on two threads (`[simd, 2 threads]`); the plain rows use the default
settings (libmvec where present, fixed chunks on the calling thread).
"""
import contextlib
import os
import time
from dataclasses import replace

import numba
import numpy as np

import array_fns as fns
from harness import Metric, Timing, _best_per_call, against_jax, as_tuple, guarded, time_from_python, time_unpromoted

GROUP = "arrays"
N = 10**6
SEED = 0


# ----------------------------------------------- hand-written gradients

@numba.njit
def h_logreg(w, b, x, y):
    n = x.shape[0]
    s = 0.0
    dw = 0.0
    db = 0.0
    for i in range(n):
        p = 1.0 / (1.0 + np.exp(-(w * x[i] + b)))
        s -= y[i] * np.log(p) + (1.0 - y[i]) * np.log(1.0 - p)
        d = p - y[i]                         # dloss_i/dz_i
        dw += d * x[i]
        db += d
    return s / n, dw / n, db / n


@numba.njit
def h_mse(w, b, x, y):
    n = x.shape[0]
    s = 0.0
    dw = 0.0
    db = 0.0
    for i in range(n):
        r = w * x[i] + b - y[i]
        s += r * r
        dw += r * x[i]
        db += r
    return s / n, 2.0 * dw / n, 2.0 * db / n


@numba.njit
def h_rosenbrock(x):
    n = x.shape[0]
    g = np.zeros(n)
    s = 0.0
    for i in range(n - 1):
        a = x[i + 1] - x[i] * x[i]
        c = 1.0 - x[i]
        s += 100.0 * a * a + c * c
        g[i] += -400.0 * a * x[i] - 2.0 * c
        g[i + 1] += 200.0 * a
    return s, g


# ----------------------------------------------------------- workloads

def _data():
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(N)
    y_cls = (rng.random(N) < 1.0 / (1.0 + np.exp(-(1.5 * x - 0.3)))).astype(np.float64)
    y_reg = 2.0 * x + 0.5 + 0.1 * rng.standard_normal(N)
    xr3 = rng.uniform(-2.0, 2.0, 10**3)
    xr5 = rng.uniform(-2.0, 2.0, 10**5)
    return x, y_cls, y_reg, xr3, xr5


def _workloads():
    x, y_cls, y_reg, xr3, xr5 = _data()
    wb = ("w", "b")
    return [  # name, fn, wrt, args, hand
        ("logreg_bce_vec (n=1e6)", fns.logreg_vec, wb, (0.7, -0.1, x, y_cls), h_logreg),
        ("logreg_bce_loop (n=1e6)", fns.logreg_loop, wb, (0.7, -0.1, x, y_cls), h_logreg),
        ("mse_vec (n=1e6)", fns.mse_vec, wb, (1.3, 0.2, x, y_reg), h_mse),
        ("mse_loop (n=1e6)", fns.mse_loop, wb, (1.3, 0.2, x, y_reg), h_mse),
        ("rosenbrock_vec (n=1e3)", fns.rosenbrock_vec, ("x",), (xr3,), h_rosenbrock),
        ("rosenbrock_vec (n=1e5)", fns.rosenbrock_vec, ("x",), (xr5,), h_rosenbrock),
    ]


def _check(name, got, want):
    got, want = as_tuple(got), as_tuple(want)
    assert len(got) == len(want), f"{name}: {len(got)} values, hand-written {len(want)}"
    for i, (u, v) in enumerate(zip(got, want)):
        assert np.allclose(u, v, rtol=1e-9, atol=1e-12), \
            f"{name}: output {i} disagrees with the hand-written gradient: {u!r} vs {v!r}"


def _njit_loop(F, args, skip_first):
    """njit loop calling F(*args) n times from compiled code.

    The first argument changes every iteration (a scalar by i*1e-15; an array
    in place at element 0, restored afterwards, so no copy is timed) and part of
    every result (element 0 of an array) is summed, so the call stays in the loop. The value is summed too, so LLVM cannot drop its computation from an inlined hand-written gradient.
    """
    r = as_tuple(F(*args))
    names = [f"a{i}" for i in range(len(args))]
    terms = [f"r{'' if len(r) == 1 and not isinstance(F(*args), tuple) else f'[{i}]'}"
             + ("[0]" if isinstance(v, np.ndarray) else "")
             for i, v in enumerate(r) if not (skip_first and i == 0)]
    if isinstance(args[0], np.ndarray):
        pre, call0, post = "    x00 = a0[0]\n", "a0", "    a0[0] = x00\n"
        nudge = "        a0[0] = x00 + i * 1e-15\n"
    else:
        pre, call0, post, nudge = "", "a0 + i * 1e-15", "", ""
    src = (f"def loop({', '.join(names)}, n):\n"
           f"    acc = 0.0\n{pre}"
           f"    for i in range(n):\n{nudge}"
           f"        r = F({', '.join([call0] + names[1:])})\n"
           f"        acc += {' + '.join(terms)}\n"
           f"{post}    return acc\n")
    ns = {"F": F}
    exec(src, ns)
    return numba.njit(ns["loop"])


def _time_in_loop(F, args, cfg, skip_first=False):
    jloop = _njit_loop(F, args, skip_first)
    jloop(*args, 1)

    def run_n(n):
        t0 = time.perf_counter()
        jloop(*args, n)
        return time.perf_counter() - t0
    return _best_per_call(run_n, cfg)


@contextlib.contextmanager
def _settings(**env):
    """Derive and compile under these AUTODIFF_COMPILER_* settings (SIMD detection re-read)."""
    from autodiff_compiler.backend import vecmath
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    vecmath._state.clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        vecmath._state.clear()


PATHS = [("[scalar: SIMD=0, threads=0]", {"AUTODIFF_COMPILER_SIMD": "0", "AUTODIFF_COMPILER_THREADS": "0"}),
         ("[simd, 2 threads]", {"AUTODIFF_COMPILER_THREADS": "2"})]


def _bench(name, fn, wrt, args, hand, cfg):
    from autodiff_compiler import grad

    g = grad(fn, wrt=wrt)
    d = g.compiled_for(*args)
    want = hand(*args)
    _check(name + " (compiled dispatcher)", d(*args), want)
    _check(name + " (g(*args))", g(*args), want[1:] if len(want) > 2 else want[1])
    primal = numba.njit(fn)
    assert np.isclose(primal(*args), want[0], rtol=1e-9), f"{name}: primal value disagrees"
    t = Timing(GROUP, name)
    t.primal = time_from_python(primal, args, cfg)
    t.hand = time_from_python(hand, args, cfg)
    t.ours = time_unpromoted(g, args, cfg)
    t.ours_native = time_from_python(g.native(*args), args, cfg)
    t.ours_dispatcher = time_from_python(d, args, cfg)
    t.primal_loop = _time_in_loop(primal, args, cfg)
    t.hand_loop = _time_in_loop(hand, args, cfg)
    t.ours_loop = _time_in_loop(d, args, cfg)
    t.note = ("arrays: in-loop time of ours uses g.compiled_for(*args); hand-written gradients "
              "return the value too")
    return t


def _peak_bytes(f, args):
    """Peak bytes allocated during one call, and the bytes of the arrays it returns."""
    import tracemalloc
    f(*args)                                   # compiled and warm
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = f(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    returned = sum(o.nbytes for o in (out if isinstance(out, tuple) else (out,)) if isinstance(o, np.ndarray))
    return peak, returned


SCRATCH = 64 * 1024


def _memory(name, fn, wrt, args, hand):
    from autodiff_compiler import grad
    d = grad(fn, wrt=wrt).compiled_for(*args)
    primal, _ = _peak_bytes(numba.njit(fn), args)
    ours, ours_out = _peak_bytes(d, args)
    hand_peak, hand_out = _peak_bytes(hand, args)
    # the target: no more than the primal's temporaries, or than the fixed blocks the vector calls fill
    # (SCRATCH: a few thousand lanes, whatever N is): issue 11's "0 MB extra per call" at N = 10**6
    return Metric(GROUP, f"{name} peak memory beyond results", ours - ours_out, "B", target=max(primal, SCRATCH),
                  note=f"ours {ours - ours_out} B + {ours_out} B of gradients; primal {primal} B; "
                       f"hand {hand_peak - hand_out} B + {hand_out} B")


# ------------------------------------------------------------------ jax

# issue 11: batch logistic regression and MSE over 10**6 samples no slower than JAX, called the same way
JAX_TARGETS = {fns.logreg_vec: 1.0, fns.mse_vec: 1.0}


def _jax_metrics(workloads, cfg, ours: dict):
    """`jax.jit(jax.grad(f))` of the vectorised workloads, per call from Python, and ours over it (`ours`:
    our gradient's seconds per call from Python, by workload name, measured earlier in this run)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("  jax: not installed", flush=True)
        return [Metric(GROUP, "jax.jit(jax.grad(f))", None, "s", note="jax: not installed")]
    jax.config.update("jax_enable_x64", True)

    def logreg(w, b, x, y):
        p = 1.0 / (1.0 + jnp.exp(-(w * x + b)))
        return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p))

    def mse(w, b, x, y):
        return jnp.mean((w * x + b - y) ** 2)

    def rosen(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    jfns = {fns.logreg_vec: (logreg, (0, 1)), fns.mse_vec: (mse, (0, 1)), fns.rosenbrock_vec: (rosen, 0)}
    out = []
    for name, fn, _wrt, args, _hand in workloads:
        if fn not in jfns:
            continue
        jf, argnums = jfns[fn]
        gj = jax.jit(jax.grad(jf, argnums=argnums))
        jargs = tuple(jnp.asarray(a) for a in args)
        f = lambda *a: jax.block_until_ready(gj(*a))  # noqa: E731
        s = guarded(cfg, GROUP, name + " jax", time_from_python, f, jargs, cfg)
        out.append(Metric(GROUP, f"jax.jit(jax.grad) {name}", s, "s",
                          note="" if s is None else f"{s * 1e3:.3f} ms per call"))
        out.append(against_jax(GROUP, name, ours.get(name), s, JAX_TARGETS.get(fn)))
    return out


def run(cfg):
    # a few calls per repeat (each call touches up to 10**6 elements), best of cfg.repeats
    lcfg = replace(cfg, min_time=min(cfg.min_time, 0.05), failures=cfg.failures)
    workloads = _workloads()
    results = []
    ours = {}
    for name, fn, wrt, args, hand in workloads:
        t = guarded(cfg, GROUP, name, _bench, name, fn, wrt, args, hand, lcfg)
        if t is not None:
            results.append(t)
            ours[name] = t.ours
        m = guarded(cfg, GROUP, name + " memory", _memory, name, fn, wrt, args, hand)
        if m is not None:
            results.append(m)
        if fn in (fns.logreg_vec, fns.mse_vec):
            for label, env in PATHS:
                with _settings(**env):
                    t = guarded(cfg, GROUP, f"{name} {label}", _bench, f"{name} {label}", fn, wrt, args, hand, lcfg)
                if t is not None:
                    results.append(t)
    results.extend(_jax_metrics(workloads, lcfg, ours))
    return results
