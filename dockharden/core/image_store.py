"""Switching the image store hides what the host has: a built-in layer never does it to a populated host.

Pure. `features.containerd-snapshotter` moves dockerd between the graph-driver store (overlay2) and the
containerd image store. Each keeps its own images and containers: after a switch the other store's
are still on disk but out of view until it is switched back. baseline turns the containerd store on,
which is harmless on a new host and a surprise on a busy one, so on a host whose graph-driver store
holds images or containers the built-in layer's key is left out, with a note; an operator's own
layer that sets it is obeyed, and plan warns with the counts (conflicts.store_switch_warning).
"""

from __future__ import annotations

import copy
from typing import Any

from dockharden.model import HostSnapshot, Note, Settings

PATH = ("features", "containerd-snapshotter")


def keep_populated_store(settings: Settings, host: HostSnapshot) -> tuple[Settings, list[Note]]:
    """`settings` without a built-in layer's switch to the containerd store when the graph-driver store
    in use holds images or containers."""
    daemon = settings.table("daemon")
    if (daemon.get("features") or {}).get("containerd-snapshotter") is not True:
        return settings, []
    layer = settings.origin("daemon", PATH)
    if not settings.sources.get(layer, "").startswith("profile:"):
        return settings, []
    if populated_graphdriver(host):
        why = hidden_by_switch(host.image_store)
    elif offline_switch(host):
        why = ("on a root other than / (an image, a chroot) the store's images, containers and volumes cannot be "
               "counted as on a running host, so the image store is not switched")
    else:
        return settings, []
    daemon = copy.deepcopy(daemon)
    del daemon["features"]["containerd-snapshotter"]
    if not daemon["features"]:
        del daemon["features"]
    note = Note("info", f"daemon.json `features.containerd-snapshotter` (from {layer}) left out: "
                        f"{why}; to switch anyway, set it in a layer of your own")
    return settings._replace(tables=dict(settings.tables, daemon=daemon)), [note]


GRAPH_TO_SNAPSHOTTER = {"overlay2": "overlayfs"}
#: The graph drivers Engine 29 registers on Linux (moby docker-v29.7.2 daemon/graphdriver/register/). Without
#: `features.containerd-snapshotter`, a `storage-driver` naming one of them starts Engine 29 on that graph
#: driver, not on its default containerd store (daemon/image_store_choice.go).
GRAPH_DRIVERS = frozenset({"overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs"})


def fit_storage_driver(settings: Settings) -> tuple[Settings, list[Note]]:
    """With the containerd image store, `storage-driver` names a snapshotter: a built-in layer's
    `overlay2` (a graph driver) becomes `overlayfs`. Left as overlay2, dockerd starts, reports the
    containerd store, and then fails every image pull or import ("snapshotter not loaded: overlay2")."""
    daemon = settings.table("daemon")
    driver = daemon.get("storage-driver")
    if (daemon.get("features") or {}).get("containerd-snapshotter") is not True or driver not in GRAPH_TO_SNAPSHOTTER:
        return settings, []
    layer = settings.origin("daemon", ("storage-driver",))
    if not settings.sources.get(layer, "").startswith("profile:"):
        return settings, []  # an operator's choice: conflicts.py refuses the pair with the fix
    daemon = dict(daemon, **{"storage-driver": GRAPH_TO_SNAPSHOTTER[driver]})
    note = Note("info", f"daemon.json `storage-driver` (from {layer}) is `{daemon['storage-driver']}`, the containerd "
                        f"image store's name for {driver}")
    return settings._replace(tables=dict(settings.tables, daemon=daemon)), [note]


def populated_graphdriver(host: HostSnapshot) -> bool:
    """The daemon uses (or, not answering, may use) a graph driver whose store holds something: images,
    containers or volumes."""
    store = host.image_store or {}
    if store.get("store") == "containerd":
        return False
    current = (_current_features(host).get("containerd-snapshotter") is True) and store.get("store") is None
    return not current and bool(store.get("images") or store.get("containers") or store.get("volumes"))


def offline_switch(host: HostSnapshot) -> bool:
    """A switch to the containerd store asked on a root other than / (not the running system), where the
    operator's daemon.json does not already turn it on: nothing there says the store is empty."""
    return host.root not in ("/", "") and _current_features(host).get("containerd-snapshotter") is not True


def _current_features(host: HostSnapshot) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(host.file(host.daemon_json_path).content or b"{}")
    except ValueError:
        return {}
    features = doc.get("features") if isinstance(doc, dict) else None
    return features if isinstance(features, dict) else {}


def hidden_by_switch(store: dict[str, Any] | None) -> str:
    """What a switch of the image store hides, in words, with the counts and where they come from."""
    store = store or {}
    driver = store.get("driver") or "graph driver"
    volumes = f", and {store['volumes']} volume(s) are in use" if store.get("volumes") else ""
    return (f"this host's {driver} store holds {store.get('images', 0)} image(s) and {store.get('containers', 0)} "
            f"container(s) (from {store.get('source', 'the host')}), which the switch would hide from view "
            f"(they stay on disk until it is switched back){volumes}")


# graph drivers moby removed, and the first release without them (daemon/graphdriver/ at v23.0.0, v24.0.0, v25.0.0)
REMOVED_DRIVERS = {"aufs": (24, 0), "overlay": (24, 0), "devicemapper": (25, 0)}


def removed_driver_notes(config: dict[str, Any], settings: Settings, host: HostSnapshot) -> list[Note]:
    """A storage driver the engine removed (or will remove): a finding with the fix, never a silent switch.
    The driver is the operator's daemon.json's, else the running daemon's."""
    from dockharden.core.engine_gating import parse_version

    current = _current_config(host).get("storage-driver") or (host.daemon_info or {}).get("Driver")
    if current not in REMOVED_DRIVERS:
        return []
    gone = REMOVED_DRIVERS[current]
    since = f"{gone[0]}.{gone[1]}"
    version = parse_version(host.engine_version)
    if version is None:
        when = f"Engine {since} removed it"
    elif version >= gone:
        when = f"Engine {since} removed it: this Engine {host.engine_version} does not start with it"
    else:
        when = f"Engine {since} removes it: an upgrade to {since} or later will not start with it"
    store = host.image_store or {}
    held = (f"its {store.get('images', 0)} image(s) and {store.get('containers', 0)} container(s)"
            if store.get("driver") == current else "its images and containers")
    wanted = config.get("storage-driver")
    layer = settings.origin("daemon", ("storage-driver",))
    if layer and wanted and wanted != current:
        return [Note("warning", f"storage-driver `{current}` ({when}) is switched to `{wanted}` by layer {layer}: "
                                f"{held} stay in the {current} store, out of view. Fix: save them first "
                                f"(docker save / docker export), then apply, then load them")]
    return [Note("warning", f"storage-driver `{current}` is in use and {when}; dockharden does not switch it. Fix: "
                            f"save {held} (docker save / docker export), set storage-driver = \"overlay2\" in a "
                            "layer of your own, apply, then load them")]


def _current_config(host: HostSnapshot) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(host.file(host.daemon_json_path).content or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
