"""Every fenced code block in the docs and the READMEs runs, so no example can rot.

One test per block, named ``<file>:<line>-<lang>``. Blocks of one page run in order in one
namespace and one working directory, as a reader pasting them would:

- ``python``: executed; skipped with the reason when it imports a framework (or its plugin)
  that this session lacks, and so is every later block of the page, which may need its state;
- ``python title="pkg/mod.py"``, ``toml title=...``: a file of the page, written to the page's
  directory and compiled or parsed (``docs/writing-a-plugin.md`` is then run by its own test);
- ``bash``: run with ``bash -euo pipefail`` with this interpreter's ``bin`` first on PATH;
- ``json``, ``toml``: parsed;
- ``text``: not code (grammars, signatures, sample output); counted, not run.

A block preceded by ``<!-- skip-test: why -->`` is skipped with that reason, visibly.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *ROOT.glob("plugins/*/README.md"), *ROOT.glob("docs/**/*.md")])
LANGS = {"python", "bash", "toml", "json", "text"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
SKIP = re.compile(r"<!--\s*skip-test:\s*(?P<why>.+?)\s*-->")
TITLE = re.compile(r'title="(?P<title>[^"]+)"')
# A block importing one of these frameworks needs the FLM plugin for it too.
PLUGIN_OF = {"sklearn": "flm_sklearn", "torch": "flm_torch", "tensorflow": "flm_tensorflow",
             "keras": "flm_tensorflow"}
# Modules a session must have, comma-separated (all_plugins: the frameworks), so that a block
# needing them fails there instead of being skipped: every block runs somewhere in CI.
REQUIRE_ENV = "FLM_DOC_EXAMPLES_REQUIRE"
# Pages whose blocks use a plugin they never import.
PAGE_NEEDS = {ROOT / "docs" / "example-plugin" / "README.md": {"flm_polynomial"}}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    title: str | None = None
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}-{self.lang}"


def parse(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, indented ones (in lists, admonitions) included."""
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = len(match["indent"]), match["fence"], match["info"].strip()
        body, j = [], i + 1
        close = re.compile(rf"^ {{0,{indent + 3}}}{fence[0]}{{{len(fence)},}}\s*$")
        while j < len(lines) and not close.match(lines[j]):
            body.append(lines[j][indent:])
            j += 1
        skip = SKIP.search(lines[i - 1]) if i else None
        title = TITLE.search(info)
        blocks.append(Block(page, i + 1, info.split(maxsplit=1)[0] if info else "",
                            "\n".join(body) + "\n", title["title"] if title else None,
                            skip["why"] if skip else None))
        i = j + 1
    return blocks


BLOCKS = [block for page in PAGES for block in parse(page)]


def _imports(code: str) -> set[str]:
    """Modules a block imports when it runs: its top-level imports, not those in functions."""
    names: set[str] = set()
    for node in ast.parse(code).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _missing(code: str, page: Path) -> list[str]:
    wanted = _imports(code) | PAGE_NEEDS.get(page, set())
    wanted |= {PLUGIN_OF[name] for name in wanted if name in PLUGIN_OF}
    return sorted(name for name in wanted if importlib.util.find_spec(name) is None)


@dataclass
class PageState:
    """What the blocks of one page share: a namespace, a directory, what each block did."""

    workdir: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__doc__"})
    outcomes: dict[int, BaseException | None] = field(default_factory=dict)
    missing: str | None = None


_STATES: dict[Path, PageState] = {}


