"""Metadata: what dump records (the seed's signature), defaults, validation before any
byte is written, and the to_dict/from_dict round trip."""

from __future__ import annotations

import datetime
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flm_core
from flm_core import Metadata


def test_dump_and_load_with_the_seed_signature(
    toy: Any, tmp_path: Path, artifact_file: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    model = toy.model()
    model_id = uuid.uuid4()
    flm_core.dump(
        model,
        path="m.flm",
        compression="zstd",
        model_id=model_id,
        timestamp=datetime.datetime(2023, 3, 10, 11, 30),
        params={"optimizer": "adams"},
        metrics={"recall": "0.95"},
        extra={"model_version": "1.0.0", "tags": ["test"]},
        artifacts={"foo.json": artifact_file},
    )
    with flm_core.load(path="m.flm") as loaded:
        assert loaded.model == model
        meta = loaded.meta
        assert meta.id == model_id
        assert meta.timestamp == datetime.datetime(2023, 3, 10, 11, 30)
        assert meta.framework == flm_core.FrameworkInfo(lib="toy", version="1.2.0")
        assert meta.plugin.distribution == "flm-toy"
        assert meta.model.obj == "toy.Toy"
        assert meta.model.params == {"optimizer": "adams"}
        assert meta.model.metrics == {"recall": "0.95"}
        assert meta.model.info == {"blob": 1000, "note": ""}
        assert meta.extra == {"model_version": "1.0.0", "tags": ["test"]}
        assert meta.format.codec == "zstd"
        assert meta.format.artifacts == ("foo.json",)
        assert loaded.artifacts["foo.json"].read_bytes() == artifact_file.read_bytes()


def test_model_id_may_be_given_as_a_string(toy: Any, tmp_path: Path) -> None:
    meta = flm_core.dump(toy.model(), tmp_path / "m.flm",
                         model_id="12345678-1234-5678-1234-567812345678")
    assert meta.id == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert flm_core.read_meta(tmp_path / "m.flm").id == meta.id


def test_default_id_is_a_fresh_uuid4_and_default_timestamp_is_now_in_utc(
    toy: Any, tmp_path: Path,
) -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    first = flm_core.dump(toy.model(), tmp_path / "a.flm")
    second = flm_core.dump(toy.model(), tmp_path / "b.flm")
    after = datetime.datetime.now(datetime.timezone.utc)
    assert first.id.version == 4 and first.id != second.id
    assert before <= first.timestamp <= after
    assert flm_core.read_meta(tmp_path / "a.flm").timestamp == first.timestamp


def test_dump_returns_the_metadata_read_meta_reads(toy: Any, small_file: Path) -> None:
    meta = flm_core.read_meta(small_file)
    assert meta.model_section is not None
    assert meta.model_digest == meta.model_section.sha256 and len(meta.model_digest) == 64
    assert [s.name for s in meta.format.sections] == ["foo.json", ""]


def test_to_dict_is_json_and_from_dict_inverts_it(small_file: Path) -> None:
    meta = flm_core.read_meta(small_file)
    data = json.loads(json.dumps(meta.to_dict()))
    assert Metadata.from_dict(data) == meta
    assert data["id"] == "12345678-1234-5678-1234-567812345678"
    assert data["timestamp"] == "2023-03-10T11:30:00"


@pytest.mark.parametrize("garbage", [
    None, "metadata", 42, [], {}, {"format": {}},
    {"id": "not-a-uuid", "timestamp": "2023-03-10", "framework": {}, "model": {},
     "plugin": {}, "format": {"version": 1, "codec": "zstd"}},
])
def test_from_dict_rejects_garbage_with_format_error(garbage: Any) -> None:
    with pytest.raises(flm_core.FormatError, match="metadata"):
        Metadata.from_dict(garbage)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.data())
def test_from_dict_raises_only_format_error_whatever_a_field_holds(draw: st.DataObject) -> None:
    data = _valid_dict()
    path = draw.draw(st.sampled_from(_paths(data)), label="field")
    value = draw.draw(JSON, label="value")
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        meta = Metadata.from_dict(data)
    except flm_core.FormatError:
        return
    assert isinstance(meta, Metadata)


def _valid_dict() -> dict[str, Any]:
    return {
        "id": "12345678-1234-5678-1234-567812345678",
        "timestamp": "2023-03-10T11:30:00",
        "framework": {"lib": "toy", "version": "1.2.0"},
        "model": {"obj": "toy.Toy", "info": {}, "params": {"a": 1}, "metrics": {}},
        "plugin": {"distribution": "flm-toy", "version": "0.1"},
        "format": {"version": 1, "codec": "zstd", "artifacts": ["foo.json"], "sections": [
            {"kind": "model", "name": "", "codec": "zstd", "offset": 10, "raw_size": 1,
             "stored_size": 1, "blocks": 1, "sha256": "0" * 64}]},
        "extra": {"tags": ["test"]},
    }


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("field", "value"), [
    ("params", {"optimizer": object()}),
    ("metrics", {"recall": math.nan}),
    ("metrics", {"recall": math.inf}),
    ("extra", {"when": datetime.date(2023, 3, 10)}),
    ("extra", {"raw": b"bytes"}),
])
def test_non_json_metadata_raises_metadata_error_and_writes_nothing(
    toy: Any, tmp_path: Path, field: str, value: Any,
) -> None:
    with pytest.raises(flm_core.MetadataError, match="JSON"):
        flm_core.dump(toy.model(), tmp_path / "m.flm", **{field: value})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model_id", ["not-a-uuid", "", "1234", 12.5])
def test_bad_model_id_raises_metadata_error_and_writes_nothing(
    toy: Any, tmp_path: Path, model_id: Any,
) -> None:
    with pytest.raises(flm_core.MetadataError, match="model_id"):
        flm_core.dump(toy.model(), tmp_path / "m.flm", model_id=model_id)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("timestamp", ["2023-03-10", 1678447800, datetime.date(2023, 3, 10)])
def test_a_timestamp_that_is_not_a_datetime_raises_metadata_error(
    toy: Any, tmp_path: Path, timestamp: Any,
) -> None:
    with pytest.raises(flm_core.MetadataError, match="timestamp"):
        flm_core.dump(toy.model(), tmp_path / "m.flm", timestamp=timestamp)
    assert list(tmp_path.iterdir()) == []


def test_metadata_too_large_for_the_head_raises_metadata_error(toy: Any, tmp_path: Path) -> None:
    with pytest.raises(flm_core.MetadataError, match="bytes"):
        flm_core.dump(toy.model(), tmp_path / "m.flm", extra={"big": "x" * (16 * 1024 * 1024)})
    assert list(tmp_path.iterdir()) == []


def test_non_ascii_metadata_round_trips(toy: Any, tmp_path: Path) -> None:
    written = flm_core.dump(toy.model(), tmp_path / "m.flm",
                            extra={"description": "modèle — 模型 🚀"})
    assert flm_core.read_meta(tmp_path / "m.flm").extra == written.extra
