"""The `dockharden` command: parse options, call api, print what report and ui render. No logic here:
no policy (a saved plan's rules, the schedule's units, the textfiles are api's) and no file written or
read (only the standard streams; tests/unit/test_architecture.py).

Errors become exit statuses here, and only here (the contract is in docs/user-guide.md): 2 means only
what a command documents (plan --detailed-exitcode: changes pending; verify: drift; check: a counted
control fails; schedule run: either); every error, a bad option included, is one paragraph and 1; a signal is one line and
128 + its number.
"""

# No `from __future__ import annotations`: Typer would then evaluate every annotation string of every
# command at each start (typing.get_type_hints), doubling the time it takes to build the command line.
import json
import os
import sys
from collections.abc import Callable
from typing import List, Literal, Optional

import typer

from dockharden.errors import DockhardenError
from dockharden.model import RunOutcome

HELP = ("Harden a Docker host idempotently and safely. `plan` shows what would change and why, `apply` makes "
        "it real (backed up, verified, rolled back on failure), `rollback` and `history` work with the "
        "generations, `verify` and `check` read the live host.")
EPILOG = ("Every command's -h ends with its exit statuses; 2 means only what a command documents. With --json, "
          "results and errors are versioned JSON documents on standard output.")

# suggest_commands=False: Click itself offers the one suggestion a typo gets (Typer would add a second)
app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True, pretty_exceptions_enable=False,
                  suggest_commands=False, context_settings={"help_option_names": ["-h", "--help"]},
                  help=HELP, epilog=EPILOG)

#: Click's ClickException: every usage error the command line raises is one. Found among the bases of Typer's
#: public BadParameter, so that no private module is named: Typer 0.26 and later raise their own copy of
#: Click's classes, earlier lines Click's own (the lines that work: pyproject.toml, tests/cli/test_typer_lines.py).
USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

INTERRUPTED = "130, 143 or 129 interrupted by SIGINT, SIGTERM or SIGHUP."
EXIT_PLAN = ("Exit status: 0 the plan was made (with --detailed-exitcode: nothing would change); 2 changes are "
             "pending (only with --detailed-exitcode); 1 an error, a bad option included; " + INTERRUPTED)
EXIT_APPLY = ("Exit status: 0 applied, or nothing to do; 1 an error, a bad option, a declined question, or a run "
              "that failed and was rolled back (or could not be: the message says where the backups are); "
              + INTERRUPTED + " A signal during the run lets the step under way finish, then rolls back.")
EXIT_VERIFY = ("Exit status: 0 no drift: every row in force, pending or not verifiable here (the summary counts "
               "each; only all in force is called in force); 2 drift (a mismatch is listed); 1 an error, a bad "
               "option or a probe asked for that did not run included; " + INTERRUPTED)
EXIT_CHECK = ("Exit status: 0 no counted control fails (failures at the chosen level, Automated or Manual, "
              "not under an exception in force; not_verifiable never counts); 2 a counted control fails (an expired "
              "exception counts); 1 an error, a bad option or exceptions file or a probe asked for that did not "
              "run included; " + INTERRUPTED)
EXIT_READ = "Exit status: 0 done; 1 an error, a bad option included; " + INTERRUPTED

ProfileOpt = typer.Option(None, "--profile", "-p", metavar="NAMES",
                          help="Built-in layers, comma separated (default: baseline).")
LayerOpt = typer.Option(None, "--layer", "-l", metavar="FILE",
                        help="An operator layer file (TOML or JSON); repeatable.")
RootOpt = typer.Option("/", "--root", metavar="DIR",
                       help="Read every host path under this directory (an image, a chroot).")
RootWriteOpt = typer.Option("/", "--root", metavar="DIR",
                            help="Read and write every host path under this directory (an image, a chroot: then "
                                 "no service is touched).")
JsonOpt = typer.Option(False, "--json", help="Print a versioned JSON document (errors too).")
EngineOpt = typer.Option(None, "--engine-version", metavar="VERSION",
                         help="Plan for this Engine version instead of asking dockerd.")
