"""The import contract: the package list shows what each stage may touch, and the imports keep it so.

Read from the source with `ast` (nothing is imported): every `import` and `from ... import` in a module,
at any depth (a lazy import inside a function counts as much as one at the top).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dockharden"
# the leaves: pure helpers every stage may use, which import nothing of dockharden but model and errors
LEAVES = {"keypaths", "daemon_json_codec"}
TOP = {"cli", "api", "model", "errors", "report", "resources", "__init__", "__main__"} | LEAVES
# stage -> the stages (and top-level modules) it may import
ALWAYS = {"__init__", "model", "errors", "resources"} | LEAVES  # the package's version, the shared values
ALLOWED = {
    "core": {"core", "targets"},  # core plans over the targets
    "targets": {"targets"},       # never core: what both need is a leaf (issue 24)
    "host": {"host", "core", "targets"},
    "inspect": {"inspect", "host", "core", "targets"},
    "execute": {"execute", "host", "core", "targets"},
    "ui": {"ui", "host", "core"},
}
# top-level modules that are pure values or pure helpers: they import no stage, only each other as listed
PURE_TOP = {"model": {"model"}, "errors": {"errors"}, "keypaths": {"model"}, "daemon_json_codec": {"model"}}


def modules() -> dict[str, Path]:
    """Every module by dotted name ('core.plan'; a package by its own name, 'core')."""
    found = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE).with_suffix("").parts
        if "schema" in parts:
            continue
        parts = parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts
        found[".".join(parts)] = p
    return found


def stage_of(name: str) -> str:
    """'core.plan' -> 'core'; 'cli' -> 'cli'; the package's own __version__ is its __init__."""
    head = name.split(".")[0]
    return "__init__" if head in ("__version__", "") else head


def imported(path: Path, name: str, *, at_run_time: bool = False) -> set[str]:
    """The dockharden modules `path` imports, as dotted names relative to the package (`from x import y`
    counts as importing x.y when y is a module). `at_run_time`: leave out the imports under
    `if TYPE_CHECKING:`, which only a type checker follows."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    known = set(modules())
    found = set()
    for node in (run_time_nodes(tree) if at_run_time else ast.walk(tree)):
        if isinstance(node, ast.Import):
            found |= {a.name[len("dockharden."):] for a in node.names if a.name.startswith("dockharden.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "dockharden" or node.module.startswith("dockharden.")):
                module = node.module[len("dockharden."):] if node.module != "dockharden" else ""
            else:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}" if module else alias.name
                found.add(sub if sub in known else (module or "__init__"))
    return {f for f in found if f}


def run_time_nodes(tree: ast.AST):
    """Every node of `tree` except those under `if TYPE_CHECKING:`."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", "")) == "TYPE_CHECKING":
                todo += child.orelse
            else:
                todo.append(child)


