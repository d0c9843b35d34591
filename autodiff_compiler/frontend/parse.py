"""Parse and fence: a function's source -> its checked Python AST and a name resolver.

Takes: a live Python function, or a file path and a function name (the file is
read, never executed).  Guarantees:

* `Source` holds the function's `ast.FunctionDef` with line numbers relative to
  its file, the file's lines (for error messages), and a `Namespace` that
  resolves the free names the function uses: the math and NumPy modules under
  any alias, functions imported from them, the user's other functions (in the
  same file or imported from another module), and module-level numeric
  constants;
* every construct outside the supported language has been rejected with an
  `UnsupportedSyntaxError` naming file, line, column, construct and a hint
  (`fence`), before any later stage sees the code.
"""
from __future__ import annotations

import ast
import builtins
import importlib.util
import inspect
import math
import numbers
import os
import sys
import textwrap
import tokenize
import types
from dataclasses import dataclass, field

from ..errors import SourceNotFoundError, UnsupportedSyntaxError
from .bindings import ATTRIBUTE, IN_CELL, IN_DICT, Binding, stable
from ..rules import MODULE_CONSTANTS, USER_FUNCTIONS
from .. import syntax


# ------------------------------------------------------------------ resolution

@dataclass(frozen=True)
class ModuleRef:
    """A module: "math", "numpy", or a user module's `Namespace`."""
    kind: str
    namespace: object = None


@dataclass(frozen=True)
class PrimitiveRef:
    name: str
    python_math: bool = False    # called from Python's math module, which raises where NumPy gives NaN or inf
    numpy: bool = False          # called from NumPy, whose functions make NumPy's numbers of Python's too


@dataclass(frozen=True)
class UserFunctionRef:
    key: str                 # unique: filename:qualname
    loader: object           # () -> Source


@dataclass(frozen=True)
class CustomRef:
    """A user function with a declared derivative (`@custom_derivative`)."""
    primitive: str
    function: object      # UserFunctionRef of its body, which computes the value


@dataclass(frozen=True)
class ConstantRef:
    value: object
    read: object = field(default=None, compare=False)   # () -> the value now (a module's or closure's number)


@dataclass(frozen=True, eq=False)
class DataRef:
    """Module-level data (or a closure's): an array, or a container holding arrays.  Read-only: the
    arrays are hidden parameters of the derivative, read again at every call (`read()`); `write(v)` puts
    another value in its place (verification runs the function on small instances)."""
    key: str
    name: str
    value: object
    read: object
    write: object


@dataclass(frozen=True)
class ClassRef:
    """A class: its static methods and class-level constants are reachable as attributes."""
    cls: object


@dataclass(frozen=True)
class LibraryRef:
    """A NumPy or SciPy function the front end writes in the rule table's primitives (`frontend.lower_numpy`)."""
    name: str


@dataclass(frozen=True)
class ComputedRef:
    """A module-level name whose value the module computes when it runs (the command line reads files
    without running them)."""
    name: str
    line: int


# (module, attribute) -> library function name; filled by `frontend.lower_numpy`
LIBRARY: dict = {}
_SUBMODULES = {("numpy", "linalg"): "numpy.linalg", ("scipy", "special"): "scipy.special"}
_KNOWN_MODULES = ("math", "numpy", "numpy.linalg", "scipy", "scipy.special")


@dataclass(frozen=True)
class DerivativeRef:
    """A derivative the compiler made (`@grad def f`, `g = grad(f)`).  `obj` is the derivative object
    where it is known (a live function's globals; a file read without running it gives the name only):
    a call of it inside differentiated code is differentiated through (see `lower_derivative_call`)."""
    name: str
    obj: object = field(default=None, compare=False)


@dataclass(frozen=True)
class MarkerRef:
    """One of our own markers: `stop_gradient`, `no_grad`."""
    name: str


