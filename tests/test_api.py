"""The public contract: call forms, wrt, value_and_grad, the generated source
(deterministic, importable, commented, simplified), jit on/off, verify, and
the on-disk cache shared between processes.

Every gradient is compared with a hand-derived formula at several points.
"""
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import corpus_control as C
import corpus_scalar as S
from _generated import ast_leftovers, code_only, comments, find_entry, load_module, regex_leftovers
from _reference import assert_close

from autodiff_compiler import grad, stop_gradient, value_and_grad

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ decorator and call forms

@grad
def decorated(x):
    y = x ** 3
    return math.sin(y)


@value_and_grad
def decorated_vg(x):
    return math.exp(2.0 * x) + x


def d_decorated(x):
    return 3 * x * x * math.cos(x ** 3)


@pytest.mark.parametrize("x", [0.7, -1.2, 2.0])
def test_decorator_form(x):
    got = decorated(x)
    assert isinstance(got, float), type(got)
    assert_close(got, d_decorated(x))


@pytest.mark.parametrize("x", [0.7, -1.2, 2.0])
def test_value_and_grad_decorator_form(x):
    value, gradient = decorated_vg(x)
    assert_close(value, math.exp(2.0 * x) + x, rel=1e-12)
    assert_close(gradient, 2.0 * math.exp(2.0 * x) + 1.0)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_call_form_returns_a_float(jit):
    g = grad(S.sin_of_square, jit=jit)
    for x in (4.0, -0.3, 1.7):
        got = g(x)
        assert isinstance(got, float) and not isinstance(got, tuple), type(got)
        assert_close(got, 2 * x * math.cos(x * x))


def test_int_argument_for_an_int_parameter_and_float_for_float():
    g = grad(S.pow_int_param)
    for x, n in [(1.5, 3), (-0.7, 4), (2.0, 1)]:
        assert_close(g(x, n), n * x ** (n - 1))


def test_new_signature_specialises_again():
    """The same gradient object called with an int, then a float exponent."""
    g = grad(S.pow_int_param)
    assert_close(g(1.5, 3), 3 * 1.5 ** 2)
    assert_close(g(1.5, 2.5), 2.5 * 1.5 ** 1.5)
    assert_close(g(2.0, 3), 3 * 2.0 ** 2)


# ------------------------------------------------------------------ wrt

TWO_STAGE_POINTS = [(2.0, 3.0, 1.0), (-0.5, 1.5, 2.0), (0.3, -2.0, -1.1)]


def two_stage_partials(a, b, x):
    y = a * x ** 2 + b * x + 1
    dz_dy = 2 * y + 2
    return {"a": dz_dy * x ** 2, "b": dz_dy * x, "x": dz_dy * (2 * a * x + b)}


@pytest.mark.parametrize("wrt,names", [
    (("a", "b", "x"), ("a", "b", "x")),
    ((0, 1, 2), ("a", "b", "x")),
    (("x", "a"), ("x", "a")),
    ((2, 0), ("x", "a")),
    (("a", 2), ("a", "x")),
    (("b",), ("b",)),
    ((1,), ("b",)),
], ids=["names", "indices", "names_reordered", "indices_reordered", "mixed", "one_name_tuple", "one_index_tuple"])
def test_wrt_tuple_gives_tuple(wrt, names):
    g = grad(S.two_stage, wrt=wrt)
    for args in TWO_STAGE_POINTS:
        got = g(*args)
        partials = two_stage_partials(*args)
        assert_close(got, tuple(partials[n] for n in names), what=f"wrt={wrt} at {args}")


@pytest.mark.parametrize("wrt,name", [("b", "b"), (1, "b"), ("x", "x"), (2, "x"), ("a", "a"), (0, "a")])
def test_wrt_single_gives_single(wrt, name):
    g = grad(S.two_stage, wrt=wrt)
    for args in TWO_STAGE_POINTS:
        got = g(*args)
        assert not isinstance(got, tuple), f"wrt={wrt!r} should give one gradient, not {got!r}"
        assert_close(got, two_stage_partials(*args)[name])


def test_default_wrt_is_first_parameter():
    g = grad(S.two_stage)
    for args in TWO_STAGE_POINTS:
        assert_close(g(*args), two_stage_partials(*args)["a"])


# ------------------------------------------------------------------ value_and_grad

LOGISTIC_POINTS = [(1.0, 0.0, 6.7, 0.0), (0.5, 0.1, 2.0, 1.0), (-1.2, 0.3, -0.7, 1.0)]


def logistic_reference(w, b, x, y):
    y_hat = 1.0 / (1.0 + math.exp(-(w * x + b)))
    loss = -(y * math.log(y_hat) + (1 - y) * math.log(1 - y_hat))
    return loss, (y_hat - y) * x, y_hat - y


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_value_and_grad_tuple(jit):
    vg = value_and_grad(S.logistic_loss, wrt=("w", "b"), jit=jit)
    for args in LOGISTIC_POINTS:
        result = vg(*args)
        assert isinstance(result, tuple) and len(result) == 2, result
        value, grads = result
        loss, dw, db = logistic_reference(*args)
        assert_close(value, loss, rel=1e-12)
        assert_close(value, S.logistic_loss(*args), rel=1e-12)
        assert_close(grads, (dw, db))


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_value_and_grad_single(jit):
    vg = value_and_grad(S.logistic_loss, wrt="w", jit=jit)
    for args in LOGISTIC_POINTS:
        value, dw = vg(*args)
        loss, dw_ref, _ = logistic_reference(*args)
        assert_close(value, loss, rel=1e-12)
        assert_close(dw, dw_ref)


