"""Numba's names: a module's text -> the same module, whose variable loads Numba cannot name alike.

Takes: the text of a module Numba is about to compile (a generated gradient
module, an entry module).  Guarantees (`unambiguous`): the same module, every
function computing what it computed with the same signature, in which no name
that a function loads outside its first lines ends in a digit, and no such
name is a parameter's name with digits taken off its end.  A parameter that
ends in a digit (or has another name's digits after it) is copied, on the
function's first lines, into a local that does not, which the body reads
instead.  Other text (comments, strings, attributes, keywords of calls,
globals) is left as it is; a function already so is returned unchanged.

Why.  Numba's bytecode front end (`numba.core.byteflow`, `make_temp`) names
the value a variable load pushes `$<variable><offset>.<count>`, with `count`
the temporaries made so far in the block.  So `t1` loaded at offset 1180 and
`t11` loaded at offset 180, both at count 3 of their blocks, are one
temporary, `$t11180.3`: defined twice, and the function's SSA form then read
a version never defined ("Type of variable ... cannot be determined", found
by the fuzzer as `scalar-96-79`; a reproduction in `tests/test_numba_names.py`).
A name that ends in a letter or `_` cannot run into the digits of an offset,
so two loads share a temporary only if a name ending in a digit (`x1`) is
loaded with a name it extends by digits (`x`): names like that are loaded
only on the first lines, one block, where the counts differ.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from .. import syntax

_DIGITS = re.compile(r"[0-9]+")


def extends_by_digits(longer: str, shorter: str) -> bool:
    """Is `longer` the name `shorter` followed by digits (`t11` of `t1`, `x1` of `x`)?"""
    return longer.startswith(shorter) and _DIGITS.fullmatch(longer[len(shorter):]) is not None


def unambiguous(text: str) -> str:
    """`text` with every function's names made unambiguous for Numba (see the module docstring)."""
    tree = syntax.parse(text)
    taken = {tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline) if tok.type == tokenize.NAME}
    # `ast` counts lines at \n, \r and \r\n only (str.splitlines also breaks at \f, \u2028...)
    lines = io.StringIO(text, newline="").readlines()
    # later functions first, so that the positions of earlier ones stay valid when lines are inserted
    functions = sorted((node for node in tree.body if isinstance(node, ast.FunctionDef)),
                       key=lambda node: node.lineno, reverse=True)
    for function in functions:
        _rename(function, lines, taken)
    return "".join(lines)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Global, ast.Nonlocal)


def _rename(function: ast.FunctionDef, lines: list, taken: set) -> None:
    arguments = function.args
    params = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    params += [a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None]
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]                                         # the docstring
    if not body or body[0].lineno == function.lineno or \
            any(isinstance(n, _SCOPES) for statement in body for n in ast.walk(statement)):
        return      # nothing to hold the copies, or scopes of its own: generated modules have neither
    # the first lines: copies of parameters (`x1_ = x1`), all in Numba's first block
    copies, stored = 0, set()
    while copies < len(body) and _is_copy(body[copies], params) and body[copies].value.id not in stored:
        stored.add(body[copies].targets[0].id)
        copies += 1
    nodes = [n for statement in body for n in ast.walk(statement) if isinstance(n, ast.Name)]
    rest = [n for statement in body[copies:] for n in ast.walk(statement) if isinstance(n, ast.Name)]
    local = set(params) | {n.id for n in nodes if not isinstance(n.ctx, ast.Load)}
    ambiguous = {n.id for n in rest if n.id in local and
                 (n.id[-1].isdigit() or any(extends_by_digits(p, n.id) for p in params if p != n.id))}
    if not ambiguous:
        return
    mapping = {}
    for name in sorted(ambiguous):
        new = name + "_"
        while new in taken or any(extends_by_digits(p, new) for p in params):
            new += "_"
        taken.add(new)
        mapping[name] = new
    # every load and store but a copy's read of its parameter, right to left within a line so that
    # earlier columns stay valid
    reads_of_params = {id(statement.value) for statement in body[:copies]}
    renamed = [(n, n.id) for n in nodes if n.id in mapping and id(n) not in reads_of_params]
    # `with numba.objmode(out="float64"):` names a variable by keyword: renamed with it
    renamed += [(k, k.arg) for statement in body for n in ast.walk(statement) if _is_objmode(n)
                for k in n.keywords if k.arg in mapping]
    for node, name in sorted(renamed, key=lambda item: (item[0].lineno, item[0].col_offset), reverse=True):
        index = node.lineno - 1
        line = lines[index]
        start = len(line.encode()[:node.col_offset].decode())      # ast's columns count bytes
        lines[index] = line[:start] + mapping[name] + line[start + len(name):]
    first = body[0]
    lines[first.lineno - 1:first.lineno - 1] = [f"{' ' * first.col_offset}{mapping[p]} = {p}\n"
                                                for p in params if p in mapping]


def _is_copy(statement, params: list) -> bool:
    """`a = p` of a parameter `p`."""
    return isinstance(statement, ast.Assign) and len(statement.targets) == 1 and \
        isinstance(statement.targets[0], ast.Name) and isinstance(statement.value, ast.Name) and \
        statement.value.id in params


def _is_objmode(node) -> bool:
    """A call of Numba's `objmode` (`numba.objmode(...)` or `objmode(...)`)."""
    return isinstance(node, ast.Call) and (isinstance(node.func, ast.Attribute) and node.func.attr == "objmode" or
                                           isinstance(node.func, ast.Name) and node.func.id == "objmode")