UserOpt = typer.Option(None, "--user", metavar="USER", help="The rootless daemon's user (with the rootless profile).")
StopForSwitchOpt = typer.Option(False, "--stop-containers-for-store-switch",
                                help="When the restart moves dockerd to another data root or image store "
                                     "(userns-remap, data-root, the containerd snapshotter) while containers run: "
                                     "stop them (docker stop) before the restart, so none is left without a daemon. "
                                     "Without it apply refuses.")
AdoptOpt = typer.Option(False, "--adopt-ufw-docker",
                        help="Adopt chaifeng/ufw-docker's block in /etc/ufw/after.rules (and after6.rules): replace "
                             "it by dockharden's DOCKER-USER block, which keeps what it allowed (the plan says "
                             "what). The same as `adopt_ufw_docker = true` in a layer's [ufw] table.")
ColorOpt = typer.Option(None, "--color/--no-color", show_default=False,
                        help="Colour the plan (default: on a terminal, unless NO_COLOR is set or TERM=dumb).")


def _say(text: str) -> None:
    """One line on standard error: a newline inside `text` (a file name, a value) is shown as \\n, and what
    is not printable as an escape (the guarded stream does the same for every other output)."""
    from dockharden.ui.console import printable

    print(f"dockharden: {printable(text, newlines=False)}", file=sys.stderr)


def _print_version(value: bool) -> None:
    if value:
        from dockharden import __version__

        print(f"dockharden {__version__}")
        raise typer.Exit(0)


@app.callback()
def _top(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                      help="Print dockharden's version and exit.")) -> None:
    pass


def _request(root: str, profile: str | None = None, layer: list[str] | None = None,
             engine_version: str | None = None, user: str | None = None, *, waits: bool = False,
             stop_for_switch: bool = False, adopt_ufw_docker: bool = False, lock_timeout: str = "0s",
             ctx: typer.Context | None = None):
    """The library request for these options; `waits`: apply and rollback, whose waits are drawn live on a
    terminal's standard error (plain lines elsewhere)."""
    from dockharden.api import Request
    from dockharden.core.selection import split_profiles

    progress, waiting = _say, None
    if waits:
        from dockharden.ui.console import can_animate
        from dockharden.ui.terminal import Progress

        progress = Progress(sys.stderr, live=can_animate(sys.stderr))
        waiting = progress.waiting
    from dockharden.core.values import checked, lock_wait

    wait = checked(lock_wait, lock_timeout, key="--lock-timeout", error=DockhardenError)
    # the fault-injection tests' failpoint, given to run() by their own entry point (tests/failpoints.py)
    # and carried by the command's context; the dockharden command reads no fault-injection variable
    failpoint = (ctx.find_object(dict) or {}).get("failpoint") if ctx is not None else None
    return Request(root=root, profiles=split_profiles(profile), layers=layer or None, lock_timeout=wait,
                   engine_version=engine_version, user=user, progress=progress, stop_for_store_switch=stop_for_switch,
                   adopt_ufw_docker=adopt_ufw_docker, **({"failpoint": failpoint} if failpoint else {}),
                   **({"waiting": waiting} if waiting else {}))


def _painter(flag: bool | None):
    """terminal.paint when standard output wants colour (--color, or a terminal without NO_COLOR), else
    None; the colour code is imported only then."""
    from dockharden.ui.console import colour_wanted

    if not colour_wanted(sys.stdout, flag):
        return None
    from dockharden.ui.terminal import CONTROLS, paint

    getattr(sys.stdout, "allow", lambda _sequences: None)(CONTROLS)  # the guarded stream lets our colours by
    return paint


