"""ir/ranges.py: bounds on float numbers from constants and clamps, and the math-module checks they drop.

A bound must hold for every value a variable takes on a run: the random programs below are run by
Python and every value of every bounded variable is compared with its bound; the hand-checked cases
say what must and must not be bounded.
"""
import math

import numpy as np
import pytest

from autodiff_compiler import AutodiffError, grad
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.ir import FLOAT, INT, array_of
from autodiff_compiler.ir.ranges import COUNT_BOUND, float_bounds, int_bounds
from autodiff_compiler.pipeline import State, run_until
from autodiff_compiler.python_errors import python_domain_holds, python_power_holds, python_power_may_raise


def _typed(fn, types):
    source = source_of_function(fn)
    params = [a.arg for a in source.node.args.args]
    state = run_until(State(source, {p: types.get(p, FLOAT) for p in params}, [params[0]], True, False), "types")
    return state.primal


def clamped(q, y):
    eps = 1e-8
    p = min(max(q, eps), 1 - eps)
    r = 1 - p
    s = p * r - 0.5
    a = abs(s)
    return math.log(p) * y + math.log(r) + a


def reassigned(q):
    q = min(max(q, 1.0), 2.0)       # a parameter: it held the caller's value before
    t = min(max(q, 1.0), 2.0)
    t = t - 5.0                     # assigned twice: each version has its own name
    return t


def looped(q, n):
    s = 0.5
    for i in range(n):
        s = s * 2.0                 # two definitions (before and in the loop): no bound
    return s + q


def test_clamps_and_what_follows_from_them():
    bounds = float_bounds(*(lambda f: (f.body, f.types, f.params))(_typed(clamped, {})))
    assert bounds["eps"] == (1e-8, 1e-8)
    assert bounds["p"] == (1e-8, 1 - 1e-8)
    assert bounds["r"] == (1 - (1 - 1e-8), 1 - 1e-8)
    assert bounds["a"][0] == 0.0 and bounds["a"][1] <= 0.5
    assert "q" not in bounds and "y" not in bounds


def test_parameters_and_names_defined_twice_are_not_bounded():
    f = _typed(reassigned, {})
    bounds = float_bounds(f.body, f.types, f.params)
    assert "q" not in bounds
    assert bounds.get("t") == (1.0, 2.0)                    # the first version
    assert any(b == (-4.0, -3.0) for name, b in bounds.items() if name.startswith("t") and name != "t")
    f = _typed(looped, {"n": INT})
    assert "s" not in float_bounds(f.body, f.types, f.params)


@pytest.mark.parametrize("seed", range(40))
def test_random_clamped_programs_stay_in_their_bounds(seed, tmp_path):
    """Straight-line programs of clamps and arithmetic, run by Python at random inputs: every value of
    every bounded variable lies in its bound."""
    rng = np.random.default_rng(seed)
    names, lines = ["q", "u"], []
    for k in range(8):
        a, b = rng.choice(names, 2)
        c = float(np.round(rng.normal() * 3, 2))
        kind = rng.integers(7)
        expr = [f"min(max({a}, {min(c, -c)}), {max(c, -c)})", f"{a} + {b}", f"{a} - {c}", f"{a} * {b}",
                f"abs({a})", f"-{a}", f"max({a}, {c})"][kind]
        lines.append(f"    v{k} = {expr}")
        names.append(f"v{k}")
    text = "def prog(q, u):\n" + "\n".join(lines) + f"\n    return {' + '.join(names)}\n"
    path = tmp_path / f"prog{seed}.py"
    path.write_text("import math\n\n" + text)
    namespace: dict = {}
    exec(compile("import math\n\n" + text, str(path), "exec"), namespace)
    f = _typed(namespace["prog"], {})
    bounds = float_bounds(f.body, f.types, f.params)
    assert bounds, text
    tracer = "def trace(q, u):\n" + "\n".join(lines) + f"\n    return {{{', '.join(f'{n!r}: {n}' for n in names)}}}\n"
    exec(tracer, namespace)
    for q, u in rng.normal(size=(30, 2)) * rng.choice([0.1, 1.0, 100.0, 1e200], size=(30, 1)):
        values = namespace["trace"](float(q), float(u))
        for name, (lo, hi) in bounds.items():
            if name in values and values[name] == values[name]:
                assert lo <= values[name] <= hi, (text, name, values[name], (lo, hi))


