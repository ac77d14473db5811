"""Workspace retrieval: does a question find the file that defines what it asks about, how
long does indexing take, and does the server keep answering meanwhile?

On installed library source nobody here wrote (click, requests; transformers for size):
    recall@k    for each public function or class defined in exactly one file, two
                questions — one naming it (`What does `name` do?`), one in words ("how
                does the library <split name>") — and whether the defining file is among
                the top k chunks' files
    index       wall time, RSS growth, and the event loop's lag while a worker thread
                builds the index (p95 / max of a 10 ms timer)
    query       p95 search time over all questions
    update      a saved file's new definition found: refresh + search time

    .venv/bin/python bench/retrieval.py [--large transformers]
"""

import argparse
import ast
import asyncio
import importlib
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
from starchat.server.index.workspace import WorkspaceIndex


def definitions(root: Path) -> dict[str, str]:
    """Public top-level names defined in exactly one file: name → relative path."""
    seen: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for path in root.rglob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in tree.body:
            kinds = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            if isinstance(node, kinds) and not node.name.startswith("_"):
                counts[node.name] += 1
                seen[node.name] = path.relative_to(root).as_posix()
    return {name: path for name, path in seen.items() if counts[name] == 1}


def words(name: str) -> str:
    parts = [
        p
        for piece in name.split("_")
        for p in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", piece)
    ]
    return " ".join(p.lower() for p in parts)


def recall(index: WorkspaceIndex, truth: dict[str, str], ks: tuple[int, ...]) -> dict[str, object]:
    results: dict[str, list[int]] = {"named": [], "in words": []}
    times = []
    for name, path in truth.items():
        for style, question in (
            ("named", f"What does `{name}` do and how do I use it?"),
            ("in words", f"how does the library {words(name)}?"),
        ):
            started = time.perf_counter()
            hits = index.search(question, max(ks))
            times.append(time.perf_counter() - started)
            files = [h.chunk.path for h in hits]
            results[style].append(files.index(path) if path in files else 10**6)
    table = {
        style: {f"recall@{k}": round(sum(r < k for r in ranks) / len(ranks), 3) for k in ks}
        for style, ranks in results.items()
    }
    times.sort()
    return {
        "questions": 2 * len(truth),
        **table,
        "query_p95_ms": round(1000 * times[int(0.95 * len(times))], 2),
    }


async def build_while_serving(root: Path) -> tuple[WorkspaceIndex, dict[str, float]]:
    process = psutil.Process()
    before = process.memory_info().rss
    index = WorkspaceIndex([root])
    started = time.perf_counter()
    worker = threading.Thread(target=index.build)
    worker.start()
    lags = []
    while worker.is_alive():
        tick = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - tick - 0.01)
    elapsed = time.perf_counter() - started
    lags.sort()
    status = index.status()
    return index, {
        "files": status.files,
        "chunks": status.chunks,
        "index_s": round(elapsed, 2),
        "rss_growth_mb": round((process.memory_info().rss - before) / 2**20, 1),
        "loop_lag_p95_ms": round(1000 * lags[int(0.95 * len(lags))], 1) if lags else 0.0,
        "loop_lag_max_ms": round(1000 * lags[-1], 1) if lags else 0.0,
    }


def update_latency(root: Path) -> float:
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "pkg"
        copy.mkdir()
        for path in root.glob("*.py"):
            (copy / path.name).write_bytes(path.read_bytes())
        index = WorkspaceIndex([copy])
        index.build()
        target = copy / "added_module.py"
        target.write_text("def reticulate_the_splines(count):\n    return count * 2\n")
        started = time.perf_counter()
        index.refresh(target)
        hits = index.search("reticulate splines", 1)
        elapsed = time.perf_counter() - started
        assert hits and hits[0].chunk.path == "added_module.py"
        return elapsed


def package_root(name: str) -> Path:
    return Path(importlib.import_module(name).__file__ or "").parent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", nargs="+", default=["click", "requests"])
    parser.add_argument("--large", default="transformers")
    args = parser.parse_args()
    for name in args.small:
        root = package_root(name)
        index, build = await build_while_serving(root)
        result = recall(index, definitions(root), (1, 3, 5))
        print(f"{name}: {build} {result}")
    root = package_root(args.large)
    index, build = await build_while_serving(root)
    truth = dict(list(definitions(root).items())[:500])
    result = recall(index, truth, (1, 3, 5))
    print(f"{args.large}: {build} {result}")
    latency = update_latency(package_root("click"))
    print(f"update: a saved file's definition found in {1000 * latency:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
