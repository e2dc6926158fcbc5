"""Against PyTorch itself (optional: needs torch; slow): the builders give torch's numbers, and
TorchScript / pickled models convert through torch.onnx.export.

torchvision is not installable next to the CPU torch wheel here, so the architectures are
written below as plain torch modules with torchvision's (and efficientnet_pytorch's) module
names and wiring, randomly initialized with non-trivial batch-norm statistics. Each is saved by
``torch.save(model.state_dict())``, read back by our restricted reader, converted by
``predict convert`` (architecture recognized from the keys) and run by our engine, which must
give torch's logits within 1e-4 of the largest. Run with a torch venv:

    /tmp/venv-torch/bin/python -m pytest -m slow tests/test_torch_models.py
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from torch import nn  # noqa: E402

from converters import efficientnet, mobilenet_v2, mobilenet_v3, resnet, squeezenet  # noqa: E402

pytestmark = pytest.mark.slow


def conv_bn(cin, cout, kernel, stride=1, groups=1, act=None, eps=1e-5):
    """torchvision's Conv2dNormActivation: .0 conv, .1 batch norm, .2 activation."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=eps)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


# -- ResNet ------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, downsample, groups, base_width):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, downsample, groups, base_width):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, block, layers, groups=1, width_per_group=64, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            blocks = []
            for i in range(count):
                stride = 2 if index > 1 and i == 0 else 1
                downsample = None
                if stride != 1 or cin != planes * block.expansion:
                    downsample = nn.Sequential(
                        nn.Conv2d(cin, planes * block.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion))
                blocks.append(block(cin, planes, stride, downsample, groups, width_per_group))
                cin = planes * block.expansion
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make_resnet(name, num_classes=1000):
    kind, layers, groups, width = resnet.VARIANTS[name]
    return ResNet(BasicBlock if kind == "basic" else Bottleneck, layers, groups, width,
                  num_classes)


# -- SqueezeNet --------------------------------------------------------------------------------

class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    def __init__(self, name, num_classes=1000):
        super().__init__()
        stem, kernel, layout = squeezenet.VARIANTS[name]
        layers = [nn.Conv2d(3, stem, kernel, 2), nn.ReLU()]
        for item in layout:
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True) if item == "pool" else Fire(*item))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(),
                                        nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


# -- MobileNetV2 / V3 --------------------------------------------------------------------------

