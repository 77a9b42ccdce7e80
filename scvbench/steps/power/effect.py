"""The effect and the measurement error of ``scvbench power``: group distributions and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scvbench.core.agreement import ErrorModel, fit_error_model
from scvbench.errors import ScvbenchError
from scvbench.steps.synth.cohort import (
    COUNT_RANGE,
    DIAMETER_RANGE_MM,
    TORTUOSITY_RANGE,
    SplitNormal,
    effect_parameters,
)

__all__ = ["MEASURES", "error_from_limits", "load_effect", "measurement_error", "sampler"]

#: Measure name to (the evaluation's column, the range the generator keeps values in).
MEASURES = {
    "count": ("count", COUNT_RANGE),
    "diameter": ("diameter_mm", DIAMETER_RANGE_MM),
    "tortuosity": ("tortuosity", TORTUOSITY_RANGE),
}


def load_effect(effect: str, measure: str, hemisphere: str) -> dict:
    """The two groups' distributions of ``measure`` in ``hemisphere``.

    Parameters
    ----------
    effect : str
        ``paper`` or a JSON file: ``{"groups": ["DWML", "no DWML"], "group1": [median, q1, q3],
        "group0": [median, q1, q3], "discrete": false}`` (two more numbers per group give the
        lower and upper tail factors of :class:`scvbench.steps.synth.cohort.SplitNormal`).
    measure, hemisphere : str
        What is compared.

    Returns
    -------
    dict
        ``names`` (group 1, group 0), ``dist`` (two SplitNormal), ``discrete``, ``range``,
        ``source`` and ``ratio`` (the study's group sizes, for ``paper``).
    """
    if measure not in MEASURES:
        raise ScvbenchError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if hemisphere not in ("left", "right"):
        raise ScvbenchError(f"hemisphere must be left or right, got {hemisphere!r}")
    if effect == "paper":
        table = effect_parameters("paper")[f"{measure}_{hemisphere}"]
        if measure == "count":  # Table 2: count by sex (84 men, 80 women)
            keys, names, ratio = ("M", "F"), ("men", "women"), (84, 80)
        else:  # Table 3: by DWML (53 with, 111 without)
            keys, names, ratio = ("1", "0"), ("DWML", "no DWML"), (53, 111)
        dists = tuple(SplitNormal(*table[k]) for k in keys)
        return {
            "names": names,
            "dist": dists,
            "discrete": measure == "count",
            "range": MEASURES[measure][1],
            "source": "the study's Tables 2 and 3 (the synthetic cohort's distributions)",
            "ratio": ratio,
        }
    path = Path(effect)
    try:
        document = json.loads(path.read_text())
        groups = [document["group1"], document["group0"]]
        dists = tuple(SplitNormal(*map(float, g)) for g in groups)
    except FileNotFoundError:
        raise ScvbenchError(f"{path}: no such effect file; give paper or a JSON file") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ScvbenchError(
            f"{path}: not an effect file ({err}); write "
            '{"group1": [median, q1, q3], "group0": [median, q1, q3]}'
        ) from None
    for name, d in zip(("group1", "group0"), dists, strict=True):
        if not d.q1 <= d.median <= d.q3 or d.q1 == d.q3:
            raise ScvbenchError(f"{path}: {name} needs q1 <= median <= q3 and q1 < q3")
    return {
        "names": tuple(document.get("groups", ("group 1", "group 0"))),
        "dist": dists,
        "discrete": bool(document.get("discrete", False)),
        "range": (-np.inf, np.inf),
        "source": str(path),
        "ratio": None,
    }


def measurement_error(results_path: Path, measure: str, hemisphere: str) -> ErrorModel:
    """The error of one evaluation's measure: fitted to its pairs, else from its limits.

    Parameters
    ----------
    results_path : Path
        ``results.json`` of ``scvbench evaluate``.
    measure, hemisphere : str
        What is measured.

    Returns
    -------
    ErrorModel
        ``proportional`` or ``constant``.
    """
    column = MEASURES[measure][0]
    try:
        results = json.loads(Path(results_path).read_text())
    except FileNotFoundError:
        raise ScvbenchError(f"{results_path}: no such results file") from None
    except (OSError, ValueError) as err:
        raise ScvbenchError(f"{results_path}: not a results.json ({err})") from None
    agreement = (results.get("morphometry") or {}).get(hemisphere, {}).get(column)
    if not agreement or not agreement.get("n") or agreement.get("bias") is None:
        raise ScvbenchError(
            f"{results_path}: no morphometry agreement for {hemisphere} {measure}; evaluate a "
            "submission whose reference masks hold veins (scvbench evaluate)"
        )
    pairs_path = Path(results_path).with_name("morphometry.tsv")
    if pairs_path.is_file():
        pairs = pd.read_csv(pairs_path, sep="\t")
        part = pairs[pairs["hemisphere"] == hemisphere]
        if len(part) >= 3:
            return fit_error_model(part[f"{column}_reference"], part[f"{column}_submission"])
    return error_from_limits(agreement)


def error_from_limits(agreement: dict) -> ErrorModel:
    """A constant error from Bland-Altman bias and 95 % limits of agreement.

    Parameters
    ----------
    agreement : dict
        ``bias``, ``loa_low``, ``loa_high`` (and ``n``) of one measure and hemisphere.

    Returns
    -------
    ErrorModel
        ``constant``: the bias, and the SD the limits span (``(high - low) / (2 x 1.96)``).
    """
    sd = (agreement["loa_high"] - agreement["loa_low"]) / (2 * 1.959963984540054)
    return ErrorModel(
        "constant", float(agreement["bias"]), 0.0, float(sd), int(agreement.get("n") or 0)
    )


def sampler(chosen: dict):
    """``draw(group, shape, rng)``: true values of group 1 or 0 of a :func:`load_effect` result.

    Parameters
    ----------
    chosen : dict
        The effect.

    Returns
    -------
    callable
        Quantiles of uniform draws in (0.0005, 0.9995), kept in the effect's range.
    """
    dists, bounds = chosen["dist"], chosen["range"]

    def draw(group, shape, rng):
        u = rng.uniform(0.0005, 0.9995, shape)
        return np.clip(dists[0 if group == 1 else 1].ppf(u), *bounds)

    return draw
