"""The demo company's documents: .docx (python-docx), .pdf (fpdf2) and Markdown.

Each document is written by one person about their own systems, reusing the procedures,
answers and decisions they give on Slack and email, so every source tells the same story.

Guarantees: byte-identical files for the same seed (fixed creation dates, fixed zip entry
times in .docx); the author's name is in the file's metadata (docx core properties
author, PDF /Author, Markdown front matter) and the title is set.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from fpdf import FPDF

from colleagues.demo.company import COMPANY_NAME, PEOPLE_BY_KEY, Person
from colleagues.demo.writing import Writer, to_plain


@dataclass(frozen=True)
class DocumentSpec:
    """One document: who wrote it, about what, and its fixed content."""

    filename: str
    author: str  # person key
    title: str
    subject: str
    written: date
    intro: tuple[str, ...]
    sections: tuple[tuple[str, tuple[str, ...]], ...]  # (heading, paragraphs)
    table: tuple[tuple[str, ...], ...]  # header row first
    procedure: int = 0  # which of the author's procedures to include

    @property
    def kind(self) -> str:
        return self.filename.rsplit(".", 1)[1]


DOCUMENTS: tuple[DocumentSpec, ...] = (
    DocumentSpec(
        "billing-api-key-rotation.docx",
        "dana",
        "Billing API key rotation",
        "How the billing API keys for billing-svc are rotated",
        date(2025, 6, 12),
        intro=(
            "This document describes how we rotate the billing API keys that billing-svc uses "
            "to talk to PayStream. It is the procedure I follow every 90 days, and the one to "
            "follow immediately if a key is ever exposed.",
            "The rotation is designed so that nothing fails mid-request: billing-svc accepts "
            "both the old and the new key during a dual-key window, and the old key is revoked "
            "only once every pod reports the new key id.",
        ),
        sections=(
            (
                "Background",
                (
                    "billing-svc reads its PayStream key from Vault at "
                    "secret/payments/billing-svc/paystream and re-reads it on SIGHUP. Keys never "
                    "live in environment files or in the repository.",
                    "We only use restricted keys. A full-access key could issue payouts; a "
                    "restricted key can charge, refund and manage customers, which is all "
                    "billing-svc needs.",
                ),
            ),
            (
                "When to rotate",
                (
                    "Every 90 days, tracked on the payments calendar and in a PAY ticket.",
                    "Immediately, if a key appears in a log, a chat message, a screenshot or an "
                    "environment file.",
                    "Never during the monthly invoice-runner run (00:00 to 04:00 UTC on the "
                    "first) or while billing-svc deploys are frozen for month end.",
                ),
            ),
            (
                "What went wrong before",
                (
                    "In 2024 the old key was revoked before every pod had picked up the new one, "
                    "and checkout failed for 38 minutes. The dual-key window and the key-id "
                    "metric exist because of that incident.",
                ),
            ),
        ),
        table=(
            ("Secret", "Where it lives", "Scopes", "Rotation"),
            (
                "PayStream restricted key",
                "secret/payments/billing-svc/paystream",
                "charges, refunds, customers",
                "every 90 days",
            ),
            (
                "Webhook signing secret",
                "secret/payments/billing-svc/webhook",
                "n/a",
                "every 180 days",
            ),
            ("Smoke-test key", "secret/payments/billing-svc/smoke", "test mode only", "yearly"),
        ),
    ),
    DocumentSpec(
        "eks-upgrade-runbook.docx",
        "priya",
        "nw-prod-eks upgrade runbook",
        "Upgrading the production Kubernetes cluster",
        date(2025, 5, 20),
        intro=(
            "How we upgrade nw-prod-eks and its staging twin. Everything goes through "
            "infra-live; no console changes.",
        ),
        sections=(
            (
                "Before you start",
                (
                    "Read the upstream changelog for the target version.",
                    "Run the deprecated API scan and fix every hit before touching the control "
                    "plane.",
                    "Book a change window in the change calendar.",
                ),
            ),
            (
                "Rollback",
                (
                    "The control plane cannot be downgraded. Node groups can: pin the previous "
                    "AMI in infra-live and roll them again.",
                ),
            ),
        ),
        table=(
            ("Cluster", "Version", "Upgraded on", "By"),
            ("nw-staging-eks", "1.28", "2025-04-08", "Priya Nair"),
            ("nw-prod-eks", "1.28", "2025-04-15", "Priya Nair"),
            ("nw-staging-eks", "1.29", "2025-09-02", "Priya Nair"),
            ("nw-prod-eks", "1.29", "2025-09-09", "Priya Nair"),
        ),
    ),
    DocumentSpec(
        "dbt-conventions.docx",
        "arjun",
        "nw-dbt conventions and warehouse guide",
        "How models are organised in nw-dbt and the Snowflake warehouse",
        date(2025, 4, 28),
        intro=(
            "The conventions every model in nw-dbt follows, and which Snowflake warehouse "
            "schemas are safe to query.",
        ),
        sections=(
            (
                "Layers",
                (
                    "Staging models rename and cast, one per source table. Marts join and "
                    "aggregate and are the only thing BI tools read.",
                    "Never select from raw in a mart; always ref() the staging model.",
                ),
            ),
            (
                "Tests",
                (
                    "Every model has a primary key with unique and not_null tests. Sources have "
                    "freshness thresholds, and stale sources fail the nightly run.",
                ),
            ),
            (
                "Cost",
                (
                    "Every Snowflake warehouse auto-suspends after 60 seconds. The BI warehouse is "
                    "capped at size M. Large models are incremental.",
                ),
            ),
        ),
        table=(
            ("Layer", "Schema", "Materialisation", "Who reads it"),
            ("raw", "raw.*", "loaded by Airflow", "nobody but staging"),
            ("staging", "staging.*", "view", "marts"),
            ("marts", "analytics.*", "table or incremental", "BI tools, analysts"),
        ),
    ),
    DocumentSpec(
        "hiring-playbook.docx",
        "ben",
        "Hiring playbook: interview loops",
        "How Northwind runs interview loops in Greenhouse",
        date(2025, 5, 6),
        intro=(
            "Everything a hiring manager and an interviewer need to know about our interview "
            "loops. Same loop for every candidate for a role, evidence over vibes, "
            "scorecards in Greenhouse within 24 hours.",
        ),
        sections=(
            (
                "Opening a role",
                (
                    "Send the job description and the approved headcount ticket to the talent "
                    "team. We set up the job and its interview loops in Greenhouse together.",
                    "Every posting includes the salary range.",
                ),
            ),
            (
                "Interviewing",
                (
                    "Interviewers complete interview training before joining a loop, and do at "
                    "most four interviews a week.",
                    "Candidates choose between a take-home exercise and a pairing session.",
                ),
            ),
        ),
        table=(
            ("Stage", "Owner", "Duration", "Scorecard focus"),
            ("Screen", "Talent team", "30 min", "motivation, logistics"),
            ("Take-home or pairing", "Hiring team", "2-3 h", "problem solving, code quality"),
            ("System design", "Senior engineer", "60 min", "trade-offs, communication"),
            ("Values", "Cross-team interviewer", "45 min", "collaboration, ownership"),
        ),
    ),
    DocumentSpec(
        "month-end-close.docx",
        "lucia",
        "Month-end close with ledger-recon",
        "Closing the month for payments",
        date(2025, 8, 4),
        intro=(
            "The month-end checklist for payments. ledger-recon must match to the cent "
            "before billing-svc deploys are unfrozen.",
        ),
        sections=(
            (
                "Mismatches",
                (
                    "Refunds that settle after the cut-off show up as mismatches and clear the "
                    "next day. Anything else above 1 cent is investigated before close.",
                ),
            ),
        ),
        table=(
            ("Step", "When", "Owner"),
            ("invoice-runner monthly run", "1st, 00:00-04:00 UTC", "Payments on-call"),
            ("ledger-recon full month", "1st, after the run", "Lucía Fernández"),
            ("Report to finance", "1st or 2nd", "Lucía Fernández"),
            ("Unfreeze billing-svc deploys", "after finance confirms", "Payments on-call"),
        ),
    ),
    DocumentSpec(
        "incident-response-policy.pdf",
        "marcus",
        "Incident response policy",
        "How Northwind declares, runs and reviews incidents",
        date(2025, 3, 24),
        intro=(
            "This policy applies to every incident with customer impact or data risk. Staging "
            "problems are not incidents.",
            "The incident commander coordinates. They do not debug.",
        ),
        sections=(
            (
                "Declaring",
                (
                    "Anyone can declare an incident in #incidents with a severity and a one-line "
                    "summary. If unsure about severity, pick the higher one.",
                ),
            ),
            (
                "Roles",
                (
                    "Incident commander: coordinates, decides, communicates.",
                    "Scribe: keeps the timeline in the incident channel.",
                    "Responders: investigate and mitigate, and report to the commander.",
                ),
            ),
            (
                "Communication",
                (
                    "Updates every 30 minutes, even if nothing changed. The status page is updated "
                    "for SEV1 and SEV2.",
                ),
            ),
            (
                "Review",
                (
                    "Every SEV1 gets a postmortem within five working days. Action items have an "
                    "owner and a date, or they are not action items.",
                ),
            ),
        ),
        table=(
            ("Severity", "Definition", "Response", "Pages at night"),
            ("SEV1", "Customers cannot use the product", "Immediate, all hands", "Yes"),
            ("SEV2", "Major feature degraded", "Within 30 minutes", "No"),
            ("SEV3", "Minor impact, workaround exists", "Next business day", "No"),
        ),
    ),
    DocumentSpec(
        "discount-approval-policy.pdf",
        "chloe",
        "Discount approval policy 2025",
        "Who approves discounts and how",
        date(2025, 1, 20),
        intro=(
            "Our average discount crept up to 31% last year. This policy brings it back to "
            "something we can defend to the board.",
        ),
        sections=(
            (
                "Principles",
                (
                    "Discounts buy something: a longer term, a case study, a faster signature. "
                    "A discount that buys nothing is margin we give away.",
                ),
            ),
            (
                "The discount desk",
                (
                    "The discount desk meets every Thursday at 3pm. Deals go on the sheet by "
                    "Wednesday with two lines on why the discount wins the deal.",
                ),
            ),
        ),
        table=(
            ("Discount", "Approver", "Evidence"),
            ("up to 10%", "Account executive", "none"),
            ("10% to 20%", "Sales lead", "note in the CRM"),
            ("above 20%", "Discount desk", "business case, competitor quote"),
            ("above 35%", "VP Sales and CEO", "business case and margin analysis"),
        ),
    ),
    DocumentSpec(
        "oncall-alerting-runbook.md",
        "wei",
        "On-call runbooks: alerting guide",
        "How alerts, runbooks and dashboards fit together",
        date(2025, 7, 15),
        intro=(
            "Every alert that can page must link to one of the on-call runbooks. This guide "
            "explains how to write the alert, the runbook and the dashboard together.",
        ),
        sections=(
            (
                "Alerts",
                (
                    "Alert rules live in the nw-observability repo under alerts/<team>/. CI "
                    "rejects a rule without a runbook_url label.",
                    "Use recording rules for SLO queries; raw queries are too slow for Grafana.",
                ),
            ),
            (
                "中文说明",
                (
                    "所有告警都必须有 runbook_url。没有 runbook 的告警不能上线。",
                    "Grafana dashboard 的链接请直接写在 runbook 里，方便 on-call 同事排查。",
                ),
            ),
        ),
        table=(
            ("Alert", "Severity", "Runbook"),
            ("billing-svc 5xx rate", "page", "payments/billing-svc"),
            ("event-pipeline consumer lag", "page", "data/event-pipeline"),
            ("Prometheus disk usage", "ticket", "platform/prometheus"),
        ),
    ),
    DocumentSpec(
        "shipyard-v2-design.md",
        "tom",
        "Design doc: shipyard v2",
        "Moving shipyard deploys onto Argo CD",
        date(2025, 4, 2),
        intro=(
            "shipyard v1 runs kubectl itself. v2 hands every deploy to Argo CD, so there is "
            "one path to production to audit and roll back.",
        ),
        sections=(
            (
                "Goals",
                (
                    "One path to prod. Rollback in about a minute. Deploy notifications in the "
                    "service's channel with the diff link.",
                ),
            ),
            (
                "Non-goals",
                ("Automatic prod deploys on merge. Prod stays a button press on purpose.",),
            ),
            (
                "Rollout",
                (
                    "Staging services first, then prod, five services a week. Jenkins goes "
                    "read-only when the last service has moved to the GitHub Actions runners.",
                ),
            ),
        ),
        table=(
            ("", "shipyard v1", "shipyard v2"),
            ("Applies manifests", "kubectl from the runner", "Argo CD sync"),
            ("Rollback", "re-run old pipeline", "shipyard rollback, ~1 minute"),
            ("Audit trail", "CI logs", "Argo CD history"),
        ),
    ),
)


@dataclass(frozen=True)
class _Content:
    """A document's text, with slots filled and markers rendered."""

    intro: list[str]
    sections: list[tuple[str, list[str]]]
    steps: list[str]
    note: str
    faq: list[tuple[str, str]]
    decisions: list[str]


