"""Pipeline: the passes, in order, as data.

Takes: a `parse.Source`, the parameter types (the signature), the `wrt`
names and the derivation's `steps` (transforms as data: `Step("reverse")` for
a gradient, `Step("forward")` for a Jacobian-vector product, `Step("vjp")`,
`Step("jacobian", mode=...)`, or a chain of them: forward over reverse is the
Hessian-vector product).  Guarantees: `derive` runs every pass of
`passes_of(state)` in order -- the primal's passes, then each step's
transform and the optimisations that follow it, then `audit` and `print` --
and returns the final `State` (primal IR, every derived program, module text);
`run_until` stops after a named pass, so the CLI can show the program after
any of them.  `PASSES` is the list for a gradient.
"""
from __future__ import annotations

import contextlib
import copy
import gc
import os
from dataclasses import dataclass, field, replace

from .backend.printer import print_module
from .errors import ArgumentError, InternalError, UnsupportedSyntaxError
from .frontend.kinds import counting_variables  # noqa: F401  (the CLI and the tests ask it here)
from .frontend.bound_checks import insert_bound_checks
from .frontend.lower import lower, settle_python_checks
from .frontend.parse import Source, fence
from . import ir
from .ir import Names, dataflow
from .ir.aliasing import check_values, make_values
from .ir.shapes import mark_shape_errors
from .ir.types import check_consistent, infer_types, specialise
from .optimise.fuse_elementwise import fuse_elementwise
from .optimise.fuse_loops import fuse_mirrored_loops
from .optimise.hoist import hoist_invariants
from .optimise.broadcasts import absorb_broadcasts
from .optimise.accumulate import accumulate
from .optimise.fuse_rows import fuse_rows
from .optimise.rank_one import rank_one_loops
from .optimise.eliminate import eliminate
from .optimise.simplify import simplify
from .optimise.symbolic import symbolic_simplify
from .optimise.factor import factor_common
from .optimise.vectorise import UNARY_VECTOR_FUNCTIONS, plan_array_calls, plan_loops
from .transforms.forward import forward, outputs_of
from .transforms.jacobian import expand_regions, jacobian_program
from .transforms.reverse import reverse, vjp

VERSION = "0.1.0"


