"""Tests of localhub/signing.py: Xet tokens and presigned URLs are checked without state, and refused when forged
or expired."""

from __future__ import annotations

import pytest

from localhub.signing import GrantError, Signer


def test_a_token_carries_its_scope_and_subject():
    signer = Signer()
    token, expires = signer.issue("write", "dataset/alice/corpus", 60)
    grant = signer.check(token)
    assert (grant.scope, grant.subject, grant.expires) == ("write", "dataset/alice/corpus", expires)


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-3] + "abc",
        lambda token: token.replace("xet_", "xet_e"),
        lambda token: token.split(".")[0],
        lambda token: "bearer-" + token,
    ],
)
def test_a_forged_token_is_refused(forge):
    signer = Signer()
    token, _ = signer.issue("read", "dataset/alice/corpus", 60)
    with pytest.raises((GrantError, ValueError)):
        signer.check(forge(token))


def test_an_expired_token_and_another_servers_token_are_refused():
    signer = Signer()
    expired, _ = signer.issue("read", "dataset/alice/corpus", -1)
    with pytest.raises(GrantError, match="expired"):
        signer.check(expired)
    elsewhere, _ = Signer().issue("read", "dataset/alice/corpus", 60)
    with pytest.raises(GrantError):
        signer.check(elsewhere)


def test_a_presigned_url_serves_only_what_it_was_signed_for():
    signer = Signer()
    query = dict(part.split("=") for part in signer.sign_url("/cas/fetch/x", "bytes=0-99", 60).split("&"))
    signer.check_url("/cas/fetch/x", "bytes=0-99", query["expires"], query["signature"])
    for path, extra in (("/cas/fetch/y", "bytes=0-99"), ("/cas/fetch/x", "bytes=0-100")):
        with pytest.raises(GrantError):
            signer.check_url(path, extra, query["expires"], query["signature"])
    old = dict(part.split("=") for part in signer.sign_url("/cas/fetch/x", "bytes=0-99", -1).split("&"))
    with pytest.raises(GrantError, match="expired"):
        signer.check_url("/cas/fetch/x", "bytes=0-99", old["expires"], old["signature"])
