from __future__ import annotations

import base64

import pytest

from tests.conftest import API_KEY

AUTH = {"Authorization": "Basic " + base64.b64encode(f"ops:{API_KEY}".encode()).decode()}


@pytest.mark.parametrize(
    ("page", "min_plots"),
    [("/dashboard", 5), ("/dashboard/segments", 6), ("/dashboard/campaigns", 3), ("/dashboard/experiments", 0)],
)
def test_pages_render_plots(client, page: str, min_plots: int) -> None:
    resp = client.get(page, headers=AUTH)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.count("<svg") >= min_plots and '<script src="http' not in html


def test_login_required(client) -> None:
    assert client.get("/dashboard").status_code == 401
    bad = {"Authorization": "Basic " + base64.b64encode(b"ops:wrong").decode()}
    assert client.get("/dashboard/segments", headers=bad).status_code == 401
