"""Realistic Chinese parties, products and shops; credit codes with a correct check digit."""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from typing import Any

from casebus.contracts.uscc import ALPHABET, check_character
from casebus.personal.idcard import CHECK_MAP, with_check

REGIONS = {"510500": "泸州市", "500110": "綦江区"}
DISTRICTS = {
    "510500": ("江阳区", "龙马潭区", "纳溪区", "泸县", "合江县", "叙永县", "古蔺县"),
    "500110": ("古南街道", "文龙街道", "三江街道", "通惠街道", "东溪镇"),
}
DIVISIONS = {
    "510500": ("510502", "510503", "510504", "510521", "510522"),
    "500110": ("500110",),
}
TRADES = ("酒业", "商贸", "食品", "电子商务", "日用品", "母婴用品", "服饰", "茶业")
WORDS = ("鑫", "盛", "福", "源", "泰", "华", "隆", "锦", "川", "渝", "德", "顺", "瑞", "嘉", "恒")
SURNAMES = "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超")
PRODUCTS = (
    ("泸州老窖 特曲 52度 500ml", "商标", "第1386498号商标注册证"),
    ("郎酒 红花郎15 53度 500ml", "商标", "第1173021号商标注册证"),
    ("五粮液 普五 第八代 52度 500ml", "商标", "第160923号商标注册证"),
    ("綦江农民版画 复制品 装饰画", "著作权", "渝作登字-2019-F-00012345"),
    ("某品牌 婴幼儿配方奶粉 1段 800g", "假冒", ""),
    ("蓝牙降噪耳机 Pro 2 代", "专利", "ZL202010123456.7"),
    ("古蔺麻辣鸡 500g 真空装", "假冒", ""),
)


def uscc(rng: random.Random, region: str, *, kind: str = "91") -> str:
    """A valid 统一社会信用代码: kind '91' enterprise, '92' individual business."""
    division = rng.choice(DIVISIONS[region])
    org = "".join(rng.choice(ALPHABET[:10] if i < 8 else ALPHABET) for i in range(9))
    first17 = kind + division + org
    return first17 + check_character(first17)


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def company(rng: random.Random, region: str) -> dict[str, str]:
    district = rng.choice(DISTRICTS[region])
    trade = rng.choice(TRADES)
    individual = rng.random() < 0.25
    brand = rng.choice(WORDS) + rng.choice(WORDS)
    name = (
        f"{REGIONS[region]}{district}{brand}{trade}经营部"
        if individual
        else f"{REGIONS[region]}{brand}{trade}有限公司"
    )
    return {
        "name": name,
        "uscc": uscc(rng, region, kind="92" if individual else "91"),
        "category": "个体工商户" if individual else "法人及非法人组织",
        "legal_rep": person(rng),
        "region": region,
        "shop": f"{brand}{trade}{rng.choice(('旗舰店', '专营店', '直销店', '小店'))}",
    }


def sha256_of(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def product(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(PRODUCTS)


# Natural persons: resident identity numbers (GB 11643), phones and addresses.
ID_DIVISIONS = {
    "510500": ("510502", "510503", "510504", "510521", "510522", "510524", "510525"),
    "500110": ("500110", "500222", "500112"),
}
MOBILE_PREFIXES = ("138", "139", "150", "151", "158", "159", "177", "180", "181", "187", "199")
ROADS = ("滨江路", "大山坪路", "江阳西路", "酒城大道", "九龙大道", "沱江路", "新华路")


def resident_id(rng: random.Random, region: str, *, valid: bool = True) -> str:
    """An 18-character resident identity number of someone born 1960-2004 in the region;
    `valid=False`: the same with a wrong check character (a typo at the source)."""
    division = rng.choice(ID_DIVISIONS[region])
    born = date(1960, 1, 1) + timedelta(days=rng.randint(0, 45 * 365))
    first17 = f"{division}{born:%Y%m%d}{rng.randint(1, 999):03d}"
    number = with_check(first17)
    if valid:
        return number
    wrong = CHECK_MAP[(CHECK_MAP.index(number[17]) + rng.randint(1, 10)) % 11]
    return first17 + wrong


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 10**8 - 1):08d}"


def address(rng: random.Random, region: str) -> str:
    district = rng.choice(DISTRICTS[region])
    return f"{REGIONS[region]}{district}{rng.choice(ROADS)}{rng.randint(1, 300)}号"


def informant(rng: random.Random, region: str) -> dict[str, Any]:
    """Who complained or reported (举报人): a name and phone always, mostly an identity
    number and an address, mostly asking for confidentiality."""
    with_id = rng.random() < 0.8
    return {
        "name": person(rng),
        "phone": mobile(rng),
        "id_type": "身份证" if with_id else None,
        "id_no": resident_id(rng, region) if with_id else None,
        "address": address(rng, region) if rng.random() < 0.6 else None,
        "confidential": rng.random() < 0.8,
    }
