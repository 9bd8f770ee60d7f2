"""The demo run's tables against the snapshot of them (tests/data/demo_snapshot/).

A refactor must not move a number (issue #20). The snapshot was written by
``tests/data/make_demo_snapshot.py`` from an earlier commit's run, not by this run; a change meant
to move numbers regenerates it (the script's docstring says how) and says why in its commit.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
from make_demo_snapshot import HERE, TABLES, read_table  # noqa: E402


@pytest.mark.parametrize("name", list(TABLES))
def test_demo_tables_match_the_snapshot(demo_run, name):
    got = read_table(demo_run, name)
    want = pd.read_csv(HERE / f"{name}.csv")
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want), f"{name}: {len(got)} rows, snapshot {len(want)}"
    for column in want.columns:
        a, b = got[column], want[column]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-6, atol=1e-9, equal_nan=True,
                                       err_msg=f"{name}.{column}")
        else:
            left = a.astype(str).where(a.notna(), "")
            right = b.astype(str).where(b.notna(), "")
            assert left.tolist() == right.tolist(), f"{name}.{column}"
