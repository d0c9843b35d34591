"""verify on small instances: a large call is proved on small instances of the same generated
code, every branch outcome a candidate instance reaches is proved on some instance (both sides
of the fused-loop guard, zero-trip loops), a wrong branch the call never takes is still caught,
and a successful proof is cached beside the compiled code and reused by a later process."""
import glob
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.optimize import rosen_der

import corpus_verify_arrays as K

from autodiff_compiler import grad
from autodiff_compiler import ir
from autodiff_compiler.api import type_of_argument
from autodiff_compiler.ir import Assign, Const, If, Var
from autodiff_compiler.frontend.parse import source_of_function
from autodiff_compiler.pipeline import derive
from autodiff_compiler.verify import branch_points, verify_gradient
from autodiff_compiler.verify.cache import STATS
from autodiff_compiler.verify.limits import SMALL_INT, SMALL_LENGTH


def state_for(fn, args, wrt=None, with_value=False):
    source = source_of_function(fn)
    params = [a.arg for a in source.node.args.args]
    types = {p: type_of_argument(a, p, fn.__name__) for p, a in zip(params, args)}
    if wrt is None:
        wrt = [p for p, a in zip(params, args) if isinstance(a, float) or
               (isinstance(a, np.ndarray) and a.dtype.kind == "f")]
    return derive(source, types, list(wrt), with_value=with_value)


def all_reports(report):
    return [report] + list(report.instances)


def guard_ordinals(function):
    """Ordinals (see branch_points) of the fused-loop guards `if same_length` of a program."""
    points = branch_points(function)
    return [points[id(s)][0] for s in ir.walk(function.body)
            if isinstance(s, If) and isinstance(s.cond, Var) and s.cond.name.startswith("same_length")]


# ------------------------------------------------------------------ large calls

def test_rosenbrock_n_100000_verifies_on_small_instances():
    x = np.linspace(-1.0, 1.5, 100_000)
    g = grad(K.rosenbrock, verify=True, jit=False)
    np.testing.assert_allclose(g(x), rosen_der(x), rtol=1e-9, atol=1e-9)

    report = verify_gradient(state_for(K.rosenbrock, (x,)), (x,), K.rosenbrock)
    assert report.ok, str(report)
    assert report.call_args is not None and not report.plan.call_is_instance
    for r in all_reports(report):
        assert r.args[0].shape[0] <= SMALL_LENGTH
        assert all(e.method in ("exact", "numeric") for e in r.entries)
        assert "equals rosenbrock" in r.primal_check          # the user's function ran on the instance
    text = str(report)
    assert "on small instances of the same generated code" in text and "100000 elements" in text
    assert "scope:" in text


def test_the_small_instance_draws_its_entries_from_the_call():
    x = np.linspace(-1.0, 1.5, 1000)
    report = verify_gradient(state_for(K.rosenbrock, (x,)), (x,), K.rosenbrock)
    assert report.ok, str(report)
    np.testing.assert_array_equal(report.args[0], x[:SMALL_LENGTH])
    assert "3 of its 1000 entries" in str(report)


def test_a_small_call_is_proved_as_it_is():
    x = np.array([1.3, 0.7, 0.8, 1.9])
    report = verify_gradient(state_for(K.rosenbrock, (x,)), (x,), K.rosenbrock)
    assert report.ok and report.call_args is None and report.plan.call_is_instance
    np.testing.assert_array_equal(report.args[0], x)


def test_loop_bounds_are_capped_and_zero_trips_proved():
    report = verify_gradient(state_for(K.power_loop, (1.0001, 1_000_000), wrt=["x"]), (1.0001, 1_000_000),
                             K.power_loop)
    assert report.ok, str(report)
    assert report.call_args is not None
    trips = sorted(r.args[1] for r in all_reports(report))
    assert max(trips) <= SMALL_INT and 0 in trips
    assert any(side == "0 trips" for _, _, side in report.plan.covered)


