from datetime import date
from decimal import Decimal

from mintrace_supervision import charts, i18n


def test_language_is_the_users_cookie_else_the_browsers_preference():
    assert i18n.choose("zh-CN", "en-GB") == "zh-CN"
    assert i18n.choose(None, "zh-TW,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert i18n.choose("klingon", "en-US,en") == "en"
    assert i18n.choose(None, None) == "en"


def test_every_chinese_message_translates_and_english_is_the_message_itself():
    zh, en = i18n.translator("zh-CN"), i18n.translator("en")
    assert zh("Alert queue") == "警报队列" and en("Alert queue") == "Alert queue"
    assert all(v and v != k for k, v in i18n.ZH_CN.items())


def test_daily_chart_stacks_materials_and_scales_to_the_busiest_day():
    d1, d2 = date(2026, 11, 20), date(2026, 11, 21)
    rows = [{"day": d1, "material": "Dy", "quantity_kg": Decimal(100)},
            {"day": d1, "material": "Tb", "quantity_kg": Decimal(100)},
            {"day": d2, "material": "Dy", "quantity_kg": Decimal(50)}]
    chart = charts.by_day_and_material(rows, [d1, d2], height=240)
    heights = {b["title"].split(":")[0]: b["h"] for b in chart.bars}
    assert heights["2026-11-20 Dy"] + heights["2026-11-20 Tb"] == 200   # full plot height
    assert heights["2026-11-21 Dy"] == 50
    assert [name for name, _ in chart.legend] == ["Dy", "Tb"]


def test_destination_chart_orders_countries_by_volume():
    rows = [{"destination_country": c, "quantity_kg": Decimal(q)}
            for c, q in (("DE", 10), ("CN", 30), ("DE", 25))]
    chart = charts.by_destination(rows)
    assert [b["title"].split(":")[0] for b in chart.bars] == ["DE", "CN"]
