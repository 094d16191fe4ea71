"""Defaults yield to the operator: a `[defaults.daemon]` value applies only where the operator has none.

Pure. The operator's daemon.json, as it would be without dockharden (targets/daemon_json.py's
operator_document: every value managed.json recorded given back), decides which default-strength values
stay out of the merged settings. What is left out is remembered in `Settings.kept`, so `plan` can say
"kept: operator's value". A built-in profile's enforced key that cannot work with the operator's explicit
choice (icc without iptables) is left out too, with a finding naming the CIS control that stays failing;
the same key from the operator's own layer is their request and is refused later (core.conflicts).

The unit a default yields in is the top-level key, except in maps whose entries are independent settings
(ENTRY_MAPS: one entry each); a default that belongs with another key (LINKED: log options belong to the
log driver) yields wherever that key is the operator's or an enforcing layer's.
"""

from __future__ import annotations

import copy
from typing import Any

from dockharden.keypaths import get_path, remove_path
from dockharden.model import KeyPath, Note, Settings

ENTRY_MAPS = frozenset({"log-opts", "features", "default-ulimits", "builder", "runtimes"})
SNAPSHOTTER = ("features", "containerd-snapshotter")
LINKED: dict[KeyPath, tuple[KeyPath, ...]] = {
    ("log-opts",): (("log-driver",),),  # a driver's options are its owner's: syslog takes no max-size
    # the containerd image store: not under another storage driver, and it refuses userns-remap
    SNAPSHOTTER: (("storage-driver",), ("userns-remap",)),
    # the driver's name depends on the image store (overlay2 is overlayfs under containerd): the store's owner's
    ("storage-driver",): (SNAPSHOTTER,),
}


# why a linked default stays out, beside who set the key it belongs with
WHY_LINKED = {
    (("log-opts",), ("log-driver",)): "a driver's options belong to whoever chose the driver",
    (SNAPSHOTTER, ("storage-driver",)): "the containerd image store would hide the images and containers of "
                                        "that driver's store",
    (SNAPSHOTTER, ("userns-remap",)): "the containerd image store refuses user namespace remapping (no CIS "
                                      "control depends on the image store)",
    (("storage-driver",), SNAPSHOTTER): "the driver's name depends on the image store",
}


def unit_of(path: KeyPath) -> KeyPath:
    """The setting a default path belongs to: `("log-opts", "max-size")`, `("icc",)`."""
    return path[:2] if path[0] in ENTRY_MAPS and len(path) > 1 else path[:1]


def yield_to_operator(settings: Settings, operator: dict[str, Any]) -> Settings:
    """`settings` without the default-strength daemon values the operator's own document decides."""
    daemon = copy.deepcopy(settings.table("daemon"))
    kept = dict(settings.kept)
    for table, path in sorted(settings.defaulted):
        found, value = get_path(daemon, path)
        if table != "daemon" or not found or (isinstance(value, dict) and value):
            continue  # a map yields entry by entry (its leaves)
        reason = _reason_to_yield(path, settings, operator)
        if reason is None:
            continue
        remove_path(daemon, path)
        had, value = get_path(operator, unit_of(path))
        kept[unit_of(path)] = {"had": had, "value": value, "layer": settings.origin("daemon", path),
                               "because": reason}
    if kept == dict(settings.kept):
        return settings
    return settings._replace(tables=dict(settings.tables, daemon=daemon), kept=kept,
                             provenance=_still_set(settings.provenance, daemon))


def _still_set(provenance: dict, daemon: dict) -> dict:
    """Provenance without the daemon paths a default left: a value that yielded is the operator's, and an
    error about it must not name the layer (`log-driver local (set by layer baseline)`)."""
    return {(table, path): who for (table, path), who in provenance.items()
            if table != "daemon" or get_path(daemon, path)[0]}


def _reason_to_yield(path: KeyPath, settings: Settings, operator: dict[str, Any]) -> str | None:
    if get_path(operator, unit_of(path))[0]:
        return ""  # the operator's own value
    for linked_path, keys in LINKED.items():
        if path[: len(linked_path)] != linked_path:
            continue
        for key in keys:
            name, why = ".".join(key), WHY_LINKED.get((linked_path, key), "")
            if get_path(operator, key)[0]:
                return f"the operator sets {name}" + (f": {why}" if why else "")
            if get_path(settings.table("daemon"), key)[0] and settings.strength("daemon", key) == "enforces":
                return f"{settings.origin('daemon', key)} enforces {name}" + (f": {why}" if why else "")
    return None


