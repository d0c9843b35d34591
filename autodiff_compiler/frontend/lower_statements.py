"""Lower statements: assignments, returns, branches, loops, assert, print, imports and local definitions.

Takes: the lowering (`frontend.lower.Lowering`, which mixes this class in).
Guarantees: each statement handler emits IR statements in A-normal form and
returns whether the statement may leave its block early; `break`, `continue`
and `return` inside branches and loops become flags guarding the rest of their
block; a construct outside the language is an `UnsupportedSyntaxError` naming
file, line and construct.
"""
from __future__ import annotations

import ast
from contextlib import contextmanager

from .. import ir
from ..errors import UnsupportedSyntaxError
from ..ir import Assign, Const, For, If, Loc, Var, While
from . import lower_containers as containers
from .lower_containers import Pack, Stale, Text
from ..rules import BINARY_OPERATORS
from .lower_frames import LocalFunction, Loop, _user_name_of

_OPERATOR_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@",
                  ast.FloorDiv: "//", ast.Mod: "%"}


class StatementLowering:
    """The statement handlers of `Lowering` (a mixin: `self` is the lowering)."""

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
            exits = self.STATEMENT_LOWERING[type(stmt)](self, stmt)
            if exits and any(not _is_docstring(s) for s in stmts[k + 1:]):
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
            self.note_zero_d(target.id, value)
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred)
                                                                     for e in value.elts + target.elts):
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
            items = containers.unpack(self, value, len(target.elts), target, starred[0] if starred else None)
            items = [self.snapshot(v) if not (static and isinstance(v, (Const, Pack))) else v for v in items]
            for element, item in zip(target.elts, items):
                self.bind_target(element.value if isinstance(element, ast.Starred) else element, item, static)
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
        self.user_variables[frame.scope[user_name]] = user_name
        return frame.scope[user_name]

    def lower_container_base(self, node):
        """The value a subscript target indexes, when it is a container (else None: an array store)."""
        if isinstance(node, ast.Name):
            value = self.frame.scope.get(node.id)
            if isinstance(value, Pack):
                return value
            if isinstance(value, Stale):
                self.lower_name(node)
            if value is None and self.local(node.id) is None:
                # module data, a closure cell or an object read by the function: a container is a Pack
                found = self.lower_name(node)
                return found if isinstance(found, Pack) else None
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
        self.user_variables[frame.scope[user_name]] = user_name
        return frame.scope[user_name]

    def note_zero_d(self, user_name: str, value: ast.expr) -> None:
        """Remember a name that holds a 0-d NumPy array: `np.where`, `np.array` or `np.asarray` of numbers
        returns one (not a float), and so does a name bound to such a name.  Never forgotten: a later
        augmented assignment to it is refused (see `lower_augassign`)."""
        if self.is_zero_d(value, self.frame) and self.rank_of(Var(self.bind(user_name))) == 0:
            self.zero_d.add((id(self.frame), user_name))

    def is_zero_d(self, value: ast.expr, frame) -> bool:
        """May `value`, read in `frame`, be a 0-d NumPy array object: `np.where`, `np.array` or
        `np.asarray` of numbers, a name holding one, or a call of an inlined function that returned one
        (its parameters and returns are followed: `b *= ...` inside a helper given `np.where(c, x, y)`
        changes the caller's array, and a returned one is shared with every name bound to it)."""
        if isinstance(value, ast.Call):
            ref = self.resolve(value.func)
            if getattr(ref, "name", None) in ("where", "array", "asarray", "asfarray"):
                return True
            return id(value) in self.zero_d_calls
        if isinstance(value, ast.Name):
            return (id(frame), value.id) in self.zero_d
        return False

    def lower_augassign(self, node: ast.AugAssign) -> bool:
        prim = "dot" if isinstance(node.op, ast.MatMult) else BINARY_OPERATORS[type(node.op)]
        if isinstance(node.target, ast.Name) and (id(self.frame), node.target.id) in self.zero_d:
            # NumPy changes a 0-d array in place, and with it every name bound to the same array; the
            # compiler keeps numbers as values, so it would differentiate another program
            raise self.unsupported(node, f"augmented assignment to {node.target.id}, a 0-d NumPy array",
                                   f"np.where/np.array of numbers returns a 0-d array, which `{node.target.id} "
                                   f"{_OPERATOR_TEXT.get(type(node.op), 'op')}= ...` changes in place (and every "
                                   f"name bound to it); write {node.target.id} = {node.target.id} "
                                   f"{_OPERATOR_TEXT.get(type(node.op), 'op')} ..., or float(np.where(...))")
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
        if frame.call_node is not None and self.is_zero_d(node.value, frame):
            self.zero_d_calls.add(id(frame.call_node))
        if isinstance(value, Pack) and len(self.frames) == 1 and self.tuple_results and value.kind == "tuple":
            if frame.result_tree is None and frame.result_arity is not None:
                raise self.error(UnsupportedSyntaxError, "returns of different shapes of tuple", node,
                                 "return the same tuple structure on every path")
            leaves: list = []
            tree = _flatten(value, leaves, self, node)
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
        if isinstance(items, tuple) and items[0] == "rows":
            return self.lower_for_rows(node, items[1])
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
        """`for row in A:` is `for i in range(A.shape[0]): row = A[i]` (`lower_for_rows`)."""
        rank = self.rank_of(array, node.iter, "a loop")
        if not rank:
            raise self.unsupported(node.iter, "a loop over a number", "loop over range(...) or an array")
        return self.lower_for_rows(node, containers.array_rows(self, array))

    def lower_for_rows(self, node: ast.For, rows) -> bool:
        """`for i, (x, y) in enumerate(zip(X, Y)):` over arrays of lengths known when the code runs: a loop of
        `rows.length` trips, the target bound to `rows.item(index)` at the start of each
        (`containers.Rows`)."""
        loc = self.loc
        index = self.names.fresh("row")
        self.types[index] = ir.INT

        def make(body):
            return For(index, Const(0), rows.length, Const(1), body, loc)
        return self.loop(node, make, before=lambda: self.bind_target(node.target, rows.item(Var(index))))

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


def _flatten(value, leaves: list, lowering, node):
    """The nesting of a returned tuple as nested tuples of leaf numbers; the leaves appended in order."""
    if isinstance(value, Pack):
        if value.kind != "tuple":
            raise lowering.unsupported(node, f"returning a {value.kind} inside the returned tuple",
                                       "return numbers and arrays, in tuples")
        return tuple(_flatten(v, leaves, lowering, node) for v in value.values())
    if isinstance(value, Text):
        raise lowering.unsupported(node, "returning a string", "return numbers or arrays")
    leaves.append(value)
    return len(leaves) - 1


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
