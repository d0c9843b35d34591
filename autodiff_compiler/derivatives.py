"""Derivatives beyond the gradient: `jvp`, `vjp`, `jacobian`, `hessian`, `hvp` -- the public contract.

Takes: a Python function (or a `grad` / `value_and_grad` object: derivatives
compose), `wrt` as names or indices, and the options of `grad` (`jit`,
`verify`, `simplify`, `skip`).  Guarantees, per argument signature, one
derivation (`pipeline.derive` with this object's `steps`) and one compiled
program, and:

* `jvp(f, wrt)(*args, tangents=(t, ...))` -> `(value, tangent)`: forward
  mode, one tangent per `wrt` parameter (shaped like it); value and tangent
  have the structure of `f`'s result (a number, an array, or a tuple of
  them);
* `vjp(f, wrt)(*args)` -> `(value, pullback)`; `pullback(ct)` -> the
  gradient(s) of `ct . value` (one per `wrt`, a tuple for a tuple `wrt`),
  where `ct` has the structure and shapes of the value.  The pullback runs the
  whole reverse-mode program again (nothing is kept between the calls);
* `jacobian(f, wrt, mode)(*args)` -> an array shaped `output.shape +
  input.shape` (a float when both are floats); a tuple result and/or a tuple
  `wrt` give nested tuples, outputs outside, as JAX does.  `mode="forward"`
  computes it by columns (one forward-mode pass per input entry),
  `"reverse"` by rows (one reverse-mode pass per output entry), `"auto"`
  (the default) whichever is fewer;
* `hessian(f, wrt)(*args)`: the Jacobian (by forward mode) of the
  reverse-mode gradient: `(n, n)` for a vector, a float for a float, nested
  for a tuple `wrt`;
* `hvp(f, wrt)(x, v, *rest)`: the Hessian times `v` by forward mode over the
  reverse-mode gradient (no matrix is formed), the vector following the
  differentiated argument (SciPy's `hessp(x, p, *args)` order for `wrt=0`);
* every object pickles (`pickling.py`), is usable as a decorator, has
  `.source` (the generated module), and `verify=True` proves each new
  signature's result against SymPy (`verify_derivatives.py`);
* arguments are checked as `grad` checks them; a tangent, vector or
  cotangent of the wrong shape is an `ArgumentError` saying which shape;
* the language is `grad`'s: a container parameter (in `wrt` or not), module
  data, closures and methods reach the program flat, as `grad` passes them
  (`DerivedFunction._flatten`).  For a container in `wrt`, tangents and
  vectors have its structure, and results come back in it: gradients and hvp
  as the parameter, a Jacobian's blocks per leaf in its structure, a
  Hessian's as a structure of structures (`H[k][j]`, as JAX nests them).
"""
from __future__ import annotations

import time

import numpy as np

from .api import DerivedFunction, _Watch, _refuse_structures_in_regions, _convert, _leaf_count, _rebuild, _SCALAR_TYPES, _fast_key
from .frontend.bindings import current, hold
from .frontend import pytrees
from .backend.load import llvm_level, load
from .errors import ArgumentError, AutodiffError, InternalError, NonFiniteInputError
from .failures import arithmetic_error, careful_derivative, explain, given_leaves
from .pipeline import Step, derive

_MODES = ("auto", "forward", "reverse")


