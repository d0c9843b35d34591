"""Feedback, notebooks and pictures (issue 12).

* A first call that compiles for long logs what it compiles and how long it took (logger
  `autodiff_compiler`), shown on a terminal when nobody configured logging; `verify=True` on a large
  call says what it is doing.
* Functions defined in IPython/Jupyter cells work, and a gradient shows its formula and code there.
* `check --plot` draws the buggy tutorial derivation beside the compiler's gradient; the training
  examples save their loss curves.
"""
import io
import linecache
import logging
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import corpus_math as M
from autodiff_compiler import api, grad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------ logging

def _fresh(source: str, name: str):
    namespace = {"math": math, "np": np}
    filename = f"<feedback-{name}-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def test_a_long_first_call_says_what_it_compiles(caplog, monkeypatch):
    monkeypatch.setattr(api, "SLOW_COMPILE", 0.0)
    f = _fresh("def slow_square(x):\n    return x * x * 3.5\n", "slow_square")
    with caplog.at_level(logging.INFO, logger="autodiff_compiler"):
        assert grad(f)(2.0) == 14.0
    messages = [r.getMessage() for r in caplog.records if r.name == "autodiff_compiler"]
    assert any(m.startswith("compiled grad of slow_square(x: float) with respect to x in ") for m in messages)
    assert any("derivation" in m and "Numba" in m for m in messages)


@pytest.mark.parametrize("make, call", [
    ("hessian", lambda d: d(np.array([0.1, 0.2]))),
    ("jvp", lambda d: d(np.array([0.1, 0.2]), tangents=(np.ones(2),))),
    ("jacobian", lambda d: d(np.array([0.1, 0.2]))),
])
def test_every_derivative_says_what_it_compiles(caplog, monkeypatch, make, call):
    import autodiff_compiler
    monkeypatch.setattr(api, "SLOW_COMPILE", 0.0)
    f = _fresh(f"def slow_{make}(x):\n    return np.sum(np.sin(x) * x)\n", f"slow_{make}")
    derivative = getattr(autodiff_compiler, make)(f, jit=False)
    with caplog.at_level(logging.INFO, logger="autodiff_compiler"):
        call(derivative)
        call(derivative)
    messages = [r.getMessage() for r in caplog.records if r.name == "autodiff_compiler"]
    compiled = [m for m in messages if m.startswith(f"compiled {make} of slow_{make}(x: float64[:]) with respect to x in ")]
    assert len(compiled) == 1, messages            # the first call only


def test_a_quick_call_says_nothing(caplog):
    f = _fresh("def quick(x):\n    return x * 2.0\n", "quick")
    g = grad(f, jit=False)
    with caplog.at_level(logging.INFO, logger="autodiff_compiler"):
        g(1.0)
        g(2.0)
    assert not [r for r in caplog.records if r.name == "autodiff_compiler" and "compiled" in r.getMessage()]


def test_verify_on_a_large_call_says_what_it_does(caplog):
    import corpus_arrays as A
    x = np.linspace(-1.0, 1.0, 200)
    with caplog.at_level(logging.INFO, logger="autodiff_compiler"):
        grad(A.rosenbrock_vectorised, verify=True, jit=False)(x)
    messages = " ".join(r.getMessage() for r in caplog.records if r.name == "autodiff_compiler")
    assert "too large to prove as it is" in messages and "small instance" in messages
    assert "proved in" in messages or "proof read from the cache" in messages


