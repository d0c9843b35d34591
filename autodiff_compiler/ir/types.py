"""Types: one type per variable, per argument signature.

Takes: an IR function (primal or adjoint) and the types of its parameters.
Guarantees:

* `infer_types` gives every variable one type (float, int, bool or a float
  array of rank n), the join over all its assignments, found by iterating to a
  fixed point; an int variable that later holds a float (`s = 0; s += x`) is a
  float, and its integer constants are rewritten as floats so the generated
  code types the same way under Numba;
* result types follow NumPy's rules for ranks (broadcasting, reductions,
  `dot` by operand ranks), in `array_result_type`.
"""
from __future__ import annotations

from . import nodes as ir
from ..errors import ArgumentError, AutodiffError, UnsupportedSyntaxError
from ..rules import PRIMITIVES
from .names import Names
from .nodes import BOOL, FLOAT, INT, Assign, Const, For, Pop, Slice, Type, Var, array_of, join


def type_of_operand(operand, types: dict) -> Type | None:
    if isinstance(operand, Var):
        return types.get(operand.name)
    if isinstance(operand, Const):
        value = operand.value
        return BOOL if isinstance(value, bool) else INT if isinstance(value, int) else FLOAT
    return None


def _elementwise(kind: str, arg_types: list) -> Type | None:
    """The type of an elementwise primitive's result, by its result kind (`rules.ELEMENTWISE_RESULTS`)."""
    arrays = [t for t in arg_types if t is not None and t.kind == "array"]
    all_bools = all(_is_bool(t) for t in arg_types)
    if arrays:
        ndim = max(t.ndim for t in arrays)
        if kind == "bool" or (kind == "extremum" and all_bools):
            return array_of(ndim, "bool")
        if kind in ("join", "first", "extremum"):
            acc = None
            for t in arg_types:
                acc = join(acc, t)
            return acc if acc.dtype != "bool" or kind == "first" else array_of(ndim, "int64")
        return array_of(ndim)
    if kind == "extremum" and all_bools:
        return BOOL
    if kind == "float":
        return FLOAT
    if kind == "bool":
        return BOOL
    if kind == "int":
        return INT
    if kind == "first":
        return arg_types[0]
    acc = None
    for t in arg_types:
        acc = join(acc, INT if t == BOOL else t)
    return acc


def result_type(stmt: Assign, types: dict) -> Type | None:
    arg_types = [type_of_operand(a, types) for a in stmt.args if not isinstance(a, ir.Slice)]
    prim = PRIMITIVES[stmt.prim]
    if callable(prim.result):
        found = prim.result(arg_types, dict(stmt.params))
        return Type(*found) if isinstance(found, tuple) else found
    if prim.result in ("float", "join", "extremum", "bool", "int", "first"):
        if any(t is None for t in arg_types[:1 if prim.result == "first" else None]):
            return None
        return _elementwise(prim.result, arg_types)
    if prim.result == "count":
        return INT
    if prim.result == "last":
        return arg_types[-1]
    if prim.result == "second":
        return arg_types[1]
    if prim.result == "pow":
        if any(t is None for t in arg_types):
            return None
        base, exponent = arg_types
        integral = base in (INT, BOOL) and exponent in (INT, BOOL)
        if integral and isinstance(stmt.args[1], Const) and stmt.args[1].value >= 0:
            return INT
        if any(t.is_array for t in arg_types) and all(_element_dtype(t) in ("int64", "bool") for t in arg_types):
            # NumPy's ints to an int power are ints (a negative exponent raises: `frontend.number_flags`)
            return array_of(max(t.ndim for t in arg_types if t.is_array), "int64")
        return _elementwise("float", arg_types)
    return array_result_type(stmt, prim, arg_types)


def infer_types(function: ir.Function, param_types: dict) -> dict:
    """Types of every variable of `function`, given its parameters' types."""
    types = dict(param_types)
    for _ in range(100):
        before = dict(types)
        for stmt in ir.walk(function.body):
            if isinstance(stmt, Assign):
                t = result_type(stmt, types)
                if t is not None:
                    types[stmt.target] = join(types.get(stmt.target), t) if stmt.target in types else t
            elif isinstance(stmt, For):
                types[stmt.index] = INT
            elif isinstance(stmt, Pop):
                pass
        if types == before:
            break
    else:  # pragma: no cover - the lattice is finite, so this only guards against a bug
        raise AutodiffError("type inference did not converge")
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign) and stmt.target not in types:
            loc = stmt.loc
            raise AutodiffError(f"cannot infer the type of {stmt.target!r}",
                                filename=loc.filename if loc else None, line=loc.line if loc else None,
                                source_line=loc.text if loc else None,
                                hint="give it a number or an array; tuples and other containers are not values")
    _float_constants(function.body, types)
    return types


