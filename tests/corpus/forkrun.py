"""Runs several dockharden commands in a row for the corpus tests, paying Python's start and the command
line's imports once: the modules load here, then each command runs in a forked child (its own process,
as `dockharden` runs, with stdin on /dev/null and its own stdout and stderr), one after the other.

Input on stdin: a JSON list of steps, each {"argv": [...]} (a command) or {"read": PATH} (a file's bytes
at that point, or null when it is absent). Output on stdout: a JSON list with, for each step,
{"status", "stdout", "stderr"} or {"bytes": base64 or null}.
"""

import base64
import json
import os
import sys
import tempfile
import traceback


def run_forked(argv: list[str]) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: the command, then out without the parent's teardown
            status = 70
            try:
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                from dockharden import cli

                status = cli.run(argv)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:
                        pass
                os._exit(status)
        _, wait_status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return {"status": os.waitstatus_to_exitcode(wait_status),
                "stdout": out.read().decode("utf-8", "replace"), "stderr": err.read().decode("utf-8", "replace")}


def read(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return {"bytes": base64.b64encode(fh.read()).decode()}
    except FileNotFoundError:
        return {"bytes": None}


def main() -> None:
    steps = json.load(sys.stdin)
    from dockharden import cli  # noqa: F401  (loaded once, before the forks)

    results = [run_forked(step["argv"]) if "argv" in step else read(step["read"]) for step in steps]
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
