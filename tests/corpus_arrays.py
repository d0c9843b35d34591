"""Array-valued functions for test_arrays.py (module-level so their source can be read)."""
import numpy as np


def mean_sq(x):
    return np.mean(x ** 2)


def sum_poly(x):
    return np.sum(x ** 2 + 3 * x + 1)


def linreg(w, b, x, y):
    return np.mean((w * x + b - y) ** 2)


def logreg(w, b, x, y):
    p = 1 / (1 + np.exp(-(w * x + b)))
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def rosen_vec(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosen_loop(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def softmax_xent(z, k):
    m = np.max(z)
    return -(z[k] - m - np.log(np.sum(np.exp(z - m))))


def logsumexp(z):
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m)))


def mlp(W1, b1, w2, x):
    return np.dot(w2, np.tanh(W1 @ x + b1))


def least_squares(A, x, b):
    r = A @ x - b
    return 0.5 * np.dot(r, r)


def rnn(W, U, h0, xs):
    h = h0.copy()
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h)


def sum_axis0_sq(A):
    s = np.sum(A, axis=0)
    return np.sum(s ** 2)


def sum_axis1_sq(A):
    s = np.sum(A, axis=1)
    return np.sum(s ** 2)


def sum_axis1_keepdims(A):
    s = np.sum(A, axis=1, keepdims=True)
    return np.sum((A * s) ** 2)


def method_sum(x):
    y = x * x
    return y.sum()


def method_mean(x):
    y = x * x
    return y.mean()


def max_of(x):
    return np.max(x) * 2.0


def bcast_row(A, b):
    return np.sum((A + b) ** 2)


def bcast_col(A, c):
    return np.sum((A * c) ** 2)


def transpose_use(A, v):
    return np.sum((A.T @ v) ** 2)


def outer_use(u, v):
    return np.sum(np.outer(u, v) ** 2)


def read_index(x, i):
    return x[i] * x[-1]


def read_2d(A, i, j):
    return A[i, j] * np.sum(A[:, j]) + np.sum(A[i, :] ** 2)


def read_stride(x):
    return np.sum(x[::2] ** 3)


def write_loop(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = x[i] * x[i]
    return np.sum(y * x)


def write_augassign(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] += 2.0 * x[i]
        y[i] += x[i] * x[i]
    return np.sum(y)


def plain_sumsq(A):
    return np.sum(A * A)


def writes_param(x):
    x[0] = 1.0
    return np.sum(x)


# what the refusal's hint says to do: the store is into the function's own copy
def copies_then_writes(x):
    y = x.copy()
    y[0] = 2.0 * y[1] * y[2]
    return np.sum(y * y)


# the parameter's own name rebound to a copy: refused by the name (a NumPy call that returns its operand's
# memory, np.asarray(x, dtype=float), is a copy in the IR, so the dataflow layer alone may not refuse it)
def copies_into_the_same_name(x):
    x = x.copy()
    x[0] = 2.0 * x[1] * x[2]
    return np.sum(x * x)


def _set_first(a, v):
    a[0] = v
    return a


def helper_writes_a_copy(x, y):
    z = _set_first(x.copy(), y * x[1])
    return np.sum(z * x)


# still the caller's array at the store: refused, in the user's names
def helper_writes_the_parameter(x, y):
    z = _set_first(x, y)
    return np.sum(z * y)


def alias_written_after_a_copy(x):
    y = x
    x = x.copy()
    y[0] = 3.0
    return np.sum(x)


def int_data(w, x):
    return np.sum(w * x)


def int_products(x, iv, iA):
    k = np.dot(iv, iv) % 3              # NumPy's dot of ints is an int: here an index
    m = (iA @ iv) // 2                  # ints, floor-divided
    return x[k] * np.sum(m) + x[0] ** np.dot(iv, iv) + np.sum(x[:2] * np.outer(iv[:2], iv[:1]).ravel()[:2])


def made_with_dtypes(x, k):
    n = x.shape[0]
    a = np.zeros(n, dtype=np.int64) + k           # NumPy's ints: checked for 64 bits, k // 2 floors exactly
    b = np.ones((n,), int) * k
    c = np.full(n, k) // 2
    m = np.empty(n, dtype=bool)
    m[:] = x > 0.0
    return np.sum(x * (a + b + c)) + np.sum(np.where(m, x, 0.0)) + np.sum(np.full(n, 0.5) * x)


def method_on_expression(x):
    return (x * x).sum() + (2.0 * x).mean()


def mse_vectorised(w, b, x, y):
    return np.mean((w * x + b - y) ** 2)


def rosenbrock_vectorised(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def max_rows_weighted(Z, W):
    """Each row's largest entry (kept as a column), weighted."""
    m = np.max(Z, axis=1, keepdims=True)
    return np.sum(m * W)


def min_over_axes(T):
    """The smallest entry over the first and last axes of a rank-3 array, squared."""
    return np.sum(np.min(T, axis=(0, 2)) ** 2)


def max_columns_squared(Z):
    return np.sum(np.max(Z, axis=0) ** 2)



# NumPy calls that return their operand itself (no conversion needed), then a write through the result:
# Python's operand changes too.  Each was a copy in the IR: a gradient of the unchanged operand, silently.
# (`shared_*` write then read the operand: refused; `shared_*_result_only` read only the result: derived;
# `copied_*` are NumPy's copies: derived)


def shared_asarray_dtype(x):
    y = x * 1.0
    w = np.asarray(y, dtype=float)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w)


def shared_asarray_dtype_result_only(x):
    y = x * 1.0
    w = np.asarray(y, dtype=float)
    w[0] = 5.0 * w[1]
    return np.sum(w * w)


def shared_astype_no_copy(x):
    y = x * 1.0
    w = y.astype(float, copy=False)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w)


