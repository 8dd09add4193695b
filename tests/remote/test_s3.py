"""dump, load, read_meta and verify on s3:// URLs, against moto's S3 server on loopback."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("s3fs", reason="the remote tests need the remote extra, s3fs and moto")
pytest.importorskip("moto.server", reason="the remote tests need moto[server]")

import flm_core
from flm_core.remote import upload

CODECS = ["zstd", "zlib", "bz2", "lzma", "none"]
FAKEDIST = Path(__file__).parents[1] / "fakedist"
MB = 1024 * 1024


def _objects(s3: Any, bucket: str) -> dict[str, bytes]:
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _pending_uploads(s3: Any, bucket: str) -> list[Any]:
    return list(s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_for_each_codec(toy: Any, s3: Any, bucket: str, codec: str,
                                   artifact_file: Path, tmp_path: Path) -> None:
    url, options = f"s3://{bucket}/models/m.flm", s3.options()
    model = toy.model(size=300_000, weights=50_000)
    written = flm_core.dump(model, url, compression=codec, storage_options=options,
                            artifacts={"labels.json": artifact_file})
    with flm_core.load(url, storage_options=options) as artifact:
        assert artifact.model == model
        assert artifact.artifacts["labels.json"].read_text() == artifact_file.read_text()
    assert flm_core.read_meta(url, storage_options=options) == written
    assert flm_core.verify(url, storage_options=options) == written
    stored = _objects(s3, bucket)["models/m.flm"]
    assert s3.secret.encode() not in stored and s3.key.encode() not in stored
    local = tmp_path / "local.flm"
    local.write_bytes(stored)
    assert flm_core.verify(local) == written  # the object is exactly the file


def test_large_model_streams_up_in_parts_and_back(toy: Any, s3: Any, bucket: str) -> None:
    url, options = f"s3://{bucket}/big.flm", s3.options()
    model = toy.Toy(os.urandom(MB) * 150, toy.model(weights=10).weights)  # 150 MB
    meta = flm_core.dump(model, url, compression="none", storage_options=options)
    head = s3.client().head_object(Bucket=bucket, Key="big.flm")
    parts = int(head["ETag"].strip('"').split("-")[1])  # a multipart ETag ends in -<parts>
    assert parts == -(-head["ContentLength"] // upload.PART) and parts >= 9
    with flm_core.load(url, storage_options=options) as artifact:
        assert artifact.model.blob == model.blob
    assert meta.model_section is not None and meta.model_section.raw_size > 150 * MB


@pytest.mark.parametrize("written", [0, 40 * MB], ids=["before-any-part", "after-parts"])
def test_a_dump_failing_midway_leaves_no_object(toy: Any, s3: Any, bucket: str,
                                                written: int) -> None:
    toy.plugin.fail_after = written
    with pytest.raises(OSError, match="disk on fire"):
        flm_core.dump(toy.model(), f"s3://{bucket}/m.flm", compression="none",
                      storage_options=s3.options())
    assert _objects(s3, bucket) == {}
    assert _pending_uploads(s3, bucket) == []  # aborted, not left to bill


def test_a_dump_failing_midway_keeps_the_previous_object(toy: Any, s3: Any,
                                                         bucket: str) -> None:
    url, options = f"s3://{bucket}/m.flm", s3.options()
    flm_core.dump(toy.model(size=10), url, storage_options=options)
    before = _objects(s3, bucket)
    toy.plugin.fail_after = 40 * MB
    with pytest.raises(OSError, match="disk on fire"):
        flm_core.dump(toy.model(), url, compression="none", storage_options=options)
    assert _objects(s3, bucket) == before
    with flm_core.load(url, storage_options=options) as artifact:
        assert artifact.model == toy.model(size=10)


def test_the_store_failing_mid_upload_keeps_the_previous_object(
    toy: Any, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import s3fs.core

    url, options = f"s3://{bucket}/m.flm", s3.options()
    flm_core.dump(toy.model(size=10), url, storage_options=options)
    before = _objects(s3, bucket)
    real = s3fs.core.S3File._call_s3
    calls = {"upload_part": 0}

    def flaky(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "upload_part":
            calls["upload_part"] += 1
            if calls["upload_part"] == 3:
                raise ConnectionResetError("connection reset by peer")
        return real(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.core.S3File, "_call_s3", flaky)
    model = toy.Toy(os.urandom(MB) * 60, toy.model(weights=10).weights)
    with pytest.raises(flm_core.RemoteError, match=f"upload to s3://{bucket}/m.flm"):
        flm_core.dump(model, url, compression="none", storage_options=options)
    assert calls["upload_part"] == 3
    assert _objects(s3, bucket) == before
    assert _pending_uploads(s3, bucket) == []


def test_read_meta_transfers_only_the_head_and_the_tail(toy: Any, s3: Any, bucket: str,
                                                        meter: Any) -> None:
    url = f"s3://{bucket}/big.flm"
    model = toy.Toy(os.urandom(MB) * 40, toy.model(weights=10).weights)
    written = flm_core.dump(model, url, compression="none", storage_options=s3.options())
    meter.reset()
    meta = flm_core.read_meta(url, storage_options=s3.options(meter.endpoint))
    print(f"read_meta of a {written.format.sections[0].stored_size / MB:.0f} MiB object: "
          f"{meter.received} bytes received, HTTP headers included")
    assert meta == written
    assert 0 < meter.received < 64 * 1024


def test_concurrent_loads_of_one_object_from_several_processes(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.syspath_prepend(str(FAKEDIST))  # the installed ``fake`` plugin, here and there
    monkeypatch.setenv("FLM_DISABLE_PLUGINS", "broken")
    fake = importlib.import_module("flm_fake_plugin")
    data = os.urandom(MB) * 12
    url, options = f"s3://{bucket}/shared.flm", s3.options()
    flm_core.dump(fake.FakeModel(data), url, storage_options=options)
    child = textwrap.dedent(f"""
        import hashlib, sys, flm_core
        cache = sys.argv[1] or None
        with flm_core.load({url!r}, storage_options={options!r}, cache_dir=cache) as a:
            print(hashlib.sha256(a.model.data).hexdigest())
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKEDIST), *sys.path]),
           "FLM_DISABLE_PLUGINS": "broken"}
    for cache in ("", str(tmp_path / "cache")):
        children = [subprocess.Popen([sys.executable, "-c", child, cache], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    for _ in range(3)]
        results = [c.communicate(timeout=120) for c in children]
        assert [c.returncode for c in children] == [0, 0, 0], [err for _, err in results]
        assert {out.strip() for out, _ in results} == {hashlib.sha256(data).hexdigest()}
    assert len(list((tmp_path / "cache").glob("*.flm"))) == 1


def _no_secret(exc: BaseException, *secrets: str) -> str:
    text = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in text
    return str(exc)


def test_a_missing_bucket_is_a_clear_error(toy: Any, s3: Any) -> None:
    url = "s3://no-such-bucket-flm/m.flm"
    with pytest.raises(flm_core.RemoteError) as load_error:
        flm_core.load(url, storage_options=s3.options())
    assert "no such" in str(load_error.value) and url in str(load_error.value)
    with pytest.raises(flm_core.RemoteError) as dump_error:
        flm_core.dump(toy.model(), url, storage_options=s3.options())
    message = _no_secret(dump_error.value, s3.secret)
    assert "no such bucket" in message and url in message


def test_a_missing_key_is_a_clear_error(s3: Any, bucket: str) -> None:
    url = f"s3://{bucket}/absent.flm"
    for call in (flm_core.load, flm_core.read_meta, flm_core.verify):
        with pytest.raises(flm_core.RemoteError, match="no such object") as error:
            call(url, storage_options=s3.options())
        assert url in _no_secret(error.value, s3.secret)


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_bad_credentials_are_a_clear_error_that_never_shows_them(
    toy: Any, s3: Any, bucket: str, wrong: str,
) -> None:
    url = f"s3://{bucket}/m.flm"
    flm_core.dump(toy.model(), url, storage_options=s3.options())
    bad = {"key": "AKIAFLMTESTWRONGKEY0", "secret": "wRoNg/SeCrEt+k3y/DoNoTsHoW"}
    options = s3.options(**{wrong: bad[wrong]})
    for call in (flm_core.load, flm_core.read_meta):
        with pytest.raises(flm_core.RemoteError, match="access denied") as error:
            call(url, storage_options=options)
        assert url in _no_secret(error.value, bad[wrong], s3.secret)
    with pytest.raises(flm_core.RemoteError, match="access denied") as error:
        flm_core.dump(toy.model(), url, storage_options=options)
    _no_secret(error.value, bad[wrong], s3.secret)


def test_credentials_in_the_url_are_never_shown(s3: Any, bucket: str) -> None:
    url = f"s3://{bucket}/absent.flm?X-Amz-Signature=deadbeefcafe"
    with pytest.raises(flm_core.RemoteError) as error:
        flm_core.read_meta(url, storage_options=s3.options())
    assert "deadbeefcafe" not in _no_secret(error.value, s3.secret)


def test_an_object_replaced_during_a_read_fails_instead_of_mixing_two_files(
    s3: Any, bucket: str,
) -> None:
    from flm_core import remote

    client, key = s3.client(), "changing.bin"
    client.put_object(Bucket=bucket, Key=key, Body=b"a" * 3 * MB)
    with remote.reading(f"s3://{bucket}/{key}", s3.options()) as stream:
        assert stream.read(10) == b"a" * 10
        client.put_object(Bucket=bucket, Key=key, Body=b"b" * 3 * MB)
        with pytest.raises(flm_core.RemoteError, match=f"s3://{bucket}/{key}"):
            while stream.read(MB):
                pass


def test_a_process_killed_mid_upload_leaves_the_previous_object(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import signal
    import time

    monkeypatch.syspath_prepend(str(FAKEDIST))
    monkeypatch.setenv("FLM_DISABLE_PLUGINS", "broken")
    fake = importlib.import_module("flm_fake_plugin")
    url, options = f"s3://{bucket}/m.flm", s3.options()
    flm_core.dump(fake.FakeModel(b"previous"), url, storage_options=options)
    before = _objects(s3, bucket)
    child = textwrap.dedent(f"""
        import os, flm_core, flm_fake_plugin
        model = flm_fake_plugin.FakeModel(os.urandom(1 << 20) * 200)
        flm_core.dump(model, {url!r}, compression="none", storage_options={options!r})
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKEDIST), *sys.path])}
    client = s3.client()

    def parts_sent() -> bool:
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return bool(uploads) and bool(client.list_parts(
            Bucket=bucket, Key="m.flm", UploadId=uploads[0]["UploadId"]).get("Parts"))

    proc = subprocess.Popen([sys.executable, "-c", child], env=env)
    try:
        deadline = time.monotonic() + 60
        while not parts_sent():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _objects(s3, bucket) == before  # the parts sent are invisible until completed
    with flm_core.load(url, storage_options=options) as artifact:
        assert artifact.model.data == b"previous"
