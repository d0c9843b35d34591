"""Highlight: colour for a terminal -- generated Python and formulas -- and plain text anywhere else.

Takes: text and the stream it is for.  Guarantees:

* `wants_colour(stream)` is True only when the stream is a terminal, `NO_COLOR`
  is not set and `TERM` is not `dumb` (`FORCE_COLOR` set forces it on), so a
  pipe or a file always gets plain text;
* `python(text)` colours Python source with ANSI codes by its tokens
  (keywords, the defined name, comments, numbers, strings); removing the
  codes gives the text back exactly, and text that does not tokenize comes
  back unchanged;
* `formula(text)` makes the `∂f/∂x =` heads bold and the `where` and path
  lines dim.
"""
from __future__ import annotations

import io
import keyword
import os
import re
import tokenize

RESET = "\033[0m"
BOLD = "\033[1m"
DIM = "\033[2m"
STYLES = {"keyword": "\033[1;34m", "name": "\033[1;33m", "comment": "\033[2;37m", "number": "\033[36m",
          "string": "\033[32m", "builtin": "\033[35m"}
_BUILTINS = {"range", "min", "max", "abs", "float", "int", "len", "math", "np"}


def wants_colour(stream) -> bool:
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def python(text: str) -> str:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out, position, previous = [], 0, None
    for token in tokens:
        style = _style(token, previous)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            previous = token
        if style is None:
            continue
        start = offsets[token.start[0] - 1] + token.start[1]
        end = offsets[token.end[0] - 1] + token.end[1]
        out.append(text[position:start])
        out.append(STYLES[style] + text[start:end] + RESET)
        position = end
    out.append(text[position:])
    return "".join(out)


def _style(token, previous) -> str | None:
    if token.type == tokenize.COMMENT:
        return "comment"
    if token.type == tokenize.STRING:
        return "string"
    if token.type == tokenize.NUMBER:
        return "number"
    if token.type == tokenize.NAME:
        if keyword.iskeyword(token.string):
            return "keyword"
        if previous is not None and previous.type == tokenize.NAME and previous.string == "def":
            return "name"
        if token.string in _BUILTINS:
            return "builtin"
    return None


_HEAD = re.compile(r"^(∂\S+/∂\S+ =|\\frac\{\\partial [^}]*\}\{\\partial [^}]*\} =)")


def formula(text: str) -> str:
    out = []
    for line in text.splitlines():
        if _HEAD.match(line):
            out.append(_HEAD.sub(lambda m: BOLD + m.group(1) + RESET, line))
        elif line.startswith(("  ", "on the path", "%", "\\text")):
            out.append(DIM + line + RESET)
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def strip(text: str) -> str:
    """Text without ANSI codes."""
    return re.sub(r"\033\[[0-9;]*m", "", text)
