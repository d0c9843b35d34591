"""Differential checks over the end-to-end and array corpora: on every case and point, the transforms
must agree with one another where they compute the same number by different derivations --

* jvp (forward mode) along a random direction == the reverse-mode gradient . direction;
* jacobian by columns (forward) == jacobian by rows (reverse) == the gradient;
* hvp and hessian (forward over reverse) == the Jacobian of the gradient by rows (reverse over forward),
  and for a float parameter == grad(grad(f)).

Each side is tested against finite differences and SymPy elsewhere; here the whole corpus runs through
the interpreter (jit=False), simplified, so that every construct of the language meets every transform."""
import inspect

import numpy as np
import pytest

import corpus_arrays as A  # noqa: F401  (the array cases below)
import test_end_to_end as E
from _derivative_reference import copy_args

from autodiff_compiler import AutodiffError, grad, hessian, hvp, jacobian, jvp

RNG = np.random.default_rng(3)
ARRAY_CASES = [
    ("mean_sq", A.mean_sq, 0, [(np.array([1.0, 2.0, 3.0]),)]),
    ("sum_poly", A.sum_poly, 0, [(np.array([1.0, -2.0, 0.5]),)]),
]
CASES = [(c.name, c.func, c.wrt if c.wrt is not None else 0, c.points[:2]) for c in E.CASES] + ARRAY_CASES


def _close(a, b, rtol=1e-7, atol=1e-9):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("name, fn, wrt, points", CASES, ids=[c[0] for c in CASES])
def test_transforms_agree(name, fn, wrt, points):
    params = list(inspect.signature(fn).parameters)
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    idx = [params.index(w) if isinstance(w, str) else w for w in items]
    for args in points:
        if not all(isinstance(args[i], (float, np.ndarray)) for i in idx):
            continue
        try:
            G = grad(fn, wrt=wrt, jit=False)(*copy_args(args))
        except AutodiffError:
            continue                  # not differentiable here (the gradient tests say what is expected)
        Gs = G if isinstance(wrt, tuple) else (G,)
        tangents = [RNG.normal(size=np.shape(args[i])) if isinstance(args[i], np.ndarray) else float(RNG.normal())
                    for i in idx]
        _, tangent = jvp(fn, wrt=wrt, jit=False)(*copy_args(args), tangents=tuple(tangents))
        expected = sum(float(np.sum(np.asarray(g) * t)) for g, t in zip(Gs, tangents))
        assert _close(tangent, expected), f"{name} at {args}: jvp {tangent} != grad . t {expected}"
        for mode in ("forward", "reverse"):
            J = jacobian(fn, wrt=wrt, mode=mode, jit=False)(*copy_args(args))
            for a, b in zip(J if isinstance(wrt, tuple) else (J,), Gs):
                assert _close(a, b), f"{name} at {args}: jacobian ({mode}) {a} != grad {b}"
        if len(idx) != 1:
            continue
        w, i = items[0], idx[0]
        v = tangents[0]
        a = copy_args(args)
        Hv = hvp(fn, wrt=w, jit=False)(*a[:i + 1], v, *a[i + 1:])
        Hr = jacobian(grad(fn, wrt=w, jit=False), wrt=w, mode="reverse", jit=False)(*copy_args(args))
        reference = np.tensordot(np.asarray(Hr), np.asarray(v), axes=np.ndim(v)) if np.ndim(v) else Hr * v
        assert _close(Hv, reference, 1e-6, 1e-8), f"{name} at {args}: hvp {Hv} != reverse-over-forward {reference}"
        H = hessian(fn, wrt=w, jit=False)(*copy_args(args))
        assert _close(H, Hr, 1e-6, 1e-8), f"{name} at {args}: hessian {H} != reverse-over-forward {Hr}"
        if not isinstance(args[i], np.ndarray):
            gg = grad(grad(fn, wrt=w, jit=False), wrt=w, jit=False)(*copy_args(args))
            assert _close(gg, H, 1e-6, 1e-8), f"{name} at {args}: grad(grad) {gg} != hessian {H}"
