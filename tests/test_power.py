"""scvbench power: vectorised tests equal the per-cohort ones, power against brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from scvbench.cli import main
from scvbench.core.agreement import ErrorModel, fit_error_model
from scvbench.core.power import (
    analytic_power,
    logistic_wald,
    mann_whitney_z,
    n_for_power,
    simulate_power,
)
from scvbench.core.stats import mann_whitney
from scvbench.errors import ScvbenchError
from scvbench.steps.power import power


def _normal(shift):
    return lambda group, shape, rng: rng.normal(shift * group, 1.0, shape)


def test_vectorised_mann_whitney_equals_the_per_cohort_test_with_ties():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 6, (40, 12)).astype(float)
    second = rng.integers(1, 8, (40, 17)).astype(float)
    z = mann_whitney_z(first, second)
    expected = [mann_whitney(a, b)["Z"] for a, b in zip(first, second, strict=True)]
    np.testing.assert_allclose(np.abs(z), np.abs(expected), rtol=1e-12)
    assert (z <= 0).sum() > 30  # the second group is larger: Z of the first is negative
    assert mann_whitney_z(np.ones((1, 4)), np.ones((1, 5)))[0] == 0.0  # all tied


def test_vectorised_logistic_equals_statsmodels():
    rng = np.random.default_rng(1)
    x = rng.normal(1.3, 0.2, (6, 80))
    y = (rng.random((6, 80)) < 1 / (1 + np.exp(-(-8 + 6 * x)))).astype(float)
    coef, se, z = logistic_wald(x, y)
    for i in range(6):
        fit = sm.Logit(y[i], sm.add_constant(x[i])).fit(disp=0)
        assert coef[i] == pytest.approx(fit.params[1], rel=1e-6)
        assert se[i] == pytest.approx(fit.bse[1], rel=1e-6)
        assert z[i] == pytest.approx(fit.tvalues[1], rel=1e-6)


def test_error_free_power_matches_brute_force_scipy_and_the_normal_theory():
    n1, n0, shift = 30, 45, 0.6
    simulated = simulate_power(_normal(shift), (n1, n0), ErrorModel(), simulations=4000)
    rng = np.random.default_rng(99)
    hits = 0
    for _ in range(1500):
        a, b = rng.normal(shift, 1, n1), rng.normal(0, 1, n0)
        result = sps.mannwhitneyu(a, b, method="asymptotic", use_continuity=False)
        hits += bool(
            result.pvalue < 0.05 and result.statistic > n1 * n0 / 2
        )  # in the effect's direction
    brute = hits / 1500
    p = simulated["power"]
    se = np.sqrt(p * (1 - p) / 4000 + brute * (1 - brute) / 1500)
    assert abs(p - brute) < 4 * se, (p, brute)
    normal = analytic_power((shift, 0.0), (1.0, 1.0), (n1, n0))["power"]
    assert abs(p - normal) < 0.04  # normal data: the noncentral approximation holds


def test_power_rises_with_n_and_falls_with_error():
    draw = _normal(0.5)
    ns = [(10, 20), (25, 50), (60, 120)]
    curve = [simulate_power(draw, n, ErrorModel(), simulations=2000)["power"] for n in ns]
    assert curve[0] < curve[1] < curve[2]
    noisy = ErrorModel("constant", 0.3, 0.0, 1.5, 50)
    worse = simulate_power(draw, ns[1], noisy, simulations=2000)["power"]
    assert worse < curve[1] - 0.1
    reliability = analytic_power((0.5, 0), (1, 1), ns[1], 1.5)["reliability"]
    assert reliability == pytest.approx(1 / (1 + 1.5**2))
    # a constant bias alone changes nothing: it shifts both groups
    biased = simulate_power(
        draw, ns[1], ErrorModel("constant", 5.0, 0.0, 0.0, 50), simulations=2000
    )
    assert biased["power"] == curve[1]


def test_error_model_is_proportional_only_when_the_pairs_show_it():
    rng = np.random.default_rng(3)
    true = rng.uniform(1.1, 1.6, 200)
    flat = fit_error_model(true, true + 0.05 + rng.normal(0, 0.02, 200))
    assert flat.kind == "constant" and flat.bias == pytest.approx(0.05, abs=0.01)
    grows = fit_error_model(true, true + 0.3 * (true - 1.0) + rng.normal(0, 0.01, 200))
    assert grows.kind == "proportional" and grows.slope == pytest.approx(0.3, abs=0.03)
    measured = grows.apply(np.array([1.0, 1.5]), np.random.default_rng(0))
    assert measured[1] - measured[0] == pytest.approx(0.5 * (1 + grows.slope), abs=0.05)
    with pytest.raises(ValueError, match="at least 3"):
        fit_error_model([1.0, 2.0], [1.0, np.nan])
    assert flat.noise == "normal" and flat.normality_p > 0.05


def test_heavy_tailed_error_is_resampled_not_spread_as_a_wide_normal():
    # Most slices measured nearly right, a few far off (a rater or model that misses a vessel
    # now and then): a normal error with the same SD would wrongly destroy the effect.
    rng = np.random.default_rng(5)
    true = rng.uniform(1.1, 1.6, 160)
    off = np.where(rng.random(160) < 0.03, rng.normal(0, 8.0, 160), rng.normal(0, 0.05, 160))
    heavy = fit_error_model(true, true + off)
    assert heavy.noise == "empirical" and heavy.normality_p < 0.05
    assert abs(heavy.slope) < 0.05  # the far-off pairs fake no proportional bias
    assert len(heavy.residuals) == 160 and abs(np.mean(heavy.residuals)) < 1e-12
    assert heavy.to_json()["noise"] == "empirical"
    drawn = heavy.apply(np.zeros(20_000), np.random.default_rng(1)) - heavy.bias
    assert set(np.round(drawn, 12)) <= set(np.round(heavy.residuals, 12))
    draw, n = _normal(0.5), (40, 80)
    spread = ErrorModel("constant", heavy.bias, 0.0, heavy.sd, heavy.n)
    resampled = simulate_power(draw, n, heavy, simulations=2000)["power"]
    assert resampled > simulate_power(draw, n, spread, simulations=2000)["power"] + 0.1
    assert resampled > simulate_power(draw, n, ErrorModel(), simulations=2000)["power"] - 0.1


def test_n_for_power_interpolates_and_says_when_out_of_range():
    assert n_for_power([40, 80, 120], [0.5, 0.7, 0.9], 0.8) == pytest.approx(100)
    assert n_for_power([40, 80], [0.85, 0.9], 0.8) == 40
    assert n_for_power([40, 80], [0.3, 0.5], 0.8) is None


def _evaluation(folder, bias=0.02, limits=(-0.1, 0.14), n=40, pairs=True):
    folder.mkdir(parents=True, exist_ok=True)
    agreement = {"n": n, "bias": bias, "loa_low": limits[0], "loa_high": limits[1]}
    morphometry = {
        side: {m: dict(agreement) for m in ("count", "diameter_mm", "tortuosity")}
        for side in ("left", "right")
    }
    (folder / "results.json").write_text(json.dumps({"morphometry": morphometry}))
    if pairs:
        rng = np.random.default_rng(5)
        rows = ["participant_id\tslice\themisphere\ttortuosity_reference\ttortuosity_submission"]
        for i in range(n):
            ref = rng.uniform(1.1, 1.5)
            rows.append(f"sub-{i}\t3\tright\t{ref}\t{ref + bias + rng.normal(0, 0.06)}")
        (folder / "morphometry.tsv").write_text("\n".join(rows) + "\n")
    return folder / "results.json"


def test_paper_effect_needs_about_110_participants_for_80_percent_error_free(tmp_path):
    # The study's right-tortuosity effect (53 DWML : 111 without), the Mann-Whitney test,
    # measured without error: 80 % power at about 108 participants (seed 0, 4,000 cohorts per
    # size); the study's 164 give about 94 %.
    results = _evaluation(tmp_path / "eval")
    document = power(
        results, tmp_path / "out", n_range=(60, 180), points=13, simulations=4000, progress=False
    )
    needed = document["n_for_power"]["error-free"]["0.8"]
    assert 100 <= needed <= 116, needed
    assert document["n_for_power"]["model"]["0.8"] >= needed - 3
    assert document["errors"]["model"]["kind"] == "constant"  # fitted to the pairs
    curve = [r for r in document["curve"] if r["condition"] == "error-free"]
    at_study = next(r for r in curve if r["n"] == 160)
    assert 0.9 < at_study["power"] < 0.97
    assert document["analytic_check"]["why"]  # the skewed groups: the normal theory is off
    for name in ("power.json", "power.tsv", "power.png"):
        assert (tmp_path / "out" / name).stat().st_size > 100
    again = power(
        results, tmp_path / "again", n_range=(60, 180), points=13, simulations=4000, progress=False
    )
    assert again["curve"] == document["curve"]  # deterministic for a seed


def test_cli_reports_sizes_and_refuses_bad_inputs(tmp_path, capsys):
    results = _evaluation(tmp_path / "eval", pairs=False)
    human = _evaluation(tmp_path / "human", bias=0.0, limits=(-0.05, 0.05), pairs=False)
    args = ["power", "--evaluation", str(results), "--n-range", "60:140", "--points", "3"]
    args += ["--simulations", "300", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "o"), "--human", str(human)]) == 0
    out = capsys.readouterr().out
    assert "error-free: participants for 80%" in out and "human:" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "results.json").write_text(json.dumps({"morphometry": {}}))
    bad = [
        (["--evaluation", str(empty / "results.json")], "no morphometry agreement"),
        (["--power", "1.5"], "is impossible"),
        (["--n-range", "600:40"], "is empty"),
        (["--effect", str(tmp_path / "missing.json")], "no such effect file"),
    ]
    for extra, message in bad:
        assert main([*args, *extra, "-o", str(tmp_path / "x")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x").exists()  # nothing written


def test_user_effect_file(tmp_path):
    effect = tmp_path / "effect.json"
    effect.write_text(
        json.dumps({"groups": ["cases", "controls"], "group1": [12, 10, 14], "group0": [10, 8, 12]})
    )
    results = _evaluation(tmp_path / "eval")
    document = power(
        results,
        tmp_path / "o",
        effect=str(effect),
        ratio=(1, 1),
        n_range=(20, 60),
        points=3,
        simulations=500,
        progress=False,
    )
    assert document["effect"]["groups"] == ["cases", "controls"]
    assert document["ratio"] == [1, 1]
    effect.write_text(json.dumps({"group1": [12, 14, 10], "group0": [10, 8, 12]}))
    with pytest.raises(ScvbenchError, match="q1 <= median <= q3"):
        power(results, tmp_path / "p", effect=str(effect), progress=False)


def test_leaderboard_column_participants_for_80_percent_power():
    from scvbench.steps.power import participants_for_power

    perfect = participants_for_power(None)
    assert 95 <= perfect <= 120
    measured = participants_for_power({"bias": 0.05, "loa_low": -0.15, "loa_high": 0.25})
    assert measured > perfect + 20  # scatter of 0.1 against group SDs near 0.15
    assert participants_for_power({"bias": 0.0, "loa_low": -3.0, "loa_high": 3.0}) == float("inf")
    assert participants_for_power({}) is None
    assert float(perfect).is_integer()  # whole participants, rounded up
    # with the pairs the error is fitted to them: heavy tails are resampled, not spread
    rng = np.random.default_rng(2)
    reference = rng.uniform(1.1, 1.6, 120)
    off = np.where(rng.random(120) < 0.04, rng.normal(0, 1.0, 120), rng.normal(0, 0.01, 120))
    pairs = np.column_stack([reference, reference + off]).tolist()
    limits = {"bias": float(off.mean()), "loa_low": -1.96 * off.std(), "loa_high": 1.96 * off.std()}
    assert participants_for_power(limits, pairs) < participants_for_power(limits)


def test_prediction_matches_rejections_in_cohorts_the_generator_draws():
    # Table-level cohorts of the paper preset (the generator's exact target values), right
    # tortuosity measured with a constant error, the study's test on each: the observed share
    # significant agrees with the simulated power at the same group sizes.
    from scvbench.steps.synth.cohort import draw_cohort

    error = ErrorModel("constant", -0.05, 0.0, 0.1, 40)
    rng = np.random.default_rng(0)
    hits, cohorts = 0, 300
    for k in range(cohorts):
        table = draw_cohort(364, seed=2000 + k).query("role == 'association'")
        values = error.apply(table["tortuosity_right"].to_numpy(float), rng)
        dwml = table["dwml"].to_numpy(bool)
        hits += int(mann_whitney_z(values[dwml][None], values[~dwml][None])[0] > 1.96)
    from scvbench.steps.power import load_effect

    effect = load_effect("paper", "tortuosity", "right")

    def draw(group, shape, r):
        u = r.uniform(0.0005, 0.9995, shape)
        return np.clip(effect["dist"][0 if group == 1 else 1].ppf(u), *effect["range"])

    predicted = simulate_power(draw, (53, 111), error, simulations=4000)["power"]
    observed = hits / cohorts
    se = np.sqrt(predicted * (1 - predicted) / cohorts + predicted * (1 - predicted) / 4000)
    assert abs(observed - predicted) < 4 * se, (observed, predicted)
