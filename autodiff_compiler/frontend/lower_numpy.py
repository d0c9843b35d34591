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
import string

from ..errors import UnsupportedSyntaxError
from ..ir import Const, Slice, Var
from .lower_containers import Pack, Text
from .parse import LIBRARY, LibraryRef, MarkerRef

_NUMPY = ("concatenate", "stack", "vstack", "hstack", "column_stack", "dstack", "row_stack", "append", "pad",
          "tile", "repeat", "reshape", "ravel", "squeeze", "expand_dims", "atleast_1d", "atleast_2d", "atleast_3d",
          "transpose", "swapaxes", "moveaxis", "flip", "fliplr", "flipud", "rot90", "roll", "sort", "cross", "kron",
          "inner", "vdot", "tensordot", "einsum", "linspace", "arange", "full", "full_like", "eye", "identity",
          "trace", "diag", "diagonal", "triu", "tril", "cumsum", "diff", "var", "std", "average", "array",
          "asarray", "asfarray", "copy", "float64", "float32", "double", "nanmean", "nansum")
for _name in _NUMPY:
    LIBRARY[("numpy", _name)] = _name
for _name in ("norm", "det", "slogdet", "inv", "solve"):
    LIBRARY[("numpy.linalg", _name)] = f"linalg.{_name}"
for _name in ("logsumexp", "softmax", "log_softmax"):
    LIBRARY[("scipy.special", _name)] = f"special.{_name}"

_FLOAT_TYPES = {"float", "float64", "float32", "float16", "double", "single", "np.float64", "np.float32",
                "np.double", "np.single", "numpy.float64", "numpy.float32", "f8", "f4", "d", "f"}
_INT_TYPES = {"int", "int64", "int32", "np.int64", "np.int32", "numpy.int64", "numpy.int32", "i8", "i4", "np.intp"}


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


class Call:
    """The arguments of a call, by position or keyword, with defaults."""

    def __init__(self, lowering, node: ast.Call, names: tuple):
        self.lowering, self.node, self.names = lowering, node, names
        self.given = {}
        if len(node.args) > len(names):
            raise lowering.unsupported(node, f"{len(node.args)} arguments to {ast.unparse(node.func)}",
                                       f"its arguments here: {', '.join(names)}")
        for name, arg in zip(names, node.args):
            self.given[name] = arg
        for keyword in node.keywords:
            if keyword.arg not in names:
                raise lowering.unsupported(node, f"the keyword {keyword.arg!r} of {ast.unparse(node.func)}",
                                           f"its arguments here: {', '.join(names)}")
            self.given[keyword.arg] = keyword.value

    def has(self, name: str) -> bool:
        return name in self.given

    def node_of(self, name: str):
        return self.given.get(name)

    def value(self, name: str, default=None):
        """The argument as an operand, a container or a string (lowered)."""
        if name not in self.given:
            return default
        return self.lowering.lower_expr(self.given[name])

    def array(self, name: str):
        return as_array(self.lowering, self.value(name), self.given.get(name, self.node))

    def constant(self, name: str, default=None):
        """The argument as a Python constant known when compiling (int, float, tuple, str, None)."""
        if name not in self.given:
            return default
        return constant(self.lowering, self.given[name])


def constant(lowering, node):
    try:
        value = ast.literal_eval(node)
        return tuple(value) if isinstance(value, list) else value
    except (ValueError, SyntaxError, TypeError):
        pass
    value = lowering.lower_expr(node)
    return _python(lowering, value, node)


def _python(lowering, value, node):
    if isinstance(value, Const):
        return value.value
    if isinstance(value, Text):
        return value.value
    if isinstance(value, Pack) and value.kind in ("tuple", "list"):
        return tuple(_python(lowering, v, node) for v in value.values())
    raise lowering.unsupported(node, f"{ast.unparse(node)} computed when the code runs",
                               "write it as a constant (axes, shapes of padding, specs ...)")


def as_array(lowering, value, node):
    """`np.array` of a value: an operand as it is; a tuple/list of numbers as a vector; of arrays (or of
    tuples/lists) stacked along a new first axis."""
    if isinstance(value, Text):
        raise lowering.unsupported(node, "a string where an array is expected", "pass numbers or arrays")
    if not isinstance(value, Pack):
        return value
    if value.kind == "dict" or value.kind == "object":
        raise lowering.unsupported(node, f"a {value.kind} where an array is expected", "pass a list or an array")
    items = [as_array(lowering, v, node) for v in value.values()]
    if not items:
        raise lowering.unsupported(node, "an empty list as an array", "make empty arrays with np.zeros(0)")
    ranks = {lowering.rank_of(v, node, "np.array") for v in items}
    if len(ranks) != 1:
        raise lowering.unsupported(node, "a list mixing numbers and arrays (or arrays of different ranks)",
                                   "build each row the same way")
    rank = ranks.pop()
    if rank == 0:
        result = lowering.apply("array_from", tuple(lowering.as_float(v) for v in items))
        lowering.lengths[result.name] = len(items)
        return result
    expanded = [lowering.apply("expand_dims", (v,), None, (("axes", (0,)),)) for v in items]
    result = lowering.apply("concatenate", tuple(expanded), None, (("axis", 0),)) if len(items) > 1 else expanded[0]
    lowering.lengths[result.name] = len(items)
    return result


