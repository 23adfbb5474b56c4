"""The docs stay a map: a short README that reaches every docs/ page, links that resolve, and the code's pointers
to doc sections naming headings that exist. Reads files only (milliseconds)."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", REPO / "data" / "warm_start" / "README.md"] + DOCS
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
# a pointer from code to a doc section: (docs/model-history.md, "Training speed")
SECTION_POINTER = re.compile(r"([\w./-]+\.md), \"([^\"]+)\"")
CODE_DIRS = ("components", "data", "pipeline", "serving", "trainer", "webapp", "benchmarks", "tests")


def headings(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")]


def test_the_readme_is_short_and_keeps_the_quick_start():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"```\nmake run\nmake test\n```", quick), quick


def test_the_readme_links_every_docs_page():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert DOCS, "no docs/ pages"
    linked = {m.group(1) for m in LINK.finditer(text)}
    assert {"docs/" + p.name for p in DOCS} <= linked, sorted({"docs/" + p.name for p in DOCS} - linked)


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for m in LINK.finditer(page.read_text(encoding="utf-8")):
            target = m.group(1)
            if "://" not in target and not (page.parent / target).exists():
                broken.append("%s -> %s" % (page.relative_to(REPO), target))
    assert not broken, broken


def test_the_codes_pointers_to_doc_sections_name_real_headings():
    missing = []
    for folder in CODE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            text = re.sub(r"/\n[ #]*", "/", path.read_text(encoding="utf-8"))  # a path broken over two lines
            for doc, section in SECTION_POINTER.findall(text):
                target = REPO / doc
                if not target.exists() or not any(h.startswith(section) for h in headings(target)):
                    missing.append("%s: %s, %r" % (path.relative_to(REPO), doc, section))
    assert not missing, missing
