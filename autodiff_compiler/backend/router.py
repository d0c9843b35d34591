"""Router: a signature's `__call__` as a C function, so that a call from Python runs no Python frame.

Takes: the callable that serves a hot signature (a native entry's compiled wrapper
for a signature of numbers, else the native entry's dispatcher: `backend/entry.py`),
or, for a signature of numbers from its second call, the derived program's own
compiled wrapper (a checked router: `call_entries._checked_router`); the example
arguments' exact types, and the gradient object's full path bound to the object.

Guarantees (`make_router`): a builtin function that, made the `__call__` of the
object's own class (builtins bind no `self`, so Python calls it with the call's
arguments as given), does what `call_entries.make_native_entry`'s frame does --
and returns the same result or raises the same exception:

* exactly as many positional arguments as the signature, no keywords, and each
  argument of its example's exact type: `fast(*args)`;
* anything else -- keywords (`out=` among them), more or fewer arguments, another
  type, a function the derivation used that is another object now (`guards`:
  a rebound helper, `ACT = np.sin`, new `__defaults__`; the full path derives
  again) -- the full path with the arguments as given;
* an `OverflowError` out of `fast` (an int beyond 64 bits, which Numba refuses to
  unbox; or an overflow the gradient itself raises, which the full path explains):
  the full path with the same arguments, as the frame's `except OverflowError`;
* a checked router also sends a NaN or infinite float argument, any exception
  out of `fast` and a result that is not finite to the full path, as the counted
  frame of `call_entries.make_entry` does, and shapes the result as the contract
  says (`_shaped`).

Threads: the route runs holding the GIL and borrows only what the builtin's
closure and the call's arguments hold; the builtin itself is held by its caller
for the call (CPython's `tp_call` takes a reference to the `__call__` it found),
so a router replaced or forgotten while other threads run it is freed when the
last of their calls returns -- `call_entries.install` frees the one it replaces
only once the class no longer hands it out.

What a builtin cannot do is bind: `type(g).__call__(g, x)` hands the object on as
an argument (the full path names that; the frame took it), `g.__call__` would not
be a method of `g` (the object keeps one in its own `__dict__`, which calls the
object: `call_entries.install`), and `type(g).__call__` shows itself as a method of
its closure tuple.

Why: a Python frame around the compiled call costs ~100 ns on this machine, most
of a scalar gradient's call (the compiled wrapper itself ~50 ns, a bare Numba
dispatcher ~115 ns); the C function costs ~15 ns.  It is one `cfunc` for every
router (cached on disk by Numba), reading its callables from the closure the
builtin carries (`m_self`): it calls only the C API functions declared below, by
name, as Numba's own wrappers do.  When it cannot be built (a Python whose C API
symbols the JIT cannot resolve: each is looked up before compiling, since an
unresolved one would compile and crash at the first call), `make_router` raises
and the frame stays.
"""
from __future__ import annotations

import ctypes
import threading

from numba import cfunc, njit, types
from numba.extending import intrinsic

from .cache import cached_where_possible

_ROUTE = None           # the cfunc, compiled (or loaded from Numba's cache) at the first router; or why not
_METHOD_DEF = None      # the PyMethodDef every router shares: it must outlive them, so it lives here
_BUILDING = threading.Lock()


class _PyMethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_METH_VARARGS_KEYWORDS = 0x0001 | 0x0002    # called as meth(closure, args tuple, kwargs dict or NULL)

# the closure's items, by position (a tuple: `PyTuple_GetItem` reads it without a reference count)
_FAST, _FULL, _EXPECTED, _OVERFLOW, _METHOD, _KEEP, _CHECKED, _GUARDS = range(8)
# where CPython lays out a tuple's items (`PyTupleObject.ob_item`), read in place by `_item`
_ITEMS, _ITEM_SIZE = tuple.__basicsize__, tuple.__itemsize__
# `_CHECKED` of a router that checks (`make_router(..., checked=...)`): the type whose values it tests, and
# one word: the shape of its result (`AS_IS`...) plus 4 times the number of floats in the tuple the compiled
# program returns (0: it returns one float) -- read once a call, both told by arithmetic
_FLOAT, _SHAPE = range(2)


