"""Vector math: elementwise transcendental functions over blocks, several lanes at a time through glibc's libmvec.

Takes: nothing at import (detection is lazy: `lanes()` decides on first use).
Guarantees:

* `lanes()` is the SIMD width in float64 lanes the generated code may use: 8
  (AVX-512F, `_ZGVeN8v_*`), 4 (AVX2, `_ZGVdN4v_*`), 2 (AArch64 Advanced SIMD,
  `_ZGVnN2v_*`) when glibc's libmvec is present, the host CPU has the feature
  (as LLVM sees it, and Numba is not told to target another CPU) and a
  self-test of the call agrees with the scalar C library; else 0, and the
  printer emits the plain scalar loop everywhere.  `AUTODIFF_COMPILER_SIMD=0`
  forces 0; `AUTODIFF_COMPILER_SIMD=4` (or 8, 2) asks for at most that width;
* `functions()` names the primitives with a vector version on this machine;
* for each such primitive `f`, `kernel_source(f, ...)` is the text of
  `vf(dst, m, src)` (`vf(dst, m, a, b)` for the binary ones), a function of
  the library (`backend.library.kernel(f)`: compiled once per machine; the
  self-test compiles `vexp` the same way, and the library takes that one), which writes `f(src[j])` into `dst[j]` for `j < m`: whole groups of
  lanes through the libmvec call, the remainder (fewer than a group) through
  Numba's scalar `math.f`, so each element is the vector or the scalar
  function's value (libmvec's are within 4 ulp of the correctly rounded
  result; the tests hold them to 1e-15 relative of the scalar path over
  random and edge inputs: 0, -0, tiny, huge, inf, nan);
* the vector call is emitted directly (`lanes_intrinsic`: a Numba
  `@intrinsic` declaring the libmvec symbol and calling it on a `<lanes x double>` loaded from the
  buffer): LLVM's `-vector-library` option does not reach Numba's pipeline.
  The buffers are C-contiguous float64 vectors (the printer allocates them).
"""
from __future__ import annotations

import math
import os
import platform
import sys

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# primitive -> (libmvec base name, arity).  Only functions whose vector versions stay within 1e-15
# relative of glibc's scalar ones over the tests' inputs (tests/test_vecmath.py) are listed.
_TABLE = {
    "exp": ("exp", 1), "log": ("log", 1), "log1p": ("log1p", 1), "expm1": ("expm1", 1),
    "sin": ("sin", 1), "cos": ("cos", 1), "tanh": ("tanh", 1), "pow": ("pow", 2),
}
# ISA letter and lanes, widest first (the x86 vector function ABI: 'e' AVX-512, 'd' AVX2; AArch64: 'n')
_X86 = [("e", 8, "avx512f"), ("d", 4, "avx2")]
_ARM = [("n", 2, None)]

_state: dict = {}


def symbol(base: str, isa: str, lanes: int, arity: int) -> str:
    """The libmvec symbol of `base` for this ISA letter and width (`_ZGVdN4v_exp`, `_ZGVdN4vv_pow`)."""
    return f"_ZGV{isa}N{lanes}{'v' * arity}_{base}"


def _library():
    """Load libmvec into LLVM's symbol table; its path, or None where there is none."""
    import ctypes.util
    from llvmlite import binding
    name = ctypes.util.find_library("mvec")
    candidates = [name] if name else []
    candidates += ["libmvec.so.1"]
    for candidate in candidates:
        try:
            binding.load_library_permanently(candidate)
            return candidate
        except Exception:       # noqa: BLE001 -- absent or not loadable: the scalar path
            continue
    return None


def _candidates():
    """(ISA letter, lanes) this host could run, widest first."""
    if os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES"):
        return []               # Numba targets another CPU: its vector ABI may not be the host's
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return []
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        from llvmlite import binding
        try:
            features = binding.get_host_cpu_features()
        except Exception:       # noqa: BLE001
            return []
        return [(isa, n) for isa, n, feature in _X86 if features.get(feature)]
    if machine in ("aarch64", "arm64"):
        return [(isa, n) for isa, n, _ in _ARM]
    return []


def _detect() -> tuple:
    setting = os.environ.get("AUTODIFF_COMPILER_SIMD", "").strip().lower()
    if setting in ("0", "off", "no", "false"):
        return 0, "", {}
    limit = int(setting) if setting.isdigit() else None
    candidates = [(isa, n) for isa, n in _candidates() if limit is None or n <= limit]
    if not candidates or _library() is None:
        return 0, "", {}
    from llvmlite import binding
    for isa, n in candidates:
        found = {prim: (base, arity) for prim, (base, arity) in _TABLE.items()
                 if binding.address_of_symbol(symbol(base, isa, n, arity))}
        if "exp" in found and _self_test(isa, n):
            return n, isa, found
    return 0, "", {}


def _setting() -> tuple:
    if "setting" not in _state:
        _state["setting"] = _detect()
    return _state["setting"]


def lanes() -> int:
    """SIMD width in float64 lanes the generated code uses (0: scalar code only)."""
    return _setting()[0]


