"""SIMD transcendentals (libmvec) and fixed-chunk fused sums: both paths agree, the chunked one is deterministic.

* each vector kernel against Numba's scalar math, within 1e-15 relative, over
  random inputs and edge values (0, -0, tiny, subnormal, huge, inf, nan), for
  every length around the lane count and the block size;
* gradients of elementwise chains and loops: the module Numba compiles with
  blocks (vexp, vlog, ...) against the scalar path (AUTODIFF_COMPILER_SIMD=0)
  and against jit=False;
* chunked sums: bit-for-bit the same on 1 and 2 threads, and with
  AUTODIFF_COMPILER_THREADS=1 (no prange) as with threads;
* legality: no chunks for a loop that carries a product, no plan for a loop
  whose index is read after it or that stores into elements other trips
  touch; loops storing each trip's own element are blocked or run forwards.
"""
import math

import numpy as np
import pytest

from autodiff_compiler import AutodiffError, grad, value_and_grad
from autodiff_compiler.backend import vecmath

EDGE = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-310, 1e-300, -1e-300, 1e-16, -1e-16, 0.5, 1.0, -1.0,
                 3.0, math.pi, -math.pi, 700.0, 709.7, 710.0, -745.0, -746.0, 1e22, -1e22, 1e300, -1e300,
                 math.inf, -math.inf, math.nan, 2.0 ** 52, 1e6 * math.pi, -0.9999999999999999])


