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


def shifted_copy(x):
    y = x * 1.0
    y[1:] = y[:-1]          # overlapping: the store reads y as it was
    return np.sum(y * y * x)


def row_copy(A, v):
    B = A * 1.0
    B[0] = np.tanh(B[1] * v)
    B[2:, 1:] = B[:-2, :-1] * 0.5
    return np.sum(B * B * A)


def elements(A, v):
    return np.sum(A[1, 2] * v) * A[0, 1]


def _points(fn, seed):
    rng = np.random.default_rng(seed)
    if fn is vector_slices_in_a_loop:
        return (rng.standard_normal(6), 1 + seed % 3)
    if fn is shifted_copy:
        return (rng.standard_normal(5),)
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


FUNCTIONS = [slice_of_a_matrix, row_of_a_matrix, vector_slices_in_a_loop, shifted_copy, row_copy, elements]


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


@pytest.mark.parametrize("fn, stores", [(shifted_copy, ["y[1:]"]), (row_copy, ["B[0]", "B[2:, 1:]"])],
                         ids=lambda p: getattr(p, "__name__", str(p)))
def test_a_store_of_an_array_into_a_view_is_the_librarys_in_the_compiled_module_only(fn, stores):
    """`store_into(a[i], v)` compiled (Numba's slice assignment, compiled once per machine); `a[i] = v`
    interpreted."""
    g = value_and_grad(fn)
    g(*_points(fn, 0))
    forward = g.compiled_source[g.compiled_source.index("# forward sweep"):]
    interpreted = g.source[g.source.index("# forward sweep"):]
    for store in stores:
        written = re.compile(rf"^\s+{re.escape(store)} = ", re.MULTILINE)        # a statement, not a comment
        assert f"store_into({store}, " in forward and not written.search(forward), forward
        assert written.search(interpreted), interpreted


def mismatched_store(x):
    y = x * 1.0
    y[1:] = x[:3]
    return np.sum(y * y)


@pytest.mark.parametrize("jit", [True, False])
def test_a_store_of_the_wrong_shape_raises_where_python_does(jit):
    """Python raises ValueError at the store; so does the derived function, compiled (the library's
    slice assignment) or not, reported with the line (`ArgumentError`)."""
    from autodiff_compiler import AutodiffError
    x = np.arange(6.0)
    with pytest.raises(ValueError):
        mismatched_store(x.copy())
    with pytest.raises(AutodiffError, match=r"test_print_memory.py:\d+.*mismatched_store"):
        value_and_grad(mismatched_store, jit=jit)(x)
    assert value_and_grad(mismatched_store, jit=jit)(np.arange(4.0))[0] == mismatched_store(np.arange(4.0))


def test_sums_into_elements_keep_their_form():
    """`A[1, 2]` is an element and `A[rows]` a copy (an integer array index): neither is a view, so
    both stay `a[i] += v` in the compiled module."""
    g = value_and_grad(elements)
    g(*_points(elements, 0))
    compiled = _reverse_sweep(g.compiled_source)
    assert "_view" not in compiled, compiled
    assert re.search(r"A_bar\[1, 2\] \+= ", compiled) and re.search(r"A_bar\[0, 1\] \+= ", compiled), compiled
