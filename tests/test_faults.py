"""Fault injection: every bad input, damaged run folder or hostile environment gets a clear answer
and loses nothing (issue #17).

Each case works on its own copy, in ``tmp_path``, of one simulated demo screen
(``screening simulate X --preset demo --seed 5``) and of one run folder measured from
it. The copy's shards are re-keyed to the copy's paths (the resume key holds each
file's path), so a rerun in the copy measures only what the fault touched. Each case
asserts the exit code, that the message names the file, well, key or path at fault,
and that nothing good was lost: fields the fault did not touch keep their
measurements, and a refused command leaves the run folder byte for byte as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from typer.testing import CliRunner

from screening.cli import ExitCode, app
from screening.config import load_config
from screening.io.atomic import make_dirs
from screening.io.runfolder import run_lock
from screening.plate import FIELD_KEYS
from screening.run.pipeline import (
    calibration_keys,
    calibration_samples,
    load_calibrations,
    plan_fields,
    read_calibrations,
    with_calibration_keys,
)

from .conftest import display_problem

runner = CliRunner()
VALUES = ["n_neurons", "neurite_length_um", "n_nuclei", "qc_pass", "status"]
WELL, VEHICLE = "B05", "C07"  # a treated well and a vehicle well of patient SOD1-A4V


@pytest.fixture(scope="session")
def measured(tmp_path_factory) -> Path:
    """The demo screen (seed 5) and one run folder of it, made once per session."""
    root = tmp_path_factory.mktemp("faults")
    done = runner.invoke(app, ["simulate", str(root / "screen"), "--preset", "demo", "--seed", "5"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["run", str(root / "screen" / "config.yaml"), "--out", str(root / "run")])
    assert done.exit_code == 0, done.output
    return root


@dataclass
class Demo:
    """A copy of the measured demo screen and its run folder."""

    screen: Path
    run: Path
    pristine: pd.DataFrame
    out: str = ""  # what the command printed (stdout and stderr)

    @property
    def config(self) -> Path:
        return self.screen / "config.yaml"

    @property
    def layout(self) -> Path:
        return self.screen / "PLATE01" / "layout.csv"

    def tif(self, well: str = WELL, t: int = 2, w: int = 1) -> Path:
        return self.screen / "PLATE01" / f"TimePoint_{t}" / f"PLATE01_{well}_s1_w{w}.TIF"

    def edit_config(self, edit: Callable[[dict], object]) -> None:
        data = yaml.safe_load(self.config.read_text())
        edit(data)
        self.config.write_text(yaml.safe_dump(data))

    def edit_layout(self, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
        table = pd.read_csv(self.layout, dtype=str, keep_default_na=False)
        edit(table).to_csv(self.layout, index=False)

    def fields(self) -> pd.DataFrame:
        return pd.read_parquet(self.run / "fields.parquet")

    def rekey(self) -> None:
        """Point the copied shards' resume keys (which hold each file's path) at the copied images.

        The calibration's key (which holds its sample's paths) too: the copies calibrate the same."""
        config = load_config(self.config)
        planned = plan_fields(config)
        calibration = read_calibrations(self.run)
        sample_keys = calibration_keys(calibration_samples(planned, config.segmentation.calibration_fields))
        calibration["calibration_key"] = calibration["plate"].map(sample_keys)
        calibration.to_csv(self.run / "calibration.csv", index=False)
        fields = with_calibration_keys(planned, load_calibrations(self.run))
        keys = fields.set_index(FIELD_KEYS)["field_key"]
        renamed = {}
        for shard in self.run.glob("shards/*/*.parquet"):
            rows = pd.read_parquet(shard)
            new = [keys[k] for k in rows[FIELD_KEYS].itertuples(index=False, name=None)]
            renamed.update(zip(rows["field_key"], new, strict=True))
            rows["field_key"] = new
            rows.to_parquet(shard, index=False)
        # The tracking stores (somata, registration thumbnails) are keyed like the shards.
        for objects in self.run.glob("objects/*/*.parquet"):
            rows = pd.read_parquet(objects)
            rows["field_key"] = rows["field_key"].map(renamed)
            rows.to_parquet(objects, index=False)
        for thumbs in self.run.glob("thumbs/*/*.npz"):
            with np.load(thumbs) as data:
                arrays = {renamed[k]: data[k] for k in data.files}
            with open(thumbs, "wb") as handle:
                np.savez(handle, **arrays)


@pytest.fixture
def demo(measured, tmp_path) -> Demo:
    shutil.copytree(measured / "screen", tmp_path / "screen")  # copy2 keeps mtimes
    shutil.copytree(measured / "run", tmp_path / "run")
    return Demo(tmp_path / "screen", tmp_path / "run", pd.read_parquet(measured / "run" / "fields.parquet"))


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*")) if p.is_file()}


def _invoke(demo: Demo, command: str, *extra: str):
    args = {
        "run": ["run", str(demo.config), "--out", str(demo.run)],
        "validate": ["validate", str(demo.config)],
        "score": ["score", str(demo.run)],
        "report": ["report", str(demo.run)],
    }[command]
    result = runner.invoke(app, [*args, *extra])
    demo.out = " ".join(result.output.split())
    return result


def _assert_good_fields_unchanged(
    demo: Demo, touched: Callable[[pd.DataFrame], pd.Series], *, recalibrated: bool = False
) -> None:
    """Every field the fault did not touch is still there with the same measurements.

    ``recalibrated``: the fault changes the plate's calibration sample, so its good fields are
    measured again under the new calibration (sizes read off fewer fields differ by a few %):
    their QC and status stay, their counts within one object, their neurite length (which joins
    neurites to the somata as segmented) within 3 %.
    """
    was = demo.pristine[~touched(demo.pristine)]
    now = demo.fields().merge(was[FIELD_KEYS], on=FIELD_KEYS)
    assert len(now) == len(was), "good fields vanished"
    counts = ["n_neurons", "n_nuclei", "neurite_length_um"]
    values = [v for v in VALUES if not (recalibrated and v in counts)]
    now, was = (t.sort_values(FIELD_KEYS).reset_index(drop=True) for t in (now, was))
    pd.testing.assert_frame_equal(
        now[FIELD_KEYS + values], was[FIELD_KEYS + values],
        check_dtype=False,  # a failed field's NaN makes n_neurons float
    )
    if recalibrated:
        for count in ("n_neurons", "n_nuclei"):
            np.testing.assert_allclose(now[count], was[count], atol=1, err_msg=count)
        np.testing.assert_allclose(now["neurite_length_um"], was["neurite_length_um"], rtol=0.03)


def _row(demo: Demo, well: str = WELL, t: int = 2) -> pd.Series:
    fields = demo.fields()
    return fields[(fields["well"] == well) & (fields["timepoint"] == t)].iloc[0]


# ------------------------------------------------------------------ injections


def _write_tif(path: Path, image: np.ndarray, **kwargs) -> None:
    tifffile.imwrite(path, image, **kwargs)


def _recompress(compression: str):
    def inject(demo: Demo) -> None:
        for path in sorted(demo.screen.rglob(f"PLATE01_{WELL}_*.TIF")):
            _write_tif(path, tifffile.imread(path), compression=compression)
    return inject


def _jpeg(demo: Demo) -> None:
    for w in (1, 2):
        image = tifffile.imread(demo.tif(w=w))
        _write_tif(demo.tif(w=w), (image / max(image.max(), 1) * 255).astype(np.uint8), compression="jpeg")


def _zero(w: int, value: int = 0):
    def inject(demo: Demo) -> None:
        image = tifffile.imread(demo.tif(w=w))
        _write_tif(demo.tif(w=w), np.full_like(image, value))
    return inject


def _nan_pixels(demo: Demo) -> None:
    image = tifffile.imread(demo.tif()).astype(np.float32)
    image[10:20, 10:20] = np.nan
    _write_tif(demo.tif(), image)


def _other_shape(shape):
    def inject(demo: Demo) -> None:
        image = tifffile.imread(demo.tif())
        _write_tif(demo.tif(), np.resize(image, shape))
    return inject


def _remove(*parts: tuple[str, int, int]):
    def inject(demo: Demo) -> None:
        for well, t, w in parts:
            demo.tif(well, t, w).unlink()
    return inject


def _remove_timepoint(demo: Demo) -> None:
    shutil.rmtree(demo.screen / "PLATE01" / "TimePoint_3")


def _extra_timepoint(demo: Demo) -> None:
    shutil.copytree(demo.screen / "PLATE01" / "TimePoint_4", demo.screen / "PLATE01" / "TimePoint_5")


def _clutter(demo: Demo) -> None:
    """What acquisition software and file browsers leave beside the images."""
    folder = demo.tif().parent
    shutil.copy(demo.tif(), folder / f"PLATE01_{WELL}_s1_w1_thumb.TIF")
    (folder / ".DS_Store").write_bytes(b"\0\1junk")
    (folder / "Thumbs.db").write_bytes(b"junk")
    (folder / "notes.txt").write_text("plate imaged on Tuesday\n")


def _lowercase_extension(demo: Demo) -> None:
    demo.tif().rename(demo.tif().with_suffix(".tif"))


def _same_folder_twice(demo: Demo) -> None:
    demo.edit_config(lambda c: c["plates"].append({**c["plates"][0], "id": "PLATE02"}))


def _excel_layout(demo: Demo) -> None:
    """What a spreadsheet export does: a byte-order mark, CRLF line ends, A1-style wells."""
    text = demo.layout.read_text()
    for row in "ABCDEFGH":
        text = text.replace(f"\n{row}0", f"\n{row}")
    demo.layout.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())


def _layout_rows(edit: Callable[[pd.DataFrame], pd.DataFrame]):
    return lambda demo: demo.edit_layout(edit)


def _set(table: pd.DataFrame, well: str, **values) -> pd.DataFrame:
    for column, value in values.items():
        table.loc[table["well"] == well, column] = value
    return table


def _config(edit: Callable[[dict], object]):
    return lambda demo: demo.edit_config(edit)


def _flags(text: str | bytes):
    def inject(demo: Demo) -> None:
        path = demo.run / "qc_flags.csv"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return inject


def _replace_fields(demo: Demo) -> None:
    """A rerun killed just after it replaced fields.parquet: new fields, the old manifest and scores."""
    fields = demo.fields()
    fields.loc[fields["well"] == WELL, "n_neurons"] += 5
    fields.to_parquet(demo.run / "fields.parquet", index=False)


def _truncate(name: str, keep: float = 0.5):
    def inject(demo: Demo) -> None:
        data = (demo.run / name).read_bytes()
        (demo.run / name).write_bytes(data[: int(len(data) * keep)])
    return inject


def _damage_shard(demo: Demo) -> None:
    (demo.run / "shards" / "PLATE01" / f"{WELL}.parquet").write_bytes(b"PAR1 not really")


def _stale_lock(demo: Demo) -> None:
    """The lock file of a run that was killed (no process holds it; its pid is gone)."""
    (demo.run / ".screening.lock").write_text(json.dumps(
        {"pid": 2**22 + 17, "host": os.uname().nodename, "command": "screening run", "started": "yesterday"}))


def _full_disk(monkeypatch):
    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)


def _only_vehicle_day_0(demo: Demo) -> None:
    """A validation plate: vehicle wells only, imaged once."""
    for t in (2, 3, 4):
        shutil.rmtree(demo.screen / "PLATE01" / f"TimePoint_{t}")
    demo.edit_config(lambda c: c.update(timepoints={1: 0.0}))
    demo.edit_layout(lambda t: t.assign(role=t["role"].where(t["role"].isin(["vehicle", "empty"]), "empty")))
    for path in demo.screen.glob("PLATE01/TimePoint_1/*.TIF"):
        well = path.name.split("_")[1]
        if well not in {"C07", "C11", "D01", "D10", "F07", "F10"}:
            path.unlink()


def _no_treatment(demo: Demo) -> None:
    demo.edit_layout(lambda t: t.assign(role=t["role"].replace({"treatment": "vehicle", "positive_control": "vehicle"}),
                                        compound=t["compound"].where(t["role"].isin(["empty"]), "DMSO")))


def _calibrated_on_fewer_fields(demo: Demo) -> None:
    """The plate's calibration was made again, on the fields it has left (why ``recalibrated``)."""
    sample = load_config(demo.config).segmentation.calibration_fields
    n_fields = int(read_calibrations(demo.run)["n_fields"].iloc[0])
    assert n_fields < sample, f"calibration still on {n_fields} fields"


