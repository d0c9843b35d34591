"""API: `grad`, `value_and_grad`, `stop_gradient`, `no_grad` -- the public contract.

Takes: a Python function (plain, or already decorated), `wrt` as names or
indices, and options `jit`, `verify`, `simplify`.  Guarantees:

* one compiled gradient per argument signature (types and array ranks, as
  Numba specialises), derived on the first call with that signature;
* a single `wrt` (int or name) gives one gradient, a tuple gives a tuple;
  array gradients have their parameter's shape;
* argument count, types, integer `wrt`, and NaN/inf arguments are checked and
  reported as `ArgumentError`s that say what to pass instead, never as a
  Numba typing traceback;
* `verify=True` proves each new signature's gradient against SymPy before
  returning anything (`VerificationError` otherwise);
* gradient objects pickle, options included, and have deterministic Dask
  tokens (`pickling.py`);
* `g.math()` / `g.latex()` give each partial derivative as a formula in the
  user's names (`verify.formula`), and in Jupyter a gradient shows that formula
  and its generated code (`_repr_markdown_`);
* a first call that compiles for more than `SLOW_COMPILE` seconds logs what it
  compiles and how long it took (logger `autodiff_compiler`, INFO; shown on a
  terminal or in a notebook unless logging was configured otherwise);
* threads may call one object at once, also while a function it calls is rebound:
  no call crashes, each returns the gradient of the functions as bound at some
  moment of that call, and every call after the last rebinding the current ones';
  deriving, compiling, making, promoting and forgetting entries hold the object's
  lock (`call_entries.locked`); a call through an installed entry holds none.
"""
from __future__ import annotations

import functools
import inspect
import logging
import math
import numbers
import os
import sys
import threading
import time
from types import BuiltinFunctionType

import numpy as np

from .errors import (ArgumentError, AssertionFailedError, AutodiffError, InternalError,  # noqa: F401
                     NonFiniteInputError, UnboundNameError)
from .failures import careful_gradient, explain, failed_call, remember_given
from .ir import BOOL, FLOAT, INT, array_of
from .backend.load import llvm_level, load
from .python_errors import INT64_OVERFLOW
from .frontend.parse import fence, parameter_defaults, source_of_function
from .frontend.lower_frames import _at_path
from .frontend.bindings import current, unchanged as _unchanged  # noqa: F401 (derivatives.py's too)
from .custom import custom_derivative  # noqa: F401  (public, re-exported)
from .pipeline import derive
from .ir.shapes import dims_of_arguments, guard_conditions
from .ir.numbers import int_parameter_uses
from .call_entries import (SCAN_LIMIT, _MISSING, _fast_key, _nonfinite, enter, install, locked,  # noqa: F401
                           promote)
from .frontend import pytrees
from .frontend.pytrees import leaf_count as _leaf_count, rebuild as _rebuild  # noqa: F401 (derivatives.py's too)


LOG = logging.getLogger("autodiff_compiler")
SLOW_COMPILE = 1.0        # seconds: a first call compiling longer than this is logged


