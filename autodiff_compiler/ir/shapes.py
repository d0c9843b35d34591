"""Shapes: which array values have one shape, and which broadcast into a shape without changing it.

Takes: a typed `ir.Function` and its dataflow facts (`ir.dataflow.of`).
Guarantees, for the value a statement reads from an operand:

* `key(stmt, operand)`: a shape class.  Two values with the same class have
  the same shape on every run that reaches both reads.  A class is named by
  a definition (a statement's position, or a parameter), never by a
  variable, so a name defined again gets a new class;
* `fits(stmt, operand, cls)`: the value broadcasts into every array of class
  `cls` without changing its shape (NumPy's rules: its rank is at most that
  class's, and each of its axes has length 1 or that class's length there).
  Scalars fit everything.

What it knows (anything else is a class of its own):
* an elementwise primitive (`rules.is_elementwise`) has the class its array
  operands share, when every other operand fits that class (NumPy's result
  shape is the broadcast of the operands' shapes);
* a reduction that keeps its dimensions (`keepdims=True`) fits its operand's
  class, and so does an elementwise result of values that all fit it;
* a unit-step slice along the first axis with constant bounds, `x[a:b]`, has
  a class shared by every such slice of a value of `x`'s class whose length
  is the same function of `len(x)` (`x[1:]` and `x[:-1]` both have
  `max(len(x) - 1, 0)` elements; `_slice_lengths`);
* `expand_like(g, x)` and `unreduce(g, x, keepdims=True)` (`g` broadcast to
  `x`'s shape, the adjoints of sums and reductions) have `x`'s class when
  `g` fits it, and `sum_like(c, like)` (`c` summed back to `like`'s shape)
  has `like`'s class when `c` has it.
A value read where more than one definition may reach it has a class of its
own at that read.
"""
from __future__ import annotations

from . import dataflow
from .nodes import Assign, Const, Slice, Var
from ..rules import is_elementwise, reduces_axes

# g broadcast to the shape of its second operand (the adjoints of sums and keepdims reductions)
_BROADCAST_TO_SECOND = {"expand_like", "unreduce"}


class Shapes:
    def __init__(self, function):
        self.function = function
        self.types = function.types
        self.facts = dataflow.of(function)
        self._class: dict = {}            # definition -> class
        self._fits: dict = {}             # (definition, class) -> bool

    # ------------------------------------------------------------------ asked by passes
    def key(self, stmt, operand):
        """The shape class of the value `stmt` reads from `operand` (a Var); None for a scalar."""
        if not self._is_array(operand):
            return None
        return self._class_of_def(self._definition(stmt, operand.name), (self.facts.pos(stmt), operand.name))

    def fits(self, stmt, operand, cls) -> bool:
        """Does the value `stmt` reads from `operand` broadcast into class `cls` unchanged?"""
        if not self._is_array(operand):
            return True
        definition = self._definition(stmt, operand.name)
        if definition is None:
            return False
        return self._def_fits(definition, cls)

    # ------------------------------------------------------------------ definitions
    def _is_array(self, operand) -> bool:
        if isinstance(operand, Const):
            return False
        t = self.types.get(operand.name) if isinstance(operand, Var) else None
        return t is not None and t.is_array

    def _definition(self, stmt, name: str):
        """The one definition of `name` reaching its read by `stmt`, or None."""
        defs = self.facts.reaching(stmt, name)
        if len(defs) != 1:
            return None
        (d,) = defs
        if d == dataflow.UNDEFINED:
            return None
        return d

    def _assignment(self, definition):
        if isinstance(definition, int):
            stmt = self.facts.statement_at(definition)
            if isinstance(stmt, Assign) and not stmt.inplace:
                return stmt
        return None

    def _class_of_def(self, definition, fallback):
        if definition is None:
            return ("read",) + fallback
        if definition in self._class:
            return self._class[definition]
        self._class[definition] = ("definition", definition)       # a cycle through a loop: its own
        stmt = self._assignment(definition)
        if stmt is not None:
            self._class[definition] = self._derived_class(stmt, definition)
        return self._class[definition]

    def _derived_class(self, stmt: Assign, definition):
        own = ("definition", definition)
        prim = stmt.prim
        if is_elementwise(prim):
            arrays = [a for a in stmt.args if self._is_array(a)]
            for candidate in arrays:
                cls = self.key(stmt, candidate)
                if all(self.fits(stmt, other, cls) for other in arrays):
                    return cls
            return own
        if prim in _BROADCAST_TO_SECOND and (prim == "expand_like" or dict(stmt.params).get("keepdims")):
            g, x = stmt.args[0], stmt.args[1]
            cls = self.key(stmt, x)
            return cls if cls is not None and self.fits(stmt, g, cls) else own
        if prim == "sum_like":
            c, like = stmt.args[0], stmt.args[1]
            cls = self.key(stmt, like)
            return cls if cls is not None and self.key(stmt, c) == cls else own
        if prim == "subscript" and len(stmt.args) == 2 and isinstance(stmt.args[1], Slice) \
                and self._is_array(stmt.args[0]):
            lengths = _slice_lengths(stmt.args[1])
            if lengths is not None:
                return ("slice", self.key(stmt, stmt.args[0]), lengths)
        return own

    def _def_fits(self, definition, cls) -> bool:
        if self._class_of_def(definition, ()) == cls:
            return True
        memo = (definition, cls)
        if memo in self._fits:
            return self._fits[memo]
        self._fits[memo] = False                                     # a cycle: not known to fit
        stmt = self._assignment(definition)
        result = False
        if stmt is not None:
            params = dict(stmt.params)
            if reduces_axes(stmt.prim) and params.get("keepdims") is True:
                # a reduction keeping its dimensions: its axes have length 1 or its operand's length
                result = self.fits(stmt, stmt.args[0], cls)
            elif is_elementwise(stmt.prim):
                result = all(self.fits(stmt, a, cls) for a in stmt.args if isinstance(a, (Var, Const)))
        self._fits[memo] = result
        return result


_LARGEST_BOUND = 30          # slices with larger constant bounds get classes of their own


def _slice_lengths(piece: Slice) -> tuple | None:
    """The length of `x[start:stop]` for len(x) = 0, 1, ..., 63, when its bounds are constants (or
    omitted) of at most _LARGEST_BOUND in size and its step is 1; else None.  With such bounds both
    clipped ends are fixed or `len(x) - c` once len(x) >= 30, and their difference crosses 0 by
    len(x) = 60 at the latest: past that the length is one affine function of len(x), which the last
    two values give.  So two slices with the same tuple have the same length for every len(x)."""
    bounds = []
    for bound in (piece.start, piece.stop):
        if bound is None:
            bounds.append(None)
        elif isinstance(bound, Const) and type(bound.value) is int and abs(bound.value) <= _LARGEST_BOUND:
            bounds.append(bound.value)
        else:
            return None
    if piece.step is not None and not (isinstance(piece.step, Const) and piece.step.value == 1
                                       and type(piece.step.value) is int):
        return None
    return tuple(len(range(*slice(*bounds).indices(n))) for n in range(2 * _LARGEST_BOUND + 4))


def of(function) -> Shapes:
    """The shape classes of `function`, computed on demand until `dataflow.invalidate(function)`."""
    facts = dataflow.of(function)
    cached = getattr(facts, "_shapes", None)
    if cached is None:
        cached = Shapes(function)
        facts._shapes = cached
    return cached
