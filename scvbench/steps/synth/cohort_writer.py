"""Write a whole synthetic cohort: subjects in parallel, tables, manifest; all or nothing."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from pathlib import Path

import pandas as pd

from scvbench import __version__, io
from scvbench.errors import ScvbenchError
from scvbench.parallel import map_participants, retain_freed_memory
from scvbench.steps.synth import cohort as cohort_model
from scvbench.steps.synth.anatomy import load_template
from scvbench.steps.synth.imaging import PROTOCOL
from scvbench.steps.synth.presets import get_preset
from scvbench.steps.synth.sites import SITES, assign_sites, resolve_sites
from scvbench.steps.synth.subject import SubjectResult, SynthSettings, synthesize_subject

log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "generate_cohort"]

MANIFEST = Path("truth") / "manifest.json"
GENERATOR = "scvbench synth"


def generator_digest() -> str:
    """SHA-256 (12 hex digits) of the generator's own source: a changed generator is new data.

    Returns
    -------
    str
        The digest of every module of ``scvbench.steps.synth``, in name order.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _check_target(out: Path, request: dict, force: bool) -> bool:
    """Return True when ``out`` already holds exactly this cohort (nothing to do)."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise ScvbenchError(f"{out} exists and is not a folder; choose another output path")
    if not any(out.iterdir()):
        return False
    manifest = out / MANIFEST
    if not manifest.is_file():
        raise ScvbenchError(
            f"{out} is not empty and holds no synthetic cohort ({MANIFEST} is missing); "
            "choose an empty or new folder"
        )
    try:
        previous = json.loads(manifest.read_text())
    except (OSError, ValueError) as err:
        if force:
            return False
        raise ScvbenchError(
            f"{manifest} is unreadable ({err}); pass --force to replace {out}"
        ) from err
    if previous.get("generator") != GENERATOR:
        raise ScvbenchError(
            f"{out} holds something other than a synthetic cohort; choose another folder"
        )
    if {k: previous.get(k) for k in request} == request:
        return True
    if not force:
        made = (
            "made by another version of the generator"
            if {k: previous.get(k) for k in request if k != "generator_digest"}
            == {k: v for k, v in request.items() if k != "generator_digest"}
            else f"({previous.get('preset')}, {previous.get('n_subjects')} subjects, seed "
            f"{previous.get('seed')})"
        )
        raise ScvbenchError(
            f"{out} holds a different synthetic cohort {made}; pass --force to replace it"
        )
    return False


def _run_one(args: tuple[dict, SynthSettings, Path]) -> SubjectResult:
    if multiprocessing.parent_process() is not None:  # a worker: it ends with the cohort
        retain_freed_memory()
    row, settings, out = args
    return synthesize_subject(row, settings, out)


def generate_cohort(
    out: str | os.PathLike[str],
    preset: str = "tiny",
    n_subjects: int | None = None,
    seed: int = 0,
    effect: str = "paper",
    nprocs: int = 1,
    force: bool = False,
    progress: bool = True,
    sites: str | None = None,
) -> Path:
    """Generate a synthetic SWI/FLAIR cohort into ``out``.

    Parameters
    ----------
    out : path
        New or empty folder (or one holding a previous cohort, replaced with ``force``).
    preset : {"tiny", "demo", "paper"}
        Image size and default cohort size.
    n_subjects : int, optional
        Number of subjects (default: the preset's).
    seed : int
        Seed; the same arguments give byte-identical files.
    effect : {"paper", "null"}
        Group effects of the study, or none.
    nprocs : int
        Subjects generated in parallel.
    force : bool
        Replace a different cohort already in ``out`` (the same cohort is never rewritten).
    progress : bool
        Show a progress bar.
    sites : str, optional
        ``multisite`` or site names separated by commas (default: the study's Siemens 3 T);
        see :mod:`scvbench.steps.synth.sites`.

    Returns
    -------
    Path
        ``out``.
    """
    try:
        spec = get_preset(preset)
    except ValueError as err:
        raise ScvbenchError(str(err)) from None
    n = spec.n_subjects if n_subjects is None else int(n_subjects)
    if n < 1:
        raise ScvbenchError(f"--subjects must be at least 1, got {n}")
    if effect not in cohort_model.EFFECTS:
        raise ScvbenchError(
            f"unknown effect {effect!r}; choose one of {', '.join(cohort_model.EFFECTS)}"
        )
    if nprocs < 1:
        raise ScvbenchError(f"--nprocs must be at least 1, got {nprocs}")
    if seed < 0:
        raise ScvbenchError(f"--seed must be a non-negative integer, got {seed}")
    try:
        site_names = resolve_sites(sites)
    except ValueError as err:
        raise ScvbenchError(f"--sites: {err}") from None
    out = Path(out).resolve()
    request = {
        "generator": GENERATOR,
        "version": __version__,
        "generator_digest": generator_digest(),
        "preset": spec.name,
        "n_subjects": n,
        "seed": int(seed),
        "effect": effect,
        "sites": list(site_names),
    }
    if _check_target(out, request, force):
        log.info("%s already holds this cohort; nothing to do", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        _write_cohort(work, spec, n, int(seed), effect, nprocs, progress, request)
        io.replace_directory(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out


def _write_cohort(
    work: Path, spec, n: int, seed: int, effect: str, nprocs: int, progress: bool, request: dict
) -> None:

    table = cohort_model.draw_cohort(n, seed, effect)
    table["site"] = assign_sites(n, tuple(request["sites"]), seed)
    settings = SynthSettings(preset=spec, seed=seed)
    rows = table.to_dict("records")
    load_template()  # once, before forking, so that workers share it
    jobs = [(row, settings, work) for row in rows]
    results: dict[str, SubjectResult] = {}
    bar = None if progress else False  # shown on a terminal only, as tqdm does by default
    for _, result, _ in map_participants(
        _run_one, jobs, nprocs, f"synth {spec.name}", "subject", bar
    ):
        results[result.patient_id] = result
        log.info("subject %s done (%d of %d)", result.patient_id, len(results), n)

    demographics = table[["patient_id", "sex", "age", "education_years", "handedness"]]
    io.write_text(work / "demographics.csv", demographics.to_csv(index=False))
    fazekas = table[
        [
            "patient_id",
            "rater1_dwm",
            "rater1_pv",
            "rater2_dwm",
            "rater2_pv",
            "fazekas_dwm",
            "fazekas_pv",
        ]
    ].rename(columns={"fazekas_dwm": "consensus_dwm", "fazekas_pv": "consensus_pv"})
    io.write_text(work / "fazekas.csv", fazekas.to_csv(index=False))
    io.write_text(work / "truth" / "cohort.tsv", table.to_csv(sep="\t", index=False))
    ordered = [results[pid] for pid in table["patient_id"]]
    morph = pd.concat([r.morphometry for r in ordered], ignore_index=True)
    vessels = pd.concat([r.vessels for r in ordered], ignore_index=True)
    io.write_text(
        work / "truth" / "morphometry.tsv",
        morph.to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.6g"),
    )
    io.write_text(
        work / "truth" / "vessels.tsv",
        vessels.to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.6g"),
    )
    unplaced = sum(sum(r.unplaced.values()) for r in ordered)
    designed = int(table["count_right"].sum() + table["count_left"].sum())
    manifest = {
        **request,
        "protocol": PROTOCOL,
        "site_protocols": {name: SITES[name].record() for name in request["sites"]},
        "preset_spec": {
            "swi_matrix": spec.swi_matrix,
            "swi_slices": spec.swi_slices,
            "swi_pixel_mm": spec.swi_pixel_mm,
            "flair_matrix": spec.flair_matrix,
            "flair_slices": spec.flair_slices,
        },
        "minip": {"slab_mm": settings.slab_mm, "step_mm": settings.step_mm},
        "roles": cohort_model.role_counts(n),
        "effect_parameters": cohort_model.effect_parameters(effect),
        "subjects": [
            {
                "patient_id": row["patient_id"],
                "dicom_folder": f"PA{int(row['index']) + 1:04d}",
                "role": row["role"],
                "site": row["site"],
                "sex": row["sex"],
                "dwml": int(row["dwml"]),
                "annotated_minip_slices": results[row["patient_id"]].annotated_slices,
                "analysis_minip_slice": results[row["patient_id"]].analysis_slice,
                "unplaced_main_slab_veins": results[row["patient_id"]].unplaced,
            }
            for row in rows
        ],
        "unplaced_main_slab_veins": unplaced,
    }
    if unplaced:
        log.warning(
            "%d of %d designed main-slab veins found no room (%d subjects); their truth tables "
            "count what was placed (manifest: unplaced_main_slab_veins)",
            unplaced,
            designed,
            sum(1 for r in ordered if sum(r.unplaced.values())),
        )
    io.write_json(work / MANIFEST, manifest)
