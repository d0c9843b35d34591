"""The command: `python -m autodiff_compiler.fuzz --n 10000 --seed S [...]`.

Takes: the options below.  Guarantees: runs `n` generated programs (kinds
round-robin) through the compiler in the chosen modes with `--jobs` worker
processes, prints a table of outcomes per kind and per mode, the throughput,
and (with `--shrink`) the shrunk failures, one per failure class; writes
failing programs to `--out`; exits 1 when any run is `wrong` or `crash`, else 0.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .execute import MODES
from .generate import ALL_KINDS, KINDS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autodiff_compiler.fuzz",
                                     description="Differential fuzzer for autodiff_compiler (issue 8).")
    parser.add_argument("--n", type=int, default=300, help="number of programs (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {','.join(KINDS)}")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    parser.add_argument("--modes", default="budget",
                        help="budget (default), all, derivatives (jvp and hvp in every mode), or a comma list "
                             "of MODE[:API] with MODE in " + ", ".join(MODES) + " and API in grad, vag, jvp, hvp")
    parser.add_argument("--out", default="fuzz-failures", help="directory for failing programs (default fuzz-failures)")
    parser.add_argument("--shrink", action="store_true", help="shrink one program per failure class")
    parser.add_argument("--shrink-time", type=float, default=90.0, help="seconds per failure class (default 90)")
    parser.add_argument("--shrink-max", type=int, default=30, help="failure classes to shrink (default 30)")
    parser.add_argument("--shrink-per-class", type=int, default=1,
                        help="programs shrunk per failure class (default 1); shrunk twins are merged")
    parser.add_argument("--shrink-refused", action="store_true", help="shrink refusals too")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a silent run is a hang")
    parser.add_argument("--numba-opt", type=int, default=0,
                        help="NUMBA_OPT for the workers (default 0: faster compiles; -1 keeps Numba's default)")
    parser.add_argument("--no-boundscheck", action="store_true", help="do not set NUMBA_BOUNDSCHECK=1")
    parser.add_argument("--ids", default="", help="run only these programs (comma list of kind-seed-index, "
                                                   "as in the failure files), e.g. to re-check or shrink them")
    parser.add_argument("--replay", nargs="+", default=None, metavar="PATH",
                        help="run the programs of failure files (or folders of them) written by an earlier run, "
                             "e.g. to re-check them after a fix or to shrink them")
    parser.add_argument("--minutes", type=float, default=None,
                        help="start no new program after this many minutes (a time-boxed run)")
    parser.add_argument("--scale", type=float, default=None,
                        help="run each program with its float arguments times SCALE, 1 or 1/SCALE (drawn per "
                             "argument from the program's id): e.g. 1e100, where floats saturate and cancel")
    parser.add_argument("--quiet", action="store_true")
    options = parser.parse_args(argv)

    from .run import fuzz
    ids = [i.strip() for i in options.ids.split(",") if i.strip()]
    if ids:
        options.n = len(ids)
    if options.replay:
        from .run import failure_files
        options.n = len(failure_files(options.replay))
    kinds = [k.strip() for k in options.kinds.split(",") if k.strip()]
    for k in kinds:
        if k not in ALL_KINDS:
            parser.error(f"unknown kind {k!r}")
    last = [time.monotonic()]

    def progress(summary, record):
        if options.quiet:
            return
        n = len(summary.records)
        now = time.monotonic()
        bad = [r for r in record["runs"] if r["outcome"] in ("wrong", "crash")]
        if bad:
            r = bad[0]
            print(f"  {record['id']}: {r['outcome']} in {r['mode']}:{r['api']} ({r.get('category', '')})",
                  flush=True)
        if now - last[0] > 60 or n == options.n:
            last[0] = now
            t = summary.total()
            print(f"[{n}/{options.n}] " + " ".join(f"{o}={t[o]}" for o in ("ok", "wrong", "crash", "refused",
                                                                            "skipped")), flush=True)

    numba_opt = None if options.numba_opt < 0 else options.numba_opt
    summary = fuzz(options.n, options.seed, kinds, jobs=options.jobs, modes=options.modes, out=options.out,
                   timeout=options.timeout, numba_opt=numba_opt, boundscheck=not options.no_boundscheck,
                   progress=progress, ids=ids, minutes=options.minutes, replay=options.replay,
                   scale=options.scale)
    print()
    print("python -m autodiff_compiler.fuzz " + " ".join(sys.argv[1:] if argv is None else argv))
    print(summary.table())
    print()
    print(summary.throughput(options.jobs))
    if summary.fuzzer_bugs:
        print()
        print(f"FUZZER PROBLEMS ({len(summary.fuzzer_bugs)}): " +
              "; ".join(f"{i}: {m[:120]}" for i, m in summary.fuzzer_bugs[:5]))
    print(f"\nfailing programs: {options.out}/")
    if options.shrink:
        from .run import worker_environment
        from .shrink import shrink_failures
        outcomes = ("wrong", "crash", "refused") if options.shrink_refused else ("wrong", "crash")
        print("\nshrinking ...")
        env = worker_environment(os.environ.get("AUTODIFF_COMPILER_CACHE") or
                                 os.path.join(options.out, ".cache"), numba_opt, not options.no_boundscheck)
        shrunk = shrink_failures(summary.records, options.out, budget_seconds=options.shrink_time,
                                 max_groups=options.shrink_max, outcomes=outcomes, env=env,
                                 per_group=options.shrink_per_class,
                                 say=(lambda *a: None) if options.quiet else print)
        print(f"\n{len(shrunk)} shrunk failure(s):")
        for k, item in enumerate(shrunk, 1):
            print(f"\n--- {k}. " + "\n    ".join(item.header()))
            print(f"    call: {item.case.func}{_args(item.case.args)}, wrt={item.case.wrt!r}, "
                  f"mode {item.mode} ({item.api})")
            print(f"    expected: {item.record.get('expected', '')}")
            print(f"    got:      {item.record.get('got', '')}")
            print("    " + item.case.source.replace("\n", "\n    ").rstrip())
    total = summary.total()
    return 1 if total["wrong"] or total["crash"] else 0


def _args(args) -> str:
    from .generate import format_value
    return "(" + ", ".join(format_value(a) for a in args) + ")"


if __name__ == "__main__":
    sys.exit(main())
