"""Lower NumPy's matrix-structure, einsum, array-making and statistics functions to rule-table primitives.

Takes: calls dispatched by `frontend.lower_numpy` (its handler table merges
`HANDLERS` below).  Guarantees: `flip*`, `rot90`, `roll`, `sort`, `cross`,
`kron`, `inner`, `vdot`, `tensordot`, `einsum` (constant spec), `linspace`,
`arange`, `full`, `full_like`, `eye`, `trace`, `diag`, `diagonal`, `triu`,
`tril`, `cumsum`, `diff`, `var`/`std`, `average`, `array`/`asarray`, the
float casts and the refused `nan*` reductions, each with NumPy's shapes; an
argument it cannot honour is an `UnsupportedSyntaxError` naming the line.
"""
from __future__ import annotations

import string

from ..ir import Const, Slice
from .lower_containers import Pack, Text
from .numpy_common import (Call, along_axis, as_array, astype, axes_arg, axis_arg, count_of, creation_dtype, expand,
                           product_of, rank_of, reduce, reshape, shape_of, transpose)


def _flip(lowering, value, axes, rank, target=None):
    return lowering.apply("subscript", (value,) + tuple(Slice(None, None, Const(-1)) if k in axes else Slice()
                                                         for k in range(rank)), target)


def _np_flip(lowering, node, target):
    call = Call(lowering, node, ("m", "axis"))
    value = call.array("m")
    rank = rank_of(lowering, value, node)
    return _flip(lowering, value, axes_arg(lowering, call.constant("axis"), rank, node), rank, target)


def _fliplr(lowering, node, target):
    value = Call(lowering, node, ("m",)).array("m")
    rank = rank_of(lowering, value, node)
    if rank < 2:
        raise lowering.unsupported(node, "np.fliplr of a vector", "np.flip(x) or x[::-1]")
    return _flip(lowering, value, (1,), rank, target)


def _flipud(lowering, node, target):
    value = Call(lowering, node, ("m",)).array("m")
    return _flip(lowering, value, (0,), rank_of(lowering, value, node), target)


def _rot90(lowering, node, target):
    call = Call(lowering, node, ("m", "k", "axes"))
    value = call.array("m")
    rank = rank_of(lowering, value, node)
    k = call.constant("k", 1) % 4
    a, b = (axis_arg(lowering, x, rank, node) for x in call.constant("axes", (0, 1)))
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    if k == 0:                      # NumPy's m[:]: a view of every element, written through as m itself
        return lowering.materialise(value, target)
    if k == 2:
        return _flip(lowering, value, (a, b), rank, target)
    if k == 1:
        return transpose(lowering, _flip(lowering, value, (b,), rank), perm, target)
    return _flip(lowering, transpose(lowering, value, perm), (b,), rank, target)


def _roll(lowering, node, target):
    call = Call(lowering, node, ("a", "shift", "axis"))
    value = call.array("a")
    shift = call.value("shift")
    axis = call.constant("axis")
    if isinstance(shift, Pack):
        raise lowering.unsupported(node, "np.roll by several shifts", "roll one axis at a time")
    rank = rank_of(lowering, value, node)
    if axis is None:
        flat = reshape(lowering, value, [Const(-1)])
        rolled = _roll_axis(lowering, flat, shift, 0, 1)
        return lowering.apply("reshape_as", (rolled, value), target)
    return lowering.materialise(_roll_axis(lowering, value, shift, axis_arg(lowering, axis, rank, node), rank), target)


def _roll_axis(lowering, value, shift, axis, rank):
    length = shape_of(lowering, value, rank)[axis]
    offset = lowering.apply("mod", (shift, length))
    cut = lowering.apply("sub", (length, offset))
    tail = lowering.apply("subscript", (value,) + along_axis(rank, axis, Slice(cut, None, None)))
    head = lowering.apply("subscript", (value,) + along_axis(rank, axis, Slice(None, cut, None)))
    return lowering.apply("concatenate", (tail, head), None, (("axis", axis),))


