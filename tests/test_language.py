"""The language of real numerical code (issue 10): every function of corpus_language.py interpreted with
simplify on and off, and compiled for about half of them (`_modes`), against central finite differences
at three points, and the scalar and small-array ones proved against SymPy (verify=True).

Numba compiles dominate the time: each case compiles once per mode and signature, and the three
points share that compilation (the gradient objects are kept for the whole module)."""
import inspect
import re
import zlib

import numpy as np
import pytest

import corpus_language as L
from autodiff_compiler import grad, value_and_grad

POINTS = (0, 1, 2)
_GRADIENTS: dict = {}


def _params(fn) -> list:
    names = list(inspect.signature(fn).parameters)
    return names


def _is_float_tree(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    if isinstance(value, (tuple, list)):
        return all(_is_float_tree(v) for v in value)
    if isinstance(value, dict):
        return all(_is_float_tree(v) for v in value.values())
    return False


def _wrt(case, args) -> tuple:
    names = _params(case["fn"])
    if case["wrt"] is not None:
        wrt = case["wrt"]
        return (wrt,) if isinstance(wrt, str) else tuple(wrt)
    return tuple(n for n, a in zip(names, args) if _is_float_tree(a))


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k in value:
            yield from _leaves(value[k], path + (k,))
    elif isinstance(value, (tuple, list)):
        for k, v in enumerate(value):
            yield from _leaves(v, path + (k,))
    else:
        yield path, value


def _replace(value, path, item):
    if not path:
        return item
    if isinstance(value, dict):
        out = dict(value)
    else:
        out = list(value)
    out[path[0]] = _replace(value[path[0]], path[1:], item)
    return out if not isinstance(value, tuple) else tuple(out)


def _get(value, path):
    for k in path:
        value = value[k]
    return value


def finite_differences(fn, args, index, h=1e-6):
    """Central differences of fn w.r.t. every float entry of args[index] (any nesting of containers)."""
    base = list(args)
    structure = base[index]
    out = structure
    for path, leaf in _leaves(structure):
        if isinstance(leaf, np.ndarray):
            leaf64 = leaf.astype(np.float64)
            g = np.zeros_like(leaf64)
            for idx in np.ndindex(leaf.shape):
                step = h * max(1.0, abs(leaf64[idx]))
                up, down = leaf64.copy(), leaf64.copy()
                up[idx] += step
                down[idx] -= step
                a1, a2 = list(base), list(base)
                a1[index] = _replace(structure, path, up)
                a2[index] = _replace(structure, path, down)
                g[idx] = (fn(*a1) - fn(*a2)) / (2 * step)
            out = _replace(out, path, g)
        elif isinstance(leaf, float):
            step = h * max(1.0, abs(leaf))
            a1, a2 = list(base), list(base)
            a1[index] = _replace(structure, path, leaf + step)
            a2[index] = _replace(structure, path, leaf - step)
            out = _replace(out, path, (fn(*a1) - fn(*a2)) / (2 * step))
    return out


def assert_tree_close(got, want, rtol, where):
    got_leaves, want_leaves = list(_leaves(got)), list(_leaves(want))
    assert [p for p, _ in got_leaves] == [p for p, _ in want_leaves], f"{where}: structure {got!r} vs {want!r}"
    for (path, g), (_, w) in zip(got_leaves, want_leaves):
        assert np.shape(g) == np.shape(w), f"{where} {path}: shape {np.shape(g)} vs {np.shape(w)}"
        np.testing.assert_allclose(np.asarray(g, dtype=float), np.asarray(w, dtype=float), rtol=rtol,
                                   atol=max(1e-7, rtol * 0.1), err_msg=f"{where} {path}")


def _gradient(case, jit: bool, simplify: bool, wrt):
    key = (case["fn"], jit, simplify)
    if key not in _GRADIENTS:
        _GRADIENTS[key] = grad(case["fn"], wrt=wrt if len(wrt) > 1 else wrt[0], jit=jit, simplify=simplify)
    return _GRADIENTS[key]


def _modes(case):
    """Both interpreted modes for every case; compiled (the default mode) for a third of them, chosen by
    name, and with the simplifier off where the case asks for it (compiles are most of this file's
    time; the interpreted modes run the same generated programs, the compiled one checks what Numba
    makes of them)."""
    modes = [(False, True), (False, False)]
    if zlib.crc32(_id(case).encode()) % 3 == 0:
        modes.insert(0, (True, True))
    if case["jit_simplify_off"]:
        modes.append((True, False))
    return modes


def _id(case):
    fn = case["fn"]
    return getattr(fn, "__qualname__", fn.__name__).replace(".", "_")


@pytest.mark.parametrize("case", L.CASES, ids=[_id(c) for c in L.CASES])
def test_against_finite_differences(case):
    fn = case["fn"]
    names = _params(fn)
    for seed in POINTS:
        args = case["make"](np.random.default_rng(seed))
        wrt = _wrt(case, args)
        reference = {name: finite_differences(fn, args, names.index(name)) for name in wrt}
        for jit, simplify in _modes(case):
            got = _gradient(case, jit, simplify, wrt)(*args)
            got = got if len(wrt) > 1 else (got,)
            for name, g in zip(wrt, got):
                where = f"{_id(case)} d/d{name} at point {seed} (jit={jit}, simplify={simplify})"
                original = args[names.index(name)]
                if isinstance(original, np.ndarray):
                    assert g.dtype == original.dtype, f"{where}: gradient dtype {g.dtype}, parameter {original.dtype}"
                assert_tree_close(g, reference[name], case["rtol"], where)


VERIFIED = [c for c in L.CASES if c["verify"]]


@pytest.mark.parametrize("case", VERIFIED, ids=[_id(c) for c in VERIFIED])
def test_proved_against_sympy(case):
    fn = case["fn"]
    args = case["make"](np.random.default_rng(0))
    wrt = _wrt(case, args)
    g = grad(fn, wrt=wrt if len(wrt) > 1 else wrt[0], jit=False, verify=True)
    g(*args)     # raises VerificationError unless proved


def test_value_and_grad_of_a_dict_parameter():
    params = {"W1": np.ones((3, 4)) * 0.1, "b1": np.zeros(4), "W2": np.ones(4) * 0.2, "b2": 0.3}
    X, y = np.arange(15.0).reshape(5, 3) / 10.0, np.linspace(0.0, 1.0, 5)
    value, grads = value_and_grad(L.mlp_dict, wrt="params")(params, X, y)
    assert value == pytest.approx(L.mlp_dict(params, X, y), rel=1e-12)
    assert isinstance(grads, dict) and sorted(grads) == sorted(params)
    assert isinstance(grads["b2"], float) and grads["W1"].shape == (3, 4)


def test_gradients_come_back_in_the_structure_of_the_parameter():
    layers = [(np.eye(3) * 0.5, np.zeros(3)), (np.ones((2, 3)) * 0.1, np.ones(2))]
    g = grad(L.layers_loop, wrt="layers")(layers, np.array([0.1, 0.2, 0.3]))
    assert isinstance(g, list) and len(g) == 2 and all(isinstance(t, tuple) and len(t) == 2 for t in g)
    assert g[0][0].shape == (3, 3) and g[1][1].shape == (2,)


def test_module_data_is_read_at_every_call(monkeypatch):
    g = grad(L.module_array)
    first = g(0.5)
    assert first == pytest.approx(2 * np.sum((0.5 * L.DATA - 1.0) * L.DATA))
    monkeypatch.setattr(L, "DATA", L.DATA * 2.0)
    assert g(0.5) == pytest.approx(2 * np.sum((0.5 * L.DATA - 1.0) * L.DATA))


def test_module_array_changed_in_place_after_compiling_is_seen():
    """Module arrays are hidden parameters passed at every call, never baked into the compiled code: an
    in-place change after the first call (same object, same shape and dtype) gives the new gradient."""
    g = grad(L.module_array)
    saved = L.DATA.copy()
    try:
        before = g(0.5)
        L.DATA *= 3.0
        L.DATA[0] = 0.75
        after = g(0.5)
        assert after == pytest.approx(finite_differences(L.module_array, (0.5,), 0), rel=1e-6)
        assert after != pytest.approx(before)
    finally:
        L.DATA[:] = saved


def test_module_array_of_another_rank_is_rederived(monkeypatch):
    g = grad(L.module_array)
    g(0.5)
    monkeypatch.setattr(L, "DATA", np.linspace(-1.0, 1.0, 6).reshape(2, 3))
    assert g(0.5) == pytest.approx(finite_differences(L.module_array, (0.5,), 0), rel=1e-6)


# ---------------------------------------------------------------- jvp, vjp, jacobian, hessian, hvp of the language
# Containers (in wrt or not), module arrays, closures and methods, for every derivative beyond grad.  The
# references are finite differences of the user's own function over the float leaves of the wrt argument.

def _float_leaves(value):
    """The float leaves of a number, array or (nested) container, in insertion order."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _float_leaves(v)]
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _float_leaves(v)]
    return [value]


def _rebuilt_from(like, items):
    if isinstance(like, dict):
        return {k: _rebuilt_from(v, items) for k, v in like.items()}
    if isinstance(like, (tuple, list)):
        return type(like)(_rebuilt_from(v, items) for v in like)
    return next(items)


def _vector(value):
    return np.concatenate([np.ravel(np.asarray(leaf, dtype=float)) for leaf in _float_leaves(value)])


def _from_vector(like, vector):
    parts, at = [], 0
    for leaf in _float_leaves(like):
        size = np.size(leaf)
        part = vector[at:at + size]
        parts.append(float(part[0]) if np.ndim(leaf) == 0 else part.reshape(np.shape(leaf)))
        at += size
    return _rebuilt_from(like, iter(parts))


def _fd_jacobian(fn, args, k, h=1e-6):
    """d fn(*args) / d args[k] by central differences: (output size, input size)."""
    base = _vector(args[k])
    columns = []
    for a in range(base.size):
        step = np.zeros_like(base)
        step[a] = h * max(1.0, abs(base[a]))
        up, down = list(args), list(args)
        up[k], down[k] = _from_vector(args[k], base + step), _from_vector(args[k], base - step)
        columns.append((np.ravel(fn(*up)) - np.ravel(fn(*down))) / (2 * step[a]))
    return np.array(columns).T


def _fd_hessian(fn, args, k, h=1e-4):
    base = _vector(args[k])
    n = base.size
    H = np.zeros((n, n))
    for a in range(n):
        step = np.zeros(n)
        step[a] = h

        def gradient_at(vector):
            changed = list(args)
            changed[k] = _from_vector(args[k], vector)
            return _fd_jacobian(fn, changed, k, h=1e-5)[0]
        H[a] = (gradient_at(base + step) - gradient_at(base - step)) / (2 * h)
    return H


def _blocks_vector(blocks, like):
    """A jacobian or hvp result shaped like the argument `like` (a container of blocks) as one vector."""
    return _vector(_rebuilt_from(like, iter(_float_leaves(blocks)))) if isinstance(like, (dict, tuple, list)) \
        else np.ravel(blocks)


def _hessian_matrix(H, like):
    """hessian's nested result H[k][j] (container of containers) as one (n, n) matrix."""
    if not isinstance(like, (dict, tuple, list)):
        return np.asarray(H).reshape(_vector(like).size, -1)
    rows = []
    for row_block, leaf in zip(_leaves_level(H, like), _float_leaves(like)):
        pieces = [np.asarray(b).reshape(np.size(leaf), -1) for b in _leaves_level(row_block, like)]
        rows.append(np.hstack(pieces))
    return np.vstack(rows)


def _leaves_level(value, like):
    """The items of `value` at the leaf positions of `like` (one level of containers deep)."""
    if isinstance(like, dict):
        return [leaf for k in like for leaf in _leaves_level(value[k], like[k])]
    if isinstance(like, (tuple, list)):
        return [leaf for v, l in zip(value, like) for leaf in _leaves_level(v, l)]
    return [value]


_r = np.random.default_rng(11)
LANGUAGE_DERIVATIVE_CASES = [
    # (id, function, args, index of the differentiated argument)
    ("dict", L.dict_params, ({"w": np.array([0.3, -0.7, 1.1]), "b": 0.4}, np.array([0.5, 1.5, -1.0])), 0),
    ("tuple", L.tuple_params, ((_r.uniform(-1, 1, (2, 3)), np.array([0.2, -0.1])), np.array([0.4, -0.3, 0.8])), 0),
    ("nested", L.nested_dict, ({"layer1": {"W": _r.uniform(-1, 1, (2, 2)), "b": np.array([0.1, 0.3])},
                                "out": np.array([1.5, -0.5])}, np.array([0.6, -0.9])), 0),
    ("container-not-wrt", L.dict_params, ({"w": np.array([0.3, -0.7]), "b": 0.4}, np.array([0.5, 1.5])), 1),
    ("module-array", L.module_array, (_r.uniform(-1, 1, 6),), 0),
    ("closure", L.closed_loss, (np.array([0.2, 0.9, -0.4]),), 0),
    ("method", L.Model().loss, (np.array([0.3, -0.6, 0.9]),), 0),
]
LANGUAGE_DERIVATIVE_IDS = [c[0] for c in LANGUAGE_DERIVATIVE_CASES]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("case", LANGUAGE_DERIVATIVE_CASES, ids=LANGUAGE_DERIVATIVE_IDS)
def test_jvp_and_vjp_of_the_language(case, jit):
    from autodiff_compiler import jvp, vjp
    _, fn, args, k = case
    J = _fd_jacobian(fn, args, k)[0]
    for seed in (1, 2):
        tangent = _from_vector(args[k], np.random.default_rng(seed).normal(size=J.size))
        value, dot = jvp(fn, wrt=k, jit=jit)(*args, tangents=(tangent,))
        assert value == pytest.approx(fn(*args), rel=1e-12)
        assert dot == pytest.approx(J @ _vector(tangent), rel=1e-6, abs=1e-8)
    # one tangent may be given bare, a container as itself
    _, dot = jvp(fn, wrt=k, jit=jit)(*args, tangents=tangent)
    assert dot == pytest.approx(J @ _vector(tangent), rel=1e-6, abs=1e-8)
    value, pullback = vjp(fn, wrt=k, jit=jit)(*args)
    gradient = pullback(2.0)
    assert type(gradient) is type(args[k]) or not isinstance(args[k], (dict, tuple, list))
    np.testing.assert_allclose(_blocks_vector(gradient, args[k]), 2.0 * J, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
@pytest.mark.parametrize("case", LANGUAGE_DERIVATIVE_CASES, ids=LANGUAGE_DERIVATIVE_IDS)
def test_jacobian_hessian_and_hvp_of_the_language(case, jit):
    """Interpreted, all four derivatives of every case; compiled (four compiles, most of this test's time),
    the forward Jacobian and the Hessian for every other case and the reverse Jacobian and the Hessian-vector
    product for the others."""
    from autodiff_compiler import hessian, hvp, jacobian
    _, fn, args, k = case
    half = LANGUAGE_DERIVATIVE_CASES.index(case) % 2
    J = _fd_jacobian(fn, args, k)[0]
    for mode in ("forward", "reverse"):
        if jit and mode != ("forward", "reverse")[half]:
            continue
        blocks = jacobian(fn, wrt=k, mode=mode, jit=jit)(*args)
        np.testing.assert_allclose(_blocks_vector(blocks, args[k]), J, rtol=1e-6, atol=1e-8)
    H = _fd_hessian(fn, args, k)
    if not jit or half == 0:
        got = hessian(fn, wrt=k, jit=jit)(*args)
        np.testing.assert_allclose(_hessian_matrix(got, args[k]), H, rtol=1e-4, atol=1e-5)
    if not jit or half == 1:
        v = _from_vector(args[k], np.random.default_rng(5).normal(size=J.size))
        hv = hvp(fn, wrt=k, jit=jit)(*args[:k + 1], v, *args[k + 1:])
        np.testing.assert_allclose(_blocks_vector(hv, args[k]), H @ _vector(v), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", LANGUAGE_DERIVATIVE_CASES[:1] + LANGUAGE_DERIVATIVE_CASES[4:],
                         ids=LANGUAGE_DERIVATIVE_IDS[:1] + LANGUAGE_DERIVATIVE_IDS[4:])
def test_derivatives_of_the_language_are_verified(case):
    """verify=True proves them against SymPy with the user's function rebuilt from the flat arguments."""
    from autodiff_compiler import hvp, jvp
    _, fn, args, k = case
    tangent = _from_vector(args[k], np.linspace(0.5, 1.5, _vector(args[k]).size))
    jvp(fn, wrt=k, verify=True)(*args, tangents=(tangent,))
    hvp(fn, wrt=k, verify=True)(*args[:k + 1], tangent, *args[k + 1:])


def test_derivative_extra_inputs_must_have_the_structure():
    from autodiff_compiler import ArgumentError, hvp, jvp
    params, x = {"w": np.ones(3), "b": 0.5}, np.ones(3)
    with pytest.raises(ArgumentError, match=r"structure of params: a dict with keys \['w', 'b'\]"):
        jvp(L.dict_params)(params, x, tangents=({"w": np.ones(3)},))
    with pytest.raises(ArgumentError, match=r"params\['w'\].*shape"):
        hvp(L.dict_params)(params, {"w": np.ones(2), "b": 1.0}, x)


def test_a_changed_module_number_is_noticed(monkeypatch):
    g = grad(L.module_dict)
    x = np.array([0.1, 0.2, 0.3])
    before = g(x)
    monkeypatch.setitem(L.WEIGHTS, "scale", 3.0)
    after = g(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, finite_differences(L.module_dict, (x,), 0), rtol=1e-6)


def test_method_reads_the_current_attributes():
    model = L.Model()
    g = grad(model.loss)
    x = np.array([0.3, -0.2, 0.5])
    first = g(x)
    model.W = model.W * 2.0
    np.testing.assert_allclose(g(x), finite_differences(model.loss, (x,), 0), rtol=1e-6)
    assert not np.allclose(first, g(x))


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_a_method_reads_numbers_of_its_class_and_sees_them_change(jit, monkeypatch):
    """`self.rate` of a class attribute (of the class or a base) is a number baked in and watched, as a module
    number is: it was refused as "not a number" (helper-69).  A property is no number: still refused."""
    from autodiff_compiler import UnsupportedSyntaxError
    model = L.RatedModel()
    g = grad(model.loss, jit=jit)
    for x in (np.array([0.3, -0.2, 0.5]), np.array([1.5, 0.7])):
        np.testing.assert_allclose(g(x), 2 * 0.5 * x + 0.25, rtol=1e-12)
        np.testing.assert_allclose(g(x), finite_differences(model.loss, (x,), 0), rtol=1e-6)
    monkeypatch.setattr(L.Rated, "rate", 1.5)
    monkeypatch.setattr(L.Rated, "power", 3)
    x = np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(g(x), 3 * 1.5 * x ** 2 + 0.25, rtol=1e-12)
    model.rate = 4.0            # an attribute of the object now: its own value, a parameter of the call
    np.testing.assert_allclose(grad(model.loss, jit=jit)(x), 3 * 4.0 * x ** 2 + 0.25, rtol=1e-12)
    with pytest.raises(UnsupportedSyntaxError, match="doubled"):
        grad(model.loss_of_a_property, jit=jit)(x)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "nojit"])