def check_consistent(function: ir.Function) -> None:
    """One type per variable is what the generated code can have (Numba's rule): refuse, naming the
    lines, a variable that holds a number on one line and an array on another, and an index or range
    bound that holds a float (Python would index with it while it is an int)."""
    types = function.types

    def where(stmt):
        loc = stmt.loc
        return dict(filename=loc.filename, line=loc.line, source_line=loc.text) if loc else {}
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign):
            t, own = types.get(stmt.target), result_type(stmt, types)
            if t is not None and own is not None and t.is_array and not own.is_array:
                results = set(ir.operand_vars(list(function.returns) or [function.result]))
                if stmt.target in results:
                    raise ArgumentError(
                        f"{function.name} returns a number here and an array elsewhere: one function, one "
                        f"kind of result", **where(stmt),
                        hint="return a number on every path (a loss, for grad) or an array on every path "
                             "(for its derivatives, jacobian)")
                raise ArgumentError(
                    f"{stmt.target!r} holds a number here and an array elsewhere: one variable, one kind "
                    f"of value", **where(stmt),
                    hint=f"start it as an array (np.zeros_like(...)), or use two names")
        if isinstance(stmt, Assign) and stmt.prim in _BOOL_ARITHMETIC and stmt.args and all(
                _is_bool(type_of_operand(a, types)) for a in stmt.args):
            raise UnsupportedSyntaxError(
                f"{_BOOL_ARITHMETIC[stmt.prim]} of bools: Python's bools are the numbers 0 and 1 (True + True "
                f"is 2), NumPy's are logical values (np.True_ + np.True_ is True, and its bool arrays add "
                f"by logical or), and the compiled code cannot follow both", **where(stmt),
                hint="make them numbers first (int(a) + int(b), 1.0 * mask), or write the logic you mean "
                     "(a or b, a and b, np.where(...))", construct="arithmetic on bools")
        refused = dict(PRIMITIVES[stmt.prim].refused_kinds) if isinstance(stmt, Assign) and \
            stmt.prim in PRIMITIVES else {}
        for kind in [_kind(type_of_operand(a, types)) for a in stmt.args] if refused else ():
            if kind in refused:
                raise UnsupportedSyntaxError(
                    f"{refused[kind]}, which the derived code cannot follow", **where(stmt),
                    hint="make the operand a float first (x.astype(float), float(n)), or write what you mean",
                    construct=f"{PRIMITIVES[stmt.prim].name} of {kind}s")
        if isinstance(stmt, Assign) and stmt.inplace and _widens(types.get(stmt.inplace), types.get(stmt.target)):
            raise UnsupportedSyntaxError(
                f"{stmt.inplace} is an array of {types[stmt.inplace].dtype}, which NumPy changes in place only by "
                f"values of its own kind: the {types[stmt.target].dtype} result raises UFuncTypeError there",
                **where(stmt), hint=f"make {stmt.inplace} = {stmt.inplace} + ... a new array, or {stmt.inplace} a "
                                    f"float array (.astype(float))", construct="in-place arithmetic")
        indices = []
        if isinstance(stmt, Assign) and stmt.prim in ("subscript", "subscript_copy"):
            indices = ir.operand_vars(stmt.args[1:])
        elif isinstance(stmt, ir.Store):
            indices = ir.operand_vars(stmt.index)
        elif isinstance(stmt, For):
            indices = ir.operand_vars([stmt.start, stmt.stop, stmt.step])
        for name in indices:
            t = types.get(name)
            if t is not None and (t.kind == "float" or t.is_array and not t.dtype.startswith(("int", "bool"))):
                raise ArgumentError(
                    f"{name!r} is used as an index or a range bound here but holds a float elsewhere",
                    **where(stmt), hint=f"keep {name} an int throughout, or give the float its own name")


