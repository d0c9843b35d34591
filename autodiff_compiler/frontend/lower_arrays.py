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
from ..ir import Slice, Store
from .parse import MarkerRef

_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin", "prod": "prod"}
_CREATORS = {"zeros", "ones", "empty"}

# ------------------------------------------------------------------ lowering

def _axis(lowering, node: ast.Call, keywords: dict, position: int | None):
    axis_node = keywords.get("axis")
    if axis_node is None and position is not None and len(node.args) > position:
        axis_node = node.args[position]
    if axis_node is None:
        return None
    try:
        axis = ast.literal_eval(axis_node)
    except ValueError:
        raise lowering.unsupported(node, "a computed axis", "write the axis as a literal: axis=0 or axis=1")
    if axis not in (None, 0, 1, -1, -2):
        raise lowering.unsupported(node, f"axis={axis}", "arrays of rank 1 and 2: axis is None, 0 or 1")
    return axis


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
    if axis is None:
        if base == "prod" or not keep:
            return lowering.apply(base, (operand,), target)
        raise lowering.unsupported(node, "keepdims with axis=None", "reshape the result yourself")
    if base == "prod":
        raise lowering.unsupported(node, "prod along an axis", "use np.prod on the whole array or a loop")
    # the axis as written goes along: `ir.types.specialise` checks it against the operand's rank
    # (axis=-1 of a vector is its axis 0) once the rank is known
    written = (("axis", axis), ("keepdims", keep))
    reduced = lowering.apply(f"{base}_axis{axis % 2}", (operand,), None if keep else target, written)
    if keep:
        return lowering.apply("as_row" if axis % 2 == 0 else "as_column", (reduced,), target)
    return reduced


def lower_call(lowering, node: ast.Call, ref, target):
    """NumPy functions without a plain elementwise rule, methods on arrays, and len()."""
    keywords = {kw.arg: kw.value for kw in node.keywords}
    if isinstance(ref, MarkerRef) and ref.name == "len":
        return lowering.apply("shape0", (lowering.lower_expr(node.args[0]),), target)
    func = node.func
    on_value = isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name)
                                                       and func.value.id not in lowering.frame.scope)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) and \
            lowering.resolve(func.value) is not None:
        on_value = False            # np.linalg.norm: a module's function, not a method
    if ref is None and on_value:
        operand = lowering.lower_expr(func.value)
        method = func.attr
        if method in _REDUCTIONS:
            return lower_reduction(lowering, method, node, operand, keywords, target, 0)
        if method == "copy":
            return lowering.apply("array_copy", (operand,), target)
        if method == "dot":
            return lowering.apply("dot", (operand, lowering.lower_expr(node.args[0])), target)
        if method == "transpose":
            return lowering.apply("transpose", (operand,), target)
        raise lowering.unsupported(node, f"method .{method}()", "use NumPy functions (np.sum, np.dot, ...)")
    return None


def lower_primitive_call(lowering, prim: str, node: ast.Call, target):
    """Calls whose arguments need more than positional operands: reductions, shapes, creators."""
    keywords = {kw.arg: kw.value for kw in node.keywords}
    if prim in ("sum", "mean", "amax", "amin", "prod"):
        name = {"amax": "max", "amin": "min"}.get(prim, prim)
        return lower_reduction(lowering, name, node, lowering.lower_expr(node.args[0]), keywords, target, 1)
    if prim in _CREATORS:
        shape = node.args[0] if node.args else keywords.get("shape")
        if isinstance(shape, ast.Tuple):
            dims = [lowering.lower_expr(e) for e in shape.elts]
            if len(dims) == 1:
                return lowering.apply(prim, (dims[0],), target)
            if len(dims) == 2:
                return lowering.apply(f"{prim}2", tuple(dims), target)
            raise lowering.unsupported(node, "arrays of rank above 2", "use vectors and matrices")
        return lowering.apply(prim, (lowering.lower_expr(shape),), target)
    if prim in ("zeros_like", "ones_like", "empty_like"):
        return lowering.apply(prim, (lowering.lower_expr(node.args[0]),), target)
    if prim == "pow" and isinstance(node.func, ast.Attribute) and node.func.attr == "square":
        return None
    return None


def lower_attribute(lowering, node: ast.Attribute, target):
    value = node.value
    if (isinstance(value, ast.Name) and value.id in lowering.frame.scope) or \
            (not isinstance(value, ast.Name) and lowering.resolve(value) is None):
        operand = lowering.lower_expr(node.value)
        if node.attr == "T":
            return lowering.apply("transpose", (operand,), target)
        if node.attr == "size":
            return lowering.apply("size", (operand,), target)
        if node.attr == "shape":
            raise lowering.unsupported(node, "x.shape as a value", "use x.shape[0], x.shape[1] or len(x)")
    return None


def _index(lowering, node: ast.Subscript) -> tuple:
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if len(parts) > 2:
        raise lowering.unsupported(node, "more than two indices", "arrays of rank 1 and 2 are supported")
    out = []
    for part in parts:
        if isinstance(part, ast.Slice):
            out.append(Slice(*(lowering.lower_expr(p) if p is not None else None
                               for p in (part.lower, part.upper, part.step))))
        else:
            operand = lowering.lower_expr(part)
            if isinstance(operand, tuple):
                raise lowering.unsupported(part, "a tuple index", "index with integers and slices")
            out.append(operand)
    return tuple(out)


def lower_subscript(lowering, node: ast.Subscript, target=None):
    value = node.value
    if isinstance(value, ast.Attribute) and value.attr == "shape":
        axis = ast.literal_eval(node.slice) if isinstance(node.slice, ast.Constant) else None
        if axis not in (0, 1, -1):
            raise lowering.unsupported(node, "a computed shape index", "use x.shape[0] or x.shape[1]")
        operand = lowering.lower_expr(value.value)
        return lowering.apply("shape1" if axis in (1, -1) and axis != 0 else "shape0", (operand,), target) \
            if axis != -1 else lowering.apply("shape", (operand,), target, (("axis", -1),))
    if isinstance(value, ast.Name) and value.id not in lowering.frame.scope:
        raise lowering.unsupported(node, "subscript of this expression", "subscript an array variable: x[i]")
    array = lowering.lower_expr(value)
    if isinstance(array, tuple):
        raise lowering.unsupported(node, "a subscript of a tuple", "tuples are not values here: name each element")
    return lowering.apply("subscript", (array,) + _index(lowering, node), target)


def lower_store(lowering, node: ast.Subscript, value, prim: str) -> None:
    if not (isinstance(node.value, ast.Name) and node.value.id in lowering.frame.scope):
        raise lowering.unsupported(node, "assignment into this expression", "assign into an array variable: y[i] = v")
    array = lowering.frame.scope[node.value.id]
    if lowering.aliases_parameter(array):
        raise lowering.error(UnsupportedSyntaxError,
                             f"writing into the parameter array {node.value.id!r} would change the caller's array",
                             node, f"work on a copy: {node.value.id} = {node.value.id}.copy() before the loop, "
                                   "or build a new array with np.zeros_like", "store into a parameter")
    if isinstance(value, tuple):
        raise lowering.unsupported(node, "storing a tuple", "store numbers or arrays")
    lowering.emit(Store(array, _index(lowering, node), value, prim, None))


