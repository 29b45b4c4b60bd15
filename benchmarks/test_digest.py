import pytest


@pytest.mark.llmbench("channel_digest_ru")
def test_channel_digest_ru(sample, output, judge):
    judge(output)  # the scenario's output (judged ahead), scored on its judged metrics
