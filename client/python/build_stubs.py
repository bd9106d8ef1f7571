#!/usr/bin/python3
"""Generates the gRPC Python stubs of the optd package into optd/_proto/.

Runs protoc with Debian's grpc_python_plugin (package protobuf-compiler-grpc;
no grpc_tools from PyPI needed) on proto/optd/v1/optimizer.proto and on the
standard health-checking proto (client/proto/grpc/health/v1/health.proto),
then rewrites the generated absolute imports (``from optd.v1 import ...``,
``from grpc.health.v1 import ...``) into package-relative ones, so that the
stubs live inside the ``optd`` package and shadow neither ``optd`` nor
``grpc``. The generated files are not committed (see .gitignore).

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

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "optd" / "_proto"

# (include directory, proto file relative to it, generated module base name)
PROTOS: List[Tuple[pathlib.Path, str, str]] = [
    (ROOT / "proto", "optd/v1/optimizer.proto", "optimizer"),
    (ROOT / "client" / "proto", "grpc/health/v1/health.proto", "health"),
]

# `from optd.v1 import optimizer_pb2 as x` -> `from . import optimizer_pb2 ...`
_ABSOLUTE_IMPORT = re.compile(
    r"^from (optd\.v1|grpc\.health\.v1) import (\w+_pb2)", re.MULTILINE)


def _run_protoc(include: pathlib.Path, proto: str, tmp: pathlib.Path) -> None:
    protoc = os.environ.get("PROTOC", "protoc")
    plugin = os.environ.get("GRPC_PYTHON_PLUGIN",
                            "/usr/bin/grpc_python_plugin")
    if shutil.which(protoc) is None:
        sys.exit(f"build_stubs: {protoc} not found; install protobuf-compiler")
    if not os.access(plugin, os.X_OK):
        sys.exit(f"build_stubs: {plugin} not found; install "
                 "protobuf-compiler-grpc")
    subprocess.run(
        [protoc, f"-I{include}", f"--python_out={tmp}",
         f"--grpc_python_out={tmp}",
         f"--plugin=protoc-gen-grpc_python={plugin}", str(include / proto)],
        check=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        for include, proto, base in PROTOS:
            _run_protoc(include, proto, tmp)
            generated_dir = tmp / pathlib.Path(proto).parent
            for suffix in ("_pb2.py", "_pb2_grpc.py"):
                text = (generated_dir / (base + suffix)).read_text()
                text = _ABSOLUTE_IMPORT.sub(r"from . import \2", text)
                target = OUT / (base + suffix)
                # Write-then-rename so that a concurrent import never sees a
                # half-written module.
                partial = target.with_suffix(".py.tmp")
                partial.write_text(text)
                partial.replace(target)
    print(f"build_stubs: wrote {len(PROTOS) * 2} modules to {OUT}")


if __name__ == "__main__":
    main()
