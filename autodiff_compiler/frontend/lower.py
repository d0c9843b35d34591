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
from ..errors import AutodiffError, UnsupportedSyntaxError
from ..ir import Assign, Const, For, If, Loc, Store, Slice, Var, While
from . import lower_arrays as arrays
from . import lower_containers as containers
from . import lower_numpy as library
from . import pytrees
from .lower_containers import Pack, Stale, Text
from .parse import ClassRef, ConstantRef, DataRef, MarkerRef, ModuleRef, Source, fence
from ..ir import Names
from ..ir.numbers import is_array_operand, is_numpy_operand, numpy_numbers, python_numbers, scalar_kind
from ..ir import dataflow
from ..ir.ranges import INT64, float_bounds, int_bound_of, int_bounds, int_operand_bound
from ..python_errors import (CHECK_COPY, INT64_HELPERS, INT64_NUMPY_PARAM, INT64_PARAM, MATH_MODULE_PARAM, NUMPY_FUNCTION_PARAM,
                             POWER_UNREAD, checks_int64, python_check, python_domain_holds, python_power_holds,
                             python_power_may_raise)
from ..rules import BINARY_OPERATORS, COMPARISONS, PRIMITIVES, may_raise
from .lower_calls import CallLowering
from .lower_frames import Frame, LocalFunction, _at_path, identifiers
from .number_flags import insert_number_flags, int_powers
from .lower_statements import StatementLowering, _always_returns


