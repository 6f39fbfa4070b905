"""No cross-site writes (``api/csrf.py``): a page on another site can make a browser send
forms and ``no-cors`` requests with this server's cookies and cached Basic credentials;
none of them changes state. Scripts that send credentials in CORS mode, same-origin pages
and clients that are not browsers are not affected, and a valid CSRF token vouches for a
request. Logging out is a POST too, and login cookies are Secure over HTTPS."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import Dataset, RawClient, basic, create_dataset, error
from tests.support import unique

SESSION = "dataloft_session"
CSRF = "dataloft_csrf"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# What a browser sends with a form another site submits, and with a no-cors fetch.
FORM_FROM_ELSEWHERE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", **FORM}
NO_CORS_FROM_ELSEWHERE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
# An older browser: no Fetch Metadata, but an Origin.
OLD_BROWSER_FORM = {"Origin": "https://evil.example", **FORM}


def logged_in(raw: RawClient) -> tuple[str, httpx.Client, httpx.Response]:
    name, password = unique("carol"), "password-" + unique()
    login = raw().post("/auth", data={"name": name, "password": password, "register": "1"})
    assert login.status_code == 303, login.text
    browser = raw()
    browser.headers["Cookie"] = f"{SESSION}={login.cookies[SESSION]}"
    return name, browser, login


def exists(raw: RawClient, ds: Dataset) -> bool:
    return raw().get(ds.url + "/").status_code == 200


def test_a_forged_form_cannot_delete_with_a_session_cookie(raw: RawClient) -> None:
    name, browser, _ = logged_in(raw)
    made = browser.put("/datasets/create", json={"name": unique("ds")})
    assert made.status_code == 303, made.text
    ds = Dataset(name, made.headers["location"].split(":", 1)[1].strip("/"))
    for headers in (FORM_FROM_ELSEWHERE, NO_CORS_FROM_ELSEWHERE, OLD_BROWSER_FORM):
        refused = browser.post(ds.url + "/", params={"_method": "DELETE"}, headers=headers)
        error(refused, 403)
        assert "cross-site" in refused.json()["error"]
        assert exists(raw, ds)


def test_a_forged_form_cannot_write_with_cached_basic_credentials(
    raw: RawClient, po: httpx.Client, alice: User
) -> None:
    ds = create_dataset(po, alice)
    for headers in (FORM_FROM_ELSEWHERE, OLD_BROWSER_FORM):
        refused = po.post(
            ds.record("r"),
            params={"_method": "PUT"},
            headers=headers,
            content=b"recordData=1",
            auth=basic(alice),
        )
        error(refused, 403)
        wiped = po.post(
            ds.url + "/", params={"_method": "DELETE"}, headers=headers, auth=basic(alice)
        )
        error(wiped, 403)
    assert po.get(ds.records).json() == {}
    assert exists(raw, ds)


def test_scripts_in_cors_mode_and_same_origin_pages_still_write(
    po: httpx.Client, alice: User
) -> None:
    ds = create_dataset(po, alice)
    cors = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "cors",
        "Origin": "https://app.example",
    }
    written = po.put(ds.record("a"), json=1, headers=cors, auth=basic(alice))
    assert written.status_code == 204, written.text
    same = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", **FORM}
    posted = po.post(
        ds.record("b"),
        params={"_method": "PUT"},
        headers=same,
        content=b"recordData=2",
        auth=basic(alice),
    )
    assert posted.status_code == 204, posted.text
    host = po.base_url.netloc.decode()
    old_same = {"Origin": f"http://{host}", **FORM}
    posted = po.post(
        ds.record("c"),
        params={"_method": "PUT"},
        headers=old_same,
        content=b"recordData=3",
        auth=basic(alice),
    )
    assert posted.status_code == 204, posted.text
    # An old browser's cross-site JSON write needs a CORS preflight first: it is a script.
    scripted = po.put(
        ds.record("d"), json=4, headers={"Origin": "https://app.example"}, auth=basic(alice)
    )
    assert scripted.status_code == 204, scripted.text
    assert po.get(ds.records).json().keys() == {"a", "b", "c", "d"}


def test_a_valid_csrf_token_vouches_for_a_request(raw: RawClient) -> None:
    name, browser, login = logged_in(raw)
    made = browser.put("/datasets/create", json={"name": unique("ds")})
    ds = Dataset(name, made.headers["location"].split(":", 1)[1].strip("/"))
    wrong = {**FORM_FROM_ELSEWHERE, "X-CSRF-Token": "0" * 64}
    error(browser.post(ds.url + "/", params={"_method": "DELETE"}, headers=wrong), 403)
    token = {**FORM_FROM_ELSEWHERE, "X-CSRF-Token": login.cookies[CSRF]}
    deleted = browser.post(ds.url + "/", params={"_method": "DELETE"}, headers=token)
    assert deleted.status_code == 204, deleted.text
    assert not exists(raw, ds)


def test_login_and_logout_cannot_be_forged(raw: RawClient) -> None:
    name, password = unique("carol"), "password-" + unique()
    forged = raw().post(
        "/auth",
        data={"name": name, "password": password, "register": "1"},
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    )
    error(forged, 403)
    assert SESSION not in forged.cookies
    _, browser, _ = logged_in(raw)
    error(browser.post("/auth/logout", headers=FORM_FROM_ELSEWHERE), 403)
    # The original's GET /auth/logout only shows the button now: a link changes nothing.
    page = browser.get("/auth/logout", headers=NO_CORS_FROM_ELSEWHERE)
    assert page.status_code == 200
    assert 'method=post action="/auth/logout' in page.text
    assert browser.put("/datasets/create", json={"name": unique("ds")}).status_code == 303


@pytest.mark.parametrize(
    ("headers", "secure"),
    [({}, False), ({"X-Forwarded-Proto": "https"}, True)],
    ids=["http", "behind-https-proxy"],
)
def test_session_cookies_are_secure_over_https(
    raw: RawClient, headers: dict[str, str], secure: bool
) -> None:
    name, password = unique("carol"), "password-" + unique()
    login = raw().post(
        "/auth", data={"name": name, "password": password, "register": "1"}, headers=headers
    )
    assert login.status_code == 303, login.text
    cookies = login.headers.get_list("set-cookie")
    for cookie in cookies:
        assert ("secure" in cookie.lower().split("; ")) is secure, cookie
    session = next(c for c in cookies if c.startswith(SESSION))
    assert "httponly" in session.lower()


def test_the_native_api_refuses_forged_writes_too(alice: User) -> None:
    forged = alice.client.post(
        "/datasets",
        json={"name": unique("ds")},
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    )
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"]["code"] == "forbidden"
