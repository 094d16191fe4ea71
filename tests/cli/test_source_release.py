"""The source release builds: sdist, then a wheel from the unpacked sdist (as distribution packagers and
`pip install dockharden-X.tar.gz` do), installed in a fresh virtual environment, runs a plan that uses the
fast validators the build generated.

Both builds are PyPA's `python -m build` with its isolated build environment (setuptools and fastjsonschema
from the package index, as pyproject.toml's [build-system] asks).
"""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package, not this checkout
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=900,
                          env=dict(env, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore"), **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def checkout_copy(dest: Path) -> Path:
    """The files git tracks, as they are in the work tree (what a release is cut from)."""
    listed = run("git", "-C", REPO, "ls-files", "-z").stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def test_a_wheel_built_from_the_source_release_installs_and_plans_with_the_generated_validators(tmp_path):
    source = checkout_copy(tmp_path / "checkout")
    run(sys.executable, "-m", "build", "--sdist", "--outdir", tmp_path / "dist", source)
    (sdist,) = (tmp_path / "dist").glob("dockharden-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert {"build_hooks.py", "scripts/compile-schemas.py", "pyproject.toml", "MANIFEST.in"} <= names
    assert not [n for n in names if "/_fast_" in n], "generated validators are build output, not source"

    (unpacked,) = (tmp_path / "unpacked").iterdir()
    run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "wheels", unpacked)
    (wheel,) = (tmp_path / "wheels").glob("dockharden-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "--quiet", wheel)
    root = tmp_path / "root"
    (root / "etc" / "docker").mkdir(parents=True)
    (root / "etc" / "docker" / "daemon.json").write_text('{"max-concurrent-downloads": 5}\n')
    (tmp_path / "site.toml").write_text("[daemon]\nicc = false\n")
    plan = run(venv / "bin" / "python", "-c", PLAN_AND_SAY_WHICH_VALIDATORS, root, tmp_path / "site.toml", cwd=tmp_path)
    assert "Plan: " in plan.stdout
    used = plan.stderr.strip().splitlines()[-1]
    assert used == "validators: _fast_daemon _fast_layer; jsonschema: no; from site-packages: yes", plan.stderr


#: The plan in the installed package's own process, then which validators decided (the generated ones
#: accept a valid document alone: jsonschema is loaded only to explain a refusal).
PLAN_AND_SAY_WHICH_VALIDATORS = """
import sys
from dockharden.cli import run
status = run(["plan", "--root", sys.argv[1], "--profile", "baseline", "--layer", sys.argv[2]])
fast = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("dockharden.schema._fast_"))
slow = "yes" if "jsonschema" in sys.modules else "no"
installed = "yes" if "/site-packages/dockharden/" in sys.modules["dockharden.cli"].__file__ else "no"
print(f"validators: {' '.join(fast)}; jsonschema: {slow}; from site-packages: {installed}", file=sys.stderr)
sys.exit(status)
"""
