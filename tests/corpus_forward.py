"""Functions for the tests of forward mode, Jacobians, Hessians and nested derivatives (issue 9).

Ordinary Python that runs as is: the tests compare the compiler's derivatives
with SymPy (verify=True) and with central finite differences of these
functions themselves.
"""
import math

import numpy as np

from autodiff_compiler import grad, value_and_grad


# ------------------------------------------------------------------ scalars, control flow

def poly(x):
    return 3.0 * x ** 3 - 2.0 * x + 1.0


def trig_mix(x, y):
    return math.sin(x * y) + math.exp(-x * x) * math.cos(y)


def branchy(x, y):
    if x > y:
        z = x * x - y
    else:
        z = math.sin(x) * y
    return z * z + x


def looped(x, n):
    s = 0.0
    for i in range(n):
        s = math.sin(s * x) + x
        if s > 1.0:
            s = s * 0.5
    return s * s


def halving(x):
    k = 0
    while x > 0.1:
        x = x * 0.5
        k = k + 1
    return x ** 3 + k


def early_exit(x, n):
    s = x
    for i in range(n):
        s = s * 1.5 + math.cos(s)
        if s > 10.0:
            break
    return s


def _helper(a, b):
    return a * math.tanh(b) + b


def calls_helper(x, y):
    return _helper(x, y) * _helper(y, x)


def clamps(x):
    return min(max(x * x, 0.5), 4.0) + abs(x - 1.0)


def cube(x):
    return x ** 3


def sin_times(x):
    return math.sin(x) * x


