"""Real operators' files (tests/corpus, sources in SOURCES.tsv) through plan, apply, a second plan and
rollback on offline roots, with the built-in baseline for Engine 28.5 (issue 21, "Proven by").

What dockharden does with each file today is recorded in EXPECTED.tsv: whether plan accepts it or refuses
it (with the error's type and key), which operator choices baseline still overrides, and for after.rules
what plan --adopt-ufw-docker does (`adopted`: chaifeng/ufw-docker's block replaced by dockharden's). A change of
behaviour shows there in review; `python3 tests/corpus/test_operator_files.py --write-expected` rewrites
the table from what the code does now (read the diff before committing it).

Each case's commands run in one process that forks for each command (forkrun.py), on a root of its own.
"""

import base64
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent
REPO = CORPUS.parents[1]
KINDS = ("daemon-json", "after-rules", "audit-rules")
PLACEMENTS = {  # where each kind of file is put on the root
    "daemon-json": ("/etc/docker/daemon.json",),
    "after-rules": ("/etc/ufw/after.rules",),
    # dockharden's own file name, and the name its refusal suggests the operator's file moves to
    "audit-rules": ("/etc/audit/rules.d/docker.rules", "/etc/audit/rules.d/10-docker-local.rules"),
}
TARGETS = ("/etc/docker/daemon.json", "/etc/audit/rules.d/docker.rules", "/etc/ufw/after.rules",
           "/etc/ufw/after6.rules", "/etc/docker/seccomp/default.json")
SELECTION = ("--profile", "baseline", "--engine-version", "28.5")
# what baseline enforces (issue 21: hardening only); every other operator choice must come out unchanged
ENFORCED = {"live-restore", "icc", "userland-proxy", "no-new-privileges", "experimental", "seccomp-profile"}


def read_tsv(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line]


SOURCES = read_tsv(CORPUS / "SOURCES.tsv")
EXPECTED = {(row["file"], row["placement"]): row for row in read_tsv(CORPUS / "EXPECTED.tsv")} \
    if (CORPUS / "EXPECTED.tsv").exists() else {}
CASES = [(row["file"], placement) for row in SOURCES for placement in PLACEMENTS[row["file"].split("/")[0]]]


def grouped(case, *marks):
    """The case as a parameter whose tests all run on one xdist worker under --dist loadgroup (as
    scripts/test-all runs the suite), so its commands run once: cycle() keeps their results per process."""
    return pytest.param(case, marks=(pytest.mark.xdist_group("corpus-" + case_id(case)), *marks), id=case_id(case))


def case_id(case) -> str:
    file, placement = case
    return file.split("/", 1)[1] + ("" if placement == PLACEMENTS[file.split("/")[0]][0]
                                    else "@" + placement.rsplit("/", 1)[1])


def path_without_dockerd() -> str:
    """PATH less the directories holding a dockerd: the root is an image, not this machine, and apply would
    otherwise check the image's daemon.json with this machine's own `dockerd --validate` (here Debian's
    20.10, which has no --validate, so every apply would be rolled back)."""
    dirs = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not os.path.exists(os.path.join(d, "dockerd")))


