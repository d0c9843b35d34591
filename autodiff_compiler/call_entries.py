"""Call entries: the fast paths of a gradient object's signatures, as Python source compiled per signature.

Takes: the arguments and compiled gradient of a call the object's full path
(`api.GradientFunction.__call__`) has just served, that full path itself, and
the contract's shape of the result.  Guarantees (`make_entry`): a function
that, made the `__call__` of the object's own class, returns for a call in that
signature what the full path returns -- testing each argument's type inline
(NaN and infinite floats, the result's finiteness spelled for its structure)
and handing every other call, and every failure, to the full path; with
`native_after`, an entry of numbers counts its calls and asks the object to
promote it (`make_native_entry`: the builtin router of `backend/router.py` to
`backend/entry.py`'s native entry, or a frame around it) when the signature is
hot; `install` makes an entry the `__call__` of the object's own class, and
frees the entry it replaces only once no thread can find it there (threads
already in it hold it).  `locked`, `enter` and `promote`: the object's slow paths
under its lock, so that an entry's compiled code and the bindings it checks
always come from one derivation (see `api`'s thread guarantee).  Also the
finiteness checks the API shares (`_nonfinite`, `SCAN_LIMIT`).
"""
from __future__ import annotations

import functools
import logging
import math
from types import BuiltinFunctionType, MethodType

import numpy as np

from .errors import ShapesDiffer
from . import syntax

SCAN_LIMIT = 65536

LOG = logging.getLogger("autodiff_compiler")


_SCAN = None


def _scan():
    """The compiled test that every entry of a 1-d float array is finite, compiled at the first use: NumPy's
    per-call cost (`np.isfinite(a).all()` allocates) dominates small arrays."""
    global _SCAN
    if _SCAN is None:
        import numba

        from .backend.cache import cached_where_possible

        def all_finite(flat):
            # x - x is 0.0 for finite x and NaN otherwise; an `and` of comparisons needs no order of float
            # additions, so LLVM vectorises it (1,000 entries: 0.27 us, against 0.65 us for four sums of x * 0.0)
            finite = True
            for k in range(flat.shape[0]):
                finite &= flat[k] - flat[k] == 0.0
            return finite
        _SCAN = cached_where_possible(lambda cache: numba.njit(cache=cache)(all_finite))
    return _SCAN


def _all_finite(values) -> bool:
    """Are all entries of a float array finite?"""
    return _scan()(values.ravel())


def _nonfinite(value, limit: int | None = None) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and (limit is None or value.size <= limit):
        return not _all_finite(value)
    return False


def _fast_key(args) -> tuple:
    """The call signature as cheaply as Python allows: types, and dtype and rank for arrays."""
    return tuple((a.dtype.char, a.ndim) if type(a) is np.ndarray else type(a) for a in args)


_MISSING = object()     # a positional argument the call did not give (an entry's parameter default)

_NUMBERS = (bool, int, float)


def direct_call(dispatcher, args):
    """The compiled wrapper a Numba dispatcher calls for `args`, Python numbers all, or None.

    Numba's dispatcher spends about half of a scalar call (~60 ns of ~120) typing the arguments and
    choosing an overload; an entry that has already tested each argument's exact type (`type(a) is
    float`: Numba types every float as float64, every bool as boolean, every int as int64 -- or, beyond
    64 bits, as something this wrapper refuses with OverflowError, which the entries hand to the full
    path) knows the overload and may call its wrapper itself.  That wrapper is exactly what the
    dispatcher would call, with the same arguments.  Numbers only: an array's Numba type also depends
    on its layout, alignment and writability, which an inline test would have to repeat.  The entry
    keeps the dispatcher too, which keeps the wrapper's compiled code alive."""
    if not args or not all(type(a) in _NUMBERS for a in args):
        return None
    overloads = getattr(dispatcher, "overloads", None)
    if not overloads:
        return None
    import numba

    try:
        found = overloads.get(tuple(numba.typeof(a) for a in args))
    except Exception:       # noqa: BLE001 -- an argument Numba cannot type: the dispatcher says so
        return None
    return getattr(found, "entry_point", None)


