"""Custom derivatives: `@custom_derivative("out * (1 - out)")` adds the user's function to the rule table.

Takes: partial derivatives as strings in the rule language (Python syntax over
the function's parameter names and `out`, its value).  Guarantees: the
decorated function stays callable as it was, and becomes one more entry of
`rules.PRIMITIVES`: wherever differentiated code calls it, its value comes
from its body and its derivative from the declared partials; `verify=True`
proves the declaration against SymPy like a built-in rule.
"""
from __future__ import annotations

import ast
import inspect
import math

from .errors import ArgumentError
from .rules import ARG_NAMES, PRIMITIVES, USER_FUNCTIONS, Primitive, register
from . import syntax


# primitive name -> the function (module, qualified name) that declared it: two functions of one name
# (`sq` of two modules) shared one entry, and the later declaration's partials were used for both
_DECLARED: dict = {}


def _primitive_name(fn) -> str:
    """The rule table's name for `fn`'s declaration: `custom_NAME`, numbered where another function of
    that name holds it.  The same function declared again (a module reloaded) keeps its name: the new
    partials replace the old."""
    owner = (getattr(fn, "__module__", None), getattr(fn, "__qualname__", fn.__name__))
    base = name = f"custom_{fn.__name__}"
    number = 1
    while _DECLARED.get(name, owner) != owner:
        number += 1
        name = f"{base}_{number}"
    _DECLARED[name] = owner
    return name


# constants a partial may name through its module, as the function's body does
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_MODULES = {"np": "numpy", "numpy": "numpy", "math": "math"}


class _RuleLanguage(ast.NodeTransformer):
    """A partial as the rule language spells it: `np.cos(x)` and `math.cos(x)` are `cos(x)` (the rule
    table's name of the function the body's call would be), `math.pi` is the number.  Anything else it
    cannot mean is refused, by name, at the declaration: a name that is neither a parameter nor `out`
    (the rule language's own operand names `x`, `y`, `z` stood for other operands than the user's: `2 * y`
    of `sq(x)` was twice the value, a wrong derivative without an error), a function the rule table does
    not have, an attribute of anything but NumPy or math."""

    def __init__(self, text: str, owner: str, params: list):
        self.text, self.owner, self.params = text, owner, params

    def refuse(self, what: str):
        raise ArgumentError(f"partial {self.text!r} of {self.owner} {what}",
                            hint=f"write it over the parameters ({', '.join(self.params)}) and `out` (the "
                                 f"function's value), with the functions of math or NumPy: "
                                 f"@custom_derivative(\"np.cos(x)\")")

    def generic_visit(self, node):
        if not isinstance(node, _EXPRESSIONS):
            self.refuse(f"holds {type(node).__name__.lower()} {ast.unparse(node)!r}, which the rule language "
                        f"has no meaning for")
        return super().generic_visit(node)

    def visit_Call(self, node):
        if node.keywords:
            self.refuse(f"passes keywords to {ast.unparse(node.func)}: the rule language's calls take "
                        f"their operands by position")
        node.args = [self.visit(a) for a in node.args]
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in _MODULES:
            prim = USER_FUNCTIONS.get((_MODULES[func.value.id], func.attr))
            if prim is None or prim not in PRIMITIVES:
                self.refuse(f"calls {func.value.id}.{func.attr}, which has no entry in the rule table")
            node.func = ast.Name(prim, ast.Load())
        elif not (isinstance(func, ast.Name) and func.id in PRIMITIVES):
            self.refuse(f"calls {ast.unparse(func)}, which is no function of the rule table")
        arity = PRIMITIVES[node.func.id].arity
        if len(node.args) != arity:
            self.refuse(f"calls {ast.unparse(func)} with {len(node.args)} operand(s): the rule table's takes "
                        f"{arity} (math.log(x, b) is log(x) / log(b))")
        return node

    def visit_Compare(self, node):
        if len(node.ops) != 1:
            self.refuse("chains comparisons: compare two operands at a time")
        return self.generic_visit(node)

    def visit_Subscript(self, node):
        if not isinstance(node.slice, ast.Constant) or not isinstance(node.slice.value, int):
            self.refuse(f"indexes {ast.unparse(node)} with something other than an int")
        return self.generic_visit(node)

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in _MODULES and node.attr in _CONSTANTS:
            return ast.Constant(_CONSTANTS[node.attr])
        self.refuse(f"reads {ast.unparse(node)}, which is no number it knows")

    def visit_Name(self, node):
        """An operand (a call's function is never visited here): `out`, or a parameter, which becomes the
        rule table's name of its operand (`x`, `y`, `z` by position)."""
        if node.id == "out":
            return node
        if node.id not in self.params:
            self.refuse(f"reads {node.id!r}, which is neither a parameter of {self.owner} nor `out`")
        return ast.Name(ARG_NAMES[self.params.index(node.id)], node.ctx)


