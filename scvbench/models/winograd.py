"""DeepLabV3+'s decoder as Winograd F(4x4, 3x3) matrix products: the form exported for CPUs.

Half of DeepLabV3+'s arithmetic (ResNet-18 encoder, 256 px) is its decoder's two 3x3
convolutions of 256 channels at a quarter of the input's resolution, which OpenVINO already
runs at the cores' float32 matrix rate. Winograd's minimal filtering (Lavin and Gray, CVPR 2016)
computes each 4 x 4 block of such a convolution's output from a 6 x 6 input tile with 36
products per channel pair instead of 144: ``Y = A^T [(G g G^T) * (B^T d B)] A``. Written as
matrix products over all tiles at once, the convolution becomes

- a gather of the 36 elements of every input tile (rows of a positions-by-channels matrix; the
  zero padding is one extra zero row),
- the input transform ``kron(B^T, B^T)`` (36 x 36) applied to those rows,
- 36 products of the tiles' channels with the transformed weights (``(G g G^T)``, batch norm
  folded in): 2.25 multiply-adds per output and channel pair instead of 9,
- the output transform ``kron(A^T, A^T)`` (16 x 36), the folded batch norm's bias and the ReLU.

The decoder's input is built in the rows layout directly: the ASPP features upsampled x4 by two
products with the bilinear weights, one per axis (the first weights' extra zero row leaves zero
rows after the image: the first convolution's padding), beside the low-level features projected by
one product (their 1x1 convolution with its batch norm folded in). The first convolution's output
stays in the tile layout and the second gathers its tiles from it; the classifier is a matrix
product on the tile rows, and the logits' bilinear x4 two more products whose weights are ordered
as the tile layout, so that no gather puts them back in image order. Every step is a Gather, Pad,
Concat or MatMul, which ONNX exports and OpenVINO runs with its matrix kernels: a DeepLabV3+ slice
took 34-35 ms instead of 47 ms on 2 cores (docs/predict.md). The logits differ from the direct
convolutions' by float rounding (within 1e-5 of their range, tested); on the official test split
the masks are the same.

Only the export for CPU inference uses this form (:func:`export_form`); training, checkpoints and
the ``torch`` runtime use the network as it is.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

# The DeepLabV3+ class is imported inside the functions that use it: its module imports MONAI.

__all__ = ["WinogradConv", "export_form", "fits"]

# F(4x4, 3x3) on the points 0, 1, -1, 2, -2 and infinity (Lavin and Gray 2016).
_BT = [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
]
_G = [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
]
_AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]


def _tiles(height: int, width: int) -> int:
    return (height // 4) * (width // 4)


def _tile_row(y: torch.Tensor, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Row of the tile layout that holds pixel ``(y, x)``: output element, then tile."""
    return ((y % 4) * 4 + x % 4) * _tiles(height, width) + (y // 4) * (width // 4) + x // 4


def _gather_index(height: int, width: int, tiled: bool) -> torch.Tensor:
    """Source row of every input tile element: element ``a * 6 + b`` major, then tile.

    The source is the image in raster order (``tiled`` False: row ``y * width + x``) or in the
    tile layout of a previous :class:`WinogradConv`; the row after the last holds zeros (the
    convolution's padding).
    """
    element = torch.arange(36)
    a, b = (element // 6).view(36, 1, 1), (element % 6).view(36, 1, 1)
    ty = torch.arange(height // 4).view(1, -1, 1)
    tx = torch.arange(width // 4).view(1, 1, -1)
    y, x = 4 * ty + a - 1, 4 * tx + b - 1
    inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
    y, x = y.clamp(0, height - 1), x.clamp(0, width - 1)
    source = _tile_row(y, x, height, width) if tiled else y * width + x
    return torch.where(inside, source, torch.full_like(source, height * width)).reshape(-1)


def _folded(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution's weight and bias with the batch norm's statistics folded in (float64)."""
    f64 = torch.float64
    scale = norm.weight.detach().to(f64) / torch.sqrt(norm.running_var.to(f64) + norm.eps)
    weight = conv.weight.detach().to(f64) * scale[:, None, None, None]
    bias = norm.bias.detach().to(f64) - norm.running_mean.to(f64) * scale
    if conv.bias is not None:
        bias = bias + conv.bias.detach().to(f64) * scale
    return weight, bias


def _linear_upsampling(source: int, target: int) -> torch.Tensor:
    """``(target, source)`` weights of linear upsampling (``align_corners=False``), float64."""
    eye = torch.eye(source, dtype=torch.float64)[None]
    return F.interpolate(eye, size=target, mode="linear", align_corners=False)[0].t()


class WinogradConv(nn.Module):
    """A 3x3 convolution (stride 1, padding 1), batch norm and ReLU by Winograd F(4x4, 3x3).

    Input and output are matrices of positions by channels: the input in raster order
    (``tiled=False``) or in the tile layout of another :class:`WinogradConv`; the output in the
    tile layout (row ``(p * 4 + q) * tiles + tile`` holds output pixel ``(4 ty + p, 4 tx + q)``).

    Parameters
    ----------
    conv : torch.nn.Conv2d
        The convolution (3 x 3, stride 1, padding 1, dilation 1, one group).
    norm : torch.nn.BatchNorm2d
        The batch norm after it (its running statistics are folded into the weights).
    height, width : int
        The input's size (multiples of 4).
    tiled : bool
        Whether the input is in the tile layout.
    padded : bool
        Whether the input already ends in zero rows (from row ``height * width`` on): then the
        convolution's padding is read from there instead of a zero row appended.
    """

    def __init__(
        self,
        conv: nn.Conv2d,
        norm: nn.BatchNorm2d,
        height: int,
        width: int,
        tiled: bool,
        padded: bool = False,
    ):
        super().__init__()
        if not fits(conv, height, width):
            raise ValueError(
                "WinogradConv needs a 3x3 convolution (stride 1, padding 1, no dilation, one "
                f"group) on an input whose sides are multiples of 4, got {height} x {width}"
            )
        weight, bias = _folded(conv, norm)
        f64 = torch.float64
        g, bt, at = (torch.tensor(m, dtype=f64) for m in (_G, _BT, _AT))
        transformed = torch.einsum("ia,ocab,jb->ijco", g, weight, g)  # (6, 6, in, out)
        self.register_buffer("weight", transformed.reshape(36, *weight.shape[1::-1]).float())
        self.register_buffer("bias", bias.float())
        self.register_buffer("input_transform", torch.kron(bt, bt).float())
        self.register_buffer("output_transform", torch.kron(at, at).float())
        self.register_buffer("index", _gather_index(height, width, tiled))
        self.tiles = _tiles(height, width)
        self.padded = padded

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``(positions, in)`` -> ``(positions, out)`` in the tile layout."""
        channels = rows.shape[1]
        if not self.padded:
            rows = F.pad(rows, (0, 0, 0, 1))  # the zero row of the padding
        tiles = rows.index_select(0, self.index).reshape(36, self.tiles * channels)
        tiles = torch.matmul(self.input_transform, tiles).reshape(36, self.tiles, channels)
        products = torch.matmul(tiles, self.weight)  # (36, tiles, out)
        out = products.shape[2]
        blocks = torch.matmul(self.output_transform, products.reshape(36, self.tiles * out))
        return torch.relu(blocks.reshape(16 * self.tiles, out) + self.bias)


def fits(conv: nn.Conv2d, height: int, width: int) -> bool:
    """Whether ``conv`` on a ``height`` x ``width`` input can run as :class:`WinogradConv`."""
    return (
        conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and height % 4 == 0
        and width % 4 == 0
    )


class _WinogradDeepLab(nn.Module):
    """A DeepLabV3+ whose decoder runs as :class:`WinogradConv` matrix products (batch of 1)."""

    def __init__(self, net: nn.Module, size: int):
        super().__init__()
        self.net = net
        self.side = side = size // 4  # the decoder's resolution
        self.coarse = coarse = size // 16  # the ASPP's resolution
        (conv0, norm0, _), (conv1, norm1, _) = net.decoder[0], net.decoder[1]
        self.conv0 = WinogradConv(conv0, norm0, side, side, tiled=False, padded=True)
        self.conv1 = WinogradConv(conv1, norm1, side, side, tiled=True)
        low_weight, low_bias = _folded(net.low[0], net.low[1])  # the 1x1 projection, a product
        self.register_buffer("low_weight", low_weight[:, :, 0, 0].t().float().contiguous())
        self.register_buffer("low_bias", low_bias.float())
        self.register_buffer("classifier", net.classifier.weight.detach()[:, :, 0, 0].t().clone())
        self.register_buffer("classifier_bias", net.classifier.bias.detach().clone())
        upsample = _linear_upsampling(coarse, side)  # (side, coarse)
        self.register_buffer("upsample", upsample.float().contiguous())
        # the first product's extra zero row gives the decoder input its rows of padding
        padding = torch.zeros(1, coarse, dtype=upsample.dtype)
        self.register_buffer("upsample_padded", torch.cat([upsample, padding]).float())
        # the logits' x4: columns y = 4 t + p of the weights ordered (p, t), the tile layout's
        full = _linear_upsampling(side, size).reshape(size, side // 4, 4).transpose(1, 2)
        full = full.reshape(size, side).float()
        self.register_buffer("output_rows", full.contiguous())
        self.register_buffer("output_columns", full.t().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class logits of one slice ``(1, 1, size, size)``, as the network computes them."""
        net = self.net
        features = net.encoder(x)
        low, high = features[1], features[-1]
        high = net.aspp(high)[0]  # (256, coarse, coarse)
        c, n, side = high.shape[0], self.coarse, self.side
        # bilinear x4 as two matrix products on rows of positions by channels, then `side` zero
        # rows (the Winograd gather's padding)
        rows = high.reshape(c, n * n).t().reshape(n, n * c)
        rows = torch.matmul(self.upsample_padded, rows).reshape(side + 1, n, c)
        rows = torch.matmul(self.upsample, rows).reshape((side + 1) * side, c)
        low = low.permute(0, 2, 3, 1).reshape(side * side, low.shape[1])  # rows, raster order
        low = torch.relu(torch.matmul(low, self.low_weight) + self.low_bias)
        rows = torch.cat([rows, F.pad(low, (0, 0, 0, side))], dim=1)
        rows = self.conv1(self.conv0(rows))  # (the decoder's dropout: identity in eval mode)
        logits = torch.matmul(rows, self.classifier) + self.classifier_bias  # tile layout
        # per class a (p, ty) x (q, tx) grid, upsampled x4 by two products (bilinear)
        classes, tiles = logits.shape[1], side // 4
        grid = logits.t().reshape(classes, 4, 4, tiles, tiles).transpose(2, 3)
        grid = grid.reshape(classes, side, side)
        out = torch.matmul(torch.matmul(self.output_rows, grid), self.output_columns)
        return out.reshape(1, classes, *x.shape[-2:])


def export_form(model: nn.Module, size: int) -> nn.Module:
    """The network to export for CPU inference at ``size``: DeepLabV3+ with a Winograd decoder.

    Parameters
    ----------
    model : torch.nn.Module
        A network in eval mode.
    size : int
        The input's rows and columns.

    Returns
    -------
    torch.nn.Module
        For a :class:`~scvbench.models.deeplabv3plus.DeepLabV3Plus` whose decoder runs at a
        multiple of 4 (``size`` a multiple of 16), a copy whose decoder and classifier are the
        Winograd matrix products (one slice a call); any other network unchanged.
    """
    from scvbench.models.deeplabv3plus import DeepLabV3Plus  # (imports MONAI)

    if not isinstance(model, DeepLabV3Plus) or size % 16:
        return model
    side = size // 4
    if not all(fits(block[0], side, side) for block in model.decoder[:2]):
        return model
    return _WinogradDeepLab(copy.deepcopy(model).eval(), size).eval()
