"""Narrow transposed convolutions in sub-pixel form: the U-Net's output layer as exported for CPUs.

MONAI's U-Net ends in a transposed convolution (3 x 3, stride 2) from 32 channels to the two
class channels at full resolution, then an instance norm and a PReLU on those two channels.
OpenVINO's CPU kernels keep 16 channels per vector block, so on two channels both run at an
eighth of the cores' rate: 0.9 of the 5.7 ms a 256 x 256 slice took (``PERF_COUNT``, 2 cores).

Every output pixel ``(2i + a, 2j + b)`` of such a convolution (padding 1, output padding 1) is a
1 x 1, 1 x 2, 2 x 1 or 2 x 2 convolution of the input around ``(i, j)``, one for each phase
``(a, b)``. :class:`SubpixelUp` computes the four phases at once as one 2 x 2 convolution to
``4 x out`` channels (channel ``c * 4 + a * 2 + b``, the taps a phase does not use zero), applies
the norm and activation with each channel's four phases as one row (the instance norm's
statistics are over the whole channel, as before), and interleaves the phases
(``pixel_shuffle``, ONNX ``DepthToSpace``) last. The same function, to float rounding
(tested); 5.1 ms instead of 5.7 ms a slice (docs/predict.md). Wider layers are left as they are:
there the transposed convolution runs at full rate and the sub-pixel form, with 16 multiply-adds
for every 9, was slower (measured).

Only the export for CPU inference uses this form (:func:`subpixel_form`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SubpixelUp", "fits", "subpixel_form"]

#: The widest output the sub-pixel form is used for (measured: it pays on 2 channels, not on 16).
MAX_CHANNELS = 4

# For output phase a, the input offsets d (row i + d) and the kernel tap k each uses.
_TAPS = {0: ((0, 1),), 1: ((0, 2), (1, 0))}

# Modules that act on every element alone (a channel's four phases stay in its row).
_ELEMENTWISE = (nn.PReLU, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh)


def fits(conv: nn.Module) -> bool:
    """Whether ``conv`` is a transposed convolution :class:`SubpixelUp` takes.

    Parameters
    ----------
    conv : torch.nn.Module
        A layer.

    Returns
    -------
    bool
        True for a ``ConvTranspose2d`` with a 3 x 3 kernel, stride 2, padding 1, output
        padding 1, no dilation, one group and at most :data:`MAX_CHANNELS` outputs.
    """
    return (
        isinstance(conv, nn.ConvTranspose2d)
        and conv.kernel_size == (3, 3)
        and conv.stride == (2, 2)
        and conv.padding == (1, 1)
        and conv.output_padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.out_channels <= MAX_CHANNELS
    )


def _steps(adn: nn.Module | None) -> list[nn.Module] | None:
    """The layers after the convolution, in order; None where one is not supported."""
    steps = [] if adn is None else list(adn.children())
    for step in steps:
        if isinstance(step, nn.InstanceNorm2d):
            if step.track_running_stats:
                return None
        elif not isinstance(step, (nn.Dropout, *_ELEMENTWISE)):
            return None
    return steps


class SubpixelUp(nn.Module):
    """A transposed convolution (3 x 3, stride 2), its instance norm and activation, by phases.

    Parameters
    ----------
    conv : torch.nn.ConvTranspose2d
        The convolution (see :func:`fits`).
    steps : sequence of torch.nn.Module
        What follows it, in order: ``InstanceNorm2d`` (no running statistics), dropout (the
        identity in eval mode) and element-wise activations.
    """

    def __init__(self, conv: nn.ConvTranspose2d, steps=()):
        super().__init__()
        if not fits(conv) or _steps(nn.Sequential(*steps)) is None:
            raise ValueError(
                "SubpixelUp needs a ConvTranspose2d (3x3, stride 2, padding 1, output padding "
                f"1, one group, at most {MAX_CHANNELS} outputs) followed by instance norms, "
                f"dropout or element-wise activations, got {conv} and {list(steps)}"
            )
        weight = conv.weight.detach()  # (in, out, 3, 3)
        cin, cout = weight.shape[:2]
        phases = torch.zeros(cout, 2, 2, cin, 2, 2)
        for a in (0, 1):
            for b in (0, 1):
                for dr, kr in _TAPS[a]:
                    for dc, kc in _TAPS[b]:
                        phases[:, a, b, :, dr, dc] = weight[:, :, kr, kc].t()
        self.register_buffer("weight", phases.reshape(4 * cout, cin, 2, 2).contiguous())
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(cout)
        self.register_buffer("bias", bias.repeat_interleave(4).clone())
        self.channels = int(cout)
        self.steps = nn.ModuleList(copy.deepcopy(list(steps)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, in, h, w)`` -> ``(n, out, 2h, 2w)``: the transposed convolution and its steps."""
        phases = F.conv2d(F.pad(x, (0, 1, 0, 1)), self.weight, self.bias)
        rows = phases.reshape(phases.shape[0], self.channels, -1)  # a channel's phases, one row
        for step in self.steps:
            if isinstance(step, nn.InstanceNorm2d):
                centred = rows - rows.mean(-1, keepdim=True)
                variance = (centred * centred).mean(-1, keepdim=True)
                rows = centred / torch.sqrt(variance + step.eps)
                if step.affine:
                    rows = rows * step.weight.view(1, -1, 1) + step.bias.view(1, -1, 1)
            elif not isinstance(step, nn.Dropout):  # an element-wise activation
                rows = step(rows)
        return F.pixel_shuffle(rows.reshape(phases.shape), 2)


def subpixel_form(model: nn.Module) -> nn.Module:
    """The network to export for CPU inference, its narrow upsampling layers in sub-pixel form.

    Parameters
    ----------
    model : torch.nn.Module
        A network in eval mode.

    Returns
    -------
    torch.nn.Module
        A copy in which every layer made of a transposed convolution that :func:`fits` (a
        MONAI ``Convolution``: ``conv`` and optionally ``adn``, or the bare convolution) is a
        :class:`SubpixelUp`; ``model`` itself where there is none.
    """
    targets: list[str] = []
    for name, module in model.named_modules():
        inside = any(name.startswith(f"{target}.") for target in targets)
        if name and not inside and _parts(module) is not None:
            targets.append(name)
    if not targets:
        return model
    form = copy.deepcopy(model).eval()
    for name in targets:
        parent, _, leaf = name.rpartition(".")
        holder = form.get_submodule(parent)
        setattr(holder, leaf, SubpixelUp(*_parts(getattr(holder, leaf))))
    return form


def _parts(module: nn.Module) -> tuple[nn.ConvTranspose2d, list[nn.Module]] | None:
    """The convolution and the steps after it of a layer :class:`SubpixelUp` replaces, or None."""
    conv = module if isinstance(module, nn.ConvTranspose2d) else getattr(module, "conv", None)
    if not isinstance(conv, nn.Module) or not fits(conv):
        return None
    if module is conv:
        return conv, []
    if set(name for name, _ in module.named_children()) - {"conv", "adn"}:
        return None
    steps = _steps(getattr(module, "adn", None))
    return None if steps is None else (conv, steps)
