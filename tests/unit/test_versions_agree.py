"""One version: dockharden's __version__ (the package's, read by setuptools), the collection's galaxy.yml and
the version the install role puts on hosts from an index all say the same."""

import re
from pathlib import Path

from dockharden import __version__

REPO = Path(__file__).resolve().parents[2]


def test_the_package_the_collection_and_the_install_role_carry_the_same_version():
    galaxy = re.search(r"(?m)^version: (\S+)$", (REPO / "ansible" / "galaxy.yml").read_text()).group(1)
    role = (REPO / "ansible" / "roles" / "install" / "tasks" / "main.yml").read_text()
    from_index = re.search(r"else '([^']+)'\) }}", role).group(1)
    assert (galaxy, from_index) == (__version__, __version__)
    assert 'dynamic = ["version"]' in (REPO / "pyproject.toml").read_text()
