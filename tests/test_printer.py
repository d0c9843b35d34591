"""backend/printer: the printed module computes what the IR says.

The printer folds temporaries used once back into the expression that uses
them and prints `x = x + e` as `x += e`.  Both rewrite text, so both must keep
the meaning: random straight-line IR blocks over a few names (temporaries,
their adjoints, parameters), redefining names and reading a name in the
statement that reassigns it, are printed, run, and compared with the IR
evaluated statement by statement.  (Found by `x ** 0 + x` with the simplifier
off: `t1_bar = 0.0` was folded into `t1_bar = t1_bar + t2`, which then printed
as `t1_bar += t2`, a read of a name never assigned.)
"""
import math
import random

import numpy as np
import pytest

from autodiff_compiler import AutodiffError, grad, ir
from autodiff_compiler.backend.printer import print_module
from autodiff_compiler.ir.nodes import FLOAT, Assign, Const, Var
from autodiff_compiler.rules import PRIMITIVES

PARAMS = ["x", "y"]
NAMES = ["t1", "t2", "t1_bar", "t3_bar", "s"]          # temporaries, adjoints, a user name
BINARY = ["add", "sub", "mul"]


def _random_function(rng: random.Random) -> ir.Function:
    defined = list(PARAMS)
    body = []
    for _ in range(rng.randint(2, 9)):
        target = rng.choice(NAMES)
        if rng.random() < 0.25:
            args = (Const(rng.choice([0.0, 1.0, 2.5])),)
            prim = "copy"
        elif rng.random() < 0.15:
            args = (Var(rng.choice(defined)),)
            prim = rng.choice(["copy", "neg"])
        else:
            prim = rng.choice(BINARY)
            # reading the target itself is the case that went wrong: make it common
            first = Var(target) if target in defined and rng.random() < 0.6 else Var(rng.choice(defined))
            second = Var(rng.choice(defined)) if rng.random() < 0.8 else Const(rng.choice([0.0, 3.0]))
            args = (first, second)
        body.append(Assign(target, prim, args))
        if target not in defined:
            defined.append(target)
    # return some of the names only: a name read once and then reassigned is what the printer folds
    locals_ = sorted(set(defined) - set(PARAMS))
    results = tuple(Var(n) for n in rng.sample(locals_, rng.randint(0, len(locals_)))) or (Var("x"),)
    types = {name: FLOAT for name in defined}
    return ir.Function("f", list(PARAMS), types, body, None, returns=results)


def _evaluate(function: ir.Function, env: dict) -> tuple:
    env = dict(env)
    for stmt in function.body:
        values = [a.value if isinstance(a, Const) else env[a.name] for a in stmt.args]
        env[stmt.target] = values[0] if stmt.prim == "copy" else PRIMITIVES[stmt.prim].evaluate(*values)
    return tuple(env[r.name] for r in function.returns)


@pytest.mark.parametrize("seed", range(120))
def test_printed_straight_line_code_computes_the_ir(seed):
    rng = random.Random(seed)
    function = _random_function(rng)
    text = print_module(function, "printer test\n")
    namespace: dict = {}
    exec(compile(text, f"<printed {seed}>", "exec"), namespace)
    for x, y in [(0.5, -1.25), (2.0, 3.0), (-0.75, 0.0)]:
        expected = _evaluate(function, {"x": x, "y": y})
        got = namespace["f"](x, y)
        got = got if isinstance(got, tuple) else (got,)
        assert got == pytest.approx(expected, rel=1e-15, abs=0), f"{function}\n---\n{text}"


def test_a_definition_is_not_folded_into_the_statement_that_reassigns_its_name():
    body = [Assign("t1_bar", "copy", (Const(0.0),)), Assign("t1_bar", "add", (Var("t1_bar"), Var("x"))),
            Assign("s", "mul", (Var("x"), Var("y")))]
    function = ir.Function("f", ["x", "y"], {"x": FLOAT, "y": FLOAT, "t1_bar": FLOAT, "s": FLOAT}, body, None,
                           returns=(Var("s"),))
    text = print_module(function, "printer test\n")
    assert "t1_bar = 0.0" in text, text
    namespace: dict = {}
    exec(text, namespace)
    assert namespace["f"](4.0, 1.5) == 6.0


