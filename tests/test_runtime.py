"""backend/runtime.py: the helpers generated modules call, against what they stand for.

The row helpers (`sum_axis1`, `amax_axis1`, `amin_axis1`) are loops Numba
compiles quickly; compiled, each must give exactly what Numba's own
`np.sum` / `np.max` / `np.min` of each row gives (the first NaN of a row,
the first of equal extrema, the signs of zeros, the error on empty rows),
and run as Python (jit=False) the same numbers up to NaN payloads.
"""
import numba
import numpy as np
import pytest

from autodiff_compiler.backend import runtime


def _matrices():
    rng = np.random.default_rng(7)
    special = np.array([[np.nan, 1.0, 2.0], [1.0, np.nan, 3.0], [-0.0, 0.0, -1.0], [0.0, -0.0, 1.0],
                        [np.inf, -np.inf, np.nan], [-0.0, -0.0, -0.0], [2.0, 2.0, -np.inf]])
    return [rng.standard_normal((9, 6)), special, special.T.copy(), np.zeros((0, 4)),
            rng.integers(-3, 3, (5, 4)).astype(float), rng.standard_normal((4, 1)), rng.standard_normal((40, 37))[:, ::3]]


_NUMBA_ROWS = {
    "sum_axis1": numba.njit(lambda m: np.array([np.sum(m[i]) for i in range(m.shape[0])])),
    "amax_axis1": numba.njit(lambda m: np.array([np.max(m[i]) for i in range(m.shape[0])])),
    "amin_axis1": numba.njit(lambda m: np.array([np.min(m[i]) for i in range(m.shape[0])])),
}


def _same(a, b, signs=True):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
        return False
    numbers = ~np.isnan(a)
    return not signs or np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers]))


@pytest.mark.parametrize("name", sorted(_NUMBA_ROWS))
def test_row_helpers_are_numbas_reductions(name):
    helper = getattr(runtime, name)
    compiled = numba.njit(helper)
    for m in _matrices():
        want = _NUMBA_ROWS[name](m) if m.shape[0] else np.empty(0)
        assert _same(compiled(m), want), (name, m)
        assert _same(helper(m), want), (name, m)
        reference = {"sum_axis1": np.sum, "amax_axis1": np.max, "amin_axis1": np.min}[name](m, axis=1)
        np.testing.assert_allclose(compiled(m), reference, rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("name, word", [("amax_axis1", "maximum"), ("amin_axis1", "minimum")])
def test_row_extrema_of_empty_rows_raise_as_numpy_does(name, word):
    for run in (getattr(runtime, name), numba.njit(getattr(runtime, name))):
        with pytest.raises(ValueError, match=f"zero-size array to reduction operation {word}"):
            run(np.zeros((3, 0)))


def test_sum_like1_sums_a_broadcast_back():
    """A gradient of the vector's own length is returned as it is (the same object); one broadcast from
    a length-1 vector is summed as Numba's np.sum sums it, into a vector of that length."""
    compiled = numba.njit(runtime.sum_like1)
    reference = numba.njit(lambda g, like: np.full(like.shape[0], np.sum(g)))
    rng = np.random.default_rng(3)
    for g in (rng.standard_normal(37), np.array([-0.0, -0.0]), np.array([np.inf, 1.0, np.nan]), np.zeros(0)):
        for run in (runtime.sum_like1, compiled):
            assert run(g, g) is g
            assert _same(run(g, np.ones(1)), reference(g, np.ones(1)))


def test_helper_sources_are_read_once_at_import(tmp_path, monkeypatch):
    """A generated module copies the helpers' text: it is the text read when the package was imported,
    so an edit or upgrade of runtime.py on disk while a process runs cannot put another helper's body
    under a name (the review saw a NameError and a wrong Hessian while runtime.py changed mid-run)."""
    import inspect
    from autodiff_compiler.backend import printer
    assert set(runtime.SOURCES) == set(runtime.HELPERS)
    for name in runtime.HELPERS:
        assert runtime.SOURCES[name].startswith(f"def {name}("), name
    original = runtime.SOURCES["sum_axis1"]
    monkeypatch.setattr(inspect, "getsource", lambda obj: "def broken(:\n")   # the file as changed on disk
    assert printer._helper_source("sum_axis1") == original


@pytest.mark.parametrize("name, word", [("amax_axis0", "maximum"), ("amin_axis0", "minimum")])
def test_column_extrema_of_no_rows_raise_as_numpy_does(name, word):
    """A matrix of no rows: NumPy's ValueError, compiled too (Numba does not check `matrix[0]`: the review
    found uninitialised memory returned as the maximum of a 0 x 3 matrix)."""
    for run in (getattr(runtime, name), numba.njit(getattr(runtime, name))):
        with pytest.raises(ValueError, match=f"zero-size array to reduction operation {word}"):
            run(np.zeros((0, 3)))
        assert run(np.zeros((2, 0))).shape == (0,)


def _spread_by_masks(array, gradient, axes, largest):
    """The extremum's adjoint as the rule table wrote it before `spread_axes`: a mask of the entries
    equal to the extremum times the cotangent over their count (NaN where the count is zero)."""
    extremum = (np.max if largest else np.min)(array, axis=axes, keepdims=True)
    mask = 1.0 * (array == extremum)
    with np.errstate(divide="ignore", invalid="ignore"):
        return mask * (np.reshape(gradient, extremum.shape) / np.sum(mask, axis=axes, keepdims=True))


@pytest.mark.parametrize("largest", [True, False], ids=["max", "min"])
def test_spread_axis1_is_the_mask_formula_in_one_pass(largest):
    """The adjoint of a row's max or min: its cotangent split evenly among the tied entries, NaN along a
    row holding NaN, exactly the numbers of the mask formula (ties, signed zeros, infinities)."""
    compiled = numba.njit(runtime.spread_axis1)
    rng = np.random.default_rng(11)
    ties = np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, 0.5, -1.0], [0.0, -0.0, -0.0, 1.0], [-1.0, -1.0, -1.0, -1.0]])
    for m in _matrices() + [ties, np.round(rng.standard_normal((30, 7)))]:
        if m.shape[1] == 0:
            continue
        g = rng.standard_normal(m.shape[0])
        want = _spread_by_masks(m, g, 1, largest)
        for run in (runtime.spread_axis1, compiled):
            assert _same(run(m, g, largest), want, signs=False), (m, largest)
    # a tie of three shares the cotangent in thirds; the other entries get exact zeros
    np.testing.assert_array_equal(compiled(ties[:1], np.array([3.0]), True), [[0.0, 1.0, 1.0, 1.0]])


