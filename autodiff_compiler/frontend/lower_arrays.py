"""Lower arrays: the array constructs of the front end.

Takes: hooks called by `frontend.lower` when an expression may be an array.
Guarantees: NumPy calls, methods (`x.sum()`, `x.T`, `x.copy()`), `len`,
`x.shape[k]`, `x.size`, subscripts with integers, negative integers and
slices, and stores (`y[i] = v`, `y[i] += v`, `A[i, :] = v`) lower to
primitives of the rule table; writing into a parameter array is rejected (it
would change the caller's array); anything else is an error naming file, line
and construct.
"""
from __future__ import annotations

import ast

from ..errors import UnsupportedSyntaxError
from .. import ir
from ..ir import Const, Slice, Store, Var
from .parse import MarkerRef

_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin", "prod": "prod"}
_CREATORS = {"zeros", "ones", "empty"}

# ------------------------------------------------------------------ lowering

def _axis(lowering, node: ast.Call, keywords: dict, position: int | None):
    """The axis argument as written: None, an int or a tuple of ints (negative ones resolved later,
    by `ir.types.specialise`, against the operand's rank)."""
    axis_node = keywords.get("axis")
    if axis_node is None and position is not None and len(node.args) > position:
        axis_node = node.args[position]
    if axis_node is None:
        return None
    try:
        axis = ast.literal_eval(axis_node)
    except ValueError:
        axis = _constant_int(lowering, axis_node)
    if isinstance(axis, list):
        axis = tuple(axis)
    ok = axis is None or (isinstance(axis, int) and not isinstance(axis, bool)) or \
        (isinstance(axis, tuple) and all(isinstance(a, int) and not isinstance(a, bool) for a in axis))
    if not ok:
        raise lowering.unsupported(node, f"axis={ast.unparse(axis_node)}",
                                   "write the axis as a constant: axis=0, axis=-1 or axis=(0, 2)")
    return axis


def _constant_int(lowering, node):
    """A module-level or local constant used as an axis (`axis=AXIS`), else None (refused)."""
    try:
        value = lowering.lower_expr(node)
    except Exception:
        return "?"
    from ..ir import Const
    return value.value if isinstance(value, Const) else "?"


def lower_reduction(lowering, name: str, node: ast.Call, operand, keywords: dict, target, position):
    axis = _axis(lowering, node, keywords, position)
    keepdims = keywords.get("keepdims")
    try:
        keep = bool(ast.literal_eval(keepdims)) if keepdims is not None else False
    except ValueError:
        raise lowering.unsupported(node, "a computed keepdims", "write keepdims=True or keepdims=False")
    unknown = set(keywords) - {"axis", "keepdims"}
    if unknown:
        raise lowering.unsupported(node, f"keyword {sorted(unknown)[0]!r} of {name}", "use axis= and keepdims=")
    base = _REDUCTIONS[name]
    if axis is None and not keep:
        return lowering.apply(base, (operand,), target)
    # the axis as written goes along: `ir.types.specialise` checks it against the operand's rank
    # (axis=-1 of a vector is its axis 0) once the rank is known
    return lowering.apply(f"{base}_axes", (operand,), target, (("axis", axis), ("keepdims", keep)))


def lower_call(lowering, node: ast.Call, ref, target):
    """NumPy functions without a plain elementwise rule, methods on arrays, and len()."""
    keywords = {kw.arg: kw.value for kw in node.keywords}
    if isinstance(ref, MarkerRef) and ref.name == "len":
        return lowering.apply("shape0", (lowering.lower_expr(node.args[0]),), target)
    func = node.func
    if ref is None and isinstance(func, ast.Attribute):
        from .parse import ClassRef, ModuleRef
        base_ref = lowering.resolve(func.value) if isinstance(func.value, (ast.Name, ast.Attribute)) else None
        if isinstance(base_ref, (ModuleRef, ClassRef)):
            return None            # np.something with no rule: refused by the caller
        from .numpy_common import as_array
        operand = as_array(lowering, lowering.lower_expr(func.value), func.value)
        method = func.attr
        if method in _REDUCTIONS:
            return lower_reduction(lowering, method, node, operand, keywords, target, 0)
        if method == "copy":
            return lowering.apply("array_copy", (operand,), target)
        if method == "dot":
            return lowering.apply("dot", (operand, lowering.lower_expr(node.args[0])), target)
        raise lowering.unsupported(node, f"method .{method}()", "use NumPy functions (np.sum, np.dot, ...)")
    return None


