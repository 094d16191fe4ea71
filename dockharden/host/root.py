"""The root every host path is read and written under (`--root`): it must be an existing directory.

Reads one directory's status. Checked before a command reads or creates anything, so a mistyped
`--root` is an error naming the path, never an empty host to plan for or a new tree to write.
"""

from __future__ import annotations

import os
import stat

from dockharden.errors import RootError, from_os_error


def require_root(root: str, *, writes: bool) -> None:
    """Refuse a root that does not exist or is not a directory; `writes`: the command would create files."""
    then = "nothing was created" if writes else ""
    shown = root or "--root ''"
    try:
        info = os.stat(root)
    except FileNotFoundError:
        raise RootError("the root directory does not exist",
                        hint="check the path given to --root (" + ("apply and rollback never create it: a typo "
                             "must not grow a new tree" if writes else "nothing was read") + ")",
                        path=shown) from None
    except OSError as exc:
        raise from_os_error(exc, "the root directory cannot be used", path=shown, error=RootError,
                            then=then) from None
    if not stat.S_ISDIR(info.st_mode):
        raise RootError("the root is not a directory",
                        hint="--root takes the directory that holds the host's /etc and /var (an image, a chroot)"
                             + (f"; {then}" if then else ""), path=shown)


def is_running_system(root: str) -> bool:
    """Whether `root` is this machine's own root, whose services can be acted on (not an image, a chroot)."""
    return os.path.realpath(root) == "/"
