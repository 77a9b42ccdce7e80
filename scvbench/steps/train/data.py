"""2-D training and inference data: MinIP slices, brain masks and reference vein masks.

A **case** is one axial MinIP slice of one participant: the image (scaled so that the brain's
1st-99th percentile maps to 0-1), its brain mask and, for training, its reference vein mask, as
``(1, rows, cols)`` arrays in the MinIP's RAS+ voxel order (rows = left-right).

:class:`Fit` brings a slice to the network's square size (512 by default) and back: a slice that
fits is zero-padded symmetrically (the inverse crops the same pixels: exact); a larger one is
first scaled down by one factor for both axes (bilinear for images and probabilities, nearest
for masks) and the inverse scales the prediction back to the original grid.

:func:`train_transforms` are the study's augmentations as MONAI dictionary transforms:
translation, rotation, left-right mirroring (the hemispheres swap; veins look alike on both
sides) and Gaussian noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.transform import resize

from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.errors import ScvbenchError
from scvbench.io import load_canonical
from scvbench.steps.splits import labelled_slices

# MONAI is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = [
    "Case",
    "Fit",
    "PatchSampler",
    "draw_batch",
    "load_cases",
    "normalise",
    "train_transforms",
]


@dataclass
class Case:
    """One MinIP slice: ``image``, ``brain`` and (reference) ``label`` as (1, rows, cols)."""

    participant_id: str
    slice: int
    image: np.ndarray
    brain: np.ndarray
    label: np.ndarray | None = None

    def as_dict(self) -> dict:
        """The dictionary MONAI transforms work on."""
        out = {"image": self.image, "brain": self.brain}
        if self.label is not None:
            out["label"] = self.label
        return out


def normalise(image: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Scale so that the brain's 1st and 99th percentiles map to 0 and 1 (clipped to -1..2).

    Parameters
    ----------
    image : ndarray
        A MinIP slice.
    brain : ndarray of bool
        Its brain mask.

    Returns
    -------
    ndarray of float32
        The normalised slice.
    """
    values = image[brain > 0] if (brain > 0).any() else image.ravel()
    low, high = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
    scale = high - low if high > low else 1.0
    return np.clip((image - low) / scale, -1.0, 2.0).astype(np.float32)


def _load(path: Path):

    if not path.is_file():
        raise ScvbenchError(f"{path}: missing; run scvbench derive (and annotations import)")
    return load_canonical(path)


def load_cases(
    bids_dir: str | Path,
    participants: list[str],
    rater: str | None = None,
    slices: dict[str, list[int]] | None = None,
    derivatives: str | Path | None = None,
) -> list[Case]:
    """The cases of ``participants``: their reference-labelled slices (``rater``'s masks).

    Without ``rater`` no labels are loaded and ``slices`` (participant -> slice indices, default
    the MinIP's analysis slices) says which slices to take. ``derivatives`` is the folder
    holding the ``scvbench`` derivatives (default ``BIDS_DIR/derivatives``).

    Parameters
    ----------
    bids_dir : path
        The derived dataset.
    participants : list of str
        ``sub-<label>`` ids.
    rater : str, optional
        Whose reference masks.
    slices : dict, optional
        Participant to slices, for participants without reference masks.
    derivatives : path, optional
        Where the ``scvbench`` derivatives are.

    Returns
    -------
    list of Case
        One per slice.
    """
    bids_dir = Path(bids_dir)
    deriv = layout.derivative_dir(bids_dir, "scvbench", derivatives)
    cases = []
    for pid in participants:
        label = pid.removeprefix("sub-")
        minip, affine = _load(deriv / DERIVATIVES["minip"].relpath(label))
        brain, brain_affine = _load(deriv / DERIVATIVES["brain_mask"].relpath(label))
        if brain.shape != minip.shape or not np.allclose(brain_affine, affine, atol=1e-3):
            raise ScvbenchError(f"sub-{label}: brain mask and MinIP are on different grids")
        mask = None
        if rater is not None:
            path = (
                bids_dir
                / "derivatives"
                / "annotations"
                / DERIVATIVES["vein_mask"].relpath(label, desc=rater)
            )
            mask, mask_affine = _load(path)
            if mask.shape != minip.shape or not np.allclose(mask_affine, affine, atol=1e-3):
                raise ScvbenchError(f"{path}: not on the MinIP grid {minip.shape}")
            wanted = labelled_slices(path)
        elif slices is not None and pid in slices:
            wanted = slices[pid]
        else:
            sidecar = deriv / DERIVATIVES["minip"].relpath(label, ".json")
            wanted = json.loads(sidecar.read_text()).get("AnalysisSlices", [])
        for k in sorted(int(k) for k in wanted):
            if not 0 <= k < minip.shape[2]:
                raise ScvbenchError(f"sub-{label}: slice {k} outside 0..{minip.shape[2] - 1}")
            b = (brain[:, :, k] > 0).astype(np.uint8)
            cases.append(
                Case(
                    participant_id=f"sub-{label}",
                    slice=k,
                    image=normalise(np.asarray(minip[:, :, k], np.float32), b)[None],
                    brain=b[None],
                    label=None if mask is None else (mask[:, :, k] > 0).astype(np.uint8)[None],
                )
            )
    return cases


