#!/usr/bin/python
# Apache-2.0
"""Ansible module: run dockharden on the managed host through its Python library."""

from __future__ import annotations

DOCUMENTATION = r"""
module: harden
short_description: Harden a Docker host with dockharden
version_added: "0.1.0"
description:
  - Merges dockharden's layers into the host's managed files (daemon.json, audit rules, the ufw
    DOCKER-USER block, the seccomp profile, TLS files) and makes them effective.
  - In check mode it runs dockharden's plan and reports C(changed) without touching the host; with
    C(--diff) it shows each file's before and after (private keys are never shown).
  - A real run applies with dockharden's backups, atomic writes, least disruptive reload or restart,
    verification of the effective state and automatic rollback. A failed apply fails the task with
    dockharden's message and leaves the host as it was.
  - Uses the dockharden library installed on the managed host (Python 3.11+); it does not run the CLI.
options:
  profiles:
    description: Built-in layers, in order. Omitted means the host's saved selection, else C(baseline).
    type: list
    elements: str
  layers:
    description: Paths of layer files on the managed host, merged after the profiles.
    type: list
    elements: str
  root:
    description: Read and write every host path under this directory (an image, a chroot).
    type: str
    default: /
  restart:
    description: Reload or restart services as the plan says. C(false) writes files only (C(--no-restart)).
    type: bool
    default: true
  state:
    description: C(applied) makes the layers effective; C(rolled_back) restores the files as they were
      before I(generation) (or undoes the last apply when I(generation) is omitted).
    type: str
    choices: [applied, rolled_back]
    default: applied
  generation:
    description: With I(state=rolled_back), the generation id to go back before.
    type: str
  user:
    description: The rootless daemon's user, with the C(rootless) profile.
    type: str
  engine_version:
    description: Plan for this Engine version instead of asking dockerd.
    type: str
  stop_containers_for_store_switch:
    description: When the restart moves dockerd to another data root or image store (userns-remap,
      C(data-root), C(features.containerd-snapshotter), C(storage-driver)) while containers run, stop them
      (docker stop) before the restart so that none is left running without a daemon
      (C(--stop-containers-for-store-switch)). Without it the task fails, naming the containers, and nothing
      is written. The plan's C(store_switch) says what the switch does.
    type: bool
    default: false
  service:
    description: Overrides of dockharden.toml's C([service]) and C([docker]) settings for this run
      (manager, restart_command, reload_command, timeout, user, host, log_file).
    type: dict
  close_published_ports:
    description: Let the firewall (the DOCKER-USER block, or the nftables layer's table) close running
      containers' published ports to outside sources. Without it (and without C(close_published_ports = true)
      in the layer table of that firewall, C([ufw]) or C([nftables])) a run whose firewall would close a
      serving port fails, names the ports, and writes nothing; check mode reports
      them in I(published_ports_closed). To keep a port open, list it in a layer's C(allow_ports).
    type: bool
    default: false
  adopt_ufw_docker:
    description: Adopt chaifeng/ufw-docker's block (C(# BEGIN UFW AND DOCKER) ... C(# END UFW AND DOCKER)) in
      C(/etc/ufw/after.rules) and C(after6.rules) (C(--adopt-ufw-docker)) - it is replaced by dockharden's
      DOCKER-USER block, which keeps what it allowed (its private sources join C(allow_sources) unless a
      layer sets them; its jump to C(ufw-user-forward), where C(ufw route allow) rules live, stays). Without
      it (and without C(adopt_ufw_docker = true) in a layer's C([ufw]) table) such a block fails the task and
      nothing is written. The plan's notes say what was carried over.
    type: bool
    default: false
author:
  - dockharden developers
"""

EXAMPLES = r"""
- name: Harden with the baseline and userns layers
  dockharden.host.harden:
    profiles: [baseline, userns]
    layers: [/etc/dockharden/layers/site.toml]

- name: Go back to how the host was before dockharden
  dockharden.host.harden:
    state: rolled_back
    generation: "0001"
"""

