"""The rule table, checked rule by rule with no per-rule code.

For every primitive with `partials`: each partial, instantiated in SymPy from
the same strings the reverse pass lowers (with `out` bound to the primitive's
own SymPy form), equals `sympy.diff` of that form -- symbolically, or at random
points of the primitive's domain where SymPy leaves kinks (Min, Abs, Mod) as
Heaviside/sign expressions -- and equals central finite differences of the
primitive's numeric `evaluate`.  The domain is found by rejection sampling:
a point belongs to it when `evaluate` gives a finite real number there.
Non-differentiable primitives must declare no partials.
"""
import math
import random

import numpy as np
import pytest
import sympy

from autodiff_compiler.rules import ARG_NAMES, PRIMITIVES

X, Y, Z = (sympy.Symbol(n, real=True) for n in ARG_NAMES)
SYMBOLS = (X, Y, Z)

NAMESPACE = dict(vars(sympy))
NAMESPACE.update({
    # the primitive language's names that SymPy spells differently
    "indicator": lambda cond: sympy.Piecewise((1, cond), (0, True)),
    "sign": sympy.sign,
    "floor": sympy.floor,
    "abs": sympy.Abs,
})
# every other name of the primitive language means its primitive's SymPy form (max -> Max, ...)
for _name, _prim in PRIMITIVES.items():
    if _prim.sympy and _name not in NAMESPACE and not _prim.custom:
        NAMESPACE[_name] = (lambda text: lambda *args: eval(text, vars(sympy), dict(zip(ARG_NAMES, args))))(
            _prim.sympy)

# the built-in table; rules users declare with @custom_derivative are proved per use, by verify=True
DIFFERENTIABLE = sorted(name for name, p in PRIMITIVES.items() if p.partials and not p.custom)
NONDIFF = sorted(name for name, p in PRIMITIVES.items() if p.nondiff)


# Rules known to be wrong somewhere in their evaluate-domain: strict xfails, so that the fix
# is noticed (and this entry removed).  Not per-rule checking code: the checks are the same.
KNOWN_WRONG: dict = {}     # primitive -> why its rule is wrong (empty: the table is right everywhere tested)


def instantiate(text: str, arity: int, out):
    bindings = dict(zip(ARG_NAMES, SYMBOLS[:arity]))
    bindings["out"] = out
    return sympy.sympify(eval(text, NAMESPACE, bindings))


def _exact(value):
    if isinstance(value, (bool, np.bool_)):
        return sympy.true if value else sympy.false
    return sympy.Float(float(value), 30)


def numeric(expr, point):
    """expr at point (30 digits), via xreplace: evalf(subs=) mishandles floor and Mod."""
    value = expr.xreplace({s: _exact(v) for s, v in zip(SYMBOLS, point)}).evalf(30)
    return complex(value).real


def condition_arguments(prim) -> set:
    """Positions where the SymPy form needs a condition (a number there is a TypeError), and the
    positions the table declares counts (`domain` "int": no derivative, sampled from small ints)."""
    f = instantiate(prim.sympy, prim.arity, None)
    out = {k for k, kind in enumerate(prim.domain) if kind == "int"}
    for k in range(prim.arity):
        try:
            f.xreplace({SYMBOLS[k]: sympy.Float(0.5)})
        except TypeError:
            out.add(k)
    return out


def _sample(prim, k, conditions, rng, scale):
    kind = prim.domain[k] if k < len(prim.domain) else "real"
    if kind == "int":
        return rng.randrange(0, 4)
    if k in conditions:
        return rng.random() < 0.5
    value = np.float64(rng.uniform(-scale, scale))
    return abs(value) if kind == "positive" else value


