"""Arrays: the array parts of lowering, typing and reversal.

Takes: hooks called by `lower`, `analyse` and `reverse` when an operand may be
an array.  Guarantees:

* NumPy calls, methods (`x.sum()`, `x.T`, `x.copy()`), `len`, `x.shape[k]`,
  `x.size`, subscripts with integers, negative integers and slices, and stores
  (`y[i] = v`, `y[i] += v`, `A[i, :] = v`) lower to primitives of the rule
  table; writing into a parameter array is rejected (it would change the
  caller's array);
* result types follow NumPy's rules for ranks (broadcasting, reductions,
  `dot` by operand ranks);
* adjoints of broadcasting primitives are summed back to each operand's shape
  in one place, `unbroadcast`;
* a store saves the elements it overwrites when the reverse sweep needs them,
  and its adjoint moves the cotangent of the stored elements to the stored
  value, then zeroes it (they were overwritten).
"""
from __future__ import annotations

import ast

from . import ir
from .errors import ArgumentError, UnsupportedSyntaxError
from .ir import FLOAT, INT, Assign, Const, Push, Pop, Slice, Store, TapeAlloc, Type, Var, array_of
from .parse import MarkerRef, ModuleRef, PrimitiveRef
from .rules import PRIMITIVES, USER_FUNCTIONS

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
    keep = bool(ast.literal_eval(keepdims)) if keepdims is not None else False
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
    if axis < 0:
        axis += 2   # rank-2 arrays; for vectors use axis=0
    reduced = lowering.apply(f"{base}_axis{axis}", (operand,), None if keep else target)
    if keep:
        return lowering.apply("as_row" if axis == 0 else "as_column", (reduced,), target)
    return reduced


def lower_call(lowering, node: ast.Call, ref, target):
    """NumPy functions without a plain elementwise rule, methods on arrays, and len()."""
    keywords = {kw.arg: kw.value for kw in node.keywords}
    if isinstance(ref, MarkerRef) and ref.name == "len":
        return lowering.apply("shape0", (lowering.lower_expr(node.args[0]),), target)
    func = node.func
    on_value = isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name)
                                                       and func.value.id not in lowering.frame.scope)
    if ref is None and on_value and not isinstance(func.value, ast.Attribute):
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
    if isinstance(node.value, ast.Name) and node.value.id in lowering.frame.scope:
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
    if not (isinstance(value, ast.Name) and value.id in lowering.frame.scope):
        raise lowering.unsupported(node, "subscript of this expression", "subscript an array variable: x[i]")
    array = lowering.lower_expr(value)
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


# --------------------------------------------------------------------- types

def array_result_type(stmt: Assign, prim, arg_types: list) -> Type | None:
    kind = prim.result
    first = arg_types[0] if arg_types else None
    if kind == "where":
        if any(t is None for t in arg_types[1:]):
            return None
        acc = None
        for t in arg_types:
            acc = ir.join(acc, t if t.kind != "bool" else None) if t is not None else acc
        ndim = max((t.ndim for t in arg_types if t is not None and t.is_array), default=0)
        return array_of(ndim) if ndim else (acc or FLOAT)
    if first is None:
        return None
    if kind == "reduce":
        if stmt.prim.endswith(("_axis0", "_axis1")) and first.ndim == 2:
            return array_of(1)
        return FLOAT if first.dtype.startswith("float") or stmt.prim in ("mean",) or \
            stmt.prim.startswith("mean") else INT
    if kind == "dot":
        second = arg_types[1]
        if second is None:
            return None
        ranks = (first.ndim if first.is_array else 0, second.ndim if second.is_array else 0)
        if 0 in ranks:
            return ir.join(first, second)
        return {(1, 1): FLOAT, (2, 1): array_of(1), (1, 2): array_of(1), (2, 2): array_of(2)}[ranks]
    if kind == "outer":
        return array_of(2)
    if kind == "subscript":
        if not first.is_array:
            raise ArgumentError(f"cannot subscript {stmt.args[0]}: it is a {first}")
        indices = stmt.args[1:]
        ndim = first.ndim - sum(1 for i in indices if not isinstance(i, Slice))
        if ndim < 0:
            raise ArgumentError(f"too many indices for {stmt.args[0]} of rank {first.ndim}")
        if ndim == 0:
            return FLOAT if first.dtype.startswith("float") else INT if first.dtype.startswith("int") else ir.BOOL
        return array_of(ndim, first.dtype)
    if kind == "column":
        return array_of(2)
    if kind == "drop":
        return array_of(first.ndim - 1) if first.ndim > 1 else FLOAT
    if kind == "create":
        return array_of(len(stmt.args))
    if kind == "like":
        return array_of(first.ndim, first.dtype) if first.is_array else FLOAT
    return None


