"""Independent references for the tests of jvp, Jacobians and Hessians: central finite differences of the
user's own function (or of a gradient the tests trust for the Hessian's columns), element by element;
and, for a function polynomial in one argument, its exact derivatives, by running it on NumPy's
polynomials (`polynomial_jacobian`, `polynomial_hessian`).  Nothing here uses autodiff_compiler."""
import numpy as np

H = 1e-6


def copy_args(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _leaves(value):
    if isinstance(value, (tuple, list)):
        out = []
        for v in value:
            out += _leaves(v)
        return out
    return [np.asarray(value, dtype=float)]


def _shift(args, index, direction, step):
    out = copy_args(args)
    x = out[index]
    out[index] = x + step * direction if isinstance(x, np.ndarray) else x + step * float(direction)
    return out


def directional(f, args, indices, tangents, h=H):
    """d/de f(args + e * tangents) at e = 0 (central differences), as a list of leaves of f's result."""
    scale = max([1.0] + [float(np.max(np.abs(args[i]))) for i in indices])
    step = h * scale

    def moved(sign):
        out = copy_args(args)
        for i, t in zip(indices, tangents):
            x = out[i]
            out[i] = x + sign * step * np.asarray(t) if isinstance(x, np.ndarray) else x + sign * step * float(t)
        return _leaves(f(*out))
    up, down = moved(1.0), moved(-1.0)
    return [(u - d) / (2 * step) for u, d in zip(up, down)]


def jacobian_fd(f, args, index, h=H):
    """d f(args)[out] / d args[index][in] for every leaf of f's result: arrays shaped out.shape + in.shape."""
    x = args[index]
    shape = np.shape(x)
    base = _leaves(f(*copy_args(args)))
    blocks = [np.zeros(np.shape(b) + shape) for b in base]
    for position in np.ndindex(*shape) if shape else [()]:
        e = np.zeros(shape)
        if shape:
            e[position] = 1.0
        column = directional(f, args, [index], [e if shape else 1.0], h)
        for block, c in zip(blocks, column):
            block[(Ellipsis,) + position] = c
    return blocks


def along_line(f, args, index, direction, order):
    """The `order`-th derivative at t = 0 of f(args, args[index] moved to args[index] + t * direction),
    exactly (to rounding) when f is a polynomial in that argument: f runs on polynomials in t
    (`numpy.polynomial.Polynomial`; an object array of them for an array argument), so it may use
    arithmetic, indexing and `np.array`, not NumPy's ufuncs.  An array result gives an array of
    derivatives."""
    from numpy.polynomial import Polynomial
    x = args[index]
    if isinstance(x, np.ndarray):
        moved = np.empty(x.shape, dtype=object)
        for k in np.ndindex(*x.shape):
            moved[k] = Polynomial([float(x[k]), float(np.asarray(direction)[k])])
    else:
        moved = Polynomial([float(x), float(direction)])
    out = f(*args[:index], moved, *args[index + 1:])

    def derivative(p):
        if isinstance(p, Polynomial):
            return float(p.deriv(order)(0.0)) if order else float(p(0.0))
        return float(p) if order == 0 else 0.0        # an entry not depending on t
    if isinstance(out, np.ndarray):
        return np.array([derivative(p) for p in out.ravel()]).reshape(out.shape)
    return derivative(out)


def polynomial_jacobian(f, args, index):
    """d f(args) / d args[index], shaped out.shape + in.shape, for f polynomial in that argument."""
    x = args[index]
    if not isinstance(x, np.ndarray):
        return along_line(f, args, index, 1.0, 1)
    columns = [along_line(f, args, index, e.reshape(x.shape), 1) for e in np.eye(x.size)]
    return np.stack(columns, axis=-1).reshape(np.shape(columns[0]) + x.shape)


def polynomial_hessian(f, args, index):
    """The Hessian of a float-valued f in args[index], shaped in.shape + in.shape, for f polynomial in
    it: H[i, j] = (q(e_i + e_j) - q(e_i) - q(e_j)) / 2, q(u) the second derivative along u."""
    x = args[index]
    if not isinstance(x, np.ndarray):
        return along_line(f, args, index, 1.0, 2)
    units = [e.reshape(x.shape) for e in np.eye(x.size)]
    q = lambda u: along_line(f, args, index, u, 2)
    diagonal = [q(e) for e in units]
    H = np.array([[(q(a + b) - diagonal[i] - diagonal[j]) / 2 for j, b in enumerate(units)]
                  for i, a in enumerate(units)])
    return H.reshape(x.shape + x.shape)


def assert_close(got, expected, rtol=1e-6, atol=1e-7, what=""):
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=what)
