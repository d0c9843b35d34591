"""backend/blas.py: products of float matrices in compiled code, by dgemm with transpose flags.

Checked here: `matrix_product` equals NumPy's `np.dot` for every pair of
operand layouts (row-major, column-major, transposed views, slices with a unit
stride along one axis, slices with none, negative strides, one-row and
one-column matrices, empty axes), called from Python and from compiled code; Numba compiles it once
for all of them (one signature); it raises Numba's errors for inner axes that
differ; a gradient of matrix products through transposes and slices equals
central differences, compiled and interpreted; the module users read keeps
`np.dot`, and a matrix-vector product keeps the library's `matmul`.
"""
import numba
import numpy as np
import pytest
from _derivative_reference import jacobian_fd

from autodiff_compiler import grad
from autodiff_compiler.backend import blas, library

RNG = np.random.default_rng(11)


def _layouts(rows: int, cols: int):
    """The matrix of these axes in every layout a derived program may hand over (same values each)."""
    base = RNG.standard_normal((rows, cols))
    wide = RNG.standard_normal((2 * rows + 1, 3 * cols + 2))
    wide[1:2 * rows + 1:2, 2:3 * cols + 2:3] = base
    tall = RNG.standard_normal((rows + 3, cols + 4))
    tall[2:rows + 2, 1:cols + 1] = base
    return {
        "C": base,
        "F": np.asfortranarray(base),
        "transposed": np.ascontiguousarray(base.T).T,
        "rows of a wider matrix": tall[2:rows + 2, 1:cols + 1],                 # unit column stride
        "columns of a taller one": np.asfortranarray(tall)[2:rows + 2, 1:cols + 1],     # unit row stride
        "no unit stride": wide[1:2 * rows + 1:2, 2:3 * cols + 2:3],
        "rows reversed": np.ascontiguousarray(base[::-1])[::-1],          # negative strides: copied
        "columns reversed": np.asfortranarray(base[:, ::-1])[:, ::-1],
    }


_SHAPES = [(4, 3, 5), (1, 3, 1), (3, 1, 4), (5, 4, 1), (2, 7, 3), (3, 0, 2), (0, 3, 2), (2, 3, 0)]


@numba.njit
def _from_compiled_code(a, b):
    return blas_product(a, b)


blas_product = library.function("matrix_product", None)


@pytest.mark.parametrize("m, k, n", _SHAPES)
def test_every_pair_of_layouts_is_numpys_product(m, k, n):
    lefts, rights = _layouts(m, k), _layouts(k, n)
    want = lefts["C"] @ rights["C"]
    for left_name, a in lefts.items():
        for right_name, b in rights.items():
            assert np.array_equal(a, lefts["C"]) and np.array_equal(b, rights["C"])
            for call in (blas_product, _from_compiled_code):
                got = call(a, b)
                assert got.shape == (m, n) and got.flags.c_contiguous, (left_name, right_name)
                np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, err_msg=f"{left_name} @ {right_name}")


def test_one_compile_serves_every_layout():
    a, b = _layouts(3, 4), _layouts(4, 2)
    for x in a.values():
        for y in b.values():
            _from_compiled_code(x, y)
            blas_product(x, y)
    arrays = [sig for sig in blas_product.signatures if all(isinstance(t, numba.types.Array) for t in sig)]
    assert len(arrays) == 1 and all(t.layout == "A" for t in arrays[0]), blas_product.signatures


def test_inner_axes_that_differ_raise_numbas_error():
    with pytest.raises(ValueError, match=r"incompatible array sizes for np.dot\(a, b\) \(matrix \* matrix\)"):
        _from_compiled_code(np.ones((2, 3)), np.ones((4, 2)))


def test_nan_and_infinity_propagate_as_in_numpy():
    a = np.array([[1.0, np.nan], [2.0, 3.0]])
    b = np.array([[np.inf, 1.0], [0.0, 2.0]])
    np.testing.assert_array_equal(_from_compiled_code(a, b), a @ b)


def _through_views(W1, W2, X):
    H = np.tanh(X[:, 1:] @ W1)
    Z = H[::2].T @ X[::2, :2]
    return np.sum(np.sin(Z @ W2.T) * (W1.T @ W1)[0, 0])


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("simplify", [True, False])
def test_a_gradient_through_transposes_and_slices_is_central_differences(jit, simplify):
    g = grad(_through_views, wrt=(0, 1), jit=jit, simplify=simplify)
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        W1, W2, X = rng.standard_normal((3, 4)), rng.standard_normal((5, 2)), rng.standard_normal((6, 4))
        X = np.asfortranarray(X) if seed == 2 else X
        got = g(W1, W2, X)
        for k in range(2):
            np.testing.assert_allclose(got[k], jacobian_fd(_through_views, (W1, W2, X), k)[0], rtol=1e-6, atol=1e-8)
    text = g.compiled_source.split("def _through_views")[-1]
    assert ("matrix_product(" in text) == jit and ("np.dot(" in text) != jit


def test_a_matrix_vector_product_keeps_the_library_matmul():
    def affine(W, x):
        return np.sum(np.tanh(W @ x))
    W, x = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    g = grad(affine, wrt=(0, 1))
    got = g(W, x)
    assert "matmul(" in g.compiled_source and "matrix_product(" not in g.compiled_source
    for k in range(2):
        np.testing.assert_allclose(got[k], jacobian_fd(affine, (W, x), k)[0], rtol=1e-6, atol=1e-8)


def test_the_library_holds_its_source_and_imports_it_for_modules():
    with open(library.module(None).__file__, encoding="utf-8") as handle:
        assert "def matrix_product(a, b):" in handle.read()
    assert "matrix_product" in library.names() and blas.ANY_LAYOUT <= library.names()