class _TerminalHandler(logging.StreamHandler):
    """The package's own messages on stderr when nobody configured logging and someone is watching
    (a terminal, or a Jupyter/IPython kernel); otherwise records go only where the user sends them."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("autodiff_compiler: %(message)s"))

    def emit(self, record):
        if logging.getLogger().handlers:
            return                   # the user configured logging: the record reaches their handlers
        stream = sys.stderr
        self.stream = stream
        watched = getattr(stream, "isatty", lambda: False)() or "ipykernel" in sys.modules
        if watched:
            super().emit(record)


if not any(isinstance(h, _TerminalHandler) for h in LOG.handlers):
    LOG.addHandler(_TerminalHandler())
    if LOG.level == logging.NOTSET:
        LOG.setLevel(logging.INFO)


def stop_gradient(x):
    """The value of `x`, with derivative zero (`x.detach()` in PyTorch)."""
    return x


stop_gradient.__autodiff_marker__ = "stop_gradient"


class no_grad:
    """`with no_grad():` inside a differentiated function: assignments in it carry no derivative."""
    __autodiff_marker__ = "no_grad"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_SCALAR_TYPES = {bool: BOOL, int: INT, float: FLOAT}
NATIVE_AFTER = 100_000    # calls of a signature of numbers (and arrays) before its entry becomes native (`_promote`)


def type_of_argument(value, name: str, fn_name: str):
    """The compiler's type for a call argument (a `TreeType` for tuples, lists and dicts of numbers and
    arrays), or an ArgumentError saying what to pass."""
    t = _SCALAR_TYPES.get(type(value))
    if t is not None:
        if type(value) is int and not -2 ** 63 <= value < 2 ** 63:
            raise ArgumentError(f"argument {name!r} of {fn_name} is {value}, beyond the 64-bit integers the "
                                f"compiled code computes with", hint="pass a float, or an int of at most 19 digits")
        return t

    def leaf(item, where):
        try:
            return pytrees.leaf_type(item, where)
        except ArgumentError as exc:
            message = exc.message if fn_name in exc.message else f"{exc.message} (an argument of {fn_name})"
            raise ArgumentError(message, hint=exc.hint) from None
    return pytrees.tree_type(value, leaf, f"argument {name!r} of {fn_name}" if not pytrees.is_container(value)
                             else name)


def _convert(value):
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value.item()
        if value.dtype.kind == "f" and value.dtype != np.float64:
            return value.astype(np.float64)
        if value.dtype.kind in "iu" and value.dtype != np.int64:
            return value.astype(np.int64)
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _refuse_numpy_ints(fn_name: str, state, given: list) -> None:
    """An ArgumentError for an argument whose conversion (`_convert`: NumPy's int numbers to Python's ints,
    int arrays of another width to int64 ones) would change what the function computes from it
    (`ir.numbers.int_parameter_uses`): NumPy's ints to a negative power raise; int arithmetic wraps at
    the array's own width; NumPy's functions of 8- and 16-bit ints are float16 and float32; a uint64
    beyond int64 has no int64."""
    if state.int_uses is None:
        state.int_uses = int_parameter_uses(state.primal)
    names = list(state.primal.params)
    for name, value in zip(names, given):
        uses = state.int_uses.get(name, frozenset())
        dtype = value.dtype if isinstance(value, (np.ndarray, np.generic)) else None
        if dtype is None or dtype.kind not in "iu":
            continue
        why = None
        if "power" in uses and (isinstance(value, np.generic) or value.ndim == 0 or dtype != np.int64):
            why = "NumPy's ints raised to a negative int power raise ValueError, where Python's give a float"
        elif "arithmetic" in uses and dtype != np.int64:
            why = f"NumPy computes its arithmetic in {dtype} (wrapping around at {8 * dtype.itemsize} bits)"
        elif "function" in uses and dtype.itemsize <= 2:
            why = f"NumPy's functions of {dtype} numbers are float{16 * dtype.itemsize} ones"
        elif dtype == np.uint64 and np.size(value) and int(np.max(value)) >= 2 ** 63:
            why = "its values are beyond the 64-bit signed ints the gradient computes with"
        if why is not None:
            raise ArgumentError(f"argument {name!r} of {fn_name} is NumPy's {dtype} "
                                f"{'array' if np.ndim(value) else 'number'}: {why}",
                                hint="pass Python's int (int(k)), an int64 array (v.astype(np.int64)) or floats: "
                                     "the gradient computes with those as Python and NumPy do")


# A scan for NaN/inf costs as much as a fast gradient on a large array: results larger than this are
# not scanned (scalars, and so every value, always are).
def _refuse_structures_in_regions(obj, types: tuple) -> None:
    """A derivative of a `grad` object (jvp(grad(f)), jacobian(grad(f)), grad(grad(f)), ...) reads the
    grad object's results one per wrt parameter: container parameters (one result per leaf there) and
    methods are refused with a clear error (before deriving) rather than read wrongly."""
    if not obj.regions:
        return
    containers = [name for name, t in zip(obj.all_params, types) if isinstance(t, pytrees.TreeType)]
    if containers or inspect.ismethod(obj.plain):
        what = f"container parameters ({', '.join(containers)})" if containers else "a method"
        raise ArgumentError(f"{obj.kind} of a derivative object of {obj.plain.__name__}, which takes {what}: "
                            f"derivatives of grad objects take numbers and arrays only",
                            filename=obj._source.filename, line=obj._source.node.lineno,
                            hint="differentiate the function itself (hessian(f), hvp(f), jacobian(f) take "
                                 "containers and methods), or pass the arrays as arguments")


def is_derivative(obj) -> bool:
    """Is `obj` a derivative object made by this package (grad, jvp, jacobian, ...)?"""
    return isinstance(obj, DerivedFunction)


class DerivedFunction:
    """What every derivative object shares: the function (or derivative object) it differentiates, the
    parameters and `wrt`, one derivation and one compiled program per argument signature, argument
    checks, pickling.  Subclasses say which derivation (`steps`) and how a call maps to the program."""

    kind = "derivative"

    def __init__(self, fn, wrt=0, *, jit=True, verify=False, simplify=True, skip=()):
        self.fn = fn
        self.jit = jit
        self.verify = verify
        self.simplify = simplify
        self.skip = tuple(skip)
        # a derivative object as `fn` (grad(grad(f)), hessian(grad(f))): the function is the innermost
        # plain one, wrapped in the derivatives between, innermost first
        regions, inner = [], fn
        while getattr(inner, "__autodiff_wrapped__", None) is not None:
            spec = inner.region_spec() if hasattr(inner, "region_spec") else None
            if spec is None:
                raise ArgumentError(
                    f"{self.kind} of {inner!r} is not supported",
                    hint="derivatives compose with grad and value_and_grad objects (without intermediates=, "
                         "accumulate= or has_aux=): differentiate the original function, e.g. hessian(f) "
                         "rather than jacobian(jacobian(f)), hvp(f) rather than jvp(hvp(f))")
            regions.append(spec)
            inner = inner.fn
        self.regions = tuple(reversed(regions))
        self.plain = inner
        self._source = source_of_function(inner)
        fence(self._source)        # unsupported syntax is reported here, not at the first call
        self.all_params = [a.arg for a in self._source.node.args.args]
        # a bound method: its object is read-only data of the derivative, passed as `self` at every call
        self.bound = fn.__self__ if inspect.ismethod(fn) else None
        if self.bound is not None and not self.all_params:
            raise ArgumentError(f"{fn.__name__} is a method without a self parameter")
        self.params = self.all_params[1:] if self.bound is not None else list(self.all_params)
        self._defaults_of = _MISSING      # the `__defaults__` that `defaults` was read from
        self.wrt, self.single = self._wrt_names(wrt)
        self._compiled: dict = {}
        self._compiled_states: dict = {}   # id(compiled function) -> its derivation (names a failed check)
        self._fast: dict = {}
        self._natives: dict = {}         # native() entries by argument kinds
        self._states: dict = {}
        self._careful_modules: dict = {}     # (signature, with_value) -> `failures.careful_gradient`'s module
        self._last_key = None
        self._last_dims = ()
        self._last_args = None
        self._derivation_seconds = 0.0
        self._lock = threading.RLock()       # the slow paths' (`call_entries.locked`), never an entry's
        # name, docstring and `__wrapped__` of the function; not its `__dict__` (a derivative object's own
        # state, or a @custom_derivative marker, would make this object something it is not)
        functools.update_wrapper(self, fn, updated=())
        self.__autodiff_wrapped__ = fn

    @property
    def defaults(self) -> dict:
        """Python evaluated the defaults when it ran the `def`: those values, not the source's names now
        (`def f(x, c=C0)` with C0 rebound since), where the function keeps them (helper-61) -- read again
        when its `__defaults__` is another tuple (set since)."""
        now = getattr(self.plain, "__defaults__", None)
        if now is not self._defaults_of:
            own = inspect.signature(self.plain).parameters if callable(self.plain) else {}
            # a default `__defaults__` no longer holds is gone: the parameter is required, as Python says
            self._defaults = {name: own[name].default if name in own and isinstance(own[name].default, (int, float, bool))
                              else value for name, value in parameter_defaults(self._source).items()
                              if name not in own or own[name].default is not inspect.Parameter.empty}
            self._defaults_of = now
        return self._defaults

    def _wrt_names(self, wrt):
        single = not isinstance(wrt, (tuple, list))
        items = [wrt] if single else list(wrt)
        if not items:
            raise ArgumentError("wrt is empty", hint="name at least one parameter")
        names = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise ArgumentError(f"wrt entries must be parameter names or indices, got {item!r}")
            if isinstance(item, int):
                if not -len(self.params) <= item < len(self.params):
                    raise ArgumentError(f"wrt={item} is out of range: {self.fn.__name__} has "
                                        f"{len(self.params)} parameter(s) ({', '.join(self.params)})")
                names.append(self.params[item])
            else:
                if item not in self.params:
                    raise ArgumentError(f"wrt={item!r} is not a parameter of {self.fn.__name__}",
                                        hint=f"its parameters are: {', '.join(self.params)}")
                names.append(item)
        if len(set(names)) != len(names):
            raise ArgumentError(f"wrt names a parameter twice: {names}")
        return names, single

    def complete(self, args: tuple, kwargs: dict) -> tuple:
        """Arguments in parameter order, with keywords and defaults filled in as Python does."""
        if len(args) > len(self.params):
            return args                      # signature() reports the count
        bound = dict(zip(self.params, args))
        for name, value in kwargs.items():
            if name not in self.params:
                raise ArgumentError(f"{self.fn.__name__}() has no parameter {name!r}",
                                    hint=f"its parameters: {', '.join(self.params)}")
            if name in bound:
                raise ArgumentError(f"{self.fn.__name__}() got two values for {name!r}")
            bound[name] = value
        for name, value in self.defaults.items():
            bound.setdefault(name, value)
        return tuple(bound[p] for p in self.params if p in bound)

    def signature(self, args) -> tuple:
        if len(args) != len(self.params):
            raise ArgumentError(f"{self.fn.__name__}() takes {len(self.params)} argument(s) "
                                f"({', '.join(self.params)}), got {len(args)}")
        return tuple(type_of_argument(a, name, self.fn.__name__) for a, name in zip(args, self.params))

    def _default_signature(self, strict: bool = False) -> tuple:
        """From annotations where present (float, int, bool, np.ndarray), else read from the body
        (`frontend.kinds`: subscripted, reduced, ... is an array; a range bound an int).  When the body
        cannot decide: the error with `strict`, else float."""
        from .frontend.kinds import infer_kinds
        annotations = getattr(self.fn, "__annotations__", {})
        known = {}
        for name in self.params:
            if name in annotations:
                known[name] = {int: INT, bool: BOOL, np.ndarray: array_of(1)}.get(annotations[name], FLOAT)
            elif name in self.defaults:
                known[name] = type_of_argument(self.defaults[name], name, self.fn.__name__)
        if len(known) < len(self.params):
            try:
                known = infer_kinds(self._source, given=known)
            except AutodiffError:
                if strict:
                    raise
        return tuple(known.get(name, FLOAT) for name in self.params)

    def full_signature(self, signature: tuple) -> tuple:
        """The signature with the bound object's structure first (for methods)."""
        if self.bound is None:
            return tuple(signature)
        return (pytrees.object_type(self.bound, pytrees.leaf_type),) + tuple(signature)

    def _per_parameter(self, state, items, names=None) -> list:
        """Items given one per float leaf of the parameters `names` (default: wrt), in `state.leaf_wrt`
        order, as one per parameter: a container parameter's items back in its structure."""
        items = iter(items)
        out = []
        for name in self.wrt if names is None else names:
            if name in state.facts.structures:
                out.append(pytrees.unflatten(state.facts.structures[name][0], items))
            else:
                out.append(next(items))
        return out

    def _install(self, entry) -> None:
        """Make `entry` (None: the class's own full path) the `__call__` of this object's own class
        (`call_entries.install`).  Unlocked: a call switching to its signature's entry never waits for a
        compile; an entry of a derivation forgotten meanwhile still checks its own bindings (`enter`)."""
        install(self, entry)

    @locked
    def _forget(self) -> None:
        """Drop every derivation: a number or array the function reads from its module has changed."""
        self._states.clear()
        self._careful_modules.clear()
        self._compiled.clear()
        self._compiled_states.clear()
        self._fast.clear()
        self._natives.clear()
        self._install(None)

    def _flatten(self, state, args) -> list:
        values = ((self.bound,) if self.bound is not None else ()) + tuple(args)
        given = []
        for name, value in zip(self.all_params, values):
            if name in state.facts.structures:
                tree, _ = state.facts.structures[name]
                given += pytrees.leaves(tree, value)
            else:
                given.append(value)
        given += [_at_path(ref.read(), path) for _, ref, path in state.facts.data]
        if any(isinstance(v, np.generic) or type(v) is np.ndarray and v.dtype.kind in "iu" and v.dtype != np.int64
               for v in given):
            _refuse_numpy_ints(self.fn.__name__, state, given)
        return remember_given([_convert(v) for v in given], given)

    def _data_types_agree(self, state, flat) -> bool:
        names = [name for name, _, _ in state.facts.data]
        for name, value in zip(names, flat[len(flat) - len(names):]):
            try:
                if pytrees.leaf_type(value, name) != state.facts.param_types.get(name):
                    return False
            except ArgumentError:
                return False
        return True

    def _flat_function(self, state, args):
        """The user's function as a function of the flat arguments (what verification calls on small
        instances): containers rebuilt, the bound object's and module data's arrays put in place."""
        structures = state.facts.structures
        data = state.facts.data
        # the plain function (not the grad object a derivative of a grad object wraps)
        fn = self.fn.__func__ if self.bound is not None else self.plain

        def flat_fn(*flat):
            items = iter(flat)
            values = []
            for name in self.all_params:
                if name in structures:
                    tree, _ = structures[name]
                    values.append(pytrees.unflatten(tree, items))
                else:
                    values.append(next(items))
            if self.bound is not None:
                values[0] = pytrees.with_fields(self.bound, values[0])
            saved = []
            try:
                for (_, ref, path), value in zip(data, items):
                    saved.append((ref, ref.read()))
                    ref.write(pytrees.replaced(ref.read(), path, value))
                return fn(*values)
            finally:
                for ref, value in reversed(saved):
                    ref.write(value)
        flat_fn.__name__ = getattr(self.fn, "__name__", "f")
        flat_fn.__autodiff_user_function__ = fn       # what a cached proof is keyed by (verify.cache)
        return flat_fn

    def _failed(self, exc, state=None, args=None):
        """The compiled code raised: an `AutodiffError` saying what that means (`failures.explain`)."""
        state, flat = (state, None) if args is None else failed_call(self, state, args)
        explain(self.fn, exc, state, args, converted=[_convert(a) for a in args] if args is not None else None,
                flat=flat)

    def _recover(self, exc, state, args):
        """The compiled code raised `exc` at `args`: for an error of Python's arithmetic, the careful
        rerun's gradient if it has one (`failures.careful_gradient`); else `_failed`'s `AutodiffError`."""
        if isinstance(exc, (ZeroDivisionError, ValueError, OverflowError)) and INT64_OVERFLOW not in str(exc):
            result = careful_gradient(self, args)
            if result is not None:
                return result
        self._failed(exc, state, args)

    def __reduce__(self):
        """By reference to the function where it imports, with its source and the values it reads (pickling.py)."""
        from .pickling import reduce_gradient
        return reduce_gradient(self)

    def __dask_tokenize__(self):
        """Deterministic across processes: Dask's `client.map(g, ...)` and `delayed(g, pure=True)`."""
        from .pickling import token
        return (type(self).__qualname__, token(self))

    def region_spec(self):
        """How a call of this object inside differentiated code is derived: None, not supported."""
        return None

    def steps(self) -> tuple:
        raise NotImplementedError

    def pickle_options(self) -> dict:
        """The keyword options that rebuild this object (`pickling.options_of`)."""
        return dict(jit=self.jit, verify=self.verify, simplify=self.simplify, skip=self.skip)


