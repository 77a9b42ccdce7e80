"""The sub-pixel form of narrow transposed convolutions: the function of the layers it replaces."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scvbench.models import create_model
from scvbench.models.subpixel import SubpixelUp, fits, subpixel_form
from scvbench.steps.train import RECIPES


def _layers(cin, cout, seed):
    torch.manual_seed(seed)
    conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
    norm = nn.InstanceNorm2d(cout, affine=True)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.bias.data.uniform_(-0.3, 0.3)
    act = nn.PReLU(cout)
    act.weight.data.uniform_(0.05, 0.4)
    return conv, norm, act


def test_the_phases_equal_the_transposed_convolution_norm_and_activation():
    # a non-square input, a batch of two, per-channel norm and activation parameters: a wrong
    # tap, phase or channel order fails it
    conv, norm, act = _layers(5, 3, 0)
    steps = [norm, nn.Dropout(0.5), act]
    x = torch.randn(2, 5, 6, 9)
    with torch.no_grad():
        direct = act(norm(conv(x)))
        bare = conv(x)
        phased = SubpixelUp(conv, steps).eval()(x)
        phased_bare = SubpixelUp(conv).eval()(x)
    assert phased.shape == direct.shape == (2, 3, 12, 18)
    torch.testing.assert_close(phased, direct, rtol=0, atol=2e-5)
    torch.testing.assert_close(phased_bare, bare, rtol=0, atol=2e-5)


def test_only_narrow_stride_2_transposed_convolutions_fit():
    def up(cout=2, **kw):
        settings = dict(kernel_size=3, stride=2, padding=1, output_padding=1) | kw
        return nn.ConvTranspose2d(8, cout, **settings)

    assert fits(up())
    assert not fits(up(cout=16))  # wide: the direct kernel runs at full rate
    assert not fits(up(output_padding=0))
    assert not fits(up(stride=1, output_padding=0))
    assert not fits(up(kernel_size=2, padding=0, output_padding=0))
    assert not fits(nn.Conv2d(8, 2, 3, padding=1))
    with pytest.raises(ValueError, match="ConvTranspose2d"):
        SubpixelUp(up(cout=16))
    with pytest.raises(ValueError, match="instance norms"):
        SubpixelUp(up(), [nn.BatchNorm2d(2)])  # per-channel, but not supported: refused


def test_unet_export_form_gives_the_networks_logits():
    torch.manual_seed(0)
    net = create_model("unet", **RECIPES["cpu"]["model_config"]["unet"]).eval()
    form = subpixel_form(net)
    assert form is not net
    assert sum(isinstance(m, SubpixelUp) for m in form.modules()) == 1  # the 2-channel output
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in net.modules()) == 4  # net untouched
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        expected, got = net(x), form(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))
    for name in ("attention_unet", "deeplabv3plus"):  # nothing narrow to replace
        other = create_model(name, **RECIPES["cpu"]["model_config"][name]).eval()
        assert subpixel_form(other) is other
