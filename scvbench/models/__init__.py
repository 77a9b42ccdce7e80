"""Segmentation models by name: ``create_model(name, **config)``.

Built in: ``deeplabv3plus`` (the study's architecture, :mod:`scvbench.models.deeplabv3plus`),
``unet`` (MONAI ``UNet``, residual units), ``attention_unet`` (MONAI ``AttentionUnet``) and
``frangi`` (skimage's Frangi vesselness, threshold tuned on the training slices). Every
model maps a (batch, ``in_channels``, H, W) float tensor to (batch, ``out_channels``, H, W)
logits (channel 1 = vein) for H and W divisible by 16. Other packages add models through the
entry-point group ``scvbench.models``: each entry point names a callable taking the same keyword
configuration and returning a ``torch.nn.Module``; ``tests/test_models.py`` runs every registered
model through one contract test (shapes, determinism, save and load with ``weights_only=True``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from scvbench.errors import ScvbenchError

# MONAI and the networks (torch) are imported inside the functions that use them: heavy, and not
# needed by the commands that only import this module.

__all__ = ["ENTRY_POINT_GROUP", "available_models", "check_name", "create_model"]

ENTRY_POINT_GROUP = "scvbench.models"


def _deeplabv3plus(in_channels=1, out_channels=2, depth=50, dropout=0.1, **kwargs):
    from scvbench.models.deeplabv3plus import DeepLabV3Plus

    return DeepLabV3Plus(in_channels, out_channels, depth=depth, dropout=dropout, **kwargs)


def _unet(in_channels=1, out_channels=2, channels=(32, 64, 128, 256, 512), dropout=0.1, **kwargs):
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=tuple(channels),
        strides=(2,) * (len(channels) - 1),
        num_res_units=kwargs.pop("num_res_units", 2),
        dropout=dropout,
        **kwargs,
    )


def _attention_unet(
    in_channels=1, out_channels=2, channels=(32, 64, 128, 256, 512), dropout=0.1, **kwargs
):
    from monai.networks.nets import AttentionUnet

    return AttentionUnet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=tuple(channels),
        strides=(2,) * (len(channels) - 1),
        dropout=dropout,
        **kwargs,
    )


def _frangi(in_channels=1, out_channels=2, sigmas=(1.0, 1.5, 2.0, 3.0), **kwargs):
    from scvbench.models.frangi import FrangiVesselness

    return FrangiVesselness(in_channels, out_channels, sigmas=tuple(sigmas), **kwargs)


_BUILTIN: dict[str, Callable[..., Any]] = {
    "deeplabv3plus": _deeplabv3plus,
    "unet": _unet,
    "attention_unet": _attention_unet,
    "frangi": _frangi,
}


def _registry() -> dict[str, Callable[..., Any]]:
    models = dict(_BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in models:
            continue  # a plug-in cannot replace a built-in model
        models[entry.name] = entry.load
    return models


def available_models() -> list[str]:
    """Names of the built-in and plugged-in models."""
    return sorted(_registry())


def check_name(name: str) -> None:
    """Raise one error for an unknown model name, suggesting the nearest ones."""
    models = _registry()
    if name not in models:
        close = difflib.get_close_matches(name, models, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ScvbenchError(
            f"unknown model {name!r}{hint} (available: {', '.join(sorted(models))})"
        )


def create_model(name: str, **config: Any):
    """A new model ``name`` built with ``config``; an unknown name suggests the nearest ones."""
    check_name(name)
    models = _registry()
    factory = models[name]
    if name not in _BUILTIN:  # an entry point: load it, then call it
        factory = factory()
    try:
        return factory(**config)
    except TypeError as err:
        raise ScvbenchError(f"model {name!r}: bad configuration {config} ({err})") from None
