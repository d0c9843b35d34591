"""The IR: structured, A-normal form, typed, every statement located in the source.

Takes: nothing (data definitions).  Guarantees:

* every right-hand side is one primitive applied to operands (`Var` or `Const`);
* control flow is structured (`If`, `For` over a range, `While`), never goto;
* every statement carries a `Loc` (file, line, source text) used for error
  messages and for the comments in generated code;
* `str(function)` prints a readable listing, used by tests and `--dump`.

The reverse pass adds three statement kinds that only adjoint programs hold:
`TapeAlloc`, `Push` and `Pop`, plus `Comment` markers for the printer.  The
front end adds `Region`s, calls of derivative objects (`@grad` functions),
which the `types` pass replaces by the derivative's own statements.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

__all__ = ['Type', 'FLOAT', 'INT', 'BOOL', 'array_of', 'join', 'Var', 'Const', 'Operand', 'ZERO_OF_KIND', 'Loc', 'Assign', 'Store', 'Slice', 'If', 'For', 'While', 'TapeAlloc', 'Push', 'Pop', 'Comment', 'Region', 'Stmt', 'Function', 'format_block', 'walk', 'child_blocks', 'rewrite_blocks', 'block_holding', 'operand_vars', 'integer_index', 'reads', 'writes', 'assigned_in', 'used_in']


# --------------------------------------------------------------------------- types

@dataclass(frozen=True, slots=True)
class Type:
    """float, int, bool, or a float array of rank `ndim` (`kind == "array"`)."""
    kind: str
    ndim: int = 0
    dtype: str = "float64"

    def __str__(self) -> str:
        if self.kind == "array":
            return f"{self.dtype}[{','.join(':' * self.ndim)}]" if self.ndim else f"{self.dtype}[]"
        return self.kind

    @property
    def is_float(self) -> bool:
        """Can carry a derivative: a float scalar or a float array."""
        return self.kind == "float" or (self.kind == "array" and self.dtype.startswith("float"))

    @property
    def is_array(self) -> bool:
        return self.kind == "array"

    @property
    def is_whole(self) -> bool:
        """An int or bool number, or an array of ints or bools."""
        return self.dtype.startswith(("int", "uint", "bool")) if self.kind == "array" else self.kind in ("int", "bool")


FLOAT = Type("float")
INT = Type("int")
BOOL = Type("bool")


def array_of(ndim: int, dtype: str = "float64") -> Type:
    return Type("array", ndim, dtype)


_SCALAR_RANK = {"bool": 0, "int": 1, "float": 2}


def join(a: Type | None, b: Type | None) -> Type | None:
    """The least type holding both: bool < int < float < float array (highest rank wins)."""
    if a is None:
        return b
    if b is None:
        return a
    if a.kind == "array" or b.kind == "array":
        ndim = max(a.ndim if a.kind == "array" else 0, b.ndim if b.kind == "array" else 0)
        floaty = any(t.kind == "float" or (t.kind == "array" and t.dtype.startswith("float")) for t in (a, b))
        if floaty:
            return array_of(ndim)
        # integer or boolean arrays, possibly mixed with scalars
        dtypes = [t.dtype for t in (a, b) if t.kind == "array"]
        return array_of(ndim, "int64" if "int64" in dtypes or a.kind == "int" or b.kind == "int" else dtypes[0])
    return a if _SCALAR_RANK[a.kind] >= _SCALAR_RANK[b.kind] else b


# ------------------------------------------------------------------------ operands

@dataclass(frozen=True, slots=True)
class Var:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Const:
    value: Union[float, int, bool]

    def __str__(self) -> str:
        return repr(self.value)


Operand = Union[Var, Const]

# the zero of each scalar kind, as a constant (a value started before its first assignment)
ZERO_OF_KIND = {"float": Const(0.0), "int": Const(0), "bool": Const(False)}


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a statement came from: file, line, and the source line's text."""
    filename: str
    line: int
    text: str = ""
    via: "Loc | None" = None     # for statements of an inlined function: the call's location

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}"


