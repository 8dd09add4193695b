"""Test matrix: the core per Python, each plugin per (Python, framework range), all together.

    nox -t ci                          what CI runs (.ci/run: one session at a time)
    nox                                the full matrix
    FLM_PLUGINS=torch nox -t ci        only one plugin's sessions (comma-separated list)
    FLM_PYTHONS=3.11 nox               only some Pythons

Every venv installs with ``ci/constraints.txt``: an unpinned torch pulls GBs of CUDA wheels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).parent
CONSTRAINTS = ("-c", str(ROOT / "ci" / "constraints.txt"))
ALL_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
PYTHONS = [p for p in os.environ.get("FLM_PYTHONS", ",".join(ALL_PYTHONS)).split(",") if p]

# Each plugin's framework pins for the newest and the oldest release it supports, where
# combinations cannot run on this machine (skipped with the reason, never dropped), and which
# combinations CI runs: all of them fit the full matrix, the cheapest meaningful subset the CI.
PLUGINS: dict[str, dict[str, Any]] = {
    "sklearn": {
        "latest": [],
        "lowest": ["scikit-learn==1.3.2", "numpy<2", "scipy<1.12"],
        "skip": {("3.13", "lowest"): "scikit-learn 1.3 and numpy<2 have no Python 3.13 wheels"},
        "ci": {("3.10", "latest"), ("3.11", "latest"), ("3.12", "latest"), ("3.13", "latest"),
               ("3.10", "lowest")},
    },
    "torch": {
        "latest": [],  # the CPU build ci/constraints.txt pins (2.13.0), on this machine's disk
        "lowest": ["torch==2.6.0"],
        "newest": ["torch==2.15.0"],  # the newest on the index
        # Index builds (CUDA wheels; they run on a CPU): see install_index_torch. Measured
        # here on a shared 2-core machine: each session 8-10 min with a cold wheel cache
        # (lowest 593 s, newest 494 s), under 3 min warm (lowest 169 s).
        "index": {"lowest", "newest"},
        "skip": {
            **{(p, "latest"): "the CPU torch wheel (2.13.0) exists on this machine for Python "
               "3.11 only" for p in ("3.10", "3.12", "3.13")},
            **{(p, v): "index torch builds are ~3 GB per Python and release: flm-torch's "
               "lowest and newest torch are tested on Python 3.11" for p in ("3.10", "3.12",
               "3.13") for v in ("lowest", "newest")},
        },
        "ci": {("3.11", "latest"), ("3.11", "lowest"), ("3.11", "newest")},
    },
    "tensorflow": {
        "latest": ["tensorflow-cpu>=2.16,<3"],
        "lowest": ["tensorflow-cpu==2.16.2", "keras==3.14.0", "numpy<2"],
        "skip": {
            ("3.13", "lowest"): "tensorflow 2.16 has no Python 3.13 wheels",
            **{("3.10", v): "flm-tensorflow needs Python 3.11: keras 3.14, the first release "
               "past Keras's published safe_mode bypasses, does" for v in ("latest", "lowest")},
        },
        "ci": {("3.11", "latest"), ("3.11", "lowest")},
    },
}
SELECTED = [p for p in os.environ.get("FLM_PLUGINS", ",".join(PLUGINS)).split(",") if p]


def _plugin_matrix() -> list[Any]:
    params = []
    for plugin, spec in PLUGINS.items():
        for python in PYTHONS:
            for versions in [v for v in ("latest", "lowest", "newest") if v in spec]:
                key = (python, versions)
                # unsupported combinations run in CI too: they show as skipped, with the reason
                ci = key in spec["ci"] or key in spec["skip"]
                name = f"{plugin}-{python}-{versions}"
                params.append(nox.param(python, plugin, versions, id=name,
                                        tags=["ci"] if ci else []))
    return params


# A missing Python fails CI loudly; on a developer's machine its sessions are skipped, saying so.
nox.options.error_on_missing_interpreters = os.environ.get("CI", "").lower() in ("1", "true")


def _pyenv_pythons() -> None:
    """Make pyenv's Pythons visible as python3.X (its shims answer only for PYENV_VERSION)."""
    if "PYENV_VERSION" in os.environ or not shutil.which("pyenv"):
        return
    installed = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True,
                               check=False).stdout.split()
    chosen = [max((v for v in installed if v.startswith(f"{p}.") and v[len(p) + 1:].isdigit()),
                  key=lambda v: int(v.rsplit(".", 1)[1]), default="") for p in ALL_PYTHONS]
    # The running Python first: PYENV_VERSION also decides what a plain `python3` is.
    chosen.sort(key=lambda v: not v.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}."))
    if any(chosen):
        os.environ["PYENV_VERSION"] = ":".join(v for v in chosen if v)


