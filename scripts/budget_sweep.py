#!/usr/bin/env python3
"""Budget allocation against uniform widths at equal bytes, through the CLI.

For each uniform setting (TVQ b, RTVQ b_b/b_o) it packs the bundle, takes the bytes the budget counts (base and task
files, less the tasks' own tensors and blobs; `inspect --json`), packs again with `--budget-bytes` of exactly that,
and prints both bundles' bytes and squared task-vector error Σ_t ‖τ_t − τ̂_t‖² over the quantized tensors (from each
task's manifest statistic: quantizationError = ‖τ − τ̂‖₂ / quantized parameters).

  scripts/budget_sweep.py PACKER ZOO_DIR OUT_DIR
"""

import json
import os
import subprocess
import sys


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def zoo_pack_inputs(zoo):
    """The zoo's pretrained checkpoint and the --task NAME=CHECKPOINT arguments of every task."""
    with open(os.path.join(zoo, "manifest.json"), encoding="utf-8") as f:
        zm = json.load(f)
    tasks = []
    for t in zm["tasks"]:
        tasks += ["--task", "%s=%s" % (t["name"], os.path.join(zoo, t["files"]["pt"]))]
    return os.path.join(zoo, zm["files"]["pretrained_pt"]), tasks


def measure(packer, bundle):
    report = json.loads(run([packer, "inspect", bundle, "--json"]))
    with open(os.path.join(bundle, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    pq = m["pretrained"]["quantizedParameterCount"]
    error = sum((t["stats"]["quantizationError"] * pq) ** 2 for t in m["tasks"])
    counted = report["baseBytes"] + sum(t["fileBytes"] - t["ownTensorBytes"] for t in report["tasks"])
    return counted, error, report["storedBitsPerParameter"]


def main():
    packer, zoo, out = sys.argv[1:4]
    pre, tasks = zoo_pack_inputs(zoo)
    os.makedirs(out, exist_ok=True)
    settings = [("tvq", ["--bits", str(b)], "TVQ%d" % b) for b in range(1, 9)]
    settings += [("rtvq", ["--base-bits", str(bb), "--offset-bits", str(bo)], "RTVQ B%dO%d" % (bb, bo))
                 for bb, bo in [(2, 1), (3, 2), (4, 2), (3, 3), (4, 4), (8, 2)]]
    print("| uniform | bytes | bits/param | error uniform | error allocated (bytes) | allocated / uniform |")
    print("|---|---:|---:|---:|---:|---:|")
    for scheme, widths, label in settings:
        u = os.path.join(out, label.replace(" ", "-"))
        a = u + "-budget"
        for d in (u, a):
            subprocess.run(["rm", "-rf", d], check=True)
        run([packer, "pack", "--pretrained", pre, *tasks, "--scheme", scheme, *widths, "--out", u])
        ub, ue, ubits = measure(packer, u)
        run([packer, "pack", "--pretrained", pre, *tasks, "--scheme", scheme, "--budget-bytes", str(ub), "--out", a])
        ab, ae, _ = measure(packer, a)
        print("| %s | %d | %.3f | %.4e | %.4e (%d) | %.3f |" % (label, ub, ubits, ue, ae, ab, ae / ue if ue else 1.0))


if __name__ == "__main__":
    main()