def _finite_result_test(result) -> tuple[str, str]:
    """(statement, test): the test that a result of the compiled program is finite, as `_finite` has it,
    spelled for this result's structure (fixed for a signature): a tuple is unpacked and each item
    tested inline, which costs a third of calling `_finite` on it; a float64 array by `_array_test`."""
    if type(result) is float:
        return "", "result - result == 0.0"
    if _is_float_array(result):
        return "", _array_test("result", result.ndim)
    if type(result) is tuple and result and all(type(item) is float or _is_float_array(item) for item in result):
        leaves = [f"r{i}" for i in range(len(result))]
        tests = [f"{leaf} - {leaf} == 0.0" if type(item) is float else _array_test(leaf, item.ndim)
                 for leaf, item in zip(leaves, result)]
        return f"{', '.join(leaves)}, = result", " and ".join(tests)
    return "", "finite(result)"


def _is_float_array(value) -> bool:
    return type(value) is np.ndarray and value.dtype == np.float64


def _array_test(name: str, ndim: int) -> str:
    """A float64 array `name` (of `ndim` axes) is finite, or too long to scan (SCAN_LIMIT, as `_finite`):
    the compiled scan called directly, without `_finite`'s three Python frames (1,000 entries: 0.3 us
    against 1.0 us)."""
    flat = name if ndim == 1 else f"{name}.ravel()"
    return f"({name}.size > SCAN_LIMIT or scan({flat}))"


def _binding_tests(bindings) -> tuple[list, dict]:
    """(tests, namespace): each binding of the derivation (`frontend.bindings`) read again inline, as its
    kind says, and compared by identity with the object the derivation used."""
    from .frontend.bindings import ATTRIBUTE, DEFAULTS, IN_CELL
    tests, namespace = [], {}
    for i, binding in enumerate(bindings):
        namespace.update({f"S{i}": binding.scope, f"K{i}": binding.key, f"E{i}": binding.expected})
        read = {IN_CELL: f"S{i}.cell_contents", DEFAULTS: f"S{i}.__defaults__",
                ATTRIBUTE: f"getattr(S{i}, K{i}, MISSING)"}.get(binding.kind, f"S{i}.get(K{i}, MISSING)")
        tests.append(f"{read} is E{i}")
    return tests, namespace


def guards_of(bindings) -> tuple:
    """The bindings as the router's closure holds them (`backend/router.py`'s `_bindings_hold`): () for
    none, else those in module dicts (dict, key, expected, flat), the others (kind, scope, key,
    expected, flat) and the kinds with None."""
    from .frontend.bindings import IN_DICT, KINDS
    if not bindings:
        return ()
    in_dicts = tuple(item for b in bindings if b.kind is IN_DICT for item in (b.scope, b.key, b.expected))
    others = tuple(item for b in bindings if b.kind is not IN_DICT for item in (b.kind, b.scope, b.key, b.expected))
    return in_dicts, others, KINDS + (None,)