@pytest.fixture
def setting(monkeypatch):
    """Switch the SIMD / thread settings for derivations made after the call."""
    def apply(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        vecmath._state.clear()
    yield apply
    vecmath._state.clear()


needs_simd = pytest.mark.skipif(vecmath.lanes() == 0, reason="no libmvec vector functions on this machine")


def _inputs(prim: str, rng) -> tuple:
    parts = [EDGE, rng.standard_normal(5000), 30 * rng.standard_normal(5000), rng.uniform(-1, 1, 5000),
             np.exp(rng.uniform(-700, 700, 5000)), -np.exp(rng.uniform(-700, 700, 5000)),
             np.arange(-500, 500) * math.pi / 2]
    a = np.concatenate(parts)
    if prim == "pow":
        b = np.concatenate([4 * rng.standard_normal(a.shape[0]), np.full(EDGE.shape[0], 2.0), EDGE])
        a = np.concatenate([np.abs(a), EDGE, np.full(EDGE.shape[0], 2.5)])
        return a, b
    return (a,)


@needs_simd
@pytest.mark.parametrize("prim", sorted(vecmath._TABLE))
def test_vector_kernels_within_1e_15_of_scalar_math(prim):
    import numba
    if prim not in vecmath.functions():
        pytest.skip(f"no vector {prim} here")
    from autodiff_compiler.backend import library
    kernel = library.kernel(prim)
    name = vecmath._TABLE[prim][0]
    inputs = _inputs(prim, np.random.default_rng(7))
    namespace = {"math": math, "kernel": kernel}
    args = ", ".join(f"a{k}" for k in range(len(inputs)))
    elements = ", ".join(f"a{k}[j]" for k in range(len(inputs)))
    exec(f"def scalar(out, {args}):\n    for j in range(out.shape[0]):\n        out[j] = math.{name}({elements})\n"
         f"def vector(out, m, {args}):\n    kernel(out, m, {args})\n", namespace)
    scalar, vector = numba.njit(namespace["scalar"]), numba.njit(namespace["vector"])
    want = np.empty(inputs[0].shape[0])
    scalar(want, *inputs)
    for m in (0, 1, 3, 7, 8, 9, 255, 256, 257, want.shape[0]):   # remainders after whole lane groups
        sliced = tuple(np.ascontiguousarray(a[:m]) for a in inputs)
        got = np.full(m, 12345.0)
        vector(got, m, *sliced)
        ref = want[:m]
        assert np.array_equal(np.isnan(got), np.isnan(ref)), prim
        infinite = np.isinf(ref)
        assert np.array_equal(got[infinite], ref[infinite]), prim
        finite = np.isfinite(ref)
        assert np.all(np.isfinite(got[finite])), prim
        scale = np.maximum(np.abs(ref[finite]), np.finfo(float).tiny)
        assert np.all(np.abs(got[finite] - ref[finite]) <= 1e-15 * scale), \
            (prim, np.max(np.abs(got[finite] - ref[finite]) / scale))
        zero = ref == 0
        assert np.array_equal(np.signbit(got[zero]), np.signbit(ref[zero])), prim


def test_simd_switch_off(setting):
    setting(AUTODIFF_COMPILER_SIMD=0)
    assert vecmath.lanes() == 0 and vecmath.functions() == frozenset() and vecmath.describe() == "scalar"


# ------------------------------------------------------------------ gradients on both paths

def chain(w, b, x, y):
    return np.mean(np.tanh(0.3 * (w * x + b)) + np.sin(w * x) * np.cos(0.5 * x + b) + np.log1p(y * w * w)
                   + np.expm1(-y * b) + y * np.log(x * x + 1.0) + (x * x + 1.0) ** (y * w)
                   - np.exp(-(w * x + b)))


def loop(w, b, x, y):
    s = 0.0
    for i in range(x.shape[0]):
        z = w * x[i] + b
        s += np.exp(-z * z) + np.log(1.0 + y[i] * y[i]) * np.sin(z)
    return s


def loop_math(w, b, x, y):
    # the math module's functions raise outside their domain (`math.log(y[i])` of y[i] <= 0): each trip
    # checks its own, so they are not computed a block at a time
    s = 0.0
    for i in range(x.shape[0]):
        z = w * x[i] + b
        s += math.exp(-z * z) + math.log(y[i]) * math.sin(z)
    return s


def backwards(w, x):
    s = 0.0
    for i in range(x.shape[0] - 1, -1, -1):
        s = s + np.tanh(w * x[i]) * np.cos(x[i])
    return s


def _data(n, rng):
    x = rng.uniform(-3, 3, n)
    y = rng.uniform(0.05, 0.95, n)
    if n > 4:
        x[:4] = [0.0, -0.0, 1e-300, 2.5]
    return x, y


CASES = [(chain, ("w", "b")), (loop, ("w", "b"))]


@needs_simd
@pytest.mark.parametrize("fn,wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_blocked_gradient_matches_scalar_path(setting, fn, wrt):
    rng = np.random.default_rng(3)
    for n in (1, 7, 8, 9, 300, 1000):
        x, y = _data(n, rng)
        setting(AUTODIFF_COMPILER_SIMD=0, AUTODIFF_COMPILER_THREADS=0)
        scalar = value_and_grad(fn, wrt=wrt)(0.7, -0.2, x, y)
        setting(AUTODIFF_COMPILER_SIMD="", AUTODIFF_COMPILER_THREADS=0)
        g = value_and_grad(fn, wrt=wrt)
        blocked = g(0.7, -0.2, x, y)
        # chain's adjoint divides in two segments: divisions of elements raise nothing (`ir.numbers`),
        # so they may be split apart and the loop is blocked
        assert "vexp(" in g.compiled_source and "for i_lane in range(" in g.compiled_source
        python = value_and_grad(fn, wrt=wrt, jit=False)(0.7, -0.2, x, y)
        for got in (blocked, python):
            np.testing.assert_allclose(got[0], scalar[0], rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(got[1], scalar[1], rtol=1e-12, atol=1e-13)


def test_calls_of_the_math_module_in_a_loop_raise_in_their_own_trip(setting):
    rng = np.random.default_rng(4)
    x, y = _data(300, rng)
    for simd in ("", 0):
        setting(AUTODIFF_COMPILER_SIMD=simd, AUTODIFF_COMPILER_THREADS=0)
        g = value_and_grad(loop_math, wrt=("w", "b"))
        value, (dw, db) = g(0.7, -0.2, x, y)
        assert value == pytest.approx(loop_math(0.7, -0.2, x, y), rel=1e-12)
        z = 0.7 * x - 0.2
        # d/dz of exp(-z^2) + log(y) sin(z), times dz/dw = x and dz/db = 1
        dz = -2 * z * np.exp(-z * z) + np.log(y) * np.cos(z)
        np.testing.assert_allclose((dw, db), (np.sum(dz * x), np.sum(dz)), rtol=1e-11)
        assert "vlog(" not in g.compiled_source and "math_domain(" in g.compiled_source
        bad = y.copy()
        bad[200] = -0.5                                  # math.log of it raises ValueError, in trip 200
        with pytest.raises(ValueError, match="math domain error"):
            loop_math(0.7, -0.2, x, bad)
        with pytest.raises(AutodiffError, match="math domain error"):
            g(0.7, -0.2, x, bad)


@needs_simd
def test_backwards_loop_is_blocked_in_its_own_order(setting):
    setting(AUTODIFF_COMPILER_THREADS=0)
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, 515)
    g = grad(backwards)
    assert "vtanh(" in g.compiled_source if g(0.3, x) is not None else False
    setting(AUTODIFF_COMPILER_SIMD=0, AUTODIFF_COMPILER_THREADS=0)
    np.testing.assert_allclose(g(0.3, x), grad(backwards)(0.3, x), rtol=1e-13)


# ------------------------------------------------------------------ chunks and threads

def _chunked(setting, fn, args, wrt, **env):
    setting(AUTODIFF_COMPILER_CHUNK=16, **dict({"AUTODIFF_COMPILER_THREADS": 2}, **env))
    g = value_and_grad(fn, wrt=wrt)
    g(*args)                      # the signature compiled_source shows
    return g, g.compiled_for(*args)


@pytest.mark.parametrize("fn,wrt", CASES + [(backwards, ("w",))], ids=["chain", "loop", "backwards"])
def test_chunks_on_the_calling_thread_allocate_nothing(setting, fn, wrt):
    """On the calling thread each chunk's partial sums are added as they come: a call of a chunked loop
    allocates no array of them (it made one per sum: 8 bytes a chunk each, 1,176 bytes a call of the MSE
    loop on 10^6 samples, where the hand-written loop allocates nothing).  Without vector math, whose
    blocks need buffers of their own (`print_loops._blocked`), such a call allocates nothing at all."""
    import tracemalloc
    rng = np.random.default_rng(12)
    x, y = _data(1000, rng)
    args = (0.7, -0.2, x, y) if fn is not backwards else (0.7, x)
    g, compiled = _chunked(setting, fn, args, wrt, AUTODIFF_COMPILER_THREADS=1, AUTODIFF_COMPILER_SIMD=0)
    assert "_chunk(" in g.compiled_source and "_parts" not in g.compiled_source, g.compiled_source
    compiled(*args)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        compiled(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200, peak          # 63 chunks of 16 trips: 1,512 bytes of partial sums before


@pytest.mark.parametrize("fn,wrt", CASES + [(backwards, ("w",))], ids=["chain", "loop", "backwards"])
def test_chunked_sums_do_not_depend_on_the_thread_count(setting, fn, wrt):
    import numba
    rng = np.random.default_rng(11)
    x, y = _data(1000, rng)
    args = (0.7, -0.2, x, y) if fn is not backwards else (0.7, x)
    g, compiled = _chunked(setting, fn, args, wrt)
    # chain's divisions and powers are of elements, NumPy's numbers, which raise nothing (`ir.numbers`):
    # its chunks run on threads too (a loop that may raise keeps them on the calling thread:
    # test_division_by_zero_in_a_chunked_loop_raises_as_the_loop_does)
    assert "prange(" in g.compiled_source, fn
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            results.append(compiled(*args))
    finally:
        numba.set_num_threads(before)
    for r in results[1:]:
        assert all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(r, results[0])), (r, results[0])
    # no prange at all (AUTODIFF_COMPILER_THREADS=1): the same chunks, the same bits
    g1, serial = _chunked(setting, fn, args, wrt, AUTODIFF_COMPILER_THREADS=1)
    assert "prange(" not in g1.compiled_source
    assert all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(serial(*args), results[0]))
    # loops as written (no chunks): equal up to the order of the additions
    setting(AUTODIFF_COMPILER_THREADS=0, AUTODIFF_COMPILER_CHUNK="")
    plain = value_and_grad(fn, wrt=wrt).compiled_for(*args)(*args)
    for u, v in zip(plain, results[0]):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def line_mse(w, b, x, y):
    return np.mean((w * x + b - y) ** 2)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_reverse_sweep_of_sums_in_chunks_runs_rising(setting, threads):
    """The gradient's loop falls (the reverse sweep); in chunks it runs rising, which adds each sum's
    terms in another order only: the same numbers as the loop as written and the hand formulas."""
    setting(AUTODIFF_COMPILER_CHUNK=16, AUTODIFF_COMPILER_THREADS=threads)
    rng = np.random.default_rng(17)
    for n in (1, 15, 16, 17, 300):
        x, y = _data(n, rng)
        for w, b in [(0.7, -0.2), (-1.3, 2.5)]:
            plans, state = _plans(line_mse, w, b, x, y, wrt=("w", "b"))
            (plan,) = plans.values()
            assert plan.chunked and plan.forwards and plan.loop.step.value == -1
            g = grad(line_mse, wrt=("w", "b"))
            got = g(w, b, x, y)
            assert "_chunk(chunk" in g.compiled_source
            r = w * x + b - y
            want = (2 * np.mean(r * x), 2 * np.mean(r))
            as_written = grad(line_mse, wrt=("w", "b"), jit=False)(w, b, x, y)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(got, as_written, rtol=1e-12, atol=1e-14)


def test_small_loops_run_one_chunk_on_the_calling_thread(setting):
    setting(AUTODIFF_COMPILER_SIMD=0)
    g = value_and_grad(loop, wrt=("w", "b"))
    x, y = _data(50, np.random.default_rng(1))
    v, (dw, db) = g(0.7, -0.2, x, y)
    want = value_and_grad(loop, wrt=("w", "b"), jit=False)(0.7, -0.2, x, y)
    np.testing.assert_allclose([v, dw, db], [want[0], *want[1]], rtol=1e-13)
    assert "_chunk(chunk" in g.compiled_source


# ------------------------------------------------------------------ legality

def stores(x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = np.exp(x[i])
    return np.sum(out * out)


def product(x):
    p = 1.0
    for i in range(x.shape[0]):
        p = p * np.exp(0.1 * x[i])
    return p


def index_after(x):
    s = 0.0
    i = 0
    for i in range(x.shape[0]):
        s += np.exp(x[i])
    return s + i


def _plans(fn, *args, wrt=0):
    from autodiff_compiler.optimise.vectorise import plan_loops
    g = grad(fn, wrt=wrt)
    state = g.state_for(g.signature(args))
    return plan_loops(state.adjoint, frozenset(vecmath._TABLE), chunks=True), state


def test_no_chunks_for_a_carried_product_and_no_plan_for_a_read_index():
    x = np.linspace(-1, 1, 10)
    plans, _ = _plans(product, x)
    assert not any(p.chunked for p in plans.values())
    plans, state = _plans(index_after, x)
    from autodiff_compiler.ir import dataflow
    facts = dataflow.of(state.adjoint)
    for p in plans.values():
        assert p.loop.index not in facts.live_out(p.loop)


def recurrence(x):
    y = np.zeros(x.shape[0])
    for i in range(1, x.shape[0]):
        y[i] = 0.5 * y[i - 1] + np.exp(x[i])
    return np.sum(y * y)


def shifted(x):
    y = np.zeros(x.shape[0] + 1)
    for i in range(x.shape[0]):
        y[i + 1] = np.sin(x[i])
    return np.sum(y * y)


def mse(w, X, y):
    r = X * w - y
    return np.mean(r * r)


def sin_times(x):
    return np.sum(np.sin(x) * x)


OWN_ELEMENTS = [(stores, 1), (mse, 3), (sin_times, 1)]


@pytest.mark.parametrize("fn,arity", OWN_ELEMENTS, ids=[c[0].__name__ for c in OWN_ELEMENTS])
def test_loops_storing_their_own_elements_are_planned(setting, fn, arity):
    """Each trip stores into its own element only: the loop is blocked (vector calls) or run forwards,
    and the gradient is the scalar path's and the interpreter's, at several lengths around the block."""
    import autodiff_compiler.ir as ir
    rng = np.random.default_rng(11)
    args = tuple(rng.uniform(-2, 2, 40) for _ in range(arity))
    plans, _ = _plans(fn, *args)
    assert any(isinstance(s, ir.Store) for p in plans.values() for s in ir.walk(p.loop.body))
    assert any(p.forwards for p in plans.values())
    for n in (1, 5, 255, 256, 257, 700):
        args = tuple(rng.uniform(-2, 2, n) for _ in range(arity))
        setting(AUTODIFF_COMPILER_SIMD=0, AUTODIFF_COMPILER_THREADS=0)
        scalar = grad(fn)(*args)
        setting(AUTODIFF_COMPILER_SIMD="", AUTODIFF_COMPILER_THREADS="")
        g = grad(fn)
        got = g(*args)
        assert "trips in rising order" in g.compiled_source or "for i_block" in g.compiled_source
        np.testing.assert_allclose(got, scalar, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(got, grad(fn, jit=False)(*args), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("fn", [recurrence, shifted], ids=["recurrence", "shifted"])
def test_loops_storing_other_elements_are_left_alone(setting, fn):
    """A store another trip reads (y[i - 1]) and a store off the index (y[i + 1]): no plan has such a
    loop, and the gradient is the interpreter's."""
    import autodiff_compiler.ir as ir
    x = np.linspace(-1, 1, 300)
    plans, state = _plans(fn, x)
    for p in plans.values():
        for s in ir.walk(p.loop.body):
            if isinstance(s, ir.Store):
                assert s.index == (ir.Var(p.loop.index),), s
                reads = [r for r in ir.walk(p.loop.body) if isinstance(r, ir.Assign) and r.prim == "subscript"
                         and r.args[0].name == s.array]
                assert all(tuple(r.args[1:]) == (ir.Var(p.loop.index),) for r in reads), reads
    setting(AUTODIFF_COMPILER_THREADS="")
    np.testing.assert_allclose(grad(fn)(x), grad(fn, jit=False)(x), rtol=1e-13, atol=1e-14)


def test_stores_into_memory_another_array_may_share_are_left_alone():
    """The memory condition: when the dataflow facts say two arrays the loop touches may share memory
    (a view or an alias), a loop storing into one of them is not planned; with the facts as they are,
    it is (the adjoint loop of `stores` writes out_bar and x_bar, reads x)."""
    import autodiff_compiler.ir as ir
    from autodiff_compiler.ir import dataflow
    from autodiff_compiler.optimise.vectorise import _own_elements
    _, state = _plans(stores, np.linspace(-1, 1, 10))
    facts = dataflow.of(state.adjoint)
    loops = [s for s in ir.walk(state.adjoint.body) if isinstance(s, ir.For)
             and sum(isinstance(b, ir.Store) for b in s.body) == 2]
    assert loops
    body = [s for s in loops[0].body if not isinstance(s, ir.Comment)]
    assert _own_elements(facts, loops[0], body, state.adjoint.types) == {"out_bar", "x_bar"}

    class Sharing:
        def __init__(self, facts, a, b):
            self.facts, self.a, self.b = facts, a, b

        def objects(self, stmt, name):
            found = self.facts.objects(stmt, name)
            return found | {("shared",)} if name in (self.a, self.b) else found

    for a, b in (("out_bar", "x_bar"), ("x_bar", "x"), ("out_bar", "x")):
        assert _own_elements(Sharing(facts, a, b), loops[0], body, state.adjoint.types) is None, (a, b)


def across_zero(w):
    y = np.zeros(3)
    for i in range(2, -2, -1):          # y[-1] is y[2]: two trips write one element
        y[i] = 2.0 * y[i] + i * w
    return y[2]


def from_minus_one(x):
    y = np.zeros(x.shape[0])
    for i in range(-1, x.shape[0]):
        y[i] = 0.5 * y[i] + np.exp(x[i]) * i
    return np.sum(y * y)


def start_reassigned(w, x):
    k = x.shape[0] - 1
    z = np.zeros(x.shape[0])
    for i in range(k, -1, -1):
        k = i // 2                      # range() read k once; the body's k is another value
        z[i] = np.exp(w * x[i]) + k
    return np.sum(z)


def stop_reassigned(w, x):
    m = x.shape[0] // 1000 - 1
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, m, -1):
        m = i + 1
        z[i] = np.exp(w * x[i]) + m
    return np.sum(z)


def sum_reassigned(w, x):
    k = x.shape[0] - 1
    s = 0.0
    for i in range(k, -1, -1):
        k = i // 2
        s = s + np.exp(w * x[i]) + k
    return s


def asserts_rising(w, x):
    for i in range(x.shape[0]):
        assert x[i] > -10.0
    return w * np.sum(x)


def asserts_falling(w, x):
    for i in range(x.shape[0] - 1, -1, -1):
        assert np.exp(x[i]) < 2.0 + i
    return w * np.sum(x)


# The divisions that raise divide Python's numbers (the loop's index and parameters: ZeroDivisionError at
# the trip i == j, in Python and compiled); a division of an element, NumPy's number, gives inf or nan and
# raises nothing (`ir.numbers`; `test_divisions_of_elements_raise_nothing_and_are_planned`).

def assert_then_divide(w, x, j):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, -1, -1):
        assert x[i] < 5.0
        z[i] = x[i] * (w / (i - j))
    return np.sum(z)


def divide_then_assert(w, x, j):
    s = 0.0
    for i in range(x.shape[0]):
        z = w / (i - j)
        t = np.exp(z * x[i])
        assert t < 5.0
        s += t
    return s


def _same_outcome(fn, *args):
    """value_and_grad with the planned loops and with the loops as written (`skip=("vectorise",)`; both
    compiled, since Numba raises on a division by zero where NumPy's scalars give inf): the same numbers,
    or the same error; numbers also as the interpreter gives them."""
    outcomes = []
    for options in ({}, {"skip": ("vectorise",)}, {"jit": False}):
        try:
            outcomes.append(value_and_grad(fn, **options)(*[a.copy() if isinstance(a, np.ndarray) else a
                                                            for a in args]))
        except Exception as exc:                 # noqa: BLE001 -- the error is the outcome compared
            outcomes.append((type(exc).__name__, str(exc).splitlines()[0]))
    planned, plain, interpreted = outcomes
    if isinstance(plain[0], str):
        assert planned == plain, (fn.__name__, planned, plain)
        return
    scale = 1e-12 * max(1.0, float(np.max(np.abs(args[-1]))) if isinstance(args[-1], np.ndarray) else 1.0)
    for reference in (plain, interpreted):
        for got, want in zip(planned, reference):            # the value, then the gradient
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=scale * 1e3, err_msg=fn.__name__)


@pytest.mark.parametrize("fn", [across_zero, from_minus_one], ids=["across-zero", "from-minus-one"])
def test_negative_indices_are_not_own_elements(setting, fn):
    """A range reaching below 0 stores a[-1], which is another trip's a[n - 1]: not planned."""
    import autodiff_compiler.ir as ir
    setting(AUTODIFF_COMPILER_THREADS="")
    args = (1.0,) if fn is across_zero else (np.linspace(-1, 1, 300),)
    plans, _ = _plans(fn, *args)
    for p in plans.values():
        if any(isinstance(s, ir.Store) for s in ir.walk(p.loop.body)):
            lowest = p.loop.start if p.loop.step.value == 1 else p.loop.stop
            assert isinstance(lowest, ir.Const) and lowest.value >= (0 if p.loop.step.value == 1 else -1), p.loop
    for point in ((0.5,), (-1.5,)) if fn is across_zero else ((np.linspace(-1, 1, n),) for n in (3, 257, 600)):
        _same_outcome(fn, *point)


@pytest.mark.parametrize("fn", [start_reassigned, stop_reassigned, sum_reassigned],
                         ids=["start", "stop", "sum"])
def test_bounds_the_body_reassigns(setting, fn):
    """range() reads its bounds once: the blocked and chunked loops read them once too."""
    setting(AUTODIFF_COMPILER_CHUNK=64, AUTODIFF_COMPILER_THREADS="")
    for n in (8, 300, 1000):
        _same_outcome(fn, 0.5, np.linspace(-1, 1, n))


@pytest.mark.parametrize("fn", [asserts_rising, asserts_falling, assert_then_divide, divide_then_assert],
                         ids=["asserts-rising", "asserts-falling", "assert-divide", "divide-assert"])
def test_loops_that_may_raise_raise_what_the_plain_loop_raises(setting, fn):
    """A loop of asserts only (no sums to chunk), and loops with two statements that may raise: run
    forwards or in segments, another trip's other error could come first; the planned loop raises what
    the plain one does."""
    setting(AUTODIFF_COMPILER_THREADS="")
    x = np.linspace(-1, 1, 600)
    if fn in (asserts_rising, asserts_falling):
        _same_outcome(fn, 0.7, x)
        _same_outcome(fn, 0.7, 100 * x)
    else:
        _same_outcome(fn, 0.7, x, -1)        # no trip divides by zero
        bad = np.linspace(0.5, 2.0, 600)
        bad[0] = 9.0                         # trip 0 fails its assert, trip 1 divides by zero
        _same_outcome(fn, 0.7, bad, 1)
        _same_outcome(fn, 0.7, bad[::-1].copy(), 598)
        bad[0] = 0.1
        _same_outcome(fn, 1.0, bad, 1)


def divides(w, x, j):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * (w / (i - j))
    return s


def test_division_by_zero_in_a_chunked_loop_raises_as_the_loop_does(setting):
    """Numba's threads do not raise (an exception there is lost, an integer division by zero gives 0):
    a loop with a statement that may raise keeps its chunks on the calling thread, which raises; a loop
    without one runs them on threads."""
    from autodiff_compiler import AutodiffError
    x = np.linspace(-1, 1, 101)
    setting(AUTODIFF_COMPILER_CHUNK=4, AUTODIFF_COMPILER_THREADS=2)
    g = value_and_grad(divides)
    with pytest.raises(AutodiffError, match="division by zero"):
        g(0.5, x, 50)                     # the trip i == 50 divides by zero
    assert "_chunk(" in g.compiled_source and "prange(" not in g.compiled_source
    setting(AUTODIFF_COMPILER_THREADS=0, AUTODIFF_COMPILER_CHUNK="")
    want = value_and_grad(divides)(0.5, x, -1)
    np.testing.assert_allclose(g(0.5, x, -1), want, rtol=1e-13)
    setting(AUTODIFF_COMPILER_CHUNK=4, AUTODIFF_COMPILER_THREADS=2)
    threaded = value_and_grad(backwards)
    threaded(0.5, x)
    assert "prange(" in threaded.compiled_source


def nested_sums(w, x):
    s1 = 0.0
    s2 = 0.0
    for i in range(x.shape[0]):
        s2 = s2 + w * x[i]
        s1 = s1 + s2                    # a sum added into another: not a sum chunks may split
    return s1


def running_product_sum(w, x):
    p = 0.0
    s = 0.0
    for i in range(x.shape[0]):
        p = p + w * w
        s = s + p * x[i]
    return s


def assert_sum(w, x):
    s = 0.0
    for i in range(x.shape[0]):
        assert x[i] < 5.0
        s = s + w * x[i]
    return s


def integer_division(w, x):
    d = x.shape[0] // 1000000
    s = 0.0
    for i in range(x.shape[0]):
        q = i // d
        s = s + w * x[i] * q
    return s


def negative_power(w, x, j):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, -1, -1):
        assert x[i] > -5.0
        z[i] = w * x[i] * float(i - j) ** -3       # float(): Python's number, 0.0 ** -3 raises
    return np.sum(z)


