"""The workspace index on a generated project: what it reads, what it never reads, what a
question finds, and how it follows changes."""

import os
import textwrap
from pathlib import Path

import pytest
from starchat.server.index.chunks import MAX_CHUNK_LINES, chunk_file
from starchat.server.index.search import terms
from starchat.server.index.workspace import WorkspaceIndex

SECRET = "sk-live-5f1e0c2a9b"


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    _write(
        root,
        {
            "pkg/billing.py": """\
                def compute_invoice_total(items, tax_rate):
                    subtotal = sum(item.price * item.quantity for item in items)
                    return round(subtotal * (1 + tax_rate), 2)
            """,
            "pkg/geometry.py": """\
                import math

                class Polygon:
                    def perimeter(self):
                        return sum(self.sides)

                def area_of_circle(radius):
                    return math.pi * radius ** 2
            """,
            "web/agent.ts": "export function parseUserAgent(header: string) {\n  return 1;\n}\n",
            "README.md": "# Project\n\nBilling and geometry helpers.\n",
            ".env": f"API_KEY={SECRET}\n",
            "config/.env.production": f"API_KEY={SECRET}\n",
            "keys/server.pem": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n",
            ".gitignore": "generated/\n*.log\n",
            "generated/schema.py": f"TOKEN = '{SECRET}'\n",
            "sub/.gitignore": "local_*.py\n",
            "sub/local_settings.py": f"PASSWORD = '{SECRET}'\n",
            "sub/shared.py": "def shared_helper():\n    return 2\n",
            "node_modules/lib/index.js": "function parseUserAgent() {}\n",
            "env2/pyvenv.cfg": "home = /usr/bin\n",
            "env2/lib/site.py": "def venv_function():\n    pass\n",
            "big.py": "x = 1\n" * 200_000,
            "blob.py": b"\x00\x01binary",
            "latin1.py": "def caf\xe9():\n    return 'ol\xe9'\n".encode("latin-1"),
            "notes.bin": "not source",
        },
    )
    os.symlink(root, root / "loop")
    outside = tmp_path / "outside.py"
    outside.write_text(f"OUTSIDE = '{SECRET}'\n")
    os.symlink(outside, root / "linked.py")
    return root


def _built(root: Path, **options: object) -> WorkspaceIndex:
    index = WorkspaceIndex([root], **options)  # type: ignore[arg-type]
    index.build()
    return index


def test_the_index_reads_only_what_it_may(project: Path) -> None:
    index = _built(project)
    assert index.indexed() == [
        "README.md",
        "latin1.py",
        "pkg/billing.py",
        "pkg/geometry.py",
        "sub/shared.py",
        "web/agent.ts",
    ]
    status = index.status()
    assert (status.state, status.files, status.capped) == ("ready", 6, False)
    assert status.chunks == 9  # Polygon, area_of_circle, geometry's import, README's two parts…
    assert index.search(f"API_KEY {SECRET} TOKEN PASSWORD OUTSIDE", 10) == []


def test_a_question_finds_the_definition(project: Path) -> None:
    index = _built(project)
    hits = index.search("How is the invoice total computed with tax?", 3)
    assert hits[0].chunk.path == "pkg/billing.py"
    assert hits[0].chunk.names == ("compute_invoice_total",)
    assert index.path_of(hits[0].chunk) == project.resolve() / "pkg" / "billing.py"
    camel = index.search("where do we parse the user agent header", 1)
    assert camel[0].chunk.path == "web/agent.ts"
    polygon = index.search("Polygon perimeter", 1)[0].chunk
    assert (polygon.path, polygon.start, polygon.end) == ("pkg/geometry.py", 2, 4)


def test_watched_and_saved_files_pass_the_same_filter(project: Path) -> None:
    index = _built(project)
    (project / ".env").write_text("API_KEY=another-secret\n")
    index.refresh(project / ".env")
    index.refresh(project / "sub" / "local_settings.py")
    index.refresh(project.parent / "outside.py")
    index.refresh(project / "linked.py")
    assert "another" not in str([h.chunk.text for h in index.search("API_KEY another", 5)])
    assert index.status().files == 6


def test_a_saved_change_is_found_and_a_deleted_file_forgotten(project: Path) -> None:
    index = _built(project)
    billing = project / "pkg" / "billing.py"
    billing.write_text("def refund_payment(order):\n    return order.total\n")
    index.refresh(billing)
    assert index.search("refund payment", 1)[0].chunk.path == "pkg/billing.py"
    assert all("compute_invoice_total" not in h.chunk.text for h in index.search("invoice", 5))
    new = project / "pkg" / "shipping.py"
    new.write_text("def shipping_cost(weight):\n    return weight * 2\n")
    index.refresh(new)
    assert index.search("shipping cost", 1)[0].chunk.path == "pkg/shipping.py"
    new.unlink()
    index.forget(new)
    assert index.search("shipping cost", 1) == []


