"""Links into the maintainer notes in docs/ resolve, and no "section sign" citation is left.

Code and README point at format notes as ``docs/<file>.md#<anchor>``; the notes link to each
other as ``(<file>.md#<anchor>)`` and ``(#<anchor>)``. Every such reference must name an existing file and,
when it has an anchor, a heading of that file (GitHub's heading slugs). Citations of sections of
documents outside the repository (written with the section sign) must not come back.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SECTION_SIGN = "\u00a7"
CODE_DIRS = ("tllschema", "streamproto", "bench", "tests", "examples")
SKIP_PARTS = {".venv", "__pycache__", "golden", ".git"}

_CODE_REF = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)(?:#([A-Za-z0-9_-]*))?")
_DOC_LINK = re.compile(r"\]\(([A-Za-z0-9_.-]+\.md)?(?:#([A-Za-z0-9_-]*))?\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(text: str) -> str:
    """GitHub's anchor for a heading: the rendered text lowercased, punctuation dropped
    (letters, digits, ``_``, ``-`` and spaces kept), spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)   # links: their text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Heading anchors of a markdown file, duplicates numbered ``-1``, ``-2`` as GitHub does."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(line)
        if m is None:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def _sources(suffixes: tuple[str, ...]) -> list[Path]:
    files = []
    for d in CODE_DIRS:
        for p in sorted((ROOT / d).rglob("*")):
            if p.suffix in suffixes and p.is_file() and not SKIP_PARTS & set(p.relative_to(ROOT).parts):
                files.append(p)
    return files


def _references() -> list[tuple[str, str, str | None]]:
    """(where, docs file, anchor or None) for every docs reference in code, README and docs."""
    refs = []
    for p in _sources((".py", ".yaml")) + [ROOT / "README.md"]:
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            for m in _CODE_REF.finditer(line):
                refs.append((f"{p.relative_to(ROOT)}:{i}", m.group(1), m.group(2)))
    for p in sorted(DOCS.glob("*.md")):
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            for m in _DOC_LINK.finditer(line):
                if m.group(1) is None and m.group(2) is None:
                    continue
                refs.append((f"{p.relative_to(ROOT)}:{i}", m.group(1) or p.name, m.group(2)))
    return refs


@pytest.mark.parametrize("heading, expected", [
    ("LZ4 blocks", "lz4-blocks"),
    ("Large elements (entity 0xff)", "large-elements-entity-0xff"),
    ("The 17-byte rule", "the-17-byte-rule"),
    ("`rotate+file://` naming", "rotatefile-naming"),
    ("Storage as Arrow tables: `read_table`, `read_tables`, `streamproto export`",
     "storage-as-arrow-tables-read_table-read_tables-streamproto-export"),
    ("See [the notes](x.md) first", "see-the-notes-first"),
])
def test_slug_follows_github(heading, expected):
    assert slug(heading) == expected


def test_duplicate_headings_are_numbered(tmp_path):
    p = tmp_path / "d.md"
    p.write_text("# A\n## Notes\n```\n# not a heading\n```\n## Notes\n", encoding="utf-8")
    assert anchors(p) == {"a", "notes", "notes-1"}


def test_the_format_notes_exist_and_are_referenced():
    refs = {f for _, f, _ in _references()}
    for name in ("scheme-format.md", "storage-format.md", "network-format.md"):
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
        assert name in refs, f"nothing in the code base points at docs/{name}"


def test_every_docs_reference_resolves():
    cache: dict[str, set[str]] = {}
    bad = []
    refs = _references()
    assert refs, "no docs references found: the scan is broken"
    for where, name, anchor in refs:
        path = DOCS / name
        if not path.is_file():
            bad.append(f"{where}: docs/{name} does not exist")
            continue
        if anchor is None:
            continue
        if name not in cache:
            cache[name] = anchors(path)
        if anchor not in cache[name]:
            bad.append(f"{where}: docs/{name} has no heading with anchor #{anchor}")
    assert not bad, "broken docs references:\n" + "\n".join(bad)


def test_no_section_sign_citations_left():
    bad = []
    for p in _sources((".py", ".yaml")):
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if SECTION_SIGN in line:
                bad.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, ("citations of sections of documents outside the repository; point at "
                     "docs/*.md#anchor or the reference's source file instead:\n" + "\n".join(bad))
