"""Run: the parallel driver -- programs to worker processes, results to tables and files.

Takes: a seed, a number of programs, the kinds, a mode plan, a job count, an
output directory.  Guarantees:

* program `k` of a run is `generate(kind, seed, k // len(kinds))` with kinds
  taken round-robin, so a run is reproducible from its command line, and a
  program is identified by `kind-seed-index` whatever else ran beside it;
* every program is checked in worker processes (`--jobs`, default the core
  count), started with the `spawn` method and replaced when they die: a worker
  that dies (segfault, abort) records a `crash` for the run it was in, a run
  that exceeds `--timeout` seconds is killed and recorded as a `crash`
  (timeout); the remaining runs of that program go to a fresh worker; a worker
  retires after `RECYCLE` programs to bound the memory Numba keeps;
* each failing program (`wrong` or `crash`; `refused` too, in a subfolder) is
  written to the output directory as a standalone `.py` file: a header
  comment (seed, kind, index, arguments, wrt, and per failing run the mode,
  API, outcome, expected and got), the program, and a `__main__` block that
  reproduces the call; `results.jsonl` holds every program's record;
* the summary counts outcomes per kind (a program's outcome is its worst run:
  crash > wrong > refused > ok; skipped when the oracle has no reference) and
  per mode and API, and reports throughput.

The mode plan (`--modes`): `budget` (default), `all`, or a comma list of
modes (`nojit-simp`, `nojit-nosimp`, `jit-simp`, `jit-nosimp`), each with
both APIs (`grad`, `vag` = value_and_grad) unless one is named (`jit-simp:grad`).

What `budget` runs, and why.  Deriving a gradient costs 10-50 ms of CPU; Numba
compiling it is the cost.  Measured (CPU seconds per compile, NUMBA_OPT=0, warm
workers, a 1,093-program run): 0.12 s for scalar programs, 0.55 s for
control-flow programs (heavy tail: helpers inlined in nested loops give
500-line adjoints that take 10-18 s), 0.64 s for array programs (1.2 s at
Numba's default optimisation level).  The interpreted modes cost 0.03-0.07 s
per program for both simplify settings and both APIs, the oracle 2-5 ms.
10,000 programs in about an hour on 2 cores leaves 0.7 CPU-s per program, so:

* every program: `nojit-simp` and `nojit-nosimp`, both APIs (the generated code
  under both simplifier settings: cheap, and where most wrong gradients show);
* scalar programs: `jit-simp`, both APIs (0.25 CPU-s);
* control and array programs: `jit-simp` for one program in `JIT_EVERY` (2),
  alternating grad and value_and_grad, so that Numba typing and compiled
  semantics are covered over the whole run without dominating it;
* row programs: `jit-simp` for every one (the same alternation): the pass they
  exist for, `fuse_rows`, rewrites only the module Numba compiles;
* `jit-nosimp`: one program in `JIT_NOSIMP_EVERY` (10) of every kind.

That is about 0.42 CPU-s per program on average: 10,000 programs take about
4,200 CPU-s, 35 minutes on 2 otherwise idle cores (on this shared machine
wall time ran 2-4x CPU time).  `--modes all` runs all 8 combinations (about
2 CPU-s per program).

The workers set NUMBA_BOUNDSCHECK=1 (an out-of-bounds access in generated
code is an IndexError -- a crash -- instead of silent memory corruption) and,
unless `--numba-opt` says otherwise, NUMBA_OPT=0 (it halves the compile time
of array programs; the generated code and its typing are the same).  The
`.py` files reproduce in the user's default configuration.
"""
from __future__ import annotations

import collections
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

from .execute import ALL_APIS, APIS, DERIVATIVE_APIS, MODES, OUTCOMES, SEVERITY, describe, worst
from .generate import ALL_KINDS, KINDS, Program, format_value, generate
from .. import syntax

RECYCLE = 400
JIT_EVERY = 2
JIT_NOSIMP_EVERY = 10
DEFAULT_TIMEOUT = 300.0
STARTUP = 120.0        # seconds a new worker may take to import what it runs (CI loads both cores)


# ------------------------------------------------------------------------ mode plans

