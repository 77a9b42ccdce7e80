"""Association reproduction: same table reproduces everything; a lost effect is caught."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scvbench.core.association import PUBLISHED, compare, reproduction


def _cohort(seed=0, n=60, effect=0.15):
    rng = np.random.default_rng(seed)
    dwml = rng.integers(0, 2, n).astype(float)
    sex = rng.choice(["M", "F"], n)
    table = pd.DataFrame(
        {
            "participant_id": [f"sub-{i:03d}" for i in range(n)],
            "sex": sex,
            "dwml": dwml,
            "age": rng.integers(20, 40, n),
        }
    )
    for side in ("left", "right"):
        table[f"diameter_{side}"] = rng.normal(1.3, 0.1, n)
        table[f"tortuosity_{side}"] = rng.normal(1.2, 0.05, n) + (
            effect * dwml if side == "right" else 0
        )
        table[f"count_{side}"] = rng.poisson(5, n) + (sex == "M") * 2
    return table


def test_the_same_morphometry_reproduces_every_conclusion():
    table = _cohort()
    result = reproduction(table, table)
    assert result["reference"]["reproduction_score"] == 1.0
    assert len(result["reference"]["tests"]) == 12
    assert all(t["delta_Z"] == 0 for t in result["reference"]["tests"])
    assert result["logistic"]["terms"] == ["tortuosity_right"]
    assert result["logistic"]["odds_ratio_ratio"]["tortuosity_right"] == pytest.approx(1.0)


def test_a_lost_effect_is_not_reproduced():
    reference = _cohort()
    flat = reference.copy()
    flat["tortuosity_right"] = np.random.default_rng(5).permutation(flat["tortuosity_right"])
    result = reproduction(flat, reference)
    tests = {
        (t["comparison"], t["measure"], t["hemisphere"]): t for t in result["reference"]["tests"]
    }
    assert not tests[("dwml", "tortuosity", "right")]["reproduced"]
    assert tests[("sex", "count", "left")]["reproduced"]
    assert result["reference"]["reproduction_score"] < 1.0


def test_against_the_published_study():
    table = _cohort()
    result = reproduction(table, table, published="paper")
    published = result["published"]
    assert len(published["tests"]) == len(PUBLISHED["paper"]["mann_whitney"])
    tests = {(t["comparison"], t["measure"], t["hemisphere"]): t for t in published["tests"]}
    # the effects built in are the study's: right tortuosity by DWML, count by sex
    assert tests[("dwml", "tortuosity", "right")]["reproduced"]
    assert tests[("sex", "count", "right")]["reproduced"]
    assert published["logistic"]["tortuosity_right"]["odds_ratio_published"] == 7.649
    odds = published["logistic"]["tortuosity_right"]
    assert odds["odds_ratio_reference"] == odds["odds_ratio"]  # the same table both sides


def test_untestable_groups_count_as_not_reproduced():
    result = compare(
        {
            "mann_whitney": [
                {
                    "comparison": "dwml",
                    "measure": "count",
                    "hemisphere": "left",
                    "Z": None,
                    "p": None,
                }
            ]
        },
        {
            "mann_whitney": [
                {
                    "comparison": "dwml",
                    "measure": "count",
                    "hemisphere": "left",
                    "Z": -1.0,
                    "p": 0.3,
                }
            ]
        },
    )
    assert result["reproduction_score"] == 0.0  # the submission could not run it
    small = _cohort(n=4)  # nobody can run a test: no score rather than 0
    assert reproduction(small, small)["reference"]["reproduction_score"] is None
