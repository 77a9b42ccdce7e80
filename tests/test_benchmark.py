"""scvbench benchmark: stamped stages, skipping and resuming, the run record, cards, leaderboard."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scvbench.cli import main
from scvbench.errors import ScvbenchError
from scvbench.steps.benchmark import RECORD, folder_checksum
from scvbench.steps.benchmark.stamps import StageBook

ARGS = ["--preset", "tiny", "--subjects", "9", "--models", "frangi", "unet"]
ARGS += ["--iterations", "1", "--nprocs", "2", "--quiet"]


def test_stage_book_skips_done_stages_and_refuses_other_settings(tmp_path):
    book = StageBook(tmp_path, {"a": 1}, progress=False)
    calls = []
    out = book.run("one", {"x": 1}, lambda: calls.append(1) or {"value": 3}, 1, 2)
    assert out == {"value": 3} and calls == [1]
    again = StageBook(tmp_path, {"a": 1}, progress=False)
    assert again.run("one", {"x": 1}, lambda: calls.append(2), 1, 2) == {"value": 3}
    assert calls == [1]  # skipped: done with the same fingerprint
    with pytest.raises(
        ScvbenchError, match=r"stage one was run with other settings or inputs \(x differ"
    ):
        again.run("one", {"x": 2}, lambda: calls.append(3), 1, 2)

    def fails():
        raise ScvbenchError("broken")

    with pytest.raises(ScvbenchError, match="broken"):
        again.run("two", {}, fails, 2, 2)
    assert not (tmp_path / "stages" / "two.json").exists()  # a failed stage is not stamped
    again.save()
    record = json.loads((tmp_path / RECORD).read_text())
    assert set(record["stages"]) == {"one"} and record["sessions"] == 2


def test_folder_checksum_sees_names_and_contents(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    first = folder_checksum(tmp_path)
    (tmp_path / "a" / "x.txt").write_text("2")
    assert folder_checksum(tmp_path) != first
    (tmp_path / "a" / "x.txt").write_text("1")
    assert folder_checksum(tmp_path) == first
    (tmp_path / "a" / "x.txt").rename(tmp_path / "a" / "y.txt")
    assert folder_checksum(tmp_path) != first


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmark") / "out"
    assert main(["benchmark", str(out), *ARGS]) == 0
    return out


def _stamps(out):
    return {p.name: p.read_text() for p in sorted((out / "stages").glob("*.json"))}


def test_benchmark_runs_every_stage_and_records_them(run):
    record = json.loads((run / RECORD).read_text())
    expected = {"synth", "convert", "derive", "annotations", "splits"}
    for model in ("frangi", "unet"):
        expected |= {f"train:{model}:fold-0", f"predict:{model}"}
        expected |= {f"evaluate:{model}:test", f"evaluate:{model}:association"}
    assert set(record["stages"]) == expected
    assert record["settings"]["preset"] == "tiny" and record["versions"]["torch"]
    assert record["hardware"]["cpus"] >= 1
    assert len(record["data"]["cohort_checksum"]) == 64
    assert record["data"]["test_data_checksum"] and record["data"]["splits_checksum"]
    board = run / "leaderboard"
    entries = sorted(p.stem for p in (board / "entries").glob("*.json"))
    assert entries == ["frangi", "unet"]
    table = pd.read_csv(board / "leaderboard.csv")
    assert {"tier", "tortuosity_right_z", "odds_ratio"} <= set(table.columns)
    settings = json.loads((board / "leaderboard.json").read_text())
    assert settings["data_checksum"] == record["data"]["test_data_checksum"]
    for model in ("frangi", "unet"):
        card = run / "baselines" / model
        text = (card / "README.md").read_text()
        assert "pixel accuracy (the study's metric)" in text and "Stopping rule" in text
        assert "## Association reproduction" in text and "(synthetic" in text
        assert (card / "learning_curve.png").stat().st_size > 1000
        # the power of the study's test with the model's, the second rater's and no error
        assert "## Participants a study needs" in text and (card / "power.png").is_file()
        assert "second rater's error (human reference)" in text
        assert (card / "evaluation-test.html").is_file()
        entry = json.loads((board / "entries" / f"{model}.json").read_text())
        assert entry["links"]["card"] == f"../baselines/{model}/README.md"
        assert set(entry["power_pairs"]) == {"model", "human"}  # the power column's errors
        assert all((board / case["tile"]).is_file() for case in entry["worst"])
    page = (board / "index.html").read_text()
    assert 'src="gallery/unet/' in page and "../baselines/unet/README.md" in page


def test_rerun_needs_resume_and_then_skips_everything(run, capsys):
    before = _stamps(run)
    entries = {p.name: p.read_text() for p in (run / "leaderboard" / "entries").glob("*.json")}
    capsys.readouterr()
    assert main(["benchmark", str(run), *ARGS]) == 1
    assert "--resume" in capsys.readouterr().err
    assert main(["benchmark", str(run), *ARGS[:-1], "--resume"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) == 13 and all("skipped" in line for line in lines)
    assert _stamps(run) == before
    again = {p.name: p.read_text() for p in (run / "leaderboard" / "entries").glob("*.json")}
    assert again.keys() == entries.keys()
    record = json.loads((run / RECORD).read_text())
    assert record["sessions"] == 2


def test_a_killed_stage_runs_again_and_nothing_else(run, capsys):
    stamps = run / "stages"
    (stamps / "evaluate_unet_association.json").unlink()  # killed before it was stamped
    (stamps / "train_unet_fold-0.json").unlink()  # its checkpoint is there: a no-op resume
    results = run / "runs" / "unet" / "evaluation-association" / "results.json"
    results.unlink()
    capsys.readouterr()
    assert main(["benchmark", str(run), *ARGS[:-1], "--resume"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    ran = sorted(line.split()[1].rstrip(":") for line in lines if "done in" in line)
    assert ran == ["evaluate:unet:association", "train:unet:fold-0"]
    assert results.is_file()


def test_resume_with_other_data_settings_is_refused(run, capsys):
    other = ["--seed", "1", *ARGS[:-1], "--resume"]
    assert main(["benchmark", str(run), *other]) == 1
    err = capsys.readouterr().err
    assert "stage synth was run with other settings or inputs (seed differ" in err
    assert main(["benchmark", str(run), *ARGS[:-1], "--folds", "2"]) == 2  # argparse
    assert main(["benchmark", str(run), "--models", "nope", "--resume", "--quiet"]) == 1
    assert "nope" in capsys.readouterr().err


def test_cross_validation_added_later_with_resume(run, capsys):
    capsys.readouterr()
    args = [*ARGS[:-1], "--resume", "--folds", "all", "--cv-models", "frangi"]
    assert main(["benchmark", str(run), *args]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    ran = sorted(line.split()[1].rstrip(":") for line in lines if "done in" in line)
    expected = [f"evaluate:frangi:fold-{k}:test" for k in (1, 2, 3)]
    expected += [f"predict:frangi:fold-{k}" for k in (1, 2, 3)]
    expected += [f"train:frangi:fold-{k}" for k in (1, 2, 3)]
    assert ran == sorted(expected)
    assert sum("skipped" in line for line in lines) == 13 and lines[-1].startswith("[22/22]")
    card = (run / "baselines" / "frangi" / "README.md").read_text()
    assert "## Cross-validation" in card and "| mean (SD) |" in card and "--folds all" in card
    assert "## Cross-validation" not in (run / "baselines" / "unet" / "README.md").read_text()
    assert main(["benchmark", str(run), *ARGS[:-1], "--resume", "--cv-models", "nope"]) == 1
    assert "not among the --models" in capsys.readouterr().err