RETURN = r"""
result:
  description: C(applied), C(unchanged), C(rolled_back) or C(failed); C(planned) in check mode.
  type: str
  returned: always
generation:
  description: The generation id this run recorded.
  type: str
  returned: when something was applied
services:
  description: The service actions taken (or planned, in check mode).
  type: list
  returned: always
plan:
  description: dockharden's plan document (format_version, changes, services, notes). When the task
    fails, its changes come without their diffs (C(--diff) shows each file's before and after).
  type: dict
  returned: always
recovered:
  description: Interrupted runs found and undone before this one.
  type: list
  returned: when not in check mode
published_ports_closed:
  description: The published ports of running containers that the plan's DOCKER-USER block closes to
    outside sources (container, host_ip, host_port, container_port, proto, open_to), the C(allow_ports)
    line that keeps them open (keep_open), and whether this run closes them (takes_effect); null when it
    closes none. Also returned when the task fails because no one chose to close them.
  type: dict
  returned: always
workload:
  description: What the run did to the running workload, measured before and after it (containers_stopped,
    ports_stopped_answering on the host, ports_closed_to_outside as planned); null when not measured.
  type: dict
  returned: when not in check mode
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from dockharden import api, report
    from dockharden.errors import DockhardenError, PortsClosedError
    HAS_DOCKHARDEN = True
except ImportError:  # reported by the module, with the fix
    HAS_DOCKHARDEN = False


def file_diffs(plan):
    """Ansible's diff format, one entry per changed file; private keys are not shown."""
    diffs = []
    for change in plan.changes:
        def text(data, secret=change.new.secret):
            if data is None:
                return ""
            return "(private key: content not shown)\n" if secret else data.decode("utf-8", errors="replace")
        diffs.append({"before_header": change.path if change.old.exists else "(absent)",
                      "after_header": change.path if change.new.content is not None else "(absent)",
                      "before": text(change.old.content), "after": text(change.new.content)})
    return diffs


def run(module):
    params = module.params
    request = api.Request(root=params["root"], profiles=params["profiles"], layers=params["layers"],
                          engine_version=params["engine_version"], user=params["user"],
                          service=params["service"] or None,
                          stop_for_store_switch=params["stop_containers_for_store_switch"],
                          adopt_ufw_docker=params["adopt_ufw_docker"])
    restart = params["restart"]
    if params["state"] == "rolled_back":
        if module.check_mode:
            outcome = api.rollback(request, to=params["generation"], dry_run=True)
        else:
            outcome = api.rollback(request, to=params["generation"], restart=restart)
    elif module.check_mode:
        outcome = api.Outcome(api.make_plan(request, restart=restart))
    else:
        outcome = apply_or_refuse(module, request, restart)
    plan_doc = report.plan_document(outcome.plan, params["root"])
    found = {"plan": plan_doc, "diff": file_diffs(outcome.plan), "changed": outcome.plan.has_changes,
             "services": plan_doc["services"], "published_ports_closed": plan_doc["published_ports_closed"]}
    if outcome.result is None:
        return dict(found, result="planned")
    result = outcome.result
    found.update(result=result.result, generation=result.generation, services=list(result.services),
                 recovered=list(outcome.recovered), changed=result.result != "unchanged",
                 workload=report.aftermath_document(result.aftermath))
    if not result.ok:
        # a failed task prints its whole result: the plan without each file's diff (--diff shows them)
        found["plan"] = dict(plan_doc, changes=[{k: v for k, v in c.items() if k != "diff"}
                                                for c in plan_doc["changes"]])
        module.fail_json(msg=failure_message(result), **found)
    return found


def apply_or_refuse(module, request, restart):
    """apply, asking no one: a firewall that closes serving ports needs close_published_ports (or a layer's
    choice); refused, the task fails naming them, with the plan that would have closed them."""
    try:
        return api.apply(request, restart=restart, close_published_ports=module.params["close_published_ports"])
    except PortsClosedError as exc:
        module.fail_json(msg=exc.paragraph(), result="refused", changed=False,
                         published_ports_closed=report.closure_document(exc.closure))


def failure_message(result):
    """dockharden's messages as one line: why it failed, then what was done about it."""
    return "; ".join(m.strip().rstrip(".") for m in result.messages if m.strip()) or f"dockharden: {result.result}"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profiles=dict(type="list", elements="str"),
            layers=dict(type="list", elements="str"),
            root=dict(type="str", default="/"),
            restart=dict(type="bool", default=True),
            state=dict(type="str", default="applied", choices=["applied", "rolled_back"]),
            generation=dict(type="str"),
            user=dict(type="str"),
            engine_version=dict(type="str"),
            service=dict(type="dict"),
            stop_containers_for_store_switch=dict(type="bool", default=False),
            close_published_ports=dict(type="bool", default=False),
            adopt_ufw_docker=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if not HAS_DOCKHARDEN:
        module.fail_json(msg=missing_required_lib("dockharden (pip install dockharden, Python 3.11+)")
                         + " If dockharden is installed in a venv, set ansible_python_interpreter to its Python"
                           " (e.g. /opt/dockharden/bin/python); the role dockharden.host.install puts it there.")
    try:
        module.exit_json(**run(module))
    except DockhardenError as exc:
        module.fail_json(msg=exc.paragraph())


if __name__ == "__main__":
    main()