@app.command(epilog=EXIT_PLAN, short_help="Show what apply would change, and why; writes nothing.")
def plan(ctx: typer.Context, profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
         json_out: bool = JsonOpt, detailed_exitcode: bool = typer.Option(
             False, "--detailed-exitcode", help="Exit 0 when nothing would change, 2 when changes are pending."),
         diff: bool = typer.Option(False, "--diff", help="Show new files in full."),
         no_restart: bool = typer.Option(False, "--no-restart", help="Plan for apply --no-restart: files only."),
         out: Optional[str] = typer.Option(None, "--out", metavar="FILE",
                                           help="Also save the plan to FILE (mode 0600), for `dockharden apply "
                                                "FILE` to apply exactly it."),
         engine_version: Optional[str] = EngineOpt, user: Optional[str] = UserOpt,
         color: Optional[bool] = ColorOpt, stop_for_switch: bool = StopForSwitchOpt,
         adopt_ufw_docker: bool = AdoptOpt) -> None:
    """Show what apply would change, and why. Writes nothing, restarts nothing (--out writes only FILE)."""
    from dockharden import api, report

    request = _request(root, profile, layer, engine_version, user, stop_for_switch=stop_for_switch, ctx=ctx,
                       adopt_ufw_docker=adopt_ufw_docker)
    the_plan = api.make_plan(request, restart=not no_restart)
    shown = report.plan_document(the_plan, root) if json_out or out is not None else None
    if out is not None:
        api.save_plan(request, the_plan, out, shown, restart=not no_restart)
        _say(report.saved_plan_line(the_plan, out, request.root))
    if json_out:
        print(json.dumps(shown, indent=2))
    else:
        # the apply that makes this plan: its root, selection and options (a bare `dockharden apply` would
        # act on / with dockharden.toml's selection), or the saved plan itself
        again = ([out] if out is not None else
                 [*(["--profile", profile] if profile is not None else []), *[a for f in layer or [] for a in ("--layer", f)],
                  *(["--engine-version", engine_version] if engine_version else []), *(["--user", user] if user else []),
                  *(["--stop-containers-for-store-switch"] if stop_for_switch else []),
                  *(["--adopt-ufw-docker"] if adopt_ufw_docker else [])])
        again += (["--root", root] if root != "/" else []) + (["--no-restart"] if no_restart and out is None else [])
        sys.stdout.write(report.render_plan(the_plan, root, full_diff=diff, paint=_painter(color),
                                            run=report.said_command("apply", *again)))
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(2)


def _confirm(json_out: bool, yes: bool, root: str, question: str, color: bool | None = None,
             run: str = "dockharden apply"):
    def confirm(the_plan) -> bool:
        from dockharden import report

        if not json_out:
            sys.stdout.write(report.render_plan(the_plan, root, paint=_painter(color), run=run))
        if yes:
            return True
        try:  # --json: stdout is the document
            return typer.confirm(question + report.closing_question(the_plan), default=False, err=json_out)
        except typer.Abort:  # standard input ended: no answer is no
            _say("no answer (standard input ended); give --yes to go ahead without a question")
            return False
    return confirm


def _finish(outcome, json_out: bool, command: str) -> None:
    from dockharden import report

    for line in outcome.recovered:
        _say(line)
    if outcome.result is None:
        _say("nothing was changed")
        if json_out:
            _print_error_document(command, 1, "declined", "the changes were not confirmed; nothing was changed",
                                  hint="give --yes to go ahead without a question")
        raise typer.Exit(1)
    result = outcome.result
    if json_out:
        print(json.dumps(report.result_document(result, list(outcome.recovered)), indent=2))
    else:
        sys.stdout.write(report.render_result(result))
    if result.interrupted:
        _say(report.interrupted_line(result))
        raise typer.Exit(128 + result.interrupted if result.result == RunOutcome.ROLLED_BACK else 1)
    if not result.ok:
        raise typer.Exit(1)


PlanFileArg = typer.Argument(None, metavar="[FILE]", show_default=False,
                             help="A plan saved by `dockharden plan --out FILE`.")


LockTimeoutOpt = typer.Option("0s", "--lock-timeout", metavar="DURATION",
                              help="Wait up to DURATION (30s, 5m, 1m30s) for another run's lock instead of failing "
                                   "at once (a scheduled check, another apply).")


