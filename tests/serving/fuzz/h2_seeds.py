#!/usr/bin/env python3
"""Writes the HTTP/2 seeds of grpc_predict_fuzzer: for each encoded PredictRequest given, the
bytes a gRPC client sends after the connection preface (SETTINGS, HEADERS, DATA with the
5-byte-prefixed message, as PROTOCOL-HTTP2.md lays them out), each prefixed with the mode byte
1 (grpc_predict_fuzzer.cc). Some seeds add what real clients also send: a second call on stream
3, PING, WINDOW_UPDATE, grpc-timeout, a message split over two DATA frames.
  h2_seeds.py OUT_DIR REQUEST_FILE...
"""
import os
import struct
import sys


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    # HPACK: literal header field without indexing, new name, no Huffman coding.
    def s(x):
        x = x.encode()
        assert len(x) < 127
        return bytes([len(x)]) + x
    return b"\x00" + s(name) + s(value)


def headers(stream, path, extra=()):
    block = b"".join(literal(n, v) for n, v in [(":method", "POST"), (":scheme", "http"), (":path", path),
                                                (":authority", "localhost"), ("content-type", "application/grpc"),
                                                ("te", "trailers"), *extra])
    return frame(1, 0x4, stream, block)  # END_HEADERS


def call(stream, message, extra=(), split=False, path="/tensorflow.serving.PredictionService/Predict"):
    body = b"\x00" + struct.pack(">I", len(message)) + message
    if split:
        half = len(body) // 2
        return headers(stream, path, extra) + frame(0, 0, stream, body[:half]) + frame(0, 0x1, stream, body[half:])
    return headers(stream, path, extra) + frame(0, 0x1, stream, body)  # END_STREAM


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    settings = frame(4, 0, 0, b"")
    for path in sys.argv[2:]:
        message = open(path, "rb").read()
        name = os.path.basename(path)
        seeds = {
            "h2_" + name: settings + call(1, message),
            "h2_two_calls_" + name: settings + call(1, message, split=True) +
            frame(6, 0, 0, b"12345678") + frame(8, 0, 0, struct.pack(">I", 65535)) +
            call(3, message, extra=[("grpc-timeout", "5S"), ("grpc-accept-encoding", "identity")]),
        }
        for seed, data in seeds.items():
            open(os.path.join(out, seed), "wb").write(b"\x01" + data)
    # The other methods, with an empty message.
    for method in ("PredictionService/GetModelMetadata", "ModelService/GetModelStatus", "PredictionService/Nope"):
        data = settings + call(1, b"", path="/tensorflow.serving." + method)
        open(os.path.join(out, "h2_" + method.replace("/", "_")), "wb").write(b"\x01" + data)


main()
