"""`posai mint-session-token`: prints a token our own verifier accepts."""

from __future__ import annotations

from posai_app.auth.session_token import verify_session_token


def test_minted_token_verifies(app):
    result = app.test_cli_runner().invoke(args=["mint-session-token", "alpha-shop.myshopify.com"])
    assert result.exit_code == 0, result.output
    assert (
        verify_session_token(result.output.strip(), app.config)["shop_domain"] == "alpha-shop.myshopify.com"
    )


def test_bad_domain_is_refused(app):
    result = app.test_cli_runner().invoke(args=["mint-session-token", "evil.com"])
    assert result.exit_code != 0