def _widens(held, made) -> bool:
    """Is `made` an array of a wider kind (bool < int < float) than the array `held` it is written into in
    place?  NumPy's same-kind casting refuses that (`a += 0.5` of an int array)."""
    def rank(t):
        return 0 if t.dtype == "bool" else 1 if t.dtype.startswith(("int", "uint")) else 2
    return held is not None and made is not None and held.is_array and made.is_array and rank(made) > rank(held)


# arithmetic whose meaning differs between Python's bools and NumPy's (`check_consistent` refuses it)
_BOOL_ARITHMETIC = {"add": "a sum", "sub": "a difference", "mul": "a product", "neg": "a negation"}


def _kind(t) -> str | None:
    """A type's kind of elements ("int", "bool", "float"), None when unknown."""
    if t is None or not t.is_array:
        return None if t is None else t.kind
    return "bool" if t.dtype == "bool" else "int" if t.dtype.startswith(("int", "uint")) else "float"


def _is_bool(t) -> bool:
    return t is not None and (t == BOOL or (t.is_array and t.dtype == "bool"))


def specialise(function: ir.Function, param_types: dict | None = None) -> bool:
    """Give primitives whose meaning depends on their operands' types their specific form:
    `np.dot` with a scalar operand is a product (NumPy's meaning), which has one rule and one spelling;
    `float(b)` of a bool is `1.0 * b` (Numba has no float() of a bool)."""
    changed = _float_parameters(function, param_types or {})
    changed = _check_element_powers(function) or changed
    changed = _float_powers(function, function.body, None, param_types or {}) or changed
    changed = _float_arrays(function, function.body) or changed
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign) and "axis" in dict(stmt.params) and stmt.prim.endswith("_axes"):
            _specialise_reduction(stmt, function.types)
            changed = True
        if isinstance(stmt, Assign) and stmt.prim == "float" and type_of_operand(stmt.args[0], function.types) == BOOL:
            # Numba has no float() of a bool; `1.0 * b` is the same number in Python and in Numba
            stmt.prim, stmt.args = "mul", (Const(1.0), stmt.args[0])
            changed = True
        if isinstance(stmt, Assign) and stmt.prim == "dot":
            ranks = [type_of_operand(a, function.types) for a in stmt.args]
            if any(t is not None and not t.is_array for t in ranks):
                stmt.prim = "mul"
                changed = True
    return changed


def _float_powers(function: ir.Function, block: list, names, param_types: dict) -> bool:
    """An integer to an integer power that may be negative is a float in Python (`2 ** -1 == 0.5`) and
    in this IR, but Numba computes it in integers (`2 ** -1 == 0`): its base becomes a float first
    (`float(k) ** m`), so that every path computes Python's value.  A constant exponent >= 0 keeps the
    integer power (`k ** 2` is an int).  A variable that is an int on some paths and a float on
    others is a float in Numba too (its types are unified where the paths meet), except a parameter,
    which Numba types by the int it is given: `_float_parameters` gives the body a float copy of it
    first.  A bool base keeps its power: its values (0 and 1) are the same either way, and Numba has
    no float() of a bool.

    Such a power of NumPy's ints raises ValueError for a negative exponent (NumPy's rule): where an
    operand is surely NumPy's and the front end put no check before it (a name of two types when it
    lowered, `k = iv[0]; k **= m`, one int here, after versioning), `int_power_check(m)` goes first
    (`frontend.number_flags.int_powers` has the others)."""
    changed = False
    surely_numpy = None
    k = 0
    while k < len(block):
        stmt = block[k]
        for child in ir.child_blocks(stmt):
            if _float_powers(function, child, names, param_types):
                changed = True
        if isinstance(stmt, Assign) and stmt.prim == "pow" and len(stmt.args) == 2:
            base, exponent = (type_of_operand(a, function.types) for a in stmt.args)
            whole = (INT, BOOL)
            if base == INT and exponent in whole and function.types.get(stmt.target) == FLOAT:
                surely_numpy = _surely_numpy(function) if surely_numpy is None else surely_numpy
                if any(isinstance(a, Var) and a.name in surely_numpy for a in stmt.args):
                    put, names = _put_int_power_check(function, block, k, names)
                    k += put
                operand = stmt.args[0]
                if isinstance(operand, Const):
                    stmt.args = (Const(float(operand.value)),) + stmt.args[1:]
                else:
                    if names is None:
                        names = Names(set(function.types) | set(function.params) | set(function.user_names))
                    converted = names.temp()
                    block.insert(k, Assign(converted, "float", (operand,), stmt.loc))
                    function.types[converted] = FLOAT
                    stmt.args = (Var(converted),) + stmt.args[1:]
                    k += 1
                changed = True
        k += 1
    return changed