def _sort(lowering, node, target):
    call = Call(lowering, node, ("a", "axis", "kind", "order"))
    value = call.array("a")
    axis = call.constant("axis", -1)
    if axis is None:
        value, axis = reshape(lowering, value, [Const(-1)]), 0
    rank = rank_of(lowering, value, node)
    if rank > 2:
        raise lowering.unsupported(node, "np.sort of an array of rank above 2",
                                   "sort vectors or the rows or columns of a matrix")
    if rank == 2 and axis in (0, -2):
        # columns: the rows of the transpose
        turned = lowering.apply("transpose", (value,))
        return lowering.apply("transpose", (lowering.apply("sort", (turned,)),), target)
    if axis not in (0, -1) if rank == 1 else axis not in (1, -1):
        raise lowering.unsupported(node, f"np.sort with axis={axis!r} of a rank-{rank} array", "give an axis it has")
    return lowering.apply("sort", (value,), target)


def _cross(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = call.array("a"), call.array("b")
    rank = rank_of(lowering, a, node)
    if rank != rank_of(lowering, b, node) or rank not in (1, 2):
        raise lowering.unsupported(node, "np.cross of these ranks", "cross 3-vectors, or rows of 3-vectors")
    for value in (a, b):
        lowering.check_last_axis(value, 3, node)

    def component(value, k):
        return lowering.apply("subscript", (value,) + ((Const(k),) if rank == 1 else (Slice(), Const(k))))
    parts = []
    for i, j in ((1, 2), (2, 0), (0, 1)):
        left = lowering.apply("mul", (component(a, i), component(b, j)))
        right = lowering.apply("mul", (component(a, j), component(b, i)))
        parts.append(lowering.apply("sub", (left, right)))
    if rank == 1:
        return lowering.apply("array_from", tuple(parts), target)
    return lowering.apply("concatenate", tuple(expand(lowering, p, (1,)) for p in parts), target, (("axis", 1),))


def _outer(lowering, node, target):
    """np.outer(a, b): NumPy flattens each operand first (the primitive `outer` takes vectors)."""
    call = Call(lowering, node, ("a", "b"))
    operands = (call.array("a"), call.array("b"))
    # None: a value whose rank the lowering does not know yet (one a loop assigns)
    ranks = [rank_of(lowering, x, node) if lowering.type_of(x) is not None else None for x in operands]
    numbers = [rank == 0 for rank in ranks]
    # a number or a vector as it is; anything else reshaped to a vector (a view of a vector is itself)
    flat = [x if rank in (0, 1) else reshape(lowering, x, [Const(-1)]) for x, rank in zip(operands, ranks)]
    if not any(numbers):
        return lowering.apply("outer", tuple(flat), target)
    # a number is a vector of one entry: each product is the number times an entry, as NumPy's
    product = lowering.apply("mul", tuple(flat))
    if all(numbers):
        return lowering.apply("add", (lowering.apply("zeros", (Const(1), Const(1))), product), target)
    return expand(lowering, product, (0,) if numbers[0] else (1,), target)


def _kron(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = call.array("a"), call.array("b")
    ranks = (rank_of(lowering, a, node), rank_of(lowering, b, node))
    if ranks == (1, 1):
        return reshape(lowering, lowering.apply("outer", (a, b)), [Const(-1)], target)
    if ranks == (2, 2):
        product = lowering.apply("mul", (expand(lowering, a, (1, 3)), expand(lowering, b, (0, 2))))
        da, db = shape_of(lowering, a, 2), shape_of(lowering, b, 2)
        return reshape(lowering, product, [lowering.apply("mul", (da[0], db[0])),
                                            lowering.apply("mul", (da[1], db[1]))], target)
    raise lowering.unsupported(node, f"np.kron of arrays of ranks {ranks}", "kron two vectors or two matrices")


def _inner(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = call.array("a"), call.array("b")
    ra, rb = rank_of(lowering, a, node), rank_of(lowering, b, node)
    if ra == 0 or rb == 0:
        return lowering.apply("mul", (a, b), target)
    letters = iter(string.ascii_lowercase)
    shared = next(letters)
    la = "".join(next(letters) for _ in range(ra - 1)) + shared
    lb = "".join(next(letters) for _ in range(rb - 1)) + shared
    return einsum(lowering, [la, lb], la[:-1] + lb[:-1], [a, b], node, target)


def _vdot(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = (reshape(lowering, v, [Const(-1)]) for v in (call.array("a"), call.array("b")))
    return lowering.apply("dot", (a, b), target)


def _tensordot(lowering, node, target):
    call = Call(lowering, node, ("a", "b", "axes"))
    a, b = call.array("a"), call.array("b")
    ra, rb = rank_of(lowering, a, node), rank_of(lowering, b, node)
    axes = call.constant("axes", 2)
    if isinstance(axes, int):
        first, second = list(range(ra - axes, ra)), list(range(axes))
    else:
        first, second = ([x] if isinstance(x, int) else list(x) for x in axes)
    first = [axis_arg(lowering, x, ra, node) for x in first]
    second = [axis_arg(lowering, x, rb, node) for x in second]
    letters = iter(string.ascii_lowercase)
    la = [next(letters) for _ in range(ra)]
    lb = [next(letters) for _ in range(rb)]
    for x, y in zip(first, second):
        lb[y] = la[x]
    out = [c for k, c in enumerate(la) if k not in first] + [c for k, c in enumerate(lb) if k not in second]
    return einsum(lowering, ["".join(la), "".join(lb)], "".join(out), [a, b], node, target)


def matmul(lowering, node, a, b, target):
    """`a @ b` / np.matmul with an operand of rank above 2: stacks of matrices, batch axes broadcast."""
    ra, rb = rank_of(lowering, a, node), rank_of(lowering, b, node)
    batch = max(ra, rb) - 2
    letters = iter("abcdefgh")
    batch_letters = [next(letters) for _ in range(batch)]
    la = "".join(batch_letters[batch - (ra - 2):]) + "ij" if ra >= 2 else "j"
    lb = "".join(batch_letters[batch - (rb - 2):]) + "jk" if rb >= 2 else "j"
    out = "".join(batch_letters) + ("i" if ra >= 2 else "") + ("k" if rb >= 2 else "")
    return einsum(lowering, [la, lb], out, [a, b], node, target)


def _np_einsum(lowering, node, target):
    if not node.args:
        raise lowering.unsupported(node, "np.einsum without a spec", "np.einsum('ij,j->i', A, x)")
    spec = lowering.lower_expr(node.args[0])
    if not isinstance(spec, Text):
        raise lowering.unsupported(node, "np.einsum with a spec computed when the code runs",
                                   "write the spec as a string constant: np.einsum('ij,j->i', A, x)")
    for keyword in node.keywords:
        if keyword.arg != "optimize":
            raise lowering.unsupported(node, f"the keyword {keyword.arg!r} of np.einsum", "drop it")
    operands = [as_array(lowering, lowering.lower_expr(a), a) for a in node.args[1:]]
    text = spec.value.replace(" ", "")
    if "..." in text:
        raise lowering.unsupported(node, "np.einsum with '...'", "name every axis in the spec")
    inputs, arrow, output = text.partition("->")
    labels = inputs.split(",")
    if not arrow:
        counts = {}
        for c in "".join(labels):
            counts[c] = counts.get(c, 0) + 1
        output = "".join(sorted(c for c, n in counts.items() if n == 1))
    if len(labels) != len(operands) or not all(l.isalpha() or l == "" for l in labels) or not \
            (output.isalpha() or output == ""):
        raise lowering.unsupported(node, f"the einsum spec {spec.value!r} for {len(operands)} operand(s)",
                                   "one group of letters per operand, e.g. 'ij,jk->ik'")
    for label, operand in zip(labels, operands):
        if len(label) != rank_of(lowering, operand, node, "np.einsum"):
            raise lowering.unsupported(node, f"the einsum labels {label!r} for an array of rank "
                                       f"{rank_of(lowering, operand, node)}", "one letter per axis")
    # one letter, one length: checked when the code runs (NumPy would broadcast a length-1 axis
    # against a longer one; the contraction below would not, so such a call stops at this line)
    lengths = {}
    for label, operand in zip(labels, operands):
        for axis, letter in enumerate(label):
            length = lowering.axis_length(operand, axis)
            if letter in lengths:
                lowering.apply_assert(lowering.apply("eq", (lengths[letter], length)), node)
            else:
                lengths[letter] = length
    return einsum(lowering, labels, output, operands, node, target)


def einsum(lowering, labels: list, output: str, operands: list, node, target=None):
    """A contraction written in the rule table's primitives: repeated letters in one operand are its
    diagonal; letters no other operand or the output has are summed first; operands are then joined
    pairwise (a matrix product, `dot`, when no axis is shared with the output, else a broadcast product
    summed over the contracted axes), and the result transposed to the output's order."""
    if len(set(output)) != len(output):
        raise lowering.unsupported(node, f"an einsum output with a repeated letter ({output!r})", "name each once")
    labels, operands = list(labels), list(operands)
    for k in range(len(operands)):
        labels[k], operands[k] = _diagonals(lowering, labels[k], operands[k], node)
    for k in range(len(operands)):
        others = set(output) | {c for j, l in enumerate(labels) if j != k for c in l}
        alone = [i for i, c in enumerate(labels[k]) if c not in others]
        if alone:
            rank = len(labels[k])
            operands[k] = reduce(lowering, "sum", operands[k], tuple(alone), False) if len(alone) < rank else \
                lowering.apply("sum", (operands[k],))
            labels[k] = "".join(c for i, c in enumerate(labels[k]) if i not in alone)
    label, value = labels[0], operands[0]
    for k in range(1, len(operands)):
        later = set(output) | {c for l in labels[k + 1:] for c in l}
        label, value = _pair(lowering, label, value, labels[k], operands[k], later, node)
    for c in output:
        if c not in label:
            raise lowering.unsupported(node, f"the einsum output letter {c!r} that no operand has", "fix the spec")
    return transpose(lowering, value, [label.index(c) for c in output], target) if label else \
        lowering.materialise(value, target)


def _diagonals(lowering, label: str, value, node):
    if len(set(label)) == len(label):
        return label, value
    if len(label) == 2:
        return label[0], lowering.apply("diagonal", (value,), None, (("offset", 0),))
    raise lowering.unsupported(node, f"the einsum labels {label!r} (a repeated letter beyond a matrix's diagonal)",
                               "take the diagonal first (np.diagonal)")


def _pair(lowering, la: str, a, lb: str, b, keep: set, node):
    """Two operands contracted over the letters they share that nothing later needs."""
    shared = [c for c in la if c in lb]
    contracted = [c for c in shared if c not in keep]
    batch = [c for c in shared if c in keep]
    only_a = [c for c in la if c not in lb]
    only_b = [c for c in lb if c not in la]
    if not batch and (not la or not lb):
        return la + lb, lowering.apply("mul", (a, b))
    if not batch:
        # a (only_a, contracted) matrix times a (contracted, only_b) matrix
        dims_a = dict(zip(la, shape_of(lowering, a, len(la))))
        dims_b = dict(zip(lb, shape_of(lowering, b, len(lb))))
        left = transpose(lowering, a, [la.index(c) for c in only_a + contracted])
        right = transpose(lowering, b, [lb.index(c) for c in contracted + only_b])
        rows = product_of(lowering, [dims_a[c] for c in only_a])
        inner = product_of(lowering, [dims_a[c] for c in contracted])
        cols = product_of(lowering, [dims_b[c] for c in only_b])
        left = reshape(lowering, left, [rows, inner])
        right = reshape(lowering, right, [inner, cols])
        product = lowering.apply("dot", (left, right))
        out = only_a + only_b
        if not out:
            return "", lowering.apply("sum", (product,))
        return "".join(out), reshape(lowering, product, [dims_a[c] for c in only_a] + [dims_b[c] for c in only_b])
    # batch letters: broadcast both to (batch, only_a, only_b, contracted), multiply, sum the contracted
    order = batch + only_a + only_b + contracted
    left = _broadcast_to_order(lowering, la, a, order)
    right = _broadcast_to_order(lowering, lb, b, order)
    product = lowering.apply("mul", (left, right))
    first = len(order) - len(contracted)
    if contracted:
        product = reduce(lowering, "sum", product, tuple(range(first, len(order))), False)
    return "".join(order[:first]), product


def _broadcast_to_order(lowering, label: str, value, order: list):
    present = [c for c in order if c in label]
    value = transpose(lowering, value, [label.index(c) for c in present])
    missing = tuple(k for k, c in enumerate(order) if c not in label)
    return expand(lowering, value, missing) if missing else value


def _linspace(lowering, node, target):
    call = Call(lowering, node, ("start", "stop", "num", "endpoint"))
    start, stop = call.value("start"), call.value("stop")
    num = call.value("num", Const(50))
    if not call.constant("endpoint", True):
        unit = lowering.apply("div", (lowering.apply("arange", (num,)), num))
    else:
        unit = lowering.apply("linspace_unit", (num,))
    span = lowering.apply("sub", (stop, start))
    return lowering.apply("add", (start, lowering.apply("mul", (span, unit))), target)


def _arange(lowering, node, target):
    args = [lowering.lower_expr(a) for a in node.args]
    if node.keywords or not 1 <= len(args) <= 3:
        raise lowering.unsupported(node, "np.arange with keywords", "np.arange(stop) or np.arange(start, stop, step)")
    for arg, arg_node in zip(args, node.args):
        t = lowering.type_of(arg)
        if t is None or t.kind != "int":
            raise lowering.unsupported(arg_node, "np.arange with a float bound",
                                       "use ints (np.arange(n) * step), or np.linspace")
    return lowering.apply("arange", tuple(args), target)


def _full(lowering, node, target):
    """`zeros + fill_value`, of NumPy's dtype: the one given, else the fill value's (int64 of an int)."""
    call = Call(lowering, node, ("shape", "fill_value", "dtype"))
    shape = call.value("shape")
    dims = shape.values() if isinstance(shape, Pack) else [shape]
    fill = call.value("fill_value")
    own = _fill_dtype(lowering, fill, node)
    dtype = creation_dtype(lowering, call.node_of("dtype"), node) if call.has("dtype") else own
    if dtype and dtype != own:              # (a float dtype takes any number)
        raise lowering.unsupported(node, "np.full of a value of another dtype", "give a fill value of the dtype")
    return lowering.apply("add", (lowering.apply("zeros", tuple(dims), None, dtype), fill), target)


def _fill_dtype(lowering, fill, node) -> tuple:
    t = lowering.type_of(fill)
    if t is not None and t.kind == "bool":      # (zeros of bools + True would count, not OR)
        raise lowering.unsupported(node, "np.full of a bool", "make a bool array by a comparison")
    return (("dtype", "int64"),) if t is not None and t.kind == "int" else ()


def _full_like(lowering, node, target):
    """`zeros_like + fill_value`: NumPy casts the fill value to the array's dtype, so only a value of it."""
    call = Call(lowering, node, ("a", "fill_value", "dtype"))
    like, fill = call.array("a"), call.value("fill_value")
    like_type, fill_type = lowering.type_of(like), lowering.type_of(fill)
    of_floats = like_type is not None and like_type.dtype == "float64"
    ints_of_an_int = like_type is not None and like_type.dtype == "int64" and fill_type is not None \
        and fill_type.kind == "int"
    if call.has("dtype") or not (of_floats or ints_of_an_int):
        raise lowering.unsupported(node, "np.full_like with another dtype than the value's",
                                   "np.full_like(a, value) of a float array and a float value")
    return lowering.apply("add", (lowering.apply("zeros_like", (like,)), fill), target)


def _eye(lowering, node, target):
    call = Call(lowering, node, ("N", "M", "k", "dtype"))
    if call.has("M") or call.constant("k", 0):
        raise lowering.unsupported(node, "np.eye with M or k", "np.eye(n)")
    if creation_dtype(lowering, call.node_of("dtype"), node):
        raise lowering.unsupported(node, "np.eye of ints or bools", "np.eye(n) (floats)")
    return lowering.apply("eye", (call.value("N"),), target)


def trace_of(lowering, value, offset, rank, node, target):
    if rank != 2:
        raise lowering.unsupported(node, "the trace of an array of rank other than 2", "take traces of matrices")
    return lowering.apply("sum", (lowering.apply("diagonal", (value,), None, (("offset", offset),)),), target)


def diagonal_of(lowering, value, offset, rank, node, target):
    if rank != 2:
        raise lowering.unsupported(node, "the diagonal of an array of rank other than 2", "take diagonals of matrices")
    return lowering.apply("diagonal", (value,), target, (("offset", offset),))


def _np_trace(lowering, node, target):
    call = Call(lowering, node, ("a", "offset"))
    value = call.array("a")
    return trace_of(lowering, value, call.constant("offset", 0), rank_of(lowering, value, node), node, target)


def _np_diagonal(lowering, node, target):
    call = Call(lowering, node, ("a", "offset"))
    value = call.array("a")
    return diagonal_of(lowering, value, call.constant("offset", 0), rank_of(lowering, value, node), node, target)


def _diag(lowering, node, target):
    call = Call(lowering, node, ("v", "k"))
    value = call.array("v")
    offset = call.constant("k", 0)
    rank = rank_of(lowering, value, node)
    if rank == 1:
        return lowering.apply("diag_matrix", (value,), target, (("offset", offset),))
    return diagonal_of(lowering, value, offset, rank, node, target)


def _triangle(prim: str):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("m", "k"))
        value = call.array("m")
        if rank_of(lowering, value, node) != 2:
            raise lowering.unsupported(node, f"np.{prim} of an array of rank other than 2", f"np.{prim} of a matrix")
        return lowering.apply(prim, (value,), target, (("k", call.constant("k", 0)),))
    return lower


def cumsum_along(lowering, value, axis, rank, node, target):
    if axis is None:
        value, axis, rank = reshape(lowering, value, [Const(-1)]), 0, 1
    axis = axis_arg(lowering, axis, rank, node)
    return lowering.apply("cumsum", (value,), target, (("axis", axis), ("ndim", rank)))


def _np_cumsum(lowering, node, target):
    call = Call(lowering, node, ("a", "axis", "dtype", "out"))
    value = call.array("a")
    return cumsum_along(lowering, value, call.constant("axis"), rank_of(lowering, value, node), node, target)


def _diff(lowering, node, target):
    call = Call(lowering, node, ("a", "n", "axis"))
    value = call.array("a")
    rank = rank_of(lowering, value, node)
    axis = axis_arg(lowering, call.constant("axis", -1), rank, node)
    for _ in range(call.constant("n", 1)):
        later = lowering.apply("subscript", (value,) + along_axis(rank, axis, Slice(Const(1), None, None)))
        earlier = lowering.apply("subscript", (value,) + along_axis(rank, axis, Slice(None, Const(-1), None)))
        value = lowering.apply("sub", (later, earlier))
    return lowering.materialise(value, target)


def moment(lowering, kind: str, value, call, rank, target):
    """var and std: the mean of squared deviations from the mean, over `n - ddof`."""
    axis, keep = call.constant("axis"), bool(call.constant("keepdims", False))
    ddof = call.value("ddof", Const(0))
    if not rank:
        raise lowering.unsupported(call.node, f"np.{kind} of a number", f"np.{kind} of an array")
    if axis is not None:
        axis = axes_arg(lowering, axis, rank, call.node)
    centre = lowering.apply("mean", (value,)) if axis is None else reduce(lowering, "mean", value, axis, True)
    deviation = lowering.apply("sub", (value, centre))
    total = reduce(lowering, "sum", lowering.apply("mul", (deviation, deviation)), axis, keep)
    count = lowering.apply("sub", (count_of(lowering, value, axis, rank), ddof))
    variance = lowering.apply("div", (total, count), None if kind == "std" else target)
    return lowering.apply("sqrt", (variance,), target) if kind == "std" else variance


def _np_moment(kind: str):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("a", "axis", "dtype", "out", "ddof", "keepdims"))
        value = call.array("a")
        return moment(lowering, kind, value, call, rank_of(lowering, value, node), target)
    return lower


def _average(lowering, node, target):
    call = Call(lowering, node, ("a", "axis", "weights", "returned", "keepdims"))
    value = call.array("a")
    axis, keep = call.constant("axis"), bool(call.constant("keepdims", False))
    if call.constant("returned", False):
        raise lowering.unsupported(node, "np.average(..., returned=True)", "compute the sum of weights yourself")
    if not call.has("weights"):
        return reduce(lowering, "mean", value, axis, keep, target)
    weights = call.array("weights")
    if rank_of(lowering, weights, node) != rank_of(lowering, value, node):
        raise lowering.unsupported(node, "np.average with weights of another rank", "give weights of a's shape")
    top = reduce(lowering, "sum", lowering.apply("mul", (value, weights)), axis, keep)
    bottom = reduce(lowering, "sum", lowering.apply("add", (weights, lowering.apply("zeros_like", (value,)))),
                     axis, keep)
    return lowering.apply("div", (top, bottom), target)


def _np_array(copy: bool):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("object", "dtype", "copy", "order", "ndmin"))
        value = call.value("object")
        array = as_array(lowering, value, node)
        # np.asarray, and np.array(..., copy=False or None), return the array itself where its dtype fits
        copies = copy and call.constant("copy", True) is True
        if call.has("dtype"):
            return astype(lowering, array, call.node_of("dtype"), node, target, shares=not copies)
        if copies and not isinstance(value, Pack) and lowering.rank_of(array):
            return lowering.apply("array_copy", (array,), target)
        return lowering.materialise(array, target)
    return lower


def _np_float(lowering, node, target):
    """np.float64(x) of a number is a float; of a float array, NumPy's is the array itself."""
    value = Call(lowering, node, ("x",)).array("x")
    held = lowering.type_of(value)
    if lowering.rank_of(value) and held is not None and held.dtype.startswith("float"):
        return lowering.materialise(value, target)
    return lowering.apply("float" if not lowering.rank_of(value) else "array_copy", (value,), target)


def _nan_reduction(base: str):
    def lower(lowering, node, target):
        raise lowering.unsupported(node, f"np.nan{base} (it skips NaN entries, whose number is known only when "
                                   f"the code runs)", f"np.{base} of np.where(np.isnan(x), 0.0, x)")
    return lower


HANDLERS = {
    "flip": _np_flip, "fliplr": _fliplr, "flipud": _flipud, "rot90": _rot90, "roll": _roll, "sort": _sort,
    "cross": _cross, "outer": _outer, "kron": _kron, "inner": _inner, "vdot": _vdot, "tensordot": _tensordot, "einsum": _np_einsum,
    "linspace": _linspace, "arange": _arange, "full": _full, "full_like": _full_like, "eye": _eye, "identity": _eye,
    "trace": _np_trace, "diag": _diag, "diagonal": _np_diagonal, "triu": _triangle("triu"),
    "tril": _triangle("tril"), "cumsum": _np_cumsum, "diff": _diff, "var": _np_moment("var"),
    "std": _np_moment("std"), "average": _average, "array": _np_array(True), "asarray": _np_array(False),
    "asfarray": _np_array(False), "copy": _np_array(True), "float64": _np_float, "float32": _np_float,
    "double": _np_float, "nanmean": _nan_reduction("mean"), "nansum": _nan_reduction("sum"),
}
