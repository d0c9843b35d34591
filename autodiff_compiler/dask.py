"""Data-parallel gradients on Dask: `value_and_grad` of a loss summed or averaged over samples.

    from autodiff_compiler.dask import sharded_value_and_grad

    vg = sharded_value_and_grad(loss, wrt=("w", "b"), reduce="mean")
    value, (dw, db) = vg(w, b, X, y)        # X, y: dask arrays chunked along samples (axis 0)

Takes: a loss written for a batch of samples, returning the sum (`reduce="sum"`)
or the mean (`reduce="mean"`) over the rows of its data arguments; at call
time, `dask.array`s chunked along axis 0 for the data parameters (the
arguments that are Dask arrays, or the ones named by `data=`) and ordinary
values (floats, NumPy arrays) for the others.  Guarantees:

* on every chunk, the compiled `value_and_grad` of the loss runs where the
  chunk is (a Dask worker); the gradient object travels with each chunk's task,
  pickled as `pickling.py` describes (its source, not compiled code), and a
  worker process derives and compiles each signature once;
* the partial results are added in a fixed tree (fan-in 8), so the result does
  not depend on which worker finishes first; a mean is the chunk means weighted
  by chunk sizes; with equal, unequal or single chunks the result is the
  single-process `value_and_grad` to rounding;
* a result is returned only when every chunk contributed: the samples and
  chunks added up are counted against the arrays' chunking.  A worker that
  dies is replaced and its chunks computed again by Dask; when Dask gives up
  (`distributed.scheduler.allowed-failures`), `ChunkFailedError` says so;
* misuse is an `ArgumentError` that says what to write instead: `reduce`
  missing or unknown, data chunked along another axis or chunked unlike the
  other data, `wrt` naming a data parameter, no Dask array among the
  arguments, and a loss that is not the sum or mean it was declared to be
  (checked on the first chunk's first rows, split in two parts).

It runs on the `distributed.Client` given as `client=`, else on the current
one (the last `Client` created), else on Dask's local scheduler.  Needs the
`dask` extra: `pip install 'autodiff_compiler[dask]'`.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
    from dask.delayed import delayed
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("autodiff_compiler.dask needs Dask: pip install 'autodiff_compiler[dask]' "
                      "(dask[array] and distributed)") from exc

from .api import GradientFunction, value_and_grad
from .errors import ArgumentError, AutodiffError

__all__ = ["sharded_value_and_grad", "ShardedValueAndGrad", "ChunkFailedError"]

FAN_IN = 8                 # partial results added per task of the reduction tree
CHECK_ROWS = 64            # rows of the first chunk used to check the declared reduction


class ChunkFailedError(AutodiffError):
    """A chunk's gradient could not be computed (its worker died too often); no partial result is returned."""


def sharded_value_and_grad(fn, wrt=0, *, reduce=None, data=None, client=None, jit: bool = True,
                           simplify: bool = True) -> "ShardedValueAndGrad":
    """`value_and_grad(fn, wrt)` over Dask arrays chunked along samples; see the module docstring.

    `reduce` says how `fn` combines its samples: "sum" or "mean" (required).
    `data` names the parameters holding samples (default: the arguments that
    are Dask arrays).  `client` is a `distributed.Client` (default: the current
    one, else Dask's local scheduler).  `jit` and `simplify` are
    `value_and_grad`'s options.  (To prove the gradient against SymPy, call
    `value_and_grad(fn, wrt, verify=True)` on a few samples in this process:
    the proof runs on symbols for every element, too many for a chunk.)"""
    return ShardedValueAndGrad(fn, wrt, reduce=reduce, data=data, client=client, jit=jit, simplify=simplify)


