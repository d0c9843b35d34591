"""Signs: which integer variables never hold a negative value.

Takes: a typed `ir.Function`.  Guarantees (`nonnegative_integers`): a set of
int-typed variables, none of them a parameter, such that on every run each
value any of them holds is >= 0 (or the statement that would make it raises
first).  Flow-insensitive: a name is in the set only when *every* statement
that writes it gives a value >= 0 whenever the names it reads are in the set
-- the greatest such set, found by removing names until none is left to
remove, which is sound by induction over a run (each value is made by one of
those statements from values made earlier).  What makes a value >= 0:

* a constant >= 0; a copy, sum, product, `min` of values >= 0, a `max` with
  one; `a // b` with both >= 0 and `a % b` with `b` >= 0 (Python's remainder
  has the divisor's sign; a zero divisor raises);
* an axis length (`x.shape[k]`, `x.size`, `len(range(...))`) and a slice's
  start as NumPy resolves it (`slice_offset`: clipped to 0 ... n);
* a `for` index over a rising range from a value >= 0, or over a falling
  range down to a bound >= -1 (every index is above the bound);
* a value popped from a tape every push onto which is >= 0.

Int64 arithmetic that overflows could make a negative value from two
positive ones; the one reader (`backend/printer.py`: element indices as
unsigned integers) then raises IndexError, as Python's unbounded ints would.
"""
from __future__ import annotations

from .nodes import Assign, Const, For, Pop, Push, Var, walk, writes

# primitives whose result is >= 0 when their operands are: all of them (`all`), or any one (`any`)
_WHEN_ALL = frozenset({"copy", "add", "mul", "min", "floordiv", "int", "to_int"})
_WHEN_ANY = frozenset({"max"})
# primitives whose result is >= 0 whatever their operands
_ALWAYS = frozenset({"shape", "shape0", "shape1", "size", "range_length", "slice_offset"})


def nonnegative_integers(function) -> frozenset:
    """The int variables of `function` that never hold a negative value (see the module's docstring)."""
    types = function.types
    definitions: dict[str, list] = {}
    pushed: dict[str, list] = {}
    for stmt in walk(function.body):
        if isinstance(stmt, Push):
            pushed.setdefault(stmt.tape, []).append(stmt.value)
        for name in writes(stmt):
            if not (isinstance(stmt, Push) or isinstance(stmt, Pop) and name == stmt.tape):
                definitions.setdefault(name, []).append(stmt)
        for name in getattr(stmt, "targets", ()):        # a region's results: nothing known of them
            definitions.setdefault(name, []).append(None)
    candidates = {name for name, stmts in definitions.items()
                  if name not in function.params and types.get(name) is not None and types[name].kind == "int"}
    changed = True
    while changed:
        changed = False
        for name in sorted(candidates):
            if not all(_gives_nonnegative(stmt, name, candidates, pushed) for stmt in definitions[name]):
                candidates.discard(name)
                changed = True
    return frozenset(candidates)


def _operand_nonnegative(operand, known: set) -> bool:
    if isinstance(operand, Const):
        return type(operand.value) is int and operand.value >= 0
    return isinstance(operand, Var) and operand.name in known


def _assign(stmt: Assign, name: str, known: set, pushed: dict) -> bool:
    if stmt.prim in _ALWAYS:
        return True
    if stmt.prim in _WHEN_ALL:
        return all(_operand_nonnegative(a, known) for a in stmt.args)
    if stmt.prim in _WHEN_ANY:
        return any(_operand_nonnegative(a, known) for a in stmt.args)
    if stmt.prim == "mod":          # Python's (and Numba's) remainder takes the divisor's sign
        return _operand_nonnegative(stmt.args[1], known)
    return False


def _for(loop: For, name: str, known: set, pushed: dict) -> bool:
    step = loop.step
    if not (isinstance(step, Const) and type(step.value) is int and step.value != 0):
        return False
    if step.value > 0:
        return _operand_nonnegative(loop.start, known)
    # a falling range gives only values above its stop
    stop = loop.stop
    return (isinstance(stop, Const) and type(stop.value) is int and stop.value >= -1) \
        or _operand_nonnegative(stop, known)


def _pop(stmt: Pop, name: str, known: set, pushed: dict) -> bool:
    values = pushed.get(stmt.tape, [])
    return bool(values) and all(_operand_nonnegative(v, known) for v in values)


_RULES = {Assign: _assign, For: _for, Pop: _pop}


def _gives_nonnegative(stmt, name: str, known: set, pushed: dict) -> bool:
    rule = _RULES.get(type(stmt))
    return rule is not None and rule(stmt, name, known, pushed)