@app.command(epilog=EXIT_APPLY, short_help="Make the plan real, verified; rolled back on failure.")
def apply(ctx: typer.Context, plan_file: Optional[str] = PlanFileArg, profile: Optional[str] = ProfileOpt,
          layer: Optional[List[str]] = LayerOpt, root: str = RootWriteOpt,
          yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
          no_restart: bool = typer.Option(False, "--no-restart", help="Write files only; touch no service."),
          json_out: bool = JsonOpt, engine_version: Optional[str] = EngineOpt,
          user: Optional[str] = UserOpt, color: Optional[bool] = ColorOpt,
          stop_for_switch: bool = StopForSwitchOpt, adopt_ufw_docker: bool = AdoptOpt,
          lock_timeout: str = LockTimeoutOpt,
          close_published_ports: bool = typer.Option(
              False, "--close-published-ports", help="Let the firewall (the DOCKER-USER block or the nftables "
                                                     "table) close running containers' published ports to outside "
                                                     "sources without a question (with --yes or FILE: else such a run "
                                                     "refuses).")) -> None:
    """Make the plan real: back up, write atomically, reload or restart, verify; roll back on failure.

    With FILE, apply exactly that saved plan, without a question (it was reviewed when it was made), or
    refuse, naming what changed, if the host no longer matches it.
    """
    from dockharden import api

    if plan_file is not None:
        _refuse_selection_flags("apply", plan_file, profile=profile, layer=layer, engine_version=engine_version,
                                user=user, stop_containers_for_store_switch=stop_for_switch,
                                adopt_ufw_docker=adopt_ufw_docker)
        return _apply_saved(plan_file, root, no_restart, json_out, close_published_ports, lock_timeout, ctx)
    outcome = api.apply(_request(root, profile, layer, engine_version, user, waits=True,
                                 stop_for_switch=stop_for_switch, adopt_ufw_docker=adopt_ufw_docker,
                                 lock_timeout=lock_timeout, ctx=ctx),
                        restart=not no_restart,
                        confirm=_confirm(json_out, yes, root, "Apply these changes?", color),
                        close_published_ports=close_published_ports, asks=not yes)
    _finish(outcome, json_out, "apply")


def _refuse_selection_flags(command: str, plan_file: str, **given) -> None:
    """A saved plan was made from its own selection: flags that would choose another are refused."""
    flags = [f"--{name.replace('_', '-')}" for name, value in given.items() if value]
    if flags:
        raise DockhardenError(f"{command} FILE takes the plan as it was made; it takes no {', '.join(flags)}",
                              hint=f"`dockharden show {plan_file}` says what the plan was made with; to choose "
                                   "other layers, make a new plan: `dockharden plan ... --out FILE`", path=plan_file)


def _apply_saved(plan_file: str, root: str, no_restart: bool, json_out: bool, close_ports: bool,
                 lock_timeout: str = "0s", ctx: typer.Context | None = None) -> None:
    from dockharden import api

    saved = api.read_saved_plan(plan_file, no_restart=no_restart)
    _finish(api.apply_saved(_request(root, waits=True, lock_timeout=lock_timeout, ctx=ctx), saved,
                            close_published_ports=close_ports), json_out, "apply")


@app.command(epilog=EXIT_APPLY.replace("applied,", "rolled back,"),
             short_help="Return the host to an earlier generation.")
def rollback(ctx: typer.Context, to: Optional[str] = typer.Option(None, "--to", metavar="ID",
                                              help="Restore every file to how it was before this generation "
                                                   "(default: undo the last apply)."),
             root: str = RootWriteOpt, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
             no_restart: bool = typer.Option(False, "--no-restart", help="Restore files only; touch no service."),
             json_out: bool = JsonOpt, color: Optional[bool] = ColorOpt,
             stop_for_switch: bool = StopForSwitchOpt, lock_timeout: str = LockTimeoutOpt) -> None:
    """Return the host to an earlier generation; validated, verified and recorded like an apply."""
    from dockharden import api

    again = " ".join(["dockharden rollback", *(["--to", to] if to else []), *(["--root", root] if root != "/" else []),
                      *(["--no-restart"] if no_restart else []),
                      *(["--stop-containers-for-store-switch"] if stop_for_switch else [])])
    outcome = api.rollback(_request(root, waits=True, stop_for_switch=stop_for_switch, lock_timeout=lock_timeout,
                                    ctx=ctx), to=to,
                           restart=not no_restart,
                           confirm=_confirm(json_out, yes, root, "Roll back?", color, run=again))
    _finish(outcome, json_out, "rollback")


