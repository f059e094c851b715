#!/usr/bin/env python3
"""PyTorch side of `emotion bench train`: the same architectures (the model
classes of tests/pytorch_baseline.py), trained on the very batches emotion
trained on, timed the same way, printing the same figures.

One run, both sides and the ratio (the script runs emotion itself):

    go build -o emotion ./cmd/emotion
    /usr/bin/python3 tests/pytorch_bench.py --emotion ./emotion --model dialog --threads 2
    /usr/bin/python3 tests/pytorch_bench.py --emotion ./emotion --model sentence --device cuda

Or in two steps:

    ./emotion bench train --model dialog --threads 2 --dump-batches /tmp/d.batches --json > /tmp/ours.json
    /usr/bin/python3 tests/pytorch_bench.py --batches /tmp/d.batches --threads 2 --ours /tmp/ours.json

The batch file (format in bench/batchfile.go) holds the architecture, the
class weights and the batches: the first `warmup` are run once each, then
`steps` steps cycle through the others three times, as emotion does: an
untimed warm-up pass; a split pass that synchronises the device after the
forward (with the loss and the upload of the batch), the backward, and the
optimizer (Adam, lr 1e-3, then zero_grad(set_to_none=True) and loss.item());
then the headline pass, the same steps timed whole, each reading its loss
back with loss.item().

On the CPU, --threads sets torch.set_num_threads (and emotion's --threads);
compare at equal threads. On CUDA, nn.LSTM runs on cuDNN.
"""
import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_baseline as baseline  # noqa: E402

MAGIC = b"EMOBATCH"


def read_batches(path):
    """The header (a dict) and the batches (dicts of numpy arrays) of a batch file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise SystemExit(f"{path}: not a batch file (written by emotion bench train --dump-batches)")
    version, n = struct.unpack_from("<II", data, 8)
    if version != 1:
        raise SystemExit(f"{path}: batch file version {version}, want 1")
    off = 16
    header = json.loads(data[off:off + n])
    off += n
    spk = header["speaker_dim"]
    batches = []

    def take(dtype, count):
        nonlocal off
        a = np.frombuffer(data, dtype=dtype, count=count, offset=off)
        off += 4 * count
        return a

    for _ in range(header["count"]):
        size, turns, max_len = struct.unpack_from("<III", data, off)
        off += 12
        b = {"size": size, "turns": turns, "max_len": max_len}
        b["tokens"] = take("<i4", size * turns * max_len).reshape(size, turns, max_len)
        b["lengths"] = take("<i4", size * turns).reshape(size, turns)
        b["turn_counts"] = take("<i4", size)
        b["speaker"] = take("<f4", size * turns * spk).reshape(size, turns, spk)
        b["labels"] = take("<i4", size)
        batches.append(b)
    if off != len(data):
        raise SystemExit(f"{path}: {len(data) - off} bytes after the last batch")
    return header, batches


class Dialog(baseline.Dialog):
    """The baseline's dialog model. The baseline builds its length divisor
    and key mask on the CPU, so on another device the forward is
    forward_on_device, the same computation with those on the model's
    device; check_forward verifies that the two agree."""

    def forward(self, tokens, lengths, turns, spk):
        if tokens.device.type == "cpu":
            return super().forward(tokens, lengths, turns, spk)
        return self.forward_on_device(tokens, lengths, turns, spk)

    def forward_on_device(self, tokens, lengths, turns, spk):
        b, w, t = tokens.shape
        dev = tokens.device
        x = self.embedding(tokens.view(b * w, t))
        lens = lengths.view(-1)  # on the CPU, as packing wants
        packed = nn.utils.rnn.pack_padded_sequence(x, lens.clamp(min=1), batch_first=True, enforce_sorted=False)
        out, _ = self.utterance_lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
        u = out.sum(1) / lens.clamp(min=1).unsqueeze(1).to(dev, out.dtype)
        u = torch.cat([u.view(b, w, -1), spk], dim=2)
        packed = nn.utils.rnn.pack_padded_sequence(u, turns, batch_first=True, enforce_sorted=False)
        d, _ = self.dialog_lstm(packed)
        d, _ = nn.utils.rnn.pad_packed_sequence(d, batch_first=True, total_length=w)
        mask = torch.arange(w, device=dev)[None, :] >= turns.to(dev)[:, None]
        a, _ = self.attention(d, d, d, key_padding_mask=mask, need_weights=False)
        z, _ = self.attention_pool(a, mask)
        return self.out(self.drop(z))


def build_model(header):
    cfg, kind, vocab, spk = header["config"], header["kind"], header["vocab"], header["speaker_dim"]
    if cfg["classes"] != 4:
        raise SystemExit(f"the baseline models have 4 classes, the batch file {cfg['classes']}")
    if kind == "sentence":
        return baseline.Sentence(vocab, emb=cfg["embed"], hidden=cfg["hidden"], spk=spk, dense=cfg["dense"],
                                 dropout=cfg["dropout"])
    return Dialog(vocab, emb=cfg["embed"], hidden=cfg["hidden"], spk=spk, dhidden=cfg["dialog_hidden"],
                  heads=cfg["heads"], attn_dim=cfg["attn_dim"], dropout=cfg["dropout"])


def check_forward(header, batch):
    """On the CPU, the dialog model's forward_on_device must give the
    baseline's logits."""
    if header["kind"] != "dialog":
        return
    torch.manual_seed(1)
    m = build_model(header).eval()
    b = to_tensors("dialog", batch, False)
    with torch.no_grad():
        want = m(b["tokens"], b["lengths"], b["turns"], b["spk"])
        got = m.forward_on_device(b["tokens"], b["lengths"], b["turns"], b["spk"])
    if not torch.allclose(got, want, rtol=1e-5, atol=1e-6):
        raise SystemExit("Dialog.forward_on_device differs from tests/pytorch_baseline.py's Dialog.forward: update it")