class Lowering(StatementLowering, CallLowering):
    def __init__(self, source: Source, param_types: dict | None = None, tuple_results: bool = False):
        self.source = source
        # may the top function return a tuple (jacobian, jvp, vjp, has_aux)?  A gradient needs one number.
        self.tuple_results = tuple_results
        self.param_types = dict(param_types or {})
        self.types: dict = {}            # what the lowering knows of the types so far (ranks, for shapes)
        self.static_depth = 0            # > 0 inside branches and loops that run at run time
        self.structures: dict = {}       # parameter -> (TreeType, leaf names)
        self.data: list = []             # hidden parameters: (IR name, DataRef, path) of module data read
        self.data_names: dict = {}       # (DataRef key, path) -> IR name
        self.watches: list = []          # (LiveNamespace-like reader, value): numbers baked into the code
        self.bindings: dict = {}         # `bindings.Binding`s of what it used as code, by `ident()` (`note_code`)
        self.asserts: dict = {}          # site number -> Loc of an `assert`
        self.user_variables: dict = {}   # IR name -> the user's name, for what their assignments and loops bind (`bind`)
        self.zero_d: set = set()         # (frame, user name) holding a 0-d NumPy array (`note_zero_d`)
        self.zero_d_calls: set = set()   # ids of inlined calls (ast nodes) that may return one
        self.names = Names(identifiers(source.node))
        self.blocks: list[list] = []
        self.frames: list[Frame] = []
        self.loc: Loc | None = None
        self.no_grad = 0
        self.inline_count: dict[str, int] = {}
        self.sources = {source.filename + ":" + source.name: source.text}

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

    def assign(self, target: str, prim: str, args: tuple, params: tuple = (), error_effect: bool = False) -> Var:
        self.emit(Assign(target, prim, tuple(args), None, params, error_effect=error_effect))
        return Var(target)

    def apply(self, prim: str, args, target: str | None = None, params: tuple = (),
              error_effect: bool = False) -> Var:
        """Emit `target = prim(args)`; a temporary when no target is given or the target is an argument.
        `error_effect`: see `ir.Assign`."""
        args = tuple(args)
        if target is None or target in ir.operand_vars(args):
            temp = self.assign(self.names.temp(), prim, args, params, error_effect)
            if target is None:
                return temp
            return self.assign(target, "copy", (temp,))
        return self.assign(target, prim, args, params, error_effect)

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

    def gathered(self, operands) -> tuple:
        """Numbers gathered into an array (`np.array([k, 3])`, `x[[0, 2]]`): as they are where all are ints or
        all bools (NumPy's int64 or bool array, `rules.array_from`), bools as ints among ints (int64 too),
        else each a float."""
        kinds = {self.type_of(a).kind if self.type_of(a) is not None else None for a in operands}
        if kinds in ({"int"}, {"bool"}):
            return tuple(operands)
        if kinds == {"int", "bool"}:
            return tuple(self.as_int(a) if self.type_of(a).kind == "bool" else a for a in operands)
        return tuple(self.as_float(a) for a in operands)

    def as_int(self, operand):
        """A bool as an int (`operator.index`: True is 1)."""
        if isinstance(operand, Const):
            return Const(int(operand.value))
        return self.apply("index", (operand,))

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

    def axis_length(self, array, axis: int):
        """`array.shape[axis]` (axis >= 0) as an IR value."""
        return self.apply({0: "shape0", 1: "shape1"}.get(axis, "shape"), (array,), None,
                          () if axis < 2 else (("axis", axis),))

    def check_last_axis(self, array, length: int, node) -> None:
        last = self.axis_length(array, self.rank_of(array, node) - 1)
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
        _mark_python_errors(body, self.types, {name for name, _, _ in self.data}, flat, self.names)
        flat += [name for name, _, _ in self.data]
        function = ir.Function(node.name, flat, {}, body, Var(frame.result), self.source.filename,
                               node.lineno, docstring=ast.get_docstring(node) or "",
                               user_names=frozenset(self.names.taken))
        function.output_tree = None
        if frame.result_tree is not None:
            # a tuple result: the leaves, in order, are the outputs; the tree says how they nest
            function.result = None
            function.returns = tuple(Var(f"{frame.result}_{k}") for k in range(frame.result_arity))
            function.output_tree = frame.result_tree
        return function

    def pack_of_leaves(self, tree, leaves, name: str, obj=None) -> Pack:
        """A container parameter (or module data) as a pack of its leaf variables."""
        items = {}
        for key, child in zip(tree.keys, tree.children):
            items[key] = self.pack_of_leaves(child, leaves, name) if isinstance(child, pytrees.TreeType) \
                else Var(next(leaves))
        return Pack(tree.kind, items, tree.name or name, cls=tree.cls, others=frozenset(tree.others))

    def check_returns(self, node: ast.FunctionDef) -> None:
        if not _always_returns(node.body):
            last = node.body[-1]
            raise self.error(UnsupportedSyntaxError,
                             f"function {node.name!r} can end without returning a value", last,
                             "end every path of the function with 'return <expression>'",
                             "missing return")

    # -------------------------------------------------------------- expressions
    def lower_expr(self, node: ast.expr, target: str | None = None):
        lowering = self.EXPRESSION_LOWERING.get(type(node))
        if lowering is None:
            raise self.unsupported(node, type(node).__name__, "see the supported language in the README")
        handler, takes_target = lowering
        if takes_target:
            return handler(self, node, target)
        return self.materialise(handler(self, node), target)

    def lower_constant(self, node: ast.Constant):
        if isinstance(node.value, (bool, int, float)):
            return Const(node.value)
        if isinstance(node.value, str):
            return Text(node.value)
        if isinstance(node.value, complex):
            raise self.unsupported(node, "a complex number", "complex numbers are not supported: differentiate "
                                   "the real and imaginary parts as two real values")
        raise self.unsupported(node, f"{type(node.value).__name__} literal", "use numbers")

    def _in_frames(self, table: str, name: str):
        """`name` in the `table` (scope or imports) of the innermost frame that has it, else None."""
        frame = self.frame
        while frame is not None:
            entries = getattr(frame, table)
            if name in entries:
                return entries[name]
            frame = frame.enclosing
        return None

    def local(self, name: str):
        """What a name means in the function being lowered, or in the functions it is defined in."""
        return self._in_frames("scope", name)

    def imported(self, name: str):
        """What an import inside the function (or the functions it is defined in) binds `name` to."""
        return self._in_frames("imports", name)

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
            scope = getattr(self.frame.source.namespace, "globals", {})
            head = name.split(".")[0]
            if head in scope:       # defined, but as nothing a derivation reads from a module
                raise self.unsupported(node, f"{head!r}, a {type(scope[head]).__name__} object of the module (a "
                                       f"function reads numbers, arrays, containers of them, functions, classes "
                                       f"and modules from its module)", "pass it as an argument, or differentiate "
                                       f"its method itself: grad({head}.method) reads its numbers and arrays")
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
                value = PRIMITIVES[prim].evaluate(left.value, right.value)
            except (ArithmeticError, ValueError):
                value = None
            if isinstance(value, (int, float)):     # not `(-2.0) ** 1.5`, a complex number (checked where read)
                return self.materialise(Const(value), target)
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
            number = self.class_number(base, node.attr) if base.kind == "object" else None
            if number is not None:
                return self.materialise(number, target)
            owner, value = _class_attribute(base.cls, node.attr)
            if base.kind == "object" and owner is not None and not callable(value):
                # an array or container of the class: read only from the object (its leaves are parameters)
                raise self.unsupported(node, f"the attribute .{node.attr} of the {owner.__name__} class (a "
                                       f"{type(value).__name__}: of a class, only numbers are read)",
                                       f"set it on the object (self.{node.attr} = ... in __init__), or pass it")
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

    def class_number(self, obj, attr: str):
        """A number the object's class holds (`class Model: rate = 0.1`, read as `self.rate`), baked in as a
        module number is and watched the same way (a new value derives again); None for anything else."""
        cls = obj.cls
        _, value = _class_attribute(cls, attr)      # (a property or method is no number)
        if type(value) not in (bool, int, float):
            return None
        self.watches.append((lambda cls=cls, attr=attr: getattr(cls, attr), value))
        return Const(value)

    def lower_subscript(self, node: ast.Subscript, target=None):
        if isinstance(node.value, (ast.Call, ast.Tuple, ast.List)):
            # a computed base (`np.linalg.slogdet(S)[1]`, `(a, b)[0]`) is lowered once, then indexed as what it is
            value = self.lower_expr(node.value)
            if isinstance(value, Pack):
                return self.materialise_result(containers.subscript(self, value, node), target)
            return arrays.lower_subscript(self, node, target, array=value)
        base = self.lower_container_base(node.value)
        if isinstance(base, Pack):
            return self.materialise_result(containers.subscript(self, base, node), target)
        return arrays.lower_subscript(self, node, target)

    def store(self, node: ast.Subscript, value, prim: str) -> None:
        arrays.lower_store(self, node, value, prim)


