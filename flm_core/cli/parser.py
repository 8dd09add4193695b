"""The ``flm`` argument parser. Imports argparse alone, so building it costs nothing; the
docs generate the CLI reference from :func:`build_parser`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

DESCRIPTION = """\
Inspect, verify, unpack and re-encode FLM model files, and list the installed plugins;
predict with a model or serve it over HTTP. Only predict and serve import a framework.
FILE may be - for standard input."""

EPILOG = """\
A progress bar shows on a terminal for large files when tqdm is installed
(pip install 'flm-core[cli]'). Exit status: 0 when every file is fine, 1 otherwise."""


class _Version(argparse.Action):
    """``--version``, reading the version only when asked (package metadata costs ~10 ms)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        import flm_core

        print(f"flm {flm_core.__version__}")
        parser.exit()


def _progress_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_const", const="always",
                       default="auto",
                       help="show a progress bar even off a terminal or for a small file")
    group.add_argument("--no-progress", dest="progress", action="store_const", const="never",
                       help="never show a progress bar")


def _storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an fsspec storage option for URLs (s3://, gs://, https://...): "
                             "credentials, endpoint_url, region; KEY:=JSON for a non-string "
                             "value, a.b=... to nest; repeatable (docs/remote.md)")


def build_parser() -> argparse.ArgumentParser:
    """The ``flm`` parser: each subcommand's ``run`` names its function in
    :mod:`flm_core.cli.commands`, imported only when the command runs."""
    parser = argparse.ArgumentParser(
        prog="flm", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, help="print the version of flm-core")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = commands.add_parser(
        "inspect", aliases=["meta"], help="show a file's metadata, sections and digest",
        description="Show a file's metadata, sections, artifacts and model digest. Reads a "
                    "few KB from the head and the tail of a file; all of a pipe.")
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--json", action="store_true", help="print the metadata as JSON")
    inspect.add_argument("--verify", action="store_true",
                         help="check every checksum and digest first")
    _progress_options(inspect)
    _storage_options(inspect)
    inspect.set_defaults(run="inspect")

    verify = commands.add_parser(
        "verify", help="check every checksum and digest of files",
        description="Decode every section of each FILE and check every checksum and "
                    "digest. Names the damaged section and its offset in the file. Exits 1 "
                    "when any file is damaged.")
    verify.add_argument("files", nargs="+", metavar="FILE")
    _progress_options(verify)
    _storage_options(verify)
    verify.set_defaults(run="verify")

    extract = commands.add_parser(
        "extract", help="unpack a file's artifacts into a directory",
        description="Unpack the artifacts of FILE into DIR (made if missing) once the whole "
                    "file has verified; nothing is left behind on failure. Existing files "
                    "are never overwritten without --force.")
    extract.add_argument("file", metavar="FILE")
    extract.add_argument("directory", metavar="DIR")
    extract.add_argument("--model", action="store_true",
                         help="also write the raw model payload, as DIR/model.payload")
    extract.add_argument("--force", action="store_true", help="overwrite existing files")
    _progress_options(extract)
    _storage_options(extract)
    extract.set_defaults(run="extract")

    recompress = commands.add_parser(
        "recompress", help="re-encode a file with another codec",
        description="Re-encode every section of FILE with another codec into OUT (- for "
                    "standard output), keeping the metadata and the model digest. The model "
                    "is not built: no plugin or framework is needed. Writing to a path is "
                    "atomic.")
    recompress.add_argument("file", metavar="FILE")
    recompress.add_argument("output", metavar="OUT")
    recompress.add_argument("--compression", "-c", default="zstd", metavar="CODEC",
                            help="zstd (default), zlib, bz2, lzma, none, or a plugin's codec")
    _progress_options(recompress)
    _storage_options(recompress)
    recompress.set_defaults(run="recompress")

    plugins = commands.add_parser(
        "plugins", help="list installed plugins, frameworks and codecs",
        description="List each plugin's distribution and version, the frameworks and "
                    "codecs it provides with the framework's installed version, and why a "
                    "plugin failed to load. Imports plugins, never frameworks.")
    plugins.add_argument("--json", action="store_true", help="print the listing as JSON")
    plugins.set_defaults(run="plugins", progress="never")

    predict = commands.add_parser(
        "predict", help="run a model on inputs and print the predictions as JSON",
        description="Load FILE (a path or a URL) through its framework's plugin, check the "
                    "inputs against its signature and print the predictions as JSON: a "
                    "quick check that a file serves. INPUT is a .json (a list of rows, or "
                    "{name: rows}), .csv (rows of numbers, optional header) or .npy file, "
                    "or - for standard input.")
    predict.add_argument("file", metavar="FILE")
    predict.add_argument("--input", "-i", required=True, metavar="INPUT",
                         help="the inputs: .json, .csv, .npy, or - (standard input)")
    predict.add_argument("--method", metavar="NAME",
                         help="the model's method, where its plugin offers several "
                              "(sklearn: predict, predict_proba, decision_function, transform)")
    predict.add_argument("--pretty", action="store_true", help="indent the JSON")
    _storage_options(predict)
    predict.set_defaults(run="predict", progress="never")

    serve = commands.add_parser(
        "serve", help="serve models over HTTP (Open Inference Protocol v2, flama routes)",
        description="Serve each model over HTTP: the Open Inference Protocol v2 under /v2 "
                    "and flama-compatible routes under /NAME/. A model is named after its "
                    "file's stem, or given as NAME=FILE; FILE may be a URL. Every model "
                    "loads before the server listens: one that fails stops it. Needs "
                    "pip install 'flm-core[serve]'.")
    serve.add_argument("models", nargs="+", metavar="[NAME=]FILE")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    serve.add_argument("--max-body", type=int, default=16 * 1024 * 1024, metavar="BYTES",
                       help="refuse request bodies over BYTES with 413 (16 MiB)")
    serve.add_argument("--workers", type=int, default=None, metavar="N",
                       help="threads running model calls (default: CPU count, at most 8)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    _storage_options(serve)
    serve.set_defaults(run="serve", progress="never")
    return parser