@pytest.mark.parametrize("largest", [True, False], ids=["max", "min"])
@pytest.mark.parametrize("shape, axes", [((5, 4), (0,)), ((3, 4, 5), (1,)), ((3, 4, 5), (0, 2)),
                                         ((2, 3, 2, 3), (1, 3)), ((2, 3), (0, 1))])
def test_spread_rows_moves_the_reduced_axes_last_and_back(shape, axes, largest):
    from autodiff_compiler.backend.load import shared_helper
    compiled = shared_helper("spread_rows", None)           # calls the compiled spread_axis1
    rng = np.random.default_rng(5)
    array = np.round(rng.standard_normal(shape))          # many ties
    array.flat[3] = np.nan                                # one group holding NaN
    kept = [a for a in range(len(shape)) if a not in axes]
    perm = tuple(kept + list(axes))
    inverse = tuple(perm.index(a) for a in range(len(shape)))
    k = int(np.prod([shape[a] for a in axes]))
    reduced = [shape[a] for a in kept]
    g = rng.standard_normal(reduced) if reduced else rng.standard_normal(1)
    want = _spread_by_masks(array, g, axes, largest)
    for run in (runtime.spread_rows, compiled):
        got = run(array, g, perm, inverse, k, largest)
        assert got.shape == array.shape
        assert _same(got, want, signs=False), (shape, axes, largest)


_POWER_INT = numba.njit(runtime.python_power_int)


@pytest.mark.parametrize("n", [2, 3, 5, 17, 22, 25, 76, 118, 150, 197, 4097, 65536])
def test_python_power_int_raises_from_the_limit_where_python_or_numba_overflows(n):
    """`python_power_int(x, n, limit)` tests the base before the power.  Below the limit
    (`python_errors.python_power_limit`) Python's `x ** n` and Numba's (squarings) are both finite; one
    float past it, one of them overflows, so the gradient raises, of either sign, compiled and not.
    The exponents include those where Python's pow and Numba's squarings overflow a float apart in
    either order (17: Python's first; 22: Numba's first)."""
    import math

    from autodiff_compiler.python_errors import python_power_limit

    limit = python_power_limit(n)
    past = math.nextafter(limit, math.inf)
    for sign in (1.0, -1.0):
        x = sign * limit
        assert math.isfinite(x ** n) and math.isfinite(_POWER_INT(x, n, limit))
        # Numba's squarings round once per multiplication: within about n roundings of Python's pow
        assert _POWER_INT(x, n, limit) == pytest.approx(x ** n, rel=2 * n * 2.0 ** -53)
        assert runtime.python_power_int(x, n, limit) == x ** n
        try:
            python_overflows = not math.isfinite(sign * past ** n)
        except OverflowError:
            python_overflows = True
        numba_overflows = not math.isfinite(numba.njit(lambda y: y ** n)(sign * past))
        assert python_overflows or numba_overflows, (n, past)
        for helper in (_POWER_INT, runtime.python_power_int):
            with pytest.raises(OverflowError, match="Numerical result out of range"):
                helper(sign * past, n, limit)
    for x in (math.inf, -math.inf, math.nan, 0.0, -0.0, 1.0):     # no finite base: no error, as in Python
        assert _POWER_INT(x, n, limit) == x ** n or math.isnan(x)


