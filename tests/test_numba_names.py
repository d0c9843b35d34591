"""backend/numba_names.py: no two variable loads of a module Numba compiles get one temporary's name.

Numba's bytecode front end names the value a variable load pushes
`$<variable><offset>.<count>`: `t1` loaded at offset 1148 and `t11` at offset
48, each the first temporary of its block, are both `$t1148.0`.  Checked here
against Numba's own front end (`numba.core.byteflow`, which names them): a
function built to make it happen does, and not after `unambiguous`; random
functions over names chosen to run into each other compute the same after it
and share no temporary; the texts Numba compiles (the library, the gradient
modules of the corpora, the native entries) share none; and the fuzzer's
program that found it (`scalar-96-79`: an InternalError, Numba's "Type of
variable ... cannot be determined") now gives its gradient in every mode.
"""
import collections
import itertools
import math
import random

import numba
import numpy as np
import pytest

from autodiff_compiler import AutodiffError, grad, stop_gradient
from autodiff_compiler.backend import library, runtime, vecmath
from autodiff_compiler.backend.numba_names import extends_by_digits, unambiguous

import corpus_control
import corpus_scalar

byteflow = pytest.importorskip("numba.core.byteflow")
bytecode = pytest.importorskip("numba.core.bytecode")


def shared_temporaries(function) -> dict:
    """Numba's temporaries that two instructions (two offsets) define: name -> offsets."""
    flow = byteflow.Flow(bytecode.ByteCode(bytecode.FunctionIdentity.from_function(function)))
    flow.run()
    defined = collections.defaultdict(set)
    for block in flow.block_infos.values():
        for offset, operands in block.insts:
            for key, value in operands.items():
                if key.startswith("res") and isinstance(value, str) and value.startswith("$"):
                    defined[value].add(offset)
    return {name: sorted(offsets) for name, offsets in defined.items() if len(offsets) > 1}


def functions_of(text: str) -> dict:
    namespace = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if callable(v) and getattr(v, "__module__", None) is None
            and hasattr(v, "__code__")}


def test_extends_by_digits():
    assert extends_by_digits("t11", "t1") and extends_by_digits("x1", "x") and extends_by_digits("a_12", "a_")
    assert not extends_by_digits("t1", "t1") and not extends_by_digits("t1_", "t1")
    assert not extends_by_digits("x1a", "x") and not extends_by_digits("y1", "x")


# ------------------------------------------------------------------------ the bug, built on purpose

def _padded(before: int, after: int, negations: int) -> str:
    lines = ["def f(x):",
             "    t1 = x + 1.0",
             "    t11 = x > 0.0",
             *["    x = x * 0.5"] * before,
             "    if x > 2.0:",
             "        x = x + 1.0",
             "    y = t11",
             *["    x = x + 0.25"] * after,
             *["    x = -x"] * negations,
             "    if x > 0.5:",
             "        x = t1 + x",
             "    return x if y else -x"]
    return "\n".join(lines) + "\n"


def _colliding_text() -> str:
    """`_padded` with the padding that makes Numba name the loads of `t1` and `t11` alike."""
    for before, after, negations in itertools.product(range(8), range(40), range(5)):
        text = _padded(before, after, negations)
        if shared_temporaries(functions_of(text)["f"]):
            return text
    raise AssertionError("no padding makes Numba name t1 and t11 alike: has its naming changed?")


def test_numba_names_two_loads_alike_and_not_after_renaming():
    text = _colliding_text()
    (name, offsets), = shared_temporaries(functions_of(text)["f"]).items()
    assert name.startswith("$t11") and len(offsets) == 2
    renamed = unambiguous(text)
    assert "t1_ = x + 1.0" in renamed and "t11_ = x > 0.0" in renamed and "def f(x):" in renamed
    f, g = functions_of(text)["f"], functions_of(renamed)["f"]
    assert shared_temporaries(g) == {}
    compiled = numba.njit(g)
    for x in (-3.0, -0.2, 0.0, 0.7, 1.9, 2.5, 40.0):
        assert f(x) == g(x) == compiled(x)


# ------------------------------------------------------------------------ random functions

POOL = ["x", "x1", "x11", "x111", "x_", "x_1", "t1", "t11", "t110", "y", "y2", "y21", "const", "const1", "phi1",
        "a1b", "a1b2"]


