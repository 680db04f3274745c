"""Rollup charts as geometry for server-rendered SVG (no script, no chart library in the page):
kg per day stacked by material, and kg per destination country."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
           "#65a30d", "#ea580c", "#4b5563", "#0d9488", "#9333ea")


@dataclass
class Chart:
    width: int
    height: int
    bars: list[dict] = field(default_factory=list)      # x, y, w, h, fill, title
    labels: list[dict] = field(default_factory=list)    # x, y, text, anchor
    legend: list[tuple[str, str]] = field(default_factory=list)  # (name, colour)


def days_between(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def by_day_and_material(rows, days: list[date], width: int = 720, height: int = 260) -> Chart:
    """Stacked bars: one per day, a segment per material."""
    totals: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in rows:
        totals[r["day"]][r["material"]] += r["quantity_kg"]
    materials = sorted({m for d in totals.values() for m in d})
    colour = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(materials)}
    top = max((sum(d.values()) for d in totals.values()), default=Decimal(0)) or Decimal(1)
    left, bottom, plot_h = 60, 24, height - 40
    step = (width - left) / max(len(days), 1)
    chart = Chart(width, height, legend=[(m, colour[m]) for m in materials])
    chart.labels.append({"x": left - 6, "y": 14, "text": f"{top:,.0f}", "anchor": "end"})
    chart.labels.append({"x": left - 6, "y": height - bottom, "text": "0", "anchor": "end"})
    for i, day in enumerate(days):
        x, y = left + i * step + 2, height - bottom
        for m in materials:
            kg = totals[day].get(m, Decimal(0))
            if not kg:
                continue
            h = float(kg / top) * plot_h
            y -= h
            chart.bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(step - 4, 1),
                               "h": round(h, 1), "fill": colour[m],
                               "title": f"{day} {m}: {kg:,.3f} kg"})
        if len(days) <= 16 or i % 2 == 0:
            chart.labels.append({"x": round(x + step / 2 - 2, 1), "y": height - 6,
                                 "text": day.strftime("%m-%d"), "anchor": "middle"})
    return chart


def by_destination(rows, width: int = 720, row_h: int = 22) -> Chart:
    """Horizontal bars: total kg per destination country (CN: domestic trade)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[r["destination_country"]] += r["quantity_kg"]
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    top = max(totals.values(), default=Decimal(0)) or Decimal(1)
    left = 50
    chart = Chart(width, max(len(ordered), 1) * row_h + 8)
    for i, (country, kg) in enumerate(ordered):
        w = float(kg / top) * (width - left - 120)
        y = 4 + i * row_h
        chart.bars.append({"x": left, "y": y, "w": round(max(w, 1), 1), "h": row_h - 6,
                           "fill": PALETTE[i % len(PALETTE)], "title": f"{country}: {kg:,.3f} kg"})
        chart.labels.append({"x": left - 6, "y": y + row_h - 10, "text": country, "anchor": "end"})
        chart.labels.append({"x": round(left + w + 6, 1), "y": y + row_h - 10,
                             "text": f"{kg:,.0f} kg", "anchor": "start"})
    return chart
