"""Finding chunks again: BM25 over code-aware terms, in an in-memory tantivy index.

Identifiers are split the way people ask about them: `load_tasks`, `loadTasks` and
`LoadTasks` all give `load`, `tasks` and the whole `loadtasks`, so a question that says
"load tasks" or names `load_tasks` finds the same chunk. Names a chunk defines are a field
of their own, weighted above names it merely uses. Adding or removing a file's chunks is
cheap (milliseconds), so the index follows edits as they are saved.
"""

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import tantivy
from starchat.server.index.chunks import Chunk

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_STOP = frozenset([
    "a", "an", "and", "as", "at", "be", "by", "def", "do", "does", "for", "from", "how", "i",
    "if", "in", "is", "it", "its", "of", "on", "or", "self", "that", "the", "this", "to",
    "what", "when", "where", "which", "why", "with", "return", "import", "class", "function",
    "method", "code", "file", "none", "true", "false", "null", "var", "let", "const", "int",
    "str",
])  # fmt: skip
_DEFINITION_WEIGHT = 3.0


def terms(text: str) -> list[str]:
    """The search terms of `text`: each identifier whole (lower case, no underscores) and
    its parts, common words left out."""
    found = []
    for identifier in _IDENTIFIER.findall(text):
        parts = [p.lower() for piece in identifier.split("_") for p in _CAMEL.findall(piece)]
        whole = identifier.replace("_", "").lower()
        for term in {whole, *parts}:
            if len(term) > 1 and term not in _STOP:
                found.append(term)
    return found


@dataclass(frozen=True)
class Hit:
    score: float
    chunk: Chunk


class ChunkIndex:
    """Every chunk of every indexed file; safe to use from several threads."""

    def __init__(self) -> None:
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", stored=False)
        builder.add_text_field("names", stored=False)
        builder.add_text_field("path", stored=True, tokenizer_name="raw")
        builder.add_unsigned_field("slot", stored=True)
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema)
        self._writer = self._index.writer(heap_size=50_000_000, num_threads=1)
        self._lock = threading.Lock()
        self._files: dict[str, list[Chunk]] = {}
        self._dirty = False

    @property
    def files(self) -> int:
        return len(self._files)

    @property
    def chunks(self) -> int:
        return sum(len(c) for c in self._files.values())

    def chunks_of(self, path: str) -> list[Chunk]:
        with self._lock:
            return list(self._files.get(path, []))

    def paths(self) -> list[str]:
        with self._lock:
            return sorted(self._files)

    def put(self, path: str, chunks: list[Chunk]) -> None:
        """Make `chunks` the indexed content of `path` (none: forget the file)."""
        with self._lock:
            if path in self._files:
                self._writer.delete_documents_by_term("path", path)
            if not chunks:
                self._files.pop(path, None)
            else:
                self._files[path] = chunks
                for slot, chunk in enumerate(chunks):
                    document = tantivy.Document()
                    document.add_text("body", " ".join(terms(chunk.text)))
                    document.add_text("names", " ".join(terms(" ".join(chunk.names))))
                    document.add_text("path", path)
                    document.add_unsigned("slot", slot)
                    self._writer.add_document(document)
            self._dirty = True

    def commit(self) -> None:
        """Make every `put` so far searchable."""
        with self._lock:
            if self._dirty:
                self._writer.commit()
                self._index.reload()
                self._dirty = False

    def search(self, text: str, limit: int, skip: Iterable[str] = ()) -> list[Hit]:
        """The best `limit` chunks for `text`, best first; chunks of `skip` paths left out."""
        wanted = list(dict.fromkeys(terms(text)))
        if not wanted:
            return []
        self.commit()
        clauses = []
        for term in wanted[:64]:
            clauses.append((tantivy.Occur.Should, self._term("body", term)))
            names = tantivy.Query.boost_query(self._term("names", term), _DEFINITION_WEIGHT)
            clauses.append((tantivy.Occur.Should, names))
        query = tantivy.Query.boolean_query(clauses)
        skipped = set(skip)
        with self._lock:
            searcher = self._index.searcher()
            result = searcher.search(query, limit + 8 * len(skipped) if skipped else limit)
            hits = []
            for score, address in result.hits:
                stored = searcher.doc(address)
                path, slot = stored["path"][0], stored["slot"][0]
                chunks = self._files.get(path)
                if path in skipped or chunks is None or slot >= len(chunks):
                    continue
                hits.append(Hit(score, chunks[slot]))
        return hits[:limit]

    def _term(self, field: str, term: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, field, term)
