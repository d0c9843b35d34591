"""backend/products.py: products of float arrays in compiled code, compiled once for every layout.

Checked here: `matrix_product`, `matrix_vector` and `vector_matrix` equal
NumPy's `np.dot` for every pair of
operand layouts (row-major, column-major, transposed views, slices with a unit
stride along one axis, slices with none, negative strides, one-row and
one-column matrices, empty axes), called from Python and from compiled code; Numba compiles it once
for all of them (one signature); it raises Numba's errors for inner axes that
differ; gradients of matrix products through transposes and slices, and of
a matrix-vector product (whose adjoint is an outer product), equal central
differences, compiled and interpreted; the module users read keeps `np.dot`,
and a product of two vectors keeps the library's `matmul`; `np.outer` of
matrices flattens them as NumPy does.
"""
import numba
import numpy as np
import pytest
from _derivative_reference import jacobian_fd

from autodiff_compiler import grad
from autodiff_compiler.backend import library, products

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
matrix_vector = library.function("matrix_vector", None)
vector_matrix = library.function("vector_matrix", None)


@numba.njit
def _matrix_vector_from_compiled_code(a, x):
    return matrix_vector(a, x)


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


@pytest.mark.parametrize("m, k", [(4, 3), (1, 3), (3, 1), (0, 3), (3, 0)])
def test_every_layout_of_a_matrix_and_a_vector_is_numpys_product(m, k):
    matrices, vectors, others = _layouts(m, k), _vectors(k), _vectors(m)
    want, want_left = matrices["C"] @ vectors["contiguous"], others["contiguous"] @ matrices["C"]
    for name, a in matrices.items():
        for x_name, x in vectors.items():
            for call in (matrix_vector, _matrix_vector_from_compiled_code):
                got = call(a, x)
                assert got.shape == (m,) and got.flags.c_contiguous
                np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, err_msg=f"{name} @ {x_name}")
        for y_name, y in others.items():
            got = vector_matrix(y, a)
            assert got.shape == (k,)
            np.testing.assert_allclose(got, want_left, rtol=1e-13, atol=1e-13, err_msg=f"{y_name} @ {name}")
    with pytest.raises(ValueError, match=r"\(matrix \* vector\)"):
        _matrix_vector_from_compiled_code(matrices["C"], np.ones(k + 1))
    with pytest.raises(ValueError, match=r"\(vector \* matrix\)"):
        vector_matrix(np.ones(m + 1), matrices["C"])


def test_one_compile_serves_every_layout():
    a, b = _layouts(3, 4), _layouts(4, 2)
    for x in a.values():
        for y in b.values():
            _from_compiled_code(x, y)
            blas_product(x, y)
        for v in _vectors(4).values():
            matrix_vector(x, v)
            matrix_vector(np.broadcast_to(x, x.shape), v)       # read-only
    for function in (blas_product, matrix_vector):
        arrays = [sig for sig in function.signatures if all(isinstance(t, numba.types.Array) for t in sig)]
        assert len(arrays) == 1 and all(t.layout == "A" and not t.mutable for t in arrays[0]), function.signatures


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


def _affine(W, x):
    return np.sum(np.tanh(W @ x))


@pytest.mark.parametrize("jit", [True, False])
def test_a_matrix_vector_product_is_the_librarys_and_its_adjoint_numpys_outer(jit):
    g = grad(_affine, wrt=(0, 1), jit=jit)
    for seed in (3, 4):
        rng = np.random.default_rng(seed)
        W, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
        got = g(W, x)
        for k in range(2):
            np.testing.assert_allclose(got[k], jacobian_fd(_affine, (W, x), k)[0], rtol=1e-6, atol=1e-8)
    text = g.compiled_source.split("def _affine")[-1]
    assert "matrix_product(" not in text
    assert ("matrix_vector(" in text) == jit and ("np.dot(" in text) != jit
    assert "np.outer(" in text       # Numba's: a loop over any-layout vectors is not vectorised


def test_a_product_of_two_vectors_keeps_the_library_matmul():
    def dot_tanh(x, y):
        return np.tanh(np.dot(x, y))
    g = grad(dot_tanh, wrt=(0, 1))
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    got = g(x, y)
    assert "matmul(" in g.compiled_source
    for k in range(2):
        np.testing.assert_allclose(got[k], jacobian_fd(dot_tanh, (x, y), k)[0], rtol=1e-6, atol=1e-8)


