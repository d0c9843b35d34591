"""Beyond one process: gradient objects pickle, `multiprocessing.Pool` maps them over shards, and
`autodiff_compiler.dask` computes data-parallel gradients on a real `LocalCluster` (worker processes).

The cluster (2 workers, one thread each) starts once for the module; the tests that kill workers run last.
"""
import json
import math
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from autodiff_compiler import ArgumentError, custom_derivative, grad, value_and_grad

cloudpickle = pytest.importorskip("cloudpickle")

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)


# --------------------------------------------------------------- functions

def bce(w, b, X, y):
    """Mean binary cross-entropy of a logistic model over the rows of X."""
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def bce_once(w, b, X, y):
    """The same loss under another name, for counting compilations on the workers."""
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def sse(w, b, X, y):
    """Sum of squared errors of a linear model."""
    r = X @ w + b - y
    return np.sum(r * r)


def sse_regularised(w, b, X, y):
    """Not a sum over samples: the penalty would be counted once per chunk."""
    r = X @ w + b - y
    return np.sum(r * r) + 0.5 * np.sum(w * w)


def sumsq(x):
    return np.sum(x * x) / 2


SCALE = 1.5


@custom_derivative("out * (1 - out)")
def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def scalar_loss(x, a=2.0):
    y = SCALE * math.sin(x) ** 2 + a * x
    return sigmoid(y) + sumsq_scalar(x)


def sumsq_scalar(x):
    return x * x / 2


def data(n=1000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ np.array([1.0, -2.0, 0.5][:d]) + 0.3)))).astype(float)
    return np.array([0.1, -0.2, 0.3][:d]), 0.05, X, y


def assert_close(got, want, rel=1e-12):
    """Every value and gradient equal to `rel` relative (of the largest entry of each)."""
    got, want = _flatten(got), _flatten(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g, dtype=float), np.asarray(w, dtype=float)
        assert g.shape == w.shape
        assert np.max(np.abs(g - w)) <= rel * max(np.max(np.abs(w)), 1e-300), (g, w)


def _flatten(x):
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in _flatten(item)]
    if isinstance(x, dict):
        return [leaf for key in sorted(x) for leaf in _flatten(x[key])]
    return [x]


# ------------------------------------------------------------------ pickling

PICKLERS = {"pickle": pickle, "cloudpickle": cloudpickle}

# (jit=False where the option under test is not jit: the generated code is the same, compiling it is slow)
GRADIENTS = {
    "grad": lambda: grad(scalar_loss),
    "grad wrt tuple": lambda: grad(scalar_loss, wrt=("x", "a"), jit=False),
    "value_and_grad": lambda: value_and_grad(bce, wrt=("w", "b")),
    "value_and_grad single": lambda: value_and_grad(bce, wrt=0, jit=False),
    "jit=False, simplify=False": lambda: grad(scalar_loss, wrt=1, jit=False, simplify=False),
    "verify=True": lambda: grad(scalar_loss, verify=True, jit=False),
    "intermediates": lambda: grad(scalar_loss, intermediates=("y",), jit=False),
}

ARGS = {"bce": data(50)}


def _args(g):
    return ARGS["bce"] if g.fn is bce else (0.7,)


@pytest.mark.parametrize("pickler", sorted(PICKLERS))
@pytest.mark.parametrize("kind", sorted(GRADIENTS))
def test_pickle_round_trip(kind, pickler):
    g = GRADIENTS[kind]()
    h = PICKLERS[pickler].loads(PICKLERS[pickler].dumps(g))
    # a called gradient object answers from its own class (one frame per call): the public type is its base
    from autodiff_compiler.api import GradientFunction
    assert isinstance(h, GradientFunction) and type(h).__qualname__ == type(g).__qualname__ and h is not g
    for option in ("wrt", "single", "jit", "verify", "simplify", "with_value", "intermediates", "accumulate"):
        assert getattr(h, option) == getattr(g, option), option
    assert_close(h(*_args(g)), g(*_args(g)), rel=0)
    assert h.source == g.source


