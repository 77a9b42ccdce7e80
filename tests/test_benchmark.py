"""scvbench benchmark: stamped stages, skipping and resuming, the run record, cards, leaderboard."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from scvbench.cli import main
from scvbench.errors import ScvbenchError
from scvbench.steps.benchmark import RECORD, folder_checksum
from scvbench.steps.benchmark.data import cohort_checksum
from scvbench.steps.benchmark.stamps import StageBook
from scvbench.steps.benchmark.state import forget_missing, portable_files, save_state
from scvbench.steps.power import participants_for_power, tortuosity_pairs

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
        # ... measured on the association cohort, as the card's power section: the same sizes
        association = run / "runs" / model / "evaluation-association"
        assert entry["power_pairs"] == tortuosity_pairs(association)
        needed = json.loads((association / "power.json").read_text())["n_for_power"]["model"]
        column = table.set_index("name").loc[model, "participants_80"]
        if needed["0.8"] is None:
            assert pd.isna(column)
        else:
            assert column == math.ceil(needed["0.8"])
        free = json.loads((association / "power.json").read_text())["n_for_power"]["error-free"]
        assert participants_for_power(None) == math.ceil(free["0.8"])  # the page's perfect row
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


def _book_with_fold(tmp_path):
    book = StageBook(tmp_path, {}, progress=False)
    for name in ("train:m:fold-0", "predict:m", "evaluate:m:test", "evaluate:m:association"):
        book.run(name, {}, dict, 1, 1)
    run, submission = tmp_path / "runs" / "m" / "fold-0", tmp_path / "runs" / "m" / "submission"
    run.mkdir(parents=True)
    submission.mkdir()
    (run / "model_best.pt").write_bytes(b"weights")
    (run / "log.csv").write_text("step\n1\n")
    return book, run, submission


def test_a_fold_redoes_only_the_stages_whose_outputs_are_needed_and_gone(tmp_path):
    names = ("train:m:fold-0", "predict:m", ["evaluate:m:test", "evaluate:m:association"])
    book, run, submission = _book_with_fold(tmp_path)
    (run / "model_best.pt").unlink()
    submission.rmdir()
    forget_missing(book, *names, run, submission)  # scored: nothing is needed
    assert all(book.stamped(n) for n in ("train:m:fold-0", "predict:m", "evaluate:m:test"))
    (tmp_path / "stages" / "evaluate_m_association.json").unlink()
    forget_missing(book, *names, run, submission)  # masks and checkpoint gone: all again
    assert not any(book.stamped(n) for n in ("train:m:fold-0", "predict:m", "evaluate:m:test"))
    assert not (run / "log.csv").exists()  # training starts afresh, not on an old log

    book, run, submission = _book_with_fold(tmp_path / "b")
    (tmp_path / "b" / "stages" / "evaluate_m_association.json").unlink()
    (run / "model_best.pt").unlink()
    forget_missing(book, *names, run, submission)  # the masks are there: predicting is done
    assert book.stamped("predict:m") and book.stamped("train:m:fold-0")
    submission.rmdir()
    (run / "model_best.pt").write_bytes(b"weights")
    forget_missing(book, *names, run, submission)  # the checkpoint is there: predict again
    assert not book.stamped("predict:m") and book.stamped("train:m:fold-0")
    assert book.stamped("evaluate:m:test")


def test_cohort_checksum_reads_the_manifest_as_the_run_s_generator_wrote_it(tmp_path):
    (tmp_path / "truth").mkdir()
    manifest = tmp_path / "truth" / "manifest.json"
    manifest.write_text('{\n  "generator_digest": "aaaaaaaaaaaa",\n  "n_subjects": 2\n}\n')
    (tmp_path / "truth" / "x.nii.gz").write_bytes(b"data")
    made = folder_checksum(tmp_path)
    assert cohort_checksum(tmp_path) == made == cohort_checksum(tmp_path, "aaaaaaaaaaaa")
    manifest.write_text(manifest.read_text().replace("aaaaaaaaaaaa", "bbbbbbbbbbbb"))
    assert folder_checksum(tmp_path) != made  # other code wrote it ...
    assert cohort_checksum(tmp_path, "aaaaaaaaaaaa") == made  # ... the same data
    (tmp_path / "truth" / "x.nii.gz").write_bytes(b"other")
    assert cohort_checksum(tmp_path, "aaaaaaaaaaaa") != made
    manifest.write_text(manifest.read_text().replace('"n_subjects": 2', '"n_subjects": 3'))
    (tmp_path / "truth" / "x.nii.gz").write_bytes(b"data")
    assert cohort_checksum(tmp_path, "aaaaaaaaaaaa") != made  # the rest of the manifest counts


def test_a_run_continues_from_its_state_with_only_the_data_made_again(
    run, tmp_path, capsys, monkeypatch
):
    state = tmp_path / "state"
    save_state(run, state)
    files = portable_files(state)
    assert files == portable_files(run) and (state / RECORD).is_file()
    assert not any(p.suffix in (".pt", ".onnx") or "submission" in p.parts for p in files)
    assert not (state / "sourcedata").exists() and not (state / "bids").exists()
    kept = state / "runs" / "unet"  # fold 0's test report and tiles: the card and the gallery
    assert (kept / "evaluation-test" / "report.html").is_file()
    assert any((kept / "evaluation-test" / "worst").glob("*.png"))
    assert not (kept / "evaluation-association" / "report.html").exists()
    assert (kept / "evaluation-association" / "power.json").is_file()
    out = tmp_path / "elsewhere"
    assert main(["benchmark", str(out), *ARGS[:-1], "--state", str(state)]) == 1
    assert "pass --resume" in capsys.readouterr().err
    args = [*ARGS[:-1], "--resume", "--state", str(state)]
    made = json.loads((state / "stages" / "synth.json").read_text())["outputs"]
    # changed generator code (faster, re-documented) that writes the same data continues the run
    monkeypatch.setattr(
        "scvbench.steps.synth.cohort_writer.generator_digest", lambda: "feedfacecafe"
    )
    assert main(["benchmark", str(out), *args]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    ran = [line.split()[1].rstrip(":") for line in lines if "done in" in line]
    assert ran == ["synth", "convert", "derive", "annotations", "splits"]  # same checksums
    remade = json.loads((state / "stages" / "synth.json").read_text())["outputs"]
    assert remade["cohort_checksum"] == made["cohort_checksum"]
    assert (remade["generator"], remade["remade_by"]) == (made["generator"], "feedfacecafe")
    assert sum("skipped" in line for line in lines) == 8  # no model trained again
    before = json.loads((run / "leaderboard" / "entries" / "unet.json").read_text())
    after = json.loads((out / "leaderboard" / "entries" / "unet.json").read_text())
    assert after["scores"] == before["scores"] and after["data_checksum"]
    assert portable_files(state) == portable_files(out)  # the state follows the run
    stamps = {
        n: json.loads((state / "stages" / f"{n}.json").read_text())["outputs"]
        for n in ("convert", "derive", "annotations")
    }
    keys = ("dataset_checksum", "derivatives_checksum", "annotations_checksum")
    assert all(len(stamps[n][k]) == 64 for n, k in zip(stamps, keys, strict=True))

    # data made again that differs from the run's stops the run and keeps the run's stamp
    convert = state / "stages" / "convert.json"
    stamp = json.loads(convert.read_text())
    stamp["outputs"]["dataset_checksum"] = "0" * 64
    convert.write_text(json.dumps(stamp))
    assert main(["benchmark", str(tmp_path / "third"), *args]) == 1
    err = capsys.readouterr().err
    assert (
        "convert: made again, its dataset_checksum is" in err
        and "not the run's 000000000000" in err
    )
    assert json.loads(convert.read_text())["outputs"]["dataset_checksum"] == "0" * 64