class ShardedValueAndGrad:
    """Calling it returns `(value, gradient(s))` like `value_and_grad`, computed chunk by chunk on Dask."""

    def __init__(self, fn, wrt=0, *, reduce=None, data=None, client=None, jit=True, simplify=True):
        self.gradient: GradientFunction = value_and_grad(fn, wrt=wrt, jit=jit, simplify=simplify)
        name = self.gradient.fn.__name__
        if reduce not in ("sum", "mean"):
            got = "no reduce=" if reduce is None else f"reduce={reduce!r}"
            raise ArgumentError(
                f"sharded_value_and_grad({name}) needs to know how {name} combines its samples; got {got}",
                hint=f"pass reduce='mean' if {name} returns the mean over the rows of its data "
                     f"(np.mean(...)), reduce='sum' if it returns their sum")
        self.reduce = reduce
        self.client = client
        params = self.gradient.params
        if data is not None:
            items = [data] if isinstance(data, (str, int)) else list(data)
            names = []
            for item in items:
                if isinstance(item, int) and not isinstance(item, bool) and -len(params) <= item < len(params):
                    names.append(params[item])
                elif isinstance(item, str) and item in params:
                    names.append(item)
                else:
                    raise ArgumentError(f"data={item!r} is not a parameter of {name}",
                                        hint=f"its parameters are: {', '.join(params)}")
            if not names:
                raise ArgumentError("data is empty", hint="name the parameters that hold the samples")
            self._check_wrt(names)
            self.data = tuple(names)
        else:
            self.data = None

    def _check_wrt(self, data):
        both = [w for w in self.gradient.wrt if w in data]
        if both:
            raise ArgumentError(
                f"wrt names the data parameter(s) {', '.join(both)}: their gradient has a row per sample and is not "
                f"a sum over chunks", hint="differentiate with respect to the model's parameters only")

    @property
    def source(self) -> str:
        """The generated module that runs on every chunk."""
        return self.gradient.source

    def __repr__(self) -> str:
        return (f"<sharded value_and_grad of {self.gradient.fn.__name__} wrt {', '.join(self.gradient.wrt)}, "
                f"reduce={self.reduce!r}>")

    # ---------------------------------------------------------------- the graph
    def _plan(self, args, kwargs):
        g = self.gradient
        params = g.params
        args = g.complete(tuple(args), kwargs)
        if len(args) != len(params):
            raise ArgumentError(f"{g.fn.__name__}() takes {len(params)} argument(s) ({', '.join(params)}), "
                                f"got {len(args)}")
        values = dict(zip(params, args))
        data = self.data or tuple(p for p in params if isinstance(values[p], da.Array))
        if not data:
            raise ArgumentError(
                f"no argument of {g.fn.__name__} is a Dask array: there are no samples to split",
                hint="pass the data as dask arrays chunked along samples, e.g. "
                     "da.from_array(X, chunks=(100_000, -1))")
        self._check_wrt(data)
        for name in params:
            value = values[name]
            if name in data and not isinstance(value, da.Array):
                raise ArgumentError(f"data parameter {name!r} of {g.fn.__name__} is a {type(value).__name__}, "
                                    f"not a Dask array", hint=f"pass da.from_array({name}, chunks=...) chunked "
                                    f"like the other data")
            if name not in data and isinstance(value, da.Array):
                raise ArgumentError(f"{name!r} is a Dask array but not one of the data parameters "
                                    f"({', '.join(data)}): it would go whole to every chunk",
                                    hint=f"pass {name}.compute(), or name it in data= if it holds samples")
        first = data[0]
        rows = values[first].chunks[0] if values[first].ndim else ()
        for name in data:
            arr = values[name]
            if arr.ndim == 0:
                raise ArgumentError(f"data parameter {name!r} is a 0-d array: it holds no samples")
            if any(math.isnan(c) for c in arr.chunks[0]):
                raise ArgumentError(f"the chunk sizes of {name!r} along samples are unknown",
                                    hint=f"call {name}.compute_chunk_sizes() first")
            for axis, chunks in enumerate(arr.chunks[1:], start=1):
                if len(chunks) > 1:
                    raise ArgumentError(
                        f"{name!r} is chunked along axis {axis} ({len(chunks)} chunks): samples are split along "
                        f"axis 0 only, each chunk must hold whole samples",
                        hint=f"{name} = {name}.rechunk({{{axis}: -1}})")
            if arr.shape[0] != values[first].shape[0]:
                raise ArgumentError(f"{first!r} has {values[first].shape[0]} samples (rows) but {name!r} has "
                                    f"{arr.shape[0]}")
            if arr.chunks[0] != rows:
                raise ArgumentError(f"{name!r} is chunked along samples unlike {first!r} "
                                    f"({_describe(arr.chunks[0])} vs {_describe(rows)})",
                                    hint=f"{name} = {name}.rechunk({{0: {first}.chunks[0]}})")
        total = sum(rows)
        if total == 0:
            raise ArgumentError("the data hold no samples")
        return values, data, rows

    def _graph(self, args, kwargs):
        """(final, chunk parts): Delayed objects for `(value, grads)` and for every chunk's partial result."""
        values, data, rows = self._plan(args, kwargs)
        arrays = dask.optimize(*(values[name] for name in data))
        blocks = [arr.to_delayed(optimize_graph=False).reshape(-1) for arr in arrays]
        fixed = {p: v for p, v in values.items() if p not in data}
        prefix = (f"value_and_grad-{self.gradient.fn.__name__}-"
                  f"{tokenize(self.gradient, fixed, [a.name for a in arrays], self.reduce)}")
        # the gradient object goes into every chunk's task (a small pickle, unpickled once per worker process):
        # a worker that cannot rebuild it fails that task with the reason, where a shared key would be fetched
        # from another worker and a failure there leaves the computation waiting
        gradient = self.gradient
        fixed = delayed(fixed, pure=True, traverse=False)
        checked = next((i for i, n in enumerate(rows) if n >= 2), None)
        parts = [delayed(_chunk, pure=True)(gradient, fixed, data, self.reduce, i == checked,
                                            *[b[i] for b in blocks], dask_key_name=f"{prefix}-chunk-{i}")
                 for i in range(len(rows))]
        level, tree = 0, parts
        while len(tree) > 1:
            tree = [delayed(_combine, pure=True)(*tree[i:i + FAN_IN], dask_key_name=f"{prefix}-add-{level}-{i}")
                    for i in range(0, len(tree), FAN_IN)]
            level += 1
        final = delayed(_finish, pure=True)(tree[0], self.reduce, sum(rows), len(rows),
                                            dask_key_name=f"{prefix}-result")
        return final, parts

    def delayed(self, *args, **kwargs):
        """A `dask.delayed` object for `(value, gradient(s))`, to compute yourself (`client.compute(...)`)."""
        return self._graph(args, kwargs)[0]

    # ---------------------------------------------------------------- the call
    def __call__(self, *args, progress=False, **kwargs):
        """`(value, gradient(s))` of the loss over all samples.

        `progress=True` draws a bar of finished chunks on stderr; a callable is
        called as `progress(done, total)` instead."""
        final, parts = self._graph(args, kwargs)
        report = _TextBar() if progress is True else (progress or None)
        client = self.client or _current_client()
        try:
            if client is not None:
                return _on_client(client, final, parts, report)
            return _on_local_scheduler(final, parts, report)
        except AutodiffError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":
                raise ChunkFailedError(
                    f"a chunk of the gradient of {self.gradient.fn.__name__} could not be computed: {exc}; "
                    f"no partial result was returned",
                    hint="the workers running it died (out of memory?); Dask retries a chunk on another worker "
                         "up to distributed.scheduler.allowed-failures times") from exc
            raise


