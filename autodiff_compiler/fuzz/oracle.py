"""Oracle: the reference value and gradient of a program, independent of the compiler.

Takes: a module's source text (any program in the supported language, not only
generated ones), the name of a function in it, its positional arguments and the
indices of the parameters to differentiate.  Guarantees:

* `Oracle.prepare()` returns `None` when it has a trustworthy reference, or a
  skip reason (the primal raised or returned a non-finite or non-float value,
  the point is at a kink, the references are inconclusive); a point where a
  reference exists is one where the derivative exists;
* the reference comes from the *same source text*: the module is re-executed
  with every branch condition, comparison, kink-prone call (`abs`, `min`,
  `max`, `np.maximum`, `np.clip`, `np.max` and friends, `floor`, `int`, `%`,
  `//`, `atan2`, ...) wrapped by a tracer that records the decision taken (the
  "path") and passes values through unchanged; `stop_gradient(e)` is replayed
  with its value at the base point, so the reference is the derivative the
  compiler promises, not the one of the unmarked function;
* the instrumented float64 run must give the bit-identical value of the real
  imported function, so the instrumentation cannot drift from the program;
* float64 central differences at three steps (h, h/2, h/4, h about 1e-3
  relative) combined by Richardson extrapolation, each evaluation on the same
  path as the base point; a program whose path changes within the step, or
  whose extrapolated estimates disagree, or that any result disagrees with, is
  referred to a high-precision reference: the same instrumented source run on
  `mpmath` numbers (40 digits; NumPy arrays of dtype object, with an `mpmath`
  backed `math`/`numpy` shim) with steps of 1e-15 and 1e-12, on the base path,
  whose value must round to the float64 value within 1e-7 (else the float64
  program is ill-conditioned at this point: skipped);
* `check_grads(got)` and `check_value(got)` say whether a result agrees, with
  the relative error; a disagreement is only reported after it was confirmed
  against the high-precision reference when one can be computed.
"""
from __future__ import annotations

import ast
import builtins
import math
import types

import numpy as np
from .. import syntax
from .high_precision import (MP_MATH, MP_NUMPY, NEAR_OVERFLOW, OracleUnsupported, _MP_FLOORDIV, _MP_MOD,  # noqa: F401
                             _MP_POW, _is_array, _mp_erfc, _mp_floordiv, _mp_mod, _mp_pow, _to_mpf)
from .precision import decades as _decades, references_agree as _references_agree, step_decades, step_size

try:
    import mpmath
except ImportError:      # pragma: no cover - mpmath comes with sympy
    mpmath = None

TRACER = "__fz_trace"

# tolerances (relative to |reference component| + the largest reference component)
RTOL = 1e-7
ATOL = 1e-10
VALUE_RTOL = 1e-9
FD_CONCLUSIVE = 2e-8
MAX_DECISIONS = 10 ** 6    # an evaluation's tests of ifs and whiles; past them, the program is not run
ENDLESS = "a loop without end"
# what the high-precision reference says when the function changes on a scale finer than the float64
# differences' step (2**-10 of the point): their agreement then proves nothing (x + 1e-20*sin(1e20*x))
FINER_THAN_FD = ("ill-conditioned", "disagree", "kink", "still changes")
MP_DPS = 40
MP_DOUBLINGS = 4           # MP_DPS (more for arguments far apart in magnitude), doubled until two agree
# NumPy floating-point events that make a primal evaluation fail (as Python floats do); underflow is harmless
FP_ERRORS = dict(over="raise", divide="raise", invalid="raise", under="ignore")


class PathChanged(Exception):
    """A perturbed evaluation took another path than the base point."""


# ------------------------------------------------------------------- instrumentation

