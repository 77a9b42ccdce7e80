"""Scanner sites: field strength, echo time, noise and each vendor's DICOM conventions.

A cohort is acquired at one site (the study's Siemens Skyra 3 T, the default) or at several
(``--sites multisite``): each subject is scanned at one site, sites taking turns over a seeded
permutation of the subjects so that every site holds the same number (give or take one). The
physics follows the site: the vein phase grows with field strength and echo time (dipole model),
the intravascular signal decays with them, and the SNR and the in-plane resolution are the
site's, and so are the slice thickness (1 mm at the study's Siemens 3 T, 1.4 mm GE SWAN, 2 mm
Philips 1.5 T, 0.8 mm at 7 T). The DICOM follows the
vendor: Siemens SWI (magnitude, phase, SWI, mIP), GE SWAN (the SWAN image, its phase in
milliradians, the mIP) and Philips SWIp (``SW_M_FFE`` and ``SW_P_FFE`` images with an empty
series description, phase in milliradians, the mIP).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["DEFAULT_SITES", "SITES", "Site", "assign_sites", "resolve_sites"]


@dataclass(frozen=True)
class Site:
    """One scanner and its SWI protocol.

    Attributes
    ----------
    name : str
        The site's name in the manifest.
    vendor : str
        ``siemens``, ``ge`` or ``philips``: the DICOM conventions.
    manufacturer, model, software, coil : str
        As the scanner writes them.
    field_t : float
        Field strength (T).
    te_ms, tr_ms, flip_deg : float
        The SWI echo time, repetition time and flip angle.
    snr : (float, float)
        Range of the white-matter SNR of the magnitude image.
    matrix_scale : float
        The SWI matrix relative to the preset's, over the same field of view (0.8: pixels 1.25x
        larger; 1.25: 0.8x).
    slice_mm : float
        SWI slice thickness and spacing (contiguous slices); the slab keeps the preset's extent,
        so a thinner slice means more slices.
    """

    name: str
    vendor: str
    manufacturer: str
    model: str
    software: str
    coil: str
    field_t: float
    te_ms: float
    tr_ms: float
    flip_deg: float
    snr: tuple[float, float]
    matrix_scale: float = 1.0
    slice_mm: float = 1.0

    def record(self) -> dict:
        """The site as the manifest records it."""
        return asdict(self)


#: The sites a cohort can be drawn from; ``siemens-3t`` is the study's protocol.
SITES: dict[str, Site] = {
    "siemens-3t": Site(
        "siemens-3t", "siemens", "SIEMENS", "Skyra", "syngo MR E11", "Head_32",
        3.0, 20.0, 28.0, 15.0, (25.0, 40.0),
    ),
    "ge-3t": Site(
        "ge-3t", "ge", "GE MEDICAL SYSTEMS", "DISCOVERY MR750", "DV26.0_R03", "32Ch Head",
        3.0, 25.0, 40.0, 15.0, (25.0, 40.0), 1.0, 1.4,
    ),
    "philips-1.5t": Site(
        "philips-1.5t", "philips", "Philips", "Ingenia", "5.7.1", "dS HeadNeck",
        1.5, 40.0, 50.0, 15.0, (15.0, 25.0), 0.8, 2.0,
    ),
    "siemens-7t": Site(
        "siemens-7t", "siemens", "SIEMENS", "MAGNETOM Terra", "syngo MR XA60", "Nova32",
        7.0, 15.0, 22.0, 10.0, (45.0, 70.0), 1.25, 0.8,
    ),
}  # fmt: skip
#: A single-site cohort: the study's scanner.
DEFAULT_SITES = ("siemens-3t",)


def resolve_sites(text: str | None) -> tuple[str, ...]:
    """Site names from ``--sites``: ``multisite`` (every site) or names separated by commas.

    Parameters
    ----------
    text : str, optional
        The option's value (default: the study's site).

    Returns
    -------
    tuple of str
        Known site names, without repeats, in the order given.
    """
    if not text:
        return DEFAULT_SITES
    if text.strip() == "multisite":
        return tuple(SITES)
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in SITES]
    if unknown or not names:
        raise ValueError(
            f"unknown site {', '.join(unknown) or repr(text)}; choose multisite or from "
            f"{', '.join(SITES)}"
        )
    return names


def assign_sites(n_subjects: int, sites: tuple[str, ...], seed: int) -> list[str]:
    """The site of each subject: sites take turns over a seeded permutation of the subjects.

    Parameters
    ----------
    n_subjects : int
        Cohort size.
    sites : tuple of str
        The sites.
    seed : int
        The cohort's seed.

    Returns
    -------
    list of str
        Site name by subject index; each site has ``n // k`` or ``n // k + 1`` subjects.
    """
    if len(sites) == 1:
        return [sites[0]] * n_subjects
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0x517E])).permutation(
        n_subjects
    )
    assigned = [""] * n_subjects
    for turn, index in enumerate(order):
        assigned[int(index)] = sites[turn % len(sites)]
    return assigned
