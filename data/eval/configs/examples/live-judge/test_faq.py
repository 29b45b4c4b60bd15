import pytest


@pytest.mark.llmbench("faq")
def test_faq_live(sample, judge):
    scores = judge(sample.output)  # one chat-completions call (or a cache hit) per sample
    assert scores is not None
