"""Whose file is it? dockharden writes a whole file only where it created that file, for that purpose.

Pure. Two kinds of target: merged files (daemon.json, after.rules), where the operator's content is kept
and dockharden changes only what layers set; and whole files (audit rules, the seccomp profile, the
systemd drop-in, TLS certificates and keys), which dockharden writes from scratch. A whole file may be
written only where nothing is, or where dockharden created it for the same purpose (recorded in
managed.json's `created`, or, for hosts from before that record, in a generation's journal); changing
only the mode and owner of an operator's file (TLS files, CIS 3.x) is allowed. Paths come from layers,
so they are checked too: absolute, and one file per purpose.
"""

from __future__ import annotations

from dockharden.errors import ConflictError
from dockharden.model import HostSnapshot, RenderedFile

LEGACY = "an earlier apply"
MERGED_TARGETS = frozenset({"daemon.json", "ufw", "selection", "restore"})
HINTS = {
    "audit": "rename it (for example to 10-docker-local.rules): auditd loads it as before, and dockharden does "
             "not duplicate the watches it has",
    "seccomp": "move it elsewhere and point a layer's [daemon] seccomp-profile at it, or turn off [seccomp] "
               "mode = \"strict\"",
    "systemd": "rename your drop-in (dockharden owns dockharden.conf)",
    "prune": "rename your unit (dockharden owns dockharden-prune.service and dockharden-prune.timer)",
    "nftables": "move your file away (dockharden owns /etc/dockharden/nftables/dockharden.nft and "
                "dockharden-nftables.service)",
    "tls": "point tlscacert, tlscert and tlskey at files of your own CA (dockharden then only checks them), "
           "or move the file away to let dockharden create its own",
}


def check_ownership(rendered: list[RenderedFile], host: HostSnapshot) -> dict[str, str]:
    """Raise ConflictError for a whole file dockharden would write over someone else's file; return the
    `created` record after this plan (path -> the target that created it)."""
    _one_file_per_path(rendered)
    created = dict(host.created)
    for new in rendered:
        if new.target in MERGED_TARGETS:
            continue
        if not new.path.startswith("/"):
            raise ConflictError(f"`{new.path}` is a relative path; dockerd and dockharden would disagree on "
                                "where it is", hint="write an absolute path", path=new.path, key=new.target)
        old = host.file(new.path)
        ours = created.get(new.path)
        if ours == LEGACY:  # recorded by a version that did not name the target
            ours = new.target
        if ours is not None and ours != new.target:
            raise ConflictError(f"dockharden created this file for `{ours}`, and `{new.target}` would now write "
                                "it too", hint="give each file its own path in the layers", path=new.path)
        if old.symlink_target and new.content != old.content:  # we never make links: writing follows it
            raise _not_ours(new, old.symlink_target)
        if old.exists and ours is None and new.content is not None and old.content != new.content:
            raise _not_ours(new, None)
        if new.content is None:
            created.pop(new.path, None)
        elif not old.exists or ours is not None:
            created[new.path] = new.target
    return created


def _one_file_per_path(rendered: list[RenderedFile]) -> None:
    seen: dict[str, str] = {}
    for new in rendered:
        if new.path in seen:
            who = f"both `{seen[new.path]}` and `{new.target}`" if seen[new.path] != new.target else \
                f"two of `{new.target}`'s files"
            raise ConflictError(f"{who} would write this file",
                                hint="give each file its own path in the layers (tlscert, tlskey, tlscacert "
                                     "and seccomp-profile must differ from each other and from the managed "
                                     "files)", path=new.path)
        seen[new.path] = new.target


def _not_ours(new: RenderedFile, link: str | None) -> ConflictError:
    what = f"is a symlink to {link}, and" if link else "exists and"
    return ConflictError(f"{what} dockharden did not create it; writing `{new.target}` there would replace "
                         "someone else's file", hint=HINTS.get(new.target, "move it away first"), path=new.path)
