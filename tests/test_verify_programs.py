"""verify covers every program the compiler emits: every primitive of the rule table runs in the
symbolic executor (or is reported unsupported by name), every construct of the gradient code
verifies (tapes that grow or are preallocated, stores, slices, fused loops and their guards,
loops fused into one pass, zero-trip loops), every array corpus function verifies at sizes that
need small instances, and programs made wrong in the ways the compiler could make them wrong
(a tape popped empty or overrun, a printed module that differs from its IR) fail."""
import inspect
import re

import numpy as np
import pytest
import sympy

import corpus_arrays as A
import corpus_verify_arrays as K

from autodiff_compiler import ir
from autodiff_compiler.api import type_of_argument
from autodiff_compiler.ir import Const, Push, TapeAlloc
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.pipeline import derive
from autodiff_compiler.rules import PRIMITIVES
from autodiff_compiler.verify import verify_gradient
from autodiff_compiler.verify.limits import ProgramError, Undefined, Unsupported
from autodiff_compiler.verify.symbolic import SV, apply, apply_numeric


def state_for(fn, args, wrt=None, with_value=False):
    source = source_of_function(fn)
    params = [a.arg for a in source.node.args.args]
    types = {p: type_of_argument(a, p, fn.__name__) for p, a in zip(params, args)}
    if wrt is None:
        wrt = [p for p, a in zip(params, args) if isinstance(a, float) or
               (isinstance(a, np.ndarray) and a.dtype.kind == "f")]
    return derive(source, types, list(wrt), with_value=with_value)


# ------------------------------------------------------------------ every primitive

VEC = np.array([0.3, 0.7, 0.5])
MAT = np.array([[0.3, 0.7, 0.5], [0.2, 0.9, 0.4]])
# operands per primitive where the generic choice (by arity) does not fit
OPERANDS = {
    "shape": [("V", {"axis": 0})], "range_length": [(3, 7, 2)],
    "zeros": [(3,)], "ones": [(3,)], "empty": [(3,)], "zeros2": [(2, 3)], "ones2": [(2, 3)], "empty2": [(2, 3)],
    "zeros_like": [("V",)], "ones_like": [("V",)], "empty_like": [("V",)],
    "sum_like1": [("V", "V1")], "sum_like2": [("M", "R")], "expand_like": [(0.5, "V")],
    "dot": [("V", "V"), ("M", "V"), ("V", "MT"), ("M", "MT")], "outer": [("V", "V")], "transpose": [("M",)],
    "where": [("B", "V", "V")], "clip": [(0.4, 0.2, 0.6), ("V", 0.4, 0.6)], "indicator": [(True,), ("B",)],
    "not": [(True,), ("B",)], "first_row": [("M",)], "first_column": [("M",)], "as_column": [("V",)],
    "as_row": [("V",)], "int": [(2.7,)], "index": [(7,)], "float": [(2,)], "floordiv": [(7.5, 2.0)],
    "mod": [(7.5, 2.0), ("V", 0.4)], "array_copy": [("V",)], "np_sum": [("V",)],
    "acos": [(0.3,), ("V",)], "asin": [(0.3,), ("V",)], "atanh": [(0.3,)], "erf": [(0.3,)], "erfc": [(0.3,)],
    "shape0": [("V",)], "shape1": [("M",)], "size": [("M",)],
    "sum_axis0": [("M",)], "sum_axis1": [("M",)], "mean_axis0": [("M",)], "mean_axis1": [("M",)],
    "amax_axis0": [("M",)], "amax_axis1": [("M",)], "amin_axis0": [("M",)], "amin_axis1": [("M",)],
    "slice_offset": [("V", 1)], "prod_others": [("V",)],
    "acosh": [(1.4,), ("VB",)], "polygamma": [(1, 0.4), (0, "V")], "arange": [(3,), (1, 7, 2)],
    "linspace_unit": [(4,)], "eye": [(3,)], "to_int": [("V",), (2.5,)], "assert_true": [(True,)],
    "slogdet_sign": [((3, 3),)], "diag_embed": [("V", (3, 3), {"offset": 0})], "unsort": [("V", "V")],
}


