"""The dense zoo's network: the ImageNet ResNet-18 of bench/rgbzoo made dilated (output stride 8), and the
per-task ASPP-style heads.

Dilation follows torchvision's `replace_stride_with_dilation=[False, True, True]` (FusionBench's NYUv2
ResNet-50 encoder): layer3 and layer4 lose their stride 2 (the 1x1 shortcut convolutions keep their weights,
now with stride 1) and get dilation 2 and 4. As in torchvision, the first block of a dilated stage uses the
previous stage's dilation for its first 3x3 convolution; every other 3x3 convolution of the stage uses the
stage's dilation, with padding equal to the dilation. The stem, max pool and layer2 keep the CNTK graph's
top/left-only padding (bench/rgbzoo/onnx_to_torch.py), so H and W must be multiples of 8.
State-dict names are those of bench/rgbzoo's ResNet18, so the pretrained weights load unchanged.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-5
LAYER_CHANNELS = [64, 128, 256, 512]
LAYER_BLOCKS = [2, 2, 2, 3]          # the CNTK graph's stages (its layer4 has three blocks)
LAYER_STRIDES = [1, 2, 1, 1]         # layer3 and layer4: stride replaced by dilation
LAYER_DILATIONS = [1, 1, 2, 4]
OUTPUT_STRIDE = 8
FEATURES = 512


class Block(nn.Module):
    """Basic residual block; a stride-2 block pads top/left by 1 (CNTK), stride-1 convolutions pad by their
    dilation on every side."""

    def __init__(self, in_ch, out_ch, stride, dilation1, dilation2):
        super().__init__()
        self.stride = stride
        pad1 = 0 if stride == 2 else dilation1
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, padding=pad1, dilation=dilation1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, padding=dilation2, dilation=dilation2, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_ch, eps=BN_EPS))

    def forward(self, x):
        y = x if self.stride == 1 else F.pad(x, (1, 0, 1, 0))
        y = F.relu(self.bn1(self.conv1(y)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class DilatedResNet18(nn.Module):
    """image [N,3,H,W] (BGR minus mean, see README) -> features [N,512,H/8,W/8]."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS)
        in_ch, dilation = 64, 1
        for i in range(4):
            ch, stride, stage_dilation = LAYER_CHANNELS[i], LAYER_STRIDES[i], LAYER_DILATIONS[i]
            blocks = [Block(in_ch, ch, stride, dilation, stage_dilation)]
            blocks += [Block(ch, ch, 1, stage_dilation, stage_dilation) for _ in range(LAYER_BLOCKS[i] - 1)]
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
            in_ch, dilation = ch, stage_dilation

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(F.pad(x, (3, 2, 3, 2)))))
        x = F.max_pool2d(F.pad(x, (1, 0, 1, 0)), 3, 2)  # zero padding = -inf padding after ReLU
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class AsppHead(nn.Module):
    """features [N,512,h,w] -> output [N,C,h,w]: conv3x3 (512->64) -> BN -> ReLU, three parallel 3x3
    convolutions with dilation 1, 2, 3 summed -> BN -> ReLU -> conv1x1 (64->C, with bias). A light DeepLab
    ASPP (summed instead of concatenated, no image pooling branch)."""

    DILATIONS = (1, 2, 3)

    def __init__(self, channels, width=64):
        super().__init__()
        self.conv = nn.Conv2d(FEATURES, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.branches = nn.ModuleList(nn.Conv2d(width, width, 3, padding=d, dilation=d, bias=False)
                                      for d in self.DILATIONS)
        self.bn_aspp = nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, channels, 1)

    def forward(self, features):
        x = F.relu(self.bn(self.conv(features)))
        y = self.branches[0](x)
        for branch in self.branches[1:]:
            y = y + branch(x)
        return self.out(F.relu(self.bn_aspp(y)))


def upsample(output, size):
    """Dense output at feature resolution -> image size, as the runtime and the NYUv2 reference code do."""
    return F.interpolate(output, size=size, mode="bilinear", align_corners=True)