def test_accumulate_survives_pickling():
    g = grad(sumsq, accumulate=True)
    h = pickle.loads(pickle.dumps(g))
    x, buffer = np.arange(3.0), np.ones(3)
    h(x, out=buffer)
    h(x, out=buffer)
    assert h.accumulate and np.array_equal(buffer, 1 + 2 * x)


def test_decorated_function_pickles():
    h = pickle.loads(pickle.dumps(DECORATED))
    assert h(3.0) == DECORATED(3.0) == 27.0


def test_function_defined_in_a_function_pickles():
    scale = 3.0

    def cube(x):
        return scale * x ** 3
    g = grad(cube, jit=False)
    h = cloudpickle.loads(cloudpickle.dumps(g))
    assert h.fn is not cube and h(2.0) == g(2.0) == 36.0


@grad
def DECORATED(x):  # noqa: N802 - a module attribute that is a gradient object
    return x ** 3


def test_dask_token_is_deterministic(subprocess_env):
    dask_base = pytest.importorskip("dask.base")
    a, b = value_and_grad(bce, wrt=("w", "b")), value_and_grad(bce, wrt=("w", "b"))
    assert dask_base.tokenize(a) == dask_base.tokenize(b)
    assert dask_base.tokenize(a) != dask_base.tokenize(value_and_grad(bce, wrt="w"))
    assert dask_base.tokenize(a) != dask_base.tokenize(grad(bce, wrt=("w", "b")))
    assert dask_base.tokenize(a) != dask_base.tokenize(value_and_grad(bce, wrt=("w", "b"), jit=False))
    code = ("import dask.base, test_distributed as t, autodiff_compiler as ad\n"
            "print(dask.base.tokenize(ad.value_and_grad(t.bce, wrt=('w', 'b'))))")
    env = dict(subprocess_env, PYTHONPATH=TESTS_DIR + os.pathsep + subprocess_env["PYTHONPATH"])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == dask_base.tokenize(a)


SCRIPT = '''\
import json, math, os, pickle, sys
import numpy as np
import helpers_mod as hm
from autodiff_compiler import custom_derivative, grad, value_and_grad

with open(os.environ["RUN_MARKER"], "a") as marker:   # a side effect of running this file
    marker.write("ran\\n")

K = 2.5

@custom_derivative("out * (1 - out)")
def sigmoid(z):
    return 1 / (1 + math.exp(-z))

def loss(w, b, x, y):
    z = w * x + b
    return -(y * np.log(hm.squash(z)) + (1 - y) * np.log(1 - hm.squash(z))) + K * sigmoid(w) ** 2

if __name__ == "__main__":
    gradients = [value_and_grad(loss, wrt=("w", "b")), grad(loss, wrt=1, jit=False, simplify=False)]
    with open(sys.argv[1], "wb") as out:
        pickle.dump((gradients, (0.3, -0.1, 0.7, 1.0)), out)
    print(json.dumps([repr(g(0.3, -0.1, 0.7, 1.0)) for g in gradients]))
'''

HELPERS = '''\
import math
LIMIT = 1e-12

def squash(z):
    return min(max(1 / (1 + math.exp(-z)), LIMIT), 1 - LIMIT)
'''

LOAD = '''\
import json, pickle, sys
gradients, args = pickle.load(open(sys.argv[1], "rb"))
values = [repr(g(*args)) for g in gradients]
stats = gradients[0].compiled_for(*args).stats
print(json.dumps({"values": values, "hits": sum(stats.cache_hits.values()),
                  "helpers imported": "helpers_mod" in sys.modules}))
'''