_OVERFLOWING = [("exp", 1.0), ("expm1", 1.0), ("sinh", 1.0), ("sinh", -1.0), ("cosh", 1.0), ("cosh", -1.0)]


@pytest.mark.parametrize("prim,sign", _OVERFLOWING, ids=[f"{p}{'+' if s > 0 else '-'}" for p, s in _OVERFLOWING])
def test_math_functions_raise_past_their_operands_limit_exactly_where_python_does(prim, sign, tmp_path):
    """`math.exp(x)` (expm1, sinh, cosh) raises OverflowError exactly for a finite x past a limit
    (`python_errors.overflow_limit`, found from the math module's function): the compiled gradient tests
    the operand against it (`runtime.math_overflow`), before the function.  At the limit and one float
    past it, every mode raises where Python raises and gives the derivative where it does not, the
    function's value read or not; inf, which Python's function takes, raises nothing."""
    import importlib.util
    import math

    from autodiff_compiler import AutodiffError, grad, value_and_grad
    from autodiff_compiler.python_errors import overflow_limit, overflow_test

    limit = overflow_limit(prim, sign)
    function = getattr(math, prim)
    assert math.isfinite(function(sign * limit))
    with pytest.raises(OverflowError):
        function(sign * math.nextafter(limit, math.inf))
    assert repr(limit) in overflow_test(prim)
    path = tmp_path / f"overflowing_{prim}.py"
    path.write_text(f"import math\n\n\ndef read(x):\n    return math.{prim}(x) * 0.5\n\n\n"
                    f"def unread(x):\n    y = math.{prim}(x)\n    return x * 3.0\n")
    spec = importlib.util.spec_from_file_location(f"overflowing_{prim}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    derivative = {"exp": math.exp, "expm1": math.exp, "sinh": math.cosh, "cosh": math.sinh}[prim]
    for fn, slope in ((module.read, lambda x: 0.5 * derivative(x)), (module.unread, lambda x: 3.0)):
        for jit in (True, False):
            for make in (grad, value_and_grad):
                g = make(fn, jit=jit)
                for x in (sign * limit, sign * math.nextafter(limit, math.inf), sign * 700.0):
                    try:
                        fn(x)
                    except OverflowError:
                        with pytest.raises(AutodiffError, match="math range error"):
                            g(x)
                        continue
                    got = g(x)[1] if make is value_and_grad else g(x)
                    assert got == pytest.approx(slope(x), rel=1e-12), (fn.__name__, jit, make.__name__, x)


def _compiled_with_callees(name: str):
    """A runtime helper compiled by Numba with the helpers it calls compiled too, as a generated module
    has them (each its own `njit` function)."""
    namespace = dict(vars(runtime))
    namespace.update({callee: numba.njit(getattr(runtime, callee))
                      for callee in ("int_add", "int_sub", "int_mul", "int_neg", "int_abs", "int_floordiv")})
    exec(runtime.SOURCES[name], namespace)
    return numba.njit(namespace[name])


_RANGE_CHECK = _compiled_with_callees("range_check")
_EDGES = (0, 1, -1, 2, 5, 2 ** 61, 3 * 2 ** 61, 2 ** 62, 2 ** 62 + 1, 2 ** 63 - 1, -2 ** 63, -2 ** 63 + 1, -2 ** 62)


@pytest.mark.parametrize("start", _EDGES)
def test_range_check_raises_where_a_loops_int64_bounds_would_wrap(start):
    """`range_check(start, stop, step)`, compiled, passes exactly where `stop - start`, `start - step`,
    `-step`, `stop - 1`, `stop - start -+ 1` (the reverse sweep's first index) and, where the loop runs,
    `|stop - start| + |step| - 1` (a bound of the trip count times the step) all lie in int64, computed
    with Python's ints; elsewhere OverflowError, never a wrapped pass."""
    def fits(start, stop, step):
        values = [stop - start, start - step, -step, stop - 1, stop - start - 1, stop - start + 1]
        if (stop - start) * step > 0:
            values.append(abs(stop - start) + abs(step) - 1)
        return all(-2 ** 63 <= v < 2 ** 63 for v in values)

    for stop in _EDGES:
        for step in (s for s in _EDGES if s != 0):
            if fits(start, stop, step):
                assert _RANGE_CHECK(start, stop, step) is True
            else:
                with pytest.raises(OverflowError, match="beyond the 64 bits"):
                    _RANGE_CHECK(start, stop, step)


_ELEMENT_OPS = {"int_add": lambda a, b: a + b, "int_sub": lambda a, b: a - b, "int_mul": lambda a, b: a * b,
                "int_floordiv": lambda a, b: a // b, "int_neg": lambda a: -a, "int_abs": abs}


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "python"])
@pytest.mark.parametrize("op", sorted(_ELEMENT_OPS))
def test_int_elements_are_numpys_where_they_fit_and_raise_where_it_wraps(op, compiled):
    """`int_elements1(op, a)` and `int_elements2(op, a, b)` (NumPy's arithmetic of int arrays in the module
    Numba compiles, broadcast as NumPy does): each element is NumPy's where the exact result of every
    element lies in int64, and OverflowError is raised where one would wrap around."""
    exact = _ELEMENT_OPS[op]
    edges = np.array([e for e in _EDGES if op != "int_floordiv" or e != 0], dtype=np.int64)
    if compiled:
        helper = _compiled_with_callees("int_elements2" if op not in ("int_neg", "int_abs") else "int_elements1")
        op_fn = numba.njit(getattr(runtime, op))
    else:
        helper = runtime.int_elements2 if op not in ("int_neg", "int_abs") else runtime.int_elements1
        op_fn = getattr(runtime, op)
    unary = op in ("int_neg", "int_abs")
    pairs = [(edges,)] if unary else [(edges[:, None], edges[None, :])] + \
        [(np.array([a]), b) for a in edges for b in (int(edges[3]), int(edges[-1]))]
    for operands in pairs:
        values = [np.broadcast_to(o, np.broadcast_shapes(*(np.shape(p) for p in operands))) for o in operands]
        want = np.vectorize(lambda *xs: exact(*(int(x) for x in xs)), otypes=[object])(*values)
        if all(-2 ** 63 <= w < 2 ** 63 for w in want.ravel()):
            got = helper(op_fn, *operands)
            assert got.dtype == np.int64 and got.shape == want.shape
            assert [int(g) for g in got.ravel()] == list(want.ravel())
        else:
            with pytest.raises(OverflowError, match="beyond the 64 bits"):
                helper(op_fn, *operands)
    if not unary:           # a bool array beside an int one: NumPy's int64
        mask = np.array([True, False, True])
        got = helper(op_fn, mask, np.array([3, 4, 5]))
        assert [int(g) for g in got] == [exact(int(m), k) for m, k in zip(mask, (3, 4, 5))]


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "python"])
def test_int_dot_and_outer_are_numpys_where_they_fit_and_raise_where_they_wrap(compiled):
    """`int_dot(a, b, dtype)` and `int_outer(a, b, dtype)`: NumPy's np.dot (every pair of ranks 1 and 2,
    views with strides) and np.outer of int and bool arrays where every product and partial sum lies in
    int64, with NumPy's dtype (bool of bools alone); OverflowError where a product or sum leaves it, and
    ValueError where the shapes do not align."""
    dot = _compiled_with_callees("int_dot") if compiled else runtime.int_dot
    outer = _compiled_with_callees("int_outer") if compiled else runtime.int_outer
    rng = np.random.default_rng(5)
    A = rng.integers(-50, 50, (4, 3))
    B = rng.integers(-50, 50, (3, 5))
    v, w = rng.integers(-9, 9, 3), rng.integers(-9, 9, 4)
    for a, b in ((v, v), (A, v), (w, A), (A, B), (A[::2, ::-1], B[:, 1::2]), (B.T[1:4], A.T), (w > 0, A),
                 (A > 0, v)):
        got, want = dot(a, b, np.int64), np.dot(a, b)
        assert np.shape(got) == np.shape(want) and np.array_equal(got, want), (a, b)
    assert dot(v > 0, v < 3, np.bool_) == np.dot(v > 0, v < 3)
    assert dot(v > 100, v < 3, np.bool_) == np.dot(v > 100, v < 3)
    bools = dot(A > 0, B < 0, np.bool_)
    assert bools.dtype == np.bool_ and np.array_equal(bools, np.dot(A > 0, B < 0))
    assert np.array_equal(outer(A, w, np.int64), np.outer(A, w))
    assert np.array_equal(outer(v > 0, w > 0, np.bool_), np.outer(v > 0, w > 0))
    big = np.array([2 ** 32, 1])
    for a, b in ((big, big), (big[None, :], big), (np.array([2 ** 62, 2 ** 62]), np.array([1, 1])),
                 (np.array([2 ** 62, 2 ** 62, -2 ** 62]), np.array([1, 1, 1]))):
        with pytest.raises(OverflowError, match="beyond the 64 bits"):
            dot(a, b, np.int64)
    with pytest.raises(OverflowError, match="beyond the 64 bits"):
        outer(big, big, np.int64)
    assert dot(np.array([2 ** 62, -2 ** 62]), np.array([1, 1]), np.int64) == 0
    with pytest.raises(ValueError, match="not aligned"):
        dot(A, w, np.int64)