def sample_points(prim, count=6, seed=0):
    """Points where prim.evaluate is a finite real number, away from ties and jumps.

    Numbers are NumPy float64 (so array-flavoured evaluates such as `x.copy()` work);
    condition arguments are sampled from True/False."""
    rng = random.Random(sum(map(ord, prim.name)) + 1000 * seed)
    conditions = condition_arguments(prim)
    points = []
    tries = 0
    while len(points) < count and tries < 5000:
        tries += 1
        scale = rng.choice([0.9, 2.0, 5.0])
        point = tuple(_sample(prim, k, conditions, rng, scale) for k in range(prim.arity))
        numbers = [v for k, v in enumerate(point) if k not in conditions]
        if any(abs(v) < 0.05 for v in numbers):
            continue
        if any(abs(a - b) < 0.05 for i, a in enumerate(numbers) for b in numbers[i + 1:]):
            continue          # ties of min/max/clip: kinks, not derivatives
        if len(numbers) == 2 and abs(numbers[0] / numbers[1] - round(numbers[0] / numbers[1])) < 0.05:
            continue          # jumps of mod
        try:
            with np.errstate(all="ignore"):
                value = prim.evaluate(*point)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
        if isinstance(value, complex) or not np.isfinite(value) or abs(value) > 1e8:
            continue
        points.append(point)
    assert len(points) >= 3, f"could not find points in the domain of {prim.name}"
    return points


def sympy_derivative(f, symbol):
    """sympy.diff, with Mod read as x - y*floor(x/y) and floor/ceiling's derivative as 0 (away from
    their jumps, where the points are sampled), since SymPy leaves those unevaluated."""
    d = sympy.diff(f, symbol)
    if d.has(sympy.Derivative):
        d = sympy.diff(f.rewrite(sympy.floor), symbol)
        d = d.replace(lambda e: isinstance(e, sympy.Derivative) and isinstance(e.expr, (sympy.floor, sympy.ceiling)),
                      lambda e: sympy.Integer(0)).doit()
    assert not d.has(sympy.Derivative), f"SymPy cannot differentiate {f}"
    return d


def with_known_wrong(names):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_WRONG[n])) if n in KNOWN_WRONG
            else n for n in names]


@pytest.mark.parametrize("name", with_known_wrong(DIFFERENTIABLE))
def test_partials_are_sympy_derivatives(name):
    prim = PRIMITIVES[name]
    assert prim.sympy is not None, f"{name} has partials but no SymPy form: the verifier cannot check it"
    assert len(prim.partials) == prim.arity, f"{name}: {len(prim.partials)} partials for arity {prim.arity}"
    f = instantiate(prim.sympy, prim.arity, None)
    conditions = condition_arguments(prim)
    points = sample_points(prim)
    for k in range(prim.arity):
        partial = instantiate(prim.partials[k], prim.arity, f)
        if k in conditions:
            assert partial == 0, f"d{name}/d{ARG_NAMES[k]}: a condition argument must have partial 0"
            continue
        reference = sympy_derivative(f, SYMBOLS[k])
        if sympy.simplify(partial - reference) == 0:
            continue
        for point in points:
            got, want = numeric(partial, point), numeric(reference, point)
            assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12), \
                f"d{name}/d{ARG_NAMES[k]} at {point}: rule {prim.partials[k]!r} gives {got}, SymPy {want}"


@pytest.mark.parametrize("name", with_known_wrong(DIFFERENTIABLE))
def test_partials_match_finite_differences(name):
    prim = PRIMITIVES[name]
    f = instantiate(prim.sympy, prim.arity, None)
    conditions = condition_arguments(prim)
    for point in sample_points(prim, count=4, seed=1):
        for k in range(prim.arity):
            if k in conditions:
                continue
            h = 1e-6 * max(1.0, abs(float(point[k])))
            up = list(point)
            down = list(point)
            up[k] = point[k] + h
            down[k] = point[k] - h
            try:
                fd = float(prim.evaluate(*up) - prim.evaluate(*down)) / float(up[k] - down[k])
            except (ValueError, ZeroDivisionError):
                continue
            partial = instantiate(prim.partials[k], prim.arity, f)
            got = numeric(partial, point)
            assert math.isclose(got, fd, rel_tol=1e-5, abs_tol=1e-6), \
                f"d{name}/d{ARG_NAMES[k]} at {point}: rule gives {got}, finite differences {fd}"


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_sympy_form_matches_evaluate(name):
    prim = PRIMITIVES[name]
    f = instantiate(prim.sympy, prim.arity, None)
    for point in sample_points(prim, count=4, seed=2):
        expected = float(prim.evaluate(*point))
        assert math.isclose(numeric(f, point), expected, rel_tol=1e-12, abs_tol=1e-12), \
            f"{name}: SymPy form {prim.sympy!r} and evaluate disagree at {point}"


