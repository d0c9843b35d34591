"""Lower `np.linalg` (norm, det, slogdet, inv, solve) and `scipy.special` (logsumexp, softmax, log_softmax).

Takes: calls dispatched by `frontend.lower_numpy` (its handler table merges
`HANDLERS` below).  Guarantees: each lowers to rule-table primitives (`det`,
`logabsdet`, `inv`, `solve`, reductions along axes) whose adjoints are the
standard ones; an order or axis it does not cover is an
`UnsupportedSyntaxError` naming the line.
"""
from __future__ import annotations


from ..ir import Const
from .numpy_common import Call, axes_arg, rank_of, reduce


# ------------------------------------------------------------------ np.linalg

def _norm(lowering, node, target):
    call = Call(lowering, node, ("x", "ord", "axis", "keepdims"))
    value = call.array("x")
    rank = rank_of(lowering, value, node)
    order, axis, keep = call.constant("ord"), call.constant("axis"), bool(call.constant("keepdims", False))
    if isinstance(axis, int):
        axis = (axis,)
    axes = axes_arg(lowering, axis, rank, node) if axis is not None else None
    vector = (axes is not None and len(axes) == 1) or (axes is None and rank == 1)
    matrix = (axes is not None and len(axes) == 2) or (axes is None and rank == 2)
    magnitude = lambda: lowering.apply("abs", (value,))     # noqa: E731
    if order is None or (order == "fro" and matrix) or (order == 2 and vector):
        squares = lowering.apply("mul", (value, value))
        return lowering.apply("sqrt", (reduce(lowering, "sum", squares, axes, keep),), target)
    if vector:
        if order in (float("inf"), "inf"):
            return reduce(lowering, "amax", magnitude(), axes, keep, target)
        if order in (float("-inf"), "-inf"):
            return reduce(lowering, "amin", magnitude(), axes, keep, target)
        if order == 1:
            return reduce(lowering, "sum", magnitude(), axes, keep, target)
        if isinstance(order, (int, float)) and order not in (0,) and order > 0:
            powered = lowering.apply("pow", (magnitude(), Const(float(order))))
            return lowering.apply("pow", (reduce(lowering, "sum", powered, axes, keep), Const(1.0 / order)), target)
    if matrix and order in (1, -1, float("inf"), float("-inf")):
        rows, cols = axes if axes is not None else (0, 1)
        along = rows if order in (1, -1) else cols
        sums = reduce(lowering, "sum", magnitude(), (along,), True)
        return reduce(lowering, "amax" if order > 0 else "amin", sums, (rows, cols), keep, target) if keep else \
            reduce(lowering, "amax" if order > 0 else "amin", sums, None, False, target)
    raise lowering.unsupported(node, f"np.linalg.norm with ord={order!r} here",
                               "the vector norms (ord None, 1, 2, p, inf), and the matrix norms 'fro', 1 and inf "
                               "(the spectral and nuclear norms need singular values)")


def _square_matrix(lowering, node, name: str):
    value = Call(lowering, node, ("a",)).array("a")
    if rank_of(lowering, value, node) != 2:
        raise lowering.unsupported(node, f"np.linalg.{name} of an array of rank "
                                   f"{rank_of(lowering, value, node)} (a stack of matrices)",
                                   "call it on each matrix (a loop over the first axis)")
    return value


def _det(lowering, node, target):
    return lowering.apply("det", (_square_matrix(lowering, node, "det"),), target)


def _slogdet(lowering, node, target):
    value = _square_matrix(lowering, node, "slogdet")
    from .lower_containers import make
    return make(lowering, "tuple", [lowering.apply("slogdet_sign", (value,)), lowering.apply("logabsdet", (value,))])


def _inv(lowering, node, target):
    return lowering.apply("inv", (_square_matrix(lowering, node, "inv"),), target)


def _solve(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = call.array("a"), call.array("b")
    if rank_of(lowering, a, node) != 2 or rank_of(lowering, b, node) not in (1, 2):
        raise lowering.unsupported(node, "np.linalg.solve of these ranks", "solve a matrix against a vector or matrix")
    return lowering.apply("solve", (a, b), target)


# ------------------------------------------------------------------ scipy.special

def _logsumexp(lowering, node, target):
    call = Call(lowering, node, ("a", "axis", "b", "keepdims", "return_sign"))
    if call.has("b") or call.constant("return_sign", False):
        raise lowering.unsupported(node, "logsumexp with b= or return_sign=", "scale inside: logsumexp(a + np.log(b))")
    value = call.array("a")
    return logsumexp(lowering, value, call.constant("axis"), bool(call.constant("keepdims", False)), target)


def logsumexp(lowering, value, axis, keep: bool, target=None):
    """log(sum(exp(a))) with the maximum taken out first (it has no derivative of its own: it cancels)."""
    shift = lowering.apply("stop_gradient", (reduce(lowering, "amax", value, axis, True) if axis is not None
                                             else lowering.apply("amax", (value,)),))
    exponentials = lowering.apply("exp", (lowering.apply("sub", (value, shift)),))
    total = lowering.apply("log", (reduce(lowering, "sum", exponentials, axis, keep),))
    if axis is not None and not keep:
        shift = lowering.apply("stop_gradient", (reduce(lowering, "amax", value, axis, False),))
    return lowering.apply("add", (total, shift), target)


def _softmax(log: bool):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("x", "axis"))
        value = call.array("x")
        axis = call.constant("axis")
        if log:
            return lowering.apply("sub", (value, logsumexp(lowering, value, axis, True)), target)
        shift = lowering.apply("stop_gradient", (reduce(lowering, "amax", value, axis, True) if axis is not None
                                                 else lowering.apply("amax", (value,)),))
        exponentials = lowering.apply("exp", (lowering.apply("sub", (value, shift)),))
        total = reduce(lowering, "sum", exponentials, axis, True) if axis is not None else \
            lowering.apply("sum", (exponentials,))
        return lowering.apply("div", (exponentials, total), target)
    return lower


def _simple(function):
    """A handler for a function of one array: `function(lowering, value, node, target)`."""
    def lower(lowering, node, target):
        return function(lowering, Call(lowering, node, ("a",)).array("a"), node, target)
    return lower


HANDLERS = {
    "linalg.norm": _norm, "linalg.det": _det, "linalg.slogdet": _slogdet, "linalg.inv": _inv, "linalg.solve": _solve,
    "special.logsumexp": _logsumexp, "special.softmax": _softmax(False), "special.log_softmax": _softmax(True),
}
