"""Program: what a generated test case is made of -- the program record, typed expressions, facts.

Takes: nothing (data and small helpers).  Guarantees: `Program` is a complete
test case (source, arguments, `wrt`); `E` is a generated expression with its
type and a bound on its value; `Var`, `Helper`, `Loop`, `Scope` are the facts
the generator keeps flow-sensitively; the helpers format values and draw
points deterministically from a given `random.Random`.
"""
from __future__ import annotations

import ast
import math
import random
from dataclasses import dataclass, field, replace

import numpy as np
from .. import syntax

KINDS = ("scalar", "control", "arrays", "rows")
# kinds run only when asked for (`--kinds raising`): scalar, control and arrays programs whose values may leave a
# function's domain, so that Python raises (or makes a complex number) at some of their points, and every
# derivative must raise there too (`execute`: the verdict "raises")
RISKY_KINDS = ("raising",)
ALL_KINDS = KINDS + RISKY_KINDS

HEADER = "import math\nimport numpy as np\nfrom autodiff_compiler import stop_gradient\n"


@dataclass
class Program:
    """One generated test case."""
    kind: str
    seed: int
    index: int
    source: str
    func: str
    args: tuple
    wrt: object                  # as passed to grad(): int, str, or a tuple of them
    params: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.seed}-{self.index}"

    @property
    def wrt_indices(self) -> list[int]:
        items = self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)
        return [self.params.index(w) if isinstance(w, str) else w for w in items]

    def args_source(self) -> str:
        return "(" + "".join(format_value(a) + ", " for a in self.args).rstrip(" ") + ")"

    def scaled(self, scale: float) -> "Program":
        """The program at magnitudes the generator never draws: each float argument (a float array
        whole) times `scale`, 1 or 1/`scale`, drawn from the program's id.  Saturation (tanh(x) = 1.0
        exactly) and cancellation (1 + 2e100 - 2e100) live there: the symbolic pass's expanded sum was
        found so, at `--scale 1e100`."""
        rng = random.Random(f"autodiff-fuzz-scale:{self.id}:{scale!r}")

        def one(value):
            power = rng.choice((-1, 0, 1))
            if isinstance(value, float) or (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
                return value * scale ** power
            return value
        return replace(self, args=tuple(one(a) for a in self.args))


def format_value(value) -> str:
    """Python source for an argument value (exact: floats by repr)."""
    if isinstance(value, np.ndarray):
        return f"np.array({_format_list(value.tolist())})"
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    return repr(float(value))


def _format_list(items) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_format_list(i) for i in items) + "]"
    return repr(items) if isinstance(items, int) else repr(float(items))


# ----------------------------------------------------------------------------- expressions

class E:
    """A generated expression: its source (fully parenthesised), its type and a bound on |value|."""
    __slots__ = ("code", "t", "b", "lo")

    def __init__(self, code: str, t, b: float, lo: float | None = None):
        self.code = code
        self.t = t            # "f", "i", "b", or a shape tuple (float64 array)
        self.b = float(b)     # bound on the absolute value of (each entry of) the value
        self.lo = lo          # for positive expressions: a lower bound > 0


F, I = "f", "i"
INTS = "int data"      # an int64 array parameter: read beside floats, never differentiated


def is_array(t) -> bool:
    return isinstance(t, tuple)


def broadcast(s1, s2):
    """NumPy broadcast of two shapes (() for scalars), or None."""
    s1, s2 = tuple(s1), tuple(s2)
    n = max(len(s1), len(s2))
    a = (1,) * (n - len(s1)) + s1
    b = (1,) * (n - len(s2)) + s2
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def fmt(x: float) -> str:
    return repr(float(x))


SAFE_FLOATS = (0.5, 0.25, 0.75, 1.5, 2.0, 0.3, 1.25, 0.1, 3.0, 0.9, 0.6, 1.0, 0.2, 2.5, 0.4)


@dataclass
class Var:
    name: str
    t: object
    b: float = 1.0
    lo: int | None = None          # int interval
    hi: int | None = None
    local_array: bool = False      # a float array this function made (stores allowed)


@dataclass
class Helper:
    name: str
    params: list                   # [(name, type)]
    defaults: dict                 # name -> default source
    ret_bound: float
    param_bound: float = 2.0


@dataclass
class Loop:
    kind: str                      # "for" | "while"
    trips: int                     # bound on this loop's trip count
    frozen: tuple = ()             # names the body must not assign
    accumulators: tuple = ()


class Scope:
    """Definitely assigned names -> their current facts, flow-sensitively."""

    def __init__(self, values: dict | None = None):
        self.values = dict(values or {})

    def copy(self) -> "Scope":
        return Scope({k: Var(**vars(v)) for k, v in self.values.items()})


def _names_in(code: str) -> list[str]:
    try:
        tree = syntax.parse(code.strip(), mode="eval")
    except SyntaxError:
        return []
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]


def _is_name(code: str) -> bool:
    return code.isidentifier()


def _atom(code: str) -> str:
    """An expression as the operand of a subscript, a call or an attribute: parenthesised unless a name."""
    return code if _is_name(code) else f"({code})"


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _point(rng: random.Random) -> float:
    """A random double away from the small integers and halves the constants use."""
    while True:
        x = rng.uniform(-2.0, 2.0)
        if abs(x * 4 - round(x * 4)) > 0.02:
            return x


def _array(rng: random.Random, shape) -> np.ndarray:
    n = _size(shape)
    values = []
    while len(values) < n:
        x = round(rng.uniform(-1.5, 1.5), 6)
        if abs(x * 4 - round(x * 4)) > 0.02 and all(abs(x - y) > 0.05 for y in values):
            values.append(x)
    return np.array(values, dtype=np.float64).reshape(shape)


def _int_array(rng: random.Random, shape, one_hot: bool = False) -> np.ndarray:
    """Int data: small counts in [-2, 3], or (one_hot) a 1 in each row of a matrix, as class labels."""
    if one_hot:
        out = np.zeros(shape, dtype=np.int64)
        for row in range(shape[0]):
            out[row, rng.randrange(shape[1])] = 1
        return out
    return np.array([rng.randint(-2, 3) for _ in range(_size(shape))], dtype=np.int64).reshape(shape)


def _normalise(source: str) -> str:
    """Canonical formatting via `ast.unparse` (minimal parentheses, deterministic)."""
    tree = syntax.parse(source)
    out = []
    for node in tree.body:
        text = ast.unparse(node)
        if isinstance(node, ast.FunctionDef) and out:
            out.append("")
        out.append(text)
        if isinstance(node, ast.FunctionDef):
            out.append("")
    return "\n".join(out).rstrip() + "\n"
