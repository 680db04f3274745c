"""The console's two languages. English strings are the message ids; the Simplified Chinese
catalogue is small enough to live here (a gettext toolchain would outweigh it)."""

from collections.abc import Callable

LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
DEFAULT = "en"

ZH_CN = {
    "mintrace console": "mintrace 监管控制台",
    "Sign in": "登录", "Sign out": "退出",
    "Supervisor key": "监管密钥",
    "That key is not a live supervisor key.": "该密钥不是有效的监管密钥。",
    "Too many sign-in attempts: try again in a moment.": "登录尝试过多，请稍后再试。",
    "Signed in as": "当前用户",
    "Alerts": "警报", "Alert queue": "警报队列", "Reports": "报告", "Report search": "报告查询",
    "Rollup": "汇总", "Webhooks": "Webhook 通知", "Provinces": "各省概览",
    "Type": "类型", "Severity": "严重程度", "Case status": "案件状态", "any": "全部",
    "Filter": "筛选", "Raised": "发出时间", "Summary": "摘要", "Producer": "生产者",
    "Province": "省份", "Assignee": "负责人", "Outcome": "结论",
    "open": "待处理", "assigned": "已分派", "closed": "已结案",
    "confirmed_violation": "确认违规", "no_violation": "未违规", "referred": "已移交",
    "low": "低", "medium": "中", "high": "高", "critical": "严重",
    "assign": "分派", "note": "备注", "close": "结案", "reopen": "重新打开",
    "New alerts appear here as they are raised.": "新警报发出后会自动出现在此处。",
    "No alerts match.": "没有符合条件的警报。",
    "Alert": "警报", "Case": "案件", "History": "处理记录", "Evidence reports": "证据报告",
    "Shipments of the episode": "本批次的全部发运",
    "When": "时间", "By": "操作人", "Action": "操作",
    "Assign to": "分派给", "Add a note": "添加备注", "Close with outcome": "结案并给出结论",
    "Reopen": "重新打开", "No actions yet.": "尚无处理记录。",
    "Report ID": "报告编号", "Material": "材料", "Quantity (kg)": "数量（千克）",
    "Counterparty": "交易对方", "Destination": "目的地", "Licence": "许可证",
    "Occurred": "发生时间", "Search": "查询", "No reports match.": "没有符合条件的报告。",
    "Facilities": "设施", "Licences": "许可证", "Remaining (kg)": "剩余额度（千克）",
    "Licensed (kg)": "许可数量（千克）", "Valid": "有效期", "Status": "状态",
    "Stages": "环节", "Facility": "设施",
    "Volume by material (kg per day)": "按材料的数量（千克/日）",
    "Volume by destination (kg)": "按目的地的数量（千克）",
    "Download CSV": "下载 CSV", "Days": "天数", "Day": "日期",
    "Open cases": "待处理案件", "Assigned cases": "已分派案件", "Closed cases": "已结案案件",
    "Reports (7 days)": "报告数（7 日）", "Volume (kg, 7 days)": "数量（千克，7 日）",
    "Delivery log": "投递记录", "Minimum severity": "最低严重程度", "Result": "结果",
    "No webhooks for this province: add one with": "本省尚无 Webhook，可用以下命令添加：",
    "Not found": "未找到", "Not allowed": "无权访问",
    "This key may not open that province.": "此密钥无权访问该省份。",
    "Nothing here for this province.": "本省没有此项内容。",
    "Language": "语言", "national": "全国",
}
CATALOGUES = {"zh-CN": ZH_CN}


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The user's language: the console's cookie, else the browser's first preference."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def translator(lang: str) -> Callable[[str], str]:
    catalogue = CATALOGUES.get(lang, {})
    return lambda text: catalogue.get(text, text)
