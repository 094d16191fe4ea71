"""The subprocess boundary: every external command goes through a Runner, as an argument list.

Touches the machine (runs programs). Never builds a shell string. Tests and callers pass their own
Runner, so nothing here is a hidden global.
"""


import shutil
import subprocess
from collections.abc import Sequence
from typing import NamedTuple


class Result(NamedTuple):  # a value: model.py's idiom
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner:
    """Runs argument lists with a timeout; a missing program or a timeout is a failed Result.

    Each program runs in a process group of its own, with no terminal input: a Ctrl-C at the terminal
    reaches dockharden alone, which decides when to stop (a restart it started is never cut in half,
    and a dockerd started by a restart command never gets the operator's Ctrl-C).
    """

    def __init__(self, default_timeout: float = 60.0) -> None:
        self.default_timeout = default_timeout

    def run(self, argv: Sequence[str], *, timeout: float | None = None, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
        argv = tuple(str(a) for a in argv)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, input=input, env=env,
                                  stdin=None if input is not None else subprocess.DEVNULL,
                                  timeout=timeout or self.default_timeout, check=False, process_group=0)
        except FileNotFoundError:
            return Result(argv, 127, "", f"{argv[0]}: command not found")
        except subprocess.TimeoutExpired:
            return Result(argv, 124, "", f"{argv[0]}: timed out after {timeout or self.default_timeout} s")
        return Result(argv, done.returncode, done.stdout, done.stderr)

    def run_all(self, calls: Sequence[tuple[Sequence[str], str | None]], *, timeout: float | None = None) -> list[Result]:
        """Run independent commands at the same time; their results, in order."""
        if len(calls) < 2:
            return [self.run(argv, timeout=timeout, input=data) for argv, data in calls]
        started = []
        for argv, data in calls:
            argv = tuple(str(a) for a in argv)
            try:
                started.append((argv, data, subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                             stderr=subprocess.PIPE, text=True, process_group=0)))
            except FileNotFoundError:
                started.append((argv, data, None))
        return [self._collect(argv, data, proc, timeout or self.default_timeout) for argv, data, proc in started]

    @staticmethod
    def _collect(argv: tuple[str, ...], data: str | None, proc, timeout: float) -> Result:
        if proc is None:
            return Result(argv, 127, "", f"{argv[0]}: command not found")
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return Result(argv, 124, "", f"{argv[0]}: timed out after {timeout} s")
        return Result(argv, proc.returncode, out, err)

    def which(self, program: str) -> str | None:
        return shutil.which(program)
