"""Bad inputs give a clear AutodiffError subclass naming file, line and construct.

The functions live in corpus_errors.py.  The error may be raised when `grad`
is called or on the first call of the gradient (the compiler specialises per
argument signature), so both happen inside `pytest.raises`.  We assert on type
and message content, never on exact wording.
"""
import inspect
import math
import os
import re

import numpy as np
import pytest

import corpus_errors as E
from _reference import assert_close
from autodiff_compiler import AutodiffError, grad, jacobian, value_and_grad
from autodiff_compiler.errors import (ArgumentError, NoDerivativeRuleError, NonFiniteInputError,
                                      RecursionNotSupportedError, SourceNotFoundError,
                                      UnsupportedSyntaxError, VerificationError)

CORPUS_FILE = os.path.basename(E.__file__)


def lines_of(func, *snippets):
    """Absolute line numbers (in the function's file) of the lines containing any snippet."""
    lines, start = inspect.getsourcelines(func)
    found = {start + k for k, text in enumerate(lines) for s in snippets if s in text}
    assert found, f"test bug: none of {snippets} in {func.__name__}"
    return found


def raise_from(func, args, **kw):
    with pytest.raises(AutodiffError) as info:
        grad(func, **kw)(*args)
    return info.value


def check_located(err, func, snippets, words):
    """err names the corpus file, one of the lines with a snippet, a construct word, and a hint."""
    text = str(err)
    expected_lines = lines_of(func, *snippets)
    assert err.filename is not None and os.path.basename(err.filename) == CORPUS_FILE, (err.filename, text)
    assert err.line in expected_lines, f"line {err.line}, expected one of {sorted(expected_lines)}:\n{text}"
    assert re.search(rf"{re.escape(CORPUS_FILE)}:{err.line}:\d+", text), f"no FILE:LINE:COL in:\n{text}"
    source_line = inspect.getsourcelines(func)[0][err.line - inspect.getsourcelines(func)[1]].strip()
    assert source_line in text, f"offending line {source_line!r} not shown in:\n{text}"
    construct = (err.construct or "").lower()
    assert any(w in construct for w in words), f"construct {err.construct!r} should mention one of {words}"
    assert any(w in text.lower() for w in words), f"message should mention one of {words}:\n{text}"
    assert err.hint, f"no hint:\n{text}"
    assert "hint" in text.lower(), f"hint not rendered:\n{text}"


# ------------------------------------------------------------------ unsupported syntax

SYNTAX_CASES = [
    # (function, args, snippets of acceptable lines, construct words, acceptable error types)
    ("class", E.bad_class, (1.0,), ("class Local",), ("class",), (UnsupportedSyntaxError,)),
    ("try", E.bad_try, (2.0,), ("try:", "except ValueError"), ("try", "except"), (UnsupportedSyntaxError,)),
    ("with", E.bad_with, (1.0,), ("with open",), ("with",), (UnsupportedSyntaxError,)),
    ("string", E.bad_string, (1.0,), ('label = "x = "',), ("str",),
     (UnsupportedSyntaxError, NoDerivativeRuleError)),
    ("global", E.bad_global, (1.0,), ("global COUNTER",), ("global",), (UnsupportedSyntaxError,)),
    ("nonlocal", E.bad_nonlocal, (1.0,), ("def add(t)", "nonlocal total"), ("nonlocal", "def", "function"),
     (UnsupportedSyntaxError,)),
    ("yield", E.bad_yield, (1.0,), ("yield x",), ("yield",), (UnsupportedSyntaxError,)),
    ("while_else", E.bad_while_else, (2.0,), ("while x > 1.0", "else:"), ("while", "else"),
     (UnsupportedSyntaxError,)),
    ("star_args", E.star_args, (1.0,), ("def star_args",), ("*", "star", "var", "args"),
     (UnsupportedSyntaxError,)),
    ("import_inside", E.bad_import_inside, (1.0,), ("import cmath",), ("import",), (UnsupportedSyntaxError,)),
    ("bool_sum", E.bool_sum_of_numpy_bools, (np.array([0.5, -0.2, 0.3]),), ("np.sum(x * (m + m))",),
     ("bools",), (UnsupportedSyntaxError,)),
    ("bool_masks", E.bool_sum_of_masks, (np.array([0.5, -0.2, 0.3]),), ("(j + j + j)",), ("bools",),
     (UnsupportedSyntaxError,)),
    ("bool_product", E.bool_product_then_sum, (np.array([0.5, -0.2]), True, False), ("p * q + p",), ("bools",),
     (UnsupportedSyntaxError,)),
    ("bool_difference", E.bool_difference, (1.5, True, False), ("p - q",), ("bools",), (UnsupportedSyntaxError,)),
    ("bool_negation", E.bool_negation, (1.5, True), ("x * -p",), ("bools",), (UnsupportedSyntaxError,)),
]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("name,func,args,snippets,words,types", SYNTAX_CASES, ids=[c[0] for c in SYNTAX_CASES])
def test_unsupported_syntax(name, func, args, snippets, words, types, jit):
    err = raise_from(func, args, jit=jit)
    assert isinstance(err, types), f"{type(err).__name__}: {err}"
    check_located(err, func, snippets, words)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("func,expected", [
    (E.bad_lambda, 2.0),           # sq = lambda t: t * t; sq(x)             (issue 10: a local function)
    (E.bad_listcomp, 1.0),         # a list built by a comprehension, unused
    (E.bad_print, 2.0),            # print(y) is ignored
    (E.bad_for_list, 2 * 1.0 + 2.0 * 1 + 2.0 + 3.0 - 3.0),   # a loop over a module-level list
], ids=["lambda", "listcomp", "print", "for_over_list"])
def test_formerly_refused_constructs_work(func, expected, jit):
    """Constructs of the issue-10 language, refused before: their derivatives at x = 1."""
    h = 1e-6
    fd = (func(1.0 + h) - func(1.0 - h)) / (2 * h)
    assert grad(func, jit=jit)(1.0) == pytest.approx(fd, rel=1e-7)


