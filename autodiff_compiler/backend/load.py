"""Load and JIT: module text -> a callable, via a file in the cache directory.

Takes: the generated module's text and the name of its gradient function.
Guarantees:

* the text is written once to `<cache>/<name>_<hash>.py` (the hash covers the
  text, which covers the function's source, signature, `wrt` and the compiler
  version), never rewritten, so that Numba's on-disk cache (`cache=True`) is
  reused by later processes;
* the module is imported from that file, so `inspect`, tracebacks and
  pickling see real source;
* with `jit=True` every function of the module is compiled with
  `numba.njit(cache=True)`; with `jit=False` the same code runs in Python.

The cache directory is `$AUTODIFF_COMPILER_CACHE`, else `$XDG_CACHE_HOME/autodiff_compiler`,
else `~/.cache/autodiff_compiler`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

_LOADED: dict[tuple, object] = {}


def cache_dir() -> str:
    path = os.environ.get("AUTODIFF_COMPILER_CACHE")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "autodiff_compiler")
    os.makedirs(path, exist_ok=True)
    return path


def module_path(text: str, name: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return os.path.join(cache_dir(), f"{name}_{digest}.py")


def write_module(text: str, name: str) -> str:
    path = module_path(text, name)
    if not os.path.exists(path):
        # write then rename, so a concurrent process never imports half a file
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    return path


def load(text: str, name: str, jit: bool = True):
    """The function `name` of the module `text`, compiled with Numba when `jit`."""
    path = module_path(text, name)
    key = (path, jit)
    if key in _LOADED:
        return _LOADED[key]
    write_module(text, name)
    module_name = "autodiff_compiler_generated." + os.path.basename(path)[:-3] + ("" if jit else "_py")
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
    if jit:
        import numba
        # helpers first: Numba resolves them from the module's globals when compiling `name`
        from .runtime import HELPERS
        for helper in HELPERS:
            if hasattr(module, helper):
                setattr(module, helper, numba.njit(cache=True)(getattr(module, helper)))
        # the chunk functions of planned loops (print_loops) and the whole-array vector calls (printer),
        # before the functions that call them; only the drivers running chunks on threads are compiled
        # with parallel=True (it changes how Numba compiles array expressions: they would not broadcast)
        for attribute in sorted(vars(module)):
            if attribute.startswith((f"{name}_chunk", f"{name}_parallel", f"{name}_vector_")):
                parallel = attribute.startswith(f"{name}_parallel")
                setattr(module, attribute, numba.njit(cache=True, parallel=parallel)(getattr(module, attribute)))
        function = numba.njit(cache=True)(getattr(module, name))
    else:
        function = getattr(module, name)
    _LOADED[key] = function
    return function