# ----------------------------------------------------------------- reversal

def _rank(operand, types) -> int:
    t = types.get(operand.name) if isinstance(operand, Var) else None
    return t.ndim if t is not None and t.is_array else 0


def vjp_for(prim, stmt: Assign, types) -> tuple:
    if isinstance(prim.vjp, dict):
        key = "x".join(str(max(1, _rank(a, types))) for a in stmt.args)
        return prim.vjp[key]
    return prim.vjp


def vjp_reads(stmt, prim, binding, active, types) -> set:
    names = set()
    for index, arg in enumerate(stmt.args):
        if isinstance(arg, Var) and arg.name in active:
            expression = vjp_for(prim, stmt, types)[index] if index < len(vjp_for(prim, stmt, types)) else None
            if expression == "scatter":
                names |= set(ir.operand_vars(stmt.args[1:]))
                continue
            if expression is None:
                continue
            tree = ast.parse(expression, mode="eval").body
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and isinstance(binding.get(node.id), Var):
                    names.add(binding[node.id].name)
    return names


def instantiate_vjp(reverse, stmt: Assign, prim, binding: dict, out_bar: Var, make) -> list:
    binding = dict(binding, g=out_bar)
    contributions = []
    expressions = vjp_for(prim, stmt, reverse.types)
    for index, arg in enumerate(stmt.args):
        if not (isinstance(arg, Var) and arg.name in reverse.active) or index >= len(expressions):
            continue
        if expressions[index] == "scatter":
            bar = reverse.adjoint_of(arg.name)
            make.emit(Store(bar, tuple(stmt.args[1:]), out_bar, "add", stmt.loc))
            continue
        contribution = make(ast.parse(expressions[index], mode="eval").body, binding)
        contributions.append((arg.name, contribution))
    return contributions


def unbroadcast(reverse, contribution, arg: Var, stmt: Assign, make):
    """Sum a contribution of the result's shape back to the shape of operand `arg`."""
    types = reverse.types
    result_rank = _rank(Var(stmt.target), types)
    arg_rank = _rank(arg, types)
    if result_rank == 0:
        return contribution
    if arg_rank == 0:
        return make.apply("np_sum", (contribution,))
    if arg_rank < result_rank:
        return make.apply("sum_axis0", (contribution,))
    others = [a for a in stmt.args if isinstance(a, Var) and a != arg and _rank(a, types) > 0]
    if not others:
        return contribution     # only scalars broadcast against this operand: shapes agree
    return make.apply(f"sum_like{arg_rank}", (contribution, arg))


def store_reads(reverse, stmt: Store) -> set:
    names = set(ir.operand_vars(stmt.index))
    if isinstance(stmt.value, Var) and stmt.value.name in reverse.active:
        names.add(stmt.array)      # the adjoint of the stored elements is read from the array's shape
    return names


def _saves_store(reverse, stmt: Store) -> bool:
    return id(stmt) in reverse.save_sites


def forward_store(reverse, stmt: Store) -> list:
    """Save the elements a store overwrites when the reverse sweep reads the array."""
    if not _saves_store(reverse, stmt):
        return [stmt]
    tape = reverse.tape_of(f"{stmt.array}_elements")
    old = reverse.names.temp()
    reverse.types[old] = _element_type(reverse, stmt)
    return [Assign(old, "subscript", (Var(stmt.array),) + tuple(stmt.index), stmt.loc),
            Push(tape, Var(old), loc=stmt.loc), stmt]


def _element_type(reverse, stmt: Store) -> Type:
    array = reverse.types[stmt.array]
    ndim = array.ndim - sum(1 for i in stmt.index if not isinstance(i, Slice))
    return array_of(ndim) if ndim else FLOAT


