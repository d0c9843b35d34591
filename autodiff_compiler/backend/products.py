"""Matrix products for the module Numba compiles, compiled once for every layout of their operands.

Takes: float64 arrays of any layout (row-major, column-major, strided):
matrices and vectors.
Guarantees:

* `matrix_product(a, b)`, `matrix_vector(a, x)`, `vector_matrix(x, b)` are
  `np.dot` of two matrices, a matrix and a vector, a vector and a matrix: a
  new row-major array, computed by the dgemm or dgemv Numba's own `np.dot`
  calls (`numba_xxgemm`, `numba_xxgemv`: SciPy's BLAS), with Numba's errors
  (ValueError for inner axes that differ, OverflowError for an axis beyond a C
  int) and zeros where the inner axis is empty.  A matrix with a unit stride
  along either axis is passed as it is (`blas_operand`: a row-major one is the
  transpose of the column-major matrix BLAS reads, a column-major one is that
  matrix); only one with neither, and a vector without unit stride, is copied
  (Numba's `np.dot` copies every operand not typed contiguous);
* each is compiled once for all layouts: the library compiles them with their
  operands typed as any-layout arrays (`ANY_LAYOUT`, `cache.compiled`), read
  through their strides.  Numba's `np.dot` is compiled once per pair of
  layouts (a two-layer MLP's gradient has three: about 0.5 s each on an empty
  cache).  A loop over any-layout operands is not vectorised: an outer
  product written so (compiled in 0.2 s where Numba's `np.outer` takes 1.6 s)
  made a 100-step RNN's gradient 25% slower per call, so `np.outer` stays
  Numba's;
* they run only in compiled code (`dgemm`, `dgemv` are C symbols Numba links);
  the interpreted module spells `np.dot`.
"""
import functools

import numpy as np

# In the library (`backend.library`), where these run, `array_empty` is its compiled `np.empty`, which
# the module Numba compiles calls too: NumPy's overload is compiled once per signature on a machine,
# not again inside each product
array_empty = np.empty

# the library compiles these once for all layouts of their operands
ANY_LAYOUT = frozenset({"blas_operand", "matrix_product", "matrix_vector", "vector_matrix"})
CALLS_BLAS = frozenset({"matrix_product", "matrix_vector", "vector_matrix"})


@functools.cache
def _blas_types() -> dict:
    """Numba's types of its BLAS wrappers (`numba_xxgemm`, `numba_xxgemv`: the C helpers its own `np.dot`
    calls), made when first asked: importing Numba takes time."""
    from numba.core import types
    i, c = types.intp, types.char     # pointers are passed as their addresses (intp): one ABI on 64-bit targets
    return {"dgemm": types.ExternalFunction("numba_xxgemm", types.intc(c, c, c, i, i, i, i, i, i, i, i, i, i, i)),
            "dgemv": types.ExternalFunction("numba_xxgemv", types.intc(c, c, i, i, i, i, i, i, i, i))}