def _describe(chunks) -> str:
    if len(chunks) > 4:
        return f"{len(chunks)} chunks: {', '.join(map(str, chunks[:3]))}, ..., {chunks[-1]}"
    return f"{len(chunks)} chunk(s): {', '.join(map(str, chunks))}"


def _current_client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _on_client(client, final, parts, report):
    if report is None:
        return client.compute(final).result()
    from distributed import as_completed
    futures = client.compute([final] + parts)
    result, chunk_futures = futures[0], futures[1:]
    report(0, len(parts))
    for done, _ in enumerate(as_completed(chunk_futures), start=1):
        report(done, len(parts))
    del chunk_futures
    return result.result()


def _on_local_scheduler(final, parts, report):
    if report is None:
        return dask.compute(final)[0]
    from dask.callbacks import Callback
    keys = {p.key for p in parts}
    done = [0]

    def posttask(key, result, dsk, state, worker_id):
        if key in keys:
            done[0] += 1
            report(done[0], len(keys))
    report(0, len(keys))
    with Callback(posttask=posttask):
        return dask.compute(final)[0]


class _TextBar:
    """`[#########.........] 12/24 chunks  1.3 s` on stderr, redrawn in place."""

    def __init__(self, width: int = 30, stream=None):
        self.width, self.stream, self.start = width, stream or sys.stderr, time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        filled = self.width * done // max(total, 1)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} chunks "
                          f"{time.perf_counter() - self.start:5.1f} s")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------- worker side

