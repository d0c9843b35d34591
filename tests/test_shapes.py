"""ir.shapes and the dispatch that feeds it: which axes of the arguments agree, proved per call pattern.

The soundness class DISPATCH (tests/test_soundness.py) calls one gradient
object with arrays whose axes agree in different ways, in every mode, against
finite differences.  Here: what dispatch records (`dims_of_arguments`), that
the program checks it on entry and says so when called directly with other
arrays (`ShapesDiffer`), that the fast path and `native()` hand such calls to
a program of their own, that the analysis follows axes through products,
transposes, reductions, stores, loops and tapes, and what it buys: no
fallback copy, no broadcast temporaries, no recorded values needed only for
their shapes.
"""
import sys
import os

import numpy as np
import pytest

import corpus_soundness as S
from autodiff_compiler import grad, value_and_grad
from autodiff_compiler.errors import ShapesDiffer
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.ir import INT, Assign, TapeAlloc, Var, array_of, dataflow, shapes, walk
from autodiff_compiler.ir.shapes import ONE, dims_of_arguments, guard_conditions
from autodiff_compiler.pipeline import derive

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import workload_fns  # noqa: E402


def finite_difference(f, x, h=1e-6):
    """Central differences of f at x (a float or an array, one element at a time)."""
    if np.ndim(x) == 0:
        step = h * max(1.0, abs(x))
        return (f(x + step) - f(x - step)) / (2 * step)
    out = np.empty_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        step = h * max(1.0, abs(x[k]))
        up[k] += step
        down[k] -= step
        out[k] = (f(up) - f(down)) / (2 * step)
    return out


def _m(rows, cols, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (rows, cols))


def test_dispatch_names_each_length_by_its_first_axis_and_one_by_itself():
    dims = dims_of_arguments(["A", "x", "B", "y"], {"A": (3, 4), "B": (4, 3), "y": (1, 3)})
    assert dims == (("A", (("A", 0), ("A", 1))), ("B", (("A", 1), ("A", 0))), ("y", (ONE, ("A", 0))))
    assert guard_conditions(dims) == [("B", 0, ("A", 1)), ("B", 1, ("A", 0)), ("y", 0, ONE), ("y", 1, ("A", 0))]
    lone = dims_of_arguments(["x", "y"], {"x": (5,), "y": (6,)})
    assert guard_conditions(lone) == []              # nothing agrees: the program for any shapes