# by the syntax node's type.  Class attributes holding plain functions: a dict of bound methods on
# the instance would make each `Lowering` a reference cycle, kept (with its whole IR) until CPython's
# cyclic collector runs.
Lowering.STATEMENT_LOWERING = {
    ast.Assign: Lowering.lower_assign, ast.AnnAssign: Lowering.lower_annassign,
    ast.AugAssign: Lowering.lower_augassign, ast.Return: Lowering.lower_return, ast.If: Lowering.lower_if,
    ast.For: Lowering.lower_for, ast.While: Lowering.lower_while, ast.Break: Lowering.lower_break,
    ast.Continue: Lowering.lower_continue, ast.Pass: Lowering.lower_pass,
    ast.Expr: Lowering.lower_expression_statement, ast.With: Lowering.lower_with,
    ast.Assert: Lowering.lower_assert, ast.FunctionDef: Lowering.lower_local_def,
    ast.Import: Lowering.lower_import, ast.ImportFrom: Lowering.lower_import,
}
# (lowering, whether it takes the target name: those that do materialise their value themselves)
Lowering.EXPRESSION_LOWERING = {
    ast.Constant: (Lowering.lower_constant, False), ast.Name: (Lowering.lower_name, False),
    ast.BinOp: (Lowering.lower_binop, True), ast.UnaryOp: (Lowering.lower_unaryop, True),
    ast.Compare: (Lowering.lower_compare, True), ast.BoolOp: (Lowering.lower_boolop, True),
    ast.IfExp: (Lowering.lower_ifexp, True), ast.Call: (Lowering.lower_call, True),
    ast.Attribute: (Lowering.lower_attribute, True), ast.Subscript: (Lowering.lower_subscript, True),
    ast.Tuple: (Lowering.lower_tuple, False), ast.List: (Lowering.lower_list, False),
    ast.Dict: (Lowering.lower_dict, False), ast.ListComp: (Lowering.lower_listcomp, False),
    ast.GeneratorExp: (Lowering.lower_listcomp, False), ast.Lambda: (Lowering.lower_lambda, False),
    ast.JoinedStr: (Lowering.lower_fstring, False),
}


