"""Each real operator's daemon.json (tests/corpus) and the file apply writes from it, judged by the real
engines' `dockerd --validate --config-file F`: Engines 26.1 and 28.5 (Debian's docker.io, from the cached
root filesystems of tests/systemd) and 29.7.2 (the static build in ../shared/engines). Issue 21: "every
result passes the per-driver option check and `dockerd --validate` of Engines 26, 28 and 29 whenever the
original did".

The verdicts are recorded in VALIDATE.tsv (`ok`, `refused: WHAT DOCKERD SAID`, `-` where plan refuses the
file so there is no result): a change shows there in review. `python3 tests/corpus/test_dockerd_validate.py
--write-expected` rewrites it.

How each engine runs: 26.1 and 28.5 are dynamically linked against their own Debian's libraries, so their
dockerd runs through the root filesystem's own loader and libraries
(`BASE/lib64/ld-linux-x86-64.so.2 --library-path BASE/lib/...:BASE/usr/lib/... BASE/usr/sbin/dockerd`): the
same binary and libraries as on that Debian, nothing written under BASE (which machines share read-only), and
the file to check stays a path of this machine. 29.7.2 is static; it is unpacked once into the test cache,
keyed by the tarball's sha256 (`DOCKHARDEN_ENGINE29_TARBALL` points at another tarball). A missing engine is a
failure, never a skip.

`dockerd --validate` opens the TLS files a daemon.json names (not the seccomp profile): the corpus cycle puts
test certificates at those paths on the offline root (test_operator_files.companions), and here the file is
given to dockerd with those keys pointing at staged copies of the same certificates (only then is the file
re-serialized; otherwise dockerd reads the exact bytes).
"""

import concurrent.futures
import functools
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent
REPO = CORPUS.parents[1]
sys.path.insert(0, str(REPO / "tests" / "systemd"))
sys.path.insert(0, str(CORPUS))

import rootfs  # noqa: E402
from test_operator_files import SOURCES, companions, cycle, grouped, read_tsv  # noqa: E402

from dockharden.core import log_drivers  # noqa: E402

ENGINES = ("26.1", "28.5", "29.7.2")
DEBIAN_ENGINES = {"26.1": "trixie-26.1", "28.5": "sid-28.5"}
ENGINE29_TARBALL = Path(os.environ.get("DOCKHARDEN_ENGINE29_TARBALL")
                        or REPO.parent / "shared" / "engines" / "docker-engine-29.7.2-linux-amd64.tar.zst")
TLS_KEYS = ("tlscacert", "tlscert", "tlskey")
PLACEMENT = "/etc/docker/daemon.json"
FILES = [row["file"] for row in SOURCES if row["file"].startswith("daemon-json/")]
COLUMNS = [f"{which}_{engine}" for engine in ENGINES for which in ("original", "result")]
EXPECTED = {row["file"]: row for row in read_tsv(CORPUS / "VALIDATE.tsv")} \
    if (CORPUS / "VALIDATE.tsv").exists() else {}


# --- the engines -------------------------------------------------------------------------------------------


def engine29() -> Path:
    """The static dockerd 29.7.2, unpacked once into the test cache under the tarball's sha256."""
    if not ENGINE29_TARBALL.is_file():
        raise AssertionError(f"Engine 29.7.2 is missing: no {ENGINE29_TARBALL} (set DOCKHARDEN_ENGINE29_TARBALL "
                             "to the docker-engine-29.7.2-linux-amd64.tar.zst of ../shared/engines)")
    digest = hashlib.sha256(ENGINE29_TARBALL.read_bytes()).hexdigest()
    target = rootfs.CACHE / "engines" / digest / "dockerd"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        unpacked = subprocess.run(["zstd", "-dc", str(ENGINE29_TARBALL)], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(unpacked)) as tar:
            member = tar.getmember("dockerd")
            Path(tmp, "dockerd").write_bytes(tar.extractfile(member).read())
        os.chmod(Path(tmp, "dockerd"), 0o755)
        os.replace(Path(tmp, "dockerd"), target)  # atomic: a concurrent run sees the whole file or none
    return target


