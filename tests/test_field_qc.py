"""Field QC: a focus score that falls with blur but not with cell number; thresholds and reasons."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from screening.config.segmentation import FieldQCConfig
from screening.measure.qc import field_qc, focus_score, saturated_fraction

PX = 0.65


def _nuclei_field(n, shape=(256, 256), blur=0.9, seed=0, *, px=PX, brightness=800.0, read_noise=1.5,
                  particle=0.0):
    """``n`` textured nuclei (radius 4.55 µm: 7 px at 0.65 µm/px) on a dark background, and a
    particle (radius 2 µm) of brightness ``particle`` in the middle, blurred by ``blur`` px,
    with camera noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    radius_px = 7 * PX / px
    for r, c in rng.uniform(12, shape[0] - 12, (n, 2)):
        image = np.maximum(image, brightness * (((yy - r) ** 2 + (xx - c) ** 2) <= radius_px**2))
    image *= 1 + 0.25 * ndi.gaussian_filter(rng.normal(size=shape), 1.2 * PX / px) / 0.2
    middle = (yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2 <= (2 / px) ** 2
    image[middle] += particle
    image = ndi.gaussian_filter(np.maximum(image, 0), blur) + 50
    return 0.25 * rng.poisson(image / 0.25) + rng.normal(100, read_noise, shape)


def test_blurred_copy_scores_lower():
    sharp = _nuclei_field(20)
    blurred = _nuclei_field(20, blur=5.0)
    s, b = focus_score(sharp, pixel_size_um=PX), focus_score(blurred, pixel_size_um=PX)
    assert s > FieldQCConfig().min_focus > b


def test_defocused_field_at_coarse_pixels_scores_low():
    # At 1.3 µm/px the fine band is 0.5-1 px, where the closed-form noise gain of continuous
    # Gaussians is two thirds of the discrete filter's: the noise left in it made a dim, defocused field
    # (3.5 µm blur) score ~0.26, higher than a less blurred one.
    px = 1.3
    dim = dict(px=px, brightness=150.0, read_noise=5.0)
    sharp = focus_score(_nuclei_field(30, blur=0.5 / px, **dim), pixel_size_um=px)
    for blur_um in (2.5, 3.5):
        blurred = focus_score(_nuclei_field(30, blur=blur_um / px, **dim), pixel_size_um=px)
        assert sharp > FieldQCConfig().min_focus > blurred


def test_one_bright_particle_does_not_make_a_defocused_field_sharp():
    # A particle 50x as bright as the nuclei, under the camera's ceiling (not excluded as
    # saturated): its edges and shot noise outweighed every cell when the bands were summed
    # over the whole field (0.17 with it, 0.11 without).
    for seed in range(3):
        without = focus_score(_nuclei_field(20, blur=3.0, seed=seed), pixel_size_um=PX)
        blurred = focus_score(_nuclei_field(20, blur=3.0, seed=seed, particle=40000.0), pixel_size_um=PX)
        assert blurred < FieldQCConfig().min_focus
        assert blurred == pytest.approx(without, abs=0.03)
    assert focus_score(_nuclei_field(20, seed=3, particle=40000.0), pixel_size_um=PX) > FieldQCConfig().min_focus


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