def test_slots_objects_and_functions_set_on_an_object(jit):
    """An object of a class with `__slots__` is read as one with a `__dict__` (its numbers through self): it
    raised a raw TypeError.  A function set on the object itself shadows the class's method in Python's
    call: refused with its line, where the class's method was inlined (helper-71: 2.0 for 13.0)."""
    from autodiff_compiler import UnsupportedSyntaxError
    model = L.Slotted(1.5, -0.25)
    g = grad(model.loss, jit=jit)
    for x in (np.array([0.3, -0.2, 0.5]), np.array([1.5, 0.7])):
        np.testing.assert_allclose(g(x), 2 * 1.5 * x - 0.25, rtol=1e-12)
    model.rate = 2.5            # read again at the next call
    np.testing.assert_allclose(g(x), 2 * 2.5 * x - 0.25, rtol=1e-12)
    caller = L.ShadowCaller()
    caller.helper = lambda x: 13.0 * x
    with pytest.raises(UnsupportedSyntaxError, match="attribute of the ShadowCaller object itself"):
        grad(caller.loss, jit=jit)(np.array([0.3, -0.2]))
    np.testing.assert_allclose(grad(L.ShadowCaller().loss, jit=jit)(np.array([0.3, -0.2])), [0.6, -0.4])


def test_float32_in_float32_out():
    x = np.array([0.5, -0.25, 1.0], dtype=np.float32)
    g = grad(L.float32_sum)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.cos(x.astype(float)) * x + np.sin(x.astype(float)), rtol=1e-6)


