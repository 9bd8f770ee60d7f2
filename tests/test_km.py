"""Kaplan-Meier of tracked neurons with delayed entry, against hand-computed values."""

import numpy as np
import pandas as pd

from screening.score.km import km_by_arm, km_curve, neuron_times


def neurons(rows):
    """(first_day, last_day, died, death_day) -> neurons table of one arm."""
    t = pd.DataFrame(rows, columns=["first_day", "last_day", "died", "death_day"])
    return t.assign(patient="P", compound="c", concentration_um=1.0, role="treatment")


def test_delayed_entry_joins_the_risk_set_late():
    table = neurons([
        (0, 7, True, 10),  # A dies in (7, 10]
        (0, 3, True, 7),  # B dies in (3, 7]
        (0, 14, False, np.nan),  # C survives
        (3, 14, False, np.nan),  # D, late onset: enters at day 3
        (0, 0, True, 3),  # E dies in (0, 3]
        (7, 7, False, np.nan),  # F, seen once at the end of its series: adds nothing
    ])
    times = neuron_times(table)
    assert len(times) == 5
    curve = km_curve(times, [0, 3, 7, 10, 14]).set_index("day")
    # Deaths at 3: A B C E at risk (D enters at 3, after the death). At 7: A B C D. At 10: A C D.
    assert np.allclose(curve["survival"], [1, 3 / 4, 9 / 16, 3 / 8, 3 / 8])
    assert curve["events"].tolist() == [0, 1, 1, 1, 0]
    assert curve["at_risk"].tolist() == [4, 4, 4, 3, 2]  # D is not at risk of day 3's death
    # Counted from day 0 as if present, the late neuron would dilute the first death.
    naive = km_curve(times.assign(entry=0.0), [0, 3, 7, 10, 14]).set_index("day")
    assert np.isclose(naive.loc[3.0, "survival"], 4 / 5)


def test_by_arm_keeps_arms_apart():
    a = neurons([(0, 3, True, 7), (0, 14, False, np.nan)])
    b = neurons([(0, 14, False, np.nan)] * 2).assign(compound="d")
    km = km_by_arm(pd.concat([a, b]), [0, 7, 14])
    final = km[km["day"] == 14].set_index("compound")["survival"]
    assert final.to_dict() == {"c": 0.5, "d": 1.0}
