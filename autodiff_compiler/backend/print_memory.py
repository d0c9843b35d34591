"""Print the statements that write into memory: stores into arrays, and the tapes' pushes and pops.

Takes: what `printer.ModulePrinter` holds (types, names, the expression printer); it is a part of that
class.  Guarantees:

* `a[i] = v` / `a[i] += v` as written, except in the module Numba compiles, where `a[i]` is a
  sub-array NumPy returns as a view (`print_trees.selects_a_view`): an in-place sum is written
  through that view (`a_view = a[i]; a_view += v`): the same additions into the same memory (the IR
  holds no such sum of an operand sharing that memory: `ir.aliasing`), without the slice assignment
  Numba would compile for storing the view back onto itself; a store of an array is
  `store_into(a[i], v)`, the library's slice assignment (`runtime.store_into`), compiled once per
  machine.  Numba compiles its slice assignment's error message in every process: about 3.5 s;
* a tape of numbers is an array with a top index (grown by `tape_grow` where it may fill), a tape of
  arrays a list of copies;
* a whole-array call planned through libmvec (`optimise.vectorise.ArrayCall`) is the library's
  `vector_<prim>(array)`, except in the module Numba compiles where its operand is a vector Numba
  types C-contiguous (a row of `fuse_rows`): there a new vector, which the library's kernel fills
  (`t = np.empty(a.size)`, `v<prim>(t, a.size, a)`), the same calls `vector_<prim>` makes, with no
  wrapper to compile (about 0.15 s each, on an empty cache).
"""
from __future__ import annotations

from ..ir import Pop, Push, Store, TapeAlloc, Var
from ..optimise.vectorise import ArrayCall
from .print_trees import ATOM, selects_a_view


class MemoryPrinter:
    """The store, tape and vector-call statements of `printer.ModulePrinter`."""

    def index_text(self, index: tuple, array: str) -> str:
        element = self.is_array(Var(array))
        return ", ".join(self.expr(self.index_operand(i, self.operand(i)) if element else self.operand(i))[0]
                         for i in index)

    def store(self, stmt: Store, depth: int) -> list[str]:
        pad, value, index = "    " * depth, self.expr(self.operand(stmt.value))[0], self.index_text(stmt.index, stmt.array)
        if stmt.prim == "add" and self.compiled and selects_a_view(self, stmt):     # (`selects_a_view`: why)
            view = self.names.fresh(f"{stmt.array}_view")
            return [f"{pad}{view} = {stmt.array}[{index}]", f"{pad}{view} += {value}{self.why_kept(stmt)}"]
        if stmt.prim == "copy" and self.compiled and self.is_array(stmt.value) and selects_a_view(self, stmt):
            self.note_helpers("store_into(")        # the library's: compiled once per machine (`runtime`)
            return [f"{pad}store_into({stmt.array}[{index}], {value}){self.why_kept(stmt)}"]
        return [f"{pad}{stmt.array}[{index}] {'=' if stmt.prim == 'copy' else '+='} {value}{self.why_kept(stmt)}"]

    def top_of(self, tape: str) -> str:
        if tape not in self.tops:
            self.tops[tape] = self.names.fresh(f"{tape}_top")
        return self.tops[tape]

    def tape_alloc(self, stmt: TapeAlloc, depth: int) -> list[str]:
        pad = "    " * depth
        self.modules.add("numpy")
        capacity = self.expr(self.operand(stmt.capacity))[0]
        if stmt.shape_of:
            # arrays go on a list: each keeps its own shape.  The list's items are typed 'C' (from an
            # empty array): what is pushed is a copy, which Numba types 'C' whatever the layout of the
            # array copied, and what is popped is then 'C' too (see `contiguous`).
            ndim = self.types[stmt.shape_of].ndim
            ones = "1" if ndim == 1 else "(" + ", ".join(["1"] * ndim) + ")"
            return [f"{pad}{stmt.tape} = [np.empty({ones}, {stmt.dtype})][:0]"]
        # for Python, a tape of ints holds Python's own: unbounded, as the function computes them
        dtype = "object" if stmt.dtype == "np.int64" and not self.compiled else stmt.dtype
        return [f"{pad}{stmt.tape} = np.empty({capacity}, {dtype})", f"{pad}{self.top_of(stmt.tape)} = 0"]

    def push(self, stmt: Push, depth: int) -> list[str]:
        pad = "    " * depth
        if self.is_array(stmt.value):
            return [f"{pad}{stmt.tape}.append({self.expr(self.operand(stmt.value))[0]}.copy())"]
        top = self.top_of(stmt.tape)
        lines = []
        if stmt.growable:
            self.helpers.add("tape_grow")
            lines += [f"{pad}if {top} == {stmt.tape}.shape[0]:", f"{pad}    {stmt.tape} = tape_grow({stmt.tape})"]
        value = self.expr(self.operand(stmt.value))[0]
        lines += [f"{pad}{stmt.tape}[{top}] = {value}", f"{pad}{top} += 1"]
        return lines

    def pop(self, stmt: Pop, depth: int) -> list[str]:
        pad = "    " * depth
        t = self.types.get(stmt.target)
        if t is not None and t.is_array:
            return [f"{pad}{stmt.target} = {stmt.tape}.pop()"]
        top = self.top_of(stmt.tape)
        value = f"{stmt.tape}[{top}]"
        if t is not None and t.kind in ("int", "bool", "float"):
            value = f"{t.kind}({stmt.tape}[{top}])" if t.kind != "float" else value
        return [f"{pad}{top} -= 1", f"{pad}{stmt.target} = {value}"]

    def vector_map(self, prim: str, args: tuple) -> tuple[str, int]:
        """A whole-array call planned through libmvec (`optimise.vectorise.ArrayCall`): the library's
        `vector_<prim>(array)` (`backend.library`, its text copied here), calling the block function
        `v<prim>` over the array's elements (a function of its own, not the kernel passed as an
        argument: Numba does not cache a function given a dispatcher as a value)."""
        from .library import VECTOR_TEMPLATE
        helper = f"vector_{prim}"
        if helper not in self.array_helpers:
            self.array_helpers.add(helper)
            self.library_imports.add(f"v{prim}")
            self.modules.add("numpy")
            self.extra_functions.append(VECTOR_TEMPLATE.format(prim=prim))
        return f"{helper}({self.expr(args[0])[0]})", ATOM

    def fills_a_new_vector(self, stmt) -> bool:
        """Is this a planned vector call (`ArrayCall`) of a variable Numba types as a C-contiguous vector?"""
        operand = stmt.args[0] if len(stmt.args) == 1 else None
        return isinstance(self.plans.get(id(stmt)), ArrayCall) and isinstance(operand, Var) \
            and operand.name not in self.trees and self.types[operand.name].ndim == 1 and self.contiguous(operand)

    def vector_into(self, stmt, depth: int) -> list[str]:
        """`t = np.empty(a.size)`, then the kernel `v<prim>(t, a.size, a)` (what `vector_<prim>` does)."""
        pad, operand, kernel = "    " * depth, stmt.args[0].name, f"v{self.plans[id(stmt)].prim}"
        self.library_imports.add(kernel)
        self.modules.add("numpy")
        return [f"{pad}{stmt.target} = np.empty({operand}.size)", f"{pad}{kernel}({stmt.target}, {operand}.size, {operand})"]
