"""The array workloads from inside an njit loop, interleaved: ours against the hand-written gradient.

    python benchmarks/interleaved_in_njit.py [ROUNDS] [--scalar]

For each workload of bench_arrays.py, times an njit loop calling the hand-written
gradient and one calling ours (`g.compiled_for(*args)`, which returns the value
too, as the hand-written ones do), round-robin so that load from other work hits
both alike; prints the min over ROUNDS (default 25) of each and the ratio.
--scalar derives ours with AUTODIFF_COMPILER_SIMD=0 and AUTODIFF_COMPILER_THREADS=0
(the loops as written: no libmvec blocks, no chunks).
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from autodiff_compiler import grad  # noqa: E402
from bench_arrays import _njit_loop, _settings, _workloads  # noqa: E402


def main(argv):
    rounds = int(next((a for a in argv if a.isdigit()), 25))
    env = {"AUTODIFF_COMPILER_SIMD": "0", "AUTODIFF_COMPILER_THREADS": "0"} if "--scalar" in argv else {}
    print(f"{'workload':28s} {'hand':>11s} {'ours':>11s}  ours/hand")
    for name, fn, wrt, args, hand in _workloads():
        with _settings(**env):
            g = grad(fn, wrt=wrt)
            ours = g.compiled_for(*args)
            ours(*args)
        loops = {"hand": _njit_loop(hand, args, False), "ours": _njit_loop(ours, args, False)}
        calls = 10 if args[-1].size > 10**4 else 2000
        for loop in loops.values():
            loop(*args, 1)
        best = {key: float("inf") for key in loops}
        for _ in range(rounds):
            for key, loop in loops.items():
                t0 = time.perf_counter()
                loop(*args, calls)
                best[key] = min(best[key], (time.perf_counter() - t0) / calls)
        print(f"{name:28s} {best['hand'] * 1e6:9.2f}us {best['ours'] * 1e6:9.2f}us  {best['ours'] / best['hand']:.2f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
