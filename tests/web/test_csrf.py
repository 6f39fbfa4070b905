"""Every request of the web UI that may change something is refused without the token
of the session it rides on, whichever route it is: the table of routes is read, not
listed by hand, so a form added later is checked too."""

from __future__ import annotations

import re
from collections.abc import Callable

from dataloft import web
from tests.conftest import User
from tests.web.conftest import Birds, Visitor

Visit = Callable[..., Visitor]
SAFE = {"GET", "HEAD", "OPTIONS"}
PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def test_every_state_change_needs_its_token(visit: Visit, birds: Birds, alice: User) -> None:
    values = {"owner": birds.owner, "name": birds.name, "upload_id": "0" * 32}
    visitor = visit(alice)
    same_origin = {
        "Origin": str(visitor.client.base_url).rstrip("/"),
        "Sec-Fetch-Site": "same-origin",
        "Tus-Resumable": "1.0.0",  # so that tus's own check is not what refuses
    }
    checked = []
    for path, handlers in web.ROUTES.items():
        url = PARAMETER.sub(lambda m: values.get(m.group(1), "1"), path)
        for method in sorted(set(handlers) - SAFE):
            for body in ({"csrf": "forged", "name": "x", "action": "delete"}, {"name": "x"}):
                answer = visitor.client.request(method, url, data=body, headers=same_origin)
                assert answer.status_code == 403, (method, path, answer.status_code)
            checked.append((method, path))
    assert ("POST", "/ui/{owner}/{name}/-/settings") in checked
    assert len(checked) >= 10
    # Nothing happened: the dataset is there, unrenamed, and alice still signed in.
    assert visitor.get(birds.url).status_code == 200
