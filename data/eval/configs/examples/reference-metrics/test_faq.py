import pytest


@pytest.mark.llmbench("faq")
def test_faq_against_reference(sample, judge):
    judge(sample.output)  # computed against sample.reference; no judge call
