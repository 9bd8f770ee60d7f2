"""The screen contract shared by every module (screening/plate.py)."""

import numpy as np
import pandas as pd

from screening.plate import is_vehicle, usable_fields


def test_usable_fields_needs_measured_passed_unflagged_and_counted():
    fields = pd.DataFrame({
        "status": ["ok", "ok", "ok", "failed", "ok", "ok"],
        "qc_pass": [True, False, True, True, None, True],
        "flagged": [False, False, True, False, False, None],
        "n_neurons": [5, 5, 5, 5, 5, np.nan],
    })
    # ok; failed QC; flagged; not measured; QC unknown; not counted.
    assert usable_fields(fields).tolist() == [True, False, False, False, False, False]
    # Without the optional columns only QC decides.
    assert usable_fields(pd.DataFrame({"qc_pass": [True, False]})).tolist() == [True, False]


def test_vehicle_includes_its_synonym_only_for_the_vehicle_baseline():
    roles = pd.Series(["vehicle", "negative_control", "treatment", "DMSO_only"])
    assert is_vehicle(roles).tolist() == [True, True, False, False]
    assert is_vehicle(roles, "DMSO_only").tolist() == [False, False, False, True]


def test_positive_controls_by_role_or_by_config():
    import pandas as pd

    from screening.plate import positive_control_compounds

    table = pd.DataFrame({"compound": ["kenpaullone", "riluzole", None], "role": ["positive_control", "treatment", "vehicle"]})
    assert positive_control_compounds(table) == {"kenpaullone"}
    assert positive_control_compounds(table, "riluzole") == {"kenpaullone", "riluzole"}
    assert positive_control_compounds(table.drop(columns="role"), "x") == {"x"}
