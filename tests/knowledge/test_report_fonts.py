"""Audit PDFs with Chinese names (knowledge/reports.py): printed with a CJK font when one is
installed, as visible boxes (never blank, never a crash) when not."""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from knowledge import reports
from knowledge.reports import CJK_MISSING, Report, Table, pdf_bytes

REPORT = Report(
    "Package access: 王伟",
    "2025-04-01 – 2025-04-30",
    [
        Table(
            title="Who opened 王伟's package",
            subtitle="",
            header=("Reader", "Action"),
            rows=[("李娜", "asked about 支付网关的密钥轮换"), ("陈杰", "opened persona.md")],
            widths=(1, 2),
        )
    ],
)


def text_of(pdf: bytes, tmp_path: Path) -> str:
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "install poppler-utils (.ci/run does)"
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run([pdftotext, str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode()


def test_chinese_names_and_titles_print_with_the_cjk_font(tmp_path: Path) -> None:
    assert reports.CJK_FONT.exists(), "install fonts-wqy-microhei (.ci/run and make install do)"
    pdf = pdf_bytes(REPORT, generated_by="李娜", generated_at=datetime(2025, 5, 1, tzinfo=UTC))
    text = text_of(pdf, tmp_path)
    for shown in ("Package access: 王伟", "李娜", "陈杰", "支付网关的密钥轮换", "by 李娜"):
        assert shown in text
    assert b"WenQuanYiMicroHei" in pdf  # embedded (a subset), not looked up by the reader


def test_without_a_cjk_font_chinese_prints_as_boxes_and_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(reports, "CJK_FONT", tmp_path / "missing.ttc")
    monkeypatch.setattr(reports, "_warned", [])
    with caplog.at_level(logging.WARNING, logger="knowledge.reports"):
        pdf = pdf_bytes(REPORT, generated_by="李娜", generated_at=datetime(2025, 5, 1, tzinfo=UTC))
    text = text_of(pdf, tmp_path)
    assert f"Package access: {CJK_MISSING * 2}" in text
    assert "opened persona.md" in text
    assert "fonts-wqy-microhei" in caplog.text