def _content(spec: DocumentSpec, writer: Writer) -> _Content:
    author = PEOPLE_BY_KEY[spec.author]
    expertise = author.expertise

    def text(template: str) -> str:
        return to_plain(writer.fill(template, author=author), markdown=spec.kind == "md")

    procedure = expertise.procedures[spec.procedure]
    return _Content(
        intro=[text(p) for p in spec.intro],
        sections=[(h, [text(p) for p in ps]) for h, ps in spec.sections],
        steps=[text(s) for s in procedure.steps],
        note=text(procedure.note),
        faq=[(text(q[0].upper() + q[1:]), text(a)) for q, a in expertise.qa],
        decisions=[text(f"{d[0].upper()}{d[1:]}, because {r}.") for d, r in expertise.decisions],
    )


def _written_at(spec: DocumentSpec) -> datetime:
    return datetime.combine(spec.written, time(10, 0), tzinfo=UTC)


# -- docx ----------------------------------------------------------------------------------


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry times: python-docx stamps entries with the clock."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(item.filename))
    return out.getvalue()


def _add(document: DocxDocument, text: str, style_id: str | None = None) -> None:
    """Add a paragraph in a built-in style of the default template, by style id.

    Passing a style name to python-docx scans every style of the template on each call,
    which made writing these documents several times slower; the id is what it stores.
    """
    paragraph = document.add_paragraph(text)
    if style_id:
        paragraph._p.style = style_id


