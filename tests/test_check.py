"""check_gradient / assert_gradient_matches: hand derivations proved, or shown wrong with numbers.

The references here are independent: plain-Python values of the formulas
(sigmoid, the tutorial's own arithmetic) at the point of the check.
"""
import importlib.util
import math
import os

import numpy as np
import pytest
import sympy

import corpus_verify as C

from autodiff_compiler.check import (CheckReport, GradientMismatchError, assert_gradient_matches,
                                     check_gradient)
from autodiff_compiler.errors import ArgumentError, AutodiffError, VerificationError

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
AT = dict(w=1.0, b=0.0, x=6.7, y=0.0)


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def buggy():
    return load_example("tutorial_derivation_buggy")


@pytest.fixture(scope="module")
def correct():
    return load_example("tutorial_derivation_correct")


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


# ------------------------------------------------------------------ the tutorial's derivation

def test_buggy_tutorial_derivation_differs_for_w_and_b_with_the_numbers(buggy):
    report = check_gradient(buggy.loss, buggy.hand_gradients, wrt=("w", "b"), at=AT)
    assert isinstance(report, CheckReport) and not report.ok
    y_pred = sigmoid(6.7)
    # the tutorial's arithmetic: (y_pred - y)/(1 - y_pred) * y_pred*(1 - y_pred) + dz_dw
    hand_w = y_pred / (1 - y_pred) * (y_pred * (1 - y_pred)) + 6.7
    hand_b = y_pred / (1 - y_pred) * (y_pred * (1 - y_pred)) + 1.0
    w, b = report["w"], report["b"]
    assert w.status == "differs" and b.status == "differs"
    assert float(w.compiler_value) == pytest.approx(y_pred * 6.7, rel=1e-12)       # 6.6918
    assert float(b.compiler_value) == pytest.approx(y_pred, rel=1e-12)             # 0.9988
    assert float(w.hand_value) == pytest.approx(hand_w, rel=1e-12)                 # 7.6975
    assert float(b.hand_value) == pytest.approx(hand_b, rel=1e-12)                 # 1.9975
    # the concrete point is the one given, with both values there
    assert w.where == AT and b.where == AT
    assert float(w.where_hand) - float(w.where_compiler) == pytest.approx(hand_w - y_pred * 6.7, rel=1e-9)
    # the symbolic difference: nonzero, and equal to hand - SymPy's derivative
    for entry in (w, b):
        assert entry.difference is not None and entry.difference != 0
    text = str(report)
    for number in ("6.69176302924", "0.998770601379", "7.69754271418", "1.99754271418"):
        assert number in text, text
    assert "DIFFERS" in text and "WRONG for w, b" in text


def test_buggy_symbolic_difference_reads_in_the_functions_local(buggy):
    report = check_gradient(buggy.loss, buggy.hand_gradients, wrt=("w", "b"), at=AT)
    y_pred, x, y = (sympy.Symbol(n, real=True) for n in ("y_pred", "x", "y"))
    # hand_w - true_w = (y_pred - y)*y_pred + x - (y_pred - y)*x, hand_b - true_b = (y_pred - y)*y_pred + 1 - (y_pred - y)
    expected_w = (y_pred - y) * y_pred + x - (y_pred - y) * x
    expected_b = (y_pred - y) * y_pred + 1 - (y_pred - y)
    assert sympy.expand(report["w"].difference - expected_w) == 0
    assert sympy.expand(report["b"].difference - expected_b) == 0
    assert "where y_pred = " in str(report)


def test_correct_tutorial_derivation_is_proved(correct):
    report = check_gradient(correct.loss, correct.hand_gradients, wrt=("w", "b"), at=AT)
    assert report.ok, str(report)
    assert [e.status for e in report.entries] == ["proved", "proved"]
    assert float(report["w"].hand_value) == pytest.approx(sigmoid(6.7) * 6.7, rel=1e-12)
    assert "PROVED" in str(report) and "correct for w, b" in str(report)