class ProgramFunction(DerivedFunction):
    """A derivative computed by one generated program per signature (everything but `grad`)."""

    def state_for(self, signature: tuple):
        """The derivation (IR and module text) for a signature (of the parameters after a method's self)."""
        key = self.full_signature(signature)        # a method's object may change its attributes' types
        state = self._states.get(key)
        if state is not None and not current(state.facts):
            self._forget()      # a module number it baked in changed, or a function it used was rebound
        if key not in self._states:
            _refuse_structures_in_regions(self, key)
            types = dict(zip(self.all_params, key))
            try:
                state = derive(self._source, types, self.wrt, simplify=self.simplify, skip=self.skip,
                               steps=self.steps(), regions=self.derivation_regions())
            except AutodiffError:
                raise
            except RecursionError:
                raise InternalError(f"{self.fn.__name__} is too deeply nested to derive",
                                    hint="split long expressions into statements") from None
            except Exception as exc:
                raise InternalError(f"deriving the {self.kind} of {self.fn.__name__} failed: "
                                    f"{type(exc).__name__}: {exc}",
                                    hint="this is a bug in autodiff_compiler: please report it with the "
                                         "function") from exc
            self._states[key] = state
        return self._states[key]

    @property
    def source(self) -> str:
        """The generated module for the last signature called (or the annotated/default one)."""
        return self.state_for(self._last_key or self._default_signature()).text

    @property
    def compiled_source(self) -> str:
        """The module Numba compiles (`source` with planned loops in blocks and chunks)."""
        state = self.state_for(self._last_key or self._default_signature())
        return state.jit_text if self.jit else state.text

    def prepare(self, args: tuple, kwargs: dict):
        """(signature, flat arguments, state) of a call, checked as `grad` checks them.  The flat arguments
        are what the program takes: each container as its leaves (`pytrees.leaves` order), then the bound
        object's and the module data's arrays (`_flatten`, as for `grad`)."""
        if kwargs or len(args) < len(self.params):
            args = self.complete(args, kwargs)
        signature = self.signature(args)
        for value, name in zip(args, self.params):
            if type(value) is float and not np.isfinite(value):
                raise NonFiniteInputError(f"argument {name!r} of {self.fn.__name__} is {value}",
                                          hint="derivatives at NaN or infinity are undefined; check the input")
        self._last_key = signature
        first = self.full_signature(signature) not in self._compiled
        if first and getattr(self, "_watch", None) is None:
            self._watch = _Watch(self, signature)     # a long first call is logged; `run` ends the watch
        started = time.perf_counter()
        try:
            state = self.state_for(signature)
            flat = self._flatten(state, args)
            if state.facts.data and not self._data_types_agree(state, flat):
                self._forget()                        # module data changed type: derive again
                state = self.state_for(signature)
                flat = self._flatten(state, args)
        except BaseException:
            self._cancel_watch()
            raise
        if first:
            self._derivation_seconds = time.perf_counter() - started
        return signature, flat, state

    def _cancel_watch(self) -> None:
        watch, self._watch = getattr(self, "_watch", None), None
        if watch is not None:
            watch.timer.cancel()

    def _plain(self, state) -> bool:
        """Does the program take the function's own arguments (no containers, module data or object)?"""
        return not (state.facts.structures or state.facts.data) and self.bound is None

    def compiled(self, signature, flat, extra=()):
        state = self.state_for(signature)          # derives again first when a module number has changed
        key = self.full_signature(signature)
        compiled = self._compiled.get(key)
        if compiled is None:
            if getattr(self, "_watch", None) is None:
                self._watch = _Watch(self, signature)
            try:
                compiled = load(state.jit_text if self.jit else state.text, state.adjoint.name, jit=self.jit,
                                level=llvm_level(state.adjoint))
                if self.verify:
                    from .verify_derivatives import verify_derived
                    fn = None if self._plain(state) else self._flat_function(state, None)
                    verify_derived(self, state, list(flat), list(extra), fn=fn).raise_if_failed()
            except BaseException:
                self._cancel_watch()
                raise
            self._compiled[key] = compiled
            self._compiled_states[id(compiled)] = state
        return compiled

    def leaves_of(self, value, name: str, what: str, state, flat) -> list:
        """A tangent, vector or cotangent for the parameter `name` as the program takes it: one float or
        float64 array per float leaf, each shaped like the argument's leaf (an `ArgumentError` naming
        the part that differs)."""
        tree, leaf_names = state.facts.structures.get(name, (None, (name,)))
        by_leaf = dict(zip(state.primal.params, flat))
        parts = _tree_leaves(tree, value, name, what, self.fn.__name__)
        labels = [pytrees.path_text(name, path) for path, _ in pytrees.paths(tree)] if tree is not None else [name]
        return [_shaped(part, by_leaf[leaf], label, what, self.fn.__name__)
                for part, leaf, label in zip(parts, leaf_names, labels)]

    def compiled_for(self, *args):
        """The compiled (Numba) function for these arguments' signature (the function's own arguments; not
        tangents or vectors), to call from your own `numba.njit` code.  It takes the function's arguments
        followed by this derivative's extra inputs (jvp: one tangent per wrt; hvp: the vector; vjp: one
        cotangent per output) and returns what the generated module returns (`.source` shows it).  For a
        function of containers, module data or a method, `flat_arguments(*args)` gives its arguments flat,
        and the extra inputs of a container are its leaves, in the same order."""
        signature, flat, _ = self.prepare(args, {})
        compiled = self.compiled(signature, flat)
        watch, self._watch = getattr(self, "_watch", None), None
        if watch is not None:
            watch.done()
        return compiled

    def flat_arguments(self, *args) -> tuple:
        """The function's arguments as the compiled function takes them (before the extra inputs):
        containers flattened into their leaves, the bound object's and module data's arrays after them."""
        return tuple(self.prepare(args, {})[1])

    def run(self, compiled, args, given=None):
        """The compiled program at `args` (the flat arguments, then tangents or vectors); `given`: the
        caller's own values of the flat arguments (`failures.given_leaves`, by default this call's)."""
        watch, self._watch = getattr(self, "_watch", None), None
        try:
            result = compiled(*args)
        except Exception as exc:
            if watch is not None:
                watch.done()
            # the state names a failed `assert` or unbound read; the function's own (flat) arguments come
            # first, before the tangents or vectors: through the flat function, the line Python raises on
            state = self._compiled_states.get(id(compiled))
            if state is None:
                self._failed(exc)
            own = tuple(args[:len(state.primal.params)])
            users = tuple(given[:len(own)]) if given is not None else given_leaves(own)
            # of Python's arithmetic: the careful rerun's outputs, where it has finite ones
            careful = careful_derivative(self, state, args, users) if arithmetic_error(exc) else None
            if careful is not None:
                return careful
            explain(self._flat_function(state, own), exc, state, users, converted=own)
        if watch is not None:
            watch.done()
        outputs = result if type(result) is tuple else (result,)
        if not self.jit:
            outputs = tuple(v.item() if isinstance(v, np.generic) else v for v in outputs)
        return outputs

    def finished(self, outputs, compiled, args, given=None) -> tuple:
        """`run`'s outputs at `args` (the flat arguments, then tangents, vectors or cotangents), checked: a
        `NonFiniteInputError` where some are not finite because an argument is not; where the arguments
        are finite, the careful rerun's outputs if it has finite ones (`failures.careful_derivative`:
        a NaN of `np.where`'s untaken side, times its zero tangent), else these, as `grad` returns them.
        `given`: the caller's own values of the flat arguments (by default this call's)."""
        state = self._compiled_states.get(id(compiled))
        if state is None or not _check_finite(outputs, args, state.primal.params, self.fn.__name__):
            return outputs
        own = tuple(args[:len(state.primal.params)])
        careful = careful_derivative(self, state, args, tuple(given[:len(own)]) if given is not None
                                     else given_leaves(own))
        return outputs if careful is None else careful

    def over_gradient(self) -> bool:
        """Is this derived by forward mode over the reverse-mode program of the grad object it
        differentiates (jvp(grad(f)), jacobian(grad(f)): the Hessian-vector product's way), rather than
        over that object's own program?"""
        return False

    def derivation_regions(self) -> tuple:
        """The grad objects the derivation wraps the function in (`pipeline.State.regions`)."""
        return self.regions[:-1] if self.over_gradient() else self.regions

    def gradient_step(self) -> Step:
        """The reverse step that stands for the outermost grad object (see `over_gradient`)."""
        kind, wrt, with_value, single = self.regions[-1]
        return Step("reverse", tuple(wrt), with_value)

    def tree(self, signature):
        """How the function's result nests (None: one value)."""
        if self.over_gradient():
            return _region_tree(self.regions[-1])
        return getattr(self.state_for(signature).primal, "output_tree", None)

    def __repr__(self) -> str:
        return f"<{self.kind} of {self.fn.__name__} wrt {', '.join(self.wrt)}>"