def test_assert_fails_with_the_line():
    from autodiff_compiler.api import AssertionFailedError
    with pytest.raises(AssertionError) as info:
        grad(L.assert_inside)(np.ones(4))
    assert isinstance(info.value, AssertionFailedError)
    assert "corpus_language.py" in str(info.value) and "assert x.shape[0] == 3" in str(info.value)


def test_containers_bound_in_branches_are_refused():
    from autodiff_compiler import UnsupportedSyntaxError
    with pytest.raises(UnsupportedSyntaxError) as info:
        grad(_branch_container)(0.5)
    assert "branch" in str(info.value) and info.value.line is not None


def _branch_container(a):
    if a > 0:
        t = (a, 2.0)
    else:
        t = (1.0, a)
    return t[0] * t[1]


def test_generated_code_stays_readable():
    """A dict parameter's leaves are parameters of the generated module, named after their keys, in the
    order the caller's dict has them (and so is its gradient)."""
    g = grad(L.dict_params, wrt="params")
    got = g({"w": np.ones(3), "b": 0.5}, np.ones(3))
    assert "def dict_params_grad(params_w, params_b, x)" in g.source
    assert list(got) == ["w", "b"]
    got = g({"b": 0.5, "w": np.ones(3)}, np.ones(3))
    assert list(got) == ["b", "w"]


