"""Check layer files and daemon.json against the shipped JSON Schemas, with errors an operator can act on.

Pure apart from reading the shipped schema files once. An error names the file, the key path, what was
expected and, for an unknown key, the closest valid one.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from typing import Any

from dockharden.errors import SchemaError
from dockharden.resources import schema_path

# Every pattern of every schema starts with this: `$` also matches before a final newline (in Python's re,
# which jsonschema and the generated validators use), and a value ending in one would reach daemon.json,
# an audit rule or a unit; tests/unit/test_fast_validators.py keeps every pattern starting with it
ONE_LINE = "(?!.*\\n)"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema as a dict (cached: schemas never change while we run)."""
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


@cache
def _validator(name: str):
    return strict_validator(load_schema(name))


def strict_validator(schema: dict[str, Any]):
    """A draft 2020-12 validator for which an integer is an int: JSON Schema counts 1500.0 as an integer, and
    Go's encoding/json refuses it for an int field (`cannot unmarshal number 1500.0`). The generated fast
    validators are made as strict by scripts/compile-schemas.py."""
    import jsonschema  # not free to import: only when something is validated

    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    return jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)(schema)


def daemon_keys() -> dict[str, Any]:
    """Every daemon.json key the schema knows, with its annotations (x-since, x-reload, x-flag)."""
    return load_schema("daemon.schema.json")["properties"]


def depth_inside_a_value(path: tuple[str, ...], *, records: bool = True) -> int | None:
    """None when every key of the daemon.json key path `path` but the last names a map whose keys can be
    removed one by one (log-opts, features, default-ulimits, runtimes...); else how many keys lead to the
    value it goes inside (a string, a list, or a closed record such as a ulimit's {Name, Hard, Soft}). A key
    the schema does not know is taken as a map. `records` False: a closed record counts as a map (apply
    records each of its fields in managed.json)."""
    spec: Any = daemon_keys().get(path[0], {})
    for depth, key in enumerate(path[1:], start=1):
        kinds = spec.get("type", "object") if isinstance(spec, dict) else None
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "object" not in kinds or (records and spec.get("additionalProperties", True) is False):
            return depth
        props = spec.get("properties", {})
        spec = props[key] if key in props else spec.get("additionalProperties", {})
    return None


def removed_daemon_keys() -> dict[str, str]:
    """Keys a daemon refuses or ignores, with what to do instead."""
    return load_schema("daemon.schema.json").get("x-removed", {})