def _region_tree(spec):
    """The result structure of a grad object: (value, grads) or grads; one grad or a tuple."""
    kind, wrt, with_value, single = spec
    first = 1 if with_value else 0
    grads = first if single else tuple(range(first, first + len(wrt)))
    if with_value:
        return (0, grads)
    return None if single else grads


def _shaped(value, like, name: str, what: str, fn_name: str):
    """`value` as the compiled program takes it: a float, or a float64 array of `like`'s shape."""
    pytrees.refuse_array_subclass(value, f"the {what} for {name!r} of {fn_name}")
    if isinstance(like, np.ndarray):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ArgumentError(f"the {what} for {name!r} of {fn_name} is {type(value).__name__}, not an array "
                                f"of numbers", hint=f"give a float array of the shape of {name}") from None
        if array.shape != like.shape:
            raise ArgumentError(f"the {what} for {name!r} of {fn_name} has shape {array.shape}, "
                                f"but {name} has shape {like.shape}", hint=f"give it the shape of {name}")
        return np.ascontiguousarray(array)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise ArgumentError(f"the {what} for {name!r} of {fn_name} is an array of shape {value.shape}, but "
                            f"{name} is a number", hint="give a float")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"the {what} for {name!r} of {fn_name} is {type(value).__name__}, not a number",
                            hint="give a float, or an array of the parameter's shape") from None


