"""Cohort presets of the synthetic generator and the study's protocol constants."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "Preset", "get_preset"]

#: SWI field of view in mm: rows span anterior-posterior, columns span right-left (88 % phase FOV).
SWI_FOV_MM = (220.0, 193.6)
#: FLAIR field of view in mm (rows, columns).
FLAIR_FOV_MM = (240.0, 240.0)


@dataclass(frozen=True)
class Preset:
    """Size of a synthetic cohort and of its images.

    Attributes
    ----------
    name : str
        Preset name.
    n_subjects : int
        Default number of subjects.
    swi_matrix : (int, int)
        SWI rows x columns; the field of view stays that of the study (220 x 193.6 mm), so a smaller
        matrix means larger pixels.
    swi_slices : int
        Number of 1 mm SWI slices (an axial slab around the lateral ventricles).
    flair_matrix : (int, int)
        FLAIR rows x columns (FOV 240 x 240 mm).
    flair_slices : int
        Number of 5 mm FLAIR slices (1 mm gap).
    """

    name: str
    n_subjects: int
    swi_matrix: tuple[int, int]
    swi_slices: int
    flair_matrix: tuple[int, int]
    flair_slices: int

    @property
    def swi_pixel_mm(self) -> tuple[float, float]:
        """SWI pixel spacing (row, column) in mm."""
        return (SWI_FOV_MM[0] / self.swi_matrix[0], SWI_FOV_MM[1] / self.swi_matrix[1])

    @property
    def flair_pixel_mm(self) -> tuple[float, float]:
        """FLAIR pixel spacing (row, column) in mm."""
        return (FLAIR_FOV_MM[0] / self.flair_matrix[0], FLAIR_FOV_MM[1] / self.flair_matrix[1])


PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", 6, (160, 160), 56, (96, 68), 18),
    "demo": Preset("demo", 30, (256, 256), 64, (232, 162), 20),
    "paper": Preset("paper", 364, (352, 352), 72, (320, 224), 22),
}


def get_preset(name: str) -> Preset:
    """Return the preset called ``name``; unknown names raise ``ValueError`` listing the choices.

    Parameters
    ----------
    name : str
        ``tiny``, ``demo`` or ``paper``.

    Returns
    -------
    Preset
        Image and cohort size.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
