"""Training loops: supervised pretraining, whole-encoder fine-tuning, frozen-encoder linear probe.

Preprocessing (the same everywhere, also what a runtime must apply before `encoder.onnx`):
    x = (pixel / 255 - MEAN) / STD, image layout [N, 1, 28, 28] float32.
All randomness comes from explicit seeds: torch.manual_seed for initialisation and a torch.Generator
for batch order and augmentation.
"""
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from model import Classifier, Head

MEAN = 0.5
STD = 0.5
EVAL_BATCH = 500


def preprocess(images):
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28], (x/255 - MEAN) / STD."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    return x.sub_(MEAN).div_(STD).unsqueeze(1)


def random_shift(x, max_shift, generator):
    """Translate each image by up to max_shift pixels (zero = background padding)."""
    if max_shift <= 0:
        return x
    n, size = x.shape[0], x.shape[-1]
    background = -MEAN / STD
    padded = F.pad(x, [max_shift] * 4, value=background)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    return torch.stack([padded[i, :, dy:dy + size, dx:dx + size]
                        for i, (dy, dx) in enumerate(offsets.tolist())])


def _batches(count, batch_size, steps, generator):
    """Yield `steps` index batches, reshuffling at every epoch."""
    order, pos = torch.randperm(count, generator=generator), 0
    for _ in range(steps):
        if pos + batch_size > count:
            order, pos = torch.randperm(count, generator=generator), 0
        yield order[pos:pos + batch_size]
        pos += batch_size


def _lr_at(step, steps, base_lr, warmup):
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def fit(model, inputs, labels, steps, batch_size, lr, weight_decay, seed, shift=0, log=None,
        name=""):
    """AdamW with linear warmup (5%) and cosine decay; inputs already preprocessed float tensors."""
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    warmup = max(1, steps // 20)
    batch_size = min(batch_size, len(labels))
    model.train()
    start, running = time.time(), None
    for step, idx in enumerate(_batches(len(labels), batch_size, steps, generator)):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, lr, warmup)
        x = random_shift(inputs[idx], shift, generator)
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if log and (step + 1) % max(1, steps // 4) == 0:
            log("  %s step %d/%d loss %.3f (%.1f steps/s)"
                % (name, step + 1, steps, running, (step + 1) / (time.time() - start)))
    model.eval()
    return {"steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
            "shift": shift, "seed": seed, "final_loss": round(running, 4),
            "seconds": round(time.time() - start, 1)}


@torch.no_grad()
def predict(model, inputs):
    model.eval()
    return torch.cat([model(inputs[i:i + EVAL_BATCH]) for i in range(0, len(inputs), EVAL_BATCH)])


def accuracy(logits, labels):
    return float((logits.argmax(1) == labels).to(torch.float64).mean())


def pretrain(encoder, split, num_classes, cfg, seed, log):
    """Supervised classification on held-out QuickDraw classes; the head is discarded."""
    torch.manual_seed(seed)
    model = Classifier(encoder, Head(encoder.dim, num_classes))
    x, y = preprocess(split.images), torch.from_numpy(split.labels)
    stats = fit(model, x, y, cfg["steps"], cfg["batch_size"], cfg["lr"], cfg["weight_decay"],
                seed, shift=cfg["shift"], log=log, name="pretrain")
    return model.head, stats


def finetune(encoder, train, head, cfg, seed, log, name):
    """Fine-tune the whole encoder and `head` in place (LP-FT: `head` starts as the linear probe)."""
    model = Classifier(encoder, head)
    for p in model.parameters():
        p.requires_grad_(True)
    x, y = preprocess(train.images), torch.from_numpy(train.labels)
    return fit(model, x, y, cfg["steps"], cfg["batch_size"], cfg["lr"], cfg["weight_decay"],
               seed, shift=cfg["shift"], log=log, name=name)


def linear_probe(encoder, train, num_classes, cfg, seed, train_limit):
    """Train only a Linear head on frozen features of the first `train_limit` training images."""
    feats = predict(encoder, preprocess(train.images[:train_limit]))
    labels = torch.from_numpy(train.labels[:train_limit])
    torch.manual_seed(seed)
    head = Head(encoder.dim, num_classes)
    stats = fit(head, feats, labels, cfg["steps"], cfg["batch_size"], cfg["lr"],
                cfg["weight_decay"], seed)
    stats["train_images"] = len(labels)
    return head, stats