def test_correct_formula_strings_using_a_local_variable_are_proved(correct):
    report = check_gradient(correct.loss, {"w": "(y_hat - y)*x", "b": "y_hat - y"}, at=AT)
    assert report.ok and [e.status for e in report.entries] == ["proved", "proved"], str(report)
    assert [e.name for e in report.entries] == ["w", "b"]       # wrt from the dict's keys


def test_formula_strings_over_parameters_and_math_names(correct):
    formulas = {"w": "x*(1/(1 + exp(-(w*x + b))) - y)", "b": "1/(1 + math.exp(-w*x - b)) - y"}
    report = check_gradient(correct.loss, formulas, wrt=("w", "b"), at=AT)
    assert [e.status for e in report.entries] == ["proved", "proved"], str(report)


def test_a_wrong_formula_differs(correct):
    report = check_gradient(correct.loss, {"w": "y_hat*x"}, at=dict(w=0.3, b=0.1, x=1.5, y=1.0))
    entry = report["w"]
    assert entry.status == "differs"
    assert entry.where == dict(w=0.3, b=0.1, x=1.5, y=1.0)
    # hand - truth = y_hat*x - (y_hat - y)*x = y*x
    assert sympy.simplify(entry.difference - sympy.Symbol("x", real=True) * sympy.Symbol("y", real=True)) == 0
    assert float(entry.where_hand) - float(entry.where_compiler) == pytest.approx(1.5, rel=1e-9)


def test_unknown_names_in_formulas_are_reported(correct):
    with pytest.raises(ArgumentError, match="unknown name.*y_pred"):
        check_gradient(correct.loss, {"w": "(y_pred - y)*x"}, at=AT)


def test_formula_missing_for_a_wrt_name(correct):
    with pytest.raises(ArgumentError, match="no formula for b"):
        check_gradient(correct.loss, {"w": "(y_hat - y)*x"}, wrt=("w", "b"), at=AT)


# ------------------------------------------------------------------ assert_gradient_matches

def test_assert_gradient_matches_raises_with_the_report(buggy):
    with pytest.raises(AssertionError) as info:
        assert_gradient_matches(buggy.loss, buggy.hand_gradients, wrt=("w", "b"), at=AT)
    assert isinstance(info.value, GradientMismatchError)
    assert isinstance(info.value, VerificationError) and isinstance(info.value, AutodiffError)
    assert "7.69754271418" in str(info.value) and "DIFFERS" in str(info.value)


def test_assert_gradient_matches_returns_the_report_when_correct(correct):
    report = assert_gradient_matches(correct.loss, correct.hand_gradients, wrt=("w", "b"), at=AT)
    assert report.ok


# ------------------------------------------------------------------ kinds of hand functions

def test_single_wrt_single_value_and_tuple_point():
    report = check_gradient(C.cube, lambda x: 3 * x ** 2, at=(1.7,))
    assert report["x"].status == "proved"
    report = check_gradient(C.cube, lambda x: (3 * x ** 2,), wrt="x", at={"x": 1.7})
    assert report["x"].status == "proved"


def test_agreeing_at_the_point_but_not_near_it_is_caught():
    def hand(x):
        return 3 * x ** 2 + (x - 2.0) ** 2       # right at x = 2 only

    report = check_gradient(C.cube, hand, at=dict(x=2.0))
    entry = report["x"]
    assert entry.status == "differs"
    assert float(entry.hand_value) == pytest.approx(12.0) and float(entry.compiler_value) == pytest.approx(12.0)
    assert entry.where is not None and entry.where["x"] != 2.0
    x = sympy.Symbol("x", real=True)
    assert sympy.expand(entry.difference - (x - 2) ** 2) == 0
    assert "equal at the point above, but at" in str(report)


def test_hand_with_a_branch_runs_through_the_compilers_front_end():
    def hand(w, x):
        p = 1.0 / (1.0 + math.exp(-w * x))
        if p > 0.5:
            d = 2 * p * p * (1 - p) * x
        else:
            d = 2 * p * (p - p * p) * x
        return d

    report = check_gradient(C.sigmoid_loss, hand, wrt="w", at=dict(w=0.8, x=1.3))
    assert report["w"].status == "proved", str(report)


