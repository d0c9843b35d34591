"""ir/signs: which int variables never hold a negative value.

The set is checked against runs: random int programs (arithmetic, `min`/`max`,
`//`, `%`, lengths, rising and falling `for` ranges, branches, names assigned
more than once) are lowered to IR and run by a small interpreter of that IR,
which records every value each variable takes; no variable of the set may
ever take a negative one.  Hand-checked sets show what it must prove (the
reverse sweep's falling loops, slice offsets) and what it must not (a
parameter, a difference, a range falling below -1, one bad definition among
good ones).  The printer gives Numba exactly those indices as unsigned
integers, and negative indices keep counting from the end.
"""
import math
import os
import random

import numpy as np
import pytest

from autodiff_compiler import grad
from autodiff_compiler.frontend.parse import source_of_file_function
from autodiff_compiler.ir import INT, array_of
from autodiff_compiler.ir.nodes import Assign, Comment, Const, For, If, Var
from autodiff_compiler.ir.signs import nonnegative_integers
from autodiff_compiler.pipeline import State, run_until

PARAMS = {"x": array_of(1), "n": INT, "m": INT}


def lowered(source: str, tmp_path, name="f"):
    path = os.path.join(tmp_path, f"{name}_{abs(hash(source))}.py")
    with open(path, "w") as out:
        out.write(source)
    return run_until(State(source_of_file_function(path, name), PARAMS, ["x"]), "values").primal


# ------------------------------------------------------- an interpreter of the int IR

_PRIMS = {
    "copy": lambda a: a, "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b, "neg": lambda a: -a,
    "min": lambda *a: min(a), "max": lambda *a: max(a), "abs": abs, "int": int, "float": float,
    "lt": lambda a, b: a < b, "gt": lambda a, b: a > b, "le": lambda a, b: a <= b, "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "not": lambda a: not a,
}


class Unbound(Exception):
    pass


def _check_bound(ok):
    """`assert_true` of a bound flag (`frontend.bound_checks`): the run stops as Python's would."""
    if not ok:
        raise Unbound("checked")
    return True


_PRIMS["assert_true"] = _check_bound
# a check of Numba's 64-bit range bounds (`rules`: compiled only): Python's ints, which this runs, pass it
_PRIMS["range_check"] = lambda start, stop, step: True


class Run:
    """Runs a lowered function's statements, recording each value every variable takes."""

    def __init__(self, function, env):
        self.function, self.env = function, dict(env)
        self.seen: dict[str, list] = {}
        self.steps = 0

    def value(self, operand):
        if isinstance(operand, Const):
            return operand.value
        if operand.name not in self.env:
            raise Unbound(operand.name)            # Python's UnboundLocalError: the run stops
        return self.env[operand.name]

    def set(self, name, value):
        self.env[name] = value
        self.seen.setdefault(name, []).append(value)

    def block(self, stmts):
        for stmt in stmts:
            self.steps += 1
            if self.steps > 20000:
                raise TimeoutError
            self._run[type(stmt)](self, stmt)

    def assign(self, stmt: Assign):
        args = [self.value(a) for a in stmt.args]
        if stmt.prim in ("shape", "shape0"):
            self.set(stmt.target, args[0].shape[dict(stmt.params).get("axis", 0)])
        elif stmt.prim == "subscript":
            self.set(stmt.target, args[0][tuple(args[1:])])
        else:
            self.set(stmt.target, _PRIMS[stmt.prim](*args))

    def loop(self, stmt: For):
        for i in range(self.value(stmt.start), self.value(stmt.stop), self.value(stmt.step)):
            self.set(stmt.index, i)
            self.block(stmt.body)

    def branch(self, stmt: If):
        self.block(stmt.body if self.value(stmt.cond) else stmt.orelse)

    _run = {Assign: assign, For: loop, If: branch, Comment: lambda self, stmt: None}


# ------------------------------------------------------- random int programs

