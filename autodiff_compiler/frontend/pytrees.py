"""Pytrees: parameters that are tuples, lists, dicts (nested) and objects, as flat leaves.

Takes: call arguments (any nesting of tuples, lists, dicts with string keys,
and objects whose attributes are numbers, arrays or such containers).
Guarantees:

* `tree_type(value, leaf_type)` describes an argument's structure as a
  hashable `TreeType` (dict keys in the caller's order, so a gradient dict
  comes back in the order the parameter dict was written), whose leaves are
  the compiler's types of the numbers and arrays: two calls with the same
  `TreeType` share one compiled gradient (a dict with the same keys in another
  order is another structure and compiles once more);
* `leaves(tree, value)` lists the leaves in one fixed order, `paths(tree)`
  their keys and types in the same order, and `unflatten(tree, items)`
  builds the same structure back from one item per leaf (how gradients come
  back in the structure of the parameter);
* `leaf_names(param, tree, names)` names the leaves as parameters of the
  IR function (`params_W1`, `layers_0_1`), fresh against the user's names.

Nothing after the front end sees a container: the lowering binds a
structured parameter to its leaves, and the API flattens the arguments in the
order `leaves` gives.
"""
from __future__ import annotations

import copy as _copy
import re
from dataclasses import dataclass

from ..errors import ArgumentError


@dataclass(frozen=True)
class TreeType:
    """The structure of a container argument: its kind, keys (in leaf order) and children's types."""
    kind: str               # "tuple", "list", "dict" or "object"
    keys: tuple
    children: tuple         # one `ir.Type` or `TreeType` per key
    name: str = ""          # the class of an object
    cls: object = None      # ... and the class itself (its methods are inlined with the object as self)
    others: tuple = ()      # ... and its own attributes that are no values (a function set on it shadows a method)

    @property
    def is_array(self) -> bool:
        return False

    @property
    def is_float(self) -> bool:
        return False

    def __str__(self) -> str:
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, self.children)) + "}"
        if self.kind == "object":
            return f"{self.name}(" + ", ".join(f"{k}={c}" for k, c in zip(self.keys, self.children)) + ")"
        inner = ", ".join(map(str, self.children))
        return f"({inner},)" if self.kind == "tuple" and len(self.children) == 1 else \
            (f"({inner})" if self.kind == "tuple" else f"[{inner}]")


def is_container(value) -> bool:
    return isinstance(value, (tuple, list, dict))


def tree_type(value, leaf_type, where: str = "argument"):
    """The `TreeType` of a container (a leaf's `ir.Type` for anything else, from `leaf_type(value, where)`)."""
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return TreeType(kind, tuple(range(len(value))),
                        tuple(tree_type(v, leaf_type, f"{where}[{k}]") for k, v in enumerate(value)))
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ArgumentError(f"{where} is a dict with keys that are not strings",
                                hint="use string keys ({'W': ..., 'b': ...}); the function reads them as constants")
        keys = tuple(value)
        return TreeType("dict", keys, tuple(tree_type(value[k], leaf_type, f"{where}[{k!r}]") for k in keys))
    return leaf_type(value, where)


def _own_attributes(obj) -> dict:
    """An object's own attributes: its `__dict__`'s, and those its classes' `__slots__` hold."""
    own = dict(getattr(obj, "__dict__", None) or {})
    for klass in type(obj).__mro__:
        slots = vars(klass).get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                own.setdefault(name, getattr(obj, name))
    return own


def object_type(obj, leaf_type, where: str = "self") -> TreeType:
    """An object's numbers, arrays and containers of them (its other attributes are not values here: their
    names are kept, `others`, so that a function set on the object is not taken for the class's method)."""
    fields, others = {}, []
    for key, value in sorted(_own_attributes(obj).items()):
        if key.startswith("__"):
            continue
        try:
            fields[key] = tree_type(value, leaf_type, f"{where}.{key}")
        except ArgumentError:
            others.append(key)
    return TreeType("object", tuple(fields), tuple(fields.values()), type(obj).__name__, type(obj), tuple(others))


def object_fields(obj, tree: TreeType) -> list:
    return [getattr(obj, k) for k in tree.keys]


def children_of(tree: TreeType, value) -> list:
    if tree.kind == "object":
        return [getattr(value, k) for k in tree.keys]
    if tree.kind == "dict":
        return [value[k] for k in tree.keys]
    return list(value)


def leaves(tree, value) -> list:
    """The leaves of `value` (structured as `tree`), in the fixed order."""
    if not isinstance(tree, TreeType):
        return [value]
    if tree.kind != "object" and (len(value) != len(tree.keys)):
        raise ArgumentError(f"a {tree.kind} of {len(value)} items where {len(tree.keys)} were expected")
    out = []
    for child, item in zip(tree.children, children_of(tree, value)):
        out += leaves(child, item)
    return out


def paths(tree, prefix: tuple = ()) -> list:
    """(path of keys, leaf type) for every leaf, in the order `leaves` gives."""
    if not isinstance(tree, TreeType):
        return [(prefix, tree)]
    out = []
    for key, child in zip(tree.keys, tree.children):
        out += paths(child, prefix + (key,))
    return out


