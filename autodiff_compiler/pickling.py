"""Pickling gradient objects: by reference where the function is importable, else by the source they carry.

Takes: a gradient object (`GradientFunction`, through its `__reduce__`).
Guarantees:

* `pickle.loads(pickle.dumps(g))` (and cloudpickle's) is a gradient object of
  the same function with the same options (`wrt`, `jit`, `verify`, `simplify`,
  `with_value`, `intermediates`, `accumulate`).  Nothing compiled travels: the
  receiver derives and compiles per signature on its first call, and since it
  derives the same module text, it finds the same file in the disk cache and
  Numba's compiled code beside it when it shares the cache directory;
* the state names the function by module and qualified name when that resolves
  to it in the sending process, and always carries the source of the function
  and of the user functions it calls, with the values of the names they read
  (numbers, arrays, standard modules by import name, user modules as stand-ins
  holding the attributes used).  The receiver imports the module; where that
  fails (a script's `__main__`, a module the worker lacks, a function defined
  inside another) or the imported function's source differs from the carried
  one, it rebuilds the functions from the carried source.  Rebuilding compiles
  each `def` without its decorators, defaults and annotations (restored as
  values) and executes it, which defines the function and runs nothing else:
  unpickling never executes the user's file beyond importing the function's
  module.  The carried lines are put into `linecache` under the original file
  name, so the compiler (which reads sources with `inspect`), tracebacks and the
  generated module's comments see the code the sender had;
* a process that unpickles the same gradient again gets the same object back
  (keyed by its token), so a worker derives and compiles each signature once;
* `token(g)` is a digest of the function's source, the values it reads and the
  options, equal across processes (Dask's `__dask_tokenize__`).
"""
from __future__ import annotations

import ast
import builtins
import collections
import hashlib
import importlib
import inspect
import linecache
import pickle
import sys
import textwrap
import threading
import types
import weakref
from dataclasses import dataclass, field

import numpy as np

from .custom import custom_derivative
from .errors import AutodiffError
from . import syntax

# Modules imported by name on the receiving side (the standard library, NumPy and the compiler itself);
# any other module a function reads is carried as a stand-in holding the attributes it uses.
_IMPORTABLE_ROOTS = {"numpy", "autodiff_compiler", "scipy"}

# rebuilt gradient objects of this process, by token (most recent last)
_REBUILT: collections.OrderedDict = collections.OrderedDict()
_REBUILT_LIMIT = 64
_REBUILT_LOCK = threading.Lock()          # Dask workers unpickle in several threads

# the state of each gradient object pickled in this process, with the options it was made for: Dask pickles
# a gradient once per task, and the source it carries does not change
_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_OPTIONS = ("jit", "verify", "simplify", "with_value", "intermediates", "accumulate", "skip")


# ----------------------------------------------------------------- carried values

@dataclass(frozen=True)
class _Import:
    """A module the receiver imports by name."""
    name: str


@dataclass
class _Module:
    """A user module, carried as the attributes the functions read from it."""
    name: str
    attributes: dict


@dataclass(frozen=True)
class _FunctionRef:
    """One of the carried functions, by key."""
    key: str


@dataclass
class _FunctionSpec:
    """A user function as text, with what it needs to be defined again."""
    key: str                  # filename:qualname, as the compiler names user functions
    name: str
    qualname: str
    module: str
    filename: str             # the code object's file name, kept so that messages and the generated text match
    firstline: int            # 0-based index of the block's first line (a decorator or the def)
    lines: tuple              # the block's lines as in the file
    text: str                 # the definition's text, as the compiler's Source has it (from the def line)
    defaults: tuple | None = None
    kwdefaults: dict | None = None
    annotations: dict = field(default_factory=dict)
    globals: dict = field(default_factory=dict)     # name -> carried value
    partials: tuple | None = None                   # @custom_derivative's declaration


def _is_importable_module(name: str) -> bool:
    root = name.partition(".")[0]
    return root in _IMPORTABLE_ROOTS or root in sys.stdlib_module_names


def _picklable(value) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001 - anything pickle cannot take is left behind
        return False
    return True


