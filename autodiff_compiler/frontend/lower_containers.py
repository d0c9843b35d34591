"""Lower containers: tuples, lists, dicts and objects, lowered away before the IR.

Takes: hooks called by `frontend.lower` for container literals, container
parameters (see `pytrees`), subscripts with constant keys, unpacking,
iteration and comprehensions.  Guarantees:

* a container is a `Pack`, a value of the front end only: its items are IR
  operands (each item in a variable of its own, a *slot*, so that
  `d["W"] = v` and `lst[0] = v` assign that variable, in branches and loops
  too) or nested packs; `b = a` shares the pack (Python's aliasing);
* string constants are `Text` (dict keys, einsum specs, dtype names), never
  operands;
* keys and indices must be known when compiling: constants, loop variables
  of unrolled loops (a `for` over a container, `enumerate`, `zip`,
  `d.items()`, or over `range` with constant bounds whose body indexes a
  container with the loop variable), names bound to constants;
* a container built or rebound inside a branch or a loop that runs at run
  time is usable only there (its shape could depend on the path taken):
  reading it after is an error naming the line; so is changing the
  structure of one (`append`, a new key) there;
* nothing after the front end sees a container.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from ..errors import UnsupportedSyntaxError
from .. import ir
from ..ir import Const, Var


@dataclass(frozen=True)
class Text:
    """A string constant (a dict key, an einsum spec, a dtype name): not a value of the IR."""
    value: str


class Pack:
    """A container of the front end: `kind` ("tuple", "list", "dict", "object") and its items by key."""

    def __init__(self, kind: str, items: dict, name: str = "", cls=None, others=frozenset()):
        self.kind = kind
        self.items = dict(items)
        self.name = name
        self.cls = cls            # for objects: the class (its methods are called with the pack as self)
        self.others = others      # ... and the names of its own attributes that are no values (`TreeType.others`)

    def keys(self) -> list:
        return list(self.items)

    def values(self) -> list:
        return list(self.items.values())

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Pack({self.kind}, {self.items})"


@dataclass(frozen=True)
class Stale:
    """A name whose container was bound inside a branch or loop: unusable after it."""
    line: int


# ------------------------------------------------------------------ building

def slot(lowering, item, hint: str = "item"):
    """An item as a container holds it: packs, texts and constants as they are, values in a variable of
    their own (so that a later assignment to the name they came from does not change the item)."""
    if isinstance(item, (Pack, Text, Const)):
        return item
    name = lowering.names.fresh(_identifier(hint))
    return lowering.assign(name, "copy", (item,))


def _identifier(text: str) -> str:
    import re
    text = re.sub(r"\W", "_", text)
    return text if text and not text[0].isdigit() else f"item_{text}"


def make(lowering, kind: str, items: list, hint: str = "item") -> Pack:
    """A tuple or list of items (slots made for the values)."""
    return Pack(kind, {k: slot(lowering, v, f"{hint}_{k}") for k, v in enumerate(items)})


def lower_sequence(lowering, node, kind: str) -> Pack:
    items = []
    for element in node.elts:
        if isinstance(element, ast.Starred):
            value = lowering.lower_expr(element.value)
            if not isinstance(value, Pack) or value.kind == "dict":
                raise lowering.unsupported(element, "unpacking (*x) of something that is not a tuple or list",
                                           "list the items, or unpack a tuple or list")
            items += value.values()
            continue
        items.append(lowering.lower_expr(element))
    return make(lowering, kind, items)


def lower_dict(lowering, node: ast.Dict) -> Pack:
    items = {}
    for key_node, value_node in zip(node.keys, node.values):
        if key_node is None:       # {**other}
            other = lowering.lower_expr(value_node)
            if not isinstance(other, Pack) or other.kind != "dict":
                raise lowering.unsupported(value_node, "** of something that is not a dict", "list the keys")
            items.update(other.items)
            continue
        key = constant_key(lowering, key_node)
        items[key] = slot(lowering, lowering.lower_expr(value_node), f"item_{key}")
    return Pack("dict", items)


def constant_key(lowering, node):
    """A key or index known when compiling: a constant, a name bound to one, or simple arithmetic on them."""
    value = lowering.lower_expr(node)
    if isinstance(value, Text):
        return value.value
    if isinstance(value, Const) and not isinstance(value.value, float):
        return value.value
    raise lowering.unsupported(node, "a container indexed by a value known only when the code runs",
                               "index tuples, lists and dicts with constants (params['W'], layers[0]); "
                               "to loop over one, write 'for W, b in layers:' (the loop is unrolled)")


# ------------------------------------------------------------------ reading

def subscript(lowering, pack: Pack, node: ast.Subscript):
    """`pack[key]` (an item) or `pack[a:b]` (a new tuple or list of the items)."""
    if isinstance(node.slice, ast.Slice) and pack.kind in ("tuple", "list"):
        bounds = [None if p is None else constant_key(lowering, p) for p in
                  (node.slice.lower, node.slice.upper, node.slice.step)]
        chosen = pack.values()[slice(*bounds)]
        return Pack(pack.kind, dict(enumerate(chosen)))
    key = constant_key(lowering, node.slice)
    return item(lowering, pack, key, node)


def item(lowering, pack: Pack, key, node):
    if pack.kind in ("tuple", "list") and isinstance(key, int) and not isinstance(key, bool):
        if -len(pack) <= key < len(pack):
            return pack.values()[key]
        raise lowering.error(UnsupportedSyntaxError, f"index {key} is out of range for a {pack.kind} of "
                             f"{len(pack)} items", node, construct="index out of range")
    if key in pack.items:
        return pack.items[key]
    raise lowering.error(UnsupportedSyntaxError, f"{_describe(pack)} has no key {key!r}", node,
                         f"its keys: {', '.join(map(repr, pack.keys()))}", "missing key")


def _describe(pack: Pack) -> str:
    return {"dict": "the dict", "object": f"the {pack.name} object", "tuple": "the tuple",
            "list": "the list"}[pack.kind]


def store(lowering, pack: Pack, node: ast.Subscript, value) -> None:
    """`pack[key] = value`: the key's slot gets the value (a new key changes the structure)."""
    if pack.kind == "tuple":
        raise lowering.unsupported(node, "assignment into a tuple", "tuples cannot change: build a new one")
    key = constant_key(lowering, node.slice)
    if pack.kind == "list":
        if not (isinstance(key, int) and -len(pack) <= key < len(pack)):
            raise lowering.error(UnsupportedSyntaxError, f"list assignment index {key!r} out of range", node,
                                 construct="index out of range")
        key = pack.keys()[key]
    if key not in pack.items:
        check_static(lowering, node, "a new key added to a dict")
    current = pack.items.get(key)
    if isinstance(value, (Pack, Text, Const)) or not isinstance(current, Var):
        check_static(lowering, node, "an item of a container replaced by a container or a constant")
        pack.items[key] = slot(lowering, value, f"item_{key}")
        return
    lowering.assign(current.name, "copy", (value,))


