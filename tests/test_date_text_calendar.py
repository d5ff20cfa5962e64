"""A Date partition of text: the instants its text names are checked against the calendar
in UTC, from their counts, as datetime columns are (no per-row calendar arithmetic)."""

from __future__ import annotations

import pandas as pd
import pytest

import pandasdb_core as pdb


@pytest.mark.parametrize(
    "text",
    ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00", "0000-06-01"],
    ids=["past-9999-in-utc", "before-year-1-in-utc", "year-0"],
)
def test_text_naming_an_instant_outside_the_calendar_in_utc_is_refused(text):
    db = pdb.open("memory://")
    db.upload(pd.DataFrame({"d": ["2024-01-01"], "v": [1]}), "f", columns_keys={"d": "Date"})
    with pytest.raises(pdb.InvalidPartition, match="column 'd'.*years 1 to 9999"):
        db.upload(pd.DataFrame({"d": [text], "v": [2]}), "f", columns_keys={"d": "Date"})
    assert db.get("f")["v"].tolist() == [1]  # the refused upload wrote nothing
    assert db.head("f").version == 1


def test_text_at_the_calendars_ends_in_utc_is_stored_under_its_day():
    db = pdb.open("memory://")
    frame = pd.DataFrame({"d": ["0001-01-01T01:00:00+01:00", "9999-12-31T18:59:59-05:00"]})
    db.upload(frame, "f", columns_keys={"d": "Date"})
    assert [d.isoformat() for d in db.dates("f")] == ["0001-01-01", "9999-12-31"]
