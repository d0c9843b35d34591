"""Math print: SymPy expressions as a student writes them, in Unicode or LaTeX.

Takes: a SymPy expression over real symbols named after the user's variables
(`y_hat`, `x_0`, `alpha`, `w1`).  Guarantees one line of text:

* `unicode(expr)`: `x·(ŷ − y)`, `2·x·cos(x²)`, `1/(1 + e^(−(w·x + b)))` --
  a middle dot for products, a true minus sign, superscript digits for small
  integer powers, `e^(...)` for the exponential, `√` for square roots;
* `latex(expr)`: the same in LaTeX (`x \\left(\\hat{y} - y\\right)`,
  `\\frac{1}{1 + e^{-(w x + b)}}`);
* terms are ordered as people write them, not as SymPy stores them: positive
  terms first, then by falling degree (`a·x² + b·x + 1`, `w·x + b`,
  `ŷ − y`), an all-negative sum printed as a negated one (`−(w·x + b)`);
* names: `_hat`, `_bar`, `_tilde`, `_dot` become accents on a one-letter
  or Greek base (`ŷ`, `\\hat{y}`), Greek letter names become letters, trailing
  digits and `_0`, `_i`, `_0_1` become subscripts (`x₀`, `A₀,₁`, `x_{0}`);
  other names are kept (`y_pred`, `\\mathrm{eps}`).
"""
from __future__ import annotations

import re
import unicodedata

import sympy

GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega").split()
_GREEK_UNICODE = "αβγδεζηθικλμνξοπρστυφχψω"
ACCENTS = {"hat": ("\u0302", "hat"), "bar": ("\u0304", "bar"), "tilde": ("\u0303", "tilde"),
           "dot": ("\u0307", "dot")}
_SUB = str.maketrans("0123456789aeijknoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑᵢⱼₖₙₒₚᵣₛₜᵤᵥₓ")
_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
MINUS = "\u2212"
DOT = "\u00b7"

ADD, MUL, NEG, POW, ATOM = 1, 2, 3, 4, 5


# ------------------------------------------------------------------------ names

def _greek(base: str, latex: bool) -> str | None:
    lower = base.lower()
    if lower in GREEK:
        if latex:
            return "\\" + (base if base.islower() else base[0].upper() + base[1:].lower())
        letter = _GREEK_UNICODE[GREEK.index(lower)]
        return letter if base.islower() else letter.upper()
    return None


def _split_name(name: str):
    """(base, accent, subscripts) of a name, or None when it is not in the simple shapes."""
    parts = name.split("_")
    base, rest = parts[0], parts[1:]
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", base)
    subscripts = []
    if match and (len(match.group(1)) == 1 or match.group(1).lower() in GREEK):
        base, subscripts = match.group(1), [match.group(2)]
    accent = None
    if rest and rest[0] in ACCENTS:
        accent, rest = rest[0], rest[1:]
    if not base or not (len(base) == 1 or base.lower() in GREEK):
        return None
    if any(not (p.isdigit() or (len(p) == 1 and p.isalpha())) for p in rest):
        return None
    return base, accent, subscripts + rest


def name_unicode(name: str) -> str:
    split = _split_name(name)
    if split is None:
        return name
    base, accent, subscripts = split
    text = _greek(base, False) or base
    if accent:
        text = unicodedata.normalize("NFC", text + ACCENTS[accent][0])    # ŷ is one character
    if subscripts:
        sub = ",".join(subscripts)
        translated = sub.translate(_SUB)
        if any(c.isascii() and c not in "," for c in translated):
            return text + "_" + sub
        text += translated
    return text


def name_latex(name: str) -> str:
    split = _split_name(name)
    if split is None:
        parts = name.split("_")
        head = f"\\mathrm{{{parts[0]}}}" if len(parts[0]) > 1 else parts[0]
        if len(parts) > 1:
            rest = "\\_".join(parts[1:])
            return f"{head}_{{\\mathrm{{{rest}}}}}"
        return head
    base, accent, subscripts = split
    text = _greek(base, True) or base
    if accent:
        text = f"\\{ACCENTS[accent][1]}{{{text}}}"
    if subscripts:
        text += "_{" + ",".join(subscripts) + "}"
    return text


# ---------------------------------------------------------------------- ordering

