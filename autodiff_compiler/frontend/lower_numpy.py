"""Lower NumPy and SciPy: the library functions the front end writes in the rule table's primitives.

Takes: hooks called by `frontend.lower` for calls of NumPy/SciPy functions and
array methods.  Guarantees:

* each function below lowers to primitives of `rules.py` with the shapes
  NumPy gives (ranks known when lowering; axis arguments constant), so its
  derivative is the rule table's: reshaping (`reshape`, `ravel`, `squeeze`,
  `expand_dims`, `atleast_*d`, `transpose`, `swapaxes`, `moveaxis`),
  joining (`concatenate`, `stack`, `vstack`, `hstack`, `column_stack`,
  `dstack`, `append`, `pad`, `tile`, `repeat`), matrix structure (`trace`,
  `diag`, `diagonal`, `triu`, `tril`, `flip*`, `rot90`, `roll`, `sort`,
  `cross`, `kron`, `inner`, `vdot`, `tensordot`, `einsum` with a constant
  spec), making arrays (`array`, `asarray`, `full`, `full_like`, `eye`,
  `identity`, `arange`, `linspace`), reductions (`var`, `std`, `cumsum`,
  `diff`, `average`), `np.linalg` (`norm`, `det`, `slogdet`, `inv`,
  `solve`), `scipy.special` (`logsumexp`, `softmax`, `log_softmax`);
* an argument this cannot honour (a computed axis, a mode other than
  constant padding, ranks it does not cover) is an `UnsupportedSyntaxError`
  naming file, line and construct, never a silent approximation.
"""
from __future__ import annotations

import ast

from ..ir import Const, Var
from .lower_containers import Pack, Text
from .parse import LIBRARY, LibraryRef, MarkerRef
from .lower_linalg import HANDLERS as _LINALG
from .lower_matrix import HANDLERS as _MATRIX, cumsum_along, diagonal_of, matmul, moment, trace_of
from .numpy_common import (Call, as_array, astype, axes_arg, axis_arg, constant, expand, rank_of, reshape, shape_of,
                           transpose)

_NUMPY = ("concatenate", "stack", "vstack", "hstack", "column_stack", "dstack", "row_stack", "append", "pad",
          "tile", "repeat", "reshape", "ravel", "squeeze", "expand_dims", "atleast_1d", "atleast_2d", "atleast_3d",
          "transpose", "swapaxes", "moveaxis", "flip", "fliplr", "flipud", "rot90", "roll", "sort", "cross", "outer", "kron",
          "inner", "vdot", "tensordot", "einsum", "linspace", "arange", "full", "full_like", "eye", "identity",
          "trace", "diag", "diagonal", "triu", "tril", "cumsum", "diff", "var", "std", "average", "array",
          "asarray", "asfarray", "copy", "float64", "float32", "double", "nanmean", "nansum")
for _name in _NUMPY:
    LIBRARY[("numpy", _name)] = _name
for _name in ("norm", "det", "slogdet", "inv", "solve"):
    LIBRARY[("numpy.linalg", _name)] = f"linalg.{_name}"
for _name in ("logsumexp", "softmax", "log_softmax"):
    LIBRARY[("scipy.special", _name)] = f"special.{_name}"


# ------------------------------------------------------------------ entry

def lower_call(lowering, node: ast.Call, ref, target):
    """Library functions, array methods and the built-ins on containers; None when not one of them."""
    if isinstance(ref, LibraryRef):
        return _call_library(lowering, ref.name, node, target)
    if isinstance(ref, MarkerRef):
        return _builtin(lowering, ref.name, node, target)
    if ref is None and isinstance(node.func, ast.Attribute):
        return _method(lowering, node, target)
    return None


# ------------------------------------------------------------------ built-ins

