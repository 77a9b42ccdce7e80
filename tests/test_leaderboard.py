"""Leaderboard: ranking of hand-made entries, checksum refusal, reproducible bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scvbench.cli import main
from scvbench.core.metrics import SCORES
from scvbench.core.ranking import rank, tiers
from scvbench.errors import ScvbenchError
from scvbench.steps import leaderboard
from scvbench.steps.leaderboard import add_entry, build, load_entries


def _results(folder, name, dice_level, rng, split="test", data="d" * 64, splits="s" * 64):
    folder.mkdir(parents=True)
    n = 30
    dice = np.clip(rng.normal(dice_level, 0.05, n), 0, 1)
    cases = pd.DataFrame(
        {
            "participant_id": [f"sub-{i // 3:03d}" for i in range(n)],
            "slice": [i % 3 for i in range(n)],
            "valid": True,
            "accuracy": 0.99,
            "dice": dice,
            "iou": dice / (2 - dice),
            "cldice": np.clip(dice + 0.05, 0, 1),
            "precision": dice,
            "recall": dice,
            "hd95_mm": 20 * (1 - dice),
            "assd_mm": 5 * (1 - dice),
            "betti0_error": np.round(10 * (1 - dice)),
            "count_error": np.round(5 * (1 - dice)),
        }
    )
    cases.to_csv(folder / "cases.tsv", sep="\t", index=False)
    summary = {
        m: {
            "mean": float(cases[m].mean()),
            "median": float(cases[m].median()),
            "ci_low": float(cases[m].mean()) - 0.01,
            "ci_high": float(cases[m].mean()) + 0.01,
        }
        for m in SCORES
    }
    icc = {"icc_a1": dice_level, "icc_c1": dice_level, "bias": 0.0}
    results = {
        "schema_version": "1.0",
        "submission": {"generated_by": name, "configuration": {"recipe": "cpu", "fold": 0}},
        "reference": {
            "rater": "rater1",
            "split": split,
            "splits_checksum": splits,
            "data_checksum": data,
            "dataset": {"preset": "demo", "seed": 0},
        },
        "problems": [],
        "segmentation": {"n_cases": n, "n_invalid": 0, "overall": summary, "hemispheres": {}},
        "morphometry": {"left": {"count": icc}, "right": {"count": icc}},
        "association": {"reference": {"reproduction_score": dice_level}},
        "human_reference": {
            "rater": "rater2",
            "n_cases": n,
            "overall": summary,
            "morphometry": {
                "right": {"tortuosity": {"bias": 0.002, "loa_low": -0.02, "loa_high": 0.024}}
            },
        },
    }
    (folder / "results.json").write_text(json.dumps(results))
    return folder / "results.json"


@pytest.fixture()
def board(tmp_path):
    rng = np.random.default_rng(0)
    board = tmp_path / "leaderboard"
    for name, level in (("weak", 0.5), ("strong", 0.8), ("middle", 0.65)):
        add_entry(_results(tmp_path / name, name, level, rng), board)
    return board


def test_ranking_of_hand_made_entries(board):
    table = rank(load_entries(board))
    assert table["name"].tolist() == ["strong", "middle", "weak"]
    assert table["rank"].tolist() == [1, 2, 3]
    strong = table.iloc[0]
    assert strong["p_rank1"] > 0.95 and strong["rank_low"] == strong["rank_high"] == 1
    assert table["wilcoxon_p_next"].iloc[0] < 0.001
    assert pd.isna(table["wilcoxon_p_next"].iloc[-1])  # nothing after the last
    assert table["tier"].tolist() == [1, 2, 3]  # every interval apart


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        ([1, 1, 3, 3], [2, 2, 4, 4], [1, 1, 2, 2]),
        ([1, 1, 1], [3, 3, 3], [1, 1, 1]),
        # the second tier's leader (2-3) keeps 2-4 with it; 4-4 lies below 2-3
        ([1, 2, 2, 4], [1, 3, 4, 4], [1, 2, 2, 3]),
        ([1, 1, 2, 3], [2, 3, 4, 4], [1, 1, 1, 2]),
    ],
)
def test_tiers_from_rank_intervals(low, high, expected):
    assert tiers(low, high) == expected


def test_entry_carries_association_gallery_and_links(tmp_path):
    rng = np.random.default_rng(4)
    results = _results(tmp_path / "m", "m", 0.7, rng)
    document = json.loads(results.read_text())
    test = {"comparison": "dwml", "measure": "tortuosity", "hemisphere": "right", "Z": -2.9}
    test["Z_comparison"] = -3.2
    document["association"] = {
        "reference": {"reproduction_score": 0.75, "tests": [test]},
        "published": {
            "reproduction_score": 0.5,
            "logistic": {"tortuosity_right": {"odds_ratio": 5.5, "odds_ratio_reference": 6.1}},
        },
        "truth": {"reproduction_score": 0.875},
    }
    results.write_text(json.dumps(document))
    cases = pd.read_csv(results.with_name("cases.tsv"), sep="\t")
    worst = cases.sort_values("dice", kind="stable").head(6)
    for pid, k in zip(worst["participant_id"], worst["slice"], strict=True):
        tile = results.parent / "worst" / f"{pid}_slice-{k}.png"
        tile.parent.mkdir(exist_ok=True)
        tile.write_bytes(b"\x89PNG tile")
    card = tmp_path / "cards" / "m.md"
    card.parent.mkdir()
    card.write_text("# m")
    board = tmp_path / "board"
    path = add_entry(results, board, card=card, report="https://example.org/report.html")
    entry = json.loads(path.read_text())
    assert entry["scores"]["association"] == {
        "tortuosity_right_z": -2.9,
        "tortuosity_right_z_reference": -3.2,
        "odds_ratio": 5.5,
        "odds_ratio_reference": 6.1,
        "reproduction_reference": 0.75,
        "reproduction_published": 0.5,
        "reproduction_truth": 0.875,
    }
    assert entry["links"] == {"card": "../cards/m.md", "report": "https://example.org/report.html"}
    shown = [(c["participant_id"], c["slice"]) for c in entry["worst"]]
    assert shown == list(zip(worst["participant_id"], worst["slice"], strict=True))[:3]
    assert sorted(p.name for p in (board / "gallery" / "m").iterdir()) == sorted(
        f"{pid}_slice-{k}.png" for pid, k in shown
    )
    build(board)
    page = (board / "index.html").read_text()
    assert all(f'src="{c["tile"]}"' in page for c in entry["worst"])
    assert 'href="../cards/m.md"' in page and "evaluation report" in page
    csv = pd.read_csv(board / "leaderboard.csv")
    assert csv.loc[0, "tortuosity_right_z"] == -2.9 and csv.loc[0, "odds_ratio"] == 5.5
    readme = (board / "README.md").read_text()
    assert "right tortuosity Z (study -3.511)" in readme and "| -2.90 | 5.50 |" in readme
    assert "the reference masks give Z -3.20 and odds ratio 6.10" in readme
    assert "the reference masks give Z -3.20 and odds ratio 6.10" in " ".join(page.split())
    with pytest.raises(ScvbenchError, match="no such file to link"):
        add_entry(results, board, replace=True, card=tmp_path / "missing.md")


def test_adding_the_same_entry_again_keeps_its_code(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    board, results = tmp_path / "lb", _results(tmp_path / "a", "a", 0.7, rng)
    monkeypatch.setattr(leaderboard, "_code_reference", lambda: "git:first")
    entry = add_entry(results, board)
    monkeypatch.setattr(leaderboard, "_code_reference", lambda: "git:later")
    add_entry(results, board, replace=True)  # a resumed benchmark publishes it again
    assert json.loads(entry.read_text())["code"] == "git:first"
    add_entry(_results(tmp_path / "b", "a", 0.8, rng), board, replace=True)  # new scores
    assert json.loads(entry.read_text())["code"] == "git:later"


def test_close_entries_share_rank_uncertainty(tmp_path):
    rng = np.random.default_rng(1)
    board = tmp_path / "lb"
    add_entry(_results(tmp_path / "a", "a", 0.70, rng), board)
    add_entry(_results(tmp_path / "b", "b", 0.70, rng), board)
    table = rank(load_entries(board))
    assert 0.05 < table["p_rank1"].iloc[0] < 0.95  # a coin toss, and the bootstrap says so
    assert (table["rank_low"] == 1).all() and (table["rank_high"] == 2).all()
    assert table["tier"].tolist() == [1, 1]  # not separated: one tier


def test_bootstrap_is_reproducible_for_a_seed(board):
    entries = load_entries(board)
    first, again = rank(entries, seed=3), rank(entries, seed=3)
    pd.testing.assert_frame_equal(first, again)


def test_checksums_and_split_are_checked(board, tmp_path):
    rng = np.random.default_rng(2)
    other_data = _results(tmp_path / "x", "x", 0.6, rng, data="e" * 64)
    with pytest.raises(ScvbenchError, match=r"data_checksum .* differs"):
        add_entry(other_data, board)
    other_split = _results(tmp_path / "y", "y", 0.6, rng, splits="t" * 64)
    with pytest.raises(ScvbenchError, match=r"splits_checksum .* differs"):
        add_entry(other_split, board)
    validation = _results(tmp_path / "z", "z", 0.6, rng, split="association")
    with pytest.raises(ScvbenchError, match="test-split results only"):
        add_entry(validation, board)
    assert main(["leaderboard", "add", str(other_data), "--dir", str(board)]) == 1
    assert len(load_entries(board)) == 3
    with pytest.raises(ScvbenchError, match="exists"):
        add_entry(_results(tmp_path / "w", "strong", 0.6, rng), board)


def test_build_writes_table_csv_and_page(board):
    assert main(["leaderboard", "build", "--dir", str(board)]) == 0
    readme = (board / "README.md").read_text()
    lines = [line for line in readme.splitlines() if line.startswith("| ")][1:]
    assert [line.split("|")[3].strip() for line in lines[:3]] == ["strong", "middle", "weak"]
    assert [line.split("|")[2].strip() for line in lines[:3]] == ["1", "2", "3"]  # tiers
    assert "human reference (rater2)" in readme
    assert "participants for 80 % power" in readme and "with perfect measurement 1" in readme
    # the human row: participants for 80 % power with the second rater's tortuosity error
    human = next(line for line in lines if "human reference" in line).split("|")
    perfect = float(readme.split("with perfect measurement ")[1].split(";")[0])
    assert perfect * 0.9 < float(human[-2]) < perfect * 1.5
    csv = pd.read_csv(board / "leaderboard.csv")
    assert csv["participants_80"].isna().all()  # the hand-made entries have no tortuosity
    assert csv["rank"].tolist() == [1, 2, 3]
    page = (board / "index.html").read_text()
    assert page.count("<tr class='entry'>") == 3 and "human reference" in page
    assert f"<td>{human[-2].strip()}</td></tr></tfoot>" in page
    assert "http" not in page.replace("http-equiv", "")  # nothing to fetch: works offline


def _chromium():
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (make test installs it from Debian's packages)")
    return path


def _dom(chromium, url):
    import subprocess

    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _names(dom):
    import re

    body = dom.split("<tbody>")[1].split("</tbody>")[0]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row)[2] for row in body.split("<tr")[1:]]


def test_page_in_headless_chromium(board, tmp_path):
    import subprocess

    chromium = _chromium()
    build(board)
    url = (board / "index.html").resolve().as_uri()
    assert _names(_dom(chromium, url)) == ["strong", "middle", "weak"]  # by rank
    # a click on the name column sorts by name (the page's own handler, from #sort=)
    assert _names(_dom(chromium, url + "#sort=name")) == ["middle", "strong", "weak"]
    # a click on HD95 sorts ascending: best (lowest) first
    assert _names(_dom(chromium, url + "#sort=hd95_mm")) == ["strong", "middle", "weak"]
    shot = tmp_path / "leaderboard.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 20_000
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("L"))
    assert image.shape == (900, 1200) and image.std() > 10  # something was drawn
