"""The usage report as a one-to-few page PDF (fpdf2, pure Python; no I/O).

Uses the PDF core font (Helvetica), which covers Latin-1: other characters in a tenant name or a
caller id are replaced by '?'. The document's creation date is the report's `generated_at`, so
the same report renders to the same bytes.
"""

from __future__ import annotations

from fpdf import FPDF

from shared.billing.services.usage_report import Counts, UsageReport

_HEADERS = ("", "Calls", "Answered", "Missed", "Voicemails", "Minutes")
_WIDTHS = (62, 22, 24, 22, 26, 24)


def _latin1(text: str) -> str:
    return text.encode("latin-1", errors="replace").decode("latin-1")


def _cells(label: str, c: Counts) -> list[str]:
    return [
        _latin1(label)[:40],
        str(c.calls),
        str(c.answered),
        str(c.missed),
        str(c.voicemails),
        str(c.minutes),
    ]


def _table(pdf: FPDF, title: str, rows: list[tuple[str, Counts]]) -> None:
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 9)
    for header, width in zip(_HEADERS, _WIDTHS, strict=True):
        pdf.cell(width, 6, header, border="B", align="R" if header else "L")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    if not rows:
        pdf.cell(0, 6, "No calls.", new_x="LMARGIN", new_y="NEXT")
    for label, counts in rows:
        for i, (text, width) in enumerate(zip(_cells(label, counts), _WIDTHS, strict=True)):
            pdf.cell(width, 5.5, text, align="L" if i == 0 else "R")
        pdf.ln()
    pdf.ln(4)


def render_pdf(report: UsageReport) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(report.generated_at)
    pdf.set_title(f"Usage report {report.month}")
    pdf.set_author("Cloud PBX")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Usage report {report.month}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _latin1(f"{report.tenant_name} ({report.tenant_id})"), new_x="LMARGIN", new_y="NEXT")
    generated = report.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    pdf.cell(0, 6, f"Generated {generated}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    t = report.total
    pdf.set_font("Helvetica", "", 11)
    summary = (
        f"Calls: {t.calls}    Answered: {t.answered}    Missed: {t.missed}    "
        f"Voicemails: {t.voicemails}    Minutes: {t.minutes}"
    )
    pdf.cell(0, 8, summary, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    _table(pdf, "Your numbers", report.top_numbers())
    _table(pdf, "Top callers", report.top_callers())
    _table(pdf, "By day", [(day, report.days[day]) for day in sorted(report.days)])
    return bytes(pdf.output())
