#!/usr/bin/python3
"""An independent reader of TensorBoard event files, to cross-check Loom's C++ writer.

Nothing here comes from Loom's C++: the TFRecord framing is parsed by hand (struct.unpack),
every length CRC and data CRC is checked with the `crc32c` package and TFRecord's mask, and each
record is decoded with Python classes that protoc generates, at run time, from proto/tensorboard/
into a temporary directory. Debian packages: python3-protobuf, python3-crc32c, protobuf-compiler.

Usage: read_events.py [--proto_dir DIR] [--protoc PATH] [--expect FILE.json] EVENT_FILE
Prints {"file_version": ..., "records": N, "scalars": [{"wall_time", "step", "tag", "value"}]}
as JSON on stdout, or with --expect compares the scalars to those in FILE.json (a list of
{"step", "tag", "value"}) and prints "ok". Exit 0 on success; 1 with a one-line
"<file>: ... at offset N ..." on stderr for a corrupt or truncated file or a mismatch; 2 for
usage or setup errors.
"""

import argparse
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import crc32c
    from google.protobuf.message import DecodeError
except ImportError as e:  # run with Debian's /usr/bin/python3, which has both packages
    print(f"read_events.py: {e} (install python3-crc32c and python3-protobuf)", file=sys.stderr)
    sys.exit(2)

MASK_DELTA = 0xA282EAD8
HEADER = struct.Struct("<QI")  # uint64 length, uint32 masked crc32c(length bytes)
FOOTER = struct.Struct("<I")   # uint32 masked crc32c(data)


class FormatError(Exception):
    pass


def masked_crc(data):
    crc = crc32c.crc32c(data) & 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def records(path):
    """Yields (offset, payload) for each TFRecord, checking both CRCs of each."""
    with open(path, "rb") as f:
        blob = f.read()
    offset = 0
    while offset < len(blob):
        if len(blob) - offset < HEADER.size:
            raise FormatError(f"{path}: truncated record at offset {offset}: header needs "
                              f"{HEADER.size} bytes, file has {len(blob) - offset}")
        length_bytes = blob[offset:offset + 8]
        length, stored_length_crc = HEADER.unpack_from(blob, offset)
        if masked_crc(length_bytes) != stored_length_crc:
            raise FormatError(f"{path}: corrupt record at offset {offset}: length CRC mismatch")
        start = offset + HEADER.size
        end = start + length
        if end + FOOTER.size > len(blob):
            raise FormatError(f"{path}: truncated record at offset {offset}: needs "
                              f"{HEADER.size + length + FOOTER.size} bytes, file has "
                              f"{len(blob) - offset}")
        payload = blob[start:end]
        (stored_data_crc,) = FOOTER.unpack_from(blob, end)
        if masked_crc(payload) != stored_data_crc:
            raise FormatError(f"{path}: corrupt record at offset {offset}: data CRC mismatch")
        yield offset, payload
        offset = end + FOOTER.size


def load_event_class(proto_dir, protoc, workdir):
    """Generates Python classes from proto_dir/tensorboard/*.proto and returns Event."""
    protos = sorted(p for p in os.listdir(os.path.join(proto_dir, "tensorboard"))
                    if p.endswith(".proto"))
    subprocess.run([protoc, f"--proto_path={proto_dir}", f"--python_out={workdir}"] +
                   [f"tensorboard/{p}" for p in protos], check=True)
    # A regular package, first on the path, so an installed `tensorboard` cannot shadow it.
    open(os.path.join(workdir, "tensorboard", "__init__.py"), "w").close()
    sys.path.insert(0, workdir)
    return importlib.import_module("tensorboard.event_pb2").Event


def read(path, event_class):
    out = {"file_version": "", "records": 0, "scalars": []}
    for offset, payload in records(path):
        event = event_class()
        try:
            event.ParseFromString(payload)
        except DecodeError as e:
            raise FormatError(f"{path}: record at offset {offset}: not an Event: {e}")
        out["records"] += 1
        kind = event.WhichOneof("what")
        if kind == "file_version":
            out["file_version"] = event.file_version
        elif kind == "summary":
            for value in event.summary.value:
                if value.WhichOneof("value") == "simple_value":
                    out["scalars"].append({"wall_time": event.wall_time, "step": event.step,
                                           "tag": value.tag, "value": value.simple_value})
    return out


def compare(path, got, expected):
    if len(got) != len(expected):
        raise FormatError(f"{path}: {len(got)} scalars, expected {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        # Both sides are float32 values widened to double: they must be equal exactly.
        want = struct.unpack("<f", struct.pack("<f", e["value"]))[0]
        if g["tag"] != e["tag"] or g["step"] != e["step"] or g["value"] != want:
            raise FormatError(f"{path}: scalar {i}: got {g}, expected {e}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event_file")
    parser.add_argument("--proto_dir", default=os.path.join(here, "..", "..", "proto"))
    parser.add_argument("--protoc", default="protoc")
    parser.add_argument("--expect", help="JSON list of {step, tag, value} to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="read_events_") as workdir:
        try:
            event_class = load_event_class(args.proto_dir, args.protoc, workdir)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"read_events.py: cannot generate classes from {args.proto_dir}: {e}",
                  file=sys.stderr)
            return 2
        try:
            contents = read(args.event_file, event_class)
            if args.expect:
                with open(args.expect) as f:
                    compare(args.event_file, contents["scalars"], json.load(f))
                print("ok")
            else:
                print(json.dumps(contents))
        except FormatError as e:
            print(e, file=sys.stderr)
            return 1
        except OSError as e:
            print(f"{args.event_file}: {e.strerror}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