_INT_FLOAT_COMPARISONS = [lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b, lambda a, b: a >= b,
                          lambda a, b: a == b, lambda a, b: a != b]


def _big_ints(rng, count):
    """Python's ints across int64, many beyond 2**53 (where float(n) rounds), and the edges."""
    edges = [0, 1, -1, 2 ** 53, 2 ** 53 + 1, -2 ** 53 - 1, 2 ** 62 + 1, 2 ** 63 - 1, -2 ** 63, -2 ** 63 + 1, 3]
    return edges + [int(rng.integers(-2 ** 63, 2 ** 63 - 1)) for _ in range(count)] + \
        [int(rng.choice([1, -1]) * rng.integers(2 ** 53, 2 ** 54)) for _ in range(count)]


def test_int_float_compare_is_pythons_exact_comparison():
    """Every comparison of an int64 and a float, as Python makes it (exactly; Numba rounds the int first),
    over ints beyond 2**53 and floats at and between them, inf, -inf, NaN, -0.0 and 2**63."""
    compare = numba.njit(runtime.int_float_compare)

    @numba.njit
    def table(ints, floats, out):
        for i in range(ints.shape[0]):
            for j in range(floats.shape[0]):
                for op in range(6):
                    out[i, j, op] = compare(ints[i], floats[j], op)
    rng = np.random.default_rng(0)
    ints = _big_ints(rng, 150)
    floats = [0.0, -0.0, 0.5, 2.0 ** 53, 2.0 ** 53 + 2, 2.0 ** 62, 2.0 ** 63, -2.0 ** 63, 9.3e18, -9.3e18, 1e300,
              np.inf, -np.inf, np.nan] + [float(n) + d for n in ints[:60] for d in (0.0, 0.5, -0.25)]
    out = np.empty((len(ints), len(floats), 6), dtype=np.bool_)
    table(np.array(ints, dtype=np.int64), np.array(floats), out)
    want = np.array([[[c(n, f) for c in _INT_FLOAT_COMPARISONS] for f in floats] for n in ints])
    assert np.array_equal(out, want), np.argwhere(out != want)[:5]
    rounded = [n for n in ints if float(n) != n]
    assert len(rounded) > 100      # ints Numba's comparison gets wrong: the test can fail