def check_static(lowering, node, what: str) -> None:
    if lowering.static_depth:
        raise lowering.unsupported(node, f"{what} inside a branch or a loop",
                                   "build containers before branches and loops (their structure must be "
                                   "known when compiling); assigning to an existing key or index is fine")


def unpack(lowering, value, count: int, node, starred: int | None = None) -> list:
    """`a, b = value` for a tuple or list (its items) or an array (its rows, checked to be `count`).
    `starred`: the position of a starred target (`a, *rest = value`), which takes a list of the items
    the others leave, as Python's unpacking does (of a container: its length is known here)."""
    if isinstance(value, Pack):
        items = [Text(k) for k in value.keys()] if value.kind == "dict" else value.values()
        if starred is None:
            return _unpack_count(lowering, items, count, node)
        after = count - 1 - starred
        if len(items) < count - 1:
            raise lowering.error(UnsupportedSyntaxError, f"cannot unpack {len(items)} values into at least "
                                 f"{count - 1} names", node, "unpack at least as many values as plain names",
                                 "unpacking")
        rest = items[starred:len(items) - after]
        return items[:starred] + [Pack("list", dict(enumerate(rest)))] + items[len(items) - after:]
    if starred is not None:
        raise lowering.unsupported(node, "starred unpacking of an array (a, *rest = x)",
                                   "index it: a, rest = x[0], x[1:]")
    rank = lowering.rank_of(value)
    if rank:
        lowering.check_length(value, count, node)
        return [lowering.apply("subscript", (value, Const(k))) for k in range(count)]
    raise lowering.unsupported(node, "unpacking a number", "unpack a tuple, a list or an array")


