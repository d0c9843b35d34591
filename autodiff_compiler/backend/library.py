"""The library: the functions generated modules call (runtime helpers, vector math), compiled once per machine.

Takes: an LLVM level (None: Numba's own) and the vector-math setting
(`vecmath._setting()`: lanes, ISA letter, the primitives with a libmvec version).
Guarantees:

* `module(level)` is one Python module for that level and setting, written
  to the cache directory as `library_<level>_<digest>.py` (the digest covers
  its text, which holds the helpers' source this process runs, and the
  versions of Python, Numba and this package), imported from there and
  never rewritten.  It holds:
  - every runtime helper (`runtime.SOURCES`), `matmul` among them: the
    `np.dot` of the module Numba compiles (the rule table's `compiled`
    spelling), so that each pair of layouts is compiled once per machine;
  - `backend.products`' functions (`matrix_product`, `matrix_vector`,
    `vector_matrix`), products of float matrices and vectors, each compiled
    once for every layout of its operands (`products.ANY_LAYOUT`);
  - with libmvec, for each primitive `f` with a vector version, the block
    kernel `vf(dst, m, *srcs)` (`vecmath` documents it; the libmvec call is
    the intrinsic `lanes_f`) and the whole-array function `vector_f(array)`;
  - NumPy's array makers (`ARRAY_MAKERS`: `np.zeros`, `np.empty_like`, ...),
    each `array_<maker>` calling NumPy's own with the same arguments.  Numba
    implements them as overloads it compiles in every process for every
    signature (0.3-0.6 s of a new MLP or RNN gradient); `numpy_view(level)`
    is NumPy with these in their places, the `np` of the module Numba
    compiles (`load.load`), so that they are compiled once per machine too;
* every function of it is compiled with `numba.njit(cache=True)` at that
  level, and its name in the module is the compiled function, so a function
  calling another calls the compiled one.  A signature is compiled once per
  machine: later processes load the machine code from Numba's cache beside
  the file.  Before this, each process compiled every helper, kernel and
  `np.dot` layout it used: about 5 s of a two-layer MLP's first gradient.
* `function(name, level)` is the compiled function `name`, `kernel(prim)` the
  block kernel `v<prim>` at Numba's level (what the module Numba compiles
  imports from here); `names()` are the names a generated module may hold a
  copy of, which the loader replaces by these (`load.load`), so that modules
  share one compile of each.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys
import types

import numpy as np

from . import numba_names, products, runtime, vecmath
from .cache import PACKAGE, cache_dir, compiled, import_module, write_text

_MODULES: dict = {}
_VIEWS: dict = {}

# NumPy's array makers Numba compiles as overloads (per process), with the parameters they are called with
ARRAY_MAKERS = {"empty": "shape, dtype=float", "zeros": "shape, dtype=float", "ones": "shape, dtype=float",
                "empty_like": "a, dtype=None", "zeros_like": "a, dtype=None", "ones_like": "a, dtype=None",
                "full": "shape, fill_value, dtype=None"}


def _maker_source(maker: str) -> str:
    parameters = ARRAY_MAKERS[maker]
    arguments = ", ".join(p.split("=")[0] for p in parameters.split(", "))
    return (f"def array_{maker}({parameters}):\n    \"\"\"np.{maker}, compiled once per machine.\"\"\"\n"
            f"    return np.{maker}({arguments})")

VECTOR_TEMPLATE = '''def vector_{prim}(array):
    """np.{prim}(array), several lanes at a time (v{prim}: libmvec)."""
    if array.ndim == 1:         # Numba compiles only the branch of the array's rank: a vector's has no reshape
        contiguous = np.ascontiguousarray(array)
        row = np.empty(array.size)
        v{prim}(row, array.size, contiguous)
        return row
    flat = np.ascontiguousarray(array).reshape(array.size)
    out = np.empty(array.size)
    v{prim}(out, array.size, flat)
    return out.reshape(array.shape)'''


def text(setting: tuple) -> str:
    """The library module's text for a vector-math setting (lanes, ISA letter, primitives)."""
    lanes, isa, found = setting
    # every load asks for it: made once per setting (the rename parses 2,000 lines, ~25 ms)
    return _text(lanes, isa, tuple(sorted(found)))