def test_value_and_grad_with_control_flow():
    vg = value_and_grad(C.euler_decay, wrt=("x0", "k"))
    for x0, k, dt, n in [(1.0, 0.5, 0.01, 100), (2.5, 1.3, 0.05, 10), (-0.7, 2.0, 0.001, 1000)]:
        value, (dx0, dk) = vg(x0, k, dt, n)
        r = 1.0 - k * dt
        assert_close(value, x0 * r ** n, rel=1e-9)
        assert_close((dx0, dk), (r ** n, -x0 * n * dt * r ** (n - 1)))


def test_value_and_grad_has_source():
    vg = value_and_grad(S.logistic_loss, wrt=("w", "b"))
    vg(*LOGISTIC_POINTS[0])
    assert isinstance(vg.source, str) and "def " in vg.source


def test_stop_gradient_is_identity_on_values():
    assert stop_gradient(3.5) == 3.5
    assert stop_gradient(-2) == -2


# ------------------------------------------------------------------ jit on and off agree

JIT_FUNCS = [
    (S.sin_of_square, None, [(4.0,), (-0.3,), (1.7,)]),
    (S.logistic_loss, ("w", "b"), LOGISTIC_POINTS),
    (S.p_erf, None, [(0.3,), (-1.0,), (2.0,)]),
    (C.pendulum_energy, ("theta0", "omega0", "g"), [(0.3, 0.0, 9.81, 200), (1.0, 0.5, 9.81, 200),
                                                    (-0.5, 1.2, 3.7, 200)]),
    (C.recurrence, "x", [(0.3, 1000), (-1.2, 1000), (2.0, 1000)]),
    (C.helpers_in_loop, "x", [(0.7, 5), (2.0, 3), (-1.0, 4)]),
    (C.while_break, None, [(1.0,), (10.0,), (-3.0,)]),
]


@pytest.mark.parametrize("func,wrt,points", JIT_FUNCS, ids=[f[0].__name__ for f in JIT_FUNCS])
def test_jit_and_interpreter_agree(func, wrt, points):
    kw = {} if wrt is None else {"wrt": wrt}
    g_jit, g_py = grad(func, jit=True, **kw), grad(func, jit=False, **kw)
    for args in points:
        a, b = g_jit(*args), g_py(*args)
        assert_close(a, b, rel=1e-13, abs_tol=1e-15, what=f"{func.__name__}{args} jit vs nojit")


def test_jit_false_source_is_the_same_code():
    g_jit, g_py = grad(S.logistic_loss, wrt=("w", "b"), jit=True), grad(S.logistic_loss, wrt=("w", "b"), jit=False)
    g_jit(*LOGISTIC_POINTS[0]), g_py(*LOGISTIC_POINTS[0])
    assert g_jit.source == g_py.source


# ------------------------------------------------------------------ verify

VERIFY_FUNCS = [
    (S.sin_of_square, None, (4.0,), lambda x: 2 * x * math.cos(x * x)),
    (S.logistic_loss, ("w", "b"), (1.0, 0.0, 6.7, 0.0), lambda w, b, x, y: logistic_reference(w, b, x, y)[1:]),
    (S.two_stage, ("a", "b", "x"), (2.0, 3.0, 1.0), lambda a, b, x: (14.0, 14.0, 98.0)),
    (C.repeated_square, "a", (1.1, 3), lambda a, n: 2 ** n * a ** (2 ** n - 1)),
    (C.piecewise, None, (0.5,), lambda x: 2 * x),
    (C.piecewise, None, (3.0,), lambda x: 2.0 + 1.0 / x),
    (C.halve_until_small, None, (3.0,), lambda a: 0.5 ** 5),
]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("func,wrt,args,ref", VERIFY_FUNCS,
                         ids=[f"{f[0].__name__}{f[2]}" for f in VERIFY_FUNCS])
def test_verify_succeeds_on_correct_functions(func, wrt, args, ref, jit):
    kw = {} if wrt is None else {"wrt": wrt}
    g = grad(func, verify=True, jit=jit, **kw)
    assert_close(g(*args), ref(*args))
    assert_close(g(*args), ref(*args))      # second call: no re-verification needed, same answer


def test_verify_in_value_and_grad():
    vg = value_and_grad(S.logistic_loss, wrt=("w", "b"), verify=True)
    value, grads = vg(1.0, 0.0, 6.7, 0.0)
    loss, dw, db = logistic_reference(1.0, 0.0, 6.7, 0.0)
    assert_close(value, loss, rel=1e-12)
    assert_close(grads, (dw, db))


# ------------------------------------------------------------------ the generated source

def compiled_source(func, wrt, args, **kw):
    g = grad(func, **({} if wrt is None else {"wrt": wrt}), **kw)
    g(*args)
    return g.source


SOURCE_FUNCS = [
    ("sin_of_square", S.sin_of_square, None, (4.0,)),
    ("logistic_loss", S.logistic_loss, ("w", "b"), (1.0, 0.0, 6.7, 0.0)),
    ("two_stage", S.two_stage, ("a", "b", "x"), (2.0, 3.0, 1.0)),
    ("euler_decay", C.euler_decay, ("x0", "k"), (1.0, 0.5, 0.01, 100)),
    ("pendulum_energy", C.pendulum_energy, ("theta0", "omega0", "g"), (0.3, 0.0, 9.81, 200)),
    ("nested_helper_calls", C.nested_helper_calls, ("x", "y"), (1.0, 2.0)),
    ("nested_branches", C.nested_branches, ("x", "y"), (1.0, 2.0)),
    ("halve_until_small", C.halve_until_small, None, (3.0,)),
]