def test_unsupported_syntax_also_from_value_and_grad():
    with pytest.raises(UnsupportedSyntaxError) as info:
        value_and_grad(E.bad_try)(2.0)
    check_located(info.value, E.bad_try, ("try:", "except ValueError"), ("try", "except"))


# ------------------------------------------------------------------ calls without a derivative rule

@pytest.mark.parametrize("func,snippet,names", [
    (E.no_rule_gamma, "math.gamma(y)", ("gamma",)),
    (E.no_rule_alias, "special(x)", ("special", "gamma")),
    (E.no_rule_numpy, "np.i0(x)", ("i0",)),
], ids=["math.gamma", "module_alias_of_gamma", "np.i0"])
def test_no_derivative_rule(func, snippet, names):
    err = raise_from(func, (1.5,))
    assert isinstance(err, NoDerivativeRuleError), f"{type(err).__name__}: {err}"
    check_located(err, func, (snippet,), names)


def test_undefined_name():
    err = raise_from(E.undefined_name, (1.5,))
    assert "undefined_function" in str(err), str(err)
    assert os.path.basename(err.filename or "") == CORPUS_FILE, str(err)
    assert err.line in lines_of(E.undefined_name, "undefined_function(y)"), str(err)
    assert f"{CORPUS_FILE}:{err.line}:" in str(err)


# ------------------------------------------------------------------ recursion

def test_direct_recursion():
    err = raise_from(E.recursive, (1.5, 3))
    assert isinstance(err, RecursionNotSupportedError), f"{type(err).__name__}: {err}"
    assert "recursive" in str(err)
    assert os.path.basename(err.filename or "") == CORPUS_FILE, str(err)
    assert err.line in lines_of(E.recursive, "recursive(x, n - 1)", "def recursive"), str(err)
    assert f"{CORPUS_FILE}:{err.line}:" in str(err)


def test_mutual_recursion():
    err = raise_from(E.ping, (1.5, 3))
    assert isinstance(err, RecursionNotSupportedError), f"{type(err).__name__}: {err}"
    assert "ping" in str(err) or "pong" in str(err)
    assert os.path.basename(err.filename or "") == CORPUS_FILE, str(err)
    assert err.line is not None and f"{CORPUS_FILE}:{err.line}:" in str(err)


# ------------------------------------------------------------------ wrt

def test_wrt_unknown_name():
    with pytest.raises(ArgumentError) as info:
        grad(E.two_params, wrt="zz")(1.0, 2.0)
    assert "zz" in str(info.value)


def test_wrt_unknown_name_in_tuple():
    with pytest.raises(ArgumentError) as info:
        grad(E.two_params, wrt=("x", "zz"))(1.0, 2.0)
    assert "zz" in str(info.value)