@dataclass(frozen=True)
class Step:
    """One transform of a derivation, as data.

    `kind`: "reverse" (the gradient of the one result; `aux`: of the first of a tuple result, the rest
    returned beside it), "forward" (tangents of every output; `primal_outputs=False`: the tangents
    alone), "vjp" (cotangents in, gradients out), or "jacobian" (`mode` "forward": columns,
    "reverse": rows, "auto": by the sizes).  `wrt`: parameter names of the program it transforms."""
    kind: str
    wrt: tuple
    with_value: bool = True
    intermediates: tuple = ()
    aux: bool = False
    primal_outputs: bool = True
    mode: str = "forward"
    suffix: str = ""          # the derived function's name: the primal's, then this (default: the transform's)


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
    adjoint: object = None            # the last derived program (the adjoint, for a gradient)
    # the printed modules (`text`, `jit_text`), each printed on first use once the `print` pass has run:
    # a gradient Numba runs never needs `text`, one Python runs never `jit_text`, and printing is a
    # sixth of a derivation.  None until `print`, when the texts are "" (a `--dump` stops earlier)
    printed: dict | None = field(default=None, repr=False)
    plans: dict = field(default_factory=dict)
    compiled: object = None           # the program Numba compiles when it is not the adjoint (`fuse_rows`)
    threads: int = 1
    facts: object = None              # what the front end found (`frontend.lower.Facts`)
    leaf_wrt: list = field(default_factory=list)    # `wrt` with containers expanded to their float leaves
    steps: tuple = ()                 # the derivation (default: one reverse step over `wrt`)
    regions: tuple = ()               # derivative objects the function is wrapped in: (kind, wrt, with_value)
    param_dims: tuple = ()            # what dispatch proved of the array arguments' axes (`ir.shapes`)
    programs: list = field(default_factory=list)   # every derived program, in order
    scratch: dict = field(default_factory=dict)    # a step's intermediate programs (the jacobian's tangent)
    int_uses: dict | None = None      # what the primal computes from its int parameters (`api`, on first need)
    careful: bool = False             # structural zeros marked, for the careful rerun (`backend.strong_zero`)

    def __post_init__(self):
        if not self.steps:
            self.steps = (Step("reverse", tuple(self.wrt), self.with_value, tuple(self.intermediates)),)

    @property
    def text(self) -> str:
        """The module `jit=False` runs and the verifier checks."""
        return self._printed("text", lambda: print_module(self.adjoint, header(self)))

    @text.setter
    def text(self, module: str) -> None:
        self.printed = dict(self.printed or {}, text=module)

    @property
    def jit_text(self) -> str:
        """The module Numba compiles: `text` with the planned loops in blocks and chunks, the library's
        functions where the rule table spells them (`matmul`), element indices proved >= 0 unsigned."""
        return self._printed("jit_text", lambda: print_module(self.compiled_program, header(self), self.plans,
                                                              self.threads, compiled=True))

    @jit_text.setter
    def jit_text(self, module: str) -> None:
        self.printed = dict(self.printed or {}, jit_text=module)

    def _printed(self, which: str, printing) -> str:
        if self.printed is None:
            return ""
        if which not in self.printed:
            try:
                with without_cyclic_collection():
                    self.printed[which] = printing()
            except RecursionError:
                raise InternalError(f"{self.primal.name} is too deeply nested to print",
                                    hint="split long expressions into statements") from None
            except Exception as exc:    # the printer's bug, told as the derivation's would be (`api.state_for`)
                raise InternalError(f"printing the derived module of {self.primal.name} failed: "
                                    f"{type(exc).__name__}: {exc}",
                                    hint="this is a bug in autodiff_compiler: please report it with the "
                                         "function") from exc
        return self.printed[which]

    def runs(self, name: str) -> bool:
        """Does the optimisation pass `name` run?  (`simplify=False` switches them all off.)"""
        return self.simplify and name not in self.skip

    @property
    def compiled_program(self):
        """The program the module Numba compiles is printed from: `fuse_rows`'s copy, else the adjoint."""
        return self.compiled if self.compiled is not None else self.adjoint

    @property
    def tuple_results(self) -> bool:
        """May the function return a tuple?  Not for a gradient: that needs one number."""
        first = self.steps[0]
        return first.kind != "reverse" or first.aux

    @property
    def program(self):
        """The program the next step transforms: the last derived one, else the primal."""
        return self.programs[-1] if self.programs else self.primal


def _fence(state: State) -> State:
    fence(state.source)
    return state


def _lower(state: State) -> State:
    missing = [a.arg for a in state.source.node.args.args if a.arg not in state.param_types]
    if missing:
        raise ArgumentError(f"no type for parameter(s) {', '.join(missing)} of {state.source.name}")
    state.primal, state.sources = lower(state.source, state.param_types, state.tuple_results or bool(state.regions))
    # the specialisation holds for the parameters as called: the flat leaves of containers have none
    state.primal.param_dims = tuple((name, terms) for name, terms in state.param_dims
                                    if name in state.primal.params)
    state.facts = state.primal.facts
    state.leaf_wrt = []
    for name in state.wrt:
        if name in state.facts.structures:
            tree, leaves = state.facts.structures[name]
            from .frontend.pytrees import path_text, paths
            for (path, t), leaf in zip(paths(tree), leaves):
                if not t.is_float:
                    raise ArgumentError(
                        f"cannot differentiate {state.source.name} with respect to {name!r}: "
                        f"{path_text(name, path)} is {_a(t)} ({t}), and only float scalars and float arrays "
                        f"have derivatives", filename=state.source.filename, line=state.source.node.lineno,
                        hint="keep counts and flags out of the structure you differentiate (pass them as "
                             "another argument), or make them floats")
                state.leaf_wrt.append(leaf)
        else:
            state.leaf_wrt.append(name)
    # every step differentiates with respect to the leaves: a container parameter stands for its floats
    state.steps = tuple(replace(step, wrt=tuple(_leaf_names(state, step.wrt))) for step in state.steps)
    for kind, wrt, with_value, single in state.regions:
        state.primal = wrap_in_region(state.primal, kind, list(wrt), with_value, single)
    return state


def _leaf_names(state: State, names) -> list:
    """Parameter names with each container parameter replaced by its leaves' names (in `pytrees` order)."""
    out = []
    structures = state.facts.structures if state.facts is not None else {}
    for name in names:
        if name in structures:
            out += list(structures[name][1])
        else:
            out.append(name)
    return out


