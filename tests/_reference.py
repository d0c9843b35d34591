"""Independent references for the tests: central finite differences and
tolerant comparison.  Nothing here uses autodiff_compiler."""
import math


def finite_difference(f, args, index, h=1e-6):
    """Central difference of f(*args) with respect to the scalar args[index].

    The step is relative to the size of the argument (h * max(1, |x|)), so the
    truncation and rounding errors stay balanced for large and small inputs.
    """
    args = list(args)
    x = float(args[index])
    step = h * max(1.0, abs(x))
    up = list(args)
    down = list(args)
    up[index] = x + step
    down[index] = x - step
    return (f(*up) - f(*down)) / ((x + step) - (x - step))


def finite_difference_grad(f, args, indices, h=1e-6):
    """Tuple of central differences, one per index in `indices`."""
    return tuple(finite_difference(f, args, i, h) for i in indices)


def close(got, expected, rel, abs_tol):
    return math.isclose(float(got), float(expected), rel_tol=rel, abs_tol=abs_tol)


def assert_close(got, expected, rel=1e-9, abs_tol=1e-12, what=""):
    """Compare scalars or (nested) tuples of scalars; the structure must match."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple), f"{what}: expected a tuple of {len(expected)} gradients, got {got!r}"
        assert len(got) == len(expected), f"{what}: expected {len(expected)} gradients, got {len(got)}: {got!r}"
        for k, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, rel, abs_tol, what=f"{what}[{k}]")
        return
    assert not isinstance(got, (tuple, list)), f"{what}: expected one gradient, got {got!r}"
    assert isinstance(got, (int, float)) or hasattr(got, "__float__"), f"{what}: not a number: {got!r}"
    assert close(got, expected, rel, abs_tol), f"{what}: got {float(got)!r}, expected {float(expected)!r}"