def _axis(lowering, axis, rank: int, node, name: str = "axis") -> int:
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise lowering.unsupported(node, f"{name}={axis!r}", f"write {name} as a constant int")
    if not -rank <= axis < rank:
        raise lowering.unsupported(node, f"{name}={axis} for an array of rank {rank}",
                                   f"an array of rank {rank} has axes 0 to {rank - 1} (or -1 to -{rank})")
    return axis % rank


def _axes(lowering, axis, rank: int, node) -> tuple:
    listed = tuple(range(rank)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted({_axis(lowering, a, rank, node) for a in listed}))


def _rank(lowering, value, node, what="this") -> int:
    return lowering.rank_of(value, node, what)


def _shape(lowering, value, rank: int) -> list:
    return [lowering.apply({0: "shape0", 1: "shape1"}.get(k, "shape"), (value,), None,
                           () if k < 2 else (("axis", k),)) for k in range(rank)]


def _product(lowering, operands: list):
    acc = Const(1)
    for operand in operands:
        acc = operand if acc == Const(1) else lowering.apply("mul", (acc, operand))
    return acc


def _along(rank: int, axis: int, part) -> tuple:
    return tuple(part if k == axis else Slice() for k in range(rank))


def _expand(lowering, value, axes, target=None):
    return lowering.apply("expand_dims", (value,), target, (("axes", tuple(sorted(axes))),))


def _reshape(lowering, value, dims, target=None):
    return lowering.apply("reshape", (value,) + tuple(dims), target)


def _transpose(lowering, value, perm, target=None):
    perm = tuple(perm)
    if perm == tuple(range(len(perm))):
        return lowering.materialise(value, target)
    return lowering.apply("transpose_axes", (value,), target, (("axes", perm),))


def _reduce(lowering, base: str, value, axis, keep: bool, target=None):
    """A reduction as the front end writes it (`ir.types.specialise` resolves the axes)."""
    if axis is None and not keep:
        return lowering.apply(base, (value,), target)
    return lowering.apply(f"{base}_axes", (value,), target, (("axis", axis), ("keepdims", keep)))


def _count(lowering, value, axis, rank):
    if axis is None:
        return lowering.apply("size", (value,))
    axes = (axis,) if isinstance(axis, int) else axis
    return _product(lowering, [_shape(lowering, value, rank)[a % rank] for a in axes])


# ------------------------------------------------------------------ built-ins

def _builtin(lowering, name: str, node: ast.Call, target):
    if name == "len":
        value = lowering.lower_expr(node.args[0])
        if isinstance(value, Pack):
            return lowering.materialise(Const(len(value)), target)
        if isinstance(value, Text):
            return lowering.materialise(Const(len(value.value)), target)
        _rank(lowering, value, node, "len()")
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
    rank = _rank(lowering, value, node, f".{method}()")
    if method == "reshape":
        dims = [lowering.lower_expr(a) for a in node.args]
        if len(dims) == 1 and isinstance(dims[0], Pack):
            dims = dims[0].values()
        return _reshape_to(lowering, value, dims, node, target)
    if method in ("ravel", "flatten"):
        flat = _reshape(lowering, value, [Const(-1)], target if method == "ravel" else None)
        return flat if method == "ravel" else lowering.apply("array_copy", (flat,), target)
    if method == "squeeze":
        return _squeeze(lowering, value, constant(lowering, node.args[0]) if node.args else
                        Call(lowering, node, ("axis",)).constant("axis"), rank, node, target)
    if method == "astype":
        return _astype(lowering, value, node.args[0] if node.args else node.keywords[0].value, node, target)
    if method == "transpose":
        axes = [constant(lowering, a) for a in node.args]
        if len(axes) == 1 and isinstance(axes[0], tuple):
            axes = list(axes[0])
        if not axes:
            return lowering.apply("transpose", (value,), target)
        return _transpose(lowering, value, [_axis(lowering, a, rank, node) for a in axes], target)
    if method == "swapaxes":
        return _swapaxes(lowering, value, rank, [constant(lowering, a) for a in node.args], node, target)
    if method in ("var", "std"):
        call = Call(lowering, node, ("axis", "dtype", "out", "ddof", "keepdims"))
        return _moment(lowering, method, value, call, rank, target)
    if method == "cumsum":
        call = Call(lowering, node, ("axis",))
        return _cumsum(lowering, value, call.constant("axis"), rank, node, target)
    if method == "clip":
        call = Call(lowering, node, ("min", "max"))
        return lowering.apply("clip", (value, call.value("min"), call.value("max")), target)
    if method == "trace":
        return _trace(lowering, value, Call(lowering, node, ("offset",)).constant("offset", 0), rank, node, target)
    if method == "diagonal":
        return _diagonal(lowering, value, Call(lowering, node, ("offset",)).constant("offset", 0), rank, node, target)
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


