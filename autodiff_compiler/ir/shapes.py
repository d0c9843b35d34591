"""Shapes: which array values have one shape, and which broadcast into a shape without changing it.

Takes: a typed `ir.Function` and its dataflow facts (`ir.dataflow.of`), and
the function's `param_dims`: what the call's dispatch proved of its array
arguments' axes (`dims_of_arguments`; the generated code checks it on entry,
`guard_conditions`).
Guarantees, for the value a statement reads from an operand:

* `key(stmt, operand)`: a shape class, a tuple with one *term* per axis.
  Two values with the same class have the same shape on every run that
  reaches both reads.  A term is `ONE` (an axis of length 1), a parameter's
  axis as dispatch named it (every axis of the same length among the
  arguments has the same term), an axis sliced with constant bounds, or an
  axis of its own, named by a definition (a statement's position or a
  parameter), never by a variable, so a name defined again gets new terms;
* `fits(stmt, operand, cls)`: the value broadcasts into every array of class
  `cls` without changing its shape (NumPy's rules: its rank is at most that
  class's, and each of its axes has length 1 or that class's length there).
  Scalars fit everything.

What it knows, axis by axis (anything else is an axis of its own):
* an elementwise primitive (`rules.is_elementwise`) has the broadcast of its
  operands' axes: equal terms give that term, `ONE` gives the other; two
  terms not known to be equal give an axis of its own;
* a reduction along axes (`rules.reduces_axes`) drops them, or makes them
  `ONE` with `keepdims=True`; `expand_dims` inserts `ONE`s; `x.T` and
  `np.transpose` permute the terms; `np.dot`, `@` and `np.outer` of vectors
  and matrices take their result's axes from their operands'; a copy, and
  `np.zeros_like(x)` and its kind, have `x`'s terms;
* `x[...]`: an integer index drops its axis, a whole slice `:` keeps its
  term, and a unit-step slice with constant bounds, `x[a:b]`, gives a term
  shared by every such slice of an axis with the same term whose length is
  the same function of that axis's length (`x[1:]` and `x[:-1]` both have
  `max(len(x) - 1, 0)` elements; `_slice_lengths`);
* `expand_like(g, x)` and `unreduce(g, x, keepdims=True)` (`g` broadcast to
  `x`'s shape, the adjoints of sums and reductions) have `x`'s class when
  `g` fits it, and `sum_like(c, like)` (`c` summed back to `like`'s shape)
  has `like`'s class when each of `like`'s axes is `ONE` or `c`'s;
* a store into an array keeps the array's class; a value popped from a tape
  has the class every value pushed onto that tape has, when they agree;
* a value read where more than one definition may reach it has their class
  when they all agree, else a class of its own at that read.
Fits also holds, beyond the axes, for a reduction keeping its dimensions of a
value of the class, and for an elementwise result of values that all fit it.
"""
from __future__ import annotations

from . import dataflow
from .nodes import Assign, Const, Pop, Push, Slice, Store, Var, walk
from ..rules import PRIMITIVES, is_elementwise, reduces_axes

ONE = 1                                   # the term of an axis of length 1

# g broadcast to the shape of its second operand (the adjoints of sums and keepdims reductions)
_BROADCAST_TO_SECOND = {"expand_like", "unreduce"}
# the result has the shape of the first operand
_SAME_SHAPE = {"array_copy", "zeros_like", "ones_like", "empty_like", "spread_axes"}


def dims_of_arguments(params, shapes: dict) -> tuple:
    """What dispatch knows of the array arguments' axes, given their shapes (`name -> shape tuple`,
    arrays only): each axis of length 1 is `ONE`, every other axis is named by the first axis of the
    same length in parameter order, `(parameter, axis)`.  As a hashable tuple of `(name, terms)`."""
    first: dict = {}
    out = []
    for name in params:
        shape = shapes.get(name)
        if shape is None:
            continue
        terms = []
        for axis, length in enumerate(shape):
            if length == 1:
                terms.append(ONE)
            else:
                terms.append(first.setdefault(length, (name, axis)))
        out.append((name, tuple(terms)))
    return tuple(out)


def guard_conditions(param_dims) -> list:
    """The tests, as `(name, axis, other)` (`other`: `ONE`, or the `(name, axis)` it equals), that the
    arguments' axes are as `param_dims` says: what a program specialised on them checks on entry."""
    out = []
    for name, terms in param_dims:
        for axis, term in enumerate(terms):
            if term == ONE or term != (name, axis):
                out.append((name, axis, term))
    return out