def _names_of(primal) -> ir.Names:
    """Fresh names for new variables of `primal`: none it already uses (the user's, parameters, any
    name a statement writes)."""
    names = ir.Names(set(primal.user_names) | set(primal.params))
    for stmt in ir.walk(primal.body):
        names.add(ir.writes(stmt))
    return names


def wrap_in_region(primal, kind: str, wrt: list, with_value: bool, single: bool = True):
    """The function computing the derivative `kind` of `primal` (a `grad` object as a function of its
    arguments): one `Region` over the primal's body, expanded by the `types` pass."""
    names = _names_of(primal)
    outputs = outputs_of(primal)
    targets, stub = [], []
    if with_value:
        value = names.fresh("value")
        targets.append(value)
        stub.append(ir.Assign(value, "copy", (outputs[0],)))
    for w in wrt:
        target = names.fresh(f"{w}_grad")
        targets.append(target)
        stub.append(ir.Assign(target, "copy", (ir.Var(w),)))
    region = ir.Region(kind, list(primal.params), list(wrt), with_value, primal.body, tuple(outputs),
                       tuple(targets), stub, None, primal.name)
    wrapped = ir.Function(primal.name, list(primal.params), {}, [region], None, primal.filename,
                          primal.firstline, docstring=primal.docstring, user_names=frozenset(names.taken),
                          param_dims=primal.param_dims)
    first = 1 if with_value else 0
    if len(targets) == 1 and single:
        wrapped.result, wrapped.output_tree = ir.Var(targets[0]), None
    else:
        wrapped.returns = tuple(ir.Var(t) for t in targets)
        tree = first if single else tuple(range(first, len(targets)))
        wrapped.output_tree = (0, tree) if with_value else tree
    return wrapped


def _types(state: State) -> State:
    _retype(state)
    if expand_regions(state.primal):
        _retype(state)
    check_consistent(state.primal)
    settle_python_checks(state.primal)
    _check_defined(state)
    if _insert_bound_checks(state):
        _retype(state)
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


def _insert_bound_checks(state: State) -> bool:
    """Reads of a name a loop or branch may leave unassigned get a check (`frontend.bound_checks`);
    after the regions are expanded, so that the checks of an inlined gradient's body are this
    derivation's sites too."""
    primal = state.primal
    sites = insert_bound_checks(primal, _names_of(primal), state.facts.asserts, state.facts.user_variables)
    state.facts.unbound_reads.update(sites)
    return bool(sites)


def _check_result(state: State) -> None:
    """A gradient is of one number: an array (or tuple) result is an error naming the line that returns
    it and pointing to `jacobian` (or `has_aux`); with `has_aux`, the first of a tuple."""
    primal = state.primal
    first = state.steps[0]
    if first.kind != "reverse":
        return
    outputs = outputs_of(primal)
    if first.aux:
        if len(outputs) < 2 or not isinstance(primal.output_tree, tuple) or len(primal.output_tree) != 2:
            raise ArgumentError(f"value_and_grad(..., has_aux=True) needs {primal.name} to return a pair "
                                f"(loss, aux)", filename=state.source.filename, line=state.source.node.lineno,
                                hint="return loss, aux -- aux may be a number, an array or a tuple of them")
        if isinstance(primal.output_tree[0], tuple):
            raise ArgumentError(f"{primal.name} returns a tuple as its loss: has_aux=True differentiates the "
                                f"first of (loss, aux), which must be one number",
                                filename=state.source.filename, line=state.source.node.lineno)
    elif len(outputs) > 1:
        raise ArgumentError(f"{primal.name} returns {len(outputs)} values: a gradient needs one number",
                            filename=state.source.filename, line=state.source.node.lineno,
                            hint="for the derivatives of several outputs use jacobian; for a loss with "
                                 "extra outputs value_and_grad(f, has_aux=True)")
    result = outputs[0]
    t = primal.types.get(result.name) if isinstance(result, ir.Var) else None
    if t is not None and t.is_array:
        where = next((s.loc for s in ir.walk(primal.body) if isinstance(s, ir.Assign)
                      and s.target == result.name and s.loc is not None), None)
        raise ArgumentError(
            f"{primal.name} returns an array ({t}) here: a gradient needs one number",
            filename=where.filename if where else state.source.filename,
            line=where.line if where else state.source.node.lineno,
            source_line=where.text if where else None,
            hint="reduce it to the loss you want (np.sum(...), np.mean(...)); for the derivatives of "
                 "every element use jacobian")


