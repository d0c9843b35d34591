"""Matrix products for the module Numba compiles: BLAS's dgemm, called with transpose flags.

Takes: two 2-D float64 arrays of any layout (row-major, column-major, strided).
Guarantees:

* `matrix_product(a, b)` is `np.dot(a, b)`: a new row-major matrix, computed by
  the dgemm Numba's own `np.dot` calls (`numba_xxgemm`, SciPy's BLAS), with
  Numba's errors (ValueError for inner axes that differ, OverflowError for an
  axis beyond a C int) and zeros where the inner axis is empty;
* it is compiled once for every pair of layouts: the library compiles it with
  its operands typed as any-layout arrays (`ANY_LAYOUT`, `cache.compiled`),
  and reads each operand's layout from its strides when called.  Numba's
  `np.dot` is compiled once per pair of layouts (a two-layer MLP's gradient
  has three: about 0.5 s each on an empty cache) and copies an operand that
  is not contiguous; here an operand with a unit stride along either axis is
  passed as it is (a row-major one is the transpose of the column-major
  matrix BLAS reads, `'n'`; a column-major one is that matrix, `'t'`), and
  only one with neither is copied;
* it runs only in compiled code (`dgemm` is a C symbol Numba links); the
  interpreted module spells `np.dot`.
"""
import functools

import numpy as np

ANY_LAYOUT = frozenset({"matrix_product"})      # library functions compiled once for all layouts of their operands


@functools.cache
def _dgemm_type():
    """Numba's type of its BLAS wrapper `numba_xxgemm` (made when first asked: importing Numba takes time)."""
    from numba.core import types
    i = types.intp       # pointers are passed as their addresses (intp): one ABI on every 64-bit target
    return types.ExternalFunction("numba_xxgemm", types.intc(types.char, types.char, types.char, i, i, i, i, i, i,
                                                             i, i, i, i, i))


def ensure_blas() -> None:
    """Numba's BLAS wrappers import SciPy's at their first call: without SciPy a matrix product cannot run."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        raise ImportError("matrix products in compiled code call BLAS through SciPy: pip install scipy") from None


def __getattr__(name: str):
    """`from autodiff_compiler.backend.blas import dgemm` (what the library writes)."""
    if name == "dgemm":
        return _dgemm_type()
    raise AttributeError(name)


def matrix_product(a, b):
    """np.dot(a, b) of 2-D float64 arrays of any layout, by BLAS's dgemm (`backend.blas`)."""
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k:
        raise ValueError("incompatible array sizes for np.dot(a, b) (matrix * matrix)")
    if m > 2147483647 or n > 2147483647 or k > 2147483647:
        raise OverflowError("array size too large to fit in C int")
    out = np.empty((m, n))
    if m == 0 or n == 0:
        return out
    if k == 0:
        for i in range(m):
            for j in range(n):
                out[i, j] = 0.0
        return out
    # how BLAS reads each operand (column-major): a row-major matrix is its transpose ('n', leading
    # dimension its row stride), a column-major one is itself ('t', its column stride); 0: neither
    flags = np.zeros(4, np.intp)
    for index in range(2):
        x = a if index == 0 else b
        rows, cols = x.shape
        row_stride, col_stride = x.strides
        if (col_stride == 8 or cols == 1) and row_stride % 8 == 0 and max(cols, 1) <= row_stride // 8 <= 2147483647:
            flags[2 * index], flags[2 * index + 1] = 110, row_stride // 8
        elif (row_stride == 8 or rows == 1) and col_stride % 8 == 0 and max(rows, 1) <= col_stride // 8 <= 2147483647:
            flags[2 * index], flags[2 * index + 1] = 116, col_stride // 8
    dense_a = a
    dense_b = b
    if flags[0] == 0:
        dense_a = np.empty((m, k))
        for i in range(m):
            for j in range(k):
                dense_a[i, j] = a[i, j]
        flags[0], flags[1] = 110, k
    if flags[2] == 0:
        dense_b = np.empty((k, n))
        for i in range(k):
            for j in range(n):
                dense_b[i, j] = b[i, j]
        flags[2], flags[3] = 110, n
    scalars = np.empty(2)       # alpha, beta: out = 1 * a b + 0 * out
    scalars[0] = 1.0
    scalars[1] = 0.0
    # row-major out = a b is column-major out^T = b^T a^T: b is BLAS's first operand
    status = dgemm(100, flags[2], flags[0], n, m, k, scalars.ctypes.data, dense_b.ctypes.data, flags[3],
                   dense_a.ctypes.data, flags[1], scalars.ctypes.data + 8, out.ctypes.data, n)
    if status != 0:
        raise RuntimeError("BLAS's dgemm returned an error")
    return out
