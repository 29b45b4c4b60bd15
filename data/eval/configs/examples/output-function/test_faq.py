import pytest


@pytest.mark.llmbench("faq")
def test_faq_answer(sample, output, judge):
    assert output.startswith(sample.output)  # what support_bot.answer returned
    judge(output)
