"""Gradient objects called from several threads while the functions they call are rebound.

Two threads call hot gradient objects -- a scalar one (its checked router,
`backend/router.py`) and an array one (counted frame, then promoted to a native
router: `api.NATIVE_AFTER` is lowered so that promotion happens within the
run) -- while the main thread rebinds the helper they call every 2 ms, so that
`_forget`, derivation, compilation, promotion and `install` run concurrently
with calls through the entries being replaced.  It runs in a subprocess, so
that a crash (SIGSEGV: a `__call__` freed while another thread still found it
through CPython's type cache, `call_entries.install`) fails the test instead of
killing pytest.  Every result must be one of the two helpers' gradients (hand
formulas), no call may raise, and once the rebinding stops each object must
give the gradient of the helper bound then (an entry whose compiled code and
binding checks came from different derivations would give the other one).
The functions live in tests/_threads.py."""
import json
import os
import subprocess
import sys

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)

# Both scripts.  With a pause (argv[2], seconds), each entry installed releases the GIL for that long while
# it is being freed, as llvmlite's finalisers do when a router takes the last reference to a dispatcher
# and its LLVM modules with it (which happens only now and then): a thread that finds such an entry still
# as its object's `__call__` (CPython's type cache, before `call_entries.install` kept it alive until the
# class was updated) then crashes in every run, not in a few.
_PRELUDE = r'''
import faulthandler, json, math, sys, threading, time, weakref
faulthandler.enable()
import numpy as np
import autodiff_compiler.api as api

watched = []


PAUSE = float(sys.argv[2])


def _freed(_ref):
    time.sleep(PAUSE)


def _install(owner, entry, install=api.install):
    if entry is not None:
        watched.append(weakref.ref(entry, _freed))
    install(owner, entry)


if PAUSE:
    api.install = _install
'''

_SCRIPT = _PRELUDE + r'''
api.NATIVE_AFTER = 1                      # each new entry of fa promoted at its first call
from autodiff_compiler import grad
import _threads as m


SECONDS = float(sys.argv[1])
x = 0.7
xa = np.linspace(0.1, 1.0, 5)
# hand formulas: d/dx (h(x) + 1) and d/dx sum(h(x)), for h = sq and h = cube
SCALAR = {"sq": 2 * x, "cube": 3 * x * x}
ARRAY = {"sq": 2 * xa, "cube": 3 * xa * xa}


def which(a, b):
    """The helpers whose gradients a (of fs) and b (of fa) are, each on its own."""
    s = [k for k, v in SCALAR.items() if type(a) is float and math.isclose(a, v, rel_tol=1e-12)]
    t = [k for k, v in ARRAY.items() if type(b) is np.ndarray and b.shape == xa.shape
         and np.allclose(b, v, rtol=1e-12, atol=0)]
    return s, t


def wrong(pairs):
    """The pairs (gradient of fs, gradient of fa) that are not some helper's gradients, each on its own
    (vectorised: a run makes some 10^5 pairs)."""
    if not pairs:
        return []
    a = np.array([p[0] if type(p[0]) is float else np.nan for p in pairs])
    b = np.array([p[1] if type(p[1]) is np.ndarray and p[1].shape == xa.shape else np.full(xa.shape, np.nan)
                  for p in pairs])
    ok_a = np.zeros(len(pairs), bool)
    ok_b = np.zeros(len(pairs), bool)
    for name in SCALAR:
        ok_a |= np.isclose(a, SCALAR[name], rtol=1e-12, atol=0)
        ok_b |= np.isclose(b, ARRAY[name], rtol=1e-12, atol=0).all(axis=1)
    return [repr(pairs[i]) for i in np.flatnonzero(~(ok_a & ok_b))]


g = grad(m.fs)
ga = grad(m.fa)
for name in ("cube", "sq"):               # both derivations compiled, the entries hot
    m.helper = getattr(m, name)
    for _ in range(200):
        g(x); ga(xa)

stop = False
results, errors = [], []


def work():
    got = []                              # checked after the run: calls as fast as the entries allow
    while not stop:
        try:
            got.append((g(x), ga(xa)))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    results.extend(got)


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
started, rebinds = time.time(), 0
while time.time() - started < SECONDS:
    m.helper = m.cube if rebinds % 2 else m.sq
    rebinds += 1
    time.sleep(0.002)
stop = True
for t in threads:
    t.join()

bad = wrong(results)
after = []                                # rebinding stopped: the helper bound now, every call
for name in ("sq", "cube", "sq"):
    m.helper = getattr(m, name)
    for _ in range(120):                  # through the frame, the promotion and the native router
        s, t = which(g(x), ga(xa))
        if s != [name] or t != [name]:
            after.append((name, s, t))
            break
print(json.dumps({"rebinds": rebinds, "calls": len(results), "bad": bad[:5], "nbad": len(bad),
                  "errors": errors[:5], "nerrors": len(errors), "after": after}))
'''


_FORGET_SCRIPT = _PRELUDE + r'''
from autodiff_compiler import grad
import _threads as m

# `_forget` (what a rebinding makes the next call do) while other threads call the scalar gradient through
# its router: the router it drops is freed with the class's `__call__` replaced under those threads
m.helper = m.sq
g = grad(m.fs)
x = 0.7
g(x); g(x)
stop = False
results, errors = [], []


def work():
    got = []
    while not stop:
        try:
            got.append(g(x))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    results.extend(got)


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
started, forgets = time.time(), 0
while time.time() - started < float(sys.argv[1]):
    g._forget()
    forgets += 1
    time.sleep(0.002)
stop = True
for t in threads:
    t.join()
bad = [r for r in results if type(r) is not float or not math.isclose(r, 2 * x, rel_tol=1e-12)]
print(json.dumps({"watched": len(watched), "forgets": forgets, "calls": len(results), "bad": bad[:5],
                  "errors": errors[:5]}))
'''


def _run(script: str, seconds: float, cache, pause: float):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO_ROOT, TESTS_DIR, env.get("PYTHONPATH", "")])
    # the users' level: at the suite's level 0 the native entries are not cached on disk (their modules'
    # dynamic globals), so each promotion compiles for ~0.3 s and the run replaces few routers
    env["NUMBA_OPT"] = "3"
    env["AUTODIFF_COMPILER_CACHE"] = str(cache)
    return subprocess.run([sys.executable, "-c", script, str(seconds), str(pause)], env=env, capture_output=True,
                          text=True, timeout=300)


def test_concurrent_calls_while_a_helper_is_rebound(tmp_path):
    # no pause: the races of derivations, entries and promotion show in their timing as it is
    proc = _run(_SCRIPT, 3.0, tmp_path / "cache", pause=0.0)
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["rebinds"] > 100 and report["calls"] > 100, report
    assert report["nbad"] == 0, report
    assert report["nerrors"] == 0, report
    assert report["after"] == [], report


def test_forgetting_while_other_threads_call_the_router(tmp_path):
    proc = _run(_FORGET_SCRIPT, 1.5, tmp_path / "cache", pause=0.002)
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["forgets"] > 50 and report["calls"] > 100 and report["watched"] > 50, report
    assert report["bad"] == [] and report["errors"] == [], report
