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
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import ir
from ..errors import (AutodiffError, NoDerivativeRuleError, RecursionNotSupportedError,
                     UnsupportedSyntaxError)
from ..ir import Assign, Const, For, If, Loc, Store, Slice, Var, While
from . import lower_arrays as arrays
from . import lower_containers as containers
from . import lower_numpy as library
from . import pytrees
from .lower_containers import Pack, Stale, Text
from .parse import (ClassRef, ConstantRef, CustomRef, DataRef, DerivativeRef, MarkerRef, ModuleRef, PrimitiveRef,
                    Source, UserFunctionRef, fence)
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
    result_pack: object = None        # a container an inlined function returns
    result_tuple: bool = False        # it returns a flat tuple (in `result_0`, `result_1`, ...)
    imports: dict = field(default_factory=dict)   # modules imported inside the function
    enclosing: "Frame | None" = None  # for a function defined inside another: the frame it reads


@dataclass
class LocalFunction:
    """A function defined inside the one being lowered (`def` or a lambda bound to a name): inlined
    where it is called, reading the enclosing function's variables as they are then."""
    node: ast.AST
    frame: "Frame"
    name: str


class Lowering:
    def __init__(self, source: Source, param_types: dict | None = None):
        self.source = source
        self.param_types = dict(param_types or {})
        self.types: dict = {}            # what the lowering knows of the types so far (ranks, for shapes)
        self.static_depth = 0            # > 0 inside branches and loops that run at run time
        self.structures: dict = {}       # parameter -> (TreeType, leaf names)
        self.data: list = []             # hidden parameters: (IR name, DataRef, path) of module data read
        self.data_names: dict = {}       # (DataRef key, path) -> IR name
        self.watches: list = []          # (LiveNamespace-like reader, value): numbers baked into the code
        self.asserts: dict = {}          # site number -> Loc of an `assert`
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
            ast.Continue: self.lower_continue, ast.Pass: self.lower_pass, ast.Expr: self.lower_expression_statement,
            ast.With: self.lower_with, ast.Assert: self.lower_assert, ast.FunctionDef: self.lower_local_def,
            ast.Import: self.lower_import, ast.ImportFrom: self.lower_import,
        }
        self._expr_dispatch = {
            ast.Constant: self.lower_constant, ast.Name: self.lower_name, ast.BinOp: self.lower_binop,
            ast.UnaryOp: self.lower_unaryop, ast.Compare: self.lower_compare, ast.BoolOp: self.lower_boolop,
            ast.IfExp: self.lower_ifexp, ast.Call: self.lower_call, ast.Attribute: self.lower_attribute,
            ast.Subscript: self.lower_subscript, ast.Tuple: self.lower_tuple, ast.List: self.lower_list,
            ast.Dict: self.lower_dict, ast.ListComp: self.lower_listcomp, ast.GeneratorExp: self.lower_listcomp,
            ast.Lambda: self.lower_lambda, ast.JoinedStr: self.lower_fstring,
        }

    # ------------------------------------------------------------------ plumbing
    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def emit(self, stmt) -> None:
        if getattr(stmt, "loc", "absent") is None:
            stmt.loc = self.loc
        if isinstance(stmt, Assign):
            self.note_type(stmt)
        elif isinstance(stmt, For):
            self.types[stmt.index] = ir.INT
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
        if target is None or isinstance(operand, (Pack, Text, LocalFunction)):
            return operand
        return self.assign(target, "copy", (operand,))

    # ------------------------------------------------------------------- types
    def note_type(self, stmt: Assign) -> None:
        """Follow the types as statements are made (ranks decide `x.shape`, `...`, einsum, unpacking)."""
        from ..ir.types import result_type
        try:
            t = result_type(stmt, self.types)
        except (AutodiffError, KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
            t = None
        if t is not None:
            self.types[stmt.target] = ir.join(self.types.get(stmt.target), t) if stmt.target in self.types else t

    def type_of(self, operand):
        from ..ir.types import type_of_operand
        return type_of_operand(operand, self.types)

    def rank_of(self, operand, node=None, what: str = "this") -> int:
        """The rank of an operand (0 for numbers); an error naming the line when it is not known yet."""
        if isinstance(operand, (Pack, Text)):
            raise self.unsupported(node, f"a {'string' if isinstance(operand, Text) else operand.kind} where an "
                                   f"array or a number is expected", "pass an array or a number")
        t = self.type_of(operand)
        if t is None:
            if node is None:
                return 0
            raise self.unsupported(node, f"{what} on a value whose rank is not known at this line",
                                   "assign the array before this line (not only later in a loop)")
        return t.ndim if t.is_array else 0

    def static_length(self, operand):
        """The length of an operand's first axis when it is known when compiling (np.array([...]) ...)."""
        return self.lengths.get(operand.name) if isinstance(operand, Var) else None

    def check_length(self, array, count: int, node) -> None:
        """`assert len(array) == count`, in the forward sweep (unpacking an array into names)."""
        length = self.apply("shape0", (array,))
        ok = self.apply("eq", (length, Const(count)))
        self.apply_assert(ok, node)

    def as_float(self, operand):
        """A number as a float (`np.array([1, x])` holds floats)."""
        if isinstance(operand, Const) and not isinstance(operand.value, float):
            return Const(float(operand.value))
        t = self.type_of(operand)
        if t is not None and t.kind in ("int", "bool"):
            return self.apply("float", (operand,))
        return operand

    def check_size_one(self, array, node) -> None:
        self.apply_assert(self.apply("eq", (self.apply("size", (array,)), Const(1))), node)

    def check_last_axis(self, array, length: int, node) -> None:
        rank = self.rank_of(array, node)
        last = self.apply({0: "shape0", 1: "shape1"}.get(rank - 1, "shape"), (array,), None,
                          () if rank - 1 < 2 else (("axis", rank - 1),))
        self.apply_assert(self.apply("eq", (last, Const(length))), node)

    def apply_assert(self, condition, node) -> None:
        site = len(self.asserts) + 1
        self.asserts[site] = Loc(self.frame.source.filename, getattr(node, "lineno", self.loc.line if self.loc else 0),
                                 self.frame.source.line_text(getattr(node, "lineno", 0)).strip(), self.frame.call_site)
        self.apply("assert_true", (condition,), self.names.fresh("checked"), (("site", site),))

    # -------------------------------------------------------------------- entry
    def lower_function(self) -> ir.Function:
        node = self.source.node
        params = [a.arg for a in node.args.args]
        frame = Frame(self.source, {p: p for p in params}, self.names.fresh("value"),
                      self.names.fresh("returned"))
        self.lengths: dict = {}
        flat = []
        for p in params:
            t = self.param_types.get(p)
            if isinstance(t, pytrees.TreeType):
                leaves = pytrees.leaf_names(p, t, self.names)
                self.structures[p] = (t, leaves)
                frame.scope[p] = self.pack_of_leaves(t, iter(leaves), p)
                flat += leaves
                for (path, leaf_type), name in zip(pytrees.paths(t), leaves):
                    self.types[name] = leaf_type
            else:
                flat.append(p)
                if t is not None:
                    self.types[p] = t
        self.parameter_aliases = set(flat)
        self.frames.append(frame)
        body: list = []
        with self.block(body):
            self.check_returns(node)
            self.lower_body(node.body)
        self.frames.pop()
        flat += [name for name, _, _ in self.data]
        return ir.Function(node.name, flat, {}, body, Var(frame.result), self.source.filename,
                           node.lineno, docstring=ast.get_docstring(node) or "",
                           user_names=frozenset(self.names.taken))

    def pack_of_leaves(self, tree, leaves, name: str, obj=None) -> Pack:
        """A container parameter (or module data) as a pack of its leaf variables."""
        items = {}
        for key, child in zip(tree.keys, tree.children):
            items[key] = self.pack_of_leaves(child, leaves, name) if isinstance(child, pytrees.TreeType) \
                else Var(next(leaves))
        return Pack(tree.kind, items, tree.name or name, cls=tree.cls)

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
            if not isinstance(self.frame.scope.get(target.id, ""), str):
                self.bind_target(target, self.lower_expr(value))     # a container name gets a new value
                return
            name = self.bind(target.id)
            if self.no_grad:
                result = self.lower_expr(value)
                if isinstance(result, (Pack, Text, LocalFunction)):
                    self.bind_target(target, result)
                    return
                self.apply("stop_gradient", (result,), name)
            else:
                result = self.lower_expr(value, target=name)
                if isinstance(result, (Pack, Text, LocalFunction)):
                    self.bind_target(target, result)
                elif not (isinstance(result, Var) and result.name == name):
                    self.assign(name, "copy", (result,))
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in value.elts):
                if len(value.elts) != len(target.elts):
                    raise self.error(UnsupportedSyntaxError, "tuple assignment with mismatched lengths",
                                     target, "unpack exactly as many values as there are names")
                # evaluate every right-hand value before assigning any name (swaps)
                operands = [self.snapshot(self.lower_expr(v)) for v in value.elts]
                for elt, operand in zip(target.elts, operands):
                    self.bind_target(elt, operand)
                return
            self.bind_target(target, self.lower_expr(value))
            return
        self.bind_target(target, self.lower_expr(value))

    def snapshot(self, operand):
        """A temporary copy of a variable, so that later assignments cannot change it."""
        if isinstance(operand, (Pack, Text)):
            return operand
        if isinstance(operand, Var) and not operand.name.startswith("t"):
            return self.apply("copy", (operand,))
        if isinstance(operand, Var) and operand.name in self.frame.scope.values():
            return self.apply("copy", (operand,))
        return operand

    def assign_operand(self, target: ast.expr, operand) -> None:
        self.bind_target(target, operand)

    def bind_target(self, target: ast.expr, value, static: bool = False) -> None:
        """Assign a value (an operand, a container, a string) to an assignment target: a name, a tuple
        or list of targets (unpacking), an array element or a container item.  `static`: the target of
        an unrolled loop, whose constants are known when compiling (bound as constants)."""
        frame = self.frame
        if isinstance(target, ast.Name):
            if isinstance(value, (Pack, Text, LocalFunction)) or (static and isinstance(value, Const)):
                frame.scope[target.id] = value
                return
            name = self.bind(target.id)
            self.apply("stop_gradient" if self.no_grad else "copy", (value,), name)
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            starred = [k for k, e in enumerate(target.elts) if isinstance(e, ast.Starred)]
            if starred:
                raise self.unsupported(target, "starred unpacking (a, *rest = ...)", "unpack into plain names")
            items = containers.unpack(self, value, len(target.elts), target)
            items = [self.snapshot(v) if not (static and isinstance(v, Const)) else v for v in items]
            for element, item in zip(target.elts, items):
                self.bind_target(element, item, static)
            return
        if isinstance(target, ast.Subscript):
            base = self.lower_container_base(target.value)
            if isinstance(base, Pack):
                containers.store(self, base, target, value)
                return
            if isinstance(value, (Pack, Text)):
                raise self.unsupported(target, "storing a container or a string in an array", "store numbers or arrays")
            self.store(target, value, "copy")
            return
        if isinstance(target, ast.Attribute):
            raise self.unsupported(target, f"assignment to an attribute (.{target.attr})",
                                   "the function's objects are read-only data: compute a local value instead")
        raise self.unsupported(target, f"assignment to {type(target).__name__}",
                               "assign to a name, a tuple of names, or an array element")

    def bind_fresh(self, user_name: str) -> str:
        """A name that held a container or a constant now holds a variable."""
        frame = self.frame
        frame.scope[user_name] = user_name if not frame.prefix else self.names.fresh(f"{frame.prefix}_{user_name}")
        return frame.scope[user_name]

    def lower_container_base(self, node):
        """The value a subscript target indexes, when it is a container (else None: an array store)."""
        if isinstance(node, ast.Name):
            value = self.frame.scope.get(node.id)
            if isinstance(value, Pack):
                return value
            if isinstance(value, Stale):
                self.lower_name(node)
            return None
        if isinstance(node, (ast.Subscript, ast.Attribute)):
            value = self.lower_expr(node)
            return value if isinstance(value, Pack) else None
        return None

    def aliases_parameter(self, name: str) -> bool:
        """Is `name` the caller's array (a parameter, or a callee's parameter bound to one)?"""
        return name in self.parameter_aliases

    def bind(self, user_name: str) -> str:
        """The IR variable a user name assigns to, creating it for new locals of inlined callees."""
        frame = self.frame
        if user_name not in frame.scope:
            frame.scope[user_name] = user_name if not frame.prefix else self.names.fresh(f"{frame.prefix}_{user_name}")
        if not isinstance(frame.scope[user_name], str):
            return self.bind_fresh(user_name)
        return frame.scope[user_name]

    def lower_augassign(self, node: ast.AugAssign) -> bool:
        prim = "dot" if isinstance(node.op, ast.MatMult) else BINARY_OPERATORS[type(node.op)]
        if isinstance(node.target, ast.Name):
            current = self.lower_name(node.target)
            value = self.lower_expr(node.value)
            if isinstance(current, (Pack, Text)) or isinstance(value, (Pack, Text)):
                self.bind_target(node.target, self.combine(prim, current, value, node))
                return False
            name = self.bind(node.target.id)
            self.apply("stop_gradient", (self.apply(prim, (current, value)),), name) if self.no_grad \
                else self.apply(prim, (current, value), name)
            if isinstance(current, Var):
                self.blocks[-1][-1].inplace = current.name
            return False
        if isinstance(node.target, ast.Subscript):
            base = self.lower_container_base(node.target.value)
            value = self.lower_expr(node.value)
            if isinstance(base, Pack):
                current = containers.subscript(self, base, node.target)
                containers.store(self, base, node.target, self.combine(prim, current, value, node))
                return False
            if prim == "add":
                self.store(node.target, value, "add")
            else:
                current = self.lower_subscript(node.target)
                self.store(node.target, self.apply(prim, (current, value)), "copy")
            return False
        raise self.unsupported(node.target, "augmented assignment to this target", "assign to a name")

    def combine(self, prim: str, left, right, node):
        """A binary operation where an operand may be a container (`t + (x,)`, `[a] * 3`)."""
        if isinstance(left, Pack) or isinstance(right, Pack):
            return containers.arithmetic(self, prim, left, right, node)
        if isinstance(left, Text) or isinstance(right, Text):
            raise self.unsupported(node, "arithmetic on a string", "strings are keys and specs here, not values")
        return self.apply(prim, (left, right))

    def lower_final_return(self, node: ast.Return) -> None:
        """The frame's result gets the returned value (one variable, or one per tuple element)."""
        frame = self.frame
        if node.value is None:
            raise self.error(UnsupportedSyntaxError, "return without a value", node,
                             "return the number (or array) the function computes", "bare return")
        value = self.lower_expr(node.value, target=None if isinstance(node.value, (ast.Tuple, ast.List, ast.Dict))
                                else frame.result)
        if isinstance(value, Pack) and len(self.frames) == 1:
            kind = value.kind
            raise self.error(UnsupportedSyntaxError,
                             f"{frame.source.name} returns a {kind}" + (f" of {len(value)} values" if kind != "dict" else "")
                             + ": a gradient needs one number", node,
                             "return the loss alone; for the derivatives of several outputs use jacobian, and "
                             "for a loss with extra outputs value_and_grad(f, has_aux=True)", "tuple return")
        if isinstance(value, Text):
            raise self.unsupported(node, "returning a string", "return numbers or arrays")
        if isinstance(value, Pack):
            flat = value.kind == "tuple" and all(isinstance(v, (Var, Const)) for v in value.values())
            if frame.uses_returned and not flat:
                raise self.unsupported(node, "returning a container from a function that may return early",
                                       "return at the end only, or return a flat tuple of numbers and arrays")
            if not frame.uses_returned:
                if frame.result_arity not in (None, -1):
                    raise self.error(UnsupportedSyntaxError, "returns of different kinds", node,
                                     "return the same kind of value on every path")
                frame.result_arity = -1
                frame.result_pack = value
                return
        arity = len(value) if isinstance(value, Pack) else 1
        if frame.result_arity not in (None, arity):
            raise self.error(UnsupportedSyntaxError, "returns of different lengths", node,
                             "return the same number of values on every path")
        frame.result_arity = arity
        frame.result_tuple = isinstance(value, Pack)
        if isinstance(value, Pack):
            for k, operand in enumerate(value.values()):
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
        if isinstance(cond, Const) and not self.frame.loops:
            # known when compiling (`if "b" in params:`, `if len(layers) > 1:`): only that side is code
            chosen = node.body if cond.value else node.orelse
            return self.lower_block(chosen) if chosen else False
        if isinstance(cond, (Pack, Text)):
            raise self.unsupported(node.test, "a container or a string as a condition", "test numbers")
        body: list = []
        orelse: list = []
        with self.runtime_block():
            with self.block(body):
                exits = self.lower_block(node.body)
        self.loc = loc
        with self.runtime_block():
            with self.block(orelse):
                exits = self.lower_block(node.orelse) or exits
        self.loc = loc
        self.emit(If(cond, body, orelse, loc))
        return exits

    @contextmanager
    def runtime_block(self):
        """A block that runs or not (or how often) at run time: containers bound in it stay in it."""
        scope = self.frame.scope
        before = dict(scope)
        self.static_depth += 1
        try:
            yield
        finally:
            self.static_depth -= 1
        line = self.loc.line if self.loc else 0
        for name, value in list(scope.items()):
            old = before.get(name)
            if value is not old and (isinstance(value, (Pack, Text, Const)) or isinstance(old, (Pack, Text, Const))):
                scope[name] = Stale(line) if not isinstance(old, str) or not isinstance(value, str) else value

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
        items = containers.static_iteration(self, node)
        if isinstance(items, tuple) and items[0] == "array":
            return self.lower_for_array(node, items[1])
        if items is not None:
            return self.unroll(node, items)
        if not (isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Name) and node.iter.func.id == "range"):
            raise self.unsupported(node.iter, "for-loop over something other than range(...), an array or a container",
                                   "loop over indices: 'for i in range(len(xs)):' and read xs[i]")
        if not isinstance(node.target, ast.Name):
            raise self.unsupported(node.target, "for-loop target that is not a single name over a range",
                                   "loop over an index: 'for i in range(n):'")
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

    def unroll(self, node: ast.For, items: list) -> bool:
        """A loop over items known when compiling: the body once per item, the target bound to it."""
        for sub in ast.walk(ast.Module(body=node.body, type_ignores=[])):
            if isinstance(sub, (ast.Break, ast.Continue, ast.Return)) and not _inside_nested_loop(node, sub):
                raise self.unsupported(sub, f"{type(sub).__name__.lower()} in a loop over a container (it is "
                                       f"unrolled when compiling)", "loop over range(len(...)) instead, or move the "
                                       "test after the loop")
        exits = False
        loc = self.loc
        for value in items:
            self.loc = loc
            self.bind_target(node.target, value, static=True)
            exits = self.lower_block(node.body) or exits
        self.loc = loc
        return exits

    def lower_for_array(self, node: ast.For, array) -> bool:
        """`for row in A:` is `for i in range(A.shape[0]): row = A[i]`."""
        loc = self.loc
        rank = self.rank_of(array, node.iter, "a loop")
        if not rank:
            raise self.unsupported(node.iter, "a loop over a number", "loop over range(...) or an array")
        array = self.snapshot(array)
        stop = self.apply("shape0", (array,))
        index = self.names.fresh("row")
        self.types[index] = ir.INT
        body_target = node.target

        def make(body):
            return For(index, Const(0), stop, Const(1), body, loc)
        return self.loop(node, make, before=lambda: self.bind_target(body_target, self.apply("subscript", (array, Var(index)))))

    def loop(self, node, make, before=None) -> bool:
        """Lower a loop body with its exit flags; `make(body)` builds the loop statement (`before`: lowers
        what each trip starts with, such as the row a loop over an array reads)."""
        loc = self.loc
        frame = self.frame
        loop = Loop(self.names.fresh("skip"), self.names.fresh("leave"))
        needs_flags = any(isinstance(n, (ast.Break, ast.Continue, ast.Return)) for s in node.body for n in _walk_loop_level(s))
        if needs_flags:
            self.assign(loop.leave, "copy", (Const(False),))
        frame.loops.append(loop)
        body: list = []
        with self.runtime_block():
            with self.block(body):
                if needs_flags:
                    self.assign(loop.skip, "copy", (Const(False),))
                if before is not None:
                    before()
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
        with self.runtime_block():
            with self.block(test):
                cond = self.condition(node.test)
        if isinstance(cond, Var) and cond.name in self.frame.scope.values():
            with self.block(test):
                cond = self.apply("copy", (cond,))
        return self.loop(node, lambda body: While(test, cond, body, loc))

    def lower_expression_statement(self, node: ast.Expr) -> bool:
        """A docstring; `print(...)` (ignored: nothing is printed, its arguments are not evaluated); a
        container's `append`/`extend`/`update`/`insert`/`pop` (its structure changes when compiling)."""
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return False
        if isinstance(value, ast.Call):
            func = value.func
            if isinstance(func, ast.Name) and func.id == "print" and self.local("print") is None:
                return False
            if isinstance(func, ast.Attribute) and func.attr in containers.MUTATORS:
                base = self.lower_expr(func.value)
                if isinstance(base, Pack):
                    containers.mutate(self, base, value)
                    return False
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "call")
            raise self.unsupported(node, f"call for its side effect ({name}(...))",
                                   "differentiated code must be pure: remove the call, or move it outside")
        raise self.unsupported(node, "expression statement whose value is discarded",
                               "assign the value to a variable, or remove the line")

    def lower_assert(self, node: ast.Assert) -> bool:
        """`assert test`: checked in the forward sweep (AssertionError naming the line when it fails)."""
        test = self.lower_expr(node.test)
        if isinstance(test, Const):
            if not test.value:
                raise self.error(UnsupportedSyntaxError, "this assert always fails", node,
                                 "remove it or fix the condition", "assert")
            return False
        if isinstance(test, (Pack, Text)):
            raise self.unsupported(node.test, "an assert on a container or a string", "assert a comparison")
        self.apply_assert(test, node)
        return False

    def lower_local_def(self, node: ast.FunctionDef) -> bool:
        """`def g(...)` inside the function: inlined where it is called, with this function's variables."""
        if node.decorator_list:
            raise self.unsupported(node, "a decorated function defined inside the function",
                                   "define it at module level, or drop the decorator")
        self.frame.scope[node.name] = LocalFunction(node, self.frame, node.name)
        return False

    def lower_import(self, node) -> bool:
        """`import numpy as np` (or `from math import sin`) inside the function: names for the function."""
        from .parse import _module_ref
        namespace = self.frame.source.namespace
        for alias in node.names:
            if isinstance(node, ast.Import):
                ref = _module_ref(alias.name, self.frame.source.filename)
                bound = alias.asname or alias.name.split(".")[0]
                if ref is not None and alias.asname is None and "." in alias.name:
                    ref = _module_ref(alias.name.split(".")[0], self.frame.source.filename)
            else:
                base = _module_ref(node.module, self.frame.source.filename) if node.module and not node.level else None
                ref = namespace.attribute(base, alias.name) if base is not None else None
                bound = alias.asname or alias.name
            if ref is None:
                raise self.unsupported(node, f"import of {alias.name!r} (not a module the compiler knows)",
                                       "import math, numpy, scipy.special or your own modules")
            self.frame.imports[bound] = ref
        return False

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
        return self.materialise(value, target)

    @property
    def _targeted(self):
        return (self.lower_binop, self.lower_unaryop, self.lower_call, self.lower_compare,
                self.lower_ifexp, self.lower_boolop, self.lower_subscript, self.lower_attribute)

    def lower_constant(self, node: ast.Constant):
        if isinstance(node.value, (bool, int, float)):
            return Const(node.value)
        if isinstance(node.value, str):
            return Text(node.value)
        if isinstance(node.value, complex):
            raise self.unsupported(node, "a complex number", "complex numbers are not supported: differentiate "
                                   "the real and imaginary parts as two real values")
        raise self.unsupported(node, f"{type(node.value).__name__} literal", "use numbers")

    def local(self, name: str):
        """What a name means in the function being lowered, or in the functions it is defined in."""
        frame = self.frame
        while frame is not None:
            if name in frame.scope:
                return frame.scope[name]
            frame = frame.enclosing
        return None

    def imported(self, name: str):
        frame = self.frame
        while frame is not None:
            if name in frame.imports:
                return frame.imports[name]
            frame = frame.enclosing
        return None

    def lower_name(self, node: ast.Name):
        value = self.local(node.id)
        if value is not None:
            if isinstance(value, str):
                return Var(value)
            if isinstance(value, Stale):
                raise self.error(UnsupportedSyntaxError,
                                 f"{node.id!r} holds a container (or a string) bound inside a branch or loop "
                                 f"(line {value.line}): which one depends on the path taken", node,
                                 "build the container before the branch or loop, or use it only inside it",
                                 "container bound in a branch")
            if isinstance(value, LocalFunction):
                raise self.unsupported(node, f"the function {node.id!r} used as a value", "call it")
            return value
        ref = self.imported(node.id) or self.frame.source.namespace.lookup(node.id)
        return self.value_of_ref(ref, node, node.id)

    def value_of_ref(self, ref, node, name: str):
        if isinstance(ref, ConstantRef):
            if ref.read is not None:
                self.watches.append((ref.read, ref.value))
            return Const(ref.value)
        if isinstance(ref, DataRef):
            return self.data_value(ref, node)
        if ref is None:
            raise self.error(AutodiffError, f"name {name!r} is not defined (or is used before it is assigned)",
                             node, "assign it before use, or define it at module level", "undefined name")
        if isinstance(ref, MarkerRef) and ref.name == "newaxis":
            return containers.NEW_AXIS
        raise self.unsupported(node, f"{name!r} used as a value",
                               "call functions; only numbers and arrays are values here")

    def data_value(self, ref, node):
        """Module-level data (an array, or a container holding arrays) read by the function: each array a
        hidden parameter, read again at every call; numbers in containers baked in as constants."""
        try:
            tree = pytrees.tree_type(ref.value, pytrees.leaf_type, ref.name)
        except AutodiffError as exc:
            raise self.error(type(exc), f"{ref.name}: {exc.message}", node, exc.hint, "module data")
        return self.data_pack(ref, tree, ref.value, ())

    def data_pack(self, ref, tree, value, path):
        if isinstance(tree, pytrees.TreeType):
            items = {key: self.data_pack(ref, child, item, path + (key,))
                     for key, child, item in zip(tree.keys, tree.children, pytrees.children_of(tree, value))}
            return Pack(tree.kind, items, ref.name)
        if not tree.is_array:
            self.watches.append((lambda ref=ref, path=path: _at_path(ref.read(), path), value))
            return Const(float(value) if tree.kind == "float" else value)
        key = (ref.key, path)
        if key not in self.data_names:
            name = self.names.fresh(re.sub(r"\W", "_", "_".join([ref.name] + [str(k) for k in path])))
            self.data_names[key] = name
            self.data.append((name, ref, path))
            self.types[name] = tree
            self.parameter_aliases.add(name)
        return Var(self.data_names[key])

    def lower_tuple(self, node: ast.Tuple):
        return containers.lower_sequence(self, node, "tuple")

    def lower_list(self, node: ast.List):
        return containers.lower_sequence(self, node, "list")

    def lower_dict(self, node: ast.Dict):
        return containers.lower_dict(self, node)

    def lower_listcomp(self, node):
        return containers.make(self, "list", containers.comprehension(self, node))

    def lower_fstring(self, node):
        raise self.unsupported(node, "f-string", "differentiated code computes numbers; format strings outside it")

    def lower_lambda(self, node: ast.Lambda):
        return LocalFunction(node, self.frame, "<lambda>")

    def lower_binop(self, node: ast.BinOp, target=None):
        if isinstance(node.op, ast.MatMult):
            prim = "dot"
        else:
            prim = BINARY_OPERATORS.get(type(node.op))
        left = self.lower_expr(node.left)
        right = self.lower_expr(node.right)
        if isinstance(left, (Pack, Text)) or isinstance(right, (Pack, Text)):
            return self.materialise_result(self.combine(prim, left, right, node), target)
        if prim == "dot" and max(self.rank_of(left), self.rank_of(right)) > 2:
            return library.matmul(self, node, left, right, target)
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
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            container = self.lower_expr(node.comparators[0])
            if not isinstance(container, Pack):
                raise self.unsupported(node, "'in' on something that is not a tuple, list or dict",
                                       "compare numbers with < <= > >= == !=")
            key = containers.constant_key(self, node.left)
            found = key in container.items if container.kind in ("dict", "object") else \
                any(isinstance(v, (Const, Text)) and getattr(v, "value", None) == key for v in container.values())
            return self.materialise(Const(found == isinstance(node.ops[0], ast.In)), target)
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
        if isinstance(ref, (ConstantRef, DataRef)) or (isinstance(ref, MarkerRef) and ref.name == "newaxis"):
            return self.materialise(self.value_of_ref(ref, node, ast.unparse(node)), target)
        base_ref = self.resolve(node.value) if isinstance(node.value, (ast.Name, ast.Attribute)) else None
        if isinstance(base_ref, (ModuleRef, ClassRef)):
            handled = arrays.lower_attribute(self, node, target)
            if handled is not None:
                return handled
            raise self.unsupported(node, f"'{ast.unparse(node)}' used as a value",
                                   "call functions; only numbers and arrays are values here")
        base = self.lower_expr(node.value)
        if isinstance(base, Pack):
            if base.kind == "object" and node.attr in base.items:
                return self.materialise_result(base.items[node.attr], target)
            if base.kind == "object":
                raise self.unsupported(node, f"the attribute .{node.attr} of the {base.name} object (it is not a "
                                       f"number, an array or a container of them)",
                                       "read numbers and arrays from self; pass other values as arguments")
            raise self.unsupported(node, f"the attribute .{node.attr} of a {base.kind}", "index it instead")
        if isinstance(base, Text):
            raise self.unsupported(node, f"the attribute .{node.attr} of a string", "strings are keys and specs here")
        handled = arrays.lower_value_attribute(self, node, base, target)
        if handled is not None:
            return handled
        raise self.unsupported(node, f"attribute '.{node.attr}'", "see the supported language in the README")

    def lower_subscript(self, node: ast.Subscript, target=None):
        base = self.lower_container_base(node.value)
        if isinstance(base, Pack):
            return self.materialise_result(containers.subscript(self, base, node), target)
        return arrays.lower_subscript(self, node, target)

    def store(self, node: ast.Subscript, value, prim: str) -> None:
        arrays.lower_store(self, node, value, prim)

    def resolve(self, func: ast.expr):
        """What a called name or dotted name refers to, or None."""
        namespace = self.frame.source.namespace
        if isinstance(func, ast.Name):
            local = self.local(func.id)
            if local is not None:
                return local if isinstance(local, LocalFunction) else None
            return self.imported(func.id) or namespace.lookup(func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, (ast.Name, ast.Attribute)):
            if isinstance(func.value, ast.Name) and self.local(func.value.id) is not None:
                return None
            base = self.resolve(func.value)
            if isinstance(base, (ModuleRef, ClassRef)):
                return namespace.attribute(base, func.attr)
        return None

    def lower_call(self, node: ast.Call, target=None):
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.unsupported(argument, "starred arguments (f(*args))", "pass arguments explicitly")
        ref = self.resolve(node.func)
        if isinstance(ref, LocalFunction):
            args = [self.lower_expr(a) for a in node.args]
            keywords = {kw.arg: self.lower_expr(kw.value) for kw in node.keywords}
            return self.materialise_result(self.inline_local(ref, args, node, keywords), target)
        if ref is None and isinstance(node.func, ast.Attribute):
            handled = self.lower_method_of_value(node, target)
            if handled is not None:
                return handled
        handled = library.lower_call(self, node, ref, target)
        if handled is not None:
            return handled
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
        if isinstance(result, (Pack, Text)):
            return result
        return self.materialise(result, target)

    def lower_method_of_value(self, node: ast.Call, target):
        """`d.get(k, default)`, `lst.copy()`, `self.method(...)`: calls on a container's value; None when the
        base is not a container (an array method, handled elsewhere)."""
        func = node.func
        base_node = func.value
        if isinstance(base_node, ast.Name) and not isinstance(self.local(base_node.id), (Pack, Text)):
            return None
        if not isinstance(base_node, (ast.Name, ast.Attribute, ast.Subscript)):
            return None
        base = self.lower_expr(base_node)
        if isinstance(base, Text):
            raise self.unsupported(node, f"the string method .{func.attr}()", "strings are keys and specs here")
        if not isinstance(base, Pack):
            return None
        return containers.method(self, base, node, target)

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
        args = [library.as_array(self, self.lower_expr(a), a) for a in node.args]
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

    # ------------------------------------------------------------------ inlining
    def bind_arguments(self, callee: Source, params: list, args: list, keywords: dict, node,
                       definition=None) -> list:
        """Positional, keyword and default arguments, in parameter order, as Python binds them."""
        from .parse import default_value
        definition = definition or callee.node
        name = getattr(definition, "name", "<lambda>")
        if len(args) > len(params):
            raise self.error(AutodiffError, f"{name}() takes {len(params)} argument(s), got {len(args)}",
                             node, construct=name)
        bound = dict(zip(params, args))
        for key, value in keywords.items():
            if key not in params:
                raise self.error(AutodiffError, f"{name}() has no parameter {key!r}", node,
                                 hint=f"its parameters: {', '.join(params)}", construct=name)
            if key in bound:
                raise self.error(AutodiffError, f"{name}() got two values for {key!r}", node, construct=name)
            bound[key] = value
        arguments = definition.args
        with_defaults = [a.arg for a in arguments.args][len(arguments.args) - len(arguments.defaults):]
        for key, default in zip(with_defaults, arguments.defaults):
            if key not in bound:
                value = default_value(callee, default)
                if value is None:
                    value = self.lower_expr(default)
                bound[key] = Const(value) if not isinstance(value, (Var, Const, Pack, Text)) else value
        missing = [p for p in params if p not in bound]
        if missing:
            raise self.error(AutodiffError, f"{name}() is missing argument(s) {', '.join(missing)}",
                             node, construct=name)
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
        self.sources[ref.key] = callee.text
        return self.inline_definition(callee, callee.node, args, keywords, node)

    def inline_local(self, function: LocalFunction, args: list, node: ast.Call, keywords: dict | None = None):
        """A function defined inside the one being lowered, called: inlined, reading the variables of the
        function it was defined in (as they are at the call, as Python reads them)."""
        if any(f.source.node is function.node for f in self.frames):
            raise self.error(RecursionNotSupportedError, f"recursive call of {function.name} cannot be "
                             f"differentiated", node, "rewrite the recursion as a loop", "recursion")
        definition = function.node
        if isinstance(definition, ast.Lambda):
            definition = ast.FunctionDef(name="lambda", args=definition.args,
                                         body=[ast.copy_location(ast.Return(definition.body), definition.body)],
                                         decorator_list=[], returns=None, type_comment=None)
            ast.copy_location(definition, function.node)
        source = Source(function.frame.source.filename, definition, function.frame.source.lines,
                        function.frame.source.namespace)
        return self.inline_definition(source, definition, args, keywords, node, enclosing=function.frame)

    def inline_definition(self, callee: Source, definition, args, keywords, node, enclosing=None):
        params = [a.arg for a in definition.args.args]
        args = self.bind_arguments(callee, params, args, keywords or {}, node, definition)
        name = definition.name
        count = self.inline_count.get(name, 0) + 1
        self.inline_count[name] = count
        prefix = self.names.fresh(name if count == 1 else f"{name}{count}")
        loc = self.loc
        frame = Frame(callee, {}, self.names.fresh(f"{prefix}_value"), self.names.fresh(f"{prefix}_returned"),
                      prefix=prefix, call_site=loc, enclosing=enclosing)
        for param, arg in zip(params, args):
            if isinstance(arg, (Pack, Text, LocalFunction)):
                frame.scope[param] = arg
                continue
            frame.scope[param] = self.names.fresh(f"{prefix}_{param}")
            self.assign(frame.scope[param], "copy", (arg,))
            if isinstance(arg, Var) and arg.name in self.parameter_aliases:
                self.parameter_aliases.add(frame.scope[param])
        self.frames.append(frame)
        depth, self.static_depth = self.static_depth, self.static_depth
        try:
            if not _always_returns(definition.body):
                raise self.error(UnsupportedSyntaxError, f"function {name!r} can end without returning "
                                 "a value", definition.body[-1], "end every path with 'return <expression>'",
                                 "missing return")
            self.lower_body(definition.body)
        finally:
            self.frames.pop()
            self.loc = loc
            self.static_depth = depth
        if frame.result_pack is not None:
            return frame.result_pack
        if frame.result_tuple:
            return Pack("tuple", {k: Var(f"{frame.result}_{k}") for k in range(frame.result_arity)})
        return Var(frame.result)