@app.command(epilog=EXIT_READ, short_help="List the generations, newest first.")
def history(root: str = RootOpt, json_out: bool = JsonOpt) -> None:
    """The generations, newest first: id, time, kind, layers, files, result."""
    from dockharden import api, report

    history = api.history(_request(root))
    if json_out:
        print(json.dumps(report.history_document(history), indent=2))
    else:
        sys.stdout.write(report.render_history(history))


@app.command(epilog=EXIT_VERIFY)
def verify(ctx: typer.Context, profile: Optional[str] = ProfileOpt, layer: Optional[List[str]] = LayerOpt, root: str = RootOpt,
           json_out: bool = JsonOpt,
           probe: bool = typer.Option(False, "--probe", help="Also check what probe containers see."),
           image: Optional[str] = typer.Option(None, "--image", metavar="IMAGE", help="A local image for --probe."),
           user: Optional[str] = UserOpt) -> None:
    """Compare the live daemon, audit rules and firewall with the desired state; change nothing."""
    from dockharden import api, report

    rows, notes = api.verify(_request(root, profile, layer, user=user, ctx=ctx), probe=probe, image=image)
    if json_out:
        print(json.dumps(report.drift_document(rows, notes), indent=2))
    else:
        sys.stdout.write(report.render_drift(rows, notes))
    if any(row.drifted for row in rows):
        raise typer.Exit(2)


@app.command(epilog=EXIT_READ, short_help="Print the merged layers, or a saved plan.")
def show(plan_file: Optional[str] = PlanFileArg, profile: Optional[str] = ProfileOpt,
         layer: Optional[List[str]] = LayerOpt, root: str = RootOpt, json_out: bool = JsonOpt,
         color: Optional[bool] = ColorOpt) -> None:
    """Print the merged layers with the layer that set each key.

    With FILE, print that saved plan, what it was made from, and whether the host still matches it (the
    root it was made for, unless --root names another).
    """
    from dockharden import api, report

    if plan_file is not None:
        _refuse_selection_flags("show", plan_file, profile=profile, layer=layer)
        return _show_saved(plan_file, root, json_out, color)

    settings = api.show(_request(root, profile, layer))
    if json_out:
        print(json.dumps(report.provenance_document(settings), indent=2))
    else:
        sys.stdout.write(report.render_provenance(settings))


def _show_saved(plan_file: str, root: str, json_out: bool, color: bool | None) -> None:
    from dockharden import api, report

    status = api.show_saved(_request(root), plan_file)
    if json_out:
        print(json.dumps(report.saved_plan_document(status), indent=2))
    else:
        sys.stdout.write(report.render_saved_plan(status, paint=_painter(color)))


