"""optimise.broadcasts and ir.shapes: elementwise operations read what a broadcast was made from.

Every case of the soundness class BCAST (tests/test_soundness.py) checks the
gradients against finite differences in every mode; here: the pass fires
where the shape analysis shows it may (the broadcasts of a row-wise softmax
go), never where the other operand is smaller than the broadcast, and gives
the same numbers as the program without it (`skip=("broadcasts",)`).
"""
import numpy as np
import pytest

import corpus_soundness as S
from autodiff_compiler import grad, value_and_grad
from autodiff_compiler.pipeline import derive
from autodiff_compiler.ir import shapes, dataflow, Assign, Var


def _rng_matrix(rows, cols, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (rows, cols))


CASES = [
    (S.bcast_softmax_rows, lambda: (_rng_matrix(5, 4, 1), np.eye(4)[[0, 2, 1, 3, 0]])),
    (S.bcast_column_max, lambda: (_rng_matrix(5, 4, 2),)),
    (S.bcast_row_mean_scaled, lambda: (_rng_matrix(5, 4, 3), 0.7)),
    (S.bcast_smaller_operand, lambda: (_rng_matrix(5, 4, 4),)),
    (S.bcast_vector_against_matrix, lambda: (_rng_matrix(5, 4, 5), np.array([0.1, -0.2, 0.3, 0.5]))),
    (S.bcast_sum_kept, lambda: (_rng_matrix(5, 4, 6),)),
    (S.bcast_negated_column, lambda: (_rng_matrix(5, 4, 7), _rng_matrix(5, 1, 8))),
    (S.bcast_negated_row, lambda: (_rng_matrix(5, 4, 9), np.array([0.1, -0.2, 0.3, 0.5]))),
    (S.bcast_negated_in_loop, lambda: (_rng_matrix(3, 4, 10), _rng_matrix(1, 4, 11), 2)),
]


@pytest.mark.parametrize("fn, args", CASES, ids=[c[0].__name__ for c in CASES])
@pytest.mark.parametrize("jit", [False, True], ids=["nojit", "jit"])
def test_same_numbers_as_without_the_pass(fn, args, jit):
    """Only a zero's sign may differ (`g + 0.0`): every value and gradient is the same number."""
    a = args()
    got = value_and_grad(fn, jit=jit)(*a)
    want = value_and_grad(fn, jit=jit, skip=("broadcasts",))(*a)
    for x, y in zip(got, want):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_softmax_keeps_no_full_size_broadcast():
    """E * (g broadcast to E) reads the column g: no `+ np.zeros_like(E)` is left for it (the max's
    adjoint makes none: `spread_axis1` reads the row's cotangent).  Without what dispatch proves of the
    axes (`skip=("shapes",)`), one is left: the mean's seed broadcast to Y * (Z - lse), whose shape no
    operand is known to have; with it, Y has Z's shape and that one goes too, and the sums back to Z's
    shape with it."""
    Z, Y = _rng_matrix(5, 4, 1), np.eye(4)[[0, 2, 1, 3, 0]]
    g = grad(S.bcast_softmax_rows, jit=False)
    g(Z, Y)
    unproved = grad(S.bcast_softmax_rows, jit=False, skip=("shapes",))
    unproved(Z, Y)
    without = grad(S.bcast_softmax_rows, jit=False, skip=("broadcasts", "shapes"))
    without(Z, Y)
    assert without.compiled_source.count("np.zeros_like(") == 2
    assert unproved.compiled_source.count("np.zeros_like(") == 1
    assert g.compiled_source.count("np.zeros_like(") == 0
    assert g.compiled_source.count("sum_like2(") < unproved.compiled_source.count("sum_like2(")
    assert "Z_bar += spread_axis1(Z, m_bar[:, 0], True)" in g.compiled_source      # (accumulate)
    assert "(Z == m)" not in g.compiled_source
    np.testing.assert_allclose(g(Z, Y), unproved(Z, Y), rtol=1e-14, atol=1e-16)