def _retype(state: State) -> None:
    primal = state.primal
    params = {p: state.facts.param_types[p] for p in primal.params}
    primal.types = infer_types(primal, params)
    if specialise(primal, params):
        primal.types = infer_types(primal, params)
    dataflow.invalidate(primal)


def _values(state: State) -> State:
    if make_values(state.primal):
        _retype(state)
    # what may raise on its arrays (a product of shapes that never broadcast) is kept although unread:
    # a derivative is never a number where the function raises
    mark_shape_errors(state.primal)
    return state


def _fold(state: State) -> State:
    """Simplify the primal (fold its constants first, so that invariant arithmetic is recognisable)."""
    if state.runs("fold"):
        primal = state.primal
        single = not primal.returns
        if single:
            primal.returns = (primal.result,)
        simplify(primal)
        if single:
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
    for name in state.leaf_wrt:
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


def _derived(state: State, program) -> State:
    state.programs.append(program)
    state.adjoint = program
    return state


def _reverse_step(step: Step):
    def run(state: State) -> State:
        program = state.program
        outputs = outputs_of(program)
        if step.aux:
            adjoint = reverse(program, _leaf_names(state, step.wrt), step.with_value, step.intermediates,
                              results=[outputs[0]], outputs=outputs if step.with_value else outputs[1:],
                              careful=state.careful)
        else:
            adjoint = reverse(program, _leaf_names(state, step.wrt), step.with_value, step.intermediates,
                              results=[outputs[0]], careful=state.careful)
        return _derived(state, adjoint)
    return run


def _name(state: State, step: Step) -> str | None:
    return f"{state.primal.name}_{step.suffix}" if step.suffix else None


def _forward_step(step: Step, keep: str | None = None):
    def run(state: State) -> State:
        tangent = forward(state.program, _leaf_names(state, step.wrt), primal_outputs=step.primal_outputs,
                          name=None if keep else _name(state, step), careful=state.careful)
        if keep:                      # a jacobian's tangent program: the driver runs it per column
            state.scratch[keep] = tangent
            state.adjoint = tangent
            return state
        return _derived(state, tangent)
    return run


def _vjp_step(step: Step, keep: str | None = None):
    def run(state: State) -> State:
        program = vjp(state.program, _leaf_names(state, step.wrt), None if keep else _name(state, step),
                      careful=state.careful)
        if keep:
            state.scratch[keep] = program
            state.adjoint = program
            return state
        return _derived(state, program)
    return run


def _simplify_pass(keep: str | None = None):
    def run(state: State) -> State:
        if state.runs("simplify"):
            if keep:
                state.scratch[keep] = state.adjoint = simplify(state.scratch[keep])
            else:
                program = simplify(state.programs[-1])
                state.programs[-1] = state.adjoint = program
        return state
    return run


def _jacobian_step(step: Step):
    def run(state: State) -> State:
        program = state.program
        driver = jacobian_program(program, _leaf_names(state, step.wrt), step.mode,
                                  state.scratch.pop("tangent", None),
                                  state.scratch.pop("vjp", None), _name(state, step))
        return _derived(state, driver)
    return run


def _simplify(state: State) -> State:
    if state.runs("simplify"):
        state.adjoint = simplify(state.adjoint)
        if state.programs:
            state.programs[-1] = state.adjoint
    return state


def _fuse_loops(state: State) -> State:
    if state.runs("fuse_loops") and fuse_mirrored_loops(state.adjoint):
        dataflow.invalidate(state.adjoint)
        if state.runs("simplify"):
            state.adjoint = simplify(state.adjoint)
            if state.programs:
                state.programs[-1] = state.adjoint
    return state


def _symbolic(state: State) -> State:
    """SymPy on the adjoint's straight-line scalar regions (`optimise.symbolic`), then the clean-up."""
    if state.runs("symbolic"):
        from .backend.load import cache_dir
        if symbolic_simplify(state.adjoint, cache_dir()):
            # only the old definitions go: sharing `y_hat - y` again would undo `(y_hat - y) * x`
            eliminate(state.adjoint)
    return state


def _factor(state: State) -> State:
    """A factor common to every term of an adjoint's sum multiplied once (`optimise.factor`), then the
    definitions it absorbed go."""
    if state.runs("factor") and factor_common(state.adjoint):
        eliminate(state.adjoint)
    return state


