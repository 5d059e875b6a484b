"""``PUT /v1/seats/{id}``'s body: a display name is one printable line of 1 to 80
characters, blanks around it dropped, as other names (an empty one was stored, and one too
long was refused with "at most 80 items")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cti.api.inbound_schemas import SeatIn


@pytest.mark.parametrize(
    ("name", "said"),
    [("", "blank"), ("   ", "blank"), ("\u3000", "blank"), ("x" * 81, "at most 80 characters"),
     ("a\r\nb", "control character"), ("\t", "control character")],
)
def test_a_display_name_that_is_no_name_is_refused_naming_why(name: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SeatIn.model_validate({"display_name": name})
    [error] = refused.value.errors()
    assert error["loc"] == ("display_name",)
    assert said in error["msg"], error["msg"]
    assert "items" not in error["msg"]


@pytest.mark.parametrize(
    ("name", "stored"),
    [(" Front desk ", "Front desk"), ("x" * 80, "x" * 80),
     ("\u524d\u53f0" * 40, "\u524d\u53f0" * 40), (None, None)],
)
def test_a_display_name_is_kept_without_the_blanks_around_it(
    name: str | None, stored: str | None
) -> None:
    assert SeatIn.model_validate({"display_name": name}).display_name == stored
    assert SeatIn.model_validate({}).display_name is None
