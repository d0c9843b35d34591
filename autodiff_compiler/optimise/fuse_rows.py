"""Fuse rows: a run of row-wise matrix statements -> one loop over the rows, for the module Numba compiles.

Takes: a typed adjoint `ir.Function` as it will be printed (after `audit`, before
`accumulate`; the pipeline hands it a copy made for the compiled module, so
the module users read keeps its array code), and the unary primitives the
compiled module computes through libmvec.  Guarantees: the same numbers (up
to the sign of a zero maximum, and the last bit of a vector function, as
`vectorise` has it), the same exceptions in the same order, and no
full-size temporary for a value the run makes and nothing after it reads.

A row-wise softmax and its adjoint -- `m = np.max(Z, axis=1, keepdims=True)`,
`E = np.exp(Z - m)`, row sums, `E * (1 / s * g)`, the spread of `m`'s
adjoint -- allocate an n x k array per primitive, and at 1000 x 100 those
temporaries cost more than the arithmetic (the allocator hands their pages
back after every call).  As one loop over the rows, each row's values are
numbers (a row's scalar: its maximum, its sum) or one row at a time (a
buffer of k numbers reused by every row); only what is read after the run
is written whole.  Inside a row, elementwise statements run in loops over
the row's entries (`for j in range(k)`), and a row's reduction is a fold in
the loop that makes its operand; a libmvec function of a whole row (`exp`)
is one vector call on the row between those loops.

Legality, asked of the shared analyses (`ir.shapes`, `ir.dataflow`):

* the run is consecutive top-level assignments, none written in place (no
  store, no `inplace`, no `accumulate`), none the user's effect but the
  numbers it moves before the loop;
* shapes: every array the run makes is a float64 matrix of class `(r, c)`
  or `(r, 1)` (one row term `r`, one column term `c`, neither 1), and every
  array operand a float64 array whose class broadcasts into `(r, c)` axis
  by axis: `(r|1, c|1)` or `(c|1,)` (`Shapes.key`: the same length on every
  run), read from before the run or made by it (a matrix);
* each primitive has a row form (`_ROW_FORMS`): elementwise ones whose
  spelling on numbers computes what the array spelling computes element by
  element and raises nothing (`_ON_NUMBERS`: a division is NumPy's, inf or
  nan at a zero divisor); reductions along axis 1 keeping it (sum, max, min:
  folds in the order the helpers `sum_axis1` / `amax_axis1` add and compare);
  `sum_like` / `expand_like` where the classes make them a copy, a row sum or
  a broadcast of a row's number; `spread_axes` along axis 1 (the helper's
  three passes over the row); a sum along axis 0 of a matrix of class
  `(r, c)`, added into a vector of zeros as each row is made (row after
  row, the order `sum_axis0` adds in), which no statement of the run reads
  (its class is `(c,)` or `(1, c)`, which no operand of a row statement
  has); a float array squared (`x ** 2`: NumPy's and Numba's `x * x`);
* definitions: every variable a statement reads has all its reaching
  definitions in the run (then the one before it: the run is straight-line)
  or none there (`Dataflow.reaching`); numbers that read nothing the run
  makes are computed before the loop, in order, if nothing in the run reads
  their variable before them (their effects -- a division by zero -- keep
  their order: the row loop raises nothing, and a maximum of rows of length
  0, which raises, is checked before the loop at its place in that order,
  by `empty_rows_check` of the run's row and entry counts);
* what is live after the run (`Dataflow.live_out`) is written into a new
  matrix, row by row (two such values hold one matrix only where the second
  statement as written may share the first's array, `dataflow.SHARING`: the
  audit has checked those); nothing the run reads is written by it, so
  reading row `i` at trip `i` reads what the statements as written read.
"""
from __future__ import annotations

import math

from .. import ir
from ..ir import Assign, Comment, Const, For, Store, Var, dataflow, shapes
from ..ir.nodes import BOOL, FLOAT, INT, array_of

ONE = shapes.ONE

# elementwise primitives a row loop computes on numbers: the primitive applied to the entries, which
# gives what the array primitive gives at each entry (Numba's math functions return inf and nan where
# NumPy's ufuncs do) and raises nothing; a division is NumPy's (`ieee_div`: inf or nan, no exception)
_ON_NUMBERS = {"add": "add", "sub": "sub", "mul": "mul", "neg": "neg", "div": "ieee_div",
               "exp": "exp", "log": "log", "tanh": "tanh", "sin": "sin", "cos": "cos", "sqrt": "sqrt",
               "expm1": "expm1", "log1p": "log1p", "abs": "abs", "square": "mul_self"}