_KINKS = {
    # (module, name) -> decision kind; module "builtins", "math" or "numpy"
    ("builtins", "abs"): "abs", ("math", "fabs"): "abs", ("numpy", "abs"): "abs", ("numpy", "absolute"): "abs",
    ("numpy", "fabs"): "abs",
    ("builtins", "min"): "minmax", ("builtins", "max"): "minmax",
    ("numpy", "minimum"): "npminmax", ("numpy", "maximum"): "npminmax", ("numpy", "fmin"): "npminmax",
    ("numpy", "fmax"): "npminmax",
    ("numpy", "clip"): "clip",
    ("math", "floor"): "value", ("math", "ceil"): "value", ("math", "trunc"): "value", ("builtins", "int"): "value",
    ("numpy", "floor"): "value", ("numpy", "ceil"): "value", ("numpy", "trunc"): "value", ("numpy", "sign"): "value",
    ("builtins", "round"): "value", ("numpy", "rint"): "value",
    ("numpy", "max"): "reduce", ("numpy", "min"): "reduce", ("numpy", "amax"): "reduce", ("numpy", "amin"): "reduce",
    ("math", "atan2"): "atan2", ("numpy", "arctan2"): "atan2",
    ("numpy", "mod"): "mod", ("numpy", "remainder"): "mod", ("numpy", "floor_divide"): "mod",
    ("math", "fmod"): "fmod",
}


