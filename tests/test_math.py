"""The derivative as mathematics (issue 12): `g.math()`, `g.latex()`, `grad --math`, exact strings.

Every computation of the seed notebooks -- x², sin(x²), x² + 3x + 1, the
composite z(y(x, a, b)), mean(x²) and the one-neuron binary cross-entropy --
as a formula in the user's own names, Unicode and LaTeX, with the path taken
where the code branches, loops or clamps.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import corpus_math as M
from autodiff_compiler import grad, value_and_grad
from autodiff_compiler.verify.mathprint import ascii_text, latex, name_latex, name_unicode, unicode

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
CORPUS = os.path.join(TESTS, "corpus_math.py")

NEURON_UNICODE = ("∂loss/∂w = x·(ŷ − y)\n"
                  "∂loss/∂b = ŷ − y\n"
                  "  where ŷ = 1/(1 + e^(−(w·x + b)))")
NEURON_LATEX = ("\\frac{\\partial \\mathrm{loss}}{\\partial w} = x \\left(\\hat{y} - y\\right)\n"
                "\\frac{\\partial \\mathrm{loss}}{\\partial b} = \\hat{y} - y\n"
                "\\text{where } \\hat{y} = \\frac{1}{1 + e^{-\\left(w x + b\\right)}}")

# (function, wrt, point, Unicode, LaTeX)
SEEDS = [
    (M.square, 0, (3.0,), "∂y/∂x = 2·x", "\\frac{\\partial y}{\\partial x} = 2 x"),
    (M.sin_of_square, 0, (4.0,), "∂z/∂x = 2·x·cos(x²)",
     "\\frac{\\partial z}{\\partial x} = 2 x \\cos\\left(x^{2}\\right)"),
    (M.polynomial, 0, (2.0,), "∂y/∂x = 2·x + 3", "\\frac{\\partial y}{\\partial x} = 2 x + 3"),
    (M.composite, ("x", "a", "b"), (1.0, 2.0, 3.0),
     "∂z/∂x = 2·(y + 1)·(2·a·x + b)\n"
     "∂z/∂a = 2·x²·(y + 1)\n"
     "∂z/∂b = 2·x·(y + 1)\n"
     "  where y = a·x² + b·x + 1",
     "\\frac{\\partial z}{\\partial x} = 2 \\left(y + 1\\right) \\left(2 a x + b\\right)\n"
     "\\frac{\\partial z}{\\partial a} = 2 x^{2} \\left(y + 1\\right)\n"
     "\\frac{\\partial z}{\\partial b} = 2 x \\left(y + 1\\right)\n"
     "\\text{where } y = a x^{2} + b x + 1"),
    (M.mean_of_squares, 0, (np.array([1.0, 2.0, 3.0]),), "∂y/∂xᵢ = 2·xᵢ/3   (i = 0, 1, 2)",
     "\\frac{\\partial y}{\\partial x_{i}} = \\frac{2 x_{i}}{3} \\quad \\text{(i = 0, 1, 2)}"),
    (M.neuron, ("w", "b"), (1.0, 0.0, 6.7, 0.0), NEURON_UNICODE, NEURON_LATEX),
]


@pytest.mark.parametrize("fn, wrt, point, text, tex", SEEDS, ids=[s[0].__name__ for s in SEEDS])
def test_each_seed_computation_as_a_formula(fn, wrt, point, text, tex):
    g = grad(fn, wrt=wrt)
    assert g.math(*point) == text
    assert g.latex(*point) == tex


@pytest.mark.parametrize("fn, wrt, point, text, tex", SEEDS, ids=[s[0].__name__ for s in SEEDS])
def test_each_seed_computation_from_the_command_line(fn, wrt, point, text, tex):
    wrt_arg = ",".join(wrt) if isinstance(wrt, tuple) else str(wrt)
    at = ",".join(f"{p}={'[' + ','.join(map(str, v)) + ']' if isinstance(v, np.ndarray) else v}"
                  for p, v in zip(fn.__code__.co_varnames, point))
    for flag, expected in (("--math", text), ("--latex", tex)):
        out = _cli("grad", f"{CORPUS}:{fn.__name__}", "--wrt", wrt_arg, "--at", at, flag)
        assert out.returncode == 0, out.stderr
        assert out.stdout == expected + "\n"


def test_the_clamped_neuron_says_which_path_its_formula_is_on():
    g = grad(M.neuron_clamped, wrt=("w", "b"))
    line = M.neuron_clamped.__code__.co_firstlineno + 4
    assert g.math(1.0, 0.0, 6.7, 0.0) == NEURON_UNICODE + (
        "\non the path taken at w=1.0, b=0.0, x=6.7, y=0.0:\n"
        f"  line {line}: `y_hat = min(max(y_hat, eps), 1 - eps)`: max(y_hat, eps) takes y_hat; "
        "min(…, …) takes its first argument")
    clamped = g.math(5.0, 0.0, 6.7, 0.0)
    assert clamped.startswith("∂loss/∂w = 0\n∂loss/∂b = 0\non the path taken at w=5.0")
    assert "takes its second argument" in clamped


def test_loops_and_branches_name_the_path():
    g = grad(M.loop_and_branch)
    first = M.loop_and_branch.__code__.co_firstlineno
    assert g.math(0.7, 3) == (
        "∂s/∂x = 2·(2·cos(2·x) + cos(x))·(sin(x) + sin(2·x))\n"
        "on the path taken at x=0.7, n=3:\n"
        f"  line {first + 2}: `for i in range(n):` runs 3 trips\n"
        f"  line {first + 4}: `if s > 0.5:` is true")
    other = g.math(0.1, 1)
    assert other.startswith("∂s/∂x = 0\n") and "runs 1 trip" in other and "is false" in other


def test_the_formula_uses_the_last_call_and_value_and_grad_too():
    g = value_and_grad(M.neuron, wrt=("w", "b"))
    g(0.3, 0.1, 2.0, 1.0)
    assert g.math() == NEURON_UNICODE


def test_the_latex_path_lines_are_comments():
    tex = grad(M.neuron_clamped, wrt=("w", "b")).latex(1.0, 0.0, 6.7, 0.0)
    assert tex.startswith(NEURON_LATEX + "\n% on the path taken at w=1.0")


@pytest.mark.parametrize("name, text, tex", [
    ("y_hat", "ŷ", "\\hat{y}"), ("x_0", "x₀", "x_{0}"), ("alpha", "α", "\\alpha"), ("w1", "w₁", "w_{1}"),
    ("A_0_1", "A₀,₁", "A_{0,1}"), ("theta_bar", "θ̄", "\\bar{\\theta}"), ("y_pred", "y_pred", "y_{\\mathrm{pred}}"),
    ("loss", "loss", "\\mathrm{loss}"), ("x_i", "xᵢ", "x_{i}"),
])
def test_names_as_a_student_writes_them(name, text, tex):
    assert name_unicode(name) == text
    assert name_latex(name) == tex


def test_term_order_and_signs():
    import sympy
    a, b, x, y, w, z = sympy.symbols("a b x y w z", real=True)
    assert unicode(a * x**2 + b * x + 1) == "a·x² + b·x + 1"
    assert unicode(-(w * x + b)) == "−(w·x + b)"
    assert unicode(1 - sympy.cos(x)) == "1 − cos(x)"
    assert unicode(1 / (1 + sympy.exp(-z))) == "1/(1 + e^(−z))"
    assert unicode(sympy.sqrt(x + 1) / (2 * y)) == "√(x + 1)/(2·y)"
    assert latex(sympy.sqrt(x + 1) / (2 * y)) == "\\frac{\\sqrt{x + 1}}{2 y}"


def test_a_terminal_without_unicode_gets_ascii():
    assert ascii_text(NEURON_UNICODE) == ("dloss/dw = x*(y_hat - y)\ndloss/db = y_hat - y\n"
                                          "  where y_hat = 1/(1 + e^(-(w*x + b)))")
    env = dict(os.environ, PYTHONIOENCODING="ascii", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "autodiff_compiler", "grad", f"{CORPUS}:neuron", "--wrt", "w,b",
                          "--math"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("dloss/dw = x*(y_hat - y)\n")


def _cli(*args, env=None):
    env = dict(env or os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "autodiff_compiler", *args], env=env, capture_output=True,
                          text=True, encoding="utf-8")