# what a partial is made of (`transforms.instantiate` reads these), with their operators and contexts
_EXPRESSIONS = (ast.Expression, ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.Call, ast.Compare, ast.IfExp,
                ast.Subscript, ast.Attribute, ast.operator, ast.unaryop, ast.cmpop, ast.expr_context)


def _in_rule_language(tree, text: str, owner: str, params: list):
    """`tree` (a parsed partial) in the rule language (`_RuleLanguage`), over the rule table's operand names,
    or an ArgumentError."""
    return ast.fix_missing_locations(_RuleLanguage(text, owner, params).visit(tree))


def custom_derivative(*partials: str):
    """Declare the derivative of your own function (`autograd.Function`, `jax.custom_vjp`).

        @custom_derivative("out * (1 - out)")        # d sigmoid / d z, over the parameters and `out`
        def sigmoid(z):
            return 1 / (1 + math.exp(-z))

    One partial per parameter, in the rule language (Python syntax over the
    parameter names and `out`, the function's value).  Wherever the function
    is called in differentiated code, its value comes from its body and its
    derivative from these partials: one more entry in the rule table.  On
    arrays a partial is entry by entry (an elementwise function: a sigmoid of
    arrays), and the value is the body's result as it is (returning its
    argument, the function returns that array, as Python's call does).  A
    function reducing its array (a norm, `@custom_derivative("x / out")`, or
    column sums with `keepdims=True`) declares the partial of each value entry
    with respect to the operand entries aligned with it as NumPy broadcasts
    the value against the operand: forward and reverse mode sum over the
    entries it reduces.  A value of fewer axes that is no number is refused
    (its entries would align with the operand's last axes, whichever it
    reduced): keep the reduced axes.
    `verify=True` proves the declaration against SymPy like a built-in rule."""
    for text in partials:
        if not isinstance(text, str):
            raise ArgumentError(f"@custom_derivative takes each partial as a string in the rule language, not "
                                f"{type(text).__name__} {text!r}",
                                hint='write the partial over the parameters and `out`: @custom_derivative("out * (1 - out)")')

    def declare(fn):
        params = list(inspect.signature(fn).parameters)
        if len(params) != len(partials):
            raise ArgumentError(f"@custom_derivative for {fn.__name__} gives {len(partials)} partial(s) for "
                                f"{len(params)} parameter(s)", hint="give one partial per parameter")
        if len(params) > len(ARG_NAMES):
            raise ArgumentError(f"@custom_derivative supports at most {len(ARG_NAMES)} parameters")
        renamed = []
        for text in partials:
            try:
                tree = syntax.parse(text, mode="eval")
            except SyntaxError as exc:
                raise ArgumentError(f"partial {text!r} of {fn.__name__} is not an expression: {exc.msg}") from None
            renamed.append(ast.unparse(_in_rule_language(tree, text, fn.__name__, params)))
        name = _primitive_name(fn)
        # the value is computed by the function's own (inlined) body and passed as the last operand
        register(Primitive(name, len(params) + 1, tuple(renamed) + ("0",), None, False,
                           "{%d}" % len(params), "{%d}" % len(params), ARG_NAMES[len(params)] if len(params) < 3
                           else None, "last", lambda *operands: operands[-1], (), custom=True))
        fn.__autodiff_primitive__ = name
        fn.__autodiff_custom__ = True
        fn.__autodiff_partials__ = tuple(partials)     # a pickled gradient declares it again (pickling.py)
        return fn
    return declare