def test_wrt_index_out_of_range():
    with pytest.raises(ArgumentError) as info:
        grad(E.two_params, wrt=5)(1.0, 2.0)
    assert "5" in str(info.value)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("wrt", ["n", 1, ("x", "n")], ids=["name", "index", "tuple"])
def test_wrt_int_parameter(wrt, jit):
    with pytest.raises(ArgumentError) as info:
        grad(E.with_int, wrt=wrt, jit=jit)(1.5, 3)
    text = str(info.value)
    assert re.search(r"\bn\b", text), text
    assert "int" in text.lower(), text


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_int_value_for_a_wrt_parameter(jit):
    """grad(f)(3) where f's x is differentiated: either the float answer or a clear ArgumentError."""
    g = grad(E.two_params, jit=jit)
    try:
        got = g(3, 2.0)
    except ArgumentError as err:
        assert re.search(r"\bx\b", str(err)) and "int" in str(err).lower(), str(err)
    else:
        assert_close(got, 2.0 + math.cos(3.0))


# ------------------------------------------------------------------ call-time arguments

@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("args", [(1.0,), (1.0, 2.0, 3.0), ()], ids=["too_few", "too_many", "none"])
def test_wrong_argument_count(args, jit):
    g = grad(E.two_params, jit=jit)
    with pytest.raises(ArgumentError) as info:
        g(*args)
    text = str(info.value).lower()
    assert "argument" in text, text
    assert "2" in text or "two" in text, f"should say how many arguments two_params takes: {text}"


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("bad", ["abc", None, 1 + 2j], ids=["str", "None", "complex"])
def test_wrong_argument_type(bad, jit):
    g = grad(E.two_params, jit=jit)
    with pytest.raises(ArgumentError) as info:
        g(bad, 2.0)
    text = str(info.value)
    assert re.search(r"\bx\b", text), f"should name the parameter x: {text}"
    assert type(bad).__name__ in text or "type" in text.lower(), text


@pytest.mark.parametrize("bad", [np.array([1 + 2j, 2.0]), {"a": np.ones(2, complex)}], ids=["array", "in_dict"])
def test_complex_arguments_are_refused(bad):
    with pytest.raises(ArgumentError) as info:
        grad(E.two_params)(bad, 2.0)
    assert "complex" in str(info.value) and info.value.hint


class _Tagged(np.ndarray):
    """A user's subclass of ndarray: its methods and operators may mean anything."""


