#!/usr/bin/env python3
"""PyTorch baseline: the same two architectures as emotion's, trained the
straightforward way, to compare epoch time (and accuracy) on the same machine.

    /usr/bin/python3 tests/pytorch_baseline.py --model sentence --data ../shared/data/iemocap
    /usr/bin/python3 tests/pytorch_baseline.py --model dialog --data ../shared/data/iemocap --epochs 2

Protocol session5: train on sessions 1-4 (a stratified 10% of it held out for
validation), test on session 5. Batch 32, Adam(lr=1e-3), class-weighted
cross-entropy and batches bucketed by length (--no-bucket: random batches),
as emotion's defaults. --threads N also limits OpenBLAS's own thread pool
(set_threads), which torch.set_num_threads leaves at every core. Prints one JSON line per epoch with the
epoch's training wall time, then the test accuracy of the best validation
epoch. PyTorch for the CPU installs from Debian as python3-torch.
"""
import argparse
import collections
import csv
import ctypes
import glob
import json
import os
import random
import re
import time

import torch
import torch.nn as nn

LABELS = {"ang": 0, "hap": 1, "exc": 1, "neu": 2, "sad": 3}
TOKEN = re.compile(r"\[[a-z]+\]|n't|'[a-z]+|[a-z0-9]+(?:[-.][a-z0-9]+)*|[^\sa-z0-9]")


def set_threads(n):
    """torch.set_num_threads(n), and the same for an OpenBLAS that torch
    calls for its GEMMs: torch.set_num_threads sets OpenMP's and MKL's
    threads but not those of OpenBLAS's own pthread pool (Debian's
    python3-torch uses OpenBLAS), which otherwise runs every GEMM on all
    cores beside torch's own threads."""
    torch.set_num_threads(n)
    try:
        lib = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD)  # only if torch loaded it
    except OSError:
        return
    lib.openblas_set_num_threads(ctypes.c_int(n))


def tokenize(text):
    return TOKEN.findall(text.lower())


def load(folder):
    """Utterances grouped by dialog in conversation order."""
    rows = []
    paths = sorted(glob.glob(os.path.join(folder, "*.csv")))
    if not paths:
        raise SystemExit(f"pytorch_baseline.py: no *.csv transcripts in {folder} (give --data)")
    for path in paths:
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    dialogs = collections.OrderedDict()
    for r in rows:
        dialogs.setdefault(r["Dialogue_ID"], []).append(r)
    utts = []
    for did in sorted(dialogs):
        for turn, r in enumerate(dialogs[did]):
            uid = r["Utterance_Id"]
            utts.append({
                "dialog": did, "turn": turn, "session": int(uid[3:5]),
                "gender": uid.rsplit("_", 1)[1][0], "text": r["Utterance"],
                "label": LABELS.get(r["Emotion"], -1),
            })
    return utts


def stratified_holdout(items, labels, frac, rng):
    by = collections.defaultdict(list)
    for i in items:
        by[labels[i]].append(i)
    train, val = [], []
    for k in sorted(by):
        xs = by[k][:]
        rng.shuffle(xs)
        n = round(len(xs) * frac)
        val += xs[:n]
        train += xs[n:]
    return train, val


class Sentence(nn.Module):
    def __init__(self, vocab, emb=128, hidden=64, spk=3, dense=64, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
        self.fc1 = nn.Linear(2 * hidden + spk, dense)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(dense, 4)

    def forward(self, tokens, lengths, spk):
        x = self.embedding(tokens)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        z = torch.cat([h[0], h[1], spk], dim=1)
        return self.fc2(self.drop(torch.relu(self.fc1(z))))


class AttentionPool(nn.Module):
    """score_t = v·tanh(W·x_t + b), masked softmax over time, weighted sum."""

    def __init__(self, dim, attn_dim):
        super().__init__()
        self.proj = nn.Linear(dim, attn_dim)
        self.context = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, x, mask):
        s = self.context(torch.tanh(self.proj(x))).squeeze(2).masked_fill(mask, float("-inf"))
        p = torch.softmax(s, dim=1)
        return (p.unsqueeze(2) * x).sum(1), p