def _untouched(fields: pd.DataFrame) -> pd.Series:
    return pd.Series(False, index=fields.index)


def _field(well: str = WELL, t: int | None = 2):
    return lambda f: (f["well"] == well) & (f["timepoint"] == t if t is not None else True)


# ------------------------------------------------------------------ the cases


@dataclass
class Fault:
    """One kind of fault: how to plant it, which command meets it, and the answer expected."""

    id: str
    inject: Callable[[Demo], object]
    command: str
    code: int
    names: Callable[[Demo], list[str]] = lambda d: []
    # Fields whose rows may change (None: the command must leave the run folder as it was).
    touched: Callable[[pd.DataFrame], pd.Series] | None = None
    check: Callable[[Demo], object] = lambda d: None
    extra: tuple[str, ...] = ()
    # The fault changes which fields the plate's calibration samples (see _assert_good_fields_unchanged).
    recalibrated: bool = False


OK, BAD, USAGE, TOO_MANY = ExitCode.OK, ExitCode.INVALID_INPUT, ExitCode.USAGE, ExitCode.TOO_MANY_FAILED


def _failed_naming(*words):
    def check(demo: Demo) -> None:
        row = _row(demo)
        assert row["status"] == "failed" and not row["qc_pass"]
        for word in words:
            assert word in row["error"], row["error"]
    return check