import corpus_language_refused as R

REFUSED = [
    # (function, arguments, derivative, text of the line, words of the construct)
    (R.computed_axis, (np.ones((2, 3)), 1), "grad", "np.sum(np.sum(A, axis=k))", ("axis",)),
    (R.pad_reflect, (np.ones(3),), "grad", 'np.pad(x, 1, mode="reflect")', ("pad",)),
    (R.nan_mean, (np.ones(3),), "grad", "np.nanmean(x)", ("nanmean",)),
    (R.eigenvalues, (np.eye(2),), "grad", "np.linalg.eigvals(A)", ("eigvals",)),
    (R.sort_rank3, (np.ones((2, 2, 2)),), "grad", "np.sort(T)", ("sort",)),
    (R.nuclear_norm, (np.eye(2),), "grad", 'np.linalg.norm(A, "nuc")', ("norm",)),
    (R.write_module_data, (0.5,), "grad", "DATA[0] = x", ("DATA",)),
    (R.prod_second_derivative, (np.array([1.0, 2.0, 3.0]),), "hessian", "np.prod(x)", ("np.prod",)),
    (R.set_literal, (0.5,), "grad", "s = {1.0, 2.0}", ("set",)),
    (R.try_block, (0.5,), "grad", "try:", ("try",)),
    (R.zero_d_inplace, (0.6,), "grad", "y /= np.exp(np.tanh(z))", ("0-d",)),
    (R.zero_d_alias_inplace, (0.6,), "grad", "v *= 3.0", ("0-d",)),
    (R.zero_d_through_a_parameter, (0.6,), "grad", "b *= 2.0 * a", ("0-d",)),
    (R.zero_d_through_a_return, (0.6,), "grad", "v2 *= math.cosh(z)", ("0-d",)),
    (R.zero_d_keyword_argument, (0.6,), "grad", "b *= 2.0 * a", ("0-d",)),
    (R.starred_unpack_of_an_array, (np.ones(3),), "grad", "first, *rest = x", ("starred unpacking of an array",)),
    (R.float_of_bad_text, (0.5,), "grad", 'float("one")', ("could not convert string to float",)),
    (R.module_object_attribute, (0.5,), "grad", "SETTINGS.rate * x * x", ("a Settings object of the module",)),
    (R.CLASS_ARRAYS.loss, (np.ones(2),), "grad", "np.sum(self.W * x)", ("of the ClassArrays class (a ndarray",)),
    (R.undefined_call, (0.5,), "grad", "not_defined_anywhere(x) * 2.0", ("'not_defined_anywhere' is not defined",)),
]


