"""Platform systems: suspected-infringement listings, each platform in its own JSON shape."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.sandbox.data.clock import day, iso, later_tick, stamp
from services.sandbox.data.names import company, product, sha256_of
from services.sandbox.data.store import History

_BEIJING_OFFSET = timedelta(hours=8)


def _epoch(local: datetime) -> float:
    return (local - _BEIJING_OFFSET).replace(tzinfo=UTC).timestamp()


def alibaba(rng: random.Random, size: int) -> list[History]:
    """Taobao-style IPR complaints: snake_case, `gmt_modified` local time, `modify_count`."""
    out = []
    kinds = {"商标": "trademark", "著作权": "copyright", "专利": "patent", "假冒": "counterfeit"}
    for _i in range(size):
        region = rng.choice(("510500", "500110"))
        seller = company(rng, region)
        title, kind, cert = product(rng)
        found = stamp(day(rng), rng)
        cid = f"TB-IPR-2024{rng.randint(10**7, 10**8 - 1)}"
        sid = rng.randint(10**8, 10**9 - 1)
        body = {
            "complaint_id": cid,
            "modify_count": 0,
            "gmt_modified": iso(found),
            "seller_nick": seller["shop"],
            "seller_company": seller["name"],
            "seller_credit_code": seller["uscc"],
            "shop_title": seller["shop"],
            "shop_url": f"https://shop{sid}.taobao.com",
            "auctions": [
                {
                    "num_iid": str(sid * 10 + k),
                    "title": title,
                    "detail_url": f"https://item.taobao.com/item.htm?id={sid * 10 + k}",
                }
                for k in range(rng.randint(1, 4))
            ],
            "ipr_type": kinds[kind],
            "right_holder_cert": cert or None,
            "reason": f"权利人投诉该商品“{title}”涉嫌{kind}侵权",
            "evidences": [
                {
                    "file_url": f"https://ipp.alibaba.com/evidence/{cid}/{k}.jpg",
                    "file_hash": sha256_of(cid, k),
                    "upload_time": iso(found),
                }
                for k in range(2)
            ],
            "handle_result": [],
            "status": "PROCESSING",
            "seller_region": region,
        }
        h = History(cid, "lead")
        h.add(0, body)
        if rng.random() < 0.5:
            t = later_tick(rng)
            h.add(
                t,
                {
                    **body,
                    "modify_count": 1,
                    "status": "CLOSED",
                    "handle_result": ["delete"],
                    "gmt_modified": iso(found + timedelta(days=t)),
                },
            )
        out.append(h)
    return out


JD_TYPES = {"商标": 1, "专利": 2, "著作权": 3, "假冒": 4}


def jd(rng: random.Random, size: int) -> list[History]:
    """JD: camelCase, epoch-millisecond times, numeric codes, nested vender."""
    out = []
    for i in range(size):
        region = rng.choice(("510500", "500110"))
        seller = company(rng, region)
        title, kind, cert = product(rng)
        found = stamp(day(rng), rng)
        iid = 880000 + i
        shop_id = rng.randint(10**6, 10**7 - 1)
        body = {
            "infringementId": iid,
            "revision": 1,
            "updateTime": int(_epoch(found) * 1000),
            "vender": {
                "venderName": seller["name"],
                "creditCode": seller["uscc"],
                "shopName": seller["shop"],
                "shopId": shop_id,
            },
            "skus": [{"skuId": shop_id * 100 + k, "skuName": title} for k in range(1, 3)],
            "infringeType": JD_TYPES[kind],
            "certNo": cert or None,
            "desc": f"京东平台巡查发现商品“{title}”疑似{kind}侵权",
            "proofs": [
                {
                    "url": f"https://proof.jd.com/{iid}/{k}.png",
                    "digest": sha256_of(iid, k),
                    "time": int(_epoch(found) * 1000),
                }
                for k in range(2)
            ],
            "measures": [],
            "state": 10,
            "areaCode": region,
        }
        h = History(str(iid), "lead")
        h.add(0, body)
        if rng.random() < 0.5:
            t = later_tick(rng)
            at = found + timedelta(days=t)
            h.add(
                t,
                {
                    **body,
                    "revision": 2,
                    "state": 30,
                    "measures": ["DOWN_SHELF"],
                    "updateTime": int(_epoch(at) * 1000),
                },
            )
        out.append(h)
    return out


def douyin(rng: random.Random, size: int) -> list[History]:
    """Douyin: live-room violations, unix-second times, Chinese labels."""
    out = []
    for i in range(size):
        region = rng.choice(("510500", "500110"))
        seller = company(rng, region)
        title, kind, _ = product(rng)
        found = stamp(day(rng), rng)
        vid = f"DY{7300000000 + i * 7919}"
        body = {
            "violation_id": vid,
            "version": 1,
            "update_time": int(_epoch(found)),
            "shop": {
                "shop_name": seller["shop"],
                "shop_id": str(rng.randint(10**7, 10**8)),
                "company_name": seller["name"],
                "credit_code": seller["uscc"],
            },
            "live_room_id": str(rng.randint(10**15, 10**16)),
            "products": [
                {
                    "product_id": f"{vid}{k}",
                    "product_name": title,
                    "product_url": f"https://haohuo.jinritemai.com/views/product/item?id={vid}{k}",
                }
                for k in range(1, 3)
            ],
            "violation_type": "商标侵权" if kind == "商标" else "假冒伪劣",
            "detail": f"直播间售卖“{title}”，疑似{kind}侵权商品",
            "evidence_list": [
                {
                    "evidence_url": f"https://lf-evidence.douyin.com/{vid}/{k}.mp4",
                    "hash_sha256": sha256_of(vid, k),
                    "capture_time": int(_epoch(found)),
                }
                for k in range(2)
            ],
            "punish_measures": [],
            "status": "待处理",
            "region_code": region,
        }
        h = History(vid, "lead")
        h.add(0, body)
        if rng.random() < 0.5:
            t = later_tick(rng)
            h.add(
                t,
                {
                    **body,
                    "version": 2,
                    "status": "已处理",
                    "punish_measures": ["商品下架"],
                    "update_time": int(_epoch(found + timedelta(days=t))),
                },
            )
        out.append(h)
    return out
