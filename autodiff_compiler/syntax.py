"""Python's parser and compiler, safe to call from several threads at once.

Takes: source text (or, for `compile_code`, a tree) as `ast.parse` and `compile` take them.
Guarantees: the same result those give, never the spurious `SystemError: AST
constructor recursion depth mismatch` that CPython 3.11 raises when two threads
convert trees at once.

Why: CPython 3.11 (gh-95185, gh-106905) counts the depth of the tree it is
converting between C and Python in one counter per interpreter, not per thread.
A garbage collection in the middle of a conversion can run a finaliser and let
another thread's `ast.parse` move the counter; the first conversion then fails.
Dask's local scheduler runs chunks in threads, and each first call loads and
parses a module: the distributed test failed so, once, in CI.

Every parse and compile in the package goes through this module (a layout test
holds the package to it).  One process-wide lock serialises them, so our own
threads never collide; a thread outside the package may still move the counter
under us, and then the conversion, which has no side effect, is done again.
"""
from __future__ import annotations

import ast
import threading

_LOCK = threading.RLock()
_MISMATCH = "AST constructor recursion depth mismatch"
_ATTEMPTS = 4


def _serialised(convert, *args, **kwargs):
    with _LOCK:
        for attempt in range(_ATTEMPTS):
            try:
                return convert(*args, **kwargs)
            except SystemError as error:
                # only CPython's spurious mismatch is repeated: any other SystemError is real
                if not str(error).startswith(_MISMATCH) or attempt == _ATTEMPTS - 1:
                    raise


def parse(text: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """`ast.parse(text, filename, mode)`, serialised with every other parse and compile of the package."""
    return _serialised(ast.parse, text, filename=filename, mode=mode)


def expression(text: str) -> ast.expr:
    """The expression `text` parses to (`ast.parse(text, mode="eval").body`)."""
    return parse(text, mode="eval").body


def literal(text: str):
    """`ast.literal_eval(text)`: the Python literal `text` spells (ValueError or SyntaxError if it is none)."""
    return ast.literal_eval(parse(text.strip(), mode="eval"))


def compile_code(source, filename: str, mode: str):
    """`compile(source, filename, mode)` for a tree or text, serialised as `parse` is."""
    return _serialised(compile, source, filename, mode)
