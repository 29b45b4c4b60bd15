import pytest


@pytest.mark.llmbench("faq")
def test_faq_repeated(sample, judge):
    judge(sample.output)  # three judge calls, one score: their mean
