"""backend/library.py: the functions generated modules call, compiled once per machine.

Checked here: a second process with the same cache directory loads every
library function a gradient calls, and the gradient, from Numba's disk cache
(at LLVM level 0 too), compiling none, and
gives the same numbers bit for bit; a program of another gradient in that
process compiles only its own function; the library's file is one per level and
setting and holds the helpers' source; the module Numba compiles spells
products of float matrices by the library's `matrix_product` (`backend.products`)
while the one users read keeps `np.dot`, and both give the finite-difference
gradient.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _derivative_reference import jacobian_fd

from autodiff_compiler import grad
from autodiff_compiler.backend import library, runtime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# what each child process runs first: a record of every function Numba compiles in it
_LISTENER = textwrap.dedent('''
    import json, sys
    import numpy as np
    from numba.core import event
    import autodiff_compiler

    compiled = []

    class Compiles(event.Listener):
        def on_start(self, ev):
            function = getattr(ev.data["dispatcher"], "py_func", None)
            compiled.append((function.__module__ or "") + "." + function.__qualname__)

        def on_end(self, ev):
            pass

    event.register("numba:compile", Compiles())
''')

_PROCESS = _LISTENER + textwrap.dedent('''

    def layer_loss(W, X):
        H = np.tanh(X @ W)
        m = np.max(H, axis=1, keepdims=True)
        return np.sum(np.exp(H - m)) + np.sum(np.sum(H, axis=0) ** 2)

    def other_loss(W, X):
        return np.sum(np.tanh(X @ W) * np.max(X @ W, axis=1, keepdims=True))

    rng = np.random.default_rng(0)
    W, X = rng.standard_normal((4, 3)), rng.standard_normal((6, 4))
    first = autodiff_compiler.grad(layer_loss)(W, X)
    before = list(compiled)
    second = autodiff_compiler.grad(other_loss)(W, X)
    print(json.dumps({"first": first.tolist(), "second": second.tolist(), "compiled_first": before,
                      "compiled_second": compiled[len(before):]}))
''')


def _run(directory, level: str) -> dict:
    script = directory / "two_gradients.py"         # a file: the functions need their source
    script.write_text(_PROCESS)
    env = dict(os.environ, AUTODIFF_COMPILER_CACHE=str(directory / "cache"), NUMBA_OPT=level,
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Cannot cache" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _library_compiles(names: list) -> list:
    """The compiles of the library's functions and of vector math's self-test kernel."""
    return [name for name in names if ".library_" in name or ".vecmath_test_" in name]


@pytest.mark.parametrize("level", ["0", "1"])
def test_a_second_process_compiles_nothing(tmp_path, level):
    """At every level, LLVM's 0 included: Numba lowers a dispatcher named in compiled code as its address,
    which only levels above 0 delete, and does not cache a function holding one (`backend.cache`'s
    `CalledDispatcher`: the library's functions have no address)."""
    cold = _run(tmp_path, level)
    assert _library_compiles(cold["compiled_first"]), cold      # it did compile them: the test can fail
    assert any("matrix_product" in name for name in cold["compiled_first"]), cold["compiled_first"]
    # the second gradient of the first process shares the library's compiled functions
    assert not [name for name in _library_compiles(cold["compiled_second"]) if "matrix_product" in name
                or "amax_axis1" in name], cold["compiled_second"]
    warm = _run(tmp_path, level)
    # but the package's own result scan, which Numba's disk cache keeps only at its default level 3 (its
    # index does not key by level: `backend.cache.disk_cacheable`); these levels are 0 and 1
    own = ["autodiff_compiler.call_entries._scan.<locals>.all_finite"]
    assert [name for name in warm["compiled_first"] + warm["compiled_second"] if name not in own] == [], warm
    assert warm["first"] == cold["first"] and warm["second"] == cold["second"]      # bit for bit
    rng = np.random.default_rng(0)
    W, X = rng.standard_normal((4, 3)), rng.standard_normal((6, 4))

    def layer_loss(W, X):
        H = np.tanh(X @ W)
        m = np.max(H, axis=1, keepdims=True)
        return np.sum(np.exp(H - m)) + np.sum(np.sum(H, axis=0) ** 2)
    np.testing.assert_allclose(cold["first"], jacobian_fd(layer_loss, (W, X), 0)[0], rtol=1e-6, atol=1e-8)


_NEW_FUNCTION = _LISTENER + textwrap.dedent('''

    def {name}(W, X, v):
        H = np.tanh(X @ W) * v
        return np.sum(np.exp(H - np.max(H, axis=1, keepdims=True))) + np.sum(H[1:] * H[:-1])

    rng = np.random.default_rng(0)
    W, X, v = rng.standard_normal((4, 3)), rng.standard_normal((6, 4)), rng.standard_normal(3)
    g = autodiff_compiler.grad({name}, wrt=(0, 2))
    gradients = g(W, X, v)
    print(json.dumps({{"gradients": [a.tolist() for a in gradients], "compiled": compiled,
                      "makers": sorted(set(__import__("re").findall(r"np\\.(\\w+)\\(", g.compiled_source)))}}))
''')


def test_numpys_array_makers_are_compiled_once_per_machine(tmp_path):
    """A gradient compiled in a process whose cache directory an earlier process filled (a new function,
    the same program under another name) compiles no array maker: its `np.zeros`, `np.empty`, ... are
    the library's (`numpy_view`), which the first process compiled, where Numba compiles its own
    overloads in every process.  Both give the finite-difference gradient."""
    outputs = []
    for name in ("layer_loss", "layer_loss_again"):
        script = tmp_path / f"{name}.py"
        script.write_text(_NEW_FUNCTION.format(name=name))
        env = dict(os.environ, AUTODIFF_COMPILER_CACHE=str(tmp_path / "cache"),
                   PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = outputs
    makers = [m for m in first["makers"] if m in library.ARRAY_MAKERS]
    assert len(makers) >= 2, first["makers"]        # the module does make arrays: the test can fail
    made_by_library = {name.rsplit(".", 1)[1] for name in first["compiled"] if ".array_" in name}
    assert {f"array_{m}" for m in makers} <= made_by_library, first["compiled"]
    overloads = [name for name in second["compiled"] if name.startswith("numba.np.arrayobj.ol_np_")
                 and name.split(".")[3][len("ol_np_"):] in library.ARRAY_MAKERS]
    assert overloads == [] and not [name for name in second["compiled"] if ".library_" in name], second["compiled"]
    assert any("layer_loss_again" in name for name in second["compiled"]), second["compiled"]
    assert first["gradients"] == second["gradients"]        # bit for bit
    rng = np.random.default_rng(0)
    W, X, v = rng.standard_normal((4, 3)), rng.standard_normal((6, 4)), rng.standard_normal(3)

    def layer_loss(W, X, v):
        H = np.tanh(X @ W) * v
        return np.sum(np.exp(H - np.max(H, axis=1, keepdims=True))) + np.sum(H[1:] * H[:-1])
    np.testing.assert_allclose(first["gradients"][0], jacobian_fd(layer_loss, (W, X, v), 0)[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(first["gradients"][1], jacobian_fd(layer_loss, (W, X, v), 2)[0], rtol=1e-6, atol=1e-8)


def test_one_library_file_per_level_holding_the_helpers_source():
    default, level_two = library.module(None), library.module(2)
    assert default is library.module(None) and default is not level_two
    assert os.path.basename(default.__file__).startswith("library_default_")
    assert os.path.basename(level_two.__file__).startswith("library_2_")
    with open(default.__file__, encoding="utf-8") as handle:
        text = handle.read()
    for name in runtime.HELPERS:
        assert runtime.SOURCES[name].rstrip() in text, name
        assert not isinstance(getattr(default, name), type(jacobian_fd)), f"{name}: a plain function, not compiled"
    assert library.function("sum_axis0", 2).llvm_level == 2


def test_matrix_products_call_the_library_where_numba_compiles_them():
    def two_layers(W1, W2, X):
        return np.sum(np.tanh(X @ W1) @ W2)
    rng = np.random.default_rng(7)
    W1, W2, X = rng.standard_normal((3, 5)), rng.standard_normal((5, 2)), rng.standard_normal((4, 3))
    g = grad(two_layers, wrt=(0, 1))
    compiled = g(W1, W2, X)
    assert "matrix_product(" in g.compiled_source and "np.dot(" not in g.compiled_source.split("def two_layers")[-1]
    plain = grad(two_layers, wrt=(0, 1), jit=False)
    python = plain(W1, W2, X)
    assert "np.dot(" in plain.compiled_source and "matrix_product(" not in plain.compiled_source
    for got, want in zip(compiled, python):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    for k in range(2):
        np.testing.assert_allclose(compiled[k], jacobian_fd(two_layers, (W1, W2, X), k)[0], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("lanes, isa", [(4, "d"), (8, "e"), (2, "n")])
def test_the_kernels_text_is_one_per_setting(lanes, isa):
    found = {"exp": ("exp", 1), "pow": ("pow", 2)}
    text = library.text((lanes, isa, found))
    assert f'lanes_exp = lanes_intrinsic("_ZGV{isa}N{lanes}v_exp", {lanes}, 1)' in text
    assert f'lanes_pow = lanes_intrinsic("_ZGV{isa}N{lanes}vv_pow", {lanes}, 2)' in text
    assert "def vector_exp(array):" in text and "def vpow(dst, m, a, b):" in text
    assert "lanes_intrinsic" not in library.text((0, "", {}))


def test_the_renamed_text_is_made_once_per_machine(tmp_path, monkeypatch):
    """The rename of the library's 2,000 lines (`numba_names.unambiguous`, 70 ms) is kept in the cache
    directory: a later process reads it back (here: the in-process memo cleared, and the rename made
    to fail), under the digest of the text it renames, so another text renames anew."""
    from autodiff_compiler.backend import numba_names
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path))
    setting = (4, "d", {"exp": ("exp", 1)})
    library._text.cache_clear()
    try:
        made = library.text(setting)
        kept = list(tmp_path.glob("library_text_*.txt"))
        assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == made
        library._text.cache_clear()

        def no_rename(text):
            raise AssertionError("renamed again")
        monkeypatch.setattr(numba_names, "unambiguous", no_rename)
        assert library.text(setting) == made
        with pytest.raises(AssertionError, match="renamed again"):
            library.text((4, "d", {"exp": ("exp", 1), "log": ("log", 1)}))
    finally:
        library._text.cache_clear()


_SETTINGS_PROCESS = textwrap.dedent('''
    import json
    import numpy as np
    import autodiff_compiler

    def dot_tanh(x, y):
        return np.tanh(x @ y)

    def rank4_dot(W, x, T):
        return np.sum((W @ x) * x) + np.sum(T * T) * np.sum(x)

    rng = np.random.default_rng(0)
    x, y = np.array([0.1, 0.2, 0.3]), np.array([1.0, -0.5, 0.25])
    W, v, T = rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((2, 2, 2, 2))
    first = autodiff_compiler.grad(dot_tanh, wrt=(0, 1))(x, y)
    second = autodiff_compiler.grad(rank4_dot, wrt=(0, 1))(W, v, T)
    print(json.dumps([[a.tolist() for a in first], [a.tolist() for a in second]]))
''')


def _settings_run(script, cache, setting: dict) -> list:
    env = dict(os.environ, AUTODIFF_COMPILER_CACHE=str(cache), NUMBA_OPT="0",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(setting)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def default_setting_cache(tmp_path_factory):
    """(the numbers, the cache directory) of the script run once with the default setting: each
    setting below starts from a copy of that cache."""
    directory = tmp_path_factory.mktemp("default_setting")
    script = directory / "settings.py"
    script.write_text(_SETTINGS_PROCESS)
    return _settings_run(script, directory / "cache", {}), directory / "cache"


@pytest.mark.parametrize("setting", [{"AUTODIFF_COMPILER_SIMD": "0"}, {"AUTODIFF_COMPILER_HIGH_RANK_OPT": "3"},
                                     {"NUMBA_OPT": "2"}], ids=["scalar math", "level 3", "numba opt 2"])
def test_a_cache_filled_under_another_setting_serves_the_right_library(tmp_path, setting, default_setting_cache):
    """The review found a gradient cached on disk by a process with one setting (vector math, the level
    of rank-4 programs, Numba's level) loaded by a process with another: the same module text, hence
    the same file and Numba cache entry, whose code called the first setting's library module, never
    imported in the second (`ModuleNotFoundError`, an InternalError).  The module's file now names its
    library too: each process gets its own, and the same numbers."""
    default_numbers, default_cache = default_setting_cache
    shutil.copytree(default_cache, tmp_path / "cache")       # filled by a process with the default setting
    script = tmp_path / "settings.py"
    script.write_text(_SETTINGS_PROCESS)
    results = [default_numbers, _settings_run(script, tmp_path / "cache", setting)]
    (dx, dy), (dW, dv) = results[0]
    t = np.tanh(np.dot([0.1, 0.2, 0.3], [1.0, -0.5, 0.25]))
    np.testing.assert_allclose(dx, (1 - t * t) * np.array([1.0, -0.5, 0.25]), rtol=1e-13)
    np.testing.assert_allclose(dy, (1 - t * t) * np.array([0.1, 0.2, 0.3]), rtol=1e-13)
    rng = np.random.default_rng(0)
    W, v, T = rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((2, 2, 2, 2))
    np.testing.assert_allclose(dW, np.outer(v, v), rtol=1e-13)
    np.testing.assert_allclose(dv, W @ v + W.T @ v + np.sum(T * T), rtol=1e-12)
    for other in results[1:]:
        np.testing.assert_allclose(np.concatenate([np.ravel(a) for pair in other for a in pair]),
                                   np.concatenate([np.ravel(a) for pair in results[0] for a in pair]), rtol=1e-13)


@pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaExperimentalFeatureWarning")
def test_a_library_function_is_never_handed_to_python_as_a_null_object():
    """Library functions are typed for calls only (no address: `backend.cache.CalledDispatcher`).  The
    review returned one from `njit` code, alone and in a tuple: Python got a null object.  Now compiling
    such a function fails, saying why; calling it from compiled code still works."""
    import numba
    matmul = library.function("matmul", None)

    @numba.njit
    def handed_out():
        return matmul

    @numba.njit
    def in_a_tuple():
        return (matmul, 1)

    @numba.njit
    def called(a, b):
        return matmul(a, b)

    for function in (handed_out, in_a_tuple):
        with pytest.raises(Exception, match="never returned to Python"):
            function()
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(called(a, a.T), a @ a.T)