def reciprocal_after_assert(w, x):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, -1, -1):
        assert x[i] > -5.0
        z[i] = w * np.reciprocal(x[i])           # NumPy's number: inf at 0.0, no error
    return np.sum(z)


def divides_elements(w, x):
    s = 0.0
    for i in range(x.shape[0]):
        s += w / x[i]
    return s


def element_powers(w, x):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, -1, -1):
        z[i] = np.exp(w * x[i]) * x[i] ** -3 + x[i] // (x[i] - 1.0) + w % x[i]
    return np.sum(z)


def divide_then_modulo(w, x, j, m):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, -1, -1):
        t = np.exp(w / (i - j))
        z[i] = x[i] * (t % (i - m))
    return np.sum(z)


def two_divisions(w, x, j, m):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, -1, -1):
        t = np.exp(w / (i - j))
        z[i] = x[i] * (t / (i - m))
    return np.sum(z)


def divide_and_integer_power(w, x, k, m, j):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0] - 1, -1, -1):
        t = np.exp(w / (i - j))
        z[i] = t * x[i] * k ** (i + m)
    return np.sum(z)


def integer_division_into_a_float(w, x, k, d):
    z = np.zeros(x.shape[0])
    q = 0.5                                  # q is a float: its statements' errors come from the operands
    for i in range(x.shape[0] - 1, -1, -1):
        q = k // (d - i)
        z[i] = np.exp(w / (i - k)) * x[i] + q
    return np.sum(z)