def _astype(lowering, value, dtype_node, node, target):
    text = ast.unparse(dtype_node).strip("'\"")
    if text in _FLOAT_TYPES:
        # float32 and float64 alike: the derivative is computed in float64 (see the README)
        return lowering.apply("array_copy", (value,), target) if lowering.rank_of(value) else \
            lowering.apply("float", (value,), target)
    if text in _INT_TYPES:
        return lowering.apply("to_int", (value,), target)
    if text in ("bool", "np.bool_"):
        return lowering.apply("ne", (value, Const(0)), target)
    raise lowering.unsupported(node, f"astype({text})", "cast to float, float64, float32 or int"
                               + ("; complex numbers are not supported" if "complex" in text else ""))


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
    return _reshape(lowering, value, operands, target)


def _np_reshape(lowering, node, target):
    call = Call(lowering, node, ("a", "newshape", "order"))
    if call.constant("order", "C") != "C":
        raise lowering.unsupported(node, "reshape in Fortran order", "reshape in C order (the default)")
    shape = call.value("newshape") if call.has("newshape") else Call(lowering, node, ("a", "shape")).value("shape")
    return _reshape_to(lowering, call.array("a"), [shape], node, target)


def _ravel(lowering, node, target):
    return _reshape(lowering, Call(lowering, node, ("a",)).array("a"), [Const(-1)], target)


def _squeeze(lowering, value, axis, rank, node, target):
    if axis is None:
        raise lowering.unsupported(node, "np.squeeze without axis (which axes have length 1 is known only when "
                                   "the code runs)", "name the axes: np.squeeze(x, axis=1)")
    axes = _axes(lowering, axis, rank, node)
    return lowering.apply("squeeze", (value,), target, (("axes", axes), ("ndim", rank)))


def _np_squeeze(lowering, node, target):
    call = Call(lowering, node, ("a", "axis"))
    value = call.array("a")
    return _squeeze(lowering, value, call.constant("axis"), _rank(lowering, value, node), node, target)


def _expand_dims(lowering, node, target):
    call = Call(lowering, node, ("a", "axis"))
    value = call.array("a")
    axis = call.constant("axis")
    count = len(axis) if isinstance(axis, tuple) else 1
    rank = _rank(lowering, value, node) + count
    return _expand(lowering, value, _axes(lowering, axis, rank, node), target)


def _atleast(minimum: int):
    def lower(lowering, node, target):
        if len(node.args) != 1:
            raise lowering.unsupported(node, f"atleast_{minimum}d of several arrays", "call it once per array")
        value = as_array(lowering, lowering.lower_expr(node.args[0]), node)
        return atleast(lowering, value, minimum, node, target)
    return lower


def atleast(lowering, value, minimum: int, node, target=None):
    rank = _rank(lowering, value, node)
    if rank >= minimum:
        return lowering.materialise(value, target)
    if rank == 0:
        value = lowering.apply("array_from", (lowering.as_float(value),))
        rank = 1
        if minimum == 1:
            return lowering.materialise(value, target)
    if minimum == 2:
        return _expand(lowering, value, (0,), target)
    # atleast_3d: (N,) -> (1, N, 1); (M, N) -> (M, N, 1)
    return _expand(lowering, value, (0, 2) if rank == 1 else (2,), target)


def _np_transpose(lowering, node, target):
    call = Call(lowering, node, ("a", "axes"))
    value = call.array("a")
    axes = call.constant("axes")
    if axes is None:
        return lowering.apply("transpose", (value,), target)
    rank = _rank(lowering, value, node)
    return _transpose(lowering, value, [_axis(lowering, a, rank, node) for a in axes], target)


def _swapaxes(lowering, value, rank, axes, node, target):
    a, b = (_axis(lowering, x, rank, node) for x in axes)
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    return _transpose(lowering, value, perm, target)


def _np_swapaxes(lowering, node, target):
    call = Call(lowering, node, ("a", "axis1", "axis2"))
    value = call.array("a")
    return _swapaxes(lowering, value, _rank(lowering, value, node),
                     [call.constant("axis1"), call.constant("axis2")], node, target)


