# Run by TestCodecsMatchPython under each reference interpreter: reads a
# JSON request on stdin and prints how this Python's own codecs answer it.
#   names:  codec names -> codecs.lookup(name).name, or None if unknown
#   single: single-byte codecs -> each byte's decoding, None if undefined
#   multi:  multi-byte codecs -> [code point, hex of its encoding] for every
#           BMP character the codec encodes and decodes back
#   detect: hex source prefixes -> tokenize.detect_encoding's answer, or
#           None where it raises SyntaxError
#   aliases: every name of encodings.aliases
import codecs
import encodings.aliases
import io
import json
import sys
import tokenize

req = json.load(sys.stdin)
out = {"names": {}, "single": {}, "multi": {}, "detect": {},
       "aliases": sorted(encodings.aliases.aliases)}
for name in req["names"]:
    try:
        out["names"][name] = codecs.lookup(name).name
    except LookupError:
        out["names"][name] = None
for m in req["single"]:
    row = []
    for b in range(256):
        try:
            row.append(bytes([b]).decode(m))
        except UnicodeDecodeError:
            row.append(None)
    out["single"][m] = row
for m in req["multi"]:
    pairs = []
    for cp in range(0x80, 0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        try:
            enc = chr(cp).encode(m)
            back = enc.decode(m)
        except UnicodeError:
            continue
        if back == chr(cp):  # some encode to what decodes otherwise
            pairs.append([cp, enc.hex()])
    out["multi"][m] = pairs
for src in req["detect"]:
    try:
        enc, _ = tokenize.detect_encoding(io.BytesIO(bytes.fromhex(src)).readline)
    except (SyntaxError, LookupError):  # LookupError: rot13 and the like
        enc = None
    out["detect"][src] = enc
json.dump(out, sys.stdout)