def plan_runs(program: Program, modes: str) -> list[tuple[str, str]]:
    """The (mode, api) runs for one program under a plan."""
    if modes == "all":
        return [(m, a) for m in MODES for a in APIS]
    if modes == "derivatives":
        return [(m, a) for m in MODES for a in DERIVATIVE_APIS]
    if modes != "budget":
        runs = []
        for item in (m.strip() for m in modes.split(",") if m.strip()):
            mode, _, api = item.partition(":")
            if mode not in MODES or (api and api not in ALL_APIS):
                raise ValueError(f"unknown mode {item!r}; choose from budget, all, derivatives, or MODE[:API] "
                                 f"with MODE in {', '.join(MODES)} and API in {', '.join(ALL_APIS)}")
            runs += [(mode, api)] if api in DERIVATIVE_APIS else [(mode, a) for a in APIS if not api or a == api]
        return runs
    runs = [("nojit-simp", a) for a in APIS] + [("nojit-nosimp", a) for a in APIS]
    k = program.index
    if program.kind == "scalar":
        runs += [("jit-simp", a) for a in APIS]
    elif program.kind == "rows" or k % JIT_EVERY == 0:
        runs.append(("jit-simp", APIS[(k // JIT_EVERY) % 2]))
    if k % JIT_NOSIMP_EVERY == 3:
        runs.append(("jit-nosimp", APIS[(k // JIT_NOSIMP_EVERY) % 2]))
    return runs


def program_task(program: Program, runs) -> dict:
    return {"id": program.id, "kind": program.kind, "seed": program.seed, "index": program.index,
            "source": program.source, "func": program.func, "args": program.args, "wrt": program.wrt,
            "wrt_indices": program.wrt_indices, "params": program.params, "runs": list(runs)}


# ------------------------------------------------------------------------ workers

def worker_environment(cache_dir: str, numba_opt: int | None, boundscheck: bool) -> dict:
    env = {"AUTODIFF_COMPILER_CACHE": cache_dir, "PYTHONWARNINGS": "ignore"}
    if numba_opt is not None:
        env["NUMBA_OPT"] = str(numba_opt)
    if boundscheck:
        env["NUMBA_BOUNDSCHECK"] = "1"
    return env


def _worker_main(conn, env: dict, workdir: str):
    """A worker: receive tasks, send ('oracle', info), ('run', record) ..., ('done', None)."""
    os.environ.update(env)
    import warnings
    warnings.simplefilter("ignore")
    from .execute import process
    os.makedirs(workdir, exist_ok=True)
    conn.send(("ready", None))      # the hang clock starts here, not before the imports
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            for message in process(task, task["runs"], workdir):
                conn.send(message)
        except Exception as exc:       # a bug of the fuzzer itself: report it, keep going
            conn.send(("error", "".join(traceback.format_exception(exc))[-2000:]))
        conn.send(("done", None))


@dataclass
class _Worker:
    process: multiprocessing.Process
    conn: object
    task: dict | None = None
    pending: list = field(default_factory=list)     # runs not yet reported
    record: dict | None = None
    last: float = 0.0
    served: int = 0
    ready: bool = False           # imports done: until then a loaded machine's slow start is no hang


class Pool:
    """Worker processes that survive crashes of the code they run."""

    def __init__(self, jobs: int, env: dict, workdir: str, timeout: float):
        self.jobs = max(1, jobs)
        self.env = env
        self.workdir = workdir
        self.timeout = timeout
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        proc = self.context.Process(target=_worker_main, args=(child, self.env, self.workdir), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _stop(self, worker: _Worker, kill: bool = False):
        try:
            if kill:
                worker.process.kill()
            else:
                worker.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        worker.process.join(timeout=10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.conn.close()

    def close(self):
        for w in self.workers:
            self._stop(w)
        self.workers = []

    def run(self, tasks, on_record):
        """Run every task; call on_record(record) once per task, in completion order."""
        queue = collections.deque()
        source = iter(tasks)
        exhausted = False
        while True:
            # keep every worker busy
            while len(self.workers) < self.jobs:
                self.workers.append(self._start())
            for w in self.workers:
                if w.task is None:
                    if not queue and not exhausted:
                        try:
                            queue.append(next(source))
                        except StopIteration:
                            exhausted = True
                    if queue:
                        self._assign(w, queue.popleft())
            busy = [w for w in self.workers if w.task is not None]
            if not busy:
                if exhausted and not queue:
                    return
                continue
            ready = multiprocessing.connection.wait([w.conn for w in busy], timeout=1.0)
            now = time.monotonic()
            for w in busy:
                if w.conn in ready:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        self._died(w, queue, on_record, "the worker process died")
                        continue
                    w.last = time.monotonic()
                    self._message(w, message, on_record)
                elif now - w.last > (self.timeout if w.ready else max(self.timeout, STARTUP)):
                    self._died(w, queue, on_record, f"timeout: no result within {self.timeout:.0f} s (hang)",
                               kill=True)

    def _assign(self, w: _Worker, task: dict):
        w.task = task
        w.pending = list(task["runs"])
        w.record = task.get("_record") or {"id": task["id"], "kind": task["kind"], "seed": task["seed"],
                                           "index": task["index"], "runs": [], "task": task}
        w.last = time.monotonic()
        w.conn.send({k: v for k, v in task.items() if not k.startswith("_")})

    def _message(self, w: _Worker, message, on_record):
        kind, payload = message
        if kind == "ready":
            w.ready = True
        elif kind == "oracle":
            if "oracle" not in w.record:
                w.record["oracle"] = payload
        elif kind == "run":
            w.record["runs"].append(payload)
            if w.pending:
                w.pending.pop(0)
        elif kind == "error":
            w.record.setdefault("errors", []).append(payload)
        elif kind == "done":
            record = w.record
            w.task, w.record, w.pending = None, None, []
            w.served += 1
            on_record(record)
            if w.served >= RECYCLE:
                self._stop(w)
                self.workers.remove(w)

    def _died(self, w: _Worker, queue, on_record, why: str, kill: bool = False):
        record, pending = w.record, list(w.pending)
        self._stop(w, kill=True)
        self.workers.remove(w)
        if "oracle" not in record:
            # it died before the oracle answered: the oracle runs only the user's Python code, so
            # this is the fuzzer's problem; record it and move on
            record["oracle"] = {"skip": f"worker died in the oracle: {why}", "oracle_bug": True}
            on_record(record)
            return
        mode, api = pending[0]
        record["runs"].append({"mode": mode, "api": api, "outcome": "crash", "category": "worker-died"
                               if "died" in why else "timeout", "exc": "WorkerDied" if "died" in why
                               else "Timeout", "detail": why, "got": why, "expected": ""})
        rest = pending[1:]
        if rest:
            task = dict(record["task"])
            task["runs"] = rest
            task["_record"] = record
            queue.appendleft(task)
        else:
            on_record(record)


# ------------------------------------------------------------------------ reporting

def program_outcome(record: dict) -> str:
    if "skip" in record.get("oracle", {}):
        return "skipped"
    runs = [r["outcome"] for r in record["runs"] if r["outcome"] != "skipped"]
    return worst(runs) if runs else "skipped"


def failing_runs(record: dict, outcomes=("wrong", "crash")) -> list[dict]:
    return [r for r in record["runs"] if r["outcome"] in outcomes]


def reproduction_source(task: dict, runs: list[dict], header_lines=()) -> str:
    """A standalone .py file: header comment, the program, a __main__ block reproducing the call."""
    args = "(" + "".join(format_value(a) + ", " for a in task["args"]).rstrip(" ") + ")"
    lines = [f"# autodiff_compiler fuzz: {task['id']} (kind {task['kind']}, seed {task['seed']}, "
             f"index {task['index']})"]
    lines += [f"# {line}" for line in header_lines]
    lines.append(f"# call: {task['func']}{args}, wrt={task['wrt']!r}")
    for r in runs:
        lines.append(f"# {r['outcome'].upper()} in mode {r['mode']} ({_API_NAMES.get(r['api'], r['api'])})"
                     f": {r.get('category', '')}")
        lines.append(f"#   expected: {_one_line(r.get('expected', ''))}")
        lines.append(f"#   got:      {_one_line(r.get('got', ''))}")
        if r.get("detail"):
            lines.append(f"#   detail:   {_one_line(r['detail'])[:300]}")
    lines.append("")
    body = task["source"].rstrip() + "\n"
    first = runs[0] if runs else {"mode": "jit-simp", "api": "grad"}
    jit, simplify = MODES[first["mode"]]
    api = _API_NAMES.get(first["api"], "grad")
    if first["api"] == "jvp":
        call = (f"    print(\"jvp along ones:\", jvp({task['func']}, wrt={task['wrt']!r}, jit={jit}, simplify={simplify})"
                f"(*args, tangents=tuple(np.ones_like(args[i]) if isinstance(args[i], np.ndarray) else 1.0 "
                f"for i in {tuple(task['wrt_indices'])!r})))\n")
    elif first["api"] == "hvp":
        i = task["wrt_indices"][0]
        call = (f"    h = hvp({task['func']}, wrt={i}, jit={jit}, simplify={simplify})\n"
                f"    v = np.ones_like(args[{i}]) if isinstance(args[{i}], np.ndarray) else 1.0\n"
                f"    print(\"hvp along ones:\", h(*args[:{i + 1}], v, *args[{i + 1}:]))\n"
                f"    print(\"rows of the gradient's Jacobian:\", jacobian(grad({task['func']}, wrt={i}), wrt={i}, "
                f"mode=\"reverse\")(*args))\n")
    else:
        call = f"    print(\"{api}:\", {api}({task['func']}, wrt={task['wrt']!r}, jit={jit}, simplify={simplify})(*args))\n"
    main = (f"\n\nif __name__ == \"__main__\":\n"
            f"    from autodiff_compiler import grad, hvp, jacobian, jvp, value_and_grad\n"
            f"    args = {args}\n"
            f"    print(\"value:\", {task['func']}(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]))\n"
            + call)
    return "\n".join(lines) + body + main


_API_NAMES = {"grad": "grad", "vag": "value_and_grad", "jvp": "jvp", "hvp": "hvp"}


def _one_line(text) -> str:
    return " ".join(str(text).split())


class Summary:
    """Counts and failures of a run."""

    def __init__(self, kinds):
        self.kinds = list(kinds)
        self.per_kind = {k: collections.Counter() for k in kinds}
        self.per_run = collections.defaultdict(collections.Counter)      # (kind, mode, api) -> outcomes
        self.run_seconds = collections.defaultdict(float)                # (kind, mode) -> seconds
        self.run_cpu = collections.defaultdict(float)                    # (kind, mode) -> CPU seconds
        self.oracle_cpu = collections.defaultdict(float)
        self.run_programs = collections.defaultdict(set)                 # (kind, mode) -> program ids
        self.oracle_seconds = collections.defaultdict(float)
        self.skip_reasons = collections.Counter()
        self.raising = collections.Counter()          # kind -> programs the function raises at (`execute.python_raises`)
        self.records = []
        self.fuzzer_bugs = []
        self.start = time.monotonic()

    def add(self, record: dict):
        kind = record["kind"]
        outcome = program_outcome(record)
        self.per_kind[kind][outcome] += 1
        oracle = record.get("oracle", {})
        self.oracle_seconds[kind] += oracle.get("seconds", 0.0)
        self.oracle_cpu[kind] += oracle.get("cpu", 0.0)
        if "raises" in oracle:
            self.raising[kind] += 1
        if "skip" in oracle:
            self.skip_reasons[_reason_class(oracle["skip"])] += 1
            if oracle.get("generator_bug") or oracle.get("oracle_bug"):
                self.fuzzer_bugs.append((record["id"], oracle["skip"]))
        for r in record["runs"]:
            self.per_run[(kind, r["mode"], r["api"])][r["outcome"]] += 1
            self.run_seconds[(kind, r["mode"])] += r.get("seconds", 0.0)
            self.run_cpu[(kind, r["mode"])] += r.get("cpu", r.get("seconds", 0.0))
            self.run_programs[(kind, r["mode"])].add(record["id"])
        if record.get("errors"):
            self.fuzzer_bugs.append((record["id"], record["errors"][0][-300:]))
        self.records.append(record)

    def total(self) -> collections.Counter:
        out = collections.Counter()
        for c in self.per_kind.values():
            out.update(c)
        return out

    def table(self) -> str:
        cols = list(OUTCOMES)
        lines = ["programs (a program's outcome is its worst run)",
                 f"  {'kind':<10}" + "".join(f"{c:>9}" for c in cols) + f"{'total':>9}"]
        for kind in self.kinds:
            c = self.per_kind[kind]
            lines.append(f"  {kind:<10}" + "".join(f"{c[o]:>9}" for o in cols) + f"{sum(c.values()):>9}")
        t = self.total()
        lines.append(f"  {'all':<10}" + "".join(f"{t[o]:>9}" for o in cols) + f"{sum(t.values()):>9}")
        lines.append("")
        lines.append("runs per mode and API")
        lines.append(f"  {'kind':<9}{'mode':<14}{'api':<6}" + "".join(f"{c:>9}" for c in cols[:4]))
        for (kind, mode, api) in sorted(self.per_run, key=lambda k: (self.kinds.index(k[0]), list(MODES).index(k[1]),
                                                                      k[2])):
            c = self.per_run[(kind, mode, api)]
            lines.append(f"  {kind:<9}{mode:<14}{api:<6}" + "".join(f"{c[o]:>9}" for o in cols[:4]))
        if self.raising:
            lines.append("")
            lines.append("where the function raises (every run must raise too): " +
                         ", ".join(f"{n} {k}" for k, n in self.raising.items()))
        if self.skip_reasons:
            lines.append("")
            lines.append("skipped (oracle): " + ", ".join(f"{n} {r}" for r, n in self.skip_reasons.most_common()))
        return "\n".join(lines)

    def throughput(self, jobs: int) -> str:
        wall = time.monotonic() - self.start
        n = len(self.records)
        cpu = sum(self.run_cpu.values()) + sum(self.oracle_cpu.values())
        lines = [f"throughput: {n} programs in {wall:.0f} s wall with {jobs} job(s) = "
                 f"{60 * n / max(wall, 1e-9):.0f} programs/min; worker CPU {cpu:.0f} s = "
                 f"{cpu / max(n, 1):.2f} CPU-s/program"]
        lines.append("  cost per mode (derivation + Numba compile + call, the APIs run, per program that ran it):")
        lines.append(f"    {'kind':<9}{'mode':<14}{'programs':>8}  {'wall s/prog':>11}  {'CPU s/prog':>10}  "
                     f"{'programs/min/core (CPU)':>23}")
        for (kind, mode) in sorted(self.run_seconds, key=lambda k: (self.kinds.index(k[0]), list(MODES).index(k[1]))):
            progs = len(self.run_programs[(kind, mode)])
            per = self.run_seconds[(kind, mode)] / max(progs, 1)
            per_cpu = self.run_cpu[(kind, mode)] / max(progs, 1)
            lines.append(f"    {kind:<9}{mode:<14}{progs:>8}  {per:11.3f}  {per_cpu:10.3f}  "
                         f"{60 / per_cpu if per_cpu else math.inf:23.0f}")
        for kind in self.kinds:
            count = sum(self.per_kind[kind].values())
            if count:
                lines.append(f"    {kind:<9}{'oracle':<14}{count:>8}  {self.oracle_seconds[kind] / count:11.3f}  "
                             f"{self.oracle_cpu[kind] / count:10.3f}")
        return "\n".join(lines)


def _reason_class(reason: str) -> str:
    for key in ("kink", "inconclusive", "primal raised", "not finite", "not a float", "oracle", "generator",
                "worker died", "path changed"):
        if key in reason:
            return key
    return reason[:40]


# ------------------------------------------------------------------------ the run

def programs(n: int, seed: int, kinds, start: int = 0):
    """Program k of the run: kind kinds[k % len(kinds)], index k // len(kinds)."""
    for k in range(start, start + n):
        kind = kinds[k % len(kinds)]
        yield generate(kind, seed, k // len(kinds))


def parse_id(ident: str) -> tuple[str, int, int]:
    """'control-2-58' -> ('control', 2, 58)."""
    kind, seed, index = ident.rsplit("-", 2)
    return kind, int(seed), int(index)


def fuzz(n: int, seed: int, kinds=KINDS, jobs: int | None = None, modes: str = "budget", out: str | None = None,
         timeout: float = DEFAULT_TIMEOUT, numba_opt: int | None = 0, boundscheck: bool = True,
         progress=None, cache_dir: str | None = None, write_refused: bool = True, ids=None,
         minutes: float | None = None, replay=None, scale: float | None = None) -> Summary:
    """Run `n` programs (or the programs named by `ids`); return the Summary.  Files go to `out` when given.

    With `minutes`, no new program starts after that much wall time (the ones running finish); with
    `scale`, each program runs at its arguments scaled (`Program.scaled`)."""
    if ids:
        kinds = sorted({parse_id(i)[0] for i in ids}, key=ALL_KINDS.index)
    replayed = [load_failure_file(f) for f in failure_files(replay)] if replay else None
    if replayed:
        kinds = sorted({t["kind"] for t in replayed}, key=ALL_KINDS.index)
    kinds = list(kinds)
    jobs = jobs or os.cpu_count() or 1
    scratch = tempfile.mkdtemp(prefix="autodiff-fuzz-")
    cache = cache_dir or os.environ.get("AUTODIFF_COMPILER_CACHE") or os.path.join(scratch, "cache")
    env = worker_environment(cache, numba_opt, boundscheck)
    summary = Summary(kinds)
    log = None
    if out:
        os.makedirs(out, exist_ok=True)
        log = open(os.path.join(out, "results.jsonl"), "w", encoding="utf-8")

    def on_record(record):
        summary.add(record)
        if log is not None:
            slim = {k: v for k, v in record.items() if k != "task"}
            log.write(json.dumps(slim, default=_json_default) + "\n")
            log.flush()
            write_failure(record, out, write_refused)
        if progress is not None:
            progress(summary, record)

    chosen = (generate(*parse_id(i)) for i in ids) if ids else programs(n, seed, kinds)
    if scale is not None:
        chosen = (program.scaled(scale) for program in chosen)
    deadline = time.monotonic() + 60 * minutes if minutes else None
    if replayed:
        tasks = (dict(t, runs=plan_runs(Program(t["kind"], t["seed"], t["index"], t["source"], t["func"], t["args"],
                                                t["wrt"], t["params"]), modes)) for t in replayed)
    else:
        tasks = (program_task(p, plan_runs(p, modes)) for p in _until(chosen, deadline))
    pool = Pool(jobs, env, os.path.join(scratch, "programs"), timeout)
    try:
        pool.run(tasks, on_record)
    finally:
        pool.close()
        if log is not None:
            log.close()
        shutil.rmtree(scratch, ignore_errors=True)
    summary.jobs = jobs
    return summary


def _until(items, deadline):
    for item in items:
        if deadline is not None and time.monotonic() > deadline:
            return
        yield item


def _json_default(value):
    import numpy as np
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, set):
        return sorted(value)
    return repr(value)


def write_failure(record: dict, out: str, write_refused: bool = True) -> str | None:
    runs = failing_runs(record)
    folder = out
    if not runs:
        runs = failing_runs(record, ("refused",))
        if not runs or not write_refused:
            return None
        folder = os.path.join(out, "refused")
    os.makedirs(folder, exist_ok=True)
    task = record["task"]
    outcome = worst(r["outcome"] for r in runs)
    path = os.path.join(folder, f"{outcome}-{task['id']}.py")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(reproduction_source(task, runs))
    record["file"] = path
    return path


# ------------------------------------------------------------------------ failure files as input

def load_failure_file(path: str) -> dict:
    """A task from a failure file this module wrote (or any file of the same shape): the program, the
    arguments and `wrt` of its `__main__` block; the id from its header when there is one."""
    import ast
    import re
    import numpy as np
    text = open(path, encoding="utf-8").read()
    tree = syntax.parse(text)
    body, main = [], None
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            main = node
        else:
            body.append(node)
    if main is None:
        raise ValueError(f"{path}: no __main__ block with the call to reproduce")
    args, wrt, func = None, 0, None
    for node in ast.walk(main):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "args" for t in node.targets):
            args = eval(syntax.compile_code(ast.Expression(node.value), path, "eval"), {"np": np})
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("grad", "value_and_grad"):
            func = node.args[0].id
            for k in node.keywords:
                if k.arg == "wrt":
                    wrt = ast.literal_eval(k.value)
    if args is None or func is None:
        raise ValueError(f"{path}: the __main__ block names no args or no grad(...) call")
    source = "\n".join(ast.unparse(n) if not isinstance(n, ast.FunctionDef) else "\n" + ast.unparse(n) + "\n"
                       for n in body).strip() + "\n"
    fn = next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == func)
    params = tuple(a.arg for a in fn.args.args)
    m = re.search(r"fuzz: (\S+) \(kind (\w+), seed (-?\d+), index (\d+)\)", text)
    kind, seed, index = (m.group(2), int(m.group(3)), int(m.group(4))) if m else ("scalar", 0, 0)
    ident = (m.group(1) if m else os.path.splitext(os.path.basename(path))[0]) + "@file"
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    return {"id": ident, "kind": kind if kind in ALL_KINDS else "scalar", "seed": seed, "index": index,
            "source": source, "func": func, "args": tuple(args), "wrt": wrt,
            "wrt_indices": [params.index(w) if isinstance(w, str) else w for w in items], "params": params,
            "file": path}


def failure_files(paths) -> list[str]:
    out = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != "refused")
                out += [os.path.join(root, f) for f in sorted(files) if f.endswith(".py")]
        else:
            out.append(path)
    return out
