"""An auditor downloads an access report (issue 11, item 5).

Tom Becker asks Dana Kowalski, who has left, a question and opens her skill package. An
auditor goes from the home page's audit panel to "Access per package" and finds it there; the
CSV and the PDF they download name who (engineer) asked about and opened whose package (Dana
Kowalski's), and which items the answer cited: the very ones Tom was shown.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.journeys.steps import log_in, log_out, shoot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _tom_asks_dana_and_opens_her_package(page: Any, password: str) -> set[str]:
    """What the audit should show: the ids of the items Tom's answer cited."""
    log_in(page, "engineer", password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Colleagues").click()
    page.get_by_role("link", name="Dana Kowalski").first.click()
    page.get_by_role("link", name="Ask Dana Kowalski").click()
    page.get_by_label("Your question").fill("Is it safe to deploy billing-svc on the first?")
    page.get_by_role("button", name="Ask", exact=True).click()
    links = page.locator("article.turn ol.citations a")
    links.first.wait_for()
    cited = {
        re.search(r"/knowledge/items/(\d+)/", href or "").group(1)  # type: ignore[union-attr]
        for href in (links.nth(i).get_attribute("href") for i in range(links.count()))
    }
    page.get_by_role("main").get_by_role("link", name="Skill package").first.click()
    page.get_by_role("heading", name="Versions").wait_for()
    log_out(page)
    return cited


def _download(page: Any, link: str) -> Path:
    with page.expect_download() as download:
        page.get_by_role("link", name=link).click()
    path = download.value.path()
    assert path is not None
    return Path(path)


def test_an_auditor_downloads_an_access_report_naming_who_saw_what(
    journey_page: Any, console_errors: list[str], demo: dict[str, str]
) -> None:
    page = journey_page
    cited = _tom_asks_dana_and_opens_her_package(page, demo["engineer"])
    assert cited

    log_in(page, "auditor", demo["auditor"])
    panel = page.get_by_role("region", name="Audit reports")
    panel.get_by_role("link", name="Access per package").click()
    page.get_by_role("heading", name="Access per package", exact=True).wait_for()
    row = page.locator("table.table tbody tr", has_text="Dana Kowalski").filter(has_text="engineer")
    assert row.count() == 1
    cells = [row.locator("td").nth(i).inner_text() for i in range(7)]
    assert cells[:6] == ["Dana Kowalski", "engineer", "1", "0", "0", "1"]
    assert set(cells[6].split()) == cited
    shoot(page, "auditor-access-report")

    # The CSV: one row per package and user, the cited items' ids separated by spaces.
    report = _download(page, "Download CSV")
    rows = list(csv.DictReader(report.read_text(encoding="utf-8").splitlines()))
    tom = [r for r in rows if r["Package of"] == "Dana Kowalski" and r["User"] == "engineer"]
    assert len(tom) == 1
    assert (tom[0]["Questions"], tom[0]["Opened"]) == ("1", "1")
    assert set(tom[0]["Cited item ids"].split()) == cited
    assert not [r for r in rows if r["User"] == "auditor"]

    # The PDF says the same, and who generated it.
    pdf = _download(page, "Download PDF")
    assert pdf.read_bytes().startswith(b"%PDF-")
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (poppler-utils) reads the PDF"
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in text.splitlines() if "Dana Kowalski" in line)
    assert line.split()[2:7] == ["engineer", "1", "0", "0", "1"]
    assert set(line.split()[7:]) == cited
    assert re.search(r"Generated .* by auditor", text)
    assert console_errors == []