@app.command(epilog=EXIT_CHECK)
def check(root: str = RootOpt, json_out: bool = typer.Option(False, "--json", help="The same as --format json."),
          fmt: Optional[str] = typer.Option(None, "--format", metavar="FORMAT", help="text (default), json, sarif or junit."),
          benchmark: Optional[str] = typer.Option(None, "--benchmark", metavar="VERSION", help="CIS Docker Benchmark version: 1.6, 1.7 "
                                                                           "or 1.8 (default: the newest, 1.8)."),
          level: int = typer.Option(2, "--level", metavar="LEVEL", help="Profile level: 1 (Level 1 controls) or 2 (all: Level 2 "
                                                       "includes Level 1)."),
          exceptions: Optional[str] = typer.Option(None, "--exceptions", metavar="FILE", help="The exceptions file (default: "
                                                   "/etc/dockharden/exceptions.toml under --root, if it exists)."),
          textfile: Optional[str] = typer.Option(None, "--textfile", metavar="FILE", help="Also write a Prometheus textfile "
                                                 "(node_exporter's textfile collector) here, atomically."),
          probe: bool = typer.Option(False, "--probe", help="Also run throwaway containers to see what the "
                                                            "daemon really enforces."),
          image: Optional[str] = typer.Option(None, "--image", metavar="IMAGE", help="A local image for --probe (default: one "
                                                                    "built offline from the host's busybox).")) -> None:
    """The CIS Docker Benchmark controls of sections 1-3, 4.1 and 5 (the running containers' runtime controls),
    read from the host; under --root, from its files (what only a live host shows is not_verifiable)."""
    from dockharden import api
    from dockharden.inspect import formats as check_formats

    chosen = _check_format(fmt, json_out, level)
    if textfile:
        api.checked_textfile(textfile)
    request = _request(root)
    outcome = api.check(request, benchmark=benchmark, level=level, exceptions_file=exceptions, probe=probe,
                        image=image)
    for note in outcome.notes:
        _say(f"note: {note}")
    if textfile:
        api.write_check_textfile(request, textfile, outcome)
    sys.stdout.write(check_formats.render(chosen, outcome.results, outcome.run, outcome.probe))
    if any(r.counted for r in outcome.results):
        raise typer.Exit(2)


def _check_format(fmt: str | None, json_out: bool, level: int) -> str:
    from dockharden.inspect.formats import FORMATS

    if fmt is not None and fmt not in FORMATS:
        raise DockhardenError(f"unknown format {fmt!r}", key="--format", hint="use one of " + ", ".join(FORMATS))
    if json_out and fmt not in (None, "json"):
        raise DockhardenError(f"--json asks for json, --format for {fmt}", key="--format",
                              hint="give one of them (--json is --format json)")
    from dockharden.api import checked_level

    checked_level(level)
    return "json" if json_out else (fmt or "text")


schedule_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="A weekly check and verify as a systemd timer, and what "
                                                       "it runs.")
app.add_typer(schedule_app, name="schedule")
EXIT_SCHEDULE_RUN = ("Exit status: 0 no counted control fails and nothing drifted; 2 a counted control fails or the "
                     "host drifted (the reports say which); 1 an error, a bad option included; " + INTERRUPTED)
ReportsOpt = typer.Option("/var/lib/dockharden/reports", "--reports", help="Where the JSON reports and textfiles go.")
BenchmarkOpt = typer.Option("1.8", "--benchmark", metavar="VERSION", help="CIS Docker Benchmark version: 1.6, 1.7 or 1.8.")
LevelOpt = typer.Option(2, "--level", metavar="LEVEL", help="Profile level: 1 or 2.")


@schedule_app.command("install", epilog=EXIT_READ)
def schedule_install(root: str = RootOpt, reports: str = ReportsOpt, benchmark: str = BenchmarkOpt,
                     level: int = LevelOpt,
                     textfile: Optional[str] = typer.Option(None, "--textfile", metavar="FILE", help="Also write one textfile here "
                                                            "(node_exporter's collector directory, NAME.prom)."),
                     on_calendar: str = typer.Option("weekly", "--on-calendar", help="When (systemd OnCalendar)."),
                     randomized_delay: str = typer.Option("1h", "--randomized-delay", help="Spread a fleet's runs "
                                                          "(systemd RandomizedDelaySec)."),
                     enable: bool = typer.Option(True, "--enable/--no-enable", help="Start the timer now (on the "
                                                 "live host under systemd)."),
                     show_only: bool = typer.Option(False, "--show", help="Print the units; write nothing.")) -> None:
    """Install dockharden-check.timer and .service: check and verify, weekly, reports in --reports."""
    from dockharden import api, report

    units = api.schedule_units(reports=reports, benchmark=benchmark, level=level, textfile=textfile,
                               on_calendar=on_calendar, randomized_delay=randomized_delay)
    if show_only:
        sys.stdout.write(report.render_units(units))
        return
    for line in api.install_schedule(_request(root), units, enable=enable):
        print(line)


