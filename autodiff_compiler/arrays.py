"""Arrays: the array parts of lowering, typing and reversal (broadcasting, reductions, indexing).

Takes: hooks called from `lower`, `analyse` and `reverse` when an operand is an
array.  Guarantees: scalar code passes through unchanged; array adjoints are
summed over broadcast axes in one place (`unbroadcast`).
"""
from __future__ import annotations

import ast

from . import ir
from .errors import UnsupportedSyntaxError
from .ir import Assign, Const, Var


def lower_attribute(lowering, node, target):
    return None


def lower_subscript(lowering, node, target):
    raise lowering.unsupported(node, "subscript", "array support is not available yet")


def lower_store(lowering, node, value, prim):
    raise lowering.unsupported(node, "assignment to an element", "array support is not available yet")


def lower_call(lowering, node, ref, target):
    return None


def lower_primitive_call(lowering, prim, node, target):
    return None


def array_result_type(stmt, prim, arg_types):
    return None


def vjp_reads(stmt, prim, binding, active, types):
    return set()


def broadcast_reads(stmt, active, types):
    return set()


def store_reads(reverse, stmt):
    return set()


def forward_store(reverse, stmt):
    return [stmt]


def adjoint_store(reverse, stmt):
    return []


def instantiate_vjp(reverse, stmt, prim, binding, out_bar, make):
    return []


def unbroadcast(reverse, contribution, arg, stmt, make):
    return contribution
