"""LSP positions through the server's line index agree with the specification, computed
here the slow, obvious way: lines split at `\\n`, `\\r\\n` and `\\r`, characters counted by
encoding each line's prefix. Blocks of a few characters make every path of the index
(block boundaries, `\\r\\n` split across them, the walk within a block) show up in short
texts; and a 5-million-character line converts as fast as a short one."""

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from starchat.server import documents
from starchat.server.documents import Document

ENCODINGS = ["utf-16", "utf-8", "utf-32"]
CODECS = {"utf-16": ("utf-16-le", 2), "utf-8": ("utf-8", 1), "utf-32": ("utf-32-le", 4)}


def units(text: str, encoding: str) -> int:
    codec, width = CODECS[encoding]
    return len(text.encode(codec, "surrogatepass")) // width


def lines(text: str) -> list[tuple[int, str]]:
    """(start, content) of each line."""
    starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]
    return [(s, re.split(r"\r\n|\r|\n", text[s:], maxsplit=1)[0]) for s in starts]


def expected_offset(text: str, line: int, character: int, encoding: str) -> int:
    start, content = lines(text)[line]
    for index in range(len(content)):
        if units(content[: index + 1], encoding) > character:
            return start + index
    return start + len(content)


@pytest.fixture(params=[1, 3, 7, 1024], ids=lambda b: f"block={b}")
def block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The index's block size, set once for all of a test's examples."""
    monkeypatch.setattr(documents, "_BLOCK", request.param)
    yield request.param


texts = st.lists(
    st.sampled_from(["a", "é", "中", "😀", "\n", "\r", "\r\n", "\ud800", " ", "\t"]), max_size=40
).map("".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=texts, encoding=st.sampled_from(ENCODINGS), data=st.data())
def test_positions_match_the_specification(
    block: int, text: str, encoding: str, data: st.DataObject
) -> None:
    document = Document("file:///a.py", text, 1, "python", encoding)
    expected = lines(text)
    assert document.line_count == len(expected)
    order = data.draw(st.permutations(range(len(expected))))
    for line in order:  # any order: the index remembers the last line it found
        start, content = expected[line]
        assert document.line_start(line) == start
        assert document.line_text(line) == content
        for character in range(units(content, encoding) + 2):
            offset = expected_offset(text, line, character, encoding)
            assert document.offset(types.Position(line, character)) == offset
    for offset in range(len(text) + 1):
        line = max(i for i, (start, _) in enumerate(expected) if start <= offset)
        start = expected[line][0]
        position = document.position(offset)
        assert (position.line, position.character) == (
            line,
            units(text[start:offset], encoding),
        )
    assert document.lines() == [content for _, content in expected]


def test_a_five_million_character_line_converts_in_milliseconds() -> None:
    line = "x = '" + "é😀" * 2_500_000 + "'"
    document = Document("file:///huge.py", line + "\ny = 1\n", 1, "python")
    end = units(line, "utf-16")
    document.line_count  # noqa: B018 - the index is built once per version
    started = time.perf_counter()
    for _ in range(100):
        offset = document.offset(types.Position(0, end - 3))
        assert document.position(offset) == types.Position(0, end - 3)
    per_round_trip = (time.perf_counter() - started) / 100
    assert document.text[offset:] == "😀'\ny = 1\n"
    assert per_round_trip < 0.005, f"{per_round_trip * 1000:.1f} ms per round trip"
