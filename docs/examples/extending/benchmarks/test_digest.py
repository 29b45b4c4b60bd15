import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
