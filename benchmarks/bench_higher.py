"""Higher group: Hessian-vector products, Jacobians and forward mode (issue 9).

Every ratio is measured in the same run, each time the best of cfg.repeats, from inside an `njit` loop
(the generated code's own speed: the dispatchers of `g.compiled_for(*args)`), and each derivative is
first checked against a hand-written one:

* hvp / grad (target <= 4, the cheap-gradient bound for forward over reverse mode): Rosenbrock
  (vectorised, n = 10^3 and 10^5, and as a loop), a 1000-step scalar recurrence, mean logistic loss
  over 10^4 x 10 samples;
* jvp / primal (target <= 3): the same functions, one direction;
* jacobian / hand-written njit Jacobian: the residuals of an exponential fit (1000 x 3, by columns) and
  a tanh layer (50 x 50, by rows or columns);
* with JAX installed (CPU, float64): jax.jit of jax.hessian, jax.jacrev, jax.jvp and jvp-of-grad on the
  same functions, against ours, both called from Python.
"""
import math
import time
from dataclasses import replace

import numba
import numpy as np

import higher_fns as fns
from harness import Metric, _best_per_call, as_tuple, guarded, time_from_python

GROUP = "higher"
SEED = 3


# ----------------------------------------------- hand-written derivatives (for the checks and ratios)

@numba.njit
def h_exp_jacobian(p, t, y):
    m = t.shape[0]
    J = np.empty((m, 3))
    r = np.empty(m)
    for i in range(m):
        e = np.exp(-p[1] * t[i])
        r[i] = p[0] * e + p[2] - y[i]
        J[i, 0] = e
        J[i, 1] = -p[0] * t[i] * e
        J[i, 2] = 1.0
    return r, J


@numba.njit
def h_tanh_jacobian(x, A):
    z = np.tanh(A @ x)
    J = np.empty(A.shape)
    for i in range(A.shape[0]):
        d = 1.0 - z[i] * z[i]
        for j in range(A.shape[1]):
            J[i, j] = d * A[i, j]
    return z, J


def _njit_loop(F, args):
    """An njit loop calling F(*args) n times from compiled code (bench_arrays' loop, for results of any
    rank): the first argument changes every iteration (a float by i * 1e-15; an array in place at its
    first element, restored afterwards) and one element of every result is summed, so the call stays."""
    results = as_tuple(F(*args))
    names = [f"a{i}" for i in range(len(args))]
    single = not isinstance(F(*args), tuple)
    terms = []
    for k, value in enumerate(results):
        item = "r" if single else f"r[{k}]"
        terms.append(item + ("[" + ", ".join(["0"] * np.ndim(value)) + "]" if np.ndim(value) else ""))
    if isinstance(args[0], np.ndarray):
        index = ", ".join(["0"] * args[0].ndim)
        pre, call0, post = f"    x00 = a0[{index}]\n", "a0", f"    a0[{index}] = x00\n"
        nudge = f"        a0[{index}] = x00 + i * 1e-15\n"
    else:
        pre, call0, post, nudge = "", "a0 + i * 1e-15", "", ""
    src = (f"def loop({', '.join(names)}, n):\n"
           f"    acc = 0.0\n{pre}"
           f"    for i in range(n):\n{nudge}"
           f"        r = F({', '.join([call0] + names[1:])})\n"
           f"        acc += {' + '.join(terms)}\n"
           f"{post}    return acc\n")
    namespace = {"F": F}
    exec(src, namespace)
    return numba.njit(namespace["loop"])


def _time_in_loop(F, args, cfg):
    loop = _njit_loop(F, args)
    loop(*args, 1)

    def run_n(n):
        t0 = time.perf_counter()
        loop(*args, n)
        return time.perf_counter() - t0
    return _best_per_call(run_n, cfg)


def _data():
    rng = np.random.default_rng(SEED)
    return {
        "x3": rng.uniform(-2.0, 2.0, 10**3), "x5": rng.uniform(-2.0, 2.0, 10**5),
        "X": rng.standard_normal((10**4, 10)), "y": (rng.random(10**4) < 0.5).astype(np.float64),
        "w": 0.1 * rng.standard_normal(10), "t": np.linspace(0.0, 4.0, 1000),
        "A": rng.standard_normal((50, 50)) / 7.0, "x50": rng.standard_normal(50),
    }