class Namespace:
    """Resolves a free name of user code to one of the *Ref classes, or None."""

    def lookup(self, name: str):
        raise NotImplementedError

    def binding(self, name: str):
        """Where a live namespace reads `name` again (a `bindings.Binding` of the object there now); None
        where it reads no live object (a file read without running it, a builtin)."""
        return None

    def attribute_binding(self, ref, attr: str):
        """As `binding`, for `module.attr` of a module this namespace produced (or a class's attribute)."""
        if isinstance(ref, ClassRef):
            found = Binding(ATTRIBUTE, ref.cls, attr, getattr(ref.cls, attr, None))
            return found if stable(found) else None
        if ref.kind == "user" and ref.namespace is not None:
            return ref.namespace.binding(attr)
        return None

    def attribute(self, ref, attr: str):
        """Resolve `module.attr` for a module this namespace produced."""
        if isinstance(ref, ClassRef):
            if attr not in vars(ref.cls) and not hasattr(ref.cls, attr):
                return None
            return _classify_named(getattr(ref.cls, attr), f"{ref.cls.__name__}.{attr}",
                                   lambda: getattr(ref.cls, attr), None)
        if ref.kind in _KNOWN_MODULES:
            if (ref.kind, attr) in _SUBMODULES:
                return ModuleRef(_SUBMODULES[(ref.kind, attr)])
            if (ref.kind, attr) in MODULE_CONSTANTS:
                return ConstantRef(MODULE_CONSTANTS[(ref.kind, attr)])
            if ref.kind == "numpy" and attr == "newaxis":
                return MarkerRef("newaxis")
            if (ref.kind, attr) in LIBRARY:
                return LibraryRef(LIBRARY[(ref.kind, attr)])
            prim = USER_FUNCTIONS.get((ref.kind, attr))
            return PrimitiveRef(prim, ref.kind == "math", ref.kind == "numpy") if prim else None
        if ref.kind == "user" and ref.namespace is not None:
            return ref.namespace.lookup(attr)
        if ref.kind == "autodiff_compiler" and attr in ("stop_gradient", "no_grad"):
            return MarkerRef(attr)
        return None


_BUILTIN_MARKERS = ("range", "len", "bool", "sum", "enumerate", "zip", "reversed", "tuple", "list", "dict",
                    "print", "isinstance", "round", "any", "all", "sorted", "complex")


def _builtin(name: str):
    prim = USER_FUNCTIONS.get(("builtins", name))
    if prim:
        return PrimitiveRef(prim)
    if name in _BUILTIN_MARKERS:
        return MarkerRef(name)
    return None


class LiveNamespace(Namespace):
    """Names resolved in a live module's globals (and the function's closure)."""

    def __init__(self, globals_: dict, closure: dict | None = None):
        self.globals = globals_
        self.closure = closure or {}        # name -> the function's cell (read and written in place)

    def lookup(self, name: str):
        if name in self.closure:
            cell = self.closure[name]
            if not _cell_filled(cell):
                return None         # an emptied cell (`del` of the variable): not defined, as Python says
            return _classify_named(cell.cell_contents, name, lambda: _cell_value(cell),
                                   lambda value: _set_cell(cell, value), f"closure:{id(cell)}:{name}")
        if name in self.globals:
            scope = self.globals
            return _classify_named(scope[name], name, lambda: scope[name],
                                   lambda value: scope.__setitem__(name, value), f"global:{id(scope)}:{name}")
        return _builtin(name)

    def binding(self, name: str):
        if name in self.closure:
            cell = self.closure[name]
            return Binding(IN_CELL, cell, name, _cell_value(cell)) if _cell_filled(cell) else None
        if name in self.globals:
            return Binding(IN_DICT, self.globals, name, self.globals[name])
        return None


_PRIMITIVE_BY_OBJECT: dict[int, object] = {}


def _modules() -> dict:
    import numpy
    modules = {"math": math, "numpy": numpy, "numpy.linalg": numpy.linalg, "builtins": builtins}
    try:
        import scipy.special
        modules["scipy.special"] = scipy.special
        modules["scipy"] = scipy
    except ImportError:          # pragma: no cover - scipy is optional
        pass
    return modules


