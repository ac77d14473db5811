"""Escapes an attack audit found in the evaluation sandbox (issue 11), tried on every backend.

Each attack program ends normally only when its attack worked, so a hole shows up as a
passing sample; when the sandbox holds, the program fails and its result says what it saw.
"""

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starchat.finetune.evaluate.cli import main
from starchat.finetune.evaluate.errors import EvalError
from starchat.finetune.evaluate.humaneval import load_tasks
from starchat.finetune.evaluate.rundir import RunDir
from starchat.finetune.evaluate.sandbox import Backend, Limits, Sandbox

BACKENDS: tuple[Backend, ...] = ("bwrap", "unshare")
CAP_MB = 8
REPOSITORY_FILE = Path(__file__).resolve().parents[2] / "pyproject.toml"

READ = "data = open({path!r}, 'rb').read()\n"

FILL = """
import os
written = 0
try:
    for number in range({files}):
        with open(os.path.join({folder!r}, f'fill{{number}}'), 'wb') as file:
            for _ in range(4):
                file.write(bytes(1 << 20))
                written += 1 << 20
except OSError as error:
    raise OSError(error.errno, f'{{written >> 20}} MiB written, then {{error.strerror}}')
"""

# io_uring_setup/enter/register: on a bad descriptor the kernel answers EBADF, so only the
# filter's EPERM (or ENOSYS where io_uring is compiled out) shows the call was stopped.
IO_URING = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
answers = {}
for number, args in ((425, (8, params)), (426, (-1, 0, 0, 0, None, 0)), (427, (-1, 0, None, 0))):
    result = libc.syscall(number, *args)
    answers[number] = 'fd' if result >= 0 else errno.errorcode[ctypes.get_errno()]
if all(answer in ('EPERM', 'ENOSYS') for answer in answers.values()):
    raise PermissionError(f'io_uring denied: {answers}')
