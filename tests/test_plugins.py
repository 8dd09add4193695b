"""The plugin host: discovery through real entry points, conflicts, lookups, options,
disabling, broken and misspelt plugins, and the framework-version warning."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flm_core
from flm_core import plugins
from flm_core.plugins import Registry

TESTS = Path(__file__).parent


@pytest.fixture
def fakedist(monkeypatch: pytest.MonkeyPatch) -> Any:
    """tests/fakedist on sys.path: ``flm-fake`` (entry point ``fake``) and ``flm-broken``."""
    for module in ("flm_fake_plugin", "flm_broken_plugin"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.syspath_prepend(str(TESTS / "fakedist"))
    plugins.reset_plugin_manager()
    return importlib.import_module("flm_fake_plugin")


# --------------------------------------------------------------------------- discovery


def test_an_installed_distribution_is_discovered_through_its_entry_point(
    fakedist: Any, tmp_path: Path,
) -> None:
    with pytest.warns(flm_core.PluginLoadWarning, match="'broken' from flm-broken"):
        registry = Registry.current()
    _, owner = registry.serializers["fake"]
    assert owner == "flm-fake"
    assert registry.codecs["zstd"][1] == "flm-core"

    model = fakedist.FakeModel(b"weights" * 1000)
    written = flm_core.dump(model, tmp_path / "m.flm")
    assert written.framework == flm_core.FrameworkInfo("fake", "0.1.0")
    assert written.plugin == flm_core.PluginInfo("flm-fake", "0.1.0")
    with flm_core.load(tmp_path / "m.flm") as loaded:
        assert loaded.model == model


def test_a_plugin_that_fails_to_import_warns_and_the_core_still_works(
    fakedist: Any, tmp_path: Path,
) -> None:
    with pytest.warns(flm_core.PluginLoadWarning) as record:
        manager = plugins.get_plugin_manager()
    (warning,) = record
    assert "some_framework" in str(warning.message)
    assert not manager.has_plugin("broken") and manager.has_plugin("fake")
    flm_core.dump(fakedist.FakeModel(b"x"), tmp_path / "m.flm", compression="lzma")
    assert flm_core.verify(tmp_path / "m.flm").framework.lib == "fake"


def test_disable_plugins_blocks_the_named_entry_points(
    fakedist: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("FLM_DISABLE_PLUGINS", " fake , broken ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # broken is not even imported
        registry = Registry.current()
    assert "fake" not in registry.serializers
    with pytest.raises(flm_core.PluginNotFoundError):
        flm_core.dump(fakedist.FakeModel(b"x"), tmp_path / "m.flm")


def test_disabling_only_the_broken_plugin_silences_it(
    fakedist: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLM_DISABLE_PLUGINS", "broken")
    assert Registry.current().serializers["fake"][1] == "flm-fake"


def test_a_misspelt_hook_implementation_is_refused_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "flm_misspelt_plugin", raising=False)
    monkeypatch.syspath_prepend(str(TESTS / "fakedist-misspelt"))
    with pytest.warns(flm_core.PluginLoadWarning, match="flm_serializer"):
        manager = plugins.build_plugin_manager()
    assert not manager.has_plugin("misspelt")
    manager.check_pending()  # what stays registered is valid


def test_two_distributions_with_one_entry_point_name_conflict_naming_both(
    fakedist: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(TESTS / "fakedist-duplicate"))
    monkeypatch.setenv("FLM_DISABLE_PLUGINS", "broken")
    with pytest.raises(flm_core.PluginConflictError) as raised:
        plugins.build_plugin_manager()
    assert "flm-fake-fork" in str(raised.value)
    assert str(raised.value).replace("flm-fake-fork", "").count("flm-fake") == 1


def test_build_without_entry_points_registers_only_the_builtins(fakedist: Any) -> None:
    manager = plugins.build_plugin_manager(entry_points=False)
    assert [name for name, _ in manager.list_name_plugin()] == ["flm-core"]


# --------------------------------------------------------------------------- lookups


def test_two_plugins_claiming_one_framework_name_conflict_naming_both(
    toy: Any, register: Any, tmp_path: Path,
) -> None:
    register(toy.ToyPlugin(distribution="flm-toy-fork"), name="flm-toy-fork")
    with pytest.raises(flm_core.PluginConflictError, match="'toy'") as info:
        Registry.current()
    assert "flm-toy" in str(info.value) and "flm-toy-fork" in str(info.value)
    assert "FLM_DISABLE_PLUGINS" in str(info.value)
    with pytest.raises(flm_core.PluginConflictError):
        flm_core.dump(toy.model(), tmp_path / "m.flm")


def test_a_model_no_plugin_claims_lists_the_installed_plugins(toy: Any, tmp_path: Path) -> None:
    with pytest.raises(flm_core.PluginNotFoundError, match=r"toy \(flm-toy\)") as info:
        flm_core.dump({"not": "a model"}, tmp_path / "m.flm")
    assert "builtins.dict" in str(info.value)
    assert not (tmp_path / "m.flm").exists()


def test_with_no_framework_plugins_installed_the_error_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plugins, "_load_entry_points", lambda pm: None)  # ignore the venv's
    with pytest.raises(flm_core.PluginNotFoundError, match="no framework plugins are installed"):
        flm_core.dump(object(), tmp_path / "m.flm")


def test_a_model_two_plugins_claim_asks_for_framework(
    toy: Any, register: Any, tmp_path: Path,
) -> None:
    register(toy.ToyPlugin(name="toy2", distribution="flm-toy2"), name="flm-toy2")
    with pytest.raises(flm_core.PluginConflictError, match=r"toy, toy2.*framework="):
        flm_core.dump(toy.model(), tmp_path / "m.flm")

    for framework in ("toy", "toy2"):
        written = flm_core.dump(toy.model(), tmp_path / f"{framework}.flm", framework=framework)
        assert written.framework.lib == framework
        with flm_core.load(tmp_path / f"{framework}.flm") as loaded:
            assert loaded.model == toy.model()


def test_framework_naming_no_installed_plugin_is_not_found(toy: Any, tmp_path: Path) -> None:
    with pytest.raises(flm_core.PluginNotFoundError, match="pip install flm-jax"):
        flm_core.dump(toy.model(), tmp_path / "m.flm", framework="jax")


@pytest.fixture
def without_torch_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if flm-torch were not installed, also in the sessions where it is."""
    monkeypatch.setenv("FLM_DISABLE_PLUGINS", "torch")
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def test_a_missing_first_party_plugin_names_the_checkout_install_and_the_published_one(
    without_torch_plugin: None, toy: Any, tmp_path: Path,
) -> None:
    with pytest.raises(flm_core.PluginNotFoundError) as info:
        flm_core.dump(toy.model(), tmp_path / "m.flm", framework="torch")
    assert "`pip install ./plugins/flm-torch` from an FLM checkout" in str(info.value)
    assert "`pip install flm-torch` once it is published" in str(info.value)
    unclaimed = type("Forest", (), {"__module__": "sklearn.ensemble._forest"})()
    with pytest.raises(flm_core.PluginNotFoundError, match=r"pip install \./plugins/flm-sklearn"):
        flm_core.dump(unclaimed, tmp_path / "m.flm")
    with pytest.raises(flm_core.PluginNotFoundError, match=r"install from \./plugins/"):
        flm_core.dump(object(), tmp_path / "m.flm")