def test_an_open_document_stands_in_for_the_file(project: Path) -> None:
    index = _built(project)
    billing = project / "pkg" / "billing.py"
    index.open_buffer(billing, "def apply_discount(total, percent):\n    return total\n")
    index.refresh(billing)  # a save of other text on disk does not win over the buffer
    assert index.search("apply discount", 1)[0].chunk.path == "pkg/billing.py"
    index.close_buffer(billing)
    assert index.search("apply discount", 1) == []
    assert index.search("invoice total", 1)[0].chunk.path == "pkg/billing.py"
    index.open_buffer(project / ".env", f"API_KEY={SECRET}")
    assert index.search(SECRET, 1) == []


def test_the_file_cap_is_said(project: Path) -> None:
    index = _built(project, max_files=2)
    status = index.status().to_json()
    assert status["capped"] is True and 0 < int(str(status["files"])) <= 2


def test_no_folder_no_index() -> None:
    index = _built_nothing()
    assert index.status().to_json() == {"state": "off", "files": 0, "chunks": 0}
    assert index.search("anything", 3) == []


def _built_nothing() -> WorkspaceIndex:
    index = WorkspaceIndex([])
    index.build()
    return index


def test_user_excludes_apply(project: Path) -> None:
    index = _built(project, exclude=["web/", "*.md"])
    assert "web/agent.ts" not in index.indexed() and "README.md" not in index.indexed()


def test_python_is_cut_by_definition_and_long_ones_in_runs() -> None:
    methods = "".join(f"    def m{i}(self):\n" + "        x = 1\n" * 8 for i in range(10))
    source = f"import os\n\n\nclass Big:\n    '''Doc.'''\n{methods}\ndef tail():\n    pass\n"
    chunks = chunk_file("big.py", source)
    assert [c.names for c in chunks][:3] == [(), ("Big",), ("Big.m0",)]
    assert chunks[-1].names == ("tail",) and chunks[-1].text.startswith("def tail")
    long_function = "def long():\n" + "    x = 1\n" * 150
    runs = chunk_file("long.py", long_function)
    assert [(c.start, c.end) for c in runs] == [(0, 59), (60, 119), (120, 150)]
    assert all(c.end - c.start < MAX_CHUNK_LINES for c in runs)


def test_unparsable_and_other_files_are_cut_at_top_level_lines() -> None:
    text = "function a() {\n  return 1;\n}\n\nfunction b() {\n  return 2;\n}\n"
    assert [(c.start, c.end) for c in chunk_file("x.js", text)] == [(0, 3), (4, 6)]
    broken = "def ok():\n    pass\n\ndef broken(:\n    pass\n"
    assert len(chunk_file("broken.py", broken)) == 2


def test_identifiers_are_split_as_people_ask() -> None:
    assert set(terms("loadTasks")) == {"load", "tasks", "loadtasks"}
    assert set(terms("load_tasks HTTPServer")) >= {"load", "tasks", "http", "server"}
    assert terms("how does the of") == []


def test_the_definitions_a_piece_of_code_uses_are_found(project: Path) -> None:
    from starchat.server.references import definitions_used, used_names

    code = (
        "def report(order):\n"
        "    total = compute_invoice_total(order.items, 0.2)\n"
        "    return Polygon().perimeter() + total\n"
    )
    assert used_names(code) == ["compute_invoice_total", "items", "Polygon", "perimeter"]
    index = _built(project)
    found = definitions_used(index, code, skip=[])
    assert [(r.path, r.first_line) for r in found] == [
        ("pkg/billing.py", 1),
        ("pkg/geometry.py", 3),
    ]
    assert found[0].uri == (project.resolve() / "pkg" / "billing.py").as_uri()
    assert definitions_used(index, code, skip=[project / "pkg" / "billing.py"])[0].path == (
        "pkg/geometry.py"
    )


def test_references_are_kept_whole_best_first_within_their_budget(project: Path) -> None:
    from starchat.server.references import (
        add_references,
        fit_references,
        related,
        render_references,
    )

    index = _built(project)
    found = related(index, "invoice total and circle area", skip=[])
    assert {r.path for r in found[:2]} == {"pkg/billing.py", "pkg/geometry.py"}
    found = sorted(found, key=lambda r: r.path != "pkg/billing.py")
    words = lambda text: len(text.split())  # noqa: E731
    one = words(render_references(found[:1]))
    kept = fit_references(found, render_references, lambda text: words(text) <= one + 3)
    assert kept == found[:1]
    assert fit_references(found, render_references, lambda _: False) == []
    user, held = add_references("Why?", found, words, budget=10**6, limit=one + 3)
    assert held == found[:1] and user == f"Why?\n\n{render_references(held)}"
    assert add_references("Why?", found, words, budget=words("Why?") + 2) == ("Why?", [])
    text = render_references(kept)
    assert "`pkg/billing.py`, lines 1–3:" in text and "```python\ndef compute_invoice_total" in text
    assert kept[0].to_json()["range"] == {
        "start": {"line": 0, "character": 0},
        "end": {"line": 2, "character": len("    return round(subtotal * (1 + tax_rate), 2)")},
    }
