"""The package shows its pipeline: a folder per stage, imports only towards earlier stages, no cycle.

Reads every module's imports (module-level and inside functions) from its
source with `ast`, resolves them to modules of the package, and checks:

* no import cycle between modules;
* no module imports a module of a later stage (the stage order is the
  pipeline's: the rule table and errors, then the IR and its analyses, the
  front end, the transforms and optimisations, the back end, verification,
  the pipeline, and the public API on top);
* every module opens with a docstring, and no module grew past the size where
  it should split along its seams.
"""
import ast
import os

import pytest

PACKAGE = "autodiff_compiler"
ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE)

# module-name prefix -> stage rank (the longest matching prefix wins)
STAGES = {
    "errors": 0, "primitive": 0, "rules": 0, "special": 0, "python_errors": 0, "custom": 0, "timelimit": 0, "syntax": 0,
    "ir": 1,
    "frontend": 2,
    "transforms": 3,
    "optimise": 4,
    "backend": 5,
    "verify": 6,
    "pipeline": 7,
    "api": 8, "call_entries": 8, "check": 8, "verify.check": 8, "pickling": 8, "derivatives": 8, "verify_derivatives": 8,
    "failures": 8,
    "dask": 9, "plot": 9, "cli": 9, "fuzz": 10,
    "__init__": 11, "__main__": 11,
}
MAX_LINES = 1000


def _modules() -> dict:
    """Module name (relative to the package, dotted) -> path."""
    out = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


MODULES = _modules()


def _stage(module: str) -> int:
    best, rank = "", None
    for prefix, value in STAGES.items():
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, rank = prefix, value
    assert rank is not None, f"module {module} belongs to no stage: add it to STAGES"
    return rank


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> set:
    """The package modules an import statement in `module` refers to."""
    found = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith(PACKAGE + "."):
                found.add(alias.name[len(PACKAGE) + 1:])
        return found & set(MODULES)
    if node.level == 0:
        if not (node.module or "").startswith(PACKAGE):
            return set()
        base = node.module[len(PACKAGE) + 1:] if node.module != PACKAGE else ""
    else:
        is_package = os.path.basename(MODULES[module]) == "__init__.py"
        parts = module.split(".") if module not in ("__init__", "__main__") else []
        parts = parts if is_package else parts[:-1]
        parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
        base = ".".join(parts + ([node.module] if node.module else []))
    for alias in node.names:
        candidate = f"{base}.{alias.name}" if base else alias.name
        if candidate in MODULES:
            found.add(candidate)
        elif base in MODULES:
            found.add(base)
    return found - {module}


def _imports() -> dict:
    graph = {}
    for module, path in MODULES.items():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets |= _resolve(module, node)
        graph[module] = targets
    return graph


GRAPH = _imports()


def test_every_module_has_a_stage():
    for module in MODULES:
        _stage(module)


def test_no_import_runs_against_the_stage_order():
    wrong = [(m, t) for m, targets in GRAPH.items() for t in targets
             if _stage(t) > _stage(m) and not t.endswith("__init__")]
    assert not wrong, "imports of later stages: " + ", ".join(f"{m} -> {t}" for m, t in sorted(wrong))


def test_no_import_cycle():
    state: dict = {}
    stack: list = []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(GRAPH.get(module, ())):
            if target == "__init__" or module == "__init__":
                continue
            if state.get(target) == "open":
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_opens_with_a_docstring_and_stays_readable(module):
    with open(MODULES[module], encoding="utf-8") as handle:
        text = handle.read()
    tree = ast.parse(text)
    assert ast.get_docstring(tree), f"{module} needs a docstring: what it takes, what it guarantees"
    assert text.count("\n") <= MAX_LINES, f"{module} has {text.count(chr(10))} lines: split it where it has seams"


def test_the_resolver_sees_real_imports():
    """The checks above would pass vacuously if imports were not resolved: the pipeline imports many stages."""
    assert {"ir", "frontend.lower", "transforms.reverse", "backend.printer"} <= GRAPH["pipeline"] | \
        {m.rsplit(".", 1)[0] for m in GRAPH["pipeline"]}


# the calls that convert trees between C and Python: CPython 3.11 counts their depth per interpreter
_PARSER_CALLS = {("ast", "parse"), (None, "compile")}


def _parser_calls(tree: ast.AST) -> list:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and (None, function.id) in _PARSER_CALLS:
            found.append((node.lineno, function.id))
        elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) \
                and (function.value.id, function.attr) in _PARSER_CALLS:
            found.append((node.lineno, f"{function.value.id}.{function.attr}"))
        elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) \
                and function.value.id == "ast" and function.attr == "literal_eval" \
                and node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.Call):
            found.append((node.lineno, "ast.literal_eval of text"))
    return found


def test_every_parse_and_compile_goes_through_the_serialised_parser():
    """`syntax` serialises them: two threads converting trees at once raise a SystemError on 3.11."""
    wrong = []
    for module, path in sorted(MODULES.items()):
        if module == "syntax":
            continue
        with open(path, encoding="utf-8") as handle:
            wrong += [f"{module}:{line} {call}" for line, call in _parser_calls(ast.parse(handle.read()))]
    assert not wrong, "call syntax.parse / syntax.compile_code instead: " + ", ".join(wrong)


def test_the_parser_call_finder_sees_each_form():
    found = _parser_calls(ast.parse("ast.parse(t)\ncompile(t, 'f', 'exec')\nast.literal_eval(s.strip())\n"
                                    "ast.literal_eval(node)\nre.compile('x')\nself.compile(sig)\n"))
    assert [call for _, call in found] == ["ast.parse", "compile", "ast.literal_eval of text"]
