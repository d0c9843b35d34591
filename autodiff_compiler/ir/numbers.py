"""Numbers: which scalar variables may hold NumPy's numbers rather than Python's.

Takes: a list of statements (a function's body, before or after any
transform) and the variables' types.  Guarantees (`numpy_numbers`): the set
of scalar variables that may hold a NumPy number (`np.float64`, `np.int64`)
on some run, where the rest hold Python's.  The two divide differently:
Python's `1.0 / 0.0` (and `%`, `//`, `0.0 ** -2`) raises ZeroDivisionError,
NumPy's gives inf or nan with a warning.  So a division of numbers is
NumPy's when one of its operands may be NumPy's (`is_numpy_operand`): the
front end keeps only Python's for their error (`frontend.lower`,
`ir.Assign.error_effect`), and the module Numba compiles spells NumPy's with
NumPy's functions (`rules.Primitive.numpy_numbers`), which Numba computes as
NumPy does, where its operators raise as Python's do.

A variable may hold a NumPy number when some statement that writes it (the
least fixed point over every statement, without regard to order: a loop's
later trip reads what its earlier one wrote):

* reads an array and makes a number from it (an element, a reduction); not
  an axis length (`result="count"` in the rule table: `x.shape[0]` is
  Python's int);
* applies any primitive to a number that may be NumPy's (arithmetic on an
  element is NumPy's arithmetic: `np.float64(1.0) + 1` is an `np.float64`),
  but for a call of the math module's function (`math.sqrt(x[i])` is
  Python's float: `python_errors.MATH_MODULE_PARAM`) and the casts to
  Python's numbers (`python_number` in the rule table:
  `float(x[i])` is Python's float, and so is the float base
  `ir.types` makes of an int raised to an int that may be negative);
* pops a tape some push onto which pushes such a number.

A loop's index, a constant and a parameter passed as a number are Python's.

`numpy_spelling` is the one decision, asked by the printer and by the passes
that plan the compiled module's loops (`optimise.vectorise`: a statement so
spelled raises nothing, so its loop's trips may run in any order, on threads).
"""
from __future__ import annotations

from ..python_errors import MATH_MODULE_PARAM, checks_int64
from ..rules import PRIMITIVES, may_raise
from .nodes import Assign, Const, For, Pop, Push, Var, walk


def is_array_operand(operand, types: dict) -> bool:
    """Is this operand a variable of array type?"""
    return isinstance(operand, Var) and types.get(operand.name) is not None and types[operand.name].is_array


def scalar_kind(operand, types: dict) -> str | None:
    """"float", "int" or "bool" for a number (a constant, or a variable of that type); None for an array or
    an unknown type."""
    if isinstance(operand, Const):
        return "bool" if isinstance(operand.value, bool) else "int" if isinstance(operand.value, int) else "float"
    t = types.get(operand.name) if isinstance(operand, Var) else None
    return t.kind if t is not None and not t.is_array else None


def makes_numpy_number(prim: str, operands_array: list, operands_numpy: list, params=()) -> bool:
    """Does applying `prim` (with `params`) to operands (each an array or not, a NumPy number or not) make
    a number that may be NumPy's?  (The rule of the module's docstring, for one statement or one printed
    expression.)"""
    spec = PRIMITIVES.get(prim)
    if spec is not None and spec.custom:
        # a `@custom_derivative` function's value is its last operand, the body's result as it is
        # (`float(z)` there is Python's float, `z` NumPy's, whatever the other operands)
        operands_array, operands_numpy = operands_array[-1:], operands_numpy[-1:]
    if spec is not None and (spec.result == "count" or spec.python_number and not any(operands_array)):
        return False
    if MATH_MODULE_PARAM in tuple(params):
        return False        # the math module's functions give Python's float (`math.sqrt(v[0])`)
    return any(operands_array) or any(operands_numpy)


def value_operands(prim: str, args: tuple) -> tuple:
    """The operands whose kind of number the result of `prim` takes: all of them, but for a
    `@custom_derivative` function, whose value is its last operand, the body's result as it is."""
    spec = PRIMITIVES.get(prim)
    return tuple(args[-1:]) if spec is not None and spec.custom else tuple(args)