def _write_docx(spec: DocumentSpec, author: Person, content: _Content, path: Path) -> None:
    document = docx.Document()
    _add(document, spec.title, "Title")
    for paragraph in content.intro:
        _add(document, paragraph)
    for heading, paragraphs in content.sections:
        _add(document, heading, "Heading1")
        for paragraph in paragraphs:
            _add(document, paragraph)
    _add(document, "Procedure", "Heading1")
    for step in content.steps:
        _add(document, step, "ListNumber")
    _add(document, f"Note: {content.note}")
    _add(document, "Reference", "Heading1")
    header, *rows = spec.table
    table = document.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, value in zip(table.rows[0].cells, header, strict=True):
        cell.text = value
    for row in rows:
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = value
    _add(document, "Questions I get asked", "Heading1")
    for question, answer in content.faq:
        _add(document, question, "ListBullet")
        _add(document, answer)
    _add(document, f"{author.name}, {author.title}, {COMPANY_NAME}")
    props = document.core_properties
    props.author = author.name
    props.last_modified_by = author.name
    props.title = spec.title
    props.subject = spec.subject
    props.keywords = ", ".join(author.expertise.keywords)
    props.category = author.department
    props.created = props.modified = _written_at(spec).replace(tzinfo=None)
    props.revision = 3
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_normalise_zip(buffer.getvalue()))


