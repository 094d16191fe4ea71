"""Reading the machine: the filesystem accessor (every host path resolved inside the root), the facts
snapshot that plan, verify and check share, the daemon's API, the effective state, the command runner.

May read the machine and run read-only programs; changes nothing.
"""