def lower_primitive_call(lowering, prim: str, node: ast.Call, target):
    """Calls whose arguments need more than positional operands: reductions, shapes, creators."""
    keywords = {kw.arg: kw.value for kw in node.keywords}
    from .lower_containers import Pack
    from .numpy_common import as_array
    if prim in ("sum", "mean", "amax", "amin", "prod"):
        name = {"amax": "max", "amin": "min"}.get(prim, prim)
        operand = as_array(lowering, lowering.lower_expr(node.args[0]), node.args[0])
        return lower_reduction(lowering, name, node, operand, keywords, target, 1)
    if prim in _CREATORS:
        shape_node = node.args[0] if node.args else keywords.get("shape")
        shape = lowering.lower_expr(shape_node)
        dims = shape.values() if isinstance(shape, Pack) else [shape]
        if not dims or any(isinstance(d, Pack) for d in dims):
            raise lowering.unsupported(node, "this shape", "give the shape as an int or a tuple of ints")
        from .numpy_common import creation_dtype
        dtype = creation_dtype(lowering, node.args[1] if len(node.args) > 1 else keywords.get("dtype"), node)
        return lowering.apply(prim, tuple(dims), target, dtype)
    if prim in ("zeros_like", "ones_like", "empty_like"):
        return lowering.apply(prim, (as_array(lowering, lowering.lower_expr(node.args[0]), node.args[0]),), target)
    if prim == "pow" and isinstance(node.func, ast.Attribute) and node.func.attr == "square":
        return None
    return None


def lower_attribute(lowering, node: ast.Attribute, target):
    """An attribute of a module that is not a value (np.float64 used as one): None (refused by the caller)."""
    return None


def lower_value_attribute(lowering, node: ast.Attribute, operand, target):
    """`.T`, `.size`, `.shape` (a tuple of ints), `.ndim` of an array (or a number)."""
    if node.attr == "T":
        return lowering.apply("transpose", (operand,), target)
    if node.attr == "size":
        return lowering.apply("size", (operand,), target)
    if node.attr == "shape":
        rank = lowering.rank_of(operand, node, "x.shape")
        from .lower_containers import Pack
        return Pack("tuple", {k: lowering.apply("shape", (operand,), None, (("axis", k),)) for k in range(rank)})
    if node.attr == "ndim":
        return lowering.materialise(Const(lowering.rank_of(operand, node, "x.ndim")), target)
    if node.attr in ("real", "imag", "conj"):
        raise lowering.unsupported(node, f".{node.attr} (complex numbers)", "complex numbers are not supported: "
                                   "differentiate the real and imaginary parts as two real values")
    return None


def _parts(node: ast.Subscript) -> list:
    return list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]


def _is_newaxis(lowering, part) -> bool:
    from .lower_containers import NEW_AXIS
    if isinstance(part, ast.Constant) and part.value is None:
        return True
    if isinstance(part, (ast.Attribute, ast.Name)):
        if isinstance(part, ast.Name) and lowering.local(part.id) is not None:
            return False
        ref = lowering.resolve(part)
        return getattr(ref, "name", None) == "newaxis"
    return False


def _index(lowering, node: ast.Subscript, array, allow_new: bool = True):
    """The index of a subscript as IR operands and slices, `...` expanded against the array's rank, and
    the positions of `None`/`np.newaxis` in the result (size-1 axes inserted after indexing)."""
    parts = _parts(node)
    rank = lowering.rank_of(array, node, "a subscript")
    if not rank:
        raise lowering.unsupported(node, "a subscript of a number", "subscript arrays")
    new_axes, out, position = [], [], 0
    consumed = sum(1 for p in parts if not (_is_newaxis(lowering, p) or (isinstance(p, ast.Constant) and p.value is Ellipsis)))
    if sum(1 for p in parts if isinstance(p, ast.Constant) and p.value is Ellipsis) > 1:
        raise lowering.unsupported(node, "more than one ... in a subscript", "write one ...")
    if consumed > rank:
        raise lowering.unsupported(node, f"{consumed} indices for an array of rank {rank}",
                                   f"index at most {rank} axes")
    for part in parts:
        if isinstance(part, ast.Constant) and part.value is Ellipsis:
            for _ in range(rank - consumed):
                out.append(Slice())
                position += 1
        elif _is_newaxis(lowering, part):
            if not allow_new:
                raise lowering.unsupported(node, "np.newaxis in an assignment target", "index with ints and slices")
            new_axes.append(position)
            position += 1
        elif isinstance(part, ast.Slice):
            out.append(Slice(*(lowering.lower_expr(p) if p is not None else None
                               for p in (part.lower, part.upper, part.step))))
            position += 1
        elif isinstance(part, (ast.List, ast.Tuple)) or (isinstance(part, ast.Call)):
            raise lowering.unsupported(part, "indexing with a list or an array of indices (fancy indexing)",
                                       "index with ints and slices; for fixed positions write "
                                       "np.stack([x[0], x[2]]) (x[[0, 2]] as the only index works too)")
        else:
            operand = lowering.lower_expr(part)
            if not isinstance(operand, (Var, Const)):
                raise lowering.unsupported(part, "this index", "index with ints and slices")
            t = lowering.type_of(operand)
            if t is not None and t.is_array:
                raise lowering.unsupported(part, "indexing with an array (fancy or boolean-mask indexing)",
                                           "index with ints and slices; select with np.where(mask, x, 0.0)")
            if t is not None and t.kind == "float":
                raise lowering.unsupported(part, "a float index", "index with ints (int(i))")
            out.append(operand)
    # trailing axes keep their places: positions of the new axes are in the result's order
    return tuple(out), new_axes