def _moveaxis(lowering, node, target):
    call = Call(lowering, node, ("a", "source", "destination"))
    value = call.array("a")
    rank = _rank(lowering, value, node)
    source, destination = call.constant("source"), call.constant("destination")
    source = [source] if isinstance(source, int) else list(source)
    destination = [destination] if isinstance(destination, int) else list(destination)
    source = [_axis(lowering, a, rank, node) for a in source]
    destination = [_axis(lowering, a, rank, node) for a in destination]
    order = [a for a in range(rank) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _transpose(lowering, value, order, target)


def _sequence(lowering, node, what: str) -> list:
    value = lowering.lower_expr(node)
    if isinstance(value, Pack) and value.kind in ("tuple", "list"):
        return [as_array(lowering, v, node) for v in value.values()]
    if isinstance(value, Pack):
        raise lowering.unsupported(node, f"{what} of a {value.kind}", "pass a tuple or list of arrays")
    rank = _rank(lowering, value, node, what)
    known = lowering.static_length(value)
    if rank and known is not None:
        return [lowering.apply("subscript", (value, Const(k))) for k in range(known)]
    raise lowering.unsupported(node, f"{what} of an array (its length is known only when the code runs)",
                               "pass a tuple or list of arrays: np.concatenate((a, b))")


def concatenate(lowering, arrays: list, axis: int, node, target=None):
    ranks = {_rank(lowering, a, node, "np.concatenate") for a in arrays}
    if len(ranks) != 1 or 0 in ranks:
        raise lowering.unsupported(node, "joining arrays of different ranks (or numbers)",
                                   "give every array the same rank (np.atleast_1d, np.expand_dims)")
    rank = ranks.pop()
    axis = _axis(lowering, axis, rank, node)
    if len(arrays) == 1:
        return lowering.apply("array_copy", (arrays[0],), target)
    return lowering.apply("concatenate", tuple(arrays), target, (("axis", axis),))


def _concatenate(lowering, node, target):
    call = Call(lowering, node, ("arrays", "axis", "out", "dtype"))
    arrays = _sequence(lowering, call.node_of("arrays"), "np.concatenate")
    axis = call.constant("axis", 0)
    if axis is None:
        arrays = [_reshape(lowering, a, [Const(-1)]) for a in arrays]
        axis = 0
    return concatenate(lowering, arrays, axis, node, target)


def _stack(lowering, node, target):
    call = Call(lowering, node, ("arrays", "axis", "out"))
    arrays = _sequence(lowering, call.node_of("arrays"), "np.stack")
    rank = _rank(lowering, arrays[0], node) + 1
    axis = _axis(lowering, call.constant("axis", 0), rank, node)
    return concatenate(lowering, [_expand(lowering, a, (axis,)) for a in arrays], axis, node, target)


def _vstack(lowering, node, target):
    arrays = _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.vstack")
    return concatenate(lowering, [atleast(lowering, a, 2, node) for a in arrays], 0, node, target)


def _hstack(lowering, node, target):
    arrays = [atleast(lowering, a, 1, node) for a in
              _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.hstack")]
    return concatenate(lowering, arrays, 0 if _rank(lowering, arrays[0], node) == 1 else 1, node, target)


def _dstack(lowering, node, target):
    arrays = _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.dstack")
    return concatenate(lowering, [atleast(lowering, a, 3, node) for a in arrays], 2, node, target)


def _column_stack(lowering, node, target):
    arrays = _sequence(lowering, Call(lowering, node, ("tup",)).node_of("tup"), "np.column_stack")
    columns = [_expand(lowering, a, (1,)) if _rank(lowering, a, node) == 1 else a for a in arrays]
    return concatenate(lowering, columns, 1, node, target)


def _append(lowering, node, target):
    call = Call(lowering, node, ("arr", "values", "axis"))
    first, second = call.array("arr"), call.array("values")
    axis = call.constant("axis")
    if axis is None:
        first, second = (_reshape(lowering, atleast(lowering, v, 1, node), [Const(-1)]) for v in (first, second))
        axis = 0
    return concatenate(lowering, [first, second], axis, node, target)


def _pad(lowering, node, target):
    call = Call(lowering, node, ("array", "pad_width", "mode", "constant_values"))
    value = call.array("array")
    rank = _rank(lowering, value, node)
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
                dims = _shape(lowering, value, rank)
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
    rank = _rank(lowering, value, node)
    if rank == 0:
        value = lowering.apply("array_from", (lowering.as_float(value),))
        rank = 1
    if len(reps) > rank:
        value = _expand(lowering, value, tuple(range(len(reps) - rank)))
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
        value = _reshape(lowering, atleast(lowering, value, 1, node), [Const(-1)])
        axis = 0
    rank = _rank(lowering, value, node)
    axis = _axis(lowering, axis, rank, node)
    dims = _shape(lowering, value, rank)
    widened = _expand(lowering, value, (axis + 1,))
    block = lowering.apply("zeros", tuple(dims[:axis + 1] + [Const(count)] + dims[axis + 1:]))
    spread = lowering.apply("add", (widened, block))
    new_dims = list(dims)
    new_dims[axis] = lowering.apply("mul", (dims[axis], Const(count)))
    return _reshape(lowering, spread, new_dims, target)


def _flip(lowering, value, axes, rank, target=None):
    return lowering.apply("subscript", (value,) + tuple(Slice(None, None, Const(-1)) if k in axes else Slice()
                                                         for k in range(rank)), target)


def _np_flip(lowering, node, target):
    call = Call(lowering, node, ("m", "axis"))
    value = call.array("m")
    rank = _rank(lowering, value, node)
    return _flip(lowering, value, _axes(lowering, call.constant("axis"), rank, node), rank, target)


def _fliplr(lowering, node, target):
    value = Call(lowering, node, ("m",)).array("m")
    rank = _rank(lowering, value, node)
    if rank < 2:
        raise lowering.unsupported(node, "np.fliplr of a vector", "np.flip(x) or x[::-1]")
    return _flip(lowering, value, (1,), rank, target)


def _flipud(lowering, node, target):
    value = Call(lowering, node, ("m",)).array("m")
    return _flip(lowering, value, (0,), _rank(lowering, value, node), target)


def _rot90(lowering, node, target):
    call = Call(lowering, node, ("m", "k", "axes"))
    value = call.array("m")
    rank = _rank(lowering, value, node)
    k = call.constant("k", 1) % 4
    a, b = (_axis(lowering, x, rank, node) for x in call.constant("axes", (0, 1)))
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    if k == 0:
        return lowering.apply("array_copy", (value,), target)
    if k == 2:
        return _flip(lowering, value, (a, b), rank, target)
    if k == 1:
        return _transpose(lowering, _flip(lowering, value, (b,), rank), perm, target)
    return _flip(lowering, _transpose(lowering, value, perm), (b,), rank, target)


def _roll(lowering, node, target):
    call = Call(lowering, node, ("a", "shift", "axis"))
    value = call.array("a")
    shift = call.value("shift")
    axis = call.constant("axis")
    if isinstance(shift, Pack):
        raise lowering.unsupported(node, "np.roll by several shifts", "roll one axis at a time")
    rank = _rank(lowering, value, node)
    if axis is None:
        flat = _reshape(lowering, value, [Const(-1)])
        rolled = _roll_axis(lowering, flat, shift, 0, 1)
        return lowering.apply("reshape_as", (rolled, value), target)
    return lowering.materialise(_roll_axis(lowering, value, shift, _axis(lowering, axis, rank, node), rank), target)


def _roll_axis(lowering, value, shift, axis, rank):
    length = _shape(lowering, value, rank)[axis]
    offset = lowering.apply("mod", (shift, length))
    cut = lowering.apply("sub", (length, offset))
    tail = lowering.apply("subscript", (value,) + _along(rank, axis, Slice(cut, None, None)))
    head = lowering.apply("subscript", (value,) + _along(rank, axis, Slice(None, cut, None)))
    return lowering.apply("concatenate", (tail, head), None, (("axis", axis),))


def _sort(lowering, node, target):
    call = Call(lowering, node, ("a", "axis", "kind", "order"))
    value = call.array("a")
    axis = call.constant("axis", -1)
    if axis is None:
        value, axis = _reshape(lowering, value, [Const(-1)]), 0
    if _rank(lowering, value, node) != 1:
        raise lowering.unsupported(node, "np.sort of an array of rank above 1",
                                   "sort vectors (a loop over the rows of a matrix)")
    return lowering.apply("sort", (value,), target)


def _cross(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = call.array("a"), call.array("b")
    rank = _rank(lowering, a, node)
    if rank != _rank(lowering, b, node) or rank not in (1, 2):
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
    return lowering.apply("concatenate", tuple(_expand(lowering, p, (1,)) for p in parts), target, (("axis", 1),))


def _kron(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = call.array("a"), call.array("b")
    ranks = (_rank(lowering, a, node), _rank(lowering, b, node))
    if ranks == (1, 1):
        return _reshape(lowering, lowering.apply("outer", (a, b)), [Const(-1)], target)
    if ranks == (2, 2):
        product = lowering.apply("mul", (_expand(lowering, a, (1, 3)), _expand(lowering, b, (0, 2))))
        da, db = _shape(lowering, a, 2), _shape(lowering, b, 2)
        return _reshape(lowering, product, [lowering.apply("mul", (da[0], db[0])),
                                            lowering.apply("mul", (da[1], db[1]))], target)
    raise lowering.unsupported(node, f"np.kron of arrays of ranks {ranks}", "kron two vectors or two matrices")


def _inner(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = call.array("a"), call.array("b")
    ra, rb = _rank(lowering, a, node), _rank(lowering, b, node)
    if ra == 0 or rb == 0:
        return lowering.apply("mul", (a, b), target)
    letters = iter(string.ascii_lowercase)
    shared = next(letters)
    la = "".join(next(letters) for _ in range(ra - 1)) + shared
    lb = "".join(next(letters) for _ in range(rb - 1)) + shared
    return einsum(lowering, [la, lb], la[:-1] + lb[:-1], [a, b], node, target)


def _vdot(lowering, node, target):
    call = Call(lowering, node, ("a", "b"))
    a, b = (_reshape(lowering, v, [Const(-1)]) for v in (call.array("a"), call.array("b")))
    return lowering.apply("dot", (a, b), target)


def _tensordot(lowering, node, target):
    call = Call(lowering, node, ("a", "b", "axes"))
    a, b = call.array("a"), call.array("b")
    ra, rb = _rank(lowering, a, node), _rank(lowering, b, node)
    axes = call.constant("axes", 2)
    if isinstance(axes, int):
        first, second = list(range(ra - axes, ra)), list(range(axes))
    else:
        first, second = ([x] if isinstance(x, int) else list(x) for x in axes)
    first = [_axis(lowering, x, ra, node) for x in first]
    second = [_axis(lowering, x, rb, node) for x in second]
    letters = iter(string.ascii_lowercase)
    la = [next(letters) for _ in range(ra)]
    lb = [next(letters) for _ in range(rb)]
    for x, y in zip(first, second):
        lb[y] = la[x]
    out = [c for k, c in enumerate(la) if k not in first] + [c for k, c in enumerate(lb) if k not in second]
    return einsum(lowering, ["".join(la), "".join(lb)], "".join(out), [a, b], node, target)


def matmul(lowering, node, a, b, target):
    """`a @ b` / np.matmul with an operand of rank above 2: stacks of matrices, batch axes broadcast."""
    ra, rb = _rank(lowering, a, node), _rank(lowering, b, node)
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
        if len(label) != _rank(lowering, operand, node, "np.einsum"):
            raise lowering.unsupported(node, f"the einsum labels {label!r} for an array of rank "
                                       f"{_rank(lowering, operand, node)}", "one letter per axis")
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
            operands[k] = _reduce(lowering, "sum", operands[k], tuple(alone), False) if len(alone) < rank else \
                lowering.apply("sum", (operands[k],))
            labels[k] = "".join(c for i, c in enumerate(labels[k]) if i not in alone)
    label, value = labels[0], operands[0]
    for k in range(1, len(operands)):
        later = set(output) | {c for l in labels[k + 1:] for c in l}
        label, value = _pair(lowering, label, value, labels[k], operands[k], later, node)
    for c in output:
        if c not in label:
            raise lowering.unsupported(node, f"the einsum output letter {c!r} that no operand has", "fix the spec")
    return _transpose(lowering, value, [label.index(c) for c in output], target) if label else \
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
        dims_a = dict(zip(la, _shape(lowering, a, len(la))))
        dims_b = dict(zip(lb, _shape(lowering, b, len(lb))))
        left = _transpose(lowering, a, [la.index(c) for c in only_a + contracted])
        right = _transpose(lowering, b, [lb.index(c) for c in contracted + only_b])
        rows = _product(lowering, [dims_a[c] for c in only_a])
        inner = _product(lowering, [dims_a[c] for c in contracted])
        cols = _product(lowering, [dims_b[c] for c in only_b])
        left = _reshape(lowering, left, [rows, inner])
        right = _reshape(lowering, right, [inner, cols])
        product = lowering.apply("dot", (left, right))
        out = only_a + only_b
        if not out:
            return "", lowering.apply("sum", (product,))
        return "".join(out), _reshape(lowering, product, [dims_a[c] for c in only_a] + [dims_b[c] for c in only_b])
    # batch letters: broadcast both to (batch, only_a, only_b, contracted), multiply, sum the contracted
    order = batch + only_a + only_b + contracted
    left = _broadcast_to_order(lowering, la, a, order)
    right = _broadcast_to_order(lowering, lb, b, order)
    product = lowering.apply("mul", (left, right))
    first = len(order) - len(contracted)
    if contracted:
        product = _reduce(lowering, "sum", product, tuple(range(first, len(order))), False)
    return "".join(order[:first]), product


def _broadcast_to_order(lowering, label: str, value, order: list):
    present = [c for c in order if c in label]
    value = _transpose(lowering, value, [label.index(c) for c in present])
    missing = tuple(k for k, c in enumerate(order) if c not in label)
    return _expand(lowering, value, missing) if missing else value


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
    call = Call(lowering, node, ("shape", "fill_value", "dtype"))
    shape = call.value("shape")
    dims = shape.values() if isinstance(shape, Pack) else [shape]
    return lowering.apply("add", (lowering.apply("zeros", tuple(dims)), call.value("fill_value")), target)


def _full_like(lowering, node, target):
    call = Call(lowering, node, ("a", "fill_value", "dtype"))
    return lowering.apply("add", (lowering.apply("zeros_like", (call.array("a"),)), call.value("fill_value")), target)


def _eye(lowering, node, target):
    call = Call(lowering, node, ("N", "M", "k", "dtype"))
    if call.has("M") or call.constant("k", 0):
        raise lowering.unsupported(node, "np.eye with M or k", "np.eye(n)")
    return lowering.apply("eye", (call.value("N"),), target)


def _trace(lowering, value, offset, rank, node, target):
    if rank != 2:
        raise lowering.unsupported(node, "the trace of an array of rank other than 2", "take traces of matrices")
    return lowering.apply("sum", (lowering.apply("diagonal", (value,), None, (("offset", offset),)),), target)


def _diagonal(lowering, value, offset, rank, node, target):
    if rank != 2:
        raise lowering.unsupported(node, "the diagonal of an array of rank other than 2", "take diagonals of matrices")
    return lowering.apply("diagonal", (value,), target, (("offset", offset),))


def _np_trace(lowering, node, target):
    call = Call(lowering, node, ("a", "offset"))
    value = call.array("a")
    return _trace(lowering, value, call.constant("offset", 0), _rank(lowering, value, node), node, target)


def _np_diagonal(lowering, node, target):
    call = Call(lowering, node, ("a", "offset"))
    value = call.array("a")
    return _diagonal(lowering, value, call.constant("offset", 0), _rank(lowering, value, node), node, target)


def _diag(lowering, node, target):
    call = Call(lowering, node, ("v", "k"))
    value = call.array("v")
    offset = call.constant("k", 0)
    rank = _rank(lowering, value, node)
    if rank == 1:
        return lowering.apply("diag_matrix", (value,), target, (("offset", offset),))
    return _diagonal(lowering, value, offset, rank, node, target)


def _triangle(prim: str):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("m", "k"))
        value = call.array("m")
        if _rank(lowering, value, node) != 2:
            raise lowering.unsupported(node, f"np.{prim} of an array of rank other than 2", f"np.{prim} of a matrix")
        return lowering.apply(prim, (value,), target, (("k", call.constant("k", 0)),))
    return lower


def _cumsum(lowering, value, axis, rank, node, target):
    if axis is None:
        value, axis, rank = _reshape(lowering, value, [Const(-1)]), 0, 1
    axis = _axis(lowering, axis, rank, node)
    return lowering.apply("cumsum", (value,), target, (("axis", axis), ("ndim", rank)))


def _np_cumsum(lowering, node, target):
    call = Call(lowering, node, ("a", "axis", "dtype", "out"))
    value = call.array("a")
    return _cumsum(lowering, value, call.constant("axis"), _rank(lowering, value, node), node, target)


def _diff(lowering, node, target):
    call = Call(lowering, node, ("a", "n", "axis"))
    value = call.array("a")
    rank = _rank(lowering, value, node)
    axis = _axis(lowering, call.constant("axis", -1), rank, node)
    for _ in range(call.constant("n", 1)):
        later = lowering.apply("subscript", (value,) + _along(rank, axis, Slice(Const(1), None, None)))
        earlier = lowering.apply("subscript", (value,) + _along(rank, axis, Slice(None, Const(-1), None)))
        value = lowering.apply("sub", (later, earlier))
    return lowering.materialise(value, target)


def _moment(lowering, kind: str, value, call, rank, target):
    """var and std: the mean of squared deviations from the mean, over `n - ddof`."""
    axis, keep = call.constant("axis"), bool(call.constant("keepdims", False))
    ddof = call.value("ddof", Const(0))
    if not rank:
        raise lowering.unsupported(call.node, f"np.{kind} of a number", f"np.{kind} of an array")
    if axis is not None:
        axis = _axes(lowering, axis, rank, call.node)
    centre = lowering.apply("mean", (value,)) if axis is None else _reduce(lowering, "mean", value, axis, True)
    deviation = lowering.apply("sub", (value, centre))
    total = _reduce(lowering, "sum", lowering.apply("mul", (deviation, deviation)), axis, keep)
    count = lowering.apply("sub", (_count(lowering, value, axis, rank), ddof))
    variance = lowering.apply("div", (total, count), None if kind == "std" else target)
    return lowering.apply("sqrt", (variance,), target) if kind == "std" else variance


def _np_moment(kind: str):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("a", "axis", "dtype", "out", "ddof", "keepdims"))
        value = call.array("a")
        return _moment(lowering, kind, value, call, _rank(lowering, value, node), target)
    return lower


def _average(lowering, node, target):
    call = Call(lowering, node, ("a", "axis", "weights", "returned", "keepdims"))
    value = call.array("a")
    axis, keep = call.constant("axis"), bool(call.constant("keepdims", False))
    if call.constant("returned", False):
        raise lowering.unsupported(node, "np.average(..., returned=True)", "compute the sum of weights yourself")
    if not call.has("weights"):
        return _reduce(lowering, "mean", value, axis, keep, target)
    weights = call.array("weights")
    if _rank(lowering, weights, node) != _rank(lowering, value, node):
        raise lowering.unsupported(node, "np.average with weights of another rank", "give weights of a's shape")
    top = _reduce(lowering, "sum", lowering.apply("mul", (value, weights)), axis, keep)
    bottom = _reduce(lowering, "sum", lowering.apply("add", (weights, lowering.apply("zeros_like", (value,)))),
                     axis, keep)
    return lowering.apply("div", (top, bottom), target)


def _np_array(copy: bool):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("object", "dtype", "copy", "order", "ndmin"))
        value = call.value("object")
        array = as_array(lowering, value, node)
        if call.has("dtype"):
            return _astype(lowering, array, call.node_of("dtype"), node, target)
        if copy and not isinstance(value, Pack) and lowering.rank_of(array):
            return lowering.apply("array_copy", (array,), target)
        return lowering.materialise(array, target)
    return lower


def _np_float(lowering, node, target):
    value = Call(lowering, node, ("x",)).array("x")
    return lowering.apply("float" if not lowering.rank_of(value) else "array_copy", (value,), target)


def _nan_reduction(base: str):
    def lower(lowering, node, target):
        raise lowering.unsupported(node, f"np.nan{base} (it skips NaN entries, whose number is known only when "
                                   f"the code runs)", f"np.{base} of np.where(np.isnan(x), 0.0, x)")
    return lower


# ------------------------------------------------------------------ np.linalg

def _norm(lowering, node, target):
    call = Call(lowering, node, ("x", "ord", "axis", "keepdims"))
    value = call.array("x")
    rank = _rank(lowering, value, node)
    order, axis, keep = call.constant("ord"), call.constant("axis"), bool(call.constant("keepdims", False))
    if isinstance(axis, int):
        axis = (axis,)
    axes = _axes(lowering, axis, rank, node) if axis is not None else None
    vector = (axes is not None and len(axes) == 1) or (axes is None and rank == 1)
    matrix = (axes is not None and len(axes) == 2) or (axes is None and rank == 2)
    magnitude = lambda: lowering.apply("abs", (value,))     # noqa: E731
    if order is None or (order == "fro" and matrix) or (order == 2 and vector):
        squares = lowering.apply("mul", (value, value))
        return lowering.apply("sqrt", (_reduce(lowering, "sum", squares, axes, keep),), target)
    if vector:
        if order in (float("inf"), "inf"):
            return _reduce(lowering, "amax", magnitude(), axes, keep, target)
        if order in (float("-inf"), "-inf"):
            return _reduce(lowering, "amin", magnitude(), axes, keep, target)
        if order == 1:
            return _reduce(lowering, "sum", magnitude(), axes, keep, target)
        if isinstance(order, (int, float)) and order not in (0,) and order > 0:
            powered = lowering.apply("pow", (magnitude(), Const(float(order))))
            return lowering.apply("pow", (_reduce(lowering, "sum", powered, axes, keep), Const(1.0 / order)), target)
    if matrix and order in (1, -1, float("inf"), float("-inf")):
        rows, cols = axes if axes is not None else (0, 1)
        along = rows if order in (1, -1) else cols
        sums = _reduce(lowering, "sum", magnitude(), (along,), True)
        return _reduce(lowering, "amax" if order > 0 else "amin", sums, (rows, cols), keep, target) if keep else \
            _reduce(lowering, "amax" if order > 0 else "amin", sums, None, False, target)
    raise lowering.unsupported(node, f"np.linalg.norm with ord={order!r} here",
                               "the vector norms (ord None, 1, 2, p, inf), and the matrix norms 'fro', 1 and inf "
                               "(the spectral and nuclear norms need singular values)")


def _square_matrix(lowering, node, name: str):
    value = Call(lowering, node, ("a",)).array("a")
    if _rank(lowering, value, node) != 2:
        raise lowering.unsupported(node, f"np.linalg.{name} of an array of rank "
                                   f"{_rank(lowering, value, node)} (a stack of matrices)",
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
    if _rank(lowering, a, node) != 2 or _rank(lowering, b, node) not in (1, 2):
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
    shift = lowering.apply("stop_gradient", (_reduce(lowering, "amax", value, axis, True) if axis is not None
                                             else lowering.apply("amax", (value,)),))
    exponentials = lowering.apply("exp", (lowering.apply("sub", (value, shift)),))
    total = lowering.apply("log", (_reduce(lowering, "sum", exponentials, axis, keep),))
    if axis is not None and not keep:
        shift = lowering.apply("stop_gradient", (_reduce(lowering, "amax", value, axis, False),))
    return lowering.apply("add", (total, shift), target)


def _softmax(log: bool):
    def lower(lowering, node, target):
        call = Call(lowering, node, ("x", "axis"))
        value = call.array("x")
        axis = call.constant("axis")
        if log:
            return lowering.apply("sub", (value, logsumexp(lowering, value, axis, True)), target)
        shift = lowering.apply("stop_gradient", (_reduce(lowering, "amax", value, axis, True) if axis is not None
                                                 else lowering.apply("amax", (value,)),))
        exponentials = lowering.apply("exp", (lowering.apply("sub", (value, shift)),))
        total = _reduce(lowering, "sum", exponentials, axis, True) if axis is not None else \
            lowering.apply("sum", (exponentials,))
        return lowering.apply("div", (exponentials, total), target)
    return lower


def _simple(function):
    """A handler for a function of one array: `function(lowering, value, node, target)`."""
    def lower(lowering, node, target):
        return function(lowering, Call(lowering, node, ("a",)).array("a"), node, target)
    return lower


_HANDLERS = {
    "concatenate": _concatenate, "stack": _stack, "vstack": _vstack, "row_stack": _vstack, "hstack": _hstack,
    "column_stack": _column_stack, "dstack": _dstack, "append": _append, "pad": _pad, "tile": _tile,
    "repeat": _repeat, "reshape": _np_reshape, "ravel": _ravel, "squeeze": _np_squeeze, "expand_dims": _expand_dims,
    "atleast_1d": _atleast(1), "atleast_2d": _atleast(2), "atleast_3d": _atleast(3), "transpose": _np_transpose,
    "swapaxes": _np_swapaxes, "moveaxis": _moveaxis, "flip": _np_flip, "fliplr": _fliplr, "flipud": _flipud,
    "rot90": _rot90, "roll": _roll, "sort": _sort, "cross": _cross, "kron": _kron, "inner": _inner, "vdot": _vdot,
    "tensordot": _tensordot, "einsum": _np_einsum, "linspace": _linspace, "arange": _arange, "full": _full,
    "full_like": _full_like, "eye": _eye, "identity": _eye, "trace": _np_trace, "diag": _diag,
    "diagonal": _np_diagonal, "triu": _triangle("triu"), "tril": _triangle("tril"), "cumsum": _np_cumsum,
    "diff": _diff, "var": _np_moment("var"), "std": _np_moment("std"), "average": _average,
    "array": _np_array(True), "asarray": _np_array(False), "asfarray": _np_array(False), "copy": _np_array(True),
    "float64": _np_float, "float32": _np_float, "double": _np_float,
    "nanmean": _nan_reduction("mean"), "nansum": _nan_reduction("sum"),
    "linalg.norm": _norm, "linalg.det": _det, "linalg.slogdet": _slogdet, "linalg.inv": _inv,
    "linalg.solve": _solve,
    "special.logsumexp": _logsumexp, "special.softmax": _softmax(False), "special.log_softmax": _softmax(True),
}