# ----------------------------------------------------------------------- statements

@dataclass(slots=True)
class Assign:
    """`target = prim(*args)`; `params` holds static keyword data (axis, keepdims).

    `inplace`: the user wrote an augmented assignment (`y += v`), which for an
    array changes the array object of `y` itself (every other name for it sees
    the change): the variable named here.  The IR rebinds the target, and
    `ir.aliasing` checks that nothing can tell the difference.

    `error_effect`: a statement the user wrote whose error is part of the
    function's meaning: an element read with an integer in its index (`x[k]`,
    `A[t, :]`: IndexError out of range), a division or modulo of numbers
    that may raise (`1.0 / k`: ZeroDivisionError).  Dead-code
    elimination keeps it although nothing needs its value (`ir.dataflow`), so
    that a derivative is never a number where the function raises.  Only the
    lowering sets it; statements the transforms make (adjoints,
    recomputations) index or divide where a marked statement already did.

    `accumulate`: printed `target += e` (or `-=`): the sum is written into the
    target's own array, which `optimise.accumulate` proved no other name can
    see (`inplace` names the target too, for the analyses asked later)."""
    target: str
    prim: str
    args: tuple
    loc: Loc | None = None
    params: tuple = ()
    inplace: str | None = None
    error_effect: bool = False
    accumulate: bool = False

    def __str__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params)
        return f"{self.target} = {self.prim}({', '.join(map(str, self.args))}{params})"


@dataclass(slots=True)
class Store:
    """`array[index] = value` (`prim == "copy"`) or `array[index] += value` (`prim == "add"`).

    `index` is a tuple of operands and `Slice`s, as `subscript` reads them;
    `error_effect` as for `Assign` (a store the user wrote with an integer in
    its index: kept although nothing reads the array after it)."""
    array: str
    index: tuple
    value: Operand
    prim: str = "copy"
    loc: Loc | None = None
    error_effect: bool = False

    def __str__(self) -> str:
        op = "=" if self.prim == "copy" else "+="
        return f"{self.array}[{', '.join(map(str, self.index))}] {op} {self.value}"


@dataclass(frozen=True, slots=True)
class Slice:
    """A slice in a subscript; `None` bounds are omitted, as in Python."""
    start: Operand | None = None
    stop: Operand | None = None
    step: Operand | None = None

    def __str__(self) -> str:
        text = f"{self.start if self.start is not None else ''}:{self.stop if self.stop is not None else ''}"
        return text + (f":{self.step}" if self.step is not None else "")


@dataclass(slots=True)
class If:
    cond: Operand
    body: list
    orelse: list
    loc: Loc | None = None


@dataclass(slots=True)
class For:
    """`for index in range(start, stop, step): body`.

    `exit_flag`: a bool variable; when it is True after an iteration the loop ends
    (how `break` and `return` inside loops are lowered).  In adjoint programs a
    forward loop and the loop that reverses it share a `pair` number, and the
    reversing one has `reverses=True`."""
    index: str
    start: Operand
    stop: Operand
    step: Operand
    body: list
    loc: Loc | None = None
    exit_flag: str | None = None
    pair: int | None = None
    reverses: bool = False


@dataclass(slots=True)
class While:
    """`while cond: body`, with `test` the statements computing `cond` before each trip."""
    test: list
    cond: Operand
    body: list
    loc: Loc | None = None
    exit_flag: str | None = None


@dataclass(slots=True)
class TapeAlloc:
    """Create an empty tape (a typed NumPy stack) named `tape` with room for `capacity` items."""
    tape: str
    dtype: str
    capacity: Operand
    growable: bool
    shape_of: str | None = None   # for array tapes: the variable whose values it holds (rank from its type)


@dataclass(slots=True)
class Push:
    tape: str
    value: Operand
    growable: bool = True
    loc: Loc | None = None


@dataclass(slots=True)
class Pop:
    tape: str
    target: str
    loc: Loc | None = None


@dataclass(slots=True)
class Comment:
    text: str


