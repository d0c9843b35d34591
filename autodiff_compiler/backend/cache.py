"""The cache directory, and Numba functions made from Python functions: what loading generated code stands on.

Takes: module text and Python functions.  Guarantees:

* `cache_dir()` is `$AUTODIFF_COMPILER_CACHE`, else `$XDG_CACHE_HOME/autodiff_compiler`, else
  `~/.cache/autodiff_compiler`, created if missing;
* `write_text(path, text)` writes a file once (write then rename: a concurrent process never reads
  half of it) and `import_module` imports it under `PACKAGE`, so that `inspect`, tracebacks, pickling
  and Numba's disk cache see a real module;
* `disk_cacheable()` says whether a Numba function of the package's own source may use Numba's disk
  cache, whose index does not key by the optimisation level (modules in the cache directory key
  their names by it instead: `library`, and through it every generated module);
* `cached_where_possible(decorate)` applies a Numba decorator with the disk cache where that is allowed
  and possible, else without;
* `compiled(fn, level)` is `fn` as a Numba function (nopython, bounds checked), compiling at LLVM
  level `level` at most (`compiling_at`: never above Numba's own `NUMBA_OPT`); with `called_only`,
  one whose callers Numba caches at every level, `NUMBA_OPT=0` included.

The loader (`load`), the library of helpers (`library`) and vector math's self-test (`vecmath`)
use these; none of those imports another for them.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys
import tempfile
import types


@contextlib.contextmanager
def compiling_at(level: int | None):
    """Numba compiles at LLVM level min(level, NUMBA_OPT) inside this block.  Numba reads its setting
    each time it builds a pass pipeline; the compiler's own lock (re-entrant) is held throughout, so
    that no other thread's compile runs at this level."""
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock
    if level is None or level >= int(config.OPT):
        yield
        return
    with global_compiler_lock:
        saved = config.OPT
        config.OPT = type(saved)(level)
        try:
            yield
        finally:
            config.OPT = saved


def disk_cacheable() -> bool:
    """May a Numba function of this package's own source (the result scan, the router) be cached on
    disk?  Only at Numba's default level, 3.  Numba's index keys a function by its source, signature and
    CPU, not by `NUMBA_OPT`: one compiled at level 0 (the test suite's, `tests/conftest.py`) would serve
    every later process from the same files (the scan of 1,000 floats took 4.2 us so, 0.6 us at level 3).
    A module in the cache directory keys its name by the level instead, and is cached at every level."""
    from numba.core import config
    return int(config.OPT) == 3


def cached_where_possible(decorate):
    """`decorate(cache)`, a Numba decorator applied with `cache=`: with Numba's disk cache where
    `disk_cacheable()` allows it and Numba finds a place to write it, else without.  A read-only install
    and an unwritable home leave no place: Numba then raises RuntimeError ("no locator available") at
    decoration, which reached users from every counted entry (helper-58)."""
    if disk_cacheable():
        try:
            return decorate(True)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
    return decorate(False)


