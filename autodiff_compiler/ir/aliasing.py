"""Aliasing: arrays become values, or the program is refused.

Takes: a typed IR function (the primal after type inference, or any program
the compiler emits).  In NumPy, `b = a` makes a second name for one array and
slices, rows and transposes are views: a store through one name changes what
every other name holding that memory reads.  The transforms reason about
variables as values (a store is a partial definition of *its* variable), so
this pass makes that true, and refuses what it cannot make true:

* a write into a parameter's array (directly, through an alias or a view, or
  by `x += ...` on an array) is an `UnsupportedSyntaxError`: it would change
  the caller's array; so is a write into NumPy's read-only view
  (`np.diagonal`, `READ_ONLY_RESULTS`), where Python raises;
* a variable read after a write through another name changed its memory (a
  *stale* read: Python would see the change) is an `UnsupportedSyntaxError`
  naming the read, the write and the line that made them share memory, with
  the fix (`.copy()`);
* otherwise, every alias or view that a later write would make stale (though
  nothing reads it then) becomes a copy, so the write changes one variable
  only.  This changes no value the program reads, and makes every value the
  reverse sweep reads the one the forward sweep saw;
* an array added in place into memory it may share (`y[1:] += y[:-1]`,
  `y[::-1] += y`: `overlapping_update`) is added through a copy made just
  before the store.  NumPy reads such an operand as it was before the write
  (it buffers overlapping operands); Numba's compiled loop reads each element
  after the writes before it, so the compiled function would compute a
  running sum, a wrong number with no error.  A copying store (`y[1:] =
  y[:-1]`) needs none: Numba copies an overlapping source first, as NumPy does.

`check_values(function)` asks the same questions of a program the compiler
generated (an adjoint): there a stale read, or an in-place sum of an operand
sharing the memory it writes into, is a compiler bug, and raises
`InternalError` rather than let a wrong number out.
"""
from __future__ import annotations

import os

from ..errors import InternalError, UnsupportedSyntaxError
from . import dataflow
from . import nodes as ir
from .nodes import Assign, Comment, For, If, Pop, Push, Store, TapeAlloc, Var, While


def _writes_into_an_array(stmt, types: dict) -> bool:
    written = writes_into(stmt)
    return written is not None and (types.get(written) is None or types[written].is_array)


def writes_into(stmt) -> str | None:
    """The array variable whose memory `stmt` writes into, if it does."""
    if isinstance(stmt, Store):
        return stmt.array
    if isinstance(stmt, Assign) and stmt.inplace:
        return stmt.inplace
    return None


class Staleness(dataflow.StructuredForward):
    """Forward analysis: which variables may hold memory written through another name since their definition."""

    def __init__(self, function: ir.Function, facts: dataflow.Dataflow):
        self.function = function
        self.facts = facts
        self.types = function.types
        self.events: list = []        # (write statement, stale variable)
        self.stale_reads: list = []   # (read statement, variable, write statements)
        self._seen_reads: set = set()
        self._seen_events: set = set()
        self.run(function.body, {})

    def is_array(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.is_array

    def read(self, stmt, names, state: dict) -> None:
        for name in names:
            writes = state.get(name)
            if writes and (id(stmt), name) not in self._seen_reads:
                self._seen_reads.add((id(stmt), name))
                self.stale_reads.append((stmt, name, writes))

    def join(self, a: dict, b: dict) -> dict:
        return _union(a, b)

    def begin_trip(self, loop, state: dict) -> None:
        state.pop(loop.index, None)

    def simple(self, stmt, state: dict) -> None:
        self.read(stmt, _value_reads(stmt), state)
        written = writes_into(stmt)
        if written is not None and self.is_array(written):
            for other in self.facts.shared_at(stmt):
                state[other] = state.get(other, frozenset()) | {id(stmt)}
                if (id(stmt), other) not in self._seen_events:
                    self._seen_events.add((id(stmt), other))
                    self.events.append((stmt, other))
        for name in ir.writes(stmt):
            if not isinstance(stmt, (Store, Push)):
                state.pop(name, None)      # a new value: its own memory


# operands read only for their shape: a write into their memory does not change what these see
_SHAPE_ONLY = {"zeros_like": (0,), "ones_like": (0,), "empty_like": (0,), "shape": (0,), "shape0": (0,),
               "shape1": (0,), "size": (0,), "sum_like": (1,), "expand_like": (1,), "unreduce": (1,),
               "slice_offset": (0,), "count_axes": (0,), "reshape_as": (1,), "diag_embed": (1,)}


def _value_reads(stmt) -> list:
    """The variables a statement reads the values of (not just the shapes)."""
    if isinstance(stmt, Assign) and stmt.prim in _SHAPE_ONLY:
        shape_only = _SHAPE_ONLY[stmt.prim]
        return ir.operand_vars([a for k, a in enumerate(stmt.args) if k not in shape_only])
    if isinstance(stmt, ir.TapeAlloc):
        return ir.operand_vars([stmt.capacity])     # `shape_of` names the type of what it will hold
    return ir.reads(stmt)


def _union(a: dict, b: dict) -> dict:
    out = dict(a)
    for name, writes in b.items():
        out[name] = out.get(name, frozenset()) | writes
    return out


def _where(stmt) -> dict:
    loc = getattr(stmt, "loc", None)
    if loc is None:
        return {}
    return {"filename": loc.filename, "line": loc.line, "source_line": loc.text or None}


def _line(stmt) -> str:
    loc = getattr(stmt, "loc", None)
    return f"line {loc.line}" if loc is not None else "a generated line"


def _text(stmt) -> str:
    """The statement's source line, without its comment."""
    import io
    import tokenize
    loc = getattr(stmt, "loc", None)
    text = (loc.text if loc is not None and loc.text else str(stmt)).strip()
    try:
        comments = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):       # a line of a statement spanning several
        return text
    return text[:comments[0].start[1]].rstrip() if comments else text


