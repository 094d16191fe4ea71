"""The `dockharden` command: parse options, call the pipeline, print the result. No logic here.

Errors become exit statuses here, and only here (the contract is in docs/user-guide.md): 2 means only
what a command documents (plan --detailed-exitcode: changes pending; verify: drift; check: a counted
control fails; schedule run: either); every error, a bad option included, is one paragraph and 1; a signal is one line and
128 + its number.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime, timezone
from typing import List, Optional

import click
import typer

from dockharden.errors import DockhardenError

# suggest_commands=False: Click itself offers the one suggestion a typo gets (Typer would add a second)
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  suggest_commands=False,
                  help="Harden a Docker host idempotently and safely: plan, apply, show.")

INTERRUPTED = "130, 143 or 129 interrupted by SIGINT, SIGTERM or SIGHUP."
EXIT_PLAN = ("Exit status: 0 the plan was made (with --detailed-exitcode: nothing would change); 2 changes are "
             "pending (only with --detailed-exitcode); 1 an error, a bad option included; " + INTERRUPTED)
EXIT_APPLY = ("Exit status: 0 applied, or nothing to do; 1 an error, a bad option, a declined question, or a run "
              "that failed and was rolled back (or could not be: the message says where the backups are); "
              + INTERRUPTED + " A signal during the run lets the step under way finish, then rolls back.")
EXIT_VERIFY = ("Exit status: 0 everything desired is in force; 2 drift (a mismatch is listed); 1 an error, a bad "
               "option included; " + INTERRUPTED)
EXIT_CHECK = ("Exit status: 0 no counted control fails (failures at the chosen level, Automated or Manual, "
              "not under an exception in force); 2 a counted control fails (an expired exception counts); 1 an "
              "error, a bad option or exceptions file included; " + INTERRUPTED)
EXIT_READ = "Exit status: 0 done; 1 an error, a bad option included; " + INTERRUPTED

ProfileOpt = typer.Option(None, "--profile", "-p", help="Built-in layers, comma separated (default: baseline).")
LayerOpt = typer.Option(None, "--layer", "-l", help="An operator layer file (TOML or JSON); repeatable.")
RootOpt = typer.Option("/", "--root", help="Read and write every host path under this directory.")
JsonOpt = typer.Option(False, "--json", help="Print a versioned JSON document.")
EngineOpt = typer.Option(None, "--engine-version", help="Plan for this Engine version instead of asking dockerd.")
UserOpt = typer.Option(None, "--user", help="The rootless daemon's user (with the rootless profile).")


def _say(text: str) -> None:
    print(f"dockharden: {text}", file=sys.stderr)


def _request(root: str, profile: str | None = None, layer: list[str] | None = None,
             engine_version: str | None = None, user: str | None = None):
    from dockharden.api import Request
    from dockharden.selection import split_profiles

    return Request(root=root, profiles=split_profiles(profile), layers=layer or None,
                   engine_version=engine_version, user=user, progress=_say)


def _context(root: str, engine_version: str | None = None, user: str | None = None):
    from dockharden.hostroot import require_root
    from dockharden.pipeline import Context

    require_root(root, writes=False)
    return Context(root=root, engine_version=engine_version, user=user)


@app.command(epilog=EXIT_PLAN)
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
        if yes:
            return True
        try:
            return typer.confirm(question, default=False)
        except click.exceptions.Abort:  # standard input ended: no answer is no
            _say("no answer (standard input ended); give --yes to go ahead without a question")
            return False
    return confirm


def _finish(outcome, json_out: bool) -> None:
    from dockharden import report

    for line in outcome.recovered:
        _say(line)
    if outcome.result is None:
        _say("nothing was changed")
        raise typer.Exit(1)
    result = outcome.result
    if json_out:
        print(json.dumps(report.result_document(result, list(outcome.recovered)), indent=2))
    else:
        sys.stdout.write(report.render_result(result))
    if result.interrupted:
        undone = "rolled back" if result.result == "rolled_back" else "could NOT be rolled back"
        _say(f"{result.messages[0]}: generation {result.generation} {undone}; " + "; ".join(result.messages[1:]))
        raise typer.Exit(128 + result.interrupted if result.result == "rolled_back" else 1)
    if not result.ok:
        raise typer.Exit(1)


@app.command(epilog=EXIT_APPLY)
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


@app.command(epilog=EXIT_APPLY.replace("applied,", "rolled back,"))
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


@app.command(epilog=EXIT_READ)
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


@app.command(epilog=EXIT_VERIFY)
def verify(profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
           json_out: bool = JsonOpt,
           probe: bool = typer.Option(False, "--probe", help="Also check what probe containers see."),
           image: Optional[str] = typer.Option(None, "--image", help="A local image for --probe."),
           user: Optional[str] = UserOpt) -> None:
    """Compare the live daemon, audit rules and firewall with the desired state; change nothing."""
    from dockharden import api, drift, pipeline, report
    from dockharden.selection import split_profiles

    ctx = _context(root, user=user)
    config, selection = pipeline.read_selection(ctx, split_profiles(profile), layer or None)
    the_plan = pipeline.build_plan(ctx, selection, config)
    engine = api.engine_for(ctx, config, _request(root, user=user)).for_plan(the_plan)
    rows = drift.find_drift(the_plan, engine)
    desired = next((f.content for f in the_plan.rendered if f.target == "daemon.json"), None)
    if probe and desired:
        from dockharden.targets.daemon_json import parse_daemon_json

        rows += drift.probe_rows(parse_daemon_json(desired), _probe(ctx.runner, engine.socket, image))
    from dockharden.checking import exception_notes

    notes = exception_notes(root, datetime.now(timezone.utc))
    if json_out:
        print(json.dumps(report.drift_document(rows, notes), indent=2))
    else:
        sys.stdout.write(report.render_drift(rows, notes))
    if any(not row.ok for row in rows):
        raise typer.Exit(2)


@app.command(epilog=EXIT_READ)
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


@app.command(epilog=EXIT_CHECK)
def check(root: str = RootOpt, json_out: bool = typer.Option(False, "--json", help="The same as --format json."),
          fmt: Optional[str] = typer.Option(None, "--format", help="text (default), json, sarif or junit."),
          benchmark: Optional[str] = typer.Option(None, "--benchmark", help="CIS Docker Benchmark version: 1.6, 1.7 "
                                                                           "or 1.8 (default: the newest, 1.8)."),
          level: int = typer.Option(2, "--level", help="Profile level: 1 (Level 1 controls) or 2 (all: Level 2 "
                                                       "includes Level 1)."),
          exceptions: Optional[str] = typer.Option(None, "--exceptions", help="The exceptions file (default: "
                                                   "/etc/dockharden/exceptions.toml under --root, if it exists)."),
          textfile: Optional[str] = typer.Option(None, "--textfile", help="Also write a Prometheus textfile "
                                                 "(node_exporter's textfile collector) here, atomically."),
          probe: bool = typer.Option(False, "--probe", help="Also run throwaway containers to see what the "
                                                            "daemon really enforces."),
          image: Optional[str] = typer.Option(None, "--image", help="A local image for --probe (default: one "
                                                                    "built offline from the host's busybox).")) -> None:
    """The CIS Docker Benchmark controls of sections 1-3, read from the live host."""
    import time

    from dockharden import check_formats, pipeline
    from dockharden.apply import docker_socket
    from dockharden.checking import run_check

    chosen = _check_format(fmt, json_out, level)
    if textfile and not textfile.endswith(".prom"):
        raise DockhardenError("node_exporter's textfile collector reads only files ending in .prom",
                              key="--textfile", path=textfile, hint="name the file NAME.prom")
    ctx = _context(root)
    config, _ = pipeline.read_selection(ctx, None, None)
    socket_path = docker_socket(root, config)
    outcome = run_check(root, ctx.runner, socket_path, benchmark=benchmark, level=level, exceptions_file=exceptions,
                        probe=(lambda: _probe(ctx.runner, socket_path, image)) if probe else None)
    for note in outcome.notes:
        _say(f"note: {note}")
    if textfile:
        _write_textfile(textfile, check_formats.render_textfile(outcome.results, outcome.run, time.time()))
    sys.stdout.write(check_formats.render(chosen, outcome.results, outcome.run, outcome.probe))
    if any(r.counted for r in outcome.results):
        raise typer.Exit(2)


def _check_format(fmt: str | None, json_out: bool, level: int) -> str:
    from dockharden.check_formats import FORMATS

    if fmt is not None and fmt not in FORMATS:
        raise DockhardenError(f"unknown format {fmt!r}", key="--format", hint="use one of " + ", ".join(FORMATS))
    if json_out and fmt not in (None, "json"):
        raise DockhardenError(f"--json asks for json, --format for {fmt}", key="--format",
                              hint="give one of them (--json is --format json)")
    if level not in (1, 2):
        raise DockhardenError(f"no profile level {level}", key="--level",
                              hint="use 1 (Level 1 controls) or 2 (Level 1 and Level 2)")
    return "json" if json_out else (fmt or "text")


def _write_textfile(path: str, text: str) -> None:
    import os

    from dockharden.hostfs import HostFS

    HostFS("/").write(os.path.abspath(path), text.encode(), 0o644)


def _probe(runner, socket_path: str, image: str | None) -> dict:
    from dataclasses import asdict

    from dockharden.probe import run_probe

    return asdict(run_probe(runner, docker=["docker", "-H", f"unix://{socket_path}"], image=image))


schedule_app = typer.Typer(no_args_is_help=True, help="A weekly check and verify as a systemd timer, and what "
                                                       "it runs.")
app.add_typer(schedule_app, name="schedule")
EXIT_SCHEDULE_RUN = ("Exit status: 0 no counted control fails and nothing drifted; 2 a counted control fails or the "
                     "host drifted (the reports say which); 1 an error, a bad option included; " + INTERRUPTED)
ReportsOpt = typer.Option("/var/lib/dockharden/reports", "--reports", help="Where the JSON reports and textfiles go.")
BenchmarkOpt = typer.Option("1.8", "--benchmark", help="CIS Docker Benchmark version: 1.6, 1.7 or 1.8.")
LevelOpt = typer.Option(2, "--level", help="Profile level: 1 or 2.")


@schedule_app.command("install", epilog=EXIT_READ)
def schedule_install(root: str = RootOpt, reports: str = ReportsOpt, benchmark: str = BenchmarkOpt,
                     level: int = LevelOpt,
                     textfile: Optional[str] = typer.Option(None, "--textfile", help="Also write one textfile here "
                                                            "(node_exporter's collector directory, NAME.prom)."),
                     on_calendar: str = typer.Option("weekly", "--on-calendar", help="When (systemd OnCalendar)."),
                     randomized_delay: str = typer.Option("1h", "--randomized-delay", help="Spread a fleet's runs "
                                                          "(systemd RandomizedDelaySec)."),
                     enable: bool = typer.Option(True, "--enable/--no-enable", help="Start the timer now (on the "
                                                 "live host under systemd)."),
                     show_only: bool = typer.Option(False, "--show", help="Print the units; write nothing.")) -> None:
    """Install dockharden-check.timer and .service: check and verify, weekly, reports in --reports."""
    from dockharden import schedule
    from dockharden.benchmarks import benchmark as benchmark_table

    _check_format(None, False, level)
    table = benchmark_table(benchmark)
    if textfile and not textfile.endswith(".prom"):
        raise DockhardenError("node_exporter's textfile collector reads only files ending in .prom",
                              key="--textfile", path=textfile, hint="name the file NAME.prom")
    units = schedule.render_units(schedule.Schedule(schedule.default_command(), "/", reports, table.version, level,
                                                    textfile or "", on_calendar, randomized_delay))
    if show_only:
        for path, text in units.items():
            sys.stdout.write(f"# {path}\n{text}\n")
        return
    from dockharden.hostroot import require_root
    from dockharden.runner import Runner

    require_root(root, writes=True)
    for line in schedule.install_units(root, units, Runner(), enable=enable):
        print(line)


@schedule_app.command("run", epilog=EXIT_SCHEDULE_RUN)
def schedule_run(root: str = RootOpt, reports: str = ReportsOpt, benchmark: str = BenchmarkOpt,
                 level: int = LevelOpt,
                 textfile: Optional[str] = typer.Option(None, "--textfile", help="Also write the metrics here.")) -> None:
    """What the timer runs: check and verify, their reports written atomically into --reports."""
    from dockharden import schedule

    _check_format(None, False, level)
    ctx = _context(root)
    status, said = schedule.run_scheduled(root, ctx.runner, schedule.Schedule((), root, reports, benchmark, level,
                                                                                textfile or ""))
    for line in said:
        print(line)
    if status:
        raise typer.Exit(status)


@app.command("profiles", epilog=EXIT_READ)
def list_profiles() -> None:
    """List the built-in layers."""
    from dockharden.profiles import builtin_profiles, load_builtin

    for name in builtin_profiles():
        print(f"{name:<10} {load_builtin(name).description}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run one command and exit with the status the contract gives its outcome.

    The standard streams are guarded first (a closed or full output never changes the outcome), and
    SIGINT, SIGTERM and SIGHUP end a command with one line, unless an apply holds them to a step boundary.
    """
    from dockharden import console, interrupts

    streams = console.guard_std_streams()
    with interrupts.raising():
        status = _run(sys.argv[1:] if argv is None else argv)
    interrupts.ignore()  # the outcome is settled: a late signal cannot change it
    lost = streams.lost_output()
    if lost:
        _say(f"the output could not be written ({lost}); the exit status ({status}) is the command's own")
    sys.exit(status)