def _workloads(d):
    """name, fn, args, wrt index."""
    return [
        ("rosenbrock_vec (n=1e3)", fns.rosenbrock_vec, (d["x3"],)),
        ("rosenbrock_vec (n=1e5)", fns.rosenbrock_vec, (d["x5"],)),
        ("rosenbrock_loop (n=1e3)", fns.rosenbrock_loop, (d["x3"],)),
        ("recurrence (1000 steps)", fns.recurrence, (0.3, 1000)),
        ("logreg (10^4 x 10)", fns.logreg, (d["w"], d["X"], d["y"])),
    ]


def _direction(x):
    return np.cos(np.arange(x.size, dtype=np.float64)).reshape(np.shape(x)) if isinstance(x, np.ndarray) else 0.7


def _close(a, b, what, rtol=1e-9):
    scale = max(1.0, float(np.max(np.abs(b))))
    assert np.allclose(a, b, rtol=rtol, atol=rtol * scale), f"{what}: max difference {np.max(np.abs(a - b))}"


def _hvp_vs_grad(name, fn, args, cfg):
    from autodiff_compiler import grad, hvp
    x, rest = args[0], args[1:]
    v = _direction(x)
    g = grad(fn).compiled_for(*args, value=False)
    hp = hvp(fn).compiled_for(*args)
    # check against central differences of the gradient along v
    h = 1e-6 * max(1.0, float(np.max(np.abs(x))))
    fd = (g(x + h * v, *rest) - g(x - h * v, *rest)) / (2 * h)
    _close(hp(x, *rest, v), fd if np.ndim(fd) else float(fd), name + " hvp vs differences of the gradient", 1e-5)
    t_grad = _time_in_loop(g, args, cfg)
    t_hvp = _time_in_loop(hp, args + (v,), cfg)
    py_grad = time_from_python(grad(fn), args, cfg)
    py_hvp = time_from_python(hvp(fn), (x, v) + rest, cfg)
    return Metric(GROUP, f"hvp / grad: {name}", t_hvp / t_grad, "x", target=4.0,
                  note=f"in njit loop: hvp {t_hvp * 1e6:.3g} us, grad {t_grad * 1e6:.3g} us; "
                       f"from Python: hvp {py_hvp * 1e6:.3g} us, grad {py_grad * 1e6:.3g} us")


def _jvp_vs_primal(name, fn, args, cfg):
    from autodiff_compiler import jvp
    x, rest = args[0], args[1:]
    v = _direction(x)
    j = jvp(fn).compiled_for(*args)
    primal = numba.njit(fn)
    value, tangent = j(x, *rest, v)
    _close(value, primal(*args), name + " jvp value")
    h = 1e-6 * max(1.0, float(np.max(np.abs(x))))
    _close(tangent, (primal(x + h * v, *rest) - primal(x - h * v, *rest)) / (2 * h), name + " jvp tangent", 1e-5)
    t_primal = _time_in_loop(primal, args, cfg)
    t_jvp = _time_in_loop(j, args + (v,), cfg)
    return Metric(GROUP, f"jvp / primal: {name}", t_jvp / t_primal, "x", target=3.0,
                  note=f"in njit loop: jvp {t_jvp * 1e6:.3g} us, primal {t_primal * 1e6:.3g} us")


def _jacobian_vs_hand(name, fn, args, hand, mode, cfg):
    from autodiff_compiler import jacobian
    J = jacobian(fn, mode=mode)
    d = J.compiled_for(*args)
    value, ours = d(*args)
    want_value, want = hand(*args)
    _close(value, want_value, name + " value")
    _close(ours, want, name + " Jacobian")
    _close(J(*args), want, name + " Jacobian (J(*args))")
    t_hand = _time_in_loop(hand, args, cfg)
    t_ours = _time_in_loop(d, args, cfg)
    return Metric(GROUP, f"jacobian ({mode}) / hand-written: {name}", t_ours / t_hand, "x",
                  note=f"in njit loop: ours {t_ours * 1e6:.3g} us, hand-written njit {t_hand * 1e6:.3g} us; "
                       f"J(*args) from Python {time_from_python(J, args, cfg) * 1e6:.3g} us")


