"""Audit reports for auditors, HR and data protection officers (README "Audit trail and
reports"): the event log, access per package and access per user over a period, as rows a
page, a CSV file or a PDF can show; and the tables, charts and files every report is made of
(`Table`, `Report`, `Chart`, `csv_bytes`, `pdf_bytes`). Reads only; views check
`colleagues.view_audit_reports`. The retention and consent reports are in `reports_retention`
and `reports_consent`.

Everything shown comes from audit events, which hold ids and hashes, never content.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext
from fpdf import FPDF

from colleagues.models import Colleague
from knowledge.models import AuditEvent
from knowledge.text import CJK_RUN, has_cjk

logger = logging.getLogger(__name__)

# The actions that touch a colleague's package, and the column each counts in.
ASKED = "answers.asked"
WHO_KNOWS = "answers.who_knows"
EXPORTED = "skill.exported"
# Not recorded yet: the package pages do not audit being opened (see README).
OPENED = "skill.viewed"
ACCESS_ACTIONS = (ASKED, WHO_KNOWS, EXPORTED, OPENED)
DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole UTC days, `start` to `end` inclusive."""

    start: date
    end: date

    @classmethod
    def parse(cls, start: str | None, end: str | None, *, today: date | None = None) -> Period:
        """The period asked for, or the last DEFAULT_DAYS days; at most MAX_DAYS long."""
        today = today or datetime.now(UTC).date()
        last = _date(end) or today
        first = _date(start) or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            first, last = last, first
        first = max(first, last - timedelta(days=MAX_DAYS - 1))
        return cls(first, last)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def __str__(self) -> str:
        return gettext("%(start)s to %(end)s (UTC)") % {
            "start": f"{self.start:%Y-%m-%d}",
            "end": f"{self.end:%Y-%m-%d}",
        }


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class EventFilter:
    period: Period
    action: str = ""
    actor: str = ""  # a username, exactly
    target: str = ""  # "colleague:12", or a prefix ending in ":" ("colleague:")


def events(filters: EventFilter) -> QuerySet[AuditEvent]:
    """Events of the period matching the filters, newest first."""
    found = AuditEvent.objects.filter(at__gte=filters.period.since, at__lt=filters.period.until)
    if filters.action:
        found = found.filter(action=filters.action)
    if filters.actor:
        found = found.filter(actor_name=filters.actor)
    if filters.target:
        if filters.target.endswith(":"):
            found = found.filter(target__startswith=filters.target)
        else:
            found = found.filter(target=filters.target)
    return found.order_by("-seq")


