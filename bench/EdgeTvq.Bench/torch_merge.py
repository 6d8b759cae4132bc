"""The merge of the TVQ paper's released code, in PyTorch, on the codes `edgetvq-bench merge` exports from its
benchmark bundle (MergeBenchmark, TorchExport.cs). Prints one JSON line: the merge time, its minor page faults, the
process's peak RSS and the largest absolute difference from EdgeTvq's merged weights.

    /usr/bin/python3 torch_merge.py EXPORT_DIR --tasks N --lam L [--threads T] [--ours MERGED.f32]

EXPORT_DIR holds index.json, pre.f32 (θ_pre, float32, tensors in index order) and one .bin per quantized file
(base.bin for RTVQ, taskNN.bin): per tensor either uint8 codes (one per parameter), float32 values, or nothing
(a constant, given in the index), at the offset the index gives. The codes, scales and zero points are loaded into
memory first (not timed), as the authors' code holds its quantized checkpoints in memory. Timed, as in the authors'
task_vectors.py: each task vector is dequantized as a dict of tensors, x = (q - zp) / scale (RTVQ: base + offset),
the task vectors are summed (TaskVector.__add__) and applied, θ = θ_pre + λ·Σ_t τ_t (TaskVector.apply_to).
Needs python3-torch and numpy (Debian packages).
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch


def load(export_dir, tasks):
    with open(os.path.join(export_dir, "index.json")) as f:
        index = json.load(f)
    tensors = index["tensors"]
    pre_all = np.fromfile(os.path.join(export_dir, index["pretrained"]), dtype=np.float32)
    pre, at = {}, 0
    for t in tensors:
        pre[t["name"]] = torch.from_numpy(pre_all[at:at + t["count"]].reshape(t["shape"]))
        at += t["count"]

    def records(entry):
        raw = np.fromfile(os.path.join(export_dir, entry["file"]), dtype=np.uint8)
        out = {}
        for t, r in zip(tensors, entry["records"]):
            kind = r["kind"]
            if kind == "quantized":
                codes = torch.from_numpy(raw[r["offset"]:r["offset"] + t["count"]].reshape(t["shape"]))
                out[t["name"]] = ("q", codes, r["scale"], r["zero_point"])
            elif kind == "float32":
                values = raw[r["offset"]:r["offset"] + 4 * t["count"]].view(np.float32).reshape(t["shape"])
                out[t["name"]] = ("f", torch.from_numpy(values))
            elif kind == "constant":
                out[t["name"]] = ("c", r["value"], t["shape"])
            else:  # no record (the base file holds quantized tensors only)
                out[t["name"]] = None
        return out

    base = records(index["base"]) if index.get("base") else None
    task_records = [records(e) for e in index["tasks"][:tasks]]
    return tensors, pre, base, task_records


def dequantize(rec):
    if rec[0] == "q":
        _, codes, scale, zero_point = rec
        return (codes.float() - zero_point) / scale
    if rec[0] == "f":
        return rec[1]
    return torch.full(rec[2], rec[1], dtype=torch.float32)


def task_vector(names, base, task):
    """One task's vector as a dict, as the authors rebuild it: dq(base) + dq(offset) for RTVQ, dq(task) otherwise."""
    tv = {}
    for name in names:
        x = dequantize(task[name])
        if base is not None and base[name] is not None:
            x = dequantize(base[name]) + x
        tv[name] = x
    return tv


def merge(names, pre, base, task_records, lam):
    total = None
    for task in task_records:
        tv = task_vector(names, base, task)
        total = tv if total is None else {k: total[k] + tv[k] for k in names}  # TaskVector.__add__
    return {k: pre[k] + lam * total[k] for k in names}  # TaskVector.apply_to(pretrained, scaling_coef=lam)


def minflt():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("export_dir")
    p.add_argument("--tasks", type=int, required=True)
    p.add_argument("--lam", type=float, required=True)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: every core)")
    p.add_argument("--ours", help="EdgeTvq's merged weights (float32, tensors in index order) to compare with")
    a = p.parse_args()
    threads = a.threads or os.cpu_count()
    torch.set_num_threads(threads)

    start = time.perf_counter()
    tensors, pre, base, task_records = load(a.export_dir, a.tasks)
    load_seconds = time.perf_counter() - start
    names = [t["name"] for t in tensors]

    with torch.no_grad():
        faults = minflt()
        start = time.perf_counter()
        merged = merge(names, pre, base, task_records, a.lam)
        seconds = time.perf_counter() - start
        faults = minflt() - faults
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux

    result = {"seconds": seconds, "minflt": faults, "peak_rss_mib": peak_rss_mib, "load_seconds": load_seconds,
              "threads": threads, "torch": torch.__version__}
    if a.ours:
        ours = np.fromfile(a.ours, dtype=np.float32)
        max_diff, max_abs, at = 0.0, 0.0, 0
        for t in tensors:
            mine = merged[t["name"]].reshape(-1).numpy()
            theirs = ours[at:at + t["count"]]
            at += t["count"]
            max_diff = max(max_diff, float(np.max(np.abs(mine.astype(np.float64) - theirs.astype(np.float64)))))
            max_abs = max(max_abs, float(np.max(np.abs(mine))))
        if at != ours.size:
            sys.exit(f"{a.ours} holds {ours.size} values, the index {at}")
        result.update(max_abs_diff=max_diff, max_abs_value=max_abs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
