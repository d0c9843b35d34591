"""Programs on NumPy's dtypes of arrays made from numbers (`np.array([k, 3])`, `x[[0, 2]]`, `astype`, an int
array rebound to floats), run by test_arrays against hand formulas in every mode.  Kept out of
corpus_arrays, whose every function the symbolic verifier also runs at generic arguments: these take
int arguments and int arrays it does not draw."""
import numpy as np


def gathered_numbers(x, k, iv):
    m = np.array([k, 3])                          # NumPy's int64: 2 ** 53 + 1 stays odd (it was a float)
    b = np.array([k > 0, False])                  # a bool array
    c = np.array([k, k < 0])                      # int64 of an int and a bool
    w = iv[[0, 2]]                                # int64 too
    return np.sum(x[:2] * (m % 10)) + np.sum(np.where(b, x[:2], 0.0)) + np.sum(x[:2] * (w % 10)) \
        + np.sum(x[:2] * (c % 10))


def rebound_to_floats(x, k):
    t = np.array([k, 1])                          # an int array, rebound to floats in the loop
    for i in range(3):
        t = t * x
    z = np.zeros(2, dtype=int) + k
    for i in range(2):
        z = z + x
    return np.sum(t) + np.sum(z)


def joined_by_branch(x, k):
    if x > 0:
        m = np.array([k, 3])                      # ints on this path, floats on the other
    else:
        m = np.array([x, 2.0])
    return x * np.sum(m)


def ints_as_floats(x, iv):
    return x * np.sum(iv.astype(float) ** -1) + x * float(iv.astype(np.float64)[0] ** -2)   # ints would raise


def clipped_ints(W, I):
    """np.clip of int and bool arrays with float bounds (numbers, a float array): NumPy's result is float."""
    return np.sum(np.clip(I, 0.5, 2) * W) + np.sum(np.clip(I > 0, 0.25, 0.75) * W) \
        + np.sum(np.clip(I, -1, 1) * W) + np.sum(np.clip(I[0], W[1], 2.5) * W[0])
