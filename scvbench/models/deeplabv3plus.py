"""DeepLabV3+ (Chen et al., ECCV 2018) on a MONAI ResNet encoder, as the study used it.

- Encoder: ``monai.networks.nets.ResNetFeatures`` (ResNet-18/34/50, 2-D, ``in_channels`` input
  channels) with output stride 16: the last stage's stride is replaced by dilation 2, so its
  features stay at 1/16 of the input.
- ASPP on the stride-16 features: a 1x1 convolution, three 3x3 atrous convolutions at rates
  6, 12 and 18 and image pooling, each 256 channels with batch norm and ReLU, concatenated and
  projected to 256 channels, then dropout.
- Decoder: the stride-4 features (after the first stage) projected to 48 channels, concatenated
  with the ASPP output upsampled x4, two 3x3 convolutions of 256 channels, a 1x1 classifier, and
  bilinear upsampling x4 to the input size.

Pretrained (ImageNet) weights cannot be downloaded here: the encoder starts from random weights
(``pretrained=False``), which the model card states.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional as F

# MONAI is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["ASPP", "DeepLabV3Plus"]


def _conv_bn_relu(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = 0 if kernel == 1 else dilation
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _ImagePooling(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.project = _conv_bn_relu(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.project(F.adaptive_avg_pool2d(x, 1))
        return F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three atrous 3x3 branches and image pooling."""

    def __init__(self, cin: int, cout: int = 256, rates=(6, 12, 18), dropout: float = 0.1):
        super().__init__()
        self.branches = nn.ModuleList(
            [_conv_bn_relu(cin, cout)]
            + [_conv_bn_relu(cin, cout, 3, rate) for rate in rates]
            + [_ImagePooling(cin, cout)]
        )
        self.project = nn.Sequential(
            _conv_bn_relu(cout * (len(rates) + 2), cout), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the branches and project them."""
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class _ZeroPadShortcut(nn.Module):
    """MONAI's type-A shortcut: a strided 1x1 average pool with zero channels appended.

    MONAI computes it in a bound method that concatenates ``out.data``: no gradient flows
    through it, and a tracer (the ONNX export) records ``.data`` as a constant taken from the
    traced input. ``detach()`` is the same computation, forward and backward, and traces.
    """

    def __init__(self, planes: int, stride: int):
        super().__init__()
        self.planes, self.stride = int(planes), int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled input, detached, with zero channels up to ``planes``."""
        out = F.avg_pool2d(x, kernel_size=1, stride=self.stride).detach()
        zeros = torch.zeros(
            out.size(0), self.planes - out.size(1), *out.shape[2:], dtype=out.dtype
        ).to(out.device)
        return torch.cat([out, zeros], dim=1)


def _traceable_shortcuts(encoder: nn.Module) -> None:
    """Replace MONAI's type-A shortcuts (bound partials) by :class:`_ZeroPadShortcut` modules."""
    for module in encoder.modules():
        shortcut = getattr(module, "downsample", None)
        if isinstance(shortcut, functools.partial):
            module.downsample = _ZeroPadShortcut(
                shortcut.keywords["planes"], shortcut.keywords.get("stride", 1)
            )


def _dilate_last_stage(layer: nn.Module, dilation: int = 2) -> None:
    """Output stride 16: the stage keeps its input's resolution, its 3x3 convolutions dilate."""
    for module in layer.modules():
        if isinstance(module, _ZeroPadShortcut):
            module.stride = 1
        if isinstance(module, nn.Conv2d):
            if module.stride != (1, 1):
                module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                module.dilation = (dilation, dilation)
                module.padding = (dilation, dilation)


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ with a MONAI ResNet encoder at output stride 16; returns per-class logits.

    Parameters
    ----------
    in_channels : int
        Input channels (1: the MinIP; more for stacked inputs).
    out_channels : int
        Classes (2: background, vein).
    depth : {18, 34, 50}
        ResNet depth of the encoder.
    dropout : float
        Dropout after the ASPP projection and before the classifier.

    Examples
    --------
    >>> net = DeepLabV3Plus(depth=18).eval()
    >>> net(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 2, 64, 64])
    """

    def __init__(
        self, in_channels: int = 1, out_channels: int = 2, depth: int = 50, dropout: float = 0.1
    ):
        super().__init__()
        from monai.networks.nets import ResNetFeatures

        if depth not in (18, 34, 50):
            raise ValueError(f"depth must be 18, 34 or 50, got {depth}")
        self.encoder = ResNetFeatures(
            f"resnet{depth}", pretrained=False, spatial_dims=2, in_channels=in_channels
        )
        _traceable_shortcuts(self.encoder)
        _dilate_last_stage(self.encoder.layer4)
        with torch.no_grad():
            features = self.encoder(torch.zeros(1, in_channels, 64, 64))
        low_channels, high_channels = features[1].shape[1], features[-1].shape[1]
        self.aspp = ASPP(high_channels, 256, (6, 12, 18), dropout)
        self.low = _conv_bn_relu(low_channels, 48)
        self.decoder = nn.Sequential(
            _conv_bn_relu(256 + 48, 256, 3), _conv_bn_relu(256, 256, 3), nn.Dropout(dropout)
        )
        self.classifier = nn.Conv2d(256, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class logits at the input's size."""
        size = x.shape[-2:]
        features = self.encoder(x)
        low, high = features[1], features[-1]  # stride 4 and stride 16
        high = self.aspp(high)
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        out = self.classifier(self.decoder(torch.cat([high, self.low(low)], dim=1)))
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)