def _branches(rng: random.Random, depth: int) -> list:
    """A block of `If`s nested up to `depth`, where any branch may be empty or hold only another such
    `If` (blocks that print nothing, as `if a < b <= c: pass` lowers unsimplified), and some assign."""
    block = []
    for _ in range(rng.randint(1, 2)):
        choice = rng.random()
        if choice < 0.3:
            block.append(Assign("s", "add", (Var("s"), Var("x"))))
        cond = rng.choice(["x", "y"])
        test = f"c{rng.randint(0, 99)}"
        block.append(Assign(test, "gt", (Var(cond), Const(0.0))))
        body = _branches(rng, depth - 1) if depth and rng.random() < 0.5 else \
            ([Assign("s", "mul", (Var("s"), Const(2.0)))] if rng.random() < 0.4 else [])
        orelse = _branches(rng, depth - 1) if depth and rng.random() < 0.5 else \
            ([Assign("s", "sub", (Var("s"), Var("y")))] if rng.random() < 0.4 else [])
        for branch in (body, orelse):
            if rng.random() < 0.4:           # a section comment whose statements were simplified away
                branch.insert(rng.randint(0, len(branch)), ir.Comment(rng.choice(["reverse sweep", "line 3: x"])))
        block.append(ir.If(Var(test), body, orelse))
    return block


def _run_block(block: list, env: dict) -> None:
    for stmt in block:
        if isinstance(stmt, ir.Comment):
            continue
        if isinstance(stmt, ir.If):
            _run_block(stmt.body if env[stmt.cond.name] else stmt.orelse, env)
        else:
            values = [a.value if isinstance(a, Const) else env[a.name] for a in stmt.args]
            env[stmt.target] = PRIMITIVES[stmt.prim].evaluate(*values)


@pytest.mark.parametrize("seed", range(60))
def test_branches_whose_blocks_print_nothing_still_parse_and_compute_the_ir(seed):
    """Found by the fuzzer (seed 9200): `if 1.0 < y <= 1.5: pass` inside a loop, simplifier off, printed
    `if not cond_:` with no body, a SyntaxError in the generated module; and (seed 9700, control-9700-2371)
    an `else:` holding only the comment `# reverse sweep`, its statements simplified away.  Every mix of
    empty branches, branches holding only empty `If`s or comments, and branches that assign."""
    rng = random.Random(seed)
    body = [Assign("s", "copy", (Const(1.0),))] + _branches(rng, 2)
    names = {s.target for s in ir.walk(body) if isinstance(s, Assign)}
    types = {name: FLOAT for name in names | {"x", "y"}}
    function = ir.Function("f", ["x", "y"], types, body, None, returns=(Var("s"),))
    text = print_module(function, "printer test\n")
    namespace: dict = {}
    exec(compile(text, f"<printed {seed}>", "exec"), namespace)
    for x, y in [(0.5, -1.25), (-2.0, 3.0), (0.75, 0.5), (-0.5, -0.5)]:
        env = {"x": x, "y": y}
        _run_block(body, env)
        assert namespace["f"](x, y) == pytest.approx(env["s"], rel=1e-15), f"{function}\n---\n{text}"


def test_a_loop_whose_body_is_only_comments_still_parses():
    """A loop (or branch) whose statements were all simplified away, leaving its source-line comments."""
    body = [Assign("s", "copy", (Const(1.0),)),
            ir.For("i", Const(0), Const(3), Const(1), [ir.Comment("line 5: t = x * i")]),
            ir.If(Var("x"), [ir.Comment("reverse sweep")], [ir.Comment("line 7: s = 2.0")]),
            Assign("s", "add", (Var("s"), Var("x")))]
    function = ir.Function("f", ["x"], {"x": FLOAT, "s": FLOAT}, body, None, returns=(Var("s"),))
    text = print_module(function, "printer test\n")
    namespace: dict = {}
    exec(compile(text, "<printed>", "exec"), namespace)
    assert namespace["f"](2.5) == 3.5 and "else:" not in text, text