class _Pending(Exception):
    """An operand's shape is not known yet in this round of `Shapes._solve`."""


Pending = _Pending       # asked by passes: a class the analysis has not decided (nothing proved)


class Shapes:
    def __init__(self, function):
        self.param_names = tuple(function.params)   # not the function, which holds this (`of`)
        self.types = function.types
        self.facts = dataflow.of(function)
        self._params = dict(getattr(function, "param_dims", ()) or ())
        self._fits: dict = {}             # (definition, class) -> bool
        self._pushes: dict = {}           # tape -> the pushes onto it
        for stmt in walk(function.body):
            if isinstance(stmt, Push):
                self._pushes.setdefault(stmt.tape, []).append(stmt)
        self._shape: dict = {}            # definition -> shape (a tuple of terms), or None: not known yet
        self._solve()

    # ------------------------------------------------------------------ asked by passes
    def key(self, stmt, operand):
        """The shape class of the value `stmt` reads from `operand` (a Var); None for a scalar."""
        if not self._is_array(operand):
            return None
        shape = self._read_shape(stmt, operand.name)
        if shape is None:
            raise _Pending
        return shape

    def definition_class(self, stmt):
        """The shape class of the array `stmt` (an assignment) defines; None for a number."""
        if not isinstance(stmt, Assign) or not self._rank(stmt.target):
            return None
        shape = self._shape.get(self.facts.pos(stmt))
        if shape is None:
            raise _Pending
        return shape

    def fits(self, stmt, operand, cls) -> bool:
        """Does the value `stmt` reads from `operand` broadcast into class `cls` unchanged?"""
        if not self._is_array(operand):
            return True
        if cls is not None and _broadcasts_into(self.key(stmt, operand), cls):
            return True
        definition = self._definition(stmt, operand.name)
        if definition is None:
            return False
        return self._def_fits(definition, cls)

    def kept_by_accumulations(self, stmt, name: str):
        """The shape class of the array `stmt` reads from `name`, where the definitions reaching it are
        accumulations into it (`x += e`, `Assign.accumulate`: an in-place sum never changes its array's
        shape) and definitions before them, all of one class: a loop's `W_bar += ...`, whose read joins
        the definition before the loop with the loop's own (`key` gives that read a class of its own).
        None where they are not of one class, or one is a parameter's or not known."""
        seen, todo, found = set(), [stmt], set()
        while todo:
            reader = todo.pop()
            for definition in self.facts.reaching(reader, name):
                if not isinstance(definition, int):
                    return None
                if definition in seen:
                    continue
                seen.add(definition)
                definer = self.facts.statement_at(definition)
                if isinstance(definer, Assign) and definer.accumulate and definer.target == name:
                    todo.append(definer)
                    continue
                try:
                    found.add(self.definition_class(definer))
                except _Pending:
                    return None
        return found.pop() if len(found) == 1 and None not in found else None

    def may_raise_on_arrays(self, stmt: Assign) -> bool:
        """May `stmt` raise on its array operands' shapes or values (`mark_shape_errors`)?"""
        arrays = [a for a in stmt.args if isinstance(a, Var) and self._is_array(a)]
        if not arrays:
            return False
        if PRIMITIVES[stmt.prim].raises_on_arrays:
            return True
        try:
            if stmt.prim == "dot" and len(arrays) == 2:
                first, second = (self.key(stmt, a) for a in stmt.args[:2])
                # the last axis of the first against the first of the second (ranks 1 and 2: np.dot's rule)
                return len(first) > 2 or len(second) > 2 or first[-1] != second[0]
            if is_elementwise(stmt.prim) and len(arrays) > 1:
                classes = [self.key(stmt, a) for a in arrays]
                rank = max(len(c) for c in classes)
                return any(len({c[-k] for c in classes if len(c) >= k} - {ONE}) > 1 for k in range(1, rank + 1))
        except _Pending:            # a read no definition's shape reaches: nothing proved
            return True
        return False

    # ------------------------------------------------------------------ the fixed point
    def _solve(self) -> None:
        """Every array definition's shape, by rounds to a fixed point.  Optimistic, as constant
        propagation is: a definition not known yet is left out where reads meet (a loop's value meets
        its value before the loop, which its next trip must then agree with), and a definition that
        stays unknown at the end gets axes of its own and the rounds run again.  The result is a fixed
        point of the rules with nothing left unknown, so every rule holds of every value a run makes
        (by induction over the run); if the rounds do not settle, nothing is claimed."""
        definitions = []
        for name in self.param_names:
            if self._rank(name):
                definitions.append((dataflow.param_def(name), None, name))
        for stmt in self.facts.statements:
            if isinstance(stmt, (Assign, Store, Pop)):
                name = stmt.array if isinstance(stmt, Store) else stmt.target
                if self._rank(name):
                    definitions.append((self.facts.pos(stmt), stmt, name))
        for d, _, _ in definitions:
            self._shape[d] = None
        for _ in range(50):
            changed = False
            self._fits = {}                            # asked of this round's shapes
            for d, stmt, name in definitions:
                try:
                    found = self._rule(d, stmt, name)
                except _Pending:
                    continue
                if found != self._shape[d]:
                    self._shape[d], changed = found, True
            if changed:
                continue
            unknown = [(d, name) for d, _, name in definitions if self._shape[d] is None]
            if not unknown:
                self._fits = {}
                return
            for d, name in unknown:
                self._shape[d] = self._own(d, name)
        for d, _, name in definitions:                 # not settled: nothing known
            self._shape[d] = self._own(d, name)
        self._fits = {}

    def _own(self, definition, name: str) -> tuple:
        return tuple(("definition", definition, k) for k in range(self._rank(name)))

    def _rule(self, definition, stmt, name: str) -> tuple:
        own = self._own(definition, name)
        if stmt is None:                               # a parameter as called
            terms = self._params.get(name)
            return tuple(terms) if terms is not None and len(terms) == len(own) else own
        found = None
        if isinstance(stmt, Assign):
            rule = None if stmt.inplace else _RULES.get(stmt.prim)
            if rule is None and not stmt.inplace and is_elementwise(stmt.prim):
                rule = Shapes._elementwise
            elif rule is None and not stmt.inplace and reduces_axes(stmt.prim):
                rule = Shapes._reduction
            found = rule(self, stmt) if rule is not None else None
        elif isinstance(stmt, Store):                 # a partial write keeps the array's shape
            found = self.key(stmt, Var(stmt.array))
        elif isinstance(stmt, Pop):
            found = self._popped(stmt)
        return tuple(found) if found is not None and len(found) == len(own) else own

    # ------------------------------------------------------------------ definitions
    def _is_array(self, operand) -> bool:
        if isinstance(operand, Const):
            return False
        t = self.types.get(operand.name) if isinstance(operand, Var) else None
        return t is not None and t.is_array

    def _rank(self, name: str) -> int:
        t = self.types.get(name)
        return t.ndim if t is not None and t.is_array else 0

    def _definition(self, stmt, name: str):
        """The one definition of `name` reaching its read by `stmt`, or None."""
        defs = self.facts.reaching(stmt, name)
        if len(defs) != 1:
            return None
        (d,) = defs
        if d == dataflow.UNDEFINED:
            return None
        return d

    def _read_shape(self, stmt, name: str):
        """The meet of the shapes of the definitions reaching this read, axis by axis (an axis where they
        differ is the read's own); None while none of them is known."""
        defs = self.facts.reaching(stmt, name)
        rank = self._rank(name)
        if not defs or dataflow.UNDEFINED in defs:
            return tuple(("read", self.facts.pos(stmt), name, k) for k in range(rank))
        known = {self._shape.get(d, self._own(d, name)) for d in defs} - {None}
        if not known:
            return None
        if len(known) == 1:
            return known.pop()
        return tuple(next(iter(terms)) if len(terms) == 1 else ("read", self.facts.pos(stmt), name, k)
                     for k, terms in enumerate({shape[k] for shape in known} for k in range(rank)))

    def _assignment(self, definition):
        if isinstance(definition, int):
            stmt = self.facts.statement_at(definition)
            if isinstance(stmt, Assign) and not stmt.inplace:
                return stmt
        return None

    # ------------------------------------------------------------------ rules, by primitive
    def _operand_shape(self, stmt, operand):
        """The operand's terms; () for a scalar or a constant."""
        if isinstance(operand, Var) and self._is_array(operand):
            return self.key(stmt, operand)
        return ()

    def _elementwise(self, stmt):
        shapes = [self._operand_shape(stmt, a) for a in stmt.args if isinstance(a, (Var, Const))]
        rank = max((len(s) for s in shapes), default=0)
        out = []
        for k in range(rank):                         # axis k of the result, counted from the right end
            terms = {s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0}
            terms.discard(ONE)
            out.append(terms.pop() if len(terms) == 1 else ONE if not terms else None)
        if None in out:
            own = [("definition", self.facts.pos(stmt), k) for k in range(rank)]
            out = [term if term is not None else own[k] for k, term in enumerate(out)]
        return tuple(out)

    def _reduction(self, stmt):
        params = dict(stmt.params)
        source = self._operand_shape(stmt, stmt.args[0])
        axes = params.get("axes")
        if axes is None or not isinstance(axes, (tuple, list)) or "keepdims" not in params:
            return None
        axes = {a % len(source) for a in axes} if source else set()
        if params["keepdims"] is True:
            return tuple(ONE if k in axes else term for k, term in enumerate(source))
        return tuple(term for k, term in enumerate(source) if k not in axes)

    def _same_as_first(self, stmt):
        return self._operand_shape(stmt, stmt.args[0])

    def _created(self, stmt):
        """`zeros` / `ones` / `empty` of lengths given: a length 1 is `ONE`, a length read from an array's
        axis (`n = X.shape[k]`, the one definition of `n` reaching here, through copies) is that axis's
        term, any other length a term of its own."""
        own = self._own(self.facts.pos(stmt), stmt.target)
        if len(stmt.args) != len(own):
            return None
        return tuple(self._length_term(stmt, length) or own[k] for k, length in enumerate(stmt.args))

    def _length_term(self, stmt, length):
        if isinstance(length, Const):
            return ONE if type(length.value) is int and length.value == 1 else None
        definer = stmt
        while isinstance(length, Var):          # through copies of the length (`item_0 = copy(t1)`)
            definition = self._definition(definer, length.name)
            definer = self._assignment(definition) if definition is not None else None
            if definer is None or definer.prim != "copy":
                break
            length = definer.args[0]
        if definer is None or definer is stmt or not definer.args or not self._is_array(definer.args[0]):
            return None
        axis = {"shape0": 0, "shape1": 1}.get(definer.prim)
        if definer.prim == "shape":
            axis = dict(definer.params).get("axis")
        if not isinstance(axis, int):
            return None
        source = self.key(definer, definer.args[0])
        return source[axis] if -len(source) <= axis < len(source) else None

    def _broadcast_to_second(self, stmt):
        if stmt.prim == "unreduce" and not dict(stmt.params).get("keepdims"):
            return None
        g, x = stmt.args[0], stmt.args[1]
        cls = self.key(stmt, x) if isinstance(x, Var) else None
        return cls if cls is not None and self.fits(stmt, g, cls) else None

    def _sum_like(self, stmt):
        # `runtime.sum_like*` sums the axes where `like` has length 1 and `c` has not: where each axis of
        # `like` is ONE or `c`'s, the result has `like`'s axes
        c, like = stmt.args[0], stmt.args[1]
        cls = self.key(stmt, like) if isinstance(like, Var) else None
        source = self.key(stmt, c) if isinstance(c, Var) else None
        if cls is None or source is None or len(source) != len(cls):
            return None
        return cls if all(term == ONE or term == source[k] for k, term in enumerate(cls)) else None

    def _dot(self, stmt):
        # only the operands' axes the result keeps are asked (by rank, from the types): an adjoint's
        # `np.dot(W.T, g_bar)` then does not depend on the cycle through `g_bar` a loop makes
        a, b = stmt.args[:2]
        ranks = tuple(self._rank(x.name) if isinstance(x, Var) else 0 for x in (a, b))
        if ranks == (2, 1):
            return self._operand_shape(stmt, a)[:1]
        if ranks == (1, 2):
            return self._operand_shape(stmt, b)[1:]
        if ranks == (2, 2):
            return self._operand_shape(stmt, a)[:1] + self._operand_shape(stmt, b)[1:]
        return None

    def _outer(self, stmt):
        a, b = (self._operand_shape(stmt, x) for x in stmt.args[:2])
        return (a[0], b[0]) if len(a) == 1 and len(b) == 1 else None

    def _transpose(self, stmt):
        return tuple(reversed(self._operand_shape(stmt, stmt.args[0])))

    def _transpose_axes(self, stmt):
        source = self._operand_shape(stmt, stmt.args[0])
        axes = tuple(dict(stmt.params).get("axes", ()))
        return tuple(source[a] for a in axes) if sorted(axes) == list(range(len(source))) else None

    def _expand_dims(self, stmt):
        terms = list(self._operand_shape(stmt, stmt.args[0]))
        axes = dict(stmt.params).get("axes", ())
        for a in (tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)):
            if not (isinstance(a, int) and 0 <= a <= len(terms)):
                return None
            terms.insert(a, ONE)                      # one axis after another, as the printed chain
        return tuple(terms)

    def _subscript(self, stmt):
        base = self._operand_shape(stmt, stmt.args[0])
        indices = stmt.args[1:]
        if len(indices) > len(base) or any(isinstance(i, Var) and self._is_array(i) for i in indices):
            return None                               # an array of indices picks its own shape
        out = []
        for k, index in enumerate(indices):
            if not isinstance(index, Slice):
                continue                              # an integer drops its axis
            if index.start is None and index.stop is None and index.step is None:
                out.append(base[k])
                continue
            lengths = _slice_lengths(index)
            out.append(("slice", base[k], lengths) if lengths is not None
                       else ("definition", self.facts.pos(stmt), len(out)))
        return tuple(out) + tuple(base[len(indices):])

    def _popped(self, pop: Pop):
        pushes = self._pushes.get(pop.tape, [])
        if not pushes or not all(isinstance(p.value, Var) and self._is_array(p.value) for p in pushes):
            return None
        shapes = {self.key(p, p.value) for p in pushes}
        return shapes.pop() if len(shapes) == 1 else None

    # ------------------------------------------------------------------ fits, beyond the terms
    def _def_fits(self, definition, cls) -> bool:
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