def integer_modulo_into_a_float(w, x, k, d):
    z = np.zeros(x.shape[0])
    q = 0.5
    for i in range(x.shape[0] - 1, -1, -1):
        q = k % (d - i)
        z[i] = np.exp(w % (i - k)) * x[i] * w + q
    return np.sum(z)


@pytest.mark.parametrize("fn", [divide_and_integer_power, integer_division_into_a_float, integer_modulo_into_a_float],
                         ids=["int-power", "int-floordiv", "int-mod"])
def test_errors_are_named_by_the_operands_kinds(setting, fn):
    """An int ** negative int raises '0 cannot be raised to a negative power', an int // int 'integer
    division by zero', whatever type the target has elsewhere: not a float division's error, so the
    loop keeps its order and raises the plain loop's error (found by review of the same-error rule)."""
    setting(AUTODIFF_COMPILER_THREADS="")
    n = 300
    x = np.linspace(0.5, 2.0, n)
    # trip 0 divides by zero (runs last as written); trip n - 1 (runs first): 0 ** -1, 0 // 0, 0 % 0
    if fn is divide_and_integer_power:
        _same_outcome(fn, 0.7, x, 0, n - 2, 0)
        _same_outcome(fn, 0.7, x, 2, n - 1, -1)       # nothing raises
    else:
        _same_outcome(fn, 0.7, x, 0, n - 1)
        _same_outcome(fn, 0.7, x, -1, n)              # nothing raises


