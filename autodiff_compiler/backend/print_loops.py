"""Print planned loops: a `LoopPlan` (optimise/vectorise.py) -> the blocked / chunked loop text Numba compiles.

Takes: the module printer (for names, expressions and the statements of the
loop body, printed as everywhere else) and a loop's plan.  Guarantees: the
text computes what the plain loop computes, in the plan's order:

* blocks: `for <i>_block in range(lo, hi, BLOCK)`, in each block one
  `for <i>_lane in range(<i>_count)` loop per segment (the trip's index
  recomputed from the block and the lane, element reads recomputed, values
  from earlier segments loaded from their buffers, values later segments need
  stored into theirs) and between segments the vector calls, one line each:
  `vexp(t4_block, i_count, t3_block)` ("t4_block[:i_count] = exp(t3_block[:i_count])");
* chunks: a function `<name>_chunk<k>(chunk, trips, first, ...)` running the
  trips of one chunk from partial sums of -0.0 and returning them, called for
  every chunk (`prange` when there are at least `PARALLEL_CHUNKS` and threads
  are allowed), and the partial sums added to the sums in chunk order (on
  the calling thread as each chunk returns them, allocating nothing; from
  threads through arrays of them).
"""
from __future__ import annotations

from ..ir import Assign, Const, Store, Var, array_of
from ..optimise.vectorise import BLOCK, PARALLEL_CHUNKS, LoopPlan


def _plus_one(printer, operand) -> str:
    """`operand + 1` as text (integers: `n - 1 + 1` is printed `n`)."""
    node = printer.operand(operand)
    if isinstance(node, Const):
        return str(node.value + 1)
    text, precedence = printer.expr(node)
    if precedence == 6 and text.endswith(" - 1"):
        return text[:-4]
    return f"{printer.wrap(node, 6)} + 1"


def _direction(printer, plan: LoopPlan) -> tuple[str, str]:
    """The index of the first trip as text, and "+" or "-": trip k has index `first +- k`.  A falling
    range planned to run forwards starts at its last index (`stop + 1`) and rises."""
    loop = plan.loop
    if plan.forwards:
        return _plus_one(printer, loop.stop), "+"
    return printer.wrap(printer.operand(loop.start), 7), "+" if loop.step.value == 1 else "-"


def planned_loop(printer, plan: LoopPlan, depth: int) -> list[str]:
    """The lines replacing `for <index> in range(...)` of a planned loop."""
    loop = plan.loop
    pad = "    " * depth
    names = printer.names
    start = printer.expr(printer.operand(loop.start))[0]
    stop = printer.expr(printer.operand(loop.stop))[0]
    step = loop.step.value
    if plan.forwards and not plan.chunked and not plan.blocked:
        low, high = _plus_one(printer, loop.stop), _plus_one(printer, loop.start)
        lines = [f"{pad}# trips in rising order: no trip reads what another writes (the same results)",
                 f"{pad}for {loop.index} in range({high if low == '0' else f'{low}, {high}'}):"]
        return lines + printer.block(loop.body, depth + 1)
    first, sign = _direction(printer, plan)
    if step == 1:
        span = stop if first == "0" else f"{stop} - {first}"
    else:
        low = _plus_one(printer, loop.stop)
        high = _plus_one(printer, loop.start)
        span = high if low == "0" else f"{high} - ({low})"
    trips = names.fresh(f"{loop.index}_trips")
    lines = [f"{pad}{trips} = max({span}, 0)"]
    if not first.lstrip("-").isdigit():
        # the bounds as range() reads them, once: the body may assign the variables they are made of
        name = names.fresh(f"{loop.index}_first")
        lines.append(f"{pad}{name} = {first}")
        first = name
    if not plan.chunked:
        lines.append(f"{pad}# the loop in blocks of {BLOCK} trips; between segments, vector calls "
                     f"(several lanes at a time)")
        lines += _blocked(printer, plan, depth, "0", trips, first, sign)
        return lines
    chunk = plan.chunk          # read when the loop was planned: the setting at derivation time
    function = _chunk_function(printer, plan, chunk)
    c = names.fresh("chunk")
    call = f"{function}({c}, {trips}, {first}{''.join(', ' + n for n in plan.invariants)})"
    count = names.fresh(f"{loop.index}_chunks")
    lines += [f"{pad}# the loop in chunks of {chunk} trips, from partial sums added in chunk order "
              f"(the same for any number of threads)",
              f"{pad}{count} = ({trips} + {chunk - 1}) // {chunk}"]
    if printer.threads == 1 or plan.may_raise:   # (an error in Numba's threads would be lost)
        # on this thread, each chunk's partial sums are added as they come: the same additions in the
        # same order as from arrays of them, and nothing allocated
        part = [names.fresh(f"{s}_part") for s in plan.sums]
        lines += [f"{pad}for {c} in range({count}):", f"{pad}    {', '.join(part)} = {call}"]
        lines += [f"{pad}    {s} += {p}" for s, p in zip(plan.sums, part)]
        return lines
    parts = [names.fresh(f"{s}_parts") for s in plan.sums]
    targets = ", ".join(f"{p}[{c}]" for p in parts)
    printer.modules.add("numpy")
    lines += [f"{pad}{p} = np.empty({count})" for p in parts]
    driver = _parallel_function(printer, function, plan, parts, printer.threads)
    arguments = f"{', '.join(parts)}, {trips}, {first}{''.join(', ' + n for n in plan.invariants)}"
    lines += [f"{pad}# on threads, a division by zero gives inf instead of raising: a chunk that is not finite",
              f"{pad}# runs again here, where it raises as the loop does",
              f"{pad}if {count} < {PARALLEL_CHUNKS} or not {driver}({arguments}):",
              f"{pad}    for {c} in range({count}):", f"{pad}        {targets} = {call}"]
    lines.append(f"{pad}for {c} in range({count}):")
    lines += [f"{pad}    {s} += {p}[{c}]" for s, p in zip(plan.sums, parts)]
    return lines