class Dialog(nn.Module):
    def __init__(self, vocab, emb=100, hidden=64, spk=3, dhidden=128, heads=4, attn_dim=256, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.utterance_lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
        self.dialog_lstm = nn.LSTM(2 * hidden + spk, dhidden, batch_first=True, bidirectional=True)
        self.attention = nn.MultiheadAttention(2 * dhidden, heads, batch_first=True)
        self.attention_pool = AttentionPool(2 * dhidden, attn_dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * dhidden, 4)

    def forward(self, tokens, lengths, turns, spk):
        b, w, t = tokens.shape
        x = self.embedding(tokens.view(b * w, t))
        lens = lengths.view(-1)
        packed = nn.utils.rnn.pack_padded_sequence(x, lens.clamp(min=1), batch_first=True, enforce_sorted=False)
        out, _ = self.utterance_lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
        u = out.sum(1) / lens.clamp(min=1).unsqueeze(1)
        u = torch.cat([u.view(b, w, -1), spk], dim=2)
        packed = nn.utils.rnn.pack_padded_sequence(u, turns, batch_first=True, enforce_sorted=False)
        d, _ = self.dialog_lstm(packed)
        d, _ = nn.utils.rnn.pad_packed_sequence(d, batch_first=True, total_length=w)
        mask = torch.arange(w)[None, :] >= turns[:, None]
        a, _ = self.attention(d, d, d, key_padding_mask=mask, need_weights=False)
        z, _ = self.attention_pool(a, mask)
        return self.out(self.drop(z))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["sentence", "dialog"], default="sentence")
    ap.add_argument("--data", default="../shared/data/iemocap")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bucket", action=argparse.BooleanOptionalAction, default=True,
                    help="batch utterances of similar length together, as emotion train does by default")
    args = ap.parse_args()
    if args.threads:
        set_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    utts = load(args.data)
    toks = [tokenize(u["text"])[:100] for u in utts]
    labels = [u["label"] for u in utts]
    labelled = [i for i, u in enumerate(utts) if u["label"] >= 0]
    test = [i for i in labelled if utts[i]["session"] == 5]
    train, val = stratified_holdout([i for i in labelled if utts[i]["session"] != 5], labels, 0.1, rng)

    counts = collections.Counter(t for i in train for t in toks[i])
    vocab = {"<pad>": 0, "<unk>": 1}
    for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if c >= 2:
            vocab[w] = len(vocab)
    ids = [[vocab.get(t, 1) for t in ts] for ts in toks]
    n = collections.Counter(labels[i] for i in train)
    weight = torch.tensor([len(train) / (4 * n[k]) for k in range(4)], dtype=torch.float32)

    def window(i):
        lo = i
        while lo > i - args.window + 1 and lo > 0 and utts[lo - 1]["dialog"] == utts[i]["dialog"]:
            lo -= 1
        return list(range(lo, i + 1))

    def spk(j, target):
        g = utts[j]["gender"]
        return [g == "F", g == "M", g == utts[target]["gender"]]

    def batch(items):
        if args.model == "sentence":
            t = max(1, max(len(ids[i]) for i in items))
            x = torch.zeros(len(items), t, dtype=torch.long)
            for r, i in enumerate(items):
                x[r, :len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
            lens = torch.tensor([len(ids[i]) for i in items])
            s = torch.tensor([spk(i, i) for i in items], dtype=torch.float32)
            return (x, lens, s), torch.tensor([labels[i] for i in items])
        wins = [window(i) for i in items]
        w = max(len(x) for x in wins)
        t = max(1, max(len(ids[j]) for x in wins for j in x))
        x = torch.zeros(len(items), w, t, dtype=torch.long)
        lens = torch.zeros(len(items), w, dtype=torch.long)
        s = torch.zeros(len(items), w, 3)
        for r, (i, win) in enumerate(zip(items, wins)):
            for c, j in enumerate(win):
                x[r, c, :len(ids[j])] = torch.tensor(ids[j], dtype=torch.long)
                lens[r, c] = len(ids[j])
                s[r, c] = torch.tensor(spk(j, i), dtype=torch.float32)
        turns = torch.tensor([len(x) for x in wins])
        return (x, lens, turns, s), torch.tensor([labels[i] for i in items])

    def bucket(order):
        """emotion train's bucketing (dataset/batch.go plan): sort by length
        within chunks of 50 batches (dialog: by the window's longest
        utterance, then its turns), cut, shuffle the batches."""
        if args.model == "sentence":
            key = lambda i: (len(ids[i]), 0)  # noqa: E731
        else:
            key = lambda i: (max(len(ids[j]) for j in window(i)), len(window(i)))  # noqa: E731
        chunk = 50 * args.batch
        order = [i for s in range(0, len(order), chunk) for i in sorted(order[s:s + chunk], key=key)]
        groups = [order[k:k + args.batch] for k in range(0, len(order), args.batch)]
        rng.shuffle(groups)
        return groups

    model = Sentence(len(vocab)) if args.model == "sentence" else Dialog(len(vocab))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(weight=weight)

    def accuracy(items):
        model.eval()
        right = 0
        with torch.no_grad():
            for k in range(0, len(items), 128):
                xs, y = batch(items[k:k + 128])
                right += (model(*xs).argmax(1) == y).sum().item()
        return right / len(items)

    best = (-1.0, 0.0)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = train[:]
        rng.shuffle(order)
        groups = [order[k:k + args.batch] for k in range(0, len(order), args.batch)]
        if args.bucket:
            groups = bucket(order)
        # The batches are built before the clock starts, as emotion's are:
        # the time is the training steps' alone.
        batches = [batch(g) for g in groups]
        start = time.perf_counter()
        total = 0.0
        for xs, y in batches:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(*xs), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        secs = time.perf_counter() - start
        val_acc = accuracy(val)
        if val_acc > best[0]:
            best = (val_acc, accuracy(test))
        print(json.dumps({"epoch": epoch, "train_seconds": round(secs, 3), "loss": total / len(order),
                          "val_acc": round(val_acc, 4), "threads": torch.get_num_threads(),
                          "utterances_per_second": round(len(order) / secs, 1)}), flush=True)
    print(json.dumps({"model": args.model, "best_val_acc": best[0], "test_acc_at_best_val": best[1],
                      "train": len(train), "val": len(val), "test": len(test), "vocab": len(vocab)}))


if __name__ == "__main__":
    main()