def shared_astype_no_copy_result_only(x):
    y = x * 1.0
    w = y.astype(float, copy=False)
    w[0] = 5.0 * w[1]
    return np.sum(w * w)


def shared_array_no_copy(x):
    y = x * 1.0
    w = np.array(y, copy=False)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w)


def shared_array_no_copy_result_only(x):
    y = x * 1.0
    w = np.array(y, copy=False)
    w[0] = 5.0 * w[1]
    return np.sum(w * w)


def shared_array_dtype_no_copy(x):
    y = x * 1.0
    w = np.array(y, dtype=np.float64, copy=False)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w)


def shared_array_dtype_no_copy_result_only(x):
    y = x * 1.0
    w = np.array(y, dtype=np.float64, copy=False)
    w[0] = 5.0 * w[1]
    return np.sum(w * w)


def shared_float64_of_array(x):
    y = x * 1.0
    w = np.float64(y)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w)


def shared_float64_of_array_result_only(x):
    y = x * 1.0
    w = np.float64(y)
    w[0] = 5.0 * w[1]
    return np.sum(w * w)


def shared_rot90_by_0(x):
    y = x * 1.0
    w = np.rot90(y, 0)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w)


def shared_rot90_by_0_result_only(x):
    y = x * 1.0
    w = np.rot90(y, 0)
    w[0] = 5.0 * w[1]
    return np.sum(w * w)


def shared_rot90_by_4(x):
    y = x * 1.0
    w = np.rot90(y, 4)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w)


def shared_rot90_by_4_result_only(x):
    y = x * 1.0
    w = np.rot90(y, 4)
    w[0] = 5.0 * w[1]
    return np.sum(w * w)


def copied_astype(x):
    y = x * 1.0
    w = y.astype(float)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w * w)


def copied_array_dtype(x):
    y = x * 1.0
    w = np.array(y, dtype=float)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w * w)


def copied_array(x):
    y = x * 1.0
    w = np.array(y)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w * w)


def copied_np_copy(x):
    y = x * 1.0
    w = np.copy(y)
    w[0] = 5.0 * w[1]
    return np.sum(y * y) + np.sum(w * w)


SHARED_BY_NUMPY = ['array_dtype_no_copy', 'array_no_copy', 'asarray_dtype', 'astype_no_copy', 'float64_of_array', 'rot90_by_0', 'rot90_by_4']
COPIED_BY_NUMPY = ['array', 'array_dtype', 'astype', 'np_copy']


# np.diagonal (and x.diagonal()) return a read-only view: Python raises on a write into it
def written_diagonal(x):
    y = x * 2.0
    d = np.diagonal(y)
    d[0] = 1.0
    return np.sum(y) + np.sum(d)


def written_view_of_the_diagonal(x):
    y = x * 2.0
    d = y.diagonal()
    e = d[1:]
    e += 1.0
    return np.sum(d)


def written_copy_of_the_diagonal(x):
    y = x * 2.0
    d = np.diagonal(y).copy()
    d[0] = 1.0
    return np.sum(y * y) + np.sum(d * d)


def reassigned_view_then_written(x):
    y = x * 2.0
    y = y.T                 # `y` again (a version of it in the IR)
    z = y
    z[0, 0] = 1.0
    return np.sum(y * y)


def weighted_squares(x, u):
    return np.sum(u * x * x)
