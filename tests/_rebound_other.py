"""A module whose function tests/_rebound.py calls as `other.fn` (tests/test_bindings.py rebinds it)."""


def fn(x):
    return x ** 2
