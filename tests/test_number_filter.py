"""console_tags' `number`: the one way pages write counts and rates (issue 16: "4000 entities"
beside "2,818 rows/s")."""

from __future__ import annotations

import pytest
from django.template import Context, Template


def render(value) -> str:
    return Template("{% load console_tags %}{{ value|number }}").render(Context({"value": value}))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (999, "999"),
        (4000, "4,000"),
        (1234567, "1,234,567"),
        (2818.4, "2,818"),
        (2818.6, "2,819"),
        (None, "—"),
        ("", "—"),
    ],
)
def test_it_writes_thousands_separators_and_rounds_rates(value, shown):
    assert render(value) == shown
