"""The workspace index: which files it reads (files.py), how they are cut into definitions
(chunks.py), how chunks are found again (search.py, BM25 in tantivy), and the index a server
session keeps current (workspace.py)."""