class InvertedResidualV2(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = [conv_bn(cin, hidden, 1, act=nn.ReLU6)] if t != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, hidden, nn.ReLU6),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        layers, cin = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)], 32
        for t, c, n, s in mobilenet_v2.INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                layers.append(InvertedResidualV2(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(conv_bn(cin, 1280, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class InvertedResidualV3(nn.Module):
    def __init__(self, cin, kernel, expanded, cout, se, act, stride):
        super().__init__()
        act = nn.Hardswish if act == "HS" else nn.ReLU
        layers = [conv_bn(cin, expanded, 1, act=act, eps=1e-3)] if expanded != cin else []
        layers.append(conv_bn(expanded, expanded, kernel, stride, expanded, act, eps=1e-3))
        if se:
            layers.append(SqueezeExcitation(expanded, mobilenet_v3.make_divisible(expanded // 4)))
        layers.append(conv_bn(expanded, cout, 1, eps=1e-3))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV3(nn.Module):
    def __init__(self, name, num_classes=1000):
        super().__init__()
        blocks, hidden = mobilenet_v3.VARIANTS[name]
        last = blocks[-1][3]
        self.features = nn.Sequential(
            conv_bn(3, blocks[0][0], 3, 2, act=nn.Hardswish, eps=1e-3),
            *[InvertedResidualV3(*b) for b in blocks],
            conv_bn(last, 6 * last, 1, act=nn.Hardswish, eps=1e-3))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(6 * last, hidden), nn.Hardswish(),
                                        nn.Dropout(0.2), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# -- EfficientNet (efficientnet_pytorch layout) -------------------------------------------------

class StaticSameConv(nn.Conv2d):
    """efficientnet_pytorch's Conv2dStaticSamePadding: TF SAME padding fixed for one size."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1, bias=False, image_size=None):
        super().__init__(cin, cout, kernel, stride, 0, groups=groups, bias=bias)
        pads = []
        for size in reversed(image_size):  # ZeroPad2d wants (left, right, top, bottom)
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        self.static_padding = nn.ZeroPad2d(tuple(pads))

    def forward(self, x):
        return super().forward(self.static_padding(x))


class MBConvBlock(nn.Module):
    def __init__(self, cin, cout, kernel, stride, expand, lite, size):
        super().__init__()
        hidden, bn = cin * expand, dict(eps=1e-3, momentum=0.01)
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = StaticSameConv(cin, hidden, 1, image_size=size)
            self._bn0 = nn.BatchNorm2d(hidden, **bn)
        self._depthwise_conv = StaticSameConv(hidden, hidden, kernel, stride, hidden,
                                              image_size=size)
        self._bn1 = nn.BatchNorm2d(hidden, **bn)
        self.se = not lite
        if self.se:
            squeeze = max(1, int(cin * 0.25))
            self._se_reduce = nn.Conv2d(hidden, squeeze, 1)
            self._se_expand = nn.Conv2d(squeeze, hidden, 1)
        out_size = [math.ceil(s / stride) for s in size]
        self._project_conv = StaticSameConv(hidden, cout, 1, image_size=out_size)
        self._bn2 = nn.BatchNorm2d(cout, **bn)
        self._swish = nn.ReLU6() if lite else nn.SiLU()
        self.skip = stride == 1 and cin == cout

    def forward(self, inputs):
        x = inputs
        if self.expand:
            x = self._swish(self._bn0(self._expand_conv(x)))
        x = self._swish(self._bn1(self._depthwise_conv(x)))
        if self.se:
            s = nn.functional.adaptive_avg_pool2d(x, 1)
            s = self._se_expand(self._swish(self._se_reduce(s)))
            x = torch.sigmoid(s) * x
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.skip else x


class EfficientNet(nn.Module):
    def __init__(self, name, num_classes=1000):
        super().__init__()
        width, depth, resolution, lite = efficientnet.VARIANTS[name]
        size, bn = [resolution, resolution], dict(eps=1e-3, momentum=0.01)
        stem = 32 if lite else efficientnet.round_filters(32, width)
        self._conv_stem = StaticSameConv(3, stem, 3, 2, image_size=size)
        self._bn0 = nn.BatchNorm2d(stem, **bn)
        size = [math.ceil(s / 2) for s in size]
        blocks = []
        for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(efficientnet.STAGES):
            cin = efficientnet.round_filters(cin, width)
            cout = efficientnet.round_filters(cout, width)
            if lite and i in (0, len(efficientnet.STAGES) - 1):
                cin = stem if i == 0 else cin
            else:
                repeats = int(math.ceil(depth * repeats))
            for r in range(repeats):
                s = stride if r == 0 else 1
                blocks.append(MBConvBlock(cin if r == 0 else cout, cout, kernel, s, expand,
                                          lite, size))
                size = [math.ceil(v / s) for v in size]
        self._blocks = nn.ModuleList(blocks)
        head = 1280 if lite else efficientnet.round_filters(1280, width)
        self._conv_head = StaticSameConv(cout, head, 1, image_size=size)
        self._bn1 = nn.BatchNorm2d(head, **bn)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(head, num_classes)
        self._swish = nn.ReLU6() if lite else nn.SiLU()

    def forward(self, x):
        x = self._swish(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._swish(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._avg_pooling(x).flatten(1)))


MODELS = {
    "resnet18": lambda: make_resnet("resnet18"),
    "resnet50": lambda: make_resnet("resnet50"),
    "resnext50_32x4d": lambda: make_resnet("resnext50_32x4d"),
    "squeezenet1_0": lambda: SqueezeNet("squeezenet1_0"),
    "squeezenet1_1": lambda: SqueezeNet("squeezenet1_1"),
    "mobilenet_v2": MobileNetV2,
    "mobilenet_v3_large": lambda: MobileNetV3("mobilenet_v3_large"),
    "mobilenet_v3_small": lambda: MobileNetV3("mobilenet_v3_small"),
    "efficientnet_lite0": lambda: EfficientNet("efficientnet_lite0"),
    "efficientnet_lite3": lambda: EfficientNet("efficientnet_lite3"),
    "efficientnet_b0": lambda: EfficientNet("efficientnet_b0"),
}


def randomized(model, seed=0):
    """Random batch-norm statistics and gains (a fresh module's are the identity), eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=generator) * 0.6 + 0.3)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


def engine_vs_torch(tmp_path, model, filename, size, convert_args=()):
    """Convert ``tmp_path/filename`` with the CLI, run a random batch through our engine and
    through ``model``; returns (max difference, max |torch logit|, .pnet path)."""
    import predict
    from predict.cli import main

    pnet = tmp_path / "model.pnet"
    assert main(["convert", str(tmp_path / filename), "-o", str(pnet), *convert_args]) == 0
    x = np.random.default_rng(2).standard_normal((2, 3, size[0], size[1])).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with predict.load(pnet) as net:
        ours = net.run(x)
    return float(np.abs(ours - expected).max()), float(np.abs(expected).max()), pnet


@pytest.mark.parametrize("name", list(MODELS))
def test_state_dict_from_torch_save_gives_torch_logits(tmp_path, name):
    torch.manual_seed(0)
    model = randomized(MODELS[name]())
    torch.save(model.state_dict(), tmp_path / f"{name}.pth")
    size = [efficientnet.VARIANTS[name][2]] * 2 if name.startswith("efficientnet") else [224] * 2
    diff, scale, _ = engine_vs_torch(tmp_path, model, f"{name}.pth", size)
    print(f"{name}: max |ours - torch| = {diff:.3g} for logits up to {scale:.3g}")
    assert scale > 1e-3
    assert diff <= 1e-4 * scale


# -- TorchScript and pickled modules, through torch.onnx.export --------------------------------

class SmallNet(nn.Module):
    """Not a known architecture: only torch.onnx.export can convert it."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(conv_bn(3, 8, 3, 2, act=nn.ReLU),
                                  conv_bn(8, 16, 3, 1, 8, nn.Hardswish), SqueezeExcitation(16, 8))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1))


def test_torchscript_converts_through_onnx_export(tmp_path):
    torch.manual_seed(1)
    model = randomized(SmallNet())
    torch.jit.save(torch.jit.script(model), str(tmp_path / "scripted.pt"))
    diff, scale, _ = engine_vs_torch(tmp_path, model, "scripted.pt", (48, 40),
                                     ["--input-shape", "1,3,48,40", "--no-preprocess"])
    assert diff <= 1e-4 * scale


def test_torchscript_needs_the_input_shape(tmp_path, capsys):
    from predict.cli import main

    torch.jit.save(torch.jit.trace(SmallNet().eval(), torch.zeros(1, 3, 16, 16)),
                   str(tmp_path / "traced.pt"))
    assert main(["convert", str(tmp_path / "traced.pt"), "-o", str(tmp_path / "t.pnet")]) == 2
    assert "give --input-shape C,H,W" in capsys.readouterr().err


def test_pickled_module_needs_trust_pickle(tmp_path, capsys):
    from predict.cli import main

    torch.manual_seed(2)
    model = randomized(SmallNet())
    torch.save(model, tmp_path / "whole.pt")
    args = ["convert", str(tmp_path / "whole.pt"), "-o", str(tmp_path / "model.pnet"),
            "--input-shape", "3,32,32", "--no-preprocess"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--trust-pickle" in err and "runs code" in err
    assert not (tmp_path / "model.pnet").exists()
    diff, scale, _ = engine_vs_torch(tmp_path, model, "whole.pt", (32, 32),
                                     args[4:] + ["--trust-pickle"])
    assert diff <= 1e-4 * scale


def test_trust_pickle_on_a_plain_state_dict_still_reads_it_without_torch_load(tmp_path):
    model = randomized(make_resnet("resnet18", num_classes=3))
    torch.save(model.state_dict(), tmp_path / "r18.pth")
    diff, scale, _ = engine_vs_torch(tmp_path, model, "r18.pth", (224, 224), ["--trust-pickle"])
    assert diff <= 1e-4 * scale