@pytest.mark.parametrize("name", NONDIFF)
def test_nondifferentiable_primitives_have_no_partials(name):
    prim = PRIMITIVES[name]
    assert prim.partials is None and prim.vjp is None, f"{name} is in the non-differentiable list but has a rule"


def test_every_primitive_is_differentiable_or_listed():
    for name, prim in PRIMITIVES.items():
        assert prim.nondiff or prim.partials or prim.vjp or prim.jvp or prim.refuse, \
            f"{name} has no rule, is not non-differentiable, and does not say why it has no rule"


def test_every_reverse_rule_has_a_forward_rule():
    """Forward mode reads the same table: a primitive with a vjp declares its jvp beside it."""
    for name, prim in PRIMITIVES.items():
        if prim.vjp is not None:
            assert prim.jvp is not None, f"{name} has a vjp but no jvp"
            if callable(prim.jvp) or prim.arity is None:
                for example in prim.examples:
                    spec, params = _split_example(example)
                    terms = prim.jvp_for(tuple(params.items()), tuple(len(s) if isinstance(s, tuple) else 0
                                                                     for s in spec))
                    assert 1 <= len(terms) <= len(spec), f"{name}: at most one jvp term per argument"
            else:
                assert len(prim.jvp) == prim.arity or prim.jvp == ("gather",), f"{name}: one jvp term per argument"


def _spellings(prim):
    """Every spelling text of a primitive: the written ones, and a function's at each example."""
    out = set()
    for text in (prim.scalar, prim.array):
        if callable(text):
            for example in prim.examples or ((),):
                params = example[-1] if example and isinstance(example[-1], dict) else {}
                count = len(example) - (1 if params else 0)
                out.add(text(params, count))
        elif text:
            out.add(text)
    return out


TEMPLATED = sorted({(name, text) for name, p in PRIMITIVES.items() for text in _spellings(p) if "{" in text})


@pytest.mark.parametrize("name,template", TEMPLATED, ids=[f"{n}:{t}" for n, t in TEMPLATED])
def test_templated_spellings_print_as_one_atom(name, template):
    """The printer puts a templated spelling where an atom may stand, so it must bind tightest."""
    import ast
    text = template.format("a", "b", "c", "d", rest="i, j", args="a, b", axis=0, offset=1, k=0, site=3)
    root = ast.parse(text, mode="eval").body
    atomic = isinstance(root, (ast.Call, ast.Subscript, ast.Attribute, ast.Name))
    assert atomic or (text.startswith("(") and text.endswith(")")), \
        f"{name}: {template!r} prints as {type(root).__name__}, which needs parentheses"


# ------------------------------------------------------------ vector-Jacobian products
# Every structural array primitive's vjp, at each example the table declares (operand shapes and
# params), checked with no per-rule code: against central finite differences of the primitive as the
# generated code computes it (its printed spelling, run on NumPy), and against SymPy's derivative of
# the same spelling run on symbols.  The vjp expression is evaluated the way the reverse pass
# instantiates it: every name a rule-table operand, every call a primitive.

from autodiff_compiler.rules import BINARY_OPERATORS, COMPARISONS  # noqa: E402
from autodiff_compiler.verify.symbolic import SV, apply as symbolic_apply, apply_numeric  # noqa: E402
from autodiff_compiler.verify.forms import exact  # noqa: E402

WITH_VJP = sorted(name for name, p in PRIMITIVES.items() if p.vjp is not None and p.vjp != ("scatter",))