def unflatten(tree, items):
    """The structure `tree` with its leaves taken in order from the iterator `items` (objects come back
    as dicts of their attributes)."""
    if not isinstance(tree, TreeType):
        return next(items)
    values = [unflatten(child, items) for child in tree.children]
    if tree.kind == "tuple":
        return tuple(values)
    if tree.kind == "list":
        return list(values)
    return dict(zip(tree.keys, values))


def count(tree) -> int:
    return len(paths(tree))


def leaf_names(param: str, tree, names) -> list:
    """Fresh IR parameter names for the leaves of `param`: `params_W1`, `layers_0_1`, ..."""
    out = []
    for path, _ in paths(tree):
        parts = [re.sub(r"\W", "_", str(k)) or "key" for k in path]
        out.append(names.fresh("_".join([param] + parts)))
    return out


def path_text(param: str, path: tuple) -> str:
    return param + "".join(f"[{k!r}]" for k in path)


def refuse_array_subclass(value, where: str) -> None:
    """An ArgumentError for a subclass of ndarray other than np.memmap: it may give the operators another
    meaning (np.matrix: `*` is a matrix product) or carry data the compiled code would ignore (a masked
    array's mask), so it is never read as a plain array.  Arguments, tangents, vectors and cotangents."""
    import numpy as np
    if isinstance(value, np.ndarray) and type(value) not in (np.ndarray, np.memmap):
        raise ArgumentError(f"{where} is a {type(value).__module__}.{type(value).__name__}, a subclass of "
                            f"numpy.ndarray whose meaning the compiled code would not keep",
                            hint="pass a plain array: np.asarray(x) (for a masked array, x.filled(value) or "
                                 "x.compressed() says what its masked entries should be)")


def leaf_type(value, where: str = "argument"):
    """The compiler's type of a number or an array (an `ArgumentError` saying what to pass otherwise).
    Float arrays of any precision are float64 arrays here: float32 arguments are computed in float64 and
    their gradients cast back (see the README)."""
    import numbers

    import numpy as np

    from ..ir.nodes import BOOL, FLOAT, INT, array_of
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, (numbers.Integral, np.integer)):
        return INT
    if isinstance(value, (complex, np.complexfloating)):
        raise ArgumentError(f"{where} is a complex number ({value!r}): complex numbers are not supported",
                            hint="differentiate the real and imaginary parts as two float arguments")
    if isinstance(value, (numbers.Real, np.floating)):
        return FLOAT
    if isinstance(value, np.ndarray):
        refuse_array_subclass(value, where)
        kind = value.dtype.kind
        if kind == "c":
            raise ArgumentError(f"{where} is a complex array ({value.dtype}): complex numbers are not supported",
                                hint="pass the real and imaginary parts as two float arrays (x.real, x.imag)")
        if value.ndim == 0:
            if kind == "f":
                return FLOAT
            if kind in "iu":
                return INT
            if kind == "b":
                return BOOL
        elif kind == "f":
            return array_of(value.ndim, "float64")
        elif kind in "iu":
            return array_of(value.ndim, "int64")
        elif kind == "b":
            return array_of(value.ndim, "bool")
        raise ArgumentError(f"{where} is an array of {value.dtype}",
                            hint="pass float (float64 or float32), integer or boolean NumPy arrays")
    hint = "pass a float, an int, a NumPy array, or a tuple, list or dict of them"
    raise ArgumentError(f"{where} has unsupported type {type(value).__name__}", hint=hint)


def leaf_count(tree) -> int:
    """The leaves of a tree of nested tuples (an output tree: leaf numbers)."""
    if isinstance(tree, tuple):
        return sum(leaf_count(t) for t in tree)
    return 1


def rebuild(tree, leaves: tuple, first: int = 0):
    """The nested tuples of `tree` (leaf numbers, counted from `first`) with the leaves' values."""
    if isinstance(tree, tuple):
        return tuple(rebuild(t, leaves, first) for t in tree)
    return leaves[tree - first]


def replaced(value, path, item):
    """`value` with the item at `path` replaced (containers rebuilt, the original untouched)."""
    if not path:
        return item
    key, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = dict(value)
        out[key] = replaced(value[key], rest, item)
        return out
    if isinstance(value, (tuple, list)):
        out = list(value)
        out[key] = replaced(value[key], rest, item)
        return type(value)(out) if isinstance(value, tuple) else out
    copy = _copy.copy(value)
    setattr(copy, key, replaced(getattr(value, key), rest, item))
    return copy


def with_fields(obj, fields: dict):
    """A shallow copy of `obj` with the attributes in `fields` (a rebuilt object tree) set."""
    copy = _copy.copy(obj)
    for key, value in fields.items():
        setattr(copy, key, _restructured(getattr(obj, key), value))
    return copy


def _restructured(original, rebuilt):
    if isinstance(rebuilt, dict) and not isinstance(original, dict):
        return with_fields(original, rebuilt)
    return rebuilt
