"""Every ```bash and ```python block of README.md and docs/ runs as written, and leaves the work tree clean.

Each document runs in its own copy of the repository's files (a fresh git repository, so that
`git status` shows what its blocks leave behind), its blocks in order, from the copy's root. `.venv`
in the copy points at the environment running the tests, which is not active, as in a new terminal:
a bare `gridflex` is not found, the docs call `.venv/bin/gridflex`. A bash block runs with
`set -eo pipefail` in its own process group (a server it starts with `&` is stopped after it); a
python block runs with this interpreter. A block preceded by `<!-- test: skip (reason) -->` is not
run: the reason is mandatory, and the markers are few (`docs/decisions/0004-tested-docs.md`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN = {"bash", "python"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)")
MARKER = re.compile(r"^\s*<!--\s*test:")
SKIP = re.compile(r"^\s*<!--\s*test:\s*skip\s*\((?P<reason>[^()]*\S[^()]*)\)\s*-->\s*$")
# paths a block writes or reads under out/: the one folder .gitignore keeps out of git
OUT_PATH = re.compile(r"(?<![\w./-])out/[\w./-]*\w")
BLOCK_TIMEOUT_S = 900


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None  # the reason, when marked

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def fenced_blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file (CommonMark fences, also indented in lists)."""
    lines = doc.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        end = i + 1
        while end < len(lines) and not re.fullmatch(
            rf"\s*{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[end]
        ):
            end += 1
        code = "\n".join(
            line[indent:] if not line[:indent].strip() else line.lstrip() for line in lines[i + 1 : end]
        )
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        skip = SKIP.match(before)
        blocks.append(
            Block(doc, i + 1, m["lang"].lower(), code + "\n", skip["reason"].strip() if skip else None)
        )
        i = end + 1
    return blocks


def runnable(doc: Path) -> list[Block]:
    return [b for b in fenced_blocks(doc) if b.lang in RUN and b.skip is None]


# ---- the rules of the documents themselves ---------------------------------------------------------


def test_every_fence_names_its_language():
    """A block without a language would escape this test silently: output and synopses are ```text."""
    bare = [b.where for doc in DOCS for b in fenced_blocks(doc) if not b.lang]
    assert bare == [], f"fences without a language (use ```text for output and synopses): {bare}"


def test_skip_markers_give_a_reason_and_precede_a_runnable_block():
    marked = {(b.doc, b.line) for doc in DOCS for b in fenced_blocks(doc) if b.skip and b.lang in RUN}
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if not MARKER.search(line):
                continue
            assert SKIP.match(line), f"{doc.relative_to(ROOT)}:{n}: write `<!-- test: skip (reason) -->`"
            fence = next((k for k in range(n + 1, len(lines) + 1) if lines[k - 1].strip()), None)
            assert (doc, fence) in marked, f"{doc.relative_to(ROOT)}:{n}: no bash/python block follows"


def test_ci_runs_exactly_the_readme_test_command():
    setup, suite = (b.code.strip() for b in fenced_blocks(ROOT / "README.md")[:2])
    assert setup.startswith("python3 -m venv .venv && ") and "gridflex demo" in setup
    assert suite.startswith("python3 -m venv .venv && ") and suite.endswith("-m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [c for c in ci if c.strip() and not c.startswith(("#", "set ", 'cd "$(dirname'))]
    # the one line before it: Debian's Chromium for the dashboard's browser tests, when missing
    assert [c for c in commands if "apt-get install -y -qq chromium" not in c] == [suite]


def test_readme_commands_write_only_under_out():
    """Outputs of the documented commands go to the one ignored folder, never into the work tree."""
    blocks = [b for b in fenced_blocks(ROOT / "README.md") if b.lang == "bash"]
    flags = re.compile(r"(?:\s-o|--out|--csv|--report|--site-report|--tokens|>)\s+(?P<path>\S+)")
    for b in blocks:
        for m in flags.finditer(b.code):
            assert m["path"].startswith("out/"), f"{b.where} writes {m['path']} outside out/"
    assert "/out/" in (ROOT / ".gitignore").read_text().splitlines()


def test_architecture_page_lists_every_package_and_top_module():
    layout = next(b for b in fenced_blocks(ROOT / "docs" / "architecture.md") if b.lang == "text")
    listed = {name for name in re.findall(r"^  (\S+)", layout.code, re.MULTILINE) if name != "──"}
    src = ROOT / "src" / "gridflex"
    present = {p.name + "/" for p in src.iterdir() if p.is_dir() and not p.name.startswith("__")}
    present |= {p.name for p in src.glob("*.py") if p.name != "__main__.py"}
    assert listed == present


# ---- running them ----------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _copy_repo(dest: Path) -> Path:
    """The work tree's files (tracked and untracked, not ignored) in a new git repository, committed."""
    try:
        listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git work tree: the docs test needs git to see what blocks leave behind")
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(sys.prefix)  # the environment running the tests is the README's .venv
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=docs", "-c", "user.email=docs@gridflex.invalid", "-c", "commit.gpgsign=false",
         "commit", "-q", "-m", "docs under test")  # fmt: skip
    return dest


@contextlib.contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """Blocks that start a server use fixed ports: one such block at a time on this machine."""
    with open(Path(tempfile.gettempdir()) / f"gridflex-{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _fresh_shell_env() -> dict[str, str]:
    """A new terminal's environment: the venv is not active, so a bare `gridflex` is not found."""
    venv_bins = {str(Path(sys.prefix) / "bin"), str(Path(sys.executable).parent)}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p.rstrip("/") not in venv_bins]
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return {**env, "PATH": os.pathsep.join(path)}


def _run(block: Block, repo: Path, scratch: Path) -> tuple[int, str]:
    script = scratch / f"block-{block.line}.{'sh' if block.lang == 'bash' else 'py'}"
    script.write_text(("set -eo pipefail\n" if block.lang == "bash" else "") + block.code)
    argv = ["bash", str(script)] if block.lang == "bash" else [sys.executable, str(script)]
    env = _fresh_shell_env()
    log = scratch / f"block-{block.line}.log"
    serves = re.search(r"&\s*$", block.code, re.MULTILINE) is not None
    with _machine_lock("docs-servers") if serves else contextlib.nullcontext(), open(log, "w") as out:
        # output to a file, not a pipe: a server left running by a failing block must not hold it open
        proc = subprocess.Popen(
            argv, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = -1
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    return code, log.read_text()


@pytest.mark.parametrize("doc", [d for d in DOCS if runnable(d)], ids=lambda d: str(d.relative_to(ROOT)))
def test_blocks_run_as_written_and_leave_the_work_tree_clean(doc: Path, tmp_path: Path):
    repo = _copy_repo(tmp_path / "repo")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for block in runnable(doc):
        code, output = _run(block, repo, scratch)
        assert code == 0, f"{block.where} exited with {code}:\n{output[-3000:]}"
        assert "Traceback" not in output, f"{block.where} printed a traceback:\n{output[-3000:]}"
        missing = [p for p in OUT_PATH.findall(block.code) if not (repo / p).exists()]
        assert missing == [], f"{block.where} names {missing} but they do not exist after it ran"
    status = _git(repo, "status", "--porcelain", "--untracked-files=all")
    assert status == "", f"{doc.relative_to(ROOT)}'s blocks leave files outside out/:\n{status}"