def test_statements_kept_for_their_error_say_so():
    """A read with an integer index, a store and a division the user wrote that nothing reads are kept
    (`error_effect`) and say why, in the plain and the compiled module; a read that is used says nothing."""
    import numpy as np
    import corpus_soundness as S
    from autodiff_compiler import grad
    from autodiff_compiler.backend.printer import KEPT_NOTE
    x = np.array([0.5, -0.4, 1.1, 0.2])
    for fn, args, kept in ((S.bounds_dead_local, (x, 1), "= x[k]"), (S.bounds_dead_store, (x, 1), "z[k] = 1.0"),
                           (S.zerodiv_dead_issue, (1.5, 2), "= 1.0 / k"), (S.bounds_index_arg, (x, 1), None)):
        g = grad(fn)
        g(*args)
        for text in (g.source, g.compiled_source):
            noted = [line for line in text.splitlines() if KEPT_NOTE in line]
            if kept is None:
                assert not noted, text
            else:
                assert len(noted) == 1 and kept in noted[0], text


# ------------------------------------------------ names a generated module binds

def _locals_named_like_helpers(W, X):
    matmul = np.tanh(X @ W)
    sum_axis0 = np.sum(matmul, axis=0)
    vector_tanh = np.sum(sum_axis0 ** 2)
    return vector_tanh * np.sum(np.tanh(W))


def _loop_index_named_like_a_helper(x):
    vexp = np.exp(x)
    total = 0.0
    for sum_like1 in range(x.shape[0]):
        total += vexp[sum_like1] * x[sum_like1]
    return total


def _parameter_named_like_a_helper(matmul, X):
    return np.sum(np.tanh(X @ matmul))


def _locals_named_like_products(W, X, v):
    matrix_product = X @ W
    matrix_vector = W @ v[:2]
    vector_matrix = v[:4] @ X
    outer_product = np.outer(v[:3], v[:2])
    return np.sum(np.tanh(matrix_product)) + np.sum(matrix_vector * vector_matrix) + np.sum(outer_product * W)


