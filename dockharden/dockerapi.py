"""Talk to the Docker Engine API over its unix socket with the standard library only.

Touches the machine (a socket). Cheaper than running the docker CLI and needs no client installed.
"""

from __future__ import annotations

import json
import socket
from typing import Any


def get_json(socket_path: str, path: str, timeout: float = 5.0) -> Any:
    """GET `path` (e.g. '/version') from the daemon; None when it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            raw = _read_all(sock)
    except OSError:
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
