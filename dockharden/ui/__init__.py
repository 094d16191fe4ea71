"""The terminal: standard streams that never raise, colour, live progress, shell completion, the man page.

Touches only the process's own streams and terminal.
"""
