"""The subprocess boundary: every external command goes through a Runner, as an argument list.

Touches the machine (runs programs). Never builds a shell string. Tests and callers pass their own
Runner, so nothing here is a hidden global.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner:
    """Runs argument lists with a timeout; a missing program or a timeout is a failed Result."""

    def __init__(self, default_timeout: float = 60.0) -> None:
        self.default_timeout = default_timeout

    def run(self, argv: Sequence[str], *, timeout: float | None = None, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
        argv = tuple(str(a) for a in argv)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, input=input, env=env,
                                  timeout=timeout or self.default_timeout, check=False)
        except FileNotFoundError:
            return Result(argv, 127, "", f"{argv[0]}: command not found")
        except subprocess.TimeoutExpired:
            return Result(argv, 124, "", f"{argv[0]}: timed out after {timeout or self.default_timeout} s")
        return Result(argv, done.returncode, done.stdout, done.stderr)

    def which(self, program: str) -> str | None:
        return shutil.which(program)
