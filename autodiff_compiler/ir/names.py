"""Names: fresh, deterministic variable names.

Takes: the names already taken (the user's, the compiler's).  Guarantees:
every name it hands out is new, and the same sequence of requests gives the
same names (generated code is deterministic).
"""
from __future__ import annotations

import re


class Names:
    """Fresh, deterministic names that never clash with the user's."""

    def __init__(self, taken=()):
        self.taken = set(taken)
        self.counters: dict[str, int] = {}

    def add(self, names) -> None:
        self.taken.update(names)

    def fresh(self, base: str, numbered: bool = False) -> str:
        if not numbered and base not in self.taken:
            self.taken.add(base)
            return base
        k = self.counters.get(base, 1 if numbered else 2)
        while f"{base}{k}" in self.taken:
            k += 1
        self.counters[base] = k + 1
        name = f"{base}{k}"
        self.taken.add(name)
        return name

    def temp(self) -> str:
        return self.fresh("t", numbered=True)


_TEMPORARY = re.compile(r"^t\d+((_bar|_dot)\d*)*$")


def is_temporary(name: str, user_names=frozenset()) -> bool:
    """A compiler temporary (`t3`, its adjoint `t3_bar`, its tangent `t3_dot`), not a name the user wrote."""
    return bool(_TEMPORARY.match(name)) and name not in user_names