# -- pdf -----------------------------------------------------------------------------------

_LATIN1 = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-", "…": "...", "→": "->", "€": "EUR"}
)


def _latin1(text: str) -> str:
    """The PDF core fonts cover Latin-1 only."""
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def _write_pdf(spec: DocumentSpec, author: Person, content: _Content, path: Path) -> None:
    pdf = FPDF()
    pdf.set_creation_date(_written_at(spec))
    pdf.set_author(author.name)
    pdf.set_title(spec.title)
    pdf.set_subject(spec.subject)
    pdf.set_keywords(", ".join(author.expertise.keywords))
    pdf.set_creator(f"{COMPANY_NAME} intranet")
    pdf.set_auto_page_break(auto=True, margin=18)

    def lines(text: str, height: float) -> None:
        # Wrap by measured width and write line by line: fpdf2's multi_cell lays text out
        # glyph by glyph and was most of the generator's running time.
        width = pdf.epw
        line = ""
        for word in _latin1(text).split():
            candidate = f"{line} {word}" if line else word
            if line and pdf.get_string_width(candidate) > width:
                pdf.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")
                candidate = word
            line = candidate
        pdf.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")

    def heading(text: str, size: int = 14) -> None:
        pdf.set_font("helvetica", "B", size)
        lines(text, size * 0.6)
        pdf.ln(1)

    def paragraph(text: str) -> None:
        pdf.set_font("helvetica", size=11)
        lines(text, 6)
        pdf.ln(2)

    pdf.add_page()
    heading(spec.title, 20)
    paragraph(f"{author.name}, {author.title}. {spec.written:%d %B %Y}.")
    for text in content.intro:
        paragraph(text)
    for title, paragraphs in content.sections:
        heading(title)
        for text in paragraphs:
            paragraph(text)
    pdf.add_page()
    heading("Procedure")
    for number, step in enumerate(content.steps, start=1):
        paragraph(f"{number}. {step}")
    paragraph(f"Note: {content.note}")
    heading("Reference")
    pdf.set_font("helvetica", size=10)
    with pdf.table() as table:
        for row in spec.table:
            cells = table.row()
            for value in row:
                cells.cell(_latin1(value))
    pdf.ln(4)
    pdf.add_page()
    heading("Questions and answers")
    for question, answer in content.faq:
        heading(question, 12)
        paragraph(answer)
    heading("Decisions and why")
    for text in content.decisions:
        paragraph(text)
    path.write_bytes(bytes(pdf.output()))


