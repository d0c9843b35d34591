"""ir/activity: which variables carry derivatives.

The closure under the derivative edges is one walk over an index from each
name to its neighbours; it must reach exactly what the edges' least fixpoint
reaches (the rescan it replaced), on random graphs with reassigned names and
cycles (loops) as well as on long straight lines walked backward, where the
rescan took a pass per statement.  On lowered functions, the active set is the
varied and useful floats, hand-checked.
"""
import random

import numpy as np
import pytest

from autodiff_compiler import grad
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.ir import FLOAT, INT, array_of
from autodiff_compiler.ir.activity import _closure, activity, useful_for, varied_by
from autodiff_compiler.pipeline import State, run_until


def fixpoint(start, edges, forward):
    """The least set closed under the edges' rule, by rescanning until nothing changes."""
    reached = set(start)
    changed = True
    while changed:
        changed = False
        for target, sources in edges:
            if forward and target not in reached and any(s in reached for s in sources):
                reached.add(target)
                changed = True
            elif not forward and target in reached and not reached.issuperset(sources):
                reached.update(sources)
                changed = True
    return reached


def test_the_closure_is_the_fixpoint_of_its_edges():
    for seed in range(400):
        _closure_agrees_on_a_random_graph(random.Random(seed))


def _closure_agrees_on_a_random_graph(rng):
    names = [f"v{i}" for i in range(rng.randint(1, 12))]
    # names are assigned more than once (reassignment) and read before being assigned (loops: cycles)
    edges = [(rng.choice(names), rng.sample(names, rng.randint(0, min(3, len(names)))))
             for _ in range(rng.randint(0, 20))]
    start = set(rng.sample(names, rng.randint(0, min(2, len(names))))) | ({"outside"} if rng.random() < 0.2 else set())
    for forward in (True, False):
        assert _closure(start, edges, forward) == fixpoint(start, edges, forward), (edges, start, forward)


def test_a_long_straight_line_is_closed_both_ways():
    n = 3000
    edges = [(f"a{i}", [f"a{i - 1}", "y"] if i % 3 else [f"a{i - 1}"]) for i in range(1, n)]
    edges.append(("dead", ["a5"]))
    assert _closure({"a0"}, edges, forward=True) == {f"a{i}" for i in range(n)} | {"dead"}
    assert _closure({f"a{n - 1}"}, edges, forward=False) == {f"a{i}" for i in range(n)} | {"y"}
    assert _closure({"a7"}, edges, forward=False) == {f"a{i}" for i in range(8)} | {"y"}


def mixed(x, y, n):
    a = x * 2.0
    b = y * 3.0
    c = a + b
    d = a * 5.0          # varied, not useful: nothing returned reads it
    k = n + 1            # an int: never active
    e = float(k) * y     # useful, not varied by x
    s = 0.0
    for i in range(n):
        s = s + c * e    # the loop carries s: varied and useful
    return s + e


def lowered(fn, types, wrt):
    return run_until(State(source_of_function(fn), types, wrt), "values").primal


def test_active_variables_are_varied_useful_floats():
    primal = lowered(mixed, {"x": FLOAT, "y": FLOAT, "n": INT}, ["x"])
    active = activity(primal, {"x"}, primal.types)
    assert {"x", "a", "c", "s"} <= active
    assert not {"b", "d", "k", "e", "y", "n"} & active
    varied = varied_by(primal, {"x"})
    assert {"a", "c", "d", "s"} <= varied and not {"b", "e"} & varied
    useful = useful_for(primal, active | {"e"})
    assert "b" in useful and "d" not in useful


def test_gradients_through_the_activity_agree_with_hand_formulas():
    # d/dx: 2 n e with e = (n + 1) y;  d/dy: 3 n e + n (2x + 3y)(n + 1) + (n + 1)
    for x, y, n in [(0.3, -1.2, 0), (0.3, -1.2, 1), (1.7, 0.4, 4)]:
        e = (n + 1) * y
        gx, gy = grad(mixed, wrt=(0, 1), jit=False)(x, y, n)
        assert gx == pytest.approx(2 * n * e, rel=1e-12, abs=1e-12)
        assert gy == pytest.approx(n * (2 * x + 3 * y) * (n + 1) + 3 * n * e + (n + 1), rel=1e-12)


def test_an_array_parameter_is_active_through_stores_and_reads():
    def stored(w, v):
        out = np.zeros(3)
        out[0] = w[1] * v[0]
        out[2] = v[2]
        return np.sum(out * out)
    primal = lowered(stored, {"w": array_of(1), "v": array_of(1)}, ["w"])
    active = activity(primal, {"w"}, primal.types)
    assert {"w", "out"} <= active and "v" not in active
    w, v = np.array([0.5, -1.5, 2.0]), np.array([0.25, 1.0, -3.0])
    np.testing.assert_allclose(grad(stored, jit=False)(w, v), [0.0, 2 * w[1] * v[0] ** 2, 0.0], rtol=1e-12)
