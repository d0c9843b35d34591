"""The lowering's state per function: the frame of the function being lowered (the top one or an inlined
callee), its loops, and the functions defined inside it.

Takes: nothing.  Guarantees: plain dataclasses that `frontend.lower` and its
mixins (`lower_statements`, `lower_calls`) share, so none of them imports
another's module for them.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..ir import Loc
from .parse import Source


def identifiers(node: ast.AST) -> set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
    return names


@dataclass
class Loop:
    skip: str          # set when the rest of this iteration must not run
    leave: str         # set when the loop must end after this iteration


@dataclass
class Frame:
    """One function being lowered: the top one or an inlined callee."""
    source: Source
    scope: dict                     # user name -> IR variable name
    result: str
    returned: str
    prefix: str = ""
    loops: list = field(default_factory=list)
    uses_returned: bool = False
    result_arity: int | None = None
    call_site: Loc | None = None
    result_pack: object = None        # a container an inlined function returns
    result_tuple: bool = False        # it returns a flat tuple (in `result_0`, `result_1`, ...)
    imports: dict = field(default_factory=dict)   # modules imported inside the function
    enclosing: "Frame | None" = None  # for a function defined inside another: the frame it reads
    result_tree: object = None        # the top function's tuple result: nested tuples of leaf numbers
    call_node: object = None          # the ast.Call an inlined function was lowered for (None: the top one)


@dataclass
class LocalFunction:
    """A function defined inside the one being lowered (`def` or a lambda bound to a name): inlined
    where it is called, reading the enclosing function's variables as they are then."""
    node: ast.AST
    frame: "Frame"
    name: str


def _user_name_of(frame: Frame, ir_name: str) -> str | None:
    for user, name in frame.scope.items():
        if name == ir_name:
            return user
    return None


def _at_path(value, path: tuple):
    for key in path:
        value = getattr(value, key) if not isinstance(value, (tuple, list, dict)) else value[key]
    return value
