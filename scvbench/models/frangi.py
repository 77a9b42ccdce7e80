"""Frangi vesselness with a threshold tuned on the training slices: the classical baseline.

``skimage.filters.frangi`` (Frangi et al. 1998) for dark ridges (veins are dark on the MinIP) at
scales ``sigmas`` (pixels), computed inside the brain only. Nothing is learned by gradient:
:meth:`FrangiVesselness.tune` picks the vesselness threshold that maximises the mean Dice of the
training slices (a grid over quantiles of the vesselness), so the threshold never sees the
validation or test participants. The module's forward returns two-class logits whose softmax
puts probability 0.5 exactly at the threshold, so it plugs into training, prediction and the
model contract like the networks; its state (scales and threshold) is a buffer and saves with
the weights.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.filters import frangi
from torch import nn

__all__ = ["FrangiVesselness"]


class FrangiVesselness(nn.Module):
    """Frangi vesselness thresholded into vein logits (channel 1 = vein)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 2, sigmas=(1.0, 1.5, 2.0, 3.0)):
        super().__init__()
        if in_channels != 1 or out_channels != 2:
            raise ValueError("frangi takes one input channel and gives two classes")
        self.register_buffer("sigmas", torch.tensor(sigmas, dtype=torch.float64))
        self.register_buffer("threshold", torch.tensor(0.05, dtype=torch.float64))

    def vesselness(self, images: np.ndarray) -> np.ndarray:
        """Vesselness of (n, 1, rows, cols) normalised images."""
        sigmas = self.sigmas.tolist()
        return np.stack(
            [frangi(np.asarray(x[0], np.float64), sigmas=sigmas, black_ridges=True) for x in images]
        )[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (background 0, vein (v - t) / (0.1 t)): softmax is 0.5 at the threshold."""
        v = torch.from_numpy(self.vesselness(x.detach().cpu().numpy())).to(x.dtype)
        t = float(self.threshold)
        vein = (v - t) / max(0.1 * t, 1e-6)
        return torch.cat([torch.zeros_like(vein), vein], dim=1).to(x.device)

    def tune(self, images: np.ndarray, labels: np.ndarray, brains: np.ndarray) -> float:
        """Set the threshold that maximises the mean Dice over the slices; returns that Dice."""
        v = self.vesselness(images)[:, 0]
        y = labels[:, 0] > 0
        b = brains[:, 0] > 0
        inside = v[b]
        candidates = np.unique(np.quantile(inside, np.linspace(0.5, 0.995, 100)))
        candidates = candidates[candidates > 0]
        best, best_t = -1.0, float(self.threshold)
        for t in candidates:
            p = (v >= t) & b
            scores = []
            for pi, yi, bi in zip(p, y, b, strict=True):
                yi = yi & bi
                total = pi.sum() + yi.sum()
                scores.append(1.0 if total == 0 else 2.0 * (pi & yi).sum() / total)
            score = float(np.mean(scores))
            if score > best:
                best, best_t = score, float(t)
        self.threshold.fill_(best_t)
        return best
