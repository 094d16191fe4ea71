"""The fault-injection tests' entry point: `python tests/failpoints.py ARGS` runs `dockharden ARGS` with the
failpoint DOCKHARDEN_FAILPOINT names (and DOCKHARDEN_FAILPOINT_MARK), see dockharden/execute/faults.py.

Test-only: the `dockharden` command reads no fault-injection variable; only this file turns one into the
`failpoint` cli.run takes. Run it with dockharden importable (PYTHONPATH=REPO, or an installed wheel: the
systemd tests copy this file into the guest).
"""

import os
import sys


def main() -> None:
    from dockharden import cli
    from dockharden.execute.faults import from_environment

    status = cli.run(sys.argv[1:], failpoint=from_environment(os.environ))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # as the dockharden command ends (dockharden/__main__.py): no teardown after the result


if __name__ == "__main__":
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # tests/ first on the path would shadow nothing today, but is not the command's view
    main()
