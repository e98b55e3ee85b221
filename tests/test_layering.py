"""The packages depend one way: harvester -> adapters -> catalogs. Checked on every import statement,
including those inside functions, of every module of the lower packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the packages each package must not import
FORBIDDEN = {"adapters": {"harvester"}, "catalogs": {"harvester", "adapters"}}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the module at ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_never_import_higher_ones(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules found under {package}/"
    offences = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                for path in modules for line, name in sorted(imported_packages(path))
                if name in FORBIDDEN[package]]
    assert offences == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from harvester.http import make_client\n    import adapters.base\n")
    assert imported_packages(module) == {(1, "os"), (4, "harvester"), (5, "adapters")}
