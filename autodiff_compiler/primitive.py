"""The record of one primitive in the rule table (`rules.PRIMITIVES`): its derivative, spellings, names, errors.

Takes: nothing.  Guarantees: `Primitive` holds what `rules` defines for one
primitive (each field says what it means) and answers the questions every
transform, printer and check asks of it (its spelling for these operands, its
vector-Jacobian and Jacobian-vector products for these ranks, its partials as
trees), so that no one reads a field's shape twice.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from . import syntax


@dataclass(frozen=True)
class Primitive:
    name: str
    arity: int | None                  # None: any number of operands (`reshape(x, d0, d1, ...)`)
    partials: tuple | None = None     # expression strings, one per argument
    vjp: object = None                # expression strings over the cotangent `g`: a tuple, a dict keyed
                                      # by operand ranks ("2x1"), or a function (params, ranks) -> tuple
    nondiff: bool = False
    scalar: object = None              # operator symbol or dotted name for scalar operands, or a template
    array: object = None               # the same for array operands; either may be a function
                                       # (params, operand count) -> template, for parameterised primitives
    sympy: str | None = None           # SymPy expression over x, y, z
    result: object = "float"           # "float", "join", "extremum", "bool", "int", "first", "reduce", "dot", ...
                                       # (see ELEMENTWISE_RESULTS and ir.types), or a function
                                       # (argument types, params) -> result type
    evaluate: object = None            # numeric Python implementation, for folding and checks
    user_names: tuple = ()             # (module, name) pairs under which user code calls it
    custom: bool = False               # declared by the user (@custom_derivative), checked by verify=True
    examples: tuple = ()               # operand cases for the rule tests: (shapes or numbers, ..., {params})
    domain: tuple = ()                 # per argument: "real" (default), "int" (a small count), "positive"
    effect: bool = False               # run for its effect (assert): kept although nothing reads its result
    compiled_only: bool = False        # an effect that checks Numba's 64-bit ints, whose limits Python's
                                       # unbounded ints do not have: the module printed for Python leaves it out
    jvp: object = None                 # expression strings over the argument's tangent `d` (None: shape only),
                                       # or a function (params, ranks) -> tuple, as `vjp`
    refuse: str | None = None          # differentiable, but no rule here: why (an error message)
    raises: object = False             # may raise where compiled code runs it: True, "zero divisor" (only
                                       # when its second operand may be 0), "negative integer exponent" or
                                       # "non-finite" (an int of a float: NaN or infinity, of NumPy's too);
                                       # passes that reorder statements across loop trips keep such
                                       # statements in order (`may_raise`)
    error: object = None               # what it raises there, as the caller sees it (`error_of`): Numba's
                                       # message, or a dict from the operands' kind ("int": all of them
                                       # integers or bools, else "float") to it; None: each statement its
                                       # own error (an assert names its line)
    compiled: object = None            # the spelling for array operands in the module Numba compiles, when
                                       # it differs: a library function (`backend.library`), compiled once per
                                       # machine; in float64, so only where an operand is a float array (NumPy's
                                       # result is then float64).  A dict: from the ranks of operands that are
                                       # all float64 arrays ("2x2") to it, "": the others (None: `array`); a
                                       # function (operand types, operands) -> it or None, for any operands
    compiled_ints: str | None = None   # the runtime helper that computes it in the module Numba compiles where
                                       # every operand is an int or bool array (NumPy's result is then int64,
                                       # or bool of bools alone; the printer passes the dtype): Numba's own multiplies
                                       # floats only, and NumPy's int products wrap around where Numba's are
                                       # undefined, so the helper checks each (OverflowError beyond 64 bits)
    refused_kinds: tuple = ()          # ((kind, why), ...): operands of these kinds ("int", "bool"), for
                                       # which NumPy computes another function than this rule's (an integer
                                       # reciprocal) or raises: refused (`ir.types.check_consistent`)
    python_number: bool = False        # applied to numbers, it makes Python's number whatever its operands are
                                       # (`float(np.float64(0.0))` is Python's 0.0, which raises when divided
                                       # by; `ir.numbers`)
    numpy_numbers: object = None       # the spelling in the module Numba compiles where an operand may be
                                       # NumPy's (an array, or a number `ir.numbers` finds) and the statement
                                       # may raise (`may_raise`): Numba's operators raise ZeroDivisionError
                                       # as Python's do, its NumPy functions give inf or nan as NumPy's do.
                                       # A template for numbers, or a dict from the operands' kind to one:
                                       # "int" (numbers, all of them integers or bools), "float" (other
                                       # numbers), "array" (an operand a float array: Numba's array
                                       # operators are NumPy's ufuncs but for `**`); no entry: `scalar`

    def numpy_spelling(self, operand_kinds: tuple, arrays: bool = False) -> str | None:
        """`numpy_numbers` for operands of these kinds ("float", "int", "bool"; `arrays`: one of them a
        float array), or None."""
        text = self.numpy_numbers
        if isinstance(text, dict):
            key = "array" if arrays else "int" if all(k in ("int", "bool") for k in operand_kinds) else "float"
            return text.get(key)
        return None if arrays else text
    raises_on_arrays: bool = False     # NumPy raises on its arrays' values or shapes (a singular matrix, a
                                       # reshape to another size): a statement the user wrote is kept
                                       # although unread (`ir.shapes.mark_shape_errors`)
    python_errors: tuple | None = None # called from Python's math module (`math.sqrt(x)`, not `np.sqrt`), it
                                       # raises as CPython does where Numba's gives NaN or an infinity; the
                                       # checks: a test of the operands `{0}`, `{1}` outside the domain
                                       # (ValueError), "overflow": an infinity from a finite operand
                                       # (OverflowError; "overflow above"/"beyond": past a limit of x, |x|:
                                       # `python_errors.overflow_test`), "pow": the power's own, `math.pow`'s
                                       # and Python's `x ** y`'s, which differ (`python_check`).  The lowering marks such a call
                                       # `error_effect`; the module Numba compiles checks it
                                       # (`runtime.math_domain`, `math_range`, `math_pow`, `python_power`)

    def compiled_spelling(self, operand_types, operands=()) -> str | None:
        """`compiled` for operands of these IR types (`Primitive.compiled`; None: `array`'s spelling)."""
        if callable(self.compiled):
            return self.compiled(list(operand_types), list(operands))
        if not isinstance(self.compiled, dict):
            return self.compiled
        floats = [t for t in operand_types if t is not None and t.is_array and t.dtype == "float64"]
        return self.compiled.get("x".join(str(t.ndim) for t in floats) if len(floats) == len(operand_types) else "",
                                 self.compiled[""])

    def user_name(self, module: str) -> str:
        """The name user code calls it by in `module` ("math", "numpy"), or the primitive's own."""
        return next((n for m, n in self.user_names if m == module), self.name)

    @property
    def is_operator(self) -> bool:
        return isinstance(self.scalar, str) and self.scalar in _OPERATOR_SYMBOLS

    def spelling(self, arrays: bool, params=(), count: int | None = None) -> str:
        """How the printer spells the primitive: an operator, a dotted name, or a template over
        `{0}`, `{1}`, ... (`{rest}`: the operands after the first, `{args}`: all of them)."""
        text = self.array if arrays and self.array is not None else self.scalar
        if text is None:
            text = self.array or self.name
        if callable(text):
            text = text(dict(params), count)
        return text

    def vjp_for(self, params, ranks: tuple) -> tuple:
        """The vector-Jacobian products for these static params and operand ranks."""
        if callable(self.vjp):
            return tuple(self.vjp(dict(params), tuple(ranks)))
        if isinstance(self.vjp, dict):
            return self.vjp["x".join(str(max(1, r)) for r in ranks)]
        return self.vjp

    def jvp_for(self, params, ranks: tuple) -> tuple:
        """The Jacobian-vector products for these static params and operand ranks (one per operand;
        None: the result depends on that operand's shape only)."""
        if callable(self.jvp):
            return tuple(self.jvp(dict(params), tuple(ranks)))
        return self.jvp

    def partial_tree(self, index: int) -> ast.expr:
        return _parsed(self.partials[index])

    def names_in_partial(self, index: int) -> set[str]:
        """Which of x, y, z, out the partial for argument `index` reads."""
        return {node.id for node in ast.walk(self.partial_tree(index)) if isinstance(node, ast.Name)}


_OPERATOR_SYMBOLS = {"+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", ">=", "==", "!=", "@"}


@functools.cache
def _parsed(expr: str) -> ast.expr:
    return syntax.expression(expr)

