#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz_image.c into tests/corpus/image/:
small valid PNGs (RGB, grey, RGBA), a BMP, a JPEG (through lcmflow's own
writer when a build is given), and broken files (a header claiming a huge
image, a zero width, a PNG cut in half, an IDAT chunk longer than the file;
bad-jpeg-dht-257-codes.jpg, found by the fuzzer, is not regenerated).

usage: python3 tests/corpus/make_image_corpus.py [LCMFLOW_EXECUTABLE]
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'image')
SIG = b'\x89PNG\r\n\x1a\n'


def chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xffffffff
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', crc)


def png(name, w, h, color, pix):
    raw = b''.join(b'\x00' + bytes(v for x in range(w) for v in pix(x, y)) for y in range(h))
    ihdr = struct.pack('>IIBBBBB', w, h, 8, color, 0, 0, 0)
    data = SIG + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
    with open(os.path.join(HERE, name), 'wb') as f:
        f.write(data)
    return data


def write(name, data):
    with open(os.path.join(HERE, name), 'wb') as f:
        f.write(data)


def main():
    os.makedirs(HERE, exist_ok=True)
    ok = png('ok-8x8.png', 8, 8, 2, lambda x, y: (x * 32, y * 32, 128))
    png('ok-16x8.png', 16, 8, 2, lambda x, y: (x * 16, 255 - y * 32, (x * y) & 255))
    png('ok-grey.png', 8, 8, 0, lambda x, y: ((x + y) * 16,))
    png('ok-alpha.png', 8, 8, 6, lambda x, y: (10, 20 * x, 30, 128 + y))
    write('bad-huge-header.png',
          SIG + chunk(b'IHDR', struct.pack('>IIBBBBB', 16000, 20000, 8, 2, 0, 0, 0)))
    write('bad-zero-width.png', SIG + chunk(b'IHDR', struct.pack('>IIBBBBB', 0, 8, 8, 2, 0, 0, 0))
          + chunk(b'IEND', b''))
    write('bad-truncated.png', ok[:len(ok) // 2])
    # An IDAT chunk claiming 2 GiB in a 60-byte file (stb_image allocated it).
    ihdr = chunk(b'IHDR', struct.pack('>IIBBBBB', 8, 8, 8, 2, 0, 0, 0))
    write('bad-idat-length.png', SIG + ihdr + struct.pack('>I', 0x7fffffff) + b'IDAT' + b'x' * 16)
    # bad-jpeg-dht-257-codes.jpg is kept as found by the fuzzer (a Huffman
    # table of more than 256 codes: stb_image 2.27 wrote out of bounds).
    # A 24-bit BMP, 5x3: rows bottom-up, padded to 4 bytes.
    w, h = 5, 3
    row = (w * 3 + 3) // 4 * 4
    pixels = b''.join(bytes(v for x in range(w) for v in (x * 50, y * 80, 200))
                      + b'\0' * (row - w * 3) for y in range(h))
    header = b'BM' + struct.pack('<IHHI', 54 + len(pixels), 0, 0, 54)
    header += struct.pack('<IiiHHIIiiII', 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    write('ok-5x3.bmp', header + pixels)
    # A JPEG through lcmflow's writer (ContactSheet of the 16x8 PNG).
    if len(sys.argv) > 1:
        with tempfile.TemporaryDirectory() as tmp:
            graph = os.path.join(tmp, 'g.yaml')
            with open(graph, 'w') as f:
                f.write('version: 1\nnodes:\n  s: { type: ContactSheet, params: { images: "%s",'
                        ' path: "%s" } }\n' % (os.path.join(HERE, 'ok-16x8.png'),
                                               os.path.join(HERE, 'ok-16x8.jpg')))
            subprocess.run([sys.argv[1], 'run', '--quiet', graph], check=True)


if __name__ == '__main__':
    main()
