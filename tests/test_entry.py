"""backend/entry.py: `g.native(...)`, the checked native entry, against the gradient object itself.

Every number is compared with an independent reference (a hand formula) at
several points, and with what the gradient object returns; every call the
entry does not take itself (other types, NaN or infinite floats, an exception
in the gradient, a non-finite result, missing arguments) must end exactly as
the gradient object's own call ends: the same value, or the same error class
and message.  The fast path must run no Python code (counted through the
object's full path), and the entry must be cacheable on disk.
"""
import gc
import math
import sys
import warnings
import weakref
from types import BuiltinFunctionType

import numpy as np
import pytest

from autodiff_compiler import grad, value_and_grad
from autodiff_compiler.api import GradientFunction
from autodiff_compiler.backend import entry as entry_module
from autodiff_compiler.errors import ArgumentError, AutodiffError

# a hot signature's entry is a builtin router (`backend/router.py`) or, where that cannot be built, a frame:
# the tests of promoted calls run on both
KINDS = ["router", "frame"]


def _use(kind, monkeypatch):
    if kind == "frame":
        from autodiff_compiler.backend import router

        def refuse(*args, **kwargs):
            raise RuntimeError("no router on this machine")
        monkeypatch.setattr(router, "make_router", refuse)


def _is_native(g, kind) -> bool:
    entry = type(g).__dict__["__call__"]
    if kind == "router":        # a router to the native entry, not a checked one (a number signature's second call)
        return isinstance(entry, BuiltinFunctionType) and not entry.__self__[6]
    return getattr(getattr(entry, "__code__", None), "co_filename", None) == "<native path>"


def loss(x):
    return math.sin(x ** 2)


def ratio(x, y):
    return x / y + math.log(x)


def counted(k, x):
    # an int parameter: an int is not a float to the entry (x // 2 depends on it)
    return x ** k + math.cos(x)


def layer(w, X):
    return np.sum(np.tanh(X @ w))


POINTS = (0.3, 1.3, -2.1, 4.0)


def _outcome(call):
    try:
        return "value", call()
    except AutodiffError as exc:
        return type(exc), str(exc)


def _same_outcome(a, b):
    return a[0] == b[0] and (_same(a[1], b[1]) if a[0] == "value" else a[1] == b[1])


def _same(a, b):
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=True)
    return type(a) is type(b) and (a == b or (a != a and b != b))


@pytest.fixture
def full_path_calls(monkeypatch):
    """How often a gradient object's full path ran (the entry's fallback calls it)."""
    calls = []
    original = GradientFunction._call

    def counting(self, args, kwargs, out=None):
        calls.append(args)
        return original(self, args, kwargs, out)
    monkeypatch.setattr(GradientFunction, "_call", counting)
    return calls


def test_native_matches_hand_formula_and_object():
    g = grad(loss)
    native = g.native(1.0)
    for x in POINTS:
        assert native(x) == pytest.approx(2 * x * math.cos(x * x), rel=1e-14)
        assert _same(native(x), g(x))
        assert _same(native(x=x), g(x))


def test_value_and_grad_of_several_parameters():
    g = value_and_grad(ratio, wrt=("x", "y"))
    native = g.native(1.0, 2.0)
    for x, y in ((1.0, 2.0), (0.5, -3.0), (7.0, 0.25)):
        value, (dx, dy) = native(x, y)
        assert value == pytest.approx(x / y + math.log(x), rel=1e-14)
        assert dx == pytest.approx(1 / y + 1 / x, rel=1e-14)
        assert dy == pytest.approx(-x / y ** 2, rel=1e-14)
        assert _same(native(x, y), g(x, y))
    single = value_and_grad(ratio, wrt="y").native(1.0, 2.0)
    assert _same(single(3.0, 2.0), value_and_grad(ratio, wrt="y")(3.0, 2.0))
    one = grad(ratio, wrt=("x",)).native(1.0, 2.0)
    assert _same(one(3.0, 2.0), grad(ratio, wrt=("x",))(3.0, 2.0))


def test_arrays():
    g = grad(layer)
    rng = np.random.default_rng(3)
    w, X = rng.standard_normal(3), rng.standard_normal((4, 3))
    native = g.native(w, X)
    for _ in range(3):
        w, X = rng.standard_normal(3), rng.standard_normal((4, 3))
        expected = X.T @ (1 - np.tanh(X @ w) ** 2)
        assert np.allclose(native(w, X), expected, rtol=1e-13, atol=0)
        assert _same(native(w, X), g(w, X))
    # another layout is another type: the object's path takes it, with the same numbers
    assert _same(native(w, np.asfortranarray(X)), g(w, np.asfortranarray(X)))


