"""The pipeline as a whole (`autodiff_compiler/pipeline.py`): what a derivation leaves behind.

`pipeline.derive` runs with CPython's cyclic collector paused (`without_cyclic_collection`), so
that a long derivation is not made quadratic by collections over everything alive.  That is only
sound if the passes make no reference cycles: what is garbage then is freed the moment it is
dropped, by reference counting.  A cycle (a recursive closure, an object holding its own bound
methods, two analyses holding each other) keeps everything it reaches alive until the collector
runs again, and the collection at the end of the derivation then costs a pass over all of it:
0.2 s of a 1000-statement derivation's 2.3 s before these tests.
"""
import gc

import numpy as np
import pytest

from autodiff_compiler import grad, hessian, jvp, value_and_grad

import corpus_arrays as A
import corpus_control as C
import corpus_soundness as S

RNG = np.random.default_rng(3)

# (derivative maker, function, arguments): straight lines, tapes, branches, while loops, arrays of
# rank 1 and 2, matrix products, forward mode and second order: every family of passes
PROGRAMS = {
    "recurrence": (lambda f: grad(f, wrt="x", jit=False), C.recurrence, (0.3, 7)),
    "pendulum": (lambda f: grad(f, wrt=(0, 1), jit=False), C.pendulum_energy, (0.3, 0.1, 9.8, 20)),
    "nested_branches": (lambda f: value_and_grad(f, wrt=(0, 1), jit=False), C.nested_branches, (0.4, -1.2)),
    "halve_until_small": (lambda f: grad(f, jit=False), C.halve_until_small, (7.5,)),
    "softmax_xent": (lambda f: grad(f, wrt="z", jit=False), A.softmax_xent, (RNG.standard_normal(5), 2)),
    "mlp": (lambda f: grad(f, wrt=(0, 1, 2), jit=False), A.mlp,
            (RNG.standard_normal((4, 3)), RNG.standard_normal(4), RNG.standard_normal(4), RNG.standard_normal(3))),
    "rnn": (lambda f: grad(f, wrt=(0, 1), jit=False), A.rnn,
            (RNG.standard_normal((3, 3)) * 0.3, RNG.standard_normal((3, 2)) * 0.3, np.zeros(3),
             RNG.standard_normal((4, 2)))),
    "snapshot_inner_sum": (lambda f: grad(f, wrt="w", jit=False), S.snapshot_inner_sum,
                           (np.array([0.2, -0.1]), RNG.standard_normal((3, 2)), np.array([0.0, 1.0, 0.0]))),
    "jvp_rosen": (lambda f: lambda x: jvp(f, jit=False)(x, tangents=(np.ones(4),)), A.rosen_loop,
                  (RNG.standard_normal(4),)),
    "hessian_logsumexp": (lambda f: hessian(f, jit=False), A.logsumexp, (RNG.standard_normal(4),)),
}


def _ours(obj) -> bool:
    """Is `obj` one of the compiler's objects, or a function of its code (a closure)?"""
    module = getattr(obj, "__module__", None) if callable(obj) and not isinstance(obj, type) else None
    if module is None:
        module = type(obj).__module__
    return isinstance(module, str) and module.startswith("autodiff_compiler")


def _cycles_left_by(action) -> list:
    """The compiler's objects that `action()`, run with the cyclic collector paused, left in reference
    cycles (garbage only the collector frees).  What was alive before is frozen (`gc.freeze`): the
    collection then examines only what `action()` made, where a full one, over the heap of a test worker
    that had run other files first, took a second or more."""
    was_enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        action()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return [obj for obj in gc.garbage if _ours(obj)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_derivation_makes_no_reference_cycles(name):
    make, function, args = PROGRAMS[name]
    make(function)(*args)               # the rule table, SymPy and the caches: made once, alive after
    # a new derivative object: derived again, not taken from a cache
    cyclic = _cycles_left_by(lambda: make(function)(*args))
    kinds = sorted({getattr(obj, "__qualname__", type(obj).__qualname__) for obj in cyclic})
    assert not cyclic, f"{name}: reference cycles through {kinds}"


def test_the_check_sees_a_cycle():
    """The test above fails where it should: a recursive closure, as a pass would write it."""
    from autodiff_compiler.ir import nodes

    def make_cycle():
        def visit(block):
            return [visit(child) for child in block]
        visit.__module__ = nodes.__name__
        return visit

    found = _cycles_left_by(make_cycle)
    assert [getattr(obj, "__name__", None) for obj in found] == ["visit"]