def _builtin(lowering, name: str, node: ast.Call, target):
    if name == "len":
        value = lowering.lower_expr(node.args[0])
        if isinstance(value, Pack):
            return lowering.materialise(Const(len(value)), target)
        if isinstance(value, Text):
            return lowering.materialise(Const(len(value.value)), target)
        rank_of(lowering, value, node, "len()")
        known = lowering.static_length(value)
        if known is not None:
            return lowering.materialise(Const(known), target)
        return lowering.apply("shape0", (value,), target)
    if name == "sum":
        values = _iterated(lowering, node.args[0])
        if values is None:
            return None
        acc = lowering.lower_expr(node.args[1]) if len(node.args) > 1 else Const(0)
        for value in values:
            acc = value if acc == Const(0) and not isinstance(value, Const) else lowering.apply("add", (acc, value))
        return lowering.materialise(acc, target)
    if name in ("tuple", "list"):
        values = _iterated(lowering, node.args[0]) if node.args else []
        if values is None:
            raise lowering.unsupported(node, f"{name}() of an array", "index the array, or use it as it is")
        from .lower_containers import make
        return make(lowering, name, values)
    if name == "dict":
        if node.args:
            raise lowering.unsupported(node, "dict() of a value", "write dict(a=..., b=...) or a literal {...}")
        return Pack("dict", {kw.arg: lowering.lower_expr(kw.value) for kw in node.keywords})
    if name in ("enumerate", "zip", "reversed", "sorted", "any", "all", "isinstance", "round"):
        raise lowering.unsupported(node, f"{name}(...) here",
                                   "enumerate, zip and reversed may drive a for loop over containers")
    if name == "complex":
        raise lowering.unsupported(node, "complex numbers", "differentiate the real and imaginary parts as two "
                                   "real values")
    if name == "print":
        raise lowering.unsupported(node, "print(...) as a value", "call print as a statement (it is ignored)")
    return None


def _iterated(lowering, node) -> list | None:
    """The values a built-in iterates: a container's, a comprehension's; None for an array."""
    value = lowering.lower_expr(node)
    if isinstance(value, Pack):
        return value.values() if value.kind != "dict" else [Text(k) for k in value.keys()]
    return None


# ------------------------------------------------------------------ methods of arrays

_METHOD_NAMES = {"reshape", "ravel", "flatten", "squeeze", "astype", "transpose", "swapaxes", "var", "std",
                 "cumsum", "clip", "trace", "diagonal", "item", "sort", "round", "conj", "conjugate"}


def _method(lowering, node: ast.Call, target):
    method = node.func.attr
    if method not in _METHOD_NAMES:
        return None
    base = node.func.value
    if isinstance(base, ast.Name) and lowering.local(base.id) is None:
        ref = lowering.resolve(base)
        if ref is not None and not hasattr(ref, "read"):
            return None            # a module's function, not a method
    value = lowering.lower_expr(base)
    if isinstance(value, (Pack, Text)):
        return None
    rank = rank_of(lowering, value, node, f".{method}()")
    if method == "reshape":
        dims = [lowering.lower_expr(a) for a in node.args]
        if len(dims) == 1 and isinstance(dims[0], Pack):
            dims = dims[0].values()
        return _reshape_to(lowering, value, dims, node, target)
    if method in ("ravel", "flatten"):
        flat = reshape(lowering, value, [Const(-1)], target if method == "ravel" else None)
        return flat if method == "ravel" else lowering.apply("array_copy", (flat,), target)
    if method == "squeeze":
        return _squeeze(lowering, value, constant(lowering, node.args[0]) if node.args else
                        Call(lowering, node, ("axis",)).constant("axis"), rank, node, target)
    if method == "astype":
        copies = [constant(lowering, k.value) for k in node.keywords if k.arg == "copy"]
        dtype = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "dtype")
        return astype(lowering, value, dtype, node, target, shares=bool(copies) and copies[0] is not True)
    if method == "transpose":
        axes = [constant(lowering, a) for a in node.args]
        if len(axes) == 1 and isinstance(axes[0], tuple):
            axes = list(axes[0])
        if not axes:
            return lowering.apply("transpose", (value,), target)
        return transpose(lowering, value, [axis_arg(lowering, a, rank, node) for a in axes], target)
    if method == "swapaxes":
        return _swapaxes(lowering, value, rank, [constant(lowering, a) for a in node.args], node, target)
    if method in ("var", "std"):
        call = Call(lowering, node, ("axis", "dtype", "out", "ddof", "keepdims"))
        return moment(lowering, method, value, call, rank, target)
    if method == "cumsum":
        call = Call(lowering, node, ("axis",))
        return cumsum_along(lowering, value, call.constant("axis"), rank, node, target)
    if method == "clip":
        call = Call(lowering, node, ("min", "max"))
        return lowering.apply("clip", (value, call.value("min"), call.value("max")), target)
    if method == "trace":
        return trace_of(lowering, value, Call(lowering, node, ("offset",)).constant("offset", 0), rank, node, target)
    if method == "diagonal":
        return diagonal_of(lowering, value, Call(lowering, node, ("offset",)).constant("offset", 0), rank, node, target)
    if method == "item":
        if node.args:
            raise lowering.unsupported(node, ".item() with an index", "index the array: x[i]")
        lowering.check_size_one(value, node)
        return lowering.apply("squeeze", (value,), target, (("axes", tuple(range(rank))), ("ndim", rank))) \
            if rank else lowering.materialise(value, target)
    if method == "sort":
        raise lowering.unsupported(node, ".sort() (it sorts the array in place)", "write x = np.sort(x)")
    if method in ("conj", "conjugate"):
        return lowering.materialise(value, target)         # real numbers are their own conjugates
    raise lowering.unsupported(node, f"the method .{method}() with these arguments", "see the README")