def suggest(word: str, choices) -> str:
    """' (did you mean `x`?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def check_daemon_config(config: dict[str, Any], *, path: str, prefix: str = "", engine: str | None = None) -> None:
    """Raise SchemaError for the first problem in a daemon.json dict (or a layer's [daemon] table).

    The schema describes current engines. A key a later release removed is accepted only when `engine`
    (the host's version) is older than that release, and then checked against its old type; with the
    engine unknown it is refused.
    """
    removed = removed_daemon_keys()
    older = {key for key in config if key in removed and still_accepted(key, engine)}
    for key in config:
        if key in removed and key not in older:
            raise removed_key_error(key, engine, path=path, prefix=prefix)
    if older:
        _check_removed_types({key: config[key] for key in older}, path=path, prefix=prefix)
        config = {key: value for key, value in config.items() if key not in older}
    if not _fast_accepts("daemon", config):
        _raise_first(_validator("daemon.schema.json"), config, path=path, prefix=prefix)


def still_accepted(key: str, engine: str | None) -> bool:
    """Whether the engine `engine` still accepts a key that a later release removed."""
    from dockharden.core.engine_gating import parse_version

    removed_in = parse_version(load_schema("daemon.schema.json").get("x-removed-in", {}).get(key))
    have = parse_version(engine)
    return removed_in is not None and have is not None and have < removed_in


def _check_removed_types(found: dict[str, Any], *, path: str, prefix: str) -> None:
    types = load_schema("daemon.schema.json").get("x-removed-types", {})
    schema = {"type": "object", "properties": {key: types.get(key, {}) for key in found}}
    _raise_first(strict_validator(schema), found, path=path, prefix=prefix)


def removed_key_error(key: str, engine: str | None, *, path: str, prefix: str) -> SchemaError:
    why = removed_daemon_keys()[key]
    since = load_schema("daemon.schema.json").get("x-removed-in", {}).get(key)
    if since and engine:
        message = f"`{key}` was removed in Engine {since}, and this host runs Engine {engine}: {why}"
    elif since:
        message = f"`{key}` was removed in Engine {since}: {why}"
    else:
        message = f"`{key}` is not accepted by any current Docker engine: {why}"
    older_engine = since and not engine and not prefix  # a host's daemon.json, its engine unknown
    hint = f"remove `{key}` from {path}" + (", or pass --engine-version if this host runs an older engine"
                                             if older_engine else "")
    return SchemaError(message, hint=hint, path=path, key=prefix + key)


def check_layer_document(doc: dict[str, Any], *, path: str) -> None:
    """Raise SchemaError for the first problem in a parsed layer file."""
    if not _fast_accepts("layer", doc):
        _raise_first(_validator("layer.schema.json"), doc, path=path, prefix="")
    if isinstance(doc.get("daemon"), dict):
        check_daemon_config(doc["daemon"], path=path, prefix="daemon.")
    if isinstance(doc.get("defaults", {}).get("daemon"), dict):
        check_daemon_config(doc["defaults"]["daemon"], path=path, prefix="defaults.daemon.")


def _fast_accepts(name: str, instance: Any) -> bool:
    """The validator generated from the schema (scripts/compile-schemas.py): True when it accepts.

    It only ever speeds up the common case; anything it rejects goes to jsonschema, which decides
    and explains (tests/unit/test_fast_validators.py checks it never accepts what jsonschema rejects).
    """
    from importlib import import_module

    try:
        module = import_module(f"dockharden.schema._fast_{name}")
    except ModuleNotFoundError:  # a checkout that was never built: jsonschema alone decides
        return False
    try:
        module.validate(instance)
    except ValueError:
        return False
    return True


def _raise_first(validator, instance: Any, *, path: str, prefix: str) -> None:
    # at one place, the wrong type first: 1e300 for an int64 is a float before it is too large
    errors = sorted(validator.iter_errors(instance),
                    key=lambda e: (list(map(str, e.absolute_path)), e.validator != "type", e.message))
    if errors:
        raise _explain(errors[0], path=path, prefix=prefix)


def _explain(error, *, path: str, prefix: str) -> SchemaError:
    where = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        return _unknown_key_error(error, where, path=path, prefix=prefix)
    key = prefix + ".".join(where) if where else prefix.rstrip(".") or "(top level)"
    expected = _expected(error)
    return SchemaError(f"{expected}; found {json.dumps(error.instance, default=str)[:80]}",
                       hint="correct the value (the schemas ship in dockharden/schema/ for editors)",
                       path=path, key=key)


def _unknown_key_error(error, where: list[str], *, path: str, prefix: str) -> SchemaError:
    known = error.schema.get("properties", {})
    unknown = [k for k in error.instance if k not in known]
    name = unknown[0] if unknown else "?"
    key = prefix + ".".join(where + [name])
    return SchemaError(f"unknown key `{name}`{suggest(name, known)}",
                       hint="use one of the keys the schema lists, or remove it", path=path, key=key)


def _expected(error) -> str:
    schema = error.schema
    if error.validator == "uniqueItems":
        from dockharden.core.values import duplicates

        twice = duplicates(json.dumps(item, sort_keys=True, default=str) for item in error.instance)
        return f"each entry once: {twice[0] if twice else 'an entry'} is listed twice (remove one)"
    if "x-expected" in schema and error.validator in ("pattern", "minLength", "maxLength", "minimum", "maximum"):
        return f"expected {schema['x-expected']}"
    if error.validator == "type":
        return f"expected a value of type {schema['type']}"
    if error.validator == "enum":
        return "expected one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if error.validator == "pattern":  # every pattern starts ^(?!.*\n): one line, no newline even at its end
        return f"expected one line matching {schema['pattern'].replace(ONE_LINE, '', 1)}"
    if error.validator == "not":
        return "these keys must not be used together"
    return error.message
