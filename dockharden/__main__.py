"""The `dockharden` command's process (and `python -m dockharden`): cli.run, started and ended for speed.

Python's cyclic garbage collector is paused while the command line's modules load: they make tens of
thousands of tracked objects and no garbage, so every collection there is pure cost; those objects are
then frozen (gc.freeze: later collections skip them) and collection resumes for the command's own work,
however long an apply runs.

When the command is done the process ends with os._exit, skipping the interpreter's teardown (freeing
every module and object one by one): by then everything dockharden writes has been written and closed or
fsynced, the standard streams write straight to their descriptors, and the lock is a descriptor the
kernel releases. The teardown is skipped only when nothing in it would do work, so the process exits the
ordinary way (sys.exit) when:

- DOCKHARDEN_NO_FAST_EXIT is set to anything but "" or "0" (the opt-out);
- the interpreter was not started to run this command (`python -m dockharden`, the `dockharden` script):
  a program that registers its own exit work and then runs dockharden's main (runpy, an in-process test
  launcher) keeps that work;
- an atexit callback was registered since this module started. Python has no public way to list atexit
  callbacks, so this module wraps `atexit.register` before anything else is imported and records each
  registration (a callback unregistered again still counts). A callback registered before this module
  runs, by a .pth file or sitecustomize at interpreter start, cannot be seen: set the opt-out for one;
- a thread that is not a daemon is still running (the ordinary exit waits for it);
- a tracer or profiler is set (sys.gettrace, sys.getprofile: coverage, cProfile write at exit) or, on
  Python 3.12 and later, a sys.monitoring tool holds one of the ids 0-5 (3.11 has no sys.monitoring).

What the fast end saves is measured in docs/performance.md. cli.main, which tests and other Python
callers use in their own process, always exits the ordinary way.

SIGINT, SIGTERM and SIGHUP are handled from the first lines of this module on, before any heavy import:
a signal while the command line loads (nothing is read or written yet) ends the command as one later
does, with the documented line `dockharden: interrupted by SIG...; nothing was changed` (and with --json
the error document) and 128 + its number, never a KeyboardInterrupt traceback or a silent death. The
start-up handler raises nothing (an exception raised inside the import machinery can be swallowed, or
escape before main's try): it says the line and ends the process at once. cli.run installs its own
handlers next (execute/interrupts.py) and ignores the signals once the outcome is settled; a signal
this process was told to ignore (nohup) stays ignored. A signal before Python runs this module (during
the interpreter's own start-up) is Python's to handle.
"""

import os
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ERROR_FORMAT_VERSION = 1  # report.FORMAT_VERSION, kept equal by tests/cli/test_streams_and_signals.py


def _startup_signal(signum: int, frame: object) -> None:
    """Said and ended at once: nothing has been read or written while the command line loads."""
    for other in SIGNALS:  # a second signal cannot cut the line short
        if signal.getsignal(other) is not signal.SIG_IGN:
            signal.signal(other, signal.SIG_IGN)
    name, status = signal.Signals(signum).name, 128 + signum
    line = f"interrupted by {name}; nothing was changed"
    args = sys.argv[1:]
    args = args[:args.index("--")] if "--" in args else args
    try:
        os.write(2, f"dockharden: {line}\n".encode())
        if "--json" in args:
            command = next((a for a in args if not a.startswith("-")), None)
            command = f'"{command}"' if command and command.replace("-", "").isalnum() else "null"
            os.write(1, (f'{{\n  "format_version": {ERROR_FORMAT_VERSION},\n  "kind": "dockharden.error",\n'
                         f'  "command": {command},\n  "exit_status": {status},\n  "error": {{\n'
                         f'    "type": "interrupted",\n    "message": "{line}",\n    "hint": "",\n'
                         f'    "path": "",\n    "key": "",\n    "signal": "{name}"\n  }}\n}}\n').encode())
    except OSError:
        pass
    os._exit(status)


def _take_signals() -> None:
    for signum in SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _startup_signal)


_take_signals()  # first: everything below may be interrupted

import atexit  # noqa: E402

NO_FAST_EXIT = "DOCKHARDEN_NO_FAST_EXIT"
REGISTERED_AT_EXIT: list = []  # the callbacks registered with atexit since this module started


def _watch_atexit() -> None:
    """Record every atexit callback registered from now on (the interpreter cannot list them)."""
    register = atexit.register

    def register_and_record(func, /, *args, **kwargs):
        REGISTERED_AT_EXIT.append(func)
        return register(func, *args, **kwargs)

    register_and_record.__doc__ = register.__doc__
    atexit.register = register_and_record


_watch_atexit()  # before the command line's modules: a callback any of them registers is seen

import gc  # noqa: E402
import threading  # noqa: E402


def main() -> None:
    gc.disable()
    try:
        from dockharden import cli
    finally:
        gc.freeze()
        gc.enable()
    try:
        status = cli.run()
    except SystemExit as exc:  # a path that exits by itself (shell completion's answer)
        if not isinstance(exc.code, int | None):
            raise
        status = exc.code or 0
    end(status)


def end(status: int) -> None:
    """Leave with `status` without the interpreter's teardown, unless something would be lost without it."""
    for stream in (sys.__stdout__, sys.__stderr__, sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    if ordinary_exit_reason() is not None:
        sys.exit(status)
    os._exit(status)


def ordinary_exit_reason() -> str | None:
    """Why this process must exit the ordinary way (see the module's docstring), or None."""
    if os.environ.get(NO_FAST_EXIT, "") not in ("", "0"):
        return f"{NO_FAST_EXIT} is set"
    if not started_as_the_command():
        return "the interpreter was started for another program"
    if REGISTERED_AT_EXIT:
        return "an atexit callback is registered"
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return "a thread that is not a daemon is running"
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return "a tracer or profiler is set"
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+
    if monitoring is not None and any(monitoring.get_tool(tool) is not None for tool in range(6)):
        return "a sys.monitoring tool is registered"
    return None


def started_as_the_command() -> bool:
    """Whether the interpreter's own command line (sys.orig_argv) runs this command: `-m dockharden` or the
    script in sys.argv[0], followed by the command's arguments."""
    args = sys.argv[1:]
    split = len(sys.orig_argv) - len(args)
    program, given = sys.orig_argv[:split], sys.orig_argv[split:]
    return split > 0 and given == args and (program[-2:] == ["-m", "dockharden"] or program[-1] == sys.argv[0])


if __name__ == "__main__":
    main()
