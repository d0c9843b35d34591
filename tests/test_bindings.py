"""frontend/bindings.py and its checks: a gradient object follows the functions its function calls.

A derivation inlines the helpers it resolves; rebinding one afterwards (a
notebook cell redefining it, a monkeypatch, `ACT = np.sin`, new
`__defaults__`) must derive again at the next call -- on the full path, in a
signature's frame entry, and in the native router (`backend/router.py`), which
must stay the entry of a function that calls a helper.  Each case is compared
with a hand formula at two points, before, after and after rebinding back; each
point is called twice, so that its second call goes through the entry the first
installed.  The functions live in tests/_rebound.py; the soundness corpus
cannot say "between two calls"."""
import math
import sys
from types import BuiltinFunctionType

import numpy as np
import pytest

import _rebound as M
import _rebound_other as other
from autodiff_compiler import api, grad, hessian, hvp, jacobian, value_and_grad

from test_entry import _is_native, _use


def cube(x):
    return x ** 3


def quartic(x):
    return x ** 4


def _twice(g, *args):
    """The second call's result (the first installs the signature's entry)."""
    g(*args)
    return g(*args)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("with_value", [True, False])
def test_a_rebound_helper_is_derived_again(jit, with_value, monkeypatch):
    make = value_and_grad if with_value else grad
    df = make(M.f, jit=jit)

    def expect(x, power):
        value, slope = 3.0 * x ** power, 3.0 * power * x ** (power - 1)
        return (value, slope) if with_value else slope
    for power, helper in [(2, M.g), (3, cube), (2, M.g), (4, quartic)]:
        monkeypatch.setattr(M, "g", helper)
        for x in (2.0, -0.7):
            assert _twice(df, x) == pytest.approx(expect(x, power), rel=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_a_numpy_alias_rebound(jit, monkeypatch):
    dg = grad(M.f_act, jit=jit)
    for act, slope in [(np.tanh, lambda x: 1 - np.tanh(x) ** 2), (np.sin, np.cos),
                       (np.tanh, lambda x: 1 - np.tanh(x) ** 2)]:
        monkeypatch.setattr(M, "ACT", act)
        for x in (np.array([0.5, -0.3]), np.array([1.5, 0.2, -2.0])):
            np.testing.assert_allclose(_twice(dg, x), slope(x), rtol=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_a_function_of_another_module_rebound(jit, monkeypatch):
    df = value_and_grad(M.f_other, jit=jit)
    original = other.fn
    for helper, power in [(original, 2), (cube, 3), (original, 2)]:
        monkeypatch.setattr(other, "fn", helper)
        for x in (1.5, -0.4):
            assert _twice(df, x) == pytest.approx((x ** power + x, power * x ** (power - 1) + 1), rel=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_a_nested_helper_rebound(jit, monkeypatch):
    """chain calls mid calls h: rebinding h, two calls down, is seen."""
    dg = grad(M.chain, jit=jit)
    original = M.h
    for helper, power in [(original, 2), (cube, 3), (original, 2)]:
        monkeypatch.setattr(M, "h", helper)
        for x in (1.25, -2.0):
            assert _twice(dg, x) == pytest.approx(2.0 * (power * x ** (power - 1) + 1), rel=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_new_defaults_of_a_called_function(jit, monkeypatch):
    """Python binds `__defaults__` (set since the `def`), not the source's `n=3`."""
    dg = value_and_grad(M.f_defaults, jit=jit)
    for defaults, n in [((3,), 3), ((2,), 2), ((3,), 3), ((1.5,), 1.5)]:
        monkeypatch.setattr(M.powered, "__defaults__", defaults)
        for x in (2.0, 0.5):
            assert M.f_defaults(x) == pytest.approx(x ** n + 1.0)
            assert _twice(dg, x) == pytest.approx((x ** n + 1.0, n * x ** (n - 1)), rel=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_new_defaults_of_the_function_itself(jit, monkeypatch):
    dg = grad(M.powered, jit=jit)
    for defaults, n in [((3,), 3), ((2,), 2), ((3,), 3)]:
        monkeypatch.setattr(M.powered, "__defaults__", defaults)
        for x in (2.0, 0.5):
            assert _twice(dg, x) == pytest.approx(n * x ** (n - 1), rel=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_defaults_taken_away_make_the_argument_required(jit, monkeypatch):
    """`__defaults__ = None` (or a shorter tuple): Python's call raises TypeError (a missing argument); the
    gradient raised nothing, falling back to the source's `n=3` (helper-71).  Given back, it is used again."""
    from autodiff_compiler import AutodiffError
    called, itself = value_and_grad(M.f_defaults, jit=jit), grad(M.powered, jit=jit)
    assert _twice(called, 2.0) == pytest.approx((9.0, 12.0), rel=1e-12)
    assert _twice(itself, 2.0) == pytest.approx(12.0, rel=1e-12)
    monkeypatch.setattr(M.powered, "__defaults__", None)
    with pytest.raises(TypeError):
        M.f_defaults(2.0)
    with pytest.raises(AutodiffError, match="missing"):
        called(2.0)
    with pytest.raises(AutodiffError, match="n"):
        itself(2.0)
    assert itself(2.0, 2) == pytest.approx(4.0, rel=1e-12)
    monkeypatch.setattr(M.powered, "__defaults__", (2,))
    assert _twice(called, 2.0) == pytest.approx((5.0, 4.0), rel=1e-12)
    assert _twice(itself, 2.0) == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize("kind", ["router", "frame"])
def test_a_promoted_array_signature_sees_a_rebinding(kind, monkeypatch):
    """An array signature's counted frame, then (NATIVE_AFTER calls on) its native router or frame."""
    g = value_and_grad(M.f_array)
    monkeypatch.setattr(api, "NATIVE_AFTER", 2)
    _use(kind, monkeypatch)
    points = (np.array([0.5, -1.5, 2.0]), np.array([1.0, 3.0, -0.25]))
    for helper, power in [(M.g, 2), (cube, 3), (M.g, 2)]:
        monkeypatch.setattr(M, "g", helper)
        for _ in range(3):
            for x in points:
                value, slope = g(x)
                assert value == pytest.approx(np.sum(x ** (power + 1)), rel=1e-12)
                np.testing.assert_allclose(slope, (power + 1) * x ** power, rtol=1e-12)
        assert _is_native(g, kind)


@pytest.mark.parametrize("kind", ["router", "frame"])
def test_a_signature_of_numbers_sees_a_rebinding(kind, monkeypatch):
    """A signature of numbers: from its second call a checked router (or the counted frame, then the
    native frame where no router can be built)."""
    monkeypatch.setattr(api, "NATIVE_AFTER", 2)
    _use(kind, monkeypatch)
    g = grad(M.two, wrt=("x", "y"))
    for helper, power in [(M.g, 2), (cube, 3), (M.g, 2)]:
        monkeypatch.setattr(M, "g", helper)
        for _ in range(3):
            for x, y in ((1.5, 2.0), (-0.5, 3.0)):
                assert g(x, y) == pytest.approx((power * x ** (power - 1) * y, x ** power), rel=1e-12)
        entry = type(g).__dict__["__call__"]
        assert isinstance(entry, BuiltinFunctionType) == (kind == "router")


def test_a_function_calling_a_helper_keeps_its_router(monkeypatch):
    """A routed call of a function that calls a helper runs no Python code: the router checks the
    helper's binding itself."""
    monkeypatch.setattr(M, "g", M.g)
    df = value_and_grad(M.f)
    df(1.0)
    df(1.0)
    assert isinstance(type(df).__dict__["__call__"], BuiltinFunctionType)
    frames = []

    def profile(frame, event, arg):
        if event == "call":
            frames.append(frame.f_code.co_name)
    sys.setprofile(profile)
    try:
        results = (df(2.0), df(-1.0))
    finally:
        sys.setprofile(None)
    assert frames == []
    assert results == (pytest.approx((12.0, 12.0)), pytest.approx((3.0, -6.0)))
    monkeypatch.setattr(M, "g", cube)
    assert df(2.0) == pytest.approx((24.0, 36.0))
    assert isinstance(type(df).__dict__["__call__"], BuiltinFunctionType)     # the new derivation's router


def _cube_sum(x):
    return np.sum(x ** 3)


def test_the_native_router_of_a_function_calling_a_helper(monkeypatch):
    """An array signature, promoted: its native router runs what the router of a function without a
    helper runs (the native entry's own Python, no frame of the object's)."""
    monkeypatch.setattr(api, "NATIVE_AFTER", 2)
    monkeypatch.setattr(M, "g", M.g)
    x = np.array([0.5, 2.0])
    ran = []
    for fn in (M.f_array, _cube_sum):
        g = grad(fn)
        for _ in range(3):
            g(x)
        assert _is_native(g, "router")
        frames = []

        def profile(frame, event, arg):
            if event == "call":
                frames.append(frame.f_code.co_name)
        sys.setprofile(profile)
        try:
            slope = g(x)
        finally:
            sys.setprofile(None)
        np.testing.assert_allclose(slope, 3 * x ** 2, rtol=1e-12)
        ran.append(frames)
    assert ran[0] == ran[1]
    assert not {"__call__", "_call", "_prepare"} & set(ran[0])


def cube_method(self, x):
    return x ** 3


@pytest.mark.parametrize("jit", [True, False])
def test_a_method_or_static_method_set_on_the_class(jit, monkeypatch):
    model = M.Model(2.0)
    dm, ds = grad(model.loss, jit=jit), value_and_grad(M.f_static, jit=jit)
    act, helper = M.Model.act, M.Tools.__dict__["helper"]
    for method, helper, power in [(act, helper, 2), (cube_method, staticmethod(cube), 3), (act, helper, 2)]:
        monkeypatch.setattr(M.Model, "act", method)
        monkeypatch.setattr(M.Tools, "helper", helper)
        for x in (1.5, -0.5):
            assert _twice(dm, x) == pytest.approx(2.0 * power * x ** (power - 1), rel=1e-12)
            assert _twice(ds, x) == pytest.approx((x ** power + 1.0, power * x ** (power - 1)), rel=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_a_function_in_a_closure_cell_rebound(jit):
    outer, rebind = M.make_closure()
    original = outer.__closure__[0].cell_contents
    dg = value_and_grad(outer, jit=jit)
    for helper, power in [(original, 2), (cube, 3), (original, 2)]:
        rebind(helper)
        for x in (1.5, -0.5):
            assert _twice(dg, x) == pytest.approx((2.0 * x ** power, 2.0 * power * x ** (power - 1)), rel=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_an_emptied_cell_is_an_undefined_name(jit):
    """`del` of the closure's variable: Python's call raises NameError; the derivation said InternalError
    ("Cell is empty ... a bug", helper-71).  Filled again, the gradient is right again."""
    from autodiff_compiler import AutodiffError, InternalError
    outer, rebind = M.make_closure()
    original = outer.__closure__[0].cell_contents
    dg = grad(outer, jit=jit)
    assert _twice(dg, 1.5) == pytest.approx(6.0, rel=1e-12)
    del outer.__closure__[0].cell_contents
    with pytest.raises(NameError):
        outer(1.5)
    with pytest.raises(AutodiffError) as info:
        dg(1.5)
    assert not isinstance(info.value, InternalError) and "'inner' is not defined" in str(info.value)
    rebind(original)
    assert _twice(dg, 1.5) == pytest.approx(6.0, rel=1e-12)


def test_other_derivatives_follow_a_rebinding(monkeypatch):
    """jacobian, hessian and hvp (the programs of `derivatives.py`, and hvp's own fast path)."""
    jac, hess, hv = jacobian(M.f), hessian(M.f), hvp(M.f)
    for helper, power in [(M.g, 2), (cube, 3), (M.g, 2)]:
        monkeypatch.setattr(M, "g", helper)
        for x in (1.5, -0.5):
            second = 3.0 * power * (power - 1) * x ** (power - 2)
            assert _twice(jac, x) == pytest.approx(3.0 * power * x ** (power - 1), rel=1e-12)
            assert _twice(hess, x) == pytest.approx(second, rel=1e-12)
            assert _twice(hv, x, 2.0) == pytest.approx(2.0 * second, rel=1e-12)


def test_bindings_are_facts_of_the_lowering(monkeypatch):
    """What the lowering found: the called helper (in its module's dict), the defaults it bound."""
    from autodiff_compiler.frontend.bindings import DEFAULTS, IN_DICT, hold
    from autodiff_compiler.ir import FLOAT
    facts = value_and_grad(M.f_defaults).state_for((FLOAT,)).facts
    kinds = {(b.kind, b.key, b.expected) for b in facts.bindings}
    assert kinds == {(IN_DICT, "powered", M.powered), (DEFAULTS, None, M.powered.__defaults__)}
    assert hold(facts.bindings)
    monkeypatch.setattr(M.powered, "__defaults__", (3,))       # an equal tuple, another object
    assert not hold(facts.bindings)
    assert math.isclose(M.f_defaults(2.0), 9.0)