def test_an_int_equal_to_an_array_length_follows_it():
    x = np.linspace(0.1, 2.0, 1000)
    report = verify_gradient(state_for(K.cubes_to_n, (x, 1000)), (x, 1000), K.cubes_to_n)
    assert report.ok, str(report)
    for r in all_reports(report):
        assert r.args[1] == r.args[0].shape[0] <= SMALL_LENGTH


# ------------------------------------------------------------------ every branch

def test_both_sides_of_the_fused_guard_are_proved():
    x, y = np.linspace(0.1, 1.0, 50), np.linspace(1.0, 2.0, 50)
    state = state_for(K.broadcast_pair, (x, y))
    report = verify_gradient(state, (x, y), K.broadcast_pair)
    assert report.ok, str(report)
    covered = report.plan.covered
    for program, function in (("primal", state.primal), ("gradient", state.adjoint)):
        ordinals = guard_ordinals(function)
        assert ordinals, f"no fused-loop guard in the {program} program"
        for ordinal in ordinals:
            assert (program, ordinal, True) in covered and (program, ordinal, False) in covered
    shapes = [tuple(a.shape for a in r.args) for r in all_reports(report)]
    assert ((3,), (3,)) in shapes                                  # the same-length fused path
    assert any(1 in (s[0][0], s[1][0]) and s[0] != s[1] for s in shapes)   # the broadcasting fallback
    assert not report.plan.unreached or all(side == "0 trips" for _, _, side in report.plan.unreached)


def _corrupt_first_mul(block) -> bool:
    for stmt in ir.walk(block):
        if isinstance(stmt, Assign) and stmt.prim == "mul":
            stmt.prim = "add"
            return True
    return False


def _guard(function) -> If:
    """The fused-loop guard of the reverse sweep (both branches compute adjoints)."""
    return next(s for s in ir.walk(function.body)
                if isinstance(s, If) and isinstance(s.cond, Var) and s.cond.name.startswith("same_length")
                and s.body and s.orelse)


@pytest.mark.parametrize("side", ["broadcasting", "fused"])
def test_a_wrong_branch_of_the_fused_guard_is_caught(side):
    """The call (two vectors of one length) never takes the broadcasting branch, yet a wrong
    adjoint there fails verification: a small instance with a length-1 vector reaches it."""
    x, y = np.linspace(0.1, 1.0, 50), np.linspace(1.0, 2.0, 50)
    state = state_for(K.broadcast_pair, (x, y))
    assert verify_gradient(state, (x, y), K.broadcast_pair).ok
    guard = _guard(state.adjoint)
    assert _corrupt_first_mul(guard.orelse if side == "broadcasting" else guard.body)
    report = verify_gradient(state, (x, y), K.broadcast_pair)
    assert not report.ok
    assert "VERIFICATION FAILED" in str(report) and "MISMATCH" in str(report)
    failed = [r for r in all_reports(report) if not r.own_ok]
    assert failed
    if side == "broadcasting":
        assert all(r.args[0].shape != r.args[1].shape for r in failed)


def test_branches_in_a_loop_are_all_proved():
    report = verify_gradient(state_for(K.branches_in_loop, (0.8, 7), wrt=["x"]), (0.8, 7), K.branches_in_loop)
    assert report.ok, str(report)
    assert report.plan.covered >= report.plan.reached
    assert not report.plan.unreached


# ------------------------------------------------------------------ a program error is a failure

def _softmax_sq_gradient(z):
    e = np.exp(z - z.max())
    p = e / e.sum()
    return 2 * p * (p - np.dot(p, p))


def test_fused_softmax_verifies():
    z = np.array([0.3, 0.1, -0.5, 0.9])
    g = grad(K.softmax_sq, verify=True, jit=False)
    np.testing.assert_allclose(g(z), _softmax_sq_gradient(z), rtol=1e-9)


