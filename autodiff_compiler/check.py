"""Check: compare a hand-derived gradient with the compiler's (see `verify.check`).

The public import path documented in the README; the checker itself lives in
`autodiff_compiler/verify/check.py`.
"""
from .verify.check import (CheckEntry, CheckReport, GradientMismatchError, assert_gradient_matches,
                           check_gradient)

__all__ = ["check_gradient", "assert_gradient_matches", "GradientMismatchError", "CheckReport", "CheckEntry"]