def _operand(tag, k):
    def symbols(name, values):
        exprs = np.empty(values.shape, dtype=object)
        for index in np.ndindex(*values.shape):
            exprs[index] = sympy.Symbol(f"{name}{k}_{'_'.join(map(str, index))}", real=True)
        return SV(exprs, values.astype(float))
    arrays = {"V": VEC, "V1": np.array([0.4]), "M": MAT, "MT": MAT.T, "R": np.array([[0.4, 0.5, 0.6]]),
              "VB": VEC + 1.0}
    if isinstance(tag, tuple):      # a shape (the rule table's examples): entries 0.3, 0.4, ...
        values = 0.3 + 0.1 * np.arange(int(np.prod(tag))).reshape(tag)
        if len(tag) == 2 and tag[0] == tag[1]:
            values = values + 2.0 * np.eye(tag[0])
        return symbols(f"e{len(tag)}", values)
    if tag in arrays:
        return symbols(tag.lower(), arrays[tag])
    if tag == "B":
        flags = np.array([True, False, True])
        return SV(np.array([sympy.Integer(int(f)) for f in flags], dtype=object), flags)
    if isinstance(tag, (bool, int)):
        return SV(sympy.Integer(int(tag)), tag)
    return SV(sympy.Symbol(f"s{k}", real=True), tag)


def _cases(name):
    prim = PRIMITIVES[name]
    if name in OPERANDS:
        return OPERANDS[name]
    if prim.examples:
        return list(prim.examples)
    if prim.result == "reduce":
        return [("V",), ("M",)]
    return {1: [(0.4,), ("V",)], 2: [(0.4, 1.3), ("V", 0.5), ("V", "V")],
            3: [(0.4, 0.5, 0.6)]}.get(prim.arity, [tuple(0.5 for _ in range(prim.arity))])


def _numbers(value):
    return np.asarray(value, dtype=float)


@pytest.mark.parametrize("name", sorted(n for n in PRIMITIVES if PRIMITIVES[n].result != "subscript"))
def test_every_primitive_runs_symbolically(name):
    """Its number is the generated code's number (the printer's spelling evaluated on numbers), its
    expression evaluates to that number; or it is unsupported, and the message names it."""
    for case in _cases(name):
        params = ()
        if case and isinstance(case[-1], dict):
            params, case = tuple(case[-1].items()), case[:-1]
        args = [_operand(tag, k) for k, tag in enumerate(case)]
        try:
            out = apply(name, args, params)
        except Unsupported as exc:
            assert name in str(exc), f"unsupported without naming the primitive: {exc}"
            continue
        expected = apply_numeric(name, [a.num for a in args], params)
        if name.startswith("empty"):
            assert _numbers(out.num).shape == _numbers(expected).shape
            continue
        np.testing.assert_allclose(_numbers(out.num), _numbers(expected), rtol=1e-12, err_msg=f"{name}{case}")
        point = {}
        for a in args:
            if isinstance(a.expr, np.ndarray):
                point.update({e: float(v) for e, v in zip(a.expr.flat, np.ravel(a.num)) if isinstance(e, sympy.Symbol)})
            elif isinstance(a.expr, sympy.Symbol):
                point[a.expr] = float(a.num)
        exprs = out.expr if isinstance(out.expr, np.ndarray) else np.array([out.expr], dtype=object)
        values = [float(sympy.sympify(e).xreplace({s: sympy.Float(v, 30) for s, v in point.items()}))
                  for e in exprs.flat]
        np.testing.assert_allclose(values, np.ravel(_numbers(out.num)), rtol=1e-9, err_msg=f"{name}{case}")