def _qc_failed(reason: str, well: str = WELL):
    def check(demo: Demo) -> None:
        row = _row(demo, well)
        assert row["status"] == "ok" and not row["qc_pass"] and reason in row["qc_reason"], row["qc_reason"]
    return check


def _same_as_before(demo: Demo) -> None:
    _assert_good_fields_unchanged(demo, _untouched)


FAULTS = [
    # --- images: the field fails (or fails QC) by name; the run goes on
    Fault("corrupt-tiff", lambda d: d.tif().write_bytes(os.urandom(4096)), "run", OK,
          lambda d: [str(d.tif()), "unreadable TIFF"], _field(), _failed_naming("B05_s1_w1")),
    Fault("truncated-tiff", lambda d: d.tif().write_bytes(d.tif().read_bytes()[:5000]), "run", OK,
          lambda d: [f"{d.tif()}: truncated TIFF"], _field(), _failed_naming("B05_s1_w1")),
    Fault("empty-tiff", lambda d: d.tif().write_bytes(b""), "run", OK,
          lambda d: [str(d.tif())], _field(), _failed_naming("B05_s1_w1")),
    Fault("text-named-tif", lambda d: d.tif().write_text("not an image"), "run", OK,
          lambda d: [str(d.tif())], _field(), _failed_naming("B05_s1_w1")),
    Fault("nan-pixels", _nan_pixels, "run", OK, lambda d: [], _field(), _failed_naming("NaN", "B05_s1_w1")),
    Fault("missing-channel-file", _remove((WELL, 2, 2)), "run", OK,
          lambda d: [f"well {WELL} site 1 timepoint 2: no file for channel w2"], _field(),
          _failed_naming("no file for channel w2")),
    Fault("missing-field", _remove((WELL, 2, 1), (WELL, 2, 2)), "run", OK,
          lambda d: [f"well {WELL} site 1: no images at timepoint(s) [2]"], _field(),
          _failed_naming("no image file for any channel")),
    Fault("missing-timepoint-folder", _remove_timepoint, "run", TOO_MANY,
          lambda d: ["no images at timepoint 3 (day 7) in any well", "24 of 96 fields failed"],
          lambda f: f["timepoint"] == 3),
    Fault("missing-timepoint-validate", _remove_timepoint, "validate", BAD,
          lambda d: ["no images at timepoint 3 (day 7) in any well"]),
    Fault("extra-timepoint-folder", _extra_timepoint, "run", BAD, lambda d: ["timepoint(s) [5]", "timepoints:"]),
    Fault("blank-reporter", _zero(1), "run", OK, lambda d: [], _field(), _qc_failed("no signal in the reporter channel")),
    Fault("blank-nuclei", _zero(2), "run", OK, lambda d: [], _field(), _qc_failed("no signal in the nuclei channel")),
    Fault("constant-channel", _zero(2, 300), "run", OK, lambda d: [], _field(), _qc_failed("are 300")),
    Fault("cropped-channel", _other_shape((200, 256)), "run", BAD,
          lambda d: [str(d.tif()), "images of different shapes", "(200, 256)"]),
    Fault("huge-field", _other_shape((2048, 2048)), "run", BAD, lambda d: [str(d.tif()), "(2048, 2048)"]),
    Fault("rgb-tiff", lambda d: _write_tif(d.tif(), np.stack([tifffile.imread(d.tif())] * 3, -1)), "run", BAD,
          lambda d: [str(d.tif()), "(256, 256, 3)"]),
    Fault("cropped-channel-validate", _other_shape((200, 256)), "validate", BAD, lambda d: [str(d.tif())]),
    # The demo's 24 first-timepoint fields are its whole calibration sample: two of them lost,
    # the plate is calibrated on the 22 left.
    Fault("too-many-failed", lambda d: [d.tif(w, t).write_bytes(b"") for w in (WELL, VEHICLE) for t in (1, 2, 3)],
          "run", TOO_MANY, lambda d: ["6 of 96 fields failed", "compute.max_failed_fraction", "B05"],
          lambda f: f["well"].isin([WELL, VEHICLE]) & (f["timepoint"] <= 3), check=_calibrated_on_fewer_fields,
          recalibrated=True),
    # --- compressions and clutter real exports have: same measurements
    Fault("lzw-tiff", _recompress("lzw"), "run", OK, touched=_untouched),
    Fault("deflate-tiff", _recompress("deflate"), "run", OK, touched=_untouched),
    Fault("zstd-tiff", _recompress("zstd"), "run", OK, touched=_untouched),
    Fault("jpeg-tiff", _jpeg, "run", OK, touched=_field(),
          check=lambda d: (_row(d)["status"] == "ok") or pytest.fail(_row(d)["error"])),
    Fault("thumbs-and-clutter", _clutter, "run", OK, touched=_untouched,
          check=lambda d: len(d.fields()) == len(d.pristine) or pytest.fail("clutter became fields")),
    Fault("lowercase-extension", _lowercase_extension, "run", OK, touched=_untouched),
    # --- plate maps and plate folders: refused before anything is written
    Fault("layout-missing-column", _layout_rows(lambda t: t.drop(columns="role")), "run", BAD,
          lambda d: [f"{d.layout}, line 1: missing column(s) role"]),
    Fault("layout-unknown-role", _layout_rows(lambda t: _set(t, VEHICLE, role="vehicel")), "run", BAD,
          lambda d: [f"{d.layout}, line", "column role: unknown role 'vehicel'; did you mean vehicle?"]),
    Fault("layout-bad-concentration", _layout_rows(lambda t: _set(t, WELL, concentration_um="ten")), "run", BAD,
          lambda d: [f"{d.layout}, line", "column concentration_um: 'ten' is not a number"]),
    Fault("layout-duplicate-well", _layout_rows(lambda t: pd.concat([t, t[t["well"] == WELL]])), "run", BAD,
          lambda d: [f"{WELL} is mapped twice"]),
    Fault("layout-unmapped-imaged-well", _layout_rows(lambda t: t[t["well"] != WELL]), "run", BAD,
          lambda d: [f"imaged well(s) {WELL} not in plate map {d.layout}"]),
    Fault("layout-mapped-well-not-imaged", _layout_rows(lambda t: _set(t, "H12", patient="SOD1-A4V", compound="cpd01",
                                                                        concentration_um="10", role="treatment")),
          "run", BAD, lambda d: ["mapped well(s) H12 have no images"]),
    Fault("layout-missing-file", lambda d: d.layout.unlink(), "run", BAD, lambda d: [f"{d.layout}: plate map not found"]),
    Fault("patient-without-vehicle", _layout_rows(lambda t: t.assign(role=t["role"].where(
        ~(t["role"].eq("vehicle") & t["patient"].eq("SOD1-A4V")), "treatment"))), "run", BAD,
          lambda d: ["patient SOD1-A4V: no vehicle wells"]),
    Fault("excel-layout", _excel_layout, "run", OK, touched=_untouched),
    Fault("plate-folder-missing", lambda d: shutil.rmtree(d.screen / "PLATE01" / "TimePoint_1") or
          _config(lambda c: c["plates"][0].update(path="PLATE99"))(d), "run", BAD,
          lambda d: [f"{d.screen / 'PLATE99'}: plate folder not found (plate PLATE01)"]),
    Fault("same-folder-two-plate-ids", _same_folder_twice, "run", BAD,
          lambda d: ["plates PLATE01 and PLATE02 read the same 192 image file(s)", str(d.screen / "PLATE01")]),
    Fault("same-folder-validate", _same_folder_twice, "validate", BAD, lambda d: ["PLATE01 and PLATE02"]),
    # --- run configs
    Fault("config-unknown-key", _config(lambda c: c.update(chanels=c.pop("channels"))), "run", BAD,
          lambda d: [str(d.config), "chanels: unknown key; did you mean channels?"]),
    Fault("config-wrong-type", _config(lambda c: c.update(pixel_size_um="abc")), "run", BAD,
          lambda d: [str(d.config), "pixel_size_um"]),
    Fault("config-negative-pixel-size", _config(lambda c: c.update(pixel_size_um=-0.65)), "run", BAD,
          lambda d: ["pixel_size_um"]),
    Fault("config-yaml-syntax", lambda d: d.config.write_text("name: x\nchannels: [reporter: w1\n"), "run", BAD,
          lambda d: [str(d.config), "not valid YAML", "line"]),
    Fault("config-yaml-python-tag", lambda d: d.config.write_text('name: !!python/object/apply:os.system ["true"]\n'),
          "run", BAD, lambda d: [str(d.config), "python/object/apply"]),
    Fault("config-yaml-alias-bomb", lambda d: d.config.write_text(
        "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")) + "name: *i\n"),
          "run", BAD, lambda d: [str(d.config), "name"]),
    Fault("config-empty", lambda d: d.config.write_text(""), "run", BAD, lambda d: [str(d.config)]),
    Fault("config-missing", lambda d: d.config.unlink(), "run", BAD, lambda d: [f"{d.config}: config file not found"]),
    Fault("config-wrong-channel-token", _config(lambda c: c["channels"].update(reporter="w9")), "run", BAD,
          lambda d: ["channels.reporter and channels.neurites = 'w9' is in no file name (the plate has w1, w2)"]),
    # --- the environment: a clear line and its own exit code, nothing half-written
    Fault("out-is-a-file", lambda d: (d.run.parent / "afile").write_text("x"), "run", ExitCode.CANNOT_WRITE,
          lambda d: [str(d.run.parent / "afile"), "choose another --out"], extra=("--out", "{root}/afile")),
    Fault("out-under-a-file", lambda d: (d.run.parent / "afile").write_text("x"), "run", ExitCode.CANNOT_WRITE,
          lambda d: [str(d.run.parent / "afile" / "run"), "choose another --out"], extra=("--out", "{root}/afile/run")),
    Fault("out-unwritable", lambda d: None, "run", ExitCode.CANNOT_WRITE,
          lambda d: ["/proc/screening-fault/run"], extra=("--out", "/proc/screening-fault/run")),
    Fault("workers-negative", lambda d: None, "run", USAGE, lambda d: ["--workers", "greater than or equal to 1"], extra=("--workers", "-1")),
    Fault("workers-zero", lambda d: None, "run", USAGE, lambda d: ["--workers"], extra=("--workers", "0")),
    Fault("scheduler-without-address", lambda d: (_config(lambda c: c.update(compute={"scheduler": "distributed"}))(d),
                                                  os.utime(d.tif())), "run", ExitCode.SCHEDULER,
          lambda d: ["compute.address", "--address"]),
    Fault("lock-held-by-stopped-run", _stale_lock, "run", OK, lambda d: ["took over the lock", "not running"],
          touched=_untouched),
    Fault("damaged-shard", _damage_shard, "run", OK,
          lambda d: [str(d.run / "shards" / "PLATE01" / f"{WELL}.parquet"), "measured again"], touched=_untouched),
    Fault("damaged-manifest-score", _truncate("manifest.json"), "score", ExitCode.RUN_FOLDER_DAMAGED,
          lambda d: [f"{d.run / 'manifest.json'}: damaged", "screening run"]),
    Fault("damaged-manifest-rerun", _truncate("manifest.json"), "run", OK, touched=_untouched,
          check=lambda d: json.loads((d.run / "manifest.json").read_text())["fields"]["reused"] == 96
          or pytest.fail("not all reused")),
    Fault("not-a-run-folder", lambda d: (d.run / "manifest.json").unlink(), "report", ExitCode.RUN_FOLDER_DAMAGED,
          lambda d: [f"{d.run}: no manifest.json"]),
    Fault("fields-replaced-report", _replace_fields, "report", ExitCode.RUN_FOLDER_DAMAGED,
          lambda d: [f"{d.run / 'fields.parquet'}: not the file manifest.json records", "screening run"]),
    Fault("fields-replaced-score", _replace_fields, "score", ExitCode.RUN_FOLDER_DAMAGED,
          lambda d: [f"{d.run / 'fields.parquet'}", "screening run"]),
    Fault("truncated-scores", _truncate("scores.csv"), "report", ExitCode.RUN_FOLDER_DAMAGED,
          lambda d: [f"{d.run / 'scores.csv'}: not the file manifest.json records", f"screening score {d.run}"]),
    Fault("missing-wells-table", lambda d: (d.run / "wells.parquet").unlink(), "report", ExitCode.RUN_FOLDER_DAMAGED,
          lambda d: [f"{d.run / 'wells.parquet'}: not found"]),
    Fault("unreadable-fields-table", lambda d: (d.run / "fields.parquet").write_bytes(b"garbage"), "score",
          ExitCode.RUN_FOLDER_DAMAGED, lambda d: [str(d.run / "fields.parquet")]),
    # --- qc_flags.csv: checked like a plate map
    Fault("flags-unknown-plate", _flags("plate,well,site,reason\nPLATE1,B05,,dust\n"), "score", BAD,
          lambda d: [f"{d.run / 'qc_flags.csv'}, line 2, column plate: 'PLATE1'", "did you mean PLATE01?"]),
    Fault("flags-unknown-well", _flags("plate,well,site,reason\nPLATE01,B5,,dust\nPLATE01,Z99,,dust\n"), "score", BAD,
          lambda d: ["line 3, column well:", "Z99"]),
    Fault("flags-unknown-site", _flags("plate,well,site,reason\nPLATE01,B05,2,dust\n"), "score", BAD,
          lambda d: ["line 2, column site: well PLATE01:B05 has no site 2"]),
    Fault("flags-site-letter", _flags("plate,well,site,reason\nPLATE01,B05,l,dust\n"), "score", BAD,
          lambda d: [f"{d.run / 'qc_flags.csv'}, line 2, column site: 'l' is not a site number"]),
    Fault("flags-ragged", _flags("plate,well,site,reason\nPLATE01,B05,1,dust, and more\n"), "score", BAD,
          lambda d: ["line 2: 5 value(s) for 4 column(s)"]),
    Fault("flags-binary", _flags(b"\xff\xfe\x00garbage\x00\x89"), "score", BAD,
          lambda d: [f"{d.run / 'qc_flags.csv'}: not a readable CSV"]),
    Fault("flags-missing-column", _flags("plate,sit,reason\nPLATE01,1,dust\n"), "score", BAD,
          lambda d: ["unknown column 'sit'", "missing column(s) well"]),
    # --- plates that give no hazard ratio: the tables and the reason, exit 0
    Fault("vehicle-only-one-timepoint", _only_vehicle_day_0, "run", OK,
          lambda d: ["no hazard ratios"],
          lambda f: (f["timepoint"] > 1) | ~f["well"].isin(["C07", "C11", "D01", "D10", "F07", "F10"]),
          check=lambda d: [("no hazard ratios" in (d.run / n).read_text()) or pytest.fail(n)
                           for n in ("warnings.txt", "report.html")] + [_calibrated_on_fewer_fields(d)],
          recalibrated=True),
    Fault("no-treatment-arm", _no_treatment, "run", OK, lambda d: ["no hazard ratios", "no treatment"],
          touched=_untouched),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_fault_gets_a_clear_answer_and_loses_nothing(fault: Fault, demo: Demo):
    if fault.command == "run" and fault.touched is not None:
        demo.rekey()  # the run goes on: it must measure only what the fault touched
    fault.inject(demo)
    extra = [a.replace("{root}", str(demo.run.parent)) for a in fault.extra]
    before = _digests(demo.run)
    result = _invoke(demo, fault.command, *extra)
    assert result.exit_code == fault.code, demo.out[-3000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for name in fault.names(demo):
        assert name in demo.out, f"{name!r} not in: {demo.out[-3000:]}"
    if fault.touched is None:
        assert _digests(demo.run) == before, "a refused command changed the run folder"
        assert not list(demo.run.rglob("*.tmp"))
    else:
        _assert_good_fields_unchanged(demo, fault.touched, recalibrated=fault.recalibrated)
    fault.check(demo)


def test_the_suite_covers_at_least_40_kinds():
    assert len({f.id for f in FAULTS}) == len(FAULTS) >= 40


# ------------------------------------------------------------------ faults that need a process


def test_full_disk_names_the_file_and_keeps_the_old_table(demo, monkeypatch):
    demo.rekey()
    os.utime(demo.tif())  # one field to measure, so the shard is written first
    before = _digests(demo.run)
    _full_disk(monkeypatch)
    result = _invoke(demo, "run")
    assert result.exit_code == ExitCode.CANNOT_WRITE, demo.out
    # The well's first file written (its somata, stored just before its shard) is named.
    assert f"{demo.run / 'objects' / 'PLATE01' / WELL}.parquet" in demo.out and "disk is full" in demo.out
    assert _digests(demo.run) == before and not list(demo.run.rglob("*.tmp"))


def test_second_run_into_a_locked_folder_is_refused(demo):
    with run_lock(demo.run, "screening run (the first)"):
        before = _digests(demo.run)
        result = _invoke(demo, "run")
        assert result.exit_code == ExitCode.RUN_FOLDER_BUSY, demo.out
        assert f"{demo.run} is in use by `screening run (the first)` (pid {os.getpid()}" in demo.out
        assert str(demo.run / ".screening.lock") in demo.out
        assert _invoke(demo, "score").exit_code == ExitCode.RUN_FOLDER_BUSY
        assert _invoke(demo, "report").exit_code == ExitCode.RUN_FOLDER_BUSY
        assert _digests(demo.run) == before
    assert not (demo.run / ".screening.lock").exists()


def test_a_run_that_cannot_start_leaves_no_run_folder(demo, tmp_path):
    fresh = tmp_path / "fresh"
    demo.edit_config(lambda c: c.update(compute={"scheduler": "distributed"}))  # fails after the folder is made
    result = runner.invoke(app, ["run", str(demo.config), "--out", str(fresh)])
    assert result.exit_code == ExitCode.SCHEDULER, result.output
    assert not fresh.exists()
    demo.layout.unlink()  # fails before
    result = runner.invoke(app, ["run", str(demo.config), "--out", str(fresh / "run")])
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert not fresh.exists()


def test_results_follow_the_umask(demo, tmp_path):
    demo.rekey()
    os.utime(demo.tif())  # its well's shard is written again
    old = os.umask(0o027)
    try:
        result = runner.invoke(app, ["run", str(demo.config), "--out", str(demo.run)])
        folder = make_dirs(tmp_path / "new" / "folder")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    written = ["fields.parquet", "wells.parquet", "scores.csv", "warnings.txt", "manifest.json", "report.html",
               f"shards/PLATE01/{WELL}.parquet"]
    assert {name: (demo.run / name).stat().st_mode & 0o777 for name in written} == dict.fromkeys(written, 0o640)
    assert folder.stat().st_mode & 0o777 == folder.parent.stat().st_mode & 0o777 == 0o750


def test_dask_leaves_nothing_in_the_temp_folder(demo, tmp_path, monkeypatch):
    demo.rekey()
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    os.utime(demo.tif())
    assert _invoke(demo, "run").exit_code == 0, demo.out
    assert not list(temp.rglob("*")), "left in the temp folder: " + ", ".join(map(str, temp.rglob("*")))


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_stopped_run_says_what_it_kept_and_resumes(demo, sig, code, word):
    demo.rekey()
    for shard in sorted(demo.run.glob("shards/*/*.parquet"))[:6]:
        shard.unlink()  # 6 wells (24 fields) to measure: long enough to stop a run in the middle
    since = time.time()
    cmd = [sys.executable, "-m", "screening", "run", str(demo.config), "--out", str(demo.run), "--workers", "1"]
    # A child of a background job inherits an ignored SIGINT, and Python then installs no Ctrl-C
    # handler: give the run the default disposition a terminal gives it.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not any(p.stat().st_mtime > since for p in demo.run.glob("shards/*/*.parquet")):
        assert proc.poll() is None, proc.communicate()[0][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    output = " ".join(proc.communicate(timeout=60)[0].split())
    assert proc.returncode == code, output[-2000:]
    kept = len(list(demo.run.glob("shards/*/*.parquet")))
    assert 18 < kept < 24, "stopped too late to test a resume; make the run longer"
    assert f"{word}: the measurements of {kept} well(s) are kept in {demo.run / 'shards'}" in output
    assert f"screening run {demo.config} --out {demo.run}` resumes" in output
    assert "Traceback" not in output, output[-4000:]
    assert not (demo.run / ".screening.lock").exists() and not list(demo.run.rglob("*.tmp"))
    result = _invoke(demo, "run")
    assert result.exit_code == 0, demo.out
    assert json.loads((demo.run / "manifest.json").read_text())["fields"]["computed"] == 4 * (24 - kept)
    _assert_good_fields_unchanged(demo, _untouched)


def test_gui_tests_skip_without_a_display():
    assert "DISPLAY unset" in display_problem({})
    assert "/tmp/.X11-unix/X4242" in display_problem({"DISPLAY": ":4242"})
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) == ""


def test_unmeasurable_field_counts_as_failed_naming_its_files(tmp_path, monkeypatch):
    """What validate and run refuse up front, met anyway (a file replaced mid-run): a failed field."""
    from screening.run import tasks
    from screening.config import parse_config

    config = parse_config({"name": "x", "channels": {"reporter": "w1", "nuclei": "w2"},
                           "plates": [{"id": "P", "path": str(tmp_path), "layout": str(tmp_path / "l.csv")}]},
                          base_dir=tmp_path, source="test")
    rng = np.random.default_rng(0)
    reporter, nuclei = tmp_path / "r_w1.tif", tmp_path / "n_w2.tif"
    tifffile.imwrite(reporter, rng.integers(100, 2000, (256, 256), dtype=np.uint16))
    tifffile.imwrite(nuclei, rng.integers(100, 2000, (200, 256), dtype=np.uint16))
    row = tasks.measure_field_files({"reporter": str(reporter), "nuclei": str(nuclei)}, config, 0.65)
    assert row["status"] == "failed" and not row["qc_pass"]
    assert "differs from reporter shape" in row["error"] and str(reporter) in row["error"] and str(nuclei) in row["error"]

    tifffile.imwrite(nuclei, rng.integers(100, 2000, (256, 256), dtype=np.uint16))
    monkeypatch.setattr("screening.measure.field._measure", lambda *a: 1 / 0)
    row = tasks.measure_field_files({"reporter": str(reporter), "nuclei": str(nuclei)}, config, 0.65)
    assert row["status"] == "failed" and "measurement failed: ZeroDivisionError" in row["error"]
    assert str(reporter) in row["error"]
