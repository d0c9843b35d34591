"""Distributed group: batch logistic regression gradient over N = 10^7 samples, Dask on 2 local workers vs one process.

The workload is `array_fns.logreg_vec` (mean binary cross-entropy of
sigmoid(w*x + b), `value_and_grad` with respect to w and b), the arrays
group's N = 10^6 workload made ten times larger: x and y are 80 MB each.  The
data come in 10 chunks of 10^6 samples, each generated from its own seed.  Four
ways, each in fresh processes so that a process's peak memory (its ru_maxrss:
imports, compiled code and data) is the measurement's own:

* one process, data in memory: x and y generated whole, then `value_and_grad`;
* one process, chunk by chunk: each chunk generated and its gradient added, as
  a worker does, so only one chunk is held;
* Dask, data on the workers: `LocalCluster(n_workers=2, threads_per_worker=1)`,
  the chunks generated on the workers and kept there (`persist`), then
  `sharded_value_and_grad`; peak memory of the driver and of each worker;
* Dask, chunks generated per call: the same without `persist`, so each call
  generates its chunks on the workers and keeps none.

Times are the best of 3 calls after a first call (which compiles, or loads from
the disk cache shared by all the processes); the CPU seconds per call, summed
over the driver (which runs the scheduler) and the workers, show Dask's own
cost apart from what other programs on the machine take.  Needs the `dask` extra; without
it the group reports that and measures nothing.
"""
from __future__ import annotations

import json
import tempfile
import time

import numpy as np

from harness import Metric, guarded, run_fresh

GROUP = "distributed"
N = 10**7
CHUNK = 10**6
SEED = 7
REPEATS = 3


# ----------------------------------------------------- data, by chunk seed

def features(chunk: int, rows: int) -> np.ndarray:
    return np.random.default_rng([SEED, chunk]).standard_normal(rows)


def labels(x: np.ndarray, chunk: int) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-(1.5 * x - 0.3)))
    return (np.random.default_rng([SEED, chunk, 1]).random(x.shape[0]) < p).astype(np.float64)


def chunk_data(chunk: int, rows: int):
    x = features(chunk, rows)
    return x, labels(x, chunk)


def _x_block(block_info=None):
    info = block_info[None]
    return features(info["chunk-location"][0], info["chunk-shape"][0])


def _y_block(x, block_info=None):
    return labels(x, block_info[None]["chunk-location"][0])


def _rows(n: int, chunk: int) -> tuple:
    return (chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ())


def _peak_rss() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024     # Linux: KiB


