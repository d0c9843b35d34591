"""Expression trees as the printer sees them: negations that cancel, copies seen through, squares.

Takes: the printer's operand trees (`Var`, `Const`, or `(prim, args, params, type)` tuples).  Guarantees
pure functions of them: `-a * -b` found as `a * b`, a tree of copies as the expression it prints,
a square of a float name recognised (`Printer.tree_of` prints it `x * x` for Python); and
`selects_a_view(printer, store)`: does a store's index select a sub-array NumPy returns as a view?
"""
from __future__ import annotations

from ..ir import Const, Slice, Var

# the precedence of a name, a constant or a call: never parenthesised (the printer's table has the operators)
ATOM = 10


def selects_a_view(printer, store) -> bool:
    """Is `store.array[store.index]` a view (a basic index: slices and integer numbers, fewer numbers
    than the array's axes)?  Then `a[i] += v` is the same sum written through that view: the module
    Numba compiles spells it so (`Printer.store`), since Numba stores `a[i] += v`'s result back by
    slice assignment, whose error message alone takes about 3.5 s to compile in each process."""
    t = printer.types.get(store.array)
    if t is None or not t.is_array:
        return False
    numbers = [i for i in store.index if not isinstance(i, Slice)]
    return len(numbers) < t.ndim and all(not printer.is_array(i) and printer.kind_of(i) == "int" for i in numbers)


def _negated(node):
    """The operand under a unary minus, for an expression tree `-a` (or a negative constant)."""
    if isinstance(node, tuple) and node[0] == "neg":
        return node[1][0]
    if isinstance(node, Const) and not isinstance(node.value, bool) and node.value < 0:
        return Const(-node.value)
    return None


def _through_copies(node):
    """The expression a tree of copies prints (a copy prints as its operand)."""
    while isinstance(node, tuple) and node[0] == "copy":
        node = node[1][0]
    return node


def _squares_a_float(printer, args: tuple) -> bool:
    exponent = args[1]
    base = _through_copies(args[0])
    if isinstance(base, tuple):         # an expression: its type is the tree's
        float_base = base[3] is not None and base[3].kind == "float" and not base[3].is_array
    else:
        float_base = isinstance(base, Var) and printer.kind_of(base) == "float" and not printer.is_array(base)
    return isinstance(exponent, Const) and type(exponent.value) in (int, float) and exponent.value == 2 and float_base


def _tree_prim(node):
    node = _through_copies(node)
    return node[0] if isinstance(node, tuple) else None


def _is_neg_pair(node) -> bool:
    """`a * -b` or `-a * b` (one negation): then `-(a * -b)` prints as `a * b`."""
    return isinstance(node, tuple) and node[0] == "mul" and \
        (_negated(node[1][0]) is not None) != (_negated(node[1][1]) is not None)


def _cancel_negations(prim: str, args: tuple, force: bool = False) -> tuple:
    """`-a * -b` is `a * b` exactly (IEEE negation is exact): print the shorter form."""
    if prim != "mul" or len(args) != 2:
        return args
    left, right = _negated(args[0]), _negated(args[1])
    if left is not None and right is not None:
        return (left, right)
    if force:
        return (left if left is not None else args[0], right if right is not None else args[1])
    return args