def make_entry(args, compiled, gradient, full, shaped: str = "result", result=None, native_after: int = 0,
               bindings=()):
    """The fast path of one signature (that of `args`), made to be the `__call__` of the gradient object's
    own class (`GradientFunction._install`), so that a call in that signature runs one Python frame: it
    tests each positional argument's type inline (as `_fast_key` tells them apart; a float also for NaN
    and infinity), calls the compiled code and returns its result when it is finite, in the contract's
    shape (`shaped`, an expression of `result`) -- else what the full path returns (`_finish` explains
    non-finite results).  Any other call (keywords, `out=`, another signature, fewer or more arguments)
    goes to the full path, `GradientFunction.__call__`, with the arguments as given.  `result`, what the
    compiled code returned for `args`, says how its finiteness is tested (`_finite_result_test`).
    `bindings`: where the derivation found the functions it used (`frontend.bindings`): a call when one
    is another object now goes to the full path, which derives again."""
    router = _checked_router(args, compiled, gradient, full, shaped, result, bindings)
    if router is not None:
        return router
    names = [f"a{i}" for i in range(len(args))]
    tests = []
    for name, value in zip(names, args):
        if type(value) is np.ndarray:
            # a big-endian float64 array has the char 'd' too: the compiled code takes only native ones
            tests.append(f"type({name}) is ndarray and {name}.ndim == {value.ndim} "
                         f"and {name}.dtype.char == {value.dtype.char!r} and {name}.dtype.isnative")
        elif type(value) is float:
            # NaN or infinity: the full path says which argument
            tests.append(f"type({name}) is float and {name} - {name} == 0.0")
        else:
            tests.append(f"type({name}) is {type(value).__name__}")
    held, bound = _binding_tests(bindings)
    tests += held
    given = "".join(f"{name}, " for name in names)
    parameters = f"self, {''.join(f'{name}=MISSING, ' for name in names)}/, *rest, **kwargs" if names \
        else "self, *rest, **kwargs"
    statement, test = _finite_result_test(result) if result is not None else ("", "finite(result)")
    unpack = f"        {statement}\n" if statement else ""
    # a signature of numbers and float64/int64 arrays (what `native` covers) counts its calls: at
    # NATIVE_AFTER the object asks for its native entry
    counted = bool(names) and native_after > 0 and all(
        type(a) in (bool, int, float) or type(a) is np.ndarray and a.ndim and a.dtype.char in "dl" for a in args)
    count = (f"            left[0] -= 1\n"
             f"            if left[0] == 0:\n"
             f"                self._promote(({given}))\n") if counted else ""
    # numbers of tested types: the overload is known, its wrapper is called without the dispatcher
    wrapper = direct_call(compiled, args)
    call = "wrapper" if wrapper is not None else "compiled"
    source = (f"def __call__({parameters}):\n"
              f"    if not rest and not kwargs and {' and '.join(tests) or 'True'}:\n"
              f"        try:\n"
              f"            result = {call}({given})\n"
              f"        except OverflowError:\n"
              f"            return full(self, {given})     # an int beyond 64 bits: the full path names it\n"
              f"        except ShapesDiffer:\n"
              f"            return full(self, {given})     # arrays whose axes agree otherwise: derived anew\n"
              f"        except Exception as exc:\n"
              f"            result = self._recover(exc, None, ({given}))\n"
              f"{unpack}"
              f"        if {test}:\n"
              f"{count}"
              f"            return {shaped}\n"
              f"        return self._finish(result, ({given}), None)\n"
              f"    return full(self, *[a for a in ({given}) if a is not MISSING], *rest, **kwargs)\n")
    namespace = {"MISSING": _MISSING, "ndarray": np.ndarray, "compiled": compiled, "full": full,
                 "wrapper": wrapper,
                 "ShapesDiffer": ShapesDiffer,
                 "finite": gradient._finite, "float": float, "int": int, "bool": bool, "getattr": getattr,
                 "nonfinite": _nonfinite, "SCAN_LIMIT": SCAN_LIMIT, "left": [native_after],
                 "scan": _scan(), **bound}
    exec(syntax.compile_code(source, f"<fast path of {gradient.fn.__name__}>", "exec"), namespace)
    entry = namespace["__call__"]
    entry.__doc__ = full.__doc__
    return entry


def _checked_router(args, compiled, gradient, full, shaped: str, result, bindings=()):
    """For a signature of Python numbers whose compiled program returns a float or a tuple of them, as the
    contract shapes it: a builtin router (`backend/router.py`, `checked=`) to the program's compiled
    wrapper, which does what the counted frame below does, in C: each argument's exact type, and a NaN
    or infinite float, any exception and a non-finite result to the full path, which names the argument,
    explains the error or reruns the gradient carefully (`failures.careful_gradient`).  From the second call on, ~95 ns a call instead of ~250 ns for the frame (a bare Numba call of
    a hand-written gradient: ~115 ns), with no compile per signature (the route is one cfunc, cached
    by Numba).  Such a signature is never promoted: the native entry would check the same in compiled
    code.  The router shapes the result as the contract does (`shaped`: `(value, (gradients...))` of
    `value_and_grad` with several wrt, a tuple of one gradient for a one-name tuple wrt).  None where it
    does not apply or cannot be built."""
    from .backend import router
    shape = {"result": router.AS_IS, "(result,)": router.IN_A_TUPLE,
             "(result[0], result[1:])": router.VALUE_AND_REST}.get(shaped)
    if shape is None or not args or not all(type(a) in _NUMBERS for a in args):
        return None
    floats = type(result) is tuple and result and all(type(v) is float for v in result)
    takes = {router.AS_IS: type(result) is float or floats, router.IN_A_TUPLE: type(result) is float,
             router.VALUE_AND_REST: floats and len(result) >= 2}
    if not takes[shape]:
        return None
    wrapper = direct_call(compiled, args)
    if wrapper is None:
        return None
    try:
        return router.make_router(wrapper, tuple(map(type, args)), MethodType(full, gradient), full.__doc__,
                                  keep=compiled, checked=shape, floats=len(result) if floats else 0,
                                  guards=guards_of(bindings))
    except Exception as exc:        # noqa: BLE001 -- the frame does the same, ~150 ns slower
        LOG.debug("no router for %s: %s: %s", getattr(gradient.fn, "__name__", gradient), type(exc).__name__, exc)
        return None


