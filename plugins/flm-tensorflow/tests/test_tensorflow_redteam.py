"""Red team: hostile flm-tensorflow files for each mechanism of issue 9 and its neighbours.

Every file is a real .flm with every checksum right. The invariant: load gives a working
model or an FLMError subclass; never BadZipFile, OSError, KeyError, JSONDecodeError..., never
code the file chose (attacks try to create a marker file), never an allocation it asked for.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import keras_payloads as kp
import numpy as np
import pytest
from flm_tensorflow import archive, budget

import flm_core

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def genuine() -> kp.Genuine:
    return kp.Genuine()


def refused(payload: bytes, error: type[Exception] = flm_core.FLMError,
            match: str | None = None) -> None:
    with pytest.raises(error, match=match):
        kp.load(kp.flm_file(payload))


def test_the_genuine_payload_loads_and_predicts(genuine: kp.Genuine) -> None:
    model = kp.load(kp.flm_file(genuine.build()))
    x = np.ones((2, 3), dtype="float32")
    assert np.array_equal(model(x, training=False).numpy(),
                          genuine.model(x, training=False).numpy())


# --- the archive: checked whole before Keras opens it ----------------------------------

def test_bytes_that_are_not_a_zip_are_a_format_error() -> None:
    refused(b"PK\x03\x04 but nothing after", flm_core.FormatError, match="not a valid zip")


def test_a_truncated_archive_is_a_format_error(genuine: kp.Genuine) -> None:
    for cut in (10, len(genuine.payload) // 2, len(genuine.payload) - 10):
        refused(genuine.payload[:cut], flm_core.FormatError)


def test_a_deflated_member_is_refused_before_it_is_inflated(genuine: kp.Genuine) -> None:
    # A zip bomb: 1 GiB of spaces deflates to about 1 MB. flm-tensorflow stores members.
    bomb = genuine.build(members={"config.json": b" " * (1 << 30)},
                         compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 2 << 20
    refused(bomb, flm_core.FormatError, match="compressed")


def test_a_member_claiming_more_bytes_than_the_archive_has_is_refused(
        genuine: kp.Genuine) -> None:
    data = bytearray(genuine.payload)
    entry = kp.central_entry(bytes(data), "model.weights.h5")
    data[entry + 20:entry + 28] = (0x7FFFFFFF).to_bytes(4, "little") * 2
    refused(bytes(data), flm_core.FormatError)


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil", "assets/../../evil",
                                  "assets\\..\\evil", "evil.py", "config.json/x",
                                  "evil\x00config.json", "ASSETS/x"])
def test_members_outside_the_closed_list_are_refused(genuine: kp.Genuine, name: str) -> None:
    refused(genuine.build(members={name: b"x"}), flm_core.UnsafeModelError,
            match="unexpected member")


def test_assets_under_plain_names_pass_the_check(genuine: kp.Genuine) -> None:
    data = genuine.build(members={"assets/vocab/words.txt": b"a\nb\n"})
    archive.check(io.BytesIO(data))


def test_too_many_members_is_a_limit_error(genuine: kp.Genuine) -> None:
    many = {f"assets/{i}": b"" for i in range(archive.MAX_MEMBERS + 1)}
    refused(genuine.build(members=many), archive.LimitError, match="members")


def test_a_duplicate_member_is_a_format_error(genuine: kp.Genuine) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in genuine.members.items():
            zf.writestr(name, data)
        with pytest.warns(UserWarning):
            zf.writestr("config.json", b"{}")
    refused(out.getvalue(), flm_core.FormatError, match="twice")


def test_an_encrypted_member_is_a_format_error(genuine: kp.Genuine) -> None:
    data = bytearray(genuine.payload)
    entry = kp.central_entry(bytes(data), "config.json")
    data[entry + 8] |= 0x1
    refused(bytes(data), flm_core.FormatError)


@pytest.mark.parametrize("missing", ["config.json", "model.weights.h5"])
def test_a_missing_member_is_a_format_error(genuine: kp.Genuine, missing: str) -> None:
    refused(genuine.build(members={missing: None}), flm_core.FormatError, match="lacks")


@pytest.mark.parametrize("config", [b"not json", b"\xff\xfe", b"[1, 2]", b"[" * 100_000,
                                    b'{"a": ' + b"1" * 5000 + b"}"])
def test_a_config_that_is_not_a_json_object_is_a_format_error(
        genuine: kp.Genuine, config: bytes) -> None:
    refused(genuine.build(members={"config.json": config}), flm_core.FormatError)


def test_a_config_over_the_size_limit_is_a_limit_error(
        genuine: kp.Genuine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_CONFIG_BYTES", 100)
    refused(genuine.build(), archive.LimitError, match="config.json is over")


def test_metadata_that_is_not_json_is_a_format_error(genuine: kp.Genuine) -> None:
    refused(genuine.build(members={"metadata.json": b"{"}), flm_core.FormatError)


def test_corrupt_weights_are_a_format_error_not_an_os_error(genuine: kp.Genuine) -> None:
    weights = bytearray(genuine.members["model.weights.h5"])
    weights[: len(weights) // 2] = bytes(len(weights) // 2)
    refused(genuine.build(members={"model.weights.h5": bytes(weights)}), flm_core.FormatError)


# --- the config: what Keras would build from it ----------------------------------------

def inline_array(dtype: str, value: Any) -> dict[str, Any]:
    return {"class_name": "__numpy__", "config": {"value": value, "dtype": dtype}}


@pytest.mark.parametrize("array", [
    inline_array("S15000000000", 1),  # issue 9: asks numpy for 15 GB
    inline_array("U4000000000", "x"),
    inline_array("V15000000000", 0),
    inline_array("object", [1]),
    inline_array("float32", ["__import__('os')"]),
    {"class_name": "__tensor__", "config": {"value": 1, "dtype": "S15000000000"}},
])
def test_inline_arrays_must_be_numeric(genuine: kp.Genuine, array: dict[str, Any]) -> None:
    config = genuine.edited_config()
    config["config"]["layers"][1]["config"]["kernel_initializer"] = array
    refused(genuine.build(config), flm_core.UnsafeModelError, match="array")


def test_a_layer_declaring_gigabytes_of_variables_fails_before_allocating(
        genuine: kp.Genuine) -> None:
    # Dense(units=2**31) on 4 inputs: a 32 GiB kernel declared in a few bytes of config
    config = genuine.edited_config()
    config["config"]["layers"][1]["config"]["units"] = 1 << 31
    refused(genuine.build(config), budget.LimitError, match="budget")


def test_the_variable_budget_is_configurable_and_charges_only_inside_a_load(
        genuine: kp.Genuine, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.setenv(budget.BUDGET_ENV, "64")
    refused(genuine.build(), budget.LimitError, match="budget")
    layer = keras.layers.Dense(64)
    layer.build((None, 64))  # 16 KiB, over the 64 bytes, outside a load: not charged
    assert layer.kernel.shape == (64, 64)


def marker_config(genuine: kp.Genuine, marker: Path, attack: str) -> dict[str, Any]:
    config = genuine.edited_config()
    dense = config["config"]["layers"][1]
    command = f"touch {marker}"
    if attack == "function by module":
        dense["config"]["activation"] = {"module": "os", "class_name": "function",
                                         "config": "system", "registered_name": "function"}
    elif attack == "registered_name":
        dense["registered_name"] = "os>system"
        dense["module"] = "os"
        dense["class_name"] = "system"
        dense["config"] = command
    elif attack == "get_file":
        dense["config"]["activation"] = {
            "module": "keras.utils", "class_name": "function", "config": "get_file",
            "registered_name": "function"}
    elif attack == "builtins exec":
        dense["config"]["activation"] = {"module": "builtins", "class_name": "function",
                                         "config": "exec", "registered_name": "function"}
    elif attack == "lambda":
        dense["class_name"] = "Lambda"
        dense["config"] = {"name": "l", "function": {
            "class_name": "__lambda__", "config": {"code": command, "defaults": None,
                                                   "closure": None}}}
    return config


ATTACKS = ["function by module", "registered_name", "get_file", "builtins exec", "lambda"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_configs_naming_code_are_refused_and_run_nothing(
        genuine: kp.Genuine, attack: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    refused(genuine.build(marker_config(genuine, marker, attack)))
    assert not marker.exists()


def test_a_config_of_the_wrong_shape_is_a_format_error(genuine: kp.Genuine) -> None:
    for path, value in [(("config", "layers"), "x"), (("class_name",), 3),
                        (("config", "layers", 1, "config", "units"), -5), (("config",), [])]:
        refused(genuine.build(kp.replace_at(genuine.config, path, value)))


# --- streaming: held in memory up to a bound, never a full copy in $TMPDIR below it ------

def received_archives(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record, for each load, the file object Keras was handed."""
    seen: list[Any] = []
    original = archive.check

    def spy(received: Any) -> None:
        seen.append(received)
        original(received)

    monkeypatch.setattr(archive, "check", spy)
    return seen


def test_the_archive_stays_in_memory_under_the_bound(
        genuine: kp.Genuine, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = received_archives(monkeypatch)
    kp.load(kp.flm_file(genuine.build()))
    assert len(seen) == 1 and seen[0]._rolled is False  # SpooledTemporaryFile: no file


def test_an_archive_over_the_bound_spills_to_a_private_file_removed_after(
        genuine: kp.Genuine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setenv(archive.MEMORY_ENV, "1024")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen = received_archives(monkeypatch)
    model = kp.load(kp.flm_file(genuine.build()))
    x = np.ones((2, 3), dtype="float32")
    assert np.array_equal(model(x, training=False).numpy(),
                          genuine.model(x, training=False).numpy())
    assert seen[0]._rolled is True and seen[0].closed
    assert os.listdir(tmp_path) == []


def test_options_still_come_only_from_the_caller(genuine: kp.Genuine, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = kp.flm_file(genuine.build(marker_config(genuine, marker, "lambda")))
    with pytest.raises(flm_core.FLMError):
        kp.load(data, compile=False)
    assert not marker.exists()
    assert json.loads(genuine.members["metadata.json"])  # metadata itself stays readable
