"""optimise/factor.py: a factor common to every term of an adjoint's sum is multiplied once.

Every gradient here is compared with a hand-derived formula at several points, jit on and off; the
legality conditions are tested on IR built to break each one (with a control that does fire); and
generated programs on which the pass fires are judged by the fuzzer's oracle."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from autodiff_compiler import grad, value_and_grad
from autodiff_compiler import pipeline
from autodiff_compiler.fuzz.execute import load_module, process
from autodiff_compiler.fuzz.generate import generate
from autodiff_compiler.fuzz.run import program_task
from autodiff_compiler.ir import FLOAT, INT, Assign, Const, Var
from autodiff_compiler import ir
from autodiff_compiler.optimise.factor import factor_common


# ------------------------------------------------------------------ gradients against hand formulas

def two_stage(x, a, b):
    y = a*x**2 + b*x + 1
    z = y**2 + 2*y
    return z


def d_two_stage(x, a, b):
    y = a*x*x + b*x + 1
    dz_dy = 2*y + 2
    return dz_dy * (2*a*x + b), dz_dy * x*x, dz_dy * x


def negative_terms(x, a, b):
    y = -(a*x*x) - b*x
    return y*y


def d_negative_terms(x, a, b):
    y = -(a*x*x) - b*x
    return 2*y*(-2*a*x - b), 2*y*(-x*x), 2*y*(-x)


def three_uses(x, y):
    u = x*y + x*x*y + y
    return math.exp(u)


def d_three_uses(x, y):
    e = math.exp(x*y + x*x*y + y)
    return e*(y + 2*x*y), e*(x + x*x + 1)


def in_a_loop(x, a, n):
    s = 0.0
    for i in range(n):
        y = a*x*x + x*i
        s = s + math.sin(y)
    return s


def d_in_a_loop(x, a, n):
    dx = da = 0.0
    for i in range(n):
        c = math.cos(a*x*x + x*i)
        dx += c*(2*a*x + i)
        da += c*x*x
    return dx, da


def partly_shared(x, a, b, c):
    y = a*x*x + b*x
    w = c*x*y
    return y*y + w


def d_partly_shared(x, a, b, c):
    y = a*x*x + b*x
    return 2*y*(2*a*x + b) + c*y + c*x*(2*a*x + b), (2*y + c*x)*x*x, (2*y + c*x)*x, x*y


def on_arrays(w, x):
    total = 0.0
    for i in range(x.shape[0]):
        z = w*x[i] + w*w*x[i]*x[i]
        total = total + math.tanh(z)
    return total


def d_on_arrays(w, x):
    dw = 0.0
    for v in x:
        z = w*v + w*w*v*v
        dw += (1 - math.tanh(z)**2)*(v + 2*w*v*v)
    return dw


# (function, hand gradient, wrt, points, a line of the factored module or None)
CASES = [
    (two_stage, d_two_stage, ("x", "a", "b"), [(1.0, 2.0, 3.0), (-0.7, 0.3, 1.5), (2.5, -1.1, 0.2)],
     "x_bar = y_bar * (b + 2 * x * a)"),
    # t10 = x*t8 is b_bar and feeds a_bar too: one factor (read through, the form costs as much)
    (negative_terms, d_negative_terms, ("x", "a", "b"), [(1.0, 2.0, 3.0), (-0.7, 0.3, 1.5), (0.4, -1.1, 0.2)],
     "x_bar = t8 * (b + t1) + a * t10"),
    # y_bar's three terms end in `value` (the seed); x_bar's common factor is already multiplied once
    # (CSE shares x*y*value), so it stays
    (three_uses, d_three_uses, ("x", "y"), [(0.3, 0.5), (-0.7, 0.2), (0.9, -0.4)],
     "y_bar = value * (1.0 + t2 + x)"),
    # c*y, from another line, has no y_bar: the terms that do are grouped
    (partly_shared, d_partly_shared, ("x", "a", "b", "c"), [(1.0, 2.0, 3.0, 0.5), (-0.7, 0.3, 1.5, 2.0)],
     "x_bar = c * y + y_bar * (b + t1) + a * t17"),
]
UNCHANGED = [
    # the sum `x_bar += ...` after the loop rereads what it writes: no region holds it
    (in_a_loop, d_in_a_loop, ("x", "a"), [(0.3, 0.5, 4), (-0.7, 0.2, 3), (0.9, -0.4, 6)], None),
]


def _tuple(value):
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn, hand, wrt, points, line", CASES + UNCHANGED, ids=lambda v: getattr(v, "__name__", ""))
def test_factored_gradients_agree_with_the_hand_formula(fn, hand, wrt, points, line, jit):
    for simplify in (True, False):
        g = grad(fn, wrt=wrt, jit=jit, simplify=simplify)
        for args in points:
            want = hand(*args)
            got = g(*args)
            for u, v in zip(_tuple(got), want):
                assert math.isclose(u, v, rel_tol=1e-12, abs_tol=1e-14), (fn.__name__, args, u, v)
        if simplify and line:
            assert line in g.source


def test_the_pass_fires_on_every_case_and_skipping_it_gives_the_chain_rule_back():
    for fn, _, wrt, points, _ in CASES:
        fired = _fired(fn, wrt, points[0])
        assert fired, f"the pass left {fn.__name__} alone"
    for fn, _, wrt, points, _ in UNCHANGED:
        assert not _fired(fn, wrt, points[0])
    on = grad(two_stage, wrt=(0, 1, 2), jit=False)
    off = grad(two_stage, wrt=(0, 1, 2), jit=False, skip=("factor",))
    on(1.0, 2.0, 3.0), off(1.0, 2.0, 3.0)
    assert "x_bar += 2 * x * (a * y_bar)" in off.source and "y_bar * (" not in off.source
    assert "y_bar * (b + 2 * x * a)" in on.source


def test_arrays_read_by_element_and_a_gradient_object_of_value_and_grad():
    x = np.array([0.3, -0.2, 0.7, 1.1])
    for jit in (False, True):
        value, dw = value_and_grad(on_arrays, wrt="w", jit=jit)(0.6, x)
        assert value == pytest.approx(on_arrays(0.6, x), rel=1e-14)
        assert dw == pytest.approx(d_on_arrays(0.6, x), rel=1e-12)


def test_program_values_keep_their_form():
    """Only adjoints are factored: the forward sweep computes `a*x + b*x` as the user wrote it."""
    def shared(x, a, b):
        y = a*x + b*x
        return y*y
    g = grad(shared, wrt="x", jit=False)
    assert g(0.5, 2.0, 3.0) == pytest.approx(2*(0.5*5.0)*5.0, rel=1e-14)
    assert "y = a * x + b * x" in g.source


def _fired(fn, wrt, args) -> bool:
    record = []
    original = pipeline.factor_common

    def watched(function):
        changed = original(function)
        record.append(changed)
        return changed
    pipeline.factor_common = watched
    try:
        grad(fn, wrt=wrt, jit=False)(*args)
    finally:
        pipeline.factor_common = original
    return any(record)


# ------------------------------------------------------------------ legality, on IR built to test it

F = FLOAT


def _function(body, types, params, returns, exact=()):
    function = ir.Function("f", list(params), dict(types), list(body), None, returns=tuple(Var(r) for r in returns))
    function.exact_names = set(exact) | set(params)
    return function


def _shared_factor(redefine: bool, second_use: bool, int_factor: bool, program_value: bool):
    """s = a*g + b*g with g an adjoint; variants break one condition each."""
    types = {"x": F, "a": F, "b": F, "k": INT, "g": F, "t1": F, "t2": F, "s": F, "u": F}
    body = [
        Assign("g", "mul", (Var("x"), Var("x"))),
        Assign("t1", "mul", (Var("k") if int_factor else Var("a"), Var("g"))),
        Assign("t2", "mul", (Var("b"), Var("g"))),
    ]
    if redefine:
        body.append(Assign("g", "mul", (Var("x"), Const(3.0))))
    body += [Assign("s", "add", (Var("t1"), Var("t2"))),
             Assign("u", "mul", (Var("g"), Var("t1") if second_use else Var("x")))]
    return _function(body, types, ["x", "a", "b", "k"], ["s", "u"], exact={"t1"} if program_value else ())


def test_the_control_fires():
    function = _shared_factor(False, False, False, False)
    assert factor_common(function)
    text = str(function)
    assert "s = mul(g, " in text, text


@pytest.mark.parametrize("broken", ["redefine", "second_use", "int_factor", "program_value"])
def test_each_broken_condition_keeps_the_sum(broken):
    """A factor redefined between its read and the sum (the sum's place sees another value), a product
    something else reads too (it stays, so nothing is saved and the terms are not the sum's alone), an
    int factor (its sum would be in 64-bit ints), a product that is a value of the program (kept
    exactly as computed): the pass leaves the sum as it is."""
    function = _shared_factor(**{name: name == broken for name in
                                  ("redefine", "second_use", "int_factor", "program_value")})
    before = str(function)
    assert not factor_common(function)
    assert str(function) == before


def test_a_rewrite_that_saves_nothing_does_not_fire():
    """`s = g*a + g` is `g*(a + 1.0)`: two operations for two; the pass leaves it."""
    types = {"x": F, "a": F, "g": F, "t1": F, "s": F}
    body = [Assign("g", "mul", (Var("x"), Var("x"))),
            Assign("t1", "mul", (Var("g"), Var("a"))),
            Assign("s", "add", (Var("t1"), Var("g")))]
    function = _function(body, types, ["x", "a"], ["s"])
    assert not factor_common(function)


# ------------------------------------------------------------------ generated programs, judged by the oracle

def _generated_where_it_fires(count: int, directory: str) -> list:
    """The first `count` scalar programs of a fixed seed on whose gradient the pass fires."""
    found, record = [], []
    original = pipeline.factor_common

    def watched(function):
        changed = original(function)
        record.append(changed)
        return changed
    pipeline.factor_common = watched
    try:
        for index in range(400):
            program = generate("scalar", 31, index)
            record.clear()
            try:
                module, _ = load_module(program.source, directory, f"g{index}")
                grad(getattr(module, program.func), wrt=program.wrt, jit=False)(*program.args)
            except Exception:       # noqa: BLE001 -- refused or raising programs: the fuzzer's gates judge them
                pass
            if any(record):
                found.append(program_task(program, []))
                if len(found) == count:
                    break
    finally:
        pipeline.factor_common = original
    return found


def test_generated_programs_where_the_pass_fires_agree_with_the_oracle(tmp_path):
    # three programs (five took 35 s of the suite; the fuzz gates of each stop run hundreds)
    tasks = _generated_where_it_fires(3, str(tmp_path))
    assert len(tasks) >= 3, "the generator no longer reaches the pass"
    outcomes = []
    for k, task in enumerate(tasks):
        runs = [("nojit-simp", "grad"), ("nojit-simp", "vag")] + ([("jit-simp", "grad")] if k < 1 else [])
        info, *records = [message for _, message in process(task, runs, str(tmp_path))]
        if "skip" in info:
            continue
        outcomes += [(task["id"], r["mode"], r["outcome"], r.get("detail", "")) for r in records]
    assert len(outcomes) >= 6
    assert all(outcome in ("ok", "refused") for _, _, outcome, _ in outcomes), outcomes


# ------------------------------------------------------------------ cost

_OPS = ["a{p} * x + y", "math.sin(a{p}) + a{q}", "a{p} * a{q} - x", "math.exp(-a{p} * a{p}) + y",
        "a{p} / (1.0 + a{q} * a{q})", "math.tanh(a{p}) * a{q}", "a{p} * a{q} * x + a{q} * x"]


def _straight_line(n: int) -> str:
    lines = ["import math", "", "", "def f(x, y):", "    a0 = x * y + 1.0"]
    lines += [f"    a{i} = " + _OPS[i % len(_OPS)].format(p=i - 1, q=max(0, i - 3)) for i in range(1, n)]
    return "\n".join(lines + [f"    return a{n - 1}", ""])


def test_the_reading_is_linear_in_the_function_length(tmp_path, monkeypatch):
    """Every sum is read, and products others read are read through: unbounded, a chain of shared
    products was read again for every sum above it (13 s of a 1,000-statement derivation).  The
    statements read, counted, grow as the function does (each sum reads at most MAX_STATEMENTS)."""
    from autodiff_compiler.frontend.parse import source_of_function
    from autodiff_compiler.optimise import factor
    reads = []
    original = factor._Reader.terms

    def counted(self, stmt):
        reads.append(1)
        return original(self, stmt)
    monkeypatch.setattr(factor._Reader, "terms", counted)
    counts, fired = {}, {}
    for n in (400, 800):
        path = tmp_path / f"straight{n}.py"
        path.write_text(_straight_line(n))
        namespace = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        reads.clear()
        state = pipeline.derive(source_of_function(namespace["f"]), {"x": FLOAT, "y": FLOAT}, ["x", "y"])
        counts[n] = len(reads)
        fired[n] = "* (" in state.text
    assert counts[400] > 400 and all(fired.values()), (counts, fired)
    assert counts[800] <= 2.5 * counts[400], counts       # 22,567 and 48,635 when written


# ------------------------------------------------------------------ int constants (found by the review)

def int_constants(x, a):
    y = 3 * (2 * x) + 5 * (7 * x) + a*x*x
    return y*y


def big_int_constants(x, a):
    y = 10**10 * (10**10 * x) + a*x*x
    return y*y


def huge_int_constants(x, a):
    y = 10**200 * (10**200 * x) + a*x*x
    return y*y*1e-300


@pytest.mark.parametrize("jit", [False, True])
def test_int_constants_are_never_multiplied_as_ints(jit):
    """The rests' products of int constants alone were computed in ints: 10**10 * 10**10 folded to a
    literal beyond 64 bits (compiled: an InternalError, Numba's TypingError), 10**200 * 10**200 an int
    no float holds (a false ArgumentError).  They are floats now, and ints beyond 2**53 are not
    factored at all."""
    for x, a in [(0.5, 1.5), (-0.3, 2.0), (1.7, -0.4)]:
        y = 41*x + a*x*x
        got = grad(int_constants, wrt=(0, 1), jit=jit)(x, a)
        assert got == pytest.approx((2*y*(41 + 2*a*x), 2*y*x*x), rel=1e-13)
        y = 1e20*x + a*x*x
        got = grad(big_int_constants, wrt=(0, 1), jit=jit)(x, a)
        assert got == pytest.approx((2*y*(1e20 + 2*a*x), 2*y*x*x), rel=1e-13)
    g = grad(int_constants, wrt=(0, 1), jit=False)
    g(0.5, 1.5)
    assert "7.0 * 5 + 2.0 * 3" in g.source
    x, a = 1e-300, 1.5
    got = grad(huge_int_constants, wrt=(0, 1), jit=False)(x, a)
    assert got == grad(huge_int_constants, wrt=(0, 1), jit=False, skip=("factor",))(x, a)