def rosenbrock2(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


# ------------------------------------------------------------------ arrays

def vec_sum(x):
    return np.sum(np.sin(x) * x ** 2)


def quad_form(x, A):
    return np.dot(x, np.dot(A, x))


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_loop(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + 100.0 * (x[i + 1] - x[i] * x[i]) ** 2 + (1.0 - x[i]) ** 2
    return s


def softmax_ce(z, k):
    m = np.max(z)
    e = np.exp(z - m)
    p = e / np.sum(e)
    return -math.log(p[k])


def matrix_loss(W, X, y):
    r = np.dot(X, W) - y
    return np.mean(r * r)


def stores(x):
    y = np.zeros(4)
    y[0:2] = x
    y[2:4] = x * x
    return np.sum(y * y)


def rows_loop(A, x):
    Z = np.zeros_like(A)
    for i in range(A.shape[0]):
        Z[i] = x * A[i]
    return np.sum(Z ** 2)


def reductions(A):
    return np.sum(np.max(A, axis=0)) + np.sum(np.mean(A, axis=1) ** 2) + np.sum(A.T * A.T)


# ------------------------------------------------------------------ vector and tuple results

def vec_out(x):
    return 3.0 * x ** 2 + np.sin(x)


def times_entry(x, i):
    # forward mode's tangent of x[i] is a number times an array, reverse mode's adjoint of it a sum:
    # mode="auto" holds both programs, and their temporaries must not share names
    return x * x[i]


def scaled_matvec(A, x):
    return (A * x[1]) @ x


def matvec(x, A):
    return np.dot(A, x)


def pair(x, y):
    return x * y, math.sin(x) + y


def vec_and_scalar(x, c):
    return x * c, np.sum(x) * c


def to_matrix(x):
    return np.outer(x, x)


def branchy_vec(x, c):
    if c > 0.0:
        return x * c
    return np.cos(x)


def loop_vec(x, n):
    y = x.copy()
    for i in range(n):
        y = np.sin(y) + 0.5 * x
    return y


def exp_model(p, t, y):
    """Residuals of y ~ a * exp(-b * t) + c."""
    return p[0] * np.exp(-p[1] * t) + p[2] - y


def rosen_residuals(x):
    """Rosenbrock as least squares: r = (10 (x1 - x0^2), 1 - x0)."""
    r = np.zeros(2)
    r[0] = 10.0 * (x[1] - x[0] * x[0])
    r[1] = 1.0 - x[0]
    return r


def nonlinear_system(x):
    """x0^2 + x1^2 = 4, exp(x0) + x1 = 1."""
    r = np.zeros(2)
    r[0] = x[0] * x[0] + x[1] * x[1] - 4.0
    r[1] = math.exp(x[0]) + x[1] - 1.0
    return r


def loss_and_aux(w, X):
    r = np.dot(X, w)
    return np.sum(r * r), r


def loss_and_two(w, c):
    return w * w * c, (w + c, np.sin(w))


# ------------------------------------------------------------------ nested derivatives

@grad
def dcube(x):
    return x ** 3


def calls_decorated(x):
    return dcube(x) * 2.0


def square_plus(x):
    return x * x + math.exp(x)


dsquare_plus = grad(square_plus)


def calls_grad_object(x):
    return dsquare_plus(x) * x


def _vec_energy(x):
    return np.sum(np.sin(x) * x)


dvec_energy = grad(_vec_energy)


def calls_vector_grad(x):
    return np.sum(dvec_energy(x) ** 2)


vg_square = value_and_grad(square_plus)


def calls_value_and_grad(x):
    v, g = vg_square(x)
    return v * g


def prod_loss(x):
    return np.prod(x)


# ------------------------------------------------------------------ a result assigned on every path Numba cannot see

def while_return(x):
    t = 0.0
    while t < math.tanh(x):
        return t * x + math.sin(x)
    return x * x


def for_return(x, n):
    for i in range(n):
        if x > 0.5 * i:
            return x * i + math.exp(x)
    return x ** 3


def cube_sum_rank3(T):
    return np.sum(T ** 3)


def rank3_tanh(T):
    return np.tanh(T) * 2.0


def broadcast_length_one(c, r):
    """A length-1 vector broadcast against a longer one, only it varying: its tangent must broadcast
    too (the fuzzer's arrays-14500-21 got -1 for the tangent of np.sum(r - c): `0 + zeros_like(...)`
    folded away the broadcast)."""
    return np.sum(r - c) + np.sum(r * 0.5 + c * 2.0) + np.sum(np.sin(r) - c * 3.0)


def broadcast_row_column(b, A, k):
    """A (1, n) row and an (m, 1) column broadcast against a matrix that does not vary."""
    return np.sum(A - b * 2.0) + np.sum(A + k) + np.sum(np.tanh(A + k)) + np.sum(b * 0.5 - A)


# ------------------------------------------- a side np.where (or `a if c else b`) does not take

# Each side is computed everywhere; where the untaken one is undefined (NaN, an infinity), its
# derivative is too, times the mask's zero: the careful rerun's structural zeros drop it
# (test_forward.test_untaken_side_of_where_*, test_hessian.test_untaken_side_of_where_*)

def where_sqrt(x):
    return np.sum(np.where(x > 0, np.sqrt(x) * x, x * x))


def where_log(x):
    return np.sum(np.where(x > 0, x * x * np.log(x), 0.5 * x ** 3))


def where_division(x):
    return np.sum(np.where(x < 1.0, x * x, 1.0 / (x - 0.5)))


def where_arcsin(x):
    return np.sum(np.where(np.abs(x) < 1.0, np.arcsin(x) * x, x ** 3))


def where_vector(x):
    return np.where(x > 0, np.sqrt(x) * x, -x)


def where_number(x):
    return np.where(x > 0, np.sqrt(x) * x, x * x) + 0.0


def where_at_boundary(x):
    return np.sum(np.where(x > 0, np.sqrt(x), 0.0))


def clamped_sqrt(x):
    y = min(x, 1.0)
    return math.sqrt(1.0 - y * y) + x * x


# ------------------------------------------------------------------ an array of the variable, added into in place

# `a = np.array([...])` names the new array twice in the IR (`t = array_from(...); a = t`): a store into
# `a` changes `t`.  The Jacobian driver runs the gradient once for the value, then once per column; a
# column that took `t` from the value section (not making it again) started from the array the value
# section had already changed, and hessian(simplify=False) was an InternalError from the audit of the
# generated code (with the audit off, a Hessian four times too large).

def rotate_updates(x):
    """Three entries, each added the next one's value times x (the last reads the first, updated)."""
    a = np.array([x, x * x, 1.0])
    for i in range(3):
        a[i] += a[(i + 1) % 3] * x
    return a[0] * a[1] * a[2]


def swap_updates(x):
    """Two entries, each added the other's."""
    a = np.array([x, 2.0])
    for i in range(2):
        a[i] += a[1 - i] * x
    return a[0] * a[1]


def skip_updates(x):
    """Four entries, each added into the one two places on."""
    a = np.array([x, x * x, 1.0, x + 1.0])
    for i in range(4):
        a[(i + 2) % 4] += a[i] * x
    return a[0] * a[1] + a[2] * a[3]


def backward_updates(x):
    """A loop running down, subtracting into the entry before."""
    a = np.array([1.0, x, x * x])
    for i in range(2, 0, -1):
        a[i - 1] -= a[i] * x
    return a[0] * a[2] + a[1]


def scaled_updates(x):
    """In-place products, and a plain store reading the entry it replaces, outside any loop."""
    a = np.array([x, x * x, 1.0])
    for i in range(3):
        a[i] *= a[(i + 1) % 3] + x
    a[2] = a[0] * a[1] + a[2]
    return a[0] + a[1] * a[2]


def rotate_updates_vec(x):
    """rotate_updates of a vector's two entries: a Hessian of two columns."""
    a = np.array([x[0], x[0] * x[1], 1.0])
    for i in range(3):
        a[i] += a[(i + 1) % 3] * x[1]
    return a[0] * a[1] * a[2]


def rotate_updates_out(x):
    """The updated array itself: a vector result, its Jacobian by columns or rows."""
    a = np.array([x[0], x[0] * x[1], 1.0])
    for i in range(3):
        a[i] += a[(i + 1) % 3] * x[1]
    return a
