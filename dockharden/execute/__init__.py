"""Changing the machine: apply (lock, journal, writes, services, post-apply checks, automatic rollback),
the service managers, generations, rollback, recovery, live repairs, saved plan files, scheduled units.

May write files (through host.fs) and act on services; the only stage that does.
"""
