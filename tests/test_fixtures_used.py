"""Every fixture file is named by some test: an unused fixture is a case nobody checks."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"


def strings_in_tests() -> set[str]:
    found = set()
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def is_named(fixture: Path, strings: set[str]) -> bool:
    # By file name ("inbound_text.json"), by stem (load("login_ok")) or by a path ending in it.
    return (
        fixture.name in strings
        or fixture.stem in strings
        or any(s.endswith("/" + fixture.name) for s in strings)
    )


def test_every_fixture_file_is_named_by_a_test():
    strings = strings_in_tests()
    unused = sorted(
        str(path.relative_to(FIXTURES))
        for path in FIXTURES.rglob("*")
        if path.is_file() and not is_named(path, strings)
    )
    assert unused == [], f"fixture files no test names: {unused}"