def test_the_messages_show_on_a_terminal_when_logging_is_not_configured(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    handler = next(h for h in api.LOG.handlers if isinstance(h, api._TerminalHandler))
    record = logging.LogRecord("autodiff_compiler", logging.INFO, __file__, 1, "compiled it", (), None)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    handler.emit(record)
    assert terminal.getvalue() == "autodiff_compiler: compiled it\n"
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    handler.emit(record)
    assert piped.getvalue() == ""                       # not watched: quiet
    monkeypatch.setattr(root, "handlers", [logging.NullHandler()])
    monkeypatch.setattr(sys, "stderr", terminal)
    handler.emit(record)
    assert terminal.getvalue().count("compiled it") == 1   # configured: the user's handlers decide


# ----------------------------------------------------------------------- notebooks

def test_a_gradient_shows_its_formula_and_code_in_jupyter():
    g = grad(M.neuron, wrt=("w", "b"))
    g(1.0, 0.0, 6.7, 0.0)
    shown = g._repr_markdown_()
    assert shown.startswith("**`grad` of `neuron`** with respect to `w`, `b`")
    assert "$$\\frac{\\partial \\mathrm{loss}}{\\partial w} = x \\left(\\hat{y} - y\\right)$$" in shown
    # the formula is the mathematics, x(y_hat - y); the code computes it as (1 - y - y*e)/(1 + e) with
    # e = exp(-z), which keeps every digit where y_hat - y, read from the rounded y_hat, does not
    assert "```python\n\"\"\"Reverse-mode gradient of neuron" in shown and " = 1 - y - t3 * y\n" in shown


def test_a_function_defined_in_a_cell_is_differentiated():
    """IPython keeps each cell's source in linecache under `<ipython-input-...>`: that is enough."""
    source = "def cell_loss(w, x):\n    return (w * x - 1.0) ** 2\n"
    f = _fresh(source, "cell_loss")
    assert grad(f)(2.0, 3.0) == 2 * (2.0 * 3.0 - 1.0) * 3.0
    assert grad(f).math(2.0, 3.0) == "∂cell_loss/∂w = 2·w·x² − 2·x"


def test_ipython_cells(tmp_path):
    pytest.importorskip("IPython")
    script = tmp_path / "cells.py"
    script.write_text('''
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = ["""
import math
from autodiff_compiler import grad
def helper(t):
    return t * t
""", """
def f(x):
    return helper(x) + math.sin(x)
g = grad(f)
print(math.isclose(g(2.0), 4.0 + math.cos(2.0), rel_tol=1e-15, abs_tol=0.0))   # cos(2) + 2 + 2: one rounding more than 4 + cos(2)
print(g.math(2.0))
print(sorted(get_ipython().display_formatter.format(g)[0]))
"""]
for cell in cells:
    result = shell.run_cell(cell)
    assert result.success, result.error_in_exec
''')
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, encoding="utf-8")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-3:] == ["True", "∂f/∂x = 2·x + cos(x)", "['text/markdown', 'text/plain']"]


# ------------------------------------------------------------------------ pictures

def test_check_plot_draws_the_buggy_tutorial_derivation(tmp_path):
    pytest.importorskip("matplotlib")
    out_file = tmp_path / "buggy.png"
    example = os.path.join(ROOT, "examples", "tutorial_derivation_buggy.py")
    proc = subprocess.run([sys.executable, "-m", "autodiff_compiler", "check", f"{example}:loss", "--against",
                           f"{example}:hand_gradients", "--wrt", "w,b", "--at", "w=1.0,b=0.0,x=6.7,y=0.0",
                           "--plot", "w=-1.5:1.5", "--plot-file", str(out_file)],
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True)
    assert proc.returncode == 1                     # the derivation is wrong: the check fails, the plot is made
    assert f"along w in [-1.5, 1.5]: {out_file}" in proc.stdout
    assert out_file.read_bytes()[:8] == PNG


def test_the_plotted_curves_part(tmp_path):
    pytest.importorskip("matplotlib")
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import tutorial_derivation_buggy as buggy
        import tutorial_derivation_correct as correct
    finally:
        sys.path.pop(0)
    from autodiff_compiler.plot import plot_check
    at = dict(w=1.0, b=0.0, x=6.7, y=0.0)
    path = plot_check(buggy.loss, {"w": "(y_pred - y) * x"}, ["w"], at, "w", -1.0, 1.0, str(tmp_path / "f.png"))
    assert open(path, "rb").read(8) == PNG
    g = grad(buggy.loss, wrt=("w", "b"))
    apart = [abs(np.subtract(g(w, 0.0, 6.7, 0.0), buggy.hand_gradients(w, 0.0, 6.7, 0.0))).max()
             for w in np.linspace(-1.5, 1.5, 7)]
    assert min(apart) > 0.5                         # visibly apart everywhere on the drawn range
    assert correct is not None


def test_plot_ranges_are_checked():
    from autodiff_compiler.errors import ArgumentError
    from autodiff_compiler.plot import parse_range
    assert parse_range("w=-3:3", ["w", "b"]) == ("w", -3.0, 3.0)
    for bad in ("w=3:-3", "w=-3", "q=0:1", "w=a:b"):
        with pytest.raises(ArgumentError):
            parse_range(bad, ["w", "b"])


@pytest.mark.parametrize("example", ["train_linear_regression.py", "train_logistic_regression.py"])
def test_training_examples_save_their_loss_curves(example, tmp_path, subprocess_env):
    pytest.importorskip("matplotlib")
    target = tmp_path / "curve.png"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", example), "--plot", str(target)],
                          cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"loss curve saved to {target}" in proc.stdout
    assert target.read_bytes()[:8] == PNG