def _unpack_count(lowering, items: list, count: int, node) -> list:
    if len(items) != count:
        raise lowering.error(UnsupportedSyntaxError, f"cannot unpack {len(items)} values into {count} names",
                             node, "unpack exactly as many values as there are names", "unpacking")
    return items


# ------------------------------------------------------------------ iteration

def static_iteration(lowering, node: ast.For):
    """The items a `for` loop runs over, when they are known when compiling (the loop is then unrolled):
    a list of values to bind to the target, else None."""
    iterator = node.iter
    call = iterator if isinstance(iterator, ast.Call) else None
    name = _called(call)
    if name in ("enumerate", "zip", "reversed", "items", "keys", "values"):
        items = _static_call(lowering, call, name)
        return ("rows", items) if isinstance(items, Rows) else items
    if name == "range":
        bounds = [lowering.lower_expr(a) for a in call.args]
        if all(isinstance(b, Const) for b in bounds) and _indexes_containers(lowering, node):
            return [Const(k) for k in range(*(b.value for b in bounds))]
        return None
    if isinstance(iterator, (ast.Call, ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Dict)):
        value = lowering.lower_expr(iterator)
        if isinstance(value, Pack):
            return [Text(k) for k in value.keys()] if value.kind == "dict" else value.values()
        if isinstance(value, Text):
            raise lowering.unsupported(iterator, "a loop over a string", "loop over numbers or arrays")
        return ("array", value)
    return None


def _called(call) -> str | None:
    if call is None:
        return None
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute) and call.func.attr in ("items", "keys", "values"):
        return call.func.attr
    return None


@dataclass(frozen=True)
class Rows:
    """What `for target in enumerate/zip/reversed(...)` runs over when an array's length is known only when
    the code runs: `length` trips (an operand, read once before the loop), the target bound on each to
    `item(index)` (made inside the trip: an array's row as `for row in A` reads it)."""
    length: object
    item: object


def array_rows(lowering, array) -> Rows:
    """An array's rows (its entries, of a vector), as `for row in A` runs over them: the array read once,
    as Python's iterator holds the array it was made of."""
    array = lowering.snapshot(array)
    return Rows(lowering.apply("shape0", (array,)), lambda i: lowering.apply("subscript", (array, i)))


def _static_call(lowering, call: ast.Call, name: str):
    if name in ("items", "keys", "values"):
        pack = lowering.lower_expr(call.func.value)
        if not isinstance(pack, Pack) or pack.kind != "dict":
            raise lowering.unsupported(call, f".{name}() of something that is not a dict", "loop over a dict")
        if name == "keys":
            return [Text(k) for k in pack.keys()]
        if name == "values":
            return pack.values()
        return [Pack("tuple", {0: Text(k), 1: v}) for k, v in pack.items.items()]
    if name == "zip" and call.keywords:
        raise lowering.unsupported(call, "zip with keywords (strict=True raises where lengths differ)",
                                   "zip(...) without keywords, and check the lengths yourself")
    if name == "reversed" and call.args and isinstance(call.args[0], ast.Call) \
            and _called(call.args[0]) in ("enumerate", "zip"):
        raise lowering.error(UnsupportedSyntaxError, f"'{_called(call.args[0])}' object is not reversible",
                             call, "Python raises TypeError here: reverse what it enumerates or zips",
                             "reversed")
    arguments = call.args[:1] if name == "enumerate" else call.args
    sequences = [_sequence(lowering, a) for a in arguments]
    if any(isinstance(s, Rows) for s in sequences):
        return _rows_of(lowering, call, name, sequences)
    if name == "enumerate":
        start = _enumerate_start(lowering, call)
        return [Pack("tuple", {0: Const(start + k), 1: v}) for k, v in enumerate(sequences[0])]
    if name == "reversed":
        return list(reversed(sequences[0]))
    length = min(len(s) for s in sequences)
    return [Pack("tuple", dict(enumerate(items))) for items in zip(*(s[:length] for s in sequences))]


