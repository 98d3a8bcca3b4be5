"""
The package's layers: the library imports none of the rooms built on it, and those rooms never import each other;
and ``paper_dqn.py`` reads as a diff of SB3's ``dqn.py``.
"""

import ast
import pathlib
import shutil
import subprocess

import pytest
import stable_baselines3.dqn.dqn

PACKAGE = pathlib.Path(__file__).parent.parent / "sb3_dqn_paper"
ROOMS = ("tools", "zoo", "benchmarks")


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every ``sb3_dqn_paper`` module a file imports, at the top or inside a function (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "sb3_dqn_paper" or name.startswith("sb3_dqn_paper.")}


def room_of(module: str) -> str:
    """``tools``, ``zoo``, ``benchmarks``, ``face`` (the package's ``__init__``) or ``library``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "face"
    return parts[1] if parts[1] in ROOMS else "library"


FILES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: pathlib.Path) -> str:
    """``sb3_dqn_paper/tools/__init__.py`` -> ``sb3_dqn_paper.tools``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", FILES, ids=[str(path.relative_to(PACKAGE)) for path in FILES])
def test_no_import_runs_back_up(path: pathlib.Path) -> None:
    module = module_name(path)
    room = room_of(module)
    if room == "face":
        return  # the package's face names the library's public classes
    for imported in imported_modules(path):
        target = room_of(imported)
        if room == "library":
            assert target == "library", f"{module} (library) imports {imported} ({target})"
        else:
            assert target in ("library", room), f"{module} ({room}) imports {imported} ({target})"


def test_the_rooms_exist() -> None:
    # the check above would pass vacuously if the layout changed under it
    rooms = {room_of(module_name(path)) for path in FILES}
    assert rooms == {"face", "library", "tools", "zoo", "benchmarks"}
    assert len(FILES) > 40
    # and the reading of imports sees one: the report tool imports its sibling tools
    assert {"sb3_dqn_paper.tools.plots", "sb3_dqn_paper.tools.run_folder"} <= imported_modules(PACKAGE / "tools" / "report.py")


def _class_of(path: pathlib.Path, name: str) -> ast.ClassDef:
    return next(node for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef) and node.name == name)


@pytest.mark.skipif(shutil.which("diff") is None, reason="needs the diff command")
def test_paper_dqn_reads_as_a_diff_of_sb3_dqn() -> None:
    # paper_dqn.py in the shape of SB3's dqn.py: at most 150 changed lines, a class of at most 300 lines, SB3's methods
    sb3_file = pathlib.Path(stable_baselines3.dqn.dqn.__file__)
    ours = PACKAGE / "paper_dqn.py"
    result = subprocess.run(["diff", str(sb3_file), str(ours)], capture_output=True, text=True, check=False)
    changed = [line for line in result.stdout.splitlines() if line.startswith(("< ", "> ")) or line in ("<", ">")]
    assert result.returncode == 1 and len(changed) <= 150, f"{len(changed)} changed lines"
    paper_dqn = _class_of(ours, "PaperDQN")
    assert paper_dqn.end_lineno - paper_dqn.lineno + 1 <= 300  # type: ignore[operator]
    methods = lambda node: [item.name for item in node.body if isinstance(item, ast.FunctionDef)]  # noqa: E731
    assert methods(paper_dqn) == methods(_class_of(sb3_file, "DQN"))
