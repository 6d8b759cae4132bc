"""ResNet-18 in torch, loaded from the CNTK 2.6 ONNX export in Microsoft.ML.DnnImageFeaturizer.ResNet18.

The CNTK graph (IR 3, opset 8, input `Input247` [1,3,224,224] BGR 0..255 minus a mean image) is a plain
ResNet-18 with two quirks that this module reproduces exactly:
  * the 7x7 stride-2 stem convolution pads [top 3, left 3, bottom 2, right 2];
  * every stride-2 3x3 convolution and the 3x3 stride-2 max pool pad [top 1, left 1, bottom 0, right 0].
(For even sizes this equals symmetric padding.) As in the CNTK graph, a stage's shortcut (1x1 stride-2 conv, no
padding) and its main path only agree in size when the stage input is even, so H and W must be multiples of 32.
The fixed 7x7 AveragePool becomes a global average, so any H/W works; at 224x224 they coincide.
Unlike torchvision's resnet18 ([2,2,2,2] basic blocks, 11.2M parameters) the CNTK model has THREE basic blocks
in its last stage ([2,2,2,3], 15.9M values): the extra block is layer4.2.

State-dict names follow torchvision (conv1.weight, bn1.*, layer1.0.conv1.weight, ..., layer2.0.downsample.0/1);
BatchNorm modules carry running_mean / running_var / num_batches_tracked buffers like torchvision's.
The mapping from the graph's initializer names (Parameter91, Constant98, ...) is found by walking the graph:
convolutions in topological order, each followed by the BatchNormalization that consumes its output.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-5
LAYER_CHANNELS = [64, 128, 256, 512]
LAYER_BLOCKS = [2, 2, 2, 3]  # as in the CNTK graph


class BasicBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.stride = stride
        # stride-2 convs get their asymmetric padding from F.pad in forward()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, padding=1 if stride == 1 else 0, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, padding=1, bias=False)
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


class ResNet18(nn.Module):
    """output: 'features' -> [N,512] global average; 'feature_map' -> [N,512,h,w] (stride 32)."""

    def __init__(self, output="features"):
        super().__init__()
        assert output in ("features", "feature_map")
        self.output = output
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS)
        in_ch = 64
        for i, (ch, blocks) in enumerate(zip(LAYER_CHANNELS, LAYER_BLOCKS)):
            stride = 1 if i == 0 else 2
            layer = [BasicBlock(in_ch, ch, stride)] + [BasicBlock(ch, ch, 1) for _ in range(blocks - 1)]
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layer))
            in_ch = ch

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(F.pad(x, (3, 2, 3, 2)))))
        # CNTK pads the max pool top/left only; zero padding equals -inf padding here because x >= 0 after ReLU
        x = F.max_pool2d(F.pad(x, (1, 0, 1, 0)), 3, 2)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.output == "feature_map":
            return x
        return x.mean(dim=(2, 3))


def torchvision_conv_bn_names():
    """(conv name, bn name) pairs in the order the CNTK graph computes them (downsample before conv1)."""
    pairs = [("conv1", "bn1")]
    for layer in range(1, 5):
        for block in range(LAYER_BLOCKS[layer - 1]):
            p = "layer%d.%d." % (layer, block)
            if layer > 1 and block == 0:
                pairs.append((p + "downsample.0", p + "downsample.1"))
            pairs.append((p + "conv1", p + "bn1"))
            pairs.append((p + "conv2", p + "bn2"))
    return pairs


def onnx_name_map(graph):
    """{torchvision state-dict name: ONNX initializer name} for the CNTK ResNet-18 graph."""
    from onnx import helper
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    convs = [n for n in graph.node if n.op_type == "Conv"]
    names = torchvision_conv_bn_names()
    if len(convs) != len(names):
        raise ValueError("expected %d Conv nodes, found %d" % (len(names), len(convs)))
    # CNTK emits the downsample conv of a stage before that stage's conv1; check it by kernel size.
    mapping = {}
    for (conv_name, bn_name), node in zip(names, convs):
        kernel = [a for a in node.attribute if a.name == "kernel_shape"][0]
        kernel = list(helper.get_attribute_value(kernel))
        want = [1, 1] if conv_name.endswith("downsample.0") else ([7, 7] if conv_name == "conv1" else [3, 3])
        if kernel != want:
            raise ValueError("%s: kernel %s, expected %s" % (conv_name, kernel, want))
        if len(node.input) != 2:
            raise ValueError("%s: unexpected conv bias" % conv_name)
        mapping[conv_name + ".weight"] = node.input[1]
        bns = [c for c in consumers.get(node.output[0], []) if c.op_type == "BatchNormalization"]
        if len(bns) != 1:
            raise ValueError("%s: no single BatchNormalization after it" % conv_name)
        scale, bias, mean, var = bns[0].input[1:5]
        mapping[bn_name + ".weight"] = scale
        mapping[bn_name + ".bias"] = bias
        mapping[bn_name + ".running_mean"] = mean
        mapping[bn_name + ".running_var"] = var
    return mapping


def load_cntk_resnet18(onnx_path, output="features"):
    """Build ResNet18(output) with the weights of the CNTK ONNX file; returns (model, name map)."""
    import onnx
    from onnx import numpy_helper
    model_proto = onnx.load(onnx_path)
    inits = {t.name: numpy_helper.to_array(t) for t in model_proto.graph.initializer}
    mapping = onnx_name_map(model_proto.graph)
    model = ResNet18(output)
    state = model.state_dict()
    new_state = {}
    for name, tensor in state.items():
        if name.endswith("num_batches_tracked"):
            new_state[name] = torch.zeros_like(tensor)
            continue
        array = np.asarray(inits[mapping[name]], dtype=np.float32)
        if array.size != tensor.numel():
            raise ValueError("%s <- %s: %s vs %s" % (name, mapping[name], array.shape, tuple(tensor.shape)))
        new_state[name] = torch.from_numpy(array.reshape(tuple(tensor.shape)).copy())
    model.load_state_dict(new_state)
    used = set(mapping.values())
    unused = [n for n in inits if n not in used]
    if unused:
        raise ValueError("initializers not mapped: %s" % unused[:5])
    return model.eval(), mapping


def preprocessing_mean(prep_onnx_path):
    """Per-channel mean (B, G, R order, 0..255 scale) of the package's ResNetPreprocess.onnx mean image."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(prep_onnx_path)
    ops = [n.op_type for n in m.graph.node]
    if ops != ["Split", "Concat", "Sub"]:
        raise ValueError("unexpected preprocessing graph %s" % ops)
    concat = m.graph.node[1]
    split = m.graph.node[0]
    # Split gives R,G,B; Concat reorders to B,G,R: the network sees BGR
    order = [list(split.output).index(i) for i in concat.input]
    if order != [2, 1, 0]:
        raise ValueError("unexpected channel order %s" % order)
    mean_image = [numpy_helper.to_array(t) for t in m.graph.initializer if t.name == m.graph.node[2].input[1]][0]
    return mean_image.astype(np.float64).mean(axis=(0, 2, 3)).tolist(), mean_image