def test_every_vjp_has_examples():
    missing = [name for name in WITH_VJP if not PRIMITIVES[name].examples]
    assert not missing, f"primitives with a vjp but no examples to check it on: {missing}"


def _split_example(example):
    params = example[-1] if example and isinstance(example[-1], dict) else {}
    return (example[:-1] if params else example), params


def _operands(spec, rng):
    out = []
    for item in spec:
        if isinstance(item, tuple):
            out.append(rng.uniform(0.3, 1.7, size=item) * rng.choice([-1.0, 1.0], size=item)
                       + (2.0 * np.eye(item[0]) if len(item) == 2 and item[0] == item[1] else 0.0))
        elif isinstance(item, float):
            out.append(float(item))
        else:
            out.append(int(item))
    return out


def _float_positions(values):
    return [k for k, v in enumerate(values) if isinstance(v, float) or
            (isinstance(v, np.ndarray) and v.dtype.kind == "f")]


class _Evaluate:
    """A rule-table expression evaluated with `apply(prim, args, params)` over bound values."""

    def __init__(self, apply, constant, bindings):
        self.apply, self.constant, self.bindings = apply, constant, bindings

    def __call__(self, node):
        import ast
        if isinstance(node, ast.Name):
            return self.bindings[node.id]
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.BinOp):
            return self.apply(BINARY_OPERATORS[type(node.op)], [self(node.left), self(node.right)], ())
        if isinstance(node, ast.UnaryOp):
            return self.apply("neg", [self(node.operand)], ())
        if isinstance(node, ast.Compare):
            return self.apply(COMPARISONS[type(node.ops[0])], [self(node.left), self(node.comparators[0])], ())
        if isinstance(node, ast.Subscript):
            return self.apply("subscript", [self(node.value), self.constant(ast.literal_eval(node.slice))], ())
        if isinstance(node, ast.Call):
            params = tuple((kw.arg, ast.literal_eval(kw.value)) for kw in node.keywords)
            return self.apply(node.func.id, [self(a) for a in node.args], params)
        raise AssertionError(f"unexpected node {ast.dump(node)}")


def _bindings(values, out, g):
    names = dict(zip(ARG_NAMES, values))
    names.update((f"a{k}", v) for k, v in enumerate(values))
    names.update(out=out, g=g)
    return names


def _numeric_apply(prim, args, params):
    if prim == "subscript":
        return args[0][args[1]]
    return apply_numeric(prim, list(args), params)


def _vjps(prim, values, params):
    import ast
    ranks = tuple(np.ndim(v) for v in values)
    return [ast.parse(e, mode="eval").body if e is not None else None for e in prim.vjp_for(tuple(params.items()), ranks)]


VJP_CASES = [(name, k) for name in WITH_VJP for k in range(len(PRIMITIVES[name].examples))]


@pytest.mark.parametrize("name,case", VJP_CASES, ids=[f"{n}-{k}" for n, k in VJP_CASES])
def test_vjp_matches_finite_differences(name, case):
    prim = PRIMITIVES[name]
    spec, params = _split_example(prim.examples[case])
    rng = np.random.default_rng(case + 17)
    values = _operands(spec, rng)
    ptuple = tuple(params.items())
    out = _numeric_apply(name, values, ptuple)
    g = rng.normal(size=np.shape(out)) if np.ndim(out) else float(rng.normal())
    expressions = _vjps(prim, values, params)
    for k in _float_positions(values):
        if k >= len(expressions) or expressions[k] is None:
            continue
        got = _Evaluate(_numeric_apply, lambda c: c, _bindings(values, out, g))(expressions[k])
        got = np.broadcast_to(np.asarray(got, dtype=float), np.shape(values[k]))
        direction = rng.normal(size=np.shape(values[k])) if np.ndim(values[k]) else float(rng.normal())
        h = 1e-6
        up, down = list(values), list(values)
        up[k] = values[k] + h * direction
        down[k] = values[k] - h * direction
        fd = (np.sum(g * _numeric_apply(name, up, ptuple)) - np.sum(g * _numeric_apply(name, down, ptuple))) / (2 * h)
        assert math.isclose(float(np.sum(got * direction)), float(fd), rel_tol=1e-6, abs_tol=1e-7), \
            f"{name} example {case}, operand {k}: vjp gives {np.sum(got * direction)}, finite differences {fd}"