def test_options_reach_the_serializer_and_unknown_ones_are_refused(
    toy: Any, tmp_path: Path,
) -> None:
    path = tmp_path / "m.flm"
    with pytest.raises(flm_core.OptionError, match=r"toy dump does not accept colour.*note"):
        flm_core.dump(toy.model(), path, colour="red")
    assert not path.exists()
    assert flm_core.dump(toy.model(), path, note="hi").model.info["note"] == "hi"
    with pytest.raises(flm_core.OptionError, match=r"toy load does not accept trusted.*strict"):
        flm_core.load(path, trusted=["os.system"])
    with flm_core.load(path, strict=False) as loaded:
        assert loaded.model == toy.model()


def test_registration_hooks_run_once_so_records_built_per_call_stay_equal(
    toy: Any, register: Any,
) -> None:
    # The pattern docs/writing-a-plugin.md shows: a fresh lambda in each record.
    calls = []

    class LambdaPlugin:
        @flm_core.hookimpl
        def flm_serializers(self) -> list[flm_core.Serializer]:
            calls.append(1)
            return [flm_core.Serializer(
                name="lam", distribution="flm-lam", can_serialize=lambda obj: obj == "lam",
                framework_version=lambda: "1.0", dump=lambda m: None, load=lambda s, m: None)]

    register(LambdaPlugin(), name="flm-lam")
    first = Registry.current().serializers["lam"][0]
    assert Registry.current().serializer_for("lam") == first
    assert Registry.current().serializers["lam"][0] is first
    assert len(calls) == 1
    plugins.reset_plugin_manager()  # a new manager asks the hooks again
    register(LambdaPlugin(), name="flm-lam")
    assert Registry.current().serializers["lam"][0] is not first
    assert len(calls) == 2


def test_builtin_codecs_come_through_the_codec_hook(toy: Any) -> None:
    builtin = {name for name, (_, owner) in Registry.current().codecs.items()
               if owner == "flm-core"}
    assert builtin == {"bz2", "lzma", "none", "zlib", "zstd"}


# --------------------------------------------------------------------------- versions


def test_framework_version_warning_once_when_major_minor_differs(
    toy: Any, small_file: Path,
) -> None:
    toy.plugin.version = "1.3.0"  # the file says 1.2.0
    with pytest.warns(flm_core.FrameworkVersionWarning, match="toy 1.3.0 is installed .* 1.2.0"):
        flm_core.load(small_file).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flm_core.load(small_file).close()  # once per (framework, versions)
    toy.plugin.version = "2.2.0"
    with pytest.warns(flm_core.FrameworkVersionWarning, match="2.2.0"):
        flm_core.load(small_file).close()


@pytest.mark.parametrize("installed", ["1.2.0", "1.2.7", "1.2"])
def test_no_framework_version_warning_when_major_minor_match(
    toy: Any, small_file: Path, installed: str,
) -> None:
    toy.plugin.version = installed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flm_core.load(small_file).close()