def test_a_primitive_without_a_symbolic_form_is_named(monkeypatch):
    from autodiff_compiler.rules import Primitive
    monkeypatch.setitem(PRIMITIVES, "mystery_array", Primitive("mystery_array", 1, ("1",), array="np.mystery"))
    with pytest.raises(Unsupported, match="mystery_array"):
        apply("mystery_array", [_operand("V", 0)])
    with pytest.raises(Unsupported, match="no_such_primitive"):
        apply("no_such_primitive", [_operand(0.5, 0)])


# ------------------------------------------------------------------ every construct

CONSTRUCTS = [
    (K.while_tape, (0.5,), None),                       # a growable tape, a recorded trip count
    (K.break_tape, (0.3, 6), ["x"]),                    # a loop that breaks: trips recorded
    (K.slices_and_stores, (np.linspace(0.1, 0.9, 7),), None),    # slices, x[i] = and x[i] +=
    (K.sum_over_data, (0.7, np.linspace(0, 1, 40), np.linspace(1, 2, 40)), ["w"]),   # one-pass loop pair
    (K.broadcast_pair, (np.linspace(0.1, 1, 30), np.linspace(1, 2, 30)), None),      # fused loop + guard
    (K.matrix_rows, (np.linspace(0, 1, 20).reshape(4, 5), np.linspace(1, 2, 5)), None),   # row reads
    (K.branches_in_loop, (0.8, 7), ["x"]),              # recorded branch outcomes
    (K.kinks_array, (np.linspace(-1, 1, 9),), None),    # max, abs, clip on arrays
    (K.power_loop, (1.1, 5), ["x"]),                    # preallocated tape of a counted loop
    (K.cubes_to_n, (np.linspace(0.1, 2.0, 30), 30), None),
]


@pytest.mark.parametrize("with_value", [False, True], ids=["grad", "value_and_grad"])
@pytest.mark.parametrize("fn,args,wrt", CONSTRUCTS, ids=[c[0].__name__ for c in CONSTRUCTS])
def test_every_construct_verifies(fn, args, wrt, with_value):
    state = state_for(fn, args, wrt, with_value=with_value)
    report = verify_gradient(state, args, fn)
    assert report.ok, str(report)
    for r in [report] + report.instances:
        assert r.entries and all(e.method in ("exact", "numeric") for e in r.entries)
        assert "equals" in r.primal_check
        assert r.module_check and r.module_ok


def _corpus_args(fn):
    """Arguments for a corpus_arrays function at sizes that need small instances (n = 40)."""
    rng = np.random.default_rng(7)
    n, m = 40, 6
    shapes = {"x": (n,), "y": (n,), "z": (n,), "v": (m,), "u": (n,), "w": (m,), "h0": (m,), "b": (m,),
              "b1": (m,), "w2": (m,), "A": (n, m), "B": (n, m), "W": (m, m), "U": (m, m), "W1": (m, m),
              "xs": (5, m), "c": (n, 1)}
    special = {
        "linreg": (0.3, 0.2, rng.normal(size=n), rng.normal(size=n)),
        "logreg": (0.3, 0.2, rng.normal(size=n), (rng.random(n) > 0.5).astype(float)),
        "mse_vectorised": (0.3, 0.2, rng.normal(size=n), rng.normal(size=n)),
        "softmax_xent": (rng.normal(size=n), 3),
        "mlp": (rng.normal(size=(m, m)), rng.normal(size=m), rng.normal(size=m), rng.normal(size=m)),
        "least_squares": (rng.normal(size=(n, m)), rng.normal(size=m), rng.normal(size=n)),
        "bcast_row": (rng.normal(size=(n, m)), rng.normal(size=m)),
        "bcast_col": (rng.normal(size=(n, m)), rng.normal(size=(n, 1))),
        "transpose_use": (rng.normal(size=(n, m)), rng.normal(size=n)),
        "outer_use": (rng.normal(size=n), rng.normal(size=m)),
        "read_index": (rng.normal(size=n), 5),
        "read_2d": (rng.normal(size=(n, m)), 4, 2),
        "int_data": (rng.normal(size=n), np.arange(n)),
        "int_products": (rng.normal(size=n), np.array([1, -2, 1]), np.array([[3, 1, 4], [1, 5, 9]])),
        "made_with_dtypes": (rng.normal(size=n), 7),
        "writes_param": None,
        "helper_writes_a_copy": (rng.normal(size=n), 0.4),
        "helper_writes_the_parameter": None,
        "alias_written_after_a_copy": None,
        "copies_into_the_same_name": None,
        "max_rows_weighted": (rng.normal(size=(n, m)), rng.normal(size=(n, 1))),
        "min_over_axes": (rng.normal(size=(n, 3, m)),),
        "max_columns_squared": (rng.normal(size=(n, m)),),
        "written_diagonal": None,
        "written_view_of_the_diagonal": None,
        "written_copy_of_the_diagonal": (rng.normal(size=(m, m)),),
        "reassigned_view_then_written": None,
    }
    name = fn.__name__
    if name in special:
        return special[name]
    if name.startswith("shared_") and not name.endswith("_result_only"):
        return None                     # refused: a write through NumPy's shared result, then a read
    if name.startswith("shared_rot90"):
        return (rng.normal(size=(n, m)),)
    params = list(inspect.signature(fn).parameters)
    return tuple(rng.normal(size=shapes[p]) if p in shapes else 0.4 for p in params)