def _enumerate_start(lowering, call: ast.Call) -> int:
    if len(call.args) > 1 or call.keywords:
        return constant_key(lowering, call.args[1] if len(call.args) > 1 else call.keywords[0].value)
    return 0


def _rows_of(lowering, call: ast.Call, name: str, sequences: list) -> Rows:
    """enumerate/zip/reversed over arrays whose lengths are known only when the code runs (and over
    enumerate/zip of them), as Python runs them: zip stops at the shortest, enumerate counts from its
    start, reversed reads from the last row down."""
    if not all(isinstance(s, Rows) for s in sequences):
        raise lowering.unsupported(call, f"{name} of a container and an array whose length is known only when "
                                   f"the code runs", "zip arrays with arrays, or loop over range(len(x)) and index")
    if name == "enumerate":
        rows = sequences[0]
        start_node = call.args[1] if len(call.args) > 1 else call.keywords[0].value if call.keywords else None
        start = Const(0) if start_node is None else lowering.lower_expr(start_node)      # an int, read once
        kind = type(start.value) if isinstance(start, Const) else lowering.type_of(start)
        if kind not in (int, ir.INT):
            raise lowering.unsupported(start_node, "enumerate's start that is not an int (Python raises TypeError)",
                                       "start from an int")
        return Rows(rows.length, lambda i: Pack("tuple", {0: i if start == Const(0) else lowering.apply("add", (i, start)),
                                                          1: rows.item(i)}))
    if name == "reversed":
        rows = sequences[0]
        last = lowering.apply("sub", (rows.length, Const(1)))
        return Rows(rows.length, lambda i: rows.item(lowering.apply("sub", (last, i))))
    length = sequences[0].length
    for rows in sequences[1:]:
        length = lowering.apply("min", (length, rows.length))
    return Rows(length, lambda i: Pack("tuple", {k: rows.item(i) for k, rows in enumerate(sequences)}))


def _sequence(lowering, node) -> list | Rows:
    """The items of an argument of enumerate/zip/reversed: a container's, a range's with constant bounds, an
    array's of a length known when compiling (a list); an array's whose length is known only when the code
    runs, and enumerate/zip/reversed of such arrays (`Rows`)."""
    if isinstance(node, ast.Call) and _called(node) in ("enumerate", "zip", "reversed"):
        return _static_call(lowering, node, _called(node))
    if isinstance(node, ast.Call) and _called(node) == "range":
        bounds = [lowering.lower_expr(a) for a in node.args]
        if all(isinstance(b, Const) for b in bounds):
            return [Const(k) for k in range(*(b.value for b in bounds))]
    value = lowering.lower_expr(node)
    if isinstance(value, Pack):
        return [Text(k) for k in value.keys()] if value.kind == "dict" else value.values()
    if lowering.rank_of(value):
        count = lowering.static_length(value)
        if count is not None:
            return [lowering.apply("subscript", (value, Const(k))) for k in range(count)]
        return array_rows(lowering, value)
    raise lowering.unsupported(node, "enumerate/zip/reversed over something whose length is known only when "
                               "the code runs", "zip tuples, lists or arrays, or loop over range(len(x)) and index")


