"""The canonical docs exist, say something, and point only at things that exist.

SERVICE_READINESS.md names the command or test that proves each gate, and USER_STORIES.md
traces each acceptance criterion to a test: both are checked here against the Makefile, the
scripts and the test suite, so a renamed target or test breaks this test instead of the docs
silently going stale.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

CANONICAL = [
    "ARCHITECTURE.md",
    "DOMAIN_MODEL.md",
    "API.md",
    "FHIR_CONFORMANCE.md",
    "EVENTS.md",
    "MATCHING.md",
    "TENANCY_AND_RLS.md",
    "SECURITY.md",
    "OBSERVABILITY.md",
    "SLOS.md",
    "RUNBOOKS.md",
    "DEPLOYMENT.md",
    "TESTING.md",
    "DECISIONS.md",
    "DEFINITION_OF_DONE.md",
    "CHANGELOG.md",
]
PLANNING = ["EPICS.md", "USER_STORIES.md", "SERVICE_READINESS.md"]
# README.md at the repository root is the overview, the 17th canonical doc.
REQUIRED = [ROOT / "README.md", *(DOCS / name for name in CANONICAL + PLANNING)]

MIN_CHARACTERS = 1500
MIN_HEADINGS = 3
# An index (RUNBOOKS.md) may be one heading over a table instead of several sections.
MIN_INDEX_ROWS = 5
PLACEHOLDER = re.compile(r"\b(TODO|TBD)\b")
HEADING = re.compile(r"^#{1,6} \S", re.MULTILINE)
TABLE_ROW = re.compile(r"^\|(?!\s*-+\s*\|).*\|\s*$", re.MULTILINE)
MAKE_TARGET_NAMED = re.compile(r"`make ([a-z][a-z0-9-]*)")
MAKE_TARGET_DEFINED = re.compile(r"^([a-z][a-z0-9-]*):", re.MULTILINE)
SCRIPT_NAMED = re.compile(r"\bscripts/[\w.-]+")
TEST_REFERENCE = re.compile(r"\b(tests/[\w/]+\.py)::(\w+)")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def make_targets_named(text: str) -> set[str]:
    """The targets of every `make <target>` written in a code span."""
    return set(MAKE_TARGET_NAMED.findall(text))


def referenced_tests(text: str) -> set[tuple[str, str]]:
    """Every `tests/<path>.py::<name>` reference."""
    return set(TEST_REFERENCE.findall(text))


def missing_test_references(text: str) -> list[str]:
    """References whose file is missing or defines no function or class of that name."""
    missing = []
    for path, name in sorted(referenced_tests(text)):
        file = ROOT / path
        definition = re.compile(rf"^\s*(async\s+)?(def|class) {re.escape(name)}\b", re.MULTILINE)
        if not file.is_file() or not definition.search(_read(file)):
            missing.append(f"{path}::{name}")
    return missing


def broken_relative_links(doc: Path) -> list[str]:
    """Relative link targets (anchors dropped) of a markdown file that do not exist."""
    broken = []
    for target in MARKDOWN_LINK.findall(_read(doc)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor in the same file
        if not (doc.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    return broken


@pytest.mark.parametrize("doc", REQUIRED, ids=lambda path: path.name)
def test_every_doc_exists_and_is_real(doc: Path) -> None:
    assert doc.is_file(), f"{doc.relative_to(ROOT)} is missing"
    text = _read(doc)
    assert len(text) > MIN_CHARACTERS, f"{doc.name} is a stub ({len(text)} characters)"
    headings = len(HEADING.findall(text))
    is_index = headings >= 1 and len(TABLE_ROW.findall(text)) > MIN_INDEX_ROWS  # header row too
    assert headings >= MIN_HEADINGS or is_index, f"{doc.name} has too little structure"
    assert not PLACEHOLDER.search(text), f"{doc.name} holds a placeholder"


def test_every_make_target_named_in_the_readiness_gates_exists() -> None:
    named = make_targets_named(_read(DOCS / "SERVICE_READINESS.md"))
    defined = set(MAKE_TARGET_DEFINED.findall(_read(ROOT / "Makefile")))
    assert {"test", "lint", "typecheck", "imports", "bench"} <= named
    assert named - defined == set()


def test_every_script_named_in_the_readiness_gates_exists() -> None:
    named = set(SCRIPT_NAMED.findall(_read(DOCS / "SERVICE_READINESS.md")))
    assert "scripts/check-alerts.sh" in named
    assert sorted(path for path in named if not (ROOT / path).is_file()) == []


@pytest.mark.parametrize("name", ["SERVICE_READINESS.md", "USER_STORIES.md"])
def test_every_test_named_in_the_gates_and_stories_exists(name: str) -> None:
    text = _read(DOCS / name)
    assert len(referenced_tests(text)) >= 20, f"{name} traces too few tests"
    assert missing_test_references(text) == []


def test_the_reference_check_catches_a_renamed_test() -> None:
    text = (
        "tests/unit/test_docs.py::test_the_reference_check_catches_a_renamed_test "
        "tests/unit/test_docs.py::test_that_does_not_exist "
        "tests/unit/no_such_file.py::test_x"
    )
    assert missing_test_references(text) == [
        "tests/unit/no_such_file.py::test_x",
        "tests/unit/test_docs.py::test_that_does_not_exist",
    ]


@pytest.mark.parametrize(
    "doc",
    [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_every_relative_link_resolves(doc: Path) -> None:
    assert broken_relative_links(doc) == []


def test_the_link_check_catches_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# there\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](there.md#part) [web](https://example.org) [self](#top) [gone](missing.md)",
        encoding="utf-8",
    )
    assert broken_relative_links(doc) == ["missing.md"]