def _run(block: Block, state: PageState) -> None:
    if block.skip:
        pytest.skip(f"marked in {block.page.relative_to(ROOT)}: {block.skip}")
    if block.title:
        target = state.workdir / block.title
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code)
        _check_syntax(block)
        return
    if block.lang in ("json", "toml"):
        _check_syntax(block)
        return
    if state.missing:
        pytest.skip(f"an earlier block of this page needs {state.missing}")
    if block.lang == "python":
        missing = _missing(block.code, block.page)
        required = set(os.environ.get(REQUIRE_ENV, "").split(",")) & set(missing)
        assert not required, f"{block.id} needs {sorted(required)}, which {REQUIRE_ENV} requires"
        if missing:
            state.missing = ", ".join(missing)
            pytest.skip(f"needs {state.missing}, not installed in this session (nox -s "
                        "all_plugins installs the frameworks, example_plugin flm-polynomial)")
        exec(compile(block.code, block.id, "exec"), state.namespace)
    elif block.lang == "bash":
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
               f"{os.environ.get('PATH', '')}"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code],
                              cwd=state.workdir, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        print(done.stdout, done.stderr)
        assert done.returncode == 0, f"{block.id} exited {done.returncode}:\n{done.stderr}"


def _check_syntax(block: Block) -> None:
    if block.lang == "python":
        compile(block.code, block.id, "exec")
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "toml":
        tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
        tomllib.loads(block.code)


@pytest.fixture
def in_page_dir(tmp_path_factory: pytest.TempPathFactory,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def enter(page: Path) -> PageState:
        if page not in _STATES:
            _STATES[page] = PageState(tmp_path_factory.mktemp(page.stem))
        monkeypatch.chdir(_STATES[page].workdir)
        return _STATES[page]

    yield enter


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang != "text"], ids=lambda b: b.id)
def test_block_runs(block: Block, in_page_dir: Any) -> None:
    state = in_page_dir(block.page)
    page = [b for b in BLOCKS if b.page == block.page and b.lang != "text"]
    # Each block runs once, after every earlier block of its page, whatever order the tests
    # run in (-k, pytest-randomly); its test reports what it did.
    for index in range(page.index(block) + 1):
        if index not in state.outcomes:
            try:
                _run(page[index], state)
                state.outcomes[index] = None
            except BaseException as exc:  # a skip too: the block's own test reports it
                state.outcomes[index] = exc
    outcome = state.outcomes[page.index(block)]
    if outcome is not None:
        raise outcome


def test_every_fence_is_collected_and_has_a_known_language() -> None:
    fences = sum(len(re.findall(r"^ *(`{3,}|~{3,})", p.read_text(), re.M)) for p in PAGES)
    assert fences == 2 * len(BLOCKS), "a fence the parser did not pair"
    unknown = [b.id for b in BLOCKS if b.lang not in LANGS]
    assert not unknown, f"blocks without a known language ({sorted(LANGS)}): {unknown}"


def test_the_collection_is_not_vacuous() -> None:
    assert len(PAGES) >= 12
    assert len([b for b in BLOCKS if b.lang in ("python", "bash")]) >= 25
    assert not [b for b in BLOCKS if b.skip and len(b.skip) < 15], "a skip needs its reason"


def test_writing_a_plugin_page_passes_its_own_contract(tmp_path: Path) -> None:
    """The page's files, exactly as shown, installed as an entry point: the contract passes."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    # The contract's prediction tests hand models numpy arrays, as flm_core.predict does;
    # all_plugins runs this test with numpy, the core-only sessions have none.
    pytest.importorskip("numpy", reason="the contract's prediction tests need numpy")
    page = ROOT / "docs" / "writing-a-plugin.md"
    files = {b.title: b.code for b in BLOCKS if b.page == page and b.title}
    assert set(files) == {"toy.py", "pyproject.toml", "flm_toy/__init__.py", "tests/test_toy.py"}
    for name, code in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code)
    # What `pip install -e .` leaves on sys.path: a dist-info holding the page's entry point.
    project = tomllib.loads(files["pyproject.toml"])["project"]
    dist = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["flm"].items())
    (dist / "entry_points.txt").write_text(f"[flm]\n{points}")
    env = {k: v for k, v in os.environ.items() if k != "FLM_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_toy.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed[1]) >= 25, done.stdout[-2000:]