_RULES = {"expand_like": Shapes._broadcast_to_second, "unreduce": Shapes._broadcast_to_second,
          "sum_like": Shapes._sum_like, "dot": Shapes._dot, "outer": Shapes._outer,
          "transpose": Shapes._transpose, "transpose_axes": Shapes._transpose_axes,
          "expand_dims": Shapes._expand_dims, "subscript": Shapes._subscript,
          "subscript_copy": Shapes._subscript, "zeros": Shapes._created, "ones": Shapes._created,
          "empty": Shapes._created, **{prim: Shapes._same_as_first for prim in _SAME_SHAPE}}


def _broadcasts_into(shape, cls) -> bool:
    """Do values of `shape` broadcast into `cls` unchanged, axis by axis (`ONE` or the same term)?"""
    if shape is None or cls is None or len(shape) > len(cls):
        return False
    offset = len(cls) - len(shape)
    return all(term == ONE or term == cls[offset + k] for k, term in enumerate(shape))


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


def mark_shape_errors(function) -> None:
    """Mark (`ir.Assign.error_effect`) the statements of a primal that may raise where NumPy would, on
    their arrays' shapes or values: an elementwise primitive of two or more arrays whose classes are not
    proved to broadcast together (axis by axis from the right, one term besides `ONE`: `(2, 3) * (3, 2)`
    raises), a product (`np.dot`, `@`) whose inner axes are not proved equal, and a primitive that
    raises on its arrays themselves (`rules.Primitive.raises_on_arrays`: inv of a singular
    matrix, solve, det of a non-square one, reshape to another size, concatenate).  Dead-code
    elimination keeps marked statements, so a derivative is never a number where the function raises
    (`grad` of `np.sum(x ** 2)` with an unused `t = A * B` that cannot broadcast).  Proved with the
    call's axes (`param_dims`); a statement nothing proves is marked, which only keeps it.  Not
    covered: stores (`A[i, :] = v` of a value that does not fit) and reductions of empty arrays
    (`np.max` of no elements)."""
    shapes = of(function)
    for stmt in walk(function.body):
        if isinstance(stmt, Assign) and not stmt.error_effect and shapes.may_raise_on_arrays(stmt):
            stmt.error_effect = True


def of(function) -> Shapes:
    """The shape classes of `function`, computed on demand until `dataflow.invalidate(function)`."""
    facts = dataflow.of(function)
    cached = getattr(function, "_shapes", None)
    if cached is None or cached.facts is not facts:
        # kept on the function, not on the facts it reads (`Shapes.facts`): that would be a
        # reference cycle, freed only by CPython's cyclic collector
        cached = Shapes(function)
        function._shapes = cached
    return cached
