"""Known answers for DerSimonian-Laird pooling, BH q-values, ranking and dose trends."""

import numpy as np
import pandas as pd
import pytest

from screening.score.dose import gls_slope
from screening.score.pooling import bh_qvalues, call_arms, pool_patients, pool_screen, rank_candidates


def test_bh_matches_hand_computation():
    # sorted p: 0.01, 0.03, 0.04, 0.2 -> p*m/k: 0.04, 0.06, 0.0533, 0.2 -> running min from the top.
    q = bh_qvalues([0.04, 0.01, 0.2, 0.03, np.nan])
    assert q[:4] == pytest.approx([4 * 0.04 / 3, 0.04, 0.2, 4 * 0.04 / 3])
    assert np.isnan(q[4])


def test_tau2_floored_at_zero_gives_fixed_effect_mean():
    # Estimates closer together than their errors allow: the DL moment estimate is negative.
    y = np.array([0.10, 0.11, 0.09])
    se = np.array([0.2, 0.2, 0.4])
    fit = pool_patients(y, se, [np.inf] * 3, method="dl")
    w = 1 / se**2
    assert fit["tau2"] == 0.0
    assert fit["log_hr"] == pytest.approx(np.sum(w * y) / w.sum())
    assert fit["se"] == pytest.approx(np.sqrt(1 / w.sum()))


def test_heterogeneous_patients_give_positive_tau2_and_i2():
    y = np.array([-1.0, 0.0, 1.0])
    se = np.array([0.1, 0.1, 0.1])
    fit = pool_patients(y, se, [np.inf] * 3, method="dl")
    # w = 100 each: Q = 200, C = 300 - 30000 / 300 = 200, tau² = (Q - 2) / C, I² = (Q - 2) / Q.
    assert fit["tau2"] == pytest.approx(198 / 200)
    assert fit["i2"] == pytest.approx(198 / 200)
    assert fit["log_hr"] == pytest.approx(0.0)


def test_t_inflation_widens_patients_with_few_df():
    y, se = np.array([-0.5, -0.4]), np.array([0.1, 0.1])
    known = pool_patients(y, se, [np.inf, np.inf], method="dl_t_inflated")
    few = pool_patients(y, se, [4.0, 4.0], method="dl_t_inflated")
    assert few["se"] > known["se"]
    assert few["p_value"] > known["p_value"]


def test_pool_screen_excludes_controls_from_fdr_and_rank():
    scores = pd.DataFrame({
        "patient": ["a", "b", "a", "b", "a", "b"],
        "compound": ["x", "x", "y", "y", "pc", "pc"],
        "concentration_um": [1.0] * 6,
        "role": ["treatment"] * 4 + ["positive_control"] * 2,
        "log_hr": [-0.7, -0.6, 0.0, 0.1, -1.5, -1.4],
        "se": [0.1] * 6, "df": [6.0] * 6,
        "hr_ci_high": [0.6, 0.7, 1.3, 1.4, 0.3, 0.3],
        "pooled": True,
    })
    ranking = pool_screen(scores).set_index("compound")
    assert np.isnan(ranking.loc["pc", "rank"]) and np.isnan(ranking.loc["pc", "q_value"])
    assert ranking.loc["x", "rank"] == 1 and ranking.loc["y", "rank"] == 2
    assert ranking.loc["x", "responder_fraction"] == 1.0 and ranking.loc["y", "responder_fraction"] == 0.0
    assert ranking.loc["x", "n_patients"] == 2
    assert ranking.loc["x", "hazard_ratio"] == pytest.approx(np.exp(-0.65))


def test_dose_slope_exact_on_a_line():
    fit = gls_slope([-0.1, -0.3, -0.5], [-1, 0, 1], np.eye(3) * 0.01)
    assert fit["slope"] == pytest.approx(-0.2)
    assert fit["slope_se"] == pytest.approx(np.sqrt(0.01 / 2))


def test_toxic_arm_ranks_below_neutral_arms():
    # The case a scientist met: a significantly harmful arm (HR 1.40, q 0.02) ranked
    # above a neutral one (HR 0.90) because its upper bound happened to be lower.
    table = pd.DataFrame({
        "compound": ["protect", "neutral_wide", "toxic_narrow", "neutral"],
        "hazard_ratio": [0.5, 0.9, 1.40, 1.05],
        "hr_ci_high": [0.7, 2.5, 1.6, 1.3],
        "q_value": [0.01, 0.6, 0.02, 0.7],
    })
    candidates = pd.Series(True, index=table.index)
    calls = call_arms(table, candidates, fdr_q=0.1)
    assert list(calls) == ["protective", "neutral", "toxic", "neutral"]
    ranks = rank_candidates(table, candidates, fdr_q=0.1)
    # protective first; neutral arms by upper bound (1.3 before 2.5); toxic last
    assert list(ranks) == [1, 3, 4, 2]


def test_pool_screen_calls_a_harmful_arm_toxic():
    scores = pd.DataFrame({
        "patient": ["a", "b", "a", "b", "a", "b"],
        "compound": ["x", "x", "harm", "harm", "z", "z"],
        "concentration_um": [1.0] * 6,
        "role": ["treatment"] * 6,
        "log_hr": [-0.1, -0.1, 0.6, 0.55, 0.0, 0.05],
        "se": [0.3, 0.3, 0.08, 0.08, 0.3, 0.3], "df": [30.0] * 6,
        "hr_ci_high": [1.6, 1.6, 2.1, 2.0, 1.8, 1.9],
        "pooled": True,
    })
    ranking = pool_screen(scores, fdr_q=0.1).set_index("compound")
    assert ranking.loc["harm", "call"] == "toxic" and ranking.loc["harm", "q_value"] < 0.1
    assert ranking.loc["harm", "rank"] == 3
    assert set(ranking.loc[["x", "z"], "call"]) == {"neutral"}


def test_one_patient_dominating_the_pool_keeps_its_own_t_test():
    # Patient a: 3 vs 3 wells (2 df), a tight estimate; patient b adds almost nothing. Pooled, the
    # evidence is a's alone: its t test on 2 df (p ~0.02), not a normal test of a's interval
    # (the inflated-variance method reads p ~0.001, as if a had many df).
    y, se, df = np.array([-0.75, 0.3]), np.array([0.104, 1.6]), np.array([2.0, 2.5])
    from scipy import stats

    own = 2 * stats.t.sf(0.75 / 0.104, 2.0)
    pooled = pool_patients(y, se, df)
    assert own / 1.5 < pooled["p_value"] < own * 1.5
    assert pool_patients(y, se, df, method="dl_t_inflated")["p_value"] < own / 5
    # Many patients with ample df: the normal test of DerSimonian-Laird.
    many = pool_patients([-0.2, -0.3, -0.25, -0.1], [0.1] * 4, [1e4] * 4)
    plain = pool_patients([-0.2, -0.3, -0.25, -0.1], [0.1] * 4, [np.inf] * 4, method="dl")
    assert many["p_value"] == pytest.approx(plain["p_value"], rel=0.05)