@schedule_app.command("uninstall", epilog=EXIT_READ)
def schedule_uninstall(root: str = RootOpt) -> None:
    """Stop and disable dockharden-check.timer and remove the two units `schedule install` wrote."""
    from dockharden import api

    for line in api.uninstall_schedule(_request(root)):
        print(line)


@schedule_app.command("run", epilog=EXIT_SCHEDULE_RUN)
def schedule_run(root: str = RootOpt, reports: str = ReportsOpt, benchmark: str = BenchmarkOpt,
                 level: int = LevelOpt,
                 textfile: Optional[str] = typer.Option(None, "--textfile", metavar="FILE", help="Also write the metrics here.")) -> None:
    """What the timer runs: check and verify, their reports written atomically into --reports."""
    from dockharden import api, report

    done = api.run_scheduled(_request(root), reports=reports, benchmark=benchmark, level=level, textfile=textfile)
    for line in report.scheduled_lines(done):
        print(line)
    if done.failing or done.drifted:
        raise typer.Exit(2)


@app.command("profiles", epilog=EXIT_READ)
def list_profiles() -> None:
    """List the built-in layers."""
    from dockharden import api, report

    sys.stdout.write(report.render_profiles(api.profiles()))


@app.command(epilog=EXIT_READ, short_help="Print the shell completion script for bash or zsh.")
def completion(shell: Literal["bash", "zsh"] = typer.Argument(..., metavar="SHELL",
                                           help="bash or zsh.")) -> None:
    """Print the completion script for SHELL; save it where the shell loads completions:

    bash: /etc/bash_completion.d/dockharden (or ~/.local/share/bash-completion/completions/dockharden);
    zsh: _dockharden in a directory on $fpath (e.g. /usr/local/share/zsh/site-functions/_dockharden).
    """
    from dockharden.ui.completion import script

    sys.stdout.write(script(shell))


