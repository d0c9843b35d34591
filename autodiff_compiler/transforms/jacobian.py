"""Jacobian: whole Jacobians from directional derivatives -- columns by forward mode, rows by reverse mode.

Takes: a program P (an IR function with `types`; its outputs are `returns`,
or `result`), the names of the parameters to differentiate with respect to,
and P's tangent program (`transforms.forward`) or its vector-Jacobian product
program (`transforms.reverse.vjp`).  Guarantees IR in the same language as
its inputs (so it is simplified, printed and, for gradients, differentiated
again like any other program):

* `jacobian_program`: a function of P's parameters returning P's outputs and
  then, for every output k and every `wrt` parameter j, the block
  `J[k][j]` of shape `(size(out_k), size(w_j))` (a float counts as size 1; a
  matrix by rows, as `ravel` orders it).  Columns: P's tangent program runs
  once per entry of each `w_j`, seeded with that unit vector (every other
  tangent zero), and its output tangents are the columns.  Rows: the
  vector-Jacobian product program runs once per entry of each output, seeded
  with that unit cotangent, and its gradients are the rows.  `mode="auto"`
  compares the sizes at run time (fewer rows than columns: rows) unless the
  types decide it already (all outputs floats, or all `w_j` floats);
* `gradient_statements`: the gradient of a one-float P, by columns, each
  gradient shaped like its parameter: what a call of a `grad` object inside
  differentiated code (`ir.Region`) becomes, so that it contains no tapes and
  any transform applies to it;
* P's parameters keep their values for every run: those the programs assign
  are saved on entry and given back before each run;
* `expand_regions` replaces every `Region` of a typed function (innermost
  first) by its gradient statements, after checking that the called function
  returns one float (else an `AutodiffError` at the call's line, pointing to
  `jacobian`).
"""
from __future__ import annotations

from .. import ir
from ..errors import ArgumentError, AutodiffError, InternalError
from ..ir import FLOAT, INT, Assign, Const, For, If, Names, Region, Slice, Store, Var, array_of
from ..ir.types import infer_types
from .forward import Forward, outputs_of


def all_names(function: ir.Function) -> set:
    names = set(function.user_names) | set(function.params) | set(function.types)
    for stmt in ir.walk(function.body):
        names.update(ir.writes(stmt))
        names.update(ir.reads(stmt))
        if isinstance(stmt, Region):
            names.update(stmt.params)
            names.update(stmt.targets)
    return names