def _tree_leaves(tree, value, name: str, what: str, fn_name: str) -> list:
    """The leaves of `value` (a tangent, vector or cotangent for the parameter `name`), structured as
    `tree` (None: one leaf); an object's may be given as the object or as a dict of its attributes."""
    if not isinstance(tree, pytrees.TreeType):
        return [value]
    if tree.kind == "dict" or (tree.kind == "object" and isinstance(value, dict)):
        fits = isinstance(value, dict) and set(value) == set(tree.keys)
        items = [value[k] for k in tree.keys] if fits else None
    elif tree.kind == "object":
        fits = all(hasattr(value, k) for k in tree.keys)
        items = [getattr(value, k) for k in tree.keys] if fits else None
    else:
        fits = isinstance(value, (tuple, list)) and len(value) == len(tree.keys)
        items = list(value) if fits else None
    if not fits:
        shown = {"dict": f"a dict with keys {list(tree.keys)}", "object": f"a dict with keys {list(tree.keys)}",
                 "tuple": f"a tuple of {len(tree.keys)}", "list": f"a list of {len(tree.keys)}"}[tree.kind]
        raise ArgumentError(f"the {what} for {name!r} of {fn_name} must have the structure of {name}: "
                            f"{shown}, got {type(value).__name__}",
                            hint=f"give the {what} as {name} is given, with a float or an array per leaf")
    out = []
    for key, child, item in zip(tree.keys, tree.children, items):
        out += _tree_leaves(child, item, f"{name}[{key!r}]", what, fn_name)
    return out


def _leaf_shapes(state, flat) -> list:
    """The shape of every float leaf of the wrt parameters (`state.leaf_wrt` order)."""
    by_leaf = dict(zip(state.primal.params, flat))
    return [np.shape(by_leaf[leaf]) for leaf in state.leaf_wrt]


def _check_finite(outputs, converted, params, fn_name) -> bool:
    """Are some outputs not finite?  A `NonFiniteInputError` where an argument is not finite either."""
    from .api import _nonfinite, SCAN_LIMIT
    if any(_nonfinite(v, SCAN_LIMIT) for v in outputs if isinstance(v, (float, np.ndarray))):
        for arg, name in zip(converted, params):
            if _nonfinite(arg):
                raise NonFiniteInputError(f"argument {name!r} of {fn_name} holds NaN or infinity",
                                          hint="derivatives at NaN or infinity are undefined; check the input")
        return True
    return False


