"""A contract test suite that every serializer plugin passes.

Subclass it in a plugin's tests and fill in the members::

    from flm_core.testing import SerializerContract

    class TestSklearnContract(SerializerContract):
        framework = "sklearn"
        distribution = "flm-sklearn"

        def make_model(self):
            return LogisticRegression().fit(X, y)

        def make_input(self):
            return X

        def weights(self, model):
            return {"coef_": model.coef_, "intercept_": model.intercept_}

Override ``predict`` (default: ``model.predict(x)``) where needed, and ``reference`` where the
serializer stores a transformed program (torch.export) rather than the model itself.

Prediction through the plugin (``flm_core.predict``) is checked on ``predict_input()``
(default: ``make_input()`` as a numpy array) with ``predict_options``; a plugin without
``predict`` must say so with ``PredictionNotSupportedError``.

Every comparison is bit for bit (``assert_bit_identical``): the round trip must not change a
single weight, and the loaded model runs the very computation the reference runs, in the same
process, so its outputs are identical too. Comparing two *different* computations (eager
against a compiled ``predict``, the original module against its export) belongs in a plugin's
own tests, with a tolerance justified there.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
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
    predict_options: dict[str, Any] = {}  # noqa: RUF012

    def make_model(self) -> Any:
        raise NotImplementedError

    def make_input(self) -> Any:
        raise NotImplementedError

    def predict(self, model: Any, x: Any) -> Any:
        return model.predict(x)

    def predict_input(self) -> Any:
        """What ``flm_core.predict`` is given: ``make_input()`` as numpy (dense)."""
        import numpy

        x = self.make_input()
        return numpy.asarray(x.toarray() if hasattr(x, "toarray") else x)

    def weights(self, model: Any) -> Mapping[str, Any]:
        """Every learned number of ``model`` by name: arrays, scalars or bytes."""
        raise NotImplementedError(
            f"{type(self).__name__} must define weights(model), returning every learned array "
            "of the model by name, so the contract can check the round trip bit for bit")

    def reference(self, model: Any) -> Any:
        """The computation a loaded model must reproduce exactly: ``model`` itself, unless
        the serializer stores a transformed program (override it there)."""
        return model

    def assert_same(self, expected: Any, actual: Any) -> None:
        assert_bit_identical(expected, actual)

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls) -> Any:
        return cls().make_model()

    @pytest.fixture(scope="class")
    @classmethod
    def expected(cls, model: Any) -> Any:
        """What the reference computation predicts on ``make_input()``."""
        self = cls()
        return self.predict(self.reference(model), self.make_input())

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
    def test_round_trip_through_every_codec(
        self, model: Any, expected: Any, codec: str, tmp_path: Path
    ) -> None:
        path = tmp_path / f"model-{codec}.flm"
        flm_core.dump(model, path, compression=codec, **self.dump_options)
        with self._load(path) as loaded:
            assert loaded.meta.format.codec == codec
            self.assert_same(expected, self.predict(loaded.model, self.make_input()))

    def test_round_trip_keeps_every_weight_bit_for_bit(self, model: Any, dumped: Path) -> None:
        before = self.weights(model)
        assert before, "weights(model) returned nothing to compare"
        with self._load(dumped) as loaded:
            after = self.weights(loaded.model)
        assert sorted(after) == sorted(before)
        for name, value in before.items():
            try:
                assert_bit_identical(value, after[name])
            except AssertionError as exc:
                raise AssertionError(f"weight {name!r} changed in the round trip: {exc}") from exc

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

    def test_round_trip_through_non_seekable_streams(self, model: Any, expected: Any) -> None:
        out = _OneWayStream()
        flm_core.dump(model, out, **self.dump_options)
        with self._load(_OneWayStream(bytes(out.written))) as loaded:
            self.assert_same(expected, self.predict(loaded.model, self.make_input()))
        assert flm_core.read_meta(_OneWayStream(bytes(out.written))).model_digest

    def test_verify_accepts_the_file_without_loading_the_model(self, dumped: Path) -> None:
        assert flm_core.verify(dumped).model_digest == flm_core.read_meta(dumped).model_digest

    def test_signature_reads_back_as_written(self, model: Any, tmp_path: Path) -> None:
        written = flm_core.dump(model, tmp_path / "model.flm", **self.dump_options)
        signature = flm_core.read_meta(tmp_path / "model.flm").model.signature
        assert signature == written.model.signature
        if signature is not None:
            assert type(signature).from_dict(signature.to_dict()) == signature

    def test_predict_through_the_plugin_matches_the_reference(
        self, model: Any, dumped: Path
    ) -> None:
        from flm_core.inference import Predictor

        with self._load(dumped) as loaded:
            predictor = Predictor.from_artifact(loaded)
            if not predictor.can_predict:
                with pytest.raises(flm_core.PredictionNotSupportedError):
                    predictor(self.predict_input(), **self.predict_options)
                return
            actual = predictor(self.predict_input(), **self.predict_options)
        want = predictor.serializer.predict
        assert want is not None
        checked = predictor.check(self.predict_input())
        assert_bit_identical(want(self.reference(model), checked, **self.predict_options),
                             actual)

    def test_predict_rejects_inputs_that_do_not_fit_the_signature(self, dumped: Path) -> None:
        import numpy

        with self._load(dumped) as loaded:
            signature = loaded.meta.model.signature
            if signature is None or len(signature.inputs) != 1:
                return  # any input goes (documented): nothing to reject
            spec = signature.inputs[0]
            x = numpy.asarray(self.predict_input())
            with pytest.raises(flm_core.InputError):
                flm_core.predict(loaded, x[..., None], **self.predict_options)  # rank
            if spec.shape and spec.shape[-1] > 0 and x.ndim:
                wider = numpy.concatenate([x, x[..., :1]], axis=-1)
                with pytest.raises(flm_core.InputError, match="expected"):
                    flm_core.predict(loaded, wider, **self.predict_options)  # features
            if spec.dtype != "str":
                with pytest.raises(flm_core.InputError, match="non-numeric"):
                    flm_core.predict(loaded, numpy.full(x.shape, "x"), **self.predict_options)

    def test_input_example_is_stored_and_checked(self, model: Any, tmp_path: Path) -> None:
        example = self.predict_input()[:2]
        written = flm_core.dump(model, tmp_path / "model.flm", input_example=example,
                                **self.dump_options)
        signature = written.model.signature
        assert signature is not None and signature.example == example.tolist()
        assert flm_core.read_meta(tmp_path / "model.flm").model.signature == signature

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


def assert_bit_identical(expected: Any, actual: Any) -> None:
    """Same type of values, same shape, same bits: ``-0.0`` is not ``0.0``, and a NaN
    matches only the same NaN. Tuples, lists and dicts compare item by item. Without numpy,
    plain ``==``."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, type(expected)) and len(actual) == len(expected), (
            f"expected a {type(expected).__name__} of {len(expected)}, got {actual!r:.200}")
        for want, got in zip(expected, actual, strict=True):
            assert_bit_identical(want, got)
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected)
        for key, want in expected.items():
            assert_bit_identical(want, actual[key])
        return
    if isinstance(expected, (str, bytes, bytearray, memoryview)):
        assert type(expected) is type(actual) and expected == actual, (
            f"{expected!r:.80} != {actual!r:.80}")
        return
    try:
        import numpy
    except ImportError:
        assert expected == actual
        return
    want, got = numpy.asarray(expected), numpy.asarray(actual)
    assert (want.dtype, want.shape) == (got.dtype, got.shape), (
        f"expected {want.dtype}{list(want.shape)}, got {got.dtype}{list(got.shape)}")
    if want.dtype.names:  # a record's padding bytes are not part of its value
        for field in want.dtype.names:
            assert_bit_identical(want[field], got[field])
        return
    if want.dtype.hasobject:  # Python objects (string labels): their bytes are addresses
        numpy.testing.assert_array_equal(want, got, strict=True)
        return
    if want.tobytes() != got.tobytes():
        numpy.testing.assert_array_equal(want, got, strict=True)  # says where they differ
        raise AssertionError("equal values with different bits (0.0 and -0.0, or NaN payloads)")
