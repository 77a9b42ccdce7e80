"""The Winograd form of DeepLabV3+'s decoder: the same function as the convolutions it replaces."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scvbench.models import create_model
from scvbench.models.winograd import WinogradConv, export_form, fits
from scvbench.steps.train import RECIPES


def _conv_bn(cin, cout, seed):
    torch.manual_seed(seed)
    conv, norm = nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.BatchNorm2d(cout)
    norm.running_mean.uniform_(-0.3, 0.3)
    norm.running_var.uniform_(0.5, 2.0)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.bias.data.uniform_(-0.2, 0.2)
    return conv, norm.eval()


def _rows(image):  # (1, c, h, w) -> (h * w, c) in raster order
    return image[0].reshape(image.shape[1], -1).t()


def _from_tiles(rows, height, width):  # tile layout -> (1, c, h, w)
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    tiles = (height // 4) * (width // 4)
    index = ((y % 4) * 4 + x % 4) * tiles + (y // 4) * (width // 4) + x // 4
    return rows[index.reshape(-1)].t().reshape(1, -1, height, width)


def test_two_winograd_convolutions_equal_the_direct_ones():
    # a non-square input, a raster input, then a tile-layout one: every index is exercised
    height, width = 8, 12
    conv0, norm0 = _conv_bn(5, 7, 0)
    conv1, norm1 = _conv_bn(7, 3, 1)
    image = torch.randn(1, 5, height, width)
    with torch.no_grad():
        direct0 = torch.relu(norm0(conv0(image)))
        direct1 = torch.relu(norm1(conv1(direct0)))
        first = WinogradConv(conv0, norm0, height, width, tiled=False)(_rows(image))
        second = WinogradConv(conv1, norm1, height, width, tiled=True)(first)
    torch.testing.assert_close(_from_tiles(first, height, width), direct0, rtol=0, atol=2e-5)
    torch.testing.assert_close(_from_tiles(second, height, width), direct1, rtol=0, atol=2e-5)
    # an input that brings its own zero rows (padded=True) reads its padding from them
    rows = torch.cat([_rows(image), torch.zeros(width, 5)])
    with torch.no_grad():
        first_padded = WinogradConv(conv0, norm0, height, width, tiled=False, padded=True)(rows)
    torch.testing.assert_close(first_padded, first, rtol=0, atol=1e-6)


def test_only_plain_3x3_convolutions_fit():
    assert fits(nn.Conv2d(4, 4, 3, padding=1), 8, 8)
    assert not fits(nn.Conv2d(4, 4, 3, padding=1), 8, 6)  # not a multiple of 4
    assert not fits(nn.Conv2d(4, 4, 3, padding=2, dilation=2), 8, 8)
    assert not fits(nn.Conv2d(4, 4, 3, padding=1, stride=2), 8, 8)
    assert not fits(nn.Conv2d(4, 4, 1), 8, 8)
    with pytest.raises(ValueError, match="3x3"):
        WinogradConv(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), 8, 8, tiled=False)


def test_deeplab_export_form_gives_the_networks_logits():
    torch.manual_seed(0)
    net = create_model("deeplabv3plus", **RECIPES["cpu"]["model_config"]["deeplabv3plus"]).eval()
    for module in net.modules():  # batch-norm statistics away from the identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    form = export_form(net, 64)
    assert form is not net and not form.training
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        want, got = net(x), form(x)
    assert got.shape == want.shape
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    assert torch.equal(got.argmax(1), want.argmax(1))
    # the network itself is untouched
    assert all(isinstance(block[0], nn.Conv2d) for block in net.decoder[:2])


def test_other_networks_and_sizes_are_exported_as_they_are():
    net = create_model("deeplabv3plus", **RECIPES["cpu"]["model_config"]["deeplabv3plus"]).eval()
    assert export_form(net, 72) is net  # its decoder would run at 18 x 18
    unet = create_model("unet", **RECIPES["cpu"]["model_config"]["unet"]).eval()
    assert export_form(unet, 64) is unet
