import pytest


@pytest.mark.llmbench("faq")
def test_faq(sample, judge):
    judge(sample.output)  # the stored answer, scored on the scenario's judged metrics
