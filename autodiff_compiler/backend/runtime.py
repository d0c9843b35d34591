"""Runtime helpers that generated modules may need, copied into them by the printer.

Takes: nothing.  Guarantees: each helper is plain Python that Numba compiles
(`nopython` mode) and that runs unchanged without Numba; the printer copies the
source of exactly the helpers a module uses, so generated modules stay
self-contained.
"""
import numpy as np


def tape_grow(tape):
    """The same tape with twice the room: what it holds is kept."""
    grown = np.empty((2 * tape.shape[0] + 16,) + tape.shape[1:], tape.dtype)
    grown[:tape.shape[0]] = tape
    return grown


def slice_offset(vector, start):
    """Where `vector[start:]` begins in `vector`: a negative start counts from the end, clipped as NumPy does."""
    n = vector.shape[0]
    if start < 0:
        start += n
        if start < 0:
            start = 0
    elif start > n:
        start = n
    return start


def prod_others(x):
    """For each entry of `x`, the product of all the other entries (prefix times suffix products)."""
    flat = x.flatten()
    n = flat.shape[0]
    out = np.empty(n)
    acc = 1.0
    for k in range(n):
        out[k] = acc
        acc *= flat[k]
    acc = 1.0
    for k in range(n - 1, -1, -1):
        out[k] *= acc
        acc *= flat[k]
    return out.reshape(x.shape)


def sum_like1(gradient, like):
    """`gradient` summed back to the shape of the vector `like` it was broadcast from."""
    if gradient.shape[0] == like.shape[0]:
        return gradient
    return np.full(like.shape[0], np.sum(gradient))


def sum_like2(gradient, like):
    """`gradient` summed back to the shape of the matrix `like` it was broadcast from."""
    if gradient.shape[0] == like.shape[0] and gradient.shape[1] == like.shape[1]:
        return gradient
    out = np.ascontiguousarray(gradient)
    if like.shape[0] == 1 and out.shape[0] != 1:
        rows = np.zeros((1, out.shape[1]))      # np.sum(out, axis=0) as loops: quicker to compile
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                rows[0, j] += out[i, j]
        out = rows
    if like.shape[1] == 1 and out.shape[1] != 1:
        columns = np.empty((out.shape[0], 1))
        for i in range(out.shape[0]):
            columns[i, 0] = np.sum(out[i])
        out = columns
    return out


def sum_axis0(matrix):
    """np.sum(matrix, axis=0), row by row (Numba compiles this in a tenth of the time of np.sum(axis=))."""
    out = np.zeros(matrix.shape[1])
    for i in range(matrix.shape[0]):
        out += matrix[i]
    return out


def sum_axis1(matrix):
    """np.sum(matrix, axis=1), row by row."""
    out = np.empty(matrix.shape[0])
    for i in range(matrix.shape[0]):
        out[i] = np.sum(matrix[i])
    return out


def amax_axis0(matrix):
    """np.max(matrix, axis=0)."""
    out = matrix[0].copy()
    for i in range(1, matrix.shape[0]):
        out = np.maximum(out, matrix[i])
    return out


def amax_axis1(matrix):
    """np.max(matrix, axis=1)."""
    out = np.empty(matrix.shape[0])
    for i in range(matrix.shape[0]):
        out[i] = np.max(matrix[i])
    return out


def amin_axis0(matrix):
    """np.min(matrix, axis=0)."""
    out = matrix[0].copy()
    for i in range(1, matrix.shape[0]):
        out = np.minimum(out, matrix[i])
    return out


def amin_axis1(matrix):
    """np.min(matrix, axis=1)."""
    out = np.empty(matrix.shape[0])
    for i in range(matrix.shape[0]):
        out[i] = np.min(matrix[i])
    return out


HELPERS = ["tape_grow", "slice_offset", "prod_others", "sum_like1", "sum_like2", "sum_axis0", "sum_axis1", "amax_axis0", "amax_axis1", "amin_axis0", "amin_axis1"]