@pytest.mark.parametrize("fn", [divide_then_modulo, two_divisions], ids=["divide-modulo", "two-divisions"])
def test_statements_trade_places_only_when_they_raise_the_same_error(setting, fn):
    """Blocking splits a trip at its vector call, running forwards reorders trips: the division of
    one trip then comes before another trip's modulo.  Statements raising different errors ('division by
    zero', 'modulo by zero', `rules.error_of`) keep their loop as written; two divisions, which raise
    the same error, may trade places, so that loop is planned.  Either way the error is the plain loop's,
    and the caller's names the line where Python raises."""
    from autodiff_compiler import AutodiffError
    setting(AUTODIFF_COMPILER_THREADS="")
    x = np.linspace(0.5, 2.0, 300)
    g = value_and_grad(fn)
    g(0.7, x, -1, -1)
    assert ("for i_lane in range(" in g.compiled_source) == (fn is two_divisions)
    _same_outcome(fn, 0.7, x, -1, -1)
    for n in (6, 300):
        x = np.linspace(0.5, 2.0, n)
        # trip 0 divides by zero, trip n - 1 (run first) by i - m == 0
        _same_outcome(fn, 0.7, x, 0, n - 1)
        # the caller is told what Python raises: trip 0's division (NumPy's number `t` % 0 is NaN)
        with pytest.raises(AutodiffError, match="float division by zero") as raised:
            g(0.7, x, 0, n - 1)
        assert raised.value.line == fn.__code__.co_firstlineno + 3, str(raised.value)


