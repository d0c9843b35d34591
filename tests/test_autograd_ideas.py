"""stop_gradient / no_grad, intermediates, accumulation into out= buffers, custom_derivative (+ verify)."""
import math
import re

import numpy as np
import pytest

import corpus_autograd as C
from _derivative_reference import jacobian_fd

from autodiff_compiler import AutodiffError, ArgumentError, UnsupportedSyntaxError, VerificationError, custom_derivative, \
    grad, value_and_grad

JIT = pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
POINTS = [0.5, 2.0, -1.3]


@JIT
@pytest.mark.parametrize("x", POINTS)
def test_stop_gradient(jit, x):
    assert C.with_stop(x) == pytest.approx(x ** 3, rel=1e-12)
    g = grad(C.with_stop, jit=jit)
    assert g(x) == pytest.approx(x * x, rel=1e-12)  # only the outer factor x is differentiated
    assert grad(C.all_stopped, jit=jit)(x) == 0.0


@JIT
@pytest.mark.parametrize("x", POINTS)
def test_no_grad(jit, x):
    assert C.with_nograd(x) == pytest.approx(x ** 3, rel=1e-12)
    g = grad(C.with_nograd, jit=jit)
    assert g(x) == pytest.approx(x * x, rel=1e-12)
    v, d = value_and_grad(C.with_nograd, jit=jit)(x)
    assert v == pytest.approx(x ** 3, rel=1e-12) and d == pytest.approx(x * x, rel=1e-12)


@JIT
@pytest.mark.parametrize("x", [2.0, -0.5, 3.0])
def test_intermediates(jit, x):
    g = grad(C.chain, jit=jit, intermediates=("y",))
    dx, inter = g(x)
    assert dx == pytest.approx(8 * x, rel=1e-12)
    assert inter["y"] == pytest.approx(4.0, rel=1e-12)
    if x == 2.0:
        assert dx == pytest.approx(16.0)


@JIT
def test_accumulate(jit):
    g = grad(C.square, jit=jit, accumulate=True)
    buf = np.zeros(())
    for expected in (2.0, 4.0, 6.0):
        g(1.0, out=buf)
        assert float(buf) == pytest.approx(expected)
    buf[...] = 0
    g(1.0, out=buf)
    assert float(buf) == pytest.approx(2.0)
    g(3.0, out=buf)
    assert float(buf) == pytest.approx(8.0)


@JIT
def test_out_overwrites(jit):
    g = grad(C.square, jit=jit)
    buf = np.full((), 100.0)
    for x in (1.0, 2.5, -4.0):
        g(x, out=buf)
        assert float(buf) == pytest.approx(2 * x)


@JIT
def test_out_overwrites_array(jit):
    import corpus_arrays as A
    g = grad(A.sum_poly, jit=jit)
    buf = np.full(3, 7.0)
    g(np.array([1.0, 2.0, 3.0]), out=buf)
    np.testing.assert_allclose(buf, [5.0, 7.0, 9.0])
    ga = grad(A.sum_poly, jit=jit, accumulate=True)
    ga(np.array([1.0, 2.0, 3.0]), out=buf)
    np.testing.assert_allclose(buf, [10.0, 14.0, 18.0])


def _read_only(shape):
    buffer = np.full(shape, 7.0)
    buffer.setflags(write=False)
    return buffer


# buffers no gradient can be written into as it is: (shape, buffer maker)
UNFIT_BUFFERS = [
    ("int64", lambda shape: np.full(shape, 7, dtype=np.int64)),
    ("bool", lambda shape: np.ones(shape, dtype=bool)),
    ("complex", lambda shape: np.full(shape, 7.0 + 0j)),
    ("read-only", _read_only),
]