def _broadcasts(state: State) -> State:
    """Elementwise operations read what a broadcast was made from (`optimise.broadcasts`), then the
    broadcasts nothing reads go."""
    if state.runs("broadcasts"):
        dataflow.invalidate(state.adjoint)
        if absorb_broadcasts(state.adjoint):
            dataflow.invalidate(state.adjoint)
            eliminate(state.adjoint)
    return state


def _audit(state: State) -> State:
    """The generated program must obey the rules it asks of the user's: no array read after a write
    through another name (a compiler bug if it happens: refuse rather than return a wrong number)."""
    dataflow.invalidate(state.adjoint)
    check_values(state.adjoint)
    return state


def _fuse_rows(state: State) -> State:
    """Runs of row-wise matrix statements as one loop over the rows (`optimise.fuse_rows`), in a copy of
    the adjoint made for the module Numba compiles: the module users read keeps its array code."""
    state.compiled = None
    if state.runs("fuse_rows") and any(isinstance(s, ir.Assign) and state.adjoint.types.get(s.target) is not None
                                       and state.adjoint.types[s.target].is_array
                                       and state.adjoint.types[s.target].ndim == 2 for s in state.adjoint.body):
        compiled = copy.deepcopy(state.adjoint)
        dataflow.invalidate(compiled)
        vector = frozenset()
        if state.runs("vectorise"):
            from .backend import vecmath
            vector = vecmath.functions() & UNARY_VECTOR_FUNCTIONS
        if fuse_rows(compiled, vector):
            dataflow.invalidate(compiled)
            state.compiled = compiled
    return state


def _accumulate(state: State) -> State:
    """Adjoints summed into their own arrays, `x += e` (`optimise.accumulate`), where nothing else can
    see the write: after the audit, on the program as printed (and on the one Numba compiles)."""
    if state.runs("accumulate"):
        for program in (state.adjoint, state.compiled):
            if program is not None:
                dataflow.invalidate(program)
                accumulate(program)
    return state


def _rank_one(state: State) -> State:
    """Rank-one updates `x += np.outer(u, v)` as loops over x's entries (`optimise.rank_one`), in the
    program Numba compiles (a copy of the adjoint where `fuse_rows` made none): the module users read
    keeps `np.outer`."""
    if state.runs("rank_one"):
        program = state.compiled_program
        if any(isinstance(s, ir.Assign) and s.prim == "outer" for s in ir.walk(program.body)) \
                and any(isinstance(s, ir.Assign) and s.accumulate for s in ir.walk(program.body)):
            candidate = program if state.compiled is not None else copy.deepcopy(program)
            dataflow.invalidate(candidate)
            if rank_one_loops(candidate):
                state.compiled = candidate
    return state


def _vectorise(state: State) -> State:
    """Plan the loops of the module Numba compiles (`optimise.vectorise`): blocks with vector math where
    this machine has libmvec, fixed chunks of fused sums (in parallel where threads are allowed)."""
    state.plans, state.threads = {}, 1
    if state.runs("vectorise"):
        from .backend import vecmath
        from .backend.print_loops import thread_setting
        program = state.compiled_program
        if any(isinstance(s, ir.For) for s in ir.walk(program.body)):
            threads = thread_setting()
            dataflow.invalidate(program)
            state.plans = plan_loops(program, vecmath.functions(), chunks=threads is not None)
            state.threads = threads if threads is not None else 1
        if any(isinstance(s, ir.Assign) and s.prim in UNARY_VECTOR_FUNCTIONS for s in ir.walk(program.body)):
            state.plans.update(plan_array_calls(program, vecmath.functions()))
    return state


def _print(state: State) -> State:
    """The program is final: its modules (`State.text`, what `jit=False` runs and the verifier checks, and
    `State.jit_text`, the one Numba compiles) may be printed, each when first asked for."""
    state.printed = {}
    return state