def _degree(term) -> int:
    coefficient, factors = term.as_coeff_mul()
    total = 0
    for f in factors:
        if f.is_Symbol:
            total += 1
        elif isinstance(f, sympy.Pow) and f.args[0].is_Symbol and f.args[1].is_Integer:
            total += int(f.args[1])
        elif not f.is_Number:
            total += 1
    return total


def ordered_terms(expr: sympy.Add) -> list:
    """Positive terms first, then by falling degree, a constant last (`x² + 3·x + 1`) -- but first
    beside functions (`1 + e^(−z)`, `1 − cos(x)`)."""
    terms = list(sympy.Add.make_args(expr))
    transcendental = any(t.atoms(sympy.Function) for t in terms)

    def key(t):
        constant_first = transcendental and t.is_Number and not t.could_extract_minus_sign()
        negative = t.could_extract_minus_sign()
        return (negative, 0 if constant_first else 1, 1 if t.is_Number else 0, -_degree(t))
    return sorted(terms, key=key)


def _fraction(expr):
    """(numerator, denominator) as written: negative integer powers and a rational coefficient's
    denominator go below the line (not SymPy's `as_numer_denom`, which also moves e^(-x) there)."""
    coefficient, factors = expr.as_coeff_mul()
    coefficient = sympy.Rational(coefficient)
    above = [sympy.Integer(coefficient.p)] if coefficient.p != 1 else []
    below = [sympy.Integer(coefficient.q)] if coefficient.q != 1 else []
    for f in factors:
        if isinstance(f, sympy.Pow) and f.args[1].is_Rational and f.args[1].is_negative:
            below.append(f.args[0] if f.args[1] == -1 else sympy.Pow(f.args[0], -f.args[1], evaluate=False))
        else:
            above.append(f)
    def product(items):
        if not items:
            return sympy.Integer(1)
        return items[0] if len(items) == 1 else sympy.Mul(*items, evaluate=False)
    return product(above), product(below)


# ---------------------------------------------------------------------- printer

class _Printer:
    """Precedence printing shared by both notations; the notation-specific parts are methods."""

    def text(self, expr) -> str:
        return self.show(sympy.sympify(expr))[0]

    def wrap(self, expr, minimum: int) -> str:
        text, precedence = self.show(expr)
        return self.paren(text) if precedence < minimum else text

    def show(self, expr):
        if expr.is_Symbol:
            return self.name(expr.name), ATOM
        if expr is sympy.pi:
            return self.pi, ATOM
        if expr is sympy.E:
            return "e", ATOM
        if expr.is_Integer:
            return (str(expr), ATOM) if expr >= 0 else (self.minus + str(-expr), NEG)
        if expr.is_Rational:
            if expr < 0:
                return self.minus + self.fraction(str(-expr.p), str(expr.q), ATOM, ATOM), NEG
            return self.fraction(str(expr.p), str(expr.q), ATOM, ATOM), MUL
        if expr.is_Float:
            return self.number(float(expr)), ATOM
        if isinstance(expr, sympy.Add):
            return self.sum(expr)
        if isinstance(expr, sympy.Mul):
            return self.product(expr)
        if isinstance(expr, sympy.Pow):
            return self.power(expr)
        if isinstance(expr, sympy.exp):
            return self.exponential(expr.args[0]), POW
        if isinstance(expr, sympy.Function) and expr.args:
            return self.call(type(expr).__name__, [self.show(a)[0] for a in expr.args]), ATOM
        return str(expr), ATOM

    def number(self, value: float) -> str:
        text = repr(value)
        return text.replace("-", self.minus) if self.minus != "-" else text

    def sum(self, expr):
        terms = ordered_terms(expr)
        if len(terms) > 1 and all(t.could_extract_minus_sign() for t in terms):
            return self.minus + self.paren(self.sum(-expr)[0]), NEG
        parts = []
        for k, t in enumerate(terms):
            negative = t.could_extract_minus_sign()
            body = self.wrap(-t if negative else t, MUL)
            if k == 0:
                parts.append((self.minus if negative else "") + body)
            else:
                parts.append((f" {self.minus} " if negative else " + ") + body)
        return "".join(parts), ADD

    def product(self, expr):
        if expr.could_extract_minus_sign():
            return self.minus + self.wrap(-expr, MUL + 1 if isinstance(-expr, sympy.Add) else MUL), NEG
        numerator, denominator = _fraction(expr)
        if denominator != 1:
            num, num_precedence = self.show(numerator)
            den, den_precedence = self.show(denominator)
            return self.fraction(num, den, num_precedence, den_precedence), MUL
        coefficient, factors = expr.as_coeff_mul()
        pieces = [] if coefficient == 1 else [self.show(coefficient)[0]]
        for f in factors:
            pieces.append(self.wrap(f, MUL + 1 if not isinstance(f, sympy.Pow) else POW))
        return self.times(pieces), MUL

    def power(self, expr):
        base, exponent = expr.args
        if exponent == sympy.Rational(1, 2):
            return self.root(self.show(base)), POW
        if exponent.is_negative:
            return self.product(expr)
        return self.raise_to(self.wrap(base, ATOM), exponent), POW