def to_tensors(kind, b, pin):
    """CPU tensors of a batch; lengths stay on the CPU (packing wants them there)."""
    tokens = torch.from_numpy(b["tokens"].astype(np.int64))
    spk = torch.from_numpy(b["speaker"].copy())
    labels = torch.from_numpy(b["labels"].astype(np.int64))
    lengths = torch.from_numpy(b["lengths"].astype(np.int64))
    turns = torch.from_numpy(b["turn_counts"].astype(np.int64))
    if kind == "sentence":
        tokens, spk, lengths = tokens[:, 0, :].contiguous(), spk[:, 0, :].contiguous(), lengths[:, 0].contiguous()
    if pin:
        tokens, spk, labels = tokens.pin_memory(), spk.pin_memory(), labels.pin_memory()
    return {"tokens": tokens, "spk": spk, "labels": labels, "lengths": lengths, "turns": turns,
            "rows": b["size"], "real": int(b["lengths"].sum()), "slots": b["tokens"].size}


def run(header, batches, device, steps):
    kind = header["kind"]
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    torch.manual_seed(1)
    model = build_model(header).to(dev)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(header["class_weights"], dtype=torch.float32, device=dev))
    data = [to_tensors(kind, b, cuda) for b in batches]
    warm, timed = data[:header["warmup"]], data[header["warmup"]:]
    steps = steps or len(timed)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def forward(b):
        tokens = b["tokens"].to(dev, non_blocking=True)
        spk = b["spk"].to(dev, non_blocking=True)
        labels = b["labels"].to(dev, non_blocking=True)
        if kind == "sentence":
            logits = model(tokens, b["lengths"], spk)
        else:
            logits = model(tokens, b["lengths"], b["turns"], spk)
        return loss_fn(logits, labels)

    def update(loss):
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    def step(b):
        loss = forward(b)
        loss.backward()
        return update(loss)

    for b in warm:
        step(b)
    for i in range(steps):
        step(timed[i % len(timed)])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    fwd = bwd = upd = 0.0
    for i in range(steps):
        b = timed[i % len(timed)]
        t0 = time.perf_counter()
        loss = forward(b)
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        update(loss)
        t3 = time.perf_counter()
        fwd, bwd, upd = fwd + t1 - t0, bwd + t2 - t1, upd + t3 - t2
    rows = sum(timed[i % len(timed)]["rows"] for i in range(steps))
    real = sum(timed[i % len(timed)]["real"] for i in range(steps))
    slots = sum(timed[i % len(timed)]["slots"] for i in range(steps))
    sync()
    start = time.perf_counter()
    final = 0.0
    for i in range(steps):
        final = step(timed[i % len(timed)])
    secs = time.perf_counter() - start
    if cuda:
        name = f"cuda:{dev.index or 0} ({torch.cuda.get_device_name(dev)}), cuDNN {torch.backends.cudnn.version()}"
    else:
        n = torch.get_num_threads()
        name = f"cpu ({n} thread{'' if n == 1 else 's'})"
    return {
        "framework": f"pytorch {torch.__version__}", "backend": name, "threads": torch.get_num_threads(),
        "model": kind, "source": header["source"],
        "params": sum(p.numel() for p in model.parameters()),
        "batch_size": max(b["rows"] for b in timed), "warmup": len(warm), "steps": steps,
        "rows_per_step": rows / steps, "tokens_per_step": real / steps, "padded_tokens_per_step": slots / steps,
        "seconds": secs, "utt_per_sec": rows / secs, "ms_per_step": 1e3 * secs / steps,
        "forward_ms": 1e3 * fwd / steps, "backward_ms": 1e3 * bwd / steps, "optimizer_ms": 1e3 * upd / steps,
        "final_loss": final,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "device_peak_bytes": torch.cuda.max_memory_allocated(dev) if cuda else 0,
        "device_reserved_bytes": torch.cuda.max_memory_reserved(dev) if cuda else 0,
    }