def header(state: State) -> str:
    primal = state.primal
    where = f"{os.path.basename(primal.filename)}:{primal.firstline}"
    params = ", ".join(f"{p}: {primal.types[p]}" for p in primal.params)
    wrt = ", ".join(state.leaf_wrt or state.wrt)
    name = primal.name
    for kind, inner_wrt, with_value, single in state.regions:
        wrt_text = "" if list(inner_wrt) == primal.params[:1] else f", wrt={', '.join(inner_wrt)}"
        name = f"{'value_and_grad' if with_value else 'grad'}({name}{wrt_text})"
    derivative = (lambda w: f"d/d{w} {name}") if state.regions else (lambda w: f"d{name}/d{w}")
    if [s.kind for s in state.steps] == ["reverse"]:
        step = state.steps[0]
        returns = ("the value of " + name + ", then " if state.with_value else "") + \
            ", ".join(derivative(w) for w in (state.leaf_wrt or state.wrt))
        if step.aux:
            returns = (f"the value of {name} (loss, aux), then " if step.with_value else "aux, then ") + \
                ", ".join(f"dloss/d{w}" for w in (state.leaf_wrt or state.wrt))
        return (f"Reverse-mode gradient of {name} ({where}), derived by autodiff_compiler {VERSION}.\n\n"
                f"Parameters: {params}\nDifferentiated with respect to: {wrt}\nReturns: {returns}\n")
    program = state.adjoint
    extra = [f"{p}: {program.types.get(p, '?')}" for p in program.params[len(primal.params):]]
    what = describe_steps(state.steps, name)
    return (f"{what} ({where}), derived by autodiff_compiler {VERSION}.\n\n"
            f"Parameters: {', '.join([params] + extra) if extra else params}\n"
            f"Differentiated with respect to: {wrt}\nReturns: {describe_returns(state.steps, name)}\n")


def describe_steps(steps: tuple, name: str) -> str:
    kinds = [s.kind for s in steps]
    if kinds == ["forward"]:
        return f"Forward-mode derivative (Jacobian-vector product) of {name}"
    if kinds == ["vjp"]:
        return f"Vector-Jacobian product (reverse mode) of {name}"
    if kinds == ["reverse", "forward"]:
        return f"Hessian-vector product (forward over reverse mode) of {name}"
    if kinds == ["reverse", "jacobian"]:
        return f"Hessian (columns by forward mode over the reverse-mode gradient) of {name}"
    if kinds == ["jacobian"]:
        how = {"forward": "columns by forward mode", "reverse": "rows by reverse mode",
               "auto": "rows by reverse mode or columns by forward mode, whichever are fewer"}[steps[0].mode]
        return f"Jacobian ({how}) of {name}"
    return f"Derivative ({' over '.join(reversed(kinds))}) of {name}"


def describe_returns(steps: tuple, name: str) -> str:
    kinds = [s.kind for s in steps]
    last = steps[-1]
    if kinds == ["forward"]:
        return f"the outputs of {name}, then their tangents (derivatives along the tangents given)"
    if kinds == ["vjp"]:
        return f"the outputs of {name}, then the gradients of sum_k ct_k . output_k with respect to " + \
            ", ".join(last.wrt)
    if last.kind == "forward" and not last.primal_outputs:
        return "the tangents of the gradient (the Hessian times the tangent)"
    if last.kind == "jacobian":
        return f"the outputs, then d output_k / d w_j for each output k and each w_j in ({', '.join(last.wrt)}), " \
               f"as (size of output, size of w_j) blocks"
    return "the outputs, then their derivatives"


def passes_of(state: State) -> list:
    """Every pass of this derivation, in order: (name, function of the State).  A name that appears
    again (the simplifier after a second transform) is numbered: `simplify2`."""
    passes = list(PRIMAL_PASSES)
    for number, step in enumerate(state.steps, 1):
        if step.kind == "reverse":
            passes += [("reverse", _reverse_step(step)), ("simplify", _simplify_pass()),
                       ("fuse_loops", _fuse_loops)]
            if number == len(state.steps):
                # only on the program printed: a later transform would differentiate SymPy's forms
                # (their indicator conditionals included), which nothing has proved it may
                passes += [("symbolic", _symbolic), ("factor", _factor)]
        elif step.kind == "forward":
            passes += [("forward", _forward_step(step)), ("simplify", _simplify_pass())]
        elif step.kind == "vjp":
            passes += [("vjp", _vjp_step(step)), ("simplify", _simplify_pass())]
        elif step.kind == "jacobian":
            if step.mode in ("forward", "auto"):
                passes += [("forward", _forward_step(step, keep="tangent")),
                           ("simplify", _simplify_pass(keep="tangent"))]
            if step.mode in ("reverse", "auto"):
                passes += [("vjp", _vjp_step(step, keep="vjp")), ("simplify", _simplify_pass(keep="vjp"))]
            passes += [("jacobian", _jacobian_step(step)), ("simplify", _simplify_pass())]
        else:  # pragma: no cover
            raise ArgumentError(f"unknown derivation step {step.kind!r}")
        if number == len(state.steps) and step.kind != "reverse":
            # the last program's tangents too (a Hessian's: the logistic loss's p(1 - p) where the chain
            # rule's 1/(1 - p) cancels); nothing differentiates it after
            passes += [("symbolic", _symbolic)]
    passes += [("broadcasts", _broadcasts), ("audit", _audit), ("fuse_rows", _fuse_rows), ("accumulate", _accumulate),
               ("rank_one", _rank_one), ("vectorise", _vectorise), ("print", _print)]
    named, seen = [], {}
    for name, run in passes:
        seen[name] = seen.get(name, 0) + 1
        named.append((name if seen[name] == 1 else f"{name}{seen[name]}", run))
    return named


