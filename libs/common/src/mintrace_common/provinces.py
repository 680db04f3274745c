"""The 31 provincial-level divisions of mainland China (GB/T 2260) and their topic slugs (contract)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    slug: str


PROVINCES: tuple[Province, ...] = tuple(
    Province(code, name, name.lower().replace(" ", "-"))
    for code, name in [
        ("110000", "Beijing"), ("120000", "Tianjin"), ("130000", "Hebei"),
        ("140000", "Shanxi"), ("150000", "Inner Mongolia"), ("210000", "Liaoning"),
        ("220000", "Jilin"), ("230000", "Heilongjiang"), ("310000", "Shanghai"),
        ("320000", "Jiangsu"), ("330000", "Zhejiang"), ("340000", "Anhui"),
        ("350000", "Fujian"), ("360000", "Jiangxi"), ("370000", "Shandong"),
        ("410000", "Henan"), ("420000", "Hubei"), ("430000", "Hunan"),
        ("440000", "Guangdong"), ("450000", "Guangxi"), ("460000", "Hainan"),
        ("500000", "Chongqing"), ("510000", "Sichuan"), ("520000", "Guizhou"),
        ("530000", "Yunnan"), ("540000", "Xizang"), ("610000", "Shaanxi"),
        ("620000", "Gansu"), ("630000", "Qinghai"), ("640000", "Ningxia"),
        ("650000", "Xinjiang"),
    ]
)

BY_CODE: dict[str, Province] = {p.code: p for p in PROVINCES}
BY_SLUG: dict[str, Province] = {p.slug: p for p in PROVINCES}
NATIONAL = "national"

# Official Chinese names (GB/T 2260), as python-stdnum's cn/loc data spells them (checked by test).
NAMES_ZH: dict[str, str] = {
    "110000": "北京市", "120000": "天津市", "130000": "河北省", "140000": "山西省",
    "150000": "内蒙古自治区", "210000": "辽宁省", "220000": "吉林省", "230000": "黑龙江省",
    "310000": "上海市", "320000": "江苏省", "330000": "浙江省", "340000": "安徽省",
    "350000": "福建省", "360000": "江西省", "370000": "山东省", "410000": "河南省",
    "420000": "湖北省", "430000": "湖南省", "440000": "广东省", "450000": "广西壮族自治区",
    "460000": "海南省", "500000": "重庆市", "510000": "四川省", "520000": "贵州省",
    "530000": "云南省", "540000": "西藏自治区", "610000": "陕西省", "620000": "甘肃省",
    "630000": "青海省", "640000": "宁夏回族自治区", "650000": "新疆维吾尔自治区",
}