_AXIS_ONE = ((1,), (-1,))


def _on_numbers(stmt):
    """The primitive on numbers that gives, entry by entry, what the statement's array primitive gives,
    or None.  A float array raised to the constant 2 is squared by NumPy (`x * x` at each entry, no
    `pow`), and by Numba's array expression: so it is on numbers."""
    if stmt.prim == "pow":
        exponent = stmt.args[1]
        squared = isinstance(exponent, Const) and type(exponent.value) in (int, float) and exponent.value == 2
        return "mul_self" if squared else None
    return _ON_NUMBERS.get(stmt.prim)


def fuse_rows(function: ir.Function, vector_functions: frozenset = frozenset()) -> bool:
    """Turn every legal, profitable run of row-wise statements into one loop over the rows (module
    docstring); True if any was.  `vector_functions`: the unary primitives the compiled module computes
    on whole arrays through libmvec (`optimise.vectorise.plan_array_calls`); a row of such a function
    is computed that way, between the loops over its entries, rather than entry by entry.  The runs are found on the program as written (one set of facts), then
    replaced from the last: a run's replacement changes nothing an earlier run was decided on."""
    body = function.body
    facts, classes = dataflow.of(function), shapes.of(function)
    runs, k = [], 0
    while k < len(body):
        run = _run_at(function, facts, classes, k)
        if run is None:
            k += 1
            continue
        runs.append((k, run))
        k += len(run.statements)
    if not runs:
        return False
    names = ir.Names(set(function.params) | {n for s in ir.walk(body) for n in ir.writes(s) + ir.reads(s)})
    built = [(k, run, _RowLoop(function, facts, classes, run, names, vector_functions).build()) for k, run in runs]
    for k, run, replacement in reversed(built):
        body[k:k + len(run.statements)] = replacement
    dataflow.invalidate(function)
    return True


# ------------------------------------------------------------------------------------------ the run

class _Run:
    """A run of statements body[k:k+len] over rows of class `rows` and columns of class `columns`: each
    statement's kind and row form (`_kind`), and the statements whose values are live after the run."""

    def __init__(self, statements, kinds, forms, rows, columns, source, live):
        self.statements, self.kinds, self.forms = statements, kinds, forms
        self.rows, self.columns, self.source, self.live = rows, columns, source, live


def _run_at(function, facts, classes, k):
    """The longest legal run from body[k] (module docstring), if it pays (it saves a full-size array)."""
    body, types = function.body, function.types
    first = body[k]
    terms = _terms_of_first(function, classes, first)
    if terms is None:
        return None
    rows, columns = terms
    statements, kinds, forms, made = [], [], [], set()
    for stmt in body[k:]:
        if isinstance(stmt, Comment):       # "reverse sweep": the run's own comment says what it is
            kind, form = "comment", None
        else:
            kind, form = _kind(function, facts, classes, stmt, rows, columns, made, statements)
            if kind is None:
                break
            made.add(id(stmt))
        statements.append(stmt)
        kinds.append(kind)
        forms.append(form)
    # numbers computed after the last row statement need no loop
    while kinds and kinds[-1] in ("number", "comment"):
        statements.pop()
        kinds.pop()
        forms.pop()
    if not statements:
        return None
    try:
        source = _source_matrix(function, facts, classes, statements, kinds, rows, columns)
    except shapes.Pending:
        return None
    if source is None:
        return None
    # the values read after the run: its last definition of each variable live there
    live_names = facts.live_out(statements[-1])
    last_def = {s.target: s for s in statements if isinstance(s, Assign)}
    live = {id(s) for s, kind in zip(statements, kinds)
            if kind in ("matrix", "row") and s.target in live_names and last_def[s.target] is s}
    # it pays when a matrix the run makes is read only inside it: the loop does not allocate it, and
    # Numba compiles a loop in about half the time of the array expression it replaces
    temporaries = [s for s, kind in zip(statements, kinds) if kind == "matrix" and id(s) not in live
                   and _makes_array(s)]
    if len([kind for kind in kinds if kind in ("matrix", "row")]) < 2 or not temporaries:
        return None
    return _Run(statements, kinds, forms, rows, columns, source, live)


def _makes_array(stmt) -> bool:
    """Does the statement as written allocate (not a copy, a view, or an operand summed into nothing)?"""
    return stmt.prim not in ("copy", "stop_gradient", "sum_like")


