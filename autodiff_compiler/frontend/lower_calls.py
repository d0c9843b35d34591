"""Lower calls: library functions, primitives, markers, methods of values, derivative objects, and the
user's own functions (inlined, with Python's argument binding).

Takes: the lowering (`frontend.lower.Lowering`, which mixes this class in).
Guarantees: a call of the user's code is inlined with its statements keeping
their own file and line (recursion is an error); a call of a function with no
derivative rule is a `NoDerivativeRuleError` naming file, line and function.
"""
from __future__ import annotations

import ast
import builtins

from .. import ir
from ..errors import (AutodiffError, NoDerivativeRuleError, RecursionNotSupportedError,
                     UnsupportedSyntaxError)
from ..ir import Assign, Const, Var
from . import lower_arrays as arrays
from . import lower_containers as containers
from . import lower_numpy as library
from .lower_containers import Pack, Text
from .bindings import DEFAULTS, Binding
from .parse import (ClassRef, ConstantRef, CustomRef, DataRef, DerivativeRef, MarkerRef, ModuleRef, PrimitiveRef, Source,
                    UserFunctionRef, fence)
from ..python_errors import MATH_MODULE_PARAM, NUMPY_FUNCTION_PARAM
from ..rules import PRIMITIVES
from .lower_frames import Frame, LocalFunction
from .lower_statements import _always_returns