# The C API functions the route calls, by name (resolved in this process, as Numba's own wrappers resolve
# theirs).  Every PyObject* is an integer: Numba has no type for it, and the ABI is the same.  Module
# globals, not a closure's cells: Numba's disk cache keys a function by its cells, and these pickle to
# other bytes in every process (helper-56: the cache never hit, and grew a file per process).
_WORD = types.intp
tuple_size = types.ExternalFunction("PyTuple_Size", _WORD(_WORD))
tuple_item = types.ExternalFunction("PyTuple_GetItem", _WORD(_WORD, _WORD))      # borrowed
dict_size = types.ExternalFunction("PyDict_Size", _WORD(_WORD))
type_of = types.ExternalFunction("PyObject_Type", _WORD(_WORD))                 # new reference
decref = types.ExternalFunction("Py_DecRef", types.void(_WORD))
call = types.ExternalFunction("PyObject_Call", _WORD(_WORD, _WORD, _WORD))      # new reference, 0: raised
raised = types.ExternalFunction("PyErr_ExceptionMatches", types.int32(_WORD))
clear = types.ExternalFunction("PyErr_Clear", types.void())
as_double = types.ExternalFunction("PyFloat_AsDouble", types.float64(_WORD))    # of an exact float: no error
as_word = types.ExternalFunction("PyLong_AsSsize_t", _WORD(_WORD))              # of a small int: no error
incref = types.ExternalFunction("Py_IncRef", types.void(_WORD))
new_tuple = types.ExternalFunction("PyTuple_New", _WORD(_WORD))                  # new reference, 0: raised
set_item = types.ExternalFunction("PyTuple_SetItem", types.int32(_WORD, _WORD, _WORD))   # steals the item
tuple_slice = types.ExternalFunction("PyTuple_GetSlice", _WORD(_WORD, _WORD, _WORD))     # new, 0: raised
dict_item = types.ExternalFunction("PyDict_GetItemWithError", _WORD(_WORD, _WORD))   # borrowed, 0: absent
cell_get = types.ExternalFunction("PyCell_Get", _WORD(_WORD))                   # new reference, 0: empty
get_attr = types.ExternalFunction("PyObject_GetAttr", _WORD(_WORD, _WORD))      # new reference, 0: raised
defaults_of = types.ExternalFunction("PyFunction_GetDefaults", _WORD(_WORD))    # borrowed, 0: none
_C_API = (tuple_size, tuple_item, dict_size, type_of, decref, call, raised, clear, as_double, as_word, incref,
          new_tuple, set_item, tuple_slice, dict_item, cell_get, get_attr, defaults_of)

# `_CHECKED`'s second item: how the contract shapes the compiled program's result (`call_entries`' `shaped`)
AS_IS, IN_A_TUPLE, VALUE_AND_REST = range(3)        # result, (result,), (result[0], result[1:])


@njit(inline="always")
def _finite_number(value, checked) -> bool:
    """Is `value` a float that is finite, or no float (`checked`: the closure's `_CHECKED`)?"""
    kind = type_of(value)
    decref(kind)                                    # `float`, if it is: held by `checked`
    if kind != tuple_item(checked, _FLOAT):
        return True
    number = as_double(value)
    return number - number == 0.0


@njit(inline="always")
def _finite_result(result, floats) -> bool:
    """Is the compiled program's result finite: one float (`floats` 0), or a tuple of `floats` floats (the
    signature fixes which; no type is tested: a call of a C function costs ~2 ns, a third of this check)?"""
    if floats == 0:
        number = as_double(result)
        return number - number == 0.0
    for i in range(floats):
        number = as_double(tuple_item(result, i))
        if number - number != 0.0:
            return False
    return True


