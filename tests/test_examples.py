"""Every example runs as the README says (`python examples/NAME.py`) and prints what it promises."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# example -> text its output must contain
EXAMPLES = {
    "chain_rule.py": ["-7.661275842587077", "ok"],
    "polynomial.py": ["7", "ok"],
    "two_stage.py": ["98", "14", "ok"],
    "logistic.py": ["6.70123", "6.69176", "0.99877", "ok"],
    "autograd_ideas.py": ["x.grad = 2.0", "x.grad = 4.0", "x.grad = 6.0", "after zeroing: x.grad = 0.0",
                          "d/dy: 4.0", "at [-1, 4]: [0.   0.25]"],
    "tutorial_derivation_buggy.py": ["DIFFERS", "WRONG for w, b"],
    "tutorial_derivation_correct.py": ["PROVED"],
    "train_linear_regression.py": ["epoch 100", "w 2.0000"],
    "train_logistic_regression.py": ["epoch 500", "dL/dw: compiler"],
    "scipy_newton.py": ["trust-ncg", "Newton-CG", "converged", "ok: both methods reach the minimum"],
    "scipy_least_squares.py": ["Rosenbrock residuals", "exponential fit", "nonlinear system",
                               "ok: all three converge"],
    "mlp_dict.py": ["epoch 2000", "'W1': (2, 16)", "ok: trained, gradients in the structure of the parameters"],
    "dask_logistic_regression.py": ["8/8 chunks", "final loss", "compiled gradient, one process",
                                    "(ok, <= 1e-12)", "(ok, <= 1e-9)"],
}

# command-line arguments for a shorter run than the README's
ARGS = {"dask_logistic_regression.py": ["--n", "200000", "--epochs", "2"]}


def test_every_example_is_listed():
    found = {name for name in os.listdir(os.path.join(ROOT, "examples"))
             if name.endswith(".py") and not name.startswith("_")}
    assert found == set(EXAMPLES), f"examples without a test: {found - set(EXAMPLES)}"


@pytest.fixture(scope="module")
def examples_cache(tmp_path_factory):
    """One cache directory for the examples, as a user's machine has one: the library of helpers is compiled
    by the first example that calls it and loaded by the others (1-3 s each)."""
    return str(tmp_path_factory.mktemp("examples_cache"))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name, tmp_path, subprocess_env, examples_cache):
    if name == "dask_logistic_regression.py":
        pytest.importorskip("distributed")
    env = dict(subprocess_env, AUTODIFF_COMPILER_CACHE=examples_cache)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)] + ARGS.get(name, []), cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in EXAMPLES[name]:
        assert text in proc.stdout, f"{name}: {text!r} not in output:\n{proc.stdout}"