@dataclass
class Region:
    """A call of a derivative object inside differentiated code, until `types` expands it.

    `body` computes the called function's outputs (`outputs`) from `params`
    (the region's own variables, assigned before it); the region then stands
    for the derivative `kind` ("grad": the gradient of the single output with
    respect to the params named in `wrt`, the value first when `with_value`),
    assigned to `targets`.  `stub` holds one placeholder assignment per target
    (a gradient has its parameter's type, a value its output's), so that type
    inference sees the targets' types before the region is expanded."""
    kind: str
    params: list
    wrt: list
    with_value: bool
    body: list
    outputs: tuple
    targets: tuple
    stub: list
    loc: Loc | None = None
    name: str = ""


Stmt = Union[Assign, Store, If, For, While, TapeAlloc, Push, Pop, Comment, Region]


@dataclass
class Function:
    """A function in IR.  `result` is the returned operand (the primal's value);
    adjoint programs return `returns` (a tuple of operands) instead."""
    name: str
    params: list
    types: dict
    body: list
    result: Operand | None
    filename: str = "<unknown>"
    firstline: int = 0
    returns: tuple = ()
    docstring: str = ""
    user_names: frozenset = frozenset()
    # what dispatch proved of the array parameters' axes (`ir.shapes.dims_of_arguments`), which the
    # printed program checks on entry; () when the program is for any shapes
    param_dims: tuple = ()

    def __str__(self) -> str:
        sig = ", ".join(f"{p}: {self.types.get(p, '?')}" for p in self.params)
        lines = [f"def {self.name}({sig}):"]
        lines += format_block(self.body, 1)
        if self.returns:
            lines.append("    return " + ", ".join(map(str, self.returns)))
        elif self.result is not None:
            lines.append(f"    return {self.result}")
        return "\n".join(lines)


# -------------------------------------------------------------------------- helpers

def format_block(block: list, depth: int) -> list[str]:
    pad = "    " * depth
    out: list[str] = []
    for stmt in block:
        loc = getattr(stmt, "loc", None)
        suffix = f"    # line {loc.line}" if loc else ""
        if isinstance(stmt, If):
            out.append(f"{pad}if {stmt.cond}:{suffix}")
            out += format_block(stmt.body, depth + 1) or [pad + "    pass"]
            if stmt.orelse:
                out.append(f"{pad}else:")
                out += format_block(stmt.orelse, depth + 1)
        elif isinstance(stmt, For):
            extra = f" exit_flag={stmt.exit_flag}" if stmt.exit_flag else ""
            out.append(f"{pad}for {stmt.index} in range({stmt.start}, {stmt.stop}, {stmt.step}):{extra}{suffix}")
            out += format_block(stmt.body, depth + 1) or [pad + "    pass"]
        elif isinstance(stmt, While):
            out.append(f"{pad}while:{suffix}")
            out += format_block(stmt.test, depth + 2)
            out.append(f"{pad}    test {stmt.cond}")
            out += format_block(stmt.body, depth + 1) or [pad + "    pass"]
        elif isinstance(stmt, TapeAlloc):
            out.append(f"{pad}{stmt.tape} = tape({stmt.dtype}, {stmt.capacity})")
        elif isinstance(stmt, Push):
            out.append(f"{pad}push({stmt.tape}, {stmt.value})")
        elif isinstance(stmt, Pop):
            out.append(f"{pad}{stmt.target} = pop({stmt.tape})")
        elif isinstance(stmt, Comment):
            out.append(f"{pad}# {stmt.text}")
        elif isinstance(stmt, Assign) and stmt.accumulate:
            # summed into the target's own array (`optimise.accumulate`), as the module prints it
            operator = {"add": "+", "sub": "-"}[stmt.prim]
            out.append(f"{pad}{stmt.target} {operator}= {stmt.args[1]}{suffix}")
        elif isinstance(stmt, Region):
            targets = ", ".join(stmt.targets)
            out.append(f"{pad}{targets} = {stmt.kind}[{stmt.name} wrt {', '.join(stmt.wrt)}]"
                       f"({', '.join(stmt.params)}):{suffix}")
            out += format_block(stmt.body, depth + 1) or [pad + "    pass"]
            out.append(f"{pad}    -> {', '.join(map(str, stmt.outputs))}")
        else:
            out.append(f"{pad}{stmt}{suffix}")
    return out


