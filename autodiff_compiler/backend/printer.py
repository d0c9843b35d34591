"""Print: an adjoint IR function -> a complete, importable, readable Python module.

Takes: a simplified `ir.Function` with `types`.  Guarantees:

* the text is a module that imports what it uses (`math`, `numpy as np`) and
  defines the gradient function (and `tape_grow` when a tape may grow);
* deterministic: the same function prints byte-identically;
* expressions are printed with Python's precedence (a precedence table, the
  way SymPy's printers do it), and temporaries used once are folded back into
  the expression that uses them, so the forward sweep reads like the source;
* each adjoint block in the reverse sweep is preceded by a comment with the
  source line it differentiates.
"""
from __future__ import annotations

import functools

import math
import os
import re

from .. import ir
from . import products, runtime
from .print_memory import MemoryPrinter
from .print_trees import ATOM as _ATOM, _cancel_negations, _is_neg_pair, _negated, _squares_a_float, _through_copies, _tree_prim
from ..ir import Assign, Comment, Const, For, If, Pop, Push, Store, TapeAlloc, Var, While
from ..ir import Names
from ..ir.shapes import ONE, guard_conditions
from ..ir.numbers import makes_numpy_number, numpy_numbers, numpy_spelling
from ..ir.ranges import int_bounds, int_operand_bound
from ..ir.signs import nonnegative_integers
from ..python_errors import (FACT_PARAMS, INT64_HELPERS, MATH_MODULE_PARAM, NUMPY_INT64_HELPERS, NUMPY_INT64_UFUNCS,
                             POWER_LIMIT_EXPONENTS, POWER_UNREAD, beyond_int64, checks_int64, domain_tests, overflow_test,
                             int_as_float, python_check, python_power_limit, wraps_as_numpy)
from ..rules import ELEMENTWISE_RESULTS, PRIMITIVES
from ..ir.names import is_temporary
from ..optimise.vectorise import ArrayCall
from ..optimise.symbolic import NOTE as SYMBOLIC_NOTE

# an expression tree whose "primitive" is (_VECTOR_MAP, prim): a planned whole-array vector call
_VECTOR_MAP = "vector_map"
# ... (_SQUARED,): for Python, a float square the derivative computes: `runtime.squared`, inf past 1e154
_SQUARED = "squared"
# ... (_EXACT_INTS, helper, swapped): Python's exact int arithmetic (`exact_python_ints`); `swapped`: float first
_EXACT_INTS = "exact_ints"
# ... (_UNSIGNED,): an element index proved >= 0 (`ir.signs`), given to Numba as an unsigned integer
_UNSIGNED = "unsigned"
# ... (_PYTHON_MATH, prim): a call from Python's math module, checked as CPython checks it (`rules.Primitive.python_errors`)
_PYTHON_MATH = "python_math"
# ... (_PYTHON_POWER, "pow"): Python's `x ** y` of its numbers, checked as CPython checks it (`python_errors.python_check`)
_PYTHON_POWER = "python_power"
# ... (_PYTHON_INTS, prim): arithmetic of Python's ints that may leave 64 bits (`python_errors.INT64_PARAM`)
_PYTHON_INTS = "python_ints"
# ... (_DOMAIN, test): that call's operand, checked against its domain (`runtime.math_domain`)
_DOMAIN = "domain"
# ... (_OVERFLOW, test): that call's operand, checked against the limit past which it overflows (`runtime.math_overflow`)
_OVERFLOW = "overflow"
# ... (_PYTHON_NUMBERS, prim): a division (modulo, floor division) of Python's numbers the lowering marked
# (`error_effect`), spelled with the operator that raises whatever this module's own analysis of the
# derived code says its operands may be (the front end decided, run by run where it had to:
# `frontend.number_flags`; a pass may since have joined a NumPy definition to a Python one)
_PYTHON_NUMBERS = "python_numbers"
# the primitives reading elements of an array at integer indices (operands after the first)
_ELEMENT_READS = frozenset({"subscript", "subscript_copy"})
# precedence of Python's operators, loosest first
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4,
               "+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "@": 7, "unary": 8, "**": 9}


def _has_statement(lines: list) -> bool:
    """Is some printed line code (not a comment or blank)?"""
    return any(line.strip() and not line.lstrip().startswith("#") for line in lines)


def format_constant(value) -> str:
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "math.nan"
        if math.isinf(value):
            return "math.inf" if value > 0 else "-math.inf"
    return repr(value)


KEPT_NOTE = "not read: kept to raise where the function does"


def _kept_for_errors(function: ir.Function) -> set:
    """The statements the user wrote that nothing reads after them, kept for their error
    (`ir.Assign.error_effect`: an index out of range, a division by zero)."""
    marked = [s for s in ir.walk(function.body) if isinstance(s, (Assign, Store)) and s.error_effect]
    if not marked:
        return set()
    from ..ir import dataflow
    facts = dataflow.of(function)
    if any(id(s) not in facts.position for s in marked):      # facts of an earlier form of the program
        dataflow.invalidate(function)
        facts = dataflow.of(function)
    # an assignment's value: no statement reads it (def-use chains, computed once); a store: the array is
    # not live after it (stores are few)
    return {id(s) for s in marked
            if (not facts.uses_of(facts.pos(s)) if isinstance(s, Assign) else s.array not in facts.live_out(s))}