def kept_notes(settings: Settings) -> list[Note]:
    """One line per default left to the operator, as `plan` prints it."""
    notes = []
    for path, entry in sorted(settings.kept.items()):
        key = ".".join(path)
        if entry.get("enforced"):
            continue
        if entry["because"]:
            text = f"daemon.json `{key}`: not written ({entry['because']}); {entry['layer']} only defaults this key"
        else:
            text = (f"daemon.json `{key}`: kept: operator's value {_short(entry['value'])}, {entry['layer']} only "
                    "defaults this key")
        notes.append(Note("info", text))
    return notes


def yield_impossible(settings: Settings, operator: dict[str, Any], flags: list[str]) -> tuple[Settings, list[Note]]:
    """A built-in profile's `icc: false` where the operator turned iptables off: dockerd would not start.
    The operator's choice stays, icc is not written, and a finding says CIS 2.2 stays failing. `flags` are
    dockerd's (a rootless unit's included)."""
    daemon = settings.table("daemon")
    layer = settings.origin("daemon", ("icc",))
    why = _iptables_off(settings, operator, flags)
    if daemon.get("icc") is not False or not settings.sources.get(layer, "").startswith("profile:") or not why:
        return settings, []
    daemon = {k: v for k, v in daemon.items() if k != "icc"}
    kept = {**settings.kept, ("icc",): {"had": "icc" in operator, "value": operator.get("icc"), "layer": layer,
                                         "because": why, "enforced": True}}
    note = Note("warning", f"finding: CIS v1.8.0 2.2 (icc) stays failing: {layer} enforces `icc: false`, but {why}, "
                           "and dockerd does not start with icc false without iptables; icc is not written and the "
                           "operator's choice is kept. Fix: turn iptables back on (remove `iptables: false` or "
                           "--iptables=false), then plan again")
    return settings._replace(tables=dict(settings.tables, daemon=daemon), kept=kept), [note]


def ungrantable_ulimits(config: dict[str, Any], daemon) -> list[tuple[str, int, int]]:
    """(name, Hard, dockerd's limit) for each `default-ulimits` entry of `config` above dockerd's own hard
    limit where dockerd cannot raise it (no CAP_SYS_RESOURCE): every container would fail to start with it.
    `daemon` is the host's DaemonFacts (None: no daemon to ask, nothing to judge)."""
    if daemon is None or daemon.can_raise_limits:
        return []
    found = []
    for name, spec in (config.get("default-ulimits") or {}).items():
        hard = spec.get("Hard", spec.get("hard")) if isinstance(spec, dict) else None
        limit = daemon.hard_limits.get(name)
        if isinstance(hard, int) and limit is not None and hard > limit:
            found.append((name, hard, limit))
    return found


def yield_ungrantable(settings: Settings, daemon) -> Settings:
    """A default `default-ulimits` entry whose Hard is above dockerd's own hard limit, where dockerd cannot
    raise it (no CAP_SYS_RESOURCE): every container would fail to start with it, so the default yields to the
    limit the host's daemon has (containers inherit that), and plan says so. `daemon` is the host's
    DaemonFacts (None: no daemon to ask). An enforced value is the layer's request and is refused later
    (core.conflicts), naming the limit."""
    table = copy.deepcopy(settings.table("daemon"))
    kept = dict(settings.kept)
    for name, hard, limit in ungrantable_ulimits(table, daemon):
        path = ("default-ulimits", name)
        if not any(t == "daemon" and d[:2] == path for t, d in settings.defaulted):
            continue
        remove_path(table, path)
        kept[path] = {"had": False, "value": None, "layer": settings.origin("daemon", path),
                      "because": f"Hard {hard} is above dockerd's own hard limit {limit} here, which it cannot raise "
                                 f"(no CAP_SYS_RESOURCE): containers keep dockerd's {limit}"}
    if kept == dict(settings.kept):
        return settings
    if not table.get("default-ulimits"):
        table.pop("default-ulimits", None)
    return settings._replace(tables=dict(settings.tables, daemon=table), kept=kept,
                             provenance=_still_set(settings.provenance, table))


def _iptables_off(settings: Settings, operator: dict[str, Any], flags: list[str]) -> str:
    if "--iptables=false" in flags:
        return "dockerd runs with --iptables=false"
    if operator.get("iptables") is False:
        return "the operator's daemon.json sets `iptables: false`"
    if settings.table("daemon").get("iptables") is False:
        return f"{settings.origin('daemon', ('iptables',))} sets `iptables: false`"
    return ""


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."
