"""A command line that needs no guessing (issue 12): kinds read from the body, errors that say what to
pass, `--help` that shows the `--at` syntax, colour on a terminal and plain text in a pipe."""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

from autodiff_compiler.backend import highlight
from autodiff_compiler.frontend.kinds import infer_kinds
from autodiff_compiler.frontend.parse import source_of_file_function

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL = '''
import math
import numpy as np


def mlp(W1, b1, W2, x):
    h = np.tanh(W1 @ x + b1)
    return np.sum(W2 @ h)


def mlp_no_bias(W1, W2, x):
    h = np.tanh(W1 @ x)
    return np.sum(W2 @ h)


def mean_sq(x):
    return np.mean(x**2)


def scaled(x, s):
    return np.sum(x * s)


def by_index(x, n):
    s = 0.0
    for i in range(n):
        s = s + x[i] * x[i]
    return s


def by_rows(A):
    s = 0.0
    for i in range(A.shape[0]):
        s = s + A[i, 0] * A[i, 1]
    return s


def transposed(A, v):
    return np.sum(A.T @ v)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def neuron(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))


def batch(w, b, X, y):
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
'''


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_kinds") / "model.py"
    path.write_text(MODEL)
    return str(path)


def kinds(model, name):
    return {k: str(v) for k, v in infer_kinds(source_of_file_function(model, name)).items()}


@pytest.mark.parametrize("name, expected", [
    ("mlp_no_bias", {"W1": "float64[:,:]", "W2": "float64[:,:]", "x": "float64[:]"}),
    ("mean_sq", {"x": "float64[:]"}),
    ("by_index", {"x": "float64[:]", "n": "int"}),
    ("by_rows", {"A": "float64[:,:]"}),
    ("transposed", {"A": "float64[:,:]", "v": "float64[:]"}),
    ("rosen", {"x": "float64[:]"}),
    ("neuron", {"w": "float", "b": "float", "x": "float", "y": "float"}),
])
def test_kinds_are_read_from_the_body(model, name, expected):
    assert kinds(model, name) == expected


@pytest.mark.parametrize("name, undecided", [("mlp", "b1"), ("scaled", "x, s"), ("batch", "b, y")])
def test_when_the_body_cannot_decide_the_error_names_the_parameter(model, name, undecided):
    out = _cli("grad", f"{model}:{name}")
    assert out.returncode == 1
    assert f"whether {undecided} " in out.stderr
    first = undecided.split(",")[0]
    assert f"--at {first}=0.5" in out.stderr and f"{first}=[0.5,1.5]" in out.stderr
    assert out.stdout == ""


def test_at_decides_what_the_body_cannot(model):
    out = _cli("grad", f"{model}:mlp", "--at", "b1=[0.0,0.0]", "--wrt", "W1")
    assert out.returncode == 0, out.stderr
    assert "Parameters: W1: float64[:,:], b1: float64[:], W2: float64[:,:], x: float64[:]" in out.stdout
    assert "math.tanh" not in out.stdout
    ast.parse(out.stdout)


def test_an_array_function_needs_no_at(model):
    out = _cli("grad", f"{model}:rosen", "--verify")
    assert out.returncode == 0, out.stderr
    assert "Parameters: x: float64[:]" in out.stdout and "# verified against SymPy" in out.stdout


def test_help_documents_the_at_syntax():
    out = _cli("grad", "--help")
    text = " ".join(out.stdout.split())
    assert "v=[1.0,2.0] (a vector)" in text and "A=[[1.0,2.0],[3.0,4.0]] (a matrix)" in text
    assert "--math" in text and "--latex" in text


def test_piped_output_is_plain_and_a_terminal_gets_colour(model):
    plain = _cli("grad", f"{model}:neuron", "--wrt", "w,b")
    assert "\033[" not in plain.stdout
    coloured = _cli("grad", f"{model}:neuron", "--wrt", "w,b", env={"FORCE_COLOR": "1"})
    assert "\033[1;34mdef\033[0m" in coloured.stdout
    assert highlight.strip(coloured.stdout) == plain.stdout
    maths = _cli("grad", f"{model}:neuron", "--wrt", "w,b", "--math", env={"FORCE_COLOR": "1"})
    assert "\033[1m∂neuron/∂w =\033[0m" in maths.stdout


def test_no_color_wins_over_a_terminal(monkeypatch):
    class Terminal:
        def isatty(self):
            return True
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not highlight.wants_colour(Terminal())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "xterm")
    assert highlight.wants_colour(Terminal())


def test_highlighting_gives_the_text_back():
    text = textwrap.dedent('''\
        """doc"""
        import math


        def f_grad(x):
            # a comment
            y = 2.5 * math.sin(x) if x > 0 else -1
            return y
        ''')
    assert highlight.strip(highlight.python(text)) == text
    assert highlight.python("def (") == "def ("


def _cli(*args, env=None):
    full = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    full.pop("FORCE_COLOR", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "autodiff_compiler", *args], env=full, capture_output=True,
                          text=True, encoding="utf-8")
