"""The `dockharden` command: parse options, call the pipeline, print the result. No logic here.

DockhardenError becomes a one-paragraph message and exit status 1 here, and only here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime, timezone
from typing import List, Optional

import typer

from dockharden.errors import DockhardenError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Harden a Docker host idempotently and safely: plan, apply, show.")

ProfileOpt = typer.Option(None, "--profile", "-p", help="Built-in layers, comma separated (default: baseline).")
LayerOpt = typer.Option(None, "--layer", "-l", help="An operator layer file (TOML or JSON); repeatable.")
RootOpt = typer.Option("/", "--root", help="Read and write every host path under this directory.")
JsonOpt = typer.Option(False, "--json", help="Print a versioned JSON document.")
EngineOpt = typer.Option(None, "--engine-version", help="Plan for this Engine version instead of asking dockerd.")
UserOpt = typer.Option(None, "--user", help="The rootless daemon's user (with the rootless profile).")


def _request(root: str, profile: str | None = None, layer: list[str] | None = None,
             engine_version: str | None = None, user: str | None = None):
    from dockharden.api import Request
    from dockharden.selection import split_profiles

    return Request(root=root, profiles=split_profiles(profile), layers=layer or None,
                   engine_version=engine_version, user=user,
                   progress=lambda message: print(f"dockharden: {message}", file=sys.stderr))


def _context(root: str, engine_version: str | None = None, user: str | None = None):
    from dockharden.hostroot import require_root
    from dockharden.pipeline import Context

    require_root(root, writes=False)
    return Context(root=root, engine_version=engine_version, user=user)


@app.command()
def plan(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
         json_out: bool = JsonOpt, detailed_exitcode: bool = typer.Option(
             False, "--detailed-exitcode", help="Exit 0 when nothing would change, 2 when changes are pending."),
         diff: bool = typer.Option(False, "--diff", help="Show new files in full."),
         engine_version: Optional[str] = EngineOpt, user: Optional[str] = UserOpt) -> None:
    """Show what apply would change, and why. Writes nothing, restarts nothing."""
    from dockharden import api, report

    the_plan = api.make_plan(_request(root, profile, layer, engine_version, user))
    if json_out:
        print(json.dumps(report.plan_document(the_plan, root), indent=2))
    else:
        sys.stdout.write(report.render_plan(the_plan, root, full_diff=diff))
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(2)


def _confirm(json_out: bool, yes: bool, root: str, question: str):
    def confirm(the_plan) -> bool:
        from dockharden import report

        if not json_out:
            sys.stdout.write(report.render_plan(the_plan, root))
        return yes or typer.confirm(question, default=False)
    return confirm


def _finish(outcome, json_out: bool) -> None:
    from dockharden import report

    for line in outcome.recovered:
        print(f"dockharden: {line}", file=sys.stderr)
    if outcome.result is None:
        print("dockharden: nothing was changed", file=sys.stderr)
        raise typer.Exit(1)
    if json_out:
        print(json.dumps(report.result_document(outcome.result, list(outcome.recovered)), indent=2))
    else:
        sys.stdout.write(report.render_result(outcome.result))
    if not outcome.result.ok:
        raise typer.Exit(1)


@app.command()
def apply(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
          yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
          no_restart: bool = typer.Option(False, "--no-restart", help="Write files only; touch no service."),
          json_out: bool = JsonOpt, engine_version: Optional[str] = EngineOpt,
          user: Optional[str] = UserOpt) -> None:
    """Make the plan real: back up, write atomically, reload or restart, verify; roll back on failure."""
    from dockharden import api

    outcome = api.apply(_request(root, profile, layer, engine_version, user), restart=not no_restart,
                        confirm=_confirm(json_out, yes, root, "Apply these changes?"))
    _finish(outcome, json_out)


@app.command()
def rollback(to: Optional[str] = typer.Option(None, "--to", help="Restore every file to how it was before "
                                                                 "this generation (default: undo the last apply)."),
             root: str = RootOpt, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
             no_restart: bool = typer.Option(False, "--no-restart", help="Restore files only; touch no service."),
             json_out: bool = JsonOpt) -> None:
    """Return the host to an earlier generation; validated, verified and recorded like an apply."""
    from dockharden import api

    outcome = api.rollback(_request(root), to=to, restart=not no_restart,
                           confirm=_confirm(json_out, yes, root, "Roll back?"))
    _finish(outcome, json_out)


@app.command()
def history(root: str = RootOpt, json_out: bool = JsonOpt) -> None:
    """The generations, newest first: id, time, kind, layers, files, result."""
    from dockharden import generations, report
    from dockharden.hostroot import require_root

    require_root(root, writes=False)
    gens = list(reversed(generations.list_generations(root)))
    if json_out:
        print(json.dumps(report.history_document(gens), indent=2))
    else:
        sys.stdout.write(report.render_history(gens))


@app.command()
def verify(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
           json_out: bool = JsonOpt,
           probe: bool = typer.Option(False, "--probe", help="Also check what probe containers see."),
           image: Optional[str] = typer.Option(None, "--image", help="A local image for --probe.")) -> None:
    """Compare the live daemon, audit rules and firewall with the desired state; change nothing."""
    from dockharden import api, drift, pipeline, report
    from dockharden.selection import split_profiles

    ctx = _context(root)
    config, selection = pipeline.read_selection(ctx, split_profiles(profile), layer or None)
    the_plan = pipeline.build_plan(ctx, selection, config)
    engine = api.engine_for(ctx, config, _request(root)).for_plan(the_plan)
    rows = drift.find_drift(the_plan, engine)
    desired = next((f.content for f in the_plan.rendered if f.target == "daemon.json"), None)
    if probe and desired:
        from dockharden.targets.daemon_json import parse_daemon_json

        rows += drift.probe_rows(parse_daemon_json(desired), _probe(ctx.runner, engine.socket, image))
    if json_out:
        print(json.dumps(report.drift_document(rows), indent=2))
    else:
        sys.stdout.write(report.render_drift(rows))
    if any(not row.ok for row in rows):
        raise typer.Exit(1)


@app.command()
def show(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
         json_out: bool = JsonOpt) -> None:
    """Print the merged layers with the layer that set each key."""
    from dockharden import derive, merge, pipeline, profiles, report
    from dockharden.model import HostSnapshot
    from dockharden.selection import split_profiles

    _, selection = pipeline.read_selection(_context(root), split_profiles(profile), layer or None)
    settings = merge.merge_layers(profiles.load_layers(selection))
    settings = derive.derive(settings, HostSnapshot(root=root, files={}, existing_paths=frozenset()))
    if json_out:
        print(json.dumps(report.provenance_document(settings), indent=2))
    else:
        sys.stdout.write(report.render_provenance(settings))


@app.command()
def check(root: str = RootOpt, json_out: bool = JsonOpt,
          probe: bool = typer.Option(False, "--probe", help="Also run throwaway containers to see what the "
                                                            "daemon really enforces."),
          image: Optional[str] = typer.Option(None, "--image", help="A local image for --probe (default: one "
                                                                    "built offline from the host's busybox).")) -> None:
    """The CIS Docker Benchmark controls of sections 1.1, 2 and 3, read from the live host.
    Exit 0 when no scored control fails, 2 when some do, 1 on error."""
    from dockharden import checkfacts, cis, pipeline, report
    from dockharden.apply import docker_socket

    ctx = _context(root)
    config, _ = pipeline.read_selection(ctx, None, None)
    socket_path = docker_socket(root, config)
    results = cis.evaluate(checkfacts.read_facts(root, ctx.runner, socket_path))
    found = _probe(ctx.runner, socket_path, image) if probe else None
    if found:
        results = cis.apply_probe(results, found)
    if json_out:
        print(json.dumps(report.check_document(results, found), indent=2))
    else:
        sys.stdout.write(report.render_check(results, found))
    if cis.failed_scored(results):
        raise typer.Exit(2)


def _probe(runner, socket_path: str, image: str | None) -> dict:
    from dataclasses import asdict

    from dockharden.probe import run_probe

    return asdict(run_probe(runner, docker=["docker", "-H", f"unix://{socket_path}"], image=image))


@app.command("profiles")
def list_profiles() -> None:
    """List the built-in layers."""
    from dockharden.profiles import builtin_profiles, load_builtin

    for name in builtin_profiles():
        print(f"{name:<10} {load_builtin(name).description}")


def main() -> None:
    """Entry point: run the app, turning expected errors into one paragraph and exit status 1."""
    try:
        app()
    except DockhardenError as exc:
        print(f"dockharden: error: {exc.paragraph()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except OSError as exc:  # the machine said no (permissions, a full disk, a read-only mount)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dockharden: error: {where}{exc.strerror or exc}. Hint: run dockharden as root, on a writable "
              "filesystem with free space",
              file=sys.stderr)
        sys.exit(1)