def test_int_true_divide_is_pythons_correctly_rounded_division():
    """`n / d` of int64s, bit for bit Python's (one rounding; Numba's float(n) / float(d) rounds twice beyond
    2**53), signs and zeros included; ZeroDivisionError for d == 0."""
    divide = numba.njit(runtime.int_true_divide)

    @numba.njit
    def quotients(ns, ds, out):
        for i in range(ns.shape[0]):
            out[i] = divide(ns[i], ds[i])
    rng = np.random.default_rng(1)
    ints = _big_ints(rng, 100)
    pairs = [(n, d) for n in ints for d in ints if d != 0]
    pairs += [(int(rng.integers(-2 ** 63, 2 ** 63 - 1)), int(rng.choice([1, -1]) * rng.integers(1, 2 ** int(rng.integers(1, 63)))))
              for _ in range(20000)]
    ns, ds = np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)
    out = np.empty(len(pairs))
    quotients(ns, ds, out)
    want = np.array([n / d for n, d in pairs])
    assert np.array_equal(out, want) and np.array_equal(np.signbit(out), np.signbit(want))
    assert sum(float(n) / float(d) != n / d for n, d in pairs) > 100       # where rounding twice differs
    with pytest.raises(ZeroDivisionError):
        divide(2 ** 60, 0)