def _terms_of_first(function, classes, stmt):
    """(r, c): the row and column terms of the first statement's matrix operand or result."""
    if not isinstance(stmt, Assign):
        return None
    try:
        for operand in (Var(stmt.target),) + tuple(stmt.args):
            if not isinstance(operand, Var):
                continue
            t = function.types.get(operand.name)
            if t is None or not t.is_array or t.ndim != 2:
                continue
            cls = classes.definition_class(stmt) if operand.name == stmt.target else classes.key(stmt, operand)
            if cls is not None and len(cls) == 2 and ONE not in cls:
                return cls
    except shapes.Pending:
        return None
    return None


def _kind(function, facts, classes, stmt, rows, columns, made, before):
    """(kind, row form): "matrix" (a (r, c) result), "row" (an (r, 1) result), "number" (moved before the
    loop; no form), or (None, None): not in the run."""
    refused = (None, None)
    if not isinstance(stmt, Assign) or stmt.inplace or stmt.accumulate:
        return refused
    types = function.types
    result = types.get(stmt.target)
    made_reads = set()          # arrays the run makes (the numbers it makes are computed before the loop)
    for name in ir.operand_vars(stmt.args):
        defs = facts.reaching(stmt, name)
        inside = {d for d in defs if isinstance(d, int) and id(facts.statement_at(d)) in made}
        if inside and inside != defs:
            return refused
        t = types.get(name)
        if inside and t is not None and t.is_array:
            made_reads.add(name)
    if result is None:
        return refused
    if not result.is_array:
        return _number(facts, stmt, made_reads, before), None
    if _column_sum(function, classes, stmt, rows, columns):
        return "column", "column sum"
    if stmt.error_effect or result.ndim != 2 or result.dtype != "float64":
        return refused
    try:
        cls = classes.definition_class(stmt)
        if cls not in ((rows, columns), (rows, ONE)):
            return refused
        for a in stmt.args:
            if isinstance(a, Var) and not _operand_fits(function, facts, classes, stmt, a, rows, columns, made_reads):
                return refused
            if isinstance(a, Const) and type(a.value) not in (float, int):
                return refused
        form = _form(function, classes, stmt, rows, columns)
    except shapes.Pending:          # a class the analysis has not decided: nothing proved
        return refused
    if form is None:
        return refused
    return ("matrix" if cls == (rows, columns) else "row"), form


def _column_sum(function, classes, stmt, rows, columns) -> bool:
    """Is the statement the sum along axis 0 (keeping it or not) of a float64 matrix of class (r, c)?
    The loop adds each row in turn into a vector of zeros made before it, the order `sum_axis0` adds in.
    Nothing in the run reads the sum (its class is not one a row statement reads: `_operand_fits`)."""
    if stmt.prim != "sum_axes" or stmt.error_effect or not isinstance(stmt.args[0], Var):
        return False
    params = dict(stmt.params)
    if params.get("axes") not in ((0,), (-2,)) or params.get("ndim") != 2:
        return False
    operand = function.types.get(stmt.args[0].name)
    if operand is None or not operand.is_array or operand.dtype != "float64" \
            or function.types[stmt.target].dtype != "float64":
        return False
    try:
        return classes.key(stmt, stmt.args[0]) == (rows, columns)
    except shapes.Pending:
        return False


def _number(facts, stmt, made_reads, before):
    """A number reading nothing the run makes: moved before the loop when nothing in the run before it
    reads or defines its variable."""
    if made_reads:
        return None
    for earlier in before:
        if isinstance(earlier, Assign) and (stmt.target in ir.operand_vars(earlier.args)
                                            or earlier.target == stmt.target):
            return None
    return "number"


def _operand_fits(function, facts, classes, stmt, operand, rows, columns, made_reads) -> bool:
    t = function.types.get(operand.name)
    if t is None:
        return False
    if not t.is_array:
        return t.kind in ("float", "int")
    if t.dtype != "float64":
        return False
    cls = classes.key(stmt, operand)
    if operand.name in made_reads:
        return cls in ((rows, columns), (rows, ONE))
    if len(cls) == 2:
        return cls[0] in (rows, ONE) and cls[1] in (columns, ONE)
    return len(cls) == 1 and cls[0] in (columns, ONE)


