"""backend/print_memory.py: stores and tapes as printed.

An in-place sum into a sub-array NumPy returns as a view is written through that view in the module
Numba compiles (`a_view = a[i]; a_view += v`), as written everywhere else; every other store keeps its
form.  Each program's value and gradient are compared, compiled (simplifier on and off), with the
interpreted module and with central differences of the function itself, at three points.
"""
import re

import numpy as np
import pytest

from autodiff_compiler import value_and_grad


def slice_of_a_matrix(A, v):
    return np.sum(np.tanh(A * v)) + np.sum(A[:, 0:2] * 0.5 * A[:, 1:3])


def row_of_a_matrix(A, v):
    return np.sum(np.sin(A[1] * v) * A[2])


def vector_slices_in_a_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(x[1:] * x[:-1]) * 0.5
    return s


def elements(A, v):
    return np.sum(A[1, 2] * v) * A[0, 1]


def _points(fn, seed):
    rng = np.random.default_rng(seed)
    if fn is vector_slices_in_a_loop:
        return (rng.standard_normal(6), 1 + seed % 3)
    return (rng.standard_normal((4, 3)), rng.standard_normal(3))


def _central_differences(fn, args):
    x = args[0]
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[i] = (fn(up, *args[1:]) - fn(down, *args[1:])) / (up[i] - down[i])
    return out


FUNCTIONS = [slice_of_a_matrix, row_of_a_matrix, vector_slices_in_a_loop, elements]


@pytest.mark.parametrize("simplify", [True, False])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_stores_compiled_and_interpreted_agree_with_differences(fn, simplify):
    compiled = value_and_grad(fn, simplify=simplify)
    interpreted = value_and_grad(fn, jit=False, simplify=simplify)
    for seed in range(3):
        args = _points(fn, seed)
        value, gradient = compiled(*args)
        python_value, python_gradient = interpreted(*args)
        assert value == pytest.approx(fn(*args), rel=1e-12)
        assert python_value == pytest.approx(fn(*args), rel=1e-12)
        np.testing.assert_allclose(gradient, python_gradient, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gradient, _central_differences(fn, args), rtol=1e-6, atol=1e-8)


def _reverse_sweep(text: str) -> str:
    return text[text.index("# reverse sweep"):]


@pytest.mark.parametrize("fn, view", [(slice_of_a_matrix, "A_bar[:, 0:2]"), (row_of_a_matrix, "A_bar[1]"),
                                      (vector_slices_in_a_loop, "x_bar[1:]")], ids=lambda p: getattr(p, "__name__", p))
def test_a_sum_into_a_view_is_written_through_it_in_the_compiled_module_only(fn, view):
    """The compiled module sums through a name for the view; the interpreted one keeps `a[i] += v`."""
    g = value_and_grad(fn)
    g(*_points(fn, 0))
    compiled, interpreted = _reverse_sweep(g.compiled_source), _reverse_sweep(g.source)
    assert re.search(rf"(\w+_view\w*) = {re.escape(view)}\n\s*\1 \+= ", compiled), compiled
    assert f"{view} += " not in compiled, compiled
    assert f"{view} += " in interpreted, interpreted


def test_elements_sums_keep_their_form():
    """`A[1, 2]` is an element and `A[rows]` a copy (an integer array index): neither is a view, so
    both stay `a[i] += v` in the compiled module."""
    g = value_and_grad(elements)
    g(*_points(elements, 0))
    compiled = _reverse_sweep(g.compiled_source)
    assert "_view" not in compiled, compiled
    assert re.search(r"A_bar\[1, 2\] \+= ", compiled) and re.search(r"A_bar\[0, 1\] \+= ", compiled), compiled
