#!/usr/bin/env python3
"""Loads an emotion checkpoint into the PyTorch modules of
pytorch_baseline.py with load_state_dict(strict=True) and prints their logits
on given inputs, so that a test can compare them with emotion's own.

    /usr/bin/python3 tests/pytorch_check.py CHECKPOINT INPUTS.json

The checkpoint is read with the standard library (the safetensors format is
8 bytes of header size, a JSON header, then the raw tensors); INPUTS.json
holds {"size", "turns", "max_len", "tokens", "lengths", "turn_counts",
"speaker"} as emotion's model.Inputs. Prints {"logits": [[...], ...]}.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_baseline import Dialog, Sentence  # noqa: E402


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", (name, info["dtype"])
        begin, end = info["data_offsets"]
        buf = bytearray(data[8 + n + begin:8 + n + end])
        tensors[name] = torch.frombuffer(buf, dtype=torch.float32).reshape(info["shape"])
    return tensors, meta


def main():
    state, meta = load_safetensors(sys.argv[1])
    cfg = json.loads(meta["emotion.config"])
    with open(sys.argv[2]) as f:
        inp = json.load(f)
    b, w, t = inp["size"], inp["turns"], inp["max_len"]
    tokens = torch.tensor(inp["tokens"], dtype=torch.long).view(b, w, t)
    lengths = torch.tensor(inp["lengths"], dtype=torch.long).view(b, w)
    spk = torch.tensor(inp["speaker"], dtype=torch.float32).view(b, w, cfg["speaker_dim"])
    if cfg["kind"] == "sentence":
        model = Sentence(cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["speaker_dim"], cfg["dense"], cfg["dropout"])
    else:
        model = Dialog(cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["speaker_dim"], cfg["dialog_hidden"],
                       cfg["heads"], cfg["attn_dim"], cfg["dropout"])
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        if cfg["kind"] == "sentence":
            logits = model(tokens[:, 0, :], lengths[:, 0], spk[:, 0, :])
        else:
            turns = torch.tensor(inp["turn_counts"], dtype=torch.long)
            logits = model(tokens, lengths, turns, spk)
    print(json.dumps({"logits": logits.tolist()}))


if __name__ == "__main__":
    main()
