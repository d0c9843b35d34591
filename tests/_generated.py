"""Helpers for tests that look at the generated module: load it from its
source text and find its entry point, and scan its code for leftovers."""
import ast
import importlib.util
import inspect
import io
import re
import sys
import tokenize
import uuid


def load_module(source, directory, name=None):
    """Write `source` to directory/name.py and import it as a fresh module."""
    name = name or f"gen_{uuid.uuid4().hex[:12]}"
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _defined_here(module):
    out = {}
    for attr, obj in vars(module).items():
        if attr.startswith("__"):
            continue
        py = getattr(obj, "py_func", obj)          # numba dispatchers wrap the Python function
        if inspect.isfunction(py) and py.__module__ == module.__name__:
            out[attr] = obj
    return out


def find_entry(module, primal_name):
    """A callable computing the gradient(s) of `primal_name` from a generated module.

    The module defines `<primal>_value_and_grad(*args) -> (value, d1, d2, ...)`
    (or a `<primal>_grad` returning the gradients only).  The returned callable
    gives what `grad` gives: one gradient for one wrt, a tuple for several.
    """
    funcs = _defined_here(module)
    public = {k: v for k, v in funcs.items() if not k.startswith("_")}
    for name in (f"{primal_name}_grad", f"grad_{primal_name}"):
        if name in public:
            return public[name]
    for name in (f"{primal_name}_value_and_grad", f"value_and_grad_{primal_name}"):
        if name in public:
            return _drop_value(public[name])
    raise AssertionError(f"cannot tell the entry point of the generated module for {primal_name!r}: "
                         f"functions {sorted(funcs)}")


def find_value_and_grad(module, primal_name):
    funcs = _defined_here(module)
    for name in (f"{primal_name}_value_and_grad", f"value_and_grad_{primal_name}"):
        if name in funcs:
            return funcs[name]
    raise AssertionError(f"no value_and_grad entry for {primal_name!r} in {sorted(funcs)}")


def _drop_value(entry):
    def gradient(*args):
        result = entry(*args)
        assert isinstance(result, tuple) and len(result) >= 2, f"expected (value, gradients...), got {result!r}"
        grads = result[1:]
        if len(grads) == 1 and isinstance(grads[0], tuple):
            grads = grads[0]
        return grads[0] if len(grads) == 1 else tuple(grads)
    return gradient


def code_only(source):
    """The source with comments and string literals (docstrings too) blanked out, layout kept."""
    lines = source.splitlines(keepends=True)
    lines = [list(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        (r0, c0), (r1, c1) = tok.start, tok.end
        for r in range(r0, r1 + 1):
            row = lines[r - 1]
            start = c0 if r == r0 else 0
            stop = c1 if r == r1 else len(row) - 1
            for c in range(start, min(stop, len(row))):
                if row[c] != "\n":
                    row[c] = " "
    return "".join("".join(row) for row in lines)


def comments(source):
    return [tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT]


_NUM_END = r"(?![\w.])"
LEFTOVER_PATTERNS = {
    "times one": re.compile(r"(?<!\*)\*\s*1(?:\.0*)?" + _NUM_END + r"(?!\s*\*\*)"),
    "one times": re.compile(r"(?<![\w.*\-])1(?:\.0*)?\s*\*(?!\*)"),
    "times zero": re.compile(r"(?<!\*)\*\s*0(?:\.0*)?" + _NUM_END + r"(?!\s*\*\*)"),
    "zero times": re.compile(r"(?<![\w.*])0(?:\.0*)?\s*\*(?!\*)"),
    "plus zero": re.compile(r"[+\-]\s*0(?:\.0*)?" + _NUM_END + r"(?!\s*[*/])"),
    "zero plus": re.compile(r"(?<![\w.])0(?:\.0*)?\s*\+(?!=)"),
    "add-assign zero": re.compile(r"[+\-]=\s*0(?:\.0*)?" + _NUM_END + r"(?!\s*[*/])"),
    "power one": re.compile(r"\*\*\s*1(?:\.0*)?" + _NUM_END),
    "plus/minus a negated term": re.compile(r"(?<![=(,*/\[])\s[+\-]\s+-\s*[\w(]"),
    "divide by one": re.compile(r"/\s*1(?:\.0*)?" + _NUM_END + r"(?!\s*\*\*)"),
}


def regex_leftovers(source):
    """(pattern name, offending line) for each leftover in the code (not comments)."""
    found = []
    for line in code_only(source).splitlines():
        for name, pat in LEFTOVER_PATTERNS.items():
            if pat.search(line):
                found.append((name, line.strip()))
    return found


def _is_num(node, value):
    if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == value:
        return True
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
            and node.operand.value == 0 == value):
        return True
    return False


def ast_leftovers(source):
    """Structural check of the same thing: x*1, 1*x, x*0, 0*x, x+0, 0+x, x-0, x/1, x**1, x += 0."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp):
            l, r, op = node.left, node.right, node.op
            bad = ((isinstance(op, ast.Mult) and (_is_num(l, 1) or _is_num(r, 1) or _is_num(l, 0) or _is_num(r, 0)))
                   or (isinstance(op, ast.Add) and (_is_num(l, 0) or _is_num(r, 0)))
                   or (isinstance(op, ast.Sub) and _is_num(r, 0))
                   or (isinstance(op, (ast.Div, ast.Pow)) and _is_num(r, 1)))
            if bad:
                found.append(ast.unparse(node))
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.op, (ast.Add, ast.Sub)) and _is_num(node.value, 0):
                found.append(ast.unparse(node))
            if isinstance(node.op, (ast.Mult, ast.Div)) and _is_num(node.value, 1):
                found.append(ast.unparse(node))
    return found


def self_assignments(source):
    """Statements `a = a` (no-ops left behind by the simplifier)."""
    return [ast.unparse(node) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)
            and node.targets[0].id == node.value.id]


def array_allocations(source):
    """(variable name, dtype text) of each `name = np.empty/zeros(...)` in the module."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr in ("empty", "zeros", "ones", "full")):
            call = node.value
            dtype = ast.unparse(call.args[1]) if len(call.args) > 1 else "".join(
                ast.unparse(k.value) for k in call.keywords if k.arg == "dtype")
            out.append((node.targets[0].id, dtype))
    return out