@pytest.mark.parametrize("fn,args,kind,line,words", REFUSED, ids=[c[0].__qualname__ for c in REFUSED])
def test_constructs_outside_the_language_are_refused_with_file_line_and_construct(fn, args, kind, line, words):
    from autodiff_compiler import AutodiffError, hessian
    make = {"grad": grad, "hessian": hessian}[kind]
    with pytest.raises(AutodiffError) as info:
        make(fn)(*args)
    err = info.value
    text = str(err)
    assert "corpus_language_refused.py" in (err.filename or ""), text
    assert err.line is not None and line in (err.source_line or ""), f"{text} (line {err.line}: {err.source_line!r})"
    assert any(w in text for w in words), text


def test_jvp_and_jacobian_see_a_changed_module_number(monkeypatch):
    """Module numbers are constants of every derived program; changing one makes it derive again."""
    from autodiff_compiler import jacobian, jvp
    x = np.array([0.1, 0.2, 0.3])
    J = jacobian(L.module_scaled)
    t = jvp(L.module_scaled)
    np.testing.assert_allclose(J(x), np.diag(L.SCALE * np.cos(x)), rtol=1e-12)
    monkeypatch.setattr(L, "SCALE", 3.0)
    np.testing.assert_allclose(J(x), np.diag(3.0 * np.cos(x)), rtol=1e-12)
    np.testing.assert_allclose(t(x, tangents=(np.ones(3),))[1], 3.0 * np.cos(x), rtol=1e-12)


