"""Lower: a fenced Python AST -> the IR (A-normal form, structured control flow).

Takes: a `parse.Source` that passed the fence.  Guarantees:

* every right-hand side is one primitive over operands; compiler temporaries get
  fresh names (`t1`, `t2`, ...) that never clash with the user's names, and the
  user's own variables keep their names;
* no statement reads the variable it assigns (`a = a * a` becomes
  `t1 = a * a; a = t1`), which the reverse pass relies on;
* `and`, `or` and `a if c else b` are lowered to `If`s (short-circuit kept);
  no `If` writes the variable holding its own condition;
* `break`, `continue` and `return` inside branches and loops become flags that
  guard the rest of their block, and loops that may end early carry an
  `exit_flag`; the function's result is one variable;
* calls to the user's own functions are inlined, their variables prefixed with
  the callee's name, every statement keeping the callee's file and line;
  recursion is an error;
* top-level reassignments get versioned names (`y`, `y2`), SSA-style, so
  straight-line code never overwrites a value;
* calls with no derivative rule, undefined names and misuse of supported
  constructs are errors naming file, line and construct.
"""
from __future__ import annotations

import ast
import os
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import ir
from ..errors import (AutodiffError, NoDerivativeRuleError, RecursionNotSupportedError,
                     UnsupportedSyntaxError)
from ..ir import Assign, Const, For, If, Loc, Store, Slice, Var, While
from . import lower_arrays as arrays
from .parse import (ConstantRef, CustomRef, DerivativeRef, MarkerRef, ModuleRef, PrimitiveRef, Source, UserFunctionRef,
                    fence)
from ..ir import Names
from ..rules import BINARY_OPERATORS, COMPARISONS, PRIMITIVES


def identifiers(node: ast.AST) -> set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
    return names


@dataclass
class Loop:
    skip: str          # set when the rest of this iteration must not run
    leave: str         # set when the loop must end after this iteration


@dataclass
class Frame:
    """One function being lowered: the top one or an inlined callee."""
    source: Source
    scope: dict                     # user name -> IR variable name
    result: str
    returned: str
    prefix: str = ""
    loops: list = field(default_factory=list)
    uses_returned: bool = False
    result_arity: int | None = None
    call_site: Loc | None = None
    result_tree: object = None      # the top function's tuple result: nested tuples of leaf numbers