def _float_arrays(function: ir.Function, block: list) -> bool:
    """An int or bool array (`np.array([k, 1])`, `np.zeros(n, dtype=int)`, NumPy's dtypes) assigned to a
    variable that is a float array on another line (`t = t * x` in a loop after it: NumPy's `t` is an
    int array until rebound) is made a float array there (`to_float`): Numba's one type per variable
    is the float array, and NumPy's values once the int array meets a float (exact below 2 ** 53)."""
    changed = False
    k = 0
    while k < len(block):
        stmt = block[k]
        for child in ir.child_blocks(stmt):
            changed = _float_arrays(function, child) or changed
        held = function.types.get(stmt.target) if isinstance(stmt, Assign) else None
        own = result_type(stmt, function.types) if held is not None and held.is_array else None
        if own is not None and own.is_array and held.dtype.startswith("float") and not own.dtype.startswith("float"):
            made = Names(set(function.types) | set(function.params) | set(function.user_names)).temp()
            block.insert(k + 1, Assign(stmt.target, "to_float", (Var(made),), stmt.loc))
            stmt.target = made
            function.types[made] = own
            changed, k = True, k + 1
        k += 1
    return changed


def _check_element_powers(function: ir.Function) -> bool:
    """A name of two types is a float in this IR (`k = iv[i]; k **= m` in a loop, where versioning gives no
    second name), but where every definition of it that reaches a power `k ** m` reads an element of an
    int array, it holds NumPy's int there, and `m` an int: NumPy raises ValueError for a negative `m`.
    `int_power_check(m)` goes first (unless one is there: `_float_powers`, `frontend.number_flags`)."""
    from . import dataflow
    pows = [s for s in ir.walk(function.body) if isinstance(s, Assign) and s.prim == "pow" and len(s.args) == 2
            and isinstance(s.args[0], Var) and type_of_operand(s.args[0], function.types) == FLOAT
            and type_of_operand(s.args[1], function.types) in (INT, BOOL)]
    if not pows or any(isinstance(s, ir.Region) for s in ir.walk(function.body)):
        return False        # (a region is expanded first: the types run again after it)
    facts = dataflow.of(function)

    def element_of_ints(definition) -> bool:
        stmt = facts.statement_at(definition) if isinstance(definition, int) else None
        if not (isinstance(stmt, Assign) and stmt.prim == "subscript" and isinstance(stmt.args[0], Var)):
            return False
        t = function.types.get(stmt.args[0].name)
        return t is not None and t.is_array and t.is_whole \
            and all(type_of_operand(a, function.types) in (INT, BOOL) for a in stmt.args[1:])

    checked = [s for s in pows if facts.reaching(s, s.args[0].name)
               and all(element_of_ints(d) for d in facts.reaching(s, s.args[0].name))]
    names, put = None, 0
    for stmt in checked:
        block = ir.block_holding(function.body, stmt)
        one, names = _put_int_power_check(function, block, next(i for i, s in enumerate(block) if s is stmt), names)
        put += one
    if put:
        dataflow.invalidate(function)
    return put > 0




def _surely_numpy(function: ir.Function) -> frozenset:
    """`ir.numbers.surely_numpy_numbers` of the function, its module data NumPy's."""
    from .numbers import surely_numpy_numbers
    facts = getattr(function, "facts", None)
    data = frozenset(d[0] for d in facts.data) if facts is not None else frozenset()
    return surely_numpy_numbers(function.body, function.types, function.params, data)


