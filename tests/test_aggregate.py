"""Well figures sum only usable fields; flags cover a well or one site."""

import pandas as pd

from screening.run.aggregate import aggregate_wells
from screening.io.flags import flagged_mask, read_flags, write_flags


def _fields():
    rows = []
    for site, (n0, n1, qc1) in {1: (10, 8, True), 2: (20, 0, False)}.items():
        for tp, day, n, qc in ((1, 0.0, n0, True), (2, 7.0, n1, qc1)):
            rows.append(dict(plate="P", well="A01", site=site, timepoint=tp, day=day, n_neurons=n,
                             neurite_length_um=100.0 * n, qc_pass=qc, status="ok",
                             patient="p1", compound="DMSO", concentration_um=0.0, role="vehicle"))
    return pd.DataFrame(rows)


def test_failed_qc_field_is_left_out_and_counted_in_n_fields():
    wells = aggregate_wells(_fields())
    t1, t2 = wells.iloc[0], wells.iloc[1]
    assert (t1.n_neurons, t1.n_fields) == (30, 2)
    assert (t2.n_neurons, t2.n_fields) == (8, 1)
    assert t2.neurite_length_per_neuron_um == 100.0
    assert t2.patient == "p1" and t2.role == "vehicle"


def test_per_neuron_length_divides_only_the_assigned_part():
    fields = _fields().assign(neurite_assigned_um=lambda f: 0.25 * f["neurite_length_um"])
    t2 = aggregate_wells(fields).iloc[1]
    assert t2.neurite_length_um == 800.0  # all neurite of the usable field
    assert t2.neurite_assigned_um == 200.0
    assert t2.neurite_length_per_neuron_um == 25.0  # 200 µm over 8 neurons, not 800 / 8


def test_well_without_usable_field_is_nan_not_zero():
    fields = _fields()
    fields.loc[fields["timepoint"] == 2, "status"] = "failed"
    t2 = aggregate_wells(fields).iloc[1]
    assert t2.n_fields == 0 and pd.isna(t2.n_neurons) and not t2.qc_pass


def test_flags_cover_whole_well_or_one_site(tmp_path):
    flags = pd.DataFrame({"plate": ["P", "P"], "well": ["A1", "B02"], "site": [None, 2], "reason": ["bubble", "dust"]})
    write_flags(tmp_path, flags)
    back = read_flags(tmp_path)
    assert back["well"].tolist() == ["A01", "B02"]
    fields = pd.DataFrame({"plate": ["P"] * 4, "well": ["A01", "A01", "B02", "B02"], "site": [1, 2, 1, 2]})
    assert flagged_mask(fields, back).tolist() == [True, True, False, True]


def test_flagged_field_is_left_out_of_the_well():
    fields = _fields().assign(flagged=[False, False, True, True])
    wells = aggregate_wells(fields)
    assert wells["n_neurons"].tolist() == [10, 8]
