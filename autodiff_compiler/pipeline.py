"""Pipeline: the passes, in order, as data.

Takes: a `parse.Source`, the parameter types (the signature) and the `wrt`
names.  Guarantees: `derive` runs every pass of `PASSES` in order and returns
the final `State` (primal IR, adjoint IR, module text); `run_until` stops after
a named pass, so the CLI can show the program after any of them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .backend.printer import print_module
from .errors import ArgumentError, UnsupportedSyntaxError
from .frontend.kinds import counting_variables  # noqa: F401  (the CLI and the tests ask it here)
from .frontend.lower import lower
from .frontend.parse import Source, fence
from . import ir
from .ir import Names, dataflow
from .ir.aliasing import check_values, make_values
from .ir.types import check_consistent, infer_types, specialise
from .optimise.fuse_elementwise import fuse_elementwise
from .optimise.fuse_loops import fuse_mirrored_loops
from .optimise.hoist import hoist_invariants
from .optimise.eliminate import eliminate
from .optimise.simplify import simplify
from .optimise.symbolic import symbolic_simplify
from .transforms.reverse import reverse

VERSION = "0.1.0"


@dataclass
class State:
    source: Source
    param_types: dict
    wrt: list
    simplify: bool = True
    with_value: bool = True
    intermediates: tuple = ()
    skip: frozenset = frozenset()     # optimisation passes switched off (see OPTIMISATIONS)
    primal: object = None
    sources: dict = field(default_factory=dict)
    adjoint: object = None
    text: str = ""

    def runs(self, name: str) -> bool:
        """Does the optimisation pass `name` run?  (`simplify=False` switches them all off.)"""
        return self.simplify and name not in self.skip


def _fence(state: State) -> State:
    fence(state.source)
    return state


def _lower(state: State) -> State:
    state.primal, state.sources = lower(state.source)
    return state


def _types(state: State) -> State:
    params = state.primal.params
    missing = [p for p in params if p not in state.param_types]
    if missing:
        raise ArgumentError(f"no type for parameter(s) {', '.join(missing)} of {state.primal.name}")
    for name in params:
        t = state.param_types[name]
        if t.is_array and t.ndim > 2:
            raise ArgumentError(f"argument {name!r} of {state.primal.name} is an array of rank {t.ndim}: "
                                f"vectors and matrices (rank 1 and 2) are supported",
                                filename=state.source.filename, line=state.source.node.lineno,
                                hint="reshape it to a matrix, or loop over its leading axis")
    _retype(state)
    check_consistent(state.primal)
    _check_defined(state)
    _check_result(state)
    _check_wrt(state)
    return state


def _check_defined(state: State) -> None:
    """A read that no assignment can reach is Python's UnboundLocalError: say so before running anything."""
    facts = dataflow.of(state.primal)
    for stmt in facts.statements:
        for name in ir.reads(stmt):
            if facts.reaching(stmt, name) == {dataflow.UNDEFINED}:
                loc = getattr(stmt, "loc", None)
                raise UnsupportedSyntaxError(
                    f"{name!r} is used before it is assigned", construct="undefined name",
                    filename=loc.filename if loc else state.source.filename,
                    line=loc.line if loc else None, source_line=loc.text if loc else None,
                    hint="assign it before this line (on every path that reaches it)")


def _check_result(state: State) -> None:
    """A gradient is of one number: an array result is an error naming the line that returns it."""
    primal = state.primal
    t = primal.types.get(primal.result.name) if isinstance(primal.result, ir.Var) else None
    if t is not None and t.is_array:
        where = next((s.loc for s in ir.walk(primal.body) if isinstance(s, ir.Assign)
                      and s.target == primal.result.name and s.loc is not None), None)
        raise ArgumentError(
            f"{primal.name} returns an array ({t}) here: a gradient needs one number",
            filename=where.filename if where else state.source.filename,
            line=where.line if where else state.source.node.lineno,
            source_line=where.text if where else None,
            hint="reduce it to the loss you want (np.sum(...), np.mean(...)); for the derivatives of "
                 "every element use jacobian")


def _retype(state: State) -> None:
    primal = state.primal
    primal.types = infer_types(primal, {p: state.param_types[p] for p in primal.params})
    if specialise(primal):
        primal.types = infer_types(primal, {p: state.param_types[p] for p in primal.params})
    dataflow.invalidate(primal)


def _values(state: State) -> State:
    if make_values(state.primal):
        _retype(state)
    return state


def _fold(state: State) -> State:
    """Simplify the primal (fold its constants first, so that invariant arithmetic is recognisable)."""
    if state.runs("fold"):
        primal = state.primal
        primal.returns = (primal.result,)
        simplify(primal)
        primal.result, primal.returns = primal.returns[0], ()
        dataflow.invalidate(primal)
    return state


