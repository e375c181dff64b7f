#!/usr/bin/env python3
"""Writes a C file holding a file's bytes: embed.py INPUT OUTPUT SYMBOL."""
import sys

data = open(sys.argv[1], 'rb').read()
sym = sys.argv[3]
with open(sys.argv[2], 'w') as out:
    out.write('/* Generated from %s by embed.py; do not edit. */\n' % sys.argv[1].split('/')[-1])
    out.write('#include <stddef.h>\n\n')
    out.write('const unsigned char %s[] = {\n' % sym)
    for i in range(0, len(data), 16):
        out.write('    ' + ', '.join('0x%02x' % b for b in data[i:i + 16]) + ',\n')
    out.write('    0x00};\n')
    out.write('const size_t %s_size = %d;\n' % (sym, len(data)))