def make_native_entry(args, native, full, owner=None, bindings=()):
    """The entry of a signature of numbers and arrays once it is hot.  Given the gradient object (`owner`), a
    builtin made by `backend/router.py`, which does what the frame below does and runs no Python code on
    the way to the compiled wrapper (it saves ~100 ns a call); when that cannot be built, and without
    `owner`, the frame.

    The frame: one Python frame around its native entry
    (`backend/entry.py`), which checks and calls as the counted entry did, in compiled code, and hands
    everything else to the full path.  A call with keywords, `out=`, or more or fewer arguments goes to
    the full path directly, as the counted entry's did.  A signature of Python numbers tests each
    argument's exact type inline and calls the native entry's compiled wrapper itself (`direct_call`):
    what it would cost through Numba's dispatcher, less the dispatcher's typing of the arguments --
    which pays for the frame; a call of other types goes to the full path, as the dispatcher's compile
    hook would send it.  `bindings`, as `make_entry`'s: the router and the frame check them before the call."""
    wrapper = direct_call(native, args)
    if owner is not None:
        from .backend.router import make_router
        try:
            # each argument of its exact type, arrays too: Numba types an ndarray subclass (a masked
            # array) as a plain array, which the full path refuses
            return make_router(native if wrapper is None else wrapper, tuple(map(type, args)),
                               MethodType(full, owner), full.__doc__, keep=native, guards=guards_of(bindings))
        except Exception as exc:        # noqa: BLE001 -- the frame does the same, ~100 ns slower
            LOG.debug("no router for %s: %s: %s", getattr(owner.fn, "__name__", owner), type(exc).__name__, exc)
    names = [f"a{i}" for i in range(len(args))]
    given = "".join(f"{name}, " for name in names)
    # each argument of its exact type (an ndarray subclass, which Numba types as a plain array, goes to
    # the full path, which refuses it)
    held, bound = _binding_tests(bindings)
    test = " and ".join([f"type({name}) is T{i}" for i, name in enumerate(names)] + held)
    call = "native" if wrapper is None else "wrapper"
    source = (f"def __call__(self, {''.join(f'{name}=MISSING, ' for name in names)}/, *rest, **kwargs):\n"
              f"    if not rest and not kwargs and {test}:\n"
              f"        try:\n"
              f"            return {call}({given})\n"
              f"        except OverflowError:\n"
              f"            pass        # an int beyond 64 bits, refused by Numba's typing: the object says so\n"
              f"    return full(self, *[a for a in ({given}) if a is not MISSING], *rest, **kwargs)\n")
    namespace = {"MISSING": _MISSING, "native": native, "full": full, "wrapper": wrapper, "getattr": getattr,
                 **{f"T{i}": type(value) for i, value in enumerate(args)}, **bound}
    exec(syntax.compile_code(source, "<native path>", "exec"), namespace)
    entry = namespace["__call__"]
    entry.__doc__ = full.__doc__
    return entry


def is_native_entry(entry) -> bool:
    """Is `entry` (an object's installed `__call__`) a hot signature's entry: a router to a native entry (not
    a checked router, `_checked_router`) or the native frame?"""
    if isinstance(entry, BuiltinFunctionType):
        from .backend.router import checks
        return not checks(entry)
    return getattr(getattr(entry, "__code__", None), "co_filename", None) == "<native path>"


