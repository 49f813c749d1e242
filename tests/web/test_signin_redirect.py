"""Sign-in sends the browser back to a path of this site only (no open redirect)."""

from __future__ import annotations

import pytest

from gridflex.web.pages import _safe_next


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/market?product=DA", "/market?product=DA"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("market", "/"),
    ],
)
def test_next_is_a_path_of_this_site(given: str | None, kept: str):
    assert _safe_next(given) == kept
