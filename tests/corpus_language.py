"""The language of real numerical code (issue 10): functions in the style of the autograd and Tangent
test suites, adapted and written here, each with the arguments to differentiate it at.

Every function returns one float.  `CASES` lists (function, argument maker, options): the maker
takes a NumPy random generator and returns the arguments (containers where the function takes them),
so test_language.py can draw several points.  `verify=True` marks the scalar and small-array cases
also proved against SymPy.  Tangent's style: scalar arguments a, b, c, vectors x; autograd's: every
NumPy function checked through a scalar loss.
"""
import math

import numpy as np
import scipy.special
from scipy.special import expit, gammaln, logit, logsumexp, xlogy

# ---------------------------------------------------------------- module data and closures
DATA = np.linspace(-1.0, 1.0, 6)
WEIGHTS = {"scale": 1.5, "shift": np.array([0.5, -0.25, 1.0])}
COEFFS = (1.0, -2.0, 0.5)
TABLE = np.arange(12.0).reshape(3, 4) / 10.0
SCALE = 1.5


# ================================================================ scalars (Tangent's style)

def id_(a):
    return a


def unary_sub(a):
    return -a


def saxpy(a, b, c):
    return a * b + c


def add(a, b):
    return a + b


def mul(a, b):
    return a * b


def saxpy_call(a, b, c):
    return add(mul(a, b), c)


def saxpy_overwrite(a, b, c):
    t = a * b
    t = t + c
    return t


def overwrite_if(a):
    if a > 0:
        a = a * 3.0
    else:
        a = a * 2.0
    return a


def nested_if(a):
    if a > 0:
        if a < 10:
            a = a * a
    else:
        a = 3.0 * a
    return a


def multiarg_if(a):
    if a * a / 3.0 > 0:
        b = 3.0
    else:
        b = 4.0
    a = a * b
    if a < b - a * b:
        a = a * a
    elif a > b + 3.0 * a:
        a = a * b
    else:
        a = -a
    return a


def fn_multiply(a):
    return np.multiply(a, 3.0)


def anf_list(a):
    b = [1.0, a * a, 2.0]
    return np.sum(b)


def deep_anf_list(x):
    b = [1.0, x[0] * x[1] * x[2], 3.0]
    return np.sum(b)


def list_and_subscript(a):
    x = [1.0, a, 3.0]
    return x[0] * x[1]


def implicit_indexing(x):
    res = 0.0
    for a in x:
        res += a * a
    return res


def serial_for(a, n):
    for i in range(n):
        a = a * 0.9 + math.sin(a)
    a = 2.0 * a
    for i in range(n + 1):
        a = a * 1.1
    return a


def iter_third_pow(a):
    out = 1.0
    for i in range(3):
        out = out * a
    return out


def superfor_iterpower(a):
    for i in range(2):
        for j in range(3):
            a = math.sin(a) * a
    return a


def numpy_sqrt_branch(a):
    if a >= 0:
        r = np.sqrt(a)
    else:
        r = np.sqrt(-a)
    return r


def tuple_swap(a, b):
    a, b = b, a * b
    return a * math.exp(b)


def chained_compare(a):
    if -1.0 < a < 1.0:
        return a ** 3
    return a * 2.0


# ================================================================ elementwise functions

def arcsinh_sum(x):
    return np.sum(np.arcsinh(x) * x)


def arccosh_sum(x):
    return np.sum(np.arccosh(1.5 + x * x))


def arctanh_sum(x):
    return np.sum(np.arctanh(0.5 * np.tanh(x)))


def exp2_sum(x):
    return np.sum(np.exp2(x))


def reciprocal_sum(x):
    return np.sum(np.reciprocal(2.0 + x * x))


def deg_rad(x):
    return np.sum(np.sin(np.deg2rad(x * 40.0)) + np.rad2deg(x) * 0.01)


def sinc_sum(x):
    return np.sum(np.sinc(x) * x)


def logaddexp_sum(x, y):
    return np.sum(np.logaddexp(x, y))


def logaddexp2_sum(x, y):
    return np.sum(np.logaddexp2(x, 2.0 * y))


def np_add_subtract_multiply(x, y):
    return np.sum(np.multiply(np.add(x, y), np.subtract(x, 2.0 * y)))


def math_asinh(a):
    return math.asinh(a) + math.atanh(a / 3.0) + math.acosh(2.0 + a * a)


def cbrt_sum(x):
    return np.sum(np.cbrt(2.0 + x * x))


def expit_sum(x):
    return np.sum(expit(x) ** 2)


def logit_sum(x):
    p = expit(x)
    return np.sum(logit(0.25 + 0.5 * p))


def xlogy_sum(x):
    return np.sum(xlogy(x, 1.5 + x * x))


def gammaln_sum(x):
    return np.sum(gammaln(2.0 + x * x))


def erf_sum(x):
    return np.sum(scipy.special.erf(x) * x)


def digamma_scalar(a):
    return scipy.special.digamma(2.0 + a * a)


def special_scalars(a):
    return expit(a) + gammaln(3.0 + a) + xlogy(a, 2.0 + a * a) + scipy.special.erf(a)


def expit_large(x):
    return np.sum(expit(100.0 * x))


# ================================================================ reductions

def var_all(x):
    return np.var(x)


def std_all(x):
    return np.std(x)


def var_axis(A):
    return np.sum(np.var(A, axis=0) * np.array([1.0, 2.0, 3.0]))


def std_axis_ddof(A):
    return np.sum(np.std(A, axis=1, ddof=1))


def var_keepdims(A):
    return np.sum(A * np.var(A, axis=1, keepdims=True))


def var_method(A):
    return A.var() + A.std(axis=0).sum()


def prod_axis(A):
    return np.sum(np.prod(A, axis=0))


def prod_axis1_keep(A):
    return np.sum(A * np.prod(A, axis=1, keepdims=True))


def sum_axis_tuple(T):
    return np.sum(np.sum(T, axis=(0, 2)) ** 2)


def mean_axis_tuple_keep(T):
    return np.sum(T * np.mean(T, axis=(1, 2), keepdims=True))


def max_axis_rank3(T):
    return np.sum(np.max(T, axis=1) ** 2)


def min_axis_keep_rank3(T):
    return np.sum(np.min(T, axis=-1, keepdims=True) * T)


def max_axis_tuple(T):
    return np.sum(np.max(T, axis=(0, 1)))


def negative_axes(T):
    return np.sum(np.sum(T, axis=-2) ** 2) + np.sum(np.mean(T, axis=-3) * T[0]) + np.sum(np.max(T, axis=(-1, -3)))