def _put_int_power_check(function: ir.Function, block: list, k: int, names):
    """`int_power_check(m)` of the power `block[k]`, put before it unless one is there already:
    (how many statements were put, the Names, made on first need)."""
    if k > 0 and isinstance(block[k - 1], Assign) and block[k - 1].prim == "int_power_check":
        return 0, names
    names = names or Names(set(function.types) | set(function.params) | set(function.user_names))
    stmt = block[k]
    block.insert(k, Assign(names.fresh("checked"), "int_power_check", (stmt.args[1],), stmt.loc))
    function.types[block[k].target] = BOOL
    return 1, names


def _float_parameters(function: ir.Function, param_types: dict) -> bool:
    """A parameter the caller gives as an int that the body also makes a float (`k **= m`, `k = k / 2`)
    is one variable of type float in this IR, but Numba types the parameter by the int it is given and
    computes `k ** m` in integers (0 for 2 ** -1): the body reads a float copy made on entry instead
    (`k_float = float(k)`), so that the parameter is an int and the variable a float, as Python has
    them."""
    changed = False
    renameable = (Assign, ir.Store, ir.If, For, ir.While, ir.Comment)
    if not all(isinstance(stmt, renameable) for stmt in ir.walk(function.body)):
        return False        # a Region (a call of a grad object) is expanded first; this runs again after it
    for p in function.params:
        if param_types.get(p) != INT or function.types.get(p) != FLOAT:
            continue
        names = Names(set(function.types) | set(function.params) | set(function.user_names))
        copy = names.fresh(f"{p}_float")
        mapping = {p: copy}
        for stmt in ir.walk(function.body):
            rename_statement(stmt, mapping)
        function.result = _renamed(function.result, mapping) if function.result is not None else None
        function.returns = tuple(_renamed(r, mapping) for r in function.returns)
        loc = function.body[0].loc if function.body and hasattr(function.body[0], "loc") else None
        function.body.insert(0, Assign(copy, "float", (Var(p),), loc))
        function.types[copy] = FLOAT
        function.types[p] = INT
        changed = True
    return changed


def _renamed(operand, mapping: dict):
    if isinstance(operand, Var) and operand.name in mapping:
        return Var(mapping[operand.name])
    if isinstance(operand, Slice):
        return Slice(*(_renamed(b, mapping) if b is not None else None for b in (operand.start, operand.stop, operand.step)))
    return operand


def rename_statement(stmt, mapping: dict) -> None:
    """Every read and write of a name in `mapping` in this statement (not its nested blocks) renamed."""
    if isinstance(stmt, ir.Push):
        stmt.tape, stmt.value = mapping.get(stmt.tape, stmt.tape), _renamed(stmt.value, mapping)
    elif isinstance(stmt, ir.Pop):
        stmt.tape, stmt.target = mapping.get(stmt.tape, stmt.tape), mapping.get(stmt.target, stmt.target)
    elif isinstance(stmt, ir.TapeAlloc):
        stmt.tape, stmt.capacity = mapping.get(stmt.tape, stmt.tape), _renamed(stmt.capacity, mapping)
        stmt.shape_of = mapping.get(stmt.shape_of, stmt.shape_of) if stmt.shape_of else stmt.shape_of
    elif isinstance(stmt, Assign):
        stmt.args = tuple(_renamed(a, mapping) for a in stmt.args)
        stmt.params = tuple((k, _renamed(v, mapping)) for k, v in stmt.params)
        stmt.inplace = mapping.get(stmt.inplace, stmt.inplace) if stmt.inplace else stmt.inplace
        stmt.target = mapping.get(stmt.target, stmt.target)
    elif isinstance(stmt, ir.Store):
        stmt.array = mapping.get(stmt.array, stmt.array)
        stmt.index = tuple(_renamed(i, mapping) for i in stmt.index)
        stmt.value = _renamed(stmt.value, mapping)
    elif isinstance(stmt, ir.If):
        stmt.cond = _renamed(stmt.cond, mapping)
    elif isinstance(stmt, For):
        stmt.start, stmt.stop, stmt.step = (_renamed(b, mapping) for b in (stmt.start, stmt.stop, stmt.step))
        stmt.index = mapping.get(stmt.index, stmt.index)
        if stmt.exit_flag:
            stmt.exit_flag = mapping.get(stmt.exit_flag, stmt.exit_flag)
    elif isinstance(stmt, ir.While):
        stmt.cond = _renamed(stmt.cond, mapping)
        if stmt.exit_flag:
            stmt.exit_flag = mapping.get(stmt.exit_flag, stmt.exit_flag)


