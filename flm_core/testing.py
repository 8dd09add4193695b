"""A contract test suite that every serializer plugin passes.

Subclass it in a plugin's tests and fill in four members::

    from flm_core.testing import SerializerContract

    class TestSklearnContract(SerializerContract):
        framework = "sklearn"
        distribution = "flm-sklearn"

        def make_model(self):
            return LogisticRegression().fit(X, y)

        def make_input(self):
            return X

Override ``predict`` (default: ``model.predict(x)``) and ``assert_same`` (default: ``==``,
or ``numpy.testing.assert_array_equal`` when numpy is installed) where needed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import flm_core
from flm_core.plugins import Registry

CODECS = ["zstd", "zlib", "bz2", "lzma", "none"]


class _OneWayStream(io.RawIOBase):
    """A stream that cannot seek or tell, like a pipe or a socket."""

    def __init__(self, data: bytes = b"") -> None:
        self._data = io.BytesIO(data)
        self.written = bytearray()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)

    def write(self, data: Any) -> int:
        self.written += data
        return memoryview(data).nbytes


class SerializerContract:
    """The behaviour every serializer must show; subclass with ``framework``/``make_model``."""

    framework: str = ""
    distribution: str = ""
    dump_options: dict[str, Any] = {}  # noqa: RUF012 - read-only class defaults
    load_options: dict[str, Any] = {}  # noqa: RUF012

    def make_model(self) -> Any:
        raise NotImplementedError

    def make_input(self) -> Any:
        raise NotImplementedError

    def predict(self, model: Any, x: Any) -> Any:
        return model.predict(x)

    def assert_same(self, expected: Any, actual: Any) -> None:
        try:
            import numpy.testing
        except ImportError:
            assert expected == actual
        else:
            numpy.testing.assert_array_equal(numpy.asarray(expected), numpy.asarray(actual))

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls) -> Any:
        return cls().make_model()

    @pytest.fixture
    def dumped(self, model: Any, tmp_path: Path) -> Path:
        path = tmp_path / "model.flm"
        flm_core.dump(model, path, **self.dump_options)
        return path

    def _load(self, path: Any, **kwargs: Any) -> flm_core.ModelArtifact:
        return flm_core.load(path, **self.load_options, **kwargs)

    def test_serializer_is_installed_under_its_framework_name(self) -> None:
        serializers = Registry.current().serializers
        assert self.framework in serializers
        assert serializers[self.framework][1] == self.distribution

    def test_can_serialize_claims_the_model(self, model: Any) -> None:
        serializer = Registry.current().serializers[self.framework][0]
        assert serializer.can_serialize(model)
        assert Registry.current().serializer_for(model) == serializer

    @pytest.mark.parametrize("other", [object(), 1, "text", {"a": 1}, [1, 2], None])
    def test_can_serialize_rejects_other_objects(self, other: Any) -> None:
        serializer = Registry.current().serializers[self.framework][0]
        assert not serializer.can_serialize(other)

    @pytest.mark.parametrize("codec", CODECS)
    def test_round_trip_through_every_codec(self, model: Any, codec: str, tmp_path: Path) -> None:
        path = tmp_path / f"model-{codec}.flm"
        flm_core.dump(model, path, compression=codec, **self.dump_options)
        with self._load(path) as loaded:
            assert loaded.meta.format.codec == codec
            x = self.make_input()
            self.assert_same(self.predict(model, x), self.predict(loaded.model, x))

    def test_metadata_records_framework_model_and_user_fields(
        self, model: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "model.flm"
        written = flm_core.dump(
            model, path, model_id="12345678-1234-5678-1234-567812345678",
            params={"optimizer": "adam"}, metrics={"recall": 0.95},
            extra={"tags": ["test"]}, **self.dump_options,
        )
        serializer = Registry.current().serializers[self.framework][0]
        meta = flm_core.read_meta(path)
        assert meta == written
        assert str(meta.id) == "12345678-1234-5678-1234-567812345678"
        assert meta.framework.lib == self.framework
        assert meta.framework.version == serializer.framework_version()
        assert meta.plugin.distribution == self.distribution
        assert meta.model.obj.rsplit(".", 1)[-1] == type(model).__name__
        assert meta.model.params == {"optimizer": "adam"}
        assert meta.model.metrics == {"recall": 0.95}
        assert meta.extra == {"tags": ["test"]}
        assert json.loads(json.dumps(dict(meta.model.info))) == meta.model.info
        assert meta.model_digest and len(meta.model_digest) == 64

    def test_dumps_of_the_same_model_have_the_same_digest(
        self, model: Any, tmp_path: Path
    ) -> None:
        first = flm_core.dump(model, tmp_path / "a.flm", compression="zstd", **self.dump_options)
        second = flm_core.dump(model, tmp_path / "b.flm", compression="none", **self.dump_options)
        assert first.model_digest == second.model_digest

    def test_artifacts_round_trip(self, model: Any, tmp_path: Path) -> None:
        (tmp_path / "labels.json").write_text('["a", "b"]')
        path = tmp_path / "model.flm"
        flm_core.dump(model, path, artifacts={"foo.json": tmp_path / "labels.json"},
                      **self.dump_options)
        with self._load(path, artifacts_dir=tmp_path / "out") as loaded:
            assert loaded.artifacts == {"foo.json": tmp_path / "out" / "foo.json"}
            assert loaded.artifacts["foo.json"].read_text() == '["a", "b"]'

    def test_round_trip_through_non_seekable_streams(self, model: Any) -> None:
        out = _OneWayStream()
        flm_core.dump(model, out, **self.dump_options)
        with self._load(_OneWayStream(bytes(out.written))) as loaded:
            x = self.make_input()
            self.assert_same(self.predict(model, x), self.predict(loaded.model, x))
        assert flm_core.read_meta(_OneWayStream(bytes(out.written))).model_digest

    def test_verify_accepts_the_file_without_loading_the_model(self, dumped: Path) -> None:
        assert flm_core.verify(dumped).model_digest == flm_core.read_meta(dumped).model_digest

    @pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.6, 0.9, 0.999])
    def test_load_rejects_a_flipped_byte(self, dumped: Path, fraction: float) -> None:
        data = bytearray(dumped.read_bytes())
        data[int(len(data) * fraction)] ^= 0x40
        with pytest.raises(flm_core.FormatError):
            self._load(io.BytesIO(bytes(data)))

    @pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.99])
    def test_load_rejects_a_truncated_file(self, dumped: Path, fraction: float) -> None:
        data = dumped.read_bytes()
        with pytest.raises(flm_core.FormatError):
            self._load(io.BytesIO(data[: int(len(data) * fraction)]))