class GradientFunction(DerivedFunction):
    """The gradient of a Python function, compiled per argument signature."""

    kind = "grad"

    def __init__(self, fn, wrt=0, *, jit=True, verify=False, simplify=True, with_value=False,
                 intermediates=(), accumulate=False, skip=(), has_aux=False):
        self.with_value = with_value
        self.has_aux = has_aux
        self.kind = "value_and_grad" if with_value else "grad"
        super().__init__(fn, wrt, jit=jit, verify=verify, simplify=simplify, skip=skip)
        self.intermediates = (intermediates,) if isinstance(intermediates, str) else tuple(intermediates)
        self.accumulate = accumulate
        if has_aux and self.intermediates:
            raise ArgumentError("has_aux=True and intermediates= cannot be combined",
                                hint="return the intermediate values as part of aux")
        self._trees: dict = {}

    def region_spec(self):
        if self.intermediates or self.accumulate or self.has_aux:
            return None
        return ("grad", tuple(self.wrt), self.with_value, self.single)

    def steps(self, with_value: bool | None = None) -> tuple:
        from .pipeline import Step
        with_value = self.with_value if with_value is None else with_value
        return (Step("reverse", tuple(self.wrt), with_value, self.intermediates, aux=self.has_aux),)

    def pickle_options(self) -> dict:
        return dict(super().pickle_options(), with_value=self.with_value, intermediates=self.intermediates,
                    accumulate=self.accumulate, has_aux=self.has_aux)

    # ------------------------------------------------------------------ compile
    @locked
    def state_for(self, signature: tuple, with_value: bool | None = None, dims: tuple = ()):
        """The derivation (IR and module text) for a signature; `grad` derives a gradient-only module.
        `dims`: what dispatch knows of the array arguments' axes (`_dims_for`), () for any shapes."""
        with_value = self.with_value if with_value is None else with_value
        signature = self.full_signature(signature) if len(signature) != len(self.all_params) else signature
        key = (signature, with_value, dims)
        if key not in self._states:
            _refuse_structures_in_regions(self, signature)
            types = dict(zip(self.all_params, signature))
            try:
                self._states[key] = derive(self._source, types, self.wrt, simplify=self.simplify,
                                           with_value=with_value, intermediates=self.intermediates,
                                           skip=self.skip, steps=self.steps(with_value), regions=self.regions,
                                           param_dims=dims)
            except AutodiffError:
                raise
            except RecursionError:
                raise InternalError(f"{self.fn.__name__} is too deeply nested to derive",
                                    hint="split long expressions into statements") from None
            except Exception as exc:
                raise InternalError(f"deriving the gradient of {self.fn.__name__} failed: "
                                    f"{type(exc).__name__}: {exc}",
                                    hint="this is a bug in autodiff_compiler: please report it with the "
                                         "function") from exc
        return self._states[key]

    def compiled_for(self, *args, value: bool = True):
        """The compiled (Numba) function for these arguments' signature.

        It returns `(value, grads...)`, or with `value=False` what the gradient-only
        module returns (the function a `grad` object calls).  Call it from your own
        `numba.njit` code to skip the Python-level checks.  It takes the arguments flat: for a
        function of containers, module data or a method, `flat_arguments(*args)` gives them.  It is
        derived for these arrays' pattern of agreeing axes (which have equal lengths, which length 1:
        any batch size of the same pattern will do) and raises `ShapesDiffer` for arrays of another
        pattern; `skip=("shapes",)` makes one program for all shapes."""
        args = self.complete(args, {})
        compiled, _, _ = self._prepare(self.signature(args), args, with_value=value)
        return compiled

    def native(self, *args):
        """A Numba function that computes what this object computes, for arguments of these types, and
        costs from Python what a bare Numba call costs: for hot loops that call a gradient of numbers.

        It checks as the object does (an int is not taken for a float, NaN and infinite arguments,
        errors in the gradient and non-finite results are explained by the object's own path, which it
        calls for anything but a plain call in this signature; it keeps this object alive for that).
        Arguments are positional or by name.  Numba itself refuses, with a TypeError or OverflowError,
        more arguments than parameters, `out=`, unknown keywords and ints beyond 64 bits.  Built once
        per machine and signature (Numba's disk cache), for functions of numbers and float64/int64
        arrays without containers, module data, asserts or `has_aux`.  Like `compiled_for`'s, it is the
        code of the functions the function calls as they are now: the object itself derives again when
        one is rebound (its entries check), the native function you hold does not.  From `njit` code, call
        `compiled_for(...)` instead."""
        return self._native(args)[0]

    @locked
    def _native(self, args) -> tuple:
        """(`native(*args)`, the derivation it runs: whose bindings its router checks)."""
        from .backend.entry import native_entry
        if not self.jit:
            raise ArgumentError("native() compiles: this gradient was made with jit=False",
                                hint="make it with jit=True, or call the gradient object itself")
        args = self.complete(args, {})
        compiled, state, converted = self._prepare(self.signature(args), args)
        facts = state.facts
        why_not = next((why for refused, why in (
            (self.bound is not None, "it is a method"),
            (facts.structures, "it takes containers"),
            (facts.data or facts.watches, "it reads arrays or numbers of its module (checked at every call)"),
            (facts.asserts, "it asserts, or reads a name a loop or branch may leave unassigned (the object names the line)"),
            (self.intermediates or self.has_aux, "intermediates= and has_aux= are the object's"),
            (not all(type(a) in (float, int, bool) or (type(a) is np.ndarray and a.ndim and a.dtype.char in "dl")
                     for a in converted), "native() covers numbers and float64/int64 arrays only"),
        ) if refused), None)
        key = tuple(type(a) if type(a) is not np.ndarray else (a.dtype.char, a.ndim, a.flags.c_contiguous,
                                                                a.flags.f_contiguous, a.flags.writeable)
                    for a in converted) + (self._dims_for(args),)    # each pattern of agreeing axes its own
        entry = None if why_not else self._natives.get(key)
        if entry is None and not why_not:
            entry = native_entry(compiled, tuple(converted), list(self.params), self._shaped(), self)
            why_not = "its result is not numbers or float arrays" if entry is None else None
            self._natives[key] = entry
        if why_not:
            raise ArgumentError(f"native() of {self.fn.__name__} at these arguments: {why_not}",
                                hint="call the gradient object itself (it takes every argument kind), or "
                                     "compiled_for(...) from your own njit code")
        return entry, state

    def flat_arguments(self, *args, value: bool = True) -> tuple:
        """The arguments as the compiled function takes them: containers flattened into their leaves (in
        `pytrees.leaves` order), the bound object's and module data's arrays after them."""
        args = self.complete(args, {})
        _, _, flat = self._prepare(self.signature(args), args, with_value=value)
        return tuple(flat)

    def _dims_for(self, args) -> tuple:
        """What dispatch tells the derivation of the array arguments' axes: which have length 1 and which
        have equal lengths (`ir.shapes.dims_of_arguments`), so that the `shapes` analysis can prove
        broadcasts and fallbacks unneeded; the program checks it on entry (`ShapesDiffer`), and each
        pattern of agreeing axes is derived and compiled once.  () when nothing agrees, or when the
        optimisation `shapes` is off, and with `verify=True`: the proof runs the program on smaller
        instances of other shapes (`verify.instances`), so it proves the program for all shapes."""
        if not self.simplify or "shapes" in self.skip or self.verify:
            return ()
        arrays = {name: a.shape for name, a in zip(self.params, args) if isinstance(a, np.ndarray) and a.ndim}
        if not arrays:
            return ()
        dims = dims_of_arguments(self.params, arrays)
        return dims if guard_conditions(dims) else ()

    @locked
    def _prepare(self, signature, args, with_value: bool | None = None, dims: tuple | None = None):
        """(compiled function, state, flat arguments) for a call: derived and compiled on first use, and
        again when a module number the derivation baked in has changed, or module data changed type.
        `dims`: the arguments' pattern of agreeing axes, when the caller has it (`_dims_for`)."""
        with_value = self.with_value if with_value is None else with_value
        full = self.full_signature(signature)
        dims = self._dims_for(args) if dims is None else dims
        started = time.perf_counter()
        state = self.state_for(full, with_value, dims)
        if (full, with_value, dims) not in self._compiled:
            self._derivation_seconds = time.perf_counter() - started     # reported by a slow first call
        if not current(state.facts):       # a module number changed, or a function used is another object
            self._forget()
            state = self.state_for(full, with_value, dims)
        flat = self._flatten(state, args)
        if state.facts.data and not self._data_types_agree(state, flat):
            self._forget()
            state = self.state_for(full, with_value, dims)
            flat = self._flatten(state, args)
        key = (full, with_value, dims)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = load(state.jit_text if self.jit else state.text, state.adjoint.name, jit=self.jit,
                            level=llvm_level(state.adjoint))
            if self.verify and (self.regions or self.has_aux):
                # grad of a grad object: proved against SymPy's derivatives of the plain function
                from .verify_derivatives import verify_derived
                verify_derived(self, state, [_convert(a) for a in args]).raise_if_failed()
            elif self.verify:
                from .verify import verify_gradient
                verify_gradient(state, flat, self._flat_function(state, args), cache=True).raise_if_failed()
            self._compiled[key] = compiled
        return compiled, state, flat

    def _compile(self, signature, args, with_value: bool | None = None):
        return self._prepare(signature, args, with_value)[0]

    @property
    def source(self) -> str:
        """The generated module for the last signature called (or the annotated/default one)."""
        signature = self._last_key or self._default_signature()
        return self.state_for(signature, dims=self._last_dims if self._last_key else ()).text

    @property
    def compiled_source(self) -> str:
        """The module Numba compiles for that signature: `source`, with fused loops in blocks computing
        their transcendental functions several lanes at a time (`vexp(...)`, libmvec) and fused sums in
        fixed chunks (threads), where this machine and the settings allow.  The loader gives Numba this text
        with the names its front end could confuse renamed (`backend.numba_names`)."""
        signature = self._last_key or self._default_signature()
        state = self.state_for(signature, dims=self._last_dims if self._last_key else ())
        return state.jit_text if self.jit else state.text

    # ------------------------------------------------------------ formulas
    def formulas(self, *args, **kwargs):
        """Each partial derivative as a formula in your names (`verify.formula.Formulas`), at the
        arguments given, else at the last call's, else at a default point (straight-line code gives
        the same formula everywhere; for branches and loops the formula is the path's at that point)."""
        from .frontend.kinds import default_point
        from .pipeline import State, run_until
        from .verify.formula import formulas
        if self.regions or self.has_aux:
            raise ArgumentError(f"{self!r}: formulas are shown for first derivatives of a function returning "
                                f"one number",
                                hint="ask the plain gradient: grad(f).math(...); for a second derivative, "
                                     "grad(f, verify=True) proves the code and hessian(f) computes it")
        if args or kwargs:
            args = tuple(_convert(a) for a in self.complete(args, kwargs))
        elif self._last_args is not None:
            args = self._last_args
        else:
            types = dict(zip(self.params, self._default_signature(strict=True)))
            given = {p: v for p, v in zip(self.params, self.complete((), {})) if p in self.defaults}
            point = {**default_point(types, given), **given}
            missing = [p for p in self.params if point.get(p) is None]
            if missing:
                raise ArgumentError(f"{self.fn.__name__}: no value for {', '.join(missing)} to take the path at",
                                    hint=f"pass the arguments: g.math({', '.join(self.params)})")
            args = tuple(point[p] for p in self.params)
        signature = self.signature(args)
        state = run_until(State(self._source, dict(zip(self.params, signature)), list(self.wrt), True, True),
                          "values")
        return formulas(self._source, state.primal, args, self.wrt)

    def math(self, *args, **kwargs) -> str:
        """The partial derivatives as Unicode formulas: `∂loss/∂w = x·(ŷ − y)` (see `formulas`)."""
        return self.formulas(*args, **kwargs).unicode()

    def latex(self, *args, **kwargs) -> str:
        """The partial derivatives as LaTeX: `\\frac{\\partial \\mathrm{loss}}{\\partial w} = ...`."""
        return self.formulas(*args, **kwargs).latex()

    def _repr_markdown_(self) -> str:
        """Jupyter: the formulas and the generated code."""
        kind = "value_and_grad" if self.with_value else "grad"
        head = f"**`{kind}` of `{self.fn.__name__}`** with respect to {', '.join(f'`{w}`' for w in self.wrt)}"
        try:
            shown = self.formulas().markdown()
        except AutodiffError as exc:
            shown = f"*(no formula: {str(exc).splitlines()[0]})*"
        try:
            code = f"```python\n{self.source.rstrip()}\n```"
        except AutodiffError as exc:
            code = f"*(no code yet: {str(exc).splitlines()[0]}; call it once)*"
        return f"{head}\n\n{shown}\n\n{code}\n"

    # --------------------------------------------------------------------- call
    def __call__(self, /, *args, out=None, **kwargs):
        """The gradient (or value and gradient) at these arguments; `out=` writes it into your arrays."""
        if args and args[0] is self:
            # `type(g).__call__(g, ...)`: a routed signature's `__call__` is a builtin (`backend/router.py`),
            # which binds no self and hands the object on as an argument -- from a number signature's second
            # call on (helper-58).  The object is no value a function can take: it is the call's self
            args = args[1:]
        return self._call(args, kwargs, out)

    def _call(self, args: tuple, kwargs: dict, out=None):
        """`__call__` with the arguments as given: what a native entry hands over calls it too, with the
        function's parameters by name (one named `out`, `self` or `key` among them) and no `out=`."""
        # A signature called before with plain numbers and arrays has an entry (`call_entries.make_entry`): the
        # entry last used is this object's own `__call__`, and a call of another one comes here once
        if out is None and not kwargs and self._fast:
            key = tuple(map(type, args))
            if np.ndarray in key:
                key = self._entry_key(args)
            entry = self._fast.get(key)
            if entry is not None and entry is not type(self).__dict__.get("__call__"):
                self._install(entry)
                # a router binds no self (`backend/router.py`); an entry of Python source is a method
                return entry(*args) if isinstance(entry, BuiltinFunctionType) else entry(self, *args)
        if kwargs or len(args) < len(self.params):
            args = self.complete(args, kwargs)
        signature = self.signature(args)
        for value, name in zip(args, self.params):
            if isinstance(value, float) and not math.isfinite(value):     # np.float64 too
                raise NonFiniteInputError(f"argument {name!r} of {self.fn.__name__} is {value}",
                                          hint="gradients at NaN or infinity are undefined; check the input")
        full = self.full_signature(signature)
        dims = self._dims_for(args)
        watch = _Watch(self, signature) if (full, self.with_value, dims) not in self._compiled else None
        try:
            compiled, state, converted = self._prepare(signature, args, dims=dims)
        except BaseException:
            if watch is not None:
                watch.done()
            raise
        self._last_key = signature
        self._last_dims = dims
        self._last_args = tuple(converted)
        if self.has_aux:
            self._aux_tree = state.primal.output_tree[1]
        # the compiled tuple is (value?, one gradient per wrt): the contract's shape as `_finish` makes it
        facts = state.facts
        plain = not (facts.structures or facts.data or facts.watches or facts.asserts) and self.bound is None \
            and not self.intermediates and not self.has_aux
        try:
            result = compiled(*converted)
        except Exception as exc:
            if watch is not None:
                watch.done()
                watch = None
            result = self._recover(exc, state, args)
        if watch is not None:
            watch.done()        # Numba compiles on the first call: timed with it
        if plain and self.jit and all(type(a) in _SCALAR_TYPES or (
                type(a) is np.ndarray and a.ndim and a.dtype.char in "dl") for a in args):
            enter(self, args, compiled, state, (full, self.with_value, dims), result, GradientFunction.__call__,
                  NATIVE_AFTER)
        return self._finish(result, converted, out, state, args)

    def _entry_key(self, args) -> tuple:
        """The key of a signature's fast entry: the argument types, and for arrays also the pattern of
        agreeing axes its program was derived for (so that calls alternating between two patterns each
        find their own entry, not one whose program refuses their arrays)."""
        key = _fast_key(args)
        return (key, self._dims_for(args)) if any(type(a) is np.ndarray for a in args) else key

    def _promote(self, args) -> None:
        """The signature of `args` (numbers, float64/int64 arrays) was called NATIVE_AFTER times through
        its counted entry: from now on its entry is a builtin router to `native(*args)` (or a frame around
        it, `make_native_entry`), which costs from Python no more than a bare Numba call, the result's
        check included (building it compiles once per machine, ~0.2 s, then Numba's disk cache has it).
        If it cannot be built, the counted entry stays: nothing but speed depends on it."""
        promote(self, args, GradientFunction.__call__)

    def _shaped(self) -> str:
        """The contract's result as an expression of the compiled program's `result` (see `_finish`)."""
        if self.single or (not self.with_value and len(self.wrt) > 1):
            return "result"
        if not self.with_value:
            return "(result,)"              # grad(f, wrt=("x",)): a tuple of one gradient
        return "(result[0], result[1:])"    # value_and_grad(f, wrt=(...)): (value, (gradients...))

    @staticmethod
    def _finite(result) -> bool:
        """Floats and arrays, all finite (x - x is 0.0 only for finite x; large arrays unscanned)."""
        for item in (result if type(result) is tuple else (result,)):
            if type(item) is float:
                if item - item != 0.0:
                    return False
            elif type(item) is not np.ndarray or _nonfinite(item, SCAN_LIMIT):
                return False
        return True

    def _finish(self, result, converted, buffers, state=None, args=None):
        """Check the outputs, explain non-finite ones, and shape them as the contract says (gradients of
        containers in their structure, of float32 arrays as float32)."""
        outputs = result if type(result) is tuple else (result,)
        if not self.jit:
            # the interpreter hands back NumPy scalars where Numba hands back floats
            outputs = tuple(v.item() if isinstance(v, np.generic) else v for v in outputs)
        if any(_nonfinite(v, SCAN_LIMIT) for v in outputs):
            names = list(self.params)
            if state is not None:
                names = [p for p in state.primal.params]
            for arg, name in zip(converted, names):
                if _nonfinite(arg):
                    raise NonFiniteInputError(f"argument {name!r} of {self.fn.__name__} holds NaN or infinity",
                                              hint="gradients at NaN or infinity are undefined; check the input")
            # of finite arguments: the careful rerun's gradient, where it has a finite one
            careful = careful_gradient(self, args if args is not None else converted)
            if careful is not None:
                outputs = careful if type(careful) is tuple else (careful,)
        value, outputs = (outputs[0], outputs[1:]) if self.with_value else (None, outputs)
        aux = None
        if self.has_aux:
            leaves = _leaf_count(self._aux_tree)
            aux, outputs = _rebuild(self._aux_tree, outputs[:leaves], 1), outputs[leaves:]
        if state is not None and (state.facts.structures or self._has_narrow(args)):
            outputs, count = self._regroup(state, outputs, args)
        else:
            count = len(self.wrt)
        grads = outputs[0] if self.single else tuple(outputs[:count])
        if buffers is not None:
            if state is not None and any(name in state.facts.structures for name in self.wrt):
                raise ArgumentError("out= is for array parameters: a container's gradient comes back as a new "
                                    "container", hint="call without out=, then copy into your arrays")
            grads = self._into(buffers, outputs[:count])
        if self.intermediates:
            grads = (grads, dict(zip(self.intermediates, outputs[count:])))
        if self.has_aux:
            return ((value, aux), grads) if self.with_value else (grads, aux)
        return (value, grads) if self.with_value else grads

    def _has_narrow(self, args) -> bool:
        return args is not None and any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in args)

    def _regroup(self, state, outputs, args):
        """The flat gradients (one per float leaf of wrt) as one gradient per wrt parameter, in its
        structure; float32 parameters get float32 gradients."""
        given = dict(zip(self.params, args))
        grads = [_cast_like(grad, given.get(name))
                 for name, grad in zip(self.wrt, self._per_parameter(state, outputs[:len(state.leaf_wrt)]))]
        return tuple(grads) + tuple(outputs[len(state.leaf_wrt):]), len(grads)

    def _into(self, buffers, grads):
        """Write (or, with accumulate=True, add) the gradients into the caller's arrays."""
        if self.single and not isinstance(buffers, tuple):
            buffers = (buffers,)
        elif isinstance(buffers, (tuple, list)):
            buffers = tuple(buffers)
        else:
            raise ArgumentError(f"out= takes a tuple of arrays, one per wrt ({', '.join(self.wrt)}), "
                                f"got {type(buffers).__name__}")
        if len(buffers) != len(grads):
            raise ArgumentError(f"out= needs {len(grads)} array(s), one per wrt, got {len(buffers)}")
        for buffer, gradient, name in zip(buffers, grads, self.wrt):
            # every buffer checked before any is written: a refused call changes none of them.  An int one
            # would truncate the gradient (helper-72), a read-only one raise NumPy's error half-way
            if not isinstance(buffer, np.ndarray) or buffer.shape != np.shape(gradient) or buffer.dtype.kind != "f" \
                    or not buffer.flags.writeable:
                raise ArgumentError(f"out= buffer for {name!r} must be a writeable float array of shape "
                                    f"{np.shape(gradient)}" + ("" if not isinstance(buffer, np.ndarray) else
                                                              f" (got {buffer.dtype}, shape {buffer.shape}"
                                                              f"{'' if buffer.flags.writeable else ', read-only'})"),
                                    hint="np.zeros(()) for a scalar parameter, np.zeros_like(param) for an array")
        for buffer, gradient in zip(buffers, grads):
            if self.accumulate:
                buffer += gradient
            else:
                buffer[...] = gradient
        return buffers[0] if self.single else buffers

    # ----------------------------------------------------------------- pickling
    def __repr__(self) -> str:
        kind = "value_and_grad" if self.with_value else "grad"
        return f"<{kind} of {self.fn.__name__} wrt {', '.join(self.wrt)}>"


