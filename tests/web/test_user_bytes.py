"""What users stored never runs in the UI's origin, checked in a real browser (chromium)
on both databases: HTML and SVG files previewed and opened, names, descriptions and
record values carrying payloads, and a PDF shown by the browser's own viewer, in the
sandbox. Every payload calls ``alert``: a dialog, anywhere, is a failure."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Dialog, Page

from tests.conftest import User
from tests.web.browsing import sign_in
from tests.web.conftest import Birds, Visitor, put

Visit = Callable[..., Visitor]
PAYLOAD = "<img src=x onerror=alert('name')>"
HTML = b"<html><body><script>alert('html')</script><img src=x onerror=alert('img')></body></html>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'svg\')">'
    b"<script>alert('svg script')</script></svg>"
)
# A one-page PDF saying "Hello PDF" (objects, then their offsets in the xref table).
_OBJECTS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> >> >>",
    b"<< /Length 39 >>\nstream\nBT /F1 24 Tf 40 100 Td (Hello PDF) Tj ET\nendstream",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
]


def a_pdf() -> bytes:
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(_OBJECTS, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(_OBJECTS) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
    return out + trailer % (len(_OBJECTS) + 1, table)


def watch_dialogs(page: Page) -> list[str]:
    seen: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


def test_stored_html_and_svg_never_run(
    page: Page, alice: User, birds: Birds, problems: list[str]
) -> None:
    dataset = f"{birds.owner}/{birds.name}"
    put(alice, dataset, "page.html", HTML, "text/html")
    put(alice, dataset, "pic.svg", SVG, "image/svg+xml")
    put(alice, dataset, "page-as-text.txt", HTML, "text/plain")
    put(alice, dataset, f"{PAYLOAD}.txt", b"x")
    stored = alice.client.put(f"/datasets/{dataset}/records/{PAYLOAD}", json={PAYLOAD: PAYLOAD})
    assert stored.status_code in (200, 201), stored.text
    described = alice.client.patch(f"/datasets/{dataset}", json={"description": PAYLOAD})
    assert described.status_code == 200, described.text
    dialogs = watch_dialogs(page)
    sign_in(page, alice)

    page.goto(birds.url)
    page.get_by_role("link", name=f"{PAYLOAD}.txt").wait_for()  # the name, as text
    for path in ("/-/records", "/-/versions", "/-/diff", "/-/blob/page.html"):
        page.goto(birds.url + path)
        page.wait_for_load_state("load")
    page.goto(f"{birds.url}/-/blob/pic.svg")  # previewed as an image: it runs nothing
    assert page.get_by_role("img", name="pic.svg").evaluate("n => n.complete")
    page.goto(f"{birds.url}/-/record/{PAYLOAD.replace('/', '%2F')}")
    page.wait_for_load_state("load")

    # Opened directly, markup the browser could run is a download; typed as text it is
    # shown as text, and nothing in it runs.
    for path in ("page.html", "pic.svg"):
        with page.expect_download() as download:
            page.evaluate("url => { window.location.href = url }", f"{birds.url}/-/raw/{path}")
        assert download.value.suggested_filename == path
    page.goto(f"{birds.url}/-/raw/page-as-text.txt")
    assert "<script>alert('html')</script>" in page.locator("body").inner_text()
    assert dialogs == []
    assert problems == []  # not even the payload's broken <img> tried to load: it is text


def test_a_pdf_is_shown_by_the_browsers_viewer_in_the_sandbox(
    page: Page, visit: Visit, alice: User, birds: Birds
) -> None:
    dataset = f"{birds.owner}/{birds.name}"
    put(alice, dataset, "paper.pdf", a_pdf(), "application/pdf")
    put(alice, dataset, "fake.pdf", HTML, "application/pdf")  # says PDF, is not one
    visitor = visit(alice)
    raw = visitor.get(f"{birds.url}/-/raw/paper.pdf")
    assert raw.headers["content-type"] == "application/pdf"
    assert raw.headers["content-security-policy"] == "sandbox"
    assert "content-disposition" not in raw.headers  # inline, for the frame
    fake = visitor.get(f"{birds.url}/-/raw/fake.pdf")
    assert fake.headers["content-disposition"].startswith("attachment")
    assert "No preview" in visitor.get(f"{birds.url}/-/blob/fake.pdf").text

    dialogs = watch_dialogs(page)
    sign_in(page, alice)
    page.goto(f"{birds.url}/-/blob/paper.pdf")
    frame = page.frame_locator("iframe.pdf")
    frame.locator("embed, body").first.wait_for(state="attached")
    assert page.locator("iframe.pdf").get_attribute("title") == "paper.pdf"
    assert dialogs == []
