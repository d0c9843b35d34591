"""Native entry: a gradient's checks and call as one Numba function, for hot loops in Python.

Takes: a compiled gradient (a Numba dispatcher) for one signature of numbers and
float64/int64 arrays, the parameter names, the shape the contract gives its
result (`shaped`, an expression of `result`, as `api.GradientFunction._shaped`
writes it), and the gradient object that owns it.

Guarantees (`native_entry`):

* a Numba dispatcher whose one compiled signature is the example arguments'
  exact Numba types (Numba matches exactly while it may compile: an int is not
  taken for a float, a float32 array not for a float64 one);
* called with such arguments, finite floats among them, on a run that raises
  nothing and returns finite numbers (arrays longer than `SCAN_LIMIT` are not
  scanned, as in the gradient object's own check), it returns the owner's
  result in the contract's shape and runs no Python code: the cost of a bare
  Numba call;
* every other call -- other types, fewer or more arguments, a NaN or infinite
  float, an exception in the gradient, a non-finite result -- runs the owner's
  full path (`GradientFunction.__call__`) with the same arguments, which checks,
  explains and raises exactly as a call of the gradient object does (other
  types through the dispatcher's compile hook, the rest through an `objmode`
  block: both are taken only when the fast path is not);
* arguments are positional or by parameter name; more arguments than
  parameters, `out=` or unknown keywords are Numba's own `TypeError` (a
  parameter for the extra ones, `*rest`, would cost every call a third more:
  this entry is for hot loops, the gradient object for everything else);
* its source is a module in the cache directory, compiled with `cache=True`:
  built once per machine and signature, then loaded.
"""
from __future__ import annotations

import hashlib
import os
import sys
import weakref

import numba
from numba.core import types as nbtypes
from numba.core.dispatcher import OmittedArg
from numba.core.registry import CPUDispatcher

from .load import PACKAGE, import_module, write_module

SCAN_LIMIT = 65536          # as api.SCAN_LIMIT: longer arrays in results are not scanned for NaN

# the gradient objects a native entry module serves, by module name: its fallback calls one of them
_OWNERS: dict[str, list] = {}


class EntryDispatcher(CPUDispatcher):
    """A Numba dispatcher whose calls that match no compiled signature go to the owner's full path
    instead of compiling one: Numba calls `_compile_for_args` with the folded arguments and then calls
    what it returns with them."""

    def _compile_for_args(self, *args, **kws):
        if not self.overloads:              # the first, explicit compile
            return super()._compile_for_args(*args, **kws)
        return _unfolded_fallback(self._entry_key)


def _unfolded_fallback(key: str):
    def call(*folded, **kws):
        # the folded arguments: one per parameter, an omitted one as OmittedArg
        return fallback(key, *[value for value in folded if not isinstance(value, OmittedArg)], **kws)
    return call


def fallback(key: str, *args, **kwargs):
    """The full path of a gradient object this entry serves (all of them derive the same module)."""
    from ..api import GradientFunction
    owners = _OWNERS.get(key, [])
    for ref in reversed(owners):
        owner = ref()
        if owner is not None:
            return GradientFunction.__call__(owner, *args, **kwargs)
    from ..errors import InternalError
    raise InternalError("a native gradient entry outlived its gradient object",
                        hint="keep the gradient object alive while you use g.native(...)")


_SCALAR_SPELLING = {nbtypes.float64: "float64", nbtypes.int64: "int64", nbtypes.boolean: "boolean"}


def spelled(numba_type) -> str | None:
    """The type as `numba.objmode` reads it (None: not one the entry covers)."""
    if numba_type in _SCALAR_SPELLING:
        return _SCALAR_SPELLING[numba_type]
    if isinstance(numba_type, nbtypes.Array) and numba_type.dtype in (nbtypes.float64, nbtypes.int64):
        axes = [":"] * numba_type.ndim
        if numba_type.layout == "C":
            axes[-1] = "::1"
        elif numba_type.layout == "F":
            axes[0] = "::1"
        return f"{_SCALAR_SPELLING[numba_type.dtype]}[{', '.join(axes)}]"
    if isinstance(numba_type, nbtypes.BaseTuple):
        items = [spelled(item) for item in numba_type.types]
        if None in items:
            return None
        return f"Tuple(({''.join(item + ', ' for item in items)}))"
    return None


def _shaped_type(result_type, shaped: str):
    """The Numba type of `shaped` (an expression of `result`)."""
    if shaped == "result":
        return result_type
    if shaped == "(result,)":
        return nbtypes.Tuple((result_type,))
    if shaped == "(result[0], result[1:])" and isinstance(result_type, nbtypes.BaseTuple):
        items = tuple(result_type.types)
        return nbtypes.Tuple((items[0], nbtypes.Tuple(items[1:])))
    return None


