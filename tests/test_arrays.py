"""Array programs: gradients vs closed forms, scipy.optimize.rosen_der, or central finite differences."""
import numpy as np
import pytest
from _derivative_reference import jacobian_fd
from scipy.optimize import rosen_der

import corpus_arrays as A
import corpus_dtypes as D
from autodiff_compiler import AutodiffError, grad, value_and_grad

JIT = pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
RNG = np.random.default_rng(1234)


def fd(f, args, index, h=1e-6):
    """Central finite differences of scalar f w.r.t. args[index] (array or scalar)."""
    base = [np.array(a, dtype=float, copy=True) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in args]
    x = base[index]
    if not isinstance(x, np.ndarray):
        a1 = list(base); a1[index] = x + h
        a2 = list(base); a2[index] = x - h
        return (f(*a1) - f(*a2)) / (2 * h)
    g = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(x.shape):
        xp = x.copy(); xp[idx] += h
        xm = x.copy(); xm[idx] -= h
        a1 = list(base); a1[index] = xp
        a2 = list(base); a2[index] = xm
        g[idx] = (f(*a1) - f(*a2)) / (2 * h)
    return g


def close(got, exp, rtol=1e-9, atol=1e-12):
    got = np.asarray(got)
    exp = np.asarray(exp)
    assert got.shape == exp.shape, (got.shape, exp.shape)
    np.testing.assert_allclose(got, exp, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ simple reductions

@JIT
def test_mean_sq(jit):
    g = grad(A.mean_sq, jit=jit)
    close(g(np.array([1.0, 2.0, 3.0])), [2 / 3, 4 / 3, 2.0])
    for x in (np.array([-1.0, 0.5]), RNG.normal(size=5)):
        close(g(x), 2 * x / x.size)


@JIT
def test_sum_poly(jit):
    g = grad(A.sum_poly, jit=jit)
    close(g(np.array([1.0, 2.0, 3.0])), [5.0, 7.0, 9.0])
    x = RNG.normal(size=4)
    close(g(x), 2 * x + 3)


# ------------------------------------------------------------------ models

@JIT
@pytest.mark.parametrize("simplify", [True, False])
def test_linreg(jit, simplify):
    g = grad(A.linreg, wrt=("w", "b"), jit=jit, simplify=simplify)
    for seed in range(3):
        r = np.random.default_rng(seed)
        x, y = r.normal(size=7), r.normal(size=7)
        w, b = r.normal(), r.normal()
        gw, gb = g(w, b, x, y)
        e = w * x + b - y
        close(gw, np.mean(2 * e * x))
        close(gb, np.mean(2 * e))


@JIT
def test_logreg(jit):
    g = grad(A.logreg, wrt=("w", "b"), jit=jit)
    for seed in range(3):
        r = np.random.default_rng(seed)
        x = r.normal(size=8)
        y = (r.random(8) > 0.5).astype(float)
        w, b = r.normal(), r.normal()
        gw, gb = g(w, b, x, y)
        p = 1 / (1 + np.exp(-(w * x + b)))
        close(gw, np.mean((p - y) * x), rtol=1e-8)
        close(gb, np.mean(p - y), rtol=1e-8)


@JIT
@pytest.mark.parametrize("fn", [A.rosen_vec, A.rosen_loop], ids=["vectorised", "loop"])
def test_rosenbrock(jit, fn):
    g = grad(fn, jit=jit)
    for x in (np.array([1.3, 0.7, 0.8, 1.9, 1.2]), np.array([-1.0, 2.0]), RNG.normal(size=6)):
        close(g(x), rosen_der(x), rtol=1e-9, atol=1e-9)


@JIT
def test_softmax_xent(jit):
    g = grad(A.softmax_xent, wrt="z", jit=jit)
    for z, k in ((np.array([1.0, 2.0, 3.0]), 0), (RNG.normal(size=5), 3), (np.array([100.0, 101.0, 99.0]), 2)):
        p = np.exp(z - z.max()); p /= p.sum()
        onehot = np.zeros_like(z); onehot[k] = 1.0
        close(g(z, k), p - onehot, atol=1e-12)


@JIT
def test_logsumexp(jit):
    g = grad(A.logsumexp, jit=jit)
    for z in (np.array([1.0, 2.0, 3.0]), RNG.normal(size=6), np.array([500.0, 499.0])):
        p = np.exp(z - z.max()); p /= p.sum()
        close(g(z), p)


@JIT
def test_mlp(jit):
    g = grad(A.mlp, wrt=("W1", "b1", "w2"), jit=jit)
    for seed in range(3):
        r = np.random.default_rng(seed)
        W1, b1, w2, x = r.normal(size=(4, 3)), r.normal(size=4), r.normal(size=4), r.normal(size=3)
        gW1, gb1, gw2 = g(W1, b1, w2, x)
        h = np.tanh(W1 @ x + b1)
        d = w2 * (1 - h ** 2)
        close(gW1, np.outer(d, x))
        close(gb1, d)
        close(gw2, h)


@JIT
def test_least_squares(jit):
    g = grad(A.least_squares, wrt=("A", "x"), jit=jit)
    for seed in range(3):
        r = np.random.default_rng(seed)
        M, x, b = r.normal(size=(5, 3)), r.normal(size=3), r.normal(size=5)
        gA, gx = g(M, x, b)
        res = M @ x - b
        close(gA, np.outer(res, x))
        close(gx, M.T @ res)


@JIT
def test_rnn(jit):
    g = grad(A.rnn, wrt="W", jit=jit)
    for seed in range(2):
        r = np.random.default_rng(seed)
        W, U = 0.5 * r.normal(size=(3, 3)), r.normal(size=(3, 2))
        h0, xs = r.normal(size=3), r.normal(size=(4, 2))
        h0_before = h0.copy()
        got = g(W, U, h0, xs)
        assert np.array_equal(h0, h0_before)
        close(got, fd(A.rnn, (W, U, h0, xs), 0), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ reductions with axes, methods, max

@JIT
def test_sum_axis0(jit):
    g = grad(A.sum_axis0_sq, jit=jit)
    for M in (RNG.normal(size=(3, 4)), np.arange(6.0).reshape(2, 3)):
        close(g(M), np.broadcast_to(2 * M.sum(axis=0), M.shape))


@JIT
def test_sum_axis1(jit):
    g = grad(A.sum_axis1_sq, jit=jit)
    for M in (RNG.normal(size=(3, 4)), np.arange(6.0).reshape(2, 3)):
        close(g(M), np.broadcast_to(2 * M.sum(axis=1)[:, None], M.shape))


@JIT
def test_sum_keepdims(jit):
    g = grad(A.sum_axis1_keepdims, jit=jit)
    for M in (RNG.normal(size=(3, 4)), np.arange(1.0, 7.0).reshape(2, 3)):
        close(g(M), fd(A.sum_axis1_keepdims, (M,), 0), rtol=1e-6, atol=1e-7)


@JIT
def test_method_sum_mean(jit):
    gs = grad(A.method_sum, jit=jit)
    gm = grad(A.method_mean, jit=jit)
    for x in (np.array([1.0, 2.0, 3.0]), RNG.normal(size=5)):
        close(gs(x), 2 * x)
        close(gm(x), 2 * x / x.size)
    M = RNG.normal(size=(2, 3))
    close(gs(M), 2 * M)
    close(gm(M), 2 * M / M.size)


@JIT
def test_max(jit):
    g = grad(A.max_of, jit=jit)
    for x, k in ((np.array([1.0, 5.0, 3.0]), 1), (np.array([-2.0, -7.0]), 0), (np.array([0.1, 0.2, 0.3, 9.0]), 3)):
        e = np.zeros_like(x); e[k] = 2.0
        close(g(x), e)


# ------------------------------------------------------------------ broadcasting, transpose, outer

@JIT
def test_broadcast_row(jit):
    g = grad(A.bcast_row, wrt=("A", "b"), jit=jit)
    for seed in range(2):
        r = np.random.default_rng(seed)
        M, b = r.normal(size=(4, 3)), r.normal(size=3)
        gA, gb = g(M, b)
        assert gA.shape == (4, 3) and gb.shape == (3,)
        close(gA, 2 * (M + b))
        close(gb, (2 * (M + b)).sum(axis=0))


@JIT
def test_broadcast_col(jit):
    g = grad(A.bcast_col, wrt=("A", "c"), jit=jit)
    for seed in range(2):
        r = np.random.default_rng(seed)
        M, c = r.normal(size=(4, 3)), r.normal(size=(4, 1))
        gA, gc = g(M, c)
        assert gA.shape == (4, 3) and gc.shape == (4, 1)
        close(gA, 2 * M * c * c)
        close(gc, (2 * M * M * c).sum(axis=1, keepdims=True))


@JIT
def test_transpose(jit):
    g = grad(A.transpose_use, wrt=("A", "v"), jit=jit)
    for seed in range(2):
        r = np.random.default_rng(seed)
        M, v = r.normal(size=(4, 3)), r.normal(size=4)
        gA, gv = g(M, v)
        u = M.T @ v
        close(gA, 2 * np.outer(v, u))
        close(gv, 2 * M @ u)


@JIT
def test_outer(jit):
    g = grad(A.outer_use, wrt=("u", "v"), jit=jit)
    for seed in range(2):
        r = np.random.default_rng(seed)
        u, v = r.normal(size=3), r.normal(size=4)
        gu, gv = g(u, v)
        close(gu, 2 * u * np.dot(v, v))
        close(gv, 2 * v * np.dot(u, u))


# ------------------------------------------------------------------ reads

@JIT
def test_read_index(jit):
    g = grad(A.read_index, wrt="x", jit=jit)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    close(g(x, 1), [0.0, 4.0, 0.0, 2.0])
    close(g(x, 3), [0.0, 0.0, 0.0, 8.0])  # x[3]*x[-1] = x3**2
    close(g(x, 0), [4.0, 0.0, 0.0, 1.0])


@JIT
def test_read_2d(jit):
    g = grad(A.read_2d, wrt="A", jit=jit)
    for (i, j) in ((0, 1), (2, 0), (1, 2)):
        M = RNG.normal(size=(3, 3))
        close(g(M, i, j), fd(A.read_2d, (M, i, j), 0), rtol=1e-6, atol=1e-8)


@JIT
def test_read_stride(jit):
    g = grad(A.read_stride, jit=jit)
    for x in (np.array([1.0, 2.0, 3.0, 4.0, 5.0]), RNG.normal(size=6)):
        e = np.zeros_like(x); e[::2] = 3 * x[::2] ** 2
        close(g(x), e)


# ------------------------------------------------------------------ writes into local arrays

@JIT
def test_write_loop(jit):
    g = grad(A.write_loop, jit=jit)
    for x in (np.array([1.0, 2.0, 3.0]), RNG.normal(size=5)):
        close(g(x), 3 * x ** 2)


@JIT
def test_write_augassign(jit):
    g = grad(A.write_augassign, jit=jit)
    for x in (np.array([1.0, 2.0, 3.0]), RNG.normal(size=5)):
        close(g(x), 2.0 + 2 * x)


# ------------------------------------------------------------------ argument handling

@JIT
@pytest.mark.parametrize("view", ["strided", "transposed"])
def test_non_contiguous_argument(jit, view):
    g = grad(A.plain_sumsq, jit=jit)
    base = RNG.normal(size=(3, 6))
    M = base[:, ::2] if view == "strided" else base.T
    assert not M.flags.c_contiguous
    got = g(M)
    close(got, 2 * M)
    gr = grad(A.rosen_vec, jit=jit)
    x = np.arange(1.0, 11.0)[::2] / 3
    close(gr(x), rosen_der(np.ascontiguousarray(x)), atol=1e-9)


@JIT
def test_writing_into_a_copy_of_a_parameter_is_the_functions_own(jit):
    """A copy of a parameter written into, in the function and in a helper: against central finite
    differences at several points, the caller's array unchanged."""
    from _reference import finite_difference

    def entrywise(fn, x, *rest):
        def at(k):
            return lambda v: fn(np.concatenate([x[:k], [v], x[k + 1:]]), *rest)
        return np.array([finite_difference(at(k), (x[k],), 0) for k in range(x.size)])

    rng = np.random.default_rng(8)
    for _ in range(3):
        x = rng.normal(size=3)
        kept = x.copy()
        got = grad(A.copies_then_writes, jit=jit)(x)
        np.testing.assert_allclose(got, entrywise(A.copies_then_writes, x), rtol=1e-6, atol=1e-8)
        got = grad(A.helper_writes_a_copy, jit=jit)(x, 0.7)
        np.testing.assert_allclose(got, entrywise(A.helper_writes_a_copy, x, 0.7), rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(x, kept)


@JIT
@pytest.mark.parametrize("fn, args, said", [
    (A.helper_writes_the_parameter, (np.ones(3), 2.0), "'a'"),
    (A.alias_written_after_a_copy, (np.ones(3),), "'x' (y shares its memory)"),
    (A.copies_into_the_same_name, (np.ones(3),), "x_own = x.copy()"),
], ids=["helper", "alias", "same-name"])
def test_a_write_into_the_callers_array_is_refused_in_the_users_names(jit, fn, args, said):
    import inspect
    with pytest.raises(AutodiffError, match="caller's array") as info:
        grad(fn, jit=jit)(*args)
    assert said in str(info.value), str(info.value)
    if fn is A.helper_writes_the_parameter:        # the helper's line, and the call that led there
        call_line = inspect.getsourcelines(fn)[1] + 1
        assert info.value.line == inspect.getsourcelines(A._set_first)[1] + 1, str(info.value)
        assert f"called from corpus_arrays.py:{call_line}" in str(info.value), str(info.value)


@JIT
def test_numpys_calls_that_return_their_operand_share_it(jit):
    """np.asarray(y, dtype=float), y.astype(float, copy=False), np.array(y, copy=False), np.float64(y),
    np.rot90(y, 0): NumPy returns y itself (or a view of all of it), so a write through the result changes
    y.  They were copies in the IR, and the gradient was of an unchanged y (1.0 for 0.0, silently).  Now a
    write then a read of y is refused, as for any view; reading only the result is derived (against
    central finite differences); NumPy's copies stay copies."""
    from _reference import finite_difference

    def entrywise(fn, x):
        def at(k):
            return lambda v: fn(np.concatenate([x.ravel()[:k], [v], x.ravel()[k + 1:]]).reshape(x.shape))
        return np.array([finite_difference(at(k), (x.ravel()[k],), 0) for k in range(x.size)]).reshape(x.shape)

    rng = np.random.default_rng(9)
    for name in A.SHARED_BY_NUMPY:
        x = rng.normal(size=(2, 2) if name.startswith("rot90") else 4)
        with pytest.raises(AutodiffError, match="share memory") as info:
            grad(getattr(A, f"shared_{name}"), jit=jit)(x.copy())
        assert "y" in str(info.value) and "w" in str(info.value), str(info.value)
        fn = getattr(A, f"shared_{name}_result_only")
        np.testing.assert_allclose(grad(fn, jit=jit)(x.copy()), entrywise(fn, x), rtol=1e-6, atol=1e-8,
                                   err_msg=name)
    x = rng.normal(size=4)
    for name in A.COPIED_BY_NUMPY:
        fn = getattr(A, f"copied_{name}")
        np.testing.assert_allclose(grad(fn, jit=jit)(x.copy()), entrywise(fn, x), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


@JIT
def test_a_write_into_numpys_read_only_diagonal_is_refused_as_python_raises(jit):
    """np.diagonal returns a read-only view: Python raises ValueError on a write into it (or into a view
    of it).  The derived program's diagonal is an array of its own, which took the write: a gradient
    where Python raises.  Refused now, naming both lines; a copy of the diagonal is the function's own."""
    x = np.arange(1.0, 10.0).reshape(3, 3) / 4
    for fn, line in ((A.written_diagonal, "d[0] = 1.0"), (A.written_view_of_the_diagonal, "e += 1.0")):
        with pytest.raises(ValueError, match="read-only"):
            fn(x.copy())
        with pytest.raises(AutodiffError, match="np.diagonal returns a read-only view") as info:
            grad(fn, jit=jit)(x.copy())
        assert line in str(info.value) and "raises ValueError" in str(info.value), str(info.value)
    for point in (x, np.random.default_rng(3).normal(size=(3, 3))):
        np.testing.assert_allclose(grad(A.written_copy_of_the_diagonal, jit=jit)(point.copy()),
                                   jacobian_fd(A.written_copy_of_the_diagonal, (point,), 0)[0], rtol=1e-6, atol=1e-8)


@JIT
def test_a_refusal_names_a_reassigned_variable_as_the_user_wrote_it(jit):
    """`y = y.T` makes a second version of `y` in the IR (`y2`); the refusal said `y2`."""
    with pytest.raises(AutodiffError, match=r"y and z share memory since line \d+ \(y = y\.T\)") as info:
        grad(A.reassigned_view_then_written, jit=jit)(np.ones((2, 2)))
    assert "y2" not in str(info.value), str(info.value)


@JIT
def test_int_arrays_clipped_with_float_bounds_are_clipped_as_floats(jit):
    """Numba's np.clip keeps an int array's dtype: `np.clip(I, 0.5, 2)` gave 0 where NumPy gives 0.5, a
    silently wrong value and gradient in compiled code (review).  Against Python and central differences."""
    rng = np.random.default_rng(13)
    for _ in range(3):
        W, I = rng.normal(size=(3, 3)), rng.integers(-2, 4, size=(3, 3))
        value, gradient = value_and_grad(D.clipped_ints, jit=jit)(W, I)
        assert value == pytest.approx(D.clipped_ints(W, I), rel=1e-13)
        np.testing.assert_allclose(gradient, jacobian_fd(D.clipped_ints, (W, I), 0)[0], rtol=1e-6, atol=1e-8)


@JIT
def test_writing_parameter_raises(jit):
    g = grad(A.writes_param, jit=jit)
    with pytest.raises(AutodiffError) as info:
        g(np.array([1.0, 2.0]))
    msg = str(info.value)
    assert "'x'" in msg and "caller's array" in msg, msg


@JIT
def test_integer_wrt_raises(jit):
    g = grad(A.plain_sumsq, jit=jit)
    with pytest.raises(AutodiffError) as info:
        g(np.array([1, 2, 3]))
    assert "int64" in str(info.value) or "int" in str(info.value), str(info.value)


@JIT
def test_integer_data_ok(jit):
    g = grad(A.int_data, wrt="w", jit=jit)
    for x in (np.array([1, 2, 3]), np.array([-4, 0, 7], dtype=np.int32)):
        w = np.array([0.5, 1.5, 2.5])
        close(g(w, x), x.astype(float))


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@JIT
def test_products_of_int_arrays_are_ints(jit, simplify):
    """np.dot, @ and np.outer of int arrays are NumPy's ints (an index, a floor division, an int power):
    they were typed as floats (a float index was refused), and Numba's np.dot of ints did not compile."""
    g = grad(A.int_products, jit=jit, simplify=simplify)
    for iv, iA, x in ((np.array([1, -2, 1]), np.array([[3, 1, 4], [1, 5, 9]]), np.array([0.7, 1.3, -0.4])),
                      (np.array([2, 0, -1]), np.array([[-3, 2, 2], [7, 1, 0]]), np.array([-1.1, 0.2, 0.9])),
                      (np.array([0, 0, 1]), np.array([[1, 1, 1], [0, 2, 0]]), np.array([0.5, 2.5, 1.5]))):
        k, m, p = int(iv @ iv) % 3, (iA @ iv) // 2, int(iv @ iv)
        want = np.zeros(3)
        want[k] += np.sum(m)
        want[0] += p * x[0] ** (p - 1)
        want[:2] += np.outer(iv[:2], iv[:1]).ravel()[:2]
        close(g(x, iv, iA), want)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@JIT
def test_arrays_made_with_a_dtype_are_numpys(jit, simplify):
    """`dtype=` of np.zeros, np.ones and np.empty, and np.full of an int, make NumPy's int64 or bool arrays
    (the dtype was dropped: floats, which round beyond 2 ** 53 and never wrap)."""
    g = grad(A.made_with_dtypes, jit=jit, simplify=simplify)
    for x, k in ((np.array([0.5, -1.0, 2.0]), 7), (np.array([-0.1, 0.3, 1.1]), 2 ** 60 + 1), (np.zeros(3) + 0.2, -5)):
        want = (2 * k + k // 2) + (x > 0.0) + 0.5
        close(g(x, k), want)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@JIT
def test_arrays_gathered_from_ints_are_numpys(jit, simplify):
    """`np.array([k, 3])` of ints alone, `np.array([k > 0, False])` of bools alone, `np.array([k, k < 0])` of
    both and `iv[[0, 2]]` of an int array are NumPy's int64 and bool arrays (all were floats: 2 ** 53 + 1
    rounded to even)."""
    g = grad(D.gathered_numbers, jit=jit, simplify=simplify)
    iv = np.array([2 ** 53 + 3, 0, 2 ** 60 + 7])
    for x, k in ((np.array([0.5, -1.0, 2.0]), 7), (np.array([-0.1, 0.3, 1.1]), 2 ** 53 + 1), (np.zeros(3) + 0.2, -5)):
        want = np.zeros(3)
        want[:2] = np.array([k % 10, 3]) + np.array([k > 0, False]) + iv[[0, 2]] % 10 + np.array([k % 10, k < 0])
        close(g(x, k, iv), want)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@JIT
def test_an_int_array_rebound_to_floats_is_a_float_array(jit, simplify):
    """A variable holding an int array on one line and a float array on another (rebound in a loop, joined
    after a branch) is Numba's float array, made so where the int array is assigned (`ir.types.
    _float_arrays`): it was an InternalError compiled (Numba cannot unify the two), and for Python a
    gradient of the int type.  `iv.astype(float)` is a float array (it stayed int64: `** -1` raised, and
    `* 2 ** 62` wrapped)."""
    for x, k in ((1.5, 4), (-0.5, 2 ** 53 + 1), (2.0, -3)):
        close(grad(D.rebound_to_floats, jit=jit, simplify=simplify)(x, k), 3 * x ** 2 * (k + 1) + 4)
        got = grad(D.joined_by_branch, jit=jit, simplify=simplify)(x, k)
        assert type(got) is float
        close(got, k + 3 if x > 0 else 2 * x + 2)
    iv = np.array([3, 5, -7])
    want = np.sum(1.0 / iv) + 1.0 / iv[0] ** 2
    close(grad(D.ints_as_floats, jit=jit, simplify=simplify)(1.5, iv), want)
    # of an int8 array: NumPy's float64 of the same values, accepted at any width
    close(grad(D.ints_as_floats, jit=jit, simplify=simplify)(1.5, iv.astype(np.int8)), want)


@pytest.mark.parametrize("source, construct", [
    ("np.sum(x * np.zeros(3, dtype=np.int32))", "dtype np.int32"),
    ("np.sum(x * np.full(3, True))", "np.full of a bool"),
    ("np.sum(x * np.full_like(np.arange(3), 2.5))", "np.full_like"),
    ("np.sum(x * np.eye(3, dtype=int)[0])", "np.eye of ints"),
])
def test_arrays_of_other_dtypes_are_refused(tmp_path, source, construct):
    """A dtype the compiled code would compute as another one (int32 wraps at 32 bits; np.full_like casts
    its value to the array's dtype) is an UnsupportedSyntaxError naming the construct, never a number."""
    import importlib.util
    path = tmp_path / "made.py"
    path.write_text(f"import numpy as np\n\n\ndef f(x):\n    return {source}\n")
    spec = importlib.util.spec_from_file_location("made", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AutodiffError, match=construct.replace(".", "\\.")):
        grad(module.f)(np.array([0.5, 1.0, 2.0]))


@pytest.mark.parametrize("body", ["a = np.zeros(3, dtype=int)\n    a += x", "a = (x > 0.5).copy()\n    a *= 2",
                                  "a = np.arange(3)\n    a *= x"])
def test_in_place_arithmetic_that_widens_an_int_or_bool_array_is_refused(tmp_path, body):
    """NumPy changes an int (bool) array in place only by ints (bools): `a += x` of floats raises
    UFuncTypeError in the function, so the compiler refuses it, naming the line, where it computed a number."""
    import importlib.util
    path = tmp_path / "widen.py"
    path.write_text(f"import numpy as np\n\n\ndef f(x):\n    {body}\n    return np.sum(a * x)\n")
    spec = importlib.util.spec_from_file_location("widen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(Exception, match="UFuncTypeError|Cannot cast"):
        module.f(np.array([0.5, 1.0, 2.0]))
    for jit in (True, False):
        with pytest.raises(AutodiffError, match="in place") as info:
            grad(module.f, jit=jit)(np.array([0.5, 1.0, 2.0]))
        assert info.value.line == 6


@JIT
def test_method_on_an_expression(jit):
    g = grad(A.method_on_expression, jit=jit)
    for x in (RNG.normal(size=4), np.arange(1.0, 4.0)):
        close(g(x), 2 * x + 2.0 / x.size)


# ---- elementwise fusion (arrays.fuse_elementwise) and loop fusion (simplify.fuse_mirrored_loops)

def _mse_reference(w, b, x, y):
    r = w * x + b - y
    return np.mean(r ** 2), np.mean(2 * r * np.broadcast_to(x, r.shape)), np.mean(2 * r)


@JIT
def test_fused_vector_chain_matches_closed_form(jit):
    from autodiff_compiler import value_and_grad
    g = value_and_grad(A.mse_vectorised, wrt=("w", "b"), jit=jit)
    for w, b in ((0.5, 0.1), (-1.2, 2.0)):
        x, y = RNG.normal(size=50), RNG.normal(size=50)
        value, (dw, db) = g(w, b, x, y)
        want = _mse_reference(w, b, x, y)
        close(value, want[0]), close(dw, want[1]), close(db, want[2])


@JIT
def test_broadcasting_vectors_take_the_vectorised_branch(jit):
    """y of length 1 broadcasts against x: the fused loop must not run, the result must not change."""
    from autodiff_compiler import value_and_grad
    g = value_and_grad(A.mse_vectorised, wrt=("w", "b"), jit=jit)
    x, y = RNG.normal(size=20), np.array([0.3])
    value, (dw, db) = g(0.7, -0.2, x, y)
    want = _mse_reference(0.7, -0.2, x, y)
    close(value, want[0]), close(dw, want[1]), close(db, want[2])


@JIT
def test_fused_slices_match_rosen_der(jit):
    g = grad(A.rosenbrock_vectorised, jit=jit)
    for n in (2, 3, 50):
        x = RNG.normal(size=n)
        close(g(x), rosen_der(x), rtol=1e-9, atol=1e-9)


def test_vector_chain_becomes_one_loop_without_temporaries():
    """The adjoint of a fused chain is one pass over the data: no array is allocated in it.  With x and y
    of one length, dispatch proves it and the loop is all there is; with y of one element, the loop is
    guarded by the test of one length, with the operations as written beside it."""
    from autodiff_compiler import value_and_grad
    g = value_and_grad(A.mse_vectorised, wrt=("w", "b"))
    g(0.5, 0.1, RNG.normal(size=8), RNG.normal(size=8))
    assert "if same_length:" not in g.source
    fused = g.source.split("# forward sweep")[1]
    assert fused.count("for i in range(") == 1, g.source
    assert "np.zeros" not in fused and "np.empty" not in fused, g.source
    assert "reverse of this trip, in the same pass" in fused, g.source
    g(0.5, 0.1, RNG.normal(size=8), RNG.normal(size=1))
    fused = g.source.split("if same_length:")[1].split("else:")[0]
    assert fused.count("for i in range(") == 1, g.source
    assert "np.zeros" not in fused and "np.empty" not in fused, g.source
    assert "reverse of this trip, in the same pass" in fused, g.source


# ------------------------------------------------------------------ extrema along axes, ties included

def _split_evenly(array, axes, largest):
    """The entries equal to the extremum along `axes`, each weighted 1/(how many there are)."""
    extremum = (np.max if largest else np.min)(array, axis=axes, keepdims=True)
    mask = 1.0 * (array == extremum)
    return mask / np.sum(mask, axis=axes, keepdims=True), extremum


def _points(shape, rng):
    """Random points (no ties) and points of small integers (many ties, a whole group tied)."""
    tied = np.round(rng.standard_normal(shape))
    tied.reshape(shape[0], -1)[0] = 1.0
    return [rng.standard_normal(shape), rng.standard_normal(shape), tied, np.round(2.0 * rng.standard_normal(shape))]


@JIT
@pytest.mark.parametrize("simplify", [True, False], ids=["simplify", "nosimplify"])
def test_extrema_along_axes_split_a_tie_evenly(jit, simplify):
    """The adjoint of np.max/np.min along axes (one pass per row, `spread_axes`): the cotangent split
    evenly among the tied entries, against the hand formula at ties and finite differences elsewhere."""
    rng = np.random.default_rng(41)
    g_rows = grad(A.max_rows_weighted, wrt=(0, 1), jit=jit, simplify=simplify)
    g_axes = grad(A.min_over_axes, jit=jit, simplify=simplify)
    g_cols = grad(A.max_columns_squared, jit=jit, simplify=simplify)
    for k, Z in enumerate(_points((6, 5), rng)):
        W = rng.standard_normal((6, 1))
        share, m = _split_evenly(Z, 1, True)
        dZ, dW = g_rows(Z, W)
        close(dZ, share * W)
        close(dW, m)
        share, m = _split_evenly(Z, 0, True)
        close(g_cols(Z), share * 2.0 * m)
        if k < 2:
            close(dZ, fd(A.max_rows_weighted, (Z, W), 0), rtol=1e-6, atol=1e-8)
            close(g_cols(Z), fd(A.max_columns_squared, (Z,), 0), rtol=1e-6, atol=1e-8)
    for k, T in enumerate(_points((3, 4, 2), rng)):
        share, m = _split_evenly(T, (0, 2), False)
        close(g_axes(T), share * 2.0 * m)
        if k < 2:
            close(g_axes(T), fd(A.min_over_axes, (T,), 0), rtol=1e-6, atol=1e-8)


@JIT
def test_second_derivatives_through_an_extremum_along_an_axis(jit):
    """hvp and hessian differentiate the spread again (its vjp: the mean over the tied entries):
    H v = 2 * share * sum(share * v) per column, against the formula at ties and against finite
    differences of the gradient elsewhere."""
    from autodiff_compiler import hessian, hvp
    rng = np.random.default_rng(43)
    g = grad(A.max_columns_squared, jit=jit)
    product = hvp(A.max_columns_squared, jit=jit)
    full = hessian(A.max_columns_squared, jit=jit)
    for k, Z in enumerate(_points((4, 3), rng)):
        v = rng.standard_normal(Z.shape)
        share, _ = _split_evenly(Z, 0, True)
        want = 2.0 * share * np.sum(share * v, axis=0, keepdims=True)
        close(product(Z, v), want)
        close(np.tensordot(full(Z), v, axes=2), want)
        if k < 2:
            h = 1e-6
            close(product(Z, v), (g(Z + h * v) - g(Z - h * v)) / (2 * h), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ int data beside float parameters

def _int_features_logreg(w, X, y):
    p = 1 / (1 + np.exp(-(X @ w)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _int_matrix_products(x, A):
    return np.sum(np.tanh(A @ x)) + np.sum(np.dot(x, A.T) ** 2) + np.sum(np.outer(A[0], x) ** 2)


def _int_matrix_times_weights(W, A):
    return np.sum(np.tanh(A @ W) ** 2) + np.sum((W.T @ A.T) * 0.5)


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("fn, make", [
    (_int_features_logreg, lambda rng: (rng.standard_normal(3) * 0.5, rng.integers(0, 3, (5, 3)),
                                        rng.integers(0, 2, 5))),
    (_int_matrix_products, lambda rng: (rng.standard_normal(3), rng.integers(-3, 4, (2, 3)))),
    (_int_matrix_times_weights, lambda rng: (rng.standard_normal((3, 2)) * 0.3, rng.integers(-2, 3, (4, 3)))),
], ids=["logreg", "products", "weights"])
@JIT
def test_int_arrays_in_matrix_products(fn, make, jit, simplify):
    """An int matrix (data: counts, one-hot features) times float parameters: NumPy multiplies it as
    float64, and the compiled module does too (Numba's np.dot takes floats only: this was an
    InternalError when compiled).  Against central differences at three points."""
    g = grad(fn, wrt=0, jit=jit, simplify=simplify)
    for seed in range(3):
        args = make(np.random.default_rng(seed))
        assert args[1].dtype.kind == "i"
        close(g(*args), fd(fn, args, 0), rtol=1e-6, atol=1e-8)


def _bool_reach(x, A):
    M = (A > 0.5) @ (A > 0.5).T        # NumPy: a bool matrix, the logical OR of ANDs (not a count)
    return np.sum(np.tanh(M @ x))


def _bool_dot(x, a, b):
    return x * np.dot(a > 0, b > 0)


def _int_dot_beyond_doubles(x, a, b):
    return x * (np.dot(a, b) - 2 ** 53)   # an int64 product: exact where a float64 one rounds


@pytest.mark.parametrize("fn, args", [
    (_bool_reach, (np.array([0.3, -0.2]), np.array([[1.0, 1.0], [1.0, 0.0]]))),
    (_bool_dot, (1.5, np.array([1.0, 2.0, -1.0]), np.array([1.0, 3.0, 2.0]))),
    (_int_dot_beyond_doubles, (1.5, np.array([2 ** 53 + 1]), np.array([1]))),
], ids=["bool-matrices", "bool-vectors", "int-beyond-2**53"])
def test_products_of_ints_or_bools_alone_are_never_a_wrong_number(fn, args):
    """NumPy multiplies bools alone as bools (an OR of ANDs) and ints alone as int64, not as float64: the
    review found the library's float64 product counting paths (2 for True).  Compiled (the runtime's
    `int_dot`, which was an error here before) and for Python, such a product is NumPy's."""
    for jit in (True, False):
        value, gradient = value_and_grad(fn, jit=jit)(*args)
        assert value == fn(*args)
        close(gradient, fd(fn, args, 0), rtol=1e-6, atol=1e-8)
