"""Errors: every exception the compiler raises derives from `AutodiffError`.

Takes: a message and, where the error concerns the user's code, the location
(file, line, column, the offending source line) and a hint saying what to write
instead.  Guarantees: `str(error)` names all of these, in the form

    FILE:LINE:COL: unsupported construct 'while ... else'
        while x > 0:
        ^
    hint: move the else-block after the loop
"""
from __future__ import annotations


class AutodiffError(Exception):
    """Base class of every error raised by autodiff_compiler."""

    def __init__(self, message: str, *, filename: str | None = None,
                 line: int | None = None, col: int | None = None,
                 source_line: str | None = None, hint: str | None = None,
                 construct: str | None = None):
        self.message = message
        self.filename = filename
        self.line = line
        self.col = col
        self.source_line = source_line
        self.hint = hint
        self.construct = construct
        super().__init__(self._render())

    def add_context(self, text: str) -> "AutodiffError":
        """Append to the message (say which call of the user's led to it), keeping `str()` in step."""
        self.message += text
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        where = ""
        if self.filename is not None:
            where = f"{self.filename}:{self.line}:{(self.col or 0) + 1}: " if self.line else f"{self.filename}: "
        text = where + self.message
        if self.source_line is not None:
            text += "\n    " + self.source_line.rstrip()
            if self.col is not None:
                # the line is shown with its own indentation, so the column counts from its start
                text += "\n    " + " " * max(0, self.col) + "^"
        if self.hint:
            text += "\n  hint: " + self.hint
        return text


class UnsupportedSyntaxError(AutodiffError):
    """The function uses a Python construct outside the supported language."""


class SourceNotFoundError(AutodiffError):
    """The function's source code cannot be found (lambda, builtin, REPL, C)."""


class NoDerivativeRuleError(AutodiffError):
    """A call to a function that has no derivative rule and is not the user's own."""


class ArgumentError(AutodiffError, TypeError):
    """Wrong number, type, shape or value of arguments, or a bad `wrt`."""


class ShapesDiffer(ArgumentError):
    """A program derived for arrays whose axes agree in one pattern (`ir.shapes.dims_of_arguments`) was
    called with arrays whose axes do not: the gradient object derives again for them; called directly
    (`compiled_for`), it says so rather than compute with lengths it was not made for."""


class NonFiniteInputError(ArgumentError, ValueError):
    """An argument holds NaN or infinity."""


class RecursionNotSupportedError(AutodiffError):
    """A user function calls itself, directly or through others."""


class InternalError(AutodiffError):
    """The compiler caught itself making a program it cannot stand behind (a bug: please report it)."""


class VerificationError(AutodiffError):
    """The derived gradient disagrees with SymPy's derivative of the function."""


class AssertionFailedError(AutodiffError, AssertionError):
    """An `assert` of the differentiated function failed (checked when the gradient runs)."""


class UnboundNameError(AutodiffError, UnboundLocalError):
    """The differentiated function reads a variable that is unassigned on this call, where Python
    raises UnboundLocalError (`frontend.bound_checks`)."""