def selects_an_operand(prim: str) -> bool:
    """Is the result of `prim` of numbers one of its operands, as it is?  Python's `max(v[0], 0.0)` is
    the float 0.0 where that is the larger: Python's number although the other operand is NumPy's
    (`np.maximum` of numbers would be NumPy's; the rule table has one primitive for both, and a
    variable that may hold either kind is decided as the function runs, `frontend.number_flags`)."""
    return prim in ("min", "max")


def _least_fixed_point(body: list, types: dict, found: set, makes, holds) -> frozenset:
    """The scalar variables of `body` some statement may give a kind of number, grown from `found`
    until nothing changes (without regard to order: a loop's later trip reads what its earlier one
    wrote): an assignment where `makes(stmt, has)` (`has(operand)`: may the operand hold that kind
    now?), a pop of a tape some push onto which pushes an operand where `holds(operand, has)`."""
    assigns, pops, pushed = [], [], {}
    for stmt in walk(body):
        if isinstance(stmt, Assign):
            assigns.append(stmt)
        elif isinstance(stmt, Pop):
            pops.append(stmt)
        elif isinstance(stmt, Push):
            pushed.setdefault(stmt.tape, []).append(stmt.value)
    has = lambda a: isinstance(a, Var) and a.name in found                   # noqa: E731
    changed = True
    while changed:
        changed = False
        for stmt in assigns:
            if stmt.target not in found and not is_array_operand(Var(stmt.target), types) and makes(stmt, has):
                found.add(stmt.target)
                changed = True
        for stmt in pops:
            if stmt.target not in found and not is_array_operand(Var(stmt.target), types) and \
                    any(holds(v, has) for v in pushed.get(stmt.tape, ())):
                found.add(stmt.target)
                changed = True
    return frozenset(found)


def numpy_numbers(body: list, types: dict, module_data=frozenset()) -> frozenset:
    """The scalar variables of `body` that may hold NumPy's numbers (the module's docstring);
    `module_data`: names of hidden parameters holding module data (NumPy's, whatever their type)."""
    def makes(stmt, has):
        return makes_numpy_number(stmt.prim, [is_array_operand(a, types) for a in stmt.args],
                                  [has(a) for a in stmt.args], stmt.params)
    return _least_fixed_point(body, types, set(module_data), makes,
                              lambda v, has: has(v) or is_array_operand(v, types))


def python_numbers(body: list, types: dict, params, module_data=frozenset()) -> frozenset:
    """The scalar variables of `body` that may hold Python's numbers on some run: as `numpy_numbers`,
    an over-approximation (the least fixed point over every statement, without regard to order), so
    that a variable `numpy_numbers` finds and this does not surely holds NumPy's number, and one both
    find holds either, run by run (`frontend.number_flags` then tells them apart as the function runs).

    A variable may hold Python's number when it is a parameter passed as a number (not module data),
    a loop's index, or some statement that writes it makes one: a primitive whose result is Python's
    whatever its operands (an axis length, `float()`, `not`, a math-module call), or, with no array
    operand, one whose every operand may be Python's (a constant, or such a variable), or `min` or
    `max` of which one operand may be (`selects_an_operand`); or a pop of a tape some push onto which
    pushes such a number.  A `@custom_derivative` function's value is its last operand's kind."""
    found = {p for p in params if p not in module_data and not is_array_operand(Var(p), types)}
    found.update(stmt.index for stmt in walk(body) if isinstance(stmt, For))

    def makes(stmt, has):
        args = value_operands(stmt.prim, stmt.args)
        python = [isinstance(a, Const) or has(a) for a in args]
        arrays = [is_array_operand(a, types) for a in args]
        if not makes_numpy_number(stmt.prim, arrays, [True] * len(args), stmt.params):
            return True
        return not any(arrays) and (all(python) or selects_an_operand(stmt.prim) and any(python))
    return _least_fixed_point(body, types, found, makes, lambda v, has: isinstance(v, Const) or has(v))