@functools.cache
def dockerd(engine: str) -> tuple[str, ...]:
    """The command that runs `engine`'s dockerd on this machine."""
    if engine == "29.7.2":
        return (str(engine29()),)
    base = rootfs.ensure_base(rootfs.ENGINES_BY_ID[DEBIAN_ENGINES[engine]])
    libraries = ":".join(str(base / d) for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"))
    return (str(base / "lib64/ld-linux-x86-64.so.2"), "--library-path", libraries, str(base / "usr/sbin/dockerd"))


def validate(engine: str, path: Path) -> str:
    """`ok`, or `refused: ` and the last line dockerd said (tabs and the file's own path taken out)."""
    done = subprocess.run([*dockerd(engine), "--validate", "--config-file", str(path)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        return "ok"
    said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    said = said.replace(str(path), "FILE").replace(str(path.parent), "DIR").replace("\t", " ")
    return "refused: " + said[:160]


# --- the verdicts ------------------------------------------------------------------------------------------


def staged(content: bytes, files: dict[str, bytes], tmp: Path, name: str) -> Path:
    """The daemon.json to give dockerd: `content` itself, or, when it names TLS files the root holds, with
    those keys pointing at staged copies of them."""
    try:
        config = json.loads(content)
    except ValueError:
        config = None
    named = {k: config[k] for k in TLS_KEYS if isinstance(config, dict) and config.get(k) in files}
    if named:
        for key, value in named.items():
            copy = tmp / f"{name}-{key}.pem"
            copy.write_bytes(files[value])
            config[key] = str(copy)
        content = json.dumps(config, indent=2).encode()
    path = tmp / f"{name}.json"
    path.write_bytes(content)
    return path


@functools.cache
def verdicts(file: str) -> dict[str, str]:
    """For each engine, what dockerd --validate says of the original and of the result (`-` without one)."""
    result = cycle(file, PLACEMENT)
    applied = result["applied"][PLACEMENT] if result["plan"]["status"] == 0 else None
    files = companions(file)
    with tempfile.TemporaryDirectory(prefix="dockharden-validate-corpus-") as tmp:
        inputs = {"original": staged(result["original"], files, Path(tmp), "original")}
        if applied is not None:
            inputs["result"] = staged(applied, files, Path(tmp), "result")
        jobs = [(which, engine) for engine in ENGINES for which in inputs]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            said = dict(zip(jobs, pool.map(lambda job: validate(job[1], inputs[job[0]]), jobs), strict=True))
    return {f"{which}_{engine}": said.get((which, engine), "-") for engine in ENGINES
            for which in ("original", "result")}


# --- the tests ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_is_here_and_validates_an_empty_file(engine, tmp_path):
    (tmp_path / "empty.json").write_text("{}\n")
    assert validate(engine, tmp_path / "empty.json") == "ok"


def test_validate_tsv_has_one_row_for_each_daemon_json_of_the_corpus():
    assert sorted(EXPECTED) == sorted(FILES)


@pytest.mark.parametrize("case", [grouped((file, PLACEMENT)) for file in FILES])
def test_the_result_passes_dockerd_validate_of_engines_26_28_and_29_whenever_the_original_did(case):
    file, _ = case
    said = verdicts(file)
    if said["result_29.7.2"] != "-":
        for engine in ENGINES:
            if said[f"original_{engine}"] == "ok":
                assert said[f"result_{engine}"] == "ok", (engine, said)
    assert said == {column: EXPECTED[file][column] for column in COLUMNS}, "VALIDATE.tsv records otherwise"


@pytest.mark.parametrize("case", [grouped((file, PLACEMENT)) for file in FILES])
def test_the_result_passes_the_per_driver_log_option_check_whenever_the_original_did(case):
    file, _ = case
    result = cycle(file, PLACEMENT)
    if result["plan"]["status"] != 0:
        return
    judged = []
    for content in (result["original"], result["applied"][PLACEMENT]):
        config = json.loads(content)
        driver = config.get("log-driver") or "json-file"
        opts = config.get("log-opts") if isinstance(config.get("log-opts"), dict) else {}
        judged.append(log_drivers.refused(driver, opts) if log_drivers.known(driver) else [])
    original, applied = judged
    # stronger than "whenever the original did": plan refuses a file whose result fails the check
    assert applied == [], f"apply wrote log options {applied} its driver refuses (the original: {original})"


def write_expected() -> None:
    rows = ["\t".join((file, *(verdicts(file)[c] for c in COLUMNS))) + "\n" for file in FILES]
    (CORPUS / "VALIDATE.tsv").write_text("\t".join(("file", *COLUMNS)) + "\n" + "".join(rows),
                                         encoding="utf-8")  # whole, once every file has run


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-expected"]:
        sys.exit("usage: python3 tests/corpus/test_dockerd_validate.py --write-expected (rewrites VALIDATE.tsv "
                 "and, from the same runs, EXPECTED.tsv)")
    import test_operator_files

    test_operator_files.write_expected()
    write_expected()


# --- issue 24 class 2: integers as the engines read them ---------------------------------------------------

INT64 = 2**63
INTEGER_EDGES = [
    '{"mtu": 1500}', '{"mtu": 1500.0}', '{"mtu": 0}', '{"mtu": -1}', f'{{"mtu": {INT64 - 1}}}', f'{{"mtu": {INT64}}}',
    '{"mtu": 1e300}', '{"mtu": 99999999999999999999}', '{"shutdown-timeout": -1}', '{"shutdown-timeout": -5}',
    f'{{"shutdown-timeout": {-INT64}}}', f'{{"shutdown-timeout": {-INT64 - 1}}}', '{"shutdown-timeout": 15.5}',
    '{"default-stop-timeout": 0}', '{"default-stop-timeout": -1}', '{"max-concurrent-downloads": 0}',
    '{"max-concurrent-downloads": -1}', '{"max-concurrent-uploads": 3.0}', '{"max-download-attempts": -1}',
    '{"network-diagnostic-port": 65536}', '{"network-diagnostic-port": -1}',
    '{"default-address-pools": [{"base": "10.0.0.0/8", "size": 24.0}]}',
    f'{{"default-ulimits": {{"nofile": {{"Name": "nofile", "Hard": {INT64}, "Soft": 1}}}}}}',
    '{"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024.0, "Soft": 1024}}}',
]


@pytest.mark.parametrize("engine", ["29.7.2"])
def test_the_schema_accepts_an_integer_exactly_when_the_engine_does(engine, tmp_path):
    """1500.0 for an int, a number beyond int64, a negative count: the daemon schema and `dockerd --validate`
    give the same verdict (a timeout may be negative: shutdown-timeout -1 waits for ever)."""
    from dockharden.core.schema import check_daemon_config
    from dockharden.errors import SchemaError

    for index, text in enumerate(INTEGER_EDGES):
        path = tmp_path / f"{index}.json"
        path.write_text(text + "\n")
        engine_says = validate(engine, path)
        try:
            check_daemon_config(json.loads(text), path=str(path), engine=engine)
            ours = "ok"
        except SchemaError as exc:
            ours = f"refused: {exc}"
        assert (ours == "ok") == (engine_says == "ok"), (text, ours, engine_says)