def _symbolic(value, tag):
    if isinstance(value, np.ndarray):
        exprs = np.empty(value.shape, dtype=object)
        for index in np.ndindex(*value.shape):
            exprs[index] = sympy.Symbol(f"{tag}_{'_'.join(map(str, index))}", real=True)
        return SV(exprs, value.astype(float))
    if isinstance(value, float):
        return SV(sympy.Symbol(tag, real=True), value)
    return SV(sympy.Integer(value), value)


def _symbolic_apply(prim, args, params):
    if prim == "subscript":
        index = args[1].num
        return SV(args[0].expr[index], args[0].num[index])
    return symbolic_apply(prim, list(args), params)


@pytest.mark.parametrize("name,case", VJP_CASES, ids=[f"{n}-{k}" for n, k in VJP_CASES])
def test_vjp_matches_sympy(name, case):
    """The vjp, run on symbols, equals SymPy's derivative of <g, f(x)> for the spelled f."""
    prim = PRIMITIVES[name]
    spec, params = _split_example(prim.examples[case])
    rng = np.random.default_rng(case + 17)
    values = _operands(spec, rng)
    ptuple = tuple(params.items())
    inputs = [_symbolic(v, f"a{k}") for k, v in enumerate(values)]
    out = _symbolic_apply(name, inputs, ptuple)
    g_num = rng.normal(size=np.shape(out.num)) if np.ndim(out.num) else float(rng.normal())
    g = SV(np.vectorize(exact, otypes=[object])(g_num) if np.ndim(g_num) else exact(g_num), g_num)
    pairing = sympy.Add(*[a * b for a, b in zip(np.ravel(g.expr), np.ravel(out.expr))]) if np.ndim(g_num) \
        else g.expr * out.expr
    point = {}
    for sv in inputs:
        if isinstance(sv.expr, np.ndarray):
            point.update({e: sympy.Float(float(v), 30) for e, v in zip(sv.expr.flat, sv.num.flat)})
        elif isinstance(sv.expr, sympy.Symbol):
            point[sv.expr] = sympy.Float(float(sv.num), 30)
    expressions = _vjps(prim, values, params)
    evaluate = _Evaluate(_symbolic_apply, lambda c: SV(exact(c), c), _bindings(inputs, out, g))
    for k in _float_positions(values):
        if k >= len(expressions) or expressions[k] is None:
            continue
        got = evaluate(expressions[k])
        symbols = np.ravel(inputs[k].expr) if isinstance(inputs[k].expr, np.ndarray) else [inputs[k].expr]
        exprs = np.broadcast_to(np.asarray(got.expr, dtype=object), np.shape(values[k])).ravel() \
            if np.ndim(values[k]) else [got.expr]
        for symbol, expr in zip(symbols, exprs):
            want = float(sympy.diff(pairing, symbol).xreplace(point).evalf(30))
            have = float(sympy.sympify(expr).xreplace(point).evalf(30))
            assert math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-12), \
                f"{name} example {case}: d/d{symbol} vjp {have}, SymPy {want}"


WITH_JVP = sorted(name for name, p in PRIMITIVES.items() if p.jvp is not None and p.jvp != ("gather",))
JVP_CASES = [(name, k) for name in WITH_JVP for k in range(len(PRIMITIVES[name].examples))]


def test_every_jvp_of_a_parameterised_or_structural_primitive_has_examples():
    """A jvp is checked below only from declared examples: the new array primitives all declare some."""
    missing = [n for n in WITH_JVP if not PRIMITIVES[n].examples and (callable(PRIMITIVES[n].jvp) or
                                                                     PRIMITIVES[n].arity is None)]
    assert not missing, f"primitives with a parameterised jvp and no examples: {missing}"