def _random_program(rng: random.Random) -> str:
    names = ["n", "m"]
    lines = ["def f(x, n, m):", "    s = 0.0"]

    def operand():
        return rng.choice(names) if rng.random() < 0.8 else str(rng.randint(-3, 4))

    def expression():
        a, b = operand(), operand()
        return rng.choice([f"{a} + {b}", f"{a} - {b}", f"{a} * {b}", f"{a} // {b}", f"{a} % {b}",
                           f"min({a}, {b})", f"max({a}, {b})", f"-{a}", f"len(x)", f"{a}", f"x.shape[0] - {b}",
                           f"abs({a})"])

    def statements(depth, pad, count):
        for _ in range(count):
            kind = rng.random()
            if kind < 0.2 and depth < 2:
                index = f"i{depth}{len(lines)}"
                a, b = operand(), operand()
                header = rng.choice([f"range({a})", f"range({a}, {b})", f"range({a}, {b}, -1)",
                                     f"range({a} - 1, -1, -1)", f"range({a}, -2, -1)", f"range({a}, {b}, 2)"])
                lines.append(f"{pad}for {index} in {header}:")
                names.append(index)
                statements(depth + 1, pad + "    ", rng.randint(1, 3))
            elif kind < 0.3 and depth < 2:
                lines.append(f"{pad}if {operand()} < {operand()}:")
                statements(depth + 1, pad + "    ", rng.randint(1, 2))
            else:
                target = rng.choice(names[2:]) if len(names) > 2 and rng.random() < 0.3 else f"v{len(lines)}"
                lines.append(f"{pad}{target} = {expression()}")
                if target not in names:
                    names.append(target)
            lines.append(f"{pad}s = s + x[0] * {rng.choice(names)}")

    statements(0, "    ", rng.randint(2, 6))
    lines.append("    return s")
    return "\n".join(lines) + "\n"


def test_no_variable_of_the_set_ever_holds_a_negative_value(tmp_path):
    checked = proved = 0
    for seed in range(150):
        rng = random.Random(seed)
        source = _random_program(rng)
        function = lowered(source, tmp_path)
        nonnegative = nonnegative_integers(function)
        proved += len(nonnegative)
        for trial in range(6):
            run = Run(function, {"x": np.arange(1.0, rng.randint(1, 6) + 1), "n": rng.randint(-4, 6),
                                 "m": rng.randint(-4, 6)})
            try:
                run.block(function.body)
            except (ZeroDivisionError, TimeoutError, Unbound):
                pass                       # the values taken before it still count
            for name in nonnegative:
                values = run.seen.get(name, [])
                checked += len(values)
                assert all(v >= 0 for v in values), (source, name, values, str(function))
    # the check saw what it checks: proofs, and many values of proved names
    assert proved > 150 and checked > 800, (proved, checked)


def test_what_it_proves_and_what_it_must_not(tmp_path):
    source = (
        "def f(x, n, m):\n"
        "    s = 0.0\n"
        "    k = 0\n"
        "    d = n - 1\n"                   # a difference: no
        "    q = len(x) // 2\n"             # a length over a constant: yes
        "    r = m % len(x)\n"              # the divisor's sign: yes
        "    for i in range(len(x) - 1, -1, -1):\n"   # the reverse sweep's falling loop: yes
        "        k = k + i\n"               # sums of proved values, reassigned: yes
        "        s = s + x[i] * x[i - 1]\n"
        "    for j in range(n, -2, -1):\n"  # falls to -1: no
        "        s = s + j\n"
        "    for u in range(n):\n"          # rises from 0: yes
        "        s = s + u\n"
        "    w = 1\n"
        "    if n < 0:\n"
        "        w = n\n"                   # one bad definition among good ones: no
        "    return s + k + d + q + r + w\n")
    nonnegative = nonnegative_integers(lowered(source, tmp_path))
    assert {"k", "q", "r", "i", "u"} <= nonnegative
    assert not {"n", "m", "d", "j", "w"} & nonnegative


def test_only_proved_indices_are_printed_unsigned_and_negative_ones_count_from_the_end():
    def shifted(x):
        s = 0.0
        for i in range(x.shape[0]):
            s = s + x[i] * x[i - 1]          # i - 1 is -1 first: the last element
        return s

    g = grad(shifted)
    x = np.array([0.5, -1.25, 2.0, 3.5])
    got = g(x)
    text = g.compiled_source
    assert "x[np.uint64(i)]" in text and "np.uint64(i - 1)" not in text
    # d/dx_k of sum_i x_i x_{i-1 mod n}: x_{k-1} + x_{k+1} (cyclically)
    want = np.roll(x, 1) + np.roll(x, -1)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    np.testing.assert_allclose(grad(shifted, jit=False)(x), want, rtol=1e-13)
    assert "uint64" not in g.source                    # the readable text is as written
    assert math.isfinite(float(np.sum(got)))