def _names_read(node: ast.FunctionDef) -> dict[str, set]:
    """Free names a function reads, with the attribute paths used on each (`np.linalg.norm`: ("linalg", "norm"))."""
    args = node.args
    params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    parts = list(args.defaults) + [d for d in args.kw_defaults if d is not None] + list(node.body)
    nodes = [n for part in parts for n in ast.walk(part)]
    local = params | {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    read: dict[str, set] = {}
    for n in nodes:
        if isinstance(n, ast.Name) and n.id not in local:
            read.setdefault(n.id, set())
        elif isinstance(n, ast.Attribute):
            path, base = [n.attr], n.value
            while isinstance(base, ast.Attribute):
                path.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id not in local:
                read.setdefault(base.id, set()).add(tuple(reversed(path)))
    return read


class _Encoder:
    """Carries user functions as specs (recursively through the functions they call)."""

    def __init__(self):
        self.functions: dict[str, _FunctionSpec | None] = {}

    def function(self, fn) -> _FunctionRef:
        fn = inspect.unwrap(fn)
        key = f"{fn.__code__.co_filename}:{fn.__qualname__}"
        if key in self.functions:
            return _FunctionRef(key)
        self.functions[key] = None                     # a placeholder against cycles
        from .frontend.parse import source_of_function
        source = source_of_function(fn)
        lines, firstline = inspect.findsource(fn)
        end = getattr(source.node, "end_lineno", source.node.lineno)
        spec = _FunctionSpec(key=key, name=fn.__name__, qualname=fn.__qualname__,
                             module=getattr(fn, "__module__", None) or "__main__",
                             filename=fn.__code__.co_filename, firstline=firstline,
                             lines=tuple(line.rstrip("\n") for line in lines[firstline:end]), text=source.text)
        if fn.__defaults__ is not None and _picklable(fn.__defaults__):
            spec.defaults = fn.__defaults__
        if fn.__kwdefaults__ and _picklable(fn.__kwdefaults__):
            spec.kwdefaults = dict(fn.__kwdefaults__)
        spec.annotations = {k: v for k, v in getattr(fn, "__annotations__", {}).items() if _picklable(v)}
        if getattr(fn, "__autodiff_custom__", False):
            spec.partials = getattr(fn, "__autodiff_partials__", None)
        closure = {}
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    closure[name] = cell.cell_contents
                except ValueError:
                    pass
        for name, paths in sorted(_names_read(source.node).items()):
            if name in closure:
                value = closure[name]
            elif name in fn.__globals__:
                value = fn.__globals__[name]
            else:
                continue                              # a builtin, or undefined (the compiler says so)
            carried = self.value(value, paths)
            if carried is not _LEFT_BEHIND:
                spec.globals[name] = carried
        self.functions[key] = spec
        return _FunctionRef(key)

    def value(self, value, paths=frozenset()):
        if isinstance(value, types.ModuleType):
            if _is_importable_module(value.__name__):
                return _Import(value.__name__)
            attributes = {}
            for attr in sorted({p[0] for p in paths}):
                if hasattr(value, attr):
                    carried = self.value(getattr(value, attr), {p[1:] for p in paths if p[0] == attr and len(p) > 1})
                    if carried is not _LEFT_BEHIND:
                        attributes[attr] = carried
            return _Module(value.__name__, attributes)
        if isinstance(value, (bool, int, float, complex, str, bytes, type(None), np.generic, np.ndarray)):
            return value
        if _is_gradient(value):
            return value                              # pickled by its own __reduce__
        if inspect.isfunction(inspect.unwrap(value)):
            fn = inspect.unwrap(value)
            module = getattr(fn, "__module__", None) or ""
            if _is_importable_module(module) or getattr(value, "__autodiff_marker__", None):
                return value if _picklable(value) else _LEFT_BEHIND
            try:
                return self.function(fn)
            except (OSError, TypeError, AutodiffError):
                return _LEFT_BEHIND                   # no source: the compiler cannot use it either
        return value if _picklable(value) else _LEFT_BEHIND


_LEFT_BEHIND = object()


def _is_gradient(value) -> bool:
    """A gradient object (`api.GradientFunction`): it carries the function it differentiates.  Asked by
    attribute, so that this module (which `GradientFunction.__reduce__` calls) need not import the API."""
    return not isinstance(value, type) and getattr(value, "__autodiff_wrapped__", None) is not None \
        and hasattr(value, "state_for")


# ----------------------------------------------------------------------- reduce

def _resolve(module: str, qualname: str):
    """The object `module.qualname` names, or None."""
    if "<locals>" in qualname:
        return None
    obj = sys.modules.get(module) if module not in ("__main__", "__mp_main__") else None
    if obj is None:
        return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _unwrapped(obj):
    if _is_gradient(obj):
        obj = obj.fn
    return inspect.unwrap(obj) if callable(obj) else obj


def options_of(g) -> dict:
    """The options that rebuild `g`: wrt (names) and the keyword options (each derivative class says
    which: `pickle_options()`; `grad` objects of other versions: the attributes in `_OPTIONS`)."""
    if hasattr(g, "pickle_options"):
        options = dict(g.pickle_options())
    else:
        options = {name: getattr(g, name) for name in _OPTIONS}
    options["wrt"] = g.wrt[0] if g.single else tuple(g.wrt)
    if "intermediates" in options:
        options["intermediates"] = tuple(options["intermediates"])
    if "skip" in options:
        options["skip"] = tuple(options["skip"])
    return options


def state_of(g) -> dict:
    """What a pickle of `g` holds (see the module docstring); computed once per object and options."""
    options = options_of(g)
    cached = _STATES.get(g)
    if cached is not None and cached["options"] == options:
        return cached
    if _is_gradient(g.fn):
        # a derivative of a derivative (grad(grad(f)), hessian(grad(f))): the inner object pickles itself
        state = {"version": 1, "class": getattr(type(g), "_public_class", type(g)), "options": options, "reference": None, "function": None,
                 "functions": None, "inner": g.fn}
        state["token"] = _digest(state)
        _STATES[g] = state
        return state
    fn = inspect.unwrap(g.fn)
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    reference = None
    if module and qualname and _unwrapped(_resolve(module, qualname)) is fn:
        reference = (module, qualname)
    encoder = _Encoder()
    try:
        main = encoder.function(fn).key
    except (OSError, TypeError) as exc:
        if reference is None:
            raise AutodiffError(f"cannot pickle the gradient of {fn.__name__}: its source cannot be read ({exc})",
                                hint="define the function in a module the receiving process can import") from None
        main = None
    state = {"version": 1, "class": getattr(type(g), "_public_class", type(g)), "options": options, "reference": reference,
             "function": main, "functions": encoder.functions if main else None}
    state["token"] = _digest(state)
    _STATES[g] = state
    return state


def reduce_gradient(g):
    """`GradientFunction.__reduce__`: rebuild from the state on the receiving side."""
    return rebuild_gradient, (state_of(g),)


def token(g) -> str:
    """A digest of what `g` computes, equal in every process (`__dask_tokenize__`)."""
    return state_of(g)["token"]


# ----------------------------------------------------------------------- digest

def _canonical(value, out: list) -> None:
    """Append a deterministic description of `value` to `out` (no ids, no salted hashes)."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        out.append(f"ndarray:{data.dtype.str}:{data.shape}:{hashlib.sha256(data.tobytes()).hexdigest()}")
    elif isinstance(value, (bool, int, float, complex, str, bytes, type(None), np.generic)):
        out.append(f"{type(value).__name__}:{value!r}")
    elif isinstance(value, (tuple, list)):
        out.append(f"{type(value).__name__}[{len(value)}]")
        for item in value:
            _canonical(item, out)
    elif isinstance(value, dict):
        out.append(f"dict[{len(value)}]")
        for k in sorted(value, key=repr):
            _canonical(k, out)
            _canonical(value[k], out)
    elif isinstance(value, _Import):
        out.append(f"import:{value.name}")
    elif isinstance(value, _Module):
        out.append(f"module:{value.name}")
        _canonical(value.attributes, out)
    elif isinstance(value, _FunctionRef):
        out.append(f"function:{value.key}")
    elif isinstance(value, _FunctionSpec):
        out.append(f"spec:{value.key}:{value.module}:{value.firstline}")
        for item in (value.lines, value.defaults, value.kwdefaults, value.partials, value.globals):
            _canonical(item, out)
        _canonical({k: getattr(v, "__qualname__", repr(v)) for k, v in value.annotations.items()}, out)
    elif _is_gradient(value):
        out.append("gradient:" + token(value))
    elif isinstance(value, type):
        out.append(f"class:{value.__module__}.{value.__qualname__}")
    elif hasattr(value, "__qualname__") and hasattr(value, "__module__"):
        out.append(f"object:{value.__module__}.{value.__qualname__}")
    else:
        out.append(f"pickle:{hashlib.sha256(pickle.dumps(value)).hexdigest()}")


def _digest(state: dict) -> str:
    out: list = []
    _canonical({k: v for k, v in state.items() if k != "token"}, out)
    return hashlib.sha256("\n".join(out).encode()).hexdigest()[:32]


# ----------------------------------------------------------------------- rebuild

def rebuild_gradient(state: dict):
    """The gradient object a pickle describes (one per token in this process)."""
    tok = state["token"]
    with _REBUILT_LOCK:
        g = _REBUILT.get(tok)
        if g is not None:
            _REBUILT.move_to_end(tok)
            return g
    fn = state.get("inner")
    if fn is None and state["reference"] is not None:
        fn = _imported(state)
    if fn is None:
        if state["functions"] is None:
            module, qualname = state["reference"]
            raise AutodiffError(f"cannot unpickle the gradient of {module}.{qualname}: the module does not import "
                                f"here and the pickle carries no source")
        fn = rebuild_functions(state["functions"])[state["function"]]
    options = dict(state["options"])
    wrt = options.pop("wrt")
    g = state["class"](fn, wrt, **options)
    _STATES[g] = state                            # pickled again, it carries what it came with
    with _REBUILT_LOCK:
        g = _REBUILT.setdefault(tok, g)           # another thread may have rebuilt it meanwhile
        while len(_REBUILT) > _REBUILT_LIMIT:
            _REBUILT.popitem(last=False)
    return g


def _imported(state: dict):
    """The function the reference names, if it imports here and has the source the sender had; else None."""
    module, qualname = state["reference"]
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a module that fails to import here: use the carried source
        if state["functions"] is None:
            raise
        return None
    fn = _unwrapped(_resolve(module, qualname))
    if not inspect.isfunction(fn):
        return None
    if state["functions"] is not None:
        from .frontend.parse import source_of_function
        try:
            same = source_of_function(fn).text == state["functions"][state["function"]].text
        except AutodiffError:
            same = False
        if not same:
            return None                           # the module changed since: differentiate what the sender had
    return fn


def _provide_lines(filename: str, rows: dict[int, str]) -> None:
    """Make `linecache` (hence `inspect`) give the carried lines for `filename`, unless the file already does."""
    present = linecache.getlines(filename)
    if all(i < len(present) and present[i].rstrip("\n") == text for i, text in rows.items()):
        return
    merged = dict(enumerate(line.rstrip("\n") for line in present)) if filename in linecache.cache \
        and linecache.cache[filename][1] is None else {}
    merged.update(rows)
    lines = [merged.get(i, "") + "\n" for i in range(max(merged) + 1)]
    # mtime None: linecache.checkcache leaves the entry alone (as for sources given by a loader)
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)


def _definition(spec: _FunctionSpec) -> types.CodeType:
    """The code of a module holding only the bare `def` (no decorators, defaults or annotations)."""
    tree = syntax.parse(textwrap.dedent("\n".join(spec.lines)))
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef) or node.name != spec.name:
        raise AutodiffError(f"cannot unpickle {spec.qualname}: the carried source is not its definition",
                            filename=spec.filename, line=spec.firstline + 1)
    node.decorator_list = []
    node.returns = None
    node.args.defaults = []
    node.args.kw_defaults = [None] * len(node.args.kwonlyargs)
    for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
        arg.annotation = None
    tree.body = [node]
    ast.increment_lineno(tree, spec.firstline)
    return syntax.compile_code(tree, spec.filename, "exec")


def rebuild_functions(specs: dict) -> dict:
    """Define the carried functions again; {key: function}."""
    rows: dict[str, dict] = {}
    for spec in specs.values():
        rows.setdefault(spec.filename, {}).update(
            {spec.firstline + i: line for i, line in enumerate(spec.lines)})
    for filename, file_rows in rows.items():
        _provide_lines(filename, file_rows)
    built, namespaces = {}, {}
    for key, spec in specs.items():
        namespace = {"__builtins__": builtins, "__name__": spec.module}
        exec(_definition(spec), namespace)       # defines the function; its body does not run
        fn = namespace[spec.name]
        fn.__qualname__ = spec.qualname
        fn.__defaults__ = spec.defaults
        fn.__kwdefaults__ = spec.kwdefaults
        fn.__annotations__ = dict(spec.annotations)
        built[key], namespaces[key] = fn, namespace

    def value(carried):
        if isinstance(carried, _Import):
            return importlib.import_module(carried.name)
        if isinstance(carried, _Module):
            module = types.ModuleType(carried.name, "stand-in for the attributes a pickled gradient reads")
            for attr, item in carried.attributes.items():
                setattr(module, attr, value(item))
            return module
        if isinstance(carried, _FunctionRef):
            return built[carried.key]
        return carried

    for key, spec in specs.items():
        for name, carried in spec.globals.items():
            namespaces[key][name] = value(carried)
    for key, spec in specs.items():
        if spec.partials is not None:
            custom_derivative(*spec.partials)(built[key])
    return built