def _user(function: ir.Function, name: str) -> str:
    """The user's name for an IR variable (`y` for its version `y2`, `a` for an inlined helper's `_h2_a`)."""
    users = getattr(getattr(function, "facts", None), "user_variables", None) or {}
    return users.get(name, name)


def make_values(function: ir.Function) -> bool:
    """Refuse what cannot be a value (see the module docstring); turn sharing that only later writes
    would expose into copies.  Returns True when it changed the function."""
    changed = False
    for _ in range(100):
        facts = dataflow.of(function)
        _refuse_parameter_writes(function, facts)
        overlapping = [(stmt, name) for stmt in facts.statements
                       if (name := overlapping_update(facts, stmt, function.types)) is not None]
        if overlapping:
            for stmt, name in overlapping:
                _add_through_copy(function, stmt, name)
            dataflow.invalidate(function)
            changed = True
            continue
        staleness = Staleness(function, facts)
        if staleness.stale_reads:
            stmt, name, writes = staleness.stale_reads[0]
            write = next(s for s in facts.statements if id(s) in writes)
            target = writes_into(write)
            linking = sorted(d for d in set(facts.shared_at(write).get(name, ())) | facts.reaching(write, target)
                             if facts.sharing_definition(d))
            origin = facts.statement_at(linking[0]) if linking else None
            since = f" since {_line(origin)} ({_text(origin)})" if origin is not None else ""
            raise UnsupportedSyntaxError(
                f"{_user(function, name)} and {_user(function, target)} share memory{since}: writing into "
                f"{_user(function, target)} at {_line(write)} ({_text(write)}) changes {_user(function, name)} "
                f"too, and {_line(stmt)} reads {_user(function, name)} afterwards",
                hint="make a copy where they start to share (`b = a.copy()`, `v = x[1:].copy()`): "
                     "`b = a`, slices, rows and `.T` of an array share its memory",
                construct="aliasing", **_where(stmt))
        if not staleness.events:
            return changed
        copied = False
        for write, other in staleness.events:
            in_place_only = False
            if not _value_needed_after(function, facts, write, other):
                if not _redefined_over_held_value(facts, other):
                    continue
                # `other` is made again (any primitive) over a value it may still hold, and the reverse
                # sweep may record that value there: `t = np.tanh(y); y = t; y[0:2] = ...` in a loop.
                # Copied only where a copy is made in place (`b = a`, a slice), so this rule cannot make
                # the fresh temporaries it would ask about again
                in_place_only = True
            target = writes_into(write)
            defs = set(facts.shared_at(write).get(other, ()))
            defs |= facts.reaching(write, target)
            for definition in sorted(d for d in defs if facts.sharing_definition(d)):
                stmt = facts.statement_at(definition)
                if in_place_only and not (isinstance(stmt, Assign) and stmt.prim in ("copy", "subscript")) \
                        and not (isinstance(stmt, Assign) and _read_for_value(facts, stmt.target)):
                    # another view (`t = Z.ravel()`, read by `t ** 2` in a loop that writes Z) is copied
                    # through a fresh temporary, which only that copy reads: never asked about again
                    continue
                copied |= _copy_at(function, stmt)
        if not copied:
            return changed       # what shares memory is never read for its value after the write
        dataflow.invalidate(function)
        changed = True
    raise InternalError("aliasing: did not converge")  # pragma: no cover