# ---------------------------------------------------------------------------- jvp

class JVPFunction(ProgramFunction):
    """`jvp(f, wrt)(*args, tangents=(t, ...))` -> `(value, tangent)` (forward mode)."""

    kind = "jvp"

    def over_gradient(self) -> bool:
        return bool(self.regions)

    def steps(self) -> tuple:
        forward = Step("forward", tuple(self.wrt), suffix="jvp")
        return (self.gradient_step(), forward) if self.over_gradient() else (forward,)

    def tangents_of(self, tangents, state, flat) -> list:
        if tangents is None:
            raise ArgumentError(f"jvp of {self.fn.__name__} needs tangents=(...), one per wrt parameter "
                                f"({', '.join(self.wrt)})", hint="e.g. tangents=(1.0,) or tangents=(v,)")
        if self.single:
            name = self.wrt[0]
            if not isinstance(tangents, (tuple, list)) or \
                    (name in state.facts.structures and not _wrapped_once(tangents, state, name)):
                tangents = (tangents,)          # the one tangent, given bare
        tangents = tuple(tangents)
        if len(tangents) != len(self.wrt):
            raise ArgumentError(f"jvp of {self.fn.__name__} got {len(tangents)} tangent(s) for "
                                f"{len(self.wrt)} wrt parameter(s) ({', '.join(self.wrt)})",
                                hint="give one tangent per wrt parameter, shaped like it")
        return [leaf for t, w in zip(tangents, self.wrt) for leaf in self.leaves_of(t, w, "tangent", state, flat)]

    def __call__(self, *args, tangents=None, **kwargs):
        signature, flat, state = self.prepare(args, kwargs)
        dots = self.tangents_of(tangents, state, flat)
        compiled = self.compiled(signature, flat, dots)
        outputs = self.finished(self.run(compiled, list(flat) + dots), compiled, list(flat) + dots)
        count = len(outputs) // 2
        tree = self.tree(signature)
        values, tangents_out = outputs[:count], outputs[count:]
        if tree is None:
            return values[0], tangents_out[0]
        return _rebuild(tree, values), _rebuild(tree, tangents_out)


def _wrapped_once(tangents, state, name) -> bool:
    """For one container wrt: is `tangents` the one-tuple `(t,)` around a tangent of the container's
    structure (rather than the tangent itself, when the container is a tuple or list)?"""
    tree = state.facts.structures[name][0]
    if not isinstance(tangents, (tuple, list)) or len(tangents) != 1:
        return False
    if tree.kind in ("tuple", "list"):
        return len(tree.keys) != 1 or isinstance(tangents[0], (tuple, list))
    return True


def jvp(fn=None, wrt=0, *, jit: bool = True, verify: bool = False, simplify: bool = True, skip=()):
    """The Jacobian-vector product of `fn` by forward mode: `jvp(f, wrt=0)(*args, tangents=(t,))`
    returns `(value, tangent)`, the derivative of `f` at `args` along the tangents (one per `wrt`
    parameter, shaped like it).  `fn` may be a `grad` object: `jvp(grad(f))` is forward over
    reverse mode (the tangent is the Hessian-vector product)."""
    options = dict(jit=jit, verify=verify, simplify=simplify, skip=skip)
    if fn is None:
        return lambda f: JVPFunction(f, wrt, **options)
    return JVPFunction(fn, wrt, **options)


# ---------------------------------------------------------------------------- vjp

class VJPFunction(ProgramFunction):
    """`vjp(f, wrt)(*args)` -> `(value, pullback)` (reverse mode)."""

    kind = "vjp"

    def steps(self) -> tuple:
        return (Step("vjp", tuple(self.wrt), suffix="vjp"),)

    def __call__(self, *args, **kwargs):
        signature, flat, state = self.prepare(args, kwargs)
        tree = self.tree(signature)
        # the value, by the primal program alone; the pullback runs the reverse-mode program
        values = self.run(_primal_program(self, signature), list(flat))
        _check_finite(values, flat, state.primal.params, self.fn.__name__)
        value = values[0] if tree is None else _rebuild(tree, values)
        return value, Pullback(self, tuple(flat), signature, tuple(values))


