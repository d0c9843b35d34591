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
    """Positions where the SymPy form needs a condition (a number there is a TypeError)."""
    f = instantiate(prim.sympy, prim.arity, None)
    out = set()
    for k in range(prim.arity):
        try:
            f.xreplace({SYMBOLS[k]: sympy.Float(0.5)})
        except TypeError:
            out.add(k)
    return out


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
        point = tuple(rng.random() < 0.5 if k in conditions else np.float64(rng.uniform(-scale, scale))
                      for k in range(prim.arity))
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
        if isinstance(value, complex) or not np.isfinite(value):
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
            assert len(prim.jvp) == prim.arity or prim.jvp == ("gather",), f"{name}: one jvp term per argument"


TEMPLATED = sorted({(name, text) for name, p in PRIMITIVES.items() for text in (p.scalar, p.array)
                    if text and "{" in text})


@pytest.mark.parametrize("name,template", TEMPLATED, ids=[f"{n}:{t}" for n, t in TEMPLATED])
def test_templated_spellings_print_as_one_atom(name, template):
    """The printer puts a templated spelling where an atom may stand, so it must bind tightest."""
    import ast
    text = template.format("a", "b", "c", rest="i, j", axis=0)
    root = ast.parse(text, mode="eval").body
    atomic = isinstance(root, (ast.Call, ast.Subscript, ast.Attribute, ast.Name))
    assert atomic or (text.startswith("(") and text.endswith(")")), \
        f"{name}: {template!r} prints as {type(root).__name__}, which needs parentheses"