def locked(method):
    """`method` run holding its object's lock (`DerivedFunction._lock`, reentrant): the slow paths --
    derive, compile, build and install an entry, promote, forget -- one thread at a time per object, so
    that a compiled program, the derivation it came from and the entries made of them are one
    generation (`_forget` cannot clear them between the two).  No entry takes it: a call through an
    installed entry, a router's above all, costs what it cost."""
    @functools.wraps(method)
    def holding(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return holding


def enter(gradient, args, compiled, state, key, result, full, native_after: int) -> None:
    """After the full path has served a call of plain numbers and float64/int64 arrays with `compiled` (of
    the derivation `state`, `key` in `_compiled`): make the signature's entry, once per signature
    (compiling its source costs ~0.2 ms; `_forget` drops them), and install it.  Not when the object
    has forgotten that program since (another thread's `_forget`, a helper rebound): an entry of it would
    only hand every call to the full path, its bindings' checks failing."""
    with gradient._lock:
        if gradient._compiled.get(key) is not compiled:
            return
        fast = gradient._entry_key(args)
        entry = gradient._fast.get(fast)
        if entry is None:
            entry = gradient._fast[fast] = make_entry(args, compiled, gradient, full, gradient._shaped(), result,
                                                      native_after, state.facts.bindings)
        gradient._install(entry)


def promote(gradient, args, full) -> None:
    """`GradientFunction._promote`: the native entry of the signature of `args`, installed, with the
    bindings of the very derivation it runs (one `_prepare`: a helper rebound in between would otherwise
    give a router that checks one helper and runs the other's code).  If it cannot be built, the entry
    stays as it is: nothing but speed depends on it."""
    with gradient._lock:
        key = gradient._entry_key(args)
        try:
            native, state = gradient._native(args)
            entry = make_native_entry(args, native, full, gradient, state.facts.bindings)
        except Exception as exc:        # noqa: BLE001 -- a missed speed-up, never a failed call
            LOG.debug("no native entry for %s%s: %s: %s", gradient.fn.__name__, key, type(exc).__name__, exc)
            return
        gradient._fast[key] = entry
        gradient._install(entry)


def install(owner, entry) -> None:
    """Make `entry` (a `make_entry` function, a native entry; None: the class's own full path) the `__call__`
    of `owner`'s own class.  Python looks `__call__` up on the class, and an entry called as the object's
    `__call__` saves the frame a dispatch from the class's method would cost: on a scalar gradient, most
    of what a call from Python costs beyond the compiled code.  The own class is made at the first entry
    (`_public_class` names the one the object was made as: pickling and tokens use that).

    The entry replaced is released only once the class has been updated (`replaced`, below): CPython
    (3.11 at least) drops a class attribute's old value before it invalidates its type cache, so when
    that drop frees the entry (its router, dispatcher, LLVM modules) and a finaliser on the way
    releases the GIL (llvmlite's do, around each LLVM call), another thread calling the object found
    the freed entry in the cache and crashed (SIGSEGV).  A thread already inside the old entry holds a
    reference to it, and through it to what it runs: that is freed only after its call returns."""
    cls = type(owner)
    replaced = cls.__dict__.get("__call__")     # alive until the class no longer has it
    if "_public_class" not in cls.__dict__:
        if entry is None:
            return
        cls = type(cls.__name__, (cls,), {"_public_class": cls, "__module__": cls.__module__,
                                          "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})
        owner.__class__ = cls
    if entry is not None:
        cls.__call__ = entry
        if isinstance(entry, BuiltinFunctionType) and "__call__" not in owner.__dict__:
            # a router binds no `self`: `g.__call__` stays a method of the object (its `__self__`, a
            # WeakMethod of it, pickling it), which calls the object as `g(...)` does, entries included
            owner.__call__ = MethodType(_call_object, owner)
    else:
        try:
            del cls.__call__
        except AttributeError:      # not there (another thread's `_forget` came first)
            pass
    del replaced                    # the class updated: the entry it had may be freed now


def _call_object(self, /, *args, **kwargs):
    """`g.__call__(...)` of an object whose class's `__call__` is a router: the object called, through
    whatever entry its class has now."""
    return self(*args, **kwargs)


_call_object.__name__ = "__call__"      # a bound method pickles as getattr(obj, name): the object's `__call__`