def _hoist(state: State) -> State:
    if state.runs("hoist"):
        hoist_invariants(state.primal)
        dataflow.invalidate(state.primal)
    return state


def _fuse(state: State) -> State:
    if state.runs("fuse"):
        primal = state.primal
        taken = set(primal.user_names) | set(primal.types) | set(primal.params)
        if fuse_elementwise(primal, Names(taken), keep=set(state.intermediates)):
            _retype(state)
    return state


def _check_wrt(state: State) -> None:
    for name in state.wrt:
        t = state.primal.types[name]
        if not t.is_float:
            hint = f"pass {name} as a float (e.g. {name}=3.0), or leave it out of wrt"
            if name in counting_variables(state.primal):
                hint = (f"{name} is a loop bound or an index here: it drives control flow and has no "
                        f"derivative; leave it out of wrt")
            raise ArgumentError(
                f"cannot differentiate {state.primal.name} with respect to {name!r}: it is {_a(t)} "
                f"({t}), and only float scalars and float arrays have derivatives",
                filename=state.source.filename, line=state.source.node.lineno, hint=hint)


def _a(t) -> str:
    return {"int": "an int", "bool": "a bool"}.get(t.kind, f"an array of {t.dtype}")


def _reverse(state: State) -> State:
    state.adjoint = reverse(state.primal, state.wrt, state.with_value, state.intermediates)
    return state


def _simplify(state: State) -> State:
    if state.runs("simplify"):
        state.adjoint = simplify(state.adjoint)
    return state


def _fuse_loops(state: State) -> State:
    if state.runs("fuse_loops") and fuse_mirrored_loops(state.adjoint):
        dataflow.invalidate(state.adjoint)
        if state.runs("simplify"):
            state.adjoint = simplify(state.adjoint)
    return state


def _symbolic(state: State) -> State:
    """SymPy on the adjoint's straight-line scalar regions (`optimise.symbolic`), then the clean-up."""
    if state.runs("symbolic"):
        from .backend.load import cache_dir
        if symbolic_simplify(state.adjoint, cache_dir()):
            # only the old definitions go: sharing `y_hat - y` again would undo `(y_hat - y) * x`
            eliminate(state.adjoint)
    return state


def _audit(state: State) -> State:
    """The generated program must obey the rules it asks of the user's: no array read after a write
    through another name (a compiler bug if it happens: refuse rather than return a wrong number)."""
    dataflow.invalidate(state.adjoint)
    check_values(state.adjoint)
    return state


def _print(state: State) -> State:
    state.text = print_module(state.adjoint, header(state))
    return state


def header(state: State) -> str:
    primal = state.primal
    where = f"{os.path.basename(primal.filename)}:{primal.firstline}"
    params = ", ".join(f"{p}: {primal.types[p]}" for p in primal.params)
    wrt = ", ".join(state.wrt)
    returns = ("the value of " + primal.name + ", then " if state.with_value else "") + \
        ", ".join(f"d{primal.name}/d{w}" for w in state.wrt)
    return (f"Reverse-mode gradient of {primal.name} ({where}), derived by autodiff_compiler {VERSION}.\n\n"
            f"Parameters: {params}\nDifferentiated with respect to: {wrt}\nReturns: {returns}\n")


# Every pass, in order: (name, function of the State).  `--dump NAME` shows the program after it.
PASSES = [("fence", _fence), ("lower", _lower), ("types", _types), ("values", _values),
          ("fold", _fold), ("hoist", _hoist), ("fuse", _fuse),
          ("reverse", _reverse), ("simplify", _simplify), ("fuse_loops", _fuse_loops),
          ("symbolic", _symbolic), ("audit", _audit), ("print", _print)]
# The passes that only make the program faster or shorter: each can be switched off alone
# (`skip=`, the CLI's `--skip`) to find which one is at fault when a result looks wrong.
OPTIMISATIONS = ("fold", "hoist", "fuse", "simplify", "fuse_loops", "symbolic")
# After these, `--dump` shows the adjoint; after the others, the primal.
ADJOINT_PASSES = ("reverse", "simplify", "fuse_loops", "symbolic", "audit")


def run_until(state: State, last: str | None = None) -> State:
    for name, run in PASSES:
        state = run(state)
        if name == last:
            break
    return state


def derive(source: Source, param_types: dict, wrt: list, *, simplify: bool = True,
           with_value: bool = True, intermediates: tuple = (), skip=()) -> State:
    unknown = set(skip) - set(OPTIMISATIONS)
    if unknown:
        raise ArgumentError(f"unknown optimisation(s) to skip: {', '.join(sorted(unknown))}",
                            hint=f"the optimisations are: {', '.join(OPTIMISATIONS)}")
    return run_until(State(source, param_types, list(wrt), simplify, with_value, tuple(intermediates),
                           frozenset(skip)))
