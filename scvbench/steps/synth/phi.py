"""Realistic fake protected health information for synthetic DICOM headers.

Every value is invented; they exist so that de-identification can be tested on headers that look
like a hospital's.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from scvbench.steps.synth.dicom import StudyInfo, uid

__all__ = ["fake_study"]

_FAMILY = [
    "MUELLER",
    "SCHMIDT",
    "WANG",
    "LI",
    "ZHANG",
    "GARCIA",
    "MARTIN",
    "ROSSI",
    "NOVAK",
    "KOWALSKI",
    "JOHANSSON",
    "DUBOIS",
    "TANAKA",
    "SATO",
    "KIM",
    "PARK",
    "NGUYEN",
    "SILVA",
    "HANSEN",
    "JANSEN",
    "BROWN",
    "WILSON",
    "TAYLOR",
    "CHEN",
    "LIU",
    "HUANG",
    "ZHAO",
    "WU",
]
_GIVEN = {
    "M": [
        "JOHN",
        "WEI",
        "LUCAS",
        "JONAS",
        "MATEO",
        "HIROSHI",
        "MINJUN",
        "PIOTR",
        "ERIK",
        "LIAM",
        "JUN",
        "HAO",
        "PAUL",
        "DAVID",
        "THOMAS",
    ],
    "F": [
        "ANNA",
        "MEI",
        "SOFIA",
        "EMMA",
        "YUKI",
        "JIWOO",
        "MARTA",
        "INGRID",
        "CLARA",
        "LING",
        "XIU",
        "MARIE",
        "JULIA",
        "ELENA",
        "HANNA",
    ],
}
_SITES = [
    ("CITY GENERAL HOSPITAL", "12 HARBOUR ROAD, EASTPORT"),
    ("ST. MARGARET UNIVERSITY HOSPITAL", "401 LINDEN AVENUE, NORTHFIELD"),
    ("RIVERSIDE MEDICAL CENTER", "88 MILL STREET, RIVERTON"),
]


def fake_study(
    patient_id: str, sex: str, age: int, rng: np.random.Generator, seed: int
) -> StudyInfo:
    """Invent one visit's patient and study attributes, consistent with ``sex`` and ``age``.

    Parameters
    ----------
    patient_id : str
        The PatientID.
    sex : str
        ``M`` or ``F``.
    age : int
        Age in years.
    rng : numpy.random.Generator
        The subject's random stream.
    seed : int
        The cohort's seed (for the UIDs).

    Returns
    -------
    StudyInfo
        Invented names, dates, institution and identifiers: the PHI ``convert`` must remove.
    """
    study_day = dt.date(2018, 1, 1) + dt.timedelta(days=int(rng.integers(0, 4 * 365)))
    birth = study_day - dt.timedelta(days=int(age * 365.25 + rng.integers(1, 360)))
    seconds = int(rng.integers(7 * 3600 + 1800, 19 * 3600))
    site, address = _SITES[int(rng.integers(len(_SITES)))]
    family = _FAMILY[int(rng.integers(len(_FAMILY)))]
    given = _GIVEN[sex][int(rng.integers(len(_GIVEN[sex])))]
    doctor_sex = "F" if rng.uniform() < 0.5 else "M"
    doctor = f"{_FAMILY[int(rng.integers(len(_FAMILY)))]}^{_GIVEN[doctor_sex][0]}"
    study_uid = uid("scvbench-synth", seed, patient_id, "study")
    return StudyInfo(
        patient_name=f"{family}^{given}",
        patient_id=patient_id,
        birth_date=birth.strftime("%Y%m%d"),
        sex=sex,
        age=int(age),
        weight_kg=int(rng.integers(48, 96)),
        study_date=study_day.strftime("%Y%m%d"),
        study_time=f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}",
        accession=f"A{int(rng.integers(10**7, 10**8))}",
        institution=site,
        institution_address=address,
        station=f"AWP{int(rng.integers(10000, 99999))}",
        referring_physician=f"DR^{doctor}",
        operator=f"{_FAMILY[int(rng.integers(len(_FAMILY)))]}^T",
        study_uid=study_uid,
        frame_of_reference_uid=uid(study_uid, "frame"),
    )
