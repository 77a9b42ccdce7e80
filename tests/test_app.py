"""The BIDS-App contract of ``scvbench run``, through ``main([...])``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import assert_no_phi, copy_raw, phi_values, tree_digest

from scvbench.cli import main


@pytest.fixture(scope="module")
def app_run(derived, tmp_path_factory):
    """Participant level (half the labels with sub-, half without), then the group level."""
    bids, _, labels = derived
    root = tmp_path_factory.mktemp("app")
    raw = copy_raw(bids, root / "bids")
    before = tree_digest(raw)
    out = root / "out"
    ids = sorted(labels.values())
    named = [f"sub-{ids[0]}", *ids[1:]]
    args = [str(raw), str(out), "participant", "--participant-label", *named]
    args += ["--model", "frangi", "-w", str(root / "work"), "--nprocs", "2", "--mem", "4"]
    participant = main(["run", *args])
    group = main(["run", str(raw), str(out), "group"])
    return raw, out, ids, before, participant, group


def test_participant_level_writes_every_output_and_leaves_the_dataset_alone(app_run, tiny_cohort):
    raw, out, ids, before, participant, _ = app_run
    assert participant == 0
    assert tree_digest(raw) == before
    assert assert_no_phi(out, phi_values(tiny_cohort)) > 20  # derivatives, masks, reports
    for label in ids:
        assert (
            out / "scvbench" / f"sub-{label}/anat/sub-{label}_acq-swi_desc-minip_T2starw.nii.gz"
        ).is_file()
        anat = out / "frangi" / f"sub-{label}" / "anat"
        assert (anat / f"sub-{label}_acq-swi_label-vein_mask.nii.gz").is_file()
        assert (anat / f"sub-{label}_acq-swi_label-vein_probseg.nii.gz").is_file()
        table = pd.read_csv(anat / f"sub-{label}_acq-swi_desc-scv_morph.tsv", sep="\t")
        assert {"hemisphere", "tortuosity", "diameter_mm"} <= set(table.columns)
        page = (out / f"sub-{label}.html").read_text()
        assert f"sub-{label}" in page and "data:image/png;base64," in page
        record = json.loads((out / "logs" / f"sub-{label}.json").read_text())
        assert record["inputs"]["model_identity"] == "frangi:default"
    description = json.loads((out / "scvbench" / "dataset_description.json").read_text())
    assert (out / "scvbench" / description["DatasetLinks"]["raw"]).resolve() == raw.resolve()
    assert not list((out / "scvbench").glob(".work*"))
    assert not (out / "work").exists() and not any((raw.parent / "work").rglob("*"))


def test_outputs_pass_the_bids_validator(app_run):
    from scvbench.steps.convert.validate import validate

    _, out, *_ = app_run
    for dataset in ("scvbench", "frangi"):
        result = validate(out / dataset)
        assert result.valid, (dataset, result.errors)


def test_group_level_gathers_stats_evaluation_and_report(app_run):
    raw, out, ids, before, _, group = app_run
    assert group == 0
    assert tree_digest(raw) == before
    table = pd.read_csv(out / "frangi" / "acq-swi_desc-scv_morph.tsv", sep="\t")
    assert sorted(table["participant_id"].unique()) == [f"sub-{label}" for label in ids]
    assert len(table) == 2 * len(ids)
    assert (out / "group" / "stats" / "stats.json").is_file()
    results = json.loads((out / "group" / "evaluation" / "results.json").read_text())
    assert results["reference"]["split"] == "all"
    assert results["segmentation"]["n_cases"] > 0 and not results["problems"]
    page = (out / "group_report.html").read_text()
    for label in ids:
        assert f"href='sub-{label}.html'" in page
    assert "group/evaluation/report.html" in page and "group/stats/report.html" in page


def test_rerun_skips_unchanged_participants_and_redoes_changed_ones(app_run, capsys):
    raw, out, ids, *_ = app_run
    pages = {label: (out / f"sub-{label}.html").stat().st_mtime_ns for label in ids}
    args = ["run", str(raw), str(out), "participant", "--model", "frangi", "--nprocs", "2"]
    assert main([*args, "--skip-bids-validation"]) == 0
    assert f"0 done, {len(ids)} up to date, 0 failed" in capsys.readouterr().out
    assert {label: (out / f"sub-{label}.html").stat().st_mtime_ns for label in ids} == pages
    changed = ["--participant-label", ids[0], "--threshold", "0.4", "--skip-bids-validation"]
    assert main([*args, *changed]) == 0
    assert "1 done, 0 up to date" in capsys.readouterr().out
    mask = json.loads(
        (
            out / "frangi" / f"sub-{ids[0]}/anat/sub-{ids[0]}_acq-swi_label-vein_mask.json"
        ).read_text()
    )
    assert mask["Threshold"] == 0.4
    slab = ["--participant-label", ids[1], "--slab-mm", "10", "--skip-bids-validation"]
    assert main([*args, *slab]) == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert main([*args, *slab, "--overwrite"]) == 0
    minip = out / "scvbench" / f"sub-{ids[1]}/anat/sub-{ids[1]}_acq-swi_desc-minip_T2starw.json"
    assert json.loads(minip.read_text())["SlabThicknessMM"] == 10.0
    group = ["run", str(raw), str(out), "group", "--participant-label", ids[0], "nobody"]
    assert main(group) == 1
    assert "sub-nobody has not finished the participant level" in capsys.readouterr().err


def test_dry_run_writes_nothing(derived, tmp_path, capsys):
    bids, _, labels = derived
    out = tmp_path / "out"
    assert main(["run", str(bids), str(out), "participant", "--model", "frangi", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "dry run" in printed
    assert all(f"sub-{label}: derive" in printed for label in labels.values())
    assert not out.exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--no-such-option"],
        ["--participant-label"],
        ["--model", "frangi", "--checkpoint", "x.pt"],
        ["--mem", "lots"],
        ["--nprocs", "0"],
    ],
)
def test_bad_arguments_exit_2_with_the_usage(derived, tmp_path, capsys, extra):
    bids, *_ = derived
    assert main(["run", str(bids), str(tmp_path / "o"), "participant", *extra]) == 2
    assert "usage: scvbench run" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_level_and_missing_positionals_exit_2(derived, tmp_path, capsys):
    bids, *_ = derived
    assert main(["run", str(bids), str(tmp_path / "o"), "subject"]) == 2
    assert "invalid choice: 'subject'" in capsys.readouterr().err
    assert main(["run", str(bids)]) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--participant-label", "nobody", "--model", "frangi"], "no participant sub-nobody"),
        ([], "needs a model"),
        (["--model", "unet"], "has trainable weights"),
        (["--model", "frang"], "did you mean frangi"),
        (["--checkpoint", "missing.pt"], "no such checkpoint"),
    ],
)
def test_bad_input_exits_1_with_one_line(derived, tmp_path, capsys, extra, message):
    bids, *_ = derived
    assert main(["run", str(bids), str(tmp_path / "o"), "participant", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("scvbench: error:") == 1
    assert not (tmp_path / "o").exists()


def test_output_must_not_be_the_dataset_and_group_needs_participants(derived, tmp_path, capsys):
    bids, *_ = derived
    assert main(["run", str(bids), str(bids), "participant", "--model", "frangi"]) == 1
    assert "must not be the BIDS dataset" in capsys.readouterr().err
    assert main(["run", str(bids), str(tmp_path / "empty"), "group"]) == 1
    assert "no participant has finished" in capsys.readouterr().err


def test_invalid_dataset_is_refused_unless_validation_is_skipped(derived, tmp_path, capsys):
    bids, _, labels = derived
    raw = copy_raw(bids, tmp_path / "bids", raters=())
    label = sorted(labels.values())[0]
    (raw / f"sub-{label}" / "anat" / "notes.txt").write_text("not a BIDS file\n")
    args = ["run", str(raw), str(tmp_path / "out"), "participant", "--model", "frangi"]
    assert main([*args, "--participant-label", label]) == 1
    assert "BIDS validator found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_one_broken_participant_does_not_stop_the_others(derived, tmp_path, capsys):
    bids, _, labels = derived
    raw = copy_raw(bids, tmp_path / "bids", raters=())
    good, bad = sorted(labels.values())[:2]
    (raw / f"sub-{bad}" / "anat" / f"sub-{bad}_acq-swi_rec-swi_T2starw.nii.gz").write_bytes(
        b"\x1f\x8b not really gzip"
    )
    out = tmp_path / "out"
    args = ["run", str(raw), str(out), "participant", "--model", "frangi"]
    assert main([*args, "--participant-label", good, bad, "--skip-bids-validation"]) == 1
    captured = capsys.readouterr()
    assert "1 done, 0 up to date, 1 failed" in captured.out
    assert f"sub-{bad}" in captured.err
    assert (out / f"sub-{good}.html").is_file() and (out / "logs" / f"sub-{good}.json").is_file()
    assert not (out / f"sub-{bad}.html").exists()
    assert not (out / "scvbench" / f"sub-{bad}").exists()


def test_derivatives_already_in_the_dataset_are_copied_not_recomputed(derived, tmp_path, capsys):
    bids, _, labels = derived
    label = sorted(labels.values())[0]
    out = tmp_path / "out"
    args = ["run", str(bids), str(out), "participant", "--participant-label", label]
    assert main([*args, "--model", "frangi", "--skip-bids-validation"]) == 0
    assert "1 participant(s) derived alike before" in capsys.readouterr().out
    minip = f"sub-{label}/anat/sub-{label}_acq-swi_desc-minip_T2starw.nii.gz"
    source = bids / "derivatives" / "scvbench" / minip
    assert (out / "scvbench" / minip).read_bytes() == source.read_bytes()
    assert (out / "scvbench" / "sourcedata" / "qc" / f"sub-{label}.html").is_file()
    description = json.loads((out / "scvbench" / "dataset_description.json").read_text())
    assert (out / "scvbench" / description["DatasetLinks"]["raw"]).resolve() == bids.resolve()


def test_memory_limit_lowers_participants_at_once(derived):
    from scvbench.app.options import RunOptions, RunReport, estimate_memory_gb
    from scvbench.app.options import participant_workers as _workers

    bids, _, labels = derived
    ids = sorted(labels.values())
    need = estimate_memory_gb(bids, ids[0])
    assert 0.5 < need < 1.0  # 0.5 GB + 48 bytes per voxel of a tiny 160 x 160 x 56 SWI

    def workers(mem_gb):
        report = RunReport()
        options = RunOptions(bids, bids.parent / "o", "participant", nprocs=4, mem_gb=mem_gb)
        return _workers(options, bids, ids, report), report.notes

    assert workers(None) == (4, [])
    count, notes = workers(2.5 * need)
    assert count == 2 and "allows 2 participant(s) at once" in notes[0]
    count, notes = workers(0.5 * need)
    assert count == 1 and "one at a time" in notes[0]