def test_a_sum_back_of_a_negation_negates_the_sum():
    """`sum_like(-a, like)` sums `a` and negates the (smaller) sum: no full-size `-a` is made for it, and
    `b + -s` prints as `b - s`.  The numbers are those of the program without the pass (above)."""
    Z, Y = _rng_matrix(5, 4, 1), np.eye(4)[[0, 2, 1, 3, 0]]
    g = grad(S.bcast_softmax_rows, jit=False)
    g(Z, Y)
    without = grad(S.bcast_softmax_rows, jit=False, skip=("broadcasts",))
    without(Z, Y)
    assert "sum_like2(-" in without.compiled_source
    assert "sum_like2(-" not in g.compiled_source and "-np.expand_dims(sum_axis1(t15), 1)" in g.compiled_source
    unproved = grad(S.bcast_softmax_rows, jit=False, skip=("shapes",))    # the axes summed not known
    unproved(Z, Y)
    assert "sum_like2(-" not in unproved.compiled_source and "-sum_like2(" in unproved.compiled_source
    r = grad(S.bcast_negated_row, wrt=1, jit=False)
    r(_rng_matrix(5, 4, 9), np.array([0.1, -0.2, 0.3, 0.5]))
    assert "b_bar -= sum_axis0(" in r.compiled_source            # (accumulate)
    assert "sum_axis0(-" not in r.compiled_source


@pytest.mark.parametrize("jit", [False, True], ids=["nojit", "jit"])
def test_a_sum_back_over_one_known_axis_is_that_axis_sum(jit):
    """`sum_like(c, like)` where the shape classes prove `like` has length 1 on one axis and `c` not:
    the sum over that axis (`sum_axis1` for a column, `sum_axis0` for a row), the same numbers as
    `sum_like2` (test above) and no `sum_like2` to compile.  Without the proof (`skip=("shapes",)`),
    `sum_like2` decides at run time.  (`fuse_rows` would make that sum a fold in its loop over the rows:
    not what this test reads.)"""
    cases = [(S.bcast_negated_column, (_rng_matrix(5, 4, 7), _rng_matrix(5, 1, 8)), "np.expand_dims(sum_axis1("),
             (S.bcast_negated_in_loop, (_rng_matrix(3, 4, 10), _rng_matrix(1, 4, 11), 2), "np.expand_dims(sum_axis0(")]
    for fn, args, spelled in cases:
        proved = grad(fn, wrt=1, jit=jit, skip=("fuse_rows",))
        unproved = grad(fn, wrt=1, jit=jit, skip=("shapes", "fuse_rows"))
        got, want = proved(*args), unproved(*args)
        assert got.shape == args[1].shape
        np.testing.assert_array_equal(got, want)
        assert spelled in proved.compiled_source and "sum_like2(" not in proved.compiled_source
        assert "sum_like2(" in unproved.compiled_source
        h = 1e-6
        direction = np.random.default_rng(3).standard_normal(args[1].shape)
        fd = (fn(args[0], args[1] + h * direction, *args[2:]) - fn(args[0], args[1] - h * direction, *args[2:])) / (2 * h)
        assert np.sum(got * direction) == pytest.approx(fd, rel=1e-6)


def test_a_smaller_operand_does_not_stand_in_for_the_shape():
    """r (1, m) times A's broadcast adjoint: r * g would be (1, m), not A's shape; the broadcast stays
    and the gradient has A's shape."""
    A = _rng_matrix(5, 4, 4)
    gradient = grad(S.bcast_smaller_operand)(A)
    assert gradient.shape == A.shape