# primitives whose derivative does not read the value of the operand in question (shapes at most)
_VALUE_BLIND = {"copy", "array_copy", "stop_gradient", "add", "sub", "neg", "subscript", "subscript_copy",
                "transpose", "sum", "mean", "sum_axes", "mean_axes", "shape", "shape0", "shape1", "size",
                "zeros_like", "ones_like", "empty_like", "transpose_axes", "reshape", "reshape_as",
                "expand_dims", "squeeze", "concatenate", "unreduce", "cumsum", "rev_cumsum", "diagonal",
                "diag_matrix", "triu", "tril", "array_from", "count_axes"}


def overlapping_update(facts, stmt, types: dict) -> str | None:
    """The array `stmt` adds in place (`y[1:] += v`, a `Store` of `add`) when it may share memory with
    the array written into (it is that array, or `Dataflow.shared_at` lists it), else None."""
    if not (isinstance(stmt, Store) and stmt.prim == "add" and isinstance(stmt.value, Var)):
        return None
    name = stmt.value.name
    if types.get(name) is None or not types[name].is_array:
        return None
    return name if name == stmt.array or name in facts.shared_at(stmt) else None


def _fresh_names(function: ir.Function):
    """Names for new temporaries: none the function's types, user names or statements hold."""
    from .names import Names
    return Names(set(function.types) | set(function.user_names) | {s for t in ir.walk(function.body)
                                                                   for s in ir.writes(t)})


def _add_through_copy(function: ir.Function, stmt: Store, name: str) -> None:
    """`y[i] += v` -> `t = v.copy(); y[i] += t`: the sum reads v as it was before the write."""
    block = ir.block_holding(function.body, stmt)
    copy = _fresh_names(function).temp()
    function.types[copy] = function.types[name]
    k = next(i for i, s in enumerate(block) if s is stmt)
    block.insert(k, Assign(copy, "array_copy", (Var(name),), stmt.loc))
    stmt.value = Var(copy)


def _value_needed_after(function: ir.Function, facts, write, name: str) -> bool:
    """May the value of `name` be read after `write` changed its memory?  By the program (it is live
    then), or by the reverse sweep (a derivative reads it: some statement uses it other than for
    its shape or as a copy; or `name` is defined again, where its old value may be recorded)."""
    if name in facts.live_out(write):
        return True
    # where `name` is defined again over a value it may still hold, the reverse sweep may record that
    # value (a tape push reads it), after the write: `t = y[1:2]; y[2:3] = t` in a loop.  Asked of the
    # definitions `_copy_at` turns into copies in place (a slice, `b = a`); a view made otherwise is
    # copied through a fresh temporary, which this rule would then ask about again without end
    for position in facts.definitions_of(name):
        stmt = facts.statement_at(position)
        if isinstance(stmt, Assign) and stmt.target == name and stmt.prim in ("subscript", "copy") and \
                facts.overwritten(stmt, name) - {dataflow.UNDEFINED}:
            return True
    return _read_for_value(facts, name)


def _read_for_value(facts, name: str) -> bool:
    """Does some statement read `name` for its values (a derivative may need them: not only its shape,
    not as a copy's operand)?"""
    for stmt in facts.statements:
        if name not in ir.reads(stmt):
            continue
        if isinstance(stmt, Assign) and stmt.prim in _VALUE_BLIND:
            continue
        if isinstance(stmt, Store) and name not in ir.operand_vars(stmt.index):
            continue
        return True
    return False


def _redefined_over_held_value(facts, name: str) -> bool:
    """Is `name` defined (by any statement) where it may still hold an earlier value?"""
    for position in facts.definitions_of(name):
        stmt = facts.statement_at(position)
        if isinstance(stmt, Assign) and stmt.target == name and \
                facts.overwritten(stmt, name) - {dataflow.UNDEFINED}:
            return True
    return False