class Pullback:
    """The pullback of a `vjp` at its arguments: `pullback(ct)` -> the gradient(s) of `ct . value`."""

    def __init__(self, owner: VJPFunction, args: tuple, signature: tuple, values: tuple):
        self.owner = owner
        self.args = args
        self.given = given_leaves(args)      # the caller's values, for a failure's explanation
        self.signature = signature
        self.values = values

    def __call__(self, ct):
        owner = self.owner
        tree = owner.tree(self.signature)
        leaves = _leaves(ct, tree, "cotangent")
        if len(leaves) != len(self.values):
            raise ArgumentError(f"the cotangent has {len(leaves)} part(s), the value {len(self.values)}",
                                hint="give a cotangent with the structure and shapes of the value")
        cts = [_shaped(c, v if isinstance(v, np.ndarray) else 0.0, f"output {k}", "cotangent", owner.fn.__name__)
               for k, (c, v) in enumerate(zip(leaves, self.values))]
        compiled = owner.compiled(self.signature, self.args, cts)
        outputs = owner.finished(owner.run(compiled, list(self.args) + cts, given=self.given), compiled,
                                 list(self.args) + cts, given=self.given)
        grads = owner._per_parameter(owner.state_for(self.signature), outputs[len(self.values):])
        return grads[0] if owner.single else tuple(grads)

    def __repr__(self) -> str:
        return f"<pullback of {self.owner.fn.__name__} wrt {', '.join(self.owner.wrt)}>"


def _leaves(value, tree, what: str = "value") -> list:
    if tree is None:
        return [value]
    if not isinstance(value, (tuple, list)) or len(value) != len(tree):
        raise ArgumentError(f"the {what} must be a tuple of {len(tree)}, like the function's result")
    out = []
    for v, t in zip(value, tree):
        out += _leaves(v, t if isinstance(t, tuple) else None, what)
    return out


def _primal_program(obj: ProgramFunction, signature):
    """The compiled primal alone (its outputs), for shapes: printed from the primal IR."""
    key = ("primal", obj.full_signature(signature))
    compiled = obj._compiled.get(key)
    if compiled is None:
        from .backend.printer import print_module
        from .ir import dataflow
        import copy
        state = obj.state_for(signature)
        primal = copy.deepcopy(state.primal)
        primal.name = f"{primal.name}_value"
        if not primal.returns:
            primal.returns = (primal.result,)
        dataflow.invalidate(primal)
        # the module Numba compiles checks what Python raises (`math.log(-1.0)`), where Numba's gives nan
        text = print_module(primal, f"The value of {obj.plain.__name__}, derived by autodiff_compiler.\n",
                            compiled=obj.jit)
        compiled = load(text, primal.name, jit=obj.jit, level=llvm_level(primal))
        obj._compiled[key] = compiled
        obj._compiled_states[id(compiled)] = state
    return compiled


def vjp(fn=None, wrt=0, *, jit: bool = True, verify: bool = False, simplify: bool = True, skip=()):
    """The vector-Jacobian product of `fn` by reverse mode: `value, pullback = vjp(f)(*args)`;
    `pullback(ct)` returns the gradient(s) of `ct . value` with respect to `wrt` (`ct` shaped like the
    value, a tuple for a tuple result)."""
    options = dict(jit=jit, verify=verify, simplify=simplify, skip=skip)
    if fn is None:
        return lambda f: VJPFunction(f, wrt, **options)
    return VJPFunction(fn, wrt, **options)


# ------------------------------------------------------------------------ jacobian

