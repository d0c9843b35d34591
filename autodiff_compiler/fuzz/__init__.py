"""Differential fuzzer: random programs in the supported language, checked against references.

Takes: nothing at import.  Guarantees: `generate` (programs), `oracle`
(references), `execute` (one program through the compiler in each mode,
classified), `run` (the parallel driver), `shrink` (minimal failing programs)
and `python -m autodiff_compiler.fuzz` (the command) -- each module's
docstring says what it takes and guarantees.  Only the public API of the
compiler is used: `grad`, `value_and_grad` and the error classes.
"""
