"""Shared machinery for the benchmark groups: timing loops, agreement checks,
fresh-process measurements and the result records that `run.py` prints.

A group module (`bench_*.py`) defines `run(cfg) -> list[Timing | Metric]`.
Workload functions live in their own source files (`*_fns.py`) because the
compiler reads a function's source.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numba

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


# ----------------------------------------------------------------- records

@dataclass
class Timing:
    """Per-call times in seconds for one workload (None when not measured)."""
    group: str
    workload: str
    primal: float | None = None          # numba.njit(f), called from Python
    hand: float | None = None            # hand-written njit gradient, from Python
    ours: float | None = None            # our compiled gradient, from Python
    ours_dispatcher: float | None = None # its Numba dispatcher called directly, from Python
    ours_native: float | None = None     # g.native(*args): the checked native entry, from Python
    primal_loop: float | None = None     # the same three, called inside an njit loop
    hand_loop: float | None = None
    ours_loop: float | None = None
    note: str = ""


@dataclass
class Metric:
    """A single figure with its target, e.g. cold-start seconds or tape bytes per step."""
    group: str
    name: str
    value: float | None
    unit: str
    target: float | None = None          # value must be <= target
    note: str = ""

    @property
    def ok(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value <= self.target


@dataclass
class Failure:
    """A workload that could not be measured (compiler error, wrong gradient, ...)."""
    group: str
    workload: str
    message: str


@dataclass
class Config:
    quick: bool = False
    min_time: float = 0.2        # seconds per timing repeat
    repeats: int = 5
    subprocess_timeout: float = 600.0
    failures: list = field(default_factory=list)


# ----------------------------------------------------------------- helpers

def as_tuple(r) -> tuple:
    return tuple(r) if isinstance(r, (tuple, list)) else (r,)


def check_agree(name: str, ours: Callable, hand: Callable, points, rel=1e-9, abs_=1e-12):
    """Raise AssertionError unless ours(*p) == hand(*p) (to rounding) at every point."""
    for p in points:
        a, b = as_tuple(ours(*p)), as_tuple(hand(*p))
        assert len(a) == len(b), f"{name}: ours returned {len(a)} values, hand {len(b)} at {p}"
        for i, (u, v) in enumerate(zip(a, b)):
            assert math.isclose(float(u), float(v), rel_tol=rel, abs_tol=abs_), \
                f"{name}: gradient {i} disagrees at {p}: ours {u!r}, hand {v!r}"


def _py_loop(nargs: int):
    """A loop that calls f(a0, ..., ak) n times, with the arguments in locals (like timeit)."""
    names = ", ".join(f"a{i}" for i in range(nargs))
    src = (f"def loop(f, {names}, n):\n"
           f"    it = range(n)\n"
           f"    t0 = perf_counter()\n"
           f"    for _ in it:\n"
           f"        f({names})\n"
           f"    return perf_counter() - t0\n")
    ns = {"perf_counter": time.perf_counter}
    exec(src, ns)
    return ns["loop"]


def _best_per_call(run_n: Callable[[int], float], cfg: Config) -> float:
    """timeit-style: grow n until one repeat takes cfg.min_time, then best of cfg.repeats."""
    run_n(1)                                  # warm up (and compile)
    n = 1
    while True:
        t = run_n(n)
        if t >= cfg.min_time or n >= 10**8:
            break
        n *= 2 if t * 20 > cfg.min_time else 10
    best = t
    for _ in range(cfg.repeats - 1):
        best = min(best, run_n(n))
    return best / n


def time_from_python(f: Callable, args: tuple, cfg: Config) -> float:
    """Best per-call time of f(*args) called from the Python interpreter."""
    loop = _py_loop(len(args))
    return _best_per_call(lambda n: loop(f, *args, n), cfg)


def time_unpromoted(g, args: tuple, cfg: Config) -> float:
    """Best per-call time of the gradient object g(*args) from Python as a user's loop meets it from its
    second call on: through the signature's entry (`call_entries.make_entry`: a checked router for
    numbers, a counted frame for arrays), never promoted to the native entry however long the timing
    runs (`api.NATIVE_AFTER` calls would mix the two regimes in one figure)."""
    from autodiff_compiler import api
    saved, api.NATIVE_AFTER = api.NATIVE_AFTER, 10 ** 15
    try:
        g(*args)
        return time_from_python(g, args, cfg)
    finally:
        api.NATIVE_AFTER = saved


def _njit_loop(dispatcher, args: tuple, skip_first: bool = False):
    """An njit'ed loop calling `dispatcher` n times from compiled code.

    The first argument is nudged by a tiny, iteration-dependent amount and every
    result is summed (but the first when `skip_first`: a value the caller does
    not use, which LLVM may then drop), so that LLVM can neither hoist the call
    out of the loop nor drop it.
    """
    r = dispatcher(*args)
    names = [f"a{i}" for i in range(len(args))]
    call_args = ", ".join([f"{names[0]} + i * 1e-15"] + names[1:])
    acc = (" + ".join(f"r[{i}]" for i in range(int(skip_first), len(r)))
           if isinstance(r, tuple) else "r")
    src = (f"def loop({', '.join(names)}, n):\n"
           f"    acc = 0.0\n"
           f"    for i in range(n):\n"
           f"        r = F({call_args})\n"
           f"        acc += {acc}\n"
           f"    return acc\n")
    ns = {"F": dispatcher}
    exec(src, ns)
    return numba.njit(ns["loop"])


def time_in_njit_loop(dispatcher, args: tuple, cfg: Config, skip_first: bool = False) -> float:
    """Best per-call time of dispatcher(*args) called from inside an njit loop."""
    jloop = _njit_loop(dispatcher, args, skip_first)
    jloop(*args, 1)                           # compile

    def run_n(n):
        t0 = time.perf_counter()
        jloop(*args, n)
        return time.perf_counter() - t0
    return _best_per_call(run_n, cfg)


def compiled_dispatcher(g, args: tuple):
    """(dispatcher, returns_value, how): the Numba dispatcher behind a compiled gradient.

    Uses `g.jitted` if the gradient object has it, else `g.compiled_for(*args)`
    (whose function returns `(value, gradients...)`); None if neither exists or
    what they give is not a Numba dispatcher.
    """
    d, returns_value, how = getattr(g, "jitted", None), False, "g.jitted"
    if d is None and hasattr(g, "compiled_for"):
        d, returns_value, how = (g.compiled_for(*args), True,
                                  "g.compiled_for(*args), which returns (value, grads); the loop uses only grads")
    if not isinstance(d, numba.core.dispatcher.Dispatcher):
        return None
    return d, returns_value, how


@dataclass
class Workload:
    name: str
    fn: Callable                  # plain Python function, read by the compiler
    args: tuple                   # where to time it
    hand: Callable                # hand-written numba.njit gradient, same return shape as ours
    wrt: Any = None               # passed to grad() when not None
    check_points: tuple = ()      # extra argument tuples at which ours and hand must agree


def bench_workload(group: str, w: Workload, cfg: Config) -> Timing:
    from autodiff_compiler import grad
    from autodiff_compiler.errors import ArgumentError

    g = grad(w.fn) if w.wrt is None else grad(w.fn, wrt=w.wrt)
    check_agree(w.name, g, w.hand, (w.args,) + tuple(w.check_points))
    primal = numba.njit(w.fn)
    t = Timing(group, w.name)
    t.primal = time_from_python(primal, w.args, cfg)
    t.hand = time_from_python(w.hand, w.args, cfg)
    t.ours = time_unpromoted(g, w.args, cfg)
    try:
        native = g.native(*w.args)
    except ArgumentError:
        native = None                   # not a function of numbers and float arrays
    if native is not None:
        check_agree(w.name + " (g.native)", native, w.hand, (w.args,) + tuple(w.check_points))
        t.ours_native = time_from_python(native, w.args, cfg)
    t.primal_loop = time_in_njit_loop(primal, w.args, cfg)
    t.hand_loop = time_in_njit_loop(w.hand, w.args, cfg)
    found = compiled_dispatcher(g, w.args)
    if found is not None:
        d, returns_value, how = found
        strip = (lambda *a: as_tuple(d(*a))[1:]) if returns_value else d
        check_agree(w.name + " (compiled dispatcher)", strip, w.hand, (w.args,))
        t.ours_dispatcher = time_from_python(d, w.args, cfg)
        t.ours_loop = time_in_njit_loop(d, w.args, cfg, skip_first=returns_value)
        t.note = f"in-loop time of ours uses {how}"
    else:
        t.note = "gradient object exposes no Numba dispatcher: in-loop time of ours not measured"
    return t


def guarded(cfg: Config, group: str, name: str, fn: Callable, *a):
    """Run one measurement; on any exception record a Failure and return None."""
    try:
        return fn(*a)
    except Exception as e:  # noqa: BLE001 - report everything, keep benchmarking
        tb = traceback.format_exc()
        cfg.failures.append(Failure(group, name, f"{type(e).__name__}: {e}\n{tb}"))
        return None


# ------------------------------------------------------- fresh processes

def run_fresh(code: str, cache_dir: str | os.PathLike, cfg: Config) -> dict:
    """Run `code` in a new interpreter with AUTODIFF_COMPILER_CACHE=cache_dir.

    The code runs with the benchmarks directory importable and must print one
    JSON object as its last line of output, which is returned.
    """
    env = dict(os.environ)
    env["AUTODIFF_COMPILER_CACHE"] = str(cache_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR), str(ROOT)] +
                                        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    p = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT), capture_output=True,
                       text=True, timeout=cfg.subprocess_timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"child process failed (exit {p.returncode}):\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


FIRST_CALL_CODE = """\
import json, time
t0 = time.perf_counter()
import numba
t1 = time.perf_counter()
import autodiff_compiler
from {module} import {func} as fn
t2 = time.perf_counter()
g = autodiff_compiler.grad(fn{wrt})
g{args}
t3 = time.perf_counter()
hits = misses = None
try:
    stats = g.compiled_for(*{args}, value=False).stats
    hits, misses = sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
