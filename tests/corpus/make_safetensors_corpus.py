#!/usr/bin/env python3
"""Writes the safetensors seed corpus (tests/corpus/safetensors/).

ok-* files are valid and must open; bad-* files break one header rule each
and must be refused with a format error (test_safetensors checks both).
They also seed the libFuzzer harness (tests/fuzz_safetensors.c).
Run from anywhere: python3 tests/corpus/make_safetensors_corpus.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors")


def raw(header: bytes, data: bytes = b"", length=None) -> bytes:
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def st(entries, data: bytes, meta=None, pad=True) -> bytes:
    h = {}
    if meta is not None:
        h["__metadata__"] = meta
    h.update(entries)
    text = json.dumps(h, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return raw(text, data)


def t(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}


F32_2 = struct.pack("<2f", 1.0, -2.0)
FILES = {
    "ok-empty": st({}, b""),
    "ok-f32": st({"w": t("F32", [2], 0, 8)}, F32_2, meta={"format": "pt"}),
    "ok-mixed": st({"a": t("F32", [1, 2], 0, 8), "b": t("F16", [2], 8, 12),
                    "c": t("U8", [3], 12, 15), "s": t("BF16", [], 15, 17),
                    "z": t("I64", [0, 4], 17, 17)},
                   F32_2 + struct.pack("<2H", 0x3C00, 0x8001) + b"\x01\x02\x03" + b"\x80\x3f"),
    "ok-unpadded": st({"w": t("F32", [2], 0, 8)}, F32_2, pad=False),
    "ok-escaped-name": st({"caf\u00e9/\"q\"": t("I32", [1], 0, 4)}, b"\x07\0\0\0"),
    "bad-truncated": b"\x10\0\0\0\0",
    "bad-header-past-end": raw(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                               b"\0" * 4, length=400),
    "bad-header-too-long": raw(b"{}", length=100_000_001),
    "bad-json": raw(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}', b"\0" * 4),
    "bad-json-single-quotes": raw(b"{'w':1}"),
    "bad-not-object": raw(b"[1,2,3]"),
    "bad-unknown-dtype": st({"w": t("F33", [1], 0, 4)}, b"\0" * 4),
    "bad-size-mismatch": st({"w": t("F32", [2], 0, 4)}, b"\0" * 4),
    "bad-shape-overflow": st({"w": t("F16", [2**62, 4], 0, 4)}, b"\0" * 4),
    "bad-overlap": st({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, b"\0" * 12),
    "bad-gap": st({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}, b"\0" * 12),
    "bad-trailing-data": st({"a": t("F32", [1], 0, 4)}, b"\0" * 6),
    "bad-out-of-range": st({"a": t("F32", [2], 0, 8)}, b"\0" * 4),
    "bad-end-before-begin": st({"a": t("F32", [1], 4, 0)}, b"\0" * 4),
    "bad-negative-offset": st({"a": t("F32", [1], -4, 0)}, b"\0" * 4),
    "bad-duplicate": raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                         b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
    "bad-metadata-number": st({"a": t("F32", [1], 0, 4)}, b"\0" * 4, meta={"n": 1}),
    "bad-metadata-array": st({"a": t("F32", [1], 0, 4)}, b"\0" * 4, meta=["x"]),
}

os.makedirs(OUT, exist_ok=True)
for name, blob in FILES.items():
    with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
        f.write(blob)
print(f"{len(FILES)} files in {OUT}")
