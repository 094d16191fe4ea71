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
"""

import gc
import os
import sys
import threading


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