except Exception:
    pass
print(json.dumps({{"numba_import": t1 - t0, "import": t2 - t1, "first_call": t3 - t2,
                  "total": t3 - t0, "cache_hits": hits, "cache_misses": misses}}))
"""

# The floor under any Numba-based tool: a one-line njit(cache=True) function.
NUMBA_FLOOR_MODULE = """\
import math
import numba

@numba.njit(cache=True)
def f(x):
    return math.sin(x * x)
"""

NUMBA_FLOOR_CODE = """\
import json, time
t0 = time.perf_counter()
import numba
t1 = time.perf_counter()
import numba_floor
numba_floor.f(4.0)
t3 = time.perf_counter()
print(json.dumps({"numba_import": t1 - t0, "import": None, "first_call": t3 - t1, "total": t3 - t0,
                  "cache_hits": sum(numba_floor.f.stats.cache_hits.values()),
                  "cache_misses": sum(numba_floor.f.stats.cache_misses.values())}))
"""


def first_call_times(module: str, func: str, args: tuple, wrt, cfg: Config) -> tuple[dict, dict]:
    """(cold, warm): import + grad() + first call, timed in two fresh processes.

    The first process starts with an empty AUTODIFF_COMPILER_CACHE directory; the
    second reuses the directory the first one filled. Each result holds the
    seconds for `import numba`, `import autodiff_compiler` (and the workload),
    grad() + the first call, their total, and Numba's cache hits and misses.
    """
    code = FIRST_CALL_CODE.format(module=module, func=func, args=repr(tuple(args)),
                                  wrt="" if wrt is None else f", wrt={wrt!r}")
    with tempfile.TemporaryDirectory(prefix="adc-bench-cache-") as d:
        cold = run_fresh(code, d, cfg)
        warm = run_fresh(code, d, cfg)
    return cold, warm


def numba_floor_times(cfg: Config) -> tuple[dict, dict]:
    """(cold, warm) first call of a trivial njit(cache=True) function, for reference."""
    with tempfile.TemporaryDirectory(prefix="adc-bench-floor-") as d:
        Path(d, "numba_floor.py").write_text(NUMBA_FLOOR_MODULE)
        env_code = f"import sys; sys.path.insert(0, {d!r})\n" + NUMBA_FLOOR_CODE
        cold = run_fresh(env_code, d, cfg)
        warm = run_fresh(env_code, d, cfg)
    return cold, warm


def first_call_note(r: dict, what: str) -> str:
    cache = ""
    if r.get("cache_hits") is not None:
        cache = f"; Numba cache {'hit' if r['cache_hits'] else 'miss'}"
    adc = "" if r.get("import") is None else f" + import autodiff_compiler {r['import']:.2f}"
    return f"import numba {r['numba_import']:.2f}{adc} + {what} {r['first_call']:.2f} s{cache}"


# ----------------------------------------------------------------- output

def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.2f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _ratio(a, b) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _fmt_ratio(r: float | None, target: float) -> str:
    if r is None:
        return "-"
    return f"{r:.2f} {'ok' if r <= target else 'MISS'}"


def _table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def against_jax(group: str, name: str, ours: float | None, jax_seconds: float | None, target: float) -> Metric:
    """Our gradient's time per call over `jax.jit(jax.grad(f))`'s, both called from Python in this run."""
    note = f"ours {_fmt_time(ours)}, JAX {_fmt_time(jax_seconds)} a call, from Python"
    return Metric(group, f"{name}: ours / JAX jit(grad)", _ratio(ours, jax_seconds), "x", target, note=note)


OURS_VS_HAND = 1.25
GRAD_VS_PRIMAL = 3.0
FROM_PYTHON = 1.3        # issue 11: a gradient of numbers called from Python, against a bare njit call


def report(results: list, markdown: bool = False) -> str:
    timings = [r for r in results if isinstance(r, Timing)]
    metrics = [r for r in results if isinstance(r, Metric)]
    parts = []
    if timings:
        for title, keys, extra in (
                ("Per call, called from Python (includes ~100-200 ns of dispatch; ours: g(*args) from its "
                 "second call, unpromoted):",
                 ("primal", "hand", "ours"), True),
                ("Per call, called from inside an njit loop (no dispatch overhead):",
                 ("primal_loop", "hand_loop", "ours_loop"), False)):
            limit = FROM_PYTHON if extra else OURS_VS_HAND      # issue 11's targets, from Python and in njit
            heads = ["workload", "primal", "hand grad", "our grad",
                     f"ours/hand (<= {limit})", f"ours/primal (<= {GRAD_VS_PRIMAL:g})"]
            rows = []
            for t in timings:
                p, h, o = (getattr(t, k) for k in keys)
                row = [f"{t.group}/{t.workload}", _fmt_time(p), _fmt_time(h), _fmt_time(o),
                       _fmt_ratio(_ratio(o, h), limit), _fmt_ratio(_ratio(o, p), GRAD_VS_PRIMAL)]
                if extra:
                    row += [_fmt_time(t.ours_native), _fmt_ratio(_ratio(t.ours_native, h), FROM_PYTHON),
                            _fmt_time(t.ours_dispatcher)]
                rows.append(row)
            more = ["g.native(...)", f"native/hand (<= {FROM_PYTHON})", "our dispatcher, direct"]
            parts.append(title + "\n" + _table(heads + (more if extra else []), rows, markdown))
        notes = sorted({t.note for t in timings if t.note})
        if notes:
            parts.append("\n".join("note: " + n for n in notes))
    if metrics:
        rows = []
        for m in metrics:
            if m.unit == "s":
                # a call of microseconds printed as "0.000 s" says nothing: below a second, in its own unit
                v = "-" if m.value is None else f"{m.value:.3f} s" if m.value >= 1 else _fmt_time(m.value)
                tg = "" if m.target is None else f"< {m.target:g} s"
            elif m.unit == "B":
                v = "-" if m.value is None else f"{m.value / 1e6:.3f} MB"
                tg = "" if m.target is None else f"<= {m.target / 1e6:.3f} MB"
            elif m.unit == "rel":
                v = "-" if m.value is None else f"{m.value:.2e}"
                tg = "" if m.target is None else f"<= {m.target:.2e}"
            else:
                v = "-" if m.value is None else f"{m.value:.2f} {m.unit}"
                tg = "" if m.target is None else f"<= {m.target:g} {m.unit}"
            ok = {True: "ok", False: "MISS", None: ""}[m.ok]
            rows.append([f"{m.group}/{m.name}", v, tg, ok, m.note])
        parts.append("Other measurements:\n" + _table(["measurement", "value", "target", "", "note"],
                                                      rows, markdown))
    return "\n\n".join(parts)
