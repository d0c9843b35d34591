"""Constructs still outside the language of issue 10: each must be refused with an AutodiffError naming
this file, the line (the text asserted in test_language.py) and the construct."""
import math
import numpy as np

DATA = np.linspace(0.0, 1.0, 4)


def computed_axis(A, k):
    return np.sum(np.sum(A, axis=k))


def pad_reflect(x):
    return np.sum(np.pad(x, 1, mode="reflect"))


def nan_mean(x):
    return np.nanmean(x)


def eigenvalues(A):
    return np.sum(np.linalg.eigvals(A))


def sort_rank3(T):
    return np.sum(np.sort(T) * T)


def nuclear_norm(A):
    return np.linalg.norm(A, "nuc")


def write_module_data(x):
    DATA[0] = x
    return np.sum(DATA * x)


def prod_second_derivative(x):
    return np.prod(x)


def set_literal(x):
    s = {1.0, 2.0}
    return x * len(s)


def try_block(x):
    try:
        return x * 2.0
    except ValueError:
        return x


# found by the fuzzer (seed 9200, scalar-9200-643): np.where of numbers returns a 0-d array, which
# `y /= e` changes in place, and `v = y` with it; the compiler keeps numbers as values
def zero_d_inplace(z):
    y = np.where(z >= -2.0, -1.0, z)
    v = y
    y /= np.exp(np.tanh(z))
    return v + z + y


def zero_d_alias_inplace(z):
    y = np.array(z * 2.0)
    v = y
    v *= 3.0
    return y + v


# found by the fuzzer (seed 10300, scalar-10300-135: a wrong value and gradient, no error, since
# at least 5669193): the 0-d array goes through a helper, whose augmented assignment changes the
# caller's array, or whose return is shared with every name it is bound to
def _scale_in_place(a, b=0.9):
    b *= 2.0 * a
    return b


def zero_d_through_a_parameter(z):
    return _scale_in_place(z, np.where(z > 1.5, z, z))


def _pass_through(b):
    return b


def zero_d_through_a_return(z):
    v2 = _pass_through(np.where(z > 1.5, z, z))
    v3 = v2
    v2 *= math.cosh(z)
    return v3 + v2


def zero_d_keyword_argument(z):
    return _scale_in_place(z, b=np.array(z))


def starred_unpack_of_an_array(x):
    first, *rest = x
    return first * x[1]


def float_of_bad_text(x):
    return float("one") * x


class Settings:
    def __init__(self):
        self.rate = 0.5


SETTINGS = Settings()


def module_object_attribute(x):
    return SETTINGS.rate * x * x


class ClassArrays:
    W = np.array([1.0, 2.0])        # of the class: only its numbers are read through self

    def loss(self, x):
        return np.sum(self.W * x)


CLASS_ARRAYS = ClassArrays()


def undefined_call(x):
    return not_defined_anywhere(x) * 2.0  # noqa: F821 -- Python's NameError: an undefined name, not a missing rule
