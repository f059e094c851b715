"""Independent safetensors reader and writer for the Go interop test.

Uses only the Python standard library (json, struct), written from the format
description, not from the Go code.

    pyref.py read FILE    print {"metadata": ..., "tensors": {name: {dtype, shape,
                          offsets, values}}, "order": [names by offset]} as JSON
    pyref.py write FILE   write a fixed set of tensors (see TENSORS)
"""
import json
import struct
import sys

FORMATS = {"F64": "d", "F32": "f", "I64": "q", "I32": "i", "I16": "h",
           "U8": "B", "I8": "b", "U16": "H", "U32": "I", "U64": "Q", "BOOL": "?"}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    buf = data[8 + n:]
    metadata = header.pop("__metadata__", None)
    out, spans = {}, []
    for name, info in header.items():
        begin, end = info["data_offsets"]
        fmt = FORMATS[info["dtype"]]
        count = 1
        for d in info["shape"]:
            count *= d
        assert end - begin == count * struct.calcsize(fmt), name
        values = list(struct.unpack("<%d%s" % (count, fmt), buf[begin:end]))
        out[name] = {"dtype": info["dtype"], "shape": info["shape"],
                     "offsets": [begin, end], "values": values}
        spans.append((begin, end, name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        assert begin == pos, "hole or overlap at " + name
        pos = end
    assert pos == len(buf), "trailing bytes"
    print(json.dumps({"header_size": n, "metadata": metadata, "tensors": out,
                      "order": [s[2] for s in spans]}))


# name: (dtype, shape, values)
TENSORS = {
    "fc.weight": ("F32", [2, 3], [0.5, -1.0, 2.0, 0.25, 3.0, -4.5]),
    "fc.bias": ("F32", [2], [1.0, -1.0]),
    "steps": ("I64", [], [123456789012]),
    "ids": ("I32", [3], [-1, 0, 2147483647]),
    "mask": ("U8", [2, 2], [1, 0, 0, 1]),
    "scale": ("F64", [1], [0.1]),
}


def write(path):
    # Deliberately not the layout the Go writer uses: tensors in reverse
    # name order, metadata last, pretty-printed, no padding.
    header, chunks, offset = {}, [], 0
    for name in sorted(TENSORS, reverse=True):
        dtype, shape, values = TENSORS[name]
        raw = struct.pack("<%d%s" % (len(values), FORMATS[dtype]), *values)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt", "note": "written by pyref"}
    text = json.dumps(header, indent=1).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