def _run(args: list[str]) -> int:
    from dockharden.errors import from_os_error
    from dockharden.interrupts import Interrupted, Signalled, signal_name

    try:
        return _invoke(args)
    except Signalled as exc:  # outside apply's transaction nothing is half done
        _say(f"interrupted by {signal_name(exc.signum)}; nothing was changed")
        return 128 + exc.signum
    except KeyboardInterrupt:  # only where no handler could be set (not the main thread)
        _say("interrupted by SIGINT; nothing was changed")
        return 130
    except Interrupted as exc:  # before apply's transaction began, or at its question
        _say(exc.paragraph())
        return exc.exit_code
    except DockhardenError as exc:
        _say(f"error: {exc.paragraph()}")
        return exc.exit_code
    except click.exceptions.ClickException as exc:
        _say(f"error: {_usage_paragraph(exc, args)}")
        return 1
    except OSError as exc:  # the machine said no somewhere no typed error names it
        _say(f"error: {from_os_error(exc).paragraph()}")
        return 1


def _invoke(args: list[str]) -> int:
    """Click's parsing and dispatch without its own error printing and exit statuses (a usage error
    would be 2, which plan, verify and check give a meaning of their own)."""
    command = typer.main.get_command(app)
    try:
        with command.make_context("dockharden", list(args)) as ctx:
            command.invoke(ctx)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


def _usage_paragraph(exc: click.exceptions.ClickException, args: list[str]) -> str:
    """A usage error as one paragraph: what was wrong, at most one suggestion, and where help is."""
    group = typer.main.get_command(app)
    names = group.list_commands(click.Context(group))
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return f"no command given. Hint: one of {', '.join(names)}; `dockharden --help` says what each does"
    ctx = getattr(exc, "ctx", None)
    # an option's missing value is reported without a context: the command is the first known name given
    command = ctx.info_name if ctx and ctx.parent else next((a for a in args if a in names), None)
    possibilities = getattr(exc, "possibilities", None)
    if possibilities:  # Click's closest match first: one suggestion per typo
        message = f"{exc.message.rstrip('.')} (did you mean {possibilities[0]!r}?)"
    else:
        message = exc.format_message().rstrip(".")
    message = message[:1].lower() + message[1:]
    if isinstance(exc, click.exceptions.NoSuchCommand) or not command:
        return f"{message}. Hint: `dockharden --help` lists the commands and options"
    return f"{command}: {message}. Hint: `dockharden {command} --help` lists its options"