"""


def sandbox(backend: Backend) -> Sandbox:
    return Sandbox(backend, Limits(timeout_s=30, tmp_mb=CAP_MB))


@pytest.fixture
def home_secret() -> Iterator[Path]:
    """A secret file planted in the real home directory of the user running the evaluation."""
    secret = Path.home() / f".starchat-sandbox-secret-{uuid.uuid4().hex}"
    secret.write_text("home secret")
    yield secret
    secret.unlink()


@pytest.mark.parametrize("backend", BACKENDS)
def test_host_files_cannot_be_read(backend: Backend, tmp_path: Path, home_secret: Path) -> None:
    host_tmp_secret = tmp_path / "secret.txt"
    host_tmp_secret.write_text("host tmp secret")
    for path in ("/etc/shadow", home_secret, host_tmp_secret, REPOSITORY_FILE):
        outcome = sandbox(backend).run(READ.format(path=str(path)))
        assert not outcome.passed, (path, outcome.result)
        assert "FileNotFoundError" in outcome.result, (path, outcome.result)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_program_sees_only_the_interpreter_and_its_work_dir(backend: Backend) -> None:
    look = (
        "import json, os\n"
        "seen = sorted(os.listdir('/')), sorted(os.listdir('/tmp')), sorted(os.listdir('/etc'))\n"
        "raise RuntimeError(json.dumps(seen))\n"
    )
    result = sandbox(backend).run(look).result
    top, tmp, etc = json.loads(result.removeprefix("failed: RuntimeError: "))
    assert "home" not in top
    assert tmp == ["sandbox"]
    assert set(etc) <= {"ld.so.cache"}


def written_mib(result: str) -> int:
    match = re.search(r"(\d+) MiB written", result)
    assert match, result
    return int(match.group(1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("folder", [".", "/tmp", "/dev/shm", "/dev"])
def test_writes_stop_at_the_cap_and_fail_the_program(backend: Backend, folder: str) -> None:
    """The program tries four times the cap (files of 4 MiB, under the per-file limit)."""
    outcome = sandbox(backend).run(FILL.format(folder=folder, files=CAP_MB))
    assert not outcome.passed, outcome.result
    assert written_mib(outcome.result) <= CAP_MB, outcome.result
    if folder == ".":
        assert "No space left on device" in outcome.result
    else:
        assert "Read-only file system" in outcome.result


@pytest.mark.parametrize("backend", BACKENDS)
def test_io_uring_is_denied(backend: Backend) -> None:
    outcome = sandbox(backend).run(IO_URING)
    assert not outcome.passed, outcome.result
    assert "io_uring denied" in outcome.result, outcome.result


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_backed_files_are_denied(backend: Backend) -> None:
    """memfd and SysV shared memory would hold RAM outside the capped working directory."""
    memfd = "import os\nos.memfd_create('hog')\n"
    shmget = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.shmget(0, 1 << 20, 0o600) < 0:\n"
        "    raise OSError(ctypes.get_errno(), 'shmget')\n"
    )
    for program in (memfd, shmget):
        outcome = sandbox(backend).run(program)
        assert outcome.result.startswith("failed: PermissionError"), outcome.result


@pytest.mark.parametrize("backend", BACKENDS)
def test_attacks_are_scored_as_failures(backend: Backend, tmp_path: Path) -> None:
    task = load_tasks()["HumanEval/0"]
    attacks = [
        READ.format(path="/etc/shadow"),
        FILL.format(folder="/dev/shm", files=CAP_MB),
        FILL.format(folder=".", files=2 * Limits().tmp_mb // 4),  # twice the default cap
        IO_URING,
    ]
    indented = ["".join("    " + line + "\n" for line in a.strip().splitlines()) for a in attacks]
    rows = [{"task_id": task.task_id, "completion": a + task.canonical_solution} for a in indented]
    rows.append({"task_id": task.task_id, "completion": task.canonical_solution})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    arguments = ["--samples", str(samples), "--out", str(out), "--sandbox", backend]
    assert main(["humaneval", *arguments, "--timeout", "30"]) == 0
    results = {r["sample"]: r for r in map(json.loads, (out / "samples.jsonl").open())}
    assert [results[i]["passed"] for i in range(len(rows))] == [False] * len(attacks) + [True]


def plant(out: Path, outside: Path) -> dict[str, Path]:
    """Links in a results folder to a file that exists and to places that do not yet."""
    out.mkdir()
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep")
    links = {
        "samples.jsonl": victim,
        "summary.json": outside / "created-summary.json",
        "run.json": outside / "created-run.json",
    }
    for name, target in links.items():
        (out / name).symlink_to(target)
    return links


def hostile_samples(tmp_path: Path) -> Path:
    task = load_tasks()["HumanEval/0"]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": task.task_id, "completion": ""}) + "\n")
    return samples


def test_links_planted_in_the_results_folder_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    plant(out, outside)
    samples = hostile_samples(tmp_path)

    assert main(["humaneval", "--samples", str(samples), "--out", str(out)]) == 2

    assert "symbolic link" in capsys.readouterr().err
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_text() == "keep"


def test_a_results_folder_that_is_a_link_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.symlink_to(elsewhere)

    status = main(["humaneval", "--samples", str(hostile_samples(tmp_path)), "--out", str(out)])

    assert status == 2
    assert "symbolic link" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


def test_a_link_planted_during_a_run_is_not_written_through(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "out", {"benchmark": "test"})
    run.claim()
    run.append("samples.jsonl", {"sample": 0})
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    for name in ("samples.jsonl", "summary.json", "chart.png"):
        (run.path / name).unlink(missing_ok=True)
        (run.path / name).symlink_to(victim)

    with pytest.raises(EvalError, match="symbolic link"):
        run.append("samples.jsonl", {"sample": 1})
    with pytest.raises(EvalError, match="symbolic link"):
        run.write_json("summary.json", {"pass@k": {}})
    with pytest.raises(EvalError, match="symbolic link"):
        run.read("samples.jsonl")
    with pytest.raises(EvalError, match="symbolic link"):
        run.write_bytes("chart.png", b"\x89PNG")  # the judge's chart
    assert victim.read_text() == "keep"


def test_a_hard_link_to_another_file_is_not_appended_to(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "out", {"benchmark": "test"})
    run.claim()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (run.path / "samples.jsonl").hardlink_to(victim)

    with pytest.raises(EvalError, match="link"):
        run.append("samples.jsonl", {"sample": 1})
    assert victim.read_text() == "keep"