def _subclassed():
    import warnings
    plain = np.array([0.5, -1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)      # np.matrix's own deprecation
        matrix = np.asmatrix(plain)                                      # `*` is a matrix product there
    return {"masked": np.ma.array(plain, mask=[False, True, False]),
            "matrix": matrix,
            "user_subclass": plain.view(_Tagged)}


def _apis():
    from autodiff_compiler import hessian, jacobian, jvp
    return {"grad": lambda f, jit: grad(f, jit=jit),
            "value_and_grad": lambda f, jit: value_and_grad(f, jit=jit),
            "hessian": lambda f, jit: hessian(f, jit=jit),
            "jacobian": lambda f, jit: jacobian(f, jit=jit),
            "jvp": lambda f, jit: (lambda x, w: jvp(f, jit=jit)(x, w, tangents=(np.ones(3),)))}


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("api", sorted(_apis()))
@pytest.mark.parametrize("kind", sorted(_subclassed()))
@pytest.mark.parametrize("position", [0, 1], ids=["wrt", "other"])
def test_ndarray_subclasses_are_refused(kind, api, position, jit):
    """A masked array's mask would be ignored and a matrix's `*` read as elementwise: a number computed
    from either would be wrong with no error, so every derivative refuses them, naming the parameter,
    even after a good call with plain arrays has compiled the signature."""
    derived = _apis()[api](E.weighted_squares, jit)
    plain = np.array([0.5, -1.0, 2.0])
    derived(plain, plain)                   # compiled for plain arrays first
    args = [plain, plain.copy()]
    args[position] = _subclassed()[kind]
    with pytest.raises(ArgumentError) as info:
        derived(*args)
    text = str(info.value)
    assert "subclass" in text and repr("xw"[position]) in text, text
    assert "np.asarray" in info.value.hint


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("kind", sorted(_subclassed()))
def test_ndarray_subclasses_are_refused_as_tangents_vectors_and_cotangents(kind, jit):
    """What a derivative takes besides the arguments (jvp's tangents, hvp's vector, a pullback's
    cotangent) is refused the same way: a masked tangent's hidden entries would be read."""
    from autodiff_compiler import hvp, jvp, vjp
    plain = np.array([0.5, -1.0, 2.0])
    other = _subclassed()[kind]
    calls = {"jvp tangent": lambda: jvp(E.weighted_squares, jit=jit)(plain, plain, tangents=(other,)),
             "hvp vector": lambda: hvp(E.weighted_squares, jit=jit)(plain, plain, other),
             "vjp cotangent": lambda: vjp(E.weighted_squares, jit=jit)(plain, plain)[1](
                 np.ma.array(1.0, mask=True) if kind == "masked" else other)}
    for what, call in calls.items():
        with pytest.raises(ArgumentError, match="subclass") as info:
            call()
        assert "np.asarray" in info.value.hint, what


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_a_memory_mapped_array_is_a_plain_array(jit, tmp_path):
    """np.memmap is an ndarray subclass with no meaning of its own: accepted, with the plain gradient."""
    x = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="w+", shape=(3,))
    x[:] = [0.5, -1.0, 2.0]
    w = np.array([1.0, 2.0, 3.0])
    expected = 2.0 * w * np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(grad(E.weighted_squares, jit=jit)(x, w), expected, rtol=1e-14)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_a_list_where_a_number_is_used(jit):
    """A list is a parameter structure now: arithmetic on it is refused at the line that does it."""
    with pytest.raises(UnsupportedSyntaxError) as info:
        grad(E.two_params, jit=jit)([1.0, 2.0], 2.0)
    assert "container" in str(info.value) and os.path.basename(info.value.filename) == CORPUS_FILE


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_wrong_argument_type_after_a_good_call(jit):
    """A second signature must be checked too, not passed to Numba."""
    g = grad(E.two_params, jit=jit)
    assert g(1.0, 2.0) == pytest.approx(2.0 + math.cos(1.0), rel=1e-12)
    with pytest.raises(ArgumentError):
        g("abc", 2.0)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("args,param", [
    ((float("nan"), 2.0), "x"),
    ((float("inf"), 2.0), "x"),
    ((1.0, float("-inf")), "y"),
    ((np.float64("nan"), 2.0), "x"),
], ids=["nan", "inf", "neg_inf_non_wrt", "np_nan"])
def test_non_finite_argument(args, param, jit):
    g = grad(E.two_params, jit=jit)
    with pytest.raises(NonFiniteInputError) as info:
        g(*args)
    text = str(info.value)
    assert re.search(rf"\b{param}\b", text), f"should name parameter {param}: {text}"
    assert isinstance(info.value, ArgumentError)


def test_non_finite_in_value_and_grad():
    with pytest.raises(NonFiniteInputError):
        value_and_grad(E.two_params)(float("nan"), 1.0)


# ------------------------------------------------------------------ source not found

def test_source_of_exec_lambda():
    ns = {}
    exec("f = lambda x: x * x", ns)
    with pytest.raises(SourceNotFoundError) as info:
        grad(ns["f"])(2.0)
    assert info.value.hint


def test_source_of_exec_def():
    ns = {}
    exec("def h(x):\n    return x * x\n", ns)
    with pytest.raises(SourceNotFoundError) as info:
        grad(ns["h"])(2.0)
    assert "h" in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize("func", [math.sin, abs, np.sin, max], ids=["math.sin", "abs", "np.sin", "max"])
def test_source_of_builtin(func):
    with pytest.raises(SourceNotFoundError) as info:
        grad(func)(2.0)
    assert info.value.hint


def test_not_a_function():
    with pytest.raises(AutodiffError):
        grad(3.0)(2.0)


# ------------------------------------------------------------------ hierarchy

@pytest.mark.parametrize("cls", [UnsupportedSyntaxError, SourceNotFoundError, NoDerivativeRuleError, ArgumentError,
                                 NonFiniteInputError, RecursionNotSupportedError, VerificationError])
def test_errors_derive_from_autodiff_error(cls):
    assert issubclass(cls, AutodiffError)
    err = cls("message", filename="f.py", line=3, col=4, source_line="    y = x\n", hint="do this",
              construct="thing")
    assert (err.filename, err.line, err.construct, err.hint) == ("f.py", 3, "thing", "do this")
    assert "f.py:3:5" in str(err) and "y = x" in str(err) and "do this" in str(err)