# helpers (`_name`) are called, not derived; the functions the compiler refuses (a write the caller or a
# later read would see: `_corpus_args` gives None) are test_arrays.py's
CORPUS = [f for name, f in inspect.getmembers(A, inspect.isfunction)
          if f.__module__ == A.__name__ and not name.startswith("_") and _corpus_args(f) is not None]


@pytest.mark.parametrize("fn", CORPUS, ids=[f.__name__ for f in CORPUS])
def test_every_array_corpus_function_verifies(fn):
    args = _corpus_args(fn)
    state = state_for(fn, args)
    report = verify_gradient(state, args, fn)
    assert report.ok, str(report)
    assert report.call_args is not None          # the call was too large: proved on small instances


# ------------------------------------------------------------------ wrong programs fail

def test_a_tape_popped_empty_fails():
    state = state_for(K.while_tape, (0.5,))
    pushes = [s for s in ir.walk(state.adjoint.body) if isinstance(s, Push)]
    assert pushes

    def drop(block):
        for i, stmt in enumerate(block):
            if stmt is pushes[0]:
                del block[i]
                return True
            if any(drop(child) for child in ir.child_blocks(stmt)):
                return True
        return False
    assert drop(state.adjoint.body)
    report = verify_gradient(state, (0.5,), K.while_tape)
    assert not report.ok and report.unsupported is None
    assert "pops the empty tape" in str(report) and "VERIFICATION FAILED" in str(report)


def test_a_preallocated_tape_overrun_fails():
    state = state_for(K.power_loop, (1.1, 5), ["x"])
    allocs = [s for s in ir.walk(state.adjoint.body) if isinstance(s, TapeAlloc) and not s.growable]
    if not allocs:
        pytest.skip("this gradient keeps no preallocated tape")
    allocs[0].capacity = Const(1)
    report = verify_gradient(state, (1.1, 5), K.power_loop)
    assert not report.ok
    assert "pushes past the end of the tape" in str(report)