def test_the_fused_softmax_verdict_agrees_with_its_numbers():
    """Verification of the fused softmax is a verdict, never "unsupported": it passes exactly
    when the generated code computes the right gradient."""
    z = np.array([0.3, 0.1, -0.5, 0.9])
    state = state_for(K.softmax_sq, (z,))
    report = verify_gradient(state, (z,), K.softmax_sq)
    assert report.unsupported is None, str(report)
    try:
        with np.errstate(all="ignore"):
            right = np.allclose(grad(K.softmax_sq, jit=False)(z), _softmax_sq_gradient(z), rtol=1e-9)
    except Exception:
        right = False
    assert report.ok == right, str(report)
    if not report.ok:
        assert "VERIFICATION FAILED" in str(report)


# ------------------------------------------------------------------ the proof cache

def _proof_files(directory) -> list:
    return sorted(glob.glob(os.path.join(str(directory), "*.proof.json")))


def test_a_proof_is_cached_beside_the_compiled_code(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path))
    x = np.linspace(-1.0, 1.5, 500)
    state = state_for(K.rosenbrock, (x,))
    before = dict(STATS)
    first = verify_gradient(state, (x,), K.rosenbrock, cache=True)
    assert first.ok and first.cached is None
    files = _proof_files(tmp_path)
    assert len(files) == 1 and os.path.basename(files[0]).startswith(state.adjoint.name)
    assert json.load(open(files[0]))["ok"] is True
    # another call of the same signature, other values: the same instances, read back
    x2 = np.linspace(-2.0, 0.5, 700)
    second = verify_gradient(state_for(K.rosenbrock, (x2,)), (x2,), K.rosenbrock, cache=True)
    assert second.ok and second.cached == files[0]
    assert "proof read from the cache" in str(second)
    assert STATS["proved"] == before["proved"] + 1 and STATS["cached"] == before["cached"] + 1


def test_the_cache_key_covers_the_program_and_the_function(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODIFF_COMPILER_CACHE", str(tmp_path))
    args = (0.7, 5)
    state = state_for(K.power_loop, args, wrt=["x"])
    assert verify_gradient(state, args, K.power_loop, cache=True).ok

    def not_the_same(x, n):
        return K.power_loop(x, n) + 1.0

    other_function = verify_gradient(state, args, not_the_same, cache=True)
    assert other_function.cached is None and not other_function.ok       # the primal check ran again
    for stmt in ir.walk(state.adjoint.body):                               # a wrong adjoint: another key
        if isinstance(stmt, Assign) and stmt.prim == "mul":
            stmt.args = tuple(Const(3.0) if isinstance(a, Var) and a.name == "x" else a for a in stmt.args)
    corrupted = verify_gradient(state, args, K.power_loop, cache=True)
    assert corrupted.cached is None and not corrupted.ok
    assert len(_proof_files(tmp_path)) == 1                               # failures are not stored


SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
import corpus_verify_arrays as K
from autodiff_compiler import grad
from autodiff_compiler.verify.cache import STATS
x = np.linspace(-1.0, 1.5, {n})
g = grad(K.rosenbrock, verify=True, jit=False)
g(x)
print(json.dumps(STATS))
"""


def test_a_second_process_reuses_the_proof(tmp_path, subprocess_env):
    tests = os.path.dirname(os.path.abspath(__file__))
    cache = subprocess_env["AUTODIFF_COMPILER_CACHE"]

    def run(n):
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT.format(tests=tests, n=n))],
                              env=subprocess_env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    assert run(100_000) == {"proved": 1, "cached": 0}
    files = _proof_files(cache)
    assert len(files) == 1
    stamp = os.stat(files[0]).st_mtime_ns
    assert run(50_000) == {"proved": 0, "cached": 1}          # same signature: the proof is reused
    assert _proof_files(cache) == files and os.stat(files[0]).st_mtime_ns == stamp