@pytest.mark.parametrize("name,func,wrt,args", SOURCE_FUNCS, ids=[s[0] for s in SOURCE_FUNCS])
def test_source_is_deterministic_in_process(name, func, wrt, args):
    a = compiled_source(func, wrt, args)
    b = compiled_source(func, wrt, args)
    assert isinstance(a, str) and a.strip()
    assert a == b


_DETERMINISM_SCRIPT = """
import importlib, json, sys
sys.path.insert(0, {tests!r})
from autodiff_compiler import grad
sources = {{}}
for name, module, func, wrt, args in {functions!r}:
    g = grad(getattr(importlib.import_module(module), func), **({{}} if wrt is None else {{"wrt": wrt}}))
    g(*args)
    sources[name] = g.source
sys.stdout.write(json.dumps(sources))
"""


# across processes (two fresh processes, each deriving all of them): one function of each kind (scalar,
# helpers and partials, a loop, branches); every one of SOURCE_FUNCS is compared in process above
ACROSS_PROCESSES = [s for s in SOURCE_FUNCS if s[0] in ("sin_of_square", "logistic_loss", "pendulum_energy",
                                                        "nested_branches")]


def test_source_is_deterministic_across_processes(subprocess_env, tmp_path):
    """Two fresh compilations (separate processes, caches and hash seeds) give byte-identical source,
    the source this process gives."""
    functions = [(name, func.__module__, func.__name__, wrt, args) for name, func, wrt, args in ACROSS_PROCESSES]
    script = _DETERMINISM_SCRIPT.format(tests=TESTS_DIR, functions=functions)
    sources = []
    for seed in ("1", "12345"):
        env = dict(subprocess_env, PYTHONHASHSEED=seed, AUTODIFF_COMPILER_CACHE=str(tmp_path / f"cache{seed}"))
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        sources.append(json.loads(proc.stdout))
    assert sources[0] == sources[1]
    assert sorted(sources[0]) == sorted(name for name, *_ in ACROSS_PROCESSES)
    for name, func, wrt, args in ACROSS_PROCESSES:
        assert sources[0][name] == compiled_source(func, wrt, args), f"{name}: in-process source differs"


SOURCE_REFS = {
    "sin_of_square": lambda x: 2 * x * math.cos(x * x),
    "logistic_loss": lambda w, b, x, y: logistic_reference(w, b, x, y)[1:],
    "two_stage": lambda a, b, x: tuple(two_stage_partials(a, b, x)[n] for n in "abx"),
    "euler_decay": lambda x0, k, dt, n: ((1 - k * dt) ** n, -x0 * n * dt * (1 - k * dt) ** (n - 1)),
}
SOURCE_POINTS = {
    "sin_of_square": [(4.0,), (-0.3,), (1.7,)],
    "logistic_loss": LOGISTIC_POINTS,
    "two_stage": TWO_STAGE_POINTS,
    "euler_decay": [(1.0, 0.5, 0.01, 100), (2.5, 1.3, 0.05, 10), (-0.7, 2.0, 0.001, 1000)],
}


@pytest.mark.parametrize("name,func,wrt,args", [s for s in SOURCE_FUNCS if s[0] in SOURCE_REFS],
                         ids=[s[0] for s in SOURCE_FUNCS if s[0] in SOURCE_REFS])
def test_source_is_an_importable_module(name, func, wrt, args, tmp_path):
    source = compiled_source(func, wrt, args)
    compile(source, f"{name}_grad.py", "exec")
    module = load_module(source, tmp_path)
    entry = find_entry(module, name)
    for point in SOURCE_POINTS[name]:
        assert_close(entry(*point), SOURCE_REFS[name](*point), what=f"imported {name} module at {point}")


def test_source_exec_in_a_namespace():
    source = compiled_source(S.sin_of_square, None, (4.0,), jit=False)
    namespace = {"__name__": "generated_by_exec"}
    exec(compile(source, "<generated>", "exec"), namespace)
    assert any(callable(v) for k, v in namespace.items() if not k.startswith("__"))


def _normalise(text):
    return "".join(text.split())


COMMENT_LINES = {
    "sin_of_square": ["y = x ** 2", "return math.sin(y)"],
    "logistic_loss": ["z = w*x + b", "y_hat = 1 / (1 + math.exp(-z))", "y_hat = min(max(y_hat, eps), 1 - eps)",
                      "return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))"],
    "two_stage": ["y = a*x**2 + b*x + 1", "z = y**2 + 2*y"],
    "euler_decay": ["x = x - dt * k * x"],
    "pendulum_energy": ["omega = omega - dt * (g / length) * math.sin(theta)", "theta = theta + dt * omega",
                        "return 0.5 * length * length * omega ** 2 + g * length * (1.0 - math.cos(theta))"],
    "nested_helper_calls": ["return local_helper(inner(x), softplus(y))", "return x * y + math.sin(x)",
                            "return x * x + 1.0"],
    "nested_branches": ["z = x * y", "z = x * x * y", "z = math.exp(x) * y"],
    "halve_until_small": ["a = a * 0.5"],
}


@pytest.mark.parametrize("name,func,wrt,args", SOURCE_FUNCS, ids=[s[0] for s in SOURCE_FUNCS])
def test_source_comments_carry_primal_lines(name, func, wrt, args):
    source = compiled_source(func, wrt, args)
    all_comments = [_normalise(c) for c in comments(source)]
    missing = [line for line in COMMENT_LINES[name] if not any(_normalise(line) in c for c in all_comments)]
    assert not missing, f"no comment with primal line(s) {missing} in:\n{source}"