def _cast_like(grad, original):
    """The gradient in the precision of its parameter: float32 arrays get float32 gradients."""
    if isinstance(original, np.ndarray):
        return grad.astype(original.dtype) if original.dtype.kind == "f" and original.dtype != np.float64 and \
            isinstance(grad, np.ndarray) else grad
    if isinstance(original, (tuple, list)) and isinstance(grad, (tuple, list)):
        out = [_cast_like(g, o) for g, o in zip(grad, original)]
        return tuple(out) if isinstance(grad, tuple) else out
    if isinstance(original, dict) and isinstance(grad, dict):
        return {k: _cast_like(g, original.get(k)) for k, g in grad.items()}
    return grad


class _Watch:
    """A first call's compilation: announced if it runs past SLOW_COMPILE, timed when it ends."""

    def __init__(self, g: DerivedFunction, signature: tuple):
        self.g = g
        self.signature = signature
        self.started = time.perf_counter()
        self.timer = threading.Timer(SLOW_COMPILE, self.announce)
        self.timer.daemon = True
        self.timer.start()

    def what(self, g) -> str:
        params = ", ".join(f"{p}: {t}" for p, t in zip(g.params, self.signature))
        return f"{g.kind} of {g.fn.__name__}({params}) with respect to {', '.join(g.wrt)}"

    def announce(self) -> None:
        g = self.g
        if g is not None:
            LOG.info("compiling %s%s ...", self.what(g), " with Numba" if g.jit else "")

    def done(self) -> None:
        self.timer.cancel()
        # the timer's thread holds `announce` (so this object) until it wakes; dropping the timer here
        # leaves no reference cycle (watch -> timer -> announce -> watch) for the cyclic collector
        self.timer = None
        g, self.g = self.g, None
        elapsed = time.perf_counter() - self.started
        if g is not None and elapsed > SLOW_COMPILE:
            derivation = getattr(g, "_derivation_seconds", 0.0)
            LOG.info("compiled %s in %.1f s (derivation %.2f s, %s %.1f s); later calls reuse it, and the "
                     "disk cache spares the next process most of it", self.what(g), elapsed, derivation,
                     "Numba and the first call" if g.jit else "the first call", elapsed - derivation)