def walk(block: list) -> Iterator:
    """Every statement of `block`, nested ones included, in program order."""
    for stmt in block:
        yield stmt
        for child in child_blocks(stmt):
            yield from walk(child)


def child_blocks(stmt) -> list:
    if isinstance(stmt, If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, For):
        return [stmt.body]
    if isinstance(stmt, While):
        return [stmt.test, stmt.body]
    if isinstance(stmt, Region):
        return [stmt.body, stmt.stub]
    return []


def rewrite_blocks(block: list, rewrite) -> list:
    """`rewrite(block)`, once every block nested in `block` has been replaced in place by its own
    rewrite (innermost first).  For passes that rebuild statement lists bottom-up: the recursion is
    here, so that their `rewrite` need not be a closure that calls itself (a reference cycle, which
    keeps what it reads alive until CPython's cyclic collector runs)."""
    for stmt in block:
        for child in child_blocks(stmt):
            child[:] = rewrite_blocks(child, rewrite)
    return rewrite(block)


def block_holding(block: list, stmt) -> list | None:
    """The statement list, `block` or one nested in it, that holds `stmt` itself (None: none does)."""
    if any(s is stmt for s in block):
        return block
    for s in block:
        for child in child_blocks(s):
            found = block_holding(child, stmt)
            if found is not None:
                return found
    return None


def integer_index(index) -> bool:
    """Does an index (operands and `Slice`s) hold an integer, which Python checks against the axis's
    length (a slice clamps, never raises)?"""
    return any(not isinstance(component, Slice) for component in index)


def operand_vars(operands) -> list[str]:
    names = []
    for op in operands:
        if isinstance(op, Var):
            names.append(op.name)
        elif isinstance(op, Slice):
            names += operand_vars([op.start, op.stop, op.step])
    return names


def reads(stmt) -> list[str]:
    """Variables a statement reads itself (not counting nested blocks)."""
    if isinstance(stmt, Assign):
        return operand_vars(stmt.args)
    if isinstance(stmt, Store):
        return [stmt.array] + operand_vars(stmt.index) + operand_vars([stmt.value])
    if isinstance(stmt, If):
        return operand_vars([stmt.cond])
    if isinstance(stmt, For):
        return operand_vars([stmt.start, stmt.stop, stmt.step])
    if isinstance(stmt, While):
        return operand_vars([stmt.cond])
    if isinstance(stmt, Push):
        return operand_vars([stmt.value]) + [stmt.tape]
    if isinstance(stmt, Pop):
        return [stmt.tape]
    if isinstance(stmt, TapeAlloc):
        return operand_vars([stmt.capacity]) + ([stmt.shape_of] if stmt.shape_of else [])
    return []


def writes(stmt) -> list[str]:
    """Variables a statement assigns itself (not counting nested blocks)."""
    if isinstance(stmt, Assign):
        return [stmt.target]
    if isinstance(stmt, Store):
        return [stmt.array]
    if isinstance(stmt, For):
        return [stmt.index]
    if isinstance(stmt, Pop):
        return [stmt.target, stmt.tape]
    if isinstance(stmt, Push):
        return [stmt.tape]
    if isinstance(stmt, TapeAlloc):
        return [stmt.tape]
    return []


def assigned_in(block: list) -> set[str]:
    names: set[str] = set()
    for stmt in walk(block):
        names.update(writes(stmt))
    return names


def used_in(block: list) -> set[str]:
    names: set[str] = set()
    for stmt in walk(block):
        names.update(reads(stmt))
        if isinstance(stmt, (For, While)) and stmt.exit_flag:
            names.add(stmt.exit_flag)
    return names