@pytest.mark.parametrize("name,func,wrt,args", SOURCE_FUNCS + [
    ("pow_int", S.pow_int, None, (2.0,)),
    ("pow_float", S.pow_float, None, (2.0,)),
    ("const_base", S.const_base, None, (2.0,)),
    ("square", S.square, None, (3.0,)),
    ("poly", S.poly, None, (2.0,)),
    ("augmented", S.augmented, ("x", "y"), (1.0, 2.0)),
    ("same_helper_twice", C.same_helper_twice, None, (1.0,)),
    ("repeated_square", C.repeated_square, "a", (1.1, 3)),
    ("int_becomes_float", C.int_becomes_float, "x", (1.5, 4)),
    ("range_negative_step", C.range_negative_step, "x", (0.9, 7)),
], ids=[s[0] for s in SOURCE_FUNCS] + ["pow_int", "pow_float", "const_base", "square", "poly",
                                         "augmented", "same_helper_twice", "repeated_square", "int_becomes_float",
                                         "range_negative_step"])
def test_source_has_no_identity_leftovers(name, func, wrt, args):
    source = compiled_source(func, wrt, args)
    by_regex = regex_leftovers(source)
    by_ast = ast_leftovers(source)
    assert not by_regex and not by_ast, f"leftovers {by_regex} / {by_ast} in:\n{source}"


def test_activity_no_code_for_inactive_values():
    """d/dx of x*2 + 3y + exp(y): no adjoint code for y, z = 3y or w = exp(y).

    (The module also returns the value, so exp(y) may be computed once, forward.)"""
    g = grad(S.inactive_parts, wrt="x")
    for args in [(1.0, 2.0), (-0.5, 3.0), (2.0, -1.5)]:
        assert_close(g(*args), 2.0)
    code = code_only(g.source)
    assert not re.search(r"\b(y|z|w)_bar\b", code), g.source
    assert len(re.findall(r"\bexp\s*\(", code)) <= 1, g.source


def test_simplifier_makes_the_source_no_longer():
    for func, wrt, args in [(S.logistic_loss, ("w", "b"), (1.0, 0.0, 6.7, 0.0)),
                            (S.two_stage, ("a", "b", "x"), (2.0, 3.0, 1.0)),
                            (C.pendulum_energy, ("theta0",), (0.3, 0.0, 9.81, 10))]:
        simplified = compiled_source(func, wrt, args, simplify=True)
        raw = compiled_source(func, wrt, args, simplify=False)
        count = lambda s: sum(1 for l in s.splitlines() if l.strip() and not l.lstrip().startswith("#"))
        assert count(simplified) <= count(raw), (func.__name__, count(simplified), count(raw))


def test_user_names_do_not_clash_with_generated_names():
    g = grad(S.name_clash, wrt=("x", "x_bar"))
    for x, xb in [(1.0, 2.0), (-0.5, 3.0), (2.0, -1.5)]:
        assert_close(g(x, xb), (xb + 1.0, x + 2 * xb))


# ------------------------------------------------------------------ the disk cache