def mb(b):
    return f"{b / 1e6:.1f} MB"


def print_row(r):
    mem = f"peak RSS {mb(r['peak_rss_bytes'])}"
    if r.get("device_peak_bytes"):
        mem += f", device peak {mb(r['device_peak_bytes'])} (reserved {mb(r['device_reserved_bytes'])})"
    elif r.get("pool_bytes"):
        mem += f", pool {mb(r['pool_bytes'])}"
    if r.get("launches_per_step"):
        mem += f", {r['launches_per_step']:.0f} launches per step"
    print(f"{r['framework']:>16}  {r['backend']:<28} {r['utt_per_sec']:9.1f} utt/s {r['ms_per_step']:9.2f} ms/step   "
          f"forward {r['forward_ms']:.2f}  backward {r['backward_ms']:.2f}  optimizer {r['optimizer_ms']:.2f} ms   {mem}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", help="batch file written by emotion bench train --dump-batches")
    ap.add_argument("--emotion", help="emotion binary: run 'emotion bench train' first, on the same batches")
    ap.add_argument("--ours", help="emotion bench train --json output to compare with")
    ap.add_argument("--model", choices=["sentence", "dialog"], default="sentence", help="with --emotion")
    ap.add_argument("--data", default="", help="with --emotion: real data instead of synthetic batches")
    ap.add_argument("--batch-size", type=int, default=32, help="with --emotion")
    ap.add_argument("--warmup", type=int, default=3, help="with --emotion")
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: 30 with --emotion, else the file's timed batches)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads, for both sides (0: all cores)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    threads = args.threads or os.cpu_count()
    baseline.set_threads(threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no GPU")

    ours = None
    path = args.batches
    tmp = None
    if args.emotion:
        if path is None:
            tmp = tempfile.NamedTemporaryFile(suffix=".batches", delete=False)
            tmp.close()
            path = tmp.name
        cmd = [args.emotion, "bench", "train", "--model", args.model, "--device", args.device.split(":")[0],
               "--threads", str(threads), "--steps", str(args.steps or 30), "--warmup", str(args.warmup),
               "--batch-size", str(args.batch_size), "--dump-batches", path, "--json"]
        if args.data:
            cmd += ["--data", args.data]
        print("running:", " ".join(cmd), file=sys.stderr, flush=True)
        ours = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    elif args.ours:
        with open(args.ours) as f:
            ours = json.load(f)
    if path is None:
        raise SystemExit("give --batches FILE or --emotion BINARY")
    try:
        header, batches = read_batches(path)
    finally:
        if tmp is not None:
            os.unlink(tmp.name)
    steps = args.steps or (ours["steps"] if ours else 0)
    check_forward(header, batches[0])
    theirs = run(header, batches, args.device, steps)
    out = {"pytorch": theirs}
    if ours:
        out["emotion"] = ours
        out["ratio_utt_per_sec"] = ours["utt_per_sec"] / theirs["utt_per_sec"]
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{header['kind']} model, {header['source']} batches of {theirs['batch_size']}: "
          f"{theirs['warmup']} warm-up, {theirs['steps']} timed steps; "
          f"{theirs['tokens_per_step']:.0f} tokens per step ({theirs['padded_tokens_per_step']:.0f} with padding)")
    if ours:
        print_row(ours)
    print_row(theirs)
    if ours:
        print(f"ratio (emotion / PyTorch, utterances per second): {out['ratio_utt_per_sec']:.2f}")


if __name__ == "__main__":
    main()
