"""Logistic regression on 10 million samples that no process holds: gradient descent on Dask.

    python examples/dask_logistic_regression.py                        # 10^7 samples, 10 epochs
    python examples/dask_logistic_regression.py --n 200000 --epochs 3  # a quick run

The samples (8 features, labels drawn from a known logistic model) are made
chunk by chunk on the workers of a `LocalCluster` (two worker processes),
each chunk from its own seed, so a process holds a few chunks at a time (a
chunk of 250,000 samples is 16 MB; all of them would be 720 MB).  Every epoch
computes the mean binary cross-entropy and its gradient with
`sharded_value_and_grad`: the compiled gradient runs on each chunk where the
chunk is made, and the chunks' results are added up, weighted by their sizes.

The first epoch's gradient is checked against a computation in this process,
chunk by chunk over the same data (the same seeds): the compiler's gradient
called on one chunk after another, and the hand formulas mean((p - y) x) and
mean(p - y).
"""
import argparse
import math
import time

import numpy as np

from autodiff_compiler import value_and_grad

SEED = 2024
FEATURES = 8
TRUE_W = np.array([1.5, -2.0, 0.5, 0.0, 1.0, -1.0, 0.25, 0.75])
TRUE_B = -0.3


def loss(w, b, X, y):
    """Mean binary cross-entropy of sigmoid(X @ w + b) over the rows of X."""
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def features(chunk: int, rows: int) -> np.ndarray:
    """The features of one chunk: standard normal, from the chunk's own seed."""
    return np.random.default_rng([SEED, chunk]).standard_normal((rows, FEATURES))


def labels(X: np.ndarray, chunk: int) -> np.ndarray:
    """Labels drawn from the true logistic model."""
    p = 1 / (1 + np.exp(-(X @ TRUE_W + TRUE_B)))
    return (np.random.default_rng([SEED, chunk, 1]).random(X.shape[0]) < p).astype(np.float64)


def _features_block(block_info=None):
    info = block_info[None]
    return features(info["chunk-location"][0], info["chunk-shape"][0])


def _labels_block(X, block_info=None):
    return labels(X, block_info[None]["chunk-location"][0])


def dask_data(rows: tuple):
    """X and y as Dask arrays: nothing is computed until a chunk is needed, and then on a worker."""
    import dask.array as da
    X = da.map_blocks(_features_block, chunks=(rows, (FEATURES,)), dtype=np.float64,
                      meta=np.empty((0, 0)))
    y = X.map_blocks(_labels_block, drop_axis=1, dtype=np.float64, meta=np.empty((0,)))
    return X, y


def in_process(w, b, rows: tuple):
    """The loss and gradient over the same data in this process, chunk by chunk: (compiler's, hand formula's)."""
    vg = value_and_grad(loss, wrt=("w", "b"))
    n = sum(rows)
    ours = [0.0, np.zeros(FEATURES), 0.0]
    hand = [0.0, np.zeros(FEATURES), 0.0]
    for chunk, size in enumerate(rows):
        X = features(chunk, size)
        y = labels(X, chunk)
        value, (dw, db) = vg(w, b, X, y)
        ours[0] += size / n * value
        ours[1] += size / n * dw
        ours[2] += size / n * db
        p = 1 / (1 + np.exp(-(X @ w + b)))
        hand[0] -= np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)) / n
        hand[1] += X.T @ (p - y) / n
        hand[2] += np.sum(p - y) / n
    return ours, hand


def peak_memory() -> int:
    """This process's peak resident memory in bytes (Linux and macOS)."""
    import resource
    import sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def relative_difference(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) / max(float(np.max(np.abs(v))), 1e-300)
               for u, v in zip(a, b))


def epoch_bar(epoch: int, epochs: int):
    start = time.perf_counter()

    def draw(done: int, total: int) -> None:
        filled = 30 * done // total
        print(f"\repoch {epoch:2d}/{epochs} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} chunks "
              f"{time.perf_counter() - start:5.1f} s", end="", flush=True)
    return draw


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="number of samples (default 10,000,000)")
    ap.add_argument("--chunk", type=int, default=250_000, help="samples per chunk (default 250,000)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=4.0, help="learning rate")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from distributed import Client, LocalCluster
    from autodiff_compiler.dask import sharded_value_and_grad

    chunk = min(args.chunk, max(1, math.ceil(args.n / 8)))
    rows = (chunk,) * (args.n // chunk) + ((args.n % chunk,) if args.n % chunk else ())
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        print(f"{args.n:,} samples x {FEATURES} features in {len(rows)} chunks of up to {chunk:,}, "
              f"made on {len(client.scheduler_info()['workers'])} worker processes "
              f"(all at once: {args.n * (FEATURES + 1) * 8 / 1e6:,.0f} MB; one chunk: "
              f"{chunk * (FEATURES + 1) * 8 / 1e6:,.1f} MB)")
        X, y = dask_data(rows)
        vg = sharded_value_and_grad(loss, wrt=("w", "b"), reduce="mean")
        w, b = np.zeros(FEATURES), 0.0
        # compile once here, on four samples: the workers share this machine's disk cache and load it from there
        t0 = time.perf_counter()
        sample = features(0, 4)
        vg.gradient(w, b, sample, labels(sample, 0))
        print(f"gradient compiled in this process in {time.perf_counter() - t0:.1f} s "
              f"(the workers load it from the disk cache)")
        first = None
        start = time.perf_counter()
        for epoch in range(1, args.epochs + 1):
            t0 = time.perf_counter()
            value, (dw, db) = vg(w, b, X, y, progress=epoch_bar(epoch, args.epochs))
            print(f"  loss {value:.6f}  ({time.perf_counter() - t0:.1f} s)", flush=True)
            if first is None:
                first = (w.copy(), b, (value, dw, db))
            w, b = w - args.lr * dw, b - args.lr * db
        value, _ = vg(w, b, X, y)
        print(f"final loss {value:.6f} after {args.epochs} epochs ({time.perf_counter() - start:.1f} s)")
        print(f"w = {np.array2string(w, precision=2, suppress_small=True)}, b = {b:.2f}")
        print(f"    (true w = {np.array2string(TRUE_W, precision=2, suppress_small=True)}, b = {TRUE_B:.2f})")
        workers = sorted(client.run(peak_memory).values())
        print(f"peak memory per process: this one {peak_memory() / 1e6:.0f} MB, workers "
              f"{', '.join(f'{m / 1e6:.0f} MB' for m in workers)} (imports and compiled code included; "
              f"the data: {args.n * (FEATURES + 1) * 8 / 1e6:,.0f} MB)")

    w0, b0, sharded = first
    print("\nfirst epoch's loss and gradient, recomputed in this process chunk by chunk (same seeds):")
    ours, hand = in_process(w0, b0, rows)
    same = relative_difference(sharded, ours)
    formula = relative_difference(sharded, hand)
    print(f"  compiled gradient, one process:          max relative difference {same:.1e} "
          f"({'ok' if same <= 1e-12 else 'DIFFERS'}, <= 1e-12)")
    print(f"  hand formulas mean((p - y) x), mean(p - y): max relative difference {formula:.1e} "
          f"({'ok' if formula <= 1e-9 else 'DIFFERS'}, <= 1e-9)")
    assert same <= 1e-12 and formula <= 1e-9


if __name__ == "__main__":
    main()
