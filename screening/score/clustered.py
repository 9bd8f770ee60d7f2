"""Cluster-robust variance with a small-sample correction (CR2, Bell-McCaffrey df).

Why: each compound × concentration sits on 3-4 wells. The usual cluster-robust
(CR1) sandwich counts *all* of a patient's wells as clusters, but a coefficient's
variance is estimated mostly from its own few wells, whose residuals are shrunk
by their leverage; with normal quantiles its 95 % intervals cover about 85 %.
CR2 undoes the shrinkage cluster by cluster, and the Bell-McCaffrey
Satterthwaite degrees of freedom give the t quantile that matches how few
clusters really inform that coefficient.

References
----------
Bell RM, McCaffrey DF (2002). Bias reduction in standard errors for linear
regression with multi-stage samples. Survey Methodology 28:169-181.
Imbens GW, Kolesár M (2016). Robust standard errors in small samples: some
practical advice. Rev Econ Stat 98:701-712.
Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust
variance estimation and hypothesis testing in fixed effects models. J Bus Econ
Stat 36:672-683.
"""

from __future__ import annotations

import numpy as np


def _inv_sqrt_psd(matrix: np.ndarray, *, tol: float = 1e-10) -> np.ndarray:
    """Symmetric inverse square root; directions with eigenvalue ~0 are dropped."""
    values, vectors = np.linalg.eigh(matrix)
    inv = np.where(values > tol, 1.0 / np.sqrt(np.clip(values, tol, None)), 0.0)
    return (vectors * inv) @ vectors.T


def cr2_covariance(
    wexog: np.ndarray, wresid: np.ndarray, groups: np.ndarray, *, columns: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CR2 cluster-robust covariance and Bell-McCaffrey degrees of freedom.

    Parameters
    ----------
    wexog : ndarray, shape (n, p)
        Working design at the fit: rows of the design scaled by the square root
        of the IRLS weights (for a GLM), or the design itself (for OLS).
    wresid : ndarray, shape (n,)
        Working residuals scaled the same way (Pearson residuals for a GLM).
    groups : ndarray, shape (n,)
        Cluster label of each row (here: the well).
    columns : ndarray of int, optional
        Coefficients for which degrees of freedom are wanted (default all).

    Returns
    -------
    cov : ndarray, shape (p, p)
        Bias-reduced sandwich covariance of the coefficients.
    df : ndarray, shape (len(columns),)
        Satterthwaite degrees of freedom of each requested coefficient under a
        working model of independent, equal-variance residuals.
    """
    wexog = np.asarray(wexog, float)
    wresid = np.asarray(wresid, float)
    n, p = wexog.shape
    columns = np.arange(p) if columns is None else np.asarray(columns, int)
    bread = np.linalg.pinv(wexog.T @ wexog)
    _, first = np.unique(groups, return_inverse=True)
    order = np.argsort(first, kind="stable")
    bounds = np.flatnonzero(np.diff(first[order])) + 1
    blocks = np.split(order, bounds)

    meat = np.zeros((p, p))
    # For the degrees of freedom: a_g = A_g X_g B c for every requested c at once
    # (columns of AXB[g]), and b_g = X_g' a_g.
    diag_terms = []
    b_terms = []
    for rows in blocks:
        xg = wexog[rows]
        hgg = xg @ bread @ xg.T
        adjust = _inv_sqrt_psd(np.eye(len(rows)) - hgg)
        score = xg.T @ (adjust @ wresid[rows])
        meat += np.outer(score, score)
        axb = adjust @ xg @ bread[:, columns]  # (n_g, k)
        diag_terms.append(np.einsum("ij,ij->j", axb, axb))
        b_terms.append(xg.T @ axb)  # (p, k)
    cov = bread @ meat @ bread

    diag_terms = np.array(diag_terms)  # (G, k)
    b_terms = np.stack(b_terms)  # (G, p, k)
    df = np.empty(len(columns))
    for j in range(len(columns)):
        bj = b_terms[:, :, j]  # (G, p)
        m = np.diag(diag_terms[:, j]) - bj @ bread @ bj.T
        trace = np.trace(m)
        trace_sq = np.sum(m * m)
        df[j] = trace**2 / trace_sq if trace_sq > 0 else np.nan
    return cov, df