class ModulePrinter(MemoryPrinter):
    def __init__(self, function: ir.Function, plans: dict | None = None, threads: int = 1,
                 compiled: bool = False):
        self.function = function
        self.compiled = compiled            # the module Numba compiles: the rule table's `compiled` spellings
        self.plans = plans or {}
        self.threads = threads              # for chunked loops: 1 (no prange), 0 (Numba's count), n
        self.types = dict(function.types) if self.plans else function.types
        self.names = Names(set(function.user_names) | set(function.types) | set(function.params))
        if self.plans:
            self.names.add(ir.assigned_in(function.body))
        self.extra_functions: list[str] = []   # chunk functions of planned loops
        self.library_imports: set[str] = set()     # vector kernels (`v<prim>`) and products (`products`)
        self.array_helpers: set[str] = set()     # whole-array vector calls' functions, made once each
        self.parallel = False
        self.tops: dict[str, str] = {}
        self.uses = _use_counts(function)
        self.kept_for_errors = _kept_for_errors(function)
        self.trees: dict[str, tuple] = {}
        self.modules: set[str] = set()
        self.helpers: set[str] = set()
        self.in_reverse = False
        self.definitions = _definitions(function)
        self.one_layout = {name for name, defs in self.definitions.items()
                           if len(defs) + (name in function.params) > 1 and self._has_layout(name)}
        self._contiguous: dict[str, bool] = {}
        if any(name in self.one_layout for name in function.params):
            self.modules.add("numpy")
        # element indices Numba may take as unsigned: with a signed one it first adds the axis's length
        # to a negative index, a select per read that keeps LLVM from proving the bounds check
        # redundant in a loop (MSE's chunked adjoint: 1.33x the hand-written gradient, 1.00x unsigned)
        self.nonnegative = nonnegative_integers(function) if compiled else frozenset()
        # numbers that may be NumPy's (`ir.numbers`): in the module Numba compiles, a division of them is
        # spelled as NumPy divides (inf or nan), not with Numba's operator (ZeroDivisionError)
        self.numpy_numbers = numpy_numbers(function.body, function.types) if compiled else frozenset()

    # -------------------------------------------------------------- expressions
    def spelling(self, prim: str, args, params=(), python: bool = False, math_module: bool = False) -> str:
        """How `prim` of `args` is printed; `python`: a marked statement of Python's numbers (the
        operator, which raises as Python's does, never NumPy's spelling); `math_module`: a call of
        Python's math module the front end kept so (`MATH_MODULE_PARAM`)."""
        spec = PRIMITIVES[prim]
        arrays = any(self.is_array(a) for a in args)
        text = spec.spelling(arrays, params, len(args))
        if math_module and not arrays and ("math", spec.user_name("math")) in spec.user_names \
                and text.isidentifier():
            # the math module's own function (`math.fabs`, where the operator is `abs`): its float is
            # Python's also of NumPy's number, which a division then raises on, as the function does
            text = f"math.{spec.user_name('math')}"
        if self.compiled and arrays and spec.compiled and (callable(spec.compiled) or any(map(self.is_float_array, args))):
            text = spec.compiled_spelling([self.type_of(a) for a in args], args) or text
        elif self.compiled and spec.compiled_ints and all(self.is_int_array(a) for a in args):
            bools = all(self.type_of(a).dtype == "bool" for a in args)     # NumPy's product of bools alone is bool
            text = f"{spec.compiled_ints}({{args}}, {'np.bool_' if bools else 'np.int64'})"
        if self.compiled and spec.numpy_numbers is not None and not python:
            text = numpy_spelling(prim, args, self.operand_facts) or text
        if self.compiled and "integral(" in text:
            text = text.replace("integral(", "integral64(")     # Numba's ints have 64 bits, Python's more
        self.note_helpers(text)
        return text

    def note_helpers(self, text: str) -> None:
        """The modules and runtime helpers a spelling calls, for the module's imports and helper copies."""
        if text.startswith("math.") or "math." in text:
            self.modules.add("math")
        elif text.startswith("np.") or "np." in text:
            self.modules.add("numpy")
        if text in products.ANY_LAYOUT:
            self.library_imports.add(text)
        for helper in runtime.helpers_called(text):
            self.helpers.add(helper)
            self.modules.add("numpy")
            if "math." in _helper_source(helper):
                self.modules.add("math")

    def type_of(self, operand):
        """An operand's type: a variable's, or an inlined expression tree's (its statement's target's)."""
        if isinstance(operand, tuple):
            return operand[3]
        if isinstance(operand, Var):
            return self.types.get(operand.name)
        return None

    def is_array(self, operand) -> bool:
        t = self.type_of(operand)
        return t is not None and t.is_array

    def is_numpy_number(self, operand) -> bool:
        """May this number be NumPy's (`ir.numbers`)?  A variable by the function's analysis; an inlined
        expression tree by the same rule applied to its operands."""
        if isinstance(operand, Var):
            return operand.name in self.numpy_numbers
        if isinstance(operand, tuple) and isinstance(operand[0], str):
            prim, args = operand[0], operand[1]
            return makes_numpy_number(prim, [self.is_array(a) for a in args],
                                      [self.is_numpy_number(a) for a in args], operand[2])
        return False

    def operand_facts(self, operand) -> tuple:
        """(kind, is an array, is a float array, may be NumPy's): what `ir.numbers.numpy_spelling` asks."""
        return self.kind_of(operand), self.is_array(operand), self.is_float_array(operand), \
            self.is_numpy_number(operand)

    def kind_of(self, operand) -> str | None:
        """An operand's kind ("float", "int", "bool"; None when unknown)."""
        if isinstance(operand, Const):
            value = operand.value
            return "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float"
        t = self.type_of(operand)
        return t.kind if t is not None else None

    def is_float_array(self, operand) -> bool:
        t = self.type_of(operand)
        return t is not None and t.is_array and t.dtype.startswith("float")

    def is_int_array(self, operand) -> bool:
        t = self.type_of(operand)
        return t is not None and t.is_array and t.dtype.startswith(("int", "uint", "bool"))

    def tree_of(self, stmt: Assign) -> tuple:
        args = tuple(self.operand(a) for a in stmt.args)
        if self.compiled and stmt.prim in _FLOAT_OR_COMPARED and any(beyond_int64(a) for a in args):
            # an int constant beyond 64 bits (`x * 10 ** 20`, `n < 2 ** 70`) where Python makes it a float or
            # compares it: the float it is (a comparison with an int64 comes out the same); Python's own
            # OverflowError where no float holds it
            target = self.types.get(stmt.target)
            if target is not None and (stmt.prim in _COMPARED or target.kind == "float"):
                args = tuple(Const(int_as_float(a.value)) if beyond_int64(a) and int_as_float(a.value) is not None else a
                             for a in args)
        if stmt.prim in _ELEMENT_READS and self.is_array(stmt.args[0]):
            args = args[:1] + tuple(self.index_operand(a, tree) for a, tree in zip(stmt.args[1:], args[1:]))
        if self.compiled and stmt.prim == "pow" and _complex_constant_power(args):
            # CPython folds `(-0.3) ** 2.5` of two literals into a complex constant, which Numba cannot type:
            # `float(-0.3) ** 2.5` is a float power (NaN) where a statement before it raises Python's error
            args = (("float", (args[0],), (), None), args[1])
        if self.compiled and stmt.prim == "pow" and _negative_int(args[1]) and self.kind_of(args[0]) == "float":
            # Python's float ** int is C's pow of two doubles; Numba's is 1 / x**n, which overflows first
            # (0.0 for 7.5e160 ** -2, Python's 1.8e-322; ZeroDivisionError for 1e-200 ** -2; helper-54)
            args = (args[0], Const(float(args[1].value)))
        t = self.types.get(stmt.target)
        plan = self.plans.get(id(stmt))
        prim = (_VECTOR_MAP, plan.prim) if isinstance(plan, ArrayCall) else stmt.prim
        arrays = any(self.is_array(a) for a in stmt.args)
        exact = self.exact_python_ints(stmt) if self.compiled and not arrays else None
        if exact is not None:
            prim = exact
        elif checks_int64(stmt) and stmt.prim in INT64_HELPERS and (self.compiled or wraps_as_numpy(stmt) and not arrays):
            # compiled (a pass may have made a copy of it: nothing to check): NumPy's where it raises nothing;
            # for Python, a fused element of int arrays, whose operands may be Python's ints, which do not wrap
            prim = (_PYTHON_INTS, stmt.prim, not stmt.error_effect or arrays)
        elif self.is_python_math(stmt):
            prim = (_PYTHON_MATH, stmt.prim)
            if python_check(stmt) == "power":
                prim = (_PYTHON_POWER, stmt.prim, POWER_UNREAD not in stmt.params)
        elif stmt.error_effect and PRIMITIVES[stmt.prim].numpy_numbers is not None and not arrays:
            prim = (_PYTHON_NUMBERS, stmt.prim)
        elif not self.compiled and stmt.prim == "pow" and python_check(stmt) is None and _squares_a_float(self, args):
            # for Python, a square the derivative computes (atan's 1 / (1 + x ** 2)) is x * x (of an
            # expression, `squared(...)`), the same x²: Python's float ** raises OverflowError past 1e154,
            # where Numba gives inf (jit=False said "undefined here" of atan at 1e200); a power the
            # function computes raises as Python's does
            prim, args = ("mul", (args[0], args[0])) if isinstance(args[0], Var) else ((_SQUARED,), args[:1])
        return (prim, args, stmt.params, t)

    def exact_python_ints(self, stmt) -> tuple | None:
        """Python's comparison of its int and float and its `/` of two ints (correctly rounded) are exact, where
        Numba converts to float first: the print-only primitive of a helper computing it as Python does, or None
        where the ints are provably within 2**53 (`exact_in_a_float`), where both agree."""
        if stmt.prim not in _COMPARED and stmt.prim != "div" or len(stmt.args) != 2:
            return None
        kinds = [self.kind_of(a) if not self.is_numpy_number(a) else None for a in stmt.args]
        if all(self.exact_in_a_float(a) for a, kind in zip(stmt.args, kinds) if kind == "int"):
            return None
        if stmt.prim == "div":
            return (_EXACT_INTS, "int_true_divide", False, None) if kinds == ["int", "int"] else None
        if sorted(map(str, kinds)) == ["float", "int"]:
            return (_EXACT_INTS, "int_float_compare", kinds[0] == "float", stmt.prim)
        return None

    @functools.cached_property
    def int_bounds(self) -> dict:     # of the module's int variables, computed when first asked
        return int_bounds(self.function.body, self.types, self.function.params)

    def exact_in_a_float(self, operand) -> bool:
        # within 2**53, every int is a float exactly (`ir.ranges`: constants, axis lengths, loop indices, ...)
        lo, hi = int_operand_bound(operand, self.int_bounds)
        return -2 ** 53 <= lo and hi <= 2 ** 53

    def is_python_math(self, stmt) -> bool:
        """Is `stmt` a statement of numbers that raises in Python where Numba gives NaN or inf: a call of
        the math module's function, or Python's `x ** y` (`python_errors.python_check`, marked by the lowering)?"""
        return isinstance(stmt, Assign) and python_check(stmt) is not None \
            and not any(self.is_array(a) for a in stmt.args)

    def checks_python_math(self, stmt) -> bool:
        """Must the module Numba compiles check `stmt`, a call of the math module's function, as CPython
        checks it (`math.sqrt(-1.0)`: Numba's NaN, Python's ValueError), writing an operand twice?  The
        module printed for Python (`jit=False`, and for reading) calls the math module itself, which
        checks."""
        return self.compiled and self.is_python_math(stmt) and python_check(stmt) == "math"

    def python_math(self, prim: tuple, args: tuple) -> tuple[str, int]:
        """For Python, the math module's own call (`math.pow(x, y)`, not `x ** y`, which is complex for a
        negative x); compiled, the call checked as CPython checks it (`rules.Primitive.python_errors`):
        `math.log(math_domain(x, x <= 0.0))`, `math_range(math.exp(x), x)`, `math_pow(math.pow(x, y), x, y)`.
        Its operands are names or constants (`plan_inlining` folds nothing into it), written twice."""
        spec = PRIMITIVES[prim[1]]
        operands = ", ".join(self.expr(a)[0] for a in args)
        if not self.compiled or "pow" in spec.python_errors:
            # (compiled: Numba's math.pow gives NaN or inf, as its `**` does)
            self.modules.add("math")
            text = f"math.{spec.user_name('math')}({operands})"
            if not self.compiled:
                return text, _ATOM
            self.note_helpers("math_pow")
            return f"math_pow({text}, {operands})", _ATOM
        tests = domain_tests(prim[1])
        checked = ((_DOMAIN, " or ".join(tests)), args[:1], (), self.type_of(args[0])) if tests else args[0]
        overflow = overflow_test(prim[1])
        if overflow is not None:
            checked = ((_OVERFLOW, overflow), (checked,), (), self.type_of(args[0]))
        text, precedence = self.apply(prim[1], (checked,) + tuple(args[1:]))
        if "overflow" in spec.python_errors:
            self.note_helpers("math_range")
            return f"math_range({text}, {self.expr(args[0])[0]})", _ATOM
        return text, precedence

    def python_power(self, args: tuple, read: bool) -> tuple[str, int]:
        """Python's `x ** y` of its own numbers (`python_errors.python_check`: "power"; `read`: the function
        reads its value, `POWER_UNREAD` not set).  Compiled, `python_power(x, y, complex_raises)`
        (`runtime.python_power`: CPython's errors where Numba's `**` gives inf or NaN, and a complex
        result refused where the function reads it and the exponent may be fractional).  For Python,
        `x ** y`, which raises those errors itself, unless a complex result must be refused (a value the
        function reads, of an exponent that may be fractional)."""
        exponent = args[1]
        integral = self.kind_of(exponent) in ("int", "bool") or (
            isinstance(exponent, Const) and float(exponent.value).is_integer())
        if not self.compiled and (integral or not read):
            return self.apply("pow", args)
        if isinstance(exponent, Const) and type(exponent.value) is int and self.kind_of(args[0]) == "float" \
                and 2 <= exponent.value <= POWER_LIMIT_EXPONENTS:
            # its one error is of the base's magnitude: tested before the power, which LLVM drops if unread
            self.note_helpers("python_power_int")
            limit = format_constant(python_power_limit(exponent.value))
            return f"python_power_int({self.expr(args[0])[0]}, {exponent.value}, {limit})", _ATOM
        self.note_helpers("python_power")
        return f"python_power({self.expr(args[0])[0]}, {self.expr(args[1])[0]}, {read and not integral})", _ATOM

    def python_ints(self, prim: tuple, args: tuple) -> tuple[str, int]:
        """Arithmetic of ints that may leave 64 bits (`python_errors.checks_int64`), compiled: the checked
        runtime helper (`int_mul(a, b)`: OverflowError where Numba's ints would wrap around), NumPy's own
        where it differs (`int_floordiv_numpy`), of arrays element by element.  For Python, Python's ints
        are unbounded: only a fused element of int arrays (`INT64_NUMPY_PARAM`) is spelled, as NumPy's ufunc."""
        if not self.compiled:
            text = f"{NUMPY_INT64_UFUNCS[prim[1]]}({', '.join(f'np.int64({self.expr(a)[0]})' for a in args)})"
            self.note_helpers(text)
            return text, _ATOM
        helper = (NUMPY_INT64_HELPERS if prim[2] else INT64_HELPERS)[prim[1]]
        self.note_helpers(f"{helper}()")
        operands = ', '.join(self.expr(a)[0] for a in args)
        if any(self.is_array(a) for a in args):     # NumPy's arithmetic of int arrays, element by element
            elements = f"int_elements{len(args)}"
            self.note_helpers(f"{elements}()")
            return f"{elements}({helper}, {operands})", _ATOM
        return f"{helper}({operands})", _ATOM

    def domain(self, prim: tuple, args: tuple) -> tuple[str, int]:
        operand = self.expr(args[0])[0]
        text = f"math_domain({operand}, {prim[1].format(operand)})"
        self.note_helpers(text)
        return text, _ATOM

    def exact_ints(self, prim: tuple, args: tuple) -> tuple[str, int]:
        """`int_true_divide(n, d)`, or `int_float_compare(n, f, op)` with the int first."""
        _, helper, swapped, comparison = prim
        if helper == "int_true_divide":
            return self.helper_call(helper, args)
        if swapped:         # f < n is n > f
            args, comparison = args[::-1], _MIRRORED.get(comparison, comparison)
        return self.helper_call(helper, args + (Const(_COMPARISON_CODES[comparison]),))

    def overflow(self, prim: tuple, args: tuple) -> tuple[str, int]:
        operand = self.expr(args[0])[0]
        text = f"math_overflow({operand}, {prim[1].format(operand)})"
        self.note_helpers(text)
        return text, _ATOM

    def operand(self, operand):
        if isinstance(operand, Var) and operand.name in self.trees:
            return self.trees[operand.name]
        return operand

    def expr(self, node) -> tuple[str, int]:
        """Text and precedence of an operand or expression tree."""
        if isinstance(node, Var):
            return node.name, _ATOM
        if isinstance(node, Const):
            if self.compiled and type(node.value) is int and not -2 ** 63 <= node.value < 2 ** 63:
                # an int of the function beyond 64 bits (`2 ** 70`, folded): Numba has none; it raises where used
                self.note_helpers("beyond_64_bits")
                return "beyond_64_bits(1)", _ATOM
            text = format_constant(node.value)
            if "math." in text:
                self.modules.add("math")
            return text, (_PRECEDENCE["unary"] if text.startswith("-") else _ATOM)
        if isinstance(node, ir.Slice):
            # a bound may be a temporary folded into its use: print its expression
            parts = [self.expr(self.operand(p))[0] if p is not None else "" for p in (node.start, node.stop, node.step)]
            return (":".join(parts) if node.step is not None else ":".join(parts[:2])), _ATOM
        prim, args, params, _ = node
        if isinstance(prim, tuple):
            return self._print_only[prim[0]](self, prim, args)
        return self.apply(prim, args, params)

    def index_operand(self, operand, tree):
        """An integer index as printed: unsigned where it is proved >= 0 (`ir.signs`), in the module
        Numba compiles (a negative index counts from the end; one >= 0 is the same element either way)."""
        if isinstance(operand, Var) and operand.name in self.nonnegative:
            self.modules.add("numpy")
            return ((_UNSIGNED,), (tree,), (), self.types.get(operand.name))
        return tree

    def helper_call(self, helper: str, args: tuple) -> tuple[str, int]:
        self.note_helpers(helper + "(")
        return f"{helper}({', '.join(self.expr(a)[0] for a in args)})", _ATOM

    def unsigned(self, prim: tuple, args: tuple) -> tuple[str, int]:
        return f"np.uint64({self.expr(args[0])[0]})", _ATOM

    # expression trees only the printer makes, by their marker
    _print_only = {_VECTOR_MAP: lambda self, prim, args: self.vector_map(prim[1], args),
                   _UNSIGNED: unsigned, _PYTHON_MATH: python_math, _PYTHON_INTS: python_ints,
                   _SQUARED: lambda self, prim, args: self.helper_call("squared", args),
                   _PYTHON_POWER: lambda self, prim, args: self.python_power(args, read=prim[2]), _DOMAIN: domain,
                   _OVERFLOW: overflow, _EXACT_INTS: exact_ints,
                   _PYTHON_NUMBERS: lambda self, prim, args: self.apply(prim[1], args, python=True)}

    def wrap(self, node, minimum: int) -> str:
        text, precedence = self.expr(node)
        return f"({text})" if precedence < minimum else text

    def apply(self, prim: str, args: tuple, params: tuple = (), python: bool = False) -> tuple[str, int]:
        math_module = MATH_MODULE_PARAM in params
        params = tuple(p for p in params if p[0] not in FACT_PARAMS)
        args = _cancel_negations(prim, args)
        if prim == "add" and len(args) == 2 and _tree_prim(args[1]) == "neg":
            prim, args = "sub", (args[0], _through_copies(args[1])[1][0])    # a + -b is a - b exactly (IEEE)
        if prim == "neg" and _is_neg_pair(args[0]):
            prim, args = "mul", _cancel_negations("mul", args[0][1], force=True)
        spec = PRIMITIVES[prim]
        symbol = self.spelling(prim, args, params, python, math_module)
        if "{" in symbol:
            # an operand that stands alone as a call's argument needs no parentheses; anywhere else in
            # a template (before `.attr` or `[...]`, beside an operator) it must be an atom
            texts = [self.expr(a)[0] if _argument_slot(symbol, k) else self.wrap(a, _ATOM)
                     for k, a in enumerate(args)]
            return symbol.format(*texts, rest=", ".join(self.expr(a)[0] for a in args[1:]),
                                 args=", ".join(self.expr(a)[0] for a in args),
                                 **{k: v for k, v in params if k not in ("args", "rest")}), _ATOM
        if symbol == "":
            return self.expr(args[0])
        if spec.is_operator or symbol in ("not", "~"):
            if len(args) == 1:
                if symbol == "not":
                    return f"not {self.wrap(args[0], _PRECEDENCE['not'])}", _PRECEDENCE["not"]
                return f"{symbol}{self.wrap(args[0], _PRECEDENCE['unary'])}", _PRECEDENCE["unary"]
            precedence = _PRECEDENCE[symbol]
            if symbol == "**":
                left, right = self.wrap(args[0], _PRECEDENCE["**"] + 1), self.wrap(args[1], _PRECEDENCE["unary"])
            elif precedence == _PRECEDENCE["<"]:
                left, right = self.wrap(args[0], precedence + 1), self.wrap(args[1], precedence + 1)
            else:
                left, right = self.wrap(args[0], precedence), self.wrap(args[1], precedence + 1)
                if symbol in "+-" and right.startswith("-") and self.expr(args[1])[1] >= _PRECEDENCE["*"] \
                        and _negation_distributes(args[1]):
                    # a + -2 * b reads as a - 2 * b (not for %, //: -a % b is not -(a % b))
                    symbol, right = ("-" if symbol == "+" else "+"), right[1:]
            return f"{left} {symbol} {right}", precedence
        keywords = "".join(f", {k}={format_constant(v) if not isinstance(v, (Var, Const)) else self.expr(v)[0]}"
                           for k, v in params)
        return f"{symbol}({', '.join(self.expr(a)[0] for a in args)}{keywords})", _ATOM

    # ------------------------------------------------------------------- layouts
    # Numba types a variable once for the function: the join of the types of its definitions, found a
    # pass at a time, and never narrowed again.  A variable defined again in a loop is first typed from
    # its definition before the loop; if the loop's definition has another layout (a transpose 'F'
    # before, an elementwise result 'C' in the loop), its type widens to 'A' on a later pass.  An array
    # expression over it was then typed once with the first layout and once with the wider one ('F', then
    # 'C' for `x * Q` with Q 'F' then 'A'), and its result joins the two as 'A', which Numba cannot
    # allocate ("Don't know how to allocate array with layout 'A'").  So every array variable defined more
    # than once (and a parameter that is assigned) holds a C-contiguous array in every definition:
    # `np.ascontiguousarray` around a definition that may not be one (a no-op, at compile time, on an
    # array Numba types 'C'; a copy of a transpose or strided view, which are values here: ir.aliasing),
    # and its type never changes between passes.
    def _has_layout(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.is_array and t.ndim >= 1

    def contiguous(self, operand) -> bool:
        """Does Numba type this operand as a C-contiguous array, whatever the layouts of the arguments?"""
        if not isinstance(operand, Var):
            return False
        name = operand.name
        if name in self.one_layout:
            return True          # made so at each definition
        if name not in self._contiguous:
            self._contiguous[name] = False       # (a cycle: not known to be)
            defs = self.definitions.get(name, [])
            self._contiguous[name] = name not in self.function.params and len(defs) == 1 \
                and self.contiguous_definition(defs[0])
        return self._contiguous[name]

    def contiguous_definition(self, stmt) -> bool:
        """Is the array `stmt` defines C-contiguous in Numba's types?"""
        if isinstance(stmt, Pop):
            return True          # tapes hold copies, typed 'C' (tape_alloc)
        if not isinstance(stmt, Assign):
            return False
        if stmt.prim in _CONTIGUOUS_RESULTS:
            return True
        arrays = [a for a in stmt.args if self.is_array(a)]
        if stmt.prim in ("copy", "structural", "zeros_like", "ones_like", "empty_like"):
            return all(self.contiguous(a) for a in arrays)
        if stmt.prim == "expand_dims":       # a vector's one new axis keeps 'C' (np_expand_dims), else 'A'
            axes = dict(stmt.params).get("axes", ())
            axes = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
            return len(axes) == 1 and len(arrays) == 1 and self.types[arrays[0].name].ndim == 1 \
                and self.contiguous(arrays[0])
        spec = PRIMITIVES[stmt.prim]
        if spec.result in _ELEMENTWISE_RESULTS and arrays:
            template = spec.array if isinstance(spec.array, str) else None
            if template is not None and _UFUNC_SPELLING.fullmatch(template) and template != "np.clip":
                # a ufunc's result is 'C' when one operand is (npydecl.Numpy_rules_ufunc)
                return any(self.contiguous(a) for a in arrays)
            return all(self.contiguous(a) for a in arrays)
        return False

    # --------------------------------------------------------------- statements
    def plan_inlining(self, block: list) -> set:
        """Temporaries of this block to fold into their single use; returns their definitions."""
        folded = set()
        positions = {}
        for index, stmt in enumerate(block):
            for name in _header_reads(stmt):
                positions.setdefault(name, []).append(index)
        leaf_reads: dict[str, set] = {}
        raising: set = set()     # folded temporaries whose expression holds a statement kept for its error
        for i, stmt in enumerate(block):
            if not (isinstance(stmt, Assign) and is_temporary(stmt.target) and self.uses.get(stmt.target) == 1):
                continue
            if stmt.prim in ("zeros", "zeros_like", "ones", "empty", "empty_like", "array_copy", "full", "ones_like"):
                continue
            later = [j for j in positions.get(stmt.target, []) if j > i]
            if len(later) != 1:
                continue
            j = later[0]
            reads = set()
            for name in ir.operand_vars(stmt.args):
                reads |= leaf_reads.get(name, {name})
            reads.add(stmt.target)
            blocked = False
            for k in range(i + 1, j):
                if (ir.assigned_in([block[k]]) | set(ir.writes(block[k]))) & reads:
                    blocked = True
                    break
            # a use that reassigns the name (`t1_bar = t1_bar + t2`) would print the folded value under
            # the name it replaces (`t1_bar += t2`, reading a name never assigned): keep the definition
            if isinstance(block[j], (Pop,)) or stmt.target in ir.assigned_in([block[j]]):
                blocked = True
            if isinstance(block[j], Assign) and (_repeats_operand(block[j], stmt.target, self.types)
                                                 or self.checks_python_math(block[j])):
                blocked = True      # the template writes that operand twice: it must be a name
            # a statement that may raise (`error_effect`: a division, a math-module call) runs whatever the
            # use does with its value: not folded into an operand the use's spelling evaluates only on
            # one side of a condition (`np.where` of numbers, `(b if c else d)`; Python evaluates both)
            risky = stmt.error_effect or any(n in raising for n in ir.operand_vars(stmt.args))
            if risky and isinstance(block[j], Assign) and _lazy_operand(block[j], stmt.target, self.types):
                blocked = True
            if not blocked:
                folded.add(id(stmt))
                leaf_reads[stmt.target] = reads - {stmt.target}
                if risky:
                    raising.add(stmt.target)
        return folded

    def block(self, block: list, depth: int) -> list[str]:
        """The lines of a block; a block of comments only (its statements simplified away) gets a `pass`,
        so that whatever it is the body of still parses."""
        in_reverse = self.in_reverse
        try:
            lines = self._block(block, depth)
        finally:
            self.in_reverse = in_reverse      # a section marker inside a loop ends with the loop
        if lines and not _has_statement(lines):
            lines.append("    " * depth + "pass")
        return lines

    def _block(self, block: list, depth: int) -> list[str]:
        pad = "    " * depth
        lines: list[str] = []
        folded = self.plan_inlining(block)
        last_line = None
        for stmt in block:
            if id(stmt) in folded:
                self.trees[stmt.target] = self.tree_of(stmt)
                continue
            if isinstance(stmt, Comment):
                if not stmt.text.startswith(SYMBOLIC_NOTE):      # a note inside the reverse sweep
                    self.in_reverse = stmt.text.startswith("reverse")
                if lines:
                    lines.append("")
                lines += [f"{pad}# {part}" for part in stmt.text.split("\n")]
                last_line = None
                continue
            loc = getattr(stmt, "loc", None)
            if self.in_reverse and loc is not None and (loc.filename, loc.line, loc.via) != last_line:
                chain = []
                site = loc
                while site is not None:
                    chain.append(site)
                    site = site.via
                previous = last_line[2] if last_line else None
                for site in reversed(chain[1:]):
                    if site != previous and not (previous is not None and _within(previous, site)):
                        lines.append(f"{pad}# {self.describe(site)}")
                lines.append(f"{pad}# {self.describe(loc)}")
                last_line = (loc.filename, loc.line, loc.via)
            lines += self.statement(stmt, depth)
        return lines

    def describe(self, loc: ir.Loc) -> str:
        where = f"line {loc.line}" if loc.filename == self.function.filename \
            else f"{os.path.basename(loc.filename)} line {loc.line}"
        return f"{where}: {loc.text}" if loc.text else where

    def statement(self, stmt, depth: int) -> list[str]:
        return self.handlers[type(stmt)](self, stmt, depth)

    def assign(self, stmt: Assign, depth: int) -> list[str]:
        pad = "    " * depth
        if not self.compiled and stmt.prim in PRIMITIVES and PRIMITIVES[stmt.prim].compiled_only:
            return []                   # a check of Numba's ints: Python's are unbounded
        if stmt.accumulate:             # into the target's own array (optimise.accumulate proved it legal)
            prim, summand = stmt.prim, self.operand(stmt.args[1])
            if _tree_prim(summand) == "neg":    # x + -s is x - s exactly (IEEE), as `apply` prints it
                prim, summand = ("sub" if prim == "add" else "add"), _through_copies(summand)[1][0]
            symbol = PRIMITIVES[prim].scalar     # `+` or `-`, as `x += e` of numbers below
            rest = self.wrap(summand, _PRECEDENCE[symbol] + 1)
            return [f"{pad}{stmt.target} {symbol}= {rest}"]
        if self.compiled and self.fills_a_new_vector(stmt):
            return self.vector_into(stmt, depth)
        text, _ = self.expr(self.tree_of(stmt))
        if stmt.target in self.one_layout and not self.contiguous_definition(stmt) \
                and any(self.is_array(a) for a in stmt.args):
            # (a definition of no array operand is a number or a new array, never a view: a number must
            # stay one -- np.ascontiguousarray(2.0) is an array of shape (1,))
            self.modules.add("numpy")
            t = self.types[stmt.target]
            if stmt.prim in ("zeros_like", "ones_like", "empty_like") and t.dtype == "float64":
                # a new array of the shape, 'C' (np.zeros_like keeps a transpose's 'F')
                like = self.wrap(self.operand(stmt.args[0]), _ATOM)
                return [f"{pad}{stmt.target} = np.{stmt.prim[:-len('_like')]}({like}.shape)"]
            return [f"{pad}{stmt.target} = np.ascontiguousarray({text})"]
        # `x = x + e` reads better as `x += e`
        if stmt.prim in ("add", "sub", "mul") and stmt.args and stmt.args[0] == Var(stmt.target) \
                and not self.is_array(stmt.args[0]):
            symbol = PRIMITIVES[stmt.prim].scalar
            rest = self.wrap(self.operand(stmt.args[1]), _PRECEDENCE[symbol] + 1)
            return [f"{pad}{stmt.target} {symbol}= {rest}"]
        return [f"{pad}{stmt.target} = {text}{self.why_kept(stmt)}"]

    def why_kept(self, stmt) -> str:
        """A note on a statement nothing reads, kept for the error it raises where the function does."""
        return f"    # {KEPT_NOTE}" if id(stmt) in self.kept_for_errors else ""

    def comment(self, stmt: Comment, depth: int) -> list[str]:
        return ["    " * depth + f"# {stmt.text}"]

    def if_(self, stmt: If, depth: int, keyword: str = "if") -> list[str]:
        pad = "    " * depth
        cond = self.operand(stmt.cond)
        body, orelse = stmt.body, stmt.orelse
        if not body:
            text = f"not {self.wrap(cond, _PRECEDENCE['not'])}"
            body, orelse = orelse, []
        else:
            text = self.expr(cond)[0]
        lines = [f"{pad}{keyword} {text}:"]
        # a branch whose statements print nothing (`if a < b <= c: pass`, unsimplified) still needs a body
        lines += self.block(body, depth + 1) or [f"{pad}    pass"]
        if len(orelse) == 1 and isinstance(orelse[0], If) and orelse[0].body:
            lines += self.if_(orelse[0], depth, "elif")
        elif orelse:
            printed = self.block(orelse, depth + 1)
            if printed and not (printed[-1].strip() == "pass" and not _has_statement(printed[:-1])):
                lines += [f"{pad}else:"] + printed         # (an else of comments only is left out)
        return lines

    def for_(self, stmt: For, depth: int) -> list[str]:
        pad = "    " * depth
        if id(stmt) in self.plans:
            from .print_loops import planned_loop
            return planned_loop(self, self.plans[id(stmt)], depth)
        start, stop, step = (self.expr(self.operand(b))[0] for b in (stmt.start, stmt.stop, stmt.step))
        if step == "1":
            bounds = stop if start == "0" else f"{start}, {stop}"
        else:
            bounds = f"{start}, {stop}, {step}"
        lines = [f"{pad}for {stmt.index} in range({bounds}):"]
        body = self.block(stmt.body, depth + 1)
        if stmt.exit_flag:
            body += [f"{pad}    if {stmt.exit_flag}:", f"{pad}        break"]
        return lines + (body or [f"{pad}    pass"])

    def while_(self, stmt: While, depth: int) -> list[str]:
        pad = "    " * depth
        # fold the test's temporaries into the condition when they are used only there
        test = list(stmt.test)
        folded = self.plan_inlining(test + [If(stmt.cond, [], [])])
        remaining = []
        for s in test:
            if id(s) in folded:
                self.trees[s.target] = self.tree_of(s)
            else:
                remaining.append(s)
        lines = []
        if remaining:
            lines.append(f"{pad}while True:")
            for s in remaining:
                lines += self.statement(s, depth + 1)
            lines += [f"{pad}    if not {self.wrap(self.operand(stmt.cond), _PRECEDENCE['not'])}:",
                      f"{pad}        break"]
        else:
            lines.append(f"{pad}while {self.expr(self.operand(stmt.cond))[0]}:")
        body = self.block(stmt.body, depth + 1)
        if stmt.exit_flag:
            body += [f"{pad}    if {stmt.exit_flag}:", f"{pad}        break"]
        return lines + (body or [f"{pad}    pass"])

    handlers = {Assign: assign, Store: MemoryPrinter.store, TapeAlloc: MemoryPrinter.tape_alloc,
                Push: MemoryPrinter.push, Pop: MemoryPrinter.pop, Comment: comment,
                If: if_, For: for_, While: while_}

    # ------------------------------------------------------------------ module
    def module(self, header: str) -> str:
        fn = self.function
        body = self.block(fn.body, 1)
        returns = ", ".join(self.expr(self.operand(r))[0] for r in fn.returns)
        body.append("")
        body.append(f"    return {returns}")
        lines = [f'"""{header}"""']
        imports = []
        if "math" in self.modules:
            imports.append("import math")
        if "numpy" in self.modules or self.helpers:
            imports.append("import numpy as np")
        if self.parallel:
            imports += ["import numba", "from numba import prange"]
        if self.library_imports:
            from . import vecmath
            # a kernel's width is part of the text, hence of the cache key: another setting compiles anew
            width = f"    # {vecmath.describe()}" if self.library_imports - products.ANY_LAYOUT else ""
            imports.append("from autodiff_compiler.backend.library import " + ", ".join(sorted(self.library_imports)) + width)
        guard = _shape_guard(fn)
        if guard:
            imports.append("from autodiff_compiler.errors import ShapesDiffer")
        if imports:
            lines += [""] + imports
        for helper in runtime.HELPERS:      # in a fixed order, for deterministic output
            if helper in self.helpers:
                lines += ["", ""] + runtime.SOURCES[helper].rstrip().splitlines()
        for text in self.extra_functions:
            lines += ["", ""] + text.splitlines()
        lines += ["", "", f"def {fn.name}({', '.join(fn.params)}):"]
        lines += guard
        # a parameter the function assigns is made C-contiguous first, as its other definitions are
        lines += [f"    {name} = np.ascontiguousarray({name})" for name in fn.params if name in self.one_layout]
        lines += body
        return "\n".join(lines) + "\n"


def _shape_guard(fn: ir.Function) -> list:
    """The lines that check, on entry, what dispatch proved of the arrays' axes (`fn.param_dims`), which
    the shapes analysis may have used: another call's arrays get a program of their own."""
    conditions = guard_conditions(fn.param_dims)
    if any(name not in fn.params or (term != ONE and term[0] not in fn.params) for name, _, term in conditions):
        raise AssertionError(f"{fn.name}: the axes dispatch proved name arrays it does not take")
    if not conditions:
        return []
    tests, facts = [], []
    for name, axis, term in conditions:
        if term == ONE:
            tests.append(f"{name}.shape[{axis}] != 1")
            facts.append(f"{name}.shape[{axis}] == 1")
        else:
            tests.append(f"{name}.shape[{axis}] != {term[0]}.shape[{term[1]}]")
            facts.append(f"{name}.shape[{axis}] == {term[0]}.shape[{term[1]}]")
    lines = ["    # derived for arrays whose axes agree as tested here (a gradient object derives anew for others)"]
    test = " or ".join(tests)
    if len(test) > 90:
        test = "(\n            " + "\n            or ".join(tests) + ")"
    lines += [f"    if {test}:",
              f"        raise ShapesDiffer(\"{fn.name} was derived for arrays with {', '.join(facts)}\")"]
    return lines


def _negation_distributes(node) -> bool:
    """Is the leading minus of this expression's text the sign of the whole expression?  True for a
    negative constant or a negation, and for products and quotients whose first factor is one
    (-a * b == -(a * b) exactly); not for %, //, ** or anything else."""
    if isinstance(node, Const):
        return True
    if isinstance(node, tuple):
        prim, args = node[0], node[1]
        if prim == "neg":
            return True
        if prim in ("mul", "div"):
            return _negation_distributes(args[0])
    return False


def _argument_slot(template: str, k: int) -> bool:
    """Does every `{k}` in the template stand alone as an argument of a call (`f({k}, ...)`)?"""
    placeholder = "{%d}" % k
    start = template.find(placeholder)
    if start < 0:
        return True
    while start >= 0:
        before = template[:start].rstrip()
        after = template[start + len(placeholder):].lstrip()
        if not (before.endswith(("(", ",")) and after.startswith((")", ","))):
            return False
        start = template.find(placeholder, start + 1)
    return True


_COMPARED = {"lt", "le", "gt", "ge", "eq", "ne"}
# `runtime.int_float_compare`'s operation codes, and each comparison with its operands swapped
_COMPARISON_CODES = {"lt": 0, "le": 1, "gt": 2, "ge": 3, "eq": 4, "ne": 5}
_MIRRORED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _complex_constant_power(args) -> bool:
    """Are these a negative number and a fractional exponent, both constants (a complex power in Python)?"""
    base, exponent = args
    return isinstance(base, Const) and isinstance(exponent, Const) and not isinstance(base.value, bool) and \
        base.value < 0 and isinstance(exponent.value, float) and not exponent.value.is_integer()


def _negative_int(operand) -> bool:
    """Is `operand` a negative int constant (not a bool)?"""
    return isinstance(operand, Const) and type(operand.value) is int and operand.value < 0


_FLOAT_OR_COMPARED = _COMPARED | {"add", "sub", "mul", "div", "pow", "min", "max", "copy", "float"}


def _helper_source(name: str) -> str:
    return runtime.SOURCES[name]


def _template_of(stmt, types: dict) -> str:
    """The rule table's spelling of `stmt` (for its operands' kinds: numbers or arrays)."""
    arrays = any(isinstance(a, Var) and types.get(a.name) is not None and types[a.name].is_array
                 for a in stmt.args)
    return PRIMITIVES[stmt.prim].spelling(arrays, stmt.params, len(stmt.args))


def _repeats_operand(stmt, name: str, types: dict) -> bool:
    """Does the spelling of `stmt` write its operand `name` more than once?"""
    text = _template_of(stmt, types)
    if "{" not in text:
        return False
    for k, arg in enumerate(stmt.args):
        if arg == Var(name):
            count = text.count("{%d}" % k) + text.count("{args}") + (text.count("{rest}") if k else 0)
            if count > 1:
                return True
    return False


def _lazy_operand(stmt, name: str, types: dict) -> bool:
    """Does the spelling of `stmt` evaluate its operand `name` only on one side of a condition (`np.where`
    of numbers printed `(b if c else d)`: b and d; the condition itself always runs)?"""
    text = _template_of(stmt, types)
    if " if " not in text:
        return False
    condition = text.split(" if ", 1)[1].split(" else ", 1)[0]
    return any(arg == Var(name) and "{%d}" % k not in condition for k, arg in enumerate(stmt.args))


# primitives whose result Numba types 'C' whatever their operands' layouts
_CONTIGUOUS_RESULTS = {"zeros", "ones", "empty", "array_copy", "dot", "outer", "reshape", "eye", "arange",
                       "linspace_unit"}
# elementwise results whose layout follows their operands' (a stop_gradient ("first") prints as its operand,
# np.where ("where") as its own helper)
_ELEMENTWISE_RESULTS = ELEMENTWISE_RESULTS - {"first", "where"}
_UFUNC_SPELLING = re.compile(r"[-+*/%<>=!]+|\*\*|//|np\.[a-z_0-9]+")


def _definitions(function: ir.Function) -> dict:
    """Variable -> the statements that assign it (assignments and tape pops), in program order."""
    out: dict[str, list] = {}
    for stmt in ir.walk(function.body):
        if isinstance(stmt, (Assign, Pop)):
            out.setdefault(stmt.target, []).append(stmt)
    return out


def _header_reads(stmt) -> list[str]:
    """Variables a statement reads in its own header (not in nested blocks)."""
    if isinstance(stmt, While):
        return []
    return ir.reads(stmt)


def _use_counts(function: ir.Function) -> dict:
    counts: dict[str, int] = {}
    for stmt in ir.walk(function.body):
        for name in ir.reads(stmt):
            counts[name] = counts.get(name, 0) + 1
    for name in ir.operand_vars(function.returns):
        counts[name] = counts.get(name, 0) + 1
    return counts


def print_module(function: ir.Function, header: str, plans: dict | None = None, threads: int = 1,
                 compiled: bool = False) -> str:
    """The module's text; `compiled`: the text Numba compiles, with the rule table's `compiled` spellings
    (library functions) and the `plans` (`optimise.vectorise.plan_loops`): planned loops in blocks
    (vector calls) or chunks (`threads`: 1 runs them on the calling thread, else `prange`).  A variable
    named like one of the module's globals (`module_globals`: `matmul`, `sum_axis0`, `np`) would hide it
    inside the function: such a program is printed from a copy with those variables renamed (`matmul_`),
    parameters included (callers pass them by position), and without loop plans (they name the
    original's statements)."""
    clashes = _names_in(function) & module_globals()
    if clashes:
        function, plans = _renamed(function, clashes), None
    return ModulePrinter(function, plans, threads, compiled).module(header)


def _names_in(function: ir.Function) -> set:
    return set(function.params) | set(function.types) | ir.assigned_in(function.body) | ir.used_in(function.body)


def _renamed(function: ir.Function, clashes: set) -> ir.Function:
    """A copy of `function` with each name in `clashes` renamed to a fresh one."""
    import copy
    from ..ir.types import rename_statement
    names = Names(_names_in(function) | set(function.user_names))
    mapping = {name: names.fresh(f"{name}_") for name in sorted(clashes)}
    renamed = copy.deepcopy(function)
    for stmt in ir.walk(renamed.body):
        rename_statement(stmt, mapping)
    operand = lambda o: Var(mapping[o.name]) if isinstance(o, Var) and o.name in mapping else o
    renamed.params = [mapping.get(p, p) for p in renamed.params]
    renamed.types = {mapping.get(k, k): v for k, v in renamed.types.items()}
    renamed.returns = tuple(operand(r) for r in renamed.returns)
    renamed.result = operand(renamed.result) if renamed.result is not None else None
    renamed.param_dims = tuple((mapping.get(name, name), tuple(
        term if term == ONE else (mapping.get(term[0], term[0]), term[1]) for term in terms))
        for name, terms in renamed.param_dims)
    return renamed


@functools.cache
def module_globals() -> frozenset:
    """The names a generated module binds at its top level besides its own functions: its imports, the
    runtime helpers, the library's vector-math functions (any machine's) and products.  A variable of the
    function with one of these names would hide them inside it; the front end renames such locals."""
    from .vecmath import _TABLE
    vector = {f"{kind}{prim}" for prim in _TABLE for kind in ("v", "vector_")}
    return frozenset(runtime.HELPERS) | vector | products.ANY_LAYOUT | {"np", "math", "numba", "prange", "ShapesDiffer"}


def _within(loc, site) -> bool:
    """Is `site` one of the call sites `loc` was inlined through?"""
    while loc is not None:
        if loc == site:
            return True
        loc = loc.via
    return False