def adjoint_store(reverse, stmt: Store) -> list:
    out: list = []
    loc = stmt.loc
    if stmt.array in reverse.active:
        bar = reverse.adjoint_of(stmt.array)
        value = stmt.value
        if isinstance(value, Var) and value.name in reverse.active:
            from .reverse import Instantiate
            make = Instantiate(reverse.names, out.append, loc)
            part = reverse.names.temp()
            out.append(Assign(part, "subscript", (Var(bar),) + tuple(stmt.index), loc))
            reverse.types[part] = _element_type(reverse, stmt)
            contribution = Var(part)
            if not reverse.types[value.name].is_array and reverse.types[part].is_array:
                contribution = make.apply("np_sum", (contribution,))
            value_bar = reverse.adjoint_of(value.name)
            out.append(Assign(value_bar, "add", (Var(value_bar), contribution), loc))
        if stmt.prim == "copy":
            out.append(Store(bar, tuple(stmt.index), Const(0.0), "copy", loc))
    if _saves_store(reverse, stmt):
        tape = reverse.tape_of(f"{stmt.array}_elements")
        old = reverse.names.temp()
        reverse.types[old] = _element_type(reverse, stmt)
        out += [Pop(tape, old, loc), Store(stmt.array, tuple(stmt.index), Var(old), "copy", loc)]
    return out


# ------------------------------------------------------- elementwise fusion

_ELEMENTWISE_RESULTS = {"float", "join", "bool", "int", "first", "pow", "where"}
_FUSED_REDUCTIONS = {"sum": "sum", "mean": "mean"}


def _is_vector(t) -> bool:
    return t is not None and t.is_array and t.ndim == 1


def _elementwise(stmt, types) -> bool:
    if not isinstance(stmt, Assign) or stmt.prim in ("subscript", "copy", "stop_gradient"):
        return False
    prim = PRIMITIVES[stmt.prim]
    if prim.result not in _ELEMENTWISE_RESULTS or (prim.partials is None and not prim.nondiff):
        return False
    operand_types = [types.get(a.name) if isinstance(a, Var) else None for a in stmt.args]
    return _is_vector(types.get(stmt.target)) and all(t is None or not t.is_array or _is_vector(t)
                                                      for t in operand_types)


def fuse_elementwise(function: ir.Function, names) -> bool:
    """Turn a run of elementwise vector statements ending in np.sum / np.mean into one loop.

    `np.mean((w * x + b - y) ** 2)` allocates an array per primitive, and so
    would its adjoint; as a loop over i it allocates nothing, and the reverse
    pass turns it into the loop a person would write.  The loop runs when all
    the vectors involved have one length; otherwise (broadcasting a length-1
    vector) the statements run as written, so the meaning never changes."""
    types = function.types
    writes: dict = {}
    for stmt in ir.walk(function.body):
        for name in ir.writes(stmt):
            writes[name] = writes.get(name, 0) + 1
    body, changed, k = function.body, False, 0
    while k < len(body):
        group, j = [], k
        while j < len(body) and (_elementwise(body[j], types) or (
                isinstance(body[j], Assign) and body[j].prim in _FUSED_REDUCTIONS and group
                and isinstance(body[j].args[0], Var) and body[j].args[0].name in {s.target for s in group})):
            group.append(body[j])
            j += 1
        while group and group[-1].prim not in _FUSED_REDUCTIONS:
            group.pop()
        j = k + len(group)
        reductions = [s for s in group if s.prim in _FUSED_REDUCTIONS]
        arrays = {s.target for s in group if s.prim not in _FUSED_REDUCTIONS}
        later = ir.used_in(body[j:]) | set(ir.operand_vars(
            [function.result] if function.result is not None else list(function.returns)))
        if reductions and len(arrays) >= 1 and not (arrays & later) \
                and all(writes.get(s.target) == 1 for s in group):
            views = _unit_slices(body[:k], types, writes)
            # views used only by this group move into its vectorised branch
            elsewhere = ir.used_in(body[:k] + body[j:]) | later
            moved = [s for s in body[:k] if isinstance(s, Assign) and s.target in views and s.target not in elsewhere]
            body[k:j] = _fused_loop(group, arrays, types, names, views, moved)
            for stmt in moved:
                body.remove(stmt)
                k -= 1
            changed = True
            k += 1
        k += 1
    return changed