# ------------------------------------------------------------------ library functions

def _call_library(lowering, name: str, node: ast.Call, target):
    handler = _HANDLERS.get(name)
    if handler is None:     # pragma: no cover - every LIBRARY name has a handler
        raise lowering.unsupported(node, name, "see the README")
    return handler(lowering, node, target)


def _reshape_to(lowering, value, dims, node, target):
    operands = []
    for dim in dims:
        if isinstance(dim, Pack):
            operands += dim.values()
        elif isinstance(dim, (Var, Const)):
            operands.append(dim)
        else:
            raise lowering.unsupported(node, "this shape", "give the shape as ints or a tuple of ints")
    if not operands:
        raise lowering.unsupported(node, "a reshape to a number", "index the entry (x[0]) or use .item()")
    return reshape(lowering, value, operands, target)


def _np_reshape(lowering, node, target):
    call = Call(lowering, node, ("a", "newshape", "order"))
    if call.constant("order", "C") != "C":
        raise lowering.unsupported(node, "reshape in Fortran order", "reshape in C order (the default)")
    shape = call.value("newshape") if call.has("newshape") else Call(lowering, node, ("a", "shape")).value("shape")
    return _reshape_to(lowering, call.array("a"), [shape], node, target)


def _ravel(lowering, node, target):
    return reshape(lowering, Call(lowering, node, ("a",)).array("a"), [Const(-1)], target)


def _squeeze(lowering, value, axis, rank, node, target):
    if axis is None:
        raise lowering.unsupported(node, "np.squeeze without axis (which axes have length 1 is known only when "
                                   "the code runs)", "name the axes: np.squeeze(x, axis=1)")
    axes = axes_arg(lowering, axis, rank, node)
    return lowering.apply("squeeze", (value,), target, (("axes", axes), ("ndim", rank)))


def _np_squeeze(lowering, node, target):
    call = Call(lowering, node, ("a", "axis"))
    value = call.array("a")
    return _squeeze(lowering, value, call.constant("axis"), rank_of(lowering, value, node), node, target)


def _expand_dims(lowering, node, target):
    call = Call(lowering, node, ("a", "axis"))
    value = call.array("a")
    axis = call.constant("axis")
    count = len(axis) if isinstance(axis, tuple) else 1
    rank = rank_of(lowering, value, node) + count
    return expand(lowering, value, axes_arg(lowering, axis, rank, node), target)


def _atleast(minimum: int):
    def lower(lowering, node, target):
        if len(node.args) != 1:
            raise lowering.unsupported(node, f"atleast_{minimum}d of several arrays", "call it once per array")
        value = as_array(lowering, lowering.lower_expr(node.args[0]), node)
        return atleast(lowering, value, minimum, node, target)
    return lower


def atleast(lowering, value, minimum: int, node, target=None):
    rank = rank_of(lowering, value, node)
    if rank >= minimum:
        return lowering.materialise(value, target)
    if rank == 0:
        value = lowering.apply("array_from", (lowering.as_float(value),))
        rank = 1
        if minimum == 1:
            return lowering.materialise(value, target)
    if minimum == 2:
        return expand(lowering, value, (0,), target)
    # atleast_3d: (N,) -> (1, N, 1); (M, N) -> (M, N, 1)
    return expand(lowering, value, (0, 2) if rank == 1 else (2,), target)


def _np_transpose(lowering, node, target):
    call = Call(lowering, node, ("a", "axes"))
    value = call.array("a")
    axes = call.constant("axes")
    if axes is None:
        return lowering.apply("transpose", (value,), target)
    rank = rank_of(lowering, value, node)
    return transpose(lowering, value, [axis_arg(lowering, a, rank, node) for a in axes], target)