def surely_numpy_numbers(body: list, types: dict, params, module_data=frozenset()) -> frozenset:
    """The scalar variables of `body` that surely hold NumPy's numbers: `numpy_numbers` finds them and
    `python_numbers` does not (NumPy's on some run, Python's on none)."""
    return numpy_numbers(body, types, module_data) - python_numbers(body, types, params, module_data)


def is_numpy_operand(operand, types: dict, found: frozenset) -> bool:
    """May this operand be an array or a NumPy number (`numpy_numbers`' set `found`)?"""
    return is_array_operand(operand, types) or (isinstance(operand, Var) and operand.name in found)


def numpy_spelling(prim: str, args: tuple, facts) -> str | None:
    """How the module Numba compiles spells `prim` applied to `args` when NumPy's meaning differs from
    Numba's operator (the rule table's `numpy_numbers`): where the statement may raise
    (`rules.may_raise`) and an operand may be NumPy's -- a float array, or, when no operand is an array,
    a number `numpy_numbers` finds.  None: the ordinary spelling (which may raise, as Python's does).
    `facts(operand)` -> (kind: "float"/"int"/"bool"/None, is an array, is a float array, may be NumPy's)."""
    spec = PRIMITIVES.get(prim)
    if spec is None or spec.numpy_numbers is None or not may_raise(prim, args):
        return None
    described = [facts(a) for a in args]
    arrays = any(d[1] for d in described)
    if not (any(d[2] for d in described) if arrays else any(d[3] for d in described)):
        return None
    return spec.numpy_spelling(tuple(d[0] for d in described), arrays)


def operand_facts(types: dict, found: frozenset):
    """`numpy_spelling`'s `facts` for the operands of statements (variables and constants)."""
    def facts(operand):
        if isinstance(operand, Var):
            t = types.get(operand.name)
            if t is None:
                return None, False, False, operand.name in found
            return t.kind, t.is_array, t.is_array and t.dtype.startswith("float"), operand.name in found
        value = getattr(operand, "value", None)
        kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float"
        return kind, False, False, False
    return facts


def raises_in_compiled(stmt, types: dict, found: frozenset) -> bool:
    """May this assignment raise in the module Numba compiles?  `rules.may_raise`, unless it is spelled
    as NumPy computes it there (`numpy_spelling`: inf or nan, no exception); a call from Python's math
    module the lowering marked (`error_effect`) is checked there as CPython checks it, and so is a
    division the lowering marked Python's (the printer spells it with the raising operator whatever
    `found` says of the derived code); arithmetic of Python's ints checked for 64 bits raises there too."""
    if checks_int64(stmt):
        return True         # Python's ints that may leave 64 bits: OverflowError there
    python = stmt.error_effect and not any(is_array_operand(a, types) for a in stmt.args)
    return may_raise(stmt.prim, stmt.args, stmt.error_effect) and (python or numpy_spelling(
        stmt.prim, stmt.args, operand_facts(types, found)) is None)


# the primitives that move, select, compare or count ints without computing new ones (or, the reductions,
# compute them in NumPy's 64-bit int whatever the operands' width): an int array of any width gives them
# what its int64 copy gives
_WIDTH_FREE = frozenset({
    "copy", "subscript", "subscript_copy", "slice_axis", "slice_offset", "reshape", "reshape_as", "transpose",
    "transpose_axes", "squeeze", "expand_dims", "expand_like", "concatenate", "array_copy", "array_from", "where",
    "min", "max", "amax", "amin", "amax_axes", "amin_axes", "clip", "sort", "diagonal", "tril", "triu",
    "stop_gradient", "as_python", "range_length", "range_check", "shape", "shape0", "shape1", "size",
    "count_axes", "int", "to_int", "to_float", "float", "sum", "np_sum", "sum_axes", "prod", "prod_axes", "cumsum",
    "mean", "mean_axes", "eq", "ne", "lt", "le", "gt", "ge", "not", "indicator", "assert_true", "int_power_check"})


# what carries no int value of its operands on: counts of their axes and comparisons
_NO_VALUES = frozenset({"shape", "shape0", "shape1", "size", "count_axes", "range_length", "range_check", "eq",
                        "ne", "lt", "le", "gt", "ge", "not", "indicator", "assert_true", "int_power_check"})
