"""The command line for derivatives beyond the gradient: `autodiff-compiler jvp|jacobian|hessian|hvp
FILE.py:FUNC` prints a complete, importable module (the user's file is read, never run) computing the
right numbers; `--verify` appends SymPy's verdict as comments; `--dump` shows any pass of the
derivation; errors are reported, not raised."""
import ast
import math
import subprocess
import sys

import numpy as np
import pytest

from _generated import load_module

USER_FILE = '''
import math
import numpy as np

open("EXECUTED", "w").write("the file was executed")   # reading the file must not run it


def f(x):
    y = x ** 2
    return math.sin(y)


def pair(x, y):
    return x * y, math.sin(x) + y


def resid(p, t):
    return p[0] * np.exp(-p[1] * t)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def looped(x, n):
    s = 0.0
    for i in range(n):
        s = math.sin(s * x) + x
    return s * s
'''


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "user.py").write_text(USER_FILE)
    return tmp_path


def run_cli(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "autodiff_compiler", *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=600)


def module_of(proc, directory, name):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    ast.parse(proc.stdout)
    gen = directory / "generated"
    gen.mkdir(exist_ok=True)
    module = load_module(proc.stdout, gen, name=f"cli_{name}_{abs(hash(proc.stdout)) % 10**8}")
    assert not (directory / "EXECUTED").exists(), "the user's file was executed"
    return module


def test_jvp_module(workdir, subprocess_env):
    proc = run_cli(["jvp", "user.py:f"], workdir, subprocess_env)
    assert "Forward-mode derivative" in proc.stdout and "def f_jvp(x, x_dot):" in proc.stdout
    module = module_of(proc, workdir, "f")
    for x in (0.3, -1.2, 2.0):
        value, tangent = module.f_jvp(x, 0.5)
        assert value == pytest.approx(math.sin(x * x)) and tangent == pytest.approx(x * math.cos(x * x))


def test_jvp_of_a_tuple_result_with_verify(workdir, subprocess_env):
    proc = run_cli(["jvp", "user.py:pair", "--wrt", "x,y", "--verify", "--at", "x=0.3,y=1.2"], workdir,
                   subprocess_env)
    module = module_of(proc, workdir, "pair")
    assert module.pair_jvp(0.3, 1.2, 1.0, 0.0) == pytest.approx((0.36, math.sin(0.3) + 1.2, 1.2, math.cos(0.3)))
    assert "# verified against SymPy" in proc.stdout and "proved" in proc.stdout


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_module(workdir, subprocess_env, mode):
    proc = run_cli(["jacobian", "user.py:resid", "--mode", mode, "--at", "p=[2.0,0.5],t=[0.0,1.0,2.0]",
                    "--verify"], workdir, subprocess_env)
    module = module_of(proc, workdir, "resid")
    p, t = np.array([2.0, 0.5]), np.array([0.0, 1.0, 2.0])
    value, J = module.resid_jacobian(p, t)
    e = np.exp(-p[1] * t)
    np.testing.assert_allclose(J, np.stack([e, -p[0] * t * e], axis=1), rtol=1e-12)
    assert "# verified against SymPy" in proc.stdout
    assert {"forward": "columns, by forward mode", "reverse": "rows, by reverse mode",
            "auto": "fewer_rows"}[mode] in proc.stdout


def test_hessian_and_hvp_modules(workdir, subprocess_env):
    x = np.array([-1.2, 1.0, 0.5])
    from scipy.optimize import rosen_hess, rosen_hess_prod
    proc = run_cli(["hessian", "user.py:rosen", "--at", "x=[-1.2,1.0,0.5]", "--verify"], workdir, subprocess_env)
    module = module_of(proc, workdir, "rosen_h")
    grad, H = module.rosen_hessian(x)
    np.testing.assert_allclose(H, rosen_hess(x), rtol=1e-12)
    assert "Hessian" in proc.stdout.splitlines()[0] and "# verified against SymPy" in proc.stdout
    proc = run_cli(["hvp", "user.py:rosen", "--at", "x=[-1.2,1.0,0.5]"], workdir, subprocess_env)
    module = module_of(proc, workdir, "rosen_hvp")
    v = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(module.rosen_hvp(x, v), rosen_hess_prod(x, v), rtol=1e-12)
    assert "Hessian-vector product (forward over reverse mode)" in proc.stdout


def test_hvp_of_a_loop_has_tangent_tapes(workdir, subprocess_env):
    proc = run_cli(["hvp", "user.py:looped", "--at", "x=0.5,n=3", "--verify"], workdir, subprocess_env)
    module = module_of(proc, workdir, "looped")
    assert "_tape_dot" in proc.stdout
    h = 1e-5
    grad = lambda x: (_looped(x + 1e-7, 3) - _looped(x - 1e-7, 3)) / 2e-7    # noqa: E731
    assert module.looped_hvp(0.5, 3, 1.0) == pytest.approx((grad(0.5 + h) - grad(0.5 - h)) / (2 * h), rel=1e-4)
    assert "# verified against SymPy" in proc.stdout


def _looped(x, n):
    s = 0.0
    for i in range(n):
        s = math.sin(s * x) + x
    return s * s


def test_dump_any_pass(workdir, subprocess_env):
    proc = run_cli(["hessian", "user.py:rosen", "--at", "x=[1.0,2.0]", "--dump", "forward"], workdir,
                   subprocess_env)
    assert proc.returncode == 0 and "x_bar_dot" in proc.stdout
    proc = run_cli(["hessian", "user.py:rosen", "--at", "x=[1.0,2.0]", "--dump", "nosuchpass"], workdir,
                   subprocess_env)
    assert proc.returncode == 2 and "simplify2" in proc.stderr       # the passes are listed


def test_errors_are_reported(workdir, subprocess_env):
    proc = run_cli(["hessian", "user.py:pair"], workdir, subprocess_env)
    assert proc.returncode == 1 and "jacobian" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(["hvp", "user.py:pair", "--wrt", "x,y"], workdir, subprocess_env)
    assert proc.returncode == 2 and "one --wrt" in proc.stderr