def _primitive_for(obj):
    """The rule-table primitive (a name) or library function (a LibraryRef) a live object is."""
    if not _PRIMITIVE_BY_OBJECT:
        modules = _modules()
        for (module, attr), prim in USER_FUNCTIONS.items():
            target = getattr(modules[module], attr, None) if module in modules else None
            if target is not None:
                _PRIMITIVE_BY_OBJECT.setdefault(id(target), prim)
        for (module, attr), name in LIBRARY.items():
            target = getattr(modules[module], attr, None) if module in modules else None
            if target is not None:
                _PRIMITIVE_BY_OBJECT.setdefault(id(target), LibraryRef(name))
    return _PRIMITIVE_BY_OBJECT.get(id(obj))


def _cell_value(cell):
    return cell.cell_contents


def _set_cell(cell, value) -> None:
    cell.cell_contents = value


def _is_data(value) -> bool:
    """An array, or a tuple/list/dict holding at least one array (and only numbers, arrays and such)."""
    import numpy
    if isinstance(value, numpy.ndarray):
        return True
    if isinstance(value, (tuple, list)):
        return any(_is_data(v) for v in value) and all(_is_value(v) for v in value)
    if isinstance(value, dict):
        return any(_is_data(v) for v in value.values()) and all(_is_value(v) for v in value.values()) \
            and all(isinstance(k, str) for k in value)
    return False


def _is_value(value) -> bool:
    import numpy
    if isinstance(value, (bool, numbers.Number, numpy.ndarray)) and not isinstance(value, complex):
        return True
    if isinstance(value, (tuple, list)):
        return all(_is_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) for k in value) and all(_is_value(v) for v in value.values())
    return False


def _classify_named(obj, name: str, read, write, key: str | None = None):
    """What a name of live code means: as `classify_object`, and for module data (arrays, containers of
    numbers and arrays) a `DataRef` that reads it again at every call; numbers carry a reader too, so that
    a changed module constant is noticed."""
    if _is_data(obj) or (isinstance(obj, (tuple, list, dict)) and _is_value(obj) and obj):
        return DataRef(key or f"name:{name}", name, obj, read, write)
    if isinstance(obj, (bool, numbers.Number)) and not isinstance(obj, complex):
        return ConstantRef(_python_number(obj), read)
    if isinstance(obj, type):
        return ClassRef(obj)
    if isinstance(obj, (staticmethod, classmethod)):
        return classify_object(obj.__func__)
    return classify_object(obj)


def _python_number(obj):
    """A module-level number as a constant of the generated code: NumPy's float64 as Python's float of
    the same value, which is what the code Numba compiles computes with (printed as `np.float64(0.0)`
    it named a module the Python module does not import, and Numba could not type it: an
    InternalError).  The two compute alike but where NumPy's gives inf or nan (a division by zero, a
    power out of range), where Python's raises: there the gradient raises, an error, never a number
    where the function raises.  NumPy's ints and bools are left as they are (their arithmetic differs
    from Python's: `np.True_ + np.True_` is True, `np.int64(2) ** -1` raises)."""
    if type(obj).__module__ == "numpy" and type(obj).__name__ == "float64":
        return obj.item()
    return obj


