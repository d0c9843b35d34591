"""Adjoint arrays: the array parts of the reverse transform.

Takes: hooks called by `transforms.reverse` for array primitives and stores.
Guarantees:

* structural array primitives get their vector-Jacobian products from the
  rule table (`vjp`, keyed by operand ranks where it depends on them);
* adjoints of broadcasting primitives are summed back to each operand's shape
  in one place, `unbroadcast`;
* a store saves the elements it overwrites when the reverse sweep needs them,
  and its adjoint moves the cotangent of the stored elements to the stored
  value, then zeroes it (they were overwritten).
"""
from __future__ import annotations

import ast

from .. import ir
from .instantiate import Instantiate
from ..ir import FLOAT, Assign, Const, Pop, Push, Slice, Store, Type, Var, array_of
from .. import syntax

# ----------------------------------------------------------------- reversal

def _rank(operand, types) -> int:
    t = types.get(operand.name) if isinstance(operand, Var) else None
    return t.ndim if t is not None and t.is_array else 0


def vjp_for(prim, stmt: Assign, types) -> tuple:
    return prim.vjp_for(stmt.params, tuple(_rank(a, types) for a in stmt.args))


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
            tree = syntax.expression(expression)
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
        contribution = make(syntax.expression(expressions[index]), binding)
        contributions.append((arg.name, contribution))
    return contributions


def reads_shape(reverse, arg: Var, stmt: Assign) -> bool:
    """Does `unbroadcast` read the shape of `arg` for this statement's contribution to it?"""
    types = reverse.types
    result_rank, arg_rank = _rank(Var(stmt.target), types), _rank(arg, types)
    if result_rank == 0 or arg_rank == 0:
        return False
    if arg_rank < result_rank:
        return True
    return any(isinstance(a, Var) and a != arg and _rank(a, types) > 0 for a in stmt.args)


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
        # the leading axes the operand lacks are summed away (NumPy broadcasts from the right) ...
        leading = tuple(range(result_rank - arg_rank))
        contribution = make.apply("sum_axes", (contribution,),
                                  (("axes", leading), ("keepdims", False), ("ndim", result_rank)))
    else:
        others = [a for a in stmt.args if isinstance(a, Var) and a != arg and _rank(a, types) > 0]
        if not others:
            return contribution     # only scalars broadcast against this operand: shapes agree
    # ... then the axes where the operand has length 1 and the result has not
    return make.apply("sum_like", (contribution, arg), (("ndim", arg_rank),))


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
    tape = _store_tape(reverse, stmt)
    old = reverse.names.temp()
    reverse.types[old] = _element_type(reverse, stmt)
    return [Assign(old, "subscript", (Var(stmt.array),) + tuple(stmt.index), stmt.loc),
            Push(tape, Var(old), loc=stmt.loc), stmt]


def _store_tape(reverse, stmt: Store) -> str:
    """The tape of the parts a store overwrites: one per array and part rank (the elements of
    `Z[0, 0] = s` and the rows of `Z[0] = v` differ in type, so they cannot share one tape)."""
    t = _element_type(reverse, stmt)
    return reverse.tape_of(f"{stmt.array}_elements" if not t.is_array else f"{stmt.array}_parts{t.ndim}")


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
            make = Instantiate(reverse.names, out.append, loc, reverse.types)
            part = reverse.names.temp()
            part_type = _element_type(reverse, stmt)
            value_is_array = reverse.types[value.name].is_array
            # an array part summed back to the value's shape is a copy: `sum_like` returns its operand
            # when the shapes agree, and a view of the adjoint would see the store below zero it
            taken = "subscript_copy" if part_type.is_array and value_is_array else "subscript"
            out.append(Assign(part, taken, (Var(bar),) + tuple(stmt.index), loc))
            reverse.types[part] = part_type
            contribution = Var(part)
            value_bar = reverse.adjoint_of(value.name)
            if not value_is_array and part_type.is_array:
                contribution = make.apply("np_sum", (contribution,))
            elif part_type.is_array:
                # NumPy broadcasts the value into the part it stores (`y[0:2] = t`, t of length 1): the
                # part's adjoint sums back to the value's shape, read from the value's adjoint (the
                # value itself may not be kept for the reverse sweep)
                part_rank, value_rank = reverse.types[part].ndim, reverse.types[value.name].ndim
                if value_rank < part_rank:
                    contribution = make.apply("sum_axes", (contribution,),
                                              (("axes", tuple(range(part_rank - value_rank))), ("keepdims", False),
                                               ("ndim", part_rank)))
                contribution = make.apply("sum_like", (contribution, Var(value_bar)), (("ndim", value_rank),))
            out.append(Assign(value_bar, "add", (Var(value_bar), contribution), loc))
        if stmt.prim == "copy":
            out.append(Store(bar, tuple(stmt.index), Const(0.0), "copy", loc))
    if _saves_store(reverse, stmt):
        tape = _store_tape(reverse, stmt)
        old = reverse.names.temp()
        reverse.types[old] = _element_type(reverse, stmt)
        out += [Pop(tape, old, loc), Store(stmt.array, tuple(stmt.index), Var(old), "copy", loc)]
    return out