@njit(inline="always")
def _shaped(result, shape):
    """`result` (a reference the caller owns, handed over) as the contract shapes it (`AS_IS`...); 0 with
    the exception set where Python could not allocate the tuple."""
    if shape == AS_IS:
        return result
    out = new_tuple(1 if shape == IN_A_TUPLE else 2)
    if out == 0:
        decref(result)
        return 0
    if shape == IN_A_TUPLE:
        set_item(out, 0, result)
        return out
    first = tuple_item(result, 0)
    incref(first)
    rest = tuple_slice(result, 1, tuple_size(result))
    decref(result)
    if rest == 0:
        decref(first)
        decref(out)
        return 0
    set_item(out, 0, first)
    set_item(out, 1, rest)
    return out


@intrinsic
def _word_at(typingctx, address):
    """The word at `address`: a tuple's item read in place (`_item`), without a call."""
    def codegen(context, builder, signature, args):
        word = context.get_value_type(_WORD)
        return builder.load(builder.inttoptr(args[0], word.as_pointer()))
    return _WORD(_WORD), codegen


@njit(inline="always")
def _item(tuple_, i):
    """`PyTuple_GET_ITEM`: item `i` of a tuple (borrowed), where CPython lays it out (`_ITEMS`)."""
    return _word_at(tuple_ + _ITEMS + _ITEM_SIZE * i)


@njit(inline="always")
def _bindings_hold(guards) -> bool:
    """Is each object the derivation used as code still where it found it?  `guards` (`_GUARDS`, not
    empty): the bindings in module dicts, three items each (dict, key, expected); the others, four
    each (kind, scope, key, expected); and their kinds and None, as `frontend.bindings` has them.
    Identity: a pointer compared; a new reference is given back before (the expected object is held by
    the closure, so an equal pointer is that object's)."""
    in_dicts = _item(guards, 0)
    for i in range(0, tuple_size(in_dicts), 3):
        if dict_item(_item(in_dicts, i), _item(in_dicts, i + 1)) != _item(in_dicts, i + 2):
            return False            # another object, or none (an exception only hashing could raise: none)
    others = _item(guards, 1)
    kinds = _item(guards, 2)
    for i in range(0, tuple_size(others), 4):
        kind = _item(others, i)
        scope = _item(others, i + 1)
        if kind == _item(kinds, 3):                             # DEFAULTS: None where it has none
            now = defaults_of(scope)
            if now == 0:
                now = _item(kinds, 4)
        else:                                                   # IN_CELL, ATTRIBUTE
            now = cell_get(scope) if kind == _item(kinds, 1) else get_attr(scope, _item(others, i + 2))
            if now == 0:
                clear()
                return False
            decref(now)
        if now != _item(others, i + 3):
            return False
    return True


def route(closure, args, kwargs):
    """The builtin's C function (compiled by `_compile_route`): `meth(m_self, args, kwargs)`."""
    full = tuple_item(closure, _FULL)
    if kwargs != 0 and dict_size(kwargs) != 0:
        return call(full, args, kwargs)
    count = tuple_size(args)
    expected = tuple_item(closure, _EXPECTED)
    if count != tuple_size(expected):
        return call(full, args, kwargs)
    guards = tuple_item(closure, _GUARDS)
    if tuple_size(guards) != 0 and not _bindings_hold(guards):
        return call(full, args, kwargs)             # a function it calls was rebound: derived again
    checked = tuple_item(closure, _CHECKED)
    checks = tuple_size(checked) != 0
    for i in range(count):
        kind = type_of(tuple_item(args, i))
        decref(kind)                                # a type the tuple `expected` holds: kept alive there
        if kind != tuple_item(expected, i):
            return call(full, args, kwargs)
        if checks and not _finite_number(tuple_item(args, i), checked):
            return call(full, args, kwargs)         # NaN or infinity: the full path names the argument
    result = call(tuple_item(closure, _FAST), args, 0)
    if result == 0:
        if checks or raised(tuple_item(closure, _OVERFLOW)) != 0:
            clear()
            return call(full, args, kwargs)
        return result
    if checks:
        word = as_word(tuple_item(checked, _SHAPE))
        if not _finite_result(result, word // 4):
            decref(result)
            return call(full, args, kwargs)         # its careful rerun (`failures.careful_gradient`)
        return _shaped(result, word % 4)
    return result


def _compile_route():
    """The route, compiled (or loaded from Numba's disk cache), once each C API name it calls is found in
    this process: a name the JIT cannot resolve compiles and then crashes at the first call (helper-57)."""
    from llvmlite import binding
    from numba.core.registry import cpu_target

    cpu_target.target_context       # Numba's JIT set up: the symbols it resolves are then the ones it sees
    missing = [f.symbol for f in _C_API if not binding.address_of_symbol(f.symbol)]
    if missing:
        raise RuntimeError(f"the C API functions {', '.join(missing)} are not visible to the JIT here")
    # one compiled at NUMBA_OPT=0 (the test suite's) would serve later processes, 10 ns a call slower
    return cached_where_possible(lambda cache: cfunc(_WORD(_WORD, _WORD, _WORD), cache=cache)(route))


# `PyCFunction_NewEx` with its own prototype: setting `ctypes.pythonapi`'s would change it for every library
_NEW_FUNCTION = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.POINTER(_PyMethodDef), ctypes.py_object,
                                  ctypes.py_object)(("PyCFunction_NewEx", ctypes.pythonapi))


