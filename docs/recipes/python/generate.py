#!/usr/bin/env python3
"""Generates the Python classes of every message in proto/ (grpcio-tools' protoc, which carries
the well-known types such as google/protobuf/timestamp.proto)."""

import argparse
import pathlib
import sys

import grpc_tools
from grpc_tools import protoc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--proto", default="proto", help="the repository's proto/ directory")
    p.add_argument("--out", default="gen", help="where to write the *_pb2.py modules")
    args = p.parse_args()
    root = pathlib.Path(args.proto)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(f) for f in root.rglob("*.proto"))
    rc = protoc.main(["protoc", f"-I{root}", f"-I{well_known}", f"--python_out={out}", *files])
    if rc != 0:
        print(f"protoc failed ({rc})", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
