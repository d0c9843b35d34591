"""The command line: `python -m autodiff_compiler grad FILE.py:FUNC [--wrt a,b] [--verify] [--at ...]`.

The printed module must parse, import and compute the right gradient (checked
against hand formulas at several points); the user's file is read, never run.
"""
import ast
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from _generated import find_entry, load_module
from _reference import assert_close

USER_FILE = '''
import math

SCALE = 3.0


def f(x):
    y = x ** 2
    return math.sin(y)


def loss(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))


def cubic(x, a, b):
    return a * x ** 3 + b * x + SCALE


def recurrence(x, n):
    for i in range(n):
        x = math.sin(x) * 0.9 + 0.1 * math.cos(x)
    return x


def annotated_loop(x: float, n: int) -> float:
    s = x
    for i in range(n):
        s = s * x + 1.0
    return s


def branchy(x):
    if x > 1.0:
        return x * x
    return 3.0 * x
'''

BAD_FILE = '''
import math


def uses_try(x):
    try:
        y = math.log(x)
    except ValueError:
        y = 0.0
    return y
'''


def guarded_file(marker):
    return f'''
import math

open({str(marker)!r}, "w").write("the file was executed")
raise SystemExit("executed!")


def g(x):
    return math.sin(x) * x
'''


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def ref_recurrence(x, n):
    xs = []
    for _ in range(n):
        xs.append(x)
        x = math.sin(x) * 0.9 + 0.1 * math.cos(x)
    bar = 1.0
    for xi in reversed(xs):
        bar *= 0.9 * math.cos(xi) - 0.1 * math.sin(xi)
    return bar


def ref_annotated_loop(x, n):
    s, ds = x, 1.0
    for _ in range(n):
        s, ds = s * x + 1.0, ds * x + s
    return ds


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "user.py").write_text(USER_FILE)
    (tmp_path / "bad.py").write_text(BAD_FILE)
    return tmp_path


def run_cli(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "autodiff_compiler", *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=600)


def module_from_output(proc, directory, name):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    ast.parse(proc.stdout)                                    # a complete Python module
    gen = directory / "generated"
    gen.mkdir(exist_ok=True)
    return load_module(proc.stdout, gen, name=f"cli_{name}_{abs(hash(proc.stdout)) % 10**8}")


# ------------------------------------------------------------------ printing the module