def checks(router) -> bool:
    """Is `router` (a builtin `make_router` made) a checked one?"""
    return bool(router.__self__[_CHECKED])


def make_router(fast, expected_types: tuple, full_bound, doc: str | None, keep=None, checked: int | None = None,
                floats: int = 0, guards: tuple = ()):
    """The builtin `__call__` described in the module docstring: one positional argument per type in
    `expected_types`, each of exactly that type, go to `fast`; every other call to `full_bound`.  `keep`: what
    `fast` needs alive (the dispatcher whose compiled code a wrapper runs), held by the builtin.  `checked`:
    if not None, `fast` checks nothing (a derived program's compiled wrapper, of numbers), so the router
    does what the counted entry does around it: a NaN or infinite float argument and any exception out of
    `fast` go to the full path, which names the argument or explains the error, and the result is shaped
    as `checked` says (`AS_IS`, `IN_A_TUPLE`, `VALUE_AND_REST`).  A non-finite result goes to the full path
    too, whose careful rerun may have the gradient (`failures.careful_gradient`): `fast` returns one float
    (`floats` 0) or a tuple of `floats` floats.  `guards`: the bindings of the derivation `fast` runs
    (`call_entries.guards_of`: kind, scope, key, expected object, flat): while one is another object,
    every call goes to `full_bound`, which derives again."""
    global _ROUTE, _METHOD_DEF
    with _BUILDING:     # one PyMethodDef at a time (each builtin also holds its own: see the closure)
        if isinstance(_ROUTE, str):
            # it could not be built in this process: not tried again per signature.  A new exception each
            # time: one kept and raised again would gather every caller's frame in its traceback, and keep
            # their gradient objects alive (helper-56)
            raise RuntimeError(_ROUTE)
        if _METHOD_DEF is None:
            try:
                _ROUTE = _compile_route()
            except Exception as exc:    # noqa: BLE001 -- the caller keeps its frame
                _ROUTE = f"no router in this process: {type(exc).__name__}: {exc}"
                raise RuntimeError(_ROUTE) from None
            _METHOD_DEF = _PyMethodDef(b"__call__", _ROUTE.address, _METH_VARARGS_KEYWORDS,
                                       (doc or "").encode())
        method_def = _METHOD_DEF
    # the builtin points at its PyMethodDef without owning it: the closure holds it, so that rebinding
    # `_METHOD_DEF` (a reload of this module, a test) cannot free it under a live builtin
    closure = (fast, full_bound, tuple(expected_types), OverflowError, method_def, keep,
               () if checked is None else (float, checked + 4 * floats), tuple(guards))
    return _NEW_FUNCTION(ctypes.byref(method_def), closure, None)
