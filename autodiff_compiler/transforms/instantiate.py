"""Instantiate: a rule-table expression (Python syntax) -> IR statements.

Takes: a parsed partial or vector-Jacobian product from `rules.py` and the
operands its names stand for.  Guarantees: statements in A-normal form
computing it, emitted through the caller's `emit`, with constant arithmetic
folded, and the rule's own `0 * a`, `1 * a`, `a + 0`, `a ** 1` removed (a
derivative's terms, where `0 * a` is 0 as AD tools take it); `a if c else b` becomes an `If` (only the branch taken runs: `log(0)`
in the other is never evaluated) unless `c` is a constant, or an elementwise
`where(c, a, b)` when the expression reads arrays.

Also `structural_partial`, which both transforms ask in their careful derivations (`backend.strong_zero`):
is a rule's partial constant near the point wherever it is zero?
"""
from __future__ import annotations

import ast

from ..ir import Assign, Const, If, Names, Var
from ..rules import BINARY_OPERATORS, COMPARISONS, PRIMITIVES


def structural_partial(prim, index: int, binding: dict, active) -> bool:
    """Does the partial of `prim` for operand `index`, its names bound to `binding`, read no variable in
    `active` but through `indicator(...)` (piecewise constant: a mask of `min`, `clip`, `where`)?  Such a
    partial is constant near the point (the careful rerun guards the comparisons it comes from), so where
    it is zero it stays zero when it multiplies an infinite or NaN adjoint or tangent (`backend.strong_zero`):
    nothing near the point moves that value."""
    def reads_active(node) -> bool:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id != "indicator" and any(reads_active(a) for a in node.args)
        if isinstance(node, ast.Name):
            bound = binding.get(node.id)
            return isinstance(bound, Var) and bound.name in active
        return any(reads_active(child) for child in ast.iter_child_nodes(node))
    return not reads_active(prim.partial_tree(index))


_FOLDED = {"add", "sub", "mul", "neg", "pow", "div", "eq", "ne", "lt", "le", "gt", "ge", "not", "indicator"}


class Instantiate:
    """Lowers a rule-table expression (Python syntax) to IR statements, folding constants."""

    def __init__(self, names: Names, emit, loc, types: dict | None = None):
        self.names = names
        self.emit = emit
        self.loc = loc
        self.types = types or {}

    def __call__(self, tree: ast.expr, bindings: dict):
        self.bindings = bindings
        return _DISPATCH[type(tree)](self, tree)

    def apply(self, prim: str, args: tuple, params: tuple = ()):
        if all(isinstance(a, Const) for a in args) and prim in _FOLDED:
            try:
                return Const(PRIMITIVES[prim].evaluate(*(a.value for a in args)))
            except (ArithmeticError, ValueError):
                pass
        # the algebra of a rule's own terms (a derivative, where `0 * x` is 0, as AD tools take it):
        # `indicator(y == 0)` of a constant exponent leaves pow's partial as `2 * x`
        zero = [isinstance(a, Const) and not isinstance(a.value, bool) and a.value == 0 for a in args]
        one = [isinstance(a, Const) and not isinstance(a.value, bool) and a.value == 1 for a in args]
        if prim == "mul" and any(zero):
            return Const(0.0)
        if prim == "mul" and one[0]:
            return args[1]
        if prim == "mul" and one[1]:
            return args[0]
        if prim == "add" and zero[0]:
            return args[1]
        if prim in ("add", "sub") and zero[1]:
            return args[0]
        if prim == "pow" and one[1]:
            return args[0]
        target = self.names.temp()
        self.emit(Assign(target, prim, tuple(args), self.loc, params))
        return Var(target)

    def constant(self, node):
        return Const(node.value)

    def name(self, node):
        return self.bindings[node.id]

    def binop(self, node):
        return self.apply(BINARY_OPERATORS[type(node.op)], (self(node.left, self.bindings),
                                                           self(node.right, self.bindings)))

    def unaryop(self, node):
        operand = self(node.operand, self.bindings)
        if isinstance(node.op, ast.USub):
            return self.apply("neg", (operand,))
        return self.apply("not", (operand,))

    def call(self, node):
        args = tuple(self(a, self.bindings) for a in node.args)
        params = tuple((kw.arg, ast.literal_eval(kw.value) if not isinstance(kw.value, ast.Name)
                        else self.bindings.get(kw.value.id)) for kw in node.keywords)
        return self.apply(node.func.id, args, params)

    def ifexp(self, node):
        """`a if c else b`: resolved now when `c` is a constant, else a branch in the adjoint."""
        cond = self(node.test, self.bindings)
        if isinstance(cond, Const):
            return self(node.body if cond.value else node.orelse, self.bindings)
        if self.reads_arrays(node):
            return self.apply("where", (cond, self(node.body, self.bindings), self(node.orelse, self.bindings)))
        result = self.names.temp()
        emit, branches = self.emit, []
        for branch in (node.body, node.orelse):
            block: list = []
            self.emit = block.append
            value = self(branch, self.bindings)
            block.append(Assign(result, "copy", (value,), self.loc))
            branches.append(block)
        self.emit = emit
        self.emit(If(cond, branches[0], branches[1], self.loc))
        return Var(result)

    def reads_arrays(self, tree) -> bool:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(self.bindings.get(node.id), Var):
                t = self.types.get(self.bindings[node.id].name)
                if t is not None and t.is_array:
                    return True
        return False

    def subscript(self, node):
        """`g[k]` with a constant k: one entry of an array."""
        return self.apply("subscript", (self(node.value, self.bindings), Const(ast.literal_eval(node.slice))))

    def compare(self, node):
        return self.apply(COMPARISONS[type(node.ops[0])], (self(node.left, self.bindings),
                                                          self(node.comparators[0], self.bindings)))


# by the rule expression's node type; plain functions, so that an `Instantiate` (one per rule
# application) holds no reference to itself and is freed as soon as the rule is applied
_DISPATCH = {ast.Constant: Instantiate.constant, ast.Name: Instantiate.name, ast.BinOp: Instantiate.binop,
             ast.UnaryOp: Instantiate.unaryop, ast.Call: Instantiate.call, ast.Compare: Instantiate.compare,
             ast.IfExp: Instantiate.ifexp, ast.Subscript: Instantiate.subscript}
