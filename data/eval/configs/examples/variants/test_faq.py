import pytest


@pytest.mark.llmbench("faq")
def test_faq_variant(sample, variant, output, judge):
    assert variant.name in ("full", "short")
    judge(output)