def _vectors(n: int):
    base = RNG.standard_normal(n)
    spaced = RNG.standard_normal(3 * n + 1)
    spaced[1::3] = base
    return {"contiguous": base, "every third": spaced[1::3], "reversed": np.ascontiguousarray(base[::-1])[::-1],
            "a column": np.asfortranarray(np.outer(base, np.ones(2)))[:, 1]}


def _signs_times(W, I, v):
    S = np.sign(I)          # NumPy's and Numba's: int64 (the IR says float64, which it is beside W)
    return np.sum(np.sin(S @ W)) + np.sum(np.cos(W @ np.floor(I[0]))) + np.sum(np.floor(I[1]) @ W) \
        + np.sum(np.sign(I[2]) @ W * v)


@pytest.mark.parametrize("jit", [True, False])
def test_int_arrays_typed_as_floats_are_taken_as_floats(jit):
    """`np.sign`, `np.floor` of an int array: NumPy's and Numba's result is int64, the IR's float64 (what
    it is beside a float operand).  The products trusted the IR's type, and Numba failed to unify an
    int64 operand with its float64 copy (an InternalError; review).  They take any operand as float64."""
    rng = np.random.default_rng(12)
    for _ in range(2):
        W, v = rng.standard_normal((3, 3)), rng.standard_normal(3)
        I = rng.integers(-3, 4, size=(3, 3))
        for k in (0, 2):
            got = grad(_signs_times, wrt=k, jit=jit)(W, I, v)
            np.testing.assert_allclose(got, jacobian_fd(_signs_times, (W, I, v), k)[0], rtol=1e-6, atol=1e-8)


def _outer_of_matrices(A, B, v):
    return np.sum(np.sin(np.outer(A, B))) + np.sum(np.outer(v, A[0]) ** 2)


def _outer_in_a_loop(A, B, v):
    # operands a loop assigns: the lowering does not know their ranks yet (the flattening refused
    # them: "a value whose rank is not known at this line", a regression of the change above)
    s = 0.0
    for k in range(2):
        w = v * (k + 1.0)
        C = B * (k + 0.5)
        s = s + np.sum(np.sin(np.outer(w, A[k]))) + np.sum(np.outer(C, w) ** 2)
    return s


def _outer_of_numbers(A, B, v):
    # a number is a vector of one entry (review: a TypingError compiled, an AttributeError interpreted)
    s = A[0, 1]
    return np.sum(np.outer(s, v) ** 2) + np.sum(np.sin(np.outer(B[0], s))) + np.sum(np.outer(s, B[1, 2]) * s)


@pytest.mark.parametrize("jit", [True, False])
def test_np_outer_flattens_its_operands_as_numpy_does(jit):
    """np.outer of matrices is the outer product of their flattened entries; the rule's adjoint took
    vectors, and the front end passed matrices (an InternalError in both modes; review)."""
    rng = np.random.default_rng(14)
    for _ in range(2):
        A, B, v = rng.standard_normal((2, 2)), rng.standard_normal((2, 3)), rng.standard_normal(3)
        for k in range(3):
            for fn in (_outer_of_matrices, _outer_in_a_loop, _outer_of_numbers):
                got = grad(fn, wrt=k, jit=jit)(A, B, v)
                np.testing.assert_allclose(got, jacobian_fd(fn, (A, B, v), k)[0], rtol=1e-6, atol=1e-8)


def _outer_of_a_float(a, v):
    return np.sum(np.outer(a, v) ** 2) + np.sum(np.outer(a, a * 2.0)) + np.sum(np.cos(np.outer(v, a)))


@pytest.mark.parametrize("jit", [True, False])
def test_np_outer_of_a_python_float_is_of_a_vector_of_one_entry(jit):
    """A float argument has no shape: the adjoint reshaped to it (an AttributeError interpreted, a
    TypingError compiled; review)."""
    v = np.random.default_rng(15).standard_normal(3)
    for a in (0.7, -1.3):
        got = grad(_outer_of_a_float, wrt=(0, 1), jit=jit)(a, v)
        for k in range(2):
            np.testing.assert_allclose(got[k], jacobian_fd(_outer_of_a_float, (a, v), k)[0], rtol=1e-6, atol=1e-8)
