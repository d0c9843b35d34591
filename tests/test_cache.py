"""backend/cache.py: what Numba's disk cache may serve to a later process.

Checked here: a process at Numba's default optimisation level loads nothing that a process at another
level (the test suite's 0) wrote, through any path a gradient takes -- its module and the library's
helpers, the result scan of the counted entry, the native entry and the router of a hot signature --
while a second process at the default level loads them (so the check can fail, and they are cached).
"""
import json
import os
import subprocess
import sys
import textwrap
import types

import numba
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROCESS = textwrap.dedent('''
    import gc, json, math
    import numba
    import numpy as np
    from numba.core.ccallback import CFunc
    from numba.core.dispatcher import Dispatcher
    from autodiff_compiler import api, grad

    def scalar_loss(x):
        return math.sin(x ** 2)

    def array_loss(x):
        return np.sum(x ** 3)

    api.NATIVE_AFTER = 3            # each signature becomes hot: its native entry and router are built
    x = np.linspace(0.5, 1.5, 5)
    g, h = grad(scalar_loss), grad(array_loss)
    for _ in range(5):
        assert abs(g(0.7) - 2 * 0.7 * math.cos(0.7 ** 2)) < 1e-14
        assert np.allclose(h(x), 3 * x ** 2, rtol=1e-14)
    g._promote((0.7,))              # numbers are routed from the second call, and promoted only so
    assert abs(g(0.7) - 2 * 0.7 * math.cos(0.7 ** 2)) < 1e-14
    hits = []
    for obj in gc.get_objects():
        kind = type(obj)            # (not isinstance: a dead weak proxy raises there)
        if issubclass(kind, Dispatcher) and sum(obj.stats.cache_hits.values()):
            hits.append(obj.py_func.__qualname__)
        elif issubclass(kind, CFunc) and obj.cache_hits:
            hits.append(obj.__qualname__)
    print(json.dumps({"level": numba.core.config.OPT, "hits": sorted(hits),
                      "hot": [type(type(f).__dict__["__call__"]).__name__ for f in (g, h)]}))
''')


def _run(directory, level: str) -> dict:
    script = directory / "losses.py"             # a file: the functions need their source
    script.write_text(_PROCESS)
    env = dict(os.environ, AUTODIFF_COMPILER_CACHE=str(directory / "ours"), NUMBA_CACHE_DIR=str(directory / "numba"),
               NUMBA_OPT=level, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_function_compiled_at_another_level_serves_the_default_level(tmp_path):
    # the result scan (`call_entries._scan`) was cached whatever the level: after the test suite (level 0) had
    # run from a checkout, every process loaded its unoptimised code (1,000 entries: 4.2 us, 0.3 us at level 3)
    _run(tmp_path, "0")            # writes what it may
    first = _run(tmp_path, "3")
    assert first["level"] == 3 and first["hits"] == [], first["hits"]
    again = _run(tmp_path, "3")
    # the same level loads what the first wrote: the gradients, the scan, the native entries and the route
    assert "_scan.<locals>.all_finite" in again["hits"] and "route" in again["hits"], again["hits"]
    assert any(name.endswith("scalar_loss_grad") for name in again["hits"]), again["hits"]
    assert sum(name == "entry" for name in again["hits"]) == 2, again["hits"]
    assert again["hot"] == ["builtin_function_or_method"] * 2, again["hot"]     # both hot: routed


def _square(x):
    return x ** 2


def _scaled_sum(a, y):
    return np.sum(a * a) * y


def test_where_numba_finds_no_place_for_its_cache_the_package_compiles_without_it(monkeypatch):
    # a read-only install and an unwritable home: `numba.njit(cache=True)` raises RuntimeError ("no locator
    # available") at decoration, and did so out of every counted entry, whose result scan is compiled with
    # the package's own source (helper-58)
    from numba.core import caching
    from autodiff_compiler import call_entries, grad
    from autodiff_compiler.backend import cache, router
    import autodiff_compiler
    package = os.path.dirname(autodiff_compiler.__file__)

    def nowhere_in_the_package(locator):
        found = locator.from_function.__func__

        def from_function(cls, py_func, py_file):
            return None if os.path.abspath(py_file).startswith(package) else found(cls, py_func, py_file)
        return classmethod(from_function)
    for locator in caching.CacheImpl._locator_classes:
        monkeypatch.setattr(locator, "from_function", nowhere_in_the_package(locator))
    monkeypatch.setattr(cache, "disk_cacheable", lambda: True)
    monkeypatch.setattr(call_entries, "_SCAN", None)
    monkeypatch.setattr(router, "_ROUTE", None)
    monkeypatch.setattr(router, "_METHOD_DEF", None)
    with pytest.raises(RuntimeError, match="no locator available"):     # the condition is there
        numba.njit(cache=True)(call_entries.direct_call)
    g, h = grad(_square, wrt=("x",)), grad(_scaled_sum, wrt="y")
    a = np.array([1.0, 2.0])
    for x in (1.5, -0.5, 3.0):
        assert g(x) == (2 * x,) and g(x) == (2 * x,)
        assert h(a, x) == 5.0 and h(a, x) == 5.0
    f = grad(_square)
    f(2.0)
    assert isinstance(type(f).__dict__["__call__"], types.BuiltinFunctionType)    # the route compiled uncached
    assert f(2.5) == 5.0