@JIT
@pytest.mark.parametrize("accumulate", [False, True], ids=["write", "accumulate"])
@pytest.mark.parametrize("kind, make", UNFIT_BUFFERS, ids=[k for k, _ in UNFIT_BUFFERS])
def test_an_out_buffer_that_cannot_hold_the_gradient_is_refused_and_no_buffer_changes(jit, accumulate, kind, make):
    """An int64 buffer took the gradient truncated ([0, -1, 3] for [0.6, -1.6, 3.4]: helper-72), with
    accumulate=True it raised NumPy's UFuncTypeError, a read-only one NumPy's ValueError.  Each is an
    ArgumentError naming the parameter and what was given, raised before any buffer is written: the good
    buffer given beside it keeps its values.  A float32 buffer is a float array: it takes the gradient
    rounded, as NumPy's assignment does."""
    import corpus_arrays as A
    x, w = np.array([0.3, -0.8, 1.7]), np.array([1.0, 2.0, 0.5])
    g = grad(A.weighted_squares, wrt=(0, 1), jit=jit, accumulate=accumulate)
    for bad_first in (True, False):
        good, bad = np.full(3, 5.0), make(3)
        before = bad.copy()
        with pytest.raises(ArgumentError, match=r"must be a writeable float array of shape \(3,\)") as raised:
            g(x, w, out=(bad, good) if bad_first else (good, bad))
        assert ("'x'" if bad_first else "'u'") in str(raised.value)
        np.testing.assert_array_equal(good, np.full(3, 5.0))
        np.testing.assert_array_equal(bad, before)
    narrow = np.zeros(3, dtype=np.float32), np.zeros(3)
    g(x, w, out=narrow)
    np.testing.assert_allclose(narrow[0], 2 * w * x, rtol=1e-6)
    np.testing.assert_allclose(narrow[1], x * x, rtol=1e-15)


@JIT
@pytest.mark.parametrize("w,x,y", [(0.3, 1.5, 1.0), (-1.2, 0.7, 0.0), (2.0, -0.4, 1.0)])
def test_custom_sigmoid(jit, w, x, y):
    assert C.my_sigmoid(0.3) == C.plain_sigmoid(0.3)
    gp = grad(C.loss_plain, wrt="w", jit=jit)(w, x, y)
    gc = grad(C.loss_custom, wrt="w", jit=jit)(w, x, y)
    p = 1 / (1 + math.exp(-w * x))
    ref = 2 * (p - y) * p * (1 - p) * x
    assert gp == pytest.approx(ref, rel=1e-9, abs=1e-14)
    assert gc == pytest.approx(ref, rel=1e-9, abs=1e-14)


def test_custom_sigmoid_verifies():
    g = grad(C.loss_custom, wrt="w", jit=False, verify=True)
    assert g(0.3, 1.5, 1.0) == pytest.approx(grad(C.loss_plain, wrt="w", jit=False)(0.3, 1.5, 1.0), rel=1e-9)


@JIT
def test_wrong_custom_rule_caught_by_verify(jit):
    with pytest.raises(AutodiffError) as info:
        g = grad(C.uses_bad, jit=jit, verify=True)
        g(2.0)
    assert isinstance(info.value, VerificationError), type(info.value)


@JIT
def test_wrong_custom_rule_used_without_verify(jit):
    # without verify the declared (wrong) rule is used as is: d/dx (x*x + x) reported as 3x + 1
    assert grad(C.uses_bad, jit=jit)(2.0) == pytest.approx(7.0)


@JIT
@pytest.mark.parametrize("simplify", [True, False])
def test_safe_sqrt_by_where_has_the_gradient_of_the_side_taken(jit, simplify):
    # torch.where / jnp.where give NaN at v <= 0 here (the other side's sqrt); examples/autograd_ideas.py
    g = grad(C.safe_sqrt, jit=jit, simplify=simplify)
    with np.errstate(invalid="ignore"):
        for v in (np.array([-1.0, 4.0]), np.array([2.0, -0.5, 0.25]), np.array([-3.0])):
            expected = np.where(v > 0, 0.5 / np.sqrt(np.abs(v)), 0.0)
            np.testing.assert_allclose(g(v), expected, rtol=1e-13)


_SAME_NAME = '''from autodiff_compiler import custom_derivative


@custom_derivative("{partial}")
def sq(z):
    return {body}


def loss(x):
    return sq(x) + x
'''