@dataclass
class Facts:
    """What the front end learnt that the rest of the derivation and the API need: the containers it
    flattened (parameter -> (TreeType, leaf names)), the module data it made hidden parameters
    ((IR name, DataRef, path) in parameter order), the module numbers it baked in ((reader, value): the
    API notices when one changes), the `assert` sites (number -> Loc), and every IR parameter's type.
    `bindings`: where it found each function (class, user module, parameter defaults) it used as code
    (`frontend.bindings.Binding`s): the API derives again when one is another object now."""
    structures: dict
    data: list
    watches: list
    asserts: dict
    param_types: dict
    # the IR names the user's assignments and loops bind, each with the name the user wrote (the
    # compiler's own, such as a return's value and flag, are bound wherever they are read by
    # construction), and the `assert_true` sites that check one is bound (site -> the user's name;
    # `frontend.bound_checks`)
    user_variables: dict = field(default_factory=dict)
    unbound_reads: dict = field(default_factory=dict)
    bindings: tuple = ()


def _mark_python_errors(body: list, types: dict, module_data: set, params: list, names: Names) -> None:
    """Mark (`ir.Assign.error_effect`) the divisions and modulos of Python's numbers that may raise
    (`rules.may_raise`: `1.0 / k`, `k % m`, `k // m`): the error is part of the function's meaning, so
    the statement is kept although nothing reads its value.  Not marked: arrays, and numbers that may
    be NumPy's (`ir.numbers`), which answers a division by zero with inf or 0 and a warning -- a number
    from an array (an element, a reduction; not an axis length), from module data, or from arithmetic
    on such a number, in any statement of the function.  Python's power of its numbers likewise
    (`python_errors.python_check`: "power"; `0.0 ** -1.0` raises ZeroDivisionError, `10.0 ** 400` OverflowError,
    where Numba's and NumPy's give inf), unless its constants make it safe
    (`python_errors.python_power_may_raise`: `x ** 1`, two ints to a power >= 0).  An int of a float
    (`math.floor(t)`, `int(t)`) raises on NaN and infinity, NumPy's numbers included: marked unless the
    operand is an int or a bool.  NumPy's ints to an int power (`number_flags.int_powers`) are checked
    for a negative exponent, where NumPy raises ValueError."""
    assigns = [s for s in ir.walk(body) if isinstance(s, Assign)]
    for stmt in assigns:
        if stmt.error_effect and PRIMITIVES[stmt.prim].python_errors:
            # marked by the lowering (a call from the math module): not of an array (NumPy's function
            # then, elementwise), nor of a constant the function takes
            kinds = [types.get(a.name) for a in stmt.args if isinstance(a, Var)]
            t = next((k for k in kinds if k is not None and k.is_array), None)
            if t is not None and t.ndim >= 1:     # a rank the lowering did not know yet
                loc = stmt.loc
                raise UnsupportedSyntaxError(
                    f"math.{PRIMITIVES[stmt.prim].user_name('math')} of an array: Python's math module takes numbers "
                    f"(NumPy raises TypeError for an array that is not 0-d)",
                    filename=loc.filename if loc else None, line=loc.line if loc else None,
                    source_line=loc.text if loc else None, construct="math module call",
                    hint="use NumPy's function of arrays")
            if (t is not None and t.is_array) or not may_raise(stmt.prim, stmt.args, python_math=True):
                stmt.error_effect = False
        if PRIMITIVES[stmt.prim].raises == "non-finite" and may_raise(stmt.prim, stmt.args):
            operand = stmt.args[0]
            t = types.get(operand.name) if isinstance(operand, Var) else None
            if t is None or (not t.is_array and t.kind == "float"):
                stmt.error_effect = True
    candidates = [s for s in assigns if PRIMITIVES[s.prim].raises in ("zero divisor", True)
                  and not PRIMITIVES[s.prim].effect and may_raise(s.prim, s.args)]
    candidates += [s for s in assigns if s.prim == "pow" and not s.error_effect and len(s.args) == 2
                   and not any(is_array_operand(a, types) for a in s.args)
                   and python_power_may_raise(*s.args, *(scalar_kind(a, types) for a in s.args))]
    numbers: list = []          # numpy_numbers of the body, once asked

    def numpy_of() -> frozenset:
        if not numbers:
            numbers.append(numpy_numbers(body, types, frozenset(module_data)))
        return numbers[0]

    int_checks = int_powers(body, types, numpy_of)
    for stmt in assigns:
        if NUMPY_FUNCTION_PARAM in stmt.params:     # said by now (`int_powers`), and a bare power simplifies
            stmt.params = tuple(p for p in stmt.params if p != NUMPY_FUNCTION_PARAM)
    if not candidates and not any(int_checks):
        return
    found = numpy_of()
    python = python_numbers(body, types, params, frozenset(module_data))
    dynamic = []
    for stmt in candidates:
        numpy_operands = [a for a in stmt.args if is_numpy_operand(a, types, found)]
        if not numpy_operands:
            stmt.error_effect = True
        elif not any(is_array_operand(a, types) or a.name not in python for a in numpy_operands):
            dynamic.append(stmt)        # Python's on some runs, NumPy's on others: decided as it runs
    if dynamic or any(int_checks):
        body[:] = insert_number_flags(body, dynamic, types, params, found, python, names, int_checks)