def _parameter_named_like_a_product(matrix_product, X):
    return np.sum(np.tanh(X @ matrix_product))


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_locals_named_like_the_modules_helpers_are_renamed(jit):
    """A local named like a function the generated module binds (`matmul`, `sum_axis0`, `vector_tanh`,
    `vexp`, a loop index `sum_like1`) would hide it inside the derived function; the printer gives it
    another name (an InternalError from Numba before)."""
    from autodiff_compiler import grad
    rng = np.random.default_rng(11)
    W, X, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3)), np.linspace(-1.0, 1.0, 5)
    from _derivative_reference import jacobian_fd
    got = grad(_locals_named_like_helpers, jit=jit)(W, X)
    np.testing.assert_allclose(got, jacobian_fd(_locals_named_like_helpers, (W, X), 0)[0], rtol=1e-6, atol=1e-8)
    g = grad(_loop_index_named_like_a_helper, jit=jit)
    np.testing.assert_allclose(g(x), np.exp(x) * (1.0 + x), rtol=1e-13)
    assert "sum_like1_ in range" in g.compiled_source
    # the library's products (`backend.products`): a review found them missing from the renamed names
    for k in range(3):
        got = grad(_locals_named_like_products, wrt=k, jit=jit)(W, X, x)
        np.testing.assert_allclose(got, jacobian_fd(_locals_named_like_products, (W, X, x), k)[0], rtol=1e-6,
                                   atol=1e-8)
    got = grad(_parameter_named_like_a_product, jit=jit)(W, X)
    np.testing.assert_allclose(got, jacobian_fd(_parameter_named_like_a_product, (W, X), 0)[0], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_a_parameter_named_like_a_helper_is_renamed_where_printed(jit):
    """A parameter is renamed in the printed function only (callers pass it by position)."""
    from autodiff_compiler import grad
    from _derivative_reference import jacobian_fd
    W, X = np.linspace(-1.0, 1.0, 6).reshape(3, 2), np.linspace(0.5, 2.0, 12).reshape(4, 3)
    g = grad(_parameter_named_like_a_helper, jit=jit)
    np.testing.assert_allclose(g(W, X), jacobian_fd(_parameter_named_like_a_helper, (W, X), 0)[0],
                               rtol=1e-6, atol=1e-8)
    assert "(matmul_, X)" in g.compiled_source
    np.testing.assert_allclose(grad(_parameter_named_like_a_helper, jit=jit, verify=True)(W, X), g(W, X), rtol=1e-13)


def _atan_sum(x):
    return math.atan(x) + math.asinh(x) + math.erf(x)


def _atan2_of(x, y):
    return math.atan2(y, x) + math.atan(x * 1e-3)


def _quotient(x, y):
    y = -0.6 / (1.0 + float(y) * float(y))
    return x + y


def _own_square(x):
    return x ** 2 + math.atan(x)


# (function, point, the gradient by hand): squares the derivative computes overflow past 1e154
HUGE_SQUARES = [
    (_atan_sum, (1e200,), lambda x: (1 / (1 + x * x) + 1 / math.sqrt(x * x + 1)
                                     + 1.1283791670955126 * math.exp(-x * x),)),
    # atan2's partials are over hypot (x * x + y * y overflows here, and gave 0 for 3e-220 and 1e-200)
    (_atan2_of, (1e200, -3e180), lambda x, y: (-y / math.hypot(x, y) / math.hypot(x, y)
                                               + 1e-3 / (1 + (x * 1e-3) * (x * 1e-3)),
                                               x / math.hypot(x, y) / math.hypot(x, y))),
    (_quotient, (3.7e-101, -1.9e100), lambda x, y: (1.0, 1.2 * y / (1 + y * y) / (1 + y * y))),
]


@pytest.mark.parametrize("jit", [False, True], ids=["py", "jit"])
@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("fn, point, partials", HUGE_SQUARES, ids=lambda v: getattr(v, "__name__", ""))
def test_a_square_only_the_derivative_computes_is_inf_not_an_error(fn, point, partials, jit, simplify):
    """jit=False printed the chain rule's x ** 2 as Python's float **, which raises OverflowError past 1e154:
    "undefined here" of atan(1e200), whose derivative is 0.  Printed x * x, it is inf, as Numba's is."""
    wrt = tuple(range(len(point)))
    got = grad(fn, wrt=wrt, jit=jit, simplify=simplify)(*point)
    assert got == pytest.approx(partials(*point), rel=1e-12, abs=1e-290)
    if not jit:
        assert "** 2" not in grad(fn, wrt=wrt, jit=False, simplify=simplify).source


@pytest.mark.parametrize("jit", [False, True], ids=["py", "jit"])
def test_a_square_the_function_computes_still_raises_as_python(jit):
    with pytest.raises(AutodiffError, match="range"):
        grad(_own_square, jit=jit)(1e200)
    assert grad(_own_square, jit=jit)(3.0) == pytest.approx(6.0 + 1 / 10.0, rel=1e-15)


def _negative_powers(a, b, c):
    n = (a + b) ** -2
    return n * c + n * a * b + (a * c) ** -3


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_a_float_to_a_negative_int_power_is_pythons(jit):
    """Python's `x ** -2` of a float is C's `pow` of two doubles; Numba's `x ** -2` is 1 / x**2, which
    overflows first: 0.0 for 7.5e160 ** -2 where Python gives 1.8e-322 (the value and the gradient were 0
    in compiled code), a last bit apart at 0.7, and ZeroDivisionError for 1e-200 ** -2 where Python
    raises OverflowError (helper-54's review).  The compiled module raises the power to the float."""
    from autodiff_compiler import value_and_grad
    from autodiff_compiler.errors import ArgumentError
    g = value_and_grad(_negative_powers, wrt=("a", "b"), jit=jit)
    python = value_and_grad(_negative_powers, wrt=("a", "b"), jit=False)
    for point in ((7.52e160, 2.94, 1.078), (0.7, 0.0, 1.0), (-3.004797373479336, 2.152297470249014, -1.03e-09),
                  (1.1e103, 0.0, 1.0), (0.3, 0.4, 0.5)):
        value, gradient = g(*point)
        assert value == _negative_powers(*point), point           # bitwise, as Python computes it
        assert gradient == python(*point)[1], point
    assert g(7.52e160, 2.94, 1.078)[0] > 0.0
    with pytest.raises(ArgumentError, match="Python raises it here too"):
        g(1e-200, 0.0, 1.0)
    if jit:
        import re
        code = "\n".join(line.split("#")[0] for line in
                         g.compiled_source.split("def _negative_powers_value_and_grad")[1].splitlines())
        assert "-2.0" in code and "-3.0" in code
        assert not re.search(r"\*\* -\d+(?![.\d])|python_power\([^)]*, -\d+, ", code), code


@pytest.mark.parametrize("name", ["pendulum_energy", "logreg", "softmax_xent", "rosen_loop"])
def test_the_modules_printed_on_first_use_are_those_the_derivation_finished_with(name):
    """`State.text` and `State.jit_text` are printed when first asked for (`pipeline._print`), not when the
    derivation ends: nothing done with a gradient before (running it compiled and interpreted, its
    value and gradient, its proof against SymPy, its Hessian) may change what they say."""
    import corpus_arrays
    import corpus_control
    from autodiff_compiler import hessian, value_and_grad
    fn = getattr(corpus_control, name, None) or getattr(corpus_arrays, name)
    rng = np.random.default_rng(3)
    args = {"pendulum_energy": (0.3, 0.1, 9.81, 5), "logreg": (0.7, 0.2, rng.normal(size=6), (rng.random(6) > 0.5) * 1.0), "softmax_xent": (rng.normal(size=5), 2),
            "rosen_loop": (rng.normal(size=4),)}[name]
    first = grad(fn)
    state = first.state_for(first.signature(args))
    before = (state.text, state.jit_text)          # printed as the derivation ended
    assert "def " in before[0] and "def " in before[1]
    used = grad(fn)
    signature = used.signature(args)
    used_state = used.state_for(signature)
    assert used_state.printed == {}                # nothing printed yet
    used(*args)
    grad(fn, jit=False)(*args)
    value_and_grad(fn)(*args)
    if name != "pendulum_energy":                  # a loop of n trips: no formula to prove
        grad(fn, verify=True)(*args)
    hessian(fn, jit=False)(*args)
    assert used.state_for(signature) is used_state
    assert (used_state.text, used_state.jit_text) == before


def test_pythons_exact_int_helpers_are_called_only_where_an_int_may_pass_2_to_the_53():
    """Python's `/` of ints and its comparison of an int with a float are exact; Numba converts to float first.
    The compiled module calls the exact helpers only where an int may lie beyond 2**53 (`ir.ranges`): a
    parameter, a bounded index arithmetic that reaches past it.  An axis length or a loop index over it is a
    float exactly: the plain operator, with no helper to compile (an MLP's mean, `/ X.shape[0]`)."""
    import corpus_soundness as S
    x = np.array([0.3, -1.2, 0.7])
    exact = {"int_true_divide", "int_float_compare"}
    plain = grad(S.exact_int_axis_length_mean)
    plain(x, 1.5)
    assert not any(name in plain.compiled_source for name in exact)
    for fn, n, helpers in ((S.exact_int_bounded_beyond_doubles, 1, exact), (S.exact_int_true_divide, 9, {"int_true_divide"}),
                           (S.exact_int_float_greater, 2 ** 53 + 1, {"int_float_compare"})):
        g = grad(fn, wrt=0)
        g(x, n)
        assert all(name in g.compiled_source for name in helpers), fn.__name__
