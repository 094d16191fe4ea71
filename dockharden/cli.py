"""The `dockharden` command: parse options, call the pipeline, print the result. No logic here.

DockhardenError becomes a one-paragraph message and exit status 1 here, and only here.
"""

from __future__ import annotations

import json
import sys
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


def _context(root: str, engine_version: str | None):
    from dockharden.pipeline import Context

    return Context(root=root, engine_version=engine_version)


def _plan(root: str, profile: str | None, layer: list[str] | None, engine_version: str | None):
    from dockharden import pipeline
    from dockharden.selection import split_profiles

    ctx = _context(root, engine_version)
    config, selection = pipeline.read_selection(ctx, split_profiles(profile), layer or None)
    return ctx, config, pipeline.build_plan(ctx, selection)


@app.command()
def plan(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
         json_out: bool = JsonOpt, detailed_exitcode: bool = typer.Option(
             False, "--detailed-exitcode", help="Exit 0 when nothing would change, 2 when changes are pending."),
         diff: bool = typer.Option(False, "--diff", help="Show new files in full."),
         engine_version: Optional[str] = EngineOpt) -> None:
    """Show what apply would change, and why. Writes nothing, restarts nothing."""
    from dockharden import report

    _, _, the_plan = _plan(root, profile, layer, engine_version)
    if json_out:
        print(json.dumps(report.plan_document(the_plan, root), indent=2))
    else:
        sys.stdout.write(report.render_plan(the_plan, root, full_diff=diff))
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(2)


@app.command()
def apply(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
          yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
          no_restart: bool = typer.Option(False, "--no-restart", help="Write files only; touch no service."),
          json_out: bool = JsonOpt, engine_version: Optional[str] = EngineOpt) -> None:
    """Make the plan real: back up, write atomically, record a generation."""
    from dockharden import apply as applymod, report

    ctx, config, the_plan = _plan(root, profile, layer, engine_version)
    if not json_out:
        sys.stdout.write(report.render_plan(the_plan, root))
    if the_plan.has_changes and not yes and not typer.confirm("Apply these changes?", default=False):
        raise typer.Exit(1)
    result = applymod.apply_files(the_plan, root, config, lambda: datetime.now(timezone.utc),
                                  restart=not no_restart)
    if json_out:
        print(json.dumps(report.result_document(result), indent=2))
    else:
        sys.stdout.write(report.render_result(result))


@app.command()
def show(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
         json_out: bool = JsonOpt) -> None:
    """Print the merged layers with the layer that set each key."""
    from dockharden import merge, pipeline, profiles, report
    from dockharden.selection import split_profiles

    _, selection = pipeline.read_selection(_context(root, None), split_profiles(profile), layer or None)
    settings = merge.merge_layers(profiles.load_layers(selection))
    if json_out:
        print(json.dumps(report.provenance_document(settings), indent=2))
    else:
        sys.stdout.write(report.render_provenance(settings))


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