_pyenv_pythons()
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = None


def install(session: nox.Session, *args: str) -> None:
    session.install(*CONSTRAINTS, *args)


def plugin_dir(name: str) -> str:
    return str(ROOT / "plugins" / f"flm-{name}")


@nox.session(python="3.11", tags=["ci"])
def lint(session: nox.Session) -> None:
    install(session, "ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session(python="3.11", tags=["ci"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the core; on each plugin too, its framework's types taken as Any."""
    install(session, "mypy>=1.10", "-e", ".[test,serve]")  # serve: Starlette's own types
    install(session, "--no-deps", *[arg for p in PLUGINS for arg in ("-e", plugin_dir(p))])
    session.run("mypy")
    for name in PLUGINS:
        session.run("mypy", "--strict", "--ignore-missing-imports", "--follow-imports=silent",
                    f"plugins/flm-{name}/flm_{name}")


DOCS_DEPS = ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26",
             "pymdown-extensions>=10.8"]


@nox.session(python="3.11", tags=["ci"])
def docs(session: nox.Session) -> None:
    """Build the documentation site, failing on any broken link or page left out of it."""
    install(session, "-e", ".", *DOCS_DEPS)
    session.run("mkdocs", "build", "--strict", "--site-dir", str(Path(tempfile.mkdtemp()) / "site"))


@nox.session(tags=["ci"])
def demo(session: nox.Session) -> None:
    """The README's first command: train the seed's XOR model, dump it with metadata and an
    artifact, inspect it with `flm`, load it and predict (`-- --torch`, `-- --keras`)."""
    framework = "sklearn"
    if "--torch" in session.posargs:
        framework = "torch"
    elif "--keras" in session.posargs:
        framework = "tensorflow"
        if sys.version_info < (3, 11):
            session.skip("flm-tensorflow needs Python 3.11+ (keras 3.14); run nox with it")
    extra = {"sklearn": [], "tensorflow": PLUGINS["tensorflow"]["latest"],
             # torch's CPU build: the default index's torch pulls GBs of CUDA libraries
             "torch": ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]}[framework]
    install(session, ".", plugin_dir(framework), *extra)
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session(python=PYTHONS, tags=["ci"])
def tests(session: nox.Session) -> None:
    """Core tests; no framework installed."""
    install(session, "-e", ".[test]")
    session.run("pytest", "tests", *session.posargs)


@nox.session(python="3.11", tags=["ci"])
def remote(session: nox.Session) -> None:
    """URLs: moto's S3 server through s3fs and an HTTP server honouring Range requests, both
    on loopback, started by tests/remote (the `tests` sessions skip it: no fsspec there)."""
    install(session, "-e", ".[test,remote]", "s3fs", "moto[server]")
    session.run("pytest", "tests/remote", "tests/test_remote_extra.py", *session.posargs)


@nox.session(python="3.11", tags=["ci"])
def serve(session: nox.Session) -> None:
    """`flm predict` and `flm serve`: real uvicorn processes on loopback, started by
    tests/serve, with the seed's three models (the `tests` sessions skip it: no serve extra)."""
    install(session, "-e", ".[test,serve,remote]", "httpx", "pandas",
            *[arg for p in PLUGINS for arg in ("-e", plugin_dir(p))],
            *PLUGINS["tensorflow"]["latest"])
    session.run("pytest", "tests/serve", *session.posargs)


@nox.session(python="3.11", tags=["ci"])
def mlserver(session: nox.Session) -> None:
    """The MLServer runtime (plugins/flm-mlserver) under the real `mlserver start` on
    loopback, serving the seed's XOR model through flm-sklearn."""
    install(session, "-e", ".[test]", "-e", plugin_dir("sklearn"),
            "-e", f"{ROOT / 'plugins' / 'flm-mlserver'}[test]")
    session.run("pytest", "plugins/flm-mlserver/tests", *session.posargs)


@nox.session
@nox.parametrize(("python", "plugin", "versions"), _plugin_matrix())
def plugin(session: nox.Session, plugin: str, versions: str) -> None:
    """A plugin's tests, its framework at the newest or oldest supported release."""
    spec = PLUGINS[plugin]
    if plugin not in SELECTED:
        session.skip(f"FLM_PLUGINS={','.join(SELECTED)}")
    reason = spec["skip"].get((session.python, versions))
    if reason:
        session.skip(reason)
    if versions in spec.get("index", ()):
        install_index_torch(session, spec[versions])
    else:
        install(session, "-e", ".[test]", "-e", f"{plugin_dir(plugin)}[test]", *spec[versions])
    session.run("python", "-c", f"import flm_{plugin}")
    session.run("python", str(ROOT / "ci" / "machine.py"))
    session.run("pytest", f"plugins/flm-{plugin}/tests", *session.posargs)