def cumsum_sum(x):
    return np.sum(np.cumsum(x) ** 2)


def cumsum_axis(A):
    return np.sum(np.cumsum(A, axis=1) * A)


def cumsum_method(A):
    return np.sum(np.sin(A.cumsum(axis=0)))


def diff_sum(x):
    return np.sum(np.diff(x) ** 2)


def diff_twice(x):
    return np.sum(np.diff(x, n=2) ** 2)


def diff_axis(A):
    return np.sum(np.diff(A, axis=0) ** 2)


def average_weighted(x, w):
    return np.average(x * x, weights=w * w + 1.0)


def rank4_reduce(Q):
    return np.sum(np.sum(Q, axis=(1, 3)) ** 2) + np.sum(np.max(Q, axis=0))


def mean_method_axis(A):
    return np.sum(A.mean(axis=1) ** 2) + A.max(axis=0).sum()


# ================================================================ matrix structure

def trace_sq(A):
    return np.trace(A @ A)


def trace_offset(A):
    return np.trace(A, offset=1) * np.trace(A)


def diag_of_matrix(A):
    return np.sum(np.diag(A) ** 2)


def diag_of_vector(x):
    return np.sum(np.diag(x) @ x) + np.sum(np.diag(x, 1))


def diagonal_offset(A):
    return np.sum(np.diagonal(A, -1) ** 2)


def triu_tril(A):
    return np.sum(np.triu(A) ** 2) + np.sum(np.tril(A, -1) * A)


def flip_all(x):
    return np.sum(np.flip(x) * DATA[:x.shape[0]])


def flip_axis(A):
    return np.sum(np.flip(A, axis=1) * A)


def fliplr_flipud(A):
    return np.sum(np.fliplr(A) * np.flipud(A))


def rot90_sum(A):
    return np.sum(np.rot90(A) * np.rot90(A, 2).T) + np.sum(np.rot90(A, 3) ** 3)


def roll_sum(x):
    return np.sum(np.roll(x, 2) * x)


def roll_axis(A):
    return np.sum(np.roll(A, -1, axis=1) * A)


def sort_sum(x):
    return np.sum(np.sort(x) * np.arange(x.shape[0]))


def sort_rows(A, w):
    return np.sum(np.sort(A * A) * w)


def sort_columns(A):
    S = np.sort(np.sin(A), axis=0)
    return np.sum(S[0] * S[-1]) + np.sum(S * A)


def sort_flattened(A):
    return np.sum(np.sort(A, axis=None) * np.linspace(0.0, 1.0, A.size))


def cross_sum(x, y):
    return np.sum(np.cross(x, y) ** 2)


def cross_rows(A, B):
    return np.sum(np.cross(A, B))


def kron_sum(A, B):
    return np.sum(np.kron(A, B) ** 2)


def kron_vectors(x, y):
    return np.sum(np.kron(x, y) * np.arange(x.shape[0] * y.shape[0]))


def inner_vectors(x, y):
    return np.inner(x, y) ** 2


def inner_matrices(A, B):
    return np.sum(np.inner(A, B))


def tensordot_default(T, M):
    return np.sum(np.tensordot(T, M, axes=1))


def tensordot_pairs(T, A):
    return np.sum(np.tensordot(T, A, axes=([0, 1], [0, 1])) ** 2)


def linspace_sum(a, b):
    return np.sum(np.sin(np.linspace(a, b, 7)))


def linspace_endpoint(a):
    return np.sum(np.linspace(0.0, a, 4, endpoint=False) ** 2)


def vdot_sum(A, B):
    return np.vdot(A, B)


def outer_trace(x, y):
    return np.trace(np.outer(x, y))


# ================================================================ reshaping

def reshape_sum(x):
    return np.sum(np.reshape(x, (2, 3)) @ np.ones(3))


def reshape_method(A):
    return np.sum(A.reshape(-1) * np.arange(A.size)) + np.sum(A.reshape(3, 2) ** 2)


def reshape_args(A):
    return np.sum(A.reshape(A.shape[1], A.shape[0]) ** 3)


def ravel_flatten(A):
    return np.sum(np.ravel(A) ** 2) + np.sum(A.flatten() * 2.0) + np.sum(A.ravel())


def squeeze_axis(A):
    B = A[:, np.newaxis, :]
    return np.sum(np.squeeze(B, axis=1) ** 2)


def expand_dims_sum(x):
    return np.sum(np.expand_dims(x, 0) * np.expand_dims(x, 1))


def atleast_nd(x):
    return np.sum(np.atleast_1d(x)) + np.sum(np.atleast_2d(x) ** 2) + np.sum(np.atleast_3d(x) ** 3)


def atleast_scalar(a):
    return np.sum(np.atleast_2d(a) * 2.0) + np.sum(np.atleast_1d(a) ** 2)


def newaxis_outer(x, y):
    return np.sum((x[:, np.newaxis] - y[np.newaxis, :]) ** 2)


def none_index(x):
    return np.sum(x[None, :] * x[:, None])


def ellipsis_index(T):
    return np.sum(T[..., 0] ** 2) + np.sum(T[0, ...] * 2.0)


def transpose_axes(T):
    return np.sum(np.transpose(T, (2, 0, 1)) * np.arange(T.size).reshape(T.shape[2], T.shape[0], T.shape[1]))


def transpose_method(T):
    return np.sum(T.transpose(1, 0, 2) ** 2 * np.arange(T.shape[2]))


def swapaxes_moveaxis(T):
    return np.sum(np.swapaxes(T, 0, 2) ** 2) + np.sum(np.moveaxis(T, 0, -1) * 1.5)


def rank3_broadcast(T, x):
    return np.sum(np.sin(T) * x ** 2)


def rank3_column(T, M):
    return np.sum((T - M[:, :, None]) ** 2)


def rank4_broadcast(Q, v):
    return np.sum(np.tanh(Q * v) + Q[:, 0:1] * 0.5)


def transpose_rank3(T):
    return np.sum(T.T * T.T)


def shape_unpack(A):
    n, d = A.shape
    return np.sum(A) * d + n * np.sum(A ** 2)


def len_of_array(x):
    return np.sum(x) / len(x) + x.ndim


# ================================================================ joining

def concatenate_sum(x, y):
    return np.sum(np.concatenate((x, y)) ** 2 * np.arange(x.shape[0] + y.shape[0]))


def concatenate_axis(A, B):
    return np.sum(np.concatenate([A, B], axis=1) ** 2)