def _parallel_function(printer, chunk_function: str, plan: LoopPlan, parts: list, threads: int) -> str:
    """Print the function running every chunk in parallel (`prange`), writing each chunk's partial sums
    into `parts` and returning whether they are all finite; its name.  Numba's threads do not raise
    (a division by zero there is IEEE's inf or nan): the caller runs the chunks again on its own thread
    when a partial sum is not finite, so that an error raises as in the loop as written.  A division by
    zero whose inf never reaches a sum (`min(1 / x, 1)`) gives IEEE's value instead of the error.  Alone in its function, so that Numba's `parallel=True` changes nothing else
    (its array expressions do not broadcast as NumPy does)."""
    printer.parallel = True
    name = printer.names.fresh(f"{printer.function.name}_parallel")
    first, trips, c, before = (printer.names.fresh(w) for w in ("first", "trips", "chunk", "threads_before"))
    pad = "    "
    arguments = f"{', '.join(parts)}, {trips}, {first}{''.join(', ' + n for n in plan.invariants)}"
    call = f"{chunk_function}({c}, {trips}, {first}{''.join(', ' + n for n in plan.invariants)})"
    lines = [f"def {name}({arguments}):",
             f'{pad}"""Every chunk of the loop over {plan.loop.index}, on Numba\'s threads."""']
    if threads > 1:
        lines += [f"{pad}{before} = numba.get_num_threads()", f"{pad}numba.set_num_threads({threads})"]
    lines += [f"{pad}for {c} in prange({parts[0]}.shape[0]):",
              f"{pad}    {', '.join(f'{p}[{c}]' for p in parts)} = {call}"]
    if threads > 1:
        lines += [f"{pad}numba.set_num_threads({before})"]
    finite = " and ".join(f"np.isfinite({p}[{c}])" for p in parts)
    lines += [f"{pad}for {c} in range({parts[0]}.shape[0]):", f"{pad}    if not ({finite}):",
              f"{pad}        return False", f"{pad}return True"]
    printer.extra_functions.append("\n".join(lines))
    return name


