"""backend/load.py: the LLVM level a derived program is compiled at.

Programs with an array of rank 4 or more compile at `high_rank_level()` at most
(LLVM's level 3 unswitches their broadcasting loop nests for minutes); the rest
at Numba's own level.  Checked here: which programs qualify, that the level is
the one in force while Numba compiles them (helpers included) and is restored
afterwards, errors included, that it never exceeds NUMBA_OPT, and that the
gradients so compiled are the right numbers.  And the runtime helpers: one
Numba function per helper and level for the process, shared by every
generated module that calls it (`load.shared_helper`).
"""
import numpy as np
import pytest
from numba.core import config
from numba.core.registry import CPUDispatcher

from autodiff_compiler import grad, value_and_grad
from autodiff_compiler.backend import load
from autodiff_compiler.ir import FLOAT, array_of
from autodiff_compiler.ir.nodes import Function


def rank4_broadcast(Q, v):
    return np.sum(np.tanh(Q * v) + Q[:, 0:1] * 0.5)


def rank3_product(T, w):
    return np.sum(np.sin(T * w) * T)


def _program(*types):
    return Function("f", [f"p{k}" for k in range(len(types))], {f"p{k}": t for k, t in enumerate(types)}, [], None)


def _record_compiles(monkeypatch) -> list:
    """(function name, LLVM level in force) of every Numba compile from now on."""
    seen = []
    compile_ = CPUDispatcher.compile

    def recording(self, sig):
        seen.append((self.py_func.__name__, int(config.OPT)))
        return compile_(self, sig)
    monkeypatch.setattr(CPUDispatcher, "compile", recording)
    return seen


def test_which_programs_compile_at_the_high_rank_level(monkeypatch):
    monkeypatch.delenv("AUTODIFF_COMPILER_HIGH_RANK_OPT", raising=False)
    assert load.llvm_level(_program(FLOAT, array_of(1), array_of(3))) is None
    assert load.llvm_level(_program(FLOAT, array_of(4))) == 2
    assert load.llvm_level(_program(array_of(5, "int64"))) == 2
    monkeypatch.setenv("AUTODIFF_COMPILER_HIGH_RANK_OPT", "0")
    assert load.llvm_level(_program(array_of(4))) == 0


def test_the_level_is_in_force_while_compiling_and_restored_after(monkeypatch):
    saved = config.OPT
    monkeypatch.setattr(config, "OPT", type(saved)(3))
    with load.compiling_at(1):
        assert int(config.OPT) == 1
    assert int(config.OPT) == 3
    with pytest.raises(ZeroDivisionError):
        with load.compiling_at(0):
            assert int(config.OPT) == 0
            1 / 0
    assert int(config.OPT) == 3
    with load.compiling_at(None):
        assert int(config.OPT) == 3
    monkeypatch.setattr(config, "OPT", type(saved)(1))
    with load.compiling_at(2):                          # never above the user's NUMBA_OPT
        assert int(config.OPT) == 1


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
def test_a_rank4_gradient_compiles_at_its_level_with_its_helpers(monkeypatch, simplify):
    """Every Numba compile the gradient's first call makes (the gradient and the helpers it calls) runs
    at the program's level; the numbers are those of the same code in Python and of finite differences."""
    monkeypatch.setattr(config, "OPT", type(config.OPT)(3))         # as a user's Numba has it
    monkeypatch.setenv("AUTODIFF_COMPILER_HIGH_RANK_OPT", "2")
    seen = _record_compiles(monkeypatch)
    rng = np.random.default_rng(4)
    for Q, v in ((rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(5)),
                 (rng.standard_normal((3, 1, 2, 4)), rng.standard_normal((1, 4)))):
        compiled = grad(rank4_broadcast, simplify=simplify)(Q, v)
        interpreted = grad(rank4_broadcast, jit=False, simplify=simplify)(Q, v)
        np.testing.assert_allclose(compiled, interpreted, rtol=1e-13, atol=1e-15)
        expected = np.zeros_like(Q)
        for index in np.ndindex(Q.shape):
            step = np.zeros_like(Q)
            step[index] = 1e-6
            expected[index] = (rank4_broadcast(Q + step, v) - rank4_broadcast(Q - step, v)) / 2e-6
        np.testing.assert_allclose(compiled, expected, rtol=1e-6, atol=1e-8)
    ours = [(name, level) for name, level in seen if name.startswith(("rank4_broadcast", "sum_like"))]
    assert any(name.startswith("rank4_broadcast_grad") for name, _ in ours), seen
    assert all(level == 2 for _, level in ours), ours
    assert int(config.OPT) == 3


