"""Field QC: a focus score that falls with blur but not with cell number; thresholds and reasons."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from screening.config.segmentation import FieldQCConfig
from screening.measure.qc import field_qc, focus_score, saturated_fraction

PX = 0.65


def _nuclei_field(n, shape=(256, 256), blur=0.9, seed=0):
    """``n`` textured nuclei (radius 7 px) on a dark background, blurred, with camera noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    for r, c in rng.uniform(12, shape[0] - 12, (n, 2)):
        image = np.maximum(image, 800.0 * (((yy - r) ** 2 + (xx - c) ** 2) <= 49))
    image *= 1 + 0.25 * ndi.gaussian_filter(rng.normal(size=shape), 1.2) / 0.2
    image = ndi.gaussian_filter(image, blur) + 50
    return 0.25 * rng.poisson(image / 0.25) + rng.normal(100, 1.5, shape)


def test_blurred_copy_scores_lower():
    sharp = _nuclei_field(20)
    blurred = _nuclei_field(20, blur=5.0)
    s, b = focus_score(sharp, pixel_size_um=PX), focus_score(blurred, pixel_size_um=PX)
    assert s > FieldQCConfig().min_focus > b


def test_focus_does_not_depend_on_cell_number():
    few = focus_score(_nuclei_field(4, seed=1), pixel_size_um=PX)
    many = focus_score(_nuclei_field(60, seed=2), pixel_size_um=PX)
    assert few == pytest.approx(many, abs=0.05)


def test_focus_of_empty_field_is_nan():
    rng = np.random.default_rng(0)
    assert np.isnan(focus_score(rng.normal(100, 2, (128, 128)), pixel_size_um=PX))


def test_saturated_fraction():
    image = np.full((100, 100), 500, np.uint16)
    image[:10, :20] = 65535
    assert saturated_fraction(image) == pytest.approx(0.02)


def test_field_qc_reasons():
    config = FieldQCConfig(min_focus=0.2, max_saturated_fraction=0.01, max_debris_fraction=0.05)
    ok = field_qc(focus=0.3, saturated_fraction=0.0, debris_fraction=0.01, foreground_fraction=0.1, config=config)
    assert ok["qc_pass"] and ok["qc_reason"] == ""
    bad = field_qc(focus=0.1, saturated_fraction=0.2, debris_fraction=0.1, foreground_fraction=0.1, config=config)
    assert not bad["qc_pass"]
    assert "out of focus" in bad["qc_reason"] and "saturated" in bad["qc_reason"] and "debris" in bad["qc_reason"]
    empty = field_qc(focus=float("nan"), saturated_fraction=0.0, debris_fraction=0.0, foreground_fraction=0.0)
    assert not empty["qc_pass"] and empty["qc_reason"].startswith("empty field")
