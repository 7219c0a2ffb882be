"""The review flags' confidence is fitted on labelled photos and measured on others: no
photo is scored by a fit it was in, and a flag threshold holds its stated precision on the
photos it was fitted on."""

from __future__ import annotations

import numpy as np
import pytest

from catalog import crossfit
from shared.domain.confidence import COLOUR_FEATURES, confidence


def _products(seed: int, n: int, photo_prefix: str) -> list[dict]:
    """Products whose category is right more often the larger its share of the evidence."""
    rng = np.random.default_rng(seed)
    share = rng.uniform(0.05, 0.95, n)
    right = rng.uniform(0, 1, n) < 0.2 + 0.8 * share
    return [
        {"photo": f"{photo_prefix}{i}.jpg", "share": float(s), "right": bool(r), "outside_catalog": False}
        for i, (s, r) in enumerate(zip(share, right))
    ]


def _colours(seed: int, n: int, photo_prefix: str) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        features = rng.uniform(0, 1, len(COLOUR_FEATURES))
        rows.append({"photo": f"{photo_prefix}{i // 2}.jpg", "features": list(features),
                     "agrees": bool((features[0] > 0.3) != (rng.uniform() < 0.04))})  # fmt: skip
    return rows


class _Spy:
    """A fit that remembers the photos it was given and a flag that refuses to score one."""

    def __init__(self):
        self.scored = 0

    def fit(self, rows):
        return {r["photo"] for r in rows}

    def flags(self, fitted_on, rows):
        for r in rows:
            assert r["photo"] not in fitted_on, f"{r['photo']} was scored by a fit it was in"
        self.scored += len(rows)
        return np.zeros(len(rows), bool)


def test_within_one_set_no_photo_is_scored_by_a_fit_it_was_in():
    spy, rows = _Spy(), _colours(0, 30, "p")  # two colours per photo: grouped by photo
    crossfit.held_out_flags(rows, spy.fit, spy.flags)
    assert spy.scored == len(rows)


def test_across_sets_no_photo_is_scored_by_a_fit_it_was_in(monkeypatch):
    spy = _Spy()
    monkeypatch.setattr(crossfit, "PIECES", {"products": (spy.fit, spy.flags, "right")})
    sets = {"a": {"products": _products(1, 20, "a")}, "b": {"products": _products(2, 20, "b")}}
    report = crossfit.cross_fit(sets)
    assert spy.scored == 40
    assert report["products"]["a"]["fitted_on"] == "b" and report["products"]["b"]["fitted_on"] == "a"


def test_a_leaking_fit_is_caught():
    # The spy must be able to fail: a fit given every photo, the scored one included.
    spy, rows = _Spy(), _products(3, 10, "p")
    with pytest.raises(AssertionError, match="was scored by a fit it was in"):
        spy.flags(spy.fit(rows), rows)


def test_the_threshold_keeps_the_stated_precision_on_the_photos_it_was_fitted_on():
    rows = _products(4, 200, "p")
    fitted = crossfit.fit_products(rows, precision=0.9, max_flagged=1.0)
    right = np.array([r["right"] for r in rows])
    flagged = crossfit.product_flags(fitted, rows)
    assert right[~flagged].mean() >= 0.9
    assert 0 < flagged.mean() < 1
    # A lower stated precision flags fewer.
    assert crossfit.product_flags(crossfit.fit_products(rows, 0.7, max_flagged=1.0), rows).mean() < flagged.mean()
    # Within a load a team takes on, it flags no more than that.
    assert crossfit.product_flags(crossfit.fit_products(rows, 0.9, max_flagged=0.2), rows).mean() <= 0.2


def test_a_precision_out_of_reach_flags_the_least_sure_up_to_the_load_a_team_takes_on():
    scores = np.array([0.9, 0.8, 0.7])
    wrong_at_the_top = np.array([False, False, True])
    assert crossfit.flag_threshold(scores, wrong_at_the_top, 0.95, max_flagged=1.0) == 1.0  # all
    assert crossfit.flag_threshold(scores, wrong_at_the_top, 0.95, max_flagged=0.35) == pytest.approx(0.75)  # 1 of 3
    assert crossfit.flag_threshold(scores, wrong_at_the_top, 0.95, max_flagged=0.2) == 0.0  # none


def test_products_outside_the_catalog_are_always_flagged_and_count_towards_the_load():
    scores, always = np.array([0.9, 0.8, 0.7]), np.array([True, False, False])
    assert crossfit.flag_threshold(scores, np.array([False, True, True]), 0.95, always) == 0.0
    assert crossfit.flag_threshold(scores, np.array([False, True, False]), 0.95, always, max_flagged=0.5) == 0.0
    assert crossfit.flag_threshold(scores, np.array([False, True, False]), 0.95, always, max_flagged=0.7) == 0.75


def test_cross_fit_figures_are_measured_on_the_other_set():
    sets = {"a": {"products": _products(5, 60, "a"), "colours": _colours(6, 80, "a")},
            "b": {"products": _products(7, 60, "b"), "colours": _colours(8, 80, "b")}}  # fmt: skip
    report = crossfit.cross_fit(sets)
    for piece, count in (("products", 60), ("colours", 80)):
        for name in sets:
            measured = report[piece][name]
            assert measured["items"] == count
            assert 0 <= measured["flagged"] <= 1
    # Colours are right where their first measure is over 0.3 (but for a few): the unflagged are righter.
    for name in sets:
        assert report["colours"][name]["right_unflagged"] > report["colours"][name]["right_all"]


def test_the_shipped_fit_reads_and_its_probabilities_rise_with_the_evidence():
    fitted = confidence()
    shares = np.linspace(0.05, 0.95, 10)
    assert np.all(np.diff(fitted.product.probability(shares)) > 0)
    assert fitted.product.share(fitted.product.probability(0.3)) == pytest.approx(0.3, abs=1e-6)
    assert 0 <= fitted.product.flag_below <= 1 and 0 <= fitted.colour.flag_below <= 1
