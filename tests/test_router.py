"""backend/router.py: the builtin `__call__` of a hot signature, alone and as a promoted object's entry.

Alone: each kind of call (the hot types, another type, keywords, more or fewer
arguments, an OverflowError, another exception) must reach the callable it names
and end as that callable ends, with no reference left behind.  Promoted: a call
in the hot signature runs no Python code, and the object is still collected.
Every other outcome of a promoted object is compared with an unpromoted one in
tests/test_entry.py, on the router and on the frame it replaces.
"""
import functools
import gc
import math
import sys
import weakref
from types import BuiltinFunctionType

import numpy as np
import pytest

from autodiff_compiler import grad, value_and_grad
from autodiff_compiler.backend.router import make_router
from autodiff_compiler.errors import ArgumentError

from test_entry import KINDS, _is_native, _outcome, _same_outcome, _use


def ratio(x, y):
    return x / y + math.log(x)


def loss(x):
    return math.sin(x ** 2)


class Recorder:
    """A full path that says how it was called."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return ("full", args, kwargs)


def fast(x, k):
    if k > 2 ** 62:
        raise OverflowError("too big")
    if k < 0:
        raise ArgumentError("negative k")
    return x * k


@pytest.mark.parametrize("args, kwargs, expected", [
    ((1.5, 2), {}, 3.0),                                          # the hot types: fast
    ((1.5, 2.0), {}, ("full", (1.5, 2.0), {})),                  # another type
    ((True, 2), {}, ("full", (True, 2), {})),                     # a bool is not a float
    ((1.5,), {}, ("full", (1.5,), {})),                          # fewer
    ((1.5, 2, 3), {}, ("full", (1.5, 2, 3), {})),                # more
    ((1.5, 2), {"out": 1}, ("full", (1.5, 2), {"out": 1})),      # a keyword
    ((), {"x": 1.5, "k": 2}, ("full", (), {"x": 1.5, "k": 2})),  # by name
    ((1.5, 2 ** 63), {}, ("full", (1.5, 2 ** 63), {})),          # the fast callable's OverflowError
])
def test_each_call_reaches_the_callable_it_names(args, kwargs, expected):
    full = Recorder()
    route = make_router(fast, (float, int), full, "doc")
    assert isinstance(route, BuiltinFunctionType)
    assert route(*args, **kwargs) == expected
    assert len(full.calls) == (expected != 3.0)


def test_other_exceptions_propagate_and_nothing_leaks():
    full = Recorder()
    route = make_router(fast, (float, int), full, None)
    with pytest.raises(ArgumentError, match="negative k"):
        route(1.5, -1)
    assert full.calls == []
    x, k, name = 1.25, int("123457"), "".join(["o", "ut"])    # fresh objects: no other code holds them
    watched = (x, k, name, full, fast, float, int)

    def counts(calls):
        for _ in range(calls):
            route(x, k)
            route(x, 2.0)
            route(x, k, out=name)
        full.calls.clear()
        return [sys.getrefcount(v) for v in watched]
    # a reference leaked or dropped per call would move a count by 19,000 (the count of `int` itself also
    # moves with what the interpreter does meanwhile, by tens)
    assert all(abs(a - b) < 1000 for a, b in zip(counts(1_000), counts(20_000)))
    assert route(x, k) == 1.25 * 123457


def _hot(make, args, kind, monkeypatch):
    """A gradient object (`make()`) whose signature of `args` has been promoted: its entry is of `kind`."""
    from autodiff_compiler import api
    monkeypatch.setattr(api, "NATIVE_AFTER", 2)
    _use(kind, monkeypatch)
    g = make()
    for _ in range(3):
        g(*args)
    if not _is_native(g, kind):
        g._promote(args)        # numbers: a checked router from the second call, which counts nothing
    assert _is_native(g, kind)
    return g


# ---- promoted gradient objects: no Python code on the way to the compiled code, and no object kept alive

def test_a_routed_call_runs_no_python_code(monkeypatch):
    g = _hot(lambda: value_and_grad(ratio, wrt=("x", "y")), (1.0, 2.0), "router", monkeypatch)
    frames = []

    def profile(frame, event, arg):
        if event == "call":
            frames.append(frame.f_code.co_name)
    for args in [(1.0, 2.0), (2.0, 0.5)]:
        sys.setprofile(profile)
        try:
            value, (dx, dy) = g(*args)
        finally:
            sys.setprofile(None)
        x, y = args
        assert (value, dx, dy) == pytest.approx((x / y + math.log(x), 1 / y + 1 / x, -x / y ** 2), rel=1e-14)
    assert frames == []
    sys.setprofile(profile)
    try:
        assert g.__call__(1.0, 2.0) == g(1.0, 2.0)     # the object's method calls the object: its router
    finally:
        sys.setprofile(None)
    assert frames == ["_call_object"]
    frames.clear()
    sys.setprofile(profile)
    try:
        g(np.float64(1.0), 2.0)               # another type: the full path, in Python
    finally:
        sys.setprofile(None)
    assert "__call__" in frames


@pytest.mark.parametrize("kind", KINDS)
def test_a_promoted_object_is_collected(monkeypatch, kind):
    # the router's closure holds the object's full path, bound to it: a cycle through its own class,
    # which the garbage collector must see through
    g = _hot(lambda: grad(loss), (0.5,), kind, monkeypatch)
    assert g(1.3) == pytest.approx(2 * 1.3 * math.cos(1.3 ** 2), rel=1e-14)
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None


# ---- found by an adversarial review of the router (helper-55); each a test of its class

class Sub(np.ndarray):
    pass


def weighted(x):
    return np.sum(np.sin(x) * x)


@pytest.mark.parametrize("kind", KINDS)
def test_an_ndarray_subclass_is_refused_after_promotion_too(monkeypatch, kind):
    # Numba types a 1-d subclass as a plain array: the native dispatcher would have computed a masked
    # array's gradient from its masked entries (also in the frame, before the router)
    from autodiff_compiler import api
    a = np.linspace(0.1, 1.0, 5)
    monkeypatch.setattr(api, "NATIVE_AFTER", 0)
    reference = grad(weighted)
    reference(a)
    g = _hot(lambda: grad(weighted), (a,), kind, monkeypatch)
    for other in (a.view(Sub), np.ma.array(a, mask=[1, 0, 0, 0, 0]), a.view(np.recarray)):
        with pytest.raises(ArgumentError, match="subclass of numpy.ndarray") as expected:
            reference(other)
        with pytest.raises(ArgumentError) as got:
            g(other)
        assert str(got.value) == str(expected.value)
    np.testing.assert_allclose(g(a), np.sin(a) + a * np.cos(a), rtol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_a_promoted_objects_call_attribute_is_its_method(monkeypatch, kind):
    import pickle
    g = _hot(lambda: grad(loss), (1.5,), kind, monkeypatch)
    expected = 2 * 1.5 * math.cos(1.5 ** 2)
    assert g.__call__.__self__ is g
    assert g.__call__(1.5) == pytest.approx(expected, rel=1e-15)
    assert weakref.WeakMethod(g.__call__)()(1.5) == pytest.approx(expected, rel=1e-15)
    assert pickle.loads(pickle.dumps(g.__call__))(1.5) == pytest.approx(expected, rel=1e-15)
    # a builtin binds no self: the object arrives as an argument, and the full path takes it as the self
    assert type(g).__call__(g, 1.5) == pytest.approx(expected, rel=1e-15)
    assert functools.partial(type(g).__call__, g)(1.5) == pytest.approx(expected, rel=1e-15)


def test_a_checked_routers_class_call_takes_the_object_as_self():
    # from a number signature's second call its `__call__` is a checked router: `type(g).__call__(g, x)`
    # raised ArgumentError there after 2 calls, not 100,000 (helper-58)
    g = grad(overflowing, wrt=("x", "y"))
    for _ in range(2):
        assert type(g).__call__(g, 1.5, 2.0) == g(1.5, 2.0) == pytest.approx(_hand_overflowing(1.5, 2.0), rel=1e-14)
    assert isinstance(type(g).__dict__["__call__"], BuiltinFunctionType)


# ---- found by the second review (helper-56)

def product(x, y):
    return x * y + math.sin(x) * y ** 2


def test_a_router_that_cannot_be_built_keeps_no_object_alive(monkeypatch):
    # the reason it could not be built was kept as an exception and raised again at each promotion:
    # its traceback gathered every caller's frame, and their gradient objects with them
    from autodiff_compiler.backend import router

    def unbuildable():
        raise RuntimeError("no C API here")
    monkeypatch.setattr(router, "_ROUTE", None)
    monkeypatch.setattr(router, "_METHOD_DEF", None)
    monkeypatch.setattr(router, "_compile_route", unbuildable)
    from autodiff_compiler import api
    monkeypatch.setattr(api, "NATIVE_AFTER", 2)
    refs = []
    for _ in range(3):
        g = grad(product, wrt=("x", "y"))
        for _ in range(3):
            g(1.5, 2.0)
        assert _is_native(g, "frame")
        dx, dy = g(1.5, 2.0)
        assert (dx, dy) == pytest.approx((2.0 + math.cos(1.5) * 4.0, 1.5 + 2 * math.sin(1.5) * 2.0), rel=1e-14)
        refs.append(weakref.ref(g))
        del g
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
    assert isinstance(router._ROUTE, str) and "no C API here" in router._ROUTE


def test_the_route_is_loaded_from_numbas_disk_cache_in_a_later_process(tmp_path):
    # its C API functions were a closure's cells, which pickle to other bytes in each process: Numba's
    # index never matched, and each process compiled it again and added a file to the cache
    import subprocess
    code = ("import numba\n"
            "numba.njit(lambda x: x + 1)(1.0)\n"        # Numba's target set up, as it is at any promotion
            "from autodiff_compiler.backend import router\n"
            "print(router._compile_route().cache_hits)\n")
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_OPT": "3"}
    hits = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            .stdout.split()[-1] for _ in range(2)]
    assert hits[1] == "1"


def cubes(x):
    return np.sum(x ** 3)


def test_another_signature_is_served_by_the_object_called(monkeypatch):
    # the native dispatcher's compile hook called the last object made of the same function and options
    g1 = _hot(lambda: grad(cubes), (np.ones(3),), "router", monkeypatch)
    g2 = _hot(lambda: grad(cubes), (np.ones(3),), "router", monkeypatch)
    before = g2._last_key
    matrix = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(g1(matrix), 3 * matrix ** 2, rtol=1e-15)
    assert g1._last_key != before and g2._last_key == before



# ---- found by a reading of the whole change (helper-57)

def test_a_c_api_name_the_jit_cannot_resolve_leaves_the_frame(monkeypatch):
    # an ExternalFunction of a name the JIT cannot find compiles, and crashes at its first call: every name
    # is looked up before the route is compiled
    from autodiff_compiler.backend import router
    monkeypatch.setattr(router, "_ROUTE", None)
    monkeypatch.setattr(router, "_METHOD_DEF", None)
    from numba import types
    missing = types.ExternalFunction("NoSuchSymbol_xyz", types.intp(types.intp))
    monkeypatch.setattr(router, "_C_API", router._C_API + (missing,))
    from autodiff_compiler import api
    monkeypatch.setattr(api, "NATIVE_AFTER", 2)
    g = grad(loss)
    for _ in range(3):
        g(0.5)
    assert _is_native(g, "frame")
    assert "NoSuchSymbol_xyz" in router._ROUTE
    assert g(1.3) == pytest.approx(2 * 1.3 * math.cos(1.3 ** 2), rel=1e-14)


def test_a_router_holds_its_method_definition_and_leaves_ctypes_alone(monkeypatch):
    import ctypes
    from autodiff_compiler.backend import router
    before = ctypes.pythonapi.PyCFunction_NewEx.argtypes
    route = make_router(fast, (float, int), Recorder(), None)
    assert ctypes.pythonapi.PyCFunction_NewEx.argtypes == before      # the library's prototype, not ours
    held = route.__self__[4]
    assert isinstance(held, router._PyMethodDef) and held.ml_meth == router._ROUTE.address
    monkeypatch.setattr(router, "_METHOD_DEF", None)     # as a reload of the module would
    gc.collect()
    assert route(1.5, 2) == 3.0 and route.__name__ == "__call__"


@pytest.mark.parametrize("kind", KINDS)
def test_a_signature_of_numpy_scalars_promoted_by_hand(monkeypatch, kind):
    # the frame spelled each type by its name, which its namespace had only for bool, int, float and ndarray
    # (the fuzzer promotes whatever signature `g.native` takes)
    from autodiff_compiler import api
    monkeypatch.setattr(api, "NATIVE_AFTER", 10 ** 9)
    _use(kind, monkeypatch)
    g = grad(loss)
    x = np.float64(0.5)
    expected = 2 * 0.5 * math.cos(0.25)
    assert g(x) == pytest.approx(expected, rel=1e-15)
    g._promote((x,))
    assert _is_native(g, kind)
    assert g(x) == pytest.approx(expected, rel=1e-15) and g(0.5) == pytest.approx(expected, rel=1e-15)


# ---- checked routers: a signature of numbers is routed from its second call (`call_entries._checked_router`)

def overflowing(x, y):
    return x * 1e300 * y + x ** 2 / y         # a finite x and y: an infinite gradient, or Python's errors


def _hand_overflowing(x, y):
    return (1e300 * y + 2 * x / y, x * 1e300 - x ** 2 / y ** 2)


CHECKED_CALLS = [(1.5, 2.0), (0.5, -3.0), (1e10, 1e-5),            # finite
                 (1e10, 1e10),                                      # an infinite gradient of finite x, y
                 (1.5, 0.0),                                        # ZeroDivisionError in the gradient
                 (1e200, 2.0),                                      # OverflowError: Python's x ** 2
                 (math.nan, 2.0), (1.5, math.inf), (-math.inf, 1.0),   # NaN and infinite arguments
                 (1, 2.0), (1.5, True), (np.float64(1.5), 2.0),     # other types: the full path
                 (2 ** 70, 2.0), (1.5,), (1.5, 2.0, 3.0)]          # an int beyond 64 bits, too few, too many


def linear(x, y):
    return 3.0 * x + y                      # a gradient that does not read its arguments: (3.0, 1.0) at NaN too


CHECKED_MAKERS = {"linear": lambda: grad(linear, wrt=("x", "y")),
                  "grad-two": lambda: grad(overflowing, wrt=("x", "y")),
                  "vag-one": lambda: value_and_grad(overflowing, wrt="x"),
                  "grad-one": lambda: grad(overflowing, wrt="y"),
                  "vag-two": lambda: value_and_grad(overflowing, wrt=("x", "y")),     # (value, (dx, dy))
                  "grad-one-tuple": lambda: grad(overflowing, wrt=("x",))}          # (dx,)


@pytest.mark.parametrize("made", CHECKED_MAKERS)
def test_a_checked_router_ends_every_call_as_the_full_path(monkeypatch, made):
    make = CHECKED_MAKERS[made]
    from autodiff_compiler.backend import router
    monkeypatch.setattr(router, "make_router", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("refused")))
    reference = make()                              # its entries: counted frames, never routers
    outcomes = {}
    for args in CHECKED_CALLS:
        for _ in range(2):
            outcomes[args] = _outcome(lambda: reference(*args))
    monkeypatch.undo()
    g = make()
    for _ in range(2):
        g(1.5, 2.0)
    entry = type(g).__dict__["__call__"]
    assert isinstance(entry, BuiltinFunctionType) and entry.__self__[6][0] is float
    for args in CHECKED_CALLS + CHECKED_CALLS[::-1]:
        assert _same_outcome(_outcome(lambda: g(*args)), outcomes[args]), args
    g(1.5, 2.0)
    assert type(g).__dict__["__call__"] is entry        # (another signature has its own entry meanwhile)
    for x, y in CHECKED_CALLS[:3]:
        dx, dy = _hand_overflowing(x, y)
        got = g(x, y)
        expected = {"grad-two": (dx, dy), "vag-one": (overflowing(x, y), dx), "grad-one": dy, "linear": (3.0, 1.0),
                    "vag-two": (overflowing(x, y), (dx, dy)), "grad-one-tuple": (dx,)}[made]
        assert _same_structure(got, expected) and _flat_all(got) == pytest.approx(_flat_all(expected), rel=1e-13)
    # an infinite gradient of finite arguments is returned, as the full path returns it; NaN is refused
    kind, value = outcomes[(1e10, 1e10)]
    assert kind == "value" and any(math.isinf(v) for v in _flat_all(value)) is (made != "linear"), outcomes[(1e10, 1e10)]
    assert outcomes[(math.nan, 2.0)][0].__name__ == "NonFiniteInputError"


def _same_structure(a, b) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and \
            all(_same_structure(x, y) for x, y in zip(a, b))
    return type(a) is float and type(b) is float


def _flat_all(value) -> list:
    return [leaf for item in value for leaf in _flat_all(item)] if isinstance(value, tuple) else [value]


def _flat(value):
    return list(value) if isinstance(value, tuple) else [value]


def test_numbers_are_routed_from_the_second_call_and_run_no_python_code():
    g = grad(ratio, wrt=("x", "y"))
    frames = []

    def profile(frame, event, arg):
        if event == "call":
            frames.append(frame.f_code.co_name)
    g(1.0, 2.0)
    g(1.0, 2.0)
    for args in [(1.0, 2.0), (2.0, 0.5), (3.0, -1.5)]:
        sys.setprofile(profile)
        try:
            dx, dy = g(*args)
        finally:
            sys.setprofile(None)
        x, y = args
        assert (dx, dy) == pytest.approx((1 / y + 1 / x, -x / y ** 2), rel=1e-14)
    assert frames == []


@pytest.mark.parametrize("made", ["grad-two", "vag-two", "grad-one-tuple"])
def test_a_checked_router_leaks_nothing_on_any_path(made):
    import tracemalloc
    g = CHECKED_MAKERS[made]()
    g(1.5, 2.0)
    x, y, big, zero = 1.25, float("2.5"), float("1e10"), float("0.0")     # fresh objects
    watched = (x, y, big, zero, g)

    def counts(calls):
        for _ in range(calls):
            g(x, y)                                     # finite
            try:
                g(big, big)                             # an infinite result: the full path
            except Exception:       # noqa: BLE001 -- whatever the full path says, as often
                pass
            try:
                g(x, zero)                              # an exception in the gradient
            except Exception:       # noqa: BLE001
                pass
        return [sys.getrefcount(v) for v in watched]
    assert all(abs(a - b) < 100 for a, b in zip(counts(100), counts(2_000)))
    tracemalloc.start()
    try:
        counts(200)
        before = tracemalloc.get_traced_memory()[0]
        counts(5_000)           # a result tuple (or its parts) kept per call: 5,000 x 3 x >= 48 bytes
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000, grown


def test_a_finished_first_call_keeps_no_reference_to_its_object():
    # the compile watch's timer thread held `_Watch.announce`, and the watch the object, until the thread woke:
    # an object dropped right after its first call outlived it (a checked router made that window visible)
    g = grad(loss)
    g(0.5)
    assert not [r for r in gc.get_referrers(g) if type(r).__name__ == "_Watch"]