def test_hvp_sees_a_changed_module_number(monkeypatch):
    from autodiff_compiler import hvp
    x, v = np.array([0.1, 0.2]), np.array([1.0, -1.0])
    h = hvp(L.module_scaled_sum)
    for _ in range(2):        # the second call would take a fast path if there were one
        np.testing.assert_allclose(h(x, v), -L.SCALE * np.sin(x) * v, rtol=1e-12)
    monkeypatch.setattr(L, "SCALE", 3.0)
    np.testing.assert_allclose(h(x, v), -3.0 * np.sin(x) * v, rtol=1e-12)


# ---- found by review: derivatives of grad objects read one result per wrt parameter, so container
# parameters there were read wrongly (jacobian(grad(p)) of a tuple gave the gradient's entries as the
# Hessian); they are refused, at the first call, in every kind

def _tuple_cubic(t):
    return t[0] ** 3 * t[1]


def _dict_cubic(d):
    return d["a"] ** 3 * d["b"]


@pytest.mark.parametrize("make", [
    lambda: jacobian_of(grad(_tuple_cubic))((2.0, 3.0)),
    lambda: jacobian_of(grad(_dict_cubic), mode="reverse")({"a": 2.0, "b": 3.0}),
    lambda: jvp_of(grad(_dict_cubic))({"a": 2.0, "b": 3.0}, tangents=({"a": 1.0, "b": 0.0},)),
    lambda: jvp_of(value_and_grad(_dict_cubic))({"a": 2.0, "b": 3.0}, tangents=({"a": 1.0, "b": 0.0},)),
    lambda: grad(grad(_tuple_cubic))((2.0, 3.0)),
    lambda: hessian_of(grad(_tuple_cubic, wrt=0))((2.0, 3.0)),
], ids=["jacobian", "jacobian-reverse", "jvp", "jvp-value", "grad", "hessian"])
def test_derivatives_of_grad_objects_refuse_containers(make):
    from autodiff_compiler import ArgumentError
    for _ in range(2):          # refused again at the second call (nothing half-derived is kept)
        with pytest.raises(ArgumentError, match="container parameters"):
            make()