# products NumPy computes in the ints' own width, whatever type this IR gives their result
_INT_PRODUCTS = frozenset({"dot", "outer"})
# float-valued primitives NumPy computes in float64 of ints of any width (its other functions of ints alone
# take the smallest float that holds them: `np.sqrt`, `np.arctan2` of int8 ones are float16)
_FLOAT64_OF_INTS = frozenset({"div", "ieee_div"})


def int_parameter_uses(function) -> dict:
    """Parameter -> what the function computes from its int values (a number or an int array): "power"
    where they reach the base of `**`, or the exponent of an int base; "arithmetic" where they reach an
    int-valued statement other than the `_WIDTH_FREE` ones (`v[0] * v[0]`, `n - 1`, `-v`); "function"
    where they reach a float-valued function of ints alone (`np.sqrt(v)`, `np.arctan2(v[0], v[1])`; not
    a true division, nor one with a float operand: float64 in NumPy).  Through the int-valued
    statements they reach (and casts to float), over every statement without regard to order (a loop's
    later trip reads what an earlier one wrote): an over-approximation.  The API asks it of the
    arguments it converts to Python's ints or to int64 arrays, whose arithmetic differs from NumPy's
    there (an int8 array's wraps at 8 bits, `np.int64(2) ** -1` raises, `np.sqrt` of an int8 array is a
    float16 one)."""
    types = function.types

    def is_int(name) -> bool:
        t = types.get(name)
        return t is not None and (t.kind in ("int", "bool") or t.is_array and not t.dtype.startswith("float"))

    reach = {p: {p} for p in function.params if is_int(p)}
    uses: dict = {p: set() for p in reach}
    statements = [s for s in walk(function.body) if isinstance(s, Assign)]
    # floats made of ints: the base `ir.types` makes of `k ** m` for an m that may be negative
    of_ints = {s.target for s in statements if s.prim == "float" and is_int(getattr(s.args[0], "name", None))}

    def int_base(base) -> bool:
        # (a constant of an integral value: `float(2)` is folded to 2.0)
        return isinstance(base, Const) and float(base.value).is_integer() or isinstance(base, Var) and (
            is_int(base.name) or base.name in of_ints)

    def power_reached(stmt) -> set:
        """The parameters a power of ints reaches (NumPy's `k ** -1` raises for a NumPy int on either side)."""
        base, exponent = stmt.args
        found = set(reach.get(base.name, ())) if isinstance(base, Var) else set()
        if int_base(base) and isinstance(exponent, Var):
            found |= reach.get(exponent.name, set())
        return found

    changed = True
    while changed:
        changed = False
        for stmt in statements:
            sources = set().union(*(reach.get(a.name, ()) for a in stmt.args if isinstance(a, Var)))
            if not sources or stmt.prim in _NO_VALUES:
                continue
            if stmt.prim == "pow" and len(stmt.args) == 2:
                marked = {(p, "power") for p in power_reached(stmt)}
            else:
                of_ints_only = all(isinstance(a, Var) and is_int(a.name) and reach.get(a.name) or isinstance(a, Const)
                                   and type(a.value) in (int, bool) for a in stmt.args)
                use = ("arithmetic" if is_int(stmt.target) and stmt.prim not in _WIDTH_FREE or
                       stmt.prim in _INT_PRODUCTS and of_ints_only else
                       "function" if not is_int(stmt.target) and of_ints_only
                       and stmt.prim not in _WIDTH_FREE | _FLOAT64_OF_INTS else None)
                marked = {(p, use) for p in sources} if use is not None else set()
            for p, use in marked:
                if use not in uses[p]:
                    uses[p].add(use)
                    changed = True
            # (through a cast to float too: `ir.types` makes the float base of `k ** m` for an m that may be
            # negative, where NumPy's k raises)
            if (is_int(stmt.target) or stmt.prim == "float") and not sources <= reach.get(stmt.target, set()):
                reach[stmt.target] = reach.get(stmt.target, set()) | sources
                changed = True
    return {p: frozenset(u) for p, u in uses.items()}