def test_script_gradient_rebuilt_elsewhere_from_carried_source(tmp_path, subprocess_env):
    """A script's gradient (its `__main__`, a helper module, a constant, a custom derivative) unpickles in a
    process that has neither file: rebuilt from the source it carries, without running the script, reusing
    the compiled code in the shared cache."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    (project / "helpers_mod.py").write_text(HELPERS)
    marker, pickled = tmp_path / "ran.txt", tmp_path / "gradients.pkl"
    env = dict(subprocess_env, RUN_MARKER=str(marker))
    sent = subprocess.run([sys.executable, "train.py", str(pickled)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    for name in ("train.py", "helpers_mod.py"):
        (project / name).unlink()
    received = subprocess.run([sys.executable, "-c", LOAD, str(pickled)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    assert received.returncode == 0, received.stderr
    result = json.loads(received.stdout)
    assert result["values"] == json.loads(sent.stdout)
    assert result["hits"] == 1 and not result["helpers imported"]
    assert marker.read_text() == "ran\n"                    # the script ran once: in the sender


def test_changed_module_uses_the_carried_source(tmp_path, monkeypatch):
    module = tmp_path / "changing_mod.py"
    module.write_text("def f(x):\n    return x ** 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import changing_mod
    g = grad(changing_mod.f)
    pickled = pickle.dumps(g)
    module.write_text("def f(x):\n    return x ** 2 + 1.0 + 2.0\n")  # another length: linecache sees the change
    os.utime(module, (time.time() + 5, time.time() + 5))
    assert pickle.loads(pickled)(2.0) == 12.0


# ------------------------------------------------------------ multiprocessing

def _start_methods():
    return [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


@pytest.mark.parametrize("method", _start_methods())
def test_pool_map_over_shards(method):
    """`Pool(2).map(g, shards)` and `starmap` of a data-parallel loss: the sum of the shards' gradients
    (weighted by shard size for a mean) is the single-process gradient."""
    w, b, X, y = data(1000)
    bounds = [0, 137, 400, 401, 1000]
    shards = [(w, b, X[lo:hi], y[lo:hi]) for lo, hi in zip(bounds, bounds[1:])]
    vg = value_and_grad(bce, wrt=("w", "b"))
    g = grad(sumsq)
    with multiprocessing.get_context(method).Pool(2) as pool:
        parts = pool.starmap(vg, shards)
        singles = pool.map(g, [X[:, 0], X[:, 1], y])
    weights = [(hi - lo) / 1000 for lo, hi in zip(bounds, bounds[1:])]
    value = sum(wt * v for wt, (v, _) in zip(weights, parts))
    dw = sum(wt * gw for wt, (_, (gw, _)) in zip(weights, parts))
    db = sum(wt * gb for wt, (_, (_, gb)) in zip(weights, parts))
    assert_close((value, dw, db), (vg(w, b, X, y)[0],) + vg(w, b, X, y)[1])
    for got, x in zip(singles, [X[:, 0], X[:, 1], y]):
        assert np.array_equal(got, g(x))


# ----------------------------------------------------------------------- Dask

@pytest.fixture(scope="module")
def dask_modules():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    from autodiff_compiler import dask as ad_dask
    return da, distributed, ad_dask


def test_local_scheduler_without_client(dask_modules):
    """No distributed Client: Dask's local scheduler runs the chunks (runs before the cluster starts)."""
    da, distributed, ad_dask = dask_modules
    with pytest.raises(ValueError):
        distributed.default_client()
    w, b, X, y = data(600)
    seen = []
    vg = ad_dask.sharded_value_and_grad(bce, wrt=("w", "b"), reduce="mean")
    got = vg(w, b, da.from_array(X, chunks=(250, -1)), da.from_array(y, chunks=250),
             progress=lambda done, total: seen.append((done, total)))
    assert_close(got, value_and_grad(bce, wrt=("w", "b"))(w, b, X, y))
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)


@pytest.fixture(scope="module")
def client(dask_modules):
    import logging
    da, distributed, _ = dask_modules
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


CHUNKINGS = {"equal": 100, "unequal": (137, 263, 100, 500), "single": 1000}


@pytest.mark.parametrize("reduce, loss", [("mean", bce), ("sum", sse)])
@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
def test_sharded_equals_single_process(client, dask_modules, chunking, reduce, loss):
    da, _, ad_dask = dask_modules
    w, b, X, y = data(1000)
    chunks = CHUNKINGS[chunking]
    Xd, yd = da.from_array(X, chunks=(chunks, -1)), da.from_array(y, chunks=(chunks,))
    want = value_and_grad(loss, wrt=("w", "b"))(w, b, X, y)      # compiled here first, loaded by the workers
    got = ad_dask.sharded_value_and_grad(loss, wrt=("w", "b"), reduce=reduce)(w, b, Xd, yd)
    assert_close(got, want)


