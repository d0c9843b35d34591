"""Forward: a typed IR function -> its tangent program (forward mode, Jacobian-vector products).

Takes: an `ir.Function` with `types` -- a primal (its outputs: `result`, or
`returns` for a tuple result) or any derived program, an adjoint with its
tapes included -- and the names of the parameters to differentiate with
respect to.  Guarantees an `ir.Function` that

* takes the input's parameters followed by one tangent per `wrt` parameter
  (`x_dot`, of the parameter's type), and returns the input's outputs followed
  by their tangents (with `primal_outputs=False`, the tangents alone): the
  directional derivative of every output along the tangents given;
* runs every statement of the input, in order, each followed by its tangent
  statements, instantiated from the one rule table: `out_dot = sum_k
  partial_k * x_k_dot` from `partials`, or the table's `jvp` terms for the
  structural array primitives.  Only active variables (varied by `wrt`,
  useful for the outputs: `ir.activity`) get tangents, and every assignment
  to an active variable assigns its tangent too (zero for a primitive on the
  non-differentiable list), so a tangent is never stale;
* keeps the input's control flow (branches, `for`, `while`, exit flags) and
  its stores (`a[i] = v` stores `v_dot` into `a_dot`); for derived programs, a
  tape that carries a derivative gets a tangent tape, pushed and popped
  alongside it, so forward mode over an adjoint program is the
  Hessian-vector product;
* never reads a value the statement being differentiated has overwritten: a
  statement that reads its own target (`s = s + e`, as adjoint programs
  write) is split through a temporary first;
* makes no tangent array share memory with another unless their primal
  arrays do (the tangent of `b = a + 0` is a new array even when it equals
  `a_dot`), so the input's aliasing facts hold for the tangents too;
* broadcasts a tangent to its value's shape where the value is broadcast
  (`x + A` for a vector `x` and a matrix `A`);
* refuses, with an `AutodiffError` naming the line, a primitive the table has
  no forward rule for (`refuse=`, e.g. second derivatives through `np.prod`);
* with `careful=True` (for the careful rerun, `backend.strong_zero`), marks its
  structural zeros as the reverse transform does: a partial that reads no
  active value but through an indicator (`instantiate.structural_partial`:
  the masks of `np.where`, `min`, `clip`) is `structural(...)`, and so is
  every zero tangent (of a value no `wrt` parameter varies, of a primitive on
  the non-differentiable list -- comparisons, `floor`, the reverse
  transform's own `structural` marks), each zero on a neighbourhood of the
  point.  So the tangent of the branch `np.where` did not take, NaN where
  that branch is undefined, contributes an exact zero in the rerun.
"""
from __future__ import annotations

import copy

from .. import ir
from ..errors import AutodiffError, NoDerivativeRuleError
from ..ir import FLOAT, Assign, Comment, Const, For, If, Pop, Push, Store, TapeAlloc, Var, While
from ..ir import Names
from ..ir.activity import useful_for, varied_by
from ..ir import dataflow
from ..ir.dataflow import SHARING
from ..ir.types import infer_types, type_of_operand
from ..primitive import _parsed
from ..rules import ARG_NAMES, PRIMITIVES
from .instantiate import Instantiate, structural_partial


def outputs_of(function: ir.Function) -> tuple:
    """The operands a program returns: `returns` for derived programs and tuple results, else `result`."""
    return tuple(function.returns) if function.returns else (function.result,)


def _error_at(loc, message: str, cls=AutodiffError, hint: str | None = None) -> AutodiffError:
    if loc is None:
        return cls(message, hint=hint)
    where = loc
    while where.via is not None:       # an inlined function: name the user's own calling line too
        where = where.via
    extra = "" if where is loc else f" (in a function called from {where.filename}:{where.line})"
    return cls(message + extra, filename=loc.filename, line=loc.line, source_line=loc.text, hint=hint)


