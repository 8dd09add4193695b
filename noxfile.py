"""Test matrix: the core per Python, each plugin per (Python, framework range), all together.

    nox -t ci                          what CI runs (.ci/run); about 25 minutes from cold
    nox                                the full matrix
    FLM_PLUGINS=torch nox -t ci        only one plugin's sessions (comma-separated list)
    FLM_PYTHONS=3.11 nox               only some Pythons

Every venv installs with ``ci/constraints.txt``: an unpinned torch pulls GBs of CUDA wheels.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CONSTRAINTS = ("-c", str(ROOT / "ci" / "constraints.txt"))
ALL_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
PYTHONS = [p for p in os.environ.get("FLM_PYTHONS", ",".join(ALL_PYTHONS)).split(",") if p]

# Where a combination cannot run on this machine, the reason is printed, never dropped silently.
PLUGINS: dict[str, dict[str, object]] = {
    "sklearn": {
        "pythons": ALL_PYTHONS,
        "lowest": ["scikit-learn==1.3.2", "numpy<2", "scipy<1.12"],
        "lowest_pythons": ["3.10", "3.11"],
    },
    "torch": {
        "pythons": ["3.11"],
        "why": "the CPU torch wheel (torch==2.13.0) exists on this machine for Python 3.11 only",
        "lowest": None,
        "why_lowest": "torch<2.13 CPU wheels are not on this machine; PyPI's are CUDA builds",
    },
    "tensorflow": {
        "pythons": ["3.11", "3.12"],
        "why": "the matrix keeps tensorflow-cpu (~600 MB per venv) to two Pythons",
        "extra": ["tensorflow-cpu>=2.16,<3"],
        "lowest": ["tensorflow-cpu==2.16.2", "keras==3.3.3", "numpy<2"],
        "lowest_pythons": ["3.11"],
    },
}
SELECTED = [p for p in os.environ.get("FLM_PLUGINS", ",".join(PLUGINS)).split(",") if p]

nox.options.error_on_missing_interpreters = True  # a missing Python is a failure, on purpose
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
    install(session, "mypy>=1.10", "-e", ".[test]")
    session.run("mypy")


@nox.session(python=PYTHONS, tags=["ci"])
def tests(session: nox.Session) -> None:
    """Core tests; no framework installed."""
    install(session, "-e", ".[test]")
    session.run("pytest", "tests", *session.posargs)


@nox.session(python=PYTHONS, tags=["ci"])
@nox.parametrize("versions", ["latest", "lowest"], ids=["latest", "lowest"])
@nox.parametrize("plugin", list(PLUGINS), ids=list(PLUGINS))
def plugin(session: nox.Session, plugin: str, versions: str) -> None:
    """One plugin with its framework at the newest or the oldest supported release."""
    spec = PLUGINS[plugin]
    if plugin not in SELECTED:
        session.skip(f"FLM_PLUGINS={','.join(SELECTED)}")
    if session.python not in spec["pythons"]:  # type: ignore[operator]
        session.skip(f"{plugin} on Python {session.python}: {spec.get('why')}")
    pins: list[str] = list(spec.get("extra", []))  # type: ignore[call-overload]
    if versions == "lowest":
        if spec["lowest"] is None:
            session.skip(str(spec["why_lowest"]))
        if session.python not in spec["lowest_pythons"]:  # type: ignore[operator]
            session.skip(f"the lowest {plugin} release has no wheel for Python {session.python}")
        pins = list(spec["lowest"])  # type: ignore[call-overload]
    install(session, "-e", ".[test]", "-e", f"{plugin_dir(plugin)}[test]", *pins)
    session.run("python", "-c", f"import flm_{plugin}")
    session.run("pytest", f"plugins/flm-{plugin}/tests", *session.posargs)


@nox.session(python="3.11", tags=["ci"])
def all_plugins(session: nox.Session) -> None:
    """Every plugin installed at once: core and all plugin tests together, no interference."""
    dirs = [f"{plugin_dir(p)}[test]" for p in SELECTED]
    extras = [pin for p in SELECTED for pin in PLUGINS[p].get("extra", [])]  # type: ignore[attr-defined]
    install(session, "-e", ".[test]", *[arg for d in dirs for arg in ("-e", d)], *extras)
    session.run("pytest", "tests", *[f"plugins/flm-{p}/tests" for p in SELECTED], *session.posargs)


@nox.session(python="3.11", tags=["ci"])
def example_plugin(session: nox.Session) -> None:
    """The third-party example under docs/: a framework and a codec with no change to the core."""
    install(session, "-e", ".[test]", "-e", "docs/example-plugin[test]")
    session.run("pytest", "docs/example-plugin/tests", *session.posargs)


WHEEL_PROJECTS = {"core": ROOT, **{p: ROOT / "plugins" / f"flm-{p}" for p in PLUGINS},
                  "polynomial": ROOT / "docs" / "example-plugin"}


@nox.session(python="3.11", tags=["ci"])
def wheels(session: nox.Session) -> None:
    """Build and check every sdist and wheel, then install core + ONE plugin from the wheels
    alone into a fresh venv per plugin and smoke-test it there."""
    install(session, "build>=1.2", "twine>=5", "check-wheel-contents>=0.6")
    work = Path(tempfile.mkdtemp(prefix="flm-wheels-"))
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
    for plugin in [p for p in WHEEL_PROJECTS if p != "core" and (p in SELECTED or p not in PLUGINS)]:
        env = work / f"venv-{plugin}"
        session.run("python", "-m", "venv", str(env))
        python = str(env / "bin" / "python")
        extra = PLUGINS.get(plugin, {}).get("extra", [])
        session.run(python, "-m", "pip", "install", "-q", *CONSTRAINTS, wheel("flm-core"),
                    wheel(f"flm-{plugin}"), *extra, external=True)  # type: ignore[misc]
        session.run(python, str(ROOT / "ci" / "smoke.py"), "dump", plugin, str(files),
                    external=True)
        envs[plugin] = python
    for plugin, python in envs.items():
        session.run(python, str(ROOT / "ci" / "smoke.py"), "read", plugin, str(files),
                    external=True)