def _chunk_function(printer, plan: LoopPlan, chunk: int) -> str:
    """Print the function running one chunk of the loop; its name."""
    loop = plan.loop
    name = printer.names.fresh(f"{printer.function.name}_chunk")
    first, c, trips, lo, hi = (printer.names.fresh(w) for w in ("first", "chunk", "trips", "lo", "hi"))
    pad = "    "
    lines = [f"def {name}({c}, {trips}, {first}{''.join(', ' + n for n in plan.invariants)}):",
             f'{pad}"""Trips {c} * {chunk} ... of the loop over {loop.index}; returns its partial sums."""',
             f"{pad}{lo} = {c} * {chunk}", f"{pad}{hi} = min({lo} + {chunk}, {trips})"]
    lines += [f"{pad}{s} = -0.0" for s in plan.sums]
    sign = "+" if loop.step.value == 1 or plan.forwards else "-"
    if plan.blocked:
        lines += _blocked(printer, plan, 1, lo, hi, first, sign)
    else:
        trip = printer.names.fresh(f"{loop.index}_trip")
        lines.append(f"{pad}for {trip} in range({lo}, {hi}):")
        lines.append(f"{pad}    {loop.index} = {first} {sign} {trip}")
        lines += printer.block(loop.body, 2)
    lines.append(f"{pad}return {', '.join(plan.sums)}")
    printer.extra_functions.append("\n".join(lines))
    return name


def _blocked(printer, plan: LoopPlan, depth: int, lo: str, hi: str, first: str, step: str) -> list[str]:
    loop = plan.loop
    pad = "    " * depth
    names = printer.names
    printer.modules.add("numpy")
    buffers = {v: names.fresh(f"{v}_block") for v in plan.buffered}
    for buffer in buffers.values():
        printer.types[buffer] = array_of(1)
    block, lane, count = (names.fresh(f"{loop.index}_{w}") for w in ("block", "lane", "count"))
    printer.types[lane] = printer.types.get(loop.index)
    lines = [f"{pad}{buffers[v]} = np.empty({BLOCK})" for v in plan.buffered]
    lines += [f"{pad}for {block} in range({lo}, {hi}, {BLOCK}):",
              f"{pad}    {count} = min({BLOCK}, {hi} - {block})"]
    for k, (stmts, calls) in enumerate(plan.segments):
        body = list(plan.remat[k])
        body += [Assign(v, "subscript", (Var(buffers[v]), Var(lane))) for v in plan.loads[k]]
        body += stmts
        body += [Store(buffers[v], (Var(lane),), Var(v), "copy") for v in plan.stores[k]]
        if body:
            lines.append(f"{pad}    for {lane} in range({count}):")
            if plan.uses_index[k]:
                trip = f"{block} + {lane}" if first == "0" and step == "+" else f"{first} {step} ({block} + {lane})"
                lines.append(f"{pad}        {loop.index} = {trip}")
            lines += printer.block(body, depth + 2)
        for call in calls:
            helper = f"v{call.prim}"
            printer.library_imports.add(helper)
            operands = "".join(f", {buffers[a.name]}" for a in call.args)
            lines.append(f"{pad}    {helper}({buffers[call.target]}, {count}{operands})"
                         f"    # {call.target} = {call.prim}(...) for the block")
    return lines


def thread_setting():
    """Threads for chunked loops: None (no chunks: loops run as written), 1 (chunks on the calling thread),
    0 (chunks in parallel on all of Numba's threads), n > 1 (in parallel on at most n of them).

    From AUTODIFF_COMPILER_THREADS ("0"/"off": None; "1"; "n"), else from NUMBA_NUM_THREADS when that is
    set in the environment, else 1: chunks, on the calling thread.  Threads are opt-in because a parallel
    region on an oversubscribed machine (more busy processes than cores) waits for a descheduled thread:
    measured here, 8-40 ms for what one thread does in 1 ms.  The chunks, hence the results, are the
    same for every setting but None."""
    import os
    value = os.environ.get("AUTODIFF_COMPILER_THREADS", "").strip().lower()
    if value in ("0", "off", "no", "false"):
        return None
    if not value.isdigit():
        value = os.environ.get("NUMBA_NUM_THREADS", "1").strip()
        if not value.isdigit() or int(value) < 1:
            return 1
    try:
        import numba
        available = numba.config.NUMBA_NUM_THREADS
    except Exception:          # noqa: BLE001 -- no Numba: nothing runs in parallel
        available = 1
    wanted = int(value)
    if wanted <= 1 or available <= 1:
        return 1
    return 0 if wanted >= available else wanted