def _indexes_containers(lowering, node: ast.For) -> bool:
    """Does the body index a container (a name bound to a pack) with the loop variable?"""
    if not isinstance(node.target, ast.Name):
        return False
    index = node.target.id
    for sub in ast.walk(ast.Module(body=node.body, type_ignores=[])):
        if isinstance(sub, ast.Subscript) and isinstance(sub.value, (ast.Name, ast.Attribute, ast.Subscript)):
            if any(isinstance(n, ast.Name) and n.id == index for n in ast.walk(sub.slice)):
                base = sub.value
                while isinstance(base, (ast.Subscript, ast.Attribute)):
                    base = base.value
                if isinstance(base, ast.Name) and isinstance(lowering.frame.scope.get(base.id), Pack):
                    return True
    return False


# ------------------------------------------------------------------ comprehensions

def comprehension(lowering, node) -> list:
    """The values of a list comprehension or generator expression over containers or constant ranges,
    unrolled; a comprehension over something known only at run time is refused."""
    results: list = []

    def run(generators):
        if not generators:
            results.append(lowering.lower_expr(node.elt))
            return
        generator = generators[0]
        if generator.is_async:
            raise lowering.unsupported(node, "async comprehension", "use a for loop")
        fake = ast.For(target=generator.target, iter=generator.iter, body=[ast.Expr(node.elt)], orelse=[])
        ast.copy_location(fake, node)
        items = static_iteration(lowering, fake)
        if items is None and _called(generator.iter if isinstance(generator.iter, ast.Call) else None) == "range":
            bounds = [lowering.lower_expr(a) for a in generator.iter.args]
            if all(isinstance(b, Const) for b in bounds):
                items = [Const(k) for k in range(*(b.value for b in bounds))]
        if items is None or (isinstance(items, tuple) and items[0] == "array"):
            raise lowering.unsupported(node, "a comprehension over something known only when the code runs",
                                       "write a for loop (over range(...)) that fills an array, or a "
                                       "vectorised NumPy expression")
        for value in items:
            lowering.bind_target(generator.target, value)
            for condition in generator.ifs:
                test = lowering.lower_expr(condition)
                if not isinstance(test, Const):
                    raise lowering.unsupported(condition, "a comprehension condition known only when the code "
                                               "runs", "filter with np.where, or write a loop")
                if not test.value:
                    break
            else:
                run(generators[1:])

    run(list(node.generators))
    return results


# ------------------------------------------------------------------ methods and operators

NEW_AXIS = Text("\0newaxis")          # np.newaxis / None in a subscript
MUTATORS = ("append", "extend", "insert", "update", "pop", "clear")


def mutate(lowering, pack: Pack, call: ast.Call) -> None:
    """`lst.append(v)`, `lst.extend(t)`, `lst.insert(k, v)`, `d.update(other)`, `lst.pop()`: the
    structure changes when compiling, so only outside branches and loops that run at run time."""
    method = call.func.attr
    check_static(lowering, call, f".{method}()")
    args = [lowering.lower_expr(a) for a in call.args]
    if pack.kind == "list" and method == "append" and len(args) == 1:
        pack.items[len(pack)] = slot(lowering, args[0])
    elif pack.kind == "list" and method == "extend" and len(args) == 1 and isinstance(args[0], Pack):
        for value in args[0].values():
            pack.items[len(pack)] = slot(lowering, value)
    elif pack.kind == "list" and method == "insert" and len(args) == 2:
        position = constant_key(lowering, call.args[0])
        values = pack.values()
        values.insert(position, slot(lowering, args[1]))
        pack.items = dict(enumerate(values))
    elif pack.kind == "list" and method == "pop" and len(args) <= 1:
        values = pack.values()
        values.pop(constant_key(lowering, call.args[0]) if args else -1)
        pack.items = dict(enumerate(values))
    elif pack.kind == "dict" and method == "update" and len(args) == 1 and isinstance(args[0], Pack):
        for key, value in args[0].items.items():
            pack.items[key] = slot(lowering, value, f"item_{key}")
    elif method == "clear" and not args:
        pack.items = {}
    else:
        raise lowering.unsupported(call, f".{method}() of a {pack.kind} with these arguments",
                                   "append, extend, insert and pop lists; update dicts")


