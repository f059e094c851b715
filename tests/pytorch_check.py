#!/usr/bin/env python3
"""Loads an emotion checkpoint into the PyTorch modules of
pytorch_baseline.py with load_state_dict(strict=True) and prints their logits
on given inputs, so that a test can compare them with emotion's own.

    /usr/bin/python3 tests/pytorch_check.py CHECKPOINT INPUTS.json

The checkpoint is read with the standard library (the safetensors format is
8 bytes of header size, a JSON header, then the raw tensors); INPUTS.json
holds {"size", "turns", "max_len", "tokens", "lengths", "turn_counts",
"speaker"} as emotion's model.Inputs. Prints {"logits": [[...], ...]}.

When INPUTS.json also holds "labels" (-1: ignored), "class_weights", "lr",
"eps" and "clip" (and "label_smoothing", 0 if absent), it trains one step as
emotion's Trainer does, in float64: the weighted (label-smoothed)
CrossEntropyLoss, its backward, clip_grad_norm_ and one
torch.optim.Adam step, and prints besides the logits "loss", "grads" and
"updated" (each parameter's gradient before clipping and its value after
the step, by state_dict name, flattened), and "grads32", a list of the
gradients PyTorch computes in float32, for the size of float32's rounding:
first on the parameters as given, then on three copies with each value
moved at random by one float32 ulp up, down or not at all. A backward-stable
float32 computation gives the exact result of inputs that far off, and one
rounding alone may land near the float64 result by chance.
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
    model.eval()  # no dropout: emotion's side runs with SetTraining(false)
    turns = torch.tensor(inp["turn_counts"], dtype=torch.long)

    def forward(spk):
        if cfg["kind"] == "sentence":
            return model(tokens[:, 0, :], lengths[:, 0], spk[:, 0, :])
        return model(tokens, lengths, turns, spk)

    if "labels" not in inp:
        with torch.no_grad():
            print(json.dumps({"logits": forward(spk).tolist()}))
        return
    labels = torch.tensor([y if y >= 0 else -100 for y in inp["labels"]], dtype=torch.long)

    def gradients(dtype):
        model.to(dtype)
        model.zero_grad()
        weight = torch.tensor(inp["class_weights"], dtype=dtype)
        logits = forward(spk.to(dtype))
        loss = torch.nn.functional.cross_entropy(logits, labels, weight=weight, ignore_index=-100,
                                                 label_smoothing=inp.get("label_smoothing", 0.0))
        loss.backward()
        grads = {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}
        return logits, loss, grads

    # PyTorch's own float32 gradients, to measure float32's rounding on
    # each tensor; then the reference step in float64.
    grads32 = [gradients(torch.float32)[2]]
    nudge = torch.Generator().manual_seed(1)
    for _ in range(3):
        with torch.no_grad():
            for p in model.parameters():
                step = torch.randint(-1, 2, p.shape, generator=nudge)
                p.copy_(torch.where(step == 0, p, torch.nextafter(p, step.to(p.dtype) * float("inf"))))
        grads32.append(gradients(torch.float32)[2])
        model.load_state_dict(state, strict=True)
    logits, loss, grads = gradients(torch.float64)
    torch.nn.utils.clip_grad_norm_(model.parameters(), inp["clip"])
    opt = torch.optim.Adam(model.parameters(), lr=inp["lr"], eps=inp["eps"])
    opt.step()
    updated = {n: p.detach().flatten().tolist() for n, p in model.named_parameters()}
    print(json.dumps({"logits": logits.tolist(), "loss": loss.item(), "grads": grads, "grads32": grads32,
                      "updated": updated}))


if __name__ == "__main__":
    main()
