"""The per-host selection of layers, persisted in /etc/dockharden/dockharden.toml.

Pure: parses, checks and renders that file (read with tomllib, written with tomlkit so the operator's
comments and layout stay); apply writes it as a planned change inside a generation, like every other
file. Flags given on the command line override what the file says.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from dockharden.core.layers import DEFAULT_PROFILES
from dockharden.core.schema import suggest
from dockharden.core.values import Invalid, checked, duplicates, unprivileged_user
from dockharden.errors import HostFileError, LayerError
from dockharden.model import CONFIG_PATH, HostFile, RenderedFile, Selection


def parse_config(content: bytes | None, path: str = CONFIG_PATH) -> dict[str, Any]:
    """The host's dockharden.toml as a dict ({} when absent), its values checked."""
    if not content:
        return {}
    try:
        config = tomllib.loads(content.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HostFileError(f"invalid TOML: {exc}", hint="fix the file or remove it", path=path) from None
    except (ValueError, RecursionError) as exc:  # absurd numbers or nesting
        raise HostFileError(f"cannot be read ({exc.__class__.__name__})", hint="fix the file or remove it",
                            path=path) from None
    check_config(config, path)
    return config


def choose_selection(config: dict[str, Any], profiles: list[str] | None, layers: list[str] | None) -> Selection:
    """Flags win; else the persisted selection; else the built-in default. Refuses an empty name, a
    duplicate, and a selection without a profile."""
    saved_profiles = config.get("profiles")
    saved_layers = config.get("layers", [])
    if profiles is None and layers is None and saved_profiles is not None:
        return Selection(tuple(saved_profiles), layers=tuple(saved_layers), source=CONFIG_PATH)
    if profiles is not None:
        check_profiles(profiles, key="--profile")
    if layers is not None:
        check_layers(layers, key="--layer")
    chosen = tuple(profiles) if profiles is not None else tuple(saved_profiles or DEFAULT_PROFILES)
    source = "command line" if profiles or layers else "default"
    profiles_from = source if profiles is not None else CONFIG_PATH if saved_profiles is not None else "default"
    return Selection(chosen, layers=tuple(str(Path(p).absolute()) for p in layers or ()), source=source,
                     profiles_from=profiles_from, layers_from=source)


def describe_selection(selection: Selection) -> str:
    """`profiles baseline (from /etc/dockharden/dockharden.toml), layers /srv/site.toml (from command line)`;
    one `(from X)` when both parts came from the same place."""
    if selection.source == "rollback":
        return "a rollback (files as an earlier generation left them)"
    profiles = f"profiles {', '.join(selection.profiles) or '-'}"
    layers = f"layers {', '.join(selection.layers)}" if selection.layers else "no layer files"
    profiles_from = selection.profiles_from or selection.source
    layers_from = selection.layers_from or selection.source
    if profiles_from == layers_from:
        return (f"{profiles}, {layers}" if selection.layers else profiles) + f" (from {selection.source})"
    return f"{profiles} (from {profiles_from}), {layers} (from {layers_from})"


def split_profiles(text: str | None) -> list[str] | None:
    """'baseline,userns' -> ['baseline', 'userns']; None stays None (not given); empty names are kept,
    for choose_selection to refuse ('' must not select nothing)."""
    if text is None:
        return None
    return [p.strip() for p in text.split(",")]


def check_profiles(names: list[str], *, key: str, path: str = "") -> None:
    """At least one profile; no empty name; none twice. (Unknown names: profiles.load_builtin.)"""
    hint = "name built-in profiles, comma separated: e.g. baseline,userns (`dockharden profiles` lists them)"
    if not names or not all(isinstance(n, str) for n in names) or not any(n.strip() for n in names):
        raise LayerError("the selection names no profile: it would strip every setting dockharden manages",
                         hint=hint + "; to undo dockharden, `dockharden rollback --to 0001`", path=path, key=key)
    if not all(n.strip() for n in names):
        raise LayerError(f"an empty profile name in `{','.join(names)}`", hint=hint, path=path, key=key)
    twice = duplicates(names)
    if twice:
        raise LayerError(f"profile `{twice[0]}` is selected twice", hint="name each profile once", path=path, key=key)


def check_layers(files: list[str], *, key: str, path: str = "") -> None:
    """No empty path; no file twice (by where it is, however it was written)."""
    if not all(isinstance(f, str) and f.strip() for f in files):
        raise LayerError("an empty layer file name", hint="give the path of a TOML or JSON layer file",
                         path=path, key=key)
    twice = duplicates(str(Path(f).resolve()) for f in files)
    if twice:
        raise LayerError(f"layer file `{twice[0]}` is selected twice", hint="give each layer file once", path=path,
                         key=key)


SERVICE_MANAGERS = ("auto", "systemd", "sysvinit", "command", "rootless")


def check_config(config: dict[str, Any], path: str = CONFIG_PATH) -> None:
    """The values dockharden.toml may hold: the selection, [service] and [docker]."""
    known = ("profiles", "layers", *CONFIG_CHECKS)
    for key in config:  # `profile =` would be ignored, and the host silently get the default profiles
        close = suggest(key, known)
        table = next((t for t, checks in CONFIG_CHECKS.items() if key in checks), None)
        if key not in known and (close or table):  # the operator's own tables (`[site]`) are theirs to keep
            raise HostFileError(f"unknown key `{key}`" + (close if close else f": a key of [{table}]"), path=path,
                                key=key, hint=f"put it under [{table}]" if table and not close else
                                "dockharden.toml holds `profiles`, `layers` and the tables "
                                + ", ".join(f"[{k}]" for k in CONFIG_CHECKS))
    for key in ("profiles", "layers"):
        if key in config and not (isinstance(config[key], list) and all(isinstance(v, str) for v in config[key])):
            example = "baseline" if key == "profiles" else "/etc/dockharden/layers/site.toml"
            raise HostFileError(f"`{key}` must be a list of strings", path=path, key=key,
                                hint=f'write it like {key} = ["{example}"]')
    if "profiles" in config:
        check_profiles(config["profiles"], key="profiles", path=path)
    if "layers" in config:
        check_layers(config["layers"], key="layers", path=path)
        relative = next((f for f in config["layers"] if not f.startswith("/")), None)
        if relative is not None:
            raise HostFileError(f"layer file `{relative}` is not an absolute path: it would be looked for in "
                                "whatever directory dockharden runs from", hint="write its full path",
                                path=path, key="layers")
    for table, checks in CONFIG_CHECKS.items():
        section = config.get(table, {})
        if not isinstance(section, dict):
            raise HostFileError(f"`{table}` must be a table", hint=f"write it as [{table}]", path=path, key=table)
        for name in section:
            if name not in checks:
                raise HostFileError(f"unknown key `{name}` in [{table}]{suggest(name, checks)}", path=path,
                                    key=f"{table}.{name}", hint=f"[{table}] holds " + ", ".join(checks))
        for name, check in checks.items():
            if name in section:
                checked(check, section[name], path=path, key=f"{table}.{name}", error=HostFileError)


def _manager(value: Any) -> str:
    if value not in SERVICE_MANAGERS:
        raise Invalid(f"unknown service manager {json.dumps(value, default=str)}",
                      "use one of " + ", ".join(SERVICE_MANAGERS))
    return value


def _command(value: Any) -> Any:
    if isinstance(value, str) and value.strip() or (isinstance(value, list) and value
                                                     and all(isinstance(v, str) and v for v in value)):
        return value
    raise Invalid("not a command", 'give a list of strings, e.g. ["/usr/local/bin/restart-docker"], or one string')


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 3600:
        raise Invalid(f"timeout {json.dumps(value, default=str)} is not a number of seconds from 1 to 3600",
                      "e.g. timeout = 90")
    return float(value)


def _string(check):
    def string_check(value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"expected a string; found {json.dumps(value, default=str)[:40]}", "quote the value")
        return check(value)
    return string_check


def _unix_host(value: str) -> str:
    if not value.startswith("unix:///"):
        raise Invalid(f"`{value}` is not a unix socket", 'dockharden talks to dockerd over its unix socket: '
                      'host = "unix:///var/run/docker.sock"')
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise Invalid(f"`{value}` is not an absolute path", 'e.g. log_file = "/var/log/dockerd.log"')
    return value


CONFIG_CHECKS = {
    "service": {"manager": _manager, "restart_command": _command, "reload_command": _command,
                "timeout": _timeout, "user": _string(unprivileged_user)},
    "docker": {"host": _string(_unix_host), "log_file": _string(_absolute)},
}


HEADER = "# dockharden's selection for this host; `dockharden plan` without flags uses it.\n"


def selection_file(current: HostFile, selection: Selection) -> RenderedFile | None:
    """dockharden.toml as apply would leave it: the selection written in when it did not come from the
    file. A planned change like any other file, so it is backed up, recorded and rolled back with the
    generation; None when the file is the selection's source (nothing to write)."""
    if selection.source == CONFIG_PATH:
        return None
    from dockharden.targets.daemon_json import kept_mode

    content = current.content if holds(current.content, selection) else render_config(current.content, selection)
    return RenderedFile("selection", path=CONFIG_PATH, content=content, mode=kept_mode(current, 0o644))


def _toml_array(values) -> str:
    import json

    # a TOML basic string is a JSON string, escapes and all (json never writes the \\/ TOML lacks), except
    # that TOML also wants DEL escaped
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f") for v in values) + "]"


