"""optimise/eliminate.py: statements that never run go (`Dataflow.never_runs`).

Fuzzer seed 155 (`crash-control-155-170`): `value_and_grad(jit=True)` raised Numba's NotDefinedError.
`fuse_loops` merges the two `if c:` holding a loop and its reverse, copying what lies between into
both sides; in the copy under `c`, `n = 4` makes `n != 4` False, so simplification folds the forward
sweep's `if n != 4:` and its definitions go, while the reverse sweep's `if n_ne_4:` stays (the
path-blind analysis sees `n_ne_4` possibly undefined there).  Its reads of the forward's values
then have no definition at all: Python never runs them, Numba refuses to compile them.  Each case
below is such a program; each test compares value and gradient with the function run by Python and
central finite differences, jit on and off, simplify on and off, at points on both sides of `c`.
"""
import inspect
import math

import pytest

from autodiff_compiler import ir, stop_gradient, value_and_grad
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.ir import FLOAT, INT, dataflow
from autodiff_compiler.pipeline import derive


def folded_on_one_side(n, y):
    if y > -5.0:
        n = 4
        for i in range(n):
            y = y * 0.5
    if y < 5.0:
        if n != 4:
            y = y * math.sin(y)
    return y


def folded_float_constant(s, y):
    if y < 3.0:
        s = 2.0
        for i in range(3):
            y = y * 0.9 + 0.1
    if y > -4.0:
        if s < 1.0:
            y = y * math.exp(0.3 * y)
    return y * y


def folded_loop_inside(n, y):
    # the reverse loop pops a tape the folded forward loop no longer allocates
    if y > -5.0:
        n = 2
        for i in range(n):
            y = math.sin(y) + y
    if y < 6.0:
        if n > 3:
            for k in range(n):
                y = y * math.cos(y)
    return y + 1.0


def folded_else_side(n, x, y):
    if x > -5.0:
        n = 0
        for i in range(3):
            y = y * x
    if y < 5.0:
        if n == 0:
            y = y + 1.0
        else:
            y = y * math.tanh(x)
    return y * x


def _h0(a, b=1.5, c=3.0):
    k1 = 4
    v2 = math.cosh(math.erf(-2.5))
    return math.acos(0.9 * math.tanh(b)) / (1.5 + math.tanh(math.atan(a)))


def fuzz_control_155_170(x, n, z, y):
    # the fuzzer's program, as found
    if math.hypot(y, x) > 0.25:
        n = 4
        for i in range(n):
            x, y = (y * 0.5, x * 0.5 + 0.8 * math.tanh(math.atan(math.exp(math.tanh(y)) ** (-0.5))))
            for l in range(i):
                x, y = (y * 0.5, x * 0.5 + (y + z) / 8.0)
            x = math.tanh(math.atan(y))
    if not x > y:
        if not z < 0.25:
            j = 0
            for j in range(n):
                v3 = math.log1p(z * z)
            if math.log2(math.sqrt(1.0 + y ** 2)) != -0.9:
                v4 = math.sqrt(math.hypot(1.0, 0.75))
                v5 = n * 1.0
            elif n < 2:
                v6 = y - z
            elif -z > stop_gradient(z):
                if j >= 0:
                    return _h0(y, b=math.tanh(float(j)), c=-y)
                v7 = y - y
    elif z >= 2.0:
        k8 = n + 1
    elif math.pow(math.sqrt(y * y + 0.5), z) <= 0.9:
        if (y if y > 0.25 else 0.9) > -1.0:
            v9, v10 = (min(n * 1.0, z), z + z)
            v9 *= v10 / -4.0
        elif n != 4:
            x = x * math.asin(0.5 * math.sin(0.4)) + -0.3
        else:
            k11 = n
            y /= math.sqrt(1.0 + min(z, y) ** 2)
    else:
        for i in range(2):
            v12 = max(y, z)
            k13 = math.floor(float(i) - z)
            if not v12 != -1.5 or (i >= 1 or y > -0.6):
                return min(_h0(0.1, math.tau / 4.0), math.atan(0.2))
        for i in range(0, n, 3):
            z, y = (y * 0.5, z * 0.5 + y / 0.5 / 8.0)
    v14, v15 = (y * y, -0.1)
    return z + y + x + v14


# (function, wrt, points): each point away from the branches' edges, both sides of the merged `if`
CASES = {
    "folded_on_one_side": (folded_on_one_side, ("y",), [(2, 0.7), (2, -1.3), (5, 3.1), (5, -6.0), (4, -7.0)]),
    "folded_float_constant": (folded_float_constant, ("y",), [(0.5, 0.7), (0.5, -2.0), (0.5, 3.5), (3.0, 4.2)]),
    "folded_loop_inside": (folded_loop_inside, ("y",), [(5, 0.7), (5, -1.2), (5, -6.0), (2, -7.0)]),
    "folded_else_side": (folded_else_side, ("x", "y"), [(3, 0.8, 0.6), (3, -0.7, 1.1), (3, -6.0, 0.4),
                                                        (0, -5.5, -0.3)]),
    "fuzz_control_155_170": (fuzz_control_155_170, ("z", "y"),
                             [(-0.9251150632476608, 2, -0.7014317149580793, -0.6045362445319244),
                              (0.1, 3, 0.9, 0.05), (0.3, 2, 2.5, 0.6), (-0.05, 3, 0.4, 0.1)]),
}


def _finite_differences(fn, args, wrt, h=1e-6):
    names = list(inspect.signature(fn).parameters)
    out = []
    for name in wrt:
        k = names.index(name)
        up, down = list(args), list(args)
        up[k] += h
        down[k] -= h
        out.append((fn(*up) - fn(*down)) / (2 * h))
    return tuple(out)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_branch_folded_in_one_sweep_only_compiles_and_gives_the_numbers(name):
    fn, wrt, points = CASES[name]
    for jit in (False, True):
        for simplify in (True, False):
            derived = value_and_grad(fn, wrt=wrt, jit=jit, simplify=simplify)
            for args in points:
                value, gradient = derived(*args)
                assert value == pytest.approx(fn(*args), rel=1e-12, abs=1e-12), (jit, simplify, args)
                expected = _finite_differences(fn, args, wrt)
                assert gradient == pytest.approx(expected, rel=1e-5, abs=1e-6), (jit, simplify, args)


def test_every_read_of_the_adjoint_has_a_definition():
    """The adjoint of the shrunk program reads no variable that no definition reaches (what Numba
    refuses), keeps no statement that never runs, and keeps the forward sweep's `sin` on the side of
    `if y > -5.0` where `n` is not 4 (the reverse sweep reads it there)."""
    state = derive(source_of_function(folded_on_one_side), {"n": INT, "y": FLOAT}, ["y"])
    facts = dataflow.of(state.adjoint)
    unbound = [(str(s).split("\n")[0], name) for s in facts.statements for name in ir.reads(s)
               if facts.reaching(s, name) == {dataflow.UNDEFINED}]
    assert not unbound
    assert not [str(s) for s in facts.statements if facts.never_runs(s)]
    sines = [s for s in ir.walk(state.adjoint.body) if isinstance(s, ir.Assign) and s.prim == "sin"]
    assert len(sines) == 1