@functools.cache
def _text(lanes: int, isa: str, found: tuple) -> str:
    from .. import __version__
    setting = (lanes, isa, found)
    parts = [f'"""The functions generated modules call, compiled once per machine (autodiff_compiler '
             f'{__version__}; {vecmath.describe_setting(setting)})."""',
             "import math\n\nimport numpy as np\n\nfrom autodiff_compiler.backend.products import dgemm, dgemv"]
    if lanes:
        parts[-1] += "\nfrom autodiff_compiler.backend.vecmath import lanes_intrinsic"
    parts += [runtime.SOURCES[name].rstrip() for name in runtime.HELPERS]
    parts += [inspect.getsource(getattr(products, name)).rstrip() for name in sorted(products.ANY_LAYOUT)]
    parts += [_maker_source(maker) for maker in ARRAY_MAKERS]
    for prim in sorted(found) if lanes else ():
        parts += [vecmath.kernel_source(prim, isa, lanes), VECTOR_TEMPLATE.format(prim=prim)]
    written = "\n\n\n".join(parts) + "\n"
    # the rename parses and tokenises 2,000 lines, 70 ms of every process's first gradient: done once per
    # machine, kept under the digest of what it reads
    digest = hashlib.sha256(f"{written}\n{inspect.getsource(numba_names)}".encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), f"library_text_{digest}.txt")
    try:
        with open(path, encoding="utf-8") as kept:
            return kept.read()
    except OSError:
        renamed = numba_names.unambiguous(written)
        write_text(path, renamed)
        return renamed


@functools.cache
def _versions() -> str:
    import numba
    # the intrinsic's code generation is part of every kernel's machine code, BLAS's signatures of every
    # product's: an edit of either compiles anew
    return (f"{sys.version} {numba.__version__} {inspect.getsource(vecmath.lanes_intrinsic)} "
            f"{inspect.getsource(products._blas_types)}")


def module(level: int | None, setting: tuple | None = None):
    """The library for `level` and the vector-math `setting` (default: this machine's), compiled."""
    from numba.core import config
    setting = vecmath._setting() if setting is None else setting
    source = text(setting)
    digest = hashlib.sha256(f"{source}\n{_versions()}\n{config.OPT}".encode()).hexdigest()[:16]
    name = f"library_{'default' if level is None else level}"
    path = os.path.join(cache_dir(), f"{name}_{digest}.py")
    if path in _MODULES:
        return _MODULES[path]
    write_text(path, source)
    library = import_module(path, f"{PACKAGE}.{os.path.basename(path)[:-3]}")
    for attribute, value in list(vars(library).items()):
        if inspect.isfunction(value) and value.__module__ == library.__name__:
            setattr(library, attribute, compiled(value, level, cache=True, called_only=True,
                                                 any_layout=attribute in products.ANY_LAYOUT))
    tested = vecmath.tested_kernel(setting[1], setting[0]) if level is None and "vexp" in vars(library) else None
    if tested is not None:
        library.vexp = tested       # the self-test's, compiled from the same text: one compile per machine
    _MODULES[path] = library
    return library


class NumpyView(types.ModuleType):
    """NumPy, with the library's compiled array makers in the places of NumPy's (`numpy_view`)."""

    def __getattr__(self, name: str):
        return getattr(np, name)


def numpy_view(level: int | None):
    """The `np` of a module Numba compiles at `level`: every name NumPy's, except the array makers,
    which are the library's `array_<maker>` (the same calls, compiled once per machine)."""
    library = module(level)
    if library.__name__ not in _VIEWS:
        view = NumpyView(f"numpy_with_{library.__name__}")
        for maker in ARRAY_MAKERS:
            setattr(view, maker, getattr(library, f"array_{maker}"))
        _VIEWS[library.__name__] = view
    return _VIEWS[library.__name__]


def function(name: str, level: int | None):
    """The library's compiled function `name` at `level`, on this machine's vector-math setting."""
    if name in products.CALLS_BLAS:
        products.ensure_blas()
    return getattr(module(level), name)


def kernel(prim: str):
    """The block function `v<prim>` for this machine (`vecmath.lanes()` must be non-zero)."""
    if prim not in vecmath.functions():
        raise KeyError(f"no vector {prim} on this machine")
    return function(f"v{prim}", None)


def __getattr__(name: str):
    """`from autodiff_compiler.backend.library import vexp` (what the module Numba compiles writes)."""
    if name.startswith("v") and name[1:] in vecmath.functions():
        return kernel(name[1:])
    if name in products.ANY_LAYOUT:
        return function(name, None)
    raise AttributeError(name)


def names() -> frozenset:
    """What a generated module may hold a copy of that the library has: the helpers and the vector-math
    functions of this machine."""
    lanes, _, found = vecmath._setting()
    vector = {f"{kind}{prim}" for prim in (found if lanes else ()) for kind in ("v", "vector_")}
    return frozenset(runtime.HELPERS) | vector | products.ANY_LAYOUT