def indices(v, n):
    m = v.shape[0]
    h = m // 2
    s = 0.0
    for i in range(h):
        j = 2 * i + 1
        k = m - 1 - i
        r = (j * 3) % 4
        p = i ** 2
        s += v[j] + v[k] + r + p
    for i in range(1, m, 2):        # the index reused: the union of the two loops' ranges
        s += i
    c = 1
    for q in range(n):              # a parameter's range: unbounded
        c = c * 3                   # written twice: unbounded
    return s + c + n


def test_int_bounds_of_lengths_indices_and_their_arithmetic():
    f = _typed(indices, {"v": array_of(1), "n": INT})
    bounds = int_bounds(f.body, f.types, f.params)
    assert bounds["m"] == (0, COUNT_BOUND) and bounds["h"] == (0, COUNT_BOUND // 2)
    assert bounds["i"] == (0, COUNT_BOUND - 1)               # range(h) and range(1, m, 2): below the stop
    assert bounds["j"] == (1, 2 * COUNT_BOUND - 1) and bounds["r"] == (0, 3)
    assert bounds["p"] == (0, 2 ** 63 - 1)   # i ** 2 may pass 2 ** 63: checked, so what p holds is an int64
    assert bounds["q"] == (0, 2 ** 63 - 2)                   # range(n) of any int64 n: i + 1 fits
    assert "c" not in bounds and "n" not in bounds           # written from itself; a parameter: INT64


@pytest.mark.parametrize("seed", range(10))
def test_int_bounds_hold_on_runs(seed):
    """Every value a bounded int takes, run by Python over arrays of random lengths, lies in its bound."""
    import sys
    rng = np.random.default_rng(seed)
    f = _typed(indices, {"v": array_of(1), "n": INT})
    bounds = int_bounds(f.body, f.types, f.params)
    seen: dict = {}

    def tracer(frame, event, arg):
        if frame.f_code is indices.__code__ and event == "line":
            for name, value in frame.f_locals.items():
                if type(value) is int:
                    seen.setdefault(name, []).append(value)
        return tracer

    sys.settrace(tracer)
    try:
        for _ in range(5):
            indices(rng.normal(size=int(rng.integers(0, 9))), int(rng.integers(0, 4)))
    finally:
        sys.settrace(None)
    checked = [name for name in seen if name in bounds]
    assert {"m", "h"} <= set(checked)
    for name in checked:
        lo, hi = bounds[name]
        assert all(lo <= value <= hi for value in seen[name]), (name, seen[name], bounds[name])


def test_which_domains_an_interval_proves():
    assert python_domain_holds("log", 1e-8, 1.0) and not python_domain_holds("log", 0.0, 1.0)
    assert python_domain_holds("sqrt", 0.0, 5.0) and not python_domain_holds("sqrt", -1e-300, 5.0)
    assert python_domain_holds("acos", -1.0, 1.0) and not python_domain_holds("acos", -1.0, 1.0000000000000002)
    assert python_domain_holds("sin", -1e308, 1e308) and not python_domain_holds("sin", 0.0, math.inf)
    assert not python_domain_holds("exp", -1.0, 1.0)          # an overflow check: not proved here
    assert not python_domain_holds("gammaln", -2.5, -0.5)     # poles inside, none at the ends
    assert not python_domain_holds("pow", 1.0, 2.0)


def _python_power_fails(x, e) -> bool:
    try:
        return isinstance(x ** e, complex)
    except (ZeroDivisionError, OverflowError):
        return True


def test_which_powers_an_interval_proves():
    assert python_power_holds(0.001, 10.0, -2.0) and not python_power_holds(-1.0, 10.0, -2.0)
    assert python_power_holds(-3.0, 3.0, 2) and not python_power_holds(-1e200, 3.0, 2)
    assert python_power_holds(0.0, 3.0, 2.5) and not python_power_holds(-1e-300, 3.0, 2.5)
    assert python_power_holds(-1e300, 1e300, 1) and python_power_holds(0.0, 1e300, 0.5)
    assert not python_power_holds(0.0, math.inf, 0.5) and not python_power_holds(1e-200, 1.0, -2.0)


@pytest.mark.parametrize("seed", range(3))
def test_random_intervals_proved_for_a_power_raise_nowhere_inside(seed):
    """Whatever `python_power_holds` proves, Python's `x ** e` at the ends, at 0 and at 50 random points
    inside raises nothing and makes no complex number; and it proves some."""
    rng = np.random.default_rng(seed)
    proved = 0
    for _ in range(300):
        ends = np.sort(rng.choice([-1.0, 1.0], 2) * 10.0 ** rng.uniform(-320, 307, 2))
        e = float(rng.choice([2, 3, 2.0, 0.5, 1.5, -1.0, -2.0, -0.5, 0.0, 1.0, 40.0, 200.0, -300.0]))
        lo, hi = float(ends[0]), float(ends[1])
        if not python_power_holds(lo, hi, e):
            continue
        proved += 1
        inside = [lo, hi] + ([0.0] if lo <= 0.0 <= hi else []) + list(rng.uniform(lo, hi, 50))
        assert not any(_python_power_fails(float(x), e) for x in inside), (lo, hi, e)
    assert proved > 30


def test_which_powers_may_raise():
    """Constants as Python computes them; two ints to a power >= 0 never (an int); x ** 1, x ** 0, 1 ** y
    never; any other power of a number may."""
    from autodiff_compiler.ir import Const, Var
    for base, exponent in [(0.0, -1.0), (10.0, 400.0), (-8.0, 0.5), (2.0, 3.0), (0, -1), (4, 2)]:
        assert python_power_may_raise(Const(base), Const(exponent), None, None) == _python_power_fails(base, exponent)
    x, k = Var("x"), Var("k")
    assert not python_power_may_raise(k, Const(3), "int", "int")
    assert python_power_may_raise(k, Var("m"), "int", "int")              # 0 ** -1
    assert not python_power_may_raise(x, Const(1), "float", "int") and not python_power_may_raise(x, Const(0.0), "float", "float")
    assert not python_power_may_raise(Const(1.0), x, "float", "float")
    assert python_power_may_raise(x, Const(2), "float", "int")            # 1e200 ** 2
    assert python_power_may_raise(Const(10.0), x, "float", "float")


def clamped_log(q, y):
    p = min(max(q, 1e-8), 1.0 - 1e-8)
    return y * math.log(p) + (1.0 - y) * math.log(1.0 - p)


def clamped_not_enough(q, y):
    p = min(max(q, -1.0), 1.0)          # may be <= 0: math.log raises there
    return y * math.log(p) + y


def test_a_clamped_log_needs_no_check_and_one_not_clamped_enough_keeps_it():
    g = grad(clamped_log, wrt=1)
    assert g(0.3, 0.7) == pytest.approx(math.log(0.3) - math.log(0.7), rel=1e-14)
    assert g(-5.0, 0.7) == pytest.approx(math.log(1e-8) - math.log(1 - 1e-8), rel=1e-14)
    assert "math_domain" not in g.compiled_source and "math.log" not in g.source.split("reverse sweep")[0]
    h = grad(clamped_not_enough, wrt=1)
    assert h(0.5, 2.0) == pytest.approx(math.log(0.5) + 1.0, rel=1e-14)
    with pytest.raises(ValueError):
        clamped_not_enough(-0.5, 2.0)
    with pytest.raises(AutodiffError, match="math domain error"):
        h(-0.5, 2.0)