@pytest.mark.parametrize("name,case", JVP_CASES, ids=[f"{n}-{k}" for n, k in JVP_CASES])
def test_jvp_matches_finite_differences(name, case):
    """Each operand's jvp term, on a random tangent, equals the central difference along it."""
    import ast
    prim = PRIMITIVES[name]
    spec, params = _split_example(prim.examples[case])
    rng = np.random.default_rng(case + 29)
    values = _operands(spec, rng)
    ptuple = tuple(params.items())
    out = _numeric_apply(name, values, ptuple)
    terms = prim.jvp_for(ptuple, tuple(np.ndim(v) for v in values))
    checked = 0
    for k in _float_positions(values):
        if k >= len(terms) or terms[k] is None:
            continue
        d = rng.normal(size=np.shape(values[k])) if np.ndim(values[k]) else float(rng.normal())
        bindings = dict(_bindings(values, out, None), d=d)
        got = _Evaluate(_numeric_apply, lambda c: c, bindings)(ast.parse(terms[k], mode="eval").body)
        h = 1e-6
        up, down = list(values), list(values)
        up[k] = values[k] + h * d
        down[k] = values[k] - h * d
        fd = (np.asarray(_numeric_apply(name, up, ptuple)) - np.asarray(_numeric_apply(name, down, ptuple))) / (2 * h)
        np.testing.assert_allclose(np.broadcast_to(np.asarray(got, dtype=float), np.shape(out)), fd, rtol=1e-6,
                                   atol=1e-7, err_msg=f"{name} example {case}, operand {k}: jvp vs finite differences")
        checked += 1
    assert checked or not _float_positions(values), f"{name} example {case}: no jvp term checked"


# ------------------------------------------------------------------ errors raised in compiled code

# operands at which each kind of `raises` condition holds, by the kinds of the operands
_ZERO = {"float": 0.0, "int": 0, "bool": False}
_SOME = {"float": 3.0, "int": 3, "bool": True}
_RAISING_OPERANDS = {
    "zero divisor": {(a, b): (_SOME[a], _ZERO[b]) for a in _ZERO for b in _ZERO},
    "negative integer exponent": {(a, "int"): (_ZERO[a], -3) for a in ("float", "int")},
    True: {("float",): (0.0,), ("int",): (0,)},
}
# an int of a float: NaN and infinity raise as Python's do, two errors (so `error` is None: each
# statement its own, never reordered)
_NON_FINITE = [((math.nan,), ValueError, "cannot convert float NaN to integer"),
               ((math.inf,), OverflowError, "cannot convert float infinity to integer"),
               ((-math.inf,), OverflowError, "cannot convert float infinity to integer")]
RAISING = sorted(name for name, p in PRIMITIVES.items() if p.raises and not p.effect and not p.custom)


def _compiled_statement(prim):
    """A Numba function of the table's own scalar spelling of `prim` (as the printer spells it)."""
    import numba
    args = ", ".join(ARG_NAMES[:prim.arity])
    if prim.scalar in ("/", "//", "%", "**"):
        expr = f"x {prim.scalar} y"
    elif "{0}" in prim.scalar:
        expr = prim.scalar.format(*ARG_NAMES[:prim.arity])
    else:
        expr = f"{prim.scalar}({args})"
    from autodiff_compiler.backend import runtime
    namespace = {"math": math, "integral": numba.njit(runtime.integral)}
    exec(f"def statement({args}):\n    return {expr}\n", namespace)
    return numba.njit(namespace["statement"])