def test_a_printed_module_that_differs_from_its_program_fails():
    x = np.linspace(-1.0, 1.5, 50)
    state = state_for(K.rosenbrock, (x,))
    assert verify_gradient(state, (x,), K.rosenbrock).ok
    # a printer bug, the IR untouched: the first accumulation into x_bar gets a factor 1.5
    lines = state.text.splitlines()
    k = next(k for k, line in enumerate(lines) if re.match(r"\s+x_bar\[.*\] \+= ", line))
    target, value = lines[k].split(" += ", 1)
    lines[k] = f"{target} += 1.5 * ({value})"
    state.text = "\n".join(lines) + "\n"
    report = verify_gradient(state, (x,), K.rosenbrock)
    assert not report.ok
    text = str(report)
    assert "VERIFICATION FAILED" in text and "module: MISMATCH" in text
    assert all(e.ok for e in report.entries)                   # the IR program itself still proves


def test_a_program_error_names_the_statement():
    args = (0.7, np.linspace(0, 1, 40), np.linspace(1, 2, 40))
    state = state_for(K.sum_over_data, args, ["w"])
    assert verify_gradient(state, args, K.sum_over_data).ok
    # make the gradient program read a name nobody assigns
    for stmt in ir.walk(state.adjoint.body):
        if isinstance(stmt, ir.Assign) and stmt.args and isinstance(stmt.args[0], ir.Var):
            stmt.args = (ir.Var("never_assigned"),) + tuple(stmt.args[1:])
            break
    report = verify_gradient(state, args, K.sum_over_data)
    assert not report.ok and report.unsupported is None
    text = str(report)
    assert "VERIFICATION FAILED" in text
    assert "the gradient program reads 'never_assigned' before it is assigned on the path taken (line" in text


def test_undefined_where_the_function_is_undefined_is_an_argument_error():
    from autodiff_compiler.errors import ArgumentError
    x = np.array([-1.0, 0.5])

    def log_sum(x):
        return np.sum(np.log(x))
    report = verify_gradient(state_for(log_sum, (x,)), (x,), log_sum)
    assert report.undefined is not None
    with pytest.raises(ArgumentError):
        report.raise_if_failed()


def test_numeric_and_symbolic_runs_agree_on_errors():
    with pytest.raises(Undefined):
        apply("log", [_operand(-1.0, 0)])
    with pytest.raises(Undefined):
        apply_numeric("log", [-1.0])
    with pytest.raises((ProgramError, Undefined)):
        apply_numeric("dot", [VEC, MAT])


# ------------------------------------------------------------------ intermediates= and known compiler bugs

def test_intermediate_gradients_are_verified():
    from autodiff_compiler import grad, value_and_grad
    import math
    dx, inter = grad(K.with_intermediate, intermediates=("y",), verify=True, jit=False)(0.7)
    assert dx == pytest.approx(2 * 0.7 * (math.cos(0.49) + 1), rel=1e-12)
    assert inter["y"] == pytest.approx(math.cos(0.49) + 1, rel=1e-12)
    value_and_grad(K.with_intermediate, intermediates=("y",), verify=True, jit=False)(0.7)

    source = source_of_function(K.with_intermediate)
    state = derive(source, {"x": type_of_argument(0.7, "x", "f")}, ["x"], with_value=False, intermediates=("y",))
    report = verify_gradient(state, (0.7,), K.with_intermediate)
    assert report.ok and [e.name for e in report.entries] == ["x", "y (intermediate)"]
    # a wrong captured gradient fails
    for stmt in ir.walk(state.adjoint.body):
        if isinstance(stmt, ir.Assign) and stmt.target.startswith("y_grad"):
            stmt.prim, stmt.args = "mul", (stmt.args[0], Const(2.0))
            break
    else:
        raise AssertionError("no capture of y's gradient")
    report = verify_gradient(state, (0.7,), K.with_intermediate)
    assert not report.ok and not report.by_name["y (intermediate)"].ok


def test_a_scaled_loop_then_square_verifies():
    from autodiff_compiler import grad
    assert grad(K.scaled_square, verify=True, jit=False)(0.3, 4) == pytest.approx(2 * 1.1 ** 8 * 0.3, rel=1e-12)


