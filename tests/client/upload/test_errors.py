"""Server refusals become one clear line from the vault's error body."""

from __future__ import annotations

import json

from evault_client.upload.errors import ServerRefused


def body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()


def test_refusals_quote_the_vault_and_add_what_to_do() -> None:
    bad_token = ServerRefused.from_response(401, body("unauthenticated", "unknown or revoked API token"))
    assert "EVAULT_TOKEN" in bad_token.message and "unknown or revoked API token" in bad_token.message
    assert "(401 unauthenticated)" in bad_token.message and not bad_token.transient
    refused = ServerRefused.from_response(415, body("unsupported_media", "a text file is not a recording"))
    assert refused.code == "unsupported_media" and "not a media recording" in refused.message
    tags = ServerRefused.from_response(422, body("invalid_metadata", "activity 'party' is unknown"))
    assert tags.message == "activity 'party' is unknown (422 invalid_metadata)"


def test_bodiless_or_foreign_answers_still_read_well() -> None:
    assert ServerRefused.from_response(413, b"").message.startswith("the file is larger than the vault accepts")
    assert ServerRefused.from_response(502, b"<html>bad gateway</html>").transient
    assert ServerRefused.from_response(None, None).code == "network_error"
    assert ServerRefused.from_response(403, body("permission_denied", "officers upload only")).status == 403
