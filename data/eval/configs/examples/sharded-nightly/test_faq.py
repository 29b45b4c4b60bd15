import pytest


@pytest.mark.llmbench("faq")
def test_faq_nightly(sample, judge):
    judge(sample.output)