def test_grad_prints_an_importable_module(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:f"], workdir, subprocess_env)
    module = module_from_output(proc, workdir, "f")
    entry = find_entry(module, "f")
    for x in (4.0, -0.3, 1.7):
        assert_close(entry(x), 2 * x * math.cos(x * x), what=f"printed module at {x}")
    assert_close(entry(4.0), -7.661275842587077)


def test_grad_with_absolute_path(workdir, subprocess_env, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    proc = run_cli(["grad", f"{workdir / 'user.py'}:cubic"], elsewhere, subprocess_env)
    module = module_from_output(proc, elsewhere, "cubic")
    entry = find_entry(module, "cubic")
    for x, a, b in [(1.0, 2.0, 3.0), (-0.5, 1.5, -2.0), (2.0, -1.0, 0.5)]:
        assert_close(entry(x, a, b), 3 * a * x * x + b)


def test_wrt_option(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:loss", "--wrt", "w,b"], workdir, subprocess_env)
    module = module_from_output(proc, workdir, "loss")
    entry = find_entry(module, "loss")
    for w, b, x, y in [(1.0, 0.0, 6.7, 0.0), (0.5, 0.1, 2.0, 1.0), (-1.2, 0.3, -0.7, 1.0)]:
        y_hat = sigmoid(w * x + b)
        assert_close(tuple(entry(w, b, x, y)), ((y_hat - y) * x, y_hat - y))


def test_wrt_option_single_and_reordered(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:cubic", "--wrt", "b,x"], workdir, subprocess_env)
    module = module_from_output(proc, workdir, "cubic_bx")
    entry = find_entry(module, "cubic")
    for x, a, b in [(1.0, 2.0, 3.0), (-0.5, 1.5, -2.0), (2.0, -1.0, 0.5)]:
        assert_close(tuple(entry(x, a, b)), (x, 3 * a * x * x + b))
    proc = run_cli(["grad", "user.py:cubic", "--wrt", "a"], workdir, subprocess_env)
    module = module_from_output(proc, workdir, "cubic_a")
    entry = find_entry(module, "cubic")
    for x, a, b in [(1.0, 2.0, 3.0), (-0.5, 1.5, -2.0), (2.0, -1.0, 0.5)]:
        got = entry(x, a, b)
        got = got[0] if isinstance(got, tuple) and len(got) == 1 else got
        assert_close(got, x ** 3)


def test_output_is_deterministic(workdir, subprocess_env, tmp_path):
    a = run_cli(["grad", "user.py:loss", "--wrt", "w,b"], workdir, subprocess_env)
    env2 = dict(subprocess_env, AUTODIFF_COMPILER_CACHE=str(tmp_path / "other_cache"), PYTHONHASHSEED="7")
    b = run_cli(["grad", "user.py:loss", "--wrt", "w,b"], workdir, env2)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout


# ------------------------------------------------------------------ --verify and --at

VERDICT = re.compile(r"verif|prov|pass|\bok\b|equal|correct", re.I)
FAILURE = re.compile(r"\bfail|mismatch|disagree|not equal|incorrect", re.I)


def test_verify_prints_sympy_derivative_and_verdict(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:f", "--verify"], workdir, subprocess_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert VERDICT.search(out), out
    assert not FAILURE.search(out), out
    assert re.search(r"2\s*\*\s*x\s*\*\s*cos\(x\s*\*\*\s*2\)", out), f"SymPy's derivative 2*x*cos(x**2) not shown:\n{out}"


def test_verify_with_wrt(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:cubic", "--wrt", "x,a", "--verify"], workdir, subprocess_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert VERDICT.search(out) and not FAILURE.search(out), out
    compact = "".join(out.split())
    assert "3*a*x**2+b" in compact or "b+3*a*x**2" in compact, f"d/dx not shown:\n{out}"
    assert "x**3" in compact, f"d/da not shown:\n{out}"


def test_logistic_verify_from_the_issue(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:loss", "--wrt", "w,b", "--verify"], workdir, subprocess_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert VERDICT.search(out) and not FAILURE.search(out), out


@pytest.mark.parametrize("at", ["x=0.5,n=3", "n=5,x=-1.2"])
def test_verify_control_flow_at(workdir, subprocess_env, at):
    proc = run_cli(["grad", "user.py:recurrence", "--verify", "--at", at], workdir, subprocess_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert VERDICT.search(out) and not FAILURE.search(out), out


def test_verify_branch_both_sides(workdir, subprocess_env):
    for at in ("x=2.0", "x=0.5"):
        proc = run_cli(["grad", "user.py:branchy", "--verify", "--at", at], workdir, subprocess_env)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert VERDICT.search(out) and not FAILURE.search(out), out


def test_at_gives_types_for_control_flow(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:recurrence", "--at", "x=0.5,n=10"], workdir, subprocess_env)
    module = module_from_output(proc, workdir, "recurrence")
    entry = find_entry(module, "recurrence")
    for x, n in [(0.5, 10), (-1.2, 1000), (2.0, 0)]:
        assert_close(entry(x, n), ref_recurrence(x, n), what=f"recurrence({x}, {n})")


def test_annotations_give_types_without_at(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:annotated_loop"], workdir, subprocess_env)
    module = module_from_output(proc, workdir, "annotated_loop")
    entry = find_entry(module, "annotated_loop")
    for x, n in [(0.9, 5), (1.2, 0), (-0.5, 3)]:
        assert_close(entry(x, n), ref_annotated_loop(x, n))


# ------------------------------------------------------------------ the file is not executed

def test_cli_does_not_execute_the_file(tmp_path, subprocess_env):
    marker = tmp_path / "marker.txt"
    (tmp_path / "guarded.py").write_text(guarded_file(marker))
    proc = run_cli(["grad", "guarded.py:g"], tmp_path, subprocess_env)
    assert "executed!" not in proc.stdout + proc.stderr
    assert not marker.exists(), "the CLI executed the user's file"
    module = module_from_output(proc, tmp_path, "g")
    entry = find_entry(module, "g")                 # importing the printed module must not run the file either
    for x in (0.3, -2.0, 5.0):
        assert_close(entry(x), math.cos(x) * x + math.sin(x))
    assert not marker.exists(), "importing the printed module executed the user's file"


def test_cli_verify_does_not_execute_the_file(tmp_path, subprocess_env):
    marker = tmp_path / "marker.txt"
    (tmp_path / "guarded.py").write_text(guarded_file(marker))
    proc = run_cli(["grad", "guarded.py:g", "--verify"], tmp_path, subprocess_env)
    out = proc.stdout + proc.stderr
    assert not marker.exists(), "the CLI executed the user's file"
    assert "executed!" not in out
    assert proc.returncode == 0, out
    assert VERDICT.search(out) and not FAILURE.search(out), out


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("target,words", [
    ("missing.py:f", ("missing.py",)),
    ("user.py:no_such_function", ("no_such_function",)),
    ("user.py", ("FILE", "FUNC", ":")),
    ("user.py:", ("FUNC", "function", ":")),
], ids=["no_file", "no_function", "no_colon", "empty_function"])
def test_bad_target(workdir, subprocess_env, target, words):
    proc = run_cli(["grad", target], workdir, subprocess_env)
    assert proc.returncode != 0
    err = proc.stderr
    assert err.strip(), "no message on stderr"
    assert "Traceback" not in err, f"a traceback instead of a message:\n{err}"
    assert any(w in err for w in words), err
    assert not proc.stdout.strip() or "def " not in proc.stdout


def test_bad_wrt(workdir, subprocess_env):
    proc = run_cli(["grad", "user.py:cubic", "--wrt", "zz"], workdir, subprocess_env)
    assert proc.returncode != 0
    assert "zz" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_unsupported_syntax_reports_location(workdir, subprocess_env):
    proc = run_cli(["grad", "bad.py:uses_try"], workdir, subprocess_env)
    assert proc.returncode != 0
    err = proc.stderr
    assert "Traceback" not in err, err
    try_line = BAD_FILE.splitlines().index("    try:") + 1
    assert re.search(rf"bad\.py:{try_line}:\d+", err) or re.search(rf"bad\.py:{try_line + 2}:\d+", err), err
    assert "try" in err


def test_help(workdir, subprocess_env):
    proc = run_cli(["--help"], workdir, subprocess_env)
    assert proc.returncode == 0
    assert "grad" in proc.stdout


def test_no_arguments_is_an_error(workdir, subprocess_env):
    proc = run_cli([], workdir, subprocess_env)
    assert proc.returncode != 0
    assert (proc.stderr + proc.stdout).strip()


@pytest.mark.skipif(shutil.which("autodiff-compiler") is None, reason="console script not installed")
def test_console_script(workdir, subprocess_env):
    proc = subprocess.run(["autodiff-compiler", "grad", "user.py:f"], cwd=str(workdir), env=subprocess_env,
                          capture_output=True, text=True, timeout=600)
    module = module_from_output(proc, workdir, "f_script")
    entry = find_entry(module, "f")
    for x in (4.0, -0.3, 1.7):
        assert_close(entry(x), 2 * x * math.cos(x * x))


# ---- autodiff-compiler check

EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
TUTORIAL_POINT = ["--at", "w=1,b=0,x=6.7,y=0"]


def test_check_formulas_proved(tmp_path, subprocess_env):
    target = os.path.join(EXAMPLES_DIR, "tutorial_derivation_correct.py") + ":loss"
    proc = run_cli(["check", target, "--formula", "w=(y_hat - y)*x", "--formula", "b=y_hat - y"] + TUTORIAL_POINT,
                   tmp_path, subprocess_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PROVED") == 2 and "6.69176" in proc.stdout, proc.stdout


def test_check_buggy_derivation_differs(tmp_path, subprocess_env):
    path = os.path.join(EXAMPLES_DIR, "tutorial_derivation_buggy.py")
    proc = run_cli(["check", path + ":loss", "--against", path + ":hand_gradients", "--wrt", "w,b"] + TUTORIAL_POINT,
                   tmp_path, subprocess_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "WRONG for w, b" in proc.stdout and "7.69754" in proc.stdout, proc.stdout


def test_check_without_a_hand_derivation_is_a_usage_error(tmp_path, subprocess_env):
    target = os.path.join(EXAMPLES_DIR, "tutorial_derivation_correct.py") + ":loss"
    proc = run_cli(["check", target] + TUTORIAL_POINT, tmp_path, subprocess_env)
    assert proc.returncode == 2 and "--against" in proc.stderr, proc.stdout + proc.stderr
