"""``scvbench stats``: SPSS-style tests checked against scipy, R and pingouin; the paper layout."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import assert_no_phi, phi_values
from scipy import stats as sps

from scvbench.cli import main
from scvbench.core.stats import describe, logistic, mann_whitney, normality, run_study
from scvbench.steps.synth.cohort import draw_cohort


def test_mann_whitney_matches_r_and_scipy():
    # R 4.2.2: wilcox.test(c(1,2,3,4,5), c(3,4,5,6,7,8), exact=FALSE, correct=FALSE)
    # -> W = 4.5, p-value = 0.0535777493
    result = mann_whitney([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8])
    assert result["U"] == 4.5
    assert result["p"] == pytest.approx(0.0535777493, abs=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 8, rng.integers(5, 40)).astype(float)  # many ties, like counts
        y = rng.integers(1, 9, rng.integers(5, 40)).astype(float)
        ours = mann_whitney(x, y)
        reference = sps.mannwhitneyu(x, y, method="asymptotic", use_continuity=False)
        assert ours["p"] == pytest.approx(reference.pvalue, rel=1e-9)
        assert ours["U"] == pytest.approx(
            min(reference.statistic, len(x) * len(y) - reference.statistic)
        )
        assert ours["Z"] <= 0  # SPSS prints Z of the smaller U
        assert ours["p"] == pytest.approx(2 * sps.norm.cdf(ours["Z"]), rel=1e-9)


def test_direction_is_given_by_mean_ranks_and_rank_biserial():
    low, high = [1.0, 1.1, 1.2, 1.3], [1.5, 1.6, 1.7, 1.8]
    up = mann_whitney(low, high)
    assert up["r_rb"] == pytest.approx(1.0) and up["mean_rank_2"] > up["mean_rank_1"]
    down = mann_whitney(high, low)
    assert down["r_rb"] == pytest.approx(-1.0) and down["Z"] == pytest.approx(up["Z"])


def test_rank_biserial_matches_pingouin():
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 30), rng.normal(0.5, 1, 25)
    reference = pg.mwu(x, y, method="asymptotic", use_continuity=False)
    ours = mann_whitney(x, y)
    assert ours["p"] == pytest.approx(float(reference["p_val"].iloc[0]), rel=1e-9)
    assert ours["r_rb"] == pytest.approx(-float(reference["RBC"].iloc[0]), abs=1e-9)


def test_groups_smaller_than_three_give_a_documented_result():
    result = mann_whitney([1.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    assert result["p"] is None and "fewer than 3" in result["note"]
    assert mann_whitney([np.nan] * 5, [1, 2, 3])["p"] is None


def test_quartiles_follow_spss():
    # SPSS "Weighted Average" percentiles of 1..10: Q1 2.75, median 5.5, Q3 8.25.
    summary = describe(range(1, 11))
    assert (summary["q1"], summary["median"], summary["q3"]) == (2.75, 5.5, 8.25)
    assert describe([np.nan])["median"] is None


def test_lilliefors_separates_normal_from_skewed():
    rng = np.random.default_rng(2)
    assert normality(rng.normal(size=200))["p"] > 0.05
    assert normality(rng.exponential(size=200))["p"] < 0.01
    assert normality([1.0, 1.0, 1.0, 1.0, 1.0])["p"] is None


def test_logistic_matches_pingouin_and_reports_spss_columns():
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(3)
    x = rng.normal(1.3, 0.15, 120)
    y = (rng.uniform(size=120) < 1 / (1 + np.exp(-(x - 1.3) * 8))).astype(int)
    table = pd.DataFrame({"dwml": y, "tortuosity_right": x})
    ours = logistic(table, "dwml", ["tortuosity_right"])
    reference = pg.logistic_regression(x[:, None], y).set_index("names")
    term = ours["terms"][0]
    assert term["coef"] == pytest.approx(reference.loc["x1", "coef"], rel=1e-4)
    assert term["se"] == pytest.approx(reference.loc["x1", "se"], rel=1e-4)
    assert term["p"] == pytest.approx(reference.loc["x1", "pval"], rel=1e-3)
    assert term["wald"] == pytest.approx((term["coef"] / term["se"]) ** 2)
    assert term["odds_ratio"] == pytest.approx(np.exp(term["coef"]))
    assert term["ci_low"] == pytest.approx(np.exp(reference.loc["x1", "CI2.5"]), rel=1e-3)
    assert ours["terms"][-1]["name"] == "constant"


def test_logistic_separation_is_a_note_not_a_traceback():
    table = pd.DataFrame({"dwml": [0, 0, 0, 0, 1, 1, 1, 1], "x": [1, 2, 3, 4, 5, 6, 7, 8]})
    result = logistic(table, "dwml", ["x"])
    assert result["terms"] == [] and "cannot be fitted" in result["note"]


def _association(effect, seed):
    cohort = draw_cohort(364, seed, effect)
    return cohort[cohort["role"] == "association"].reset_index(drop=True)


def test_paper_cohort_shows_the_intended_effects():
    result = run_study(_association("paper", 0))
    p = {(r["comparison"], r["measure"], r["hemisphere"]): r["p"] for r in result["mann_whitney"]}
    assert p[("dwml", "tortuosity", "right")] < 0.001
    assert p[("dwml", "tortuosity", "left")] > 0.05
    assert p[("sex", "count", "right")] < 0.05 and p[("sex", "count", "left")] < 0.05
    names = [t["name"] for t in result["logistic"]["terms"]]
    assert names[0] == "tortuosity_right"
    assert result["logistic"]["terms"][0]["odds_ratio"] > 1
    assert all(c["p"] > 0.01 for c in result["correlations"])


def test_null_cohort_shows_no_effect():
    result = run_study(_association("null", 0), fdr=True)
    assert all(r["p"] >= 0.05 for r in result["mann_whitney"])
    assert all(r["p_fdr"] >= r["p"] for r in result["mann_whitney"])
    assert result["logistic"]["terms"] == [] and result["logistic"]["note"] == "no predictor"


def _files(tmp_path, cohort):
    ids = [f"sub-{i + 1:03d}" for i in range(len(cohort))]
    rows = []
    for pid, (_, row) in zip(ids, cohort.iterrows(), strict=True):
        for hemi in ("left", "right"):
            rows.append(
                {
                    "participant_id": pid,
                    "hemisphere": hemi,
                    "count": row[f"count_{hemi}"],
                    "diameter_mm": row[f"diameter_{hemi}"],
                    "tortuosity": row[f"tortuosity_{hemi}"],
                }
            )
    pd.DataFrame(rows).to_csv(tmp_path / "group.tsv", sep="\t", index=False)
    people = pd.DataFrame(
        {
            "participant_id": ids,
            "age": cohort["age"],
            "sex": cohort["sex"],
            "education_years": cohort["education_years"],
        }
    )
    people.to_csv(tmp_path / "participants.tsv", sep="\t", index=False)
    pd.DataFrame({"participant_id": ids, "fazekas_dwm": cohort["fazekas_dwm"]}).to_csv(
        tmp_path / "fazekas.tsv", sep="\t", index=False
    )
    return [
        "--morph",
        str(tmp_path / "group.tsv"),
        "--participants",
        str(tmp_path / "participants.tsv"),
    ]


def test_cli_writes_the_papers_tables_json_figures_and_report(tmp_path, capsys):
    args = _files(tmp_path, _association("paper", 0))
    out = tmp_path / "out"
    assert main(["stats", *args, "--phenotype", str(tmp_path / "fazekas.tsv"), "-o", str(out)]) == 0
    document = json.loads((out / "stats.json").read_text())
    assert {"mann_whitney", "logistic", "schema_version"} <= set(document)
    assert len(document["mann_whitney"]) == 12
    for row in document["mann_whitney"]:
        assert row["comparison"] in ("dwml", "sex") and row["hemisphere"] in ("left", "right")
        assert row["measure"] in ("diameter", "tortuosity", "count")
        assert {"U", "Z", "p"} <= set(row)
    for term in document["logistic"]["terms"]:
        assert {"name", "coef", "se", "p", "odds_ratio", "ci_low", "ci_high"} <= set(term)
    table2 = pd.read_csv(out / "table2.csv")
    assert table2["group"].tolist() == ["male", "female", "Z", "P"]
    assert list(table2.columns) == ["group", "count R", "count L"]
    table3 = pd.read_csv(out / "table3.csv")
    assert table3["group"].tolist() == ["N-DWML", "DWML", "Z", "P"]
    assert list(table3.columns)[1:] == [
        "diameter R (mm)",
        "diameter L (mm)",
        "tortuosity R",
        "tortuosity L",
        "count R",
        "count L",
    ]
    assert table3.loc[3, "tortuosity R"] == "< 0.001"
    assert (out / "table3.md").read_text().startswith("| group |")
    for name in ("boxplots.png", "forest.png", "report.html"):
        assert (out / name).stat().st_size > 1000
    assert "Table 3" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d["group"].drop(columns="tortuosity"), "no column tortuosity"),
        (lambda d: d["people"].drop(columns="sex"), "no column sex"),
        (lambda d: d["people"].assign(sex="X"), "sex must be M or F"),
        (lambda d: d["group"].assign(hemisphere="both"), "needs left and right"),
        (
            lambda d: pd.concat([d["people"], d["people"].iloc[[3]].assign(sex="F")]),
            "sub-004 appears more than once",
        ),
        (
            lambda d: d["people"].assign(
                education_years=["lots", *d["people"]["education_years"][1:]]
            ),
            "row 2: education_years is 'lots'",
        ),
        (lambda d: d["people"].assign(age=[*d["people"]["age"][:-1], "inf"]), "age is 'inf'"),
        (
            lambda d: d["people"].assign(
                participant_id=["sub-0\t1", *d["people"]["participant_id"][1:]]
            ),
            "not sub-<label>",
        ),
        (
            lambda d: d["group"].assign(tortuosity=["young", *d["group"]["tortuosity"][1:]]),
            "tortuosity is 'young'",
        ),
    ],
)
def test_bad_tables_are_named(tmp_path, capsys, change, message):
    args = _files(tmp_path, _association("paper", 1).head(20))
    frames = {
        "group": pd.read_csv(tmp_path / "group.tsv", sep="\t"),
        "people": pd.read_csv(tmp_path / "participants.tsv", sep="\t"),
    }
    changed = change(frames)
    name = "group.tsv" if "hemisphere" in changed.columns else "participants.tsv"
    changed.to_csv(tmp_path / name, sep="\t", index=False)
    assert main(["stats", *args, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert message in err and name in err and "Traceback" not in err


def test_stats_runs_on_the_pipelines_own_tables(derived, tiny_cohort, tmp_path, capsys):
    bids, _, _ = derived
    masks = bids / "derivatives" / "annotations"
    assert main(["morph", "--bids", str(bids), "--masks", str(masks), "--desc", "rater1"]) == 0
    group = masks / "acq-swi_desc-scv_morph.tsv"
    out = tmp_path / "stats"
    args = ["stats", "--morph", str(group), "--participants", str(bids / "participants.tsv")]
    assert main([*args, "-o", str(out)]) == 0
    document = json.loads((out / "stats.json").read_text())
    assert document["n"] == 4
    # Four participants cannot fill two groups of three: every test says so instead of failing.
    assert all(
        row["p"] is None and "fewer than 3" in row["note"] for row in document["mann_whitney"]
    )
    assert (out / "table2.md").is_file() and (out / "report.html").is_file()
    assert assert_no_phi(out, phi_values(tiny_cohort)) >= 5
