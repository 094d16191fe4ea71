"""setuptools hook: the fast schema validators are generated when the package is built, never committed.

`dockharden/schema/_fast_*.py` are plain-Python validators that fastjsonschema compiles from the shipped
JSON Schemas (scripts/compile-schemas.py says why). They are build output: written into the built
package (a wheel), or, for an editable install, next to the schemas in the source tree (git ignores
them). A checkout used without either falls back to jsonschema, which is correct and slower.
"""

import importlib.util
from pathlib import Path

from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _compiler():
    spec = importlib.util.spec_from_file_location("compile_schemas", HERE / "scripts" / "compile-schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPy(build_py):
    """build_py, then the validators into the built package (or the source tree when editable)."""

    def run(self):
        super().run()
        compiler = _compiler()
        editable = getattr(self, "editable_mode", False)
        out = HERE / "dockharden" / "schema" if editable else Path(self.build_lib) / "dockharden" / "schema"
        compiler.write_all(out)
