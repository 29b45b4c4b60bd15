import pytest


@pytest.mark.llmbench("faq")
def test_faq_metrics(sample, judge):
    judge(sample.output)  # the judge's correctness, and words and overlap of this output
