"""Read a file the operator names outside the root (a layer): a regular file, and a bounded one.

Touches the machine (reads that one file). A FIFO would block dockharden forever and a device such as
/dev/zero would feed it until memory runs out, so anything but a regular file is refused, judged on the
opened descriptor (a path swapped after a check cannot slip one in), and at most `limit` bytes are read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockharden.errors import DockhardenError, from_os_error
from dockharden.host.fs import read_at_most

KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}
# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; O_NOCTTY: a terminal given
# by mistake never becomes dockharden's controlling terminal.
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def read_regular_file(path: Path, *, limit: int, error: type[DockhardenError] = DockhardenError,
                      named_in: str = "on the command line", fix: str = "give the path of a regular file") -> bytes:
    """The bytes of `path`, which must be a regular file of at most `limit` bytes; else `error`.

    `named_in` says where the operator gave the path (for a path that does not exist); `fix` how to give
    a regular file instead.
    """
    # Opening some devices acts on the hardware (a watchdog arms, a tape rewinds): what the path names
    # now is refused before it is opened. The decision that counts is made on the descriptor below.
    _refuse_kind(_status(path, error, named_in), path, error, fix)
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        raise from_os_error(exc, "cannot open it", path=str(path), error=error) from None
    try:
        info = os.fstat(fd)
        _refuse_kind(info, path, error, fix)
        if info.st_size > limit:
            raise _too_large(path, f"{info.st_size} bytes", limit, error)
        data = read_at_most(fd, limit + 1, str(path), error)
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after fstat, or says size 0 and has more (a /proc file)
        raise _too_large(path, f"more than {limit} bytes", limit, error)
    return data


def _status(path: Path, error: type[DockhardenError], named_in: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise error("not found", hint=f"check the path given {named_in}", path=str(path)) from None
    except OSError as exc:
        raise from_os_error(exc, "cannot read it", path=str(path), error=error) from None


def _refuse_kind(info: os.stat_result, path: Path, error: type[DockhardenError], fix: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise error(f"is {kind}, not a regular file; dockharden reads only regular files here", hint=fix,
                    path=str(path))


def _too_large(path: Path, size: str, limit: int, error: type[DockhardenError]) -> DockhardenError:
    most = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"
    return error(f"is {size}, more than the {most} dockharden reads from such a file",
                 hint="check that this is the right file", path=str(path))


def read_layer_file(path: Path) -> bytes:
    """An operator's layer file: a regular file of at most core.layers.LAYER_LIMIT bytes."""
    from dockharden.core.layers import LAYER_LIMIT
    from dockharden.errors import LayerError

    return read_regular_file(path, limit=LAYER_LIMIT, error=LayerError,
                             named_in="to --layer or in /etc/dockharden/dockharden.toml",
                             fix="a layer is a TOML or JSON file: write the settings to one and give its path")


def load_layers(selection):
    """The selection's layers, the operator's files read from this machine (core.layers parses them)."""
    from dockharden.core import layers

    return layers.load_layers(selection, read_layer_file)


def load_layer_file(path: Path):
    from dockharden.core import layers

    return layers.load_layer_file(path, read_layer_file)