class JacobianFunction(ProgramFunction):
    """`jacobian(f, wrt, mode)(*args)` -> blocks shaped output.shape + input.shape, nested as JAX does."""

    kind = "jacobian"

    def __init__(self, fn, wrt=0, *, mode="auto", jit=True, verify=False, simplify=True, skip=()):
        if mode not in _MODES:
            raise ArgumentError(f"mode={mode!r}: the modes are {', '.join(map(repr, _MODES))}",
                                hint="'forward' (columns), 'reverse' (rows) or 'auto' (whichever are fewer)")
        self.mode = mode
        super().__init__(fn, wrt, jit=jit, verify=verify, simplify=simplify, skip=skip)

    def over_gradient(self) -> bool:
        # the Jacobian of a grad object (a Hessian): forward mode over its reverse-mode program, unless
        # rows are asked for (reverse mode over its forward-mode program)
        return bool(self.regions) and self.mode != "reverse"

    def steps(self) -> tuple:
        if self.over_gradient():
            return (self.gradient_step(), Step("jacobian", tuple(self.wrt), mode="forward", suffix="jacobian"))
        return (Step("jacobian", tuple(self.wrt), mode=self.mode, suffix="jacobian"),)

    def pickle_options(self) -> dict:
        return dict(super().pickle_options(), mode=self.mode)

    def __call__(self, *args, **kwargs):
        signature, flat, state = self.prepare(args, kwargs)
        compiled = self.compiled(signature, flat)
        outputs = self.finished(self.run(compiled, flat), compiled, flat)
        tree = self.tree(signature)
        count = 1 if tree is None else _leaf_count(tree)
        values, blocks = outputs[:count], outputs[count:]
        shapes_in = _leaf_shapes(state, flat)
        per_output = []
        for k, value in enumerate(values):
            row = []
            for j, shape in enumerate(shapes_in):
                block = blocks[k * len(shapes_in) + j]
                shaped = np.asarray(block).reshape(np.shape(value) + shape)
                row.append(float(shaped) if shaped.ndim == 0 else shaped)
            row = self._per_parameter(state, row)      # a container's blocks in its structure
            per_output.append(row[0] if self.single else tuple(row))
        return per_output[0] if tree is None else _rebuild(tree, tuple(per_output))


def jacobian(fn=None, wrt=0, *, mode: str = "auto", jit: bool = True, verify: bool = False,
             simplify: bool = True, skip=()):
    """The Jacobian of `fn`: `jacobian(f, wrt=0)(*args)` is an array shaped `output.shape +
    input.shape` (a float when both are floats); a tuple result and/or a tuple `wrt` give nested
    tuples, outputs outside, as in JAX.  `mode`: "forward" (columns by forward mode), "reverse" (rows
    by reverse mode) or "auto" (whichever are fewer, decided at run time when the shapes decide it)."""
    options = dict(mode=mode, jit=jit, verify=verify, simplify=simplify, skip=skip)
    if fn is None:
        return lambda f: JacobianFunction(f, wrt, **options)
    return JacobianFunction(fn, wrt, **options)


# ------------------------------------------------------------------------- hessian

class HessianFunction(ProgramFunction):
    """`hessian(f, wrt)(*args)`: the Jacobian (forward mode) of the reverse-mode gradient."""

    kind = "hessian"

    def steps(self) -> tuple:
        return (Step("reverse", tuple(self.wrt), with_value=False),
                Step("jacobian", tuple(self.wrt), mode="forward", suffix="hessian"))

    def __call__(self, *args, **kwargs):
        signature, flat, state = self.prepare(args, kwargs)
        compiled = self.compiled(signature, flat)
        outputs = self.finished(self.run(compiled, flat), compiled, flat)
        shapes = _leaf_shapes(state, flat)
        n = len(shapes)
        grads, blocks = outputs[:n], outputs[n:]
        rows = []
        for k in range(n):
            row = []
            for j in range(n):
                shaped = np.asarray(blocks[k * n + j]).reshape(shapes[k] + shapes[j])
                row.append(float(shaped) if shaped.ndim == 0 else shaped)
            row = self._per_parameter(state, row)      # d/dw_j of dF/dw_k, per wrt parameter j
            rows.append(row[0] if self.single else tuple(row))
        rows = self._per_parameter(state, rows)        # ... per wrt parameter k: H[k][j], nested as JAX does
        return rows[0] if self.single else tuple(rows)