def _check_int64(function: ir.Function) -> None:
    """Mark (`INT64_PARAM`) the `+`, `-`, `*`, `**`, negation, `abs` and `//` of int numbers whose result
    may leave 64 bits, so that the module Numba compiles checks them and raises OverflowError where they
    would: Python's ints are unbounded (`fact *= k` past 20!, `n ** 30`, `-n` of the smallest int64), and
    NumPy's wrap around, which Numba's cannot be trusted to do -- its int arithmetic tells LLVM that it
    never wraps (`add nsw`), so a wrapped value is undefined there (`v[0] + 1` of the largest int64 made a
    loop `range(1, m)` run where NumPy's is empty).  Not marked: a statement whose exact result bound,
    from its operands' (`ir.ranges.int_bounds`: constants, axis lengths, loop indices -- `i + 1` and
    `i - 1` of `for i in range(1, n)` -- and `INT64` for any other int), lies in `INT64`.  Arithmetic of int
    arrays is marked NumPy's (`INT64_NUMPY_PARAM`): it wraps around, also once fused into a loop over
    elements that may be Python's ints, in the module printed for Python."""
    types = function.types
    candidates = [s for s in ir.walk(function.body) if isinstance(s, Assign) and s.prim in INT64_HELPERS
                  and len(s.args) == (1 if s.prim in ("neg", "abs") else 2) and not checks_int64(s)
                  and all(_element_kind(a, types) in ("int", "bool") for a in s.args)
                  and _element_kind(Var(s.target), types) == "int"]
    if not candidates:
        return
    # each candidate is either inside 64 bits or marked below, to raise beyond them: its bound may be cut there
    will_check = {id(s) for s in candidates}
    bounds = int_bounds(function.body, types, function.params, lambda s: checks_int64(s) or id(s) in will_check)
    for stmt in candidates:
        operands = [int_operand_bound(a, bounds) for a in stmt.args]
        if stmt.prim == "floordiv":     # only the smallest int64 by -1 leaves 64 bits
            (lo, _), (d_lo, d_hi) = operands
            beyond = lo == INT64[0] and d_lo <= -1 <= d_hi
        else:
            lo, hi = int_bound_of(stmt.prim, *operands)
            beyond = lo < INT64[0] or hi > INT64[1]
        if beyond:
            arrays = any(is_array_operand(a, types) for a in (Var(stmt.target), *stmt.args))
            stmt.params = tuple(stmt.params) + (INT64_NUMPY_PARAM if arrays else INT64_PARAM,)


