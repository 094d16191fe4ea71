"""plan runs dockerd --validate on the planned daemon.json (Engine 23+), staged outside the root."""

import json
import os
from pathlib import Path

import pytest

from dockharden.api import build_plan
from dockharden.errors import RenderError
from dockharden.host import dockerd_validate
from dockharden.host.facts import Context
from dockharden.host.runner import Result, Runner
from dockharden.model import Selection


class Dockerd(Runner):
    """A dockerd that answers --validate with `code` and records what it was given and what it saw."""

    def __init__(self, code=0, stderr=""):
        self.code, self.stderr, self.calls, self.seen = code, stderr, [], {}

    def which(self, program):
        return "/usr/sbin/dockerd" if program == "dockerd" else None

    def run(self, argv, **kwargs):
        self.calls.append(tuple(argv))
        probe = Path(argv[argv.index("--config-file") + 1])
        self.seen = {"dir": probe.parent, "mode": probe.parent.stat().st_mode & 0o777,
                     "config": json.loads(probe.read_text())}
        return Result(tuple(argv), self.code, "", self.stderr)


def planned(root, runner, engine="29.0.0"):
    (root / "etc").mkdir(exist_ok=True)
    ctx = Context(root=str(root), runner=runner, engine_version=engine)
    return build_plan(ctx, Selection(("baseline",), layers=(), source="test"))


def test_plan_stages_the_new_daemon_json_in_a_private_temporary_directory_outside_the_root(tmp_path):
    runner = Dockerd()
    plan = planned(tmp_path, runner)
    dockerd_validate.validate_planned(plan, str(tmp_path), runner)
    assert runner.calls and runner.calls[0][:2] == ("dockerd", "--validate")
    assert runner.seen["mode"] == 0o700 and not str(runner.seen["dir"]).startswith(str(tmp_path))
    assert not runner.seen["dir"].exists()  # removed afterwards
    assert runner.seen["config"]["icc"] is False
    assert sorted(os.listdir(tmp_path)) == ["etc"] and os.listdir(tmp_path / "etc") == []  # nothing written


def test_a_file_dockerd_validate_refuses_fails_the_plan_with_its_words_and_the_file(tmp_path):
    runner = Dockerd(1, 'level=info msg="x"\nunable to configure the Docker daemon with file: bad key')
    with pytest.raises(RenderError) as err:
        dockerd_validate.validate_planned(planned(tmp_path, runner), str(tmp_path), runner)
    assert "bad key" in str(err.value) and "level=info" not in str(err.value)
    assert err.value.path == "/etc/docker/daemon.json"


def test_an_engine_before_23_has_no_validate_and_it_is_not_run(tmp_path):
    runner = Dockerd(1, "unknown flag: --validate")
    dockerd_validate.validate_planned(planned(tmp_path, runner, "20.10.24"), str(tmp_path), runner)
    assert runner.calls == []


def test_the_config_file_flag_is_replaced_by_the_probe():
    assert dockerd_validate.without_config_file(("--config-file", "/a.json", "-H", "fd://")) == ["-H", "fd://"]


def test_a_dockerd_older_than_the_version_planned_for_is_no_refusal(tmp_path):
    runner = Dockerd(125, "unknown flag: --validate\nSee 'dockerd --help'.")
    dockerd_validate.validate_planned(planned(tmp_path, runner), str(tmp_path), runner)
    assert len(runner.calls) == 1
