"""Which media types a browser may render inline (``is_passive``), and the
``user_content_host`` setting that allows the others under a separate host name."""

from __future__ import annotations

import pytest

from dataloft.api.transfer import is_passive
from dataloft.config import SettingsError, load_settings

PASSIVE = [
    "text/plain",
    "text/plain; charset=utf-8",
    "TEXT/Plain",
    "text/csv",
    "text/markdown",
    "text/css",
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/x-icon",
    "audio/mpeg",
    "video/mp4",
    "application/json",
    "application/ld+json",
    "application/cbor",
]
ACTIVE = [
    # markup, scripts and XML of any kind
    "text/html",
    "text/html; charset=utf-8",
    " Text/HTML ",
    "application/xhtml+xml",
    "image/svg+xml",
    "image/svg",
    "text/xml",
    "application/xml",
    "application/atom+xml",
    "application/xml-dtd",
    "text/xsl",
    "application/xslt+xml",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "text/jscript",
    "text/livescript",
    "text/vbscript",
    "text/x-component",
    "text/vnd.wap.wml",
    # viewers and plugins that may script, containers of other types
    "application/pdf",
    "application/x-shockwave-flash",
    "multipart/x-mixed-replace; boundary=x",
    "message/rfc822",
    # types we cannot vouch for
    "application/octet-stream",
    "application/unknown",
    "unknown/unknown",
    "*/*",
    "",
    "html",
    "text/",
    "/html",
    "text/plain, text/html",
    "text/plain;a=b,text/html",
    "tëxt/plain",
    "text/plain\x00",
]


@pytest.mark.parametrize("media_type", PASSIVE)
def test_passive_types(media_type: str) -> None:
    assert is_passive(media_type)


@pytest.mark.parametrize("media_type", ACTIVE)
def test_active_and_unknown_types(media_type: str) -> None:
    assert not is_passive(media_type)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("usercontent.example.net", "usercontent.example.net"),
        ("UserContent.Example.NET.", "usercontent.example.net"),
        ("usercontent.example.net:8443", "usercontent.example.net:8443"),
        ("localhost", "localhost"),
        ("192.0.2.7:81", "192.0.2.7:81"),
        ("[2001:db8::1]:8443", "[2001:db8::1]:8443"),
        ("", None),
        ("  ", None),
    ],
)
def test_user_content_host_setting(given: str, kept: str | None) -> None:
    assert load_settings(user_content_host=given).user_content_host == kept


@pytest.mark.parametrize(
    "given",
    [
        "https://usercontent.example.net",
        "usercontent.example.net/files",
        "user content.example.net",
        "-usercontent.example.net",
        "usercontent..example.net",
        "usercontent.example.net:port",
        "usercontent.example.net:123456",
    ],
)
def test_user_content_host_must_be_a_host_name(given: str) -> None:
    with pytest.raises(SettingsError, match="DATALOFT_USER_CONTENT_HOST: not a host name"):
        load_settings(user_content_host=given)