def _form(function, classes, stmt, rows, columns):
    """The row form of the statement's primitive, if it has one for these operands."""
    if stmt.prim in ("copy", "stop_gradient"):
        return "same"
    if _on_numbers(stmt) is not None:
        return "elementwise"
    params = dict(stmt.params)
    if stmt.prim in ("sum_axes", "amax_axes", "amin_axes"):
        ok = params.get("axes") in _AXIS_ONE and params.get("keepdims") is True and params.get("ndim") == 2
        return "reduce" if ok and classes.key(stmt, stmt.args[0]) == (rows, columns) else None
    if stmt.prim == "spread_axes":
        ok = params.get("axes") in _AXIS_ONE and params.get("keepdims") is True and params.get("ndim") == 2
        x, g = stmt.args
        if ok and isinstance(x, Var) and isinstance(g, Var) and classes.key(stmt, x) == (rows, columns) \
                and classes.key(stmt, g) == (rows, ONE):
            return "spread"
        return None
    if stmt.prim == "sum_like":
        c, like = stmt.args
        if not (isinstance(c, Var) and isinstance(like, Var)):
            return None
        source, target = classes.key(stmt, c), classes.key(stmt, like)
        if source == target and source in ((rows, columns), (rows, ONE)):
            return "same"
        if source == (rows, columns) and target == (rows, ONE):
            return "row sum"
        return None
    if stmt.prim == "expand_like":
        g, like = stmt.args
        target = classes.key(stmt, like) if isinstance(like, Var) else None
        if target not in ((rows, columns), (rows, ONE)):
            return None
        return "same"       # g fits the class (shapes proved it: the result has like's class)
    return None


def _source_matrix(function, facts, classes, statements, kinds, rows, columns):
    """A matrix of class (r, c) read from before the run: its shape is the loop's (rows, entries)."""
    made = {id(s) for s in statements}
    for stmt in statements:
        for a in getattr(stmt, "args", ()):
            if not isinstance(a, Var):
                continue
            t = function.types.get(a.name)
            if t is None or not t.is_array or t.ndim != 2:
                continue
            defs = facts.reaching(stmt, a.name)
            if any(isinstance(d, int) and id(facts.statement_at(d)) in made for d in defs):
                continue
            if classes.key(stmt, a) == (rows, columns):
                return a.name
    return None


# ------------------------------------------------------------------------------------------ the loop

class _Loop:
    """One loop over a row's entries: the statements before it (folds start there, and numbers that
    need nothing it computes), its body, and each value's entry already read in it."""

    def __init__(self, index):
        self.index, self.before, self.body, self.elements = index, [], [], {}


_FOLD_START = {"sum_axes": 0.0, "amax_axes": -math.inf, "amin_axes": math.inf}
_FOLD_BETTER = {"amax_axes": "gt", "amin_axes": "lt"}