_RERUN_SOURCE = '''import math

import numpy as np

from autodiff_compiler import grad


def doubling_until_negative(x, n):
    k = n
    while k > 0:
        k = k * 2          # compiled: an int64 overflow; Python's int never overflows
    return x * 2.0


def inner(y):
    return math.log(y) * y


d_inner = grad(inner)


def outer(x):
    return d_inner(x - 1.0) * x


def wrong_shapes(w, x):
    return np.sum(w * x)


def reciprocal_plus(x):
    return 1.0 / x + x


def stepped(x, k):
    return np.sum(x * np.arange(0, 5, k))


def index_from_float(x, a):
    k = int(a * 31.0)
    return x[4 - 2 * k] * a * x[0]


def over_k_less_2(x, k):
    return x * x / (k - 2)
'''


def _rerun_module(directory, name):
    import importlib.util
    path = directory / f"{name}.py"
    path.write_text(_RERUN_SOURCE)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, str(path)


def test_finding_where_python_raises_never_runs_on_unbounded(tmp_path):
    """To name the line, a failed call runs the function again in Python.  Where the compiled code's ints
    overflowed, Python's may run on for ever (review of e1c91fb: the call hung): the rerun is timed, and
    the 64-bit explanation stands."""
    import time
    from autodiff_compiler import failures
    module, _ = _rerun_module(tmp_path, "rerun_doubling")
    g = grad(module.doubling_until_negative)
    assert g(1.5, -1) == 2.0
    start = time.perf_counter()
    with pytest.raises(ArgumentError, match="beyond the 64 bits"):
        g(1.5, 1)
    assert time.perf_counter() - start < failures.RERUN_SECONDS + 30     # the compile included


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_a_derivative_objects_error_inside_the_function_is_passed_on_as_it_is(tmp_path, jit):
    """A gradient object called inside the differentiated function raises its own located error: the
    outer one passes it on (it named a line of the compiler's api.py, with the inner message nested)."""
    module, path = _rerun_module(tmp_path, f"rerun_nested_{jit}")
    with pytest.raises(ArgumentError, match="math domain error") as raised:
        grad(module.outer, jit=jit)(1.0)
    assert raised.value.filename == path and raised.value.line == _RERUN_SOURCE.splitlines().index(
        "    return math.log(y) * y") + 1, str(raised.value)
    assert "api.py" not in str(raised.value)


@pytest.mark.parametrize("folder", ["site-packages", "numpy"])
def test_the_users_line_is_found_in_any_folder(tmp_path, folder):
    """Frames are the user's unless they are NumPy's or the compiler's own files: a project under a
    folder named site-packages or numpy is still located (review of e1c91fb)."""
    directory = tmp_path / folder / "project"
    directory.mkdir(parents=True)
    module, path = _rerun_module(directory, f"rerun_{folder.replace('-', '_')}")
    for jit in (True, False):
        with pytest.raises(ArgumentError, match="could not be broadcast") as raised:
            grad(module.wrong_shapes, jit=jit)(np.ones(3), np.ones((2, 3, 2)))
        assert raised.value.filename == path and \
            raised.value.line == _RERUN_SOURCE.splitlines().index("    return np.sum(w * x)") + 1, \
            str(raised.value)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_the_function_is_run_again_on_the_callers_numbers_then_on_the_derivatives(tmp_path, jit):
    """To say where Python raises, the function runs again on what the caller gave, and where that runs
    to the end, on the arguments as the derivative took them: 1 / np.float64(0.0) is inf, 1 / 0.0
    raises (a Hessian said "Python raises it here too" of the float64); np.float32(2/31) * 31 rounds to
    another int than in float64, and the index out of range is the float64's (derivative objects gave
    "a bug in autodiff_compiler")."""
    from autodiff_compiler import hessian, jvp
    module, path = _rerun_module(tmp_path, f"rerun_numpy_float_{jit}")
    lines = _RERUN_SOURCE.splitlines()
    reciprocal = lines.index("    return 1.0 / x + x") + 1
    indexed = lines.index("    return x[4 - 2 * k] * a * x[0]") + 1
    as_taken = "Python raises it here on them as the derivative takes them"
    for make in (grad, hessian, jvp, jacobian):
        call = (lambda f, *a: make(f, jit=jit)(*a, tangents=(1.0,))) if make is jvp else \
            (lambda f, *a: make(f, jit=jit)(*a))
        for x, said in ((np.float64(0.0), as_taken), (0.0, "Python raises it here too")):
            with pytest.raises(ArgumentError, match="division by zero") as raised:
                call(module.reciprocal_plus, x)
            assert said in str(raised.value), (make.__name__, x, str(raised.value))
            assert (raised.value.filename, raised.value.line) == (path, reciprocal), (make.__name__, str(raised.value))
        if make is not jvp:
            with pytest.raises(ArgumentError, match="out of bounds") as raised:
                call(module.index_from_float, np.array([1.0, 2.0]), np.float32(2 / 31))
            assert as_taken in str(raised.value), (make.__name__, str(raised.value))
            assert (raised.value.filename, raised.value.line) == (path, indexed), (make.__name__, str(raised.value))


