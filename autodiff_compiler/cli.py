"""CLI: `autodiff-compiler grad|jvp|jacobian|hessian|hvp FILE.py:FUNC` prints the derived module; `check` checks a hand derivation.

Takes: command-line arguments.  Guarantees:

* `grad` (and `jvp`, `jacobian`, `hessian`, `hvp`: the same options, plus
  `--mode` for `jacobian`) reads FILE without executing it, and prints a
  complete, importable Python module (with `--verify`, SymPy's derivative and the verdict follow as
  comments, so the output stays valid Python); `--dump PASS` prints the IR
  after any pass of the pipeline instead;
* `check` compares a hand-derived gradient (a function in a file, or
  `--formula` strings) with the compiler's derivative and prints the report;
* exit status 0 on success, 1 when verification or a check fails or the
  compiler rejects the function, 2 on usage errors.

Parameter types come from annotations, else from `--at` values (`x=6.7` is a
float, `v=[1,2,3]` a float array, and `n=10` an int only for a parameter used
as a range bound or an index; otherwise a float), else float.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys

import numpy as np

from .errors import AutodiffError, SourceNotFoundError
from .ir import BOOL, FLOAT, INT, array_of


def _target(text: str) -> tuple[str, str]:
    if ":" not in text:
        raise argparse.ArgumentTypeError(f"expected FILE.py:FUNCTION, got {text!r}")
    path, _, name = text.rpartition(":")
    if not path or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected FILE.py:FUNCTION, got {text!r}")
    return path, name


def _split_top_level(text: str) -> list[str]:
    """Split `a=1,b=[1,2]` on the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[("
        depth -= char in "])"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def counting_parameters(source, items=None, wrt=()) -> set:
    """Parameters the function counts with: range bounds and indices, as the compiler sees them.  The
    lowering needs the arrays' ranks: it reads them from the `--at` values as given (ints kept) and the
    annotations; if it fails there, the derivation reports why, with the final types."""
    from .errors import AutodiffError
    from .frontend.lower import lower
    from .pipeline import counting_variables
    provisional = param_types(source.node, parse_point(items, list(wrt)))
    try:
        primal, _ = lower(source, provisional, tuple_results=True)   # tuple results are decided later
    except AutodiffError:
        return set()
    return counting_variables(primal) & set(primal.params)


def parse_point(items: list[str] | None, wrt: list[str], counting: set | None = None) -> dict:
    point = {}
    for item in items or []:
        for part in _split_top_level(item):
            name, sep, value = part.partition("=")
            if not sep:
                raise argparse.ArgumentTypeError(f"--at expects name=value, got {part!r}")
            name = name.strip()
            try:
                parsed = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                raise argparse.ArgumentTypeError(f"--at {name}: {value!r} is not a number or a list") from None
            if isinstance(parsed, (list, tuple)):
                parsed = np.asarray(parsed, dtype=float)
            elif isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
                raise argparse.ArgumentTypeError(f"--at {name}: {value!r} is not a number or a list")
            elif isinstance(parsed, int) and (name in wrt or (counting is not None and name not in counting)):
                parsed = float(parsed)      # `y=0` means 0.0 unless y counts (a loop bound, an index)
            point[name] = parsed
    return point


_ANNOTATIONS = {"float": FLOAT, "int": INT, "bool": BOOL}


def param_types(node: ast.FunctionDef, point: dict) -> dict:
    from .api import type_of_argument
    types = {}
    defaults = dict(zip([a.arg for a in node.args.args][len(node.args.args) - len(node.args.defaults):],
                        node.args.defaults))
    for arg in node.args.args:
        name = arg.arg
        if name not in point and name in defaults and isinstance(defaults[name], ast.Constant):
            point[name] = defaults[name].value
        if name in point:
            types[name] = type_of_argument(point[name], name, node.name)
        elif arg.annotation is not None:
            text = ast.unparse(arg.annotation)
            if text in _ANNOTATIONS:
                types[name] = _ANNOTATIONS[text]
            elif text.endswith("ndarray"):
                types[name] = array_of(1)
            else:
                types[name] = FLOAT
        else:
            types[name] = FLOAT
    return types


def _wrt(text: str | None, node: ast.FunctionDef) -> list[str]:
    params = [a.arg for a in node.args.args]
    if not text:
        return params[:1]
    names = []
    for item in text.split(","):
        item = item.strip()
        if item.lstrip("-").isdigit():
            index = int(item)
            if not -len(params) <= index < len(params):
                raise SystemExit(f"autodiff-compiler: --wrt {index} is out of range ({', '.join(params)})")
            item = params[index]
        if item not in params:
            raise SystemExit(f"autodiff-compiler: --wrt {item!r} is not a parameter of {node.name} "
                             f"(its parameters: {', '.join(params)})")
        names.append(item)
    return names


def _default_point(types: dict, given: dict) -> dict:
    """A reproducible point for the parameters --at does not give, for --verify."""
    point = {}
    for k, (name, t) in enumerate(types.items()):
        if name in given:
            continue
        if t == FLOAT:
            point[name] = round(0.3 + 0.17 * k, 4)
        elif t.kind == "array":
            point[name] = np.linspace(0.2, 0.9, 3) + 0.1 * k if t.ndim == 1 else np.full((2, 2), 0.5 + 0.1 * k)
        else:
            raise SystemExit(f"autodiff-compiler: --verify needs a value for the {t} parameter {name!r}: "
                             f"pass --at {name}=...")
    return point


def _steps(command: str, wrt: list, args) -> tuple:
    """The derivation a command prints (`pipeline.Step`s)."""
    from .pipeline import Step
    wrt = tuple(wrt)
    if command == "jvp":
        return (Step("forward", wrt, suffix="jvp"),)
    if command == "jacobian":
        return (Step("jacobian", wrt, mode=args.mode, suffix="jacobian"),)
    if command == "hessian":
        return (Step("reverse", wrt, with_value=False), Step("jacobian", wrt, mode="forward", suffix="hessian"))
    if command == "hvp":
        return (Step("reverse", wrt, with_value=False),
                Step("forward", wrt, primal_outputs=False, suffix="hvp"))
    return (Step("reverse", wrt, args.value),)


def command_grad(args) -> int:
    from .frontend.parse import source_of_file_function
    from .pipeline import OPTIMISATIONS, State, derived_pass, passes_of, run_until
    path, name = args.target
    source = source_of_file_function(path, name)
    wrt = _wrt(args.wrt, source.node)
    command = getattr(args, "command", "grad")
    if command == "hvp" and len(wrt) != 1:
        raise argparse.ArgumentTypeError("hvp takes one --wrt parameter")
    point = parse_point(args.at, wrt, counting_parameters(source, args.at, wrt))
    types = param_types(source.node, point)
    skip = frozenset(s.strip() for s in (args.skip or "").split(",") if s.strip())
    unknown = skip - set(OPTIMISATIONS)
    if unknown:
        raise argparse.ArgumentTypeError(f"--skip: unknown pass(es) {', '.join(sorted(unknown))}; "
                                         f"the optimisations are {', '.join(OPTIMISATIONS)}")
    value = getattr(args, "value", False)
    state = State(source, types, wrt, not args.no_simplify, value, skip=skip, steps=_steps(command, wrt, args))
    names = [n for n, _ in passes_of(state) if n != "print"]
    if args.dump and args.dump not in names:
        raise argparse.ArgumentTypeError(f"--dump: {command} has no pass {args.dump!r}; its passes are "
                                         f"{', '.join(names)}")
    state = run_until(state, args.dump)
    if args.dump:
        shown = state.adjoint if derived_pass(args.dump) else state.primal
        print(shown if shown is not None else state.source.text)
        return 0
    sys.stdout.write(state.text)
    if args.verify:
        for key, item in _default_point(types, point).items():
            point.setdefault(key, item)
        values = [point[p] for p in state.primal.params]
        if command == "grad":
            from .verify import verify_gradient
            report = verify_gradient(state, values, None)
        else:
            from .verify_derivatives import verify_state
            report = verify_state(command, state, values, _extra_inputs(command, state, values))
        print()
        for line in str(report).splitlines():
            print(f"# {line}" if line else "#")
        return 0 if report.ok else 1
    return 0


def _extra_inputs(command: str, state, values: list) -> list:
    """Tangents for jvp and the vector for hvp, for --verify: ones shaped like the wrt parameters."""
    if command not in ("jvp", "hvp"):
        return []
    by_name = dict(zip(state.primal.params, values))
    return [np.ones_like(by_name[w], dtype=float) if isinstance(by_name[w], np.ndarray) else 1.0
            for w in state.wrt]


def command_check(args) -> int:
    from .check import check_gradient
    path, name = args.target
    module = _import_file(path)
    if not hasattr(module, name):
        raise SourceNotFoundError(f"no function {name!r} in {path}", filename=path)
    f = getattr(module, name)
    if args.against:
        hand_path, hand_name = args.against
        hand_module = module if os.path.abspath(hand_path) == os.path.abspath(path) else _import_file(hand_path)
        if not hasattr(hand_module, hand_name):
            raise SourceNotFoundError(f"no function {hand_name!r} in {hand_path}", filename=hand_path)
        hand = getattr(hand_module, hand_name)
    elif args.formula:
        hand = {}
        for item in args.formula:
            key, sep, formula = item.partition("=")
            if not sep:
                raise argparse.ArgumentTypeError(f"--formula expects name=expression, got {item!r}")
            hand[key.strip()] = formula.strip()
    else:
        raise argparse.ArgumentTypeError("give --against FILE.py:HAND or --formula NAME=EXPR")
    import inspect
    params = list(inspect.signature(f).parameters)
    wrt = [w.strip() for w in args.wrt.split(",")] if args.wrt else (list(hand) if isinstance(hand, dict) else params[:1])
    from .frontend.parse import source_of_function
    point = parse_point(args.at, wrt, counting_parameters(source_of_function(f), args.at, wrt))
    missing = [p for p in params if p not in point]
    if missing:
        raise argparse.ArgumentTypeError(f"--at must give every parameter; missing: {', '.join(missing)}")
    report = check_gradient(f, hand, wrt=tuple(wrt), at=point)
    print(report)
    return 0 if report.ok else 1


def _import_file(path: str):
    import importlib.util
    if not os.path.exists(path):
        raise SourceNotFoundError(f"no such file: {path}", filename=path)
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def build_parser() -> argparse.ArgumentParser:
    from .pipeline import OPTIMISATIONS, PASSES
    parser = argparse.ArgumentParser(prog="autodiff-compiler",
                                     description="Differentiation of numerical Python (reverse and forward "
                                                 "mode), by source transformation.")
    commands = parser.add_subparsers(dest="command", required=True)
    grad = commands.add_parser("grad", help="print the derived gradient code of FILE.py:FUNC")
    grad.add_argument("target", type=_target, metavar="FILE.py:FUNC")
    grad.add_argument("--wrt", help="parameters to differentiate with respect to: names or indices, "
                                    "comma-separated (default: the first)")
    grad.add_argument("--at", action="append", metavar="NAME=VALUE,...",
                      help="argument values: give the types, and the point for --verify (loops run "
                           "and branches are taken as at this point)")
    grad.add_argument("--verify", action="store_true", help="prove the gradient equal to SymPy's derivative")
    grad.add_argument("--value", action="store_true", help="generate value_and_grad (return the value too)")
    grad.add_argument("--no-simplify", action="store_true", help="print the unsimplified adjoint")
    grad.add_argument("--dump", choices=[name for name, _ in PASSES if name != "print"],
                      help="print the IR after this pass instead of the module")
    grad.add_argument("--skip", metavar="PASS,...",
                      help="switch these optimisations off (to find which one is at fault): "
                           + ", ".join(OPTIMISATIONS))
    grad.set_defaults(run=command_grad)
    helps = {"jvp": "print the forward-mode derivative (Jacobian-vector product) code of FILE.py:FUNC",
             "jacobian": "print the Jacobian code of FILE.py:FUNC (columns by forward, rows by reverse mode)",
             "hessian": "print the Hessian code of FILE.py:FUNC (forward over reverse mode, by columns)",
             "hvp": "print the Hessian-vector product code of FILE.py:FUNC (forward over reverse mode)"}
    for command, text in helps.items():
        sub = commands.add_parser(command, help=text)
        sub.add_argument("target", type=_target, metavar="FILE.py:FUNC")
        sub.add_argument("--wrt", help="parameters to differentiate with respect to: names or indices, "
                                       "comma-separated (default: the first)")
        sub.add_argument("--at", action="append", metavar="NAME=VALUE,...",
                         help="argument values: give the types, and the point for --verify")
        sub.add_argument("--verify", action="store_true",
                         help="prove the result against SymPy at --at (tangents and vectors of ones)")
        sub.add_argument("--no-simplify", action="store_true", help="print the code before simplification")
        sub.add_argument("--dump", metavar="PASS", help="print the IR after this pass instead of the module "
                                                        "(the passes are listed when the name is unknown)")
        sub.add_argument("--skip", metavar="PASS,...",
                         help="switch these optimisations off: " + ", ".join(OPTIMISATIONS))
        if command == "jacobian":
            sub.add_argument("--mode", choices=("auto", "forward", "reverse"), default="auto",
                             help="columns by forward mode, rows by reverse mode, or whichever are fewer "
                                  "(decided at run time from the shapes)")
        sub.set_defaults(run=command_grad)
    check = commands.add_parser("check", help="check a hand-derived gradient against the compiler's")
    check.add_argument("target", type=_target, metavar="FILE.py:FUNC")
    check.add_argument("--against", type=_target, metavar="FILE.py:HAND",
                       help="a function with the same parameters returning the hand-derived gradient(s)")
    check.add_argument("--formula", action="append", metavar="NAME=EXPR",
                       help="a hand-derived formula for d FUNC / d NAME (SymPy syntax; may use locals of FUNC)")
    check.add_argument("--wrt", help="comma-separated parameter names (default: the --formula names, or the first)")
    check.add_argument("--at", action="append", metavar="NAME=VALUE,...", help="the point to check at")
    check.set_defaults(run=command_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    except SourceNotFoundError as exc:
        print(f"autodiff-compiler: {exc}", file=sys.stderr)
        return 2
    except AutodiffError as exc:
        print(f"autodiff-compiler: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
