"""The scalar workloads inside an njit loop, interleaved with the hand-written gradients.

    python benchmarks/interleaved_scalar.py [ROUNDS] [--from-python]

For each workload of `bench_scalar` and each of ROUNDS rounds (default 7), times the
hand-written njit gradient and ours (`g.compiled_for(*args)`, the value read or not:
`value=False` compiles the gradient alone) back to back from inside an njit loop, and
prints the best per-call time of each and the ratio, round by round: load from other
work hits both alike, so the ratios are the figures to read.

With --from-python, the same rounds called from the Python interpreter instead: the
hand-written njit gradient, the gradient object `g(*args)` once its signature is hot
(called `api.NATIVE_AFTER` times first: its entry is then the router of
`backend/router.py`), and `g.native(*args)`.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import bench_scalar
from harness import Config, check_agree, time_from_python, time_in_njit_loop
from autodiff_compiler import api, grad


def main(rounds: int) -> None:
    cfg = Config()
    for w in bench_scalar.WORKLOADS:
        g = grad(w.fn) if w.wrt is None else grad(w.fn, wrt=w.wrt)
        with_value = g.compiled_for(*w.args)
        gradient_only = g.compiled_for(*w.args, value=False)
        check_agree(w.name, gradient_only, w.hand, (w.args,) + tuple(w.check_points))
        for k in range(rounds):
            hand = time_in_njit_loop(w.hand, w.args, cfg)
            ours = time_in_njit_loop(with_value, w.args, cfg, skip_first=True)
            alone = time_in_njit_loop(gradient_only, w.args, cfg)
            print(f"{w.name:<12} round {k + 1}: hand {hand * 1e9:6.2f} ns   ours {ours * 1e9:6.2f} ns "
                  f"({ours / hand:.2f})   gradient alone {alone * 1e9:6.2f} ns ({alone / hand:.2f})")


def from_python(rounds: int) -> None:
    cfg = Config()
    for w in bench_scalar.WORKLOADS:
        g = grad(w.fn) if w.wrt is None else grad(w.fn, wrt=w.wrt)
        check_agree(w.name, g, w.hand, (w.args,) + tuple(w.check_points))
        for _ in range(api.NATIVE_AFTER + 1):
            g(*w.args)
        native = g.native(*w.args)
        for k in range(rounds):
            hand = time_from_python(w.hand, w.args, cfg)
            ours = time_from_python(g, w.args, cfg)
            nat = time_from_python(native, w.args, cfg)
            print(f"{w.name:<12} round {k + 1}: hand {hand * 1e9:6.1f} ns   g(...) {ours * 1e9:6.1f} ns "
                  f"({ours / hand:.2f})   g.native(...) {nat * 1e9:6.1f} ns ({nat / hand:.2f})")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--from-python"]
    (from_python if "--from-python" in sys.argv else main)(int(arguments[0]) if arguments else 7)