def _specialise_reduction(stmt: Assign, types: dict) -> None:
    """`np.sum(x, axis=a, keepdims=k)` as written, against the rank of `x` now known: `sum_axes` with
    the axes resolved (sorted, non-negative), or the whole-array `sum` when every axis goes."""
    written = dict(stmt.params)
    axis, keep = written["axis"], bool(written["keepdims"])
    t = type_of_operand(stmt.args[0], types)
    rank = t.ndim if t is not None and t.is_array else 0
    loc = stmt.loc
    where = dict(filename=loc.filename, line=loc.line, source_line=loc.text) if loc else {}
    if rank == 0:
        raise ArgumentError(f"a reduction along an axis of a number ({stmt.args[0]})", **where,
                            hint="reduce arrays only, or drop the axis")
    listed = tuple(range(rank)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    for a in listed:
        if not -rank <= a < rank:
            raise ArgumentError(f"axis={a} is out of range for an array of rank {rank}", **where,
                                hint=f"an array of rank {rank} has axes 0 to {rank - 1} (or -1 to -{rank})")
    axes = tuple(sorted({a % rank for a in listed}))
    if len(axes) != len(listed):
        raise ArgumentError(f"axis={axis} names an axis twice", **where, hint="name each axis once")
    base = stmt.prim.rsplit("_axes", 1)[0]
    if len(axes) == rank and not keep:
        stmt.prim, stmt.params = base, ()       # every axis reduced: the whole-array reduction
        return
    stmt.params = (("axes", axes), ("keepdims", keep), ("ndim", rank))


def _float_constants(block: list, types: dict) -> None:
    """`s = 0` where `s` is a float becomes `s = 0.0`, so that Numba types `s` as we do."""
    for stmt in ir.walk(block):
        if isinstance(stmt, Assign) and stmt.prim == "copy" and isinstance(stmt.args[0], Const):
            value = stmt.args[0].value
            if types.get(stmt.target) == FLOAT and not isinstance(value, float):
                stmt.args = (Const(float(value)),)
            elif types.get(stmt.target) == INT and isinstance(value, bool):
                stmt.args = (Const(int(value)),)


def _element_dtype(t: Type) -> str:
    """The dtype of an array of `t`'s elements (`t` an array or a number)."""
    if t.is_array:
        return t.dtype
    return {"int": "int64", "bool": "bool"}.get(t.kind, "float64")


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
        # of arrays, NumPy's dtype of the two values (int64 of ints, bool of bools), not the condition's
        return array_of(ndim, _element_dtype(ir.join(*arg_types[1:3]))) if ndim else (acc or FLOAT)
    if first is None:
        return None
    if kind == "reduce":
        return FLOAT if first.dtype.startswith("float") or stmt.prim in ("mean",) or \
            stmt.prim.startswith("mean") else INT
    if kind == "reduce_extremum":           # the largest of bools is a bool
        return FLOAT if first.dtype.startswith("float") else ir.BOOL if first.dtype == "bool" else INT
    if kind == "dot":
        second = arg_types[1]
        if second is None:
            return None
        ranks = (first.ndim if first.is_array else 0, second.ndim if second.is_array else 0)
        if 0 in ranks:
            return ir.join(first, second)
        if max(ranks) > 2:
            loc = stmt.loc
            raise ArgumentError(f"np.dot / @ of arrays of rank {ranks[0]} and {ranks[1]}",
                                **(dict(filename=loc.filename, line=loc.line, source_line=loc.text) if loc else {}),
                                hint="write the contraction with np.einsum or np.tensordot")
        dtype = _element_dtype(ir.join(first, second))      # NumPy's: int64 of ints, bool of bools alone
        ndim = {(1, 1): 0, (2, 1): 1, (1, 2): 1, (2, 2): 2}[ranks]
        return array_of(ndim, dtype) if ndim else {"int64": INT, "bool": BOOL}.get(dtype, FLOAT)
    if kind == "outer":
        return array_of(2, _element_dtype(ir.join(first, arg_types[1])))
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
        return array_of(len(stmt.args), dict(stmt.params).get("dtype", "float64"))
    if kind == "like":
        return array_of(first.ndim, first.dtype) if first.is_array else FLOAT
    return None