def _compilations(name):
    """On a worker: the compiled modules of `name`, their Numba overloads and cache loads, the rebuilt
    gradient objects and their derivations."""
    from autodiff_compiler import pickling
    from autodiff_compiler.backend import load
    modules = [(len(d.overloads), sum(d.stats.cache_hits.values()) + sum(d.stats.cache_misses.values()))
               for key, d in load._LOADED.items() if os.path.basename(key[0]).startswith(name + "_")]
    rebuilt = [(len(g._states), len(g._compiled)) for g in pickling._REBUILT.values() if g.fn.__name__ == name]
    return modules, rebuilt


def test_each_worker_compiles_a_signature_once(client, dask_modules):
    da, _, ad_dask = dask_modules
    w, b, X, y = data(1000)
    value_and_grad(bce_once, wrt=("w", "b"))(w, b, X, y)     # into the shared disk cache
    vg = ad_dask.sharded_value_and_grad(bce_once, wrt=("w", "b"), reduce="mean")
    for step, chunks in enumerate((100, 100, (500, 250, 250), 100)):   # new w: no result Dask still holds
        vg(w + step, b, da.from_array(X, chunks=(chunks, -1)), da.from_array(y, chunks=(chunks,)))
    report = client.run(_compilations, "bce_once_value_and_grad")
    for modules, rebuilt in report.values():
        assert modules in ([], [(1, 1)])          # one module, one overload, compiled (or loaded) once
        assert rebuilt in ([], [(1, 1)])          # one gradient object, one derivation
    assert sum(len(m) for m, _ in report.values()) >= 1


def test_client_map_and_delayed_with_pure_tokens(client, dask_modules):
    import dask
    da, _, _ = dask_modules
    w, b, X, y = data(1000)
    vg = value_and_grad(bce, wrt=("w", "b"))
    parts = client.gather(client.map(vg, [w] * 4, [b] * 4, np.array_split(X, 4), np.array_split(y, 4), pure=True))
    value = sum(v for v, _ in parts) / 4
    dw = sum(g[0] for _, g in parts) / 4
    assert_close((value, dw), (vg(w, b, X, y)[0], vg(w, b, X, y)[1][0]))
    lazy = dask.delayed(vg, pure=True)(w, b, X, y)
    assert_close(client.compute(lazy).result(), vg(w, b, X, y))