@dataclass(frozen=True)
class Fit:
    """Bring (channels, rows, cols) arrays to (channels, size, size) and back.

    Examples
    --------
    >>> fit = Fit(8)
    >>> x = np.arange(30, dtype=np.float32).reshape(1, 5, 6)
    >>> y = fit.forward(x)
    >>> y.shape
    (1, 8, 8)
    >>> bool((fit.inverse(y, (5, 6)) == x).all())
    True
    """

    size: int = 512

    def _scale(self, shape: tuple[int, int]) -> float:
        return min(1.0, self.size / max(shape))

    def _pads(self, shape: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        scale = self._scale(shape)
        inner = [min(self.size, round(n * scale)) for n in shape]
        return tuple(((self.size - n) // 2, self.size - n - (self.size - n) // 2) for n in inner)

    def forward(self, array: np.ndarray, order: int = 1) -> np.ndarray:
        """(c, rows, cols) -> (c, size, size); ``order`` 0 for masks, 1 for images."""
        shape = array.shape[-2:]
        scale = self._scale(shape)
        if scale < 1.0:
            target = tuple(min(self.size, round(n * scale)) for n in shape)
            array = np.stack(
                [
                    resize(a, target, order=order, preserve_range=True, anti_aliasing=order > 0)
                    for a in array
                ]
            ).astype(array.dtype)
        (top, bottom), (left, right) = self._pads(shape)
        return np.pad(array, ((0, 0), (top, bottom), (left, right)))

    def inverse(self, array: np.ndarray, shape: tuple[int, int], order: int = 1) -> np.ndarray:
        """(c, size, size) -> (c, rows, cols) on the original grid ``shape``."""
        (top, bottom), (left, right) = self._pads(shape)
        array = array[..., top : self.size - bottom, left : self.size - right]
        if array.shape[-2:] != tuple(shape):
            array = np.stack(
                [resize(a, shape, order=order, preserve_range=True) for a in array]
            ).astype(array.dtype)
        return array


def train_transforms(
    seed: int = 0,
    translate: float = 0.1,
    rotate_deg: float = 15.0,
    flip: float = 0.5,
    noise_std: float = 0.05,
    size: int = 512,
    patch: int = 0,
):
    """The study's augmentation: translation, rotation, left-right mirror, Gaussian noise.

    With ``patch``, the output is the ``patch`` x ``patch`` centre of the (larger) input window,
    translated by up to ``translate`` of the patch size.

    Parameters
    ----------
    seed : int
        Seed of the random transforms.
    translate : float
        Largest shift, as a fraction of the size.
    rotate_deg : float
        Largest rotation in degrees.
    flip : float
        Probability of a left-right mirror.
    noise_std : float
        Standard deviation of the Gaussian noise.
    size : int
        The input size.
    patch : int
        Output size of a patch recipe (0: the input's size).

    Returns
    -------
    monai.transforms.Compose
        Dictionary transforms of ``image``, ``label`` and ``brain``.
    """
    from monai.transforms import (
        Compose,
        RandAffined,
        RandFlipd,
        RandGaussianNoised,
    )

    keys = ["image", "label", "brain"]
    span = patch or size
    transforms = Compose(
        [
            RandAffined(
                keys=keys,
                prob=1.0,
                rotate_range=np.deg2rad(rotate_deg),
                translate_range=(translate * span, translate * span),
                spatial_size=(patch, patch) if patch else None,
                mode=("bilinear", "nearest", "nearest"),
                padding_mode="zeros",
            ),
            RandFlipd(keys=keys, prob=flip, spatial_axis=0),  # rows = left-right (RAS+)
            RandGaussianNoised(keys=["image"], prob=0.5, std=noise_std),
        ]
    )
    transforms.set_random_state(seed=seed)
    return transforms


class PatchSampler:
    """Where a patch recipe crops: vein pixels at a chosen rate, else anywhere in the brain.

    nnU-Net's foreground oversampling: a share ``foreground`` of the patches is centred on a
    vein pixel of the slice (when it has one), the rest on a brain pixel, so that a small patch
    still sees veins in most steps. The pixel lists are built once per run.

    Parameters
    ----------
    labels, brains : ndarray
        The training slices' vein and brain masks, ``(n, 1, size, size)``.
    patch : int
        The patch size; the window cut around a centre is large enough for the rotation and
        translation of :func:`train_transforms` to stay inside it.
    foreground : float
        Share of patches centred on a vein pixel.
    """

    def __init__(self, labels: np.ndarray, brains: np.ndarray, patch: int, foreground: float):
        self.patch = int(patch)
        self.window = int(np.ceil(1.6 * patch / 16) * 16)
        self.foreground = float(foreground)
        self.veins = [np.flatnonzero(m[0] > 0) for m in labels]
        self.brain = [np.flatnonzero(m[0] > 0) for m in brains]
        self.shape = labels.shape[-2:]

    def centre(self, rng: np.random.Generator, index: int) -> tuple[int, int]:
        """A crop centre in slice ``index`` (two draws from ``rng`` whatever the slice holds)."""
        on_vein = rng.random() < self.foreground
        pick = rng.random()
        pool = self.veins[index] if on_vein and len(self.veins[index]) else self.brain[index]
        if not len(pool):
            return self.shape[0] // 2, self.shape[1] // 2
        row, col = np.unravel_index(pool[min(int(pick * len(pool)), len(pool) - 1)], self.shape)
        return int(row), int(col)

    def cut(self, array: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
        """The window of ``(c, rows, cols)`` around ``centre`` (zeros beyond the slice)."""
        half = self.window // 2
        out = np.zeros((array.shape[0], self.window, self.window), array.dtype)
        r0, c0 = centre[0] - half, centre[1] - half
        rows = slice(max(r0, 0), min(r0 + self.window, array.shape[1]))
        cols = slice(max(c0, 0), min(c0 + self.window, array.shape[2]))
        out[:, rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = array[
            :, rows, cols
        ]
        return out


def draw_batch(
    images: np.ndarray,
    labels: np.ndarray,
    brains: np.ndarray,
    transforms,
    seed: int,
    step: int,
    batch_size: int,
    sampler: PatchSampler | None = None,
):
    """The batch of ``step``: slices, crops and augmentation drawn from ``(seed, step)`` only.

    A resumed run draws every later batch as the uninterrupted run did. Without ``sampler``
    the whole slices are augmented; with it each slice is cut to a window around a drawn centre
    and the augmentation returns the patch.

    Parameters
    ----------
    images, labels, brains : ndarray
        The training slices, ``(n, 1, size, size)``.
    transforms : monai.transforms.Compose
        :func:`train_transforms` (with ``patch`` for a sampler).
    seed, step : int
        The run's seed and the step.
    batch_size : int
        Slices per batch.
    sampler : PatchSampler, optional
        Where patches are cut.

    Returns
    -------
    tuple of torch.Tensor
        Images and labels, ``(batch, 1, side, side)``.
    """
    import torch

    rng = np.random.default_rng([seed, step])
    index = rng.integers(0, len(images), batch_size)
    transforms.set_random_state(seed=int(rng.integers(2**31)))
    xs, ys = [], []
    for i in index:
        sample = {"image": images[i], "label": labels[i], "brain": brains[i]}
        if sampler is not None:
            centre = sampler.centre(rng, int(i))
            sample = {key: sampler.cut(value, centre) for key, value in sample.items()}
        out = transforms(sample)
        xs.append(torch.as_tensor(np.asarray(out["image"]), dtype=torch.float32))
        ys.append(torch.as_tensor(np.asarray(out["label"]), dtype=torch.float32).round())
    return torch.stack(xs), torch.stack(ys)