def test_shape_classes_of_a_row_softmax():
    """ir.shapes on the primal of a row softmax: Z - m and exp(Z - m) have Z's class (m fits it: a
    reduction keeping its dimensions); the row maximum and the row sums fit Z but are of other
    classes; Y, a parameter of the same rank, is a class of its own, and so is Y * (Z - lse)."""
    from autodiff_compiler.frontend.parse import source_of_function
    from autodiff_compiler.ir import array_of
    state = derive(source_of_function(S.bcast_softmax_rows), {"Z": array_of(2), "Y": array_of(2)}, ["Z"])
    primal = state.primal
    facts = dataflow.of(primal)
    classes = shapes.of(primal)
    made = {s.target: s for s in facts.statements if isinstance(s, Assign)}
    e = made["E"]
    difference = made[e.args[0].name]                 # Z - m
    z_class = classes.key(difference, Var("Z"))
    assert classes.key(e, e.args[0]) == z_class
    assert classes.fits(difference, Var("m"), z_class)
    assert classes.key(difference, Var("m")) != z_class
    last = next(s for s in facts.statements if isinstance(s, Assign) and Var("lse") in s.args)
    assert classes.fits(last, Var("lse"), z_class) and classes.key(last, Var("lse")) != z_class
    product = next(s for s in facts.statements if isinstance(s, Assign) and s.prim == "mul"
                   and Var("Y") in s.args)
    assert classes.key(product, Var("Y")) != z_class
    assert not classes.fits(product, Var("Y"), z_class)


def test_slice_length_classes_agree_with_numpy_for_every_length():
    """Two constant unit-step slices get one length signature exactly when they have the same length
    for every len(x) (checked up to 400, far past the signature's 64 values), bounds up to 30."""
    from autodiff_compiler.ir.nodes import Const, Slice
    rng = np.random.default_rng(11)
    small = [None] + list(range(-6, 7))
    large = [None, -30, -29, -17, -1, 0, 1, 16, 29, 30]
    pairs = [(a, b) for a in small for b in small] + [(a, b) for a in large for b in large]
    pieces = [Slice(None if a is None else Const(a), None if b is None else Const(b)) for a, b in pairs]
    signatures = [shapes._slice_lengths(p) for p in pieces]
    lengths = [tuple(len(range(*slice(a, b).indices(n))) for n in range(400)) for a, b in pairs]
    for k in rng.choice(len(pairs), min(300, len(pairs)), replace=False):
        for m in range(len(pairs)):
            assert (signatures[k] == signatures[m]) == (lengths[k] == lengths[m]), (pairs[k], pairs[m])
    assert shapes._slice_lengths(Slice(Const(31), None)) is None            # too large: a class of its own
    assert shapes._slice_lengths(Slice(Const(1), None, Const(2))) is None   # not unit step
    assert shapes._slice_lengths(Slice(Var("k"), None)) is None             # not a constant


@pytest.mark.parametrize("fn, fallback", [(S.slicelen_issue, False), (S.slicelen_inner, False),
                                          (S.slicelen_heads, False), (S.slicelen_unequal, True),
                                          (S.slicelen_two_arrays, True), (S.slicelen_rebound, True)],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_fused_loop_keeps_its_fallback_only_where_lengths_may_differ(fn, fallback):
    """Slices of one value with one length function need no test and no copy as written; slices whose
    lengths differ, of other arrays, or of another value of the same name keep them (the soundness
    class SLICELEN checks the numbers of each, lengths where they broadcast included)."""
    params = list(__import__("inspect").signature(fn).parameters)
    length = 3 if fn is S.slicelen_unequal else 5          # where its slices broadcast (n - 1 against n - 2)
    # y of another length than x (y[:-1] of one element broadcasts): with one length, dispatch would
    # prove the two slices of one length (test_shapes)
    args = {"x": np.linspace(0.1, 0.9, length), "y": np.linspace(0.2, 0.4, 2), "k": 2}
    g = grad(fn)
    g(*[args[p] for p in params])
    assert ("if same_length" in g.source) == fallback, g.source
    assert ("for i in range(" in g.source), g.source
