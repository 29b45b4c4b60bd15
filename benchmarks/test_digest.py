import pytest


@pytest.mark.llmbench("channel_digest_ru")
def test_channel_digest_ru(sample, judge):
    judge(sample.output)  # scores this sample on the scenario's judged metrics
