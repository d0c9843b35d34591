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
* every other call -- other types, fewer arguments, a NaN or infinite float, an exception in the gradient, a non-finite result -- runs the owner's
  full path (`GradientFunction.__call__`) with the same arguments, which checks,
  explains and raises exactly as a call of the gradient object does (other
  types through the dispatcher's compile hook, the rest through an `objmode`
  block: both are taken only when the fast path is not);
* arguments are positional or by parameter name (an omitted one is filled by
  the object, by name); more arguments than parameters, `out=` or unknown
  keywords are Numba's own `TypeError`, an int beyond 64 bits its
  `OverflowError` (a parameter for the extra ones, `*rest`, would cost every
  call a third more: this entry is for hot loops, the gradient object for
  everything else);
* it compiles no other signature: `njit` code calling it with other types
  gets a TypingError naming `compiled_for` (such a version would run without
  the checks, for Python's calls too);
* one dispatcher per gradient object, which keeps its object alive; the
  objects of one function and options (`owner_token`) share its source, a
  module in the cache directory compiled with `cache=True`: built once per
  machine and signature, then loaded.
"""
from __future__ import annotations

import hashlib
import os
import sys
import weakref

import numba
from numba.core import sigutils, types as nbtypes
from numba.core.dispatcher import OmittedArg
from numba.core.errors import TypingError
from numba.core.registry import CPUDispatcher

from .load import PACKAGE, import_module, write_module
from .numba_names import unambiguous

SCAN_LIMIT = 65536          # as api.SCAN_LIMIT: longer arrays in results are not scanned for NaN

# the gradient objects a native entry module serves, by its key: its object-mode block calls one of them
# (all of them are the same function with the same options: the key covers both, `owner_token`)
_OWNERS: dict[str, list] = {}


class EntryDispatcher(CPUDispatcher):
    """A Numba dispatcher of one signature, that of the example arguments.  A call from Python that
    matches it not exactly goes to the owner's full path: Numba calls `_compile_for_args` with the
    folded arguments (an omitted one as OmittedArg) and then what it returns with them.  Compiling any
    other signature, as Numba does when `njit` code calls it with other types, is refused: that version
    would run without the object's checks, for Python's calls too."""

    def _compile_for_args(self, *args, **kws):
        if not self.overloads:              # the first, explicit compile
            return super()._compile_for_args(*args, **kws)
        self._types_active_call.clear()     # as Numba's own does: it keeps the types of each call
        return _by_name(self._owner, self._entry_params)

    def compile(self, sig):
        args, _ = sigutils.normalize_signature(sig)
        if self.overloads and tuple(args) not in self.overloads:
            raise TypingError(f"g.native(...) was built for {self._entry_types} and takes only those types; "
                              f"from njit code, call g.compiled_for(...) (no checks) instead")
        return super().compile(sig)


def _by_name(owner, params: list):
    """The call of another signature, for the object this dispatcher serves (not another of its token: a
    call changes the state of the object called, its last signature and derivations; helper-56)."""
    def call(*folded):
        # by name, an omitted parameter left out: the object fills defaults and names what is missing.
        # Parameters go in as data (`_call`), so that one named like a keyword of the call itself (`out`)
        # is the parameter, as it is in a positional call
        return owner._call((), {name: value for name, value in zip(params, folded)
                                if not isinstance(value, OmittedArg)})
    return call


def fallback(key, /, *args):
    """The full path of a gradient object this entry's module serves (its object-mode block's call): the
    module is shared by the objects of one function and options (`owner_token`), so it is the last of
    them made, whose result is the same (the compiled code knows no owner; the dispatcher's compile
    hook, `_by_name`, does)."""
    for ref in reversed(_OWNERS.get(key, [])):
        owner = ref()
        if owner is not None:
            return owner._call(args, {})
    from ..errors import InternalError           # the dispatcher keeps its owner alive: never expected
    raise InternalError("a native gradient entry has no gradient object")


def owner_token(owner) -> str:
    """What tells apart gradient objects whose derived modules are the same text: the function (its file,
    name and line) and what the object adds to the module at a call (parameter defaults, options)."""
    fn = owner.plain
    code = getattr(fn, "__code__", None)
    where = (getattr(code, "co_filename", ""), getattr(fn, "__qualname__", ""), getattr(code, "co_firstlineno", 0))
    return repr((where, sorted(owner.defaults.items(), key=repr), owner.wrt, owner.with_value, owner.single,
                 owner.verify, owner.simplify, owner.skip))


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


def _finite_scan(expression: str, numba_type, finite: str, value: str, pad: str) -> list[str]:
    """Statements and-ing into `finite` (a bool) that each number of `expression` (of this type) the
    gradient object's own check looks at is finite (`v - v == 0.0`: false for NaN and infinity).  An
    array is read in place, no temporary (`np.isfinite(a).all()` allocates one per call), with no
    chain of float additions between elements (LLVM vectorises the and), and not at all when longer
    than SCAN_LIMIT."""
    if numba_type == nbtypes.float64:
        return [f"{pad}{finite} &= {expression} - {expression} == 0.0"]
    if numba_type in (nbtypes.int64, nbtypes.boolean):
        return []
    if isinstance(numba_type, nbtypes.Array):
        if numba_type.dtype != nbtypes.float64:
            return []
        return [f"{pad}if {expression}.size <= {SCAN_LIMIT}:",
                f"{pad}    for {value} in {expression}.flat:",
                f"{pad}        {finite} &= {value} - {value} == 0.0"]
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
    adjoint, result, ok, out, finite, value = (fresh(n) for n in ("adjoint", "result", "ok", "out", "finite", "value"))
    nb, np_, fallback_ = (fresh(n) for n in ("numba", "np", "fallback"))
    argument_tests = [f"{p} - {p} == 0.0" for p, t in zip(params, arg_types) if t == nbtypes.float64]
    leaves = list(result_type.types) if isinstance(result_type, nbtypes.BaseTuple) else [result_type]
    paths = [f"{result}[{i}]" for i in range(len(leaves))] if isinstance(result_type, nbtypes.BaseTuple) \
        else [result]
    scans = [line for path, leaf in zip(paths, leaves)
             for line in _finite_scan(path, leaf, finite, value, "            ")]
    call = ", ".join(params)
    lines = [
        f'"""Native entry of {module_key}: the gradient object\'s checks and call in one Numba function."""',
        f"import numba{' as ' + nb if nb != 'numba' else ''}",
        f"import numpy{' as ' + np_}",
        "",
        f"from autodiff_compiler.backend.entry import fallback{' as ' + fallback_ if fallback_ != 'fallback' else ''}",
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
        f"        if {ok}:",
        f"            {finite} = True",
        *scans,
        f"            if {finite}:",
        f"                return {shaped.replace('result', result)}",
        "    # anything else: the gradient object's own path explains it (or returns what it returns)",
        f"    with {nb}.objmode({out}={declared!r}):",
        f"        {out} = {fallback_}({module_key!r}, {call})",
        f"    return {out}",
        "",
    ]
    return "\n".join(lines)