def grad(fn=None, wrt=0, *, jit: bool = True, verify: bool = False, simplify: bool = True,
         intermediates=(), accumulate: bool = False, skip=(), has_aux: bool = False):
    """The gradient of `fn` with respect to `wrt` (names or indices; default: the first parameter).

    Usable as `@grad`, `@grad(wrt="w")` or `grad(f, wrt=("w", "b"))`.  Options:
    `intermediates=("y",)` also returns the gradients of those local variables
    (PyTorch's `retain_grad`), as `(gradients, {"y": dy})`; calling with
    `out=buffers` writes the gradients into the caller's arrays, and with
    `accumulate=True` adds to them (PyTorch's `.grad` accumulation).  `skip=("hoist",)` switches
    single optimisations off (`pipeline.OPTIMISATIONS`), to find which one is at fault.
    `has_aux=True`: `fn` returns `(loss, aux)`; the result is `(gradient(s), aux)`.

    `fn` may itself be a `grad` or `value_and_grad` object: `grad(grad(f))` is the second
    derivative (reverse mode over the first derivative's forward-mode program), and a call of a
    `grad` object inside `fn` is differentiated through.  A function returning an array or a tuple
    has no gradient: that is an error pointing to `jacobian` (or to `has_aux`)."""
    options = dict(jit=jit, verify=verify, simplify=simplify, intermediates=intermediates, accumulate=accumulate,
                   skip=skip, has_aux=has_aux)
    if fn is None:
        return lambda f: GradientFunction(f, wrt, **options)
    return GradientFunction(fn, wrt, **options)


def value_and_grad(fn=None, wrt=0, *, jit: bool = True, verify: bool = False, simplify: bool = True,
                   intermediates=(), accumulate: bool = False, skip=(), has_aux: bool = False):
    """Like `grad`, returning `(value, gradient(s))`; with `has_aux=True` (`fn` returns `(loss, aux)`),
    `((loss, aux), gradient(s))`, as JAX does."""
    options = dict(jit=jit, verify=verify, simplify=simplify, intermediates=intermediates,
                   accumulate=accumulate, with_value=True, skip=skip, has_aux=has_aux)
    if fn is None:
        return lambda f: GradientFunction(f, wrt, **options)
    return GradientFunction(fn, wrt, **options)