def concatenate_none(A, x):
    return np.sum(np.concatenate((A, x), axis=None) ** 3)


def stack_sum(x, y):
    return np.sum(np.stack((x, y)) ** 2 * np.array([[1.0], [2.0]]))


def stack_axis1(x, y):
    S = np.stack([x, y, x * y], axis=1)
    return np.sum(S @ np.array([1.0, 2.0, 3.0]))


def vstack_hstack(x, y):
    return np.sum(np.vstack((x, y)) ** 2) + np.sum(np.hstack((x, y * 2.0)) ** 2)


def hstack_matrices(A, B):
    return np.sum(np.hstack([A, B]) * np.hstack([B, A]))


def column_stack_sum(x, y):
    return np.sum(np.column_stack((x, y)) ** 2)


def append_sum(x, y):
    return np.sum(np.append(x, y) ** 2)


def append_axis(A, B):
    return np.sum(np.append(A, B, axis=0) ** 2)


def pad_sum(x):
    return np.sum(np.pad(x, 2) * np.arange(x.shape[0] + 4))


def pad_matrix(A, a):
    return np.sum(np.pad(A, ((1, 0), (0, 2)), constant_values=a) ** 2)


def tile_sum(x):
    return np.sum(np.tile(x, 3) * np.arange(3 * x.shape[0]))


def tile_matrix(A):
    return np.sum(np.tile(A, (2, 1)) ** 2) + np.sum(np.tile(A, (1, 1, 2)))


def repeat_sum(x):
    return np.sum(np.repeat(x, 2) * np.arange(2 * x.shape[0]))


def repeat_axis(A):
    return np.sum(np.repeat(A, 3, axis=1) ** 2)


def array_of_scalars(a, b):
    v = np.array([a, b, a * b])
    return np.sum(v ** 2)


def array_of_rows(x, y):
    M = np.array([x, y])
    return np.sum(M @ M.T)


def array_nested(a, b):
    M = np.array([[a, b], [b * b, 1.0]])
    return np.linalg.det(M)


def fancy_index(x):
    return np.sum(x[[0, 2]] ** 2)


def fancy_rows(A):
    return np.sum(A[[2, 0]] * A[[0, 1]])


# ================================================================ np.linalg

def det_sum(A):
    return np.linalg.det(A)


def det_of_product(A, B):
    return np.linalg.det(A @ B)


def slogdet_sum(A):
    sign, logdet = np.linalg.slogdet(A)
    return sign * logdet


def inv_sum(A):
    return np.sum(np.linalg.inv(A) ** 2)


def inv_quadratic(A, x):
    return x @ np.linalg.inv(A) @ x


def solve_vector(A, b):
    return np.sum(np.linalg.solve(A, b) ** 2)


def solve_matrix(A, B):
    return np.sum(np.linalg.solve(A, B))


def norm_vector(x):
    return np.linalg.norm(x)


def norm_orders(x):
    return np.linalg.norm(x, 1) + np.linalg.norm(x, np.inf) + np.linalg.norm(x, 3)


def norm_matrix(A):
    return np.linalg.norm(A) + np.linalg.norm(A, "fro") + np.linalg.norm(A, 1) + np.linalg.norm(A, np.inf)


def norm_axis(A):
    return np.sum(np.linalg.norm(A, axis=1) ** 3)


def gaussian_logpdf(x, mu, L):
    S = L @ L.T + np.eye(L.shape[0])
    d = x - mu
    sign, logdet = np.linalg.slogdet(S)
    return -0.5 * (d @ np.linalg.solve(S, d) + logdet + x.shape[0] * math.log(2 * math.pi))


# ================================================================ strings: einsum, astype

def einsum_matvec(A, x):
    return np.sum(np.einsum("ij,j->i", A, x) ** 2)


def einsum_matmul(A, B):
    return np.sum(np.einsum("ij,jk->ik", A, B) ** 2)


def einsum_trace(A):
    return np.einsum("ii", A) * np.einsum("ii->", A @ A)


def einsum_outer(x, y):
    return np.sum(np.einsum("i,j->ij", x, y) ** 2)


def einsum_batch(T, U):
    return np.sum(np.einsum("bij,bjk->bik", T, U) ** 2)


def einsum_three(A, B, x):
    return np.einsum("ij,jk,k->", A, B, x)


def einsum_transpose(A):
    return np.sum(np.einsum("ij->ji", A) * A)


def einsum_implicit(A, B):
    return np.sum(np.einsum("ij,jk", A, B))


def einsum_dot(x, y):
    return np.einsum("i,i->", x, y) ** 2


def astype_string(x):
    return np.sum(x.astype("float64") ** 2)


def astype_float(A):
    return np.sum(A.astype(np.float64) * A.astype(float))


def matmul_rank3(T, M):
    return np.sum((T @ M) ** 2)


# ================================================================ local functions, imports, assert, print

def nested_def(x):
    def square(t):
        return t * t
    return np.sum(square(x) + square(2.0 * x))


def nested_closure(x, a):
    def scaled(t):
        return a * t
    return np.sum(scaled(x) ** 2)


def lambda_local(a):
    f = lambda t: math.sin(t) * t  # noqa: E731
    return f(a) + f(2.0 * a)


def import_inside(a):
    import math as m
    from numpy import tanh
    return m.exp(a) + tanh(a)


def assert_inside(x):
    assert x.shape[0] == 3
    assert np.min(x) > -10.0
    return np.sum(x ** 2)


def assert_scalar(a):
    assert a > -100.0, "a is too small"
    return a * a


def print_inside(a):
    print("a is", a)
    return a ** 3


def helper_with_default(a):
    return power_of(a) + power_of(a, 3.0)


def power_of(t, k=2.0):
    return t ** k


# ================================================================ containers as parameters

def dict_params(params, x):
    return np.sum((params["w"] * x + params["b"]) ** 2)


def tuple_params(p, x):
    W, b = p
    return np.sum(np.tanh(W @ x + b))


def list_params(ps, x):
    s = 0.0
    for w in ps:
        s = s + np.sum(w * x)
    return s * s


def layers_loop(layers, x):
    for W, b in layers:
        x = np.tanh(W @ x + b)
    return np.sum(x ** 2)


def nested_dict(p, x):
    h = np.tanh(p["layer1"]["W"] @ x + p["layer1"]["b"])
    return np.sum(p["out"] * h)


