"""Independent references for the tests of jvp, Jacobians and Hessians: central finite differences of the
user's own function (or of a gradient the tests trust for the Hessian's columns), element by element.
Nothing here uses autodiff_compiler."""
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


def assert_close(got, expected, rtol=1e-6, atol=1e-7, what=""):
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=what)