def _copy_at(function: ir.Function, stmt: Assign) -> bool:
    """`b = a` -> `b = a.copy()`; `v = a[...]` -> `v = a[...].copy()`."""
    if stmt.prim == "copy":
        stmt.prim = "array_copy"
        return True
    if stmt.prim == "subscript":
        stmt.prim = "subscript_copy"
        return True
    block = ir.block_holding(function.body, stmt)
    if block is None:  # pragma: no cover
        return False
    names = _fresh_names(function)
    k = next(i for i, s in enumerate(block) if s is stmt)
    base = stmt.args[0]
    if stmt.prim in _WHOLE_VIEWS and isinstance(base, Var) and function.types.get(base.name) is not None:
        # a view of every element (`Z.ravel()`, `Z.T`): a view of a copy of its operand, which nothing
        # else names -- a view variable of the operand itself would still share its memory, and a
        # reverse sweep that records it for its shape would read it after the write
        copy = names.temp()
        function.types[copy] = function.types[base.name]
        block[k:k + 1] = [Assign(copy, "array_copy", (base,), stmt.loc),
                          Assign(stmt.target, stmt.prim, (Var(copy),) + tuple(stmt.args[1:]), stmt.loc, stmt.params)]
        return True
    view = names.temp()
    function.types[view] = function.types[stmt.target]
    block[k:k + 1] = [Assign(view, stmt.prim, stmt.args, stmt.loc, stmt.params),
                      Assign(stmt.target, "array_copy", (Var(view),), stmt.loc)]
    return True


# views holding every element of their operand: a copy of the operand costs what a copy of the view does
_WHOLE_VIEWS = {"transpose", "transpose_axes", "reshape", "reshape_as", "expand_dims", "squeeze"}




# primitives whose NumPy result is a read-only view of their operand: a write into it raises in Python
# (ValueError: assignment destination is read-only), where the derived program's own array would take it
READ_ONLY_RESULTS = {"diagonal": "np.diagonal"}


def _refuse_parameter_writes(function: ir.Function, facts: dataflow.Dataflow) -> None:
    """Refuse a write into a parameter's array (it would change the caller's), or into NumPy's read-only
    view (Python raises there)."""
    for stmt in facts.statements:
        target = writes_into(stmt)
        if target is None:
            continue
        t = function.types.get(target)
        if t is None or not t.is_array:
            continue
        objects = facts.objects(stmt, target)
        made = [facts.statement_at(o[1]) for o in objects if isinstance(o, tuple) and o[0] == "new"]
        read_only = [m for m in made if isinstance(m, Assign) and m.prim in READ_ONLY_RESULTS]
        if read_only:
            raise UnsupportedSyntaxError(
                f"{READ_ONLY_RESULTS[read_only[0].prim]} returns a read-only view in NumPy ({_line(read_only[0])}: "
                f"{_text(read_only[0])}): writing into it at {_line(stmt)} ({_text(stmt)}) raises ValueError "
                f"(assignment destination is read-only) in Python{_called_from(stmt)}",
                hint="write into a copy: `d = np.diagonal(x).copy()`",
                construct="store into a read-only array", **_where(stmt))
        params = sorted(o[len("param:"):] for o in objects if isinstance(o, str) and o.startswith("param:"))
        if params:
            # the user's names (an inlined helper's parameter is `_h2_a` in the IR, `a` in its source)
            shown = _user(function, target)
            how = "" if target == params[0] else f" ({shown} shares its memory)"
            raise UnsupportedSyntaxError(
                f"writing into the parameter array {params[0]!r}{how} would change the caller's array"
                f"{_called_from(stmt)}",
                hint=f"work on a copy: {shown} = {shown}.copy() before writing into it, or build a new array "
                     f"with np.zeros_like"
                     + (f"; `{shown} += ...` on an array writes into it: write `{shown} = {shown} + ...`"
                        if isinstance(stmt, Assign) else ""),
                construct="store into a parameter", **_where(stmt))


def _called_from(stmt) -> str:
    """` (called from f.py:12)` for a statement of an inlined function: the user's line that led there."""
    loc = getattr(stmt, "loc", None)
    sites = []
    while loc is not None and loc.via is not None:
        loc = loc.via
        sites.append(f"{os.path.basename(loc.filename)}:{loc.line}")
    return f" (called from {', from '.join(sites)})" if sites else ""


def check_values(function: ir.Function) -> None:
    """Raise `InternalError` if a generated program reads an array after a write through another name."""
    # a read is stale only after a write into an array's memory (`Staleness.simple`): where the program
    # writes into none, no read is, and nothing is asked of the analyses
    types = function.types or {}
    if not any(_writes_into_an_array(stmt, types) for stmt in ir.walk(function.body)):
        return
    facts = dataflow.of(function)
    staleness = Staleness(function, facts)
    if staleness.stale_reads:
        stmt, name, _ = staleness.stale_reads[0]
        raise InternalError(f"generated code reads {name} after a write through a name sharing its memory "
                            f"({_line(stmt)}: {stmt})")
    for stmt in facts.statements:
        name = overlapping_update(facts, stmt, types)
        if name is not None:
            raise InternalError(f"generated code adds {name} in place into memory it may share "
                                f"({_line(stmt)}: {stmt}): Numba would read elements already written")
