"""Load and JIT: module text -> a callable, via a file in the cache directory.

Takes: the generated module's text and the name of its gradient function.
Guarantees:

* the text is written once to `<cache>/<name>_<hash>.py` (the hash covers the
  text, which covers the function's source, signature, `wrt` and the compiler
  version, and, compiled, the name of the library module its functions call:
  `backend.library`, one per level, vector-math setting and NUMBA_OPT), never
  rewritten, so that Numba's on-disk cache (`cache=True`) is reused by later
  processes, and only by those that call the same library;
* the module is imported from that file, so `inspect`, tracebacks and
  pickling see real source;
* with `jit=True` every function of the module is compiled with
  `numba.njit(cache=True, boundscheck=True)`, its `np` being NumPy with the
  library's compiled array makers in place of Numba's per-process overloads
  (`library.numpy_view`: the same calls); with `jit=False` the same code
  runs in Python.  Bounds are checked because an index out of range is an
  error in Python and, unchecked, a read of whatever lies beyond the array in
  compiled code: a wrong number with no error (`x[k]` with a `k` from the
  caller, `y[i]` in a loop over a longer `x`).  Numba raises IndexError, which
  the API reports as Python's interpreter would (`api._failed`);
* a program with an array of rank 4 or more (`llvm_level`) is compiled at
  LLVM level 2 at most (`$AUTODIFF_COMPILER_HIGH_RANK_OPT`; never above
  Numba's own `NUMBA_OPT`).  At level 3, LLVM's loop unswitching copies the
  broadcasting loop nest of each whole-array expression once per combination
  of its operands' stride checks: 15-20 s for one rank-4 `A + B` with Numba
  0.68, a minute for a small rank-4 gradient, against 9 s at level 2, whose
  loops run about twice as long (figures in the README).  Rank 3 costs a few
  seconds per expression at level 3 and runs up to four times faster there,
  so it keeps Numba's level, as every other program does.

The cache directory is `$AUTODIFF_COMPILER_CACHE`, else `$XDG_CACHE_HOME/autodiff_compiler`,
else `~/.cache/autodiff_compiler`.
"""
from __future__ import annotations

import hashlib
import os

from .cache import PACKAGE, cache_dir, compiled, compiling_at, import_module, write_text  # noqa: F401 (the loader's API)
from .numba_names import unambiguous

_LOADED: dict[tuple, object] = {}

HIGH_RANK = 4           # arrays of this rank or more: compiled at `high_rank_level()` at most


def high_rank_level() -> int:
    """`$AUTODIFF_COMPILER_HIGH_RANK_OPT` (default 2; 3 keeps Numba's level for every program)."""
    return int(os.environ.get("AUTODIFF_COMPILER_HIGH_RANK_OPT", "2"))


def llvm_level(program) -> int | None:
    """The LLVM optimisation level a derived program is compiled at: None (Numba's own, `NUMBA_OPT`)
    unless it holds an array of rank HIGH_RANK or more, then `high_rank_level()`."""
    if any(t.is_array and t.ndim >= HIGH_RANK for t in program.types.values()):
        return high_rank_level()
    return None


def module_path(text: str, name: str, library: str = "") -> str:
    """The file of the module `text` in the cache directory; `library`: the name of the library module
    (`backend.library`) its compiled functions call, which the digest covers too."""
    digest = hashlib.sha256((text + library).encode()).hexdigest()[:16]
    return os.path.join(cache_dir(), f"{name}_{digest}.py")


def write_module(text: str, name: str, library: str = "") -> str:
    path = module_path(text, name, library)
    write_text(path, text)
    return path


def shared_helper(name: str, level: int | None):
    """The compiled library function `name` at `level` (`backend.library`): the runtime helpers and the
    vector-math functions.  A generated module holds a copy of its text, so every module may call the
    same compiled function: each signature is compiled once per machine, not once per gradient or per
    process."""
    from . import library
    return library.function(name, level)


def load(text: str, name: str, jit: bool = True, level: int | None = None):
    """The function `name` of the module `text`, compiled with Numba when `jit` (at LLVM level `level`
    at most, `llvm_level`; None: Numba's own)."""
    from . import library
    # Numba's disk cache of a compiled function refers to the library module it calls by name, and
    # another level or vector-math setting has another library: compiled, the file is one per library
    # (the same text under two settings would otherwise load code calling a library never imported)
    library_name = library.module(level).__name__ if jit else ""
    if jit:
        text = unambiguous(text)        # names Numba's front end cannot confuse (`numba_names`)
    path = module_path(text, name, library_name)
    key = (path, jit, level)
    if key in _LOADED:
        return _LOADED[key]
    write_module(text, name, library_name)
    module = import_module(path, f"{PACKAGE}.{os.path.basename(path)[:-3]}{'' if jit else '_py'}")
    if jit:
        # the library's functions first: Numba resolves them from the module's globals when compiling `name`
        for helper in sorted(library.names()):
            if hasattr(module, helper):
                setattr(module, helper, shared_helper(helper, level))
        if hasattr(module, "np"):       # its array makers compiled once per machine (`library.numpy_view`)
            module.np = library.numpy_view(level)
        # the chunk functions of planned loops (print_loops), before the functions that call them; only
        # the drivers running chunks on threads are compiled with parallel=True (it changes how Numba
        # compiles array expressions: they would not broadcast)
        for attribute in sorted(vars(module)):
            if attribute.startswith((f"{name}_chunk", f"{name}_parallel")):
                parallel = attribute.startswith(f"{name}_parallel")
                setattr(module, attribute, compiled(getattr(module, attribute), level, parallel, called_only=True))
        function = compiled(getattr(module, name), level)
    else:
        function = getattr(module, name)
    _LOADED[key] = function
    return function