def _jax(d, cfg):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("  jax: not installed", flush=True)
        return [Metric(GROUP, "jax", None, "s", note="jax: not installed")]
    jax.config.update("jax_enable_x64", True)
    from autodiff_compiler import hessian, hvp, jacobian, jvp

    def rosen(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def expres(p, t, y):
        return p[0] * jnp.exp(-p[1] * t) + p[2] - y

    out = []
    x100 = d["x3"][:100]
    p = np.array([2.5, 1.3, 0.5])
    t = d["t"]
    y = fns.exp_residuals(p, t, np.zeros_like(t)) * 1.01
    x5 = d["x5"]
    v5 = _direction(x5)
    H, Jr, Ja, J5, HV = (hessian(fns.rosenbrock_vec), jacobian(fns.exp_residuals, mode="reverse"),
                         jacobian(fns.exp_residuals), jvp(fns.rosenbrock_vec), hvp(fns.rosenbrock_vec))
    jh = jax.jit(jax.hessian(rosen))
    jr, jf = jax.jit(jax.jacrev(expres)), jax.jit(jax.jacfwd(expres))
    jj = jax.jit(lambda x, v: jax.jvp(rosen, (x,), (v,))[1])
    jhv = jax.jit(lambda x, v: jax.jvp(jax.grad(rosen), (x,), (v,))[1])
    a = lambda *arrays: tuple(jnp.asarray(v) for v in arrays)  # noqa: E731
    cases = [  # name, ours (no arguments), jax (no arguments)
        ("hessian rosenbrock (n=100)", lambda: H(x100), lambda xs=a(x100): jh(*xs)),
        ("jacrev exp residuals (1000 x 3)", lambda: Jr(p, t, y), lambda xs=a(p, t, y): jr(*xs)),
        ("jacfwd exp residuals (1000 x 3; ours: auto = columns)", lambda: Ja(p, t, y),
         lambda xs=a(p, t, y): jf(*xs)),
        ("jvp rosenbrock (n=1e5)", lambda: J5(x5, tangents=(v5,))[1], lambda xs=a(x5, v5): jj(*xs)),
        ("hvp rosenbrock (n=1e5)", lambda: HV(x5, v5), lambda xs=a(x5, v5): jhv(*xs)),
    ]
    for name, ours, theirs in cases:
        mine, reference = np.asarray(ours()), np.asarray(jax.block_until_ready(theirs()))
        assert np.allclose(mine, reference, rtol=1e-9, atol=1e-9), f"{name}: ours and JAX's disagree"
        t_ours = time_from_python(lambda _, ours=ours: ours(), (0,), cfg)
        t_jax = guarded(cfg, GROUP, name + " jax", time_from_python,
                        lambda _, theirs=theirs: jax.block_until_ready(theirs()), (0,), cfg)
        out.append(Metric(GROUP, f"ours / jax.jit: {name}", None if t_jax is None else t_ours / t_jax, "x",
                          note="" if t_jax is None else
                          f"from Python: ours {t_ours * 1e6:.3g} us, jax {t_jax * 1e6:.3g} us"))
    return out


def run(cfg):
    lcfg = replace(cfg, min_time=min(cfg.min_time, 0.05), failures=cfg.failures)
    d = _data()
    results = []
    for name, fn, args in _workloads(d):
        for measure in (_hvp_vs_grad, _jvp_vs_primal):
            m = guarded(cfg, GROUP, f"{measure.__name__} {name}", measure, name, fn, args, lcfg)
            if m is not None:
                results.append(m)
    p = np.array([2.5, 1.3, 0.5])
    y = fns.exp_residuals(p, d["t"], np.zeros_like(d["t"])) * 1.01
    for name, fn, args, hand, mode in (
            ("exp residuals (1000 x 3)", fns.exp_residuals, (p, d["t"], y), h_exp_jacobian, "auto"),
            ("tanh layer (50 x 50)", fns.tanh_layer, (d["x50"], d["A"]), h_tanh_jacobian, "forward"),
            ("tanh layer (50 x 50)", fns.tanh_layer, (d["x50"], d["A"]), h_tanh_jacobian, "reverse")):
        m = guarded(cfg, GROUP, f"jacobian {name} {mode}", _jacobian_vs_hand, name, fn, args, hand, mode, lcfg)
        if m is not None:
            results.append(m)
    results.extend(_jax(d, lcfg))
    return results