def test_the_program_checks_on_entry_what_dispatch_proved():
    Z, Y = _m(5, 4, 1), np.eye(4)[[0, 2, 1, 3, 0]]
    g = grad(S.dispatch_softmax)
    g(Z, Y)
    assert "raise ShapesDiffer(" in g.source and "Y.shape[0] != Z.shape[0]" in g.source
    assert "zeros_like" not in g.source                 # Y * (Z - lse) has Z's shape: no broadcast
    compiled = g.compiled_for(Z, Y, value=False)
    with pytest.raises(ShapesDiffer, match="Y.shape"):
        compiled(Z, Y[:1])                              # another pattern, called directly: refused
    general = grad(S.dispatch_softmax, skip=("shapes",))
    general(Z, Y)
    assert "ShapesDiffer" not in general.source and "zeros_like" in general.source
    np.testing.assert_allclose(g(Z, Y), general(Z, Y), rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_the_fast_path_hands_another_pattern_to_a_program_of_its_own(jit):
    """Called many times with one pattern (the fast entry installed), then another, then the first
    again: every result is the gradient of its own arguments."""
    g = grad(S.dispatch_mse, wrt=(0, 1), jit=jit)
    x = np.linspace(-1.0, 1.0, 7)
    patterns = [x * 0.5, np.array([0.3]), x * 0.5, np.array([0.3]), x[:6] * 0.5]
    for y in patterns:
        args = (0.7, -0.2, x if y.size != 6 else x[:6], y)
        for _ in range(3):
            got = g(*args)
        for k in (0, 1):
            want = finite_difference(lambda v: S.dispatch_mse(*args[:k], v, *args[k + 1:]), args[k])
            np.testing.assert_allclose(got[k], want, rtol=1e-6)
    assert len({key[2] for key in g._compiled}) == 2      # two patterns, each derived and compiled once
    if jit:     # one fast entry per pattern: alternating calls each find theirs
        assert len(g._fast) == 2 and type(g).__dict__["__call__"] is g._fast[g._entry_key(args)]


def test_native_entry_falls_back_for_another_pattern():
    g = value_and_grad(S.dispatch_mse, wrt=0)
    x, y = np.linspace(-1.0, 1.0, 7), np.linspace(0.0, 1.0, 7)
    native = g.native(0.7, -0.2, x, y)
    other = g.native(0.7, -0.2, x, np.array([0.3]))
    assert other is not native and g.native(0.7, -0.2, x, y * 2.0) is native    # one entry per pattern
    for yy in (y, np.array([0.3]), y):
        value, dw = native(0.7, -0.2, x, yy)
        assert value == pytest.approx(S.dispatch_mse(0.7, -0.2, x, yy), rel=1e-12)
        want = finite_difference(lambda w: S.dispatch_mse(w, -0.2, x, yy), 0.7)
        assert dw == pytest.approx(want, rel=1e-6)


def _adjoint(fn, types, wrt, dims):
    return derive(source_of_function(fn), types, wrt, param_dims=dims).adjoint


def test_axes_through_products_transposes_and_loops():
    """The RNN's adjoint: h_bar's values (a store into zeros_like(h), then np.dot(Wh.T, ...) in a loop)
    all have h's axes, so every sum back to a shape goes and nothing is recorded for its shape."""
    types = {"Wh": array_of(2), "Wx": array_of(2), "b": array_of(1), "xs": array_of(2), "h0": array_of(1)}
    dims = dims_of_arguments(list(types), {"Wh": (6, 6), "Wx": (6, 3), "b": (6,), "xs": (4, 3), "h0": (6,)})
    adjoint = _adjoint(workload_fns.rnn_loss, types, ["Wh", "Wx", "b"], dims)
    text = str(adjoint)
    assert "sum_like" not in text
    tapes = {s.tape for s in walk(adjoint.body) if isinstance(s, TapeAlloc)}
    assert len(tapes) == 1                                # h, for tanh's adjoint; no value kept for its shape
    general = _adjoint(workload_fns.rnn_loss, types, ["Wh", "Wx", "b"], ())
    assert "sum_like" in str(general)


def test_a_rectangular_recurrence_keeps_its_sums():
    """W of 4 x 6 and h of 6: W @ h has 4 elements, not h's 6; the analysis must not take one for the
    other (the function fails on a second trip, and the adjoint keeps its sums back to b's shape)."""
    types = {"W": array_of(2), "b": array_of(1), "h": array_of(1), "n": INT}
    dims = dims_of_arguments(["W", "b", "h", "n"], {"W": (4, 6), "b": (1,), "h": (6,)})
    adjoint = _adjoint(S.dispatch_recurrence, types, ["W", "b"], dims)
    assert "sum_like" in str(adjoint)                     # b of one element, broadcast to W @ h


def test_classes_in_the_primal():
    """Dispatch's axes through the primal of a row softmax: Y has Z's class; a product and a matrix
    product take theirs from their operands; a keepdims reduction fits but is of another class."""
    types = {"Z": array_of(2), "Y": array_of(2)}
    dims = dims_of_arguments(["Z", "Y"], {"Z": (5, 4), "Y": (5, 4)})
    state = derive(source_of_function(S.dispatch_softmax), types, ["Z"], param_dims=dims)
    primal = state.primal
    facts = dataflow.of(primal)
    classes = shapes.of(primal)
    product = next(s for s in facts.statements if isinstance(s, Assign) and s.prim == "mul" and Var("Y") in s.args)
    other = next(a for a in product.args if a != Var("Y"))
    assert classes.key(product, Var("Y")) == classes.key(product, other) == (("Z", 0), ("Z", 1))
    made = {s.target: s for s in facts.statements if isinstance(s, Assign)}
    e = made["E"]
    difference = made[e.args[0].name]
    assert classes.key(difference, Var("m")) == (("Z", 0), ONE)
    assert classes.fits(difference, Var("m"), (("Z", 0), ("Z", 1)))


def test_a_value_rebound_in_a_loop_to_another_length_has_a_class_of_its_own():
    """s = s[1:] in a loop: its length changes every trip; the read after the loop meets the value
    before it and the sliced ones, whose axes differ, so it is a class of its own."""
    def shrink(x, n):
        s = x * 1.0
        for i in range(n):
            s = s[1:] * 2.0
        return np.sum(s * x[:s.shape[0]])
    types = {"x": array_of(1), "n": INT}
    state = derive(source_of_function(shrink), types, ["x"],
                   param_dims=dims_of_arguments(["x", "n"], {"x": (5,)}))
    primal = state.primal
    facts = dataflow.of(primal)
    classes = shapes.of(primal)
    last = next(s for s in reversed(facts.statements) if isinstance(s, Assign) and Var("s") in s.args)
    assert classes.key(last, Var("s")) != (("x", 0),)
    g = grad(shrink)
    x = np.linspace(0.2, 1.0, 5)
    for n in (0, 1, 3):
        np.testing.assert_allclose(g(x, n), finite_difference(lambda v: shrink(v, n), x), rtol=1e-6)


def test_arrays_made_of_lengths_read_from_axes_have_those_axes_classes():
    """np.zeros / np.ones / np.empty of `X.shape[k]` take X's axis k (the length's one definition), of 1
    take ONE, of any other length a class of their own; a length the loop changes is not X's."""
    def made(X, v, n):
        A = np.zeros((X.shape[0], X.shape[1]))
        B = np.ones((X.shape[1], 1))
        C = np.empty((X.shape[0], n))
        k = X.shape[0]
        for i in range(n):
            k = k + 1
        D = np.zeros(k)
        return np.sum(A * X) + np.sum(B * v[:, None]) + np.sum(C[:, 0:0]) + np.sum(D)
    types = {"X": array_of(2), "v": array_of(1), "n": INT}
    state = derive(source_of_function(made), types, ["X"],
                   param_dims=dims_of_arguments(["X", "v", "n"], {"X": (3, 4), "v": (4,)}))
    primal = state.primal
    facts = dataflow.of(primal)
    classes = shapes.of(primal)
    made_by = {s.target: s for s in facts.statements if isinstance(s, Assign)}
    assert classes.definition_class(made_by["A"]) == (("X", 0), ("X", 1))
    assert classes.definition_class(made_by["B"]) == (("X", 1), ONE)      # v's length is X's axis 1
    c = classes.definition_class(made_by["C"])
    assert c[0] == ("X", 0) and c[1] not in (ONE, ("X", 0), ("X", 1))
    assert classes.definition_class(made_by["D"])[0] not in (("X", 0), ("X", 1), ONE)
    g = grad(made)
    X, v = _m(3, 4, 1), np.linspace(0.1, 0.4, 4)
    np.testing.assert_allclose(g(X, v, 2), finite_difference(lambda Y: made(Y, v, 2), X), rtol=1e-6, atol=1e-9)
