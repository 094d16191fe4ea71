"""Find, parse and schema-check layer files, in the order they merge.

Reads layer files only. A layer is TOML (or JSON, by its `.json` suffix): `[daemon]` is a daemon.json
fragment, the other tables configure the other targets, `[unset]` removes keys.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockharden.core.schema import check_layer_document, daemon_keys, depth_inside_a_value, load_schema, suggest
from dockharden.core.values import check_layer_values
from dockharden.errors import LayerError, SchemaError
from dockharden.model import KeyPath, Layer, Selection
from dockharden.resources import profiles_dir

DEFAULT_PROFILES = ("baseline",)
# A layer holds settings: the built-in ones are a few KiB. 1 MiB is hundreds of times more than any real
# layer, and keeps a wrong path (a log, an image) from being read whole into memory and parsed.
LAYER_LIMIT = 1 << 20
# ... and as many files as anyone merges many times over: together at most 64 MiB read, however often a
# file is repeated on the command line.
MAX_LAYER_FILES = 64


def builtin_profiles() -> list[str]:
    """Names of the layers that ship with dockharden."""
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


def load_layers(selection: Selection, read: Callable[[Path], bytes]) -> list[Layer]:
    """The built-in profiles then the operator's layer files (their bytes read by `read`), parsed and
    checked."""
    if len(selection.layers) > MAX_LAYER_FILES:
        raise LayerError(f"{len(selection.layers)} layer files are selected; at most {MAX_LAYER_FILES} are read",
                         hint="merge them into fewer files", key="--layer")
    where = {"path": selection.source, "key": "profiles"} if selection.source.startswith("/") else {}
    layers = [load_builtin(name, **where) for name in selection.profiles]
    layers += [load_layer_file(Path(p), read) for p in selection.layers]
    _refuse_shared_names(layers)
    return layers


def _refuse_shared_names(layers: list[Layer]) -> None:
    """Two layers of one name would share their provenance: `show` and `plan` could not tell them apart."""
    seen: dict[str, str] = {}
    for layer in layers:
        if layer.name in seen:
            raise LayerError(f"layer name `{layer.name}` is also the name of {seen[layer.name]}",
                             hint="give each layer its own name with [layer] name = \"...\"", path=layer.source,
                             key="layer.name")
        seen[layer.name] = layer.source


def load_builtin(name: str, *, path: str = "", key: str = "--profile") -> Layer:
    """A built-in profile; an unknown name is refused naming where it came from (a flag or dockharden.toml)."""
    names = builtin_profiles()
    if name not in names:  # never a path: `--profile ../x` must not reach outside the profiles
        raise LayerError(f"no built-in profile `{name}`{suggest(name, names)}",
                         hint="built-in profiles are: " + ", ".join(names), path=path, key=key)
    path = profiles_dir() / f"{name}.toml"
    return _layer_from_text(path.read_bytes(), source=f"profile:{name}", default_name=name, fmt="toml")


def load_layer_file(path: Path, read: Callable[[Path], bytes]) -> Layer:
    """An operator's layer file, its bytes read by `read` (host.inputs.read_layer_file: a regular file of
    at most LAYER_LIMIT bytes)."""
    fmt = "json" if path.suffix.lower() == ".json" else "toml"
    return _layer_from_text(read(path), source=str(path), default_name=path.stem, fmt=fmt)


def _layer_from_text(data: bytes, *, source: str, default_name: str, fmt: str) -> Layer:
    doc = _parse(data, source=source, fmt=fmt)
    check_layer_document(doc, path=source)
    check_layer_values(doc, path=source)
    name = doc.get("layer", {}).get("name") or _name_from_file(default_name, source)
    tables = {k: v for k, v in doc.items() if k not in ("layer", "unset", "defaults")}
    unset = {table: tuple(_unset_path(p, source) for p in paths)
             for table, paths in doc.get("unset", {}).items()}
    return Layer(name=name, source=source, tables=tables, unset=unset,
                 description=doc.get("layer", {}).get("description", ""), defaults=doc.get("defaults", {}))


def _name_from_file(stem: str, source: str) -> str:
    """A layer without `[layer] name` is named by its file name, which must pass the schema's rule for a
    name (the same validators as `[layer] name`): a file called `evil\nname.toml` or holding an escape
    sequence would otherwise put that text into plans, managed.json and every report."""
    try:
        check_layer_document({"layer": {"name": stem}}, path=source)
    except SchemaError:
        expected = load_schema("layer.schema.json")["properties"]["layer"]["properties"]["name"]["x-expected"]
        raise LayerError(f"the layer has no [layer] name, so it would be named after its file, "
                         f"{json.dumps(stem)}, which is not a layer name ({expected}, starting with a letter or "
                         "a digit)", hint="rename the file (web-hosts.toml), or name the layer inside it: "
                         "[layer] name = \"web-hosts\"", path=source) from None
    return stem


def _parse(data: bytes, *, source: str, fmt: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LayerError(f"not UTF-8 text (byte {exc.start})", hint="save the layer as UTF-8",
                         path=source) from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates) if fmt == "json" else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayerError(f"invalid TOML: {exc}", hint="fix the syntax at that line", path=source) from None
    except _Duplicate as exc:  # TOML refuses a key given twice; JSON would silently keep the last one
        raise LayerError(f"key `{exc.key}` appears twice in one object; JSON would silently use the last one",
                         hint="keep one of them", path=source, key=exc.key) from None
    except json.JSONDecodeError as exc:
        raise LayerError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                         hint="fix the syntax at that line", path=source) from None
    except (ValueError, RecursionError) as exc:  # absurd numbers or nesting
        raise LayerError(f"cannot be read as a layer ({exc.__class__.__name__}: {str(exc)[:80]}; nested too "
                         "deeply or a number too long)", hint="fix the file", path=source) from None
    if not isinstance(doc, dict):
        raise LayerError("a layer must be a table (a JSON object)",
                         hint="put the settings in tables such as {\"daemon\": {...}}", path=source)
    from dockharden.daemon_json_codec import check_encodable

    check_encodable(doc, source, LayerError)
    return doc


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _Duplicate(key)
        doc[key] = value
    return doc


def _unset_path(given: str | list[str], source: str) -> KeyPath:
    """An `[unset]` path: a string of keys joined by '/' ("log-opts/max-file"), or an array of keys
    (["log-opts", "a/b"]: the only way to name a key that holds '/'). No empty key ("log-opts/" would mean
    the whole map), and no key inside a value that is not a map of its own (a ulimit's Hard, an element
    of a list): removing it would leave half a value."""
    shown = json.dumps(given) if isinstance(given, list) else f"`{given}`"
    path = tuple(given) if isinstance(given, list) else tuple(given.split("/"))
    if not all(path):
        raise LayerError(f"`unset` path {shown} has an empty part", hint="write it like \"log-opts/max-file\" "
                         "(or [\"log-opts\", \"a/b\"] for a key that holds '/'); to remove a whole map, name "
                         "it alone: \"log-opts\"", path=source, key="unset.daemon")
    known = daemon_keys()
    if path[0] not in known:
        raise LayerError(f"`unset` names an unknown daemon.json key `{path[0]}`{suggest(path[0], known)}",
                         hint="name a key of daemon.json; nested keys use '/', e.g. \"log-opts/max-file\"",
                         path=source, key="unset.daemon")
    depth = depth_inside_a_value(path)
    if depth is not None:
        above = ".".join(path[:depth])
        raise LayerError(f"`unset` path {shown} goes inside `{above}`, which is one value, not a map of "
                         "keys: removing a part of it would leave half a value",
                         hint=f"unset `{'/'.join(path[:depth])}` whole, or set it whole in [daemon]",
                         path=source, key="unset.daemon")
    return path
