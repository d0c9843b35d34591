"""Constructs still outside the language of issue 10: each must be refused with an AutodiffError naming
this file, the line (the text asserted in test_language.py) and the construct."""
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