def hessian(fn=None, wrt=0, *, jit: bool = True, verify: bool = False, simplify: bool = True, skip=()):
    """The Hessian of a function returning one float: forward mode (by columns) over its reverse-mode
    gradient.  `(n, n)` for a vector parameter, a float for a float, nested tuples for a tuple `wrt`."""
    options = dict(jit=jit, verify=verify, simplify=simplify, skip=skip)
    if fn is None:
        return lambda f: HessianFunction(f, wrt, **options)
    return HessianFunction(fn, wrt, **options)


# ----------------------------------------------------------------------------- hvp

class HVPFunction(ProgramFunction):
    """`hvp(f, wrt)(x, v, *rest)`: the Hessian times `v`, forward over reverse mode."""

    kind = "hvp"

    def __init__(self, fn, wrt=0, **options):
        super().__init__(fn, wrt, **options)
        if not self.single:
            raise ArgumentError("hvp takes one wrt parameter (an int or a name)",
                                hint="for several, differentiate with respect to one array, or use hessian")
        self.position = self.params.index(self.wrt[0])

    def steps(self) -> tuple:
        return (Step("reverse", tuple(self.wrt), with_value=False),
                Step("forward", tuple(self.wrt), primal_outputs=False, suffix="hvp"))

    def __call__(self, *args, **kwargs):
        p = self.position
        if len(args) <= p:
            raise ArgumentError(f"hvp of {self.fn.__name__} takes the vector right after {self.wrt[0]!r}: "
                                f"({', '.join(self.params[:p + 1] + ['v'] + self.params[p + 1:])})")
        v = args[p + 1] if len(args) > p + 1 else kwargs.pop("v", None)
        if v is None:
            raise ArgumentError(f"hvp of {self.fn.__name__} needs the vector v after {self.wrt[0]!r}")
        args = args[:p + 1] + args[p + 2:]
        key = _fast_key(args) if not kwargs else None
        fast = self._fast.get(key) if key is not None else None
        if fast is not None and type(v) is type(args[p]) and np.shape(v) == np.shape(args[p]) and \
                (type(v) is float or v.dtype.char == "d") and hold(fast[1]):
            outputs = self.run(fast[0], args + (v,))
            if self._finite_fast(outputs[0]):
                return outputs[0]
        signature, flat, state = self.prepare(args, kwargs)
        vs = self.leaves_of(v, self.wrt[0], "vector v", state, flat)
        compiled = self.compiled(signature, flat, vs)
        # the fast path takes the arguments as given: plain numbers and arrays, no module numbers to watch
        if self.jit and not kwargs and not state.facts.watches and self._plain(state) and all(
                type(a) in _SCALAR_TYPES or (type(a) is np.ndarray and a.ndim and a.dtype.char in "dl") for a in args):
            self._fast[_fast_key(args)] = (compiled, state.facts.bindings)     # checked at each use
        outputs = self.finished(self.run(compiled, list(flat) + vs), compiled, list(flat) + vs)
        return self._per_parameter(state, outputs[:len(vs)])[0]

    @staticmethod
    def _finite_fast(value) -> bool:
        from .api import _nonfinite, SCAN_LIMIT
        return not _nonfinite(value, SCAN_LIMIT)


def hvp(fn=None, wrt=0, *, jit: bool = True, verify: bool = False, simplify: bool = True, skip=()):
    """The Hessian-vector product of a function returning one float, by forward mode over its
    reverse-mode gradient (one gradient's cost times a small constant; no matrix is formed):
    `hvp(f)(x, v, *rest)` -- the vector right after the differentiated argument, SciPy's
    `hessp(x, p, *args)` order for `wrt=0`."""
    options = dict(jit=jit, verify=verify, simplify=simplify, skip=skip)
    if fn is None:
        return lambda f: HVPFunction(f, wrt, **options)
    return HVPFunction(fn, wrt, **options)
