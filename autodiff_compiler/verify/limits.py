"""The verifier's tolerances and budgets, and the ways a symbolic run can stop.

Takes: nothing (definitions).  Guarantees: every number that decides how hard
the verifier works or how close two values must be is named here once, and
every module of `verify/` reads it from here (so a test can change one).

A run of a program on an instance stops with one of:

* `Unsupported`: the program holds something the executor cannot represent
  (a primitive with no symbolic form -- the message names it);
* `Undefined`: the function is not defined there (a domain error, a division
  by zero): the instance is not a point of the function's domain;
* `ProgramError`: the program itself misbehaves where the user's function
  does not (it reads a variable before assigning it, pops an empty tape,
  pushes past a preallocated tape's end, indexes out of range): a defect of
  the generated program, reported as a failed verification.
"""
from __future__ import annotations

# ---------------------------------------------------------------- comparison
DIGITS = 50                 # working precision of the numerical comparison
REL_TOL = 1e-25
ABS_TOL = 1e-30
ROUNDED_REL_TOL = 1e-12     # when a constant is only known as a double (see `forms.exact`)
PRIMAL_REL_TOL = 1e-9
N_RANDOM_POINTS = 5
PERTURBATION = 1e-3
SEED = 20240605
EXACT_MAX_OPS = 150         # simplify() only below this many operations per side
EXACT_MAX_NODES = 1500      # ... and this many tree nodes (count_ops is exponential on DAGs)
EXACT_SECONDS = 3.0         # time guard for simplify()
EXPAND_SECONDS = 0.5        # time guard for expand(), tried first (the cheap normal form)
EXACT_MAX_ELEMENTS = 16     # arrays with more elements are compared numerically only
SYMPY_DIFF_MAX_NODES = 4000  # above this, differentiate node by node over the DAG
BIG_NODES = 300             # larger expressions are built without SymPy's automatic simplification
RECURSION_LIMIT = 12_000    # SymPy recurses over the nesting depth of expressions (long loops)

# ------------------------------------------------------------------ execution
MAX_LOOP_TRIPS = 200_000    # one loop of a symbolic run

# ------------------------------------------------------------------ instances
# The call itself is proved when it is this small: every float array at most this many
# elements, and a numeric run of both programs at most this many statements ...
CALL_MAX_ELEMENTS = 16
CALL_MAX_STATEMENTS = 20_000
# ... otherwise (and to reach branches the call does not) on small instances: arrays of
# at most SMALL_LENGTH entries per axis, integers that bound loops at most SMALL_INT.
SMALL_LENGTH = 3
SMALL_INT = 3
INSTANCE_MAX_STATEMENTS = 20_000   # a numeric run of one candidate instance
MAX_CANDIDATES = 48                # candidate instances run numerically to find branches
MAX_INSTANCES = 6                  # instances proved symbolically


class Unsupported(Exception):
    """The program holds something the symbolic executor cannot represent."""


class Undefined(Exception):
    """The function is not defined at the instance (domain error, division by zero)."""


class ProgramError(Exception):
    """The program misbehaves at the instance where the user's function does not."""
