"""The serialised parser (`autodiff_compiler.syntax`): parsing from several threads at once.

CPython 3.11 counts the depth of a tree being converted in one counter per
interpreter.  A garbage collection inside a conversion may run a finaliser,
switch threads, and let another parse move the counter: `SystemError: AST
constructor recursion depth mismatch`.  Dask's local scheduler once hit it in
CI (the library text parsed by two chunks' first calls).  The workload below
provokes it: finalisers on cyclic garbage, a collection every few allocations.
"""
import ast
import gc
import sys
import threading
import time

import numpy as np
import pytest

from autodiff_compiler import grad, syntax
from autodiff_compiler.backend import library, vecmath

TEXT = library.text(vecmath._setting())          # the text whose parse failed in CI


class _Finalised:
    """Cyclic garbage whose finaliser gives the other threads the interpreter."""

    def __init__(self):
        self.me = self

    def __del__(self):
        time.sleep(0)


def _race(parse, threads=4, rounds=10) -> list:
    """The SystemErrors `parse(TEXT)` raised while `threads` threads parsed at once, with collections."""
    errors, dumps = [], set()

    def work():
        for _ in range(rounds):
            try:
                dumps.add(len(ast.dump(parse(TEXT))))
            except SystemError as error:
                errors.append(str(error))
            [_Finalised() for _ in range(50)]

    threshold = gc.get_threshold()
    gc.set_threshold(5, 10 ** 6, 10 ** 6)     # young collections only: quick in a large heap
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        gc.set_threshold(*threshold)
    assert len(dumps) <= 1, "the same text parsed to different trees"
    return errors


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the race is CPython 3.11's (gh-106905)")
def test_the_workload_provokes_the_race_with_the_plain_parser():
    """Without this, the test below could pass because nothing raced."""
    seen = [error for _ in range(5) for error in _race(ast.parse)]
    assert seen and all(error.startswith("AST constructor recursion depth mismatch") for error in seen)


def test_the_serialised_parser_never_fails_under_the_same_workload():
    for _ in range(5):
        assert _race(syntax.parse) == []


def test_only_the_spurious_mismatch_is_repeated():
    """A thread outside the package takes no lock and may still disturb a conversion (too rarely to
    provoke in a test): the disturbed conversion is done again, and nothing else is."""
    calls = []

    def flaky(fail_times, message):
        def convert():
            calls.append(1)
            if len(calls) <= fail_times:
                raise SystemError(message)
            return "tree"
        return convert

    assert syntax._serialised(flaky(2, "AST constructor recursion depth mismatch (before=3, after=1)")) == "tree"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(SystemError, match="something else"):
        syntax._serialised(flaky(1, "something else"))
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(SystemError, match="mismatch"):
        syntax._serialised(flaky(100, "AST constructor recursion depth mismatch"))
    assert len(calls) == syntax._ATTEMPTS


def test_parse_compile_and_literal_agree_with_the_standard_library():
    source = "def f(x):\n    return x * 2 + 1\n"
    assert ast.dump(syntax.parse(source)) == ast.dump(ast.parse(source))
    assert ast.dump(syntax.expression("a + b * c")) == ast.dump(ast.parse("a + b * c", mode="eval").body)
    namespace = {}
    exec(syntax.compile_code(syntax.parse(source), "<test>", "exec"), namespace)
    assert namespace["f"](3) == 7
    assert syntax.literal(" [1, 2.5, -3] ") == [1, 2.5, -3]
    with pytest.raises(ValueError):
        syntax.literal("x + 1")
    with pytest.raises(SyntaxError):
        syntax.literal("1 +")


def test_first_calls_from_several_threads_at_once_give_the_gradient():
    """What Dask's local scheduler does: each chunk's first call derives, loads and compiles."""
    def loss(w, x):
        s = 0.0
        for i in range(x.shape[0]):
            s += np.tanh(w * x[i]) ** 2
        return s

    points = [(0.3 + 0.1 * k, np.linspace(-1.0, 1.0, 5 + k)) for k in range(4)]
    expected = [sum(2 * np.tanh(w * v) * (1 - np.tanh(w * v) ** 2) * v for v in x) for w, x in points]
    gradients = [grad(loss, wrt="w", jit=jit) for jit in (True, False)]
    results, failures = {}, []

    def call(index):
        try:
            w, x = points[index % 4]
            results[index] = gradients[index // 4](w, x)
        except Exception as error:          # noqa: BLE001 -- the test reports any failure below
            failures.append(repr(error))

    workers = [threading.Thread(target=call, args=(index,)) for index in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    for index in range(8):
        assert results[index] == pytest.approx(expected[index % 4], rel=1e-12, abs=1e-14)