def holds(content: bytes | None, selection: Selection) -> bool:
    """Whether the file already says this selection (then tomlkit, slow to import, is not needed)."""
    try:
        doc = tomllib.loads(content.decode("utf-8-sig")) if content else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return doc.get("profiles") == list(selection.profiles) and doc.get("layers", []) == list(selection.layers)


def render_config(content: bytes | None, selection: Selection) -> bytes:
    """dockharden.toml with the selection written in, and every comment, table, value and blank line of
    the operator's file kept as it was (tomlkit round-trips them; the standard library cannot write TOML).
    A key whose value is already right is not touched, so its layout stays too. A new file needs no
    round-trip: it is written directly, as tomlkit would write it (tomlkit is slow to import: docs/performance.md)."""
    if not content:
        lines = [f"profiles = {_toml_array(selection.profiles)}"]
        lines += [f"layers = {_toml_array(selection.layers)}"] if selection.layers else []
        return (HEADER + "\n".join(lines) + "\n").encode()
    import tomlkit  # only when an operator's file may have to be changed

    doc = tomlkit.parse(content.decode("utf-8-sig")) if content else tomlkit.parse(HEADER)
    for key, value in (("profiles", list(selection.profiles)), ("layers", list(selection.layers))):
        now = doc[key].unwrap() if key in doc else ([] if key == "layers" else None)  # no layers: none
        if now != value:
            doc[key] = value
    return tomlkit.dumps(doc).encode()