class _Unicode(_Printer):
    minus = MINUS
    pi = "π"

    def name(self, name: str) -> str:
        return name_unicode(name)

    def paren(self, text: str) -> str:
        return f"({text})"

    def fraction(self, num, den, num_precedence, den_precedence) -> str:
        left = num if num_precedence >= MUL else self.paren(num)
        right = den if den_precedence > MUL else self.paren(den)
        return f"{left}/{right}"

    def times(self, pieces: list) -> str:
        return DOT.join(pieces)

    def root(self, shown) -> str:
        text, precedence = shown
        return "√" + (text if precedence == ATOM else self.paren(text))

    def raise_to(self, base: str, exponent) -> str:
        if exponent.is_Integer and 0 <= exponent <= 9:
            return base + str(exponent).translate(_SUP)
        text, precedence = self.show(exponent)
        return f"{base}^{text}" if precedence == ATOM else f"{base}^({text})"

    def exponential(self, argument) -> str:
        text, precedence = self.show(argument)
        return f"e^{text}" if precedence == ATOM else f"e^({text})"

    def call(self, name: str, args: list) -> str:
        return f"{name}({', '.join(args)})"


class _Latex(_Printer):
    minus = "-"
    pi = "\\pi"
    FUNCTIONS = {"sin", "cos", "tan", "sinh", "cosh", "tanh", "log", "exp", "arcsin", "arccos", "arctan"}

    def name(self, name: str) -> str:
        return name_latex(name)

    def paren(self, text: str) -> str:
        return f"\\left({text}\\right)"

    def fraction(self, num, den, num_precedence, den_precedence) -> str:
        return f"\\frac{{{num}}}{{{den}}}"

    def times(self, pieces: list) -> str:
        out = pieces[0] if pieces else ""
        for previous, piece in zip(pieces, pieces[1:]):
            out += (" \\cdot " if piece[:1].isdigit() else " ") + piece
        return out

    def root(self, shown) -> str:
        return f"\\sqrt{{{shown[0]}}}"

    def raise_to(self, base: str, exponent) -> str:
        return f"{base}^{{{self.show(exponent)[0]}}}"

    def exponential(self, argument) -> str:
        return f"e^{{{self.show(argument)[0]}}}"

    def call(self, name: str, args: list) -> str:
        name = {"asin": "arcsin", "acos": "arccos", "atan": "arctan"}.get(name, name)
        head = f"\\{name}" if name in self.FUNCTIONS else f"\\operatorname{{{name}}}"
        return f"{head}\\left({', '.join(args)}\\right)"


def unicode(expr) -> str:
    return _Unicode().text(expr)


def latex(expr) -> str:
    return _Latex().text(expr)


def ascii_text(text: str) -> str:
    """A Unicode formula for a terminal that cannot show it: plain operators, accents as `_hat`."""
    text = unicodedata.normalize("NFD", text)
    text = text.replace(MINUS, "-").replace(DOT, "*").replace("√", "sqrt").replace("∂", "d")
    for accent, (mark, word) in ACCENTS.items():
        text = re.sub(f"(.){mark}", lambda m: f"{m.group(1)}_{word}", text)
    text = re.sub("([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)", lambda m: "**" + m.group(1).translate(
        str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")), text)
    subscripts = "₀₁₂₃₄₅₆₇₈₉ₐₑᵢⱼₖₙₒₚᵣₛₜᵤᵥₓ"
    text = re.sub(f"([{subscripts}](?:,?[{subscripts}])*)", lambda m: "_" + m.group(1).translate(
        str.maketrans(subscripts, "0123456789aeijknoprstuvx")), text)
    for name, letter in zip(GREEK, _GREEK_UNICODE):
        text = text.replace(letter, name)
    return text