def _module_declaring(tmp_path, name, partial, body):
    import importlib.util
    path = tmp_path / f"{name}.py"
    path.write_text(_SAME_NAME.format(partial=partial, body=body))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_functions_of_one_name_in_two_modules_keep_their_own_derivatives(tmp_path, jit):
    """The rule table named a declaration `custom_NAME`: the second module's `sq` replaced the first's
    rule, and grad of the first module's loss used it (13.0 for 5.0 at x = 2: review of this session).
    Each function now has its own entry, and either order of use gives each its own derivative."""
    squares = _module_declaring(tmp_path, f"squares_{jit}", "2 * z", "z * z")
    cubes = _module_declaring(tmp_path, f"cubes_{jit}", "3 * z * z", "z * z * z")
    for x in (2.0, -0.5, 1.25):
        assert grad(squares.loss, jit=jit)(x) == pytest.approx(2 * x + 1, rel=1e-12)
        assert grad(cubes.loss, jit=jit)(x) == pytest.approx(3 * x * x + 1, rel=1e-12)
    # the same function declared again (its module run again) keeps its entry, with the new partials
    again = _module_declaring(tmp_path, f"squares_{jit}", "2 * z", "z * z")
    assert again.sq.__autodiff_primitive__ == squares.sq.__autodiff_primitive__
    assert cubes.sq.__autodiff_primitive__ != squares.sq.__autodiff_primitive__
    assert grad(again.loss, jit=jit)(3.0) == pytest.approx(7.0, rel=1e-12)


