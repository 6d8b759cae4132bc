"""Export the zoo's pretrained encoder as TorchScript for `edgetvq-pack adamerge --model`.

    /usr/bin/python3 bench/adamerging/export_torchscript.py --zoo artifacts/zoo/quick-8tasks --out encoder.ts
    /usr/bin/python3 bench/adamerging/export_torchscript.py --pretrained pretrained.pt --size quick --out encoder.ts

Loads the pretrained state dict into bench/zoo/model.py's VitEncoder (imported, not copied), traces it with
torch.jit.trace on a batch of zero images and saves the ScriptModule. The traced module keeps the state-dict names
as parameter names (what AdaMerging needs to set θ(λ) tensor by tensor); its output is checked against the eager
module on random images before saving. Any other model works the same way: see docs/adamerging.md.
"""
import argparse
import json
import os
import sys

import torch

sys.dont_write_bytecode = True  # leave bench/zoo as it is
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo"))
import model as zoo_model  # noqa: E402  (bench/zoo/model.py)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", help="zoo folder (its manifest.json names the pretrained .pt and the model size)")
    p.add_argument("--pretrained", help="pretrained state dict (.pt) when --zoo is not given")
    p.add_argument("--size", choices=sorted(zoo_model.CONFIGS), help="model size when --zoo is not given")
    p.add_argument("--out", required=True, help="TorchScript file to write")
    a = p.parse_args()
    if a.zoo:
        with open(os.path.join(a.zoo, "manifest.json")) as f:
            manifest = json.load(f)
        m = manifest["model"]
        config = {k: m[k] for k in ("dim", "depth", "heads", "mlp_dim", "patch")}
        pretrained = os.path.join(a.zoo, manifest["files"]["pretrained_pt"])
    elif a.pretrained and a.size:
        config, pretrained = zoo_model.CONFIGS[a.size], a.pretrained
    else:
        p.error("give --zoo DIR, or --pretrained FILE and --size")

    torch.manual_seed(0)
    encoder = zoo_model.VitEncoder(**config)
    state = torch.load(pretrained, map_location="cpu")
    encoder.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")}, strict=True)
    encoder.eval()
    size = zoo_model.IMAGE_SIZE
    with torch.no_grad():
        traced = torch.jit.trace(encoder, torch.zeros(2, 1, size, size), check_trace=False)
        x = torch.randn(5, 1, size, size)
        err = (traced(x) - encoder(x)).abs().max().item()
    if err > 1e-5:
        sys.exit("traced encoder differs from the eager one by %g" % err)
    names = [n for n, _ in traced.named_parameters()]
    missing = sorted(set(encoder.state_dict()) - set(names))
    if missing:
        sys.exit("traced encoder lacks parameters %s" % missing)
    tmp = a.out + ".partial"
    traced.save(tmp)
    os.replace(tmp, a.out)
    print("wrote %s: %d parameters, batch-independent, max |traced - eager| = %.2g" % (a.out, len(names), err))


if __name__ == "__main__":
    main()
