"""A small ViT encoder for 28x28 grayscale images and a linear task head.

State-dict names (also the ONNX initializer names):
  patch_embed.proj.{weight,bias}   Conv2d(1, dim, patch, stride=patch)
  cls_token [1, 1, dim], pos_embed [1, 1 + (28/patch)^2, dim]
  blocks.{i}.norm1.{weight,bias}, blocks.{i}.attn.qkv.{weight,bias}, blocks.{i}.attn.proj.{weight,bias},
  blocks.{i}.norm2.{weight,bias}, blocks.{i}.mlp.fc1.{weight,bias}, blocks.{i}.mlp.fc2.{weight,bias}
  norm.{weight,bias}
Encoder output: final LayerNorm applied to the CLS token, [N, dim].
Head: head.{weight,bias}, Linear(dim, num_classes).
Only ops that torch 1.13 exports at ONNX opset 13 are used (Conv, MatMul, Softmax, Erf-GELU, LayerNorm
decomposed by the exporter).
"""
import torch
from torch import nn

IMAGE_SIZE = 28
LAYER_NORM_EPS = 1e-6

CONFIGS = {
    "quick": dict(dim=48, depth=3, heads=3, mlp_dim=96, patch=7),
    "full": dict(dim=96, depth=6, heads=4, mlp_dim=192, patch=7),
}


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads:
            raise ValueError("dim %d is not a multiple of heads %d" % (dim, heads))
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        tokens, dim = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(-1, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(-1, tokens, dim)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim, patch):
        super().__init__()
        if IMAGE_SIZE % patch:
            raise ValueError("patch %d does not divide %d" % (patch, IMAGE_SIZE))
        self.proj = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [N, tokens, dim]


class VitEncoder(nn.Module):
    def __init__(self, dim, depth, heads, mlp_dim, patch):
        super().__init__()
        self.config = dict(dim=dim, depth=depth, heads=heads, mlp_dim=mlp_dim, patch=patch)
        self.patch_embed = PatchEmbed(dim, patch)
        tokens = 1 + (IMAGE_SIZE // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self._init_weights()

    def _init_weights(self):
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @property
    def dim(self):
        return self.config["dim"]

    def forward(self, image):
        x = self.patch_embed(image)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]


class Head(nn.Module):
    """Linear task head; its state dict is {head.weight, head.bias}."""

    def __init__(self, dim, num_classes):
        super().__init__()
        self.head = nn.Linear(dim, num_classes)

    def forward(self, features):
        return self.head(features)


class Classifier(nn.Module):
    def __init__(self, encoder, head):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, image):
        return self.head(self.encoder(image))


def build_encoder(size):
    return VitEncoder(**CONFIGS[size])


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())
