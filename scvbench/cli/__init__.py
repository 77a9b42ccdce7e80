"""The ``scvbench`` command line: argument parsing only; each command calls one library function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from scvbench import __version__
from scvbench.app.run import LEVELS, RunOptions, default_threads, run
from scvbench.app.slurm import RUNTIMES, SlurmOptions, submit, write_scripts
from scvbench.errors import ScvbenchError
from scvbench.models import check_name
from scvbench.steps import morph
from scvbench.steps.annotate import import_annotations
from scvbench.steps.convert.run import convert_dataset, format_plan, read_key
from scvbench.steps.convert.validate import validate
from scvbench.steps.derive import PIPELINE, QC_DIR, derive_dataset
from scvbench.steps.evaluate import InvalidSubmission, evaluate
from scvbench.steps.leaderboard import add_entry, build
from scvbench.steps.predict import predict
from scvbench.steps.splits import N_FOLDS, write_splits
from scvbench.steps.stats import run_stats
from scvbench.steps.synth import generate_cohort
from scvbench.steps.synth.presets import PRESETS
from scvbench.steps.train import resolve_config, train

__all__ = ["main"]

log = logging.getLogger("scvbench")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            words = "at least 1" if minimum == 1 else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


def _cmd_synth(args: argparse.Namespace) -> int:

    out = generate_cohort(
        args.out,
        preset=args.preset,
        n_subjects=args.subjects,
        seed=args.seed,
        effect=args.effect,
        nprocs=args.nprocs,
        force=args.force,
    )
    log.info("synthetic cohort written to %s", out)
    print(f"synthetic cohort in {out}")
    return 0


def _add_synth(sub: argparse._SubParsersAction) -> None:

    p = sub.add_parser(
        "synth",
        help="generate a synthetic SWI/FLAIR cohort with known ground truth",
        description=(
            "Generate a synthetic cohort: Siemens-like DICOM series (SWI magnitude, phase, "
            "scanner-processed SWI and mIP, T2-FLAIR) with fake patient data, demographics.csv, "
            "fazekas.csv, Labelme annotations from two simulated raters, and truth/ (vein "
            "geometry, true masks and morphometry) that a model must not see."
        ),
    )
    p.add_argument("out", type=Path, help="output folder (new, empty, or a previous cohort)")
    p.add_argument(
        "--preset",
        default="tiny",
        choices=sorted(PRESETS),
        help="image and cohort size: tiny (tests), demo (make demo), paper (364 "
        "subjects, 352x352, the study's protocol); default: tiny",
    )
    p.add_argument(
        "--subjects",
        type=_positive_int,
        default=None,
        help="number of subjects (default: the preset's)",
    )
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--effect",
        choices=("paper", "null"),
        default="paper",
        help="group effects of the study (paper) or none (null); default: paper",
    )
    p.add_argument(
        "--nprocs",
        type=_positive_int,
        default=1,
        help="subjects generated in parallel (default: 1)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace a different synthetic cohort already in OUT"
    )
    p.set_defaults(func=_cmd_synth)


def _read_mapping(path: Path | None) -> dict[str, str] | None:

    return None if path is None else read_key(path, "label mapping")


def _cmd_convert(args: argparse.Namespace) -> int:

    report = convert_dataset(
        args.dicom_dir,
        args.bids_dir,
        demographics=args.demographics,
        fazekas=args.fazekas,
        config=args.config,
        key_file=args.key_file,
        mapping=_read_mapping(args.mapping),
        participant_labels=args.participant_label,
        dry_run=args.dry_run,
        overwrite=args.overwrite,
        nprocs=args.nprocs,
    )
    if args.dry_run:
        print(format_plan(report.plans, report.skipped_files))
        for problem in report.sheet_problems:
            print(f"scvbench: error: {problem}", file=sys.stderr)
        return 1 if report.sheet_problems else 0
    print(
        f"converted {len(report.converted)}, already present {len(report.up_to_date)}, "
        f"failed {len(report.failed)} participant(s) in {args.bids_dir}"
    )
    for plan in report.plans:
        for series, result, target in plan.series:
            if target is None:
                print(
                    f"sub-{plan.label}: series {series.number} ({series.description}) not "
                    f"used: {result.reason}"
                )
    for skipped in report.skipped_files:
        print(f"skipped {skipped.path}: {skipped.reason}")
    for label, reason in sorted(report.failed.items()):
        print(f"scvbench: error: sub-{label}: {reason}", file=sys.stderr)
    for problem in report.sheet_problems:
        print(f"scvbench: error: {problem}", file=sys.stderr)
    return 1 if report.failed or report.sheet_problems else 0


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert scanner DICOM (SWI, FLAIR) to a de-identified BIDS dataset",
        description=(
            "Find and classify DICOM series, convert them with dcm2niix, strip protected health "
            "information, and write a BIDS dataset with participants.tsv and "
            "phenotype/fazekas.tsv. Participants already converted are kept unless --overwrite."
        ),
    )
    p.add_argument("dicom_dir", type=Path, help="folder with DICOM files, any nesting")
    p.add_argument("bids_dir", type=Path, help="BIDS dataset to create or extend")
    p.add_argument(
        "--demographics", type=Path, help="CSV: patient_id, sex, age[, education_years, handedness]"
    )
    p.add_argument(
        "--fazekas",
        type=Path,
        help="CSV: patient_id, rater1_dwm, rater1_pv, rater2_dwm, rater2_pv, "
        "consensus_dwm, consensus_pv",
    )
    p.add_argument(
        "--config",
        type=Path,
        help='JSON series rules tried before the built-in table: {"rules": [{"kind": '
        '"swi", "match": {"SeriesDescription": "regex"}}]}',
    )
    p.add_argument(
        "--key-file", type=Path, help="where to write the PatientID-to-label key (outside BIDS_DIR)"
    )
    p.add_argument(
        "--mapping",
        type=Path,
        help="CSV: patient_id, participant_id (default: sequential labels 001, 002, "
        "... in PatientID order)",
    )
    p.add_argument(
        "--participant-label",
        nargs="+",
        metavar="LABEL",
        help="convert only these participants (with or without sub-)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (series -> BIDS name, or why skipped); write nothing",
    )
    p.add_argument("--overwrite", action="store_true", help="redo participants already present")
    p.add_argument(
        "--nprocs",
        type=_positive_int,
        default=1,
        help="participants converted in parallel (default: 1)",
    )
    p.set_defaults(func=_cmd_convert)


def _cmd_validate(args: argparse.Namespace) -> int:

    result = validate(args.bids_dir, recursive=args.recursive)
    for code, location in result.errors:
        print(f"error {code}: {location}")
    verdict = "valid" if result.valid else f"{len(result.errors)} error(s)"
    print(f"{args.bids_dir}: {verdict} ({len(result.warnings)} warning(s)), bids-validator-deno")
    if result.expected:
        print(
            f"  and {len(result.expected)} expected NOT_INCLUDED on _morph.tsv tables (BIDS has no "
            "suffix for morphometry tables)"
        )
    return 0 if result.valid else 1


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="run the official BIDS validator on a dataset",
        description="Run bids-validator-deno (offline) and report its verdict.",
    )
    p.add_argument("bids_dir", type=Path)
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="also validate the derivative datasets under derivatives/",
    )
    p.set_defaults(func=_cmd_validate)


def _finite_float(allow_zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number above 0 (or from 0 with ``allow_zero``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        low_ok = value >= 0 if allow_zero else value > 0
        if not (low_ok and value < float("inf")):
            words = "0 or more" if allow_zero else "a positive number"
            raise argparse.ArgumentTypeError(f"must be {words}, got {text}")
        return value

    return parse


_positive_float = _finite_float(allow_zero=False)
_non_negative_float = _finite_float(allow_zero=True)


def _cmd_derive(args: argparse.Namespace) -> int:

    report = derive_dataset(
        args.bids_dir,
        participant_labels=args.participant_label,
        slab_mm=args.slab_mm,
        step_mm=args.step_mm,
        slices=args.slices,
        nprocs=args.nprocs,
        overwrite=args.overwrite,
    )
    out = args.bids_dir / "derivatives" / PIPELINE
    print(
        f"derived {len(report.derived)}, up to date {len(report.up_to_date)}, failed "
        f"{len(report.failed)} participant(s) in {out} (QC reports: {out / QC_DIR})"
    )
    for label, reason in sorted(report.failed.items()):
        print(f"scvbench: error: sub-{label}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def _add_derive(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "derive",
        help="MinIP, brain and hemisphere masks, analysis slices, Labelme exports, QC reports",
        description=(
            "Write BIDS_DIR/derivatives/scvbench: the sliding MinIP of the SWI (slab and step in "
            "mm), brain mask and hemispheres on the MinIP grid, the analysis slices at the "
            "lateral-ventricle level, PNG exports for Labelme and a QC report per participant. "
            "Participants derived before with the same inputs and settings are skipped."
        ),
    )
    p.add_argument("bids_dir", type=Path, help="BIDS dataset made by scvbench convert")
    p.add_argument(
        "--participant-label",
        nargs="+",
        metavar="LABEL",
        help="derive only these participants (with or without sub-)",
    )
    p.add_argument(
        "--slab-mm", type=_positive_float, default=20.0, help="MinIP slab thickness (default: 20)"
    )
    p.add_argument(
        "--step-mm",
        type=_positive_float,
        default=1.0,
        help="step between MinIP slices (default: 1)",
    )
    p.add_argument(
        "--slices",
        type=_seed,
        nargs="+",
        metavar="K",
        help="set the analysis slices (MinIP indices) of the one participant named",
    )
    p.add_argument(
        "--nprocs", type=_positive_int, default=1, help="participants in parallel (default: 1)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo participants already derived (also after changing inputs or slab settings)",
    )
    p.set_defaults(func=_cmd_derive)


def _cmd_annotations_import(args: argparse.Namespace) -> int:

    report = import_annotations(
        args.labelme_dir,
        args.bids_dir,
        rater=args.rater,
        key_file=args.key_file,
        labels=tuple(args.label),
        line_width=args.line_width,
    )
    for (label, rater), slices in sorted(report.slices.items()):
        state = "unchanged" if (label, rater) in report.unchanged else "written"
        print(f"sub-{label} {rater}: slices {', '.join(map(str, slices))} ({state})")
    for skipped in report.skipped_shapes:
        print(f"skipped {skipped}")
    print(
        f"imported {len(report.written)}, unchanged {len(report.unchanged)} mask(s) in "
        f"{args.bids_dir / 'derivatives' / 'annotations'}"
    )
    return 0


def _add_annotations(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "annotations",
        help="import Labelme vein outlines as reference masks",
        description="Reference vein annotations made in Labelme on the exported MinIP slices.",
    )
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    q = actions.add_parser(
        "import",
        help="rasterise Labelme JSON files into vein masks on the MinIP grid",
        description=(
            "Rasterise the Labelme outlines under LABELME_DIR (polygons, rectangles, circles; "
            "line strips with --line-width) into derivatives/annotations vein masks on each "
            "participant's MinIP grid, one mask per rater. Every file is checked before "
            "anything is written."
        ),
    )
    q.add_argument("labelme_dir", type=Path, help="folder with Labelme .json files (any nesting)")
    q.add_argument("bids_dir", type=Path, help="BIDS dataset derived with scvbench derive")
    q.add_argument(
        "--rater",
        help="rater name (letters and digits) for all files; default: from each file's "
        "scvbench block or its folder name",
    )
    q.add_argument(
        "--key-file",
        type=Path,
        help="PatientID-to-label key from scvbench convert, for files named by PatientID",
    )
    q.add_argument(
        "--label",
        nargs="+",
        default=["vein"],
        help="Labelme labels that mark veins (default: vein); other shapes are skipped",
    )
    q.add_argument(
        "--line-width",
        type=_positive_float,
        help="width in pixels for line and line-strip shapes (needed if the files have any)",
    )
    q.set_defaults(func=_cmd_annotations_import)


def _cmd_morph(args: argparse.Namespace) -> int:

    if args.mask is not None:
        if args.bids or args.masks:
            raise ScvbenchError("give either MASK or --bids with --masks, not both")
        if args.out is None:
            raise ScvbenchError("give the output table with -o OUT.tsv")
        table = morph.morph_file(args.mask, args.hemi, args.slices, args.min_area_mm2)
        morph.write_table(args.out, table)
        print(f"{len(table)} vessel(s) in {table['slice'].nunique()} slice(s) -> {args.out}")
        return 0
    if not (args.bids and args.masks):
        raise ScvbenchError("give a MASK file, or --bids BIDS_DIR and --masks DERIV_DIR")
    if args.hemi or args.slices:
        raise ScvbenchError("--hemi and --slices are for one MASK; a dataset uses its derivatives")
    group = morph.morph_dataset(
        args.bids, args.masks, args.out, args.desc, args.all_slices, args.min_area_mm2
    )
    out = args.out or args.masks
    print(
        f"{group['participant_id'].nunique()} participant(s) measured -> {out / morph.GROUP_FILE}"
    )
    return 0


def _add_morph(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "morph",
        help="superficial-vein morphometry: length, tortuosity, diameter, count",
        description=(
            "Measure vessels of vein masks, one row per vessel: 8-connected components per "
            "hemisphere, skeleton as an 8-neighbour pixel graph (as skan), length = longest "
            "geodesic path between end points, tortuosity = length / chord, diameter = area / "
            "skeleton length. One MASK (-o OUT.tsv), or every participant of a derivative "
            "dataset (--bids, --masks)."
        ),
    )
    p.add_argument("mask", nargs="?", type=Path, help="a binary vein-mask NIfTI")
    p.add_argument("--hemi", type=Path, help="hemisphere dseg on the same grid (1 left, 2 right)")
    p.add_argument(
        "--slices", type=_seed, nargs="+", metavar="K", help="slices to measure (default: labelled)"
    )
    p.add_argument("--bids", type=Path, help="BIDS dataset derived with scvbench derive")
    p.add_argument("--masks", type=Path, help="derivative dataset with vein masks")
    p.add_argument("--desc", help="which masks when there are several (e.g. a rater: rater1)")
    p.add_argument(
        "--all-slices",
        action="store_true",
        help="group table: pool every measured slice (default: the one nearest the analysis slice)",
    )
    p.add_argument(
        "--min-area-mm2",
        type=_non_negative_float,
        default=2.0,
        help="components smaller than this are specks, not vessels (default: 2)",
    )
    p.add_argument("-o", "--out", type=Path, help="OUT.tsv for one MASK; OUT_DIR for a dataset")
    p.set_defaults(func=_cmd_morph)


def _cmd_stats(args: argparse.Namespace) -> int:

    result = run_stats(
        args.morph, args.participants, args.out, args.phenotype, fdr=args.fdr, terms=args.terms
    )
    for row in result["mann_whitney"]:
        shown = "n/a" if row["p"] is None else f"U {row['U']:g}, Z {row['Z']:.3f}, P {row['p']:.4f}"
        print(f"{row['comparison']:>4} {row['measure']:>10} {row['hemisphere']:>5}: {shown}")
    for term in result["logistic"].get("terms", []):
        print(
            f"logistic {term['name']}: B {term['coef']:.3f}, P {term['p']:.4f}, OR "
            f"{term['odds_ratio']:.3f} ({term['ci_low']:.3f}-{term['ci_high']:.3f})"
        )
    if result["logistic"].get("note"):
        print(f"logistic: {result['logistic']['note']}")
    print(f"tables, figures and report.html in {args.out}")
    return 0


def _add_stats(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="the study's group statistics: Tables 2 and 3, logistic regression, report",
        description=(
            "Median (Q1, Q3), Kolmogorov-Smirnov normality (Lilliefors), Mann-Whitney U (Z "
            "tie-corrected without continuity correction, as SPSS) by DWML group and by sex, "
            "Spearman against age and education, binary logistic regression of DWML on the "
            "measures that differed; stats.json, Table 2 and 3 (Markdown and CSV), box plots, "
            "a forest plot and report.html."
        ),
    )
    p.add_argument("--morph", type=Path, required=True, help="group table from scvbench morph")
    p.add_argument("--participants", type=Path, required=True, help="participants.tsv")
    p.add_argument("--phenotype", type=Path, help="phenotype/fazekas.tsv (DWML = fazekas_dwm >= 1)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--fdr", action="store_true", help="also Benjamini-Hochberg adjusted P (p_fdr)")
    p.add_argument(
        "--terms",
        nargs="+",
        metavar="MEASURE_HEMI",
        help="logistic predictors (e.g. tortuosity_right); default: the measures that differed",
    )
    p.set_defaults(func=_cmd_stats)


def _cmd_splits(args: argparse.Namespace) -> int:

    path, splits = write_splits(args.bids_dir, args.out, args.seed, args.rater, args.force)
    n_dev = len(splits["test"]) + len(splits["folds"][0]["train"]) + len(splits["folds"][0]["val"])
    print(
        f"{n_dev} development participant(s): test {len(splits['test'])}, per fold train "
        f"{len(splits['folds'][0]['train'])} / validation {len(splits['folds'][0]['val'])}; "
        f"association {len(splits['association'])} -> {path} (checksum {splits['checksum'][:12]})"
    )
    return 0


def _add_splits(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "splits",
        help="the fixed subject-level 6:2:2 split (test + 4 folds), stratified by sex and DWML",
        description=(
            "Hold out 20 %% of the development participants (those with reference masks, not in "
            "the association cohort) for test and split the rest into 4 folds of 60 %% training "
            "and 20 %% validation of the whole, stratified by sex and DWML; writes "
            "code/scvbench/splits.json in BIDS_DIR with a checksum."
        ),
    )
    p.add_argument("bids_dir", type=Path, metavar="BIDS_DIR", help="derived BIDS dataset")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--rater", help="whose reference masks define the participants (default: first)")
    p.add_argument(
        "-o", "--out", type=Path, help="split file (default: BIDS_DIR/code/scvbench/splits.json)"
    )
    p.add_argument("--force", action="store_true", help="replace a different existing split")
    p.set_defaults(func=_cmd_splits)


def _json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object, e.g. '{\"depth\": 18}'")
    return value


def _fold(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fold must be 0-3 or all, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"fold must be 0-3 or all, got {text!r}")
    return value


def _cmd_train(args: argparse.Namespace) -> int:

    check_name(args.model)
    folds = list(range(N_FOLDS)) if args.fold == "all" else [args.fold]
    for fold in folds:
        config = resolve_config(
            args.model,
            args.recipe,
            fold,
            loss=args.loss,
            seed=args.seed,
            iterations=args.iterations,
            batch_size=args.batch_size,
            size=args.size,
            rater=args.rater,
            model_config=args.model_config,
        )
        out = args.out / f"fold-{fold}" if args.fold == "all" else args.out
        summary = train(
            args.bids_dir, out, config, args.splits, progress=not args.quiet, ddp=args.ddp
        )
        if args.ddp and int(os.environ.get("RANK", "0")) != 0:
            continue
        print(
            f"{args.model} fold {fold}: {summary['steps']} steps in {summary['train_seconds']} s, "
            f"best validation Dice {summary['best_val_dice']:.3f} at step "
            f"{summary['best_step']} -> {out / 'model_best.pt'}"
        )
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a segmentation model on a fold of the fixed split",
        description=(
            "Train MODEL on fold K of BIDS_DIR/code/scvbench/splits.json (or every fold with "
            "--fold all) with a named recipe: paper (the study's schedule: SGD lr 0.01, x0.1 "
            "every 200 iterations, batch 64, 512x512, 1000 iterations) or cpu (256x256, batch 4, "
            "300 iterations). Seeded; resumes from RUN_DIR/checkpoint_last.pt; keeps the best "
            "model on validation Dice (model_best.pt), log.csv and config.json."
        ),
    )
    p.add_argument("bids_dir", type=Path, metavar="BIDS_DIR", help="derived BIDS dataset")
    p.add_argument("--model", required=True, help="model name (see scvbench.models)")
    p.add_argument("--fold", type=_fold, required=True, help="fold 0-3, or all")
    p.add_argument("--recipe", choices=["cpu", "paper"], default="cpu", help="default: cpu")
    p.add_argument("--loss", choices=["dicece", "cldice"], default="dicece", help="default: dicece")
    p.add_argument("--out", type=Path, required=True, help="run folder (RUN_DIR)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--iterations", type=_int_at_least(1), help="override the recipe's iterations")
    p.add_argument("--batch-size", type=_int_at_least(1), help="override the recipe's batch")
    p.add_argument("--size", type=_int_at_least(16), help="override the input size (x16)")
    p.add_argument("--splits", type=Path, help="split file (default: BIDS_DIR/code/scvbench/)")
    p.add_argument("--rater", help="reference masks (default: the split file's rater)")
    p.add_argument(
        "--model-config",
        type=_json_object,
        metavar="JSON",
        help='model settings over the recipe\'s, e.g. \'{"depth": 50, "dropout": 0.5}\'',
    )
    p.add_argument(
        "--ddp",
        action="store_true",
        help="DistributedDataParallel under torchrun (gloo on CPU, nccl on GPU)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _cmd_predict(args: argparse.Namespace) -> int:

    done = predict(
        args.bids_dir,
        args.checkpoint,
        args.out,
        args.participant_label,
        args.threshold,
        args.batch_size,
        progress=not args.quiet,
    )
    print(f"{len(done)} participant(s) segmented -> {args.out}")
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="segment veins with a trained model: a submission folder",
        description=(
            "Segment the reference-labelled slices (or the analysis slices) of every derived "
            "participant with a checkpoint of scvbench train; writes binary vein masks and "
            "probseg on the MinIP grid, with dataset_description.json naming the model."
        ),
    )
    p.add_argument("bids_dir", type=Path, metavar="BIDS_DIR", help="derived BIDS dataset")
    p.add_argument("--checkpoint", type=Path, required=True, help="model_best.pt of a run")
    p.add_argument("--out", type=Path, required=True, help="submission folder")
    p.add_argument("--participant-label", nargs="+", metavar="LABEL", help="some participants")
    p.add_argument(
        "--threshold", type=_finite_float(False), default=0.5, help="vein if p >= (default 0.5)"
    )
    p.add_argument(
        "--batch-size", type=_int_at_least(1), help="slices per batch (default: 8 on GPU, 1 on CPU)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)


def _cmd_evaluate(args: argparse.Namespace) -> int:

    try:
        results = evaluate(
            args.submission,
            args.reference,
            args.out,
            args.split,
            args.splits,
            args.rater,
            args.threshold,
            args.strict,
            args.published,
            args.human_rater,
            args.truth,
            args.key_file,
        )
    except InvalidSubmission as err:
        print(f"scvbench: invalid submission: {err}", file=sys.stderr)
        return 2
    for problem in results["problems"]:
        print(f"problem: {problem}", file=sys.stderr)
    seg = results["segmentation"]
    if seg["overall"]:
        dice = seg["overall"]["dice"]
        print(
            f"{seg['n_cases']} slice(s), {seg['n_invalid']} as worst case: Dice "
            f"{dice['mean']:.3f} (95 % CI {dice['ci_low']:.3f}-{dice['ci_high']:.3f}) -> {args.out}"
        )
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a submission against the reference vein masks",
        description=(
            "Validate a submission (folder, .zip or .tar.gz) and score its vein masks on the "
            "reference-labelled slices of a split: accuracy, Dice, IoU, clDice, precision, "
            "recall, HD95, ASSD, Betti-0 and vessel-count errors, per slice and hemisphere, "
            "with bootstrap CIs. Exit 0 evaluated, 2 invalid under --strict, 1 error."
        ),
    )
    p.add_argument("submission", type=Path, metavar="SUBMISSION", help="folder or archive")
    p.add_argument(
        "--reference",
        type=Path,
        help="the derived BIDS dataset (default: the one the submission links as raw)",
    )
    p.add_argument("--split", choices=["test", "association", "all"], default="test")
    p.add_argument("--splits", type=Path, help="split file (default: BIDS_DIR/code/scvbench/)")
    p.add_argument("--rater", help="reference rater (default: the split file's)")
    p.add_argument("--human-rater", help="rater scored as the human reference (default: another)")
    p.add_argument(
        "--truth", type=Path, help="a synthetic cohort's truth/ folder: also compare with the truth"
    )
    p.add_argument("--key-file", type=Path, help="PatientID-to-participant key (with --truth)")
    p.add_argument(
        "--threshold", type=_finite_float(False), default=0.5, help="for probseg-only cases"
    )
    p.add_argument("--strict", action="store_true", help="any problem is fatal (exit 2)")
    p.add_argument(
        "--published", choices=["paper"], help="also compare with the study's published tests"
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_leaderboard_add(args: argparse.Namespace) -> int:

    path = add_entry(args.results, args.dir, args.name, args.run, args.replace, args.association)
    print(f"entry -> {path}; rebuild with scvbench leaderboard build")
    return 0


def _cmd_leaderboard_build(args: argparse.Namespace) -> int:

    paths = build(args.dir)
    print(f"leaderboard -> {paths['readme']}, {paths['csv']}, {paths['html']}")
    return 0


def _add_leaderboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="add evaluated submissions and render the leaderboard",
        description="Entries with provenance; rank-then-aggregate with bootstrap rank intervals.",
    )
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    q = actions.add_parser(
        "add",
        help="add a test-split results.json (cases.tsv beside it)",
        description=(
            "Add an entry from results.json of scvbench evaluate --split test; refused when its "
            "reference data or split checksum differs from the leaderboard's."
        ),
    )
    q.add_argument("results", type=Path, metavar="RESULTS_JSON", help="results.json")
    q.add_argument("--name", help="entry name (default: the model named by the submission)")
    q.add_argument("--run", type=Path, help="training run folder (summary.json: time, hardware)")
    q.add_argument("--dir", type=Path, default=Path("leaderboard"), help="leaderboard folder")
    q.add_argument("--replace", action="store_true", help="replace an entry of the same name")
    q.add_argument(
        "--association",
        type=Path,
        help="results.json of the same submission on the association split (reproduction score)",
    )
    q.set_defaults(func=_cmd_leaderboard_add)
    q = actions.add_parser(
        "build",
        help="render README.md, leaderboard.csv and index.html",
        description="Rank the entries and render the table, CSV and static HTML page.",
    )
    q.add_argument("--dir", type=Path, default=Path("leaderboard"), help="leaderboard folder")
    q.set_defaults(func=_cmd_leaderboard_build)


def _memory_gb(text: str) -> float:
    """An argparse type: memory in GB (``16``, ``16G``, ``16GB``, ``16000MB``)."""
    raw = text.strip().upper().removesuffix("B")
    scale = 1.0
    if raw.endswith("G"):
        raw = raw[:-1]
    elif raw.endswith("M"):
        raw, scale = raw[:-1], 1e-3
    try:
        value = float(raw) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected memory in GB such as 16 or 16GB, got {text!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive amount of memory, got {text!r}")
    return value


def _cmd_run(args: argparse.Namespace) -> int:

    report = run(
        RunOptions(
            bids_dir=args.bids_dir,
            output_dir=args.output_dir,
            level=args.analysis_level,
            participant_labels=args.participant_label,
            skip_bids_validation=args.skip_bids_validation,
            work_dir=args.work_dir,
            nprocs=args.nprocs,
            mem_gb=args.mem,
            checkpoint=args.checkpoint,
            model=args.model,
            slab_mm=args.slab_mm,
            step_mm=args.step_mm,
            threshold=args.threshold,
            overwrite=args.overwrite,
            dry_run=args.dry_run,
        )
    )
    for note in report.notes:
        print(f"scvbench: warning: {note}", file=sys.stderr)
    if args.dry_run:
        print(f"{args.analysis_level} level, dry run (nothing written):")
        for line in report.plan:
            print(f"  {line}")
        return 0
    if report.reused:
        print(
            f"{len(report.reused)} participant(s) derived alike before in "
            f"{args.bids_dir}/derivatives/scvbench: copied, not derived again"
        )
    if args.analysis_level == "participant":
        print(
            f"participant level: {len(report.done)} done, {len(report.up_to_date)} up to date, "
            f"{len(report.failed)} failed; reports {args.output_dir}/sub-<label>.html"
        )
    else:
        print(
            f"group level: {len(report.done)} participants; report "
            f"{report.outputs['group_report']}, morphometry {report.outputs['morphometry']}"
        )
    for pid, reason in sorted(report.failed.items()):
        print(f"scvbench: error: {pid}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def _add_run(sub: argparse._SubParsersAction) -> None:

    p = sub.add_parser(
        "run",
        help="the BIDS-App: participant and group levels (what the container runs)",
        description=(
            "BIDS-App entry point. participant: derive the MinIP and masks, segment the veins "
            "with a model, measure them and write sub-<label>.html for each participant named "
            "(default all); participants already run with the same inputs, model and settings "
            "are skipped. group: the group morphometry table, the study's statistics, the "
            "evaluation against reference masks when the dataset has them, and "
            "group_report.html. BIDS_DIR is only read; results go to OUTPUT_DIR."
        ),
    )
    p.add_argument("bids_dir", type=Path, help="the raw BIDS dataset (read only)")
    p.add_argument("output_dir", type=Path, help="where the derivatives and reports go")
    p.add_argument("analysis_level", choices=LEVELS, help="participant or group")
    p.add_argument(
        "--participant-label",
        "--participant_label",
        nargs="+",
        metavar="LABEL",
        help="participants to process, with or without sub- (default: all)",
    )
    p.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        "--skip_bids_validator",
        action="store_true",
        help="do not run the BIDS validator on BIDS_DIR first",
    )
    p.add_argument(
        "-w",
        "--work-dir",
        type=Path,
        help="work folder, node-local scratch on a cluster (default: a temporary folder, removed)",
    )
    p.add_argument(
        "--nprocs",
        "--n-cpus",
        "--n_cpus",
        type=_positive_int,
        default=default_threads(),
        help="CPUs to use: participants derived at once and inference threads "
        f"(default: all available, here {default_threads()})",
    )
    p.add_argument(
        "--mem",
        "--mem-gb",
        "--mem_gb",
        type=_memory_gb,
        help="memory limit in GB: fewer participants run at once when they would not fit",
    )
    model = p.add_mutually_exclusive_group()
    model.add_argument(
        "--checkpoint",
        type=Path,
        help="a model trained by scvbench train (RUN/model_best.pt)",
    )
    model.add_argument(
        "--model",
        help="a model that needs no training, run with its default parameters (frangi)",
    )
    p.add_argument(
        "--slab-mm", type=_positive_float, default=20.0, help="MinIP slab thickness (default: 20)"
    )
    p.add_argument("--step-mm", type=_positive_float, default=1.0, help="MinIP step (default: 1)")
    p.add_argument(
        "--threshold",
        type=_positive_float,
        default=0.5,
        help="vein probability threshold (default: 0.5)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo participants already run (also with other inputs, settings or model)",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would run and write nothing")
    p.add_argument("--version", action="version", version=f"scvbench {__version__}")
    p.add_argument(
        "--verbose",
        dest="run_verbose",
        action="count",
        default=0,
        help="more logging (repeat for debug)",
    )
    p.set_defaults(func=_cmd_run, usage_parser=p)


def _cmd_slurm(args: argparse.Namespace) -> int:

    run_args = []
    for flag, value, default in (
        ("--slab-mm", args.slab_mm, 20.0),
        ("--step-mm", args.step_mm, 1.0),
        ("--threshold", args.threshold, 0.5),
    ):
        if value != default:
            run_args += [flag, f"{value:g}"]
    paths = write_scripts(
        SlurmOptions(
            bids_dir=args.bids_dir,
            output_dir=args.output_dir,
            image=args.image,
            runtime=args.runtime,
            participant_labels=args.participant_label,
            partition=args.partition,
            account=args.account,
            time=args.time,
            group_time=args.group_time,
            cpus=args.cpus,
            mem_gb=args.mem,
            max_parallel=args.max_parallel,
            work_dir=args.work_dir,
            script_dir=args.script_dir,
            checkpoint=args.checkpoint,
            model=args.model,
            run_args=tuple(run_args),
            skip_validation=args.skip_bids_validation,
        )
    )
    tasks = len(paths["participants"].read_text().split())
    print(f"{tasks} participant task(s): {paths['participant']}")
    print(f"group job: {paths['group']}")
    if args.submit:
        array, group = submit(paths)
        print(f"submitted: participant array {array}, group job {group} (afterok:{array})")
    else:
        print(f"submit with: bash {paths['submit']}")
    return 0


def _add_slurm(sub: argparse._SubParsersAction) -> None:

    p = sub.add_parser(
        "slurm",
        help="sbatch scripts: a participant job array and a group job that waits for it",
        description=(
            "Write SLURM scripts that run the BIDS-App image: a job array with one participant "
            "per task (its own work folder on node-local scratch; exit codes collected in "
            "participant_status.tsv) and a group job submitted with --dependency=afterok on "
            "the array. The dataset is validated once here; the tasks skip it."
        ),
    )
    p.add_argument("bids_dir", type=Path, help="the raw BIDS dataset (shared file system)")
    p.add_argument("output_dir", type=Path, help="the BIDS-App's output folder (shared)")
    p.add_argument("--image", help="container image: a .sif file, or a docker image name")
    p.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="apptainer",
        help="how tasks run the image (native: the scvbench installed here, no image); "
        "default: apptainer",
    )
    p.add_argument(
        "--participant-label",
        "--participant_label",
        nargs="+",
        metavar="LABEL",
        help="participants to run (default: all)",
    )
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--time", default="02:00:00", help="time limit per participant (02:00:00)")
    p.add_argument("--group-time", default="01:00:00", help="time limit of the group job")
    p.add_argument(
        "--cpus", type=_positive_int, default=4, help="CPUs per participant task (default: 4)"
    )
    p.add_argument(
        "--mem",
        type=_memory_gb,
        default=16.0,
        help="memory per task in GB, also given to scvbench run --mem (default: 16)",
    )
    p.add_argument("--max-parallel", type=_positive_int, help="array tasks running at once (%%N)")
    p.add_argument(
        "--work-dir",
        default="${TMPDIR:-/tmp}",
        help="node-local scratch for the work folders (default: ${TMPDIR:-/tmp})",
    )
    p.add_argument(
        "--script-dir", type=Path, help="where the scripts go (default: OUTPUT_DIR/slurm)"
    )
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="a model trained by scvbench train")
    model.add_argument("--model", help="a model that needs no training (frangi)")
    p.add_argument("--slab-mm", type=_positive_float, default=20.0, help="MinIP slab (20)")
    p.add_argument("--step-mm", type=_positive_float, default=1.0, help="MinIP step (1)")
    p.add_argument("--threshold", type=_positive_float, default=0.5, help="vein threshold (0.5)")
    p.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        action="store_true",
        help="do not validate the dataset before writing the scripts",
    )
    p.add_argument("--submit", action="store_true", help="submit them now with sbatch")
    p.set_defaults(func=_cmd_slurm, usage_parser=p)


_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_synth,
    _add_convert,
    _add_validate,
    _add_derive,
    _add_annotations,
    _add_morph,
    _add_stats,
    _add_splits,
    _add_train,
    _add_predict,
    _add_evaluate,
    _add_leaderboard,
    _add_run,
    _add_slurm,
]


def _get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scvbench",
        description="Superficial cerebral vein segmentation and morphometry on SWI MinIP images.",
    )
    parser.add_argument("--version", action="version", version=f"scvbench {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v: info, -vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 bad input, 2 bad usage)."""
    parser = _get_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named with the command's own usage (``scvbench run``'s for the BIDS-App)
            getattr(args, "usage_parser", parser).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
    except SystemExit as exc:  # argparse prints its own message
        return int(exc.code or 0)
    verbosity = args.verbose + getattr(args, "run_verbose", 0)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ScvbenchError as err:
        print(f"scvbench: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scvbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