def _random_function(rng: random.Random) -> tuple[str, list]:
    """A function of names from POOL (parameters among them), long enough for offsets in the thousands."""
    params = sorted(rng.sample(POOL, rng.randint(1, 5)), key=POOL.index)
    defined = list(params)
    lines = [f"def f({', '.join(params)}):"]

    def operand():
        return rng.choice(defined) if rng.random() < 0.8 else f"{rng.randint(1, 9)}.5"

    def statement(indent: str, depth: int):
        kind = rng.random()
        if kind < 0.2 and depth < 2:
            lines.append(f"{indent}if {operand()} > {operand()}:")
            for _ in range(rng.randint(1, 4)):
                statement(indent + "    ", depth + 1)
            if rng.random() < 0.5:
                lines.append(f"{indent}else:")
                for _ in range(rng.randint(1, 3)):
                    statement(indent + "    ", depth + 1)
        elif kind < 0.35:
            target = rng.choice(defined)
            lines.append(f"{indent}{target} = ({operand()} if {operand()} > {operand()} else {operand()}) * 0.5")
        else:
            target = rng.choice(POOL) if depth == 0 else rng.choice(defined)
            op = rng.choice(["+", "-", "*"])
            lines.append(f"{indent}{target} = ({operand()} {op} {operand()}) * 0.25")
            if target not in defined:
                defined.append(target)

    for _ in range(rng.randint(40, 160)):
        statement("    ", 0)
    lines.append(f"    return {' + '.join(defined)}")
    return "\n".join(lines) + "\n", params


@pytest.mark.parametrize("seed", range(12))
def test_random_functions_compute_the_same_and_share_no_temporary(seed):
    rng = random.Random(seed)
    shared_before = 0
    for _ in range(6):
        text, params = _random_function(rng)
        renamed = unambiguous(text)
        assert unambiguous(renamed) == renamed
        f, g = functions_of(text)["f"], functions_of(renamed)["f"]
        shared_before += bool(shared_temporaries(f))
        assert shared_temporaries(g) == {}, renamed
        for _ in range(3):
            args = [rng.uniform(-2.0, 2.0) for _ in params]
            assert g(*args) == f(*args)
            assert g(**dict(zip(params, args))) == f(*args)        # the parameters keep their names
    if seed == 0:
        assert shared_before, "the generator no longer makes functions Numba's naming confuses"


def test_the_generator_makes_such_functions():
    """Numba names two loads alike in a good share of the random functions: the test above exercises
    the renaming where it matters."""
    rng = random.Random(1234)
    shared = sum(bool(shared_temporaries(functions_of(_random_function(rng)[0])["f"])) for _ in range(30))
    assert shared >= 3


# ------------------------------------------------------------------------ what Numba compiles

def test_the_library_module_is_unambiguous():
    text = library.text(vecmath._setting())
    assert unambiguous(text) == text
    functions = functions_of(text)
    assert set(runtime.HELPERS) <= set(functions)
    for name in runtime.HELPERS:            # written so: the generated modules hold copies of them
        assert unambiguous(runtime.SOURCES[name]) == runtime.SOURCES[name], name
    for name, function in functions.items():
        assert shared_temporaries(function) == {}, name


CORPORA = [corpus_scalar, corpus_control]


def test_the_corpus_gradient_modules_share_no_temporary_once_renamed():
    """What the loader gives Numba for every function of numbers in the scalar and control-flow corpora."""
    checked = 0
    for corpus in CORPORA:
        for fn in vars(corpus).values():
            if not (callable(fn) and getattr(fn, "__module__", "") == corpus.__name__ and
                    getattr(fn, "__code__", None) is not None and fn.__code__.co_argcount):
                continue
            try:
                text = grad(fn, wrt=tuple(range(fn.__code__.co_argcount))).compiled_source
            except AutodiffError:
                continue                # refused (a corpus of errors is elsewhere) or not of numbers
            renamed = unambiguous(text)
            assert unambiguous(renamed) == renamed
            functions = functions_of(renamed)
            assert any(name.endswith("_grad") for name in functions)
            for name, function in functions.items():
                assert shared_temporaries(function) == {}, (fn.__name__, name)
            checked += 1
    assert checked >= 100


