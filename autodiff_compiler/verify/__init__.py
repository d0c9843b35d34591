"""Verification: prove the gradient programs the compiler emits equal to SymPy's derivative.

Takes: a pipeline `State` (primal IR, adjoint IR, module text), the call's
arguments, and optionally the user's Python function.  Guarantees (see each
module): `verify_gradient` proves the generated gradient program on the
call itself when it is small, else on small instances of the same
generated code drawn from the call, plus instances that reach every branch
outcome (if sides, loop trip counts, kink sides) a candidate instance
reaches -- both the IR programs and the printed module; the report says what
was proved, on which instances and paths, and what it implies for the call.
`prove_at` proves at exactly the given arguments (what `check` uses).

The modules, in the order the data flows:

  limits       tolerances, budgets, and the ways a run stops
  forms        exact numbers for folded floats; SymPy forms of primitives; kinks
  symbolic     symbolic values (SV, Dual) and every primitive applied to them
  executor     runs an IR program on one instance, symbolically or on numbers
  instances    which instances to prove: small, drawn from the call, every branch
  expressions  derivative, 50-digit evaluation and comparison, on large DAGs
  printed      the printed module run on Duals (the code the user runs, printer included)
  prove        the proof on one instance (`prove_at`) and on all (`verify_gradient`)
  report       what was proved, in words
  cache        successful proofs kept beside the compiled code
  check        a hand-derived gradient compared with the compiler's (`check_gradient`)
"""
from .executor import Executor, branch_points, dry_run, execute, numeric_inputs, symbolic_inputs
from .expressions import agrees, compare_expressions, derivative, evaluate, nearby_points, short, with_time_limit
from .forms import exact, resolve_kinks, sympy_lambda
from .limits import ProgramError, Undefined, Unsupported
from .prove import prove_at, verify_gradient
from .report import GradientCheck, VerificationReport
from .symbolic import SV, Dual, apply, tree_size

__all__ = ["verify_gradient", "prove_at", "VerificationReport", "GradientCheck", "Unsupported", "Undefined",
           "ProgramError", "execute", "symbolic_inputs", "numeric_inputs", "dry_run", "branch_points",
           "Executor", "SV", "Dual", "apply", "exact", "resolve_kinks", "sympy_lambda", "derivative",
           "evaluate", "agrees", "compare_expressions", "nearby_points", "short", "tree_size",
           "with_time_limit"]