def test_every_module_belongs_to_a_stage_or_is_one_of_the_top_level_few():
    loose = sorted(n for n in modules() if "." not in n and n not in TOP and n not in ALLOWED)
    assert loose == [], f"modules outside the stages: {loose} (put each in core/, targets/, host/, inspect/ or execute/)"


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_each_stage_imports_only_what_it_may_touch(stage):
    wrong = []
    for name, path in sorted(modules().items()):
        if stage_of(name) != stage or "." not in name:
            continue
        for target in imported(path, name):
            if stage_of(target) not in ALLOWED[stage] | ALWAYS:
                wrong.append(f"{name} imports {target}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(PURE_TOP))
def test_the_shared_values_and_the_leaves_import_no_stage(module):
    path = PACKAGE / f"{module}.py"
    assert {stage_of(t) for t in imported(path, module)} <= PURE_TOP[module] | {"errors"}


def test_targets_import_nothing_of_core_in_any_form():
    """`import`, `from ... import` (relative too), at any depth, `importlib.import_module("dockharden.core...")`
    or `dockharden.core.x` reached through the package: none in targets/. Key paths and the daemon.json codec
    are leaves (keypaths, daemon_json_codec) that both stages use."""
    wrong = []
    for name, path in sorted(modules().items()):
        if stage_of(name) != "targets":
            continue
        wrong += [f"{name} imports {t}" for t in sorted(imported(path, name)) if stage_of(t) == "core"]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith(("dockharden.core", "dockharden/core")):
                wrong.append(f"{name} names {node.value!r}")
            if isinstance(node, ast.Attribute) and node.attr == "core" and isinstance(node.value, ast.Name) \
                    and node.value.id == "dockharden":
                wrong.append(f"{name} reaches dockharden.core (line {node.lineno})")
    assert wrong == [], "\n".join(wrong)


def package_of(name: str) -> str:
    """'core.values' -> 'core'; 'core' (its __init__) -> 'core'; a top-level module ('cli') -> ''."""
    return name.split(".")[0] if "." in name or name in ALLOWED else ""


def private_names_taken(path: Path, name: str) -> list[tuple[str, str]]:
    """(module, name) for each private name (`_x`, not `__x__`) `path` takes from a dockharden module: by
    `from module import _x`, or as `module._x` after importing the module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    known = set(modules())
    taken, bound = [], {}
    private = lambda n: n.startswith("_") and not n.startswith("__")  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                module = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            elif node.module and (node.module == "dockharden" or node.module.startswith("dockharden.")):
                module = node.module[len("dockharden."):] if node.module != "dockharden" else ""
            else:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}" if module else alias.name
                if sub in known:
                    bound[alias.asname or alias.name] = sub
                elif private(alias.name):
                    taken.append((module or "__init__", alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name.startswith("dockharden."):
                    bound[alias.asname] = alias.name[len("dockharden."):]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound \
                and private(node.attr):
            taken.append((bound[node.value.id], node.attr))
    return taken


def test_no_module_takes_a_private_name_from_another_package():
    """A `_name` is its module's own business: a module of another package that needs it gets a public
    function (core/values.py once took targets.seccomp's `_checked_deny`; it is `checked_deny` now)."""
    wrong = []
    for name, path in sorted(modules().items()):
        for module, private in private_names_taken(path, name):
            if package_of(module) != package_of(name):
                wrong.append(f"{name} takes {module}.{private}")
    assert wrong == [], "\n".join(wrong)


def test_the_private_name_rule_sees_each_way_of_taking_one(tmp_path):
    """The contract's own check: `from x import _y`, a relative import, and `module._y` are each found."""
    source = ("from dockharden.targets.seccomp import _a\nfrom ..targets import seccomp\n"
              "from . import values as v\nseccomp._b\nv._c\nv.__doc__\n")
    (tmp_path / "x.py").write_text(source)
    assert sorted(private_names_taken(tmp_path / "x.py", "core.x")) == [
        ("core.values", "_c"), ("targets.seccomp", "_a"), ("targets.seccomp", "_b")]


def test_there_is_no_import_cycle_between_modules():
    """A lazy import inside a function counts: a cycle is a cycle, wherever its imports sit."""
    names = modules()
    graph = {name: {t for t in imported(path, name) if t in names and t != name} for name, path in names.items()}
    assert strongly_connected(graph) == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or round a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_read_only_commands_do_not_import_the_apply_engine():
    """plan, show, verify and check go through api functions that never import dockharden.execute."""
    import subprocess
    import sys
    from importlib import import_module

    code = ("import sys; from dockharden import api; "
            "print(sorted(m for m in sys.modules if m.startswith('dockharden.execute')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PACKAGE.parent, check=True)
    assert done.stdout.strip() == "[]", done.stdout
    import_module("dockharden.api")


MACHINE = {"os", "subprocess", "socket", "shutil", "time", "signal", "fcntl", "sh", "urllib", "http", "select",
           "tempfile", "pwd", "grp", "platform", "threading", "multiprocessing"}


@pytest.mark.parametrize("stage", ["core", "targets"])
def test_the_pure_stages_import_no_library_that_touches_the_machine(stage):
    """No process, socket, file write, clock or user database in core/ and targets/: they get what they
    need as values (the host snapshot, a `read` function, `now`)."""
    wrong = []
    for path in sorted((PACKAGE / stage).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else [])
            wrong += [f"{stage}/{path.name} imports {n}" for n in names if n.split(".")[0] in MACHINE]
    assert wrong == [], "\n".join(wrong)


def test_the_architecture_map_names_every_module_of_every_stage():
    """docs/architecture.md matches the code: each stage's modules are in its row, and nothing else is."""
    import re

    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    wrong = []
    for stage in sorted(ALLOWED):
        row = next((line for line in text.splitlines() if line.startswith(f"| `dockharden/{stage}/`")), "")
        named = set(re.findall(r"`([a-z_]+)`", row))
        present = {p.stem for p in (PACKAGE / stage).glob("*.py") if p.stem != "__init__"}
        wrong += [f"{stage}/{m}.py is not on the map" for m in sorted(present - named)]
        wrong += [f"the map names {stage}/{m}, which does not exist" for m in sorted(named - present - {"nothing"})
                  if m not in {"execute", "host", "true", "false"}]
    row = next((line for line in text.splitlines() if line.startswith("| top level |")), "")
    wrong += [f"{m}.py is not on the map's top-level row" for m in sorted(TOP - {"__init__"})
              if f"`{m}`" not in row]
    assert wrong == [], "\n".join(wrong)


def _modules_a_plan_loads(root) -> list[str]:
    """Every module loaded by `plan` run end to end through the command line, in a fresh interpreter."""
    import subprocess
    import sys

    code = ("import sys, io, contextlib\nfrom dockharden.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['plan', '--root', sys.argv[1], '--profile', 'baseline,userns'])\n"
            "    except SystemExit:\n        pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True,
                          cwd=PACKAGE.parent, timeout=120)
    assert done.stderr.strip(), done
    return done.stderr.strip().splitlines()[-1].split()


def test_a_plan_run_from_the_command_line_loads_no_part_of_the_apply_engine(tmp_path):
    """`plan` end to end: only the signal handling of execute/ is loaded (the command line sets it up for
    every command; the failpoints are the tests' own, tests/failpoints.py); nothing that writes, journals
    or acts on services."""
    loaded = [m for m in _modules_a_plan_loads(tmp_path) if m.startswith("dockharden.execute.")]
    assert loaded == ["dockharden.execute.interrupts"]


def test_a_plan_defines_no_dataclass_on_its_way():
    """Every value a plan makes is a NamedTuple or a plain class: Python 3.11 compiles a frozen dataclass's
    six methods with exec when it is defined, at every start (the cost: docs/performance.md)."""
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        assert "dataclasses" not in _modules_a_plan_loads(root)


def test_only_the_command_named_is_built_and_anything_else_gets_the_whole_command_line():
    from dockharden.cli import _command_line

    assert list(_command_line(["plan", "--root", "/"]).commands) == ["plan"]
    assert list(_command_line(["schedule", "install"]).commands) == ["schedule"]
    whole = set(_command_line([]).commands)
    assert {"plan", "apply", "rollback", "verify", "check", "schedule"} <= whole
    assert set(_command_line(["--version"]).commands) == whole == set(_command_line(["plna"]).commands)


# --- the doors: cli parses options and prints, api decides and writes, report renders values ---------------

STREAMS = {"sys.stdout", "sys.stderr"}
# calls that change a file or directory (str.replace and the like are not among them)
WRITES = {"write", "writelines", "write_text", "write_bytes", "write_own", "mkdir", "makedirs", "unlink", "rmdir",
          "rename", "chmod", "chown", "symlink_to", "touch", "rmtree", "remove", "truncate"}
READS = {"read", "read_text", "read_bytes", "readlines", "readline", "getenv", "environ", "scandir", "listdir",
         "iterdir", "glob", "stat", "lstat", "exists"}
FILE_LIBRARIES = {"os", "pathlib", "shutil", "tempfile", "io", "glob", "subprocess", "socket", "fcntl", "urllib",
                  "http", "sh", "pwd", "grp", "platform", "select"}


def _calls(module: str) -> list[tuple[str, str]]:
    """(what is called, on what) for each call in `module`: ("open", ""), ("write", "sys.stdout")."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found.append((node.func.id, ""))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found.append((node.func.attr, ast.unparse(node.func.value)))
    return found


def _libraries(module: str) -> dict[str, set[str]]:
    """The libraries outside dockharden `module` imports, each with the attributes it uses of them."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update({(a.asname or a.name).split(".")[0]: a.name.split(".")[0] for a in node.names})
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.update({a.asname or a.name: node.module.split(".")[0] for a in node.names})
    used = {library: set() for library in names.values() if library != "dockharden"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
            used.setdefault(names[node.value.id], set()).add(node.attr)
    return used


def test_the_command_line_writes_no_file_and_reaches_no_host_module():
    """cli.py parses options, calls api, prints what report and ui render, and turns errors into exit
    statuses. It writes only to its standard streams: no open(), no write of any other object, no file
    library but `os.environ` (the shell's completion request); and it imports nothing from host/ and from
    execute/ only the signal handling (interrupts), so whatever writes or reads a file is api's to call."""
    wrong = [f"cli imports {t}" for t in sorted(imported(PACKAGE / "cli.py", "cli"))
             if stage_of(t) == "host" or (stage_of(t) == "execute" and t != "execute.interrupts")]
    wrong += [f"cli calls {on + '.' if on else ''}{name}()" for name, on in _calls("cli")
              if name == "open" or (name in WRITES and on not in STREAMS)]
    wrong += [f"cli uses {library}.{', '.join(sorted(used - {'environ'}))}"
              for library, used in _libraries("cli").items()
              if library in FILE_LIBRARIES and (library != "os" or used - {"environ"})]
    assert wrong == [], "\n".join(wrong)


def test_the_api_renders_nothing():
    """api.py returns values and writes files; what a person reads is report's and ui's to make."""
    wrong = sorted(t for t in imported(PACKAGE / "api.py", "api") if stage_of(t) in ("report", "ui"))
    assert wrong == [], f"api imports {wrong}"


def test_the_report_reads_nothing():
    """report.py renders values it is given: no module of host/ or execute/ is loaded by its imports, even
    through other modules (imports under TYPE_CHECKING only name types), it imports no library that reads
    files, the environment or the machine, and it calls no open() and no read."""
    names = modules()
    reached, todo = set(), ["report"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += [t for t in imported(names[name], name, at_run_time=True) if t in names]
    wrong = [f"report reaches {m}" for m in sorted(reached) if stage_of(m) in ("host", "execute")]
    wrong += [f"report imports {library}" for library in _libraries("report") if library in FILE_LIBRARIES]
    wrong += [f"report calls {on + '.' if on else ''}{name}()" for name, on in _calls("report")
              if name == "open" or name in READS]
    assert wrong == [], "\n".join(wrong)


def _package_nodes():
    """(path, node) for every AST node of every module of the package, the generated validators aside."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if not path.name.startswith("_fast_"):
            for node in ast.walk(ast.parse(path.read_text())):
                yield path, node


def test_every_dataclass_is_a_frozen_value_and_a_wide_one_is_built_with_keywords():
    """One idiom per kind of value (model.py): the dataclasses off plan's path are frozen, and one with more
    than four fields is keyword-only, so no call passes eight values by position. A benchmark table's Row
    is the exception: its rows are written as a table, one control per line."""
    wrong = []
    for path, node in _package_nodes():
        if not isinstance(node, ast.ClassDef):
            continue
        for decorator in node.decorator_list:
            text = ast.unparse(decorator)
            if not text.startswith("dataclass"):
                continue
            fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
            where = f"{path.relative_to(PACKAGE)}: {node.name}"
            if "frozen=True" not in text:
                wrong.append(f"{where} is not frozen")
            if len(fields) > 4 and "kw_only=True" not in text and (path.name, node.name) != ("table.py", "Row"):
                wrong.append(f"{where} has {len(fields)} fields and is not keyword-only")
    assert wrong == [], "\n".join(wrong)


def _wide_named_tuples() -> dict[str, int]:
    """The NamedTuple classes of the package with more than four fields, by name: their field count."""
    wide = {}
    for _path, node in _package_nodes():
        if not isinstance(node, ast.ClassDef):
            continue
        if not any(ast.unparse(base).split(".")[-1] == "NamedTuple" for base in node.bases):
            continue
        fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
        if len(fields) > 4:
            wide[node.name] = len(fields)
    return wide


def test_every_wide_named_tuple_is_built_with_keywords_after_its_first_field():
    """One idiom per kind of value (model.py): a NamedTuple cannot be keyword-only, so a test keeps the
    convention: a call building one with more than four fields (by its name, `Name(...)` or
    `module.Name(...)`) passes no more than one value by position, the rest by keyword. `_replace` is fine."""
    wide = _wide_named_tuples()
    assert "Plan" in wide and "HostSnapshot" in wide, "the wide NamedTuples are found"
    wrong = []
    for path, node in _package_nodes():
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name not in wide:
            continue
        if len(node.args) > 1 or any(isinstance(arg, ast.Starred) for arg in node.args):
            wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {name} with {len(node.args)} by position")
    assert wrong == [], "\n".join(wrong)