_CACHE_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {directory!r})
import cached_mod
from autodiff_compiler import grad
g = grad(cached_mod.f)
values = [g(x) for x in (0.7, -1.1, 2.3)]
t1 = time.perf_counter()
print(json.dumps({{"values": values, "seconds": t1 - t0}}))
"""


def _run_cache_script(directory, env):
    proc = subprocess.run([sys.executable, "-c", _CACHE_SCRIPT.format(directory=str(directory))],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _snapshot(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[p] = os.stat(p).st_mtime_ns
    return out


def _write_module(directory, body):
    directory.mkdir(exist_ok=True)
    (directory / "cached_mod.py").write_text(textwrap.dedent(body))


def test_second_process_reuses_the_disk_cache(tmp_path, subprocess_env):
    src = tmp_path / "src"
    _write_module(src, """
        import math

        def f(x):
            y = x ** 3
            return math.sin(y) + x
        """)
    cache = subprocess_env["AUTODIFF_COMPILER_CACHE"]
    first = _run_cache_script(src, subprocess_env)
    after_first = _snapshot(cache)
    assert after_first, "nothing written to AUTODIFF_COMPILER_CACHE"
    time.sleep(0.05)
    second = _run_cache_script(src, subprocess_env)
    after_second = _snapshot(cache)
    expected = [3 * x * x * math.cos(x ** 3) + 1.0 for x in (0.7, -1.1, 2.3)]
    for got in (first["values"], second["values"]):
        assert_close(tuple(got), tuple(expected))
    rewritten = [p for p, m in after_first.items() if after_second.get(p) != m]
    added = sorted(set(after_second) - set(after_first))
    assert not rewritten, f"the second process rewrote cache files: {rewritten}"
    assert not added, f"the second process added cache files: {added}"
    print(f"first process {first['seconds']:.3f}s, second {second['seconds']:.3f}s")


def test_numba_cache_lands_in_the_cache_dir(tmp_path, subprocess_env):
    src = tmp_path / "src"
    _write_module(src, """
        def f(x):
            return x * x * x
        """)
    cache = subprocess_env["AUTODIFF_COMPILER_CACHE"]
    out = _run_cache_script(src, subprocess_env)
    assert_close(tuple(out["values"]), tuple(3 * x * x for x in (0.7, -1.1, 2.3)))
    files = list(_snapshot(cache))
    assert any(f.endswith(".py") for f in files), files
    assert any(f.endswith((".nbi", ".nbc")) for f in files), f"no Numba cache files under the cache dir: {files}"


def test_changed_source_is_not_served_from_a_stale_cache(tmp_path, subprocess_env):
    src = tmp_path / "src"
    _write_module(src, """
        def f(x):
            return x ** 3
        """)
    first = _run_cache_script(src, subprocess_env)
    assert_close(tuple(first["values"]), tuple(3 * x * x for x in (0.7, -1.1, 2.3)))
    _write_module(src, """
        def f(x):
            return x ** 4
        """)
    for pyc in (src / "__pycache__").glob("*.pyc") if (src / "__pycache__").exists() else []:
        pyc.unlink()
    second = _run_cache_script(src, subprocess_env)
    assert_close(tuple(second["values"]), tuple(4 * x ** 3 for x in (0.7, -1.1, 2.3)))


def test_cache_dir_env_is_respected_and_home_untouched(tmp_path, subprocess_env):
    src = tmp_path / "src"
    _write_module(src, """
        import math

        def f(x):
            return math.cos(x) * x
        """)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(subprocess_env, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    out = _run_cache_script(src, env)
    assert_close(tuple(out["values"]), tuple(math.cos(x) - x * math.sin(x) for x in (0.7, -1.1, 2.3)))
    assert _snapshot(env["AUTODIFF_COMPILER_CACHE"]), "cache dir is empty"
    assert not _snapshot(home), f"files written under $HOME: {list(_snapshot(home))}"


# ------------------------------------------------------------------ readability and the tape (issue 3)

from _generated import array_allocations, self_assignments  # noqa: E402

SELF_ASSIGN_FUNCS = SOURCE_FUNCS + [
    ("recurrence", C.recurrence, "x", (0.3, 10)),
    ("repeated_square_capped", C.repeated_square_capped, "a", (1.5, 5)),
    ("helpers_in_loop", C.helpers_in_loop, "x", (0.7, 5)),
]


@pytest.mark.parametrize("name,func,wrt,args", SELF_ASSIGN_FUNCS, ids=[s[0] for s in SELF_ASSIGN_FUNCS])
def test_source_has_no_self_assignments(name, func, wrt, args):
    source = compiled_source(func, wrt, args)
    found = self_assignments(source)
    assert not found, f"no-op statements {found} in:\n{source}"


@pytest.mark.parametrize("name,func,wrt,args", [
    ("repeated_square", C.repeated_square, "a", (1.1, 3)),
    ("euler_decay", C.euler_decay, ("x0", "k"), (1.0, 0.5, 0.01, 10)),
    ("recurrence", C.recurrence, "x", (0.3, 10)),
    ("nested_loops", C.nested_loops, "x", (0.9, 3, 4)),
    ("range_negative_step", C.range_negative_step, "x", (0.9, 7)),
], ids=["repeated_square", "euler_decay", "recurrence", "nested_loops", "range_negative_step"])
def test_reverse_loop_is_a_for_over_the_reversed_range(name, func, wrt, args):
    source = compiled_source(func, wrt, args)
    reverse = source[source.find("reverse"):] if "reverse" in source else source
    if "reverse of this trip, in the same pass" in source:
        reverse = source        # each trip's reverse inside the forward loop (a checked `x ** i` kept it)
    assert re.search(r"for \w+ in (reversed\()?range\(", reverse), source
    assert "while" not in code_only(reverse), f"the reverse of a for loop should be a for loop:\n{source}"


# (function, wrt, args, how many per-step float tapes the reverse sweep really needs)
#   repeated_square: a (for a*a);  euler_decay: x (dt*k is loop-invariant);  recurrence: x;
#   pendulum: theta, and at most sin(theta) -- omega's value is never needed (its partials are constants).
TAPE_FUNCS = [
    ("repeated_square", C.repeated_square, "a", (1.1, 3), 1),
    ("euler_decay", C.euler_decay, ("x0", "k"), (1.0, 0.5, 0.01, 10), 1),
    ("recurrence", C.recurrence, "x", (0.3, 10), 1),
    ("pendulum_energy", C.pendulum_energy, ("theta0", "omega0", "g"), (0.3, 0.0, 9.81, 10), 2),
    ("helpers_in_loop", C.helpers_in_loop, "x", (0.7, 5), 5),
]


@pytest.mark.parametrize("name,func,wrt,args,most", TAPE_FUNCS, ids=[t[0] for t in TAPE_FUNCS])
def test_tape_records_only_what_is_needed(name, func, wrt, args, most):
    source = compiled_source(func, wrt, args)
    float_tapes = [n for n, dtype in array_allocations(source) if "float" in dtype]
    assert len(float_tapes) <= most, f"{len(float_tapes)} float tapes {float_tapes}, at most {most} needed:\n{source}"


@pytest.mark.parametrize("name,func,wrt,args", [
    ("halve_until_small", C.halve_until_small, None, (3.0,)),
    ("while_break", C.while_break, None, (1.0,)),
    ("recurrence", C.recurrence, "x", (0.3, 10)),
    ("for_in_while", C.for_in_while, None, (1.0,)),
], ids=["halve_until_small", "while_break", "recurrence", "for_in_while"])
def test_tape_is_typed_numpy_storage(name, func, wrt, args):
    source = compiled_source(func, wrt, args)
    code = code_only(source)
    assert ".append(" not in code and "list(" not in code and not re.search(r"=\s*\[\s*\]", code), source


@pytest.mark.parametrize("name,func,wrt,args,recorded", [
    ("repeated_square_capped", C.repeated_square_capped, "a", (1.5, 5), True),
    ("helpers_in_loop", C.helpers_in_loop, "x", (0.7, 5), False),
    ("ternary_in_loop", C.ternary_in_loop, "x", (1.0, 6), True),
], ids=["repeated_square_capped", "helpers_in_loop", "ternary_in_loop"])
def test_branch_records_are_named_after_what_they_record(name, func, wrt, args, recorded):
    """Issue 3: 'branch records are named after what they record' -- not t1, t4, ...  A condition the
    reversed trip computes again, from the values it recomputes for the derivatives anyway
    (`helpers_in_loop`: `s > 0.5` of the helper's value, made again from a snapshot of `s`), has no
    record: it is made again under its own name."""
    source = compiled_source(func, wrt, args)
    bool_tapes = [n for n, dtype in array_allocations(source) if "bool" in dtype]
    anonymous = [n for n in bool_tapes if re.fullmatch(r"t\d+(_tape)?", n)]
    assert not anonymous, f"branch records with anonymous names {anonymous}:\n{source}"
    if recorded:
        assert bool_tapes, f"expected a record of the branches taken inside the loop:\n{source}"
    else:
        reverse_sweep = source.split("# reverse sweep", 1)[1]
        assert not bool_tapes and re.search(r"^\s+s_gt_0_5 = .* > 0\.5$", reverse_sweep, re.M), source


# ------------------------------------------------------------------ verify catches a wrong derivative

def wrong_rule_target(x):
    return math.sin(x) * 1.5 + x


def test_verify_rejects_a_wrong_rule(monkeypatch, tmp_path):
    """With the rule for sin deliberately broken (d sin = -cos), verify=True must raise.

    Uses the rule table's internals (skipped if they are not there); the cache
    is redirected so that the wrong module is never seen by other tests."""
    import dataclasses
    from autodiff_compiler import VerificationError
    rules = pytest.importorskip("autodiff_compiler.rules")
    table = getattr(rules, "PRIMITIVES", None)
    if not isinstance(table, dict) or "sin" not in table or not dataclasses.is_dataclass(table["sin"]):
        pytest.skip("rule table layout unknown")
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path / "wrong_cache"))
    monkeypatch.setitem(table, "sin", dataclasses.replace(table["sin"], partials=("-cos(x)",)))
    assert_close(grad(wrong_rule_target, jit=False)(0.4), -1.5 * math.cos(0.4) + 1.0)   # the broken rule is in use
    with pytest.raises(VerificationError) as info:
        grad(wrong_rule_target, jit=False, verify=True)(0.4)
    assert "wrong_rule_target" in str(info.value) or "sin" in str(info.value)


# ------------------------------------------------------------------ the cache key covers what the code depends on

def _write(directory, name, body):
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(textwrap.dedent(body))
    pycache = directory / "__pycache__"
    if pycache.exists():
        for pyc in pycache.glob("*.pyc"):
            pyc.unlink()


def test_changed_module_constant_is_not_served_from_a_stale_cache(tmp_path, subprocess_env):
    src = tmp_path / "src"
    _write(src, "cached_mod.py", """
        SCALE = 2.0

        def f(x):
            return SCALE * x * x
        """)
    first = _run_cache_script(src, subprocess_env)
    assert_close(tuple(first["values"]), tuple(4.0 * x for x in (0.7, -1.1, 2.3)))
    _write(src, "cached_mod.py", """
        SCALE = 5.0

        def f(x):
            return SCALE * x * x
        """)
    second = _run_cache_script(src, subprocess_env)
    assert_close(tuple(second["values"]), tuple(10.0 * x for x in (0.7, -1.1, 2.3)))


def test_changed_helper_is_not_served_from_a_stale_cache(tmp_path, subprocess_env):
    src = tmp_path / "src"
    _write(src, "cached_helper.py", """
        def h(x):
            return x * x
        """)
    _write(src, "cached_mod.py", """
        from cached_helper import h

        def f(x):
            return h(x) + x
        """)
    first = _run_cache_script(src, subprocess_env)
    assert_close(tuple(first["values"]), tuple(2 * x + 1.0 for x in (0.7, -1.1, 2.3)))
    _write(src, "cached_helper.py", """
        def h(x):
            return x * x * x
        """)
    second = _run_cache_script(src, subprocess_env)
    assert_close(tuple(second["values"]), tuple(3 * x * x + 1.0 for x in (0.7, -1.1, 2.3)))


def test_same_helper_name_in_the_same_file_changed(tmp_path, subprocess_env):
    src = tmp_path / "src"
    _write(src, "cached_mod.py", """
        import math

        def h(x):
            return math.sin(x)

        def f(x):
            return h(x) * 2.0
        """)
    first = _run_cache_script(src, subprocess_env)
    assert_close(tuple(first["values"]), tuple(2.0 * math.cos(x) for x in (0.7, -1.1, 2.3)))
    _write(src, "cached_mod.py", """
        import math

        def h(x):
            return math.cos(x)

        def f(x):
            return h(x) * 2.0
        """)
    second = _run_cache_script(src, subprocess_env)
    assert_close(tuple(second["values"]), tuple(-2.0 * math.sin(x) for x in (0.7, -1.1, 2.3)))


def test_in_process_two_modules_same_function_source(tmp_path):
    """Two files with byte-identical `f` but different constants must not share a compiled gradient."""
    import importlib.util
    mods = []
    for k, scale in enumerate((2.0, 7.0)):
        path = tmp_path / f"twin_{k}.py"
        path.write_text(f"SCALE = {scale}\n\n\ndef f(x):\n    return SCALE * x * x\n")
        spec = importlib.util.spec_from_file_location(f"twin_{k}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    for mod, scale in zip(mods, (2.0, 7.0)):
        g = grad(mod.f)
        for x in (0.7, -1.1, 2.3):
            assert_close(g(x), 2 * scale * x)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_numpy_scalar_arguments(jit):
    import numpy as np
    g = grad(C.repeated_square, jit=jit)
    for a, n in [(1.1, 3), (0.9, 4), (-1.05, 2)]:
        expected = 2 ** n * a ** (2 ** n - 1)
        assert_close(g(np.float64(a), np.int64(n)), expected)
        assert_close(g(a, np.int32(n)), expected)
        assert_close(g(np.float32(a), n), 2 ** n * float(np.float32(a)) ** (2 ** n - 1), rel=1e-6)


# ------------------------------------------------------------------ the fast call path

def scaled_norm(w, x, c):
    return c * np.sum(np.sin(w) * x) + c * c * np.dot(w, w)


def _scaled_norm_grads(w, x, c):
    return {"w": c * np.cos(w) * x + 2 * c * c * w, "x": c * np.sin(w),
            "c": np.sum(np.sin(w) * x) + 2 * c * np.dot(w, w)}


FAST_FORMS = [("grad", 0), ("grad", "c"), ("grad", ("w",)), ("grad", ("w", "c")),
              ("vag", 2), ("vag", ("c",)), ("vag", ("x", "w"))]


@pytest.mark.parametrize("api, wrt", FAST_FORMS, ids=[f"{a}-{w}" for a, w in FAST_FORMS])
def test_fast_path_keeps_the_contract_shape(api, wrt):
    """After the first call of a signature, later calls take a per-signature entry; its results must
    have the same shape and values as the first call's, for every wrt form, across signatures."""
    make = grad if api == "grad" else value_and_grad
    derived = make(scaled_norm, wrt=wrt)
    rng = np.random.default_rng(7)
    points = [(rng.normal(size=n), rng.normal(size=n), c) for n, c in ((3, 0.7), (5, -1.3), (3, 2.0), (1, 0.4))]
    names = ("w", "x", "c")
    chosen = set(wrt) if isinstance(wrt, tuple) else {wrt if isinstance(wrt, str) else names[wrt]}
    if "c" not in chosen:
        points.append((np.array([0.3, -0.2]), np.array([1.0, 0.5]), 3))  # an int c: another signature
    for repeat in range(3):              # call 1 takes the full path; calls 2 and 3 the entry
        for w, x, c in points:
            got = derived(w, x, c)
            expected = _scaled_norm_grads(w, x, c)
            value = c * np.sum(np.sin(w) * x) + c * c * np.dot(w, w)
            if api == "vag":
                assert isinstance(got, tuple) and len(got) == 2, got
                np.testing.assert_allclose(got[0], value, rtol=1e-12)
                got = got[1]
            if isinstance(wrt, tuple):
                assert isinstance(got, tuple) and len(got) == len(wrt), (repeat, got)
                for name, g in zip(wrt, got):
                    np.testing.assert_allclose(g, expected[name], rtol=1e-10, atol=1e-12)
            else:
                name = wrt if isinstance(wrt, str) else names[wrt]
                assert not isinstance(got, tuple), (repeat, got)
                np.testing.assert_allclose(got, expected[name], rtol=1e-10, atol=1e-12)
    # the calls after the first of each signature went through entries (one per signature)
    assert len(derived._fast) == len({tuple((a.ndim, type(c)) for a in (w, x)) for w, x, c in points})
    # a call the entries do not take (keywords) goes the full way and keeps the entry it has
    entries = dict(derived._fast)
    w, x, c = points[0]
    by_keyword, by_position = derived(w=w, x=x, c=c), derived(w, x, c)
    assert type(by_keyword) is type(by_position)
    for a, b in zip(_flat_result(by_keyword), _flat_result(by_position)):
        np.testing.assert_array_equal(a, b)
    assert derived._fast == entries and all(derived._fast[k] is entries[k] for k in entries)


def test_entry_is_the_objects_own_call():
    """A signature's entry becomes the object's own `__call__` (one frame per call): the object keeps its
    public type, name and pickling; other objects of the same function keep theirs; every call the entry
    does not take (fewer or more arguments, keywords, out=, another signature) gets the full path's
    answer, checked against the hand gradient; forgetting the derivations drops the entry."""
    import pickle
    from autodiff_compiler import ArgumentError
    from autodiff_compiler.api import GradientFunction
    first, second = grad(_plus_square, wrt=("x", "y")), grad(_plus_square, wrt=("x", "y"))
    assert first(1.5, 2.0) == (3.0, 1.0) and first(1.5, 2.0) == (3.0, 1.0)
    assert type(first) is not GradientFunction and isinstance(first, GradientFunction)
    assert type(first).__name__ == "GradientFunction" and type(first).__qualname__ == "GradientFunction"
    assert "__call__" in type(first).__dict__ and type(second) is GradientFunction
    assert second(0.5, -1.0) == (1.0, 1.0)
    assert type(second) is not type(first)
    for x, y in ((2.0, 1.0), (-0.25, 4.0)):
        assert first(x, y) == (2 * x, 1.0) and first(x=x, y=y) == (2 * x, 1.0) and first(x, y=y) == (2 * x, 1.0)
    with pytest.raises(ArgumentError, match="takes 2 argument"):
        first(1.5)
    with pytest.raises(ArgumentError, match="takes 2 argument"):
        first(1.5, 2.0, 3.0)
    assert first(np.float64(3.0), 2.0) == (6.0, 1.0) and first(1.5, 2.0) == (3.0, 1.0)   # not the entry's types
    vector = grad(lambda_log, wrt="x")
    x = np.array([1.0, 2.0, 3.0])
    for _ in range(2):
        np.testing.assert_allclose(vector(x), np.log(x) + 1.0, rtol=1e-14)
    buffer = np.zeros(3)
    assert vector(x, out=buffer) is buffer
    np.testing.assert_allclose(buffer, np.log(x) + 1.0, rtol=1e-14)
    again = pickle.loads(pickle.dumps(first))
    assert type(again) is GradientFunction and again(1.5, 2.0) == (3.0, 1.0)
    first._forget()
    assert "__call__" not in type(first).__dict__ and first(1.5, 2.0) == (3.0, 1.0)


def _times(x, n):
    return x * n


def test_integers_beyond_64_bits_are_argument_errors():
    """An int the compiled code cannot hold is the caller's error, on the first call and through the
    entry alike (the first call raised Numba's typing error as an InternalError)."""
    from autodiff_compiler import ArgumentError
    for warm in (False, True):
        g = grad(_times)
        if warm:
            assert g(1.0, 3) == 3.0 and g(1.0, 3) == 3.0
        for n in (2 ** 63, -2 ** 63 - 1, 2 ** 70):
            with pytest.raises(ArgumentError):
                g(1.0, n)
        assert g(2.0, 2 ** 62) == float(2 ** 62) and g(2.0, -2 ** 63) == float(-2 ** 63)


def _flat_result(result):
    if isinstance(result, tuple):
        return [leaf for item in result for leaf in _flat_result(item)]
    return [result]


def test_fast_path_explains_nonfinite_results():
    """A non-finite gradient through the entry takes the full path's explanation, as the first call did."""
    derived = grad(lambda_log, wrt=("x",))
    assert derived(np.array([1.0, 2.0]))[0].shape == (2,)
    for _ in range(2):
        with pytest.raises(Exception) as first:
            derived(np.array([1.0, np.inf]))
        assert "x" in str(first.value)


def lambda_log(x):
    return np.sum(np.log(x) * x)


def _cubes(x):
    return np.sum(x ** 3)


def _cubes_of_two(x, y):
    return np.sum(x ** 3) + np.sum(y ** 3)


@pytest.mark.parametrize("shape", [(1,), (4,), (5,), (1000,), (3, 7)], ids=str)
def test_the_counted_entry_finds_every_non_finite_entry_of_an_array_result(shape):
    """The counted entry tests an array result in compiled code (`call_entries._array_test`): a NaN or an
    infinity at any position (the vectorised loop's body and its remainder, a matrix's ravel) sends the
    call to the full path, which names the argument, at every call; finite arrays keep their gradient."""
    from autodiff_compiler import NonFiniteInputError
    g, both = grad(_cubes), grad(_cubes_of_two, wrt=("x", "y"))
    size = int(np.prod(shape))
    for position in sorted({0, size // 2, size - 1}):
        for bad in (np.nan, np.inf, -np.inf):
            x = np.linspace(0.5, 1.5, size).reshape(shape)
            for _ in range(2):
                np.testing.assert_allclose(g(x), 3 * x ** 2, rtol=1e-14)
                np.testing.assert_allclose(both(x, x)[1], 3 * x ** 2, rtol=1e-14)
            x.flat[position] = bad
            for _ in range(2):
                with pytest.raises(NonFiniteInputError, match="'x'"):
                    g(x)
                with pytest.raises(NonFiniteInputError, match="'y'"):
                    both(np.ones(shape), x)


@pytest.mark.parametrize("wrt", [0, ("x",), ("x", "y")], ids=["int", "one-name", "two-names"])
def test_fast_path_reports_nonfinite_arguments(wrt):
    """A NaN or infinite float argument is reported at every call, also after its signature's entry exists."""
    from autodiff_compiler import NonFiniteInputError
    derived = grad(_plus_square, wrt=wrt)
    for y in (2.0, float("nan"), 2.0, float("inf"), -float("inf"), 3.0):
        if math.isfinite(y):
            got = derived(1.5, y)
            assert (got if wrt == 0 else got[0]) == pytest.approx(3.0)
        else:
            with pytest.raises(NonFiniteInputError, match="'y'"):
                derived(1.5, y)


def _plus_square(x, y):
    return x * x + y


_REBOUND = 2.0


def _scaled_by_a_rebound_default(x, c=_REBOUND):
    return 5.0 * x * c + x * x


_REBOUND = 3.0     # Python evaluated the default at the `def`: c is 2.0


def _scaled_by_a_default(x, c=2.0):
    return 5.0 * x * c + x * x


@pytest.mark.parametrize("jit", [False, True])
def test_defaults_are_the_values_python_evaluated_when_it_ran_the_def(jit):
    # helper-61: the defaults were read from the source's names at derivation time, so both the value and
    # the gradient used C0's later value (15, 15 for 10, 10): a wrong number with no error
    def changed(x, c=2.0):
        return 5.0 * x * c + x * x
    changed.__defaults__ = (3.0,)
    for fn, c in ((_scaled_by_a_rebound_default, 2.0), (_scaled_by_a_default, 2.0), (changed, 3.0)):
        for x in (1.0, -0.5, 2.5):
            value, slope = value_and_grad(fn, jit=jit)(x)
            assert value == fn(x) == 5.0 * x * c + x * x
            assert slope == pytest.approx(5.0 * c + 2 * x, rel=1e-15)
            assert grad(fn, wrt=1, jit=jit)(x) == pytest.approx(5.0 * x, rel=1e-15)