def test_an_earlier_calls_numbers_are_never_taken_for_this_ones(tmp_path):
    """The caller's own values are matched to the converted ones by identity: a small int is one object
    in Python, so an earlier call's np.int64(2) was taken for this call's 2 (and Python's line was not
    named)."""
    module, path = _rerun_module(tmp_path, "rerun_stale_ints")
    line = _RERUN_SOURCE.splitlines().index("    return x * x / (k - 2)") + 1
    d = jacobian(module.over_k_less_2)
    x = 1.5
    with pytest.raises(ArgumentError, match="on them as the derivative takes them"):
        d(x, np.int64(2))
    with pytest.raises(ArgumentError, match="Python raises it here too") as raised:
        d(x, 2)
    assert (raised.value.filename, raised.value.line) == (path, line), str(raised.value)


def test_where_python_raises_an_error_of_a_value_its_words_are_given(tmp_path):
    """np.arange with a step of 0: Numba says "Maximum allowed size exceeded", NumPy raises a
    ZeroDivisionError; the caller hears NumPy's words at that line, and no hint about shapes."""
    module, path = _rerun_module(tmp_path, "rerun_arange_step")
    line = _RERUN_SOURCE.splitlines().index("    return np.sum(x * np.arange(0, 5, k))") + 1
    for jit in (True, False):
        with pytest.raises(ArgumentError, match="division by zero at these arguments .Python raises it here too") \
                as raised:
            grad(module.stepped, jit=jit)(np.ones(5), 0)
        assert (raised.value.filename, raised.value.line) == (path, line), str(raised.value)
        assert "shape" not in str(raised.value) and "size" not in str(raised.value), str(raised.value)


# the function runs there, the derivative of one of its lines does not exist: (function, point, the
# function holding that line, the line)
NO_DERIVATIVE_AT = [
    (E.root_at_zero, (0.0,), E.root_at_zero, "return math.sqrt(x) + x"),
    (E.arccos_of_a_product, (1.0,), E.arccos_of_a_product, "return math.acos(y)"),
    (E.root_in_the_middle, (0.0,), E.root_in_the_middle, "b = math.sqrt(x)"),
    (E.root_through_a_helper, (1.0,), E._root_of, "return math.sqrt(y)"),
]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("func, point, holder, snippet", NO_DERIVATIVE_AT, ids=lambda v: getattr(v, "__name__", ""))
def test_a_line_without_a_derivative_at_the_point_is_named(func, point, holder, snippet, jit, simplify):
    """The function runs to a finite value, but one line's derivative is infinite there (sqrt at 0, acos at
    1): the error named no line ("f: float division by zero at these arguments").  It names the line whose
    block of the reverse sweep raised, on every call (the first runs the full path, later ones the
    signature's entry), for grad and value_and_grad; at a point near by, the gradient is the function's."""
    line, = lines_of(holder, snippet)
    for make in (grad, value_and_grad):
        g = make(func, jit=jit, simplify=simplify)
        for _ in range(3):
            with pytest.raises(ArgumentError, match="the derivative of .* is undefined at these arguments") as raised:
                g(*point)
            err = raised.value
            assert os.path.basename(err.filename) == CORPUS_FILE, str(err)
            assert "another point" in err.hint
            if "SymPy simplified together" in str(err):
                # a block the symbolic pass made of several lines: each is named, none claimed (helper-74:
                # naming the last named a line with a derivative everywhere)
                assert err.line is None and err.source_line is None and f"line {line}" in str(err), str(err)
                assert simplify, str(err)
            else:
                assert (err.line, err.source_line) == (line, snippet), str(err)
        near = tuple(p + 0.25 for p in point) if func is not E.arccos_of_a_product else (0.75,)
        got = g(*near)
        got = got[1] if make is value_and_grad else got
        step = 1e-6
        numeric = (func(near[0] + step) - func(near[0] - step)) / (2 * step)
        assert got == pytest.approx(numeric, rel=1e-6), (func.__name__, got, numeric)