@functools.cache
def _dispatcher_class(called_only: bool = False, any_layout: bool = False):
    from numba.core import sigutils, types as numba_types
    from numba.core.imputils import lower_constant
    from numba.core.registry import CPUDispatcher
    from numba.extending import box, models, register_model

    class LevelledDispatcher(CPUDispatcher):
        """Numba's dispatcher, compiling each signature at `llvm_level` (helpers it calls are compiled
        inside that compile, at the same level)."""
        llvm_level = None

        def compile(self, sig):
            with compiling_at(self.llvm_level):
                return super().compile(sig)

    if not called_only:
        return LevelledDispatcher

    class CalledType(numba_types.Dispatcher):
        """The Numba type of a `CalledDispatcher`: a dispatcher compiled code only calls."""

    register_model(CalledType)(models.OpaqueModel)

    @lower_constant(CalledType)
    def no_address(context, builder, numba_type, value):
        # A call names its target statically (the overload's symbol, linked in): the value of the name
        # itself is never read.  Numba lowers a dispatcher as its object's address, a "dynamic
        # global", so that it can be passed as a first-class function; at LLVM level 0 nothing deletes
        # that unused load, and Numba refuses to cache a function holding one: every process would
        # compile again each function calling a library helper (its warning: "Cannot cache ...").
        return context.get_dummy_value()

    @box(CalledType)
    def refuse_to_box(numba_type, value, c):
        # such a value is no function: returned to Python (alone or in a tuple) it would be a null object
        raise NotImplementedError(f"{numba_type} is called by compiled code, never returned to Python")

    class CalledDispatcher(LevelledDispatcher):
        """A Numba function that compiled code calls and never passes as a value (the library's helpers
        and kernels, a module's chunk functions): typed as `CalledType`, whose constant is no address."""

        @property
        def _numba_type_(self):
            return CalledType(self)

    if not any_layout:
        return CalledDispatcher

    class AnyLayoutDispatcher(CalledDispatcher):
        """A `CalledDispatcher` compiling one signature for every layout of its array operands, which it
        only reads: each is typed as a read-only any-layout array ("A"), which callers' row-major,
        column-major, strided and read-only arrays convert to for free (one data model), so that Numba
        compiles it once, not once per layout."""

        def compile(self, sig):
            args, return_type = sigutils.normalize_signature(sig)
            args = tuple(a.copy(layout="A", readonly=True) if isinstance(a, numba_types.Array) else a for a in args)
            return super().compile(args if return_type is None else return_type(*args))

    return AnyLayoutDispatcher


def cache_dir() -> str:
    path = os.environ.get("AUTODIFF_COMPILER_CACHE")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "autodiff_compiler")
    os.makedirs(path, exist_ok=True)
    return path


def write_text(path: str, text: str) -> None:
    """`text` at `path` unless a file is there already (its name holds the digest of its text)."""
    if not os.path.exists(path):
        # write then rename, so a concurrent process never imports half a file
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)


PACKAGE = "autodiff_compiler_generated"


def _package():
    """The package generated modules are named in, registered once: a name under it can then be imported
    again (pickle and Numba do, e.g. to cache a function whose code refers to a generated function)."""
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE, "Modules generated by autodiff_compiler (files in its cache directory).")
        package.__path__ = []
        sys.modules[PACKAGE] = package
    return sys.modules[PACKAGE]


def import_module(path: str, module_name: str):
    """The module at `path`, executed and registered in `sys.modules` as `module_name`."""
    if module_name.startswith(PACKAGE + "."):
        _package()
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        # the printer wrote text Python cannot read: our bug, never the user's raw error
        del sys.modules[module_name]
        from ..errors import InternalError
        raise InternalError(f"the generated module {path} does not parse: {exc.msg} (line {exc.lineno})") from None
    return module


def compiled(fn, level: int | None, parallel: bool = False, cache: bool = True, called_only: bool = False,
             any_layout: bool = False):
    """`fn` as a Numba function (nopython, bounds checked) compiling at `level` at most; `called_only`:
    one that compiled code calls and never passes as a value (`_dispatcher_class`), so that the
    functions calling it can be cached at every LLVM level; `any_layout` (with `called_only`): compiled
    once for all layouts of its array operands, which it must only read, through their strides.

    Without Numba's C-callable wrapper (`no_cfunc_wrapper`): it is for `cfunc`s and first-class function
    values, which no derived program or library function is (the router calls the Python-callable entry),
    and lowering it was about a tenth of a small gradient's compile."""
    import numba
    from numba.core import config
    if config.DISABLE_JIT or (level is None and not called_only):
        return numba.njit(cache=cache, parallel=parallel, boundscheck=True, no_cfunc_wrapper=True)(fn)
    dispatcher = _dispatcher_class(called_only, any_layout)(fn, targetoptions={"nopython": True, "parallel": parallel,
                                                                   "boundscheck": True, "no_cfunc_wrapper": True})
    dispatcher.llvm_level = level
    if cache:
        dispatcher.enable_caching()
    return dispatcher