def install_index_torch(session: nox.Session, pins: list[str]) -> None:
    """Install a torch release other than the CPU pin, from PyPI, into the session's venv.

    The wheels (~3 GB with NVIDIA's libraries) are downloaded once per release into
    FLM_TORCH_WHEELS (default ~/.cache/flm-torch-wheels/<release>) and installed from there
    on later runs; CI deletes each venv after its session, because two of these venvs next
    to the cache fill a small disk. Deliberately, and for these sessions only, the CPU pin
    (ci/constraints.txt) and this machine's cap (torch<=2.14.1 in /etc/xdg/pip) are not
    applied: they would replace the release under test."""
    (release,) = [pin.split("==")[1] for pin in pins if pin.startswith("torch==")]
    default = Path.home() / ".cache" / "flm-torch-wheels"
    wheels = Path(os.environ.get("FLM_TORCH_WHEELS", default)) / release
    env = {"PIP_CONSTRAINT": os.devnull}
    if not any(wheels.glob("torch-*.whl")):
        # Into a side folder first: an interrupted download must not pass for a cached release.
        partial = wheels.with_name(f"{release}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        session.run("python", "-m", "pip", "download", "-q", "-d", str(partial), *pins, env=env)
        shutil.rmtree(wheels, ignore_errors=True)
        partial.rename(wheels)
    session.run("python", "-m", "pip", "install", "-q", "--no-index", "--find-links",
                str(wheels), *pins, env=env)
    session.install("-e", ".[test]", "-e", f"{plugin_dir('torch')}[test]", env=env)
    session.run("python", "-c", f"import torch; assert torch.__version__.startswith({release!r})")


# all_plugins runs every framework suite a second time under other numeric settings than the
# plugin sessions: one thread everywhere, TensorFlow without oneDNN, torch's portable kernels
# instead of AVX2/AVX-512, and the tests in a random order (pytest-randomly prints its seed;
# `nox -s all_plugins -- --randomly-seed=N` replays an order). A test that compares two
# different computations exactly fails under one of the two settings.
OTHER_SETTINGS = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_ENABLE_ONEDNN_OPTS": "0",
    "ATEN_CPU_CAPABILITY": "default",
}


@nox.session(python="3.11", tags=["ci"])
def all_plugins(session: nox.Session) -> None:
    """Every plugin installed at once: core and all plugin tests together, no interference,
    under OTHER_SETTINGS and in a random order."""
    dirs = [f"{plugin_dir(p)}[test]" for p in SELECTED]
    extras = [pin for p in SELECTED for pin in PLUGINS[p]["latest"]]
    install(session, "-e", ".[test]", *[arg for d in dirs for arg in ("-e", d)], *extras,
            "pytest-randomly>=3.15")
    session.run("python", str(ROOT / "ci" / "machine.py"), env=OTHER_SETTINGS)
    # the docs' examples for these frameworks must run here, not skip (tests/test_doc_examples.py)
    modules = {"sklearn": "sklearn", "torch": "torch", "tensorflow": "tensorflow,keras"}
    required = ",".join(f"{modules[p]},flm_{p}" for p in SELECTED)
    session.run("pytest", "tests", *[f"plugins/flm-{p}/tests" for p in SELECTED], *session.posargs,
                env={**OTHER_SETTINGS, "FLM_DOC_EXAMPLES_REQUIRE": required})


@nox.session(python="3.11", tags=["ci"])
def fuzz(session: nox.Session) -> None:
    """Coverage-guided fuzzing (atheris) of the container, time-boxed: FLM_FUZZ_SECONDS (60).

    Inputs that add coverage go to a scratch corpus; a crash is saved beside it and fails
    the session (copy it into tests/fuzz/corpus/container/ once fixed)."""
    install(session, "-e", ".[test]", "atheris>=2.3")
    work = Path(tempfile.mkdtemp(prefix="flm-fuzz-"))
    (work / "corpus").mkdir()
    seconds = os.environ.get("FLM_FUZZ_SECONDS", "60")
    session.log(f"fuzz corpus and findings: {work}")
    session.run("python", "tests/fuzz/fuzz_container.py", f"-max_total_time={seconds}",
                "-max_len=256", "-timeout=30", "-rss_limit_mb=3072", "-print_final_stats=1",
                f"-artifact_prefix={work}/", str(work / "corpus"), "tests/fuzz/corpus/container")


