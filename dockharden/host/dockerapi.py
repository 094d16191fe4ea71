"""Talk to the Docker Engine API over its unix socket with the standard library only.

Touches the machine (a socket). Cheaper than running the docker CLI and needs no client installed.
"""

from __future__ import annotations

import json
from typing import Any


def get_json(socket_path: str, path: str, timeout: float = 5.0) -> Any:
    """GET `path` (e.g. '/version') from the daemon; None when it does not answer."""
    body = get_body(socket_path, path, timeout)
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def get_stream(socket_path: str, path: str, timeout: float = 5.0) -> list[Any]:
    """GET an endpoint that answers with a sequence of JSON objects (events); [] when none."""
    body = get_body(socket_path, path, timeout) or b""
    decoder, text, items, at = json.JSONDecoder(), body.decode(errors="replace"), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return items
        try:
            item, at = decoder.raw_decode(text, at)
        except ValueError:
            return items
        items.append(item)


def running_containers(socket_path: str) -> list[tuple[dict, dict]] | None:
    """Each running container as (its GET /containers/json entry, its /containers/{id}/json); None when the
    daemon does not answer. A container gone in between is left out."""
    listed = get_json(socket_path, "/containers/json")
    if not isinstance(listed, list):
        return None
    found = []
    for entry in listed:
        ident = entry.get("Id") if isinstance(entry, dict) else None
        detail = get_json(socket_path, f"/containers/{ident}/json") if isinstance(ident, str) else None
        if isinstance(detail, dict):
            found.append((entry, detail))
    return found


def ping(socket_path: str, timeout: float = 2.0) -> bool:
    """True when the daemon answers /_ping."""
    return get_body(socket_path, "/_ping", timeout) == b"OK"


def get_body(socket_path: str, path: str, timeout: float = 5.0) -> bytes | None:
    """The body of a 200 answer, or None."""
    import socket  # an offline root (an image) never talks to a daemon

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            raw = _read_all(sock)
    except OSError:
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split(b" ")
    return body if len(status) > 1 and status[1] == b"200" else None


def _read_all(sock) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