@JIT
@pytest.mark.parametrize("simplify", [True, False])
def test_a_custom_functions_value_is_its_bodys_array_as_it_is(jit, simplify):
    """Returning its argument, a @custom_derivative function returns that array, as Python's call does.
    The review found it taken for a new array: a write through the result left the other name unchanged
    in the derived program, where Python changes it (a silent wrong value and gradient; the derived
    program even wrote into the caller's array).  It is now refused, as every write through a second
    name of an array that is read afterwards is; a custom function returning an array of its own, or
    whose result is only read, is differentiated."""
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(UnsupportedSyntaxError, match=r"y and z share memory since line \d+ \(z = same_array\(y\)\)"):
        value_and_grad(C.written_through_custom_identity, jit=jit, simplify=simplify)(x.copy())
    for fn in (C.written_through_custom_new_array, C.read_through_custom_identity):
        for point in (x, np.array([-0.5, 0.25, 2.0, 1.5])):
            kept = point.copy()
            value, gradient = value_and_grad(fn, jit=jit, simplify=simplify)(point)
            np.testing.assert_array_equal(point, kept)
            assert value == pytest.approx(fn(point.copy()), rel=1e-13)
            np.testing.assert_allclose(gradient, jacobian_fd(fn, (point,), 0)[0], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("partial", [lambda g, x: (g,), 2.0, None])
def test_a_partial_that_is_not_a_string_is_refused_clearly(partial):
    with pytest.raises(ArgumentError, match="takes each partial as a string in the rule language"):
        custom_derivative(partial)


@JIT
def test_a_custom_rule_applies_to_each_entry_of_arrays(jit):
    """A declared partial of an array function is its entry-by-entry derivative (a sigmoid of arrays).
    Reverse mode gave the body's value, whose partial is a structural 0, a zero adjoint of the wrong shape
    (a number where an array was read: InternalError); forward mode skipped it already."""
    from autodiff_compiler import hessian, jacobian
    rng = np.random.default_rng(5)
    for _ in range(2):
        w, x = rng.standard_normal(4), rng.standard_normal(4)
        dw, dx = grad(C.logistic_of_arrays, wrt=(0, 1), jit=jit)(w, x)
        np.testing.assert_allclose(dw, jacobian_fd(C.logistic_of_arrays, (w, x), 0)[0], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dx, jacobian_fd(C.logistic_of_arrays, (w, x), 1)[0], rtol=1e-6, atol=1e-8)
        gradient = grad(C.logistic_of_arrays, jit=jit)
        np.testing.assert_allclose(jacobian(gradient, jit=jit)(w, x), jacobian_fd(gradient, (w, x), 0)[0],
                                   rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(hessian(C.logistic_of_arrays, jit=jit)(w, x), jacobian_fd(gradient, (w, x), 0)[0],
                                   rtol=1e-6, atol=1e-7)


REDUCING_RULES = [(C.norm_cubed, [(np.array([0.5, -1.2, 0.8]),), (np.array([2.0, 0.3, -0.7, 1.1]),)]),
                  (C.column_norms_kept_loss, [(np.array([[0.5, -1.2, 0.8], [0.3, 0.9, -0.4]]),),
                                              (np.array([[1.5, 0.2], [-0.6, 0.8], [0.4, -1.1]]),)]),
                  (C.weighted_sum_loss, [(np.array([0.5, -1.2, 0.8]), np.array([0.3, 0.9, -0.4])),
                                         (np.array([1.1, 0.4]), np.array([-0.7, 0.6]))])]


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@JIT
@pytest.mark.parametrize("fn, points", REDUCING_RULES, ids=[fn.__name__ for fn, _ in REDUCING_RULES])
def test_a_custom_rule_of_a_reducing_function_sums_the_tangents_it_reduces(fn, points, jit, simplify):
    """A custom function that reduces its array (a norm, column norms, a weighted sum) declares each partial
    entry by entry: of the value's entry with respect to the operand's entries aligned with it.  Reverse
    mode's adjoint (partial * the value's adjoint, broadcast) was right; forward mode gave the value a
    tangent of the operand's shape: `jvp` returned an array for a number, the Hessian only its diagonal."""
    from autodiff_compiler import hessian, jvp
    from _derivative_reference import directional
    rng = np.random.default_rng(11)
    for args in points:
        wrt = tuple(range(len(args)))
        reference = [jacobian_fd(fn, args, k)[0] for k in wrt]
        got = grad(fn, wrt=wrt if len(wrt) > 1 else 0, jit=jit, simplify=simplify)(*args)
        for g, want in zip(got if len(wrt) > 1 else (got,), reference):
            np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8)
        tangents = [rng.standard_normal(a.shape) for a in args]
        value, tangent = jvp(fn, wrt=wrt if len(wrt) > 1 else 0, jit=jit, simplify=simplify)(
            *args, tangents=tuple(tangents))
        assert np.ndim(tangent) == 0
        np.testing.assert_allclose(tangent, directional(fn, args, wrt, tangents)[0], rtol=1e-6, atol=1e-8)
        if len(args) == 1:
            gradient = grad(fn, jit=jit, simplify=simplify)
            np.testing.assert_allclose(hessian(fn, jit=jit, simplify=simplify)(*args),
                                       jacobian_fd(gradient, args, 0)[0], rtol=1e-5, atol=1e-7)


@JIT
def test_a_custom_rule_reducing_some_axes_must_keep_them(jit):
    """A custom function whose value has fewer axes than its operand but is no number (`np.sum(A, axis=0)`,
    or axis=1) is refused with its line: its entry-by-entry partials align the value with the operand's
    last axes, as NumPy broadcasts, which is not the axes it reduced along axis 1 (a jvp came out a
    plausible wrong number there, helper-71), nor along axis 0 of a square matrix."""
    from autodiff_compiler import UnsupportedSyntaxError, jvp
    A = np.array([[0.5, -1.2, 0.8], [0.3, 0.9, -0.4]])
    calls = (lambda: grad(C.column_norms_loss, jit=jit)(A), lambda: jvp(C.column_norms_loss, jit=jit)(A, tangents=(A,)))
    for call in calls:
        with pytest.raises(UnsupportedSyntaxError, match="keepdims=True") as info:
            call()
        assert info.value.line is not None and "column_norms_rule" in str(info.value)


_DECLARED_VECTOR = '''import math
import numpy as np
from autodiff_compiler import custom_derivative


@custom_derivative("{partial}")
def sine(z):
    return np.sin(z)


def loss(x):
    return np.sum(sine(x) ** 2)
'''


@JIT
@pytest.mark.parametrize("partial", ["np.cos(z)", "numpy.cos(z)", "cos(z)", "math.cos(z) * 1.0",
                                     "np.sin(z + np.pi / 2)", "np.sin(z + math.pi / 2)"])
def test_a_partial_may_call_numpy_and_math_as_the_body_does(tmp_path, jit, partial):
    """`np.cos(x)` in a partial was accepted at the declaration, then every derivative raised an
    InternalError ("'Attribute' object has no attribute 'id'": helper-72).  NumPy's and math's names are
    the rule table's functions, `np.pi` the number."""
    import importlib.util
    name = f"declared_{abs(hash((partial, jit)))}"
    path = tmp_path / f"{name}.py"
    path.write_text(_DECLARED_VECTOR.replace("{partial}", partial).replace("import numpy as np",
                                                                           "import numpy as np\nimport numpy"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for x in (np.array([0.3, -0.8, 1.6]), np.array([2.5]), np.linspace(-3.0, 3.0, 7)):
        np.testing.assert_allclose(grad(module.loss, jit=jit)(x), 2 * np.sin(x) * np.cos(x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("partial, said", [
    ("2 * y", "reads 'y', which is neither a parameter of sq nor `out`"),
    ("2 * z * x", "reads 'x', which is neither"),
    ("np.frobnicate(z)", "calls np.frobnicate, which has no entry in the rule table"),
    ("scipy.special.expit(z)", "calls scipy.special.expit, which is no function of the rule table"),
    ("helper(z)", "calls helper, which is no function of the rule table"),
    ("z.real", "reads z.real, which is no number it knows"),
])
def test_a_partial_reading_what_it_cannot_mean_is_refused_at_the_declaration(tmp_path, partial, said):
    """The rule language's own operand names are x, y, z: `2 * y` of `sq(z)` read the function's value,
    and the gradient of z * z + z at 2 came out 9.0, not 5.0, without an error.  A name that is neither a
    parameter nor `out`, a function the rule table lacks or an attribute it cannot read is an
    ArgumentError when the function is declared, naming the partial and what it reads."""
    source = _SAME_NAME.replace("def sq(z):", "def sq(z):").format(partial=partial, body="z * z")
    import importlib.util
    path = tmp_path / "refused_partial.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("refused_partial", path)
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(ArgumentError, match=re.escape(said)) as raised:
        spec.loader.exec_module(module)
    assert repr(partial) in str(raised.value) and "`out`" in raised.value.hint


@pytest.mark.parametrize("partial, said", [
    ("math.log(z, 2.0)", "calls math.log with 2 operand(s)"),
    ("max([z, 0.0])", "holds list"),
    ("pow(z, 2, 7)", "calls pow with 3 operand(s)"),
    ("np.sum(z, keepdims=True)", "passes keywords to np.sum"),
    ("1.0 if 0 < z < 1 else 0.0", "chains comparisons"),
    ("(z, 1.0)[k]", "with something other than an int"),
    ("(z, 1.0)[0] * 2.0", "holds tuple"),
])
def test_a_partial_the_rule_language_cannot_run_is_refused_at_the_declaration(tmp_path, partial, said):
    """Accepted at the declaration, these raised an InternalError at every derivative (helper-74)."""
    import importlib.util
    path = tmp_path / "unrunnable_partial.py"
    path.write_text(_SAME_NAME.format(partial=partial, body="z * z"))
    spec = importlib.util.spec_from_file_location("unrunnable_partial", path)
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(ArgumentError, match=re.escape(said)):
        spec.loader.exec_module(module)


@JIT
def test_a_parameter_named_like_the_function_its_partial_calls(tmp_path, jit):
    """`np.cos(cos)` of a parameter named cos: the renaming of parameters renamed the function too
    (InternalError: KeyError 'x', helper-74)."""
    import importlib.util
    path = tmp_path / f"named_cos_{jit}.py"
    path.write_text('import numpy as np\nfrom autodiff_compiler import custom_derivative\n\n\n'
                    '@custom_derivative("np.cos(cos)")\ndef my_sin(cos):\n    return np.sin(cos)\n\n\n'
                    'def loss(x):\n    return my_sin(x) * x\n')
    spec = importlib.util.spec_from_file_location(f"named_cos_{jit}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for x in (0.3, -1.1, 2.4):
        assert grad(module.loss, jit=jit)(x) == pytest.approx(np.cos(x) * x + np.sin(x), rel=1e-13)
