"""The `dockharden` command's process (and `python -m dockharden`): cli.run, started and ended for speed.

Python's cyclic garbage collector is paused while the command line's modules load: they make about
27,000 tracked objects and no garbage, so every collection there is pure cost; those objects are then frozen
(gc.freeze: later collections skip them) and collection resumes for the command's own work, however
long an apply runs. When the command is done the process ends with os._exit, skipping the interpreter's
teardown (freeing every module and object one by one): by then everything dockharden writes has been
written and closed or fsynced, the standard streams write straight to their descriptors, the lock is a
descriptor the kernel releases, and no thread that is not a daemon is left (if one were, the process
would exit normally and wait for it; so it does under a tracer or profiler, which write at exit).
Together about 20 ms of a 130 ms plan (docs/performance.md).

cli.main, which tests and other Python callers use in their own process, exits the ordinary way.

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
    """Leave with `status` without the interpreter's teardown, once nothing is left that it would finish."""
    for stream in (sys.__stdout__, sys.__stderr__, sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)
    if sys.gettrace() is not None or sys.getprofile() is not None:  # coverage, cProfile: they write at exit
        sys.exit(status)
    os._exit(status)


if __name__ == "__main__":
    main()