def _element_kind(operand, types: dict) -> str | None:
    """"float", "int" or "bool": of a number, or of an array's elements (NumPy's `v + 1` of an int64 array
    wraps around elementwise, and Numba's element arithmetic is `nsw` as its numbers' is); None unknown."""
    t = types.get(operand.name) if isinstance(operand, Var) else None
    if t is not None and t.is_array:
        return "bool" if t.dtype == "bool" else "int" if t.dtype.startswith(("int", "uint")) else "float"
    return scalar_kind(operand, types)


def _python_range_operands(function: ir.Function, module_data: frozenset) -> None:
    """Give each loop over a range (and each trip count `frontend.number_flags` evaluates before one) the
    Python ints Python's `range` takes of its operands (`operator.index`, the primitive `index`) where an
    operand may be NumPy's int number (`ir.numbers.numpy_numbers`: `range(iv[0])`): the reverse sweep
    computes its bounds from them (`iv[0] - 1`), which NumPy's ints would wrap where Python's range does
    not (`range(iv[0])` of the smallest int64, empty, was reversed from the largest in the gradient for
    Python).  In the module Numba compiles, `int` of an int64 is itself."""
    if not any(_is_range(s) for s in ir.walk(function.body)):
        return
    found = numpy_numbers(function.body, function.types, module_data)
    names = Names(set(function.types) | set(function.params) | set(function.user_names))

    def visit(stmt, out: list) -> None:
        python = tuple(_python_int_of(a, role, out, names, function.types, stmt.loc)
                       if isinstance(a, Var) and is_numpy_operand(a, function.types, found) else a
                       for a, role in zip(_range_operands(stmt), ("start", "stop", "step")))
        if isinstance(stmt, For):
            stmt.start, stmt.stop, stmt.step = python
        else:
            stmt.args = python
    _before_ranges(function, visit)


def _is_range(stmt) -> bool:
    """A loop over a range, or a trip count `frontend.number_flags` evaluates before one."""
    return isinstance(stmt, For) or isinstance(stmt, Assign) and stmt.prim == "range_length"


def _range_operands(stmt) -> tuple:
    return (stmt.start, stmt.stop, stmt.step) if isinstance(stmt, For) else stmt.args


def _before_ranges(function: ir.Function, visit) -> None:
    """The body rebuilt block by block, `visit(stmt, out)` called with each range statement (`_is_range`)
    and the statements put before it in its block, to which it may append."""
    def put(block: list) -> list:
        out = []
        for stmt in block:
            if _is_range(stmt):
                visit(stmt, out)
            out.append(stmt)
        return out
    function.body[:] = ir.rewrite_blocks(function.body, put)
    dataflow.invalidate(function)


def _python_int_of(operand: Var, role: str, out: list, names, types: dict, loc) -> Var:
    """A name for Python's int of `operand`: one put just before (for the trip count `number_flags`
    evaluates before the loop), or a new `index` statement appended to `out`."""
    for stmt in reversed(out):
        if not isinstance(stmt, Assign) or stmt.target == operand.name:
            break
        if stmt.prim == "index" and stmt.args == (operand,):
            return Var(stmt.target)
    out.append(Assign(names.fresh(role), "index", (operand,), loc))
    types[out[-1].target] = ir.INT
    return Var(out[-1].target)


def _check_ranges(function: ir.Function) -> None:
    """Put `range_check(start, stop, step)` (`rules`) before each `for` over a range whose operands' bounds
    (`ir.ranges.int_bounds`) do not prove what its helper tests (`runtime.range_check`): Numba computes the
    trip count from `stop - start`, in int64, and the reverse sweep its bounds from `start - step`,
    `-step` and the trip count times the step (`range(0, 2 ** 63 - 1, 3 * 2 ** 61)`, two trips in
    Python, ran none; `range(1, n)` of the smallest int64 ran 2 ** 63 - 1; `range(n)` of it, empty, was
    reversed from `n - 1`, wrapped: a hardware trap once).  A loop over an axis needs none."""
    # the loops, and the trip counts `frontend.number_flags` evaluates before a loop (Numba's `len(range)`
    # divides by the step: the smallest int64 by -1 is a hardware trap, which kills the process)
    ranges = [s for s in ir.walk(function.body) if _is_range(s)]
    if not ranges:
        return
    bounds = int_bounds(function.body, function.types, function.params)
    unproved = {id(s) for s in ranges
                if not _range_fits(*(int_operand_bound(x, bounds) for x in _range_operands(s)))}
    names = Names(set(function.types) | set(function.params) | set(function.user_names))

    def visit(stmt, out: list) -> None:
        if id(stmt) in unproved and not _checked_just_before(out, _range_operands(stmt)):
            out.append(Assign(names.fresh("checked"), "range_check", _range_operands(stmt), stmt.loc))
            function.types[out[-1].target] = ir.BOOL
    if unproved:
        _before_ranges(function, visit)