def method(lowering, pack: Pack, call: ast.Call, target):
    """A method of a container used for its value: `d.get(k, default)`, `lst.copy()`, `lst.index(...)`,
    `self.method(...)` (inlined with the object as self)."""
    name = call.func.attr
    args = [lowering.lower_expr(a) for a in call.args]
    if pack.kind == "object":
        function = getattr(pack.cls, name, None) if pack.cls is not None else None
        if name in pack.others:        # set on the object itself: Python calls that, not the class's method
            raise lowering.unsupported(call, f"calling .{name}, an attribute of the {pack.name} object itself "
                                       f"(not its class's method)", "call a method of its class, or a function "
                                       "of the module")
        if function is None or name in pack.items:
            raise lowering.unsupported(call, f"calling .{name} of the {pack.name} object",
                                       "call its methods, or functions of its numbers and arrays")
        from .bindings import ATTRIBUTE, Binding, stable
        from .parse import classify_object, UserFunctionRef
        raw = pack.cls.__dict__.get(name, function)
        if isinstance(raw, staticmethod):
            ref = classify_object(raw.__func__)
            bound = args
        elif isinstance(raw, classmethod):
            raise lowering.unsupported(call, f"the class method {name}", "use a static method or a method")
        else:
            ref = classify_object(function)
            bound = [pack] + args
        if not isinstance(ref, UserFunctionRef):
            raise lowering.unsupported(call, f"calling .{name} of the {pack.name} object", "call Python methods")
        binding = Binding(ATTRIBUTE, pack.cls, name, function)     # a method set on the class since is seen
        lowering.note_code(ref, binding if stable(binding) else None)
        keywords = {kw.arg: lowering.lower_expr(kw.value) for kw in call.keywords}
        return lowering.materialise_result(lowering.inline(ref, bound, call, keywords), target)
    if name == "get" and pack.kind == "dict" and 1 <= len(args) <= 2:
        key = constant_key(lowering, call.args[0])
        if key in pack.items:
            return lowering.materialise_result(pack.items[key], target)
        if len(args) == 2:
            return lowering.materialise_result(args[1], target)
        raise lowering.unsupported(call, f"d.get({key!r}) of a missing key (None)", "give a default")
    if name == "copy" and not args:
        return Pack(pack.kind, dict(pack.items), pack.name)
    if name in ("keys", "values", "items") and pack.kind == "dict":
        values = [Text(k) for k in pack.keys()] if name == "keys" else pack.values() if name == "values" else \
            [Pack("tuple", {0: Text(k), 1: v}) for k, v in pack.items.items()]
        return Pack("list", dict(enumerate(values)))
    raise lowering.unsupported(call, f"the {pack.kind} method .{name}()",
                               "index containers with constants; build new ones with literals")


def arithmetic(lowering, prim: str, left, right, node):
    """`t1 + t2` (concatenation) and `t * 3` / `3 * t` (repetition) of tuples and lists."""
    if prim == "add" and isinstance(left, Pack) and isinstance(right, Pack) and left.kind == right.kind \
            and left.kind in ("tuple", "list"):
        return Pack(left.kind, dict(enumerate(left.values() + right.values())))
    if prim == "mul":
        pack, count = (left, right) if isinstance(left, Pack) else (right, left)
        if isinstance(pack, Pack) and pack.kind in ("tuple", "list") and isinstance(count, Const) \
                and isinstance(count.value, int):
            return Pack(pack.kind, dict(enumerate(pack.values() * max(count.value, 0))))
    raise lowering.unsupported(node, "arithmetic on a container", "use numbers or arrays (np.array(...) of a list)")
