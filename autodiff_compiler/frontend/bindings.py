"""Bindings: the objects a derivation used as code, and where it read them, so that a rebinding is seen.

Takes: what the lowering resolved from a live namespace -- a called function of
the user's (inlined), a NumPy, math or SciPy function reached through a
module-level alias (`ACT = np.tanh`) or a user module's attribute, a
custom-derivative function, a derivative object, a class or a user module on
the way to one -- and the parameter defaults of every function whose defaults
it read (`__defaults__`).

Guarantees: a `Binding` reads its object again from the same place (a module's
dict, a closure's cell, a class's attribute, a function's `__defaults__`) and
`holds()` while that is the very object the derivation used (identity: a
redefined function is a new object; a new `__defaults__` is a new tuple).
`hold(bindings)` is the test every call of a gradient object makes (the full
path, the entries of `call_entries`, the native router of `backend/router.py`,
which reads `IN_DICT`... as they are here); `unchanged(watches)` is the one of
the module numbers the derivation baked in (by value).
"""
from __future__ import annotations

from dataclasses import dataclass, field


class _Kind:
    """How a binding is read again (one object per kind: the router tells them apart by identity)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


IN_DICT = _Kind("IN_DICT")          # scope[key]: a module's globals (or a user module's `__dict__`)
IN_CELL = _Kind("IN_CELL")          # scope.cell_contents: a closure's cell (key unused)
ATTRIBUTE = _Kind("ATTRIBUTE")      # getattr(scope, key): a class's attribute
DEFAULTS = _Kind("DEFAULTS")        # scope.__defaults__ (None where it has none): a function's defaults
KINDS = (IN_DICT, IN_CELL, ATTRIBUTE, DEFAULTS)

_ABSENT = object()


@dataclass(frozen=True, eq=False)
class Binding:
    """`expected` is what reading `key` of `scope` (as `kind` says) gave when the derivation was made."""
    kind: _Kind
    scope: object = field(repr=False)
    key: object
    expected: object

    def read(self):
        """The object there now (`_ABSENT` where there is none)."""
        try:
            if self.kind is IN_DICT:
                return self.scope.get(self.key, _ABSENT)
            if self.kind is IN_CELL:
                return self.scope.cell_contents
            if self.kind is ATTRIBUTE:
                return getattr(self.scope, self.key, _ABSENT)
            return self.scope.__defaults__
        except (ValueError, AttributeError):        # an emptied cell
            return _ABSENT

    def holds(self) -> bool:
        return self.read() is self.expected

    def __deepcopy__(self, memo):
        return self         # it names live objects: a copy of the IR that holds it names the same ones

    def ident(self) -> tuple:
        return (self.kind.name, id(self.scope), self.key if self.kind is not DEFAULTS else None)


def hold(bindings) -> bool:
    """Are all the objects a derivation used as code still where it found them?"""
    for binding in bindings:
        if binding.read() is not binding.expected:
            return False
    return True


def unchanged(watches) -> bool:
    """Do the module numbers a derivation baked in still have the values it saw?"""
    for read, value in watches:
        try:
            now = read()
        except Exception:
            return False
        if now is not value and now != value:
            return False
    return True


def current(facts) -> bool:
    """Does a derivation (its `frontend.lower.Facts`) still describe the code a call would run: its module
    numbers the same, its functions the same objects?"""
    return (not facts.watches or unchanged(facts.watches)) and (not facts.bindings or hold(facts.bindings))


def stable(binding: Binding) -> bool:
    """Does reading it twice give one object (a class attribute that makes a new object at each read,
    such as a bound method, could never hold: it is not watched)?"""
    return binding.read() is binding.read()
