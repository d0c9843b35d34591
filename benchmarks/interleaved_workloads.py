"""Before/after on one machine, interleaved: issue 11's array workloads (an MLP, a row-wise softmax
cross-entropy, an RNN).

    python benchmarks/interleaved_workloads.py [ROUNDS]

Times, round-robin so that load from other work hits them alike, the hand-written njit gradient
(`bench_workloads`), ours with the default settings, ours derived for any shapes (`skip=("shapes",)`:
without what dispatch proves of the arguments' axes) and `jax.jit(jax.grad(f))` when jax is
installed; each called from Python, as a user calls it.  Prints the min of ROUNDS (default 15) calls
of each and the ratios.  Every gradient is checked against the hand-written one first.
"""
import sys
import time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
import numpy as np
import workload_fns as fns
from bench_workloads import _args, _jax_version, d_mlp, d_rnn, d_softmax_ce
from autodiff_compiler import grad

try:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:
    jax = None

mlp, softmax, rnn = _args()
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
for name, fn, args, hand, wrt in [("mlp 784-128-10, batch 256", fns.mlp_loss, mlp, d_mlp, (0, 1, 2, 3)),
                                  ("softmax cross-entropy 1000x100", fns.softmax_ce, softmax, d_softmax_ce, 0),
                                  ("rnn 100 steps, hidden 64", fns.rnn_loss, rnn, d_rnn, (0, 1, 2))]:
    cands = {"hand njit": hand, "ours (default)": grad(fn, wrt=wrt),
             "ours, any shapes (skip shapes)": grad(fn, wrt=wrt, skip=("shapes",))}
    want = hand(*args)
    for label in ("ours (default)", "ours, any shapes (skip shapes)"):
        got = cands[label](*args)
        for g, h in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(g, h, rtol=1e-9, atol=1e-12)
    if jax is not None:
        jf = jax.jit(jax.grad(_jax_version(fn, jnp), argnums=wrt))
        jargs = tuple(jnp.asarray(a) for a in args)
        cands["jax.jit(grad)"] = lambda *a, jf=jf, jargs=jargs: jax.block_until_ready(jf(*jargs))
    for f in cands.values():
        f(*args)
    best = {k: 1e9 for k in cands}
    for _ in range(rounds):
        for k, f in cands.items():
            t = time.perf_counter()
            f(*args)
            best[k] = min(best[k], time.perf_counter() - t)
    h = best["hand njit"]
    print(name)
    for k, v in best.items():
        vs_jax = f"   /jax {v / best['jax.jit(grad)']:5.2f}" if jax is not None else ""
        print(f"  {k:34s} {v * 1e3:8.3f} ms   /hand {v / h:5.2f}{vs_jax}")