def functions() -> frozenset:
    """Primitives with a vector version here (empty when `lanes()` is 0)."""
    return frozenset(_setting()[2])


def describe() -> str:
    return describe_setting(_setting())


def describe_setting(setting: tuple) -> str:
    n, isa, found = setting
    if not n:
        return "scalar"
    return f"libmvec {({'e': 'AVX-512', 'd': 'AVX2', 'n': 'AdvSIMD'}[isa])}, {n} lanes"


# ------------------------------------------------------------------ kernels

def lanes_intrinsic(name: str, n: int, arity: int):
    """An intrinsic `call(dst, k, *srcs)`: dst[k:k+n] = name(srcs[k:k+n]...), one vector call."""
    from llvmlite import ir as llir

    def codegen(context, builder, signature, args):
        vector = llir.VectorType(llir.DoubleType(), n)
        fn = cgutils.get_or_insert_function(builder.module, llir.FunctionType(vector, [vector] * arity), name)
        k = args[1]

        def lanes_at(array_type, value):
            array = context.make_array(array_type)(context, builder, value)
            return builder.bitcast(builder.gep(array.data, [k]), vector.as_pointer())
        operands = [builder.load(lanes_at(signature.args[2 + a], args[2 + a]), align=8) for a in range(arity)]
        builder.store(builder.call(fn, operands), lanes_at(signature.args[0], args[0]), align=8)
        return context.get_dummy_value()

    def contiguous(t):
        return isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C" and t.dtype == types.float64

    if arity == 1:
        def call(typingctx, dst, k, a):
            if contiguous(dst) and contiguous(a) and isinstance(k, types.Integer):
                return types.void(dst, k, a), codegen
    else:
        def call(typingctx, dst, k, a, b):
            if contiguous(dst) and contiguous(a) and contiguous(b) and isinstance(k, types.Integer):
                return types.void(dst, k, a, b), codegen
    call.__name__ = f"lanes_{name}"
    return intrinsic(call)


def kernel_source(prim: str, isa: str, lanes: int) -> str:
    """The block kernel `v<prim>` as module text: groups of `lanes` lanes through the libmvec intrinsic
    `lanes_<prim>` (made by `lanes_intrinsic`, imported by the module), the remainder (fewer than a
    group) through Numba's scalar `math.<base>`."""
    base, arity = _TABLE[prim]
    operands = ", ".join("ab"[:arity])
    reads = ", ".join(f"{a}[j]" for a in "ab"[:arity])
    return (f'lanes_{prim} = lanes_intrinsic("{symbol(base, isa, lanes, arity)}", {lanes}, {arity})\n\n\n'
            f'def v{prim}(dst, m, {operands}):\n'
            f'    """dst[j] = {base}({reads}) for j < m: groups of {lanes} through libmvec, the rest scalar."""\n'
            f'    k = 0\n'
            f'    while k + {lanes} <= m:\n'
            f'        lanes_{prim}(dst, k, {operands})\n'
            f'        k += {lanes}\n'
            f'    for j in range(k, m):\n'
            f'        dst[j] = math.{base}({reads})')


def _self_test(isa: str, n: int) -> bool:
    """Does the vector exp agree with the scalar one here (ABI and library sane)?  Its kernel is a module
    of its own in the cache directory, compiled with `cache=True` (once per machine, loaded after),
    called from Python in the signature generated code calls it in."""
    import hashlib
    import inspect
    from .cache import PACKAGE, cache_dir, compiled, import_module, write_text
    try:
        text = ("import math\n\nfrom autodiff_compiler.backend.vecmath import lanes_intrinsic\n\n\n"
                + kernel_source("exp", isa, n) + "\n")
        # the level too: Numba's index does not key by it (`cache.disk_cacheable`)
        digest = hashlib.sha256(f"{text}{numba.__version__}{inspect.getsource(lanes_intrinsic)}"
                                f"{numba.core.config.OPT}".encode())
        path = os.path.join(cache_dir(), f"vecmath_test_{isa}{n}_{digest.hexdigest()[:16]}.py")
        write_text(path, text)
        module = import_module(path, f"{PACKAGE}.{os.path.basename(path)[:-3]}")
        # compiled as the library compiles its kernels (one compiled code calls), which then uses this one
        vexp = compiled(module.vexp, None, cache=True, called_only=True)
        a = np.linspace(-3.0, 3.0, 4 * n + 1)
        got = np.empty(a.shape[0])
        vexp(got, a.shape[0], a)
        want = np.array([math.exp(v) for v in a])
        if not np.all(np.abs(got - want) <= 1e-15 * np.abs(want)):
            return False
    except Exception:           # noqa: BLE001 -- any failure: the scalar path
        return False
    _state["tested"] = (isa, n, vexp)
    return True


def tested_kernel(isa: str, lanes: int):
    """The self-test's compiled `vexp` for this ISA letter and width (the library's text of it:
    `kernel_source`), else None: the library takes it rather than compile the same kernel again."""
    tested = _state.get("tested")
    return tested[2] if tested is not None and tested[:2] == (isa, lanes) else None