def test_a_native_entry_takes_its_parameters_by_name_and_shares_no_temporary(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path))
    g = grad(digit_parameters, wrt=(0, 1, 2))
    native = g.native(1.0, 2.0, 3.0)
    expected = (math.sin(2.0), math.cos(2.0) * 1.0, 6.0)
    assert native(1.0, 2.0, 3.0) == pytest.approx(expected, rel=1e-15)
    assert native(x=3.0, x12=2.0, x1=1.0) == pytest.approx(expected, rel=1e-15)
    assert g.compiled_for(1.0, 2.0, 3.0)(x1=1.0, x12=2.0, x=3.0)[1:] == pytest.approx(expected, rel=1e-15)
    entries = [p for p in tmp_path.iterdir() if "_entry_" in p.name and p.suffix == ".py"]
    assert entries
    for path in entries:
        text = path.read_text()
        assert "def entry(x1=None, x12=None, x=None):" in text and "x1_ = x1" in text
        assert shared_temporaries(functions_of(text)["entry"]) == {}


def digit_parameters(x1, x12, x):
    return x1 * math.sin(x12) + x ** 2


def out_parameter(out1, x):
    return out1 * x + x * x


def test_an_objmode_variable_is_renamed_with_its_keyword(tmp_path, monkeypatch):
    """A parameter `out1` extends the native entry's local `out`, which `with numba.objmode(out=...)`
    names by keyword: renaming the variable alone left objmode naming one that no longer existed (a raw
    TypingError from g.native; the review of cda65bd)."""
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path))
    g = grad(out_parameter)
    assert g(2.0, 3.0) == 3.0
    native = g.native(2.0, 3.0)
    assert native(2.0, 3.0) == 3.0 and native(out1=-1.5, x=0.5) == 0.5
    text = unambiguous('import numba\ndef f(out1, x):\n    with numba.objmode(out="float64"):\n'
                       '        out = g(out1)\n    return out\n')
    assert 'numba.objmode(out_="float64")' in text and "out_ = g(out1_)" in text


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x0b", "\x1c"])
def test_lines_are_counted_as_ast_counts_them(tmp_path, monkeypatch, separator):
    """`ast` counts lines at \\n and \\r only; str.splitlines also breaks at a form feed or U+2028, which a
    comment the printer copies from the user's line may hold: the renames landed on the wrong lines and
    the module did not parse (an InternalError)."""
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "separated.py"
    path.write_text(f"def f(x1, x):\n    y = x1 * x  # scale{separator}by x\n    return y * x1\n", encoding="utf-8")
    namespace = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    for jit in (True, False):
        assert grad(namespace["f"], jit=jit)(2.0, 3.0) == pytest.approx(12.0, rel=1e-15)
    text = unambiguous(path.read_text(encoding="utf-8"))
    assert text.count("\n") == 5 and "x1_ = x1" in text and separator in text


# ------------------------------------------------------------------------ the fuzzer's program

def fuzz_scalar_96_79(z, x, y):
    v6 = 0.2 ** 2 - min(0.5, y, y)
    v7 = math.hypot(y, v6) if z <= y else 0.2
    y += float(stop_gradient(0.2))
    v8, v9 = (3.0 * v6, y if ((y > v7 or -1.5 < v7 <= 1.0) or x > -3.0) and (not 0.0 < v6 <= 0.25) else v7)
    v10 = np.power(2.0 + math.sin(max(v8, v7)), math.erfc(y))
    v7 -= np.square(v7)
    v11 = math.exp(2.7 * math.tanh(max(v10, v10)))
    return v9 + v7 + v11 + y


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_the_fuzzers_program_gives_its_gradient(jit, simplify):
    g = grad(fuzz_scalar_96_79, wrt=(0, 1, 2), jit=jit, simplify=simplify)
    for point in [(-0.9164444711540289, -1.1820141193233242, 0.6194363021768274),
                  (0.3, -1.0, 0.9), (-2.0, 0.5, -0.4)]:
        got = g(*point)
        for k in range(3):
            h = 1e-6
            up, down = list(point), list(point)
            up[k] += h
            down[k] -= h
            difference = (fuzz_scalar_96_79(*up) - fuzz_scalar_96_79(*down)) / (2 * h)
            assert got[k] == pytest.approx(difference, rel=1e-5, abs=1e-6), (point, k)