class Builder:
    """Emits the driver statements; every new variable gets a fresh name and a type."""

    def __init__(self, names: Names, types: dict, loc=None):
        self.names = names
        self.types = types
        self.loc = loc

    def var(self, base: str, t) -> str:
        name = self.names.fresh(base)
        self.types[name] = t
        return name

    def temp(self, t) -> str:
        name = self.names.temp()
        self.types[name] = t
        return name

    def assign(self, out: list, target: str, prim: str, args: tuple) -> Var:
        out.append(Assign(target, prim, tuple(args), self.loc))
        return Var(target)

    def is_array(self, operand) -> bool:
        t = self.types.get(operand.name) if isinstance(operand, Var) else None
        return t is not None and t.is_array

    def rank(self, operand) -> int:
        t = self.types.get(operand.name) if isinstance(operand, Var) else None
        return t.ndim if t is not None and t.is_array else 0

    def size(self, out: list, operand, base: str) -> object:
        """The number of entries of `operand` (1 for a number)."""
        if not self.is_array(operand):
            return Const(1)
        return self.assign(out, self.var(base, INT), "size", (operand,))

    def unit(self, out: list, target: str, like, index) -> None:
        """`target` = the unit vector number `index` of the shape of `like` (1.0 for a number)."""
        rank = self.rank(like)
        if rank == 0:
            out.append(Assign(target, "copy", (Const(1.0),), self.loc))
            return
        out.append(Assign(target, "zeros_like", (like,), self.loc))
        out.append(Store(target, self.flat_index(out, like, index), Const(1.0), "copy", self.loc))

    def zero(self, out: list, target: str, like) -> None:
        if self.is_array(like):
            out.append(Assign(target, "zeros_like", (like,), self.loc))
        else:
            out.append(Assign(target, "copy", (Const(0.0),), self.loc))

    def flat_index(self, out: list, array, index) -> tuple:
        """The index of entry number `index` of `array`, counted by rows."""
        if self.rank(array) == 1:
            return (index,)
        columns = self.assign(out, self.temp(INT), "shape1", (array,))
        row = self.assign(out, self.temp(INT), "floordiv", (index, columns))
        column = self.assign(out, self.temp(INT), "mod", (index, columns))
        return (row, column)

    def store_line(self, out: list, block: str, fixed, value, as_column: bool) -> None:
        """Store `value` (a number, vector or matrix, by rows) into column (or row) `fixed` of `block`."""
        rank = self.rank(value)
        if rank == 0:
            index = (Const(0), fixed) if as_column else (fixed, Const(0))
            out.append(Store(block, index, value, "copy", self.loc))
        elif rank == 1:
            index = (Slice(), fixed) if as_column else (fixed, Slice())
            out.append(Store(block, index, value, "copy", self.loc))
        else:
            rows = self.assign(out, self.temp(INT), "shape0", (value,))
            width = self.assign(out, self.temp(INT), "shape1", (value,))
            r = self.var("row", INT)
            body: list = []
            start = self.assign(body, self.temp(INT), "mul", (Var(r), width))
            stop = self.assign(body, self.temp(INT), "add", (start, width))
            line = self.assign(body, self.temp(array_of(1)), "subscript", (value, Var(r)))
            index = (Slice(start, stop), fixed) if as_column else (fixed, Slice(start, stop))
            body.append(Store(block, index, line, "copy", self.loc))
            out.append(For(r, Const(0), rows, Const(1), body, self.loc))


def _protect_params(builder: Builder, program: ir.Function, bodies: list) -> tuple[list, list]:
    """(save, restore): statements keeping the parameters the bodies assign at their entry values."""
    written = set()
    for body in bodies:
        written |= ir.assigned_in(body)
    save, restore = [], []
    for p in program.params:
        if p in written:
            keep = builder.var(f"{p}_entry", builder.types[p])
            save.append(Assign(keep, "copy", (Var(p),), builder.loc))
            restore.append(Assign(p, "copy", (Var(keep),), builder.loc))
    return save, restore


def _start_values(builder: Builder, program: ir.Function, operands) -> list:
    """`v = 0` (an empty array for arrays) for each output `v` that no assignment may reach on some path
    the dataflow layer cannot rule out (Numba types a variable only if every read of it has a value)."""
    from ..ir import dataflow
    facts = dataflow.of(program)
    out = []
    for operand in operands:
        if not isinstance(operand, Var) or dataflow.UNDEFINED not in facts.reaching_exit(operand.name):
            continue
        t = builder.types.get(operand.name)
        if t is None:
            continue
        if t.is_array:
            if t.dtype != "float64":
                continue
            out.append(Assign(operand.name, "zeros", (Const(0),) * t.ndim, builder.loc))
        else:
            out.append(Assign(operand.name, "copy", (ir.ZERO_OF_KIND[t.kind],), builder.loc))
    return out