# -- markdown ------------------------------------------------------------------------------


def _write_md(spec: DocumentSpec, author: Person, content: _Content, path: Path) -> None:
    # Front matter values are JSON strings, which YAML reads as double-quoted scalars
    # (a title like "Design doc: shipyard v2" is not a valid plain YAML scalar).
    lines = [
        "---",
        f"title: {json.dumps(spec.title, ensure_ascii=False)}",
        f"author: {json.dumps(author.name, ensure_ascii=False)}",
        f"author_email: {author.email}",
        f"date: {spec.written.isoformat()}",
        f"summary: {json.dumps(spec.subject, ensure_ascii=False)}",
        "---",
        "",
        f"# {spec.title}",
        "",
    ]
    lines += [line for text in content.intro for line in (text, "")]
    for heading, paragraphs in content.sections:
        lines += [f"## {heading}", ""]
        lines += [line for text in paragraphs for line in (text, "")]
    lines += ["## Procedure", ""]
    lines += [f"{number}. {step}" for number, step in enumerate(content.steps, start=1)]
    lines += ["", f"> **Note:** {content.note}", "", "## Reference", ""]
    header, *rows = spec.table
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "## FAQ", ""]
    for question, answer in content.faq:
        lines += [f"**{question}**", "", answer, ""]
    lines += [f"-- {author.name}, {author.title}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


_WRITERS = {"docx": _write_docx, "pdf": _write_pdf, "md": _write_md}


def write_documents(folder: Path, *, rng: random.Random) -> list[tuple[DocumentSpec, Path]]:
    """Write every document in `DOCUMENTS` into `folder`; return (spec, path) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = Writer(rng)
    written = []
    for spec in DOCUMENTS:
        author = PEOPLE_BY_KEY[spec.author]
        path = folder / spec.filename
        _WRITERS[spec.kind](spec, author, _content(spec, writer), path)
        written.append((spec, path))
    return written