class Forward:
    """Builds the tangent program of one function (see the module docstring)."""

    def __init__(self, function: ir.Function, wrt: list[str], outputs: tuple | None = None, taken=(),
                 careful: bool = False):
        self.input = function
        self.careful = careful          # structural zeros marked for the careful rerun (module docstring)
        self.types = dict(function.types)
        self.wrt = list(wrt)
        self.outputs = tuple(outputs) if outputs is not None else outputs_of(function)
        self.tapes = {s.tape: s for s in ir.walk(function.body) if isinstance(s, TapeAlloc)}
        varied = varied_by(function, set(wrt))
        useful = useful_for(function, set(ir.operand_vars(self.outputs)))
        self.active = {name for name in varied & useful if self.carries(name)}
        taken = set(taken) | set(function.user_names) | set(function.params) | set(function.types) | set(self.tapes)
        for stmt in ir.walk(function.body):
            taken.update(ir.writes(stmt))
            taken.update(ir.reads(stmt))
        self.names = Names(taken)
        self.tangents: dict[str, str] = {}

    def carries(self, name: str) -> bool:
        """Can `name` carry a derivative: a float scalar, a float array, or a tape of floats?"""
        if name in self.tapes:
            return self.tapes[name].dtype == "np.float64"
        t = self.types.get(name)
        return t is not None and t.is_float

    def tangent_of(self, name: str) -> str:
        if name not in self.tangents:
            dot = self.names.fresh(f"{name}_dot")
            self.tangents[name] = dot
            if name in self.types:
                self.types[dot] = self.types[name]
        return self.tangents[name]

    def is_active(self, operand) -> bool:
        return isinstance(operand, Var) and operand.name in self.active

    def rank(self, operand) -> int:
        t = self.types.get(operand.name) if isinstance(operand, Var) else None
        return t.ndim if t is not None and t.is_array else 0

    def is_array(self, operand) -> bool:
        t = type_of_operand(operand, self.types)
        return t is not None and t.is_array

    # --------------------------------------------------------------- statements
    def block(self, block: list) -> list:
        out: list = []
        for stmt in block:
            if isinstance(stmt, Assign):
                out += self.assign(stmt)
            elif isinstance(stmt, Store):
                out += self.store(stmt)
            elif isinstance(stmt, If):
                out.append(If(stmt.cond, self.block(stmt.body), self.block(stmt.orelse), stmt.loc))
            elif isinstance(stmt, For):
                out.append(For(stmt.index, stmt.start, stmt.stop, stmt.step, self.block(stmt.body), stmt.loc,
                               stmt.exit_flag))
            elif isinstance(stmt, While):
                out.append(While(self.block(stmt.test), stmt.cond, self.block(stmt.body), stmt.loc,
                                 stmt.exit_flag))
            elif isinstance(stmt, TapeAlloc):
                out += self.tape_alloc(stmt)
            elif isinstance(stmt, Push):
                out += self.push(stmt)
            elif isinstance(stmt, Pop):
                out += self.pop(stmt)
            elif isinstance(stmt, Comment):
                out.append(stmt)
            else:  # pragma: no cover - every statement kind is listed above
                raise AutodiffError(f"internal: forward mode meets an unknown statement {type(stmt).__name__}")
        return out

    def zero(self, name: str, loc, emit) -> None:
        """`name_dot = 0` in the type of `name` (a zero array of its shape for arrays); careful, a
        structural zero (`backend.strong_zero`): nothing near the point moves the value."""
        dot = self.tangent_of(name)
        if self.is_array(Var(name)):
            if self.careful:
                zeros = self.zero_operand(Var(name), loc, emit)
                emit(Assign(dot, "copy", (zeros,), loc))
            else:
                emit(Assign(dot, "zeros_like", (Var(name),), loc))
        else:
            emit(Assign(dot, "structural" if self.careful else "copy", (Const(0.0),), loc))

    def zero_operand(self, operand, loc, emit):
        """A zero tangent for a value that carries none: 0.0, or a new zero array of its shape (careful,
        structural zeros, as `zero`'s)."""
        if self.is_array(operand):
            temp = self.names.temp()
            self.types[temp] = self.types[operand.name]
            emit(Assign(temp, "zeros_like", (operand,), loc))
            if not self.careful:
                return Var(temp)
            marked = self.names.temp()
            self.types[marked] = self.types[operand.name]
            emit(Assign(marked, "structural", (Var(temp),), loc))
            return Var(marked)
        if self.careful:
            temp = self.names.temp()
            self.types[temp] = FLOAT
            emit(Assign(temp, "structural", (Const(0.0),), loc))
            return Var(temp)
        return Const(0.0)

    def dot_operand(self, operand, loc, emit):
        if self.is_active(operand):
            return Var(self.tangent_of(operand.name))
        return self.zero_operand(operand, loc, emit)

    def _accumulates(self, stmt: Assign) -> bool:
        """Is `stmt` `s = s + e` or `s = s - e` of floats, `e` another name and `s` carrying a tangent
        already?  Its tangent is then `s_dot = s_dot +- e_dot`: `e_dot` does not change when `s` does."""
        target = stmt.target
        return (stmt.prim in ("add", "sub") and not stmt.params and len(stmt.args) == 2
                and stmt.args[0] == Var(target) and isinstance(stmt.args[1], Var) and stmt.args[1].name != target
                and self.types.get(target) == FLOAT and self.types.get(stmt.args[1].name) == FLOAT
                and self.is_active(stmt.args[0]) and target in self.tangents)

    def assign(self, stmt: Assign) -> list:
        if stmt.target not in self.active:
            return [stmt]
        out: list = []
        if self._accumulates(stmt):
            # `s = s + e` of numbers: `s_dot = s_dot + e_dot`, an accumulation as the value's is (a
            # Hessian's tangent of `b_bar += t` stays one, and the `symbolic` pass rewrites `t_dot` alone)
            out.append(stmt)
            addend = stmt.args[1]
            if self.is_active(addend):
                dot = self.tangent_of(stmt.target)
                out.append(Assign(dot, stmt.prim, (Var(dot), Var(self.tangent_of(addend.name))), stmt.loc))
            return out
        if stmt.target in ir.operand_vars(stmt.args):
            # `s = s + e`: the rule reads the old `s` (and its tangent) after the statement wrote it.
            # Compute into a temporary, then copy both value and tangent.
            temp = self.names.temp()
            self.types[temp] = self.types[stmt.target]
            self.active.add(temp)
            first = Assign(temp, stmt.prim, stmt.args, stmt.loc, stmt.params)
            out += self.assign(first)
            out.append(Assign(stmt.target, "copy", (Var(temp),), stmt.loc, (), stmt.inplace))
            out.append(Assign(self.tangent_of(stmt.target), "copy", (Var(self.tangent_of(temp)),), stmt.loc))
            return out
        out.append(stmt)
        prim = PRIMITIVES[stmt.prim]
        active_args = [k for k, a in enumerate(stmt.args) if self.is_active(a)]
        if prim.nondiff or not active_args:
            self.zero(stmt.target, stmt.loc, out.append)
            return out
        if prim.refuse:
            raise _error_at(stmt.loc, prim.refuse, NoDerivativeRuleError)
        make = Instantiate(self.names, out.append, stmt.loc, self.types)
        binding = dict(zip(ARG_NAMES, stmt.args))
        binding.update((f"a{k}", arg) for k, arg in enumerate(stmt.args))   # operands of variadic primitives
        binding["out"] = Var(stmt.target)
        terms = []
        broadcast = False
        if prim.jvp is not None:
            rules = prim.jvp_for(stmt.params, tuple(self.rank(a) for a in stmt.args))
            for k in active_args:
                rule = rules[k] if k < len(rules) else None
                if rule is None:
                    continue                     # the value depends on this argument's shape only
                d = Var(self.tangent_of(stmt.args[k].name))
                if rule == "gather":             # subscript: the same part of the tangent
                    terms.append(make.apply(stmt.prim, (d,) + tuple(stmt.args[1:]), stmt.params))
                    continue
                terms.append(make(_parsed(rule), dict(binding, d=d)))
        elif prim.partials is not None:
            covered, widest = set(), 0
            for k in active_args:
                partial = make(prim.partial_tree(k), binding)
                names = prim.names_in_partial(k)
                covered |= {k} | {ARG_NAMES.index(n) for n in names if n in ARG_NAMES}
                if "out" in names:
                    covered |= set(range(len(stmt.args)))
                if isinstance(partial, Const) and partial.value == 0 and not isinstance(partial.value, bool):
                    continue                     # a structural zero (a condition, a custom rule's value)
                if self.careful and not isinstance(partial, Const) and \
                        structural_partial(prim, k, binding, self.active):
                    partial = make.apply("structural", (partial,))
                d = Var(self.tangent_of(stmt.args[k].name))
                widest = max(widest, self.rank(stmt.args[k]))
                if isinstance(partial, Const) and partial.value == 1:
                    terms.append(d)
                elif isinstance(partial, Const) and partial.value == -1:
                    terms.append(make.apply("neg", (d,)))
                else:
                    terms.append(make.apply("mul", (partial, d)))
            broadcast = self.is_array(Var(stmt.target)) and any(
                self.is_array(a) for k, a in enumerate(stmt.args) if k not in covered)
            if prim.result == "last" and not broadcast and terms and widest:
                terms = [self.summed_to_value(make, terms, stmt, widest)]
        else:
            raise _error_at(stmt.loc, f"no forward-mode rule for the primitive {stmt.prim!r}", NoDerivativeRuleError)
        if not terms:
            self.zero(stmt.target, stmt.loc, out.append)
            return out
        total = terms[0]
        for term in terms[1:]:
            total = make.apply("add", (total, term))
        if broadcast:
            # the tangent takes the value's shape: `expand_like`, not `total + zeros_like(value)`, which
            # the simplifier folds to `total` for a zero array of its type (the broadcast lost: the
            # tangent of `np.sum(r - c)` for a length-1 `c` was -1, not -len(r))
            total = make.apply("expand_like", (total, Var(stmt.target)))
        dot = self.tangent_of(stmt.target)
        # (never into a statement that reads the tangent it would assign: reverse mode relies on no
        # statement reading its own target)
        fresh = isinstance(total, Var) and out and out[-1] is not stmt and isinstance(out[-1], Assign) \
            and out[-1].target == total.name and total.name not in self.tangents.values() \
            and dot not in ir.operand_vars(out[-1].args)
        if isinstance(total, Var) and self.is_array(Var(stmt.target)) and not fresh and stmt.prim not in SHARING:
            # the tangent is another array's tangent itself: the value is a new array, so is its tangent
            out.append(Assign(dot, "array_copy", (total,), stmt.loc))
        elif fresh:
            out[-1].target = dot                 # name the last temporary after the tangent it computes
        else:
            out.append(Assign(dot, "copy", (total,), stmt.loc))
        return out

    def summed_to_value(self, make, terms: list, stmt: Assign, widest: int):
        """The tangent of a value a custom rule declares entry by entry (`result="last"`: the function's body
        makes it), from its terms, whose operands have up to `widest` axes.  Where the body reduces an
        operand (a norm of a vector), the value has fewer axes or axes of length 1: each entry's tangent is
        the sum of those of the operand entries aligned with it, as NumPy broadcasts the value against the
        operand (reverse mode's adjoint, partial * the value's adjoint, is that broadcast).  The front end
        admits only a number or a value of the operands' axes (`lower_calls`: keepdims), so that the
        alignment is the reduction's."""
        total = terms[0]
        for term in terms[1:]:
            total = make.apply("add", (total, term))
        value, rank = Var(stmt.target), self.rank(Var(stmt.target))
        if rank == 0:
            return make.apply("np_sum", (total,))
        if widest > rank:
            total = make.apply("sum_axes", (total,), (("axes", tuple(range(widest - rank))), ("keepdims", False),
                                                     ("ndim", widest)))
        return make.apply("sum_like", (total, value), (("ndim", rank),))

    def store(self, stmt: Store) -> list:
        out: list = [stmt]
        if stmt.array not in self.active:
            return out
        dot = self.tangent_of(stmt.array)
        if self.is_active(stmt.value):
            out.append(Store(dot, stmt.index, Var(self.tangent_of(stmt.value.name)), stmt.prim, stmt.loc))
        elif stmt.prim == "copy":
            zero = self.zero_operand(Const(0.0), stmt.loc, out.append)
            out.append(Store(dot, stmt.index, zero, "copy", stmt.loc))
        return out

    def tape_alloc(self, stmt: TapeAlloc) -> list:
        out: list = [stmt]
        if stmt.tape in self.active:
            shape_of = stmt.shape_of
            if shape_of is not None and shape_of in self.active:
                shape_of = self.tangent_of(shape_of)
            out.append(TapeAlloc(self.tangent_of(stmt.tape), stmt.dtype, stmt.capacity, stmt.growable, shape_of))
        return out

    def push(self, stmt: Push) -> list:
        out: list = [stmt]
        if stmt.tape in self.active:
            value = self.dot_operand(stmt.value, stmt.loc, out.append)
            out.append(Push(self.tangent_of(stmt.tape), value, stmt.growable, stmt.loc))
        return out

    def pop(self, stmt: Pop) -> list:
        out: list = [stmt]
        if stmt.target in self.active:
            if stmt.tape in self.active:
                out.append(Pop(self.tangent_of(stmt.tape), self.tangent_of(stmt.target), stmt.loc))
            else:
                self.zero(stmt.target, stmt.loc, out.append)
        return out

    # ---------------------------------------------------------------- assembly
    def build(self, primal_outputs: bool = True, name: str | None = None) -> ir.Function:
        function = self.input
        for w in self.wrt:
            t = self.types.get(w)
            if w not in function.params or t is None or not t.is_float:
                raise AutodiffError(f"cannot differentiate {function.name} with respect to {w!r} "
                                    f"(of type {t}): only float parameters have tangents")
        tangent_params = [self.tangent_of(w) for w in self.wrt]
        # a parameter outside wrt that an assignment makes active (`x *= y` with y in wrt) holds its
        # argument, with tangent zero, until then (on every path that does not assign it)
        head: list = []
        for p in function.params:
            if p in self.active and p not in self.wrt:
                self.zero(p, None, head.append)
        # Numba types a variable only if every read it cannot rule out has a value: a result assigned on
        # every path that its path-blind analysis cannot see (`while c: return a` then `return b`)
        # starts as a zero of its type, and so does its tangent (as the reverse transform does)
        facts = dataflow.of(function)
        for output in ir.operand_vars(self.outputs):
            t = self.types.get(output)
            if output not in function.params and t is not None and not t.is_array \
                    and dataflow.UNDEFINED in facts.reaching_exit(output):
                head.append(Assign(output, "copy", (ir.ZERO_OF_KIND[t.kind],)))
                if self.is_active(Var(output)):
                    self.zero(output, None, head.append)
        # the input's statements are kept: work on copies, so that passes over the output never change the input
        body = head + self.block(copy.deepcopy(function.body))
        tail: list = []
        tangents = tuple(self.dot_operand(o, None, tail.append) if isinstance(o, Var)
                         else Const(0.0) for o in self.outputs)
        returns = (tuple(self.outputs) if primal_outputs else ()) + tangents
        out = ir.Function(name or f"{function.name}_jvp", list(function.params) + tangent_params, {},
                          body + tail, None, function.filename, function.firstline, returns=returns,
                          docstring=function.docstring, user_names=frozenset(self.names.taken),
                          param_dims=function.param_dims)
        param_types = {p: self.types[p] for p in out.params}
        types = dict(self.types)
        types.update(infer_types(out, {**self.types, **param_types}))
        out.types = types
        out.exact_names = getattr(function, "exact_names", None) or set(function.types)
        out.tangents = dict(self.tangents)
        return out


def forward(function: ir.Function, wrt: list[str], *, primal_outputs: bool = True,
            outputs: tuple | None = None, name: str | None = None, careful: bool = False) -> ir.Function:
    """The tangent program of `function` with respect to the parameters `wrt` (see the module docstring);
    `careful`: with its structural zeros marked, for the rerun of `backend.strong_zero`."""
    return Forward(function, wrt, outputs, careful=careful).build(primal_outputs, name)
