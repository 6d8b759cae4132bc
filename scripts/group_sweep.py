#!/usr/bin/env python3
"""Group-wise scales and BitDelta against per-tensor scales, through the CLI.

Packs the zoo once per setting and prints, per setting, the bytes the budget counts (base and task files less the
tasks' own tensors and blobs), stored bits per parameter per task (all stored tensors; `inspect --json`
storedBitsPerParameter), stored bits per quantized parameter (quantized records only: codes, scales, zero points,
record headers) and the squared task-vector error Σ_t ‖τ_t − τ̂_t‖² over the quantized tensors (from the manifest
statistics, as scripts/budget_sweep.py counts it).

  scripts/group_sweep.py PACKER ZOO_DIR OUT_DIR
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from budget_sweep import measure, run, zoo_pack_inputs  # noqa: E402  (one definition of inputs, bytes and error)

SETTINGS = [
    ("TVQ2", ["--scheme", "tvq", "--bits", "2"]),
    ("TVQ2-G128", ["--scheme", "tvq", "--bits", "2", "--group", "128"]),
    ("TVQ2-ROW", ["--scheme", "tvq", "--bits", "2", "--group", "row"]),
    ("TVQ3", ["--scheme", "tvq", "--bits", "3"]),
    ("TVQ3-ROW", ["--scheme", "tvq", "--bits", "3", "--group", "row"]),
    ("TVQ1", ["--scheme", "tvq", "--bits", "1"]),
    ("BITDELTA", ["--scheme", "bitdelta"]),
    ("RTVQ-B2O1", ["--scheme", "rtvq", "--base-bits", "2", "--offset-bits", "1"]),
    ("RTVQ-B2O1-ROW", ["--scheme", "rtvq", "--base-bits", "2", "--offset-bits", "1", "--group", "row"]),
    ("RTVQ-B3O2", ["--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2"]),
    ("RTVQ-B3O2-ROW", ["--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2", "--group", "row"]),
]


def main():
    packer, zoo, out = sys.argv[1:4]
    pre, tasks = zoo_pack_inputs(zoo)
    os.makedirs(out, exist_ok=True)
    print("| setting | bytes | bits/param (all stored) | bits/quantized param | error Σ‖τ−τ̂‖² | error / TVQ2 |")
    print("|---|---:|---:|---:|---:|---:|")
    reference = None
    for label, args in SETTINGS:
        b = os.path.join(out, label)
        subprocess.run(["rm", "-rf", b], check=True)
        run([packer, "pack", "--pretrained", pre, *tasks, *args, "--out", b])
        counted, error, bits = measure(packer, b)
        report = json.loads(run([packer, "inspect", b, "--json"]))
        if reference is None:
            reference = error
        print("| %s | %d | %.3f | %.3f | %.4e | %.3f |" % (label, counted, bits, report["storedBitsPerQuantizedParameter"], error, error / reference))


if __name__ == "__main__":
    main()
