"""Bootstrap confidence intervals of a percentile or a mean (the percentile as the report's)."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from qi_load.metrics.percentile import percentile_rows

__all__ = ["bootstrap_ci"]

FloatArray = npt.NDArray[np.float64]


def bootstrap_ci(
    values: npt.ArrayLike,
    q: float,
    *,
    rounds: int = 400,
    level: float = 0.95,
    max_n: int = 5_000,
    seed: int = 0,
    strata: npt.ArrayLike | None = None,
    subset: npt.ArrayLike | None = None,
) -> tuple[float, float, FloatArray]:
    """Percentile-bootstrap CI of the ``q``-th percentile (``q=-1`` means the mean).

    Returns ``(low, high, replicates)``; the replicates let callers bootstrap ratios of two
    samples. With ``strata`` (e.g. the stage of each value) every replicate resamples within
    each stratum, keeping its size: pooled over a ladder, the spread between stages is the
    design, not noise. With ``subset`` (a boolean mask) the whole sample is resampled and
    the statistic taken over the subset's members only: how many of a query type fall in
    each stage is drawn from the mix, not designed, and a stage-stratified bootstrap of the
    type's own values would hold those counts fixed and give far too narrow a CI (a
    replicate without members is NaN). Large samples are subsampled to ``max_n`` first (per
    stratum, in proportion): the CI of a percentile of a million points is already far
    narrower than any threshold we compare it with.
    """
    rng = np.random.default_rng(seed)
    arr = np.asarray(values, dtype=np.float64)
    groups = np.zeros(arr.size, dtype=np.int64) if strata is None else np.asarray(strata)
    members = np.ones(arr.size, dtype=bool) if subset is None else np.asarray(subset, dtype=bool)
    keep = np.isfinite(arr)
    arr, groups, members = arr[keep], groups[keep], members[keep]
    if not members.any():
        return float("nan"), float("nan"), np.full(rounds, np.nan)
    parts, member_parts = [], []
    for g in np.unique(groups):
        part, part_members = arr[groups == g], members[groups == g]
        size = max(1, round(part.size * min(1.0, max_n / arr.size)))
        if size < part.size:
            chosen = rng.choice(part.size, size=size, replace=False)
            part, part_members = part[chosen], part_members[chosen]
        picks = rng.integers(0, part.size, size=(rounds, part.size))
        parts.append(part[picks])
        if subset is not None:
            member_parts.append(part_members[picks])
    # The drawn arrays are scratch, megabytes each and each paged in anew: one stratum's are
    # used as they are, not copied, and the rows are sorted in place.
    samples = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    if subset is None:
        reps = samples.mean(axis=1) if q < 0 else percentile_rows(samples, q, overwrite=True)
    else:
        drawn = member_parts[0] if len(member_parts) == 1 else np.concatenate(member_parts, axis=1)
        chosen = np.where(drawn, samples, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # replicates without members: NaN
            reps = (
                np.nanmean(chosen, axis=1) if q < 0 else percentile_rows(chosen, q, overwrite=True)
            )
    alpha = (1.0 - level) / 2.0
    finite = reps[np.isfinite(reps)]
    if finite.size == 0:
        return float("nan"), float("nan"), np.asarray(reps, dtype=np.float64)
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high), np.asarray(reps, dtype=np.float64)