def _checked_just_before(out: list, operands: tuple) -> bool:
    """Is there a `range_check` of these operands among the statements just put, with nothing after it
    but assignments of other names (the trip count `number_flags` evaluates before the loop)?"""
    written = {a.name for a in operands if isinstance(a, Var)}
    for stmt in reversed(out):
        if not isinstance(stmt, Assign) or stmt.target in written:
            return False
        if stmt.prim == "range_check":
            return stmt.args == operands
    return False


def _range_fits(start: tuple, stop: tuple, step: tuple) -> bool:
    """Do `stop - start`, `start - step`, `-step`, `stop - 1` and `stop - start -+ 1` (the reverse sweep's
    first index, `transforms.reverse`) lie in `INT64` for ints in these bounds, and so does the trip count
    times the step: at most the span in the step's direction plus `|step| - 1`?"""
    (a, b), (c, d), (e, f) = start, stop, step
    inside = all(INT64[0] <= lo and hi <= INT64[1]
                 for lo, hi in ((c - b - 1, d - a + 1), (a - f, b - e), (-f, -e), (c - 1, d)))
    onward = max(d - a, 0) if f > 0 else 0, max(b - c, 0) if e < 0 else 0
    return inside and max(onward) + max(abs(e), abs(f)) - 1 <= INT64[1]


def settle_python_checks(function: ir.Function) -> None:
    """Settle the checks `_mark_python_errors` made, once the typed primal is whole (`pipeline._types`:
    after `version_straight_line` gave each top-level reassignment its own name, and regions are
    expanded):

    * a math-module call of a clamped operand (`math.log(p)` of `p = min(max(q, 1e-8), 1 - 1e-8)`)
      cannot leave its domain: it raises nothing, needs no check and may go unread
      (`python_errors.python_domain_holds` on the operand's bounds, `ir.ranges`); Python's `x ** c` of a
      clamped x likewise (`python_errors.python_power_holds`), and `x ** y` of an array, known only now, is
      NumPy's;
    * a math-module call keeps the param that says its float is Python's (`MATH_MODULE_PARAM`, which
      `ir.numbers` reads) only where an operand may be NumPy's number, the one case where it tells
      something (`math.sqrt(v[0])`); elsewhere the call is an ordinary statement (the symbolic
      simplifier and recomputation take only statements without params), `math.pow` aside;
    * Python's `x ** y` whose value no statement reads (`ir.dataflow`'s liveness, counting the reads of
      statements nothing needs: Python's `t > 1.0` raises TypeError on a complex `t` even when nothing
      reads the comparison) is complex harmlessly where its base is negative: it is marked
      `POWER_UNREAD`, checked for CPython's errors only."""
    types = function.types
    facts_of_front_end = getattr(function, "facts", None)
    module_data = frozenset(d[0] for d in facts_of_front_end.data) if facts_of_front_end is not None else frozenset()
    numbers = None
    for stmt in ir.walk(function.body):
        if isinstance(stmt, Assign) and MATH_MODULE_PARAM in stmt.params and stmt.prim != "pow":
            numbers = numpy_numbers(function.body, types, module_data) if numbers is None else numbers
            if not any(is_numpy_operand(a, types, numbers) for a in stmt.args):
                stmt.params = tuple(p for p in stmt.params if p != MATH_MODULE_PARAM)
    _python_range_operands(function, module_data)
    _check_int64(function)
    _check_ranges(function)
    marked = [s for s in ir.walk(function.body) if isinstance(s, Assign) and python_check(s)]
    if not marked:
        return
    bounds = float_bounds(function.body, types, function.params)
    facts = dataflow.of(function)
    for stmt in marked:
        bound = bounds.get(stmt.args[0].name) if isinstance(stmt.args[0], Var) else None
        if python_check(stmt) == "math":
            if bound is not None and python_domain_holds(stmt.prim, *bound):
                stmt.error_effect = False
        elif any(is_array_operand(a, types) for a in stmt.args) or (
                bound is not None and isinstance(stmt.args[1], Const) and python_power_holds(*bound, stmt.args[1].value)):
            stmt.error_effect = False
        elif stmt.target not in facts.live_out(stmt) and CHECK_COPY not in stmt.params:
            stmt.params = tuple(stmt.params) + (POWER_UNREAD,)
    dataflow.invalidate(function)