def test_the_chunk_size_is_the_one_set_when_the_gradient_was_derived(setting):
    """Modules are printed on first use, after the derivation: the chunk size (on which the sums' last bits
    depend) is read when the loops are planned, as the thread count is, never when the text is printed."""
    rng = np.random.default_rng(4)
    x, y = _data(1000, rng)
    setting(AUTODIFF_COMPILER_CHUNK=16, AUTODIFF_COMPILER_THREADS=1)
    g = value_and_grad(chain, wrt=("w", "b"))
    state = g.state_for(g.signature((0.7, -0.2, x, y)))
    assert state.printed == {}                           # derived, not printed yet
    setting(AUTODIFF_COMPILER_CHUNK=4, AUTODIFF_COMPILER_THREADS=1)
    printed_later = state.jit_text
    assert "chunks of 16 trips" in printed_later and "chunks of 4 " not in printed_later, printed_later
    setting(AUTODIFF_COMPILER_CHUNK=16, AUTODIFF_COMPILER_THREADS=1)
    fresh = value_and_grad(chain, wrt=("w", "b"))
    assert fresh.state_for(fresh.signature((0.7, -0.2, x, y))).jit_text == printed_later


@pytest.mark.parametrize("chunk", ["", 16], ids=["default-chunks", "chunks-of-16"])
def test_a_sum_added_into_another_is_not_split_into_chunks(setting, chunk):
    """Each chunk starts its sums at -0.0: a sum read by anything but its own update (here, added into
    another sum) would be wrong; value, gradient, jvp, jacobian and Hessian against the loop as written."""
    from autodiff_compiler import hessian, jacobian, jvp
    setting(AUTODIFF_COMPILER_CHUNK=chunk, AUTODIFF_COMPILER_THREADS="")
    for n in (100, 70000):
        x = np.linspace(0.5, 1.5, n)
        _same_outcome(nested_sums, 1.0, x)
        _same_outcome(running_product_sum, 0.7, x)
    x = np.linspace(0.5, 1.5, 100)
    for make in (jvp, jacobian, hessian):
        kwargs = {"tangents": (1.0,)} if make is jvp else {}
        for fn in (nested_sums, running_product_sum):
            got = make(fn, wrt=0)(0.7, x, **kwargs)
            want = make(fn, wrt=0, skip=("vectorise",))(0.7, x, **kwargs)
            for a, b in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                            np.atleast_1d(want) if not isinstance(want, tuple) else want):
                np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=f"{make.__name__} {fn.__name__}")


@pytest.mark.parametrize("fn", [assert_sum, integer_division], ids=["assert", "integer-division"])
def test_chunks_that_may_raise_stay_on_the_calling_thread(setting, fn):
    """An assert failing in one chunk, an integer division by zero: raised as the loop raises them."""
    setting(AUTODIFF_COMPILER_CHUNK=16, AUTODIFF_COMPILER_THREADS=2)
    for n, bad in ((200, 0), (200, 100), (200, 199), (300000, 150000)):
        x = np.linspace(0.5, 1.5, n)
        x[bad] = 9.0
        _same_outcome(fn, 0.5, x)
    from autodiff_compiler import AutodiffError
    g = value_and_grad(fn)
    try:
        g(0.5, np.ones(200))
    except AutodiffError:
        assert fn is integer_division           # 200 // 1000000 is 0
    assert "_chunk(" in g.compiled_source and "prange(" not in g.compiled_source


