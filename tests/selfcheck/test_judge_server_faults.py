"""The JudgeServer's slow and silent behaviours do what the fault tests rely on."""

from __future__ import annotations

import httpx
import pytest
from support.judge_server import JudgeServer

BODY = {"model": "m", "messages": [{"role": "user", "content": 'Return {"coverage": x}.'}]}


def test_a_dripped_reply_is_a_whole_good_reply_once_it_has_all_come() -> None:
    with JudgeServer(script=[("drip", 0.001)]) as srv:
        response = httpx.post(f"{srv.url}/v1/chat/completions", json=BODY, timeout=30)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == '{"coverage": 0.9}'


def test_never_sends_no_byte_until_the_client_gives_up() -> None:
    with JudgeServer(script=[("never",)]) as srv:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{srv.url}/v1/chat/completions", json=BODY, timeout=0.5)
        assert len(srv.requests) == 1
        # The connection it held is gone; the next request is served.
        assert httpx.post(f"{srv.url}/v1/chat/completions", json=BODY, timeout=30).is_success


def test_error_answers_with_the_status_and_message_given() -> None:
    with JudgeServer(script=[("error", 409, "busy elsewhere")]) as srv:
        response = httpx.post(f"{srv.url}/v1/chat/completions", json=BODY, timeout=30)
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "busy elsewhere"
