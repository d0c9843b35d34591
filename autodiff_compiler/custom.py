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

from .errors import ArgumentError
from .rules import ARG_NAMES, Primitive, register
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
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id in params:
                    node.id = ARG_NAMES[params.index(node.id)]
            renamed.append(ast.unparse(tree))
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