def _cpu() -> float:
    """User + system CPU seconds of this process so far."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _best(call, repeats: int, cpu=_cpu) -> tuple[float, object, float]:
    """(best time of call(1), ..., call(repeats), the result of call(0) (the first call, which compiles or
    loads), CPU seconds per call as `cpu()` counts them).

    The argument moves w by 1e-9 per call: Dask would return the result of a graph it still holds
    for the same arguments (its keys are tokens of them) instead of computing it again."""
    result = call(0)
    best = float("inf")
    cpu0 = cpu()
    for i in range(1, repeats + 1):
        t0 = time.perf_counter()
        call(i)
        best = min(best, time.perf_counter() - t0)
    return best, result, (cpu() - cpu0) / repeats


# --------------------------------------- scenarios (each in a fresh process)

def one_process_in_memory(n: int, chunk: int, repeats: int) -> dict:
    from autodiff_compiler import value_and_grad
    from array_fns import logreg_vec
    vg = value_and_grad(logreg_vec, wrt=("w", "b"))
    vg(0.7, -0.1, *chunk_data(0, 16))
    before = _peak_rss()
    t0 = time.perf_counter()
    x, y, start = np.empty(n), np.empty(n), 0
    for i, rows in enumerate(_rows(n, chunk)):
        x[start:start + rows], y[start:start + rows] = chunk_data(i, rows)
        start += rows
    generate = time.perf_counter() - t0
    seconds, (value, (dw, db)), cpu = _best(lambda i: vg(0.7 + 1e-9 * i, -0.1, x, y), repeats)
    return {"seconds": seconds, "cpu": cpu, "generate": generate, "peak": _peak_rss(), "before data": before,
            "result": [value, dw, db]}


def one_process_by_chunk(n: int, chunk: int, repeats: int) -> dict:
    from autodiff_compiler import value_and_grad
    from array_fns import logreg_vec
    vg = value_and_grad(logreg_vec, wrt=("w", "b"))
    rows = _rows(n, chunk)

    def epoch(call):
        total = np.zeros(3)
        for i, size in enumerate(rows):
            value, (dw, db) = vg(0.7 + 1e-9 * call, -0.1, *chunk_data(i, size))
            total += size / n * np.array([value, dw, db])
        return total
    seconds, result, cpu = _best(epoch, repeats)
    return {"seconds": seconds, "cpu": cpu, "peak": _peak_rss(), "result": list(result)}


def dask_workers(n: int, chunk: int, repeats: int, persist: bool) -> dict:
    import dask.array as da
    from distributed import Client, LocalCluster
    from autodiff_compiler.dask import sharded_value_and_grad
    from array_fns import logreg_vec
    rows = _rows(n, chunk)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        x = da.map_blocks(_x_block, chunks=(rows,), dtype=np.float64, meta=np.empty((0,)))
        y = x.map_blocks(_y_block, dtype=np.float64, meta=np.empty((0,)))
        store = 0.0
        if persist:
            t0 = time.perf_counter()
            x, y = client.persist([x, y])
            client.wait_for_workers(2)
            from distributed import wait
            wait([x, y])
            store = time.perf_counter() - t0
        vg = sharded_value_and_grad(logreg_vec, wrt=("w", "b"), reduce="mean")
        everywhere = lambda: _cpu() + sum(client.run(_cpu).values())  # noqa: E731 - driver (and scheduler) + workers
        seconds, (value, (dw, db)), cpu = _best(lambda i: vg(0.7 + 1e-9 * i, -0.1, x, y), repeats, everywhere)
        workers = sorted(client.run(_peak_rss).values())
    return {"seconds": seconds, "cpu": cpu, "generate": store, "peak": _peak_rss(), "workers": workers,
            "result": [value, dw, db]}


CODE = """\
import json, bench_distributed as b
print(json.dumps(b.{call}))
"""


# ------------------------------------------------------------------ group

def run(cfg) -> list:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        print("  dask: not installed (pip install '.[dask]'); group skipped", flush=True)
        return [Metric(GROUP, "Dask not installed: nothing measured", None, "s")]
    repeats = 1 if cfg.quick else REPEATS
    results = {}
    with tempfile.TemporaryDirectory(prefix="adc-bench-distributed-") as cache:
        for key, call in (("memory", f"one_process_in_memory({N}, {CHUNK}, {repeats})"),
                          ("chunks", f"one_process_by_chunk({N}, {CHUNK}, {repeats})"),
                          ("persisted", f"dask_workers({N}, {CHUNK}, {repeats}, persist=True)"),
                          ("generated", f"dask_workers({N}, {CHUNK}, {repeats}, persist=False)")):
            print(f"  {key} ...", flush=True)
            results[key] = guarded(cfg, GROUP, key, run_fresh, CODE.format(call=call), cache, cfg)
    reference = results["memory"]["result"] if results.get("memory") else None
    out = []
    labels = {"memory": "one process, data in memory (160 MB)",
              "chunks": "one process, chunks generated in turn",
              "persisted": "Dask 2 workers, data persisted on the workers",
              "generated": "Dask 2 workers, chunks generated per call"}
    for key, label in labels.items():
        r = results.get(key)
        if r is None:
            continue
        if reference is not None:
            difference = max(abs(a - b) / abs(b) for a, b in zip(r["result"], reference))
            # one process adds 10^7 terms in one sequence, the chunked ways in ten: their rounding differs
            if difference > 1e-11:
                cfg.failures.append(guarded_failure(key, r["result"], reference, difference))
        note = "per gradient call" + (", data generation excluded" if key in ("memory", "persisted") else
                                      ", chunk generation included")
        note += f"; {r['cpu']:.2f} CPU s per call{' (all processes)' if 'workers' in r else ''}"
        if r.get("generate"):
            note += f"; generating{' and storing' if key == 'persisted' else ''} the data took {r['generate']:.2f} s"
        out.append(Metric(GROUP, f"logreg N=1e7, {label}: time", r["seconds"], "s", note=note))
        out.append(Metric(GROUP, f"logreg N=1e7, {label}: peak memory, {'driver' if 'workers' in r else 'process'}",
                          r["peak"], "B", note="ru_maxrss" + (f"; {r['before data'] / 1e6:.0f} MB before the data"
                                                              if "before data" in r else "")))
        for i, peak in enumerate(r.get("workers", ()), start=1):
            out.append(Metric(GROUP, f"logreg N=1e7, {label}: peak memory, worker {i}", peak, "B",
                              note="ru_maxrss of the worker process"))
    print("  " + json.dumps({k: v for k, v in results.items() if v}, default=str)[:2000], flush=True)
    return out


def guarded_failure(key, got, want, difference):
    from harness import Failure
    return Failure(GROUP, key, f"result {got} differs from the one-process result {want} by {difference:.1e} "
                               f"relative (> 1e-11)")