_ALLOCATING = {"zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "array_copy"}


def reuse_values(program: ir.Function, derived: ir.Function, params_written: set) -> list:
    """A copy of `derived`'s body (a tangent or vjp program, run once per column or row) without the
    statements that only compute again what the value section (`program`'s body, run once before the
    loop) computed already (`reused_targets`)."""
    reused = reused_targets(program, derived, params_written)
    body = _copy_block(derived.body)
    single = _single_top_level(body)
    return [stmt for stmt in body if not (isinstance(stmt, Assign) and stmt.target in reused
                                          and single.get(stmt.target) is stmt)]


def _single_top_level(block: list) -> dict:
    """target -> its assignment at the top level of `block`, for targets nothing else there writes."""
    counts: dict = {}
    for stmt in ir.walk(block):
        for name in ir.writes(stmt):
            counts[name] = counts.get(name, 0) + 1
    return {s.target: s for s in block if isinstance(s, Assign) and counts.get(s.target) == 1}


def reused_targets(program: ir.Function, derived: ir.Function, params_written: set) -> set:
    """The targets of `derived`'s statements that compute again what `program`'s body computed: the
    primal doesn't change from column to column, so the value section's results serve every run of
    `derived`'s body.

    Legality: a statement goes when it is an assignment at the top level of the body, the only
    definition of its target there, equal to a top-level statement of `program` that is the only
    definition of that target there too; every operand is a constant, a parameter neither program
    writes, or the target of a statement that went (so it computes the same value as in the value
    section); it allocates no array; and nothing writes into its target's memory, in either program
    (`Dataflow.written_memory`: a store or an in-place update through the target, an alias or a view of
    it -- `a = t2; a[i] += v` changes t2, so a run reading t2 after the value section must make t2 again)."""
    from ..ir import dataflow
    body = derived.body
    in_program = _single_top_level(program.body)
    in_body = _single_top_level(body)
    written_into = dataflow.of(program).written_memory() | dataflow.of(derived).written_memory()
    written = params_written | {p for p in program.params if p in ir.assigned_in(program.body + body)}
    invariant = {p for p in program.params if p not in written}
    reused = set()
    for stmt in body:
        original = in_program.get(stmt.target) if isinstance(stmt, Assign) else None
        if original is not None and in_body.get(stmt.target) is stmt and stmt.prim not in _ALLOCATING \
                and (original.prim, original.args, original.params) == (stmt.prim, stmt.args, stmt.params) \
                and all(isinstance(a, Const) or (isinstance(a, Var) and a.name in invariant) for a in stmt.args
                        if not isinstance(a, Slice)) \
                and all(isinstance(a, Var) and a.name in invariant or isinstance(a, Const) or a is None
                        for sl in stmt.args if isinstance(sl, Slice) for a in (sl.start, sl.stop, sl.step)) \
                and stmt.target not in written_into:
            invariant.add(stmt.target)
            reused.add(stmt.target)
    return reused


def _copy_block(block: list) -> list:
    """A fresh copy of a block's statements (a block is emitted more than once in a driver)."""
    import copy
    return copy.deepcopy(block)


def columns(builder: Builder, program: ir.Function, tangent: ir.Function, wrt: list, sink, restore: list,
            reuse: bool = True) -> list:
    """For each wrt j and entry c of it: run `tangent` seeded with the unit vector c of w_j; `sink(out, j, c,
    tangents)` stores the output tangents.  `restore` gives the parameters their entry values back before
    each run.  Returns the statements."""
    out: list = []
    tangent_params = tangent.params[len(program.params):]
    outputs = outputs_of(program)
    tangents = tangent.returns[len(outputs):]
    for j, w in enumerate(wrt):
        count = builder.size(out, Var(w), f"{w}_size")
        c = builder.var("column", INT)
        trip: list = _copy_block(restore)
        for i, (v, t) in enumerate(zip(wrt, tangent_params)):
            if i == j:
                builder.unit(trip, t, Var(v), Var(c))
            else:
                builder.zero(trip, t, Var(v))
        trip += reuse_values(program, tangent, set()) if reuse else _copy_block(tangent.body)
        sink(trip, j, Var(c), tangents)
        if isinstance(count, Const):
            out.append(Assign(c, "copy", (Const(0),), builder.loc))
            out += trip
        else:
            out.append(For(c, Const(0), count, Const(1), trip, builder.loc))
    return out


def rows(builder: Builder, program: ir.Function, vjp: ir.Function, values: list, sink, restore: list) -> list:
    """For each output k and entry r of it: run `vjp` seeded with the unit cotangent r of output k;
    `sink(out, k, r, grads)` stores the gradients.  `values`: the outputs' values, for their shapes."""
    out: list = []
    outputs = outputs_of(program)
    cotangent_params = vjp.params[len(program.params):]
    grads = vjp.returns[len(outputs):]
    for k, value in enumerate(values):
        t = builder.types.get(value.name) if isinstance(value, Var) else None
        if t is None or not t.is_float:
            continue                                 # an int or bool output: its rows are zero
        count = builder.size(out, value, "output_size")
        r = builder.var("row", INT)
        trip: list = _copy_block(restore)
        for i, (v, ct) in enumerate(zip(values, cotangent_params)):
            if i == k:
                builder.unit(trip, ct, v, Var(r))
            else:
                builder.zero(trip, ct, v if isinstance(v, Var) else Const(0.0))
        trip += reuse_values(program, vjp, set())
        sink(trip, k, Var(r), grads)
        if isinstance(count, Const):
            out.append(Assign(r, "copy", (Const(0),), builder.loc))
            out += trip
        else:
            out.append(For(r, Const(0), count, Const(1), trip, builder.loc))
    return out


def _refuse_high_ranks(program: ir.Function, wrt: list) -> None:
    """Blocks are written by rows of vectors and matrices (`Builder.flat_index`, `store_line`): an input or
    output of rank 3 or more is refused by name, never written into the wrong entries."""
    named = [(w, program.types.get(w)) for w in wrt]
    named += [(o.name, program.types.get(o.name)) for o in outputs_of(program) if isinstance(o, Var)]
    high = [(name, t.ndim) for name, t in named if t is not None and t.is_array and t.ndim > 2]
    if high:
        name, ndim = high[0]
        raise ArgumentError(f"Jacobians and Hessians of arrays of rank {ndim} ({name}) are not supported: "
                            f"vectors and matrices only",
                            hint=f"reshape {name} to a matrix or a vector first (the gradient, jvp and hvp "
                                 f"take any rank)")


def jacobian_program(program: ir.Function, wrt: list, mode: str, tangent: ir.Function | None,
                     vjp: ir.Function | None, name: str | None = None) -> ir.Function:
    """The Jacobian of `program` by columns (`tangent`), rows (`vjp`) or either (see the module docstring)."""
    _refuse_high_ranks(program, wrt)
    names = Names(all_names(program) | set().union(*(all_names(p) for p in (tangent, vjp) if p is not None)))
    typed = {name: program.types.get(name) for name in all_names(program)}
    if tangent is not None:
        tangent = _apart(tangent, program, typed, names)
        typed.update({name: tangent.types.get(name) for name in all_names(tangent)})
    if vjp is not None:
        vjp = _apart(vjp, program, typed, names)
    types = dict(program.types)
    for p in (tangent, vjp):
        if p is not None:
            differing = sorted(n for n, t in p.types.items() if n in types and types[n] != t)
            if differing:           # one name, two types: one of them would be printed wrong
                raise InternalError(f"{differing[0]} is {types[differing[0]]} and {p.types[differing[0]]} "
                                    f"in the programs of {program.name}'s Jacobian")
            types.update(p.types)
    builder = Builder(names, types, None)
    outputs = outputs_of(program)
    save, restore = _protect_params(builder, program, [program.body] + [p.body for p in (tangent, vjp) if p])
    # outputs (and their tangents and gradients) every path assigns, as far as Numba can tell
    restore = restore + _start_values(builder, program, outputs)
    for derived in (tangent, vjp):
        if derived is not None:
            restore += _start_values(builder, derived, derived.returns[len(outputs):])
    body: list = save + [ir.Comment("the value")] + _start_values(builder, program, outputs) \
        + _copy_block(program.body)
    values = []
    for k, output in enumerate(outputs):
        if isinstance(output, Var):
            keep = builder.var(f"{output.name}_value", types[output.name])
            body.append(Assign(keep, "copy", (output,)))
            values.append(Var(keep))
        else:
            values.append(output)
    sizes_out = [builder.size(body, v, "output_size") if isinstance(v, Var) else Const(1) for v in values]
    sizes_in = [builder.size(body, Var(w), f"{w}_size") for w in wrt]
    blocks = {}
    for k in range(len(outputs)):
        for j, w in enumerate(wrt):
            block = builder.var(f"J_{k}_{j}" if len(outputs) > 1 or len(wrt) > 1 else "J", array_of(2))
            body.append(Assign(block, "zeros", (sizes_out[k], sizes_in[j])))
            blocks[k, j] = block

    def column_sink(out, j, c, tangents):
        for k, t in enumerate(tangents):
            if isinstance(t, Var):
                builder.store_line(out, blocks[k, j], c, t, as_column=True)

    def row_sink(out, k, r, grads):
        for j, g in enumerate(grads):
            if isinstance(g, Var):
                builder.store_line(out, blocks[k, j], r, g, as_column=False)

    if mode == "forward":
        body += [ir.Comment("columns, by forward mode")] + columns(builder, program, tangent, wrt, column_sink,
                                                                  restore)
    elif mode == "reverse":
        body += [ir.Comment("rows, by reverse mode")] + rows(builder, program, vjp, values, row_sink, restore)
    else:
        total_out, total_in = _total(builder, body, sizes_out), _total(builder, body, sizes_in)
        fewer_rows = builder.assign(body, builder.var("fewer_rows", ir.BOOL), "lt", (total_out, total_in))
        body.append(If(fewer_rows,
                       [ir.Comment("rows, by reverse mode")] + rows(builder, program, vjp, values, row_sink,
                                                                    restore),
                       [ir.Comment("columns, by forward mode")] + columns(builder, program, tangent, wrt,
                                                                          column_sink, restore)))
    returns = tuple(values) + tuple(Var(blocks[k, j]) for k in range(len(outputs)) for j in range(len(wrt)))
    out = ir.Function(name or f"{program.name}_jacobian", list(program.params), {}, body, None,
                      program.filename, program.firstline, returns=returns, docstring=program.docstring,
                      user_names=frozenset(builder.names.taken), param_dims=program.param_dims)
    param_types = {p: types[p] for p in program.params}
    types.update(infer_types(out, {**types, **param_types}))
    out.types = types
    out.exact_names = getattr(program, "exact_names", None) or set(program.types)
    return out


def _apart(derived: ir.Function, program: ir.Function, typed: dict, names: Names) -> ir.Function:
    """A copy of `derived` (a tangent or vjp program of `program`) in which each name that `typed` (name ->
    type, of the programs already in the driver) has with another type is renamed to a fresh one (from
    `names`).

    Why: the driver holds `program`'s body and each derived program's, and each program named its
    temporaries on its own; one name of two types had one type in the driver (`t11` a number in the
    value section and a matrix in the columns; in mode "auto" a sum's number in the rows and an array in
    the columns, which Numba refused).  A name of one type in both stays (`y`, `i`: the printed driver
    reads as the programs do): each derived program assigns every name it reads before reading it, but
    for its parameters and the values `reused_targets` proves equal to the value section's, so its runs
    never read another program's value of a name they share.  The parameters and those values are never
    renamed (the types of both agree, which `jacobian_program` checks)."""
    from ..ir.names import is_temporary
    from ..ir.types import _renamed, rename_statement
    shared = set(program.params) | reused_targets(program, derived, set())
    clashes = sorted(name for name in all_names(derived) - shared
                     if name in typed and typed[name] != derived.types.get(name))
    if not clashes:
        return derived
    mapping = {name: names.temp() if is_temporary(name) else names.fresh(name) for name in clashes}
    renamed = _copy_block([derived])[0]
    for stmt in ir.walk(renamed.body):
        if isinstance(stmt, Region):
            raise InternalError(f"a call of a derivative object left in {derived.name} "
                                f"(regions are expanded before Jacobians)")
        rename_statement(stmt, mapping)
    renamed.params = [mapping.get(p, p) for p in renamed.params]
    renamed.returns = tuple(_renamed(r, mapping) for r in renamed.returns)
    renamed.result = _renamed(renamed.result, mapping) if renamed.result is not None else None
    renamed.types = {mapping.get(name, name): t for name, t in renamed.types.items()}
    renamed.user_names = frozenset(mapping.get(name, name) for name in renamed.user_names)
    return renamed


def _total(builder: Builder, out: list, sizes: list):
    total = sizes[0]
    for size in sizes[1:]:
        total = builder.assign(out, builder.temp(INT), "add", (total, size))
    return total


def gradient_statements(builder: Builder, program: ir.Function, wrt: list, targets: list,
                        value_target: str | None) -> list:
    """Statements assigning `targets[j]` = d program / d wrt[j] (shaped like wrt[j]) by forward mode,
    and `value_target` = the program's value; `program` returns one float."""
    tangent = Forward(program, wrt, taken=builder.names.taken).build(True, f"{program.name}_jvp")
    builder.types.update(tangent.types)
    builder.names.add(tangent.user_names)
    out: list = []
    (output,) = outputs_of(program)
    (output_dot,) = tangent.returns[1:]
    for w, g in zip(wrt, targets):
        builder.zero(out, g, Var(w))

    def sink(trip, j, c, tangents):
        (t,) = tangents
        w, g = Var(wrt[j]), targets[j]
        if builder.is_array(w):
            trip.append(Store(g, builder.flat_index(trip, w, c), t, "copy", builder.loc))
        else:
            trip.append(Assign(g, "copy", (t,), builder.loc))

    value_first = value_target is not None and any(builder.is_array(Var(w)) for w in wrt)
    save, restore = _protect_params(builder, program, [program.body, tangent.body])
    restore = restore + _start_values(builder, tangent, tangent.returns)
    out = save + out
    if value_first:
        out += _copy_block(program.body)
        out.append(Assign(value_target, "copy", (output,), builder.loc))
    # without the value computed first, every column computes the primal itself
    out += columns(builder, program, tangent, wrt, sink, restore, reuse=value_first)
    if value_target is not None and not value_first:
        out.append(Assign(value_target, "copy", (output,), builder.loc))
    return out


def expand_regions(function: ir.Function) -> bool:
    """Replace every `Region` of the typed `function` by its gradient statements (innermost first)."""
    if not any(isinstance(s, Region) for s in ir.walk(function.body)):
        return False
    names = Names(all_names(function))
    types = function.types
    read = ir.used_in(function.body)

    def expand(block: list) -> list:
        out: list = []
        for stmt in block:
            for child in ir.child_blocks(stmt):
                child[:] = expand(child)
            if isinstance(stmt, Region):
                out += expand_one(stmt)
            else:
                out.append(stmt)
        return out

    def expand_one(region: Region) -> list:
        loc = region.loc
        where = dict(filename=loc.filename, line=loc.line, source_line=loc.text) if loc else {}
        if len(region.outputs) != 1:
            raise ArgumentError(f"{region.name} is the gradient of a function returning {len(region.outputs)} "
                                f"values: a gradient needs one number", **where,
                                hint="differentiate a function returning one float; for the derivatives of "
                                     "several outputs use jacobian")
        (output,) = region.outputs
        t = types.get(output.name) if isinstance(output, Var) else FLOAT
        if t is None or t.is_array or t.kind != "float":
            raise ArgumentError(f"{region.name} is the gradient of a function returning {t}: a gradient needs "
                                f"one float", **where,
                                hint="reduce it to one number (np.sum(...)); for every element's derivatives "
                                     "use jacobian")
        for w in region.wrt:
            wt = types.get(w)
            if wt is None or not wt.is_float:
                raise ArgumentError(f"{region.name} is called with {wt} for the parameter it differentiates "
                                    f"with respect to: only floats and float arrays have derivatives", **where)
        program = ir.Function(region.name or "region", list(region.params), types, region.body, None,
                              loc.filename if loc else "<unknown>", loc.line if loc else 0,
                              returns=tuple(region.outputs), user_names=frozenset(names.taken))
        builder = Builder(names, types, loc)
        grads = list(region.targets[1:] if region.with_value else region.targets)
        value = region.targets[0] if region.with_value else None
        statements = gradient_statements(builder, program, list(region.wrt), grads, value)
        # a gradient object gives Python's float: where the function reads it (a division by it raises
        # at 0, `ir.numbers`), say so; the derivative a derivation returns needs nothing
        statements += [Assign(t, "float", (Var(t),), loc) for t in region.targets if t in read
                       and types.get(t) is not None and not types[t].is_array and types[t].kind == "float"]
        for stmt in ir.walk(statements):
            if getattr(stmt, "loc", "absent") is None:
                stmt.loc = loc
        return statements

    function.body = expand(function.body)
    return True