def test_powers_may_raise(setting):
    """Numba raises for 0.0 ** -3 (Python's number): with an assert in the same falling loop, the loop
    keeps its order, so the error is the plain loop's, for either order of the bad trips."""
    setting(AUTODIFF_COMPILER_THREADS="")
    x = np.linspace(0.5, 2.0, 6)
    x[0] = -9.0
    _same_outcome(negative_power, 1.0, x, 5)               # trip 0 fails its assert, trip 5: 0.0 ** -3
    _same_outcome(negative_power, 1.0, x[::-1].copy(), 0)
    _same_outcome(negative_power, 1.0, np.linspace(0.5, 2.0, 300), -1)


@pytest.mark.parametrize("fn", [reciprocal_after_assert, divides_elements, element_powers],
                         ids=["reciprocal", "divides", "powers"])
def test_divisions_of_elements_raise_nothing_and_are_planned(setting, fn):
    """An element is NumPy's number: its division by zero (/, //, %, a negative power, a reciprocal) is
    inf or nan, never an error, in Python and in the module Numba compiles (`ir.numbers`), which spells
    it with NumPy's functions.  Such a statement raises nothing, so it does not keep its loop in order
    or its chunks on the calling thread: the loop is planned, its chunks run on threads."""
    setting(AUTODIFF_COMPILER_THREADS="")
    for n in (6, 300):
        x = np.linspace(0.5, 2.0, n)
        x[1], x[n - 2] = 0.0, -0.0
        if fn is element_powers:
            x[2] = 1.0                                        # x // (x - 1.0): a division by 0.0
        with np.errstate(all="ignore"):
            fn(0.7, x)                                        # Python gives a value
        _same_outcome(fn, 0.7, x)
    setting(AUTODIFF_COMPILER_CHUNK=4, AUTODIFF_COMPILER_THREADS=2)
    g = value_and_grad(fn)
    x = np.linspace(-1, 1, 101)                               # x[50] == 0
    with np.errstate(all="ignore"):
        want = value_and_grad(fn, jit=False)(0.7, x)
    got = g(0.7, x)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    forward = g.compiled_source.split("# forward sweep")[1].split("# reverse sweep")[0]
    if fn is divides_elements:
        assert "prange(" in g.compiled_source                 # chunks on threads
    elif fn is reciprocal_after_assert:
        assert "trips in rising order" in forward             # an assert alone keeps no order
    else:
        assert "for i_block in range(" in forward and "vexp(" in forward


# ------------------------------------------------------------------ random loops, both paths

_UNARY = ["np.exp(np.sin({0}))", "np.log(1.0 + {0} * {0})", "np.sin({0})", "np.cos({0})",
          "np.tanh({0})", "np.log1p({0} * {0})", "np.expm1(-{0} * {0})", "({0} * {0} + 1.0) ** y[i]",
          "({0} * w)", "({0} + x[i])", "({0} / (2.0 + {0} * {0}))"]


def _random_loop(rng, k: int) -> str:
    """A loop over x and y: temporaries from random unary steps, two or three sums (+=, = s +, -=); every
    other loop also stores a temporary at its own element of an array (=, +=, read back in the trip)."""
    stores = k % 2 == 1
    lines = [f"def loop{k}(w, b, x, y):", "    s0 = 0.0", "    s1 = 0.0", "    s2 = 0.0"]
    if stores:
        lines.append("    out = np.zeros(x.shape[0])")
    header = rng.choice(["for i in range(x.shape[0]):", "for i in range(x.shape[0] - 1, -1, -1):",
                         "for i in range(1, x.shape[0]):"])
    lines.append(f"    {header}")
    lines.append("        a = w * x[i] + b")
    names = ["a"]
    for t in range(rng.integers(2, 6)):
        source = names[rng.integers(len(names))]
        expr = _UNARY[rng.integers(len(_UNARY))].format(source)
        lines.append(f"        t{t} = {expr}")
        names.append(f"t{t}")
        if stores and rng.random() < 0.4:
            lines.append(f"        out[i] {'+=' if rng.random() < 0.5 else '='} {names[-1]}")
            if rng.random() < 0.5:
                lines.append(f"        c{t} = np.tanh(out[i]) * {names[rng.integers(len(names))]}")
                names.append(f"c{t}")
    updates = ["s0 += {0} * y[i]", "s1 = s1 + {0}", "s2 -= {0}"]
    for u in range(rng.integers(1, 4)):
        lines.append("        " + updates[u].format(names[rng.integers(1, len(names))]))
    tail = " + np.sum(out * out)" if stores else ""
    lines.append(f"    return s0 + 0.5 * s1 + 0.25 * s2{tail}")
    return "\n".join(lines) + "\n"


def test_random_loops_blocked_and_chunked_match_the_interpreter(setting, tmp_path):
    import importlib.util
    import autodiff_compiler.ir as ir
    rng = np.random.default_rng(2024)
    sources = [_random_loop(rng, k) for k in range(10)]
    path = tmp_path / "random_loops.py"
    path.write_text("import math\n\nimport numpy as np\n\n\n" + "\n\n".join(sources))
    spec = importlib.util.spec_from_file_location("random_loops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setting(AUTODIFF_COMPILER_CHUNK=3, AUTODIFF_COMPILER_THREADS=2, AUTODIFF_COMPILER_SIMD=4)
    x, y = _data(61, rng)
    planned = stored = 0
    for k in range(len(sources)):
        fn = getattr(module, f"loop{k}")
        g = value_and_grad(fn, wrt=("w", "b"))
        got = g(0.7, -0.2, x, y)
        text = g.compiled_source
        planned += "_block[" in text or "_chunk(" in text or "rising order" in text
        args = (0.7, -0.2, x, y)
        plans = g.state_for(g.signature(args), dims=g._dims_for(args)).plans.values()     # the program called
        stored += any(isinstance(s, ir.Store) for p in plans for s in ir.walk(p.loop.body))
        want = value_and_grad(fn, wrt=("w", "b"), jit=False)(0.7, -0.2, x, y)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-11, atol=1e-12, err_msg=sources[k])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12, err_msg=sources[k])
    assert planned >= 5 and stored >= 2, (planned, stored)


