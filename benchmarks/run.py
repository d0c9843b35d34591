"""Run the benchmarks and print a table.

    python benchmarks/run.py                      # every group
    python benchmarks/run.py --only scalar        # one group (repeatable, or a,b)
    python benchmarks/run.py --only accuracy      # the symbolic pass's errors, before and after
    python benchmarks/run.py --quick --markdown   # shorter timings, Markdown tables

Each group is a module `bench_<name>.py` in this directory defining
`run(cfg) -> list[harness.Timing | harness.Metric]`; to add a group, write the
module and add its name to GROUPS. Exits non-zero when a workload could not be
measured (compiler error, or a gradient that disagrees with the hand-written
one); with --strict, also when a figure misses its target.
"""
import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))          # run from a checkout without installing

import harness  # noqa: E402

GROUPS = ["scalar", "control_flow", "arrays", "verify", "distributed", "higher", "workloads", "compile",
          "accuracy"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="GROUP",
                    help=f"run only these groups ({', '.join(GROUPS)}); repeatable or comma-separated")
    ap.add_argument("--quick", action="store_true", help="shorter timing loops and fewer repeats")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--strict", action="store_true", help="exit non-zero when a target is missed")
    args = ap.parse_args(argv)

    groups = GROUPS
    if args.only:
        groups = [g.strip() for item in args.only for g in item.split(",") if g.strip()]
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            ap.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")

    cfg = harness.Config(quick=args.quick)
    if args.quick:
        cfg.min_time, cfg.repeats = 0.05, 3

    import numba
    import autodiff_compiler
    print(f"autodiff_compiler {autodiff_compiler.__version__}, numba {numba.__version__}, "
          f"Python {platform.python_version()}, {platform.machine()} {platform.system()}, "
          f"{os.cpu_count()} CPUs", flush=True)

    results = []
    for name in groups:
        t0 = time.perf_counter()
        print(f"running group {name} ...", flush=True)
        module = importlib.import_module(f"bench_{name}")
        results.extend(module.run(cfg))
        print(f"  done in {time.perf_counter() - t0:.1f} s", flush=True)

    print()
    print(harness.report(results, markdown=args.markdown))
    for f in cfg.failures:
        print(f"\nFAILED {f.group}/{f.workload}:\n{f.message}", file=sys.stderr)
    missed = [m for m in results if isinstance(m, harness.Metric) and m.ok is False]
    missed += [t for t in results if isinstance(t, harness.Timing) and any(
        r is not None and r > lim for r, lim in (
            (harness._ratio(t.ours, t.hand), harness.OURS_VS_HAND),
            (harness._ratio(t.ours, t.primal), harness.GRAD_VS_PRIMAL),
            (harness._ratio(t.ours_loop, t.hand_loop), harness.OURS_VS_HAND),
            (harness._ratio(t.ours_loop, t.primal_loop), harness.GRAD_VS_PRIMAL)))]
    if cfg.failures:
        return 1
    if args.strict and missed:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