def test_function_the_workers_cannot_import(client, dask_modules, tmp_path, monkeypatch):
    """The workers started before this module existed: they rebuild the loss from the source it carries."""
    da, _, ad_dask = dask_modules
    (tmp_path / "only_here.py").write_text(textwrap.dedent('''\
        import numpy as np
        OFFSET = 0.25

        def shifted(z):
            return z + OFFSET

        def loss(w, b, X, y):
            r = shifted(X @ w + b) - y
            return np.mean(r * r)
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here
    w, b, X, y = data(1000)
    want = value_and_grad(only_here.loss, wrt=("w", "b"))(w, b, X, y)
    vg = ad_dask.sharded_value_and_grad(only_here.loss, wrt=("w", "b"), reduce="mean")
    got = vg(w, b, da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300))
    assert_close(got, want)
    assert not any(client.run(lambda: "only_here" in sys.modules).values())


def test_progress_bar(client, dask_modules, capsys):
    da, _, ad_dask = dask_modules
    w, b, X, y = data(1000)
    vg = ad_dask.sharded_value_and_grad(bce, wrt=("w", "b"), reduce="mean")
    vg(w, b, da.from_array(X, chunks=(250, -1)), da.from_array(y, chunks=250), progress=True)
    assert "4/4 chunks" in capsys.readouterr().err


def test_misuse_is_a_clear_error(client, dask_modules):
    da, _, ad_dask = dask_modules
    w, b, X, y = data(1000)
    Xd, yd = da.from_array(X, chunks=(100, -1)), da.from_array(y, chunks=100)
    sharded = ad_dask.sharded_value_and_grad
    with pytest.raises(ArgumentError, match="reduce='mean'"):
        sharded(bce, wrt=("w", "b"))
    with pytest.raises(ArgumentError, match="reduce='average'"):
        sharded(bce, wrt=("w", "b"), reduce="average")
    with pytest.raises(ArgumentError, match=r"chunked along axis 1.*\n.*X.rechunk\(\{1: -1\}\)"):
        sharded(bce, wrt=("w", "b"), reduce="mean")(w, b, da.from_array(X, chunks=(100, 1)), yd)
    with pytest.raises(ArgumentError, match=r"unlike 'X'.*\n.*y.rechunk\(\{0: X.chunks\[0\]\}\)"):
        sharded(bce, wrt=("w", "b"), reduce="mean")(w, b, Xd, da.from_array(y, chunks=200))
    with pytest.raises(ArgumentError, match="wrt names the data"):
        sharded(bce, wrt=("w", "X"), reduce="mean", data=("X", "y"))
    with pytest.raises(ArgumentError, match="no argument of bce is a Dask array"):
        sharded(bce, wrt=("w", "b"), reduce="mean")(w, b, X, y)
    with pytest.raises(ArgumentError, match="'y' of bce is a ndarray, not a Dask array"):
        sharded(bce, wrt=("w", "b"), reduce="mean", data=("X", "y"))(w, b, Xd, y)
    value_and_grad(sse_regularised, wrt=("w", "b"))(w, b, X, y)          # compiled here, loaded by the workers
    # declared sum, written as a mean: found on the first chunk, on the worker
    with pytest.raises(ArgumentError, match="declare reduce='mean'"):
        sharded(bce, wrt=("w", "b"), reduce="sum")(w, b, Xd, yd)
    with pytest.raises(ArgumentError, match="not the sum over its samples.*\n.*regulariser"):
        sharded(sse_regularised, wrt=("w", "b"), reduce="sum")(w, b, Xd, yd)


# -------------------------------------------------- workers dying (run last)

def slow_block(block, seconds):
    time.sleep(seconds)
    return block


def exit_on_block(block, bad, block_info=None):
    if block_info[0]["chunk-location"][0] == bad:
        os._exit(1)                                  # the worker process dies while computing this chunk
    return block


def _worker_pids(client):
    return set(client.run(os.getpid).values())


def test_killed_worker_mid_computation_retries_its_chunks(client, dask_modules):
    da, _, ad_dask = dask_modules
    w, b, X, y = data(1000)
    Xd = da.from_array(X, chunks=(125, -1)).map_blocks(slow_block, 0.3, dtype=float)
    yd = da.from_array(y, chunks=125)
    before = _worker_pids(client)
    victim = sorted(before)[0]
    killer = threading.Timer(0.8, os.kill, (victim, signal.SIGKILL))
    killer.start()
    try:
        got = ad_dask.sharded_value_and_grad(bce, wrt=("w", "b"), reduce="mean")(w, b, Xd, yd)
    finally:
        killer.join()
    assert_close(got, value_and_grad(bce, wrt=("w", "b"))(w, b, X, y))
    client.wait_for_workers(2, timeout=120)
    assert victim not in _worker_pids(client)       # it was killed (and the nanny started another)


def test_chunk_that_kills_every_worker_is_a_clear_error(client, dask_modules):
    da, _, ad_dask = dask_modules
    client.wait_for_workers(2, timeout=120)
    allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    try:
        w, b, X, y = data(1000)
        Xd = da.from_array(X, chunks=(250, -1)).map_blocks(exit_on_block, 2, dtype=float)
        yd = da.from_array(y, chunks=250)
        with pytest.raises(ad_dask.ChunkFailedError, match="no partial result"):
            ad_dask.sharded_value_and_grad(bce, wrt=("w", "b"), reduce="mean")(w, b, Xd, yd)
    finally:
        client.run_on_scheduler(lambda dask_scheduler, n=allowed: setattr(dask_scheduler, "allowed_failures", n))
    client.wait_for_workers(2, timeout=120)
