"""The rootless layer on a directory root: the user's daemon.json, its owner, and the refusals."""

import json
from datetime import UTC

import pytest

from dockharden.api import build_plan
from dockharden.errors import ConflictError, LayerError
from dockharden.host.facts import Context
from dockharden.host.runner import Runner
from dockharden.model import Selection


class NoTools(Runner):
    def which(self, program):
        return None


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nci:x:1001:1002::/home/ci:/bin/sh\n")
    return tmp_path


def plan(root, *layers, user="ci", profiles=("baseline", "rootless")):
    paths = []
    for i, text in enumerate(layers):
        p = root / f"layer{i}.toml"
        p.write_text(text)
        paths.append(str(p))
    ctx = Context(root=str(root), runner=NoTools(), engine_version="27.1.0", user=user)
    return build_plan(ctx, Selection(tuple(profiles), layers=tuple(paths), source="test"))


def test_the_rootless_users_daemon_json_is_the_target_owned_by_that_user(root):
    p = plan(root)
    change = next(c for c in p.changes if c.target == "daemon.json")
    assert change.path == "/home/ci/.config/docker/daemon.json"
    assert (change.new.uid, change.new.gid) == (1001, 1002)
    assert "userns-remap" not in json.loads(change.new.content)
    assert p.rootless_user == "ci" and p.docker_socket == "/run/user/1001/docker.sock"


def test_the_rootless_layer_needs_a_user_that_exists(root):
    with pytest.raises(LayerError, match="needs the daemon's user"):
        plan(root, user=None)
    with pytest.raises(LayerError, match="does not exist"):
        plan(root, user="nobody-here")


def test_userns_remap_set_again_after_the_rootless_layer_is_refused(root):
    with pytest.raises(ConflictError, match="rootless"):
        plan(root, '[daemon]\nuserns-remap = "default"\n')


def _unit_without_iptables(root):
    unit = root / "home/ci/.config/systemd/user/docker.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/dockerd-rootless.sh --iptables=false\n")


def test_baselines_icc_is_not_written_when_the_rootless_unit_turns_iptables_off_and_a_finding_says_so(root):
    # issue 21: baseline's enforced icc yields to the operator's --iptables=false (it was refused before)
    _unit_without_iptables(root)
    p = plan(root)
    change = next(c for c in p.changes if c.target == "daemon.json")
    assert "icc" not in json.loads(change.new.content)
    assert any("CIS v1.8.0 2.2" in n.message and "--iptables=false" in n.message for n in p.notes)


def test_icc_false_from_the_operators_own_layer_is_refused_when_the_rootless_unit_turns_iptables_off(root):
    _unit_without_iptables(root)
    with pytest.raises(ConflictError, match="--iptables=false"):
        plan(root, "[daemon]\nicc = false\n")


def test_cgroup_settings_are_refused_without_cgroup_v2_and_systemd(root):
    with pytest.raises(ConflictError, match="cgroup v2"):
        plan(root, '[daemon]\ncgroup-parent = "docker.slice"\n')


def test_tcp_hosts_are_refused_for_a_rootless_daemon(root):
    with pytest.raises(ConflictError, match="RootlessKit"):
        plan(root, '[daemon]\nhosts = ["unix:///run/user/1001/docker.sock", "tcp://0.0.0.0:2376"]\ntlsverify = true\n')


def test_apply_creates_the_users_config_directories_owned_by_the_user(root):
    from datetime import datetime

    from dockharden.execute.apply import Engine, apply_plan

    p = plan(root)
    engine = Engine(str(root), runner=NoTools(), now=lambda: datetime(2026, 1, 1, tzinfo=UTC), config={})
    assert apply_plan(p, engine, restart=False).result == "applied"
    made = root / "home/ci/.config/docker"
    assert (made.stat().st_uid, (made / "daemon.json").stat().st_uid) == (1001, 1001)


def applied(root, p):
    from datetime import datetime

    from dockharden.execute.apply import Engine, apply_plan

    engine = Engine(str(root), runner=NoTools(), now=lambda: datetime(2026, 1, 1, tzinfo=UTC), config={})
    result = apply_plan(p, engine, restart=False)
    assert result.result == "applied"
    return engine, result


def test_the_rollback_of_a_rootless_apply_restarts_that_users_daemon_not_the_systems(root):
    from dockharden.execute import rollback

    engine, result = applied(root, plan(root))
    target = rollback.default_target(str(root))
    assert target.record["rootless_user"] == "ci"
    undo = rollback.rollback_plan(str(root), NoTools(), target, frozenset({"debug"}))
    assert undo.rootless_user == "ci" and undo.docker_socket == "/run/user/1001/docker.sock"
    change = next(c for c in undo.changes if c.target == "daemon.json")
    assert change.path == "/home/ci/.config/docker/daemon.json" and change.action == "delete"
    assert ("docker", "restart") in [(s.service, s.action) for s in undo.needed]  # a test root: left, not done
    aimed = engine.for_plan(undo)
    assert aimed.config["service"] == {"manager": "rootless", "user": "ci"}
    assert aimed.socket.endswith("/run/user/1001/docker.sock")
    assert aimed.daemon_json_path == "/home/ci/.config/docker/daemon.json"


def test_a_rollback_across_generations_of_two_daemons_is_refused_naming_both(root):
    from dockharden.errors import DockhardenError
    from dockharden.execute import rollback

    applied(root, plan(root))
    system = build_plan(Context(root=str(root), runner=NoTools(), engine_version="27.1.0"),
                        Selection(("baseline",), layers=(), source="test"))
    applied(root, system)
    first = rollback.generations.find_generation(str(root), "0001")
    with pytest.raises(DockhardenError, match="more than one daemon.*rootless daemon of ci.*system daemon"):
        rollback.rollback_plan(str(root), NoTools(), first, frozenset())
    assert rollback.rollback_plan(str(root), NoTools(), rollback.default_target(str(root)),
                                  frozenset()).rootless_user is None


class Dockerd(NoTools):
    """A dockerd whose --validate accepts every file (Engine 23 and later have it)."""

    def which(self, program):
        return "/usr/sbin/dockerd" if program == "dockerd" else None

    def run(self, argv, **kwargs):
        from dockharden.host.runner import Result

        return Result(tuple(argv), 0, "configuration OK", "")


def test_dockerd_validate_on_a_users_new_daemon_json_leaves_the_config_directory_owned_by_the_user(root):
    from datetime import datetime

    from dockharden.execute.apply import Engine, apply_plan

    engine = Engine(str(root), runner=Dockerd(), now=lambda: datetime(2026, 1, 1, tzinfo=UTC), config={})
    assert apply_plan(plan(root), engine, restart=False).result == "applied"
    made = root / "home/ci/.config/docker"
    assert [(d.stat().st_uid, d.stat().st_gid) for d in (made.parent, made)] == [(1001, 1002), (1001, 1002)]
    assert [p.name for p in made.iterdir()] == ["daemon.json"]  # the probe file is gone