def test_fast_path_runs_no_python_and_the_rest_goes_through_the_object(full_path_calls):
    g = grad(loss)
    native = g.native(1.0)
    full_path_calls.clear()
    for x in POINTS:
        native(x)
    assert full_path_calls == []
    with pytest.raises(ArgumentError):
        native(math.nan)
    assert len(full_path_calls) == 1


@pytest.mark.parametrize("call", [
    lambda f: f(math.nan), lambda f: f(math.inf), lambda f: f(-math.inf),     # non-finite floats
    lambda f: f(2),                                                           # an int for the float wrt
    lambda f: f(True),
    lambda f: f(np.float32(1.5)),
    lambda f: f(),                                                            # a missing argument
    lambda f: f("1.0"),
])
def test_calls_it_does_not_take_end_as_the_objects_do(call):
    g = grad(loss)
    native = g.native(1.0)
    assert _same_outcome(_outcome(lambda: call(native)), _outcome(lambda: call(g)))


@pytest.mark.parametrize("x, y", [(1.0, 0.0), (0.0, 1.0), (-1.0, 1.0), (1e-320, 1e-320), (1e308, 1e-308)])
def test_errors_and_non_finite_results_as_the_object(x, y):
    # division by zero raises in the gradient; log of a negative number is NaN, returned as the object does
    g = value_and_grad(ratio, wrt=("x", "y"))
    native = g.native(1.0, 2.0)
    assert _same_outcome(_outcome(lambda: native(x, y)), _outcome(lambda: g(x, y)))


def test_an_int_is_not_taken_for_a_float():
    g = grad(counted, wrt="x")
    native = g.native(3, 1.5)
    for k, x in ((3, 1.5), (2, -0.5), (-1, 2.0)):
        assert native(k, x) == pytest.approx(k * x ** (k - 1) - math.sin(x), rel=1e-14)
    # a float k is another signature: the object's path derives it, with the same numbers
    assert _same(native(3.0, 1.5), g(3.0, 1.5))
    assert native(3.0, 1.5) == pytest.approx(3 * 1.5 ** 2 - math.sin(1.5), rel=1e-14)


def test_more_arguments_than_parameters_is_a_type_error():
    native = grad(loss).native(1.0)
    with pytest.raises(TypeError, match="too many arguments"):
        native(1.0, 2.0)


def test_what_it_does_not_cover_is_refused_clearly():
    with pytest.raises(ArgumentError, match="jit=False"):
        grad(loss, jit=False).native(1.0)


def test_entry_is_cached_on_disk(monkeypatch):
    from numba.core import config
    # at the users' levels (the suite compiles at 0, where Numba declines to cache many modules)
    monkeypatch.setattr(config, "OPT", type(config.OPT)(1))
    g = grad(lambda_free_square)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # Numba warns when it cannot cache a function
        native = g.native(2.0)
    assert native(3.0) == 6.0
    assert native.stats.cache_misses or native.stats.cache_hits
    assert native._cache._cache_path       # a cache locator was found for the module's file


def lambda_free_square(x):
    return x * x


def test_entry_source_is_readable():
    g = grad(ratio, wrt="y")
    native = g.native(1.0, 2.0)
    source = open(native.py_func.__code__.co_filename).read()
    assert "def entry(x=None, y=None):" in source
    assert "x - x == 0.0 and y - y == 0.0" in source
    assert "numba.objmode" in source and "fallback(" in source


def test_owners_of_one_function_share_its_module_and_each_has_its_own_dispatcher():
    first = grad(loss)
    native = first.native(1.0)
    second = grad(loss)
    other = second.native(1.0)
    assert other is not native and other.py_func is native.py_func
    assert first.native(1.0) is native                  # asked again: the same one
    del first
    import gc
    gc.collect()
    with pytest.raises(ArgumentError):
        native(math.nan)                     # it keeps its object alive
    with pytest.raises(ArgumentError):
        other(math.nan)


