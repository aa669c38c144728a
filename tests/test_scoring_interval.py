"""Bootstrap intervals of quality figures."""

from vlmperf.scoring.result import interval


def test_a_shifted_corpus_interval_never_goes_below_zero():
    low, high = interval([0.0, 0.0, 0.0, 0.4, 0.6, 0.0], value=0.01)
    assert low == 0.0 and high > 0.0
    assert interval([0.2, 0.3, 0.4, 0.5, 0.6]) == interval([0.2, 0.3, 0.4, 0.5, 0.6], value=0.4)