def test_an_array_intermediate_in_a_fused_chain_verifies():
    from autodiff_compiler import grad
    grad(K.array_intermediate, wrt=("x", "w"), intermediates=("h",), verify=True, jit=False)(
        np.array([0.1, 0.2, 0.3]), 0.5)


def test_verification_fails_on_the_scaled_loop_bug_with_the_numbers():
    """Whatever the compiler does with it, verification's verdict matches finite differences."""
    from autodiff_compiler import grad
    args = (0.3, 4)
    report = verify_gradient(state_for(K.scaled_square, args, ["x"]), args, K.scaled_square)
    h = 1e-6
    fd = (K.scaled_square(0.3 + h, 4) - K.scaled_square(0.3 - h, 4)) / (2 * h)
    right = grad(K.scaled_square, jit=False)(*args) == pytest.approx(fd, rel=1e-7)
    assert report.ok == right, str(report)


def test_a_zero_trip_row_loop_verifies_without_the_simplifier():
    args = (np.linspace(0, 1, 20).reshape(4, 5), np.linspace(1, 2, 5))
    source = source_of_function(K.matrix_rows)
    types = {p: type_of_argument(a, p, "f") for p, a in zip(("A", "v"), args)}
    state = derive(source, types, ["A", "v"], with_value=False, simplify=False)
    report = verify_gradient(state, args, K.matrix_rows)
    assert report.ok, str(report)


@pytest.mark.parametrize("with_value", [False, True], ids=["grad", "value_and_grad"])
def test_ties_in_max_and_min_verify(with_value):
    """np.max/np.min split a tie evenly among the tied entries (the rule table's adjoint): the
    verifier's own max and min, in the IR run and in the printed module, do the same."""
    cases = [(A.max_of, (np.array([1.0, 3.0, 3.0]),)),
             (K.extrema_axes, (np.array([[1.0, 2.0, 2.0], [1.0, 0.5, 2.0]]),))]
    for fn, args in cases:
        report = verify_gradient(state_for(fn, args, with_value=with_value), args, fn)
        assert report.ok, str(report)


def test_a_subscript_like_primitive_reads_a_copy(monkeypatch):
    """A primitive whose result is a subscript (`subscript_copy`, say) is read as one, and one
    spelled with `.copy()` gives a copy: a later store into the array does not change it."""
    from autodiff_compiler.rules import Primitive
    monkeypatch.setitem(PRIMITIVES, "subscript_copy_test",
                        Primitive("subscript_copy_test", 1, vjp=("scatter",), scalar="{0}[{rest}]",
                                  array="{0}[{rest}].copy()", result="subscript"))
    state = state_for(K.slices_and_stores, (np.linspace(0.1, 0.9, 7),))
    count = 0
    for stmt in ir.walk(state.primal.body):
        if isinstance(stmt, ir.Assign) and stmt.prim == "subscript":
            stmt.prim = "subscript_copy_test"
            count += 1
    assert count
    state.text = ""          # the printed module knows nothing of the test primitive
    report = verify_gradient(state, (np.linspace(0.1, 0.9, 7),), K.slices_and_stores)
    assert report.ok, str(report)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_a_tape_of_arrays_of_several_lengths_verifies(jit):
    """A tape of arrays is a list whose items keep their own shapes: the window a[t:t + 2] is 2 long, then 1
    at the end of a 3-array.  The verifier called that program wrong ("pushes arrays of shapes (2,) and
    (1,)": helper-72), on the caller's instance and on the small ones it makes of longer arrays."""
    from autodiff_compiler import grad
    for n in (3, 4, 6):
        x = np.random.default_rng(n).normal(size=n)
        report = verify_gradient(state_for(K.sliding_window, (x,)), (x,), K.sliding_window)
        assert report.ok, str(report)
        got = grad(K.sliding_window, jit=jit, verify=True)(x)
        step = 1e-6
        numeric = [(K.sliding_window(x + step * e) - K.sliding_window(x - step * e)) / (2 * step) for e in np.eye(n)]
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-9)