def _unit_slices(before: list, types: dict, writes: dict) -> dict:
    """Vectors defined as `x[start:stop]` of a vector `x` nothing writes: name -> (x, start)."""
    views = {}
    for stmt in before:
        if isinstance(stmt, Assign) and stmt.prim == "subscript" and len(stmt.args) == 2 \
                and isinstance(stmt.args[1], Slice) and stmt.args[1].step is None \
                and isinstance(stmt.args[0], Var) and _is_vector(types.get(stmt.args[0].name)) \
                and writes.get(stmt.args[0].name, 0) == 0 and writes.get(stmt.target) == 1:
            views[stmt.target] = (stmt.args[0].name, stmt.args[1].start)
    return views


def _fused_loop(group: list, arrays: set, types: dict, names, views: dict | None = None,
                moved: list = ()) -> list:
    loc = group[0].loc
    inputs = []
    for stmt in group:
        for a in stmt.args:
            if isinstance(a, Var) and a.name not in arrays and _is_vector(types.get(a.name)) and a.name not in inputs:
                inputs.append(a.name)
    out: list = []
    moved_views = {s.target: s for s in moved}

    def length_of(name):
        """The length of an input; a moved view's is read from a slice of its own (no derivative)."""
        if name in moved_views:
            view = names.temp()
            out.append(Assign(view, "subscript", moved_views[name].args, loc))
            return Var(view)
        return Var(name)
    length = names.fresh("n_elements")
    out.append(Assign(length, "shape0", (length_of(inputs[0]),), loc))
    same = names.fresh("same_length")
    if len(inputs) == 1:
        out.append(Assign(same, "copy", (Const(True),), loc))
    elif len(inputs) == 2:
        other = names.temp()
        out += [Assign(other, "shape0", (length_of(inputs[1]),), loc), Assign(same, "eq", (Var(other), Var(length)), loc)]
    else:
        mismatches = names.temp()
        out.append(Assign(mismatches, "copy", (Const(0),), loc))
        for name in inputs[1:]:
            other, differs = names.temp(), names.temp()
            out += [Assign(other, "shape0", (length_of(name),), loc),
                    Assign(differs, "ne", (Var(other), Var(length)), loc),
                    Assign(mismatches, "add", (Var(mismatches), Var(differs)), loc)]
        out.append(Assign(same, "eq", (Var(mismatches), Const(0)), loc))
    # the loop: each vector read element by element, each reduction accumulated
    index = names.fresh("i")
    element = {}
    loop_body: list = []
    for name in inputs:
        element[name] = names.fresh(f"{name}_i")
        base, start = (views or {}).get(name, (None, None))
        if base is None:
            loop_body.append(Assign(element[name], "subscript", (Var(name), Var(index)), loc))
        elif start is None:
            # x[:stop][i] is x[i]; x[start:stop][i] is x[start + i] (negative starts count from the end alike)
            loop_body.append(Assign(element[name], "subscript", (Var(base), Var(index)), loc))
        else:
            position = names.temp()
            loop_body += [Assign(position, "add", (start, Var(index)), loc),
                          Assign(element[name], "subscript", (Var(base), Var(position)), loc)]
    before: list = []
    after: list = []
    for stmt in group:
        if stmt.prim in _FUSED_REDUCTIONS:
            total = names.fresh(f"{stmt.target}_sum")
            before.append(Assign(total, "copy", (Const(0.0),), stmt.loc))
            loop_body.append(Assign(total, "add", (Var(total), Var(element[stmt.args[0].name])), stmt.loc))
            if stmt.prim == "mean":
                after.append(Assign(stmt.target, "div", (Var(total), Var(length)), stmt.loc))
            else:
                after.append(Assign(stmt.target, "copy", (Var(total),), stmt.loc))
            continue
        scalar = element.setdefault(stmt.target, names.fresh(f"{stmt.target}_i"))
        args = tuple(Var(element[a.name]) if isinstance(a, Var) and a.name in element else a for a in stmt.args)
        loop_body.append(Assign(scalar, stmt.prim, args, stmt.loc, stmt.params))
    fused = before + [ir.For(index, Const(0), Var(length), Const(1), loop_body, loc)] + after
    return out + [ir.If(Var(same), fused, list(moved) + list(group), loc)]