def test_objmode_spelling_of_types():
    from numba import typeof
    from numba.core import types
    assert entry_module.spelled(types.float64) == "float64"
    assert entry_module.spelled(typeof(np.ones((2, 3)))) == "float64[:, ::1]"
    assert entry_module.spelled(typeof(np.ones((2, 3)).T)) == "float64[::1, :]"
    assert entry_module.spelled(typeof(np.ones(4)[::2])) == "float64[:]"
    assert entry_module.spelled(types.Tuple((types.float64, types.UniTuple(types.float64, 2)))) == \
        "Tuple((float64, Tuple((float64, float64, )), ))"
    assert entry_module.spelled(typeof(np.ones(3, np.float32))) is None
    assert entry_module.spelled(types.complex128) is None


CALLS = [(1.0, 2.0), (0.5, -3.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0), (1.0, math.inf),
         (2, 1.0), (True, 1.0), (np.float64(1.5), 2.0), (1.0,), (1.0, 2.0, 3.0)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hot_signature_becomes_native_and_every_call_ends_as_before(monkeypatch, kind):
    from autodiff_compiler import api
    monkeypatch.setattr(api, "NATIVE_AFTER", 0)          # the reference never becomes native
    reference = value_and_grad(ratio, wrt=("x", "y"))
    reference(1.0, 2.0)
    monkeypatch.setattr(api, "NATIVE_AFTER", 3)
    _use(kind, monkeypatch)
    g = value_and_grad(ratio, wrt=("x", "y"))
    for _ in range(3):                                # the first call derives; its entry counts from then
        g(1.0, 2.0)
    if kind == "router":
        # numbers are routed from the second call (a checked router, `call_entries._checked_router`), which
        # counts nothing: every call ends as the reference's there too, and promotion is by hand
        entry = type(g).__dict__["__call__"]
        assert isinstance(entry, BuiltinFunctionType) and entry.__self__[6]
        for args in CALLS:
            assert _same_outcome(_outcome(lambda: g(*args)), _outcome(lambda: reference(*args))), args
        g._promote((1.0, 2.0))
    else:
        assert not _is_native(g, "frame")
        g(1.0, 2.0)
    assert _is_native(g, kind)
    for args in CALLS:
        assert _same_outcome(_outcome(lambda: g(*args)), _outcome(lambda: reference(*args))), args
    assert _same_outcome(_outcome(lambda: g(x=1.0, y=2.0)), _outcome(lambda: reference(1.0, 2.0)))
    assert _same_outcome(_outcome(lambda: g(1.0, z=2.0)), _outcome(lambda: reference(1.0, z=2.0)))
    assert _outcome(lambda: g(1.0, 2.0, out=1))[0] is ArgumentError
    # back on the promoted signature after calls in others
    value, (dx, dy) = g(3.0, 2.0)
    assert (value, dx, dy) == pytest.approx((1.5 + math.log(3.0), 0.5 + 1 / 3.0, -0.75), rel=1e-14)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("kind", KINDS)
def test_a_hot_signature_of_arrays_becomes_native_and_every_call_ends_as_before(monkeypatch, kind):
    from autodiff_compiler import api
    rng = np.random.default_rng(8)
    w, X = rng.standard_normal(3), rng.standard_normal((4, 3))
    monkeypatch.setattr(api, "NATIVE_AFTER", 0)          # the reference never becomes native
    reference = grad(layer, wrt=("w", "X"))
    reference(w, X)
    monkeypatch.setattr(api, "NATIVE_AFTER", 3)
    _use(kind, monkeypatch)
    g = grad(layer, wrt=("w", "X"))
    for _ in range(3):
        g(w, X)
    assert not _is_native(g, "router") and not _is_native(g, "frame")
    g(w, X)
    assert _is_native(g, kind)
    X_nan = X.copy()
    X_nan[1, 2] = math.nan
    calls = [(w, X), (2 * w, X - 1), (w, np.asfortranarray(X)), (w, X[::2]), (w[::-1].copy(), X),
             (w.astype(np.float32), X), (np.ones(3, dtype=np.int64), X), (w, rng.standard_normal((7, 3))),
             (w, rng.standard_normal((3, 3))), (w, _readonly(X)), (w, X_nan), (w, np.full((4, 3), math.inf)),
             (w,), (w, X, X), (w, rng.standard_normal((4, 2)))]
    for args in calls:
        assert _same_outcome(_outcome(lambda: g(*args)), _outcome(lambda: reference(*args))), args
        if len(args) == 2 and args[0].dtype.kind == "f" and np.all(np.isfinite(args[1])) and args[1].shape[1] == 3:
            # d/dw = X^T (1 - tanh(Xw)^2), d/dX = (1 - tanh(Xw)^2) w^T
            d = 1 - np.tanh(args[1] @ args[0]) ** 2
            got = g(*args)
            rtol = 1e-12 if args[0].dtype == np.float64 else 1e-6      # float32 gradients for float32 w
            np.testing.assert_allclose(got[0], args[1].T @ d, rtol=rtol)
            np.testing.assert_allclose(got[1], np.outer(d, args[0]), rtol=rtol)
    assert _same_outcome(_outcome(lambda: g(X=X, w=w)), _outcome(lambda: reference(w, X)))
    assert _outcome(lambda: g(w, X, out=1))[0] is ArgumentError
    assert _same(g(w, X), reference(w, X))


# ---- found by an adversarial review of the first version; each a test of its class

def defaults(x, y=2.0, z=3.0):
    return x * y * y + z * x


@pytest.mark.parametrize("call", [
    lambda f: f(1.0, z=5.0), lambda f: f(x=1.0, z=5.0), lambda f: f(y=4.0), lambda f: f(1.0),
    lambda f: f(1.0, y=4.0), lambda f: f(z=1.0, x=2.0, y=3.0), lambda f: f(1.0, 2.0, 3.0), lambda f: f(),
])
def test_omitted_parameters_are_filled_by_name(call):
    # an omitted parameter with a default, skipped by keyword, must not shift the later ones
    g = grad(defaults, wrt=("x", "y", "z"))
    native = g.native(1.0, 2.0, 3.0)
    assert _same_outcome(_outcome(lambda: call(native)), _outcome(lambda: call(g)))
    x, y, z = 1.0, 2.0, 5.0
    assert native(1.0, z=5.0) == pytest.approx((y * y + z, 2 * x * y, x), rel=1e-14)


def test_njit_code_cannot_add_unchecked_versions():
    import numba
    g = grad(loss)
    native = g.native(1.0)

    @numba.njit
    def loop(k):
        total = 0.0
        for i in range(k):
            total += native(i)          # an int: the entry was built for a float
        return total
    with pytest.raises(numba.core.errors.TypingError, match="compiled_for"):
        loop(3)
    assert list(native.overloads) == [(numba.float64,)]
    assert _same_outcome(_outcome(lambda: native(2)), _outcome(lambda: g(2)))


def test_functions_of_the_same_text_have_their_own_entries(tmp_path):
    import importlib.util
    modules = []
    for folder, default in (("va", 1.0), ("vb", 10.0)):
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "model.py"
        path.write_text(f"def f(x, y={default}):\n    return x * y\n")
        spec = importlib.util.spec_from_file_location(f"native_{folder}_model", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    g1, g2 = (value_and_grad(m.f) for m in modules)
    n1, n2 = g1.native(3.0, 1.0), g2.native(3.0, 10.0)
    assert n1 is not n2
    for g, n, y in ((g1, n1, 1.0), (g2, n2, 10.0)):
        assert _same(n(3.0), g(3.0)) and n(3.0) == (3.0 * y, y)      # the default, through the object
        assert _same(n(3.0, 2.0), g(3.0, 2.0))


def test_a_nan_numpy_float_is_refused_as_a_float():
    def branchy(x):
        return x * x if x > 0.0 else 1.0
    g = grad(branchy)
    native = g.native(1.0)
    for bad in (np.float64("nan"), np.float64("inf"), math.nan):
        expected = _outcome(lambda: g(bad))
        assert expected[0] is not None and expected[0] != "value"
        assert "argument 'x' of branchy is" in expected[1]
        assert _same_outcome(_outcome(lambda: native(bad)), expected)


def test_ints_beyond_64_bits():
    g = grad(counted, wrt="x")
    native = g.native(3, 1.5)
    expected = _outcome(lambda: g(2 ** 63, 1.5))
    assert expected[0] is ArgumentError
    with pytest.raises(OverflowError):
        native(2 ** 63, 1.5)               # Numba's own typing refuses it (documented)


def test_the_entry_keeps_its_object_alive():
    native = grad(loss).native(1.0)        # nothing else holds the object
    import gc
    gc.collect()
    with pytest.raises(ArgumentError, match="is nan"):
        native(math.nan)
    assert native(2.0) == pytest.approx(4.0 * math.cos(4.0), rel=1e-14)


def clashing(x, fallback, numba, np):
    return x * fallback + numba * np


def test_parameters_named_like_the_entrys_globals():
    g = grad(clashing, wrt=("x", "fallback", "numba", "np"))
    native = g.native(1.0, 2.0, 3.0, 4.0)
    for args in ((1.0, 2.0, 3.0, 4.0), (1.0, math.nan, 3.0, 4.0), (1.0, 2.0, 3, 4.0)):
        assert _same_outcome(_outcome(lambda: native(*args)), _outcome(lambda: g(*args)))
    assert native(1.0, 2.0, 3.0, 4.0) == (2.0, 1.0, 4.0, 3.0)


def test_native_after_another_layout_was_compiled():
    g = grad(layer)
    w, X = np.ones(3), np.arange(6.0).reshape(2, 3)
    g(w, np.asfortranarray(X))
    native = g.native(w, X)
    assert _same(native(w, X), g(w, X))


def test_calls_handed_over_leave_nothing_behind():
    native = grad(loss).native(1.0)
    for k in range(1, 30):
        with pytest.raises(AutodiffError):
            native((1.0,) * k)             # a tuple of k floats: a new type each time
    assert len(native._types_active_call) == 0


def of_a_dict(p):
    return p["a"] * p["b"]


class Model:
    def __init__(self):
        self.scale = 2.0

    def loss(self, x):
        return self.scale * x * x


def asserting(x):
    assert x > 0.0
    return x * x


@pytest.mark.parametrize("fn, args, reason", [
    (of_a_dict, ({"a": 1.0, "b": 2.0},), "containers"),
    (Model().loss, (1.5,), "method"),
    (asserting, (1.5,), "asserts"),
])
def test_refusals_say_why(fn, args, reason):
    with pytest.raises(ArgumentError, match=reason):
        grad(fn).native(*args)


def test_float32_arrays_go_through_the_object():
    # the object converts them (float32 to float64, and the gradients back): the entry, built for the
    # converted kinds, hands such calls to it
    g = grad(layer)
    w, X = np.ones(3, np.float32), np.ones((2, 3), np.float32)
    native = g.native(w, X)
    assert _same(native(w, X), g(w, X)) and native(w, X).dtype == np.float32


# ---- found by a second review (of the promotion): parameters named like the call's own keywords or the
# entry's helpers, and an int beyond 64 bits, must end as on an object that was never promoted

def out_named(x, out=2.0):
    return x * out ** 2


def key_named(key, x):
    return key * x ** 3


def self_named(self, x):
    return self * x ** 3


@pytest.mark.parametrize("fn, hot, calls", [
    (out_named, (1.0, 2.0), [(1.0, np.array(3.0)), (1.0, 3), (1.0, np.float32(3.0)), (2.0,), (1.0, math.nan)]),
    (key_named, (2.0, 2.0), [(2, 2.0), (1.0, 2), (2.0, math.inf), (True, 1.5)]),
    (self_named, (2.0, 2.0), [(2, 2.0), (1.0, 2), (2.0, np.float64("nan"))]),
])
@pytest.mark.parametrize("kind", KINDS)
def test_promoted_parameters_named_like_keywords(monkeypatch, fn, hot, calls, kind):
    from autodiff_compiler import api
    monkeypatch.setattr(api, "NATIVE_AFTER", 0)
    reference = grad(fn, wrt="x")
    reference(*hot)
    monkeypatch.setattr(api, "NATIVE_AFTER", 2)
    _use(kind, monkeypatch)
    g = grad(fn, wrt="x")
    for _ in range(3):
        g(*hot)
    if not _is_native(g, kind):
        # numbers: a checked router from the second call (counting nothing), then promoted by hand
        for args in calls:
            assert _same_outcome(_outcome(lambda: g(*args)), _outcome(lambda: reference(*args))), args
        g._promote(tuple(hot))
    assert _is_native(g, kind)
    for args in calls:
        assert _same_outcome(_outcome(lambda: g(*args)), _outcome(lambda: reference(*args))), args
    if fn is out_named:                      # df/dx = out ** 2, out passed positionally
        assert g(1.0, np.array(3.0)) == 9.0 and g(1.0, 3) == 9.0


def test_an_int_beyond_64_bits_is_named_whatever_ran_before():
    def h(x, y):
        return x * y * y
    fresh = grad(h, wrt=1)
    used = grad(h, wrt=1)
    used(2, 2.0)                             # its entry for (int, float) is installed
    expected = _outcome(lambda: fresh(2 ** 63, 1.0))
    assert expected[0] is ArgumentError and "64-bit" in expected[1]
    assert _outcome(lambda: used(2 ** 63, 1.0)) == expected


# ---- a signature of Python numbers: its entries call the compiled wrapper of the overload their inline
# type tests chose, not Numba's dispatcher (which would type the arguments again); every call of other
# types must still end as on an object whose entries go through the dispatcher

def scaled_power(flag, k, x):
    return x ** k * (2.0 if flag else 1.0) + x


def _scaled_power_dx(flag, k, x):
    return k * x ** (k - 1) * (2.0 if flag else 1.0) + 1.0


SCALED_CALLS = [(True, 3, 1.5), (False, 2, -0.7), (True, 2 ** 63, 1.5), (True, -2 ** 63 - 1, 1.5), (1, 3, 1.5),
                (True, 3, 2), (True, 3.0, 1.5), (np.bool_(True), 3, 1.5), (True, np.int64(3), 1.5),
                (True, 3, np.float64(1.5)), (True, 3, math.nan), (True, 3, math.inf), (True, 3), (True, 3, 1.5, 1.0)]


@pytest.mark.parametrize("promote", [False, True], ids=["counted", "hot"])
@pytest.mark.parametrize("kind", KINDS)
def test_number_signatures_call_the_compiled_wrapper(monkeypatch, promote, kind):
    # a signature of numbers is routed from its second call (a checked router to the derived program's
    # wrapper: `call_entries._checked_router`), and once hot to the native entry's wrapper; where no router
    # can be built, a frame calls those wrappers
    from autodiff_compiler import api, call_entries
    monkeypatch.setattr(api, "NATIVE_AFTER", 0)
    monkeypatch.setattr(call_entries, "direct_call", lambda dispatcher, args: None)
    reference = grad(scaled_power, wrt="x")          # entries through the dispatcher, never native
    for args in SCALED_CALLS:
        _outcome(lambda: reference(*args))
    monkeypatch.undo()
    monkeypatch.setattr(api, "NATIVE_AFTER", 2 if promote else 10 ** 9)
    _use(kind, monkeypatch)
    g = grad(scaled_power, wrt="x")
    for _ in range(4):
        g(True, 3, 1.5)
    if promote and kind == "router":
        assert not _is_native(g, "frame")       # a checked router counts no calls: promoted by hand
        g._promote((True, 3, 1.5))
    entry = type(g).__dict__["__call__"]
    assert _is_native(g, kind) if promote else isinstance(entry, BuiltinFunctionType) is (kind == "router")
    if kind == "router":
        # the closure: (fast, full, types, OverflowError, method, keep, checks)
        wrapper, dispatcher = entry.__self__[0], entry.__self__[5]
        assert (dispatcher is g.native(True, 3, 1.5)) is promote and bool(entry.__self__[6]) is not promote
    else:
        wrapper = entry.__globals__["wrapper"]
        dispatcher = entry.__globals__["native" if promote else "compiled"]
    assert wrapper is dispatcher.overloads[dispatcher.signatures[0]].entry_point
    for args in SCALED_CALLS:
        assert _same_outcome(_outcome(lambda: g(*args)), _outcome(lambda: reference(*args))), args
    for args in [(True, 3, 1.5), (False, 2, -0.7), (True, 4, 0.3), (False, 5, -2.1)]:
        assert g(*args) == pytest.approx(_scaled_power_dx(*args), rel=1e-14)
    assert type(g).__dict__["__call__"] is entry          # back on the hot signature, back on its entry



def scaled_sum(x, y):
    return np.sum(x * x) * y


def test_a_big_endian_array_is_not_taken_for_a_native_one():
    # its dtype's char is 'd' too: the signature's entry took it, and the compiled code refused it
    # (InternalError from Numba's typing) on every call after the first (helper-56)
    g = grad(scaled_sum, wrt="x")
    native = np.linspace(0.0, 1.0, 5)
    swapped = native.astype(">f8")
    for _ in range(3):
        np.testing.assert_allclose(g(swapped, 2.0), 4.0 * native, rtol=1e-15)
        np.testing.assert_allclose(g(native, 2.0), 4.0 * native, rtol=1e-15)
