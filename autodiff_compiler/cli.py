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
as a range bound or an index; otherwise a float), else from the body
(`frontend.kinds`: subscripted, reduced, `@`/`np.dot`, `.T`, `.shape` make an
array; a range bound or an index an int; the rest floats): when the body
cannot decide, the error names the parameter and shows the `--at` that does.
`grad --math` prints each partial derivative as a formula (`verify.formula`;
`--latex` in LaTeX) instead of the module.  On a terminal the output is
coloured (`backend.highlight`); piped, it is plain.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys

import numpy as np

from . import syntax
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
    provisional = param_types(source, parse_point(items, list(wrt)))
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
                parsed = syntax.literal(value)
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


def param_types(source, point: dict) -> dict:
    """Types from `--at` values, else annotations (and numeric defaults), else read from the body."""
    from .api import type_of_argument
    from .frontend.kinds import infer_kinds
    node = source.node
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
    if len(types) < len(node.args.args):
        inferred = infer_kinds(source, given=types)
        for arg in node.args.args:
            types.setdefault(arg.arg, inferred[arg.arg])
    return {a.arg: types[a.arg] for a in node.args.args}


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


def _full_point(types: dict, given: dict, why: str) -> dict:
    """`given` completed with reproducible values for the other parameters (ints must be given)."""
    from .frontend.kinds import default_point
    point = dict(given)
    for name, value in default_point(types, given).items():
        if value is None:
            raise SystemExit(f"autodiff-compiler: {why} needs a value for the {types[name]} parameter "
                             f"{name!r}: pass --at {name}=...")
        point[name] = value
    return point


