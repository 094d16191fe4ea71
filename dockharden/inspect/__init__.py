"""Reading and judging: the `verify` command, the CIS controls per benchmark version, exceptions, probes,
report formats.

May read the machine (through host); never changes it, and never imports execute.
"""