class _Instrument(ast.NodeTransformer):
    """Wrap decisions in tracer calls; keep every value computation as written."""

    def __init__(self, modules: dict, names: dict):
        self.modules = modules      # alias -> "math" | "numpy" | "autodiff_compiler"
        self.names = names          # name -> (module, attr) for `from m import x`
        self.site = 0

    def _next(self) -> int:
        self.site += 1
        return self.site

    def _tracer(self, method: str, *args, keywords=()) -> ast.Call:
        return ast.Call(func=ast.Attribute(value=ast.Name(id=TRACER, ctx=ast.Load()), attr=method, ctx=ast.Load()),
                        args=list(args), keywords=list(keywords))

    def _wrap_test(self, node: ast.expr) -> ast.expr:
        return self._tracer("t", ast.Constant(self._next()), node)

    def resolve(self, func: ast.expr):
        if isinstance(func, ast.Name):
            if func.id in self.names:
                return self.names[func.id]
            if func.id in self.modules:
                return None
            return ("builtins", func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.modules:
            return (self.modules[func.value.id], func.attr)
        return None

    # statements
    def visit_If(self, node):
        self.generic_visit(node)
        node.test = self._wrap_test(node.test)
        return node

    def visit_While(self, node):
        self.generic_visit(node)
        node.test = self._wrap_test(node.test)
        return node

    def visit_With(self, node):
        raise OracleUnsupported("'with' blocks (no_grad) are not modelled by the oracle")

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        op = {ast.Mod: "imod", ast.FloorDiv: "ifloordiv", ast.Pow: "ipow"}.get(type(node.op))
        if op is None:
            return node       # += -= *= /= keep their in-place meaning for arrays
        load = _as_load(node.target)
        call = self._tracer(op, ast.Constant(self._next()), load, node.value)
        return ast.copy_location(ast.Assign(targets=[node.target], value=call), node)

    # expressions
    def visit_IfExp(self, node):
        self.generic_visit(node)
        node.test = self._wrap_test(node.test)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        node.values = [self._wrap_test(v) for v in node.values]
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            node.operand = self._wrap_test(node.operand)
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        return self._wrap_test(node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        op = {ast.Mod: "mod", ast.FloorDiv: "floordiv", ast.Pow: "pow"}.get(type(node.op))
        if op is None:
            return node
        return ast.copy_location(self._tracer(op, ast.Constant(self._next()), node.left, node.right), node)

    def visit_Call(self, node):
        self.generic_visit(node)
        ref = self.resolve(node.func)
        if ref is None:
            return node
        if ref == ("autodiff_compiler", "stop_gradient"):
            return self._tracer("sg", ast.Constant(self._next()), *node.args)
        if ref == ("autodiff_compiler", "no_grad"):
            raise OracleUnsupported("no_grad is not modelled by the oracle")
        if ref == ("builtins", "float"):
            return self._tracer("float_", *node.args)
        if ref in (("builtins", "pow"),):
            return self._tracer("pow", ast.Constant(self._next()), *node.args)
        kind = _KINKS.get(ref)
        if kind is None:
            return node
        return self._tracer("k", ast.Constant(self._next()), ast.Constant(kind), node.func, *node.args,
                            keywords=node.keywords)


def _as_load(target: ast.expr) -> ast.expr:
    node = syntax.expression(ast.unparse(target))
    return node


def _import_table(tree: ast.Module):
    """Module aliases and from-imported names of a module's top level."""
    modules, names = {}, {}
    known = {"math": "math", "numpy": "numpy", "autodiff_compiler": "autodiff_compiler"}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    modules[alias.asname or alias.name] = known[alias.name]
        elif isinstance(node, ast.ImportFrom) and node.module in known:
            for alias in node.names:
                names[alias.asname or alias.name] = (known[node.module], alias.name)
    return modules, names


class Instrumented:
    """The instrumented module, executable against float64 or mpmath arithmetic."""

    def __init__(self, source: str, filename: str = "<fuzz>"):
        tree = syntax.parse(source)
        self.modules, self.names = _import_table(tree)
        body = []
        for node in tree.body:
            if isinstance(node, ast.Import) and all(a.name in ("math", "numpy", "autodiff_compiler")
                                                    for a in node.names):
                continue
            if isinstance(node, ast.ImportFrom) and node.module in ("math", "numpy", "autodiff_compiler"):
                continue
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                continue
            body.append(node)
        tree.body = body
        transformer = _Instrument(self.modules, self.names)
        tree = transformer.visit(tree)
        ast.fix_missing_locations(tree)
        self.code = syntax.compile_code(tree, filename + " [instrumented]", "exec")
        self._namespaces: dict[str, dict] = {}

    def namespace(self, arith: str, tracer: "Tracer") -> dict:
        ns = self._namespaces.get(arith)
        if ns is None:
            math_mod, numpy_mod = (math, np) if arith == "f64" else (MP_MATH, MP_NUMPY)
            ns = {"__name__": "fuzz_instrumented", "__builtins__": builtins}
            targets = {"math": math_mod, "numpy": numpy_mod, "autodiff_compiler": _AUTODIFF_STUB}
            for alias, module in self.modules.items():
                ns[alias] = targets[module]
            for alias, (module, attr) in self.names.items():
                ns[alias] = getattr(targets[module], attr)
            ns[TRACER] = tracer
            exec(self.code, ns)
            self._namespaces[arith] = ns
        ns[TRACER] = tracer
        return ns


_AUTODIFF_STUB = types.SimpleNamespace(stop_gradient=lambda x: x, no_grad=None)


# ------------------------------------------------------------------- the tracer

def _norm(value):
    """A hashable, arithmetic-independent form of a decision."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            flat = [_norm(v) for v in value.ravel()]
            return ("a", value.shape, tuple(flat))
        if value.dtype.kind == "b":
            return ("a", value.shape, tuple(bool(v) for v in value.ravel()))
        return ("a", value.shape, tuple(float(v) for v in value.ravel()))
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


class Tracer:
    """Records the path of one evaluation; replays stop_gradient values in perturbed runs."""

    def __init__(self, arith: str):
        self.arith = arith
        self.path: list = []
        self.frozen: dict | None = None       # site -> values recorded at the base point
        self.seen: dict = {}

    def start(self, frozen=None):
        self.path = []
        self.seen = {}
        self.frozen = frozen

    # decisions
    def t(self, site, value):
        if len(self.path) > MAX_DECISIONS:      # `while t < 2 + x` at x = 1.5e100 (control-109-52, scaled)
            raise OracleUnsupported(f"more than {MAX_DECISIONS} tests of ifs and whiles: {ENDLESS}")
        if isinstance(value, np.ndarray):
            self.path.append((site, _norm(np.asarray(value, dtype=bool))))
        else:
            self.path.append((site, bool(value)))
        return value

    def k(self, site, kind, func, *args, **kw):
        result = func(*args, **kw)
        if kind == "abs":
            x = args[0]
            decision = (_norm(_gt(x, 0)), _norm(_lt(x, 0)))
        elif kind == "minmax":
            decision = tuple(bool(a == result) for a in args)
        elif kind == "npminmax":
            a, b = args[0], args[1]
            decision = (_norm(_lt(a, b)), _norm(_eq(a, b)))
        elif kind == "clip":
            x, lo, hi = (list(args) + [kw.get("a_min"), kw.get("a_max")])[:3]
            decision = (_norm(_lt(x, lo)), _norm(_gt(x, hi)), _norm(_eq(x, lo)), _norm(_eq(x, hi)))
        elif kind == "value":
            decision = _norm(result)
        elif kind == "reduce":
            x = args[0]
            axis = kw.get("axis", args[1] if len(args) > 1 else None)
            keepdims = kw.get("keepdims", False)
            if isinstance(x, np.ndarray) and axis is not None and not keepdims:
                expanded = np.expand_dims(result, axis)
            else:
                expanded = result
            decision = _norm(_eq(x, expanded)) if isinstance(x, np.ndarray) else True
        elif kind == "atan2":
            y, x = args[0], args[1]
            if np.any(np.logical_and(np.asarray(_eq(x, 0)), np.asarray(_eq(y, 0)))):
                # the angle of the origin: no derivative exists (the function jumps there)
                raise OracleUnsupported("singular point: atan2(0, 0)")
            decision = _norm(np.logical_and(_lt(x, 0), _lt(y, 0))) if _is_array(x, y) else \
                bool(x < 0 and y < 0)
        elif kind == "mod":
            decision = _norm(self._floor_div(args[0], args[1]))
        elif kind == "fmod":
            decision = _norm(self._floor_div(args[0], args[1]))
        else:  # pragma: no cover
            raise AssertionError(kind)
        self.path.append((site, decision))
        return result

    def _floor_div(self, a, b):
        if self.arith == "f64":
            return np.floor_divide(a, b) if _is_array(a, b) else a // b
        if _is_array(a, b):
            return _MP_FLOORDIV(a, b)
        return _mp_floordiv(a, b)

    def mod(self, site, a, b):
        q = self._floor_div(a, b)
        self.path.append((site, _norm(q)))
        if self.arith == "f64":
            return a % b
        if _is_array(a, b):
            return _MP_MOD(a, b)
        return _mp_mod(a, b)

    def floordiv(self, site, a, b):
        q = self._floor_div(a, b)
        self.path.append((site, _norm(q)))
        return q

    def pow(self, site, a, b):
        if self.arith == "f64":
            return a ** b
        if _is_array(a, b):
            return _MP_POW(a, b)
        return _mp_pow(a, b)

    def imod(self, site, a, b):
        return _inplace(a, self.mod(site, a, b))

    def ifloordiv(self, site, a, b):
        return _inplace(a, self.floordiv(site, a, b))

    def ipow(self, site, a, b):
        return _inplace(a, self.pow(site, a, b))

    def float_(self, x):
        if self.arith == "f64":
            return float(x)
        return _to_mpf(x)

    def sg(self, site, value):
        if self.frozen is None:
            self.seen.setdefault(site, []).append(value.copy() if isinstance(value, np.ndarray) else value)
            return value
        count = self.seen.get(site, 0)
        self.seen[site] = count + 1
        recorded = self.frozen.get(site, ())
        if count >= len(recorded):
            raise PathChanged("stop_gradient evaluated more often than at the base point")
        frozen = recorded[count]
        return frozen.copy() if isinstance(frozen, np.ndarray) else frozen


def _inplace(target, result):
    if isinstance(target, np.ndarray):
        target[...] = result
        return target
    return result


def _gt(a, b):
    return np.greater(a, b) if _is_array(a, b) else a > b


def _lt(a, b):
    return np.less(a, b) if _is_array(a, b) else a < b


def _eq(a, b):
    return np.equal(a, b) if _is_array(a, b) else a == b


# ------------------------------------------------------------------- evaluation

def _copy_args(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _mp_args(args):
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(np.frompyfunc(lambda v: mpmath.mpf(float(v)), 1, 1)(a) if a.dtype.kind == "f"
                       else a.copy())
        elif isinstance(a, float):
            out.append(mpmath.mpf(a))
        else:
            out.append(a)
    return out


def is_float_result(value) -> bool:
    return isinstance(value, (float, np.floating)) and not isinstance(value, bool)


class Reference:
    """What the oracle knows: value, gradient per wrt parameter, the method and its error estimate."""

    def __init__(self, value, grads, errors, method):
        self.value = value
        self.grads = grads          # list of float or float64 arrays, one per wrt parameter
        self.errors = errors        # same structure: estimated absolute error
        self.method = method        # "fd64" or "mp"

    def scale(self) -> float:
        return max([float(np.max(np.abs(g))) if isinstance(g, np.ndarray) and g.size else abs(float(g))
                    if not isinstance(g, np.ndarray) else 0.0 for g in self.grads] + [0.0])


class Oracle:
    """References for one program at one point (see the module docstring)."""

    def __init__(self, source: str, func_name: str, args, wrt: list[int], function=None, filename="<fuzz>"):
        self.source = source
        self.func_name = func_name
        self.args = list(args)
        self.wrt = list(wrt)
        self.function = function
        self.filename = filename
        self.value64 = None
        self.fd: Reference | None = None
        self.mp: Reference | None = None
        self.mp_failed: str | None = None
        self.base_path = None
        self.notes: list[str] = []

    # ----------------------------------------------------------------- evaluation helpers
    def _eval(self, arith: str, args, frozen=None):
        tracer = self._tracers[arith]
        ns = self.instrumented.namespace(arith, tracer)
        tracer.start(frozen)
        value = ns[self.func_name](*args)
        return value, tracer.path, tracer.seen

    def prepare(self) -> str | None:
        """None when a reference exists, else the reason to skip this program."""
        try:
            self.instrumented = Instrumented(self.source, self.filename)
        except OracleUnsupported as exc:
            return f"oracle: {exc}"
        self._tracers = {"f64": Tracer("f64"), "mp": Tracer("mp")}
        # 1. the instrumented float64 run (first: it stops a loop without end), and the base path
        try:
            with np.errstate(**FP_ERRORS):
                value, path, seen = self._eval("f64", _copy_args(self.args))
        except OracleUnsupported as exc:
            return f"oracle: {exc}"
        except Exception as exc:
            return f"primal raised {type(exc).__name__}: {str(exc)[:80]}"
        # 2. the real function, as the user runs it: the same value
        plain = None
        if self.function is not None:
            try:
                with np.errstate(**FP_ERRORS):
                    plain = self.function(*_copy_args(self.args))
            except Exception as exc:
                return f"primal raised {type(exc).__name__}: {str(exc)[:80]}"
        if plain is not None and not (type(plain) is type(value) and
                                      (plain == value or (plain != plain and value != value))):
            raise AssertionError(f"oracle drift: instrumented float64 value {value!r} != function value {plain!r}")
        if not is_float_result(value):
            return f"primal returned {type(value).__name__}, not a float"
        if not math.isfinite(value):
            return "primal is not finite"
        self.value64 = float(value)
        self.base_path = path
        self.base_frozen = seen
        # 3. float64 differences
        reason = self._finite_differences()
        if reason is None:
            return None
        # 4. the high-precision reference
        self.notes.append(f"fd64: {reason}")
        return self._mp_reference()

    def _coordinates(self):
        for slot, index in enumerate(self.wrt):
            arg = self.args[index]
            if isinstance(arg, np.ndarray):
                for flat in range(arg.size):
                    yield slot, index, flat
            else:
                yield slot, index, None

    def _perturbed(self, index, flat, new_value, convert=None):
        args = _copy_args(self.args) if convert is None else convert(self.args)
        if flat is None:
            args[index] = new_value
        else:
            args[index].reshape(-1)[flat] = new_value
        return args

    def _base_coordinate(self, index, flat):
        arg = self.args[index]
        return float(arg) if flat is None else float(arg.reshape(-1)[flat])

    def _empty_grads(self):
        return [np.zeros(self.args[i].shape) if isinstance(self.args[i], np.ndarray) else 0.0 for i in self.wrt]

    def _finite_differences(self) -> str | None:
        grads, errors = self._empty_grads(), self._empty_grads()
        eps = np.finfo(float).eps
        for slot, index, flat in self._coordinates():
            x0 = self._base_coordinate(index, flat)
            h0 = 2.0 ** -10 * max(1.0, abs(x0))
            estimates = []
            for h in (h0, h0 / 2, h0 / 4):
                xp, xm = x0 + h, x0 - h
                values = []
                for x in (xp, xm):
                    try:
                        with np.errstate(**FP_ERRORS):
                            v, path, _ = self._eval("f64", self._perturbed(index, flat, x), self.base_frozen)
                    except PathChanged:
                        return "path changed within the step"
                    except Exception as exc:
                        return f"perturbed primal raised {type(exc).__name__}"
                    if path != self.base_path:
                        return "path changed within the step"
                    if not is_float_result(v) or not math.isfinite(v):
                        return "perturbed primal not finite"
                    values.append(float(v))
                estimates.append((values[0] - values[1]) / (xp - xm))
            d1, d2, d3 = estimates
            r1, r2 = (4 * d2 - d1) / 3, (4 * d3 - d2) / 3
            err = abs(r1 - r2) + 8 * eps * max(1.0, abs(self.value64)) / (h0 / 4)
            self._store(grads, errors, slot, flat, r2, err)
        self.fd = Reference(self.value64, grads, errors, "fd64")
        scale = self.fd.scale()
        for g, e in zip(grads, errors):
            g, e = np.asarray(g), np.asarray(e)
            if np.any(e > FD_CONCLUSIVE * (np.abs(g) + scale) + 1e-11):
                return "float64 differences inconclusive"
        return None

    @staticmethod
    def _store(grads, errors, slot, flat, value, err):
        if flat is None:
            grads[slot], errors[slot] = value, err
        else:
            grads[slot].reshape(-1)[flat] = value
            errors[slot].reshape(-1)[flat] = err

    def _mp_reference(self) -> str | None:
        """Compute the high-precision reference; None on success, else a skip reason."""
        if self.mp is not None:
            return None
        if self.mp_failed is not None:
            return self.mp_failed
        reason = self._mp_compute()
        if reason is not None:
            self.mp_failed = reason
        return reason

    def _mp_compute(self) -> str | None:
        """The reference at MP_DPS digits, then at twice as many, ... until two agree: a value the
        program adds to a far larger one (x beside exp(119) = 4.4e51) changes nothing at 40 digits, and
        the reference said 0 for a gradient of 1 (raising-105-56)."""
        if mpmath is None:
            return "inconclusive (mpmath missing)"
        previous = None
        # two precisions that both lose y beside x = 1e100 agree on 0: start with the digits between them
        digits = MP_DPS + _decades(self.args) + step_decades(self.value64, self.args)
        for digits in (digits * 2 ** k for k in range(MP_DOUBLINGS)):
            reason = self._mp_at(digits)
            if reason is not None:
                return reason
            if previous is not None and _references_agree(previous, self.mp):
                return None
            previous, self.mp = self.mp, None
        return f"inconclusive: the high-precision reference still changes at {digits} digits"

    def _mp_at(self, digits: int) -> str | None:
        with mpmath.workdps(digits):
            try:
                value, path, seen = self._eval("mp", _mp_args(self.args))
            except OracleUnsupported as exc:
                return f"oracle: {exc}"
            except (ValueError, ZeroDivisionError, OverflowError) as exc:
                return f"high-precision primal raised {type(exc).__name__}: {str(exc)[:60]}"
            if path != self.base_path:
                return "kink: float64 and high-precision paths differ at the point"
            try:
                value_mp = mpmath.mpf(value)
            except Exception:
                return f"high-precision primal returned {type(value).__name__}"
            if abs(float(value_mp) - self.value64) > 1e-7 * max(1.0, abs(self.value64)):
                return (f"inconclusive: float64 primal {self.value64!r} differs from high-precision "
                        f"{mpmath.nstr(value_mp, 17)} (ill-conditioned)")
            grads, errors = self._empty_grads(), self._empty_grads()
            magnitude = []
            for slot, index, flat in self._coordinates():
                x0 = mpmath.mpf(self._base_coordinate(index, flat))
                size = step_size(x0, self.args)
                estimates = []
                for exponent in (-50, -40):
                    h = mpmath.mpf(2) ** exponent * size
                    values = []
                    for x in (x0 + h, x0 - h):
                        try:
                            v, p, _ = self._eval("mp", self._perturbed(index, flat, x, _mp_args), seen)
                        except PathChanged:
                            return "kink: path changes within 1e-12"
                        except (ValueError, ZeroDivisionError, OverflowError) as exc:
                            return f"kink: high-precision primal raised {type(exc).__name__} near the point"
                        if p != path:
                            return "kink: path changes within 1e-12"
                        values.append(mpmath.mpf(v))
                    estimates.append((values[0] - values[1]) / (2 * h))
                # the working precision's rounding of a large value, over the smaller step: a value of
                # 1e57 carries no digit of a unit step 2**-50 at 50 digits (both estimates 0, agreeing)
                rounding = abs(value_mp) * mpmath.mpf(10) ** -digits / (mpmath.mpf(2) ** -50 * size)
                err = abs(estimates[0] - estimates[1]) + rounding
                magnitude.append(abs(estimates[0]))
                self._store(grads, errors, slot, flat, float(estimates[0]), float(err))
            scale = max([float(m) for m in magnitude] + [0.0])
            for g, e in zip(grads, errors):
                if np.any(np.asarray(e) > 1e-12 * (np.abs(np.asarray(g)) + scale) + 1e-20):
                    return "inconclusive: high-precision differences disagree (singular point?)"
            self.mp = Reference(float(value_mp), grads, errors, "mp")
            self.mp_value = value_mp
        return None

    # ----------------------------------------------------------------- comparisons
    @property
    def reference(self) -> Reference:
        return self.mp if self.mp is not None else self.fd

    def _compare(self, ref: Reference, got) -> tuple[bool, float, str]:
        scale = ref.scale()
        worst, where = 0.0, ""
        ok = True
        for slot, (g, r, e) in enumerate(zip(got, ref.grads, ref.errors)):
            g64 = np.asarray(g, dtype=float)
            r64, e64 = np.asarray(r, dtype=float), np.asarray(e, dtype=float)
            tol = RTOL * (np.abs(r64) + scale) + 3 * e64 + ATOL
            diff = np.abs(g64 - r64)
            bad = ~(diff <= tol)        # NaN counts as bad
            rel = np.where(np.isfinite(diff), diff / (np.abs(r64) + scale + 1e-300), np.inf)
            rel_max = float(np.max(rel)) if rel.size else 0.0
            if rel_max > worst or rel_max != rel_max:
                worst = rel_max if rel_max == rel_max else math.inf
                where = self._param_name(slot)
            if np.any(bad):
                ok = False
        return ok, worst, where

    def _param_name(self, slot):
        return f"wrt[{slot}]"

    def check_grads(self, got: list) -> tuple[str, float, str]:
        """('ok'|'wrong'|'inconclusive', relative error, note) for gradients in wrt order."""
        ref = self.reference
        ok, rel, where = self._compare(ref, got)
        if ok:
            return "ok", rel, ref.method
        if self._overflows_near_the_largest_float(ref, got):
            return "inconclusive", rel, (f"the gradient is within {NEAR_OVERFLOW:.0e} of the largest float, where the "
                                         f"chain rule's products overflow to inf (AD's limit, JAX's too)")
        if self.mp is None:
            reason = self._mp_reference()
            if reason is None:
                ok, rel, where = self._compare(self.mp, got)
                return ("ok" if ok else "wrong"), rel, "mp"
            # no high-precision reference: trust float64 differences only when conclusive, and never
            # through a periodic function of a huge argument, whose derivative depends on the rounding
            # (raising-88-114: tan(sin(x)) at 7.8e33, where the differences' step is 8e27)
            if self.fd is not None and self._fd_conclusive() and not any(m in reason for m in FINER_THAN_FD):
                return "wrong", rel, "fd64 (high precision unavailable: " + reason + ")"
            return "inconclusive", rel, reason
        return "wrong", rel, ref.method

    @staticmethod
    def _overflows_near_the_largest_float(ref, got) -> bool:
        """Is some derivative we gave infinite where the reference is finite but so large that the chain
        rule's intermediate products (a factor of the exponent, of a logarithm) pass the largest float?"""
        for g, r in zip(got, ref.grads):
            g, r = np.asarray(g, dtype=float), np.asarray(r, dtype=float)
            if np.any(np.isinf(g) & np.isfinite(r) & (np.abs(r) > NEAR_OVERFLOW)):
                return True
        return False

    def _fd_conclusive(self) -> bool:
        scale = self.fd.scale()
        return all(not np.any(np.asarray(e) > FD_CONCLUSIVE * (np.abs(np.asarray(g)) + scale) + 1e-11)
                   for g, e in zip(self.fd.grads, self.fd.errors))

    def check_value(self, got) -> tuple[str, float]:
        ref = self.value64
        tol = VALUE_RTOL * max(1.0, abs(ref))
        try:
            diff = abs(float(got) - ref)
        except (TypeError, ValueError):
            return "wrong", math.inf
        rel = diff / max(1.0, abs(ref))
        if diff <= tol:
            return "ok", rel
        if self._mp_reference() is None:
            diff_mp = abs(float(got) - self.mp.value)
            if diff_mp <= tol:
                return "ok", diff_mp / max(1.0, abs(ref))
        return "wrong", rel