def forkrun(steps: list[dict]) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=path_without_dockerd())
    done = subprocess.run([sys.executable, str(CORPUS / "forkrun.py")], input=json.dumps(steps), text=True,
                          capture_output=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for result in results:
        if "bytes" in result:
            result["bytes"] = None if result["bytes"] is None else base64.b64decode(result["bytes"])
    return results


ADOPT = ("--adopt-ufw-docker",)  # chaifeng/ufw-docker's block replaced by dockharden's (issue 21, item 7)


@functools.cache
def made_certificates() -> dict[str, bytes]:
    """A CA, and a server certificate and key it signs (for localhost and 127.0.0.1), made once per process."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def sign(cn, key, issuer, signer, ca):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = sign("corpus test CA", ca_key, None, ca_key, True)
    server = sign("localhost", server_key, ca.subject, ca_key, False)
    pem = serialization.Encoding.PEM
    return {"tlscacert": ca.public_bytes(pem), "tlscert": server.public_bytes(pem),
            "tlskey": server_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption())}


def companions(file: str) -> dict[str, bytes]:
    """The files a daemon.json names that an operator's host has beside it: the TLS CA, certificate and key
    (test ones, at the paths the file names), so that plan and dockerd --validate judge the file, not their
    absence."""
    if not file.startswith("daemon-json/"):
        return {}
    try:
        config = json.loads((CORPUS / file).read_bytes())
    except ValueError:
        return {}
    if not isinstance(config, dict):
        return {}
    return {config[key]: pem for key, pem in made_certificates().items()
            if isinstance(config.get(key), str) and config[key].startswith("/")}


@functools.cache
def cycle(file: str, placement: str, adopt: bool = False) -> dict:
    """plan; when it accepts: apply, a second plan, rollback, with the files read between the steps. `adopt`:
    plan and apply with --adopt-ufw-docker (the second plan without it: what was adopted is remembered)."""
    chosen = ADOPT if adopt else ()
    root = Path(tempfile.mkdtemp(prefix="dockharden-corpus-"))
    try:
        original = (CORPUS / file).read_bytes()
        for path, content in companions(file).items():
            (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / path.lstrip("/")).write_bytes(content)
            if content == made_certificates()["tlskey"]:
                os.chmod(root / path.lstrip("/"), 0o600)
        (root / placement.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / placement.lstrip("/")).write_bytes(original)
        watched = sorted(set(TARGETS) | {placement})
        before = {path: (root / path.lstrip("/")).read_bytes() if (root / path.lstrip("/")).exists() else None
                  for path in watched}
        r = ("--root", str(root))
        plan, plan_json = forkrun([{"argv": ["plan", *r, *SELECTION, *chosen]},
                                   {"argv": ["plan", *r, *SELECTION, *chosen, "--json"]}])
        result = {"original": original, "before": before, "plan": plan, "plan_json": plan_json}
        if plan["status"] != 0:
            return result
        steps = [{"argv": ["apply", *r, *SELECTION, *chosen, "--yes"]},
                 {"argv": ["plan", *r, *SELECTION, "--json", "--detailed-exitcode"]},
                 *({"read": str(root / path.lstrip("/"))} for path in watched),
                 {"argv": ["rollback", *r, "--yes"]},
                 *({"read": str(root / path.lstrip("/"))} for path in watched)]
        done = forkrun(steps)
        result["apply"], result["second_plan"] = done[0], done[1]
        result["applied"] = {path: step["bytes"] for path, step in zip(watched, done[2:2 + len(watched)], strict=True)}
        result["rollback"] = done[2 + len(watched)]
        result["after_rollback"] = {path: step["bytes"]
                                    for path, step in zip(watched, done[3 + len(watched):], strict=True)}
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def outcome(file: str, placement: str, adopt: bool = False) -> str:
    """`accepted`, or `refused TYPE KEY` from the JSON error (the key `-` when the error names none)."""
    result = cycle(file, placement, adopt)
    if result["plan"]["status"] == 0:
        return "accepted"
    error = json.loads(result["plan_json"]["stdout"])["error"]
    return f"refused {error['type']} {error.get('key') or '-'}"


def operator_choices_changed(original, applied, prefix="") -> list[str]:
    """The operator's keys (dotted, nested objects walked) whose value differs after apply, outside ENFORCED."""
    changed = []
    for key, value in original.items():
        name = prefix + key
        if not prefix and key in ENFORCED:
            continue
        if key not in applied:
            changed.append(name)
        elif isinstance(value, dict) and isinstance(applied[key], dict):
            changed += operator_choices_changed(value, applied[key], name + ".")
        elif applied[key] != value:
            changed.append(name)
    return changed


def overridden(file: str, placement: str) -> list[str]:
    result = cycle(file, placement)
    if placement != "/etc/docker/daemon.json" or result["plan"]["status"] != 0:
        return []
    return operator_choices_changed(json.loads(result["original"]), json.loads(result["applied"][placement]))


# --- the corpus itself -----------------------------------------------------------------------------------


def test_every_file_listed_in_sources_tsv_exists_and_every_corpus_file_is_listed():
    listed = [row["file"] for row in SOURCES]
    on_disk = sorted(str(p.relative_to(CORPUS)) for kind in KINDS for p in (CORPUS / kind).iterdir())
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)
    for row in SOURCES:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", row["repository"]), row
        assert row["path"] and row["exercises"], row
        assert re.fullmatch(r"[0-9a-f]{40}|", row["commit"]), row


def test_the_corpus_has_the_counts_issue_21_asks_for():
    counts = {kind: sum(row["file"].startswith(kind + "/") for row in SOURCES) for kind in KINDS}
    assert counts["daemon-json"] >= 60 and counts["after-rules"] >= 10 and counts["audit-rules"] >= 10, counts