def derived_pass(name: str) -> bool:
    """Does `--dump name` show a derived program (else the primal)?"""
    base = name.rstrip("0123456789")
    return base in ("reverse", "simplify", "fuse_loops", "symbolic", "factor", "broadcasts", "audit", "fuse_rows",
                    "accumulate", "rank_one", "vectorise", "forward", "vjp", "jacobian")


# The primal's passes, in order: (name, function of the State).
PRIMAL_PASSES = [("fence", _fence), ("lower", _lower), ("types", _types), ("values", _values),
                 ("fold", _fold), ("hoist", _hoist), ("fuse", _fuse)]
# Every pass of a gradient, in order.  `--dump NAME` shows the program after it.  Other derivations
# (forward mode, Jacobians, Hessians) have their own list: `passes_of(state)`.
PASSES = PRIMAL_PASSES + [("reverse", lambda state: _reverse_step(state.steps[0])(state)), ("simplify", _simplify),
                          ("fuse_loops", _fuse_loops), ("symbolic", _symbolic), ("factor", _factor),
                          ("broadcasts", _broadcasts), ("audit", _audit), ("fuse_rows", _fuse_rows),
                          ("accumulate", _accumulate), ("rank_one", _rank_one), ("vectorise", _vectorise),
                          ("print", _print)]
# The passes that only make the program faster or shorter: each can be switched off alone
# (`skip=`, the CLI's `--skip`) to find which one is at fault when a result looks wrong.
OPTIMISATIONS = ("fold", "hoist", "fuse", "simplify", "fuse_loops", "symbolic", "factor", "broadcasts", "fuse_rows",
                 "accumulate", "rank_one", "vectorise", "shapes")
# After these, `--dump` shows the adjoint; after the others, the primal.
ADJOINT_PASSES = ("reverse", "simplify", "fuse_loops", "symbolic", "factor", "broadcasts", "audit", "fuse_rows",
                  "accumulate", "rank_one", "vectorise")


def run_until(state: State, last: str | None = None) -> State:
    for name, run in passes_of(state):
        state = run(state)
        if name == last:
            break
    return state


def derive(source: Source, param_types: dict, wrt: list, *, simplify: bool = True,
           with_value: bool = True, intermediates: tuple = (), skip=(), steps: tuple = (),
           regions: tuple = (), param_dims: tuple = (), careful: bool = False) -> State:
    unknown = set(skip) - set(OPTIMISATIONS)
    if unknown:
        raise ArgumentError(f"unknown optimisation(s) to skip: {', '.join(sorted(unknown))}",
                            hint=f"the optimisations are: {', '.join(OPTIMISATIONS)}")
    with without_cyclic_collection():
        return run_until(State(source, param_types, list(wrt), simplify, with_value, tuple(intermediates),
                               frozenset(skip), steps=tuple(steps), regions=tuple(regions),
                               param_dims=tuple(param_dims) if simplify and "shapes" not in skip else (),
                               careful=careful))


@contextlib.contextmanager
def without_cyclic_collection():
    """The passes and the printer allocate many small sets and make no reference cycles (recursive
    walkers are functions or small classes, not closures that call themselves; analyses hold no
    reference back to what holds them: `tests/test_pipeline.py`), so what they drop is freed at once
    by reference counting.  CPython's cyclic collector, run every few hundred allocations over
    everything alive, made a long derivation quadratic; it is paused, and runs as usual after."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
