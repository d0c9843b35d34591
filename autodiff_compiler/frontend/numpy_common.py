"""The shared vocabulary of the NumPy lowering: a call's arguments, constants, axes and shapes.

Takes: the lowering (`frontend.lower.Lowering`) and AST nodes of NumPy calls.
Guarantees: `Call` reads arguments by position or keyword with defaults;
`constant` folds an argument that must be known when lowering (an axis, a
shape) or raises an `UnsupportedSyntaxError` naming the line; the helpers
below emit rule-table primitives (`expand_dims`, `reshape`, `transpose_axes`,
`sum_axes`, ...) for the handlers of `lower_numpy`, `lower_matrix` and
`lower_linalg`.
"""
from __future__ import annotations

import ast

from ..ir import Const, Slice
from .lower_containers import Pack, Text


_FLOAT_TYPES = {"float", "float64", "float32", "float16", "double", "single", "np.float64", "np.float32",
                "np.double", "np.single", "numpy.float64", "numpy.float32", "f8", "f4", "d", "f"}
_INT_TYPES = {"int", "int64", "int32", "np.int64", "np.int32", "numpy.int64", "numpy.int32", "i8", "i4", "np.intp"}


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
    return python_value(lowering, value, node)


def python_value(lowering, value, node):
    if isinstance(value, Const):
        return value.value
    if isinstance(value, Text):
        return value.value
    if isinstance(value, Pack) and value.kind in ("tuple", "list"):
        return tuple(python_value(lowering, v, node) for v in value.values())
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
        result = lowering.apply("array_from", lowering.gathered(items))
        lowering.lengths[result.name] = len(items)
        return result
    expanded = [lowering.apply("expand_dims", (v,), None, (("axes", (0,)),)) for v in items]
    result = lowering.apply("concatenate", tuple(expanded), None, (("axis", 0),)) if len(items) > 1 else expanded[0]
    lowering.lengths[result.name] = len(items)
    return result


def axis_arg(lowering, axis, rank: int, node, name: str = "axis") -> int:
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise lowering.unsupported(node, f"{name}={axis!r}", f"write {name} as a constant int")
    if not -rank <= axis < rank:
        raise lowering.unsupported(node, f"{name}={axis} for an array of rank {rank}",
                                   f"an array of rank {rank} has axes 0 to {rank - 1} (or -1 to -{rank})")
    return axis % rank


def axes_arg(lowering, axis, rank: int, node) -> tuple:
    listed = tuple(range(rank)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted({axis_arg(lowering, a, rank, node) for a in listed}))


def rank_of(lowering, value, node, what="this") -> int:
    return lowering.rank_of(value, node, what)


def shape_of(lowering, value, rank: int) -> list:
    return [lowering.apply({0: "shape0", 1: "shape1"}.get(k, "shape"), (value,), None,
                           () if k < 2 else (("axis", k),)) for k in range(rank)]


def product_of(lowering, operands: list):
    acc = Const(1)
    for operand in operands:
        acc = operand if acc == Const(1) else lowering.apply("mul", (acc, operand))
    return acc


def along_axis(rank: int, axis: int, part) -> tuple:
    return tuple(part if k == axis else Slice() for k in range(rank))


def expand(lowering, value, axes, target=None):
    return lowering.apply("expand_dims", (value,), target, (("axes", tuple(sorted(axes))),))


def reshape(lowering, value, dims, target=None):
    return lowering.apply("reshape", (value,) + tuple(dims), target)


def transpose(lowering, value, perm, target=None):
    perm = tuple(perm)
    if perm == tuple(range(len(perm))):
        return lowering.materialise(value, target)
    return lowering.apply("transpose_axes", (value,), target, (("axes", perm),))


def reduce(lowering, base: str, value, axis, keep: bool, target=None):
    """A reduction as the front end writes it (`ir.types.specialise` resolves the axes)."""
    if axis is None and not keep:
        return lowering.apply(base, (value,), target)
    return lowering.apply(f"{base}_axes", (value,), target, (("axis", axis), ("keepdims", keep)))


def count_of(lowering, value, axis, rank):
    if axis is None:
        return lowering.apply("size", (value,))
    axes = (axis,) if isinstance(axis, int) else axis
    return product_of(lowering, [shape_of(lowering, value, rank)[a % rank] for a in axes])


def _wraps_at_32_bits(text: str) -> bool:
    """An int dtype of 32 bits (`np.int32`, "i4"): its values wrap around where int64's do not, so it is
    refused rather than computed as int64."""
    return "32" in text or text == "i4"


def astype(lowering, value, dtype_node, node, target, shares: bool = False):
    """`value` as the dtype `dtype_node` names.  `shares`: NumPy returns the operand itself where no
    conversion is needed (`np.asarray(x, dtype=float)`, `x.astype(float, copy=False)`): then so does the
    IR (a write through either name is seen through the other, as in Python), else a new array."""
    text = ast.unparse(dtype_node).strip("'\"")
    if text in _FLOAT_TYPES:
        # float32 and float64 alike: the derivative is computed in float64 (see the README); an int or bool
        # array becomes NumPy's float array (it stayed an int array: `iv.astype(float) * 2 ** 62` wrapped)
        held = lowering.type_of(value)
        if lowering.rank_of(value) and held is not None and not held.dtype.startswith("float"):
            return lowering.apply("to_float", (value,), target)
        if lowering.rank_of(value) and shares:
            return lowering.materialise(value, target)
        return lowering.apply("array_copy", (value,), target) if lowering.rank_of(value) else \
            lowering.apply("float", (value,), target)
    if text in _INT_TYPES and not _wraps_at_32_bits(text):
        return lowering.apply("to_int", (value,), target)
    if text in ("bool", "np.bool_"):
        return lowering.apply("ne", (value, Const(0)), target)
    raise lowering.unsupported(node, f"astype({text})", "cast to float, float64, float32 or int (int64: int32 "
                               "wraps around at 32 bits)"
                               + ("; complex numbers are not supported" if "complex" in text else ""))


def creation_dtype(lowering, dtype_node, node) -> tuple:
    """The params of an array made with `dtype=` (`np.zeros`, `np.ones`, `np.empty`): () for floats (float32
    computed in float64, as `astype`), `(("dtype", "int64"),)` or `(("dtype", "bool"),)`; another dtype
    (int32 wraps around at 32 bits) is refused, never computed as another one."""
    if dtype_node is None:
        return ()
    text = ast.unparse(dtype_node).strip("'\"")
    if text in _FLOAT_TYPES:
        return ()
    if text in _INT_TYPES and not _wraps_at_32_bits(text):
        return (("dtype", "int64"),)
    if text in ("bool", "np.bool_", "numpy.bool_"):
        return (("dtype", "bool"),)
    raise lowering.unsupported(node, f"an array of dtype {text} made here", "make it float64, int64 or bool")
