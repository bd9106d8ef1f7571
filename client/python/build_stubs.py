#!/usr/bin/python3
"""Generates the gRPC Python stubs of the optd package into optd/_proto/.

Runs protoc with Debian's grpc_python_plugin (package protobuf-compiler-grpc;
no grpc_tools from PyPI needed) on proto/optd/v1/optimizer.proto, on the files
it imports (vector.proto, options.proto, ...; found with protoc, so that a new
import needs no change here) and on the standard health-checking proto
(client/proto/grpc/health/v1/health.proto), then rewrites the generated
absolute imports (``from optd.v1 import ...``, ``from grpc.health.v1 import
...``, and ``from optd.v1.vector_pb2 import *`` for optimizer.proto's public
imports) into package-relative ones, so that the stubs live inside the
``optd`` package and shadow neither ``optd`` nor ``grpc``. Through those
public imports ``optimizer_pb2`` re-exports every message of the API
(``optimizer_pb2.Vector``). The generated files are not committed (see
.gitignore).

Usage (from anywhere):

    /usr/bin/python3 client/python/build_stubs.py
    PYTHONPATH=client/python /usr/bin/python3 -c "import optd"

Environment: PROTOC (default ``protoc``) and GRPC_PYTHON_PLUGIN (default
``/usr/bin/grpc_python_plugin``) override the tools.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from typing import List, Tuple

from google.protobuf import descriptor_pb2

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "optd" / "_proto"

# (include directory, proto file relative to it). The modules of a file are
# named after it (optimizer_pb2, optimizer_pb2_grpc), and so are those of the
# files it imports from the same include directory.
PROTOS: List[Tuple[pathlib.Path, str]] = [
    (ROOT / "proto", "optd/v1/optimizer.proto"),
    (ROOT / "client" / "proto", "grpc/health/v1/health.proto"),
]

# `from optd.v1 import optimizer_pb2 as x` -> `from . import optimizer_pb2 ...`
_ABSOLUTE_IMPORT = re.compile(
    r"^from (optd\.v1|grpc\.health\.v1) import (\w+_pb2)", re.MULTILINE)
# `from optd.v1.vector_pb2 import *` (an `import public`) ->
# `from .vector_pb2 import *`
_PUBLIC_IMPORT = re.compile(
    r"^from (?:optd\.v1|grpc\.health\.v1)\.(\w+_pb2) import \*$",
    re.MULTILINE)


def _tools() -> Tuple[str, str]:
    protoc = os.environ.get("PROTOC", "protoc")
    plugin = os.environ.get("GRPC_PYTHON_PLUGIN",
                            "/usr/bin/grpc_python_plugin")
    if shutil.which(protoc) is None:
        sys.exit(f"build_stubs: {protoc} not found; install protobuf-compiler")
    if not os.access(plugin, os.X_OK):
        sys.exit(f"build_stubs: {plugin} not found; install "
                 "protobuf-compiler-grpc")
    return protoc, plugin


def _with_imports(protoc: str, include: pathlib.Path, proto: str,
                  tmp: pathlib.Path) -> List[str]:
    """`proto` and the files it imports, transitively, that lie under
    `include`, imports first (google/protobuf's well-known types are left to
    the protobuf package)."""
    descriptors = tmp / "descriptors.pb"
    subprocess.run(
        [protoc, f"-I{include}", "--include_imports",
         f"--descriptor_set_out={descriptors}", str(include / proto)],
        check=True)
    files = descriptor_pb2.FileDescriptorSet.FromString(
        descriptors.read_bytes()).file
    return [f.name for f in files if (include / f.name).is_file()]


def _install(generated: pathlib.Path) -> None:
    text = generated.read_text()
    text = _ABSOLUTE_IMPORT.sub(r"from . import \2", text)
    text = _PUBLIC_IMPORT.sub(r"from .\1 import *", text)
    target = OUT / generated.name
    # Write-then-rename so that a concurrent import never sees a half-written
    # module.
    partial = target.with_suffix(".py.tmp")
    partial.write_text(text)
    partial.replace(target)


def main() -> None:
    protoc, plugin = _tools()
    OUT.mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        for include, proto in PROTOS:
            protos = _with_imports(protoc, include, proto, tmp)
            subprocess.run(
                [protoc, f"-I{include}", f"--python_out={tmp}",
                 f"--grpc_python_out={tmp}",
                 f"--plugin=protoc-gen-grpc_python={plugin}"] +
                [str(include / name) for name in protos],
                check=True)
            # Imports first, so that `proto`'s own module, which
            # tests/python/optd_server.py checks for staleness, comes last.
            for name in protos:
                base = tmp / pathlib.Path(name).with_suffix("")
                _install(base.with_name(base.name + "_pb2.py"))
                written += 1
                # protoc writes a _grpc module for every file; one without
                # services holds only `import grpc`, so leave it out.
                grpc_module = base.with_name(base.name + "_pb2_grpc.py")
                if "Stub(" in grpc_module.read_text():
                    _install(grpc_module)
                    written += 1
    print(f"build_stubs: wrote {written} modules to {OUT}")


if __name__ == "__main__":
    main()