def lower(source: Source, param_types: dict | None = None, tuple_results: bool = False) -> tuple[ir.Function, dict]:
    """Lower a fenced function; returns the IR and the sources of every function inlined.  With the
    parameters' types (`ir.Type`s, or `pytrees.TreeType`s for containers) the lowering flattens
    containers and knows ranks; `function.facts` says what it found (`Facts`).  `tuple_results`: the
    function may return a tuple (its leaves become `returns`, see `output_tree`)."""
    fence(source)
    lowering = Lowering(source, param_types, tuple_results)
    function = lowering.lower_function()
    versions = version_straight_line(function, lowering.names)
    function.user_names = frozenset(lowering.names.taken)
    # a version (`y2`) is the user's variable too: errors name it as they wrote it
    user_variables = dict(lowering.user_variables)
    user_variables.update({new: user_variables[base] for new, base in versions.items() if base in user_variables})
    # a parameter's type is what the caller gives (an int stays an int even where the body makes the
    # name a float: `k **= m`); a container's leaves and module data get the types the lowering gave them
    declared = {p: t for p, t in lowering.param_types.items() if isinstance(t, ir.Type)}
    function.facts = Facts(lowering.structures, lowering.data, lowering.watches, lowering.asserts,
                           {p: declared.get(p, lowering.types.get(p)) for p in function.params
                            if p in declared or p in lowering.types},
                           user_variables, bindings=tuple(lowering.bindings.values()))
    return function, lowering.sources


def _current_version(operand, current: dict):
    """`operand` reading the current versions (`current`: variable -> its current name)."""
    if isinstance(operand, Var) and operand.name in current:
        return Var(current[operand.name])
    if isinstance(operand, Slice):
        return Slice(*(_current_version(p, current) if p is not None else None
                       for p in (operand.start, operand.stop, operand.step)))
    return operand


def version_straight_line(function: ir.Function, names: Names) -> dict:
    """Give each top-level reassignment of a variable a new name (`y`, then `y2`), SSA-style; returns
    each new name's variable (`{"y2": "y"}`).

    Only statements at the top level of the body are versioned; an assignment
    inside a branch or loop writes the version current there.  This keeps
    straight-line code free of overwrites, so the reverse pass needs no tape
    for it, and the printed code says which value is which."""
    current: dict[str, str] = {}
    versions: dict[str, str] = {}
    defined = set(function.params)

    def rename_operand(operand):
        return _current_version(operand, current)

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
                versions[stmt.target] = versions.get(base, base)
            defined.add(base)
            defined.add(stmt.target)
        else:
            rename_nested(stmt)
            for inner in _walk_with_self(stmt):
                for name in ir.writes(inner):
                    defined.add(name)
    function.result = rename_operand(function.result) if function.result is not None else None
    function.returns = tuple(rename_operand(r) for r in function.returns)
    return versions


def _walk_with_self(stmt):
    yield stmt
    for child in ir.child_blocks(stmt):
        yield from ir.walk(child)


def _class_attribute(cls, attr: str) -> tuple:
    """(the class of `cls`'s method resolution order that holds `attr`, the object it holds there, as
    Python's attribute lookup finds it, unbound), or (None, None)."""
    owner = next((klass for klass in getattr(cls, "__mro__", ()) if attr in vars(klass)), None)
    return (owner, vars(owner)[attr]) if owner is not None else (None, None)