def actions_recorded() -> list[str]:
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def events_per_day(found: QuerySet[AuditEvent], period: Period) -> list[tuple[date, int]]:
    """How many of `found` fell on each day of `period`, empty days included."""
    counts = dict(
        found.order_by()
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return [(day, counts.get(day, 0)) for day in period.days()]


# --- Access to packages ------------------------------------------------------------------------


@dataclass
class AccessRow:
    """What one user did with one colleague's package over a period."""

    colleague_id: int
    colleague: str
    user_id: int | None
    user: str
    questions: int = 0
    named_in_who_knows: int = 0
    exports: int = 0
    opened: int = 0
    cited_items: set[int] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None

    @property
    def cited(self) -> list[int]:
        return sorted(self.cited_items)


def access(
    period: Period, *, colleague_id: int | None = None, username: str = ""
) -> list[AccessRow]:
    """Who asked about, was pointed to, exported or opened which colleague's package, with
    the items cited to them; one row per (colleague, user)."""
    found = AuditEvent.objects.filter(
        at__gte=period.since, at__lt=period.until, action__in=ACCESS_ACTIONS
    )
    if username:
        found = found.filter(actor_name=username)
    rows: dict[tuple[int, int | None, str], AccessRow] = {}
    fields = ("at", "actor_id", "actor_name", "action", "target", "detail")
    for at, actor_id, actor_name, action, target, detail in found.order_by("seq").values_list(
        *fields
    ):
        detail = detail if isinstance(detail, dict) else {}
        for subject in _colleagues_of(action, target, detail):
            if colleague_id is not None and subject != colleague_id:
                continue
            key = (subject, actor_id, actor_name)
            row = rows.get(key)
            if row is None:
                row = rows[key] = AccessRow(subject, "", actor_id, actor_name or "operator")
            _count(row, action, detail)
            row.first = row.first or at
            row.last = at
    names = dict(
        Colleague.objects.filter(pk__in={r.colleague_id for r in rows.values()}).values_list(
            "pk", "name"
        )
    )
    for row in rows.values():
        row.colleague = names.get(row.colleague_id, f"colleague #{row.colleague_id}")
    return list(rows.values())


def by_package(rows: Iterable[AccessRow]) -> list[AccessRow]:
    return sorted(rows, key=lambda r: (r.colleague.casefold(), r.colleague_id, r.user))


def by_user(rows: Iterable[AccessRow]) -> list[AccessRow]:
    return sorted(rows, key=lambda r: (r.user.casefold(), r.colleague.casefold(), r.colleague_id))


def _colleagues_of(action: str, target: str, detail: dict[str, Any]) -> list[int]:
    if action == WHO_KNOWS:
        return [c for c in detail.get("colleagues") or [] if isinstance(c, int)]
    kind, _, pk = target.partition(":")
    return [int(pk)] if kind == "colleague" and pk.isdigit() else []


def _count(row: AccessRow, action: str, detail: dict[str, Any]) -> None:
    if action == WHO_KNOWS:
        # Its cited items are listed for the whole answer, not per colleague named: they are
        # not attributed to any one package.
        row.named_in_who_knows += 1
        return
    if action == ASKED:
        row.questions += 1
    elif action == EXPORTED:
        row.exports += 1
    elif action == OPENED:
        row.opened += 1
    row.cited_items.update(i for i in detail.get("cited_items") or [] if isinstance(i, int))


# --- Tables for CSV and PDF --------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    title: str
    subtitle: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths: Sequence[float]  # relative column widths for the PDF
    # Names the table in `?table=` (the CSV of one table of a Report).
    key: str = ""
    empty: str = "Nothing in this period."


@dataclass(frozen=True)
class Chart:
    """Bars with their figures, drawn in a PDF (pages draw the same figures as SVG)."""

    title: str
    bars: Sequence[tuple[str, int]]


@dataclass(frozen=True)
class Report:
    """Several tables under one title, a chart first if any: one PDF, one CSV per table."""

    title: str
    subtitle: str
    tables: Sequence[Table]
    chart: Chart | None = None

    def table(self, key: str) -> Table:
        """The table named `key`, else the first."""
        return next((t for t in self.tables if t.key == key), self.tables[0])


def event_table(found: Iterable[AuditEvent], filters: EventFilter) -> Table:
    rows = [
        [
            str(e.seq),
            e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            e.actor_name or gettext("operator"),
            e.action,
            e.target,
            e.result,
            e.ip,
            e.request_id,
        ]
        for e in found
    ]
    return Table(
        gettext("Audit events"),
        _describe(filters),
        [
            gettext("Seq"),
            gettext("Time (UTC)"),
            gettext("Actor"),
            gettext("Action"),
            gettext("Target"),
            gettext("Result"),
            gettext("IP"),
            gettext("Request id"),
        ],
        rows,
        [6, 15, 12, 16, 15, 7, 12, 17],
    )


def access_table(rows: Sequence[AccessRow], *, per: str, period: Period) -> Table:
    title = gettext("Access per package") if per == "package" else gettext("Access per user")
    package, user = gettext("Package of"), gettext("User")
    first, second = (package, user) if per == "package" else (user, package)
    body = [
        [
            *((r.colleague, r.user) if per == "package" else (r.user, r.colleague)),
            str(r.questions),
            str(r.named_in_who_knows),
            str(r.exports),
            str(r.opened),
            " ".join(map(str, r.cited)),
        ]
        for r in rows
    ]
    return Table(
        title,
        str(period),
        [
            first,
            second,
            gettext("Questions"),
            gettext("Who knows"),
            gettext("Exports"),
            gettext("Opened"),
            gettext("Cited item ids"),
        ],
        body,
        [16, 14, 9, 9, 8, 8, 36],
    )


def _describe(filters: EventFilter) -> str:
    parts = [str(filters.period)]
    for label, value in (
        (gettext("action %(value)s"), filters.action),
        (gettext("actor %(value)s"), filters.actor),
        (gettext("target %(value)s"), filters.target),
    ):
        if value:
            parts.append(label % {"value": value})
    return ", ".join(parts)


# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"): audit
# targets can hold what someone typed (a username at a failed login).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_bytes(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.header)
    writer.writerows([_cell(c) for c in row] for row in table.rows)
    return out.getvalue().encode("utf-8")


FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
# Chinese, Japanese and Korean glyphs, which DejaVu lacks: Debian's fonts-wqy-microhei (.ci/run
# and `make install` install it). Without it CJK text prints as CJK_MISSING boxes, never blank.
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CJK_MISSING = "\u25a1"  # □, which DejaVu has


def pdf_bytes(document: Table | Report, *, generated_by: str, generated_at: datetime) -> bytes:
    """`document` as a landscape A4 PDF: title, period and filters, the chart if any, then each
    table under its own title (a lone table's title is the document's)."""
    report = (
        document
        if isinstance(document, Report)
        else Report(document.title, document.subtitle, [document])
    )
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_creation_date(generated_at)
    pdf.set_title(report.title)
    pdf.set_creator("Colleague.skill audit reports")
    family = _font(pdf)
    pdf.add_page()
    pdf.set_font(family, "B", 14)
    pdf.cell(0, 8, _text(report.title, family), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    pdf.cell(0, 5, _text(report.subtitle, family), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0,
        5,
        _text(f"Generated {generated_at:%Y-%m-%d %H:%M} UTC by {generated_by}", family),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    if report.chart is not None and report.chart.bars:
        _bars(pdf, report.chart, family)
    for table in report.tables:
        if len(report.tables) > 1:
            pdf.ln(2)
            pdf.set_font(family, "B", 11)
            pdf.cell(0, 7, _text(table.title, family), new_x="LMARGIN", new_y="NEXT")
        _grid(pdf, table, family)
    return bytes(pdf.output())


def _grid(pdf: FPDF, table: Table, family: str) -> None:
    if not table.rows:
        pdf.set_font(family, size=9)
        pdf.cell(0, 6, _text(table.empty, family), new_x="LMARGIN", new_y="NEXT")
        return
    total = sum(table.widths)
    widths = tuple(pdf.epw * w / total for w in table.widths)
    pdf.set_font(family, size=7)
    with pdf.table(col_widths=widths, text_align="LEFT", repeat_headings=1) as grid:
        for values in [table.header, *table.rows]:
            line = grid.row()
            for value in values:
                line.cell(_text(value, family))


CHART_HEIGHT = 35.0  # mm


def _bars(pdf: FPDF, chart: Chart, family: str) -> None:
    """Vertical bars scaled to the largest, each with its figure above and label below."""
    pdf.set_font(family, "B", 10)
    pdf.cell(0, 6, _text(chart.title, family), new_x="LMARGIN", new_y="NEXT")
    top = max(max(n for _, n in chart.bars), 1)
    slot = pdf.epw / len(chart.bars)
    bar = slot * 0.7
    left, y = pdf.l_margin, pdf.get_y() + 5
    pdf.set_font(family, size=7)
    pdf.set_fill_color(52, 101, 164)
    for index, (label, value) in enumerate(chart.bars):
        height = CHART_HEIGHT * value / top
        x = left + index * slot
        if height > 0:
            pdf.rect(x + (slot - bar) / 2, y + CHART_HEIGHT - height, bar, height, style="F")
        pdf.set_xy(x, y + CHART_HEIGHT - height - 4)
        pdf.cell(slot, 4, str(value), align="C")
        pdf.set_xy(x, y + CHART_HEIGHT + 1)
        pdf.cell(slot, 4, _text(label, family), align="C")
    pdf.set_xy(left, y + CHART_HEIGHT + 7)


def _font(pdf: FPDF) -> str:
    """DejaVu when installed (any script but CJK), with WenQuanYi Micro Hei as the fallback
    for CJK glyphs when installed too; else the Latin-1 core font."""
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if not (regular.exists() and bold.exists()):
        return "helvetica"
    pdf.add_font("dejavu", "", str(regular))
    pdf.add_font("dejavu", "B", str(bold))
    if not CJK_FONT.exists():
        return "dejavu"
    pdf.add_font("cjk", "", str(CJK_FONT), collection_font_number=0)
    # Bold CJK text takes the regular face: the font has no bold.
    pdf.set_fallback_fonts(["cjk"], exact_match=False)
    return "dejavu"


def _text(value: str, family: str) -> str:
    """`value` as `family` can print it: CJK becomes boxes without a CJK font, anything
    beyond Latin-1 "?" with the core font."""
    if family == "helvetica":
        return value.encode("latin-1", "replace").decode("latin-1")
    if family == "dejavu" and has_cjk(value) and not CJK_FONT.exists():
        if not _warned:
            _warned.append(True)
            logger.warning(
                "audit PDF: no CJK font at %s (Debian: apt-get install fonts-wqy-microhei);"
                " Chinese, Japanese and Korean text prints as %s",
                CJK_FONT,
                CJK_MISSING,
            )
        return CJK_RUN.sub(lambda m: CJK_MISSING * len(m.group()), value)
    return value


_warned: list[bool] = []  # the missing font is logged once per process