def clashing(w, x):
    lo = 0.5 * w
    hi = 2.0
    chunk = 3.0
    trips = 0.25
    first = 1.5
    s = 0.0
    for i in range(x.shape[0]):
        s += np.exp(lo * x[i]) * hi + chunk * np.sin(trips * x[i]) + first
    return s + chunk


def test_names_of_the_printed_loops_never_clash_with_the_users(setting):
    x = np.linspace(-1, 1, 300)
    setting(AUTODIFF_COMPILER_CHUNK=7, AUTODIFF_COMPILER_THREADS=2)
    g = value_and_grad(clashing)
    got = g(0.3, x)
    assert "_chunk(" in g.compiled_source
    want = value_and_grad(clashing, jit=False)(0.3, x)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ------------------------------------------------------------------ whole-array vector calls

def array_math(x, A):
    a = np.sum(np.exp(x) * np.log1p(x * x) + np.sin(x) * np.expm1(-x * x))
    B = np.tanh(A) * np.cos(A.T).T + np.log(1.0 + A * A)
    return a + np.sum(B * np.exp(A.T).T)


@needs_simd
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (8, 4), (17, 33)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_whole_array_calls_match_the_scalar_path(setting, shape):
    """np.exp(A) and the other unary vector functions of whole float arrays (transposed ones included:
    not contiguous) run through libmvec (the library's `vector_exp`); values and gradients within 1e-15
    relative of the scalar C library's, at edge values too."""
    rng = np.random.default_rng(sum(shape))
    x = rng.uniform(-2.0, 2.0, shape[0] * shape[1])
    x[:3] = [0.0, -0.0, 1e-300][:x.size] if x.size >= 3 else x[:3]
    A = rng.uniform(-3.0, 3.0, shape)
    setting(AUTODIFF_COMPILER_SIMD=0, AUTODIFF_COMPILER_THREADS=0)
    scalar = value_and_grad(array_math, wrt=(0, 1))(x, A)
    setting(AUTODIFF_COMPILER_SIMD="", AUTODIFF_COMPILER_THREADS=0)
    g = value_and_grad(array_math, wrt=(0, 1))
    vector = g(x, A)
    assert "vector_exp(" in g.compiled_source and "vector_tanh(" in g.compiled_source
    np.testing.assert_allclose(vector[0], scalar[0], rtol=1e-14)
    for got, want in zip(vector[1], scalar[1]):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
    python = value_and_grad(array_math, wrt=(0, 1), jit=False)(x, A)
    for got, want in zip(python[1], vector[1]):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@needs_simd
def test_whole_array_calls_are_cached(setting, tmp_path, monkeypatch):
    """The array functions call the block function by name: Numba caches the module (a kernel passed as
    a value would make it 'dynamic globals' and compile it anew in every process), at the suite's LLVM
    level 0 too (`backend.cache.CalledDispatcher`)."""
    import warnings
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path))
    setting(AUTODIFF_COMPILER_SIMD="", AUTODIFF_COMPILER_THREADS=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = grad(array_math, wrt=(0, 1))
        g(np.linspace(-1.0, 1.0, 6), np.ones((2, 3)))
    assert "vector_exp(" in g.compiled_source
    assert not [w for w in caught if "cannot cache" in str(w.message).lower()]


def test_whole_array_calls_need_float_arrays():
    """Only float64 arrays (and no raising): an integer array's exp, or a scalar's, is printed as written."""
    from autodiff_compiler import ir
    from autodiff_compiler.optimise.vectorise import plan_array_calls
    types = {"a": ir.array_of(1), "k": ir.array_of(1, "int64"), "s": ir.FLOAT, "t1": ir.array_of(1),
             "t2": ir.array_of(1), "t3": ir.FLOAT, "t4": ir.array_of(1)}
    function = ir.Function("f", ["a", "k", "s"], types, [
        ir.Assign("t1", "exp", (ir.Var("a"),)), ir.Assign("t2", "exp", (ir.Var("k"),)),
        ir.Assign("t3", "exp", (ir.Var("s"),)), ir.Assign("t4", "pow", (ir.Var("a"), ir.Var("a")))],
        ir.Var("t1"))
    calls = plan_array_calls(function, frozenset({"exp", "pow"}))
    assert [c.prim for c in calls.values()] == ["exp"]
    assert set(calls) == {id(function.body[0])}


@needs_simd
def test_the_self_test_and_the_gradients_call_kernels_of_the_same_text(setting):
    """Detection tests a `vexp` compiled from the text the library's is compiled from, and the library takes
    that compiled kernel (once per machine: `test_library` checks a second process compiles none), which
    a gradient through np.exp calls."""
    from autodiff_compiler.backend import library
    setting()
    n, isa, found = vecmath._setting()
    assert n and vecmath.kernel_source("exp", isa, n) in library.text((n, isa, found))
    # and the library takes the self-test's compiled kernel (the same text, compiled once per machine), that of
    # the first detection in this process (tests detect again)
    assert vecmath.tested_kernel(isa, n) is not None and ".vecmath_test_" in library.kernel("exp").py_func.__module__

    def f(x):
        return np.sum(np.exp(x) * x)
    x = np.linspace(-2.0, 2.0, 37)
    g = grad(f)
    np.testing.assert_allclose(g(x), np.exp(x) * (1.0 + x), rtol=1e-14)
    assert "vexp(" in g.compiled_source and "from autodiff_compiler.backend.library import vexp" in g.compiled_source
