"""Report: what a verification proved, on which instances and paths, in words.

Takes: the results of `prove.prove_at` for each instance, and the `Plan` that
chose the instances.  Guarantees:

* `VerificationReport.ok` is True only when every instance's gradients,
  value and primal check passed and no program misbehaved;
* `str(report)` starts with "verified against SymPy" or "VERIFICATION
  FAILED" and shows, per `wrt` name, how the gradient was proved (exactly,
  or numerically in 50 digits at 6 points) and SymPy's derivative; for a
  mismatch, the derived expression and a point where both values differ;
  then the check of the symbolic primal against the user's function, the
  other instances proved (one line each unless they failed) and the branch
  outcomes reached -- and, when the call itself was too large, what proving
  small instances of the same code does and does not imply;
* `raise_if_failed` raises `ArgumentError` when the function is undefined at
  the call and `VerificationError` with the report when anything failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath

from ..errors import ArgumentError, VerificationError
from .expressions import short
from .instances import show_args
from .limits import DIGITS, N_RANDOM_POINTS, REL_TOL, SMALL_INT, SMALL_LENGTH


@dataclass
class GradientCheck:
    """One wrt input: the derived gradient, SymPy's derivative, and how they compared."""
    name: str
    ok: bool
    method: str              # "exact", "numeric", or "" when they differ
    derived: object          # the adjoint's gradient, symbolically (expression or object array)
    sympy: object            # SymPy's derivative of the symbolic primal
    max_error: float         # largest relative difference seen (0.0 when proved exactly)
    where: dict | None = None    # a point at which they differ
    derived_value: object = None
    sympy_value: object = None
    rel_tol: float = REL_TOL     # the agreement required of "numeric"

    @property
    def verdict(self) -> str:
        if not self.ok:
            return f"MISMATCH (relative error {self.max_error:.3g})"
        if self.method == "exact":
            return "proved exactly (simplify(derived - SymPy) == 0)"
        if self.rel_tol > REL_TOL:
            return (f"verified numerically to a relative {self.rel_tol:g} (some constants are known only "
                    f"as doubles; max rel. error {self.max_error:.1e} at {1 + N_RANDOM_POINTS} points)")
        return (f"proved numerically ({DIGITS} digits, {1 + N_RANDOM_POINTS} points, "
                f"max rel. error {self.max_error:.1e})")

    @property
    def brief(self) -> str:
        if not self.ok:
            return "MISMATCH"
        return "proved exactly" if self.method == "exact" else "proved numerically"