def test_expected_tsv_has_one_row_for_each_file_and_placement():
    assert sorted(EXPECTED) == sorted(CASES)


# --- through the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [grouped(case) for case in CASES])
def test_plan_accepts_a_real_operators_file_or_refuses_it_in_one_clear_paragraph_as_recorded(case):
    file, placement = case
    plan = cycle(*case)["plan"]
    assert plan["status"] in (0, 1), plan
    assert "Traceback" not in plan["stderr"]
    if plan["status"] == 1:
        stderr = plan["stderr"]
        assert stderr.startswith("dockharden: error: ") and stderr.count("\n") == 1, stderr
        assert placement in stderr, stderr
    assert outcome(*case) == EXPECTED[case]["plan"], plan["stderr"]


ACCEPTED = [case for case in CASES if EXPECTED.get(case, {}).get("plan") == "accepted"]


@pytest.mark.parametrize("case", [grouped(case) for case in ACCEPTED])
def test_an_accepted_file_takes_baseline_then_a_second_plan_has_nothing_to_do_and_rollback_restores_its_bytes(case):
    assert_full_cycle(case, cycle(*case))


AFTER_RULES = [case for case in CASES if case[0].startswith("after-rules/")]


@pytest.mark.parametrize("case", [grouped(case) for case in AFTER_RULES])
def test_with_adopt_ufw_docker_plan_accepts_or_refuses_an_after_rules_file_as_recorded(case):
    plan = cycle(*case, adopt=True)["plan"]
    assert plan["status"] in (0, 1) and "Traceback" not in plan["stderr"], plan
    assert outcome(*case, adopt=True) == EXPECTED[case]["adopted"], plan["stderr"]
    if EXPECTED[case]["plan"] != "accepted" and plan["status"] == 0:  # accepted only by adopting ufw-docker's block
        assert "adopting chaifeng/ufw-docker's block in /etc/ufw/after.rules" in plan["stdout"], plan["stdout"]


ADOPTED = [case for case in AFTER_RULES if EXPECTED.get(case, {}).get("adopted") == "accepted"]


@pytest.mark.parametrize("case", [grouped(case) for case in ADOPTED])
def test_an_adopted_file_takes_baseline_then_a_plan_without_the_option_has_nothing_to_do_and_rollback_restores_it(
        case):
    result = cycle(*case, adopt=True)
    assert b"UFW AND DOCKER" not in result["applied"][case[1]]
    assert_full_cycle(case, result)


def assert_full_cycle(case, result) -> None:
    file, placement = case
    assert result["apply"]["status"] == 0, result["apply"]["stderr"]
    second = result["second_plan"]
    assert second["status"] == 0, second["stdout"] + second["stderr"]
    assert json.loads(second["stdout"])["has_changes"] is False
    if placement not in TARGETS:  # the operator's own file beside dockharden's: never written
        assert result["applied"][placement] == result["original"]
    assert result["rollback"]["status"] == 0, result["rollback"]["stderr"]
    assert "Traceback" not in result["rollback"]["stderr"]
    for path, before in result["before"].items():
        assert result["after_rollback"][path] == before, path  # the same bytes, or absent as it was


DAEMON_ACCEPTED = [case for case in ACCEPTED if case[1] == "/etc/docker/daemon.json"]


def keeps_marks(case):
    today = EXPECTED[case]["overridden_today"]
    if today == "-":
        return ()
    return (pytest.mark.xfail(strict=False, reason=f"baseline overrides {today} on this file "
                                                   "(EXPECTED.tsv records it: review the change there)"),)


@pytest.mark.parametrize("case", [grouped(case, *keeps_marks(case)) for case in DAEMON_ACCEPTED])
def test_baseline_keeps_every_operator_choice_outside_the_keys_it_enforces(case):
    assert overridden(*case) == []


def write_expected() -> None:
    rows = []
    for case in CASES:
        adopted = outcome(*case, adopt=True) if case in AFTER_RULES else "-"
        rows.append("\t".join((*case, outcome(*case), ",".join(overridden(*case)) or "-", adopted)) + "\n")
    (CORPUS / "EXPECTED.tsv").write_text("file\tplacement\tplan\toverridden_today\tadopted\n" + "".join(rows),
                                         encoding="utf-8")  # whole, once every case has run


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-expected"]:
        sys.exit("usage: python3 tests/corpus/test_operator_files.py --write-expected")
    write_expected()