def _map(grads, fn):
    return tuple(fn(g) for g in grads) if type(grads) is tuple else fn(grads)


def _add(a, b):
    return tuple(x + y for x, y in zip(a, b)) if type(a) is tuple else a + b


def _chunk(gradient, fixed, data, reduce, check, *blocks):
    """(samples, chunks, value, gradients) of one chunk; for a mean, value and gradients are times the samples."""
    blocks = [np.ascontiguousarray(b) for b in blocks]     # one compiled layout for every chunk
    n = blocks[0].shape[0]
    if n == 0:
        return 0, 1, None, None
    values = dict(fixed)
    values.update(zip(data, blocks))
    value, grads = gradient(*[values[p] for p in gradient.params])
    if check:
        _check_reduction(gradient, values, data, reduce, n)
    if reduce == "mean":
        value, grads = value * n, _map(grads, lambda g: g * n)
    return n, 1, value, grads


def _combine(*parts):
    samples = sum(p[0] for p in parts)
    chunks = sum(p[1] for p in parts)
    value = grads = None
    for _, _, v, g in parts:
        if v is None:
            continue
        value, grads = (v, g) if value is None else (value + v, _add(grads, g))
    return samples, chunks, value, grads


def _finish(total, reduce, samples, chunks):
    n, count, value, grads = total
    if n != samples or count != chunks:
        raise ChunkFailedError(f"only {count} of {chunks} chunks ({n} of {samples} samples) were added up; "
                               f"no partial result is returned")
    if reduce == "mean":
        value, grads = value / n, _map(grads, lambda g: g / n)
    return value, grads


def _check_reduction(gradient, values, data, reduce, n):
    """Is the loss on the first rows the declared sum (or size-weighted mean) of the loss on two parts of them?"""
    m = min(n, CHECK_ROWS)
    a = max(1, m // 3)

    def loss(lo, hi):
        part = dict(values)
        part.update({name: values[name][lo:hi] for name in data})
        return gradient(*[part[p] for p in gradient.params])[0]
    whole, first, second = loss(0, m), loss(0, a), loss(a, m)
    as_sum, as_mean = first + second, (a * first + (m - a) * second) / m
    scale = max(abs(whole), abs(first), abs(second))
    close = lambda u, v: abs(u - v) <= 1e-9 * scale or u == v  # noqa: E731
    expected, other = (as_sum, as_mean) if reduce == "sum" else (as_mean, as_sum)
    if close(whole, expected) or not math.isfinite(whole):
        return
    name = gradient.fn.__name__
    if close(whole, other):
        hint = f"{name} returns the {'mean' if reduce == 'sum' else 'sum'} over its samples: declare " \
               f"reduce={'mean' if reduce == 'sum' else 'sum'!r}"
    else:
        hint = (f"{name} must be a sum (or a mean) of per-sample terms; add terms that do not depend on the "
                f"samples (a regulariser) outside, to the returned value and gradients")
    raise ArgumentError(
        f"{name} is not the {reduce} over its samples: on rows 0..{m - 1} of the first chunk it is {whole!r}, "
        f"on rows 0..{a - 1} {first!r} and on rows {a}..{m - 1} {second!r}, whose {reduce} is {expected!r}",
        hint=hint)
