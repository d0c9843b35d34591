"""Cache: a successful proof kept beside the compiled code, so a later process need not redo it.

Takes: the pipeline `State`, the user's function (or None), the `Plan` of
instances, and a successful `VerificationReport`.  Guarantees:

* the proof is stored in the cache directory of `load.cache_dir()` (where
  the generated modules are written) as `<gradient name>_<key>.proof.json`,
  written to a temporary file and renamed, so a concurrent process never
  reads half a file;
* the key is the SHA-256 of: the generated module text, the primal and
  adjoint IR as printed (a program changed after printing is another
  program), `wrt`, the rule table (every primitive's partials, vjp and SymPy
  form), the verifier's own source, the user's function (module, name,
  code) or its absence (then the primal was not checked against it), and
  the *instance description*: for each instance proved, its parameter types
  and shapes, its int and bool values (int arrays included), and the branch
  outcomes it reaches.  Float entries are not part of the key: along one
  path, with the same shapes and ints, the symbolic computations are the
  same whatever the entries; the instances of another call of the same
  signature reach the same outcomes, or the key differs and the proof is
  made again;
* only successful proofs are stored, and a stored one is read back as a
  report that says it came from the cache; `STATS` counts proofs made and
  proofs read.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time

from ..rules import PRIMITIVES

STATS = {"proved": 0, "cached": 0}
_VERIFIER_DIGEST: list = []


def _verifier_digest() -> str:
    if not _VERIFIER_DIGEST:
        here = os.path.dirname(os.path.abspath(__file__))
        digest = hashlib.sha256()
        for name in sorted(os.listdir(here)):
            if name.endswith(".py"):
                with open(os.path.join(here, name), "rb") as handle:
                    digest.update(name.encode() + b"\0" + handle.read())
        _VERIFIER_DIGEST.append(digest.hexdigest())
    return _VERIFIER_DIGEST[0]


def _stable(value, digest) -> None:
    """Feed `value` to `digest` the same way in every process: a rule given as a function (a
    parameterised vjp, jvp, spelling or result type) by its code and closure, never by its address."""
    if callable(value) and hasattr(value, "__code__"):
        digest.update(getattr(value, "__qualname__", "").encode())
        _code_digest(value.__code__, digest)
        for cell in value.__closure__ or ():
            _stable(cell.cell_contents, digest)
    elif isinstance(value, (tuple, list)):
        digest.update(b"(")
        for item in value:
            _stable(item, digest)
        digest.update(b")")
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _stable(value[key], digest)
    else:
        digest.update(repr(value).encode() + b"\0")


def _rules_digest() -> str:
    digest = hashlib.sha256()
    for name in sorted(PRIMITIVES):
        p = PRIMITIVES[name]
        _stable((p.name, p.arity, p.partials, p.vjp, p.jvp, p.nondiff, p.scalar, p.array, p.sympy, p.result),
                digest)
    return digest.hexdigest()


def _code_digest(code, digest) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            _code_digest(const, digest)
        else:
            digest.update(repr(const).encode())


def function_fingerprint(fn) -> str | None:
    if fn is None:
        return None
    # the user's function behind a wrapper that rebuilds its containers and data (api._flat_function)
    fn = getattr(fn, "__autodiff_user_function__", fn)
    digest = hashlib.sha256()
    digest.update(f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}".encode())
    code = getattr(fn, "__code__", None)
    if code is not None:
        _code_digest(code, digest)
        digest.update(repr(getattr(fn, "__defaults__", None)).encode())
    else:
        digest.update(repr(fn).encode())
    return digest.hexdigest()


def instance_description(plan, params) -> list:
    return [{"args": instance.describe(params),
             "reaches": sorted([program, ordinal, repr(side)] for program, ordinal, side in instance.coverage)}
            for instance in plan.instances]


def proof_key(state, fn, plan) -> str:
    text = json.dumps({
        "module": state.text,
        "primal": str(state.primal),
        "adjoint": str(state.adjoint),
        "wrt": list(state.leaf_wrt),
        "with_value": bool(getattr(state, "with_value", True)),
        "rules": _rules_digest(),
        "verifier": _verifier_digest(),
        "function": function_fingerprint(fn),
        "instances": instance_description(plan, list(state.primal.params)),
    }, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def proof_path(state, key: str) -> str:
    from ..backend.load import cache_dir
    return os.path.join(cache_dir(), f"{state.adjoint.name}_{key[:24]}.proof.json")


def load_proof(state, key: str) -> dict | None:
    path = proof_path(state, key)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if data.get("key") != key or not data.get("ok"):
        return None
    data["path"] = path
    STATS["cached"] += 1
    return data


def store_proof(state, key: str, report, plan) -> str | None:
    path = proof_path(state, key)
    data = {"key": key, "ok": True, "function": report.function, "report": str(report),
            "instances": instance_description(plan, list(state.primal.params)),
            "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
        os.replace(temporary, path)
    except OSError:          # a read-only cache: the proof stands, it is just not kept
        return None
    return path