def _finite_test(expression: str, numba_type) -> str | None:
    """A test that `expression` (of this type) is finite, as the gradient object's own check has it."""
    if numba_type == nbtypes.float64:
        return f"{expression} - {expression} == 0.0"
    if numba_type in (nbtypes.int64, nbtypes.boolean):
        return None
    if isinstance(numba_type, nbtypes.Array):
        if numba_type.dtype != nbtypes.float64:
            return None
        return f"({expression}.size > {SCAN_LIMIT} or np.isfinite({expression}).all())"
    raise TypeError(numba_type)


def entry_text(module_key: str, params: list, arg_types: tuple, result_type, shaped: str) -> str | None:
    """The entry module's source (None: a type the entry does not cover)."""
    shaped_type = _shaped_type(result_type, shaped)
    declared = spelled(shaped_type) if shaped_type is not None else None
    if declared is None or any(spelled(t) is None for t in arg_types):
        return None
    taken = set(params)

    def fresh(name):
        while name in taken:
            name = "_" + name
        taken.add(name)
        return name
    adjoint, result, ok, out = (fresh(n) for n in ("adjoint", "result", "ok", "out"))
    argument_tests = [f"{p} - {p} == 0.0" for p, t in zip(params, arg_types) if t == nbtypes.float64]
    leaves = list(result_type.types) if isinstance(result_type, nbtypes.BaseTuple) else [result_type]
    paths = [f"{result}[{i}]" for i in range(len(leaves))] if isinstance(result_type, nbtypes.BaseTuple) \
        else [result]
    result_tests = [test for test in (_finite_test(path, leaf) for path, leaf in zip(paths, leaves)) if test]
    call = ", ".join(params)
    lines = [
        f'"""Native entry of {module_key}: the gradient object\'s checks and call in one Numba function."""',
        "import numba",
        "import numpy as np",
        "",
        "from autodiff_compiler.backend.entry import fallback",
        "",
        f"{adjoint} = None     # the compiled gradient, set before this module is compiled",
        "",
        "",
        f"def entry({', '.join(p + '=None' for p in params)}):",
        "    # the gradient object's checks: finite float arguments, no exception, finite results",
        f"    {ok} = {' and '.join(argument_tests) or 'True'}",
        f"    if {ok}:",
        "        try:",
        f"            {result} = {adjoint}({call})",
        "        except Exception:",
        f"            {ok} = False",
        f"        if {ok} and {' and '.join(result_tests) or 'True'}:",
        f"            return {shaped.replace('result', result)}",
        "    # anything else: the gradient object's own path explains it (or returns what it returns)",
        f"    with numba.objmode({out}={declared!r}):",
        f"        {out} = fallback({module_key!r}, {call})",
        f"    return {out}",
        "",
    ]
    return "\n".join(lines)


def native_entry(compiled, example_args: tuple, params: list, shaped: str, owner):
    """The native entry of `compiled` for the signature of `example_args` (None: not covered)."""
    from numba import typeof
    arg_types = tuple(typeof(a) for a in example_args)
    if not compiled.nopython_signatures:
        compiled(*example_args)
    signature = next((s for s in compiled.nopython_signatures if tuple(s.args) == arg_types), None)
    if signature is None:
        return None
    source_key = f"{getattr(compiled, '__module__', '')}.{compiled.__name__}"
    text = entry_text("K", params, arg_types, signature.return_type, shaped)
    if text is None:
        return None
    # named after what it calls and how it is typed, so that its text (and Numba's cache) is its own
    digest = hashlib.sha256(f"{source_key}|{arg_types}|{shaped}|{text}".encode()).hexdigest()[:16]
    name = f"{compiled.__name__}_entry_{digest}"
    text = entry_text(name, params, arg_types, signature.return_type, shaped)
    path = write_module(text, name)
    module_name = f"{PACKAGE}.{os.path.basename(path)[:-3]}"
    module = sys.modules.get(module_name) or import_module(path, module_name)
    module.__dict__[_adjoint_name(params)] = compiled
    owners = _OWNERS.setdefault(name, [])
    owners[:] = [ref for ref in owners if ref() is not None and ref() is not owner] + [weakref.ref(owner)]
    dispatcher = getattr(module, "_native_dispatcher", None)
    if dispatcher is None:
        dispatcher = EntryDispatcher(module.entry, targetoptions={"nopython": True})
        dispatcher._entry_key = name
        dispatcher.enable_caching()
        dispatcher.compile(arg_types)
        module._native_dispatcher = dispatcher
    return dispatcher


def _adjoint_name(params: list) -> str:
    name = "adjoint"
    while name in params:
        name = "_" + name
    return name