class CallLowering:
    """The call handlers of `Lowering` (a mixin: `self` is the lowering)."""

    def resolve(self, func: ast.expr):
        """What a called name or dotted name refers to, or None."""
        namespace = self.frame.source.namespace
        if isinstance(func, ast.Name):
            local = self.local(func.id)
            if local is not None:
                return local if isinstance(local, LocalFunction) else None
            imported = self.imported(func.id)
            if imported is not None:
                return imported
            # where it is read, before what is there: a rebinding in between (another thread) is then seen
            # at the next call, never a binding of the new object beside code of the old one (helper-71)
            binding = namespace.binding(func.id)
            ref = namespace.lookup(func.id)
            self.note_code(ref, binding)
            return ref
        if isinstance(func, ast.Attribute) and isinstance(func.value, (ast.Name, ast.Attribute)):
            if isinstance(func.value, ast.Name) and self.local(func.value.id) is not None:
                return None
            base = self.resolve(func.value)
            if isinstance(base, (ModuleRef, ClassRef)):
                binding = namespace.attribute_binding(base, func.attr)      # first, as above
                ref = namespace.attribute(base, func.attr)
                self.note_code(ref, binding)
                return ref
        return None

    def note_code(self, ref, binding) -> None:
        """Remember where a name the code uses as code was read (`frontend.bindings`): a function (the
        user's, a library's through an alias, a custom derivative's, a derivative object), a class, a
        user module.  Numbers and data are watched by value (`value_of_ref`); NumPy, math and SciPy
        themselves are what they are."""
        if binding is None or ref is None or isinstance(ref, (ConstantRef, DataRef)) or \
                isinstance(ref, ModuleRef) and ref.kind != "user":
            return
        self.bindings.setdefault(binding.ident(), binding)

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
            ranks = [self.rank_of(a) for a in args if not isinstance(a, (Pack, Text))]
            if not isinstance(value, (Pack, Text)) and 0 < self.rank_of(value) < max(ranks, default=0):
                # its partials are entry by entry, aligned as NumPy broadcasts the value against the operand:
                # a value of fewer axes is aligned with the operand's last ones, not the axes it reduced
                raise self.error(UnsupportedSyntaxError, f"the @custom_derivative function {ast.unparse(node.func)} "
                                 f"returns {self.rank_of(value)} axes of an operand of {max(ranks)}: its partials "
                                 f"are entry by entry, each value entry aligned with operand entries as NumPy "
                                 f"broadcasts them", node, "keep the reduced axes (keepdims=True), or reduce to a "
                                 "number", "@custom_derivative")
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
            return self.lower_primitive_call(ref.name, node, target, ref.python_math, ref.numpy)
        handled = arrays.lower_call(self, node, ref, target)
        if handled is not None:
            return handled
        name = ast.unparse(node.func)
        namespace = self.frame.source.namespace
        if isinstance(node.func, ast.Name) and ref is None and hasattr(namespace, "globals") \
                and namespace.binding(name) is None and not hasattr(builtins, name):
            # no such name where the function runs (or a closure's emptied cell): Python's NameError
            raise self.error(AutodiffError, f"name {name!r} is not defined (or is used before it is assigned)",
                             node, "define it before calling it", "undefined name")
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
            # Python's bool, also of NumPy's number (where `v[0] != 0` would be NumPy's np.bool_)
            return self.apply("not", (self.apply("eq", (self.lower_expr(node.args[0]), Const(0))),), target)
        handled = arrays.lower_call(self, node, MarkerRef(name), target)
        if handled is not None:
            return handled
        raise self.unsupported(node, f"{name}(...) here", "range() may only appear in 'for i in range(...)'")

    def float_of_text(self, node: ast.Constant) -> float:
        """Python's float of a string literal (`float("inf")`, `float("nan")`, `float("1e-3")`)."""
        try:
            return float(node.value)
        except ValueError:
            raise self.error(AutodiffError, f"could not convert string to float: {node.value!r}", node,
                             'write a number: float("inf"), float("nan"), or the literal itself', "float") from None

    def lower_primitive_call(self, prim: str, node: ast.Call, target, python_math: bool = False,
                             numpy_call: bool = False):
        """`python_math`: called from Python's math module, whose errors are the function's own
        (`rules.Primitive.python_errors`): the statement is marked `error_effect`, kept although unread,
        and checked where Numba compiles it; `_mark_python_errors` unmarks those of arrays and of
        constants the function takes.  `numpy_call`: called from NumPy; `np.power` says so in a param
        until `_mark_python_errors` has checked its ints."""
        handled = arrays.lower_primitive_call(self, prim, node, target)
        if handled is not None:
            return handled
        if node.keywords:
            raise self.unsupported(node, f"keyword arguments to {ast.unparse(node.func)}",
                                   "pass arguments by position")
        if prim == "float" and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            return self.materialise(Const(self.float_of_text(node.args[0])), target)     # float("inf")
        if prim in ("min", "max") and not numpy_call and len(node.args) == 1:
            items = self.lower_expr(node.args[0])
            if isinstance(items, Pack) and items.kind in ("list", "tuple"):
                # Python's min/max of a list: its first item, replaced by each later one that is smaller
                # (larger), the fold of the two-operand call's rule (ties and NaN as Python's)
                values = items.values()
                if any(isinstance(v, (Pack, Text)) or self.rank_of(v) for v in values):
                    raise self.unsupported(node, f"{prim}() of a list holding arrays or containers (Python compares "
                                           f"them with <, which an array of several entries refuses)",
                                           f"np.{prim}imum(a, b) for entries, np.{prim}(a) for an array's {prim}imum")
                if not values:
                    raise self.error(AutodiffError, f"{prim}() arg is an empty sequence", node,
                                     "Python raises ValueError here: give it at least one number", prim)
                acc = values[0]
                for value in values[1:-1]:
                    acc = self.apply(prim, (acc, value))
                return self.apply(prim, (acc, values[-1]), target) if len(values) > 1 else \
                    self.materialise(acc, target)
        args = [library.as_array(self, self.lower_expr(a), a) for a in node.args]
        if python_math:
            for arg, arg_node in zip(args, node.args):
                t = self.type_of(arg)
                if t is not None and t.is_array and t.ndim >= 1:
                    raise self.error(UnsupportedSyntaxError, f"{ast.unparse(node.func)} of an array: Python's math "
                                     f"module takes numbers (NumPy raises TypeError for an array that is not 0-d)",
                                     arg_node, f"use NumPy's function of arrays (np.{PRIMITIVES[prim].user_name('numpy')})",
                                     ast.unparse(node.func))
        arity = PRIMITIVES[prim].arity
        if prim in ("min", "max") and len(args) > 2:
            acc = self.apply(prim, (args[0], args[1]))
            for arg in args[2:-1]:
                acc = self.apply(prim, (acc, arg))
            return self.apply(prim, (acc, args[-1]), target)
        if prim == "pow" and len(args) == 3:
            raise self.unsupported(node, "pow with a modulus", "use pow(x, y)")
        if prim == "log" and len(args) == 2 and python_math:
            # math.log(x, base) is log(x) / log(base), as CPython computes it (ZeroDivisionError at base 1)
            checked = PRIMITIVES["log"].python_errors is not None
            logs = [self.apply("log", (a,), error_effect=checked) for a in args]
            return self.apply("div", tuple(logs), target)
        if len(args) != arity:
            raise self.error(AutodiffError, f"{ast.unparse(node.func)} takes {arity} argument(s), got {len(args)}",
                             node, construct=ast.unparse(node.func))
        if prim == "float" and isinstance(args[0], Const):
            return self.materialise(Const(float(args[0].value)), target)
        condition = self.type_of(args[0]) if not isinstance(args[0], Const) else None
        if prim == "where" and condition is not None and condition != ir.BOOL \
                and not (condition.is_array and condition.dtype == "bool"):
            # np.where of numbers tests each for truth: its condition as bools, as the rule's indicator
            # reads it (`1.0 * c` of floats was c itself: helper-62)
            args[0] = self.apply("ne", (args[0], Const(0)))
        checked = python_math and PRIMITIVES[prim].python_errors is not None
        # a math-module call makes Python's float of NumPy's too (`ir.numbers`), and `math.pow(x, y)` is
        # told from `x ** y`, which raises other errors (`python_errors.python_check`)
        params = (MATH_MODULE_PARAM,) if python_math else (NUMPY_FUNCTION_PARAM,) if numpy_call and prim == "pow" else ()
        return self.apply(prim, args, target, params, error_effect=checked)

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
            if isinstance(a, (Pack, Text)):
                raise self.unsupported(node, "a container or string as an argument of a derivative object",
                                       "pass numbers or arrays")
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
        outputs = tuple(result.values()) if isinstance(result, Pack) else (result,)
        wrt_params = [region_params[params.index(w)] for w in wrt]
        targets, stub = [], []
        if with_value:
            value = self.names.fresh(f"{prefix}_value")
            targets.append(value)
            stub.append(Assign(value, "as_python", (outputs[0],), loc))
        for w in wrt_params:
            target = self.names.fresh(f"{w}_grad")
            targets.append(target)
            # the types of what the region gives; Python's numbers, as a gradient object gives them
            stub.append(Assign(target, "as_python", (Var(w),), loc))
        self.emit(ir.Region(kind, region_params, wrt_params, with_value, body, tuple(outputs), tuple(targets),
                            stub, loc, name))
        grads = [Var(t) for t in targets[1 if with_value else 0:]]
        grads_out = grads[0] if single else Pack("tuple", dict(enumerate(grads)))
        return Pack("tuple", {0: Var(targets[0]), 1: grads_out}) if with_value else grads_out

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
        # Python binds the defaults it evaluated when it ran the `def` (`__defaults__`, which may have been
        # set since), not the source's names now: those of a live function where they are numbers, watched
        live = callee.function if definition is callee.node and callee.function is not None else None
        own = tuple(getattr(live, "__defaults__", None) or ())
        own = dict(zip(params[len(params) - len(own):], own))
        for key, default in zip(with_defaults, arguments.defaults):
            if key not in bound:
                if live is not None:
                    self.note_code(live, Binding(DEFAULTS, live, None, live.__defaults__))
                    if key not in own:
                        continue        # `__defaults__` no longer has it (shorter, None): a missing argument
                if isinstance(own.get(key), (int, float, bool)):
                    bound[key] = Const(own[key])
                    continue
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
        frame.call_node = node if isinstance(node, ast.Call) else None
        # the arguments' expressions, by parameter, for the 0-d arrays the callee may change or return
        written = dict(zip(params, getattr(node, "args", []) or []))
        written.update({k.arg: k.value for k in getattr(node, "keywords", []) or [] if k.arg})
        for param, arg in zip(params, args):
            if isinstance(arg, (Pack, Text, LocalFunction)):
                frame.scope[param] = arg
                continue
            frame.scope[param] = self.names.fresh(f"{prefix}_{param}")
            self.assign(frame.scope[param], "copy", (arg,))
            self.user_variables[frame.scope[param]] = param        # what an error about it calls it
            if param in written and self.is_zero_d(written[param], self.frame) and self.rank_of(arg) == 0:
                self.zero_d.add((id(frame), param))
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