def _at_path(value, path: tuple):
    from . import pytrees as trees
    for key in path:
        value = getattr(value, key) if not isinstance(value, (tuple, list, dict)) else value[key]
    return value


def _inside_nested_loop(loop, node) -> bool:
    """Is `node` inside a loop nested in `loop` (so that break/continue belong to that one)?"""
    for sub in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
        if isinstance(sub, (ast.For, ast.While)) and any(n is node for n in ast.walk(sub)):
            return True
        if isinstance(sub, (ast.FunctionDef, ast.Lambda)) and any(n is node for n in ast.walk(sub)):
            return True
    return False


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


@dataclass
class Facts:
    """What the front end learnt that the rest of the derivation and the API need: the containers it
    flattened (parameter -> (TreeType, leaf names)), the module data it made hidden parameters
    ((IR name, DataRef, path) in parameter order), the module numbers it baked in ((reader, value): the
    API notices when one changes), the `assert` sites (number -> Loc), and every IR parameter's type."""
    structures: dict
    data: list
    watches: list
    asserts: dict
    param_types: dict


def lower(source: Source, param_types: dict | None = None) -> tuple[ir.Function, dict]:
    """Lower a fenced function; returns the IR and the sources of every function inlined.  With the
    parameters' types (`ir.Type`s, or `pytrees.TreeType`s for containers) the lowering flattens
    containers and knows ranks; `function.facts` says what it found (`Facts`)."""
    fence(source)
    lowering = Lowering(source, param_types)
    function = lowering.lower_function()
    version_straight_line(function, lowering.names)
    function.user_names = frozenset(lowering.names.taken)
    function.facts = Facts(lowering.structures, lowering.data, lowering.watches, lowering.asserts,
                           {p: lowering.types[p] for p in function.params if p in lowering.types})
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
    function.result = rename_operand(function.result)


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