def test_rank3_programs_keep_numbas_level(monkeypatch):
    monkeypatch.setenv("AUTODIFF_COMPILER_HIGH_RANK_OPT", "0")
    monkeypatch.setattr(config, "OPT", type(config.OPT)(1))     # Numba's level here, whatever the suite's
    seen = _record_compiles(monkeypatch)
    T, w = np.linspace(-1.0, 1.0, 24).reshape(2, 3, 4), np.linspace(0.5, 1.5, 4)
    value, gradient = value_and_grad(rank3_product)(T, w)
    np.testing.assert_allclose(gradient, np.sin(T * w) + T * w * np.cos(T * w), rtol=1e-13)
    assert value == pytest.approx(rank3_product(T, w), rel=1e-13)
    assert [level for name, level in seen if name.startswith("rank3_product")] and \
        all(level == 1 for name, level in seen if name.startswith("rank3_product")), seen


def row_logsumexp(Z):
    m = np.max(Z, axis=1, keepdims=True)
    return np.sum(np.log(np.sum(np.exp(Z - m), axis=1)) + m[:, 0])


def row_energy(Z):
    return np.sum(np.sum(Z * Z, axis=1) * np.max(Z, axis=1))


def trigamma_sum(x):
    import scipy.special
    return np.sum(scipy.special.polygamma(1, x) * x)


def _fd_matrix(fn, Z, h=1e-6):
    out = np.zeros_like(Z)
    for index in np.ndindex(Z.shape):
        step = np.zeros_like(Z)
        step[index] = h
        out[index] = (fn(Z + step) - fn(Z - step)) / (2 * h)
    return out


def test_gradients_share_the_runtime_helpers_they_call(monkeypatch):
    """A runtime helper (`amax_axis1`, `sum_axis1`) is one Numba function per level for the process
    (`load.shared_helper`): two gradients calling it with the same types compile it once between them,
    or not at all when an earlier test did (one compile per generated module before), and both give
    the finite-difference numbers."""
    compiled_anew = []           # (name, signature) of every compile Numba did not have already
    compile_ = CPUDispatcher.compile

    def recording(self, sig):
        if tuple(sig) not in self.overloads:
            compiled_anew.append((self.py_func.__name__, tuple(sig)))
        return compile_(self, sig)
    monkeypatch.setattr(CPUDispatcher, "compile", recording)
    Z = np.random.default_rng(3).uniform(-1.0, 1.0, (4, 3))
    for fn in (row_logsumexp, row_energy):
        compiled = grad(fn)(Z)
        np.testing.assert_allclose(compiled, grad(fn, jit=False)(Z), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(compiled, _fd_matrix(fn, Z), rtol=1e-6, atol=1e-8)
    names = [name for name, _ in compiled_anew]
    assert any(name.startswith("row_energy_grad") for name in names), names     # each gradient compiled
    assert names.count("amax_axis1") <= 1 and names.count("sum_axis1") <= 1, names
    assert load.shared_helper("amax_axis1", None) is load.shared_helper("amax_axis1", None)


def test_a_shared_helper_calls_the_shared_helpers_it_needs():
    """`polygamma_array` calls `polygamma_scalar`: in the library (`backend.library`) that name is the
    compiled one."""
    x = np.array([0.5, 1.5, 2.5])
    compiled = grad(trigamma_sum)(x)
    np.testing.assert_allclose(compiled, grad(trigamma_sum, jit=False)(x), rtol=1e-12)
    np.testing.assert_allclose(compiled, [_fd_matrix(trigamma_sum, x, 1e-5)[k] for k in range(3)], rtol=1e-5)
    from autodiff_compiler.backend import library
    helpers = vars(library.module(None))
    assert not isinstance(helpers["polygamma_scalar"], type(trigamma_sum)), "a plain function: not compiled"
