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


def province_for_code(code: str) -> Province:
    """Raises KeyError for a code that is not one of the 31 divisions."""
    return BY_CODE[code]