class _RowLoop:
    """Builds the statements replacing a run: what goes before the loop over the rows, the loop, and
    what names the run's live values after it.  A value the run makes is one of

    * ("element", loop, operand): a matrix's entry, defined in that loop over the entries;
    * ("number", operand): a row's number, defined in the row's body before what reads it;
    * ("fold", name, loop): a row's number a loop over the entries computes: read after that loop;
    * ("array", name): a matrix's row as a vector of its own (a vector function's result)."""

    def __init__(self, function, facts, classes, run, names, vector_functions=frozenset()):
        self.function, self.facts, self.classes, self.run, self.names = function, facts, classes, run, names
        self.vector_functions = vector_functions
        self.types = function.types
        self.loc = run.statements[0].loc
        # the arrays the run makes (its numbers are computed before the loop, read as themselves)
        self.made = {id(s) for s, kind in zip(run.statements, run.kinds) if kind in ("matrix", "row")}
        self.row = self._fresh("row", INT)
        self.rows_count, self.entries = self._fresh("n_rows", INT), self._fresh("n_entries", INT)
        self.before = []            # before the loop over the rows, in order
        self.row_top = []           # a row's numbers read from before the run, at the top of its body
        self.row_body = []          # the rest of the row's body
        self.loop = None            # the open loop over the entries
        self.value = {}             # id(stmt) -> its value (class docstring)
        self.buffers = {}           # id(stmt) -> the row buffer of a matrix read by a later loop
        self.outputs = {}           # id(stmt) -> (matrix, kind) of a value live after the run
        self.stored = {}            # a value (its key) -> the output (matrix, kind) already holding it
        self.row_numbers = {}       # name read from before the run -> its number in this row
        self.read_from = {}         # an entry read from an array -> (that array, its index for entry j)
        self.after = []

    # -------------------------------------------------------------------- the whole
    def build(self) -> list:
        run, loc = self.run, self.loc
        source = Var(run.source)
        self.before += [Assign(self.rows_count, "shape", (source,), loc, (("axis", 0),)),
                        Assign(self.entries, "shape", (source,), loc, (("axis", 1),))]
        for stmt, kind in zip(run.statements, run.kinds):
            if id(stmt) in run.live:
                self._output(stmt, kind)
        for stmt, kind, form in zip(run.statements, run.kinds, run.forms):
            if kind == "comment":
                continue
            if kind == "number":
                self.before.append(stmt)
                continue
            self._close_for(stmt)
            _ROW_FORMS[form](self, stmt, kind)
            if id(stmt) in self.outputs:
                self._store_output(stmt)
        self._close()
        lines = sorted({s.loc.line for s in run.statements if getattr(s, "loc", None) is not None
                        and getattr(s.loc, "line", None)})
        comment = Comment(f"line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}: one loop over the rows "
                          f"of {run.source} (a row's values are numbers, or one row at a time)")
        row_loop = For(self.row, Const(0), Var(self.rows_count), Const(1), self.row_top + self.row_body, loc)
        return [comment] + self.before + [row_loop] + self.after

    # -------------------------------------------------------------------- names and placement
    def _fresh(self, base, t):
        name = self.names.fresh(base, numbered=True)
        self.types[name] = t
        return name

    def _made_by(self, stmt, operand):
        """The run's statement whose value `stmt` reads from `operand`, or None (from before the run)."""
        if not isinstance(operand, Var):
            return None
        for d in self.facts.reaching(stmt, operand.name):
            if isinstance(d, int) and id(self.facts.statement_at(d)) in self.made:
                return self.facts.statement_at(d)
        return None

    def _open(self) -> _Loop:
        if self.loop is None:
            self.loop = _Loop(self._fresh("entry", INT))
        return self.loop

    def _close(self) -> None:
        loop, self.loop = self.loop, None
        if loop is not None:
            self.row_body += loop.before
            if loop.body:
                self.row_body.append(For(loop.index, Const(0), Var(self.entries), Const(1), loop.body, self.loc))

    def _close_for(self, stmt) -> None:
        """Close the open loop if the statement reads a number it folds (known only after it)."""
        for a in stmt.args:
            made = self._made_by(stmt, a)
            if made is not None and self.value[id(made)][0] == "fold" and self.value[id(made)][2] is self.loop:
                self._close()
                return

    def _number(self, assign) -> None:
        """Place a row's number: before the open loop (it reads nothing that loop computes), else in the
        row's body."""
        (self.loop.before if self.loop is not None else self.row_body).append(assign)

    # -------------------------------------------------------------------- reading operands
    def _is_number(self, operand) -> bool:
        if not isinstance(operand, Var):
            return True
        t = self.types.get(operand.name)
        return t is None or not t.is_array

    def _number_of(self, stmt, operand):
        """The row's number an operand of class (r, 1), (1, 1), (1,), or a number, stands for."""
        if self._is_number(operand):
            return operand
        made = self._made_by(stmt, operand)
        if made is not None:
            return _number_in(self.value[id(made)])
        if operand.name not in self.row_numbers:
            cls = self.classes.key(stmt, operand)
            index = (Var(self.row) if cls[0] != ONE else Const(0),) + ((Const(0),) if len(cls) == 2 else ())
            number = self._fresh(f"{operand.name}_i", FLOAT)
            self.row_top.append(Assign(number, "subscript", (operand,) + index, self.loc))
            self.row_numbers[operand.name] = number
        return Var(self.row_numbers[operand.name])

    def _element_of(self, stmt, operand):
        """Entry j of the row the operand stands for, in the open loop (a number stands for itself)."""
        if self._is_number(operand):
            return operand
        made = self._made_by(stmt, operand)
        if made is not None:
            value = self.value[id(made)]
            if value[0] == "array":
                return self._entry_of_vector(value[1], ("made", id(made)))
            if value[0] != "element":
                return _number_in(value)
            loop = self._open()
            if value[1] is loop:
                return value[2]
            key = ("made", id(made))
            if key not in loop.elements:
                array, index = self._kept(made)
                element = self._fresh(f"{made.target}_j", FLOAT)
                loop.body.append(Assign(element, "subscript", (Var(array),) + index(Var(loop.index)), self.loc))
                loop.elements[key] = Var(element)
                self.read_from[element] = (array, index)
            return loop.elements[key]
        cls = self.classes.key(stmt, operand)
        if cls[-1] == ONE:
            return self._number_of(stmt, operand)
        loop = self._open()
        key = ("read", operand.name)
        if key not in loop.elements:
            j = Var(loop.index)
            index = ((Var(self.row) if cls[0] != ONE else Const(0)), j) if len(cls) == 2 else (j,)
            element = self._fresh(f"{operand.name}_j", FLOAT)
            loop.body.append(Assign(element, "subscript", (operand,) + index, self.loc))
            loop.elements[key] = Var(element)
            row = index[0] if len(index) == 2 else None
            self.read_from[element] = (operand.name, (lambda j: (row, j)) if row is not None else (lambda j: (j,)))
        return loop.elements[key]

    def _entry_of_vector(self, vector: str, key):
        loop = self._open()
        if key not in loop.elements:
            element = self._fresh(f"{vector}_j", FLOAT)
            loop.body.append(Assign(element, "subscript", (Var(vector), Var(loop.index)), self.loc))
            loop.elements[key] = Var(element)
        return loop.elements[key]

    def _row_vector(self, stmt, operand):
        """The operand's row as a vector (a row buffer it is kept in, or a view of the row of a matrix
        from before the run), complete: the loop making it is closed."""
        made = self._made_by(stmt, operand)
        if made is not None and self.value[id(made)][0] == "array":
            return self.value[id(made)][1]
        if made is not None:
            array, index = self._kept(made)
            if self.loop is not None and self.value[id(made)][0] == "element" and self.value[id(made)][1] is self.loop:
                self._close()
            where = index(Const(0))
            if len(where) == 1:
                return array            # a row buffer
            # a row of a matrix: an output's, or of the matrix from before the run a copy reads
            view = self._fresh(f"{made.target}_row_view", array_of(1))
            self.row_body.append(Assign(view, "subscript", (Var(array), where[0]), self.loc))
            return view
        self._close()
        view = self._fresh(f"{operand.name}_row", array_of(1))
        self.row_top.append(Assign(view, "subscript", (operand, Var(self.row)), self.loc))
        return view

    def _kept(self, made):
        """Where a matrix the run made is read by a later loop: its output's row, or a row buffer
        (allocated once before the loop over the rows, stored into at the end of the loop making it)."""
        if id(made) in self.outputs:
            return self.outputs[id(made)][0], lambda j: (Var(self.row), j)
        element = self.value[id(made)][2]
        if isinstance(element, Var) and element.name in self.read_from:
            return self.read_from[element.name]     # a copy of what a row of an array already holds
        if id(made) not in self.buffers:
            _, home, element = self.value[id(made)]
            buffer = self._fresh(f"{made.target}_row", array_of(1))
            self.before.append(Assign(buffer, "empty", (Var(self.entries),), self.loc))
            home.body.append(Store(buffer, (Var(home.index),), element, "copy", self.loc))
            self.buffers[id(made)] = buffer
        return self.buffers[id(made)], lambda j: (j,)

    # -------------------------------------------------------------------- what is live after the run
    def _output(self, stmt, kind) -> None:
        """A value live after the run: a new matrix, written row by row where the value is made."""
        matrix = stmt.target
        if self._reads_before(stmt):    # the run reads the variable's array from before it: a matrix of its own
            matrix = self._fresh(f"{stmt.target}_rows", array_of(2))
            self.after.append(Assign(stmt.target, "copy", (Var(matrix),), self.loc))
        shape = (Var(self.rows_count), Var(self.entries) if kind == "matrix" else Const(1))
        self.before.append(Assign(matrix, "empty", shape, self.loc))
        self.types[matrix] = array_of(2)
        self.outputs[id(stmt)] = (matrix, kind)

    def _reads_before(self, stmt) -> bool:
        """Does the run read the array the statement's variable holds before the run?"""
        return any(isinstance(s, Assign) and stmt.target in ir.operand_vars(s.args)
                   and self._made_by(s, Var(stmt.target)) is None for s in self.run.statements)

    def _store_output(self, stmt) -> None:
        matrix, kind = self.outputs[id(stmt)]
        value = self.value[id(stmt)]
        # a value another output already holds (`t11 = copy(t10)`, both read after the run): that matrix,
        # as the copy as written shares its array
        key = (value[0], id(value[1]) if value[0] == "element" else None, str(value[-1]))
        # only where the statement as written may share its operand's array (`dataflow.SHARING`: a copy,
        # `sum_like` of equal shapes), which the audit has checked no write through either name breaks;
        # `expand_like` makes an array of its own
        if key in self.stored and self.stored[key][1] == kind and stmt.prim in dataflow.SHARING:
            other = self.stored[key][0]
            self.before = [s for s in self.before if not (isinstance(s, Assign) and s.target == matrix
                                                          and s.prim == "empty")]
            self.after = [s for s in self.after if not (isinstance(s, Assign) and s.args == (Var(matrix),))]
            self.after.append(Assign(stmt.target, "copy", (Var(other),), self.loc))
            self.outputs[id(stmt)] = (other, kind)
            return
        self.stored[key] = (matrix, kind)
        if kind == "row":
            number = _number_in(value)
            if value[0] == "fold" and value[2] is self.loop:
                self._close()
            self._number(Store(matrix, (Var(self.row), Const(0)), number, "copy", self.loc))
            return
        if value[0] == "element":
            _, home, element = value
            home.body.append(Store(matrix, (Var(self.row), Var(home.index)), element, "copy", self.loc))
            return
        if value[0] == "array":
            element = self._entry_of_vector(value[1], ("made", id(stmt)))
            self.loop.body.append(Store(matrix, (Var(self.row), Var(self.loop.index)), element, "copy", self.loc))
            return
        number = _number_in(value)
        if value[0] == "fold" and value[2] is self.loop:
            self._close()
        loop = self._open()
        loop.body.append(Store(matrix, (Var(self.row), Var(loop.index)), number, "copy", self.loc))

    # -------------------------------------------------------------------- the row forms
    def _elementwise(self, stmt, kind) -> None:
        prim = _on_numbers(stmt)
        if kind == "row":
            args = tuple(self._number_of(stmt, a) for a in stmt.args)
            number = self._fresh(f"{stmt.target}_i", FLOAT)
            self._number(self._apply(number, prim, args))
            self.value[id(stmt)] = ("number", Var(number))
            return
        if stmt.prim in self.vector_functions and len(stmt.args) == 1 and isinstance(stmt.args[0], Var) \
                and self.types[stmt.args[0].name].is_array and self._full_row(stmt, stmt.args[0]):
            # a vector function of a whole row: computed on the row at once, several lanes at a time
            # (libmvec, `vectorise.plan_array_calls`), between the loops over the row's entries
            vector = self._row_vector(stmt, stmt.args[0])
            self._close()
            result = self._fresh(f"{stmt.target}_row", array_of(1))
            self.row_body.append(Assign(result, stmt.prim, (Var(vector),), self.loc))
            self.value[id(stmt)] = ("array", result)
            return
        args = tuple(self._element_of(stmt, a) for a in stmt.args)
        loop = self._open()
        element = self._fresh(f"{stmt.target}_j", FLOAT)
        loop.body.append(self._apply(element, prim, args))
        self.value[id(stmt)] = ("element", loop, Var(element))

    def _full_row(self, stmt, operand) -> bool:
        """Is the operand a matrix of the run's class (r, c), each row a vector of entries (not a row's
        number the run broadcasts)?"""
        made = self._made_by(stmt, operand)
        if made is not None and self.value[id(made)][0] not in ("element", "array"):
            return False
        return self.classes.key(stmt, operand) == (self.run.rows, self.run.columns)

    def _apply(self, target, prim, args):
        if prim == "mul_self":
            return Assign(target, "mul", (args[0], args[0]), self.loc)
        return Assign(target, prim, args, self.loc)

    def _same(self, stmt, kind) -> None:
        """A copy, or `sum_like` / `expand_like` that the classes make one: the operand's value."""
        operand = stmt.args[0]
        if kind == "row":
            self.value[id(stmt)] = ("number", self._number_of(stmt, operand))
            return
        made = self._made_by(stmt, operand)
        if made is not None and self.value[id(made)][0] != "element":
            self.value[id(stmt)] = self.value[id(made)]
            return
        element = self._element_of(stmt, operand)
        if isinstance(element, Var) and element.name in self.types and not self.types[element.name].is_array \
                and self.loop is not None and any(isinstance(s, Assign) and s.target == element.name
                                                  for s in self.loop.body):
            self.value[id(stmt)] = ("element", self.loop, element)
        else:
            self.value[id(stmt)] = ("number", element)

    def _fold(self, operand_stmt, operand, prim, name) -> str:
        """A fold of the operand's entries in the open loop (`prim`: sum_axes, amax_axes, amin_axes); its
        accumulator's name.  The sum adds in order from 0.0, as `sum_axis1` does; the maximum keeps the
        first NaN, else the largest entry, as `amax_axis1` finds it."""
        element = self._element_of(operand_stmt, operand)
        loop = self._open()
        total = self._fresh(name, FLOAT)
        loop.before.append(Assign(total, "copy", (Const(_FOLD_START[prim]),), self.loc))
        if prim == "sum_axes":
            loop.body.append(Assign(total, "add", (Var(total), element), self.loc))
            return total
        better, kept, nan = self._fresh("better", BOOL), self._fresh("kept", FLOAT), self._fresh("nan", BOOL)
        loop.body += [Assign(better, _FOLD_BETTER[prim], (element, Var(total)), self.loc),
                      Assign(kept, "where", (Var(better), element, Var(total)), self.loc),
                      Assign(nan, "ne", (element, element), self.loc),
                      Assign(total, "where", (Var(nan), element, Var(kept)), self.loc)]
        return total

    def _reduce(self, stmt, kind) -> None:
        if stmt.prim in _FOLD_BETTER:
            self._guard(stmt)
        total = self._fold(stmt, stmt.args[0], stmt.prim, f"{stmt.target}_i")
        self.value[id(stmt)] = ("fold", total, self.loop)

    def _row_sum(self, stmt, kind) -> None:
        total = self._fold(stmt, stmt.args[0], "sum_axes", f"{stmt.target}_i")
        self.value[id(stmt)] = ("fold", total, self.loop)

    def _column(self, stmt, kind) -> None:
        """A sum along axis 0: each entry of each row added, row after row, into a vector of zeros (a row
        of zeros where the axis is kept), its own array unless the run reads the variable's array from
        before it."""
        target = stmt.target
        if self._reads_before(stmt):
            target = self._fresh(f"{stmt.target}_sums", self.types[stmt.target])
            self.after.append(Assign(stmt.target, "copy", (Var(target),), self.loc))
        kept = dict(stmt.params).get("keepdims") is True
        self.before.append(Assign(target, "zeros", ((Const(1),) if kept else ()) + (Var(self.entries),), self.loc))
        element = self._element_of(stmt, stmt.args[0])
        loop = self._open()
        index = ((Const(0),) if kept else ()) + (Var(loop.index),)
        loop.body.append(Store(target, index, element, "add", self.loc))
        self.value[id(stmt)] = ("column", target)

    def _guard(self, stmt) -> None:
        """np.max / np.min along axis 1 raises for rows of length 0 (when there are rows); the fold would
        not: `empty_rows_check` of the run's row and entry counts, before the loop, in its place among the
        numbers computed there, raises exactly then (the message of `amax_axis1` / `amin_axis1`)."""
        probe = self._fresh("rows_checked", BOOL)
        self.before.append(Assign(probe, "empty_rows_check", (Var(self.rows_count), Var(self.entries)), self.loc,
                                  (("largest", stmt.prim == "amax_axes"),), error_effect=True))

    def _spread(self, stmt, kind) -> None:
        """The helper's three passes over each row: its extremum, how many entries equal it, and the
        row's cotangent split evenly among those (NaN throughout a row whose extremum is NaN)."""
        x, g = stmt.args
        largest = dict(stmt.params)["largest"]
        gradient = self._number_of(stmt, g)
        best = self._fold(stmt, x, "amax_axes" if largest else "amin_axes", "extremum")
        self._close()
        element = self._element_of(stmt, x)
        loop = self._open()
        ties, equal, one = self._fresh("ties", FLOAT), self._fresh("equal", BOOL), self._fresh("tie", FLOAT)
        loop.before.append(Assign(ties, "copy", (Const(0.0),), self.loc))
        loop.body += [Assign(equal, "eq", (element, Var(best)), self.loc),
                      Assign(one, "indicator", (Var(equal),), self.loc),
                      Assign(ties, "add", (Var(ties), Var(one)), self.loc)]
        self._close()
        none, share, rest = self._fresh("no_ties", BOOL), self._fresh("share", FLOAT), self._fresh("rest", FLOAT)
        quotient = self._fresh("quotient", FLOAT)
        self.row_body += [Assign(none, "eq", (Var(ties), Const(0.0)), self.loc),
                          Assign(quotient, "ieee_div", (gradient, Var(ties)), self.loc),
                          Assign(share, "where", (Var(none), Const(math.nan), Var(quotient)), self.loc),
                          Assign(rest, "where", (Var(none), Const(math.nan), Const(0.0)), self.loc)]
        element = self._element_of(stmt, x)
        loop = self._open()
        at, out = self._fresh("at_extremum", BOOL), self._fresh(f"{stmt.target}_j", FLOAT)
        loop.body += [Assign(at, "eq", (element, Var(best)), self.loc),
                      Assign(out, "where", (Var(at), Var(share), Var(rest)), self.loc)]
        self.value[id(stmt)] = ("element", loop, Var(out))


def _number_in(value):
    """The operand a row's number value ("number" or "fold") is read as."""
    return value[1] if value[0] == "number" else Var(value[1])


_ROW_FORMS = {"elementwise": _RowLoop._elementwise, "same": _RowLoop._same, "reduce": _RowLoop._reduce,
              "row sum": _RowLoop._row_sum, "spread": _RowLoop._spread, "column sum": _RowLoop._column}