def mlp_dict(params, X, y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return np.mean((out - y) ** 2)


def enumerate_params(ps, x):
    s = 0.0
    for k, w in enumerate(ps):
        s = s + (k + 1.0) * np.sum(w * x)
    return s


def zip_params(ws, bs, x):
    s = 0.0
    for w, b in zip(ws, bs):
        s = s + np.sum(np.sin(w * x + b))
    return s


def enumerate_array(x):
    """enumerate, zip and reversed of arrays whose lengths are known only when the code runs: a loop of
    that many trips (they were refused: "over something whose length is known only when the code runs")."""
    s = 0.0
    for i, xi in enumerate(x):
        s = s + (i + 1) * xi ** 2
    return s


def per_sample_squares(w, X, y):
    s = 0.0
    for i, (xi, yi) in enumerate(zip(X, y), 1):        # rows of a matrix, entries of a vector
        r = np.dot(xi, w) - yi
        s = s + r * r / i
    return s


def zip_stops_at_the_shortest(x, y):
    s = 0.0
    for a, b in zip(x, y[1:]):
        s = s + a * np.sin(b)
    return s


def reversed_recurrence(x):
    h = 0.0
    for v in reversed(x):
        h = np.tanh(0.5 * h + v)
    return h


def min_max_of_lists(x, y):
    """Python's min and max of a list or tuple of numbers (they were refused: "min takes 2 argument(s),
    got 1"); `max` of one item is that item."""
    return min([x * x, 1.0, x]) + max((y, x * y, 0.5 * y)) + max([x])


def dict_items(params):
    s = 0.0
    for name, value in params.items():
        s = s + np.sum(value ** 2)
    return s


def dict_keys_values(params):
    s = 0.0
    for k in params:
        s = s + np.sum(params[k])
    for v in params.values():
        s = s * 0.5 + np.sum(v * v)
    return s


def range_len_index(ps, x):
    s = 0.0
    for i in range(len(ps)):
        s = s + np.sum(ps[i] * x) * i
    return s


def list_comprehension(ws, x):
    return sum([np.sum(w * x) ** 2 for w in ws])


def generator_sum(ws):
    return sum(np.sum(w ** 2) for w in ws)


def dict_literal_local(a, b):
    d = {"a": a, "b": b}
    d["c"] = d["a"] * d["b"]
    return d["c"] + d.get("z", 2.0) * d["a"]


def tuple_return_helper(a, b):
    s, p = sum_and_product(a, b)
    return s * p


def sum_and_product(a, b):
    return a + b, a * b


def dict_return_helper(x):
    out = stats_of(x)
    return out["mean"] * out["norm"]


def stats_of(x):
    return {"mean": np.mean(x), "norm": np.sqrt(np.sum(x * x))}


def container_arg_helper(params, x):
    return affine(params, x) ** 2


def affine(p, x):
    return np.sum(p["w"] * x) + p["b"]


def unpack_array(p):
    a, b = p
    return a * b + a ** 2


def unpack_rows(A):
    r0, r1, r2 = A
    return np.sum(r0 * r1 + r2)


def starred_unpack_first(x, y):
    a, *rest = [x, 2.0 * y, x * y]
    return a * rest[0] + rest[1] ** 2 * len(rest)


def starred_unpack_middle(p):
    first, *middle, last = (p[0], p[1] * p[0], p[2], np.sin(p[1]))
    *none, only = [last]
    return first * last + sum(middle) * only + len(none)


def starred_unpack_in_loop(params, x):
    s = 0.0
    for w, *extra in params:
        s = s + np.sum(w * x) * (1.0 + sum(extra))
    return s


def float_of_text(x, y):
    best = float("inf")
    for v in (x, y, x * y):
        if v < best:
            best = v
    worst = max(float("-inf"), x - y)
    return best * worst + (1.0 if float("nan") != float("nan") else 0.0) * x


def for_over_rows(A):
    s = 0.0
    for row in A:
        s = s + np.sum(row) ** 2
    return s


def list_append(a, b):
    terms = []
    terms.append(a * b)
    terms.append(a + b)
    terms.append(math.sin(a))
    return terms[0] * terms[1] + terms[2]


def tuple_concat(a, b):
    t = (a,) + (b, a * b)
    return t[0] * t[1] * t[2] + len(t)


def star_in_list(a, b):
    first = [a, b]
    both = [*first, a * b]
    return np.sum(np.array(both) ** 2)


def in_dict_test(params):
    s = params["w"] ** 2
    if "b" in params:
        s = s + params["b"]
    return np.sum(s)


def int_in_dict(params, x):
    s = 0.0
    for i in range(params["n"]):
        s = s + params["w"] * x * i
    return s


# ================================================================ module data, closures, numbers

def module_scaled(x):
    """A vector result (for jacobian and jvp) scaled by a module number."""
    return SCALE * np.sin(x)


def module_scaled_sum(x):
    return np.sum(SCALE * np.sin(x))


def module_array(w):
    return np.sum((w * DATA - 1.0) ** 2)


def module_dict(x):
    return np.sum(WEIGHTS["scale"] * x + WEIGHTS["shift"]) ** 2


def module_tuple_loop(a):
    s = 0.0
    for c in COEFFS:
        s = s * a + c
    return s


def module_table(w):
    return np.sum(np.tanh(TABLE @ w))


def make_closure(scale, data):
    def loss(w):
        return np.sum((scale * w - data) ** 2)
    return loss


closed_loss = make_closure(2.5, np.array([1.0, -1.0, 0.5]))


class Model:
    def __init__(self):
        self.W = np.array([[1.0, 0.5, -0.5], [0.25, -1.0, 2.0]])
        self.scale = 0.75
        self.params = {"b": np.array([0.1, -0.2])}
        self.name = "model"

    def predict(self, x):
        return np.tanh(self.W @ x + self.params["b"]) * self.scale

    def loss(self, x):
        return np.sum(self.predict(x) ** 2) + self.penalty(x)

    @staticmethod
    def penalty(x):
        return 0.1 * np.sum(x * x)


MODEL = Model()


class Slotted:
    __slots__ = ("rate", "offset")

    def __init__(self, rate, offset):
        self.rate = rate
        self.offset = offset

    def helper(self, x):
        return x * x

    def loss(self, x):
        return self.rate * np.sum(self.helper(x)) + self.offset * np.sum(x)


class ShadowCaller:
    def helper(self, x):
        return x * x

    def loss(self, x):
        return np.sum(self.helper(x))


class Rated:
    rate = 0.5           # numbers of the class (and of its bases), read through self
    power = 2


class RatedModel(Rated):
    def __init__(self):
        self.offset = 0.25

    @property
    def doubled(self):
        return 2.0

    def loss(self, x):
        return self.rate * np.sum(x ** self.power) + self.offset * np.sum(x)

    def loss_of_a_property(self, x):
        return self.doubled * np.sum(x)


# ================================================================ float32 and autograd classics

def float32_sum(x):
    return np.sum(np.sin(x) * x)


def logistic_regression(inputs, label, W, b):
    h1 = np.dot(inputs, W) + b
    prediction = 0.5 * (np.tanh(h1) + 1)
    label_probabilities = prediction * label + (1 - prediction) * (1 - label)
    return -np.sum(np.log(label_probabilities))


def softmax_xent(z, y):
    p = scipy.special.softmax(z)
    return -np.sum(y * np.log(p))


def log_softmax_rows(Z, Y):
    return -np.sum(Y * scipy.special.log_softmax(Z, axis=1))


def logsumexp_all(x):
    return logsumexp(x)


def logsumexp_axis(A):
    return np.sum(logsumexp(A, axis=1) ** 2) + np.sum(logsumexp(A, axis=0, keepdims=True))


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def gmm_loglik(X, means, log_scales):
    diffs = X[:, None, :] - means[None, :, :]
    scales = np.exp(log_scales)
    z = diffs / scales[None, :, None]
    logp = -0.5 * np.sum(z ** 2, axis=2) - X.shape[1] * log_scales[None, :]
    return np.sum(logsumexp(logp, axis=1))


def rnn(params, xs):
    h = np.zeros(params["Wh"].shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(params["Wh"] @ h + params["Wx"] @ xs[t] + params["b"])
    return np.sum(h ** 2)


def conv1d(w, x):
    n = x.shape[0] - w.shape[0] + 1
    out = np.zeros(n)
    for i in range(n):
        out[i] = np.sum(w * x[i:i + w.shape[0]])
    return np.sum(out ** 2)


def attention(Q, K, V):
    scores = Q @ K.T / math.sqrt(Q.shape[1])
    weights = scipy.special.softmax(scores, axis=1)
    return np.sum((weights @ V) ** 2)


def batch_norm(X, gamma, beta):
    mu = np.mean(X, axis=0)
    var = np.var(X, axis=0)
    Xhat = (X - mu) / np.sqrt(var + 1e-5)
    return np.sum((gamma * Xhat + beta) ** 2 * np.arange(X.shape[1]))


def pairwise_dist(X):
    d = X[:, None, :] - X[None, :, :]
    return np.sum(np.sqrt(np.sum(d ** 2, axis=-1) + 1.0))


def polynomial_fit(c, x, y):
    V = np.stack([x ** 2, x, np.ones(x.shape[0])], axis=1)
    return np.sum((V @ c - y) ** 2)


def kl_gaussians(mu, log_sigma):
    return np.sum(0.5 * (np.exp(2.0 * log_sigma) + mu ** 2 - 1.0) - log_sigma)


def cholesky_free_quad(L, x):
    S = L @ L.T + 2.0 * np.eye(L.shape[0])
    return x @ np.linalg.inv(S) @ x + np.linalg.slogdet(S)[1]


def where_clip(x):
    return np.sum(np.where(x > 0.3, x ** 2, np.clip(x, -0.5, 0.5)))


def maximum_minimum(x, y):
    return np.sum(np.maximum(x, y) ** 2 + np.minimum(x, 2.0 * y))


# ================================================================ cases

def _v(r, n=3, lo=-1.0, hi=1.0):
    return r.uniform(lo, hi, size=n)


def _m(r, shape=(3, 3), lo=-1.0, hi=1.0):
    return r.uniform(lo, hi, size=shape)


def _spd(r, n=3):
    A = r.uniform(-1.0, 1.0, size=(n, n))
    return A @ A.T + n * np.eye(n)


def _s(r, lo=-1.0, hi=1.0):
    return float(r.uniform(lo, hi))


def _away(r, lo=0.3, hi=1.2):
    """A number away from 0 (a kink or a branch point)."""
    return float(r.uniform(lo, hi) * r.choice([-1.0, 1.0]))


def case(fn, make, wrt=None, verify=False, jit_simplify_off=False, rtol=1e-6):
    return dict(fn=fn, make=make, wrt=wrt, verify=verify, jit_simplify_off=jit_simplify_off, rtol=rtol)


CASES = [
    # scalars (Tangent)
    case(id_, lambda r: (_s(r),), verify=True),
    case(unary_sub, lambda r: (_s(r),), verify=True),
    case(saxpy, lambda r: (_s(r), _s(r), _s(r)), verify=True),
    case(saxpy_call, lambda r: (_s(r), _s(r), _s(r)), verify=True),
    case(saxpy_overwrite, lambda r: (_s(r), _s(r), _s(r)), verify=True),
    case(overwrite_if, lambda r: (_away(r),), verify=True),
    case(nested_if, lambda r: (_away(r),), verify=True),
    case(multiarg_if, lambda r: (_away(r),)),
    case(fn_multiply, lambda r: (_s(r),), verify=True),
    case(anf_list, lambda r: (_s(r),), verify=True),
    case(deep_anf_list, lambda r: (_v(r),), verify=True),
    case(list_and_subscript, lambda r: (_s(r),), verify=True),
    case(implicit_indexing, lambda r: (_v(r),), verify=True),
    case(serial_for, lambda r: (_s(r), 3), wrt="a", verify=True, jit_simplify_off=True),
    case(iter_third_pow, lambda r: (_s(r),), verify=True),
    case(superfor_iterpower, lambda r: (_s(r),)),
    case(numpy_sqrt_branch, lambda r: (_away(r),), verify=True),
    case(tuple_swap, lambda r: (_s(r), _s(r)), verify=True),
    case(chained_compare, lambda r: (_s(r, -0.9, 0.9),), verify=True),
    # elementwise
    case(arcsinh_sum, lambda r: (_v(r),), verify=True),
    case(arccosh_sum, lambda r: (_v(r),), verify=True),
    case(arctanh_sum, lambda r: (_v(r),), verify=True),
    case(exp2_sum, lambda r: (_v(r),), verify=True),
    case(reciprocal_sum, lambda r: (_v(r),), verify=True),
    case(deg_rad, lambda r: (_v(r),), verify=True),
    case(sinc_sum, lambda r: (_v(r, lo=0.2, hi=1.5),), verify=True),
    case(logaddexp_sum, lambda r: (_v(r), _v(r)), verify=True, jit_simplify_off=True),
    case(logaddexp2_sum, lambda r: (_v(r), _v(r)), verify=True),
    case(np_add_subtract_multiply, lambda r: (_v(r), _v(r)), verify=True),
    case(math_asinh, lambda r: (_s(r),), verify=True),
    case(cbrt_sum, lambda r: (_v(r),), verify=True),
    case(expit_sum, lambda r: (_v(r),), verify=True),
    case(logit_sum, lambda r: (_v(r),), verify=True),
    case(xlogy_sum, lambda r: (_v(r, lo=0.2, hi=1.0),), verify=True),
    case(gammaln_sum, lambda r: (_v(r),), verify=True),
    case(erf_sum, lambda r: (_v(r),), verify=True),
    case(digamma_scalar, lambda r: (_s(r),), verify=True),
    case(special_scalars, lambda r: (_s(r, 0.2, 1.0),), verify=True),
    case(expit_large, lambda r: (_v(r, lo=-0.05, hi=0.05),)),
    # reductions
    case(var_all, lambda r: (_v(r, 4),), verify=True),
    case(std_all, lambda r: (_v(r, 4),), verify=True),
    case(var_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    case(std_axis_ddof, lambda r: (_m(r, (2, 3)),), verify=True),
    case(var_keepdims, lambda r: (_m(r, (2, 3)),), verify=True),
    case(var_method, lambda r: (_m(r, (2, 3)),)),
    case(prod_axis, lambda r: (_m(r, (3, 2)),), verify=True),
    case(prod_axis1_keep, lambda r: (_m(r, (2, 3)),), verify=True),
    case(sum_axis_tuple, lambda r: (_m(r, (2, 3, 2)),), verify=True, jit_simplify_off=True),
    case(mean_axis_tuple_keep, lambda r: (_m(r, (2, 2, 3)),), verify=True),
    case(max_axis_rank3, lambda r: (_m(r, (2, 3, 2)),), verify=True),
    case(min_axis_keep_rank3, lambda r: (_m(r, (2, 2, 3)),), verify=True),
    case(max_axis_tuple, lambda r: (_m(r, (2, 2, 3)),)),
    case(negative_axes, lambda r: (_m(r, (2, 3, 2)),), verify=True),
    case(cumsum_sum, lambda r: (_v(r, 4),), verify=True),
    case(cumsum_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    case(cumsum_method, lambda r: (_m(r, (2, 3)),)),
    case(diff_sum, lambda r: (_v(r, 4),), verify=True),
    case(diff_twice, lambda r: (_v(r, 5),), verify=True),
    case(diff_axis, lambda r: (_m(r, (3, 2)),), verify=True),
    case(average_weighted, lambda r: (_v(r), _v(r))),
    case(rank4_reduce, lambda r: (_m(r, (2, 2, 3, 2)),), jit_simplify_off=True),
    case(mean_method_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    # matrix structure
    case(trace_sq, lambda r: (_m(r),), verify=True),
    case(trace_offset, lambda r: (_m(r, (3, 4)),), verify=True),
    case(diag_of_matrix, lambda r: (_m(r),), verify=True),
    case(diag_of_vector, lambda r: (_v(r),), verify=True),
    case(diagonal_offset, lambda r: (_m(r),), verify=True),
    case(triu_tril, lambda r: (_m(r),), verify=True),
    case(flip_all, lambda r: (_v(r, 4),), verify=True),
    case(flip_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    case(fliplr_flipud, lambda r: (_m(r),), verify=True),
    case(rot90_sum, lambda r: (_m(r),), verify=True),
    case(roll_sum, lambda r: (_v(r, 5),), verify=True),
    case(roll_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    case(sort_sum, lambda r: (_v(r, 5),), verify=True),
    case(sort_rows, lambda r: (_m(r, (2, 3)), _v(r)), wrt=("A", "w"), verify=True),
    case(sort_columns, lambda r: (_m(r, (3, 2)),), verify=True),
    case(sort_flattened, lambda r: (_m(r, (2, 3)),), verify=True),
    case(cross_sum, lambda r: (_v(r), _v(r)), verify=True),
    case(cross_rows, lambda r: (_m(r, (2, 3)), _m(r, (2, 3))), verify=True),
    case(kron_sum, lambda r: (_m(r, (2, 2)), _m(r, (2, 2))), verify=True),
    case(kron_vectors, lambda r: (_v(r, 2), _v(r)), verify=True),
    case(inner_vectors, lambda r: (_v(r), _v(r)), verify=True),
    case(inner_matrices, lambda r: (_m(r, (2, 3)), _m(r, (2, 3))), verify=True),
    case(tensordot_default, lambda r: (_m(r, (2, 3, 2)), _m(r, (2, 3)))),
    case(tensordot_pairs, lambda r: (_m(r, (2, 3, 2)), _m(r, (2, 3))), verify=True),
    case(linspace_sum, lambda r: (_s(r), _s(r)), verify=True),
    case(linspace_endpoint, lambda r: (_s(r),), verify=True),
    case(vdot_sum, lambda r: (_m(r, (2, 2)), _m(r, (2, 2))), verify=True),
    case(outer_trace, lambda r: (_v(r), _v(r)), verify=True),
    # reshaping
    case(reshape_sum, lambda r: (_v(r, 6),), verify=True),
    case(reshape_method, lambda r: (_m(r, (2, 3)),), verify=True),
    case(reshape_args, lambda r: (_m(r, (2, 3)),), verify=True),
    case(ravel_flatten, lambda r: (_m(r, (2, 3)),), verify=True),
    case(squeeze_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    case(expand_dims_sum, lambda r: (_v(r),), verify=True),
    case(atleast_nd, lambda r: (_v(r),), verify=True),
    case(atleast_scalar, lambda r: (_s(r),), verify=True),
    case(newaxis_outer, lambda r: (_v(r), _v(r, 2)), verify=True),
    case(none_index, lambda r: (_v(r),), verify=True),
    case(ellipsis_index, lambda r: (_m(r, (2, 3, 2)),), verify=True),
    case(transpose_axes, lambda r: (_m(r, (2, 3, 2)),), verify=True),
    case(transpose_method, lambda r: (_m(r, (2, 3, 2)),)),
    case(swapaxes_moveaxis, lambda r: (_m(r, (2, 3, 2)),), verify=True),
    case(rank3_broadcast, lambda r: (_m(r, (2, 3, 2)), _v(r, 2)), verify=True, jit_simplify_off=True),
    case(rank3_column, lambda r: (_m(r, (2, 3, 2)), _m(r, (2, 3))), verify=True),
    case(rank4_broadcast, lambda r: (_m(r, (2, 2, 2, 3)), _v(r)), jit_simplify_off=True),
    case(transpose_rank3, lambda r: (_m(r, (2, 3, 2)),), verify=True),
    case(shape_unpack, lambda r: (_m(r, (2, 3)),), verify=True),
    case(len_of_array, lambda r: (_v(r),), verify=True),
    # joining
    case(concatenate_sum, lambda r: (_v(r, 2), _v(r)), verify=True),
    case(concatenate_axis, lambda r: (_m(r, (2, 2)), _m(r, (2, 3))), verify=True),
    case(concatenate_none, lambda r: (_m(r, (2, 2)), _v(r)), verify=True),
    case(stack_sum, lambda r: (_v(r), _v(r)), verify=True),
    case(stack_axis1, lambda r: (_v(r), _v(r)), verify=True),
    case(vstack_hstack, lambda r: (_v(r), _v(r)), verify=True),
    case(hstack_matrices, lambda r: (_m(r, (2, 2)), _m(r, (2, 2))), verify=True),
    case(column_stack_sum, lambda r: (_v(r), _v(r)), verify=True),
    case(append_sum, lambda r: (_v(r, 2), _v(r)), verify=True),
    case(append_axis, lambda r: (_m(r, (2, 3)), _m(r, (1, 3))), verify=True),
    case(pad_sum, lambda r: (_v(r),), verify=True),
    case(pad_matrix, lambda r: (_m(r, (2, 2)), _s(r)), verify=True),
    case(tile_sum, lambda r: (_v(r, 2),), verify=True),
    case(tile_matrix, lambda r: (_m(r, (2, 2)),), verify=True),
    case(repeat_sum, lambda r: (_v(r),), verify=True),
    case(repeat_axis, lambda r: (_m(r, (2, 2)),), verify=True),
    case(array_of_scalars, lambda r: (_s(r), _s(r)), verify=True),
    case(array_of_rows, lambda r: (_v(r), _v(r)), verify=True),
    case(array_nested, lambda r: (_s(r), _s(r)), verify=True),
    case(fancy_index, lambda r: (_v(r),), verify=True),
    case(fancy_rows, lambda r: (_m(r, (3, 2)),), verify=True),
    # np.linalg
    case(det_sum, lambda r: (_spd(r),), verify=True),
    case(det_of_product, lambda r: (_spd(r, 2), _spd(r, 2)), verify=True),
    case(slogdet_sum, lambda r: (_spd(r),), verify=True),
    case(inv_sum, lambda r: (_spd(r),), verify=True),
    case(inv_quadratic, lambda r: (_spd(r, 2), _v(r, 2)), verify=True),
    case(solve_vector, lambda r: (_spd(r), _v(r)), verify=True),
    case(solve_matrix, lambda r: (_spd(r, 2), _m(r, (2, 3))), verify=True),
    case(norm_vector, lambda r: (_v(r),), verify=True),
    case(norm_orders, lambda r: (_v(r, lo=0.2, hi=1.0) * np.array([1.0, -1.0, 0.5]),), verify=True),
    case(norm_matrix, lambda r: (_m(r, (2, 2), 0.2, 1.0) * np.array([[1.0, -1.0], [0.5, 2.0]]),), verify=True),
    case(norm_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    case(gaussian_logpdf, lambda r: (_v(r, 2), _v(r, 2), _m(r, (2, 2))), verify=True),
    # strings
    case(einsum_matvec, lambda r: (_m(r, (2, 3)), _v(r)), verify=True),
    case(einsum_matmul, lambda r: (_m(r, (2, 3)), _m(r, (3, 2))), verify=True),
    case(einsum_trace, lambda r: (_m(r),), verify=True),
    case(einsum_outer, lambda r: (_v(r, 2), _v(r)), verify=True),
    case(einsum_batch, lambda r: (_m(r, (2, 2, 3)), _m(r, (2, 3, 2))), verify=True),
    case(einsum_three, lambda r: (_m(r, (2, 3)), _m(r, (3, 2)), _v(r, 2)), verify=True),
    case(einsum_transpose, lambda r: (_m(r, (3, 3)),), verify=True),
    case(einsum_implicit, lambda r: (_m(r, (2, 3)), _m(r, (3, 2))), verify=True),
    case(einsum_dot, lambda r: (_v(r), _v(r)), verify=True),
    case(astype_string, lambda r: (_v(r),), verify=True),
    case(astype_float, lambda r: (_m(r, (2, 2)),), verify=True),
    case(matmul_rank3, lambda r: (_m(r, (2, 2, 3)), _m(r, (3, 2))), verify=True),
    # local functions, imports, assert, print
    case(nested_def, lambda r: (_v(r),), verify=True),
    case(nested_closure, lambda r: (_v(r), _s(r)), verify=True),
    case(lambda_local, lambda r: (_s(r),), verify=True),
    case(import_inside, lambda r: (_s(r),), verify=True),
    case(assert_inside, lambda r: (_v(r),), verify=True),
    case(assert_scalar, lambda r: (_s(r),), verify=True),
    case(print_inside, lambda r: (_s(r),), verify=True),
    case(helper_with_default, lambda r: (_s(r, 0.2, 1.0),), verify=True),
    # containers
    case(dict_params, lambda r: ({"w": _v(r), "b": _s(r)}, _v(r)), wrt="params", verify=True, jit_simplify_off=True),
    case(tuple_params, lambda r: ((_m(r), _v(r)), _v(r)), wrt="p", verify=True),
    case(list_params, lambda r: ([_v(r), _v(r), _v(r)], _v(r)), wrt="ps", verify=True),
    case(layers_loop, lambda r: ([(_m(r), _v(r)), (_m(r, (2, 3)), _v(r, 2))], _v(r)), wrt="layers", verify=True),
    case(nested_dict, lambda r: ({"layer1": {"W": _m(r), "b": _v(r)}, "out": _v(r)}, _v(r)), wrt="p", verify=True),
    case(mlp_dict, lambda r: ({"W1": _m(r, (3, 4)), "b1": _v(r, 4), "W2": _v(r, 4), "b2": _s(r)}, _m(r, (5, 3)),
                              _v(r, 5)), wrt="params"),
    case(enumerate_params, lambda r: ([_v(r), _v(r)], _v(r)), wrt="ps", verify=True),
    case(zip_params, lambda r: ([_v(r), _v(r)], (_s(r), _s(r)), _v(r)), wrt=("ws", "bs"), verify=True),
    case(enumerate_array, lambda r: (_v(r, 4),), verify=True),
    case(min_max_of_lists, lambda r: (_s(r), _s(r)), wrt=("x", "y"), verify=True),
    case(per_sample_squares, lambda r: (_v(r), _m(r, (5, 3)), _v(r, 5)), wrt=("w", "X", "y"), verify=True),
    case(zip_stops_at_the_shortest, lambda r: (_v(r, 4), _v(r, 4)), wrt=("x", "y"), verify=True),
    case(reversed_recurrence, lambda r: (_v(r, 5),), verify=True),
    case(dict_items, lambda r: ({"a": _v(r), "b": _m(r, (2, 2)), "c": _s(r)},), verify=True),
    case(dict_keys_values, lambda r: ({"a": _v(r), "b": _v(r, 2)},), verify=True),
    case(range_len_index, lambda r: ([_v(r), _v(r), _v(r)], _v(r)), wrt="ps", verify=True),
    case(list_comprehension, lambda r: ([_v(r), _v(r)], _v(r)), wrt="ws", verify=True),
    case(generator_sum, lambda r: ((_v(r), _m(r, (2, 2))),), verify=True),
    case(dict_literal_local, lambda r: (_s(r), _s(r)), verify=True),
    case(tuple_return_helper, lambda r: (_s(r), _s(r)), verify=True),
    case(dict_return_helper, lambda r: (_v(r),), verify=True),
    case(container_arg_helper, lambda r: ({"w": _v(r), "b": _s(r)}, _v(r)), wrt="params", verify=True),
    case(unpack_array, lambda r: (_v(r, 2),), verify=True),
    case(unpack_rows, lambda r: (_m(r, (3, 2)),), verify=True),
    case(starred_unpack_first, lambda r: (_s(r), _s(r)), verify=True),
    case(starred_unpack_middle, lambda r: (_v(r),), verify=True),
    case(starred_unpack_in_loop, lambda r: ([(_v(r), _s(r)), (_v(r), _s(r), _s(r))], _v(r)), wrt="params"),
    case(float_of_text, lambda r: (_away(r), _away(r)), wrt=None),
    case(for_over_rows, lambda r: (_m(r, (3, 2)),), verify=True, jit_simplify_off=True),
    case(list_append, lambda r: (_s(r), _s(r)), verify=True),
    case(tuple_concat, lambda r: (_s(r), _s(r)), verify=True),
    case(star_in_list, lambda r: (_s(r), _s(r)), verify=True),
    case(in_dict_test, lambda r: ({"w": _v(r), "b": _s(r)},), verify=True),
    case(int_in_dict, lambda r: ({"w": _s(r), "n": 3}, _s(r)), wrt="x", verify=True),
    # module data, closures, methods
    case(module_array, lambda r: (_s(r),), verify=True),
    case(module_dict, lambda r: (_v(r),), verify=True),
    case(module_tuple_loop, lambda r: (_s(r),), verify=True),
    case(module_table, lambda r: (_v(r, 4),), verify=True),
    case(closed_loss, lambda r: (_v(r),), verify=True),
    case(MODEL.loss, lambda r: (_v(r),), verify=True),
    case(Model.penalty, lambda r: (_v(r),), verify=True),
    # float32, autograd classics
    case(float32_sum, lambda r: (_v(r, 4).astype(np.float32),), rtol=1e-4),
    case(logistic_regression, lambda r: (_m(r, (4, 3)), (r.random(4) > 0.5).astype(float), _v(r), _s(r)),
         wrt=("W", "b"), verify=True),
    case(softmax_xent, lambda r: (_v(r, 4), np.array([0.0, 1.0, 0.0, 0.0])), wrt="z", verify=True),
    case(log_softmax_rows, lambda r: (_m(r, (2, 3)), np.eye(3)[:2]), wrt="Z", verify=True),
    case(logsumexp_all, lambda r: (_v(r, 4),), verify=True),
    case(logsumexp_axis, lambda r: (_m(r, (2, 3)),), verify=True),
    case(rosenbrock, lambda r: (_v(r, 4),), verify=True),
    case(gmm_loglik, lambda r: (_m(r, (4, 2)), _m(r, (2, 2)), _v(r, 2)), wrt=("means", "log_scales")),
    case(rnn, lambda r: ({"Wh": _m(r, (2, 2)), "Wx": _m(r, (2, 3)), "b": _v(r, 2)}, _m(r, (3, 3))), wrt="params",
         verify=True),
    case(conv1d, lambda r: (_v(r, 2), _v(r, 5)), verify=True),
    case(attention, lambda r: (_m(r, (2, 3)), _m(r, (2, 3)), _m(r, (2, 3))), wrt=("Q", "K", "V"), verify=True),
    case(batch_norm, lambda r: (_m(r, (4, 2)), _v(r, 2), _v(r, 2)), wrt=("X", "gamma", "beta")),
    case(pairwise_dist, lambda r: (_m(r, (3, 2)),), verify=True),
    case(polynomial_fit, lambda r: (_v(r), _v(r, 4), _v(r, 4)), wrt="c", verify=True),
    case(kl_gaussians, lambda r: (_v(r), _v(r)), wrt=("mu", "log_sigma"), verify=True),
    case(cholesky_free_quad, lambda r: (_m(r, (2, 2)), _v(r, 2)), wrt=("L", "x"), verify=True),
    case(where_clip, lambda r: (np.array([0.1, 0.6, -0.8, 0.9]) + _v(r, 4, -0.05, 0.05),), verify=True),
    case(maximum_minimum, lambda r: (np.array([0.1, 0.6, -0.8]), np.array([0.5, -0.6, -0.1]) + _v(r, 3, -0.05, 0.05)),
         verify=True),
]


def zip_list_with_array(x):
    s = 0.0
    for c, v in zip([1.0, 2.0, 3.0], x):
        s = s + c * v
    return s



def min_of_a_list_of_arrays(x):
    return np.sum(min([x, 2.0 * x]))


def enumerate_from_an_int_parameter(x, k):
    s = 0.0
    for i, v in enumerate(x, k):
        s = s + i * v * v
    return s


def reversed_enumerate(x):
    s = 0.0
    for i, v in reversed(enumerate(x)):      # Python: TypeError, 'enumerate' object is not reversible
        s = s + i * v
    return s


def zip_strict(x, y):
    s = 0.0
    for a, b in zip(x, y, strict=True):      # Python: ValueError where the lengths differ
        s = s + a * b
    return s
