"""`python -m dockharden`: the same entry point as the `dockharden` command."""

from dockharden.cli import main

main()