def _write(text: str, kind: str) -> None:
    """Print to stdout: coloured on a terminal, plain when piped; ASCII where Unicode cannot go."""
    from .backend import highlight
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        from .verify.mathprint import ascii_text
        text = ascii_text(text)
    if highlight.wants_colour(sys.stdout):
        text = highlight.python(text) if kind == "python" else highlight.formula(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


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
    types = param_types(source, point)
    skip = frozenset(s.strip() for s in (args.skip or "").split(",") if s.strip())
    unknown = skip - set(OPTIMISATIONS)
    if unknown:
        raise argparse.ArgumentTypeError(f"--skip: unknown pass(es) {', '.join(sorted(unknown))}; "
                                         f"the optimisations are {', '.join(OPTIMISATIONS)}")
    if getattr(args, "math", False) or getattr(args, "latex", False):
        from .verify.formula import formulas
        state = run_until(State(source, types, wrt, True, True), "values")
        point = _full_point(types, point, "--math")
        shown = formulas(source, state.primal, [point[p] for p in state.primal.params], wrt)
        _write(shown.latex() if args.latex else shown.unicode(), "formula")
        return 0
    value = getattr(args, "value", False)
    state = State(source, types, wrt, not args.no_simplify, value, skip=skip, steps=_steps(command, wrt, args))
    names = [n for n, _ in passes_of(state) if n != "print"]
    if args.dump and args.dump not in names:
        raise argparse.ArgumentTypeError(f"--dump: {command} has no pass {args.dump!r}; its passes are "
                                         f"{', '.join(names)}")
    state = run_until(state, args.dump)
    if args.dump:
        shown = state.adjoint if derived_pass(args.dump) else state.primal
        if args.dump.rstrip("0123456789") in ("fuse_rows", "rank_one") and state.compiled is not None:
            shown = state.compiled          # the program Numba compiles: these passes' loops are only there
        print(shown if shown is not None else state.source.text)
        return 0
    if not args.verify:
        _write(state.jit_text if getattr(args, "compiled", False) else state.text, "python")
        return 0
    point = _full_point(types, point, "--verify")
    values = [point[p] for p in state.primal.params]
    if command == "grad":
        from .verify import verify_gradient
        report = verify_gradient(state, values, None)
    else:
        from .verify_derivatives import verify_state
        report = verify_state(command, state, values, _extra_inputs(command, state, values))
    text = state.text + "\n" + "\n".join(f"# {line}" if line else "#" for line in str(report).splitlines())
    _write(text, "python")
    return 0 if report.ok else 1


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
    if args.plot:
        from .plot import parse_range, plot_check
        variable, lo, hi = parse_range(args.plot, params)
        out = args.plot_file or f"{name}_{variable}.png"
        plot_check(f, hand, list(wrt), point, variable, lo, hi, out)
        print(f"\nplot of the hand derivation and the compiler's gradient along {variable} in "
              f"[{lo:g}, {hi:g}]: {out}")
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


AT_HELP = ("argument values, comma-separated: x=6.7 (a float), v=[1.0,2.0] (a vector), "
           "A=[[1.0,2.0],[3.0,4.0]] (a matrix), n=10 (an int where n is a range bound or an index). "
           "Without --at the kinds are read from the body (subscripted, reduced, @ or np.dot, .T, .shape: "
           "an array); --at overrides them, and is the point for --verify and --math (the path taken "
           "through branches and loops; default: x=0.3, 0.47, ... and vectors of 3)")

EXAMPLES = """examples:
  autodiff-compiler grad examples/chain_rule.py:f                   the derived gradient module
  autodiff-compiler grad examples/logistic.py:loss --wrt w,b --math  each partial as a formula
  autodiff-compiler grad model.py:loss --at w=[0.5,1.5],b=0.0 --verify
  autodiff-compiler check examples/tutorial_derivation_buggy.py:loss --against \\
      examples/tutorial_derivation_buggy.py:hand_gradients --wrt w,b --at w=1.0,b=0.0,x=6.7,y=0.0 \\
      --plot w=-1.5:1.5
"""


def build_parser() -> argparse.ArgumentParser:
    from .pipeline import OPTIMISATIONS, PASSES
    parser = argparse.ArgumentParser(prog="autodiff-compiler",
                                     description="Differentiation of numerical Python (reverse and forward "
                                                 "mode), by source transformation.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    grad = commands.add_parser("grad", help="print the derived gradient code of FILE.py:FUNC",
                               description="Print the derived gradient of FILE.py:FUNC: a complete, importable "
                                           "Python module (the file is read, not run), or with --math each "
                                           "partial derivative as a formula.",
                               epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    grad.add_argument("target", type=_target, metavar="FILE.py:FUNC")
    grad.add_argument("--wrt", help="parameters to differentiate with respect to: names or indices, "
                                    "comma-separated (default: the first)")
    grad.add_argument("--at", action="append", metavar="NAME=VALUE,...", help=AT_HELP)
    grad.add_argument("--verify", action="store_true", help="prove the gradient equal to SymPy's derivative")
    grad.add_argument("--math", action="store_true",
                      help="print each partial derivative as a simplified formula in your names "
                           "(the path taken at --at, for code that branches or loops)")
    grad.add_argument("--latex", action="store_true", help="the --math formulas in LaTeX")
    grad.add_argument("--value", action="store_true", help="generate value_and_grad (return the value too)")
    grad.add_argument("--no-simplify", action="store_true", help="print the unsimplified adjoint")
    grad.add_argument("--compiled", action="store_true",
                      help="print the module Numba compiles (fused loops in blocks with vector math, "
                           "sums in chunks, as this machine and the AUTODIFF_COMPILER_* settings allow)")
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
        sub = commands.add_parser(command, help=text, description=text[0].upper() + text[1:] + ".",
                                  epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("target", type=_target, metavar="FILE.py:FUNC")
        sub.add_argument("--wrt", help="parameters to differentiate with respect to: names or indices, "
                                       "comma-separated (default: the first)")
        sub.add_argument("--at", action="append", metavar="NAME=VALUE,...", help=AT_HELP)
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
    check = commands.add_parser("check", help="check a hand-derived gradient against the compiler's",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("target", type=_target, metavar="FILE.py:FUNC")
    check.add_argument("--against", type=_target, metavar="FILE.py:HAND",
                       help="a function with the same parameters returning the hand-derived gradient(s)")
    check.add_argument("--formula", action="append", metavar="NAME=EXPR",
                       help="a hand-derived formula for d FUNC / d NAME (SymPy syntax; may use locals of FUNC)")
    check.add_argument("--wrt", help="comma-separated parameter names (default: the --formula names, or the first)")
    check.add_argument("--at", action="append", metavar="NAME=VALUE,...",
                       help="the point to check at (every parameter): x=6.7, v=[1.0,2.0], n=10")
    check.add_argument("--plot", metavar="VAR=LO:HI",
                       help="also draw the hand derivation and the compiler's gradient along VAR from LO to HI "
                            "(the other arguments as in --at) into a PNG (needs matplotlib: "
                            "pip install '.[plot]' or pip install matplotlib)")
    check.add_argument("--plot-file", metavar="PATH", help="where --plot writes (default FUNC_VAR.png)")
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