def test_hand_that_cannot_be_symbolic_is_compared_numerically():
    def hand(w, x):
        p = math.fsum([1.0 / (1.0 + math.exp(-w * x))])    # no SymPy form, outside the compiler's language
        return 2 * p * p * (1 - p) * x

    report = check_gradient(C.sigmoid_loss, hand, wrt="w", at=dict(w=0.8, x=1.3))
    assert report["w"].status == "agrees numerically", str(report)
    assert "floats" in report["w"].note

    def wrong(w, x):
        p = math.fsum([1.0 / (1.0 + math.exp(-w * x))])
        return 2 * p * (1 - p) * x

    report = check_gradient(C.sigmoid_loss, wrong, wrt="w", at=dict(w=0.8, x=1.3))
    assert report["w"].status == "differs" and report["w"].where == dict(w=0.8, x=1.3)
    p = sigmoid(0.8 * 1.3)
    assert float(report["w"].where_hand) == pytest.approx(2 * p * (1 - p) * 1.3, rel=1e-12)
    assert float(report["w"].where_compiler) == pytest.approx(2 * p * p * (1 - p) * 1.3, rel=1e-12)


def cubes(v):
    return np.sum(v ** 3)


def test_an_element_not_proved_leaves_the_rest_to_the_numbers(monkeypatch):
    # each element's exact attempt may take up to EXPAND_SECONDS (+ simplify's): once one element is
    # not proved the numbers decide, so the others are not tried -- unless the hand gradient differs,
    # when every element's difference is shown
    import autodiff_compiler.verify.check as check_module
    tried = []
    monkeypatch.setattr(check_module, "simplified_difference", lambda h, d: tried.append((h, d)))   # None
    at = dict(v=np.array([0.5, 1.5, -2.0, 0.7]))
    report = check_gradient(cubes, lambda v: 3 * v ** 2, at=at)
    assert report["v"].status == "agrees numerically" and len(tried) == 1, str(report)
    tried.clear()
    report = check_gradient(cubes, lambda v: 3 * v ** 2 + v, at=at)
    assert report["v"].status == "differs" and len(tried) == 4, str(report)
    monkeypatch.undo()
    report = check_gradient(cubes, lambda v: 3 * v ** 2 + v, at=at)
    difference = report["v"].difference
    assert report["v"].status == "differs" and np.shape(difference) == (4,)
    assert all(len(element.free_symbols) == 1 and sympy.expand(element - next(iter(element.free_symbols))) == 0
               for element in difference), difference
    assert check_gradient(cubes, lambda v: 3 * v ** 2, at=at)["v"].status == "proved"


def test_hand_with_different_parameter_names_is_matched_by_position():
    def hand(weight, feature):
        p = 1.0 / (1.0 + math.exp(-weight * feature))
        if p > 2.0:
            return 0.0
        return 2 * p * p * (1 - p) * feature

    report = check_gradient(C.sigmoid_loss, hand, wrt="w", at=dict(w=0.8, x=1.3))
    assert report["w"].status == "proved", str(report)


def test_bad_arguments():
    with pytest.raises(ArgumentError, match="missing: x"):
        check_gradient(C.sigmoid_loss, lambda w, x: 0.0, wrt="w", at=dict(w=1.0))
    with pytest.raises(ArgumentError, match="not a parameter"):
        check_gradient(C.sigmoid_loss, lambda w, x: 0.0, wrt="q", at=dict(w=1.0, x=2.0))
    with pytest.raises(ArgumentError, match="at="):
        check_gradient(C.sigmoid_loss, lambda w, x: 0.0, wrt="w")
    with pytest.raises(ArgumentError, match="tuple of 2"):
        check_gradient(C.sigmoid_loss, lambda w, x: 0.0, wrt=("w", "x"), at=dict(w=1.0, x=2.0))


def test_the_examples_run_and_print_their_reports():
    import subprocess
    import sys
    env = dict(os.environ)
    for name, expect in (("tutorial_derivation_buggy", "WRONG for w, b"),
                         ("tutorial_derivation_correct", "correct for w, b")):
        proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name + ".py")], capture_output=True,
                              text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert expect in proc.stdout, proc.stdout
