"""The rootless daemon of one user: where its daemon.json, pidfile and socket are, and its flags.

Reads the host (passwd, the user's systemd unit). Under RootlessKit dockerd reads
~/.config/docker/daemon.json, writes $XDG_RUNTIME_DIR/docker.pid and listens on
$XDG_RUNTIME_DIR/docker.sock; XDG_RUNTIME_DIR is /run/user/<uid> under systemd.
"""


import shlex
from typing import NamedTuple

from dockharden.errors import LayerError
from dockharden.host.fs import HostFS

PASSWD = "/etc/passwd"


class RootlessUser(NamedTuple):  # a value: model.py's idiom
    name: str
    uid: int
    gid: int
    home: str

    @property
    def daemon_json(self) -> str:
        return f"{self.home.rstrip('/')}/.config/docker/daemon.json"

    @property
    def runtime_dir(self) -> str:
        return f"/run/user/{self.uid}"

    @property
    def socket(self) -> str:
        return f"{self.runtime_dir}/docker.sock"

    @property
    def pidfile(self) -> str:
        return f"{self.runtime_dir}/docker.pid"

    @property
    def unit(self) -> str:
        return f"{self.home.rstrip('/')}/.config/systemd/user/docker.service"


def find_user(root: str, name: str | None) -> RootlessUser:
    """The rootless daemon's user from /etc/passwd under root."""
    if not name:
        raise LayerError("the rootless layer needs the daemon's user",
                         hint="pass --user NAME, or set [rootless] user = \"NAME\" in a layer", key="rootless.user")
    for line in (HostFS(root).read(PASSWD).content or b"").decode(errors="replace").splitlines():
        parts = line.split(":")
        if len(parts) >= 6 and parts[0] == name:
            return RootlessUser(name, int(parts[2]), int(parts[3]), parts[5])
    raise LayerError(f"user `{name}` does not exist", hint="name the user who runs the rootless daemon",
                     path=PASSWD, key="rootless.user")


def unit_flags(root: str, user: RootlessUser) -> list[str]:
    """Flags of the user's docker.service ExecStart (dockerd-rootless.sh passes them to dockerd)."""
    flags: list[str] = []
    for line in HostFS(root).read_text(user.unit).splitlines():
        if line.strip().startswith("ExecStart="):
            flags = [a for a in shlex.split(line.split("=", 1)[1])[1:] if a.startswith("-")]
    return flags