def lower_subscript(lowering, node: ast.Subscript, target=None, array=None):
    """`x[...]` (`array`: the base when the caller has lowered it already)."""
    value = node.value
    if isinstance(value, ast.Attribute) and value.attr == "shape":
        operand = lowering.lower_expr(value.value)
        rank = lowering.rank_of(operand, node, "x.shape")
        try:
            axis = ast.literal_eval(node.slice)
        except ValueError:
            axis = None
            key = lowering.lower_expr(node.slice)
            if isinstance(key, Const) and isinstance(key.value, int):
                axis = key.value
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise lowering.unsupported(node, "a computed shape index", "use x.shape[0], x.shape[-1], ...")
        if not -rank <= axis < rank:
            raise lowering.unsupported(node, f"x.shape[{axis}] of an array of rank {rank}", "index an existing axis")
        axis %= rank
        return lowering.apply({0: "shape0", 1: "shape1"}.get(axis, "shape"), (operand,), target,
                              () if axis < 2 else (("axis", axis),))
    if array is None:
        array = lowering.lower_expr(value)
    parts = _parts(node)
    if len(parts) == 1 and isinstance(parts[0], (ast.List, ast.Tuple)) and isinstance(node.slice, ast.List):
        return _fancy(lowering, node, array, parts[0], target)
    index, new_axes = _index(lowering, node, array)
    result = lowering.apply("subscript", (array,) + index, None if new_axes else target,
                            error_effect=ir.integer_index(index)) if index else array
    if new_axes:
        if not lowering.rank_of(result):
            raise lowering.unsupported(node, "np.newaxis on a single entry", "index a slice (x[i:i + 1])")
        return lowering.apply("expand_dims", (result,), target, (("axes", tuple(new_axes)),))
    return result


def _fancy(lowering, node, array, items, target):
    """`x[[0, 2]]`: the rows at constant positions, stacked."""
    positions = []
    for item in items.elts:
        value = lowering.lower_expr(item)
        if not (isinstance(value, Const) and isinstance(value.value, int) and not isinstance(value.value, bool)):
            raise lowering.unsupported(item, "indexing with a list of values known only at run time",
                                       "index with constant positions, or loop")
        positions.append(value.value)
    rows = [lowering.apply("subscript", (array, Const(k)), error_effect=True) for k in positions]
    if lowering.rank_of(array) == 1:
        return lowering.apply("array_from", lowering.gathered(rows), target)
    expanded = [lowering.apply("expand_dims", (r,), None, (("axes", (0,)),)) for r in rows]
    return lowering.apply("concatenate", tuple(expanded), target, (("axis", 0),))


def lower_store(lowering, node: ast.Subscript, value, prim: str) -> None:
    base = node.value
    if not (isinstance(base, ast.Name) and isinstance(lowering.local(base.id), str)):
        raise lowering.unsupported(node, "assignment into this expression", "assign into an array variable: y[i] = v")
    array = lowering.local(base.id)
    if lowering.aliases_parameter(array):
        raise lowering.error(UnsupportedSyntaxError,
                             f"writing into the parameter array {base.id!r} would change the caller's array",
                             node, f"work on a copy under a name of its own ({base.id}_own = {base.id}.copy(), "
                                   f"and write into {base.id}_own: a parameter's name stays the caller's array "
                                   "here), or build a new array with np.zeros_like", "store into a parameter")
    index, _ = _index(lowering, node, Var(array), allow_new=False)
    lowering.emit(Store(array, index, value, prim, None, error_effect=ir.integer_index(index)))