@pytest.mark.parametrize("name", RAISING)
def test_the_table_names_the_error_compiled_code_raises(name):
    """`rules.error_of` is what lets the vectorise pass reorder raising statements (two with the same
    error may trade places): for every primitive that may raise, and every combination of float, int
    and bool operands, compiled code raises exactly the error the table names for those kinds (int ** a
    negative int: '0 cannot be raised to a negative power'; int // int: 'integer division by zero');
    `may_raise` says it may there."""
    from autodiff_compiler.rules import error_of, may_raise
    import autodiff_compiler.ir as ir
    prim = PRIMITIVES[name]
    statement = _compiled_statement(prim)
    if prim.raises == "non-finite":
        assert error_of(name, ("float",)) is None
        for operands, error, message in _NON_FINITE:
            assert may_raise(name, tuple(ir.Const(v) for v in operands)), (name, operands)
            with pytest.raises(error, match=message):
                statement(*operands)
            with pytest.raises(error, match=message):          # as Python's own
                PRIMITIVES[name].evaluate(*operands)
        assert not may_raise(name, (ir.Const(2.5),)) and statement(2.5) == PRIMITIVES[name].evaluate(2.5)
        return
    assert prim.raises in _RAISING_OPERANDS, f"{name}: a new kind of raising; add its operands here"
    for kinds, operands in _RAISING_OPERANDS[prim.raises].items():
        assert may_raise(name, tuple(ir.Const(v) for v in operands)), (name, operands)
        with pytest.raises(ZeroDivisionError) as raised:
            statement(*operands)
        assert str(raised.value) == error_of(name, kinds), (name, kinds)
    assert error_of(name, (None,) * prim.arity) in (None, error_of(name, ("float",) * prim.arity))


# ------------------------------------------------------------------ NumPy's numbers in compiled code

NUMPY_SPELLED = sorted(name for name, p in PRIMITIVES.items() if p.numpy_numbers is not None)
_NUMPY_SCALARS = {"float": np.float64, "int": np.int64, "bool": np.bool_}


@pytest.mark.parametrize("name", NUMPY_SPELLED)
def test_numpy_spellings_compute_what_numpy_computes_and_raise_nothing(name):
    """`Primitive.numpy_numbers`: where an operand is NumPy's number, the module Numba compiles spells
    the primitive so that it computes what Python computes on NumPy's numbers -- inf or nan at a zero
    divisor (`np.float64(1.0) / 0.0`), no exception -- for every kind of operands it names, at the
    operands where the table says the scalar spelling raises and at ordinary ones; on float arrays too
    where it has an "array" spelling (Numba's `**` raises there)."""
    import numba
    prim = PRIMITIVES[name]
    operands = dict(_RAISING_OPERANDS[prim.raises])
    operands.update({kinds: tuple(_SOME[k] for k in kinds) for kinds in list(operands)})
    checked = 0
    for kinds in operands:
        spelling = prim.numpy_spelling(kinds)
        if spelling is None:
            continue
        for values in (_RAISING_OPERANDS[prim.raises][kinds], tuple(_SOME[k] for k in kinds)):
            names = ARG_NAMES[:prim.arity]
            namespace = {"np": np}
            exec(f"def statement({', '.join(names)}):\n    return {spelling.format(*names)}\n", namespace)
            got = numba.njit(namespace["statement"])(*values)
            # Python on NumPy's numbers: the first operand NumPy's (the element), as the user's code has it
            numpy_values = (_NUMPY_SCALARS[kinds[0]](values[0]),) + values[1:]
            with np.errstate(all="ignore"):
                want = prim.evaluate(*numpy_values)
            np.testing.assert_array_equal(np.float64(got), np.float64(want), err_msg=f"{name} {kinds} {values}")
            checked += 1
    assert checked, f"{name}: no kind of operands has a NumPy spelling"
    if prim.numpy_spelling(("float",) * prim.arity, True) is not None:
        spelling = prim.numpy_spelling(("float",) * prim.arity, True)
        names = ARG_NAMES[:prim.arity]
        namespace = {"np": np}
        exec(f"def statement({', '.join(names)}):\n    return {spelling.format(*names)}\n", namespace)
        values = (np.array([0.0, 2.0, -0.0]),) + _RAISING_OPERANDS[prim.raises][("float", "int")][1:]
        with np.errstate(all="ignore"):
            want = prim.evaluate(*values)
        np.testing.assert_array_equal(numba.njit(namespace["statement"])(*values), want, err_msg=name)