def native_entry(compiled, example_args: tuple, params: list, shaped: str, owner):
    """The native entry of `compiled` for the signature of `example_args`, serving `owner` (None: not
    covered).  One dispatcher per owner, which keeps its owner alive; its module is shared by the
    owners of one `owner_token` (and so is Numba's disk cache of it)."""
    from numba import typeof
    arg_types = tuple(typeof(a) for a in example_args)
    if tuple(arg_types) not in compiled.overloads:
        compiled.compile(arg_types)
    result_type = compiled.overloads[tuple(arg_types)].signature.return_type
    text = entry_text("{key}", params, arg_types, result_type, shaped)
    if text is None:
        return None
    # named after what it calls, how it is typed and whom it serves: its text (and Numba's cache) is its own
    source_key = f"{getattr(compiled, '__module__', '')}.{compiled.__name__}"
    digest = hashlib.sha256(f"{source_key}|{arg_types}|{shaped}|{owner_token(owner)}|{text}".encode())
    name = f"{compiled.__name__}_entry_{digest.hexdigest()[:16]}"
    text = unambiguous(entry_text(name, params, arg_types, result_type, shaped))
    path = write_module(text, name)
    module_name = f"{PACKAGE}.{os.path.basename(path)[:-3]}"
    module = sys.modules.get(module_name) or import_module(path, module_name)
    module.__dict__[_adjoint_name(params)] = compiled
    owners = _OWNERS.setdefault(name, [])
    owners[:] = [ref for ref in owners if ref() is not None and ref() is not owner] + [weakref.ref(owner)]
    dispatcher = EntryDispatcher(module.entry, targetoptions={"nopython": True})
    dispatcher._entry_key, dispatcher._entry_params, dispatcher._entry_types = name, list(params), arg_types
    dispatcher._owner = owner
    dispatcher.enable_caching()
    dispatcher.compile(arg_types)
    return dispatcher


def _adjoint_name(params: list) -> str:
    name = "adjoint"
    while name in params:
        name = "_" + name
    return name