@dataclass
class VerificationReport:
    """The proof on one instance (`args`); for a whole verification, the first instance's proof
    with the others in `instances` and the choice of instances in `plan`."""
    function: str
    params: list
    args: tuple
    wrt: list
    entries: list = field(default_factory=list)
    primal_check: str = ""
    primal_ok: bool = True
    value_ok: bool = True
    value_detail: str = ""
    unsupported: str | None = None
    undefined: str | None = None
    program_error: str | None = None     # the generated program misbehaved on this instance
    module_ok: bool = True               # the printed module agrees with what was proved
    module_check: str = ""
    module_entries: list = field(default_factory=list)   # its gradients that differ
    rounded_constants: bool = False
    primal: object = None        # the symbolic primal value V
    symbols: dict = field(default_factory=dict)
    point: dict = field(default_factory=dict)
    label: str = "the call"      # how this instance was made from the call
    call_args: tuple | None = None   # the call's arguments, when this instance is not the call
    instances: list = field(default_factory=list)    # the other instances' reports
    plan: object = None          # instances.Plan
    cached: str | None = None    # the proof file this report was read from
    cached_text: str | None = None

    @property
    def ok(self) -> bool:
        if self.cached_text is not None:
            return True           # only successful proofs are cached
        # an instance where the generated code is undefined (an empty max, say) is skipped, as the report says
        return self.own_ok and all(i.ok or i.undefined is not None for i in self.instances)

    @property
    def own_ok(self) -> bool:
        return (self.unsupported is None and self.undefined is None and self.program_error is None
                and self.primal_ok and self.value_ok and self.module_ok and all(e.ok for e in self.entries))

    @property
    def by_name(self) -> dict:
        return {e.name: e for e in self.entries}

    def _call(self, args=None) -> str:
        args = self.args if args is None else args
        return f"{self.function}({show_args(self.params, args)})"

    def __str__(self) -> str:
        if self.cached_text is not None:
            return f"{self.cached_text}\n  (proof read from the cache: {self.cached})"
        failed = [i for i in self.instances if i.unsupported is not None]
        if self.unsupported is not None or failed:
            what = self.unsupported if self.unsupported is not None else failed[0].unsupported
            where = "" if self.unsupported is not None else f" (on the instance {failed[0]._call()})"
            return f"verification of {self.function}: unsupported -- {what}{where}"
        if self.undefined is not None:
            return (f"verification of {self.function}: {self.function} is undefined at "
                    f"{self._call()} -- {self.undefined}")
        head = "verified against SymPy" if self.ok else "VERIFICATION FAILED"
        lines = []
        if self.call_args is None:
            lines.append(f"{head}: {self._call()}")
        else:
            note = f" ({self.plan.call_note})" if self.plan is not None and self.plan.call_note else ""
            lines.append(f"{head}: {self._call(self.call_args)}, on small instances of the same generated "
                         f"code{note}")
            lines.append(f"  instance: {self._call()} -- {self.label}")
        lines += self.block("  ")
        lines += self._others()
        lines += self._paths()
        return "\n".join(lines)

    def block(self, pad: str) -> list:
        """The lines for this instance's gradients, value and primal."""
        lines = []
        if self.program_error is not None:
            lines.append(f"{pad}program: {self.program_error} -- the generated code is wrong here")
        for e in self.entries:
            lines.append(f"{pad}d{self.function}/d{e.name}: {e.verdict}")
            lines.append(f"{pad}  SymPy:   {short(e.sympy)}")
            if not e.ok:
                lines.append(f"{pad}  derived: {short(e.derived)}")
                if e.where is not None:
                    lines.append(f"{pad}  at {_show_point(e.where)}: derived = {_show_value(e.derived_value)}, "
                                 f"SymPy = {_show_value(e.sympy_value)}")
        if not self.value_ok:
            lines.append(f"{pad}value: MISMATCH -- {self.value_detail}")
        if self.primal_check:
            lines.append(f"{pad}primal: {self.primal_check}")
        if self.module_check:
            lines.append(f"{pad}module: {self.module_check}" if self.module_ok
                         else f"{pad}module: MISMATCH -- {self.module_check}")
        for e in self.module_entries:
            lines.append(f"{pad}  printed d{self.function}/d{e.name}: {e.verdict}")
            lines.append(f"{pad}    printed: {short(e.derived)}")
            if e.where is not None and e.derived_value is not None:
                lines.append(f"{pad}    at {_show_point(e.where)}: printed = {_show_value(e.derived_value)}, "
                             f"SymPy = {_show_value(e.sympy_value)}")
        return lines

    def _others(self) -> list:
        if not self.instances:
            return []
        lines = ["  other instances, same generated code:"]
        for other in self.instances:
            if other.own_ok:
                proved = ", ".join(sorted({e.brief for e in other.entries})) or "proved"
                primal = "; primal equals the function" if "equals" in other.primal_check else ""
                lines.append(f"    {other._call()}: {proved}{primal} -- {other.label}")
            elif other.undefined is not None:
                lines.append(f"    {other._call()}: skipped, undefined there ({other.undefined})")
            else:
                lines.append(f"    {other._call()} -- {other.label}: VERIFICATION FAILED")
                lines += other.block("      ")
        return lines

    def _paths(self) -> list:
        plan = self.plan
        if plan is None or self.program_error is not None or not (plan.reached or plan.unreached):
            return []
        covered, reached = plan.covered, plan.reached
        count = len(plan.instances)
        lines = [f"  paths: {count} instance{'s' if count > 1 else ''} reach{'es' if count == 1 else ''} "
                 f"{len(covered & reached)} of the {len(reached)} branch outcomes (if sides, loop trip "
                 f"counts, kink sides) that {plan.candidates} candidate instance(s) reach"]
        unreached = plan.unreached
        if unreached:
            shown = "; ".join(plan.outcome_text(o) for o in unreached[:6])
            more = f" and {len(unreached) - 6} more" if len(unreached) > 6 else ""
            lines.append(f"  reached by no instance: {shown}{more}")
        if self.call_args is not None:
            lines.append(f"  scope: proved for these instances (arrays of at most {SMALL_LENGTH} entries per "
                         f"axis, loop-bound ints at most {SMALL_INT}), on every path they take; the call runs "
                         f"the same statements on longer arrays, so a defect that shows only with more "
                         f"entries or trips, or on an outcome no instance reaches, is not excluded")
        return lines

    def raise_if_failed(self) -> "VerificationReport":
        if self.undefined is not None:
            raise ArgumentError(f"{self.function}: undefined at these arguments ({self.undefined})",
                                hint="the function or its derivative is undefined here")
        if not self.ok:
            raise VerificationError(str(self))
        return self


def _show_value(value) -> str:
    if value is None:
        return "?"
    try:
        return mpmath.nstr(value, 15)
    except Exception:
        return str(value)


def _show_point(point: dict) -> str:
    return ", ".join(f"{s}={mpmath.nstr(v, 15)}" for s, v in sorted(point.items(), key=lambda kv: kv[0].name))