def main(argv: list[str] | None = None) -> None:
    """Run one command and exit with the status the contract gives its outcome (for callers in this
    process; the `dockharden` command itself starts in __main__.py)."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None, *, failpoint: Callable[[str], None] | None = None) -> int:
    """Run one command; the exit status the contract gives its outcome.

    The standard streams are guarded first (a closed or full output never changes the outcome), and
    SIGINT, SIGTERM and SIGHUP end a command with one line, unless an apply holds them to a step boundary.
    `failpoint`: the fault-injection tests' hook (execute/faults.py), given only by their entry point
    (tests/failpoints.py); the dockharden command never sets one.
    """
    from dockharden.execute import interrupts
    from dockharden.ui import console

    streams = console.guard_std_streams()
    if "_DOCKHARDEN_COMPLETE" in os.environ:  # the shell asks what to complete (completion.py)
        from dockharden.ui.completion import answer

        sys.exit(answer(typer.main.get_command(app)))
    with interrupts.raising(then_ignore=True):  # once settled, a late signal cannot change the outcome
        status = _run(sys.argv[1:] if argv is None else argv, failpoint)
    lost = streams.lost_output()
    if lost:
        _say(f"the output could not be written ({lost}); the exit status ({status}) is the command's own")
    return status


def _run(args: list[str], failpoint: Callable[[str], None] | None = None) -> int:
    from dockharden.errors import from_os_error
    from dockharden.execute.interrupts import Interrupted, Signalled, signal_name

    try:
        return _invoke(args, failpoint)
    except Signalled as exc:  # outside apply's transaction nothing is half done
        return _failed(args, 128 + exc.signum, f"interrupted by {signal_name(exc.signum)}; nothing was changed",
                       "interrupted", signal=signal_name(exc.signum))
    except KeyboardInterrupt:  # only where no handler could be set (not the main thread)
        return _failed(args, 130, "interrupted by SIGINT; nothing was changed", "interrupted", signal="SIGINT")
    except Interrupted as exc:  # before apply's transaction began, or at its question
        return _failed(args, exc.exit_code, exc.paragraph(), "interrupted", signal=signal_name(exc.signum))
    except DockhardenError as exc:
        return _failed(args, exc.exit_code, f"error: {exc.paragraph()}", type(exc).__name__, error=exc)
    except USAGE_ERROR as exc:
        message, _, hint = _usage_paragraph(exc, args).partition(". Hint: ")
        return _failed(args, 1, f"error: {message}. Hint: {hint}", "usage", hint=hint, message=message)
    except OSError as exc:  # the machine said no somewhere no typed error names it
        return _failed(args, 1, f"error: {from_os_error(exc).paragraph()}", "system", error=from_os_error(exc))


def _failed(args: list[str], status: int, line: str, kind: str, *, error: DockhardenError | None = None,
            message: str = "", hint: str = "", signal: str | None = None) -> int:
    """Say what failed in one line on standard error; with --json also as a document on standard output."""
    _say(line)
    if _wants_json(args):
        if error is not None:
            message, hint = error.message, error.hint
        _print_error_document(_command_in(args), status, kind, message or line, hint=hint, signal=signal,
                              path=error.path if error else "", key=error.key if error else "")
    return status


def _wants_json(args: list[str]) -> bool:
    """--json among the options (before a `--` that ends them), even when parsing them failed."""
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def _print_error_document(command: str | None, status: int, kind: str, message: str, **details) -> None:
    from dockharden import report

    print(json.dumps(report.error_document(command, status, kind, message, **details), indent=2))


def _command_in(args: list[str]) -> str | None:
    names = typer.main.get_command(app).list_commands(None)
    return next((a for a in args if a in names), None)


def _invoke(args: list[str], failpoint: Callable[[str], None] | None = None) -> int:
    """Click's parsing and dispatch without its own error printing and exit statuses (a usage error
    would be 2, which plan, verify and check give a meaning of their own)."""
    command = _command_line(args)
    try:
        with command.make_context("dockharden", list(args), obj={"failpoint": failpoint} if failpoint else None) as ctx:
            command.invoke(ctx)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


def _command_line(args: list[str]):
    """The Click command for `args`. Typer reads every command's options from its function at each start
    (a cost per command: docs/performance.md); when `args` start with the name of one of ours, only that one is built.
    Anything else (no command, an option first, a typo) gets the whole command line."""
    import copy

    name = args[0] if args else ""
    commands = [c for c in app.registered_commands
                if (c.name or typer.main.get_command_name(c.callback.__name__)) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return typer.main.get_command(app)
    only = copy.copy(app)  # the same settings, callback and help; the lists are replaced, not changed
    only.registered_commands, only.registered_groups = commands, groups
    return typer.main.get_command(only)


def _usage_paragraph(exc: Exception, args: list[str]) -> str:
    """A usage error as one paragraph: what was wrong, at most one suggestion, and where help is."""
    group = typer.main.get_command(app)
    names = group.list_commands(typer.Context(group))
    if type(exc).__name__ == "NoArgsIsHelpError":
        return f"no command given. Hint: one of {', '.join(names)}; `dockharden --help` says what each does"
    ctx = getattr(exc, "ctx", None)
    # an option's missing value is reported without a context: the command is the first known name given
    command = ctx.info_name if ctx and ctx.parent else next((a for a in args if a in names), None)
    unknown_command = exc.message.startswith("No such command ")
    possibilities = getattr(exc, "possibilities", None)
    if unknown_command:
        import difflib

        typo = exc.message.removeprefix("No such command ").strip(".")[1:-1]
        possibilities = difflib.get_close_matches(typo, names, n=1)
    if type(exc).__name__ == "NoSuchOption":
        exc.message = f"No such option {exc.option_name!r}"
    if possibilities:  # the closest match first: one suggestion per typo
        message = f"{exc.message.rstrip('.')} (did you mean {possibilities[0]!r}?)"
    else:
        message = exc.format_message().rstrip(".")
    message = message[:1].lower() + message[1:]
    if unknown_command or not command:
        return f"{message}. Hint: `dockharden --help` lists the commands and options"
    return f"{command}: {message}. Hint: `dockharden {command} --help` lists its options"