class Lowering:
    def __init__(self, source: Source, tuple_results: bool = False):
        self.source = source
        # may the top function return a tuple (jacobian, jvp, vjp, has_aux)?  A gradient needs one number.
        self.tuple_results = tuple_results
        self.names = Names(identifiers(source.node))
        self.blocks: list[list] = []
        self.frames: list[Frame] = []
        self.loc: Loc | None = None
        self.no_grad = 0
        self.inline_count: dict[str, int] = {}
        self.sources = {source.filename + ":" + source.name: source.text}
        self._stmt_dispatch = {
            ast.Assign: self.lower_assign, ast.AnnAssign: self.lower_annassign,
            ast.AugAssign: self.lower_augassign, ast.Return: self.lower_return, ast.If: self.lower_if,
            ast.For: self.lower_for, ast.While: self.lower_while, ast.Break: self.lower_break,
            ast.Continue: self.lower_continue, ast.Pass: self.lower_pass, ast.Expr: self.lower_pass,
            ast.With: self.lower_with,
        }
        self._expr_dispatch = {
            ast.Constant: self.lower_constant, ast.Name: self.lower_name, ast.BinOp: self.lower_binop,
            ast.UnaryOp: self.lower_unaryop, ast.Compare: self.lower_compare, ast.BoolOp: self.lower_boolop,
            ast.IfExp: self.lower_ifexp, ast.Call: self.lower_call, ast.Attribute: self.lower_attribute,
            ast.Subscript: self.lower_subscript, ast.Tuple: self.lower_tuple,
        }

    # ------------------------------------------------------------------ plumbing
    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def emit(self, stmt) -> None:
        if getattr(stmt, "loc", "absent") is None:
            stmt.loc = self.loc
        if isinstance(stmt, If) and isinstance(stmt.cond, Var) and \
                stmt.cond.name in ir.assigned_in(stmt.body) | ir.assigned_in(stmt.orelse):
            # the reverse sweep replays the branch from its condition: keep the value it was taken on
            taken = self.assign(self.names.temp(), "copy", (stmt.cond,))
            stmt.cond = taken
        self.blocks[-1].append(stmt)

    @contextmanager
    def block(self, out: list):
        self.blocks.append(out)
        try:
            yield out
        finally:
            self.blocks.pop()

    def error(self, cls, message, node, hint=None, construct=None):
        return self.frame.source.error(cls, message + self.called_from(), node, hint=hint, construct=construct)

    def called_from(self, innermost=None) -> str:
        """` (in helper, called from f.py:12)` for an error inside an inlined function: the user's
        own line that led there.  `innermost`: (name, call location) of a callee not entered yet."""
        calls = [(frame.source.name, frame.call_site) for frame in self.frames if frame.call_site is not None]
        if innermost is not None:
            calls.append(innermost)
        chain = [f"{name}, called from {os.path.basename(site.filename)}:{site.line}" for name, site in reversed(calls)]
        return f" (in {'; in '.join(chain)})" if chain else ""

    def unsupported(self, node, construct, hint):
        return self.error(UnsupportedSyntaxError, f"unsupported construct: {construct}", node, hint, construct)

    def assign(self, target: str, prim: str, args: tuple, params: tuple = ()) -> Var:
        self.emit(Assign(target, prim, tuple(args), None, params))
        return Var(target)

    def apply(self, prim: str, args, target: str | None = None, params: tuple = ()) -> Var:
        """Emit `target = prim(args)`; a temporary when no target is given or the target is an argument."""
        args = tuple(args)
        if target is None or target in ir.operand_vars(args):
            temp = self.assign(self.names.temp(), prim, args, params)
            if target is None:
                return temp
            return self.assign(target, "copy", (temp,))
        return self.assign(target, prim, args, params)

    def materialise(self, operand, target: str | None) -> object:
        """Put an operand into `target` (a copy) when a target is wanted."""
        if target is None:
            return operand
        return self.assign(target, "copy", (operand,))

    # -------------------------------------------------------------------- entry
    def lower_function(self) -> ir.Function:
        node = self.source.node
        params = [a.arg for a in node.args.args]
        frame = Frame(self.source, {p: p for p in params}, self.names.fresh("value"),
                      self.names.fresh("returned"))
        self.parameter_aliases = set(params)
        self.frames.append(frame)
        body: list = []
        with self.block(body):
            self.check_returns(node)
            self.lower_body(node.body)
        self.frames.pop()
        function = ir.Function(node.name, params, {}, body, Var(frame.result), self.source.filename,
                               node.lineno, docstring=ast.get_docstring(node) or "",
                               user_names=frozenset(self.names.taken))
        function.output_tree = None
        if frame.result_tree is not None:
            # a tuple result: the leaves, in order, are the outputs; the tree says how they nest
            function.result = None
            function.returns = tuple(Var(f"{frame.result}_{k}") for k in range(frame.result_arity))
            function.output_tree = frame.result_tree
        return function

    def check_returns(self, node: ast.FunctionDef) -> None:
        if not _always_returns(node.body):
            last = node.body[-1]
            raise self.error(UnsupportedSyntaxError,
                             f"function {node.name!r} can end without returning a value", last,
                             "end every path of the function with 'return <expression>'",
                             "missing return")

    def lower_body(self, stmts: list) -> None:
        frame = self.frame
        # as in Python, a name assigned anywhere in the function is a local everywhere in it (a loop
        # may read in one trip what a later line assigned in the trip before)
        for name in sorted(_assigned_names(stmts)):
            self.bind(name)
        if any(isinstance(n, ast.Return) for s in stmts for n in ast.walk(s)
               if not (isinstance(s, ast.Return) and s is stmts[-1])):
            self.assign(frame.returned, "copy", (Const(False),))
            frame.uses_returned = True
        self.lower_block(stmts, top=True)

    def lower_block(self, stmts: list, top: bool = False) -> bool:
        """Lower statements into the current block; True when the block may exit early."""
        may_exit = False
        for k, stmt in enumerate(stmts):
            self.loc = Loc(self.frame.source.filename, stmt.lineno, self.frame.source.line_text(stmt.lineno).strip(),
                           self.frame.call_site)
            if top and not self.frame.loops and isinstance(stmt, ast.Return) and k == len(stmts) - 1:
                self.lower_final_return(stmt)
                return may_exit
            exits = self._stmt_dispatch[type(stmt)](stmt)
            rest = [s for s in stmts[k + 1:] if not _is_docstring(s)]
            if exits and rest:
                guard = self.exit_guard()
                orelse: list = []
                with self.block(orelse):
                    rest_exits = self.lower_block(stmts[k + 1:], top=False)
                self.emit(If(guard, [], orelse, self.loc))
                return True or rest_exits
            may_exit = may_exit or exits
        return may_exit

    def exit_guard(self) -> Var:
        frame = self.frame
        return Var(frame.loops[-1].skip) if frame.loops else Var(frame.returned)

    # --------------------------------------------------------------- statements
    def lower_pass(self, node) -> bool:
        return False

    def lower_assign(self, node: ast.Assign) -> bool:
        if len(node.targets) == 1:
            self.assign_to(node.targets[0], node.value)
            return False
        value = self.lower_expr(node.value)
        for target in node.targets:
            self.assign_operand(target, value)
        return False

    def lower_annassign(self, node: ast.AnnAssign) -> bool:
        self.assign_to(node.target, node.value)
        return False

    def assign_to(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            name = self.bind(target.id)
            if self.no_grad:
                self.apply("stop_gradient", (self.lower_expr(value),), name)
            else:
                result = self.lower_expr(value, target=name)
                if isinstance(result, tuple):
                    raise self.unsupported(value, "a tuple as a value",
                                           f"unpack it into names (a, b = ...) instead of keeping it in {target.id}")
                if not (isinstance(result, Var) and result.name == name):
                    self.assign(name, "copy", (result,))
            return
        if isinstance(target, ast.Tuple):
            if isinstance(value, ast.Tuple):
                if len(value.elts) != len(target.elts):
                    raise self.error(UnsupportedSyntaxError, "tuple assignment with mismatched lengths",
                                     target, "unpack exactly as many values as there are names")
                # evaluate every right-hand value before assigning any name (swaps)
                operands = [self.snapshot(self.lower_expr(v)) for v in value.elts]
            else:
                operands = self.lower_expr(value)
                if not isinstance(operands, tuple) or len(operands) != len(target.elts):
                    raise self.error(UnsupportedSyntaxError, "tuple unpacking of a non-tuple value", target,
                                     "unpack a tuple literal or the tuple returned by your own function")
            for elt, operand in zip(target.elts, operands):
                self.assign_operand(elt, operand)
            return
        if isinstance(target, ast.Subscript):
            self.store(target, self.lower_expr(value), "copy")
            return
        raise self.unsupported(target, f"assignment to {type(target).__name__}",
                               "assign to a name, a tuple of names, or an array element")

    def snapshot(self, operand):
        """A temporary copy of a variable, so that later assignments cannot change it."""
        if isinstance(operand, Var) and not operand.name.startswith("t"):
            return self.apply("copy", (operand,))
        if isinstance(operand, Var) and operand.name in self.frame.scope.values():
            return self.apply("copy", (operand,))
        return operand

    def assign_operand(self, target: ast.expr, operand) -> None:
        if isinstance(target, ast.Name):
            name = self.bind(target.id)
            self.apply("stop_gradient" if self.no_grad else "copy", (operand,), name)
        elif isinstance(target, ast.Subscript):
            self.store(target, operand, "copy")
        else:
            raise self.unsupported(target, f"assignment to {type(target).__name__}", "assign to a name")

    def aliases_parameter(self, name: str) -> bool:
        """Is `name` the caller's array (a parameter, or a callee's parameter bound to one)?"""
        return name in self.parameter_aliases

    def bind(self, user_name: str) -> str:
        """The IR variable a user name assigns to, creating it for new locals of inlined callees."""
        frame = self.frame
        if user_name not in frame.scope:
            frame.scope[user_name] = user_name if not frame.prefix else self.names.fresh(f"{frame.prefix}_{user_name}")
        return frame.scope[user_name]

    def lower_augassign(self, node: ast.AugAssign) -> bool:
        prim = "dot" if isinstance(node.op, ast.MatMult) else BINARY_OPERATORS[type(node.op)]
        if isinstance(node.target, ast.Name):
            current = self.lower_name(node.target)
            value = self.lower_expr(node.value)
            name = self.bind(node.target.id)
            self.apply("stop_gradient", (self.apply(prim, (current, value)),), name) if self.no_grad \
                else self.apply(prim, (current, value), name)
            if isinstance(current, Var):
                self.blocks[-1][-1].inplace = current.name
            return False
        if isinstance(node.target, ast.Subscript):
            value = self.lower_expr(node.value)
            if prim == "add":
                self.store(node.target, value, "add")
            else:
                current = self.lower_subscript(node.target)
                self.store(node.target, self.apply(prim, (current, value)), "copy")
            return False
        raise self.unsupported(node.target, "augmented assignment to this target", "assign to a name")

    def lower_final_return(self, node: ast.Return) -> None:
        """The frame's result gets the returned value (one variable, or one per tuple element)."""
        frame = self.frame
        if node.value is None:
            raise self.error(UnsupportedSyntaxError, "return without a value", node,
                             "return the number (or array) the function computes", "bare return")
        value = self.lower_expr(node.value, target=None if isinstance(node.value, ast.Tuple) else frame.result)
        if isinstance(value, tuple) and len(self.frames) == 1 and self.tuple_results:
            if frame.result_tree is None and frame.result_arity is not None:
                raise self.error(UnsupportedSyntaxError, "returns of different shapes of tuple", node,
                                 "return the same tuple structure on every path")
            leaves: list = []
            tree = _flatten(value, leaves)
            if frame.result_tree not in (None, tree):
                raise self.error(UnsupportedSyntaxError, "returns of different shapes of tuple", node,
                                 "return the same tuple structure on every path")
            frame.result_tree, frame.result_arity = tree, len(leaves)
            for k, operand in enumerate(leaves):
                self.assign(f"{frame.result}_{k}", "copy", (operand,))
            return
        if len(self.frames) == 1 and frame.result_tree is not None:
            raise self.error(UnsupportedSyntaxError, "returns of different shapes of tuple", node,
                             "return the same tuple structure on every path")
        arity = len(value) if isinstance(value, tuple) else 1
        if frame.result_arity not in (None, arity):
            raise self.error(UnsupportedSyntaxError, "returns of different lengths", node,
                             "return the same number of values on every path")
        frame.result_arity = arity
        if isinstance(value, tuple) and len(self.frames) == 1:
            raise self.error(UnsupportedSyntaxError,
                             f"{frame.source.name} returns {arity} values: a gradient needs one number", node,
                             "return the loss alone; for the derivatives of several outputs use jacobian, and "
                             "for a loss with extra outputs value_and_grad(f, has_aux=True)", "tuple return")
        if isinstance(value, tuple):
            for k, operand in enumerate(value):
                if isinstance(operand, tuple):
                    raise self.error(UnsupportedSyntaxError, "a nested tuple returned by a called function",
                                     node, "return a flat tuple of numbers and arrays")
                self.assign(f"{frame.result}_{k}", "copy", (operand,))
        elif not (isinstance(value, Var) and value.name == frame.result):
            self.assign(frame.result, "copy", (value,))

    def lower_return(self, node: ast.Return) -> bool:
        """A return that may not be the last statement: set the result, then the exit flags."""
        frame = self.frame
        self.lower_final_return(node)
        self.assign(frame.returned, "copy", (Const(True),))
        frame.uses_returned = True
        if frame.loops:
            self.end_trip(node, leave_loop=True)
        return True

    def end_trip(self, node, leave_loop: bool) -> bool:
        """Skip the rest of this trip of the innermost loop and, for `break` and `return`, leave it."""
        if not self.frame.loops:
            raise self.unsupported(node, f"{'break' if leave_loop else 'continue'} outside a loop", "remove it")
        loop = self.frame.loops[-1]
        self.assign(loop.skip, "copy", (Const(True),))
        if leave_loop:
            self.assign(loop.leave, "copy", (Const(True),))
        return True

    def lower_break(self, node) -> bool:
        return self.end_trip(node, leave_loop=True)

    def lower_continue(self, node) -> bool:
        return self.end_trip(node, leave_loop=False)

    def lower_if(self, node: ast.If) -> bool:
        loc = self.loc
        cond = self.condition(node.test)
        body: list = []
        orelse: list = []
        with self.block(body):
            exits = self.lower_block(node.body)
        self.loc = loc
        with self.block(orelse):
            exits = self.lower_block(node.orelse) or exits
        self.loc = loc
        self.emit(If(cond, body, orelse, loc))
        return exits

    def condition(self, test: ast.expr):
        """A branch condition, in a variable named after what it tests (`a_lt_20`)."""
        operand = self.lower_expr(test)
        if isinstance(operand, Var) and operand.name.startswith("t") and operand.name[1:].isdigit():
            slug = _slug(test)
            name = self.names.fresh(slug if slug.isidentifier() else f"cond_{slug}" if
                                    f"cond_{slug}".isidentifier() else "cond")
            for stmt in reversed(self.blocks[-1]):
                if isinstance(stmt, Assign) and stmt.target == operand.name:
                    stmt.target = name
                    return Var(name)
                if operand.name in ir.assigned_in([stmt]) or operand.name in ir.used_in([stmt]):
                    break
            return self.apply("copy", (operand,), name)
        return operand

    def lower_for(self, node: ast.For) -> bool:
        loc = self.loc
        bounds = [self.lower_expr(a) for a in node.iter.args]
        if len(bounds) == 1:
            bounds = [Const(0), bounds[0], Const(1)]
        elif len(bounds) == 2:
            bounds.append(Const(1))
        if isinstance(bounds[2], Const) and bounds[2].value == 0:
            raise self.error(UnsupportedSyntaxError, "range() step must not be zero", node.iter,
                             "use a positive or negative step", "range with step 0")
        # bounds are read once, on entry, as Python does: copy those the body may reassign
        assigned = _assigned_names(node.body)
        start, stop, step = [self.apply("copy", (b,)) if isinstance(b, Var) and _user_name_of(self.frame, b.name) in assigned
                             else b for b in bounds]
        index = self.bind(node.target.id)
        return self.loop(node, lambda body: For(index, start, stop, step, body, loc))

    def loop(self, node, make) -> bool:
        """Lower a loop body with its exit flags; `make(body)` builds the loop statement."""
        loc = self.loc
        frame = self.frame
        loop = Loop(self.names.fresh("skip"), self.names.fresh("leave"))
        needs_flags = any(isinstance(n, (ast.Break, ast.Continue, ast.Return)) for s in node.body for n in _walk_loop_level(s))
        if needs_flags:
            self.assign(loop.leave, "copy", (Const(False),))
        frame.loops.append(loop)
        body: list = []
        with self.block(body):
            if needs_flags:
                self.assign(loop.skip, "copy", (Const(False),))
            self.lower_block(node.body)
        frame.loops.pop()
        self.loc = loc
        statement = make(body)
        if needs_flags and any(isinstance(n, (ast.Break, ast.Return)) for s in node.body for n in _walk_loop_level(s)):
            statement.exit_flag = loop.leave
        self.emit(statement)
        contains_return = any(isinstance(n, ast.Return) for s in node.body for n in ast.walk(s))
        if contains_return and frame.loops:
            outer = frame.loops[-1]
            then: list = []
            with self.block(then):
                self.assign(outer.skip, "copy", (Const(True),))
                self.assign(outer.leave, "copy", (Const(True),))
            self.emit(If(Var(frame.returned), then, [], loc))
        return contains_return

    def lower_while(self, node: ast.While) -> bool:
        loc = self.loc
        test: list = []
        with self.block(test):
            cond = self.condition(node.test)
        if isinstance(cond, Var) and cond.name in self.frame.scope.values():
            with self.block(test):
                cond = self.apply("copy", (cond,))
        return self.loop(node, lambda body: While(test, cond, body, loc))

    def lower_with(self, node: ast.With) -> bool:
        self.no_grad += 1
        try:
            return self.lower_block(node.body)
        finally:
            self.no_grad -= 1

    # -------------------------------------------------------------- expressions
    def lower_expr(self, node: ast.expr, target: str | None = None):
        handler = self._expr_dispatch.get(type(node))
        if handler is None:
            raise self.unsupported(node, type(node).__name__, "see the supported language in the README")
        if handler in self._targeted:
            return handler(node, target)
        value = handler(node)
        if isinstance(value, tuple) and target is not None:
            raise self.unsupported(node, "a tuple as a value", "unpack it into names: a, b = ...")
        return self.materialise(value, target)

    @property
    def _targeted(self):
        return (self.lower_binop, self.lower_unaryop, self.lower_call, self.lower_compare,
                self.lower_ifexp, self.lower_boolop, self.lower_subscript, self.lower_attribute)

    def lower_constant(self, node: ast.Constant):
        if isinstance(node.value, (bool, int, float)):
            return Const(node.value)
        raise self.unsupported(node, f"{type(node.value).__name__} literal", "use numbers")

    def lower_name(self, node: ast.Name):
        frame = self.frame
        if node.id in frame.scope:
            return Var(frame.scope[node.id])
        ref = frame.source.namespace.lookup(node.id)
        if isinstance(ref, ConstantRef):
            return Const(ref.value)
        if ref is None:
            raise self.error(AutodiffError, f"name {node.id!r} is not defined (or is used before it is assigned)",
                             node, "assign it before use, or define it at module level", "undefined name")
        raise self.unsupported(node, f"{node.id!r} used as a value",
                               "call functions; only numbers and arrays are values here")

    def lower_tuple(self, node: ast.Tuple):
        return tuple(self.lower_expr(e) for e in node.elts)

    def lower_binop(self, node: ast.BinOp, target=None):
        if isinstance(node.op, ast.MatMult):
            prim = "dot"
        else:
            prim = BINARY_OPERATORS.get(type(node.op))
        left = self.lower_expr(node.left)
        right = self.lower_expr(node.right)
        if isinstance(left, tuple) or isinstance(right, tuple):
            raise self.unsupported(node, "arithmetic on a tuple", "use numbers or arrays")
        if isinstance(left, Const) and isinstance(right, Const) and prim in ("add", "sub", "mul", "pow"):
            try:
                return self.materialise(Const(PRIMITIVES[prim].evaluate(left.value, right.value)), target)
            except (ArithmeticError, ValueError):
                pass
        return self.apply(prim, (left, right), target)

    def lower_unaryop(self, node: ast.UnaryOp, target=None):
        operand = self.lower_expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return self.materialise(operand, target)
        if isinstance(node.op, ast.USub) and isinstance(operand, Const):
            return self.materialise(Const(-operand.value), target)
        return self.apply("neg" if isinstance(node.op, ast.USub) else "not", (operand,), target)

    def lower_compare(self, node: ast.Compare, target=None):
        if len(node.ops) == 1:
            left = self.lower_expr(node.left)
            right = self.lower_expr(node.comparators[0])
            return self.apply(COMPARISONS[type(node.ops[0])], (left, right), target)
        # a < b < c  ==  a < b and b < c, with b evaluated once
        result = target or self.names.temp()
        left = self.lower_expr(node.left)
        operands = [left] + [self.snapshot_operand(self.lower_expr(c)) for c in node.comparators[:1]]
        self.apply(COMPARISONS[type(node.ops[0])], (operands[0], operands[1]), result)
        previous = operands[1]
        blocks = self.blocks[-1]
        for op, comparator in zip(node.ops[1:], node.comparators[1:]):
            then: list = []
            with self.block(then):
                right = self.lower_expr(comparator)
                self.apply(COMPARISONS[type(op)], (previous, right), result)
            self.emit(If(Var(result), then, [], self.loc))
            previous = right
        return Var(result)

    def snapshot_operand(self, operand):
        return operand

    def lower_boolop(self, node: ast.BoolOp, target=None):
        result = target or self.names.temp()
        first = self.lower_expr(node.values[0])
        self.apply("copy", (first,), result)
        for value in node.values[1:]:
            then: list = []
            with self.block(then):
                self.lower_expr(value, target=result)
            if isinstance(node.op, ast.And):
                self.emit(If(Var(result), then, [], self.loc))
            else:
                self.emit(If(Var(result), [], then, self.loc))
        return Var(result)

    def lower_ifexp(self, node: ast.IfExp, target=None):
        result = target or self.names.temp()
        cond = self.condition(node.test)
        body: list = []
        orelse: list = []
        with self.block(body):
            self.lower_expr(node.body, target=result)
        with self.block(orelse):
            self.lower_expr(node.orelse, target=result)
        self.emit(If(cond, body, orelse, self.loc))
        return Var(result)

    def lower_attribute(self, node: ast.Attribute, target=None):
        ref = self.resolve(node)
        if isinstance(ref, ConstantRef):
            return self.materialise(Const(ref.value), target)
        handled = arrays.lower_attribute(self, node, target)
        if handled is not None:
            return handled
        raise self.unsupported(node, f"attribute '.{node.attr}'", "see the supported language in the README")

    def lower_subscript(self, node: ast.Subscript, target=None):
        return arrays.lower_subscript(self, node, target)

    def store(self, node: ast.Subscript, value, prim: str) -> None:
        arrays.lower_store(self, node, value, prim)

    def resolve(self, func: ast.expr):
        """What a called name or dotted name refers to, or None."""
        namespace = self.frame.source.namespace
        if isinstance(func, ast.Name):
            if func.id in self.frame.scope:
                return None
            return namespace.lookup(func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, (ast.Name, ast.Attribute)):
            if isinstance(func.value, ast.Name) and func.value.id in self.frame.scope:
                return None
            base = self.resolve(func.value)
            if isinstance(base, ModuleRef):
                return namespace.attribute(base, func.attr)
        return None

    def lower_call(self, node: ast.Call, target=None):
        ref = self.resolve(node.func)
        if isinstance(ref, UserFunctionRef):
            args = [self.lower_expr(a) for a in node.args]
            keywords = {kw.arg: self.lower_expr(kw.value) for kw in node.keywords}
            return self.materialise_result(self.inline(ref, args, node, keywords), target)
        if isinstance(ref, CustomRef):
            # value from the body (carrying no derivative of its own), derivative from the declared partials
            args = [self.lower_expr(a) for a in node.args]
            value = self.inline(ref.function, args, node)   # its partial is 0: the body gets no adjoint
            return self.apply(ref.primitive, tuple(args) + (value,), target)
        if isinstance(ref, MarkerRef):
            return self.lower_marker(ref.name, node, target)
        if isinstance(ref, DerivativeRef) and ref.obj is not None:
            args = [self.lower_expr(a) for a in node.args]
            keywords = {kw.arg: self.lower_expr(kw.value) for kw in node.keywords}
            return self.materialise_result(self.lower_derivative_call(ref.obj, args, keywords, node), target)
        if isinstance(ref, DerivativeRef):
            raise self.error(UnsupportedSyntaxError,
                             f"{ref.name} is a derivative (made by @grad): differentiating through it needs "
                             f"a derivative of a derivative", node,
                             f"call the function {ref.name} was made from (its undecorated version) here, or "
                             f"compute the derivative outside the function being differentiated",
                             "call of a derivative")
        if isinstance(ref, PrimitiveRef):
            return self.lower_primitive_call(ref.name, node, target)
        handled = arrays.lower_call(self, node, ref, target)
        if handled is not None:
            return handled
        name = ast.unparse(node.func)
        raise self.error(NoDerivativeRuleError, f"no derivative rule for {name}(...)", node,
                         "use a function from the rule table (math/numpy elementary functions), "
                         "write it in Python as your own function, or declare its derivative with "
                         "@custom_derivative", name)

    def materialise_result(self, result, target):
        if isinstance(result, tuple):
            return result
        return self.materialise(result, target)

    def lower_marker(self, name: str, node: ast.Call, target):
        if name == "stop_gradient":
            return self.apply("stop_gradient", (self.lower_expr(node.args[0]),), target)
        if name == "bool":
            return self.apply("ne", (self.lower_expr(node.args[0]), Const(0)), target)
        handled = arrays.lower_call(self, node, MarkerRef(name), target)
        if handled is not None:
            return handled
        raise self.unsupported(node, f"{name}(...) here", "range() may only appear in 'for i in range(...)'")

    def lower_primitive_call(self, prim: str, node: ast.Call, target):
        handled = arrays.lower_primitive_call(self, prim, node, target)
        if handled is not None:
            return handled
        if node.keywords:
            raise self.unsupported(node, f"keyword arguments to {ast.unparse(node.func)}",
                                   "pass arguments by position")
        args = [self.lower_expr(a) for a in node.args]
        arity = PRIMITIVES[prim].arity
        if prim in ("min", "max") and len(args) > 2:
            acc = self.apply(prim, (args[0], args[1]))
            for arg in args[2:-1]:
                acc = self.apply(prim, (acc, arg))
            return self.apply(prim, (acc, args[-1]), target)
        if prim == "pow" and len(args) == 3:
            raise self.unsupported(node, "pow with a modulus", "use pow(x, y)")
        if len(args) != arity:
            raise self.error(AutodiffError, f"{ast.unparse(node.func)} takes {arity} argument(s), got {len(args)}",
                             node, construct=ast.unparse(node.func))
        if prim == "float" and isinstance(args[0], Const):
            return self.materialise(Const(float(args[0].value)), target)
        return self.apply(prim, args, target)

    # ------------------------------------------------------------ derivative calls
    def lower_derivative_call(self, obj, args: list, keywords: dict, node):
        """A call of a derivative object (`@grad def`, `g = grad(f)`): a `Region` holding the called
        function's own body, which the `types` pass replaces by the derivative's statements."""
        from .parse import source_of_function
        name = getattr(obj, "__name__", "function")
        spec = obj.region_spec() if hasattr(obj, "region_spec") else None
        if spec is None:
            raise self.error(UnsupportedSyntaxError,
                             f"{name} is {obj!r}: calling it inside differentiated code is not supported", node,
                             "only grad and value_and_grad objects (without intermediates=, accumulate= or "
                             "has_aux=) can be differentiated through; compute this outside the function",
                             "call of a derivative")
        kind, wrt, with_value, single = spec
        inner = obj.fn
        innermost = inner
        while hasattr(innermost, "region_spec") and getattr(innermost, "__autodiff_wrapped__", None) is not None:
            innermost = innermost.fn
        callee = source_of_function(innermost)
        params = [a.arg for a in callee.node.args.args]
        for a in args:
            if isinstance(a, tuple):
                raise self.unsupported(node, "a tuple as an argument", "pass numbers or arrays")
        args = self.bind_arguments(callee, params, args, keywords, node)
        prefix = self.names.fresh(f"{name}_d")
        region_params = [self.names.fresh(f"{prefix}_{p}") for p in params]
        for param, arg in zip(region_params, args):
            self.assign(param, "copy", (arg,))
            if isinstance(arg, Var) and arg.name in self.parameter_aliases:
                self.parameter_aliases.add(param)
        body: list = []
        loc = self.loc
        with self.block(body):
            operands = [Var(p) for p in region_params]
            if innermost is inner:
                key = f"{inner.__code__.co_filename}:{inner.__qualname__}"
                result = self.inline(UserFunctionRef(key, lambda fn=inner: source_of_function(fn)), operands, node)
            else:
                result = self.lower_derivative_call(inner, operands, {}, node)
        self.loc = loc
        outputs = result if isinstance(result, tuple) else (result,)
        wrt_params = [region_params[params.index(w)] for w in wrt]
        targets, stub = [], []
        if with_value:
            value = self.names.fresh(f"{prefix}_value")
            targets.append(value)
            stub.append(Assign(value, "copy", (outputs[0],), loc))
        for w in wrt_params:
            target = self.names.fresh(f"{w}_grad")
            targets.append(target)
            stub.append(Assign(target, "copy", (Var(w),), loc))
        self.emit(ir.Region(kind, region_params, wrt_params, with_value, body, tuple(outputs), tuple(targets),
                            stub, loc, name))
        grads = [Var(t) for t in targets[1 if with_value else 0:]]
        grads_out = grads[0] if single else tuple(grads)
        return (Var(targets[0]), grads_out) if with_value else grads_out

    # ------------------------------------------------------------------ inlining
    def bind_arguments(self, callee: Source, params: list, args: list, keywords: dict, node) -> list:
        """Positional, keyword and default arguments, in parameter order, as Python binds them."""
        from .parse import parameter_defaults
        if len(args) > len(params):
            raise self.error(AutodiffError, f"{callee.name}() takes {len(params)} argument(s), got {len(args)}",
                             node, construct=callee.name)
        bound = dict(zip(params, args))
        for name, value in keywords.items():
            if name not in params:
                raise self.error(AutodiffError, f"{callee.name}() has no parameter {name!r}", node,
                                 hint=f"its parameters: {', '.join(params)}", construct=callee.name)
            if name in bound:
                raise self.error(AutodiffError, f"{callee.name}() got two values for {name!r}", node,
                                 construct=callee.name)
            bound[name] = value
        for name, value in parameter_defaults(callee).items():
            bound.setdefault(name, Const(value))
        missing = [p for p in params if p not in bound]
        if missing:
            raise self.error(AutodiffError, f"{callee.name}() is missing argument(s) {', '.join(missing)}",
                             node, construct=callee.name)
        return [bound[p] for p in params]

    def inline(self, ref: UserFunctionRef, args: list, node: ast.Call, keywords: dict | None = None):
        chain = [f.source.filename + ":" + f.source.name for f in self.frames]
        if ref.key in chain:
            names = " -> ".join(k.rsplit(":", 1)[1] for k in chain[chain.index(ref.key):] + [ref.key])
            raise self.error(RecursionNotSupportedError, f"recursive call ({names}) cannot be differentiated",
                             node, "rewrite the recursion as a loop", "recursion")
        callee = ref.loader()
        try:
            fence(callee)
        except AutodiffError as exc:
            raise exc.add_context(self.called_from((callee.name, self.loc)))
        params = [a.arg for a in callee.node.args.args]
        args = self.bind_arguments(callee, params, args, keywords or {}, node)
        self.sources[ref.key] = callee.text
        count = self.inline_count.get(callee.name, 0) + 1
        self.inline_count[callee.name] = count
        prefix = self.names.fresh(callee.name if count == 1 else f"{callee.name}{count}")
        loc = self.loc
        frame = Frame(callee, {}, self.names.fresh(f"{prefix}_value"), self.names.fresh(f"{prefix}_returned"),
                      prefix=prefix, call_site=loc)
        for param, arg in zip(params, args):
            if isinstance(arg, tuple):
                raise self.unsupported(node, "a tuple as an argument", "pass numbers or arrays")
            frame.scope[param] = self.names.fresh(f"{prefix}_{param}")
            self.assign(frame.scope[param], "copy", (arg,))
            if isinstance(arg, Var) and arg.name in self.parameter_aliases:
                self.parameter_aliases.add(frame.scope[param])
        self.frames.append(frame)
        try:
            if not _always_returns(callee.node.body):
                raise self.error(UnsupportedSyntaxError, f"function {callee.name!r} can end without returning "
                                 "a value", callee.node.body[-1], "end every path with 'return <expression>'",
                                 "missing return")
            self.lower_body(callee.node.body)
        finally:
            self.frames.pop()
            self.loc = loc
        if frame.result_arity and frame.result_arity > 1:
            return tuple(Var(f"{frame.result}_{k}") for k in range(frame.result_arity))
        return Var(frame.result)


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _always_returns(stmts: list) -> bool:
    for stmt in stmts:
        if isinstance(stmt, ast.Return):
            return True
        if isinstance(stmt, ast.If) and _always_returns(stmt.body) and _always_returns(stmt.orelse):
            return True
        if isinstance(stmt, ast.With) and _always_returns(stmt.body):
            return True
    return False


def _walk_loop_level(node):
    """Nodes of a loop body that belong to this loop (not to nested loops), for break/continue."""
    yield node
    if isinstance(node, (ast.For, ast.While)):
        for child in node.body:
            for inner in ast.walk(child):
                if isinstance(inner, ast.Return):
                    yield inner
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_loop_level(child)


def _assigned_names(stmts: list) -> set[str]:
    names = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def _user_name_of(frame: Frame, ir_name: str) -> str | None:
    for user, name in frame.scope.items():
        if name == ir_name:
            return user
    return None


def _flatten(value, leaves: list):
    """The nesting of a tuple of operands as nested tuples of leaf numbers; the leaves appended in order."""
    if isinstance(value, tuple):
        return tuple(_flatten(v, leaves) for v in value)
    leaves.append(value)
    return len(leaves) - 1


def lower(source: Source, tuple_results: bool = False) -> tuple[ir.Function, dict]:
    """Lower a fenced function; returns the IR and the sources of every function inlined.
    `tuple_results`: the function may return a tuple (its leaves become `returns`, see `output_tree`)."""
    fence(source)
    lowering = Lowering(source, tuple_results)
    function = lowering.lower_function()
    version_straight_line(function, lowering.names)
    function.user_names = frozenset(lowering.names.taken)
    return function, lowering.sources


def version_straight_line(function: ir.Function, names: Names) -> None:
    """Give each top-level reassignment of a variable a new name (`y`, then `y2`), SSA-style.

    Only statements at the top level of the body are versioned; an assignment
    inside a branch or loop writes the version current there.  This keeps
    straight-line code free of overwrites, so the reverse pass needs no tape
    for it, and the printed code says which value is which."""
    current: dict[str, str] = {}
    defined = set(function.params)

    def rename_operand(operand):
        if isinstance(operand, Var) and operand.name in current:
            return Var(current[operand.name])
        if isinstance(operand, Slice):
            return Slice(*(rename_operand(p) if p is not None else None for p in (operand.start, operand.stop, operand.step)))
        return operand

    def rename_nested(stmt) -> None:
        """Rename reads and writes inside a compound statement to the current versions."""
        for inner in _walk_with_self(stmt):
            rename_in_place(inner)

    def rename_in_place(stmt) -> None:
        if isinstance(stmt, Assign):
            stmt.args = tuple(rename_operand(a) for a in stmt.args)
            if stmt.inplace:
                stmt.inplace = rename_operand(Var(stmt.inplace)).name
            stmt.target = current.get(stmt.target, stmt.target)
        elif isinstance(stmt, Store):
            stmt.array = current.get(stmt.array, stmt.array)
            stmt.index = tuple(rename_operand(i) for i in stmt.index)
            stmt.value = rename_operand(stmt.value)
        elif isinstance(stmt, If):
            stmt.cond = rename_operand(stmt.cond)
        elif isinstance(stmt, For):
            stmt.start, stmt.stop, stmt.step = (rename_operand(b) for b in (stmt.start, stmt.stop, stmt.step))
            stmt.index = current.get(stmt.index, stmt.index)
            if stmt.exit_flag:
                stmt.exit_flag = current.get(stmt.exit_flag, stmt.exit_flag)
        elif isinstance(stmt, While):
            stmt.cond = rename_operand(stmt.cond)
            if stmt.exit_flag:
                stmt.exit_flag = current.get(stmt.exit_flag, stmt.exit_flag)

    for stmt in function.body:
        if isinstance(stmt, Assign):
            stmt.args = tuple(rename_operand(a) for a in stmt.args)
            if stmt.inplace:
                stmt.inplace = rename_operand(Var(stmt.inplace)).name
            base = stmt.target
            if base in defined:
                stmt.target = names.fresh(base)
                current[base] = stmt.target
            defined.add(base)
            defined.add(stmt.target)
        else:
            rename_nested(stmt)
            for inner in _walk_with_self(stmt):
                for name in ir.writes(inner):
                    defined.add(name)
    function.result = rename_operand(function.result) if function.result is not None else None
    function.returns = tuple(rename_operand(r) for r in function.returns)


def _walk_with_self(stmt):
    yield stmt
    for child in ir.child_blocks(stmt):
        yield from ir.walk(child)


_SLUG_OPERATORS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}


def _slug(node: ast.expr, depth: int = 0) -> str:
    """A short identifier describing an expression: `a < 20` -> `a_lt_20`."""
    if depth > 2:
        return ""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return str(node.value).replace(".", "_").replace("-", "neg").replace("+", "")
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _slug(node.left, depth + 1), _slug(node.comparators[0], depth + 1)
        if left and right:
            return f"{left}_{_SLUG_OPERATORS[type(node.ops[0])]}_{right}"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _slug(node.operand, depth + 1)
        return f"not_{inner}" if inner else ""
    if isinstance(node, ast.Call):
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        inner = "_".join(filter(None, (_slug(a, depth + 1) for a in node.args)))
        return f"{func}_{inner}" if inner else func
    if isinstance(node, ast.Subscript):
        return f"{_slug(node.value, depth + 1)}_i"
    if isinstance(node, ast.BoolOp):
        parts = [_slug(v, depth + 1) for v in node.values]
        if all(parts):
            return f"_{'and' if isinstance(node.op, ast.And) else 'or'}_".join(parts)
    return ""
