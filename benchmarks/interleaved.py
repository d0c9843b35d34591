"""Before/after on one machine, interleaved: batch logistic regression and MSE at N = 10**6.

    python benchmarks/interleaved.py [ROUNDS]

Times, round-robin so that load from other work hits them alike, the hand-written
njit gradient, ours with the default settings (libmvec vector math, fixed chunks on
the calling thread), ours on the scalar path (AUTODIFF_COMPILER_SIMD=0,
AUTODIFF_COMPILER_THREADS=0: the loops as written), ours on two threads, and
jax.jit(jax.value_and_grad(f)) when jax is installed; prints the min of ROUNDS
(default 25) calls of each and the ratios.  Every gradient returns the value too.
"""
import os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
import numpy as np
import array_fns as fns
from bench_arrays import h_logreg, h_mse, _data, _settings
from autodiff_compiler import grad
x, y_cls, y_reg, _, _ = _data()
def compiled(fn, args, **env):
    with _settings(**env):
        g = grad(fn, wrt=("w", "b"))
        d = g.compiled_for(*args); d(*args)
    return d
try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
except ImportError:
    jax = None
def jl(w, b, x, y):
    jnp = sys.modules["jax.numpy"]
    p = 1.0 / (1.0 + jnp.exp(-(w * x + b)))
    return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p))
def jm(w, b, x, y):
    jnp = sys.modules["jax.numpy"]
    return jnp.mean((w * x + b - y) ** 2)
for name, fn, hand, jf, args in [("logreg N=1e6", fns.logreg_vec, h_logreg, jl, (0.7, -0.1, x, y_cls)),
                                 ("mse N=1e6", fns.mse_vec, h_mse, jm, (1.3, 0.2, x, y_reg))]:
    cands = {"hand njit": hand,
             "ours (default)": compiled(fn, args),
             "ours scalar path (SIMD=0, THREADS=0)": compiled(fn, args, AUTODIFF_COMPILER_SIMD="0", AUTODIFF_COMPILER_THREADS="0"),
             "ours SIMD, 2 threads": compiled(fn, args, AUTODIFF_COMPILER_THREADS="2")}
    if jax is not None:
        gj = jax.jit(jax.value_and_grad(jf, argnums=(0, 1)))
        jargs = tuple(jnp.asarray(a) for a in args)
        cands["jax.jit(value_and_grad)"] = lambda *a, gj=gj, jargs=jargs: jax.block_until_ready(gj(*jargs))
    for f in cands.values():
        f(*args)
    best = {k: 1e9 for k in cands}
    for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 25):
        for k, f in cands.items():
            t = time.perf_counter(); f(*args); best[k] = min(best[k], time.perf_counter() - t)
    h = best["hand njit"]
    print(name)
    for k, v in best.items():
        vs_jax = f"   /jax {v / best['jax.jit(value_and_grad)']:5.2f}" if jax is not None else ""
        print(f"  {k:40s} {v*1e3:8.3f} ms   /hand {v/h:5.2f}{vs_jax}")