def jacobian_of(*a, **k):
    from autodiff_compiler import jacobian
    return jacobian(*a, **k)


def jvp_of(*a, **k):
    from autodiff_compiler import jvp
    return jvp(*a, **k)


def hessian_of(*a, **k):
    from autodiff_compiler import hessian
    return hessian(*a, **k)


def test_derivatives_of_grad_objects_of_module_data_are_verified():
    """verify=True rebuilds the plain function (not the grad object) around the module data."""
    w = np.linspace(-0.5, 0.8, L.DATA.size)
    for e in (np.eye(L.DATA.size)[0], np.linspace(1.0, 2.0, L.DATA.size)):
        value, tangent = jvp_of(grad(L.module_array), verify=True)(w, tangents=(e,))
        np.testing.assert_allclose(value, 2 * (w * L.DATA - 1.0) * L.DATA, rtol=1e-12)
        np.testing.assert_allclose(tangent, 2 * L.DATA ** 2 * e, rtol=1e-12)


def test_a_method_whose_attributes_change_type_derives_again():
    """jvp/hessian cache per the object's structure too (a float attribute becoming an array)."""
    m = L.Model()
    x = np.array([0.3, -0.6, 0.9])
    H = hessian_of(m.loss)
    np.testing.assert_allclose(H(x), _fd_hessian(m.loss, (x,), 0), rtol=1e-4, atol=1e-5)
    m.scale = np.array([0.5, 1.5])
    np.testing.assert_allclose(H(x), _fd_hessian(m.loss, (x,), 0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", ["ab", {"a": 1.0}, [1.0, [2.0, 3.0]], None], ids=["str", "dict", "ragged", "None"])
def test_extra_inputs_that_are_not_numbers_are_argument_errors(bad):
    from autodiff_compiler import ArgumentError, hvp
    params, x = {"w": np.ones(3), "b": 0.5}, np.ones(3)
    with pytest.raises(ArgumentError):
        jvp_of(L.dict_params)(params, x, tangents=({"w": bad, "b": 1.0},))
    with pytest.raises(ArgumentError):
        hvp(L.dict_params)(params, {"w": np.ones(3), "b": bad}, x)


# the functions, and the arguments whose first axis the loop runs over (grown by the test)
ITERATED = [(L.enumerate_array, (0,)), (L.per_sample_squares, (1, 2)), (L.zip_stops_at_the_shortest, (0, 1)),
            (L.reversed_recurrence, (0,))]


@pytest.mark.parametrize("simplify", [True, False], ids=["simp", "nosimp"])
@pytest.mark.parametrize("fn, iterated", ITERATED, ids=[f.__name__ for f, _ in ITERATED])
def test_enumerate_zip_reversed_of_arrays_compiled(fn, iterated, simplify):
    """enumerate/zip/reversed over arrays whose lengths are known only when the code runs are loops of
    that many trips (zip: the shortest), compiled too, at lengths the first call did not see."""
    case = next(c for c in L.CASES if c["fn"] is fn)
    names = _params(fn)
    for seed in POINTS[:2]:
        args = case["make"](np.random.default_rng(seed))
        for grow in (0, 2):         # the same gradient object, then longer arrays
            args = tuple(np.concatenate([a, np.random.default_rng(seed).normal(size=(grow,) + a.shape[1:])])
                         if k in iterated and grow else a for k, a in enumerate(args))
            wrt = _wrt(case, args)
            got = _gradient(case, True, simplify, wrt)(*args)
            got = got if len(wrt) > 1 else (got,)
            for name, g in zip(wrt, got):
                assert_tree_close(g, finite_differences(fn, args, names.index(name)), case["rtol"],
                                  f"{fn.__name__} d/d{name} (grow {grow}, simplify={simplify})")


def test_zip_of_a_container_and_an_array_of_unknown_length_is_refused_by_name():
    from autodiff_compiler import UnsupportedSyntaxError
    with pytest.raises(UnsupportedSyntaxError, match="zip of a container and an array whose length is known only"):
        grad(L.zip_list_with_array)(np.ones(3))


def test_min_of_a_list_holding_arrays_is_refused():
    """Python's min compares the items with <, which an array of several entries refuses: the two-operand
    rule (np.minimum of arrays, entry by entry) is not what the function does."""
    from autodiff_compiler import UnsupportedSyntaxError
    with pytest.raises(UnsupportedSyntaxError, match=r"min\(\) of a list holding arrays"):
        grad(L.min_of_a_list_of_arrays)(np.ones(3))


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
def test_enumerate_of_an_array_from_an_int_parameter(jit):
    """enumerate(x, k) with k an int parameter counts from k, read once (it was refused as a container
    indexed by a value known only when the code runs: helper-74)."""
    g = grad(L.enumerate_from_an_int_parameter, jit=jit)
    for k in (0, 3, -2):
        x = np.array([0.5, -1.5, 0.7, 2.0])
        np.testing.assert_allclose(g(x, k), 2 * (k + np.arange(4)) * x, rtol=1e-14)


@pytest.mark.parametrize("fn, said", [(L.reversed_enumerate, "'enumerate' object is not reversible"),
                                      (L.zip_strict, "zip with keywords")])
def test_what_python_raises_for_or_zip_checks_at_run_time_is_refused(fn, said):
    """reversed(enumerate(x)) returned a gradient where Python raises TypeError; zip(..., strict=True) ignored
    strict (helper-74).  Both are refused with their lines."""
    from autodiff_compiler import UnsupportedSyntaxError
    with pytest.raises(UnsupportedSyntaxError, match=re.escape(said)):
        grad(fn)(np.ones(3), *([np.ones(2)] if fn is L.zip_strict else []))