def ensure_blas() -> None:
    """Numba's BLAS wrappers import SciPy's at their first call: without SciPy a matrix product cannot run."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        from ..errors import AutodiffError
        raise AutodiffError("matrix products in compiled code call BLAS through SciPy, which is not installed",
                            hint="pip install scipy, or derive with jit=False") from None


def __getattr__(name: str):
    """`from autodiff_compiler.backend.products import dgemm, dgemv` (what the library writes)."""
    if name in ("dgemm", "dgemv"):
        return _blas_types()[name]
    raise AttributeError(name)


def blas_operand(x):
    """How BLAS, which reads matrices column-major, reads the non-empty matrix `x`: (the array to pass,
    whether what BLAS reads there is x's transpose, the leading dimension).  With a unit stride along
    its columns (row-major) it reads x's transpose, with one along its rows (column-major) x itself, the
    other stride being the leading dimension; any other x (no unit stride, a negative or zero one) is
    copied row-major first."""
    rows, cols = x.shape
    row_stride, col_stride = x.strides
    if (col_stride == 8 or cols == 1) and row_stride % 8 == 0 and max(cols, 1) <= row_stride // 8 <= 2147483647:
        return x, True, row_stride // 8
    if (row_stride == 8 or rows == 1) and col_stride % 8 == 0 and max(rows, 1) <= col_stride // 8 <= 2147483647:
        return x, False, col_stride // 8
    dense = array_empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            dense[i, j] = x[i, j]
    return dense, True, cols


def matrix_product(a, b):
    """np.dot(a, b) of 2-D float64 arrays of any layout, by BLAS's dgemm (`backend.products`)."""
    # the IR's float64 may be Numba's int64 (`np.sign` of ints): taken as float64, as NumPy's np.dot
    # takes it beside a float operand (`np.asarray` of a float64 array is that array)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k:
        raise ValueError("incompatible array sizes for np.dot(a, b) (matrix * matrix)")
    if m > 2147483647 or n > 2147483647 or k > 2147483647:
        raise OverflowError("array size too large to fit in C int")
    out = array_empty((m, n))
    if k == 0:
        for i in range(m):
            for j in range(n):
                out[i, j] = 0.0
    if m == 0 or n == 0 or k == 0:
        return out
    dense_a, a_transposed, lda = blas_operand(a)
    dense_b, b_transposed, ldb = blas_operand(b)
    # alpha, beta: out = 1 * a b + 0 * out (an int64 length: a literal 2 is a signature of its own)
    scalars = array_empty(np.int64(2))
    scalars[0] = 1.0
    scalars[1] = 0.0
    # row-major out is column-major out^T = b^T a^T: b is BLAS's first operand ('n': read as it is)
    status = dgemm(100, 110 if b_transposed else 116, 110 if a_transposed else 116, n, m, k, scalars.ctypes.data,
                   dense_b.ctypes.data, ldb, dense_a.ctypes.data, lda, scalars.ctypes.data + 8, out.ctypes.data, n)
    # BLAS got addresses only: the arrays are read after the call, so that Numba keeps them until then
    if status != 0 or dense_a.size + dense_b.size + scalars.size < 0:
        raise RuntimeError("BLAS's dgemm returned an error")
    return out


def matrix_vector(a, x):
    """np.dot(a, x) of a 2-D and a 1-D float64 array of any layout, by BLAS's dgemv (`backend.products`)."""
    a = np.asarray(a, dtype=np.float64)       # as `matrix_product`
    x = np.asarray(x, dtype=np.float64)
    m, k = a.shape
    if x.shape[0] != k:
        raise ValueError("incompatible array sizes for np.dot(a, b) (matrix * vector)")
    if m > 2147483647 or k > 2147483647:
        raise OverflowError("array size too large to fit in C int")
    out = array_empty(m)
    if k == 0:
        for i in range(m):
            out[i] = 0.0
    if m == 0 or k == 0:
        return out
    dense_a, transposed, lda = blas_operand(a)
    dense_x = x
    if x.strides[0] != 8:       # BLAS reads x with unit stride (Numba's wrapper passes 1)
        dense_x = array_empty(k)
        for i in range(k):
            dense_x[i] = x[i]
    scalars = array_empty(np.int64(2))       # as `matrix_product`'s
    scalars[0] = 1.0
    scalars[1] = 0.0
    # what BLAS reads is a (m x k) or its transpose (k x m, then 't': out = (a^T)^T x)
    status = dgemv(100, 116 if transposed else 110, k if transposed else m, m if transposed else k,
                   scalars.ctypes.data, dense_a.ctypes.data, lda, dense_x.ctypes.data, scalars.ctypes.data + 8,
                   out.ctypes.data)
    if status != 0 or dense_a.size + dense_x.size + scalars.size < 0:       # kept alive (`matrix_product`)
        raise RuntimeError("BLAS's dgemv returned an error")
    return out


def vector_matrix(x, b):
    """np.dot(x, b) of a 1-D and a 2-D float64 array of any layout: b^T x (`matrix_vector`)."""
    if x.shape[0] != b.shape[0]:
        raise ValueError("incompatible array sizes for np.dot(a, b) (vector * matrix)")
    return matrix_vector(b.T, x)