def classify_object(obj):
    """What a live Python object means to the compiler."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
        if name in _KNOWN_MODULES:
            return ModuleRef(name)
        if name == "autodiff_compiler":
            return ModuleRef("autodiff_compiler")
        return ModuleRef("user", LiveNamespace(vars(obj)))
    if isinstance(obj, (bool, numbers.Number)) and not isinstance(obj, complex):
        return ConstantRef(_python_number(obj))
    marker = getattr(obj, "__autodiff_marker__", None)
    if marker:
        return MarkerRef(marker)
    custom = getattr(obj, "__autodiff_primitive__", None)
    if custom:
        return CustomRef(custom, UserFunctionRef(f"{obj.__code__.co_filename}:{obj.__qualname__}",
                                                 lambda obj=obj: source_of_function(obj)))
    prim = _primitive_for(obj)
    if isinstance(prim, LibraryRef):
        return prim
    if prim:
        # `from math import sqrt`: the math module's own function
        return PrimitiveRef(prim, getattr(math, getattr(obj, "__name__", ""), None) is obj)
    if getattr(obj, "__autodiff_wrapped__", None) is not None:   # a derivative (`@grad`), not a function
        return DerivativeRef(getattr(obj, "__name__", "function"), obj)
    if inspect.isfunction(obj):
        return UserFunctionRef(f"{getattr(obj, '__code__').co_filename}:{obj.__qualname__}",
                               lambda obj=obj: source_of_function(obj))
    if getattr(obj, "__name__", None) in _BUILTIN_MARKERS and obj is getattr(builtins, obj.__name__, None):
        return MarkerRef(obj.__name__)
    return None


class FileNamespace(Namespace):
    """Names resolved from a module's source alone: its imports, defs and constant assignments."""

    def __init__(self, path: str, tree: ast.Module, lines: list[str]):
        self.path = os.path.abspath(path)
        self.tree = tree
        self.lines = lines
        self.names: dict[str, object] = {}
        for node in tree.body:
            self._bind(node)

    def _bind(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.names[alias.asname or alias.name.split(".")[0]] = ("module", alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                self.names[alias.asname or alias.name] = ("from", node.module, alias.name)
        elif isinstance(node, ast.FunctionDef):
            self.names[node.name] = ("def", node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = self._constant(node.value)
            if value is not None:
                self.names[node.targets[0].id] = ("const", value)
            else:
                self.names[node.targets[0].id] = ("computed", node.lineno)
        elif isinstance(node, (ast.If, ast.Try)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self._bind(child)

    def _constant(self, node: ast.expr):
        """A module-level constant: a numeric literal expression, possibly using math.pi and friends."""
        try:
            value = _fold_constant(node, self)
        except (ValueError, TypeError, ArithmeticError):
            return None
        return value if isinstance(value, (int, float, bool)) else None

    def lookup(self, name: str):
        entry = self.names.get(name)
        if entry is None:
            return _builtin(name)
        kind = entry[0]
        if kind == "module":
            return _module_ref(entry[1], self.path)
        if kind == "from":
            module, attr = entry[1], entry[2]
            ref = _module_ref(module, self.path)
            if ref is None:
                return None
            return self.attribute(ref, attr)
        if kind == "def":
            node = entry[1]
            if any(_decorator_name(d) in _DERIVATIVE_DECORATORS for d in node.decorator_list):
                return DerivativeRef(node.name)
            return UserFunctionRef(f"{self.path}:{node.name}",
                                   lambda node=node: Source(self.path, node, self.lines, self))
        if kind == "const":
            return ConstantRef(entry[1])
        if kind == "computed":
            return ComputedRef(name, entry[1])
        return None


_DERIVATIVE_DECORATORS = {"grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian", "hvp"}


def _decorator_name(node: ast.expr) -> str:
    """`grad` for `@grad`, `@grad(wrt=...)` and `@autodiff_compiler.grad`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return getattr(node, "id", "")


def _fold_constant(node: ast.expr, namespace: Namespace):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _fold_constant(node.operand, namespace)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        from ..rules import BINARY_OPERATORS, PRIMITIVES
        prim = BINARY_OPERATORS.get(type(node.op))
        if prim:
            return PRIMITIVES[prim].evaluate(_fold_constant(node.left, namespace),
                                             _fold_constant(node.right, namespace))
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        ref = namespace.lookup(node.value.id)
        if isinstance(ref, ModuleRef):
            attr = namespace.attribute(ref, node.attr)
            if isinstance(attr, ConstantRef):
                return attr.value
    if isinstance(node, ast.Name):
        ref = namespace.lookup(node.id)
        if isinstance(ref, ConstantRef):
            return ref.value
    raise ValueError("not a constant")


_FILE_NAMESPACES: dict[str, FileNamespace] = {}


def _module_ref(module: str, importer_path: str):
    if module in _KNOWN_MODULES:
        return ModuleRef(module)
    if module == "autodiff_compiler":
        return ModuleRef("autodiff_compiler")
    # a user module: look beside the importing file first, then on sys.path, without importing it
    candidates = [os.path.join(os.path.dirname(importer_path), *module.split(".")) + ".py"]
    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            candidates.append(spec.origin)
    except (ImportError, ValueError):
        pass
    for path in candidates:
        if os.path.exists(path):
            return ModuleRef("user", file_namespace(path))
    return None


def file_namespace(path: str) -> FileNamespace:
    path = os.path.abspath(path)
    if path not in _FILE_NAMESPACES:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        tree = syntax.parse(text, filename=path)
        _FILE_NAMESPACES[path] = FileNamespace(path, tree, text.splitlines())
    return _FILE_NAMESPACES[path]


# ---------------------------------------------------------------------- sources

@dataclass
class Source:
    """A function's definition, where it lives, and how its free names resolve."""
    filename: str
    node: ast.FunctionDef
    lines: list
    namespace: Namespace
    text: str = field(default="")
    # the live function it is the source of (its `__defaults__` are what Python binds), None for a file's
    function: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if not self.text:
            end = getattr(self.node, "end_lineno", self.node.lineno)
            self.text = "\n".join(self.lines[self.node.lineno - 1:end])

    @property
    def name(self) -> str:
        return self.node.name

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def error(self, cls, message: str, node: ast.AST | None = None, hint: str | None = None,
              construct: str | None = None):
        line = getattr(node, "lineno", None) if node is not None else self.node.lineno
        col = getattr(node, "col_offset", None) if node is not None else None
        return cls(message, filename=self.filename, line=line, col=col,
                   source_line=self.line_text(line) if line else None, hint=hint, construct=construct)


def source_of_function(fn) -> Source:
    """The `Source` of a live function, via `inspect`; SourceNotFoundError when Python has none."""
    wrapped = getattr(fn, "__autodiff_wrapped__", None)
    if wrapped is not None:
        fn = wrapped
    fn = inspect.unwrap(fn)
    name = getattr(fn, "__name__", repr(fn))
    if inspect.ismethod(fn):
        fn = fn.__func__         # the object is bound by the caller (api: `self` is data of the derivative)
    if isinstance(fn, (staticmethod, classmethod)):
        fn = fn.__func__
    if not inspect.isfunction(fn):
        raise SourceNotFoundError(
            f"cannot differentiate {name!r}: it is not a Python function defined with 'def' "
            f"(got {type(fn).__name__})",
            hint="pass a function written in Python source, e.g. 'def loss(w, b): ...'")
    if fn.__name__ == "<lambda>":
        raise SourceNotFoundError(
            "cannot differentiate a lambda: its source is an expression inside another statement",
            filename=fn.__code__.co_filename, line=fn.__code__.co_firstlineno,
            hint="define the function with 'def' at module level")
    filename = fn.__code__.co_filename
    try:
        lines, firstline = inspect.findsource(fn)
    except (OSError, TypeError) as exc:
        raise SourceNotFoundError(
            f"cannot find the source code of {name!r} (defined in {filename}): {exc}",
            filename=filename,
            hint="define the function in a .py file (functions typed at the interactive prompt "
                 "or created with exec() have no source file)") from None
    try:
        # tokenised with their line ends, as inspect does (a docstring spans lines)
        block = [line.rstrip("\n") for line in inspect.getblock(lines[firstline:])]
        lines = [line.rstrip("\n") for line in lines]
    except (tokenize.TokenError, SyntaxError) as exc:
        raise SourceNotFoundError(
            f"cannot read the definition of {name!r} from {filename}: {exc}",
            filename=filename, line=firstline + 1,
            hint="differentiate a function whose source is plain Python in a .py file") from None
    text = textwrap.dedent("\n".join(block))
    try:
        tree = syntax.parse(text)
    except SyntaxError as exc:
        raise SourceNotFoundError(f"cannot parse the source of {name!r}: {exc}", filename=filename) from None
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef) or node.name != fn.__name__:
        raise SourceNotFoundError(f"the source found for {name!r} is not its definition",
                                  filename=filename, line=firstline + 1)
    ast.increment_lineno(tree, firstline)
    _shift_columns(node, len(lines[firstline]) - len(lines[firstline].lstrip()))
    closure = {}
    if fn.__closure__:
        # the cells themselves: a closure's value is read at every call and a rebinding (`nonlocal`) is seen
        closure = {var: cell for var, cell in zip(fn.__code__.co_freevars, fn.__closure__)
                   if _cell_filled(cell)}
    return Source(os.path.abspath(filename) if os.path.exists(filename) else filename, node, lines,
                  LiveNamespace(fn.__globals__, closure), function=fn)


def _cell_filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _shift_columns(node: ast.AST, indent: int) -> None:
    if indent:
        for child in ast.walk(node):
            if hasattr(child, "col_offset"):
                child.col_offset += indent
                if getattr(child, "end_col_offset", None) is not None:
                    child.end_col_offset += indent


def source_of_file_function(path: str, name: str) -> Source:
    """The `Source` of function `name` in file `path`, read without executing the file."""
    if not os.path.exists(path):
        raise SourceNotFoundError(f"no such file: {path}", filename=path)
    try:
        namespace = file_namespace(path)
    except SyntaxError as exc:
        raise SourceNotFoundError(f"cannot parse {path}: {exc.msg} (line {exc.lineno})",
                                  filename=path, line=exc.lineno) from None
    for node in namespace.tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return Source(namespace.path, node, namespace.lines, namespace)
    defined = [n.name for n in namespace.tree.body if isinstance(n, ast.FunctionDef)]
    raise SourceNotFoundError(
        f"no module-level function {name!r} in {path}",
        filename=path, hint=f"functions defined there: {', '.join(defined) or 'none'}")


# ------------------------------------------------------------------------- fence

_HINTS = {
    ast.ClassDef: "define classes outside the differentiated function",
    ast.FunctionDef: "define helper functions at module level; calls to them are differentiated",
    ast.AsyncFunctionDef: "differentiated functions must be plain synchronous functions",
    ast.Lambda: "define a module-level function with 'def' and call it",
    ast.Try: "remove the try/except; check the condition with 'if' instead",
    ast.Raise: "differentiated code cannot raise; return a value instead",
    ast.With: "only 'with no_grad():' is supported inside differentiated code",
    ast.ListComp: "write an explicit 'for i in range(...)' loop, or a vectorised NumPy expression",
    ast.SetComp: "write an explicit 'for i in range(...)' loop",
    ast.DictComp: "write an explicit 'for i in range(...)' loop",
    ast.GeneratorExp: "write an explicit 'for i in range(...)' loop, or use np.sum on an array",
    ast.List: "use a NumPy array (np.zeros(n), np.array is not supported) or separate variables",
    ast.Dict: "use separate variables or NumPy arrays",
    ast.Set: "use separate variables or NumPy arrays",
    ast.Global: "pass the value as a parameter; module-level constants can be read without 'global'",
    ast.Nonlocal: "pass the value as a parameter",
    ast.Yield: "return a value; generators are not supported",
    ast.YieldFrom: "return a value; generators are not supported",
    ast.Await: "differentiated functions must be plain synchronous functions",
    ast.Delete: "remove the 'del'; variables go out of scope at return",
    ast.Assert: "remove the assert from the differentiated function, or check before calling",
    ast.Import: "import modules at the top of the file",
    ast.ImportFrom: "import modules at the top of the file",
    ast.JoinedStr: "differentiated code computes numbers; format strings outside it",
    ast.Starred: "pass arguments explicitly",
    ast.NamedExpr: "assign on a separate line",
    ast.Match: "use if/elif/else",
}

_CONSTRUCT_NAMES = {
    ast.ClassDef: "class definition", ast.FunctionDef: "nested function definition",
    ast.AsyncFunctionDef: "async function", ast.Lambda: "lambda", ast.Try: "try statement",
    ast.Raise: "raise statement", ast.With: "with statement", ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension", ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression", ast.List: "list", ast.Dict: "dict", ast.Set: "set",
    ast.Global: "global statement", ast.Nonlocal: "nonlocal statement", ast.Yield: "yield",
    ast.YieldFrom: "yield from", ast.Await: "await", ast.Delete: "del statement",
    ast.Assert: "assert statement", ast.Import: "import statement", ast.ImportFrom: "import statement",
    ast.JoinedStr: "f-string", ast.Starred: "starred expression", ast.NamedExpr: "walrus operator (:=)",
    ast.Match: "match statement", ast.BitAnd: "operator &", ast.BitOr: "operator |",
    ast.BitXor: "operator ^", ast.LShift: "operator <<", ast.RShift: "operator >>",
    ast.Invert: "operator ~", ast.MatMult: "operator @", ast.Is: "'is' comparison",
    ast.IsNot: "'is not' comparison", ast.In: "'in' comparison", ast.NotIn: "'not in' comparison",
}


def _reject(source: Source, node: ast.AST, construct: str | None = None, hint: str | None = None):
    construct = construct or _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
    return source.error(UnsupportedSyntaxError, f"unsupported construct: {construct}", node,
                        hint=hint or _HINTS.get(type(node), "see the supported language in the README"),
                        construct=construct)


def _check_for(source: Source, node: ast.For) -> None:
    for target in ast.walk(node.target):
        if isinstance(target, ast.Starred) and target is not node.target:
            continue                # `for w, *rest in pairs`: unpacked as an assignment's target is
        if not isinstance(target, (ast.Name, ast.Tuple, ast.List, ast.Store)):
            raise _reject(source, node.target, "for-loop target that is not a name or a tuple of names",
                          "loop over an index: 'for i in range(n):'")
    call = node.iter
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range" and \
            (call.keywords or not 1 <= len(call.args) <= 3):
        raise _reject(source, node.iter, "range() with keywords or more than three arguments",
                      "write range(stop), range(start, stop) or range(start, stop, step)")
    if node.orelse:
        raise _reject(source, node, "for ... else", "move the else-block after the loop, guarded by a flag")


def _check_while(source: Source, node: ast.While) -> None:
    if node.orelse:
        raise _reject(source, node, "while ... else", "move the else-block after the loop, guarded by a flag")


def _check_with(source: Source, node: ast.With) -> None:
    ok = (len(node.items) == 1 and isinstance(node.items[0].context_expr, ast.Call)
          and node.items[0].optional_vars is None)
    if ok:
        func = node.items[0].context_expr.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        ok = name == "no_grad"
    if not ok:
        raise _reject(source, node)


def _check_call(source: Source, node: ast.Call) -> None:
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _reject(source, node, "**kwargs in a call", "pass arguments explicitly")


def _check_constant(source: Source, node: ast.Constant) -> None:
    if isinstance(node.value, bytes):
        raise _reject(source, node, "bytes literal", "differentiated code computes with numbers only")
    if isinstance(node.value, complex):
        raise _reject(source, node, "complex number", "complex numbers are not supported: differentiate the "
                      "real and imaginary parts as two real values")


def _check_lambda(source: Source, node: ast.Lambda) -> None:
    _check_arguments(source, node.args)


def _check_arguments(source: Source, node: ast.arguments) -> None:
    if node.vararg or node.kwarg or node.kwonlyargs or node.posonlyargs:
        culprit = node.vararg or node.kwarg or (node.kwonlyargs or node.posonlyargs)[0]
        raise _reject(source, culprit, "*args, **kwargs or keyword-only parameters",
                      "use plain positional parameters")
    for default in node.defaults:
        if default_value(source, default) is None:
            raise _reject(source, default, "a parameter default that is not a number",
                          "use a numeric constant as the default, e.g. c=2.0")


def default_value(source: Source, node: ast.expr):
    """A parameter default: a number (possibly math.pi or a module constant), else None."""
    try:
        value = _fold_constant(node, source.namespace)
    except (ValueError, TypeError, ArithmeticError):
        return None
    return value if isinstance(value, (int, float, bool)) else None


def parameter_defaults(source: Source) -> dict:
    """{parameter name: default value} of a fenced function."""
    args = source.node.args
    names = [a.arg for a in args.args][len(args.args) - len(args.defaults):]
    return {name: default_value(source, node) for name, node in zip(names, args.defaults)}


def _check_augassign(source: Source, node: ast.AugAssign) -> None:
    if type(node.op) not in (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.FloorDiv, ast.Mod, ast.MatMult):
        raise _reject(source, node, f"augmented assignment with {type(node.op).__name__}")


def _check_compare(source: Source, node: ast.Compare) -> None:
    for op in node.ops:
        if type(op) in (ast.Is, ast.IsNot):
            raise _reject(source, node, _CONSTRUCT_NAMES[type(op)], "compare numbers with < <= > >= == !=")


def _check_binop(source: Source, node: ast.BinOp) -> None:
    if type(node.op) in (ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift):
        raise _reject(source, node, _CONSTRUCT_NAMES[type(node.op)], "use 'and', 'or' and arithmetic")


def _check_unary(source: Source, node: ast.UnaryOp) -> None:
    if isinstance(node.op, ast.Invert):
        raise _reject(source, node, "operator ~", "use 'not' or arithmetic negation")


def _check_ann_assign(source: Source, node: ast.AnnAssign) -> None:
    if node.value is None:
        raise _reject(source, node, "annotation without a value", "assign a value: 'x: float = 0.0'")


def _allowed(source: Source, node: ast.AST) -> None:
    return None


# Every node type the supported language may contain, with its extra check.
_FENCE = {
    ast.FunctionDef: _allowed, ast.arguments: _check_arguments, ast.arg: _allowed,
    ast.Return: _allowed, ast.Assign: _allowed, ast.AugAssign: _check_augassign,
    ast.AnnAssign: _check_ann_assign, ast.If: _allowed, ast.For: _check_for, ast.While: _check_while,
    ast.Break: _allowed, ast.Continue: _allowed, ast.Pass: _allowed, ast.Expr: _allowed,
    ast.With: _check_with, ast.withitem: _allowed,
    ast.BinOp: _check_binop, ast.UnaryOp: _check_unary, ast.BoolOp: _allowed, ast.Compare: _check_compare,
    ast.IfExp: _allowed, ast.Call: _check_call, ast.keyword: _allowed, ast.Name: _allowed,
    ast.Constant: _check_constant, ast.Attribute: _allowed, ast.Subscript: _allowed, ast.Slice: _allowed,
    ast.Tuple: _allowed, ast.Load: _allowed, ast.Store: _allowed,
    ast.List: _allowed, ast.Dict: _allowed, ast.ListComp: _allowed, ast.GeneratorExp: _allowed,
    ast.comprehension: _allowed, ast.Starred: _allowed, ast.Assert: _allowed, ast.Lambda: _check_lambda,
    ast.Import: _allowed, ast.ImportFrom: _allowed, ast.alias: _allowed,
    ast.Add: _allowed, ast.Sub: _allowed, ast.Mult: _allowed, ast.Div: _allowed, ast.Pow: _allowed,
    ast.FloorDiv: _allowed, ast.Mod: _allowed, ast.MatMult: _allowed, ast.USub: _allowed,
    ast.UAdd: _allowed, ast.Not: _allowed, ast.And: _allowed, ast.Or: _allowed,
    ast.Lt: _allowed, ast.LtE: _allowed, ast.Gt: _allowed, ast.GtE: _allowed, ast.Eq: _allowed,
    ast.NotEq: _allowed, ast.Is: _allowed, ast.IsNot: _allowed, ast.In: _allowed, ast.NotIn: _allowed,
    ast.BitAnd: _allowed, ast.BitOr: _allowed, ast.BitXor: _allowed, ast.LShift: _allowed,
    ast.RShift: _allowed, ast.Invert: _allowed,
}


def fence(source: Source) -> None:
    """Reject, with location and hint, every construct outside the supported language."""
    root = source.node   # decorators (@grad) are how users reach us; they are not part of the body
    docstrings = {id(node.value) for node in ast.walk(root)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                  and isinstance(node.value.value, str)}
    printed = {id(n) for node in ast.walk(root) if _is_print(node) for n in ast.walk(node) if n is not node}
    for node in _walk_without_decorators(root):
        if id(node) in docstrings or id(node) in printed:
            continue
        check = _FENCE.get(type(node))
        if check is None:
            raise _reject(source, node)
        if isinstance(node, ast.FunctionDef) and node is not root:
            if node.decorator_list:
                raise _reject(source, node, "decorated function defined inside the function",
                              "define it at module level, or drop the decorator")
        check(source, node)


def _is_print(node) -> bool:
    """`print(...)` as a statement: ignored by the compiler (its arguments are not checked or run)."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
        isinstance(node.value.func, ast.Name) and node.value.func.id == "print"


def _walk_without_decorators(root: ast.FunctionDef):
    yield root
    yield root.args
    for arg in root.args.args:
        yield arg
    for stmt in root.body:
        yield from ast.walk(stmt)