@nox.session(python="3.11", tags=["ci"])
def example_plugin(session: nox.Session) -> None:
    """The third-party example under docs/: a framework and a codec with no change to the core."""
    install(session, "-e", ".[test]", "-e", "docs/example-plugin[test]")
    session.run("pytest", "docs/example-plugin/tests", "tests/test_doc_examples.py",
                *session.posargs, env={"FLM_DOC_EXAMPLES_REQUIRE": "flm_polynomial"})


WHEEL_PROJECTS = {"core": ROOT, **{p: ROOT / "plugins" / f"flm-{p}" for p in PLUGINS},
                  "polynomial": ROOT / "docs" / "example-plugin"}


@nox.session(python="3.11", tags=["ci"])
def wheels(session: nox.Session) -> None:
    """Build and check every sdist and wheel, then install core + ONE plugin from the wheels
    alone into a fresh venv per plugin and smoke-test it there."""
    install(session, "build>=1.2", "twine>=5", "check-wheel-contents>=0.6")
    work = Path(tempfile.mkdtemp(prefix="flm-wheels-"))
    try:
        _build_and_smoke(session, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the venvs hold ~2 GB


def _build_and_smoke(session: nox.Session, work: Path) -> None:
    dist = work / "dist"
    for project in WHEEL_PROJECTS.values():
        session.run("python", "-m", "build", "--outdir", str(dist), str(project), silent=True)
    session.run("twine", "check", "--strict", *map(str, sorted(dist.iterdir())))
    session.run("check-wheel-contents", str(dist))

    def wheel(name: str) -> str:
        return str(next(dist.glob(f"{name.replace('-', '_')}-*.whl")))

    files = work / "files"
    files.mkdir()
    envs = {}
    chosen = [p for p in WHEEL_PROJECTS if p != "core" and (p in SELECTED or p not in PLUGINS)]
    for plugin in chosen:
        env = work / f"venv-{plugin}"
        session.run("python", "-m", "venv", str(env))
        python = str(env / "bin" / "python")
        extra = PLUGINS[plugin]["latest"] if plugin in PLUGINS else []
        session.run(python, "-m", "pip", "install", "-q", *CONSTRAINTS, wheel("flm-core"),
                    wheel(f"flm-{plugin}"), *extra, external=True)
        session.run(python, str(ROOT / "ci" / "smoke.py"), "dump", plugin, str(files),
                    external=True)
        envs[plugin] = python
    for plugin, python in envs.items():
        session.run(python, str(ROOT / "ci" / "smoke.py"), "read", plugin, str(files),
                    external=True)


# --- benchmarks: `nox -s bench` (quick) or `nox -s bench -- --full`; never in CI or plain `nox`
# (minutes of timing on a shared machine). flama 2.2.2 gets a venv of its own: its stack must
# not leak into the one FLM is measured in.
BENCH_DEPS = ["tensorflow-cpu>=2.16,<3", "joblib", "skops", "matplotlib"]
FLAMA_DEPS = ["flama==2.2.2", "pydantic", "scikit-learn", "tensorflow-cpu>=2.16,<3", "torch"]


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """FLM vs flama 2.2.2 and the native savers; writes docs/benchmarks.md and its PNGs."""
    install(session, "-e", ".", *[arg for p in PLUGINS for arg in ("-e", plugin_dir(p))],
            *BENCH_DEPS)
    flama = Path(session.virtualenv.location).parent / "bench-flama"
    if not (flama / "bin" / "python").exists():
        session.run("python", "-m", "venv", str(flama))
    session.run(str(flama / "bin" / "python"), "-m", "pip", "install", "-q", *CONSTRAINTS,
                *FLAMA_DEPS, external=True)
    session.run("python", "-m", "benchmarks", *(session.posargs or ["--quick"]),
                env={"FLM_BENCH_FLAMA_PYTHON": str(flama / "bin" / "python")})


@nox.session(python="3.11", default=False)
def bench_serving(session: nox.Session) -> None:
    """`flm serve` vs `flama serve` (2.2.2, its own venv): requests/s and p50/p99 at 1 and
    8 clients, the direct call as the floor (benchmarks/serving.py; docs/serving.md)."""
    install(session, "-e", ".[serve]", "-e", plugin_dir("sklearn"), "httpx")
    flama = Path(session.virtualenv.location).parent / "bench-serving-flama"
    if not (flama / "bin" / "python").exists():
        session.run("python", "-m", "venv", str(flama))
    session.run(str(flama / "bin" / "python"), "-m", "pip", "install", "-q", *CONSTRAINTS,
                "flama==2.2.2", "pydantic", "scikit-learn", external=True)
    session.run("python", "-m", "benchmarks.serving", *session.posargs,
                env={"FLM_BENCH_FLAMA_PYTHON": str(flama / "bin" / "python")})