def _swapaxes(lowering, value, rank, axes, node, target):
    a, b = (axis_arg(lowering, x, rank, node) for x in axes)
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(lowering, value, perm, target)


def _np_swapaxes(lowering, node, target):
    call = Call(lowering, node, ("a", "axis1", "axis2"))
    value = call.array("a")
    return _swapaxes(lowering, value, rank_of(lowering, value, node),
                     [call.constant("axis1"), call.constant("axis2")], node, target)


def _moveaxis(lowering, node, target):
    call = Call(lowering, node, ("a", "source", "destination"))
    value = call.array("a")
    rank = rank_of(lowering, value, node)
    source, destination = call.constant("source"), call.constant("destination")
    source = [source] if isinstance(source, int) else list(source)
    destination = [destination] if isinstance(destination, int) else list(destination)
    source = [axis_arg(lowering, a, rank, node) for a in source]
    destination = [axis_arg(lowering, a, rank, node) for a in destination]
    order = [a for a in range(rank) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(lowering, value, order, target)


def _sequence(lowering, node, what: str) -> list:
    value = lowering.lower_expr(node)
    if isinstance(value, Pack) and value.kind in ("tuple", "list"):
        return [as_array(lowering, v, node) for v in value.values()]
    if isinstance(value, Pack):
        raise lowering.unsupported(node, f"{what} of a {value.kind}", "pass a tuple or list of arrays")
    rank = rank_of(lowering, value, node, what)
    known = lowering.static_length(value)
    if rank and known is not None:
        return [lowering.apply("subscript", (value, Const(k))) for k in range(known)]
    raise lowering.unsupported(node, f"{what} of an array (its length is known only when the code runs)",
                               "pass a tuple or list of arrays: np.concatenate((a, b))")


def concatenate(lowering, arrays: list, axis: int, node, target=None):
    ranks = {rank_of(lowering, a, node, "np.concatenate") for a in arrays}
    if len(ranks) != 1 or 0 in ranks:
        raise lowering.unsupported(node, "joining arrays of different ranks (or numbers)",
                                   "give every array the same rank (np.atleast_1d, np.expand_dims)")
    rank = ranks.pop()
    axis = axis_arg(lowering, axis, rank, node)
    if len(arrays) == 1:
        return lowering.apply("array_copy", (arrays[0],), target)
    return lowering.apply("concatenate", tuple(arrays), target, (("axis", axis),))


def _concatenate(lowering, node, target):
    call = Call(lowering, node, ("arrays", "axis", "out", "dtype"))
    arrays = _sequence(lowering, call.node_of("arrays"), "np.concatenate")
    axis = call.constant("axis", 0)
    if axis is None:
        arrays = [reshape(lowering, a, [Const(-1)]) for a in arrays]
        axis = 0
    return concatenate(lowering, arrays, axis, node, target)


def _stack(lowering, node, target):
    call = Call(lowering, node, ("arrays", "axis", "out"))
    arrays = _sequence(lowering, call.node_of("arrays"), "np.stack")
    rank = rank_of(lowering, arrays[0], node) + 1
    axis = axis_arg(lowering, call.constant("axis", 0), rank, node)
    return concatenate(lowering, [expand(lowering, a, (axis,)) for a in arrays], axis, node, target)


def _vstack(lowering, node, target):
    arrays = _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.vstack")
    return concatenate(lowering, [atleast(lowering, a, 2, node) for a in arrays], 0, node, target)


def _hstack(lowering, node, target):
    arrays = [atleast(lowering, a, 1, node) for a in
              _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.hstack")]
    return concatenate(lowering, arrays, 0 if rank_of(lowering, arrays[0], node) == 1 else 1, node, target)


def _dstack(lowering, node, target):
    arrays = _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.dstack")
    return concatenate(lowering, [atleast(lowering, a, 3, node) for a in arrays], 2, node, target)


def _column_stack(lowering, node, target):
    arrays = _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.column_stack")
    columns = [expand(lowering, a, (1,)) if rank_of(lowering, a, node) == 1 else a for a in arrays]
    return concatenate(lowering, columns, 1, node, target)


def _append(lowering, node, target):
    call = Call(lowering, node, ("arr", "values", "axis"))
    first, second = call.array("arr"), call.array("values")
    axis = call.constant("axis")
    if axis is None:
        first, second = (reshape(lowering, atleast(lowering, v, 1, node), [Const(-1)]) for v in (first, second))
        axis = 0
    return concatenate(lowering, [first, second], axis, node, target)


def _pad(lowering, node, target):
    call = Call(lowering, node, ("array", "pad_width", "mode", "constant_values"))
    value = call.array("array")
    rank = rank_of(lowering, value, node)
    if call.constant("mode", "constant") != "constant":
        raise lowering.unsupported(node, f"np.pad with mode={call.constant('mode')!r}",
                                   "pad with a constant (mode='constant', the default)")
    width = call.constant("pad_width")
    fill = call.value("constant_values", Const(0.0))
    if isinstance(fill, Pack):
        raise lowering.unsupported(node, "different constant_values per side", "pad with one constant")
    widths = _pad_widths(lowering, width, rank, node)
    for axis, (before, after) in enumerate(widths):
        parts = []
        for count in (before, after):
            if count:
                dims = shape_of(lowering, value, rank)
                dims[axis] = Const(count)
                block = lowering.apply("zeros", tuple(dims))
                if fill != Const(0.0) and fill != Const(0):
                    block = lowering.apply("add", (block, fill))
                parts.append(block)
            else:
                parts.append(None)
        pieces = [p for p in (parts[0], value, parts[1]) if p is not None]
        if len(pieces) > 1:
            value = lowering.apply("concatenate", tuple(pieces), None, (("axis", axis),))
    return lowering.materialise(value, target)


def _pad_widths(lowering, width, rank, node):
    if isinstance(width, int):
        return [(width, width)] * rank
    if isinstance(width, tuple) and len(width) == 2 and all(isinstance(w, int) for w in width):
        return [width] * rank
    if isinstance(width, tuple) and len(width) == 1:
        return _pad_widths(lowering, width[0], rank, node)
    if isinstance(width, tuple) and len(width) == rank:
        return [tuple(w) if isinstance(w, tuple) else (w, w) for w in width]
    raise lowering.unsupported(node, f"pad_width={width!r}", "give an int, (before, after), or one pair per axis")


def _tile(lowering, node, target):
    call = Call(lowering, node, ("A", "reps"))
    value = call.array("A")
    reps = call.constant("reps")
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    rank = rank_of(lowering, value, node)
    if rank == 0:
        value = lowering.apply("array_from", (lowering.as_float(value),))
        rank = 1
    if len(reps) > rank:
        value = expand(lowering, value, tuple(range(len(reps) - rank)))
        rank = len(reps)
    reps = (1,) * (rank - len(reps)) + reps
    for axis, count in enumerate(reps):
        if count < 1:
            raise lowering.unsupported(node, f"np.tile with {count} repetitions", "repeat at least once")
        if count > 1:
            value = lowering.apply("concatenate", (value,) * count, None, (("axis", axis),))
    return lowering.materialise(value, target)


def _repeat(lowering, node, target):
    call = Call(lowering, node, ("a", "repeats", "axis"))
    value = call.array("a")
    count = call.constant("repeats")
    if not isinstance(count, int):
        raise lowering.unsupported(node, "np.repeat with several repeat counts", "repeat every entry as often")
    axis = call.constant("axis")
    if axis is None:
        value = reshape(lowering, atleast(lowering, value, 1, node), [Const(-1)])
        axis = 0
    rank = rank_of(lowering, value, node)
    axis = axis_arg(lowering, axis, rank, node)
    dims = shape_of(lowering, value, rank)
    widened = expand(lowering, value, (axis + 1,))
    block = lowering.apply("zeros", tuple(dims[:axis + 1] + [Const(count)] + dims[axis + 1:]))
    spread = lowering.apply("add", (widened, block))
    new_dims = list(dims)
    new_dims[axis] = lowering.apply("mul", (dims[axis], Const(count)))
    return reshape(lowering, spread, new_dims, target)


_HANDLERS = {
    "concatenate": _concatenate, "stack": _stack, "vstack": _vstack, "row_stack": _vstack, "hstack": _hstack,
    "column_stack": _column_stack, "dstack": _dstack, "append": _append, "pad": _pad, "tile": _tile,
    "repeat": _repeat, "reshape": _np_reshape, "ravel": _ravel, "squeeze": _np_squeeze, "expand_dims": _expand_dims,
    "atleast_1d": _atleast(1), "atleast_2d": _atleast(2), "atleast_3d": _atleast(3), "transpose": _np_transpose,
    "swapaxes": _np_swapaxes, "moveaxis": _moveaxis,
    **_MATRIX, **_LINALG,
}
