"""The console in a real browser (Debian's Chromium, headless) against `casebus console
serve` over databases a real sync filled. Each test saves screenshots to
var/test/screenshots/ (docs/images/ holds two of them for the README)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from casebus.config import PROJECT_ROOT
from tests.console.browser import LAPTOP, PHONE, save, start_browser
from tests.console.world import (
    CROSS_CASE,
    HOSTILE_CASE,
    PARTY,
    PASSWORD,
    QIJIANG,
    QIJIANG_CASE,
    World,
)

SHOTS = PROJECT_ROOT / "var" / "test" / "screenshots"
JUDICIAL = "綦市监移〔2024〕21号"  # Qijiang SAMR → Qijiang police: Qijiang's only
RED = "rgba(200, 30, 30, 1)"


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture
def b(browser: webdriver.Chrome, console_url: str) -> webdriver.Chrome:
    """The browser, signed out, at laptop size."""
    browser.get(console_url + "/login")
    browser.delete_all_cookies()
    browser.set_window_size(*LAPTOP)
    return browser


def sign_in(driver: webdriver.Chrome, url: str, user: str, password: str = PASSWORD) -> None:
    driver.get(url + "/login")
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def shot(driver: webdriver.Chrome, name: str, *, whole: bool = True) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return save(driver, SHOTS, name, whole=whole)


def wait_until(driver: webdriver.Chrome, condition: Callable[[Any], Any]) -> None:
    WebDriverWait(driver, 15).until(condition)


def signed_in_as(driver: webdriver.Chrome, url: str, user: str) -> None:
    sign_in(driver, url, user)
    wait_until(driver, lambda d: "/login" not in d.current_url)


def login_error(driver: webdriver.Chrome, text: str) -> None:
    """Wait until the sign-in page answered with `text` (not the previous answer's text)."""
    wait_until(driver, EC.text_to_be_present_in_element((By.ID, "login-error"), text))


def owners_in(driver: webdriver.Chrome, region: str) -> set[str]:
    cards = driver.find_elements(By.CSS_SELECTOR, f"section[data-region='{region}'] .record")
    return {c.get_attribute("data-owner") or "" for c in cards}


def test_a_qijiang_clerk_finds_the_cross_region_case_by_party_name(
    b: webdriver.Chrome, console_url: str
) -> None:
    signed_in_as(b, console_url, "qijiang")
    assert b.current_url.endswith("/cases")
    b.find_element(By.ID, "q").send_keys(PARTY)
    b.find_element(By.CSS_SELECTOR, "form.search button").click()
    wait_until(b, lambda d: "q=" in d.current_url)
    found = {a.text for a in b.find_elements(By.CSS_SELECTOR, ".hit .case-link")}
    assert {CROSS_CASE, QIJIANG_CASE} <= found
    shot(b, "search")
    b.find_element(By.LINK_TEXT, CROSS_CASE).click()
    assert b.find_element(By.TAG_NAME, "h1").text == f"案件 {CROSS_CASE}"
    assert QIJIANG_CASE in b.find_element(By.CSS_SELECTOR, ".linked").text
    # Luzhou's records beside Qijiang's, each under its own region.
    regions = [s.get_attribute("data-region") for s in b.find_elements(By.CSS_SELECTOR, ".region")]
    assert regions == ["500110", "510500"]  # the clerk's own region first
    assert owners_in(b, "510500") == {"510500-SAMR"}
    assert owners_in(b, "500110") == {QIJIANG}
    luzhou = b.find_element(By.CSS_SELECTOR, "section[data-region='510500']").text
    assert "泸州市市场监督管理局" in luzhou and "XS-510500-2024-0153" in luzhou
    assert "线索" in luzhou and "移送" in luzhou and "案件关联" in luzhou
    qijiang = b.find_element(By.CSS_SELECTOR, "section[data-region='500110']").text
    assert "綦市监处罚〔2024〕153号" in qijiang and PARTY in qijiang and JUDICIAL in qijiang
    rows = b.find_elements(By.CSS_SELECTOR, "table.timeline tbody tr")
    sources = [r.find_elements(By.TAG_NAME, "td")[6].text for r in rows]
    assert len(rows) >= 6 and all("@" in s for s in sources)
    assert any("作出处罚决定" in r.text for r in rows) and any("已写入" in r.text for r in rows)
    shot(b, "case-laptop")
    b.set_window_size(*PHONE)
    b.refresh()
    wait_until(b, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("案件"))
    # On a phone the regions stack: Luzhou's column sits below Qijiang's, not beside it.
    first, second = b.find_elements(By.CSS_SELECTOR, ".region")
    assert second.location["y"] > first.location["y"] + first.size["height"] - 1
    assert b.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    b.execute_script("window.scrollTo(0, 0)")
    shot(b, "case-phone", whole=False)


def test_an_overdue_transfer_shows_as_overdue(b: webdriver.Chrome, console_url: str) -> None:
    signed_in_as(b, console_url, "qijiang")
    b.find_element(By.LINK_TEXT, "移送期限").click()
    wait_until(b, lambda d: d.current_url.endswith("/transfers"))
    rows = b.find_elements(By.CSS_SELECTOR, "table.due tbody tr")
    judicial = next(r for r in rows if JUDICIAL in r.text)
    assert "已逾期" in judicial.text and "接收机关决定是否立案（3日内）" in judicial.text
    assert "due-overdue" in (judicial.get_attribute("class") or "")
    badge = judicial.find_element(By.CSS_SELECTOR, ".badge")
    assert badge.value_of_css_property("background-color") == RED
    shot(b, "transfers")


def test_a_luzhou_clerk_cannot_open_qijiang_only_records(
    b: webdriver.Chrome, console_url: str
) -> None:
    signed_in_as(b, console_url, "luzhou")
    b.get(f"{console_url}/cases/{CROSS_CASE}")
    # By link: the linked Qijiang case shows what Qijiang shared, not its judicial transfer.
    b.find_element(By.LINK_TEXT, QIJIANG_CASE).click()
    wait_until(b, lambda d: d.current_url.endswith(QIJIANG_CASE))
    page = b.find_element(By.TAG_NAME, "main").text
    assert "綦市监处罚〔2024〕153号" in page and JUDICIAL not in page
    # By typed URL: a Qijiang-only record and a Qijiang-only case answer "not found".
    for path in (
        "/records/transfer/500110-SAMR/" + quote(JUDICIAL, safe=""),
        "/cases/" + HOSTILE_CASE,
    ):
        b.get(console_url + path)
        assert b.find_element(By.TAG_NAME, "h1").text == "未找到：本单位数据库中没有此内容"
        assert (
            "綦江某商行" not in b.page_source and JUDICIAL not in b.page_source.split("<main>")[1]
        )
    shot(b, "luzhou-not-found")
    b.get(f"{console_url}/admin")
    assert "not for your role" in b.find_element(By.TAG_NAME, "h1").text


def test_a_wrong_password_is_refused_and_repeated_attempts_are_throttled(
    b: webdriver.Chrome, console_url: str
) -> None:
    for _ in range(3):  # the served console allows 3 failures per user (conftest)
        b.delete_all_cookies()
        sign_in(b, console_url, "locked-out", "not the password")
        login_error(b, "用户名或密码错误。")
    b.delete_all_cookies()
    sign_in(b, console_url, "locked-out", PASSWORD)
    login_error(b, "登录失败次数过多，请 5 分钟后再试。")
    assert b.current_url.endswith("/login")
    shot(b, "throttled")


def test_an_admin_sees_a_stopped_sync_as_stuck_and_replays_a_case(
    b: webdriver.Chrome, console_url: str, world: World
) -> None:
    signed_in_as(b, console_url, "admin")
    assert b.current_url.endswith("/admin")
    luzhou = b.find_element(By.CSS_SELECTOR, "tr[data-consumer='sync 510500-SAMR']")
    qijiang = b.find_element(By.CSS_SELECTOR, "tr[data-consumer='sync 500110-SAMR']")
    assert luzhou.find_element(By.CSS_SELECTOR, ".badge").text == "停滞"
    assert luzhou.find_elements(By.TAG_NAME, "td")[2].text == "1"  # one event unread
    assert qijiang.find_element(By.CSS_SELECTOR, ".badge").text == "空闲（已读完）"
    dlq = b.find_element(By.ID, "dlq").text
    assert "WrongSigner" in dlq
    assert "可连接" in b.find_element(By.ID, "cluster").text
    shot(b, "admin")

    # A hand edit in Qijiang's database; the dry run shows it field by field.
    _zero_the_fine(world)
    b.find_element(By.LINK_TEXT, "案件重放").click()
    Select(b.find_element(By.ID, "agency")).select_by_value(QIJIANG)
    b.find_element(By.ID, "case_id").send_keys(CROSS_CASE)
    b.find_element(By.CSS_SELECTOR, "button[value='dry-run']").click()
    wait_until(b, EC.presence_of_element_located((By.ID, "result")))
    result = b.find_element(By.ID, "result")
    assert "有差异" in result.text
    row = next(
        r
        for r in result.find_elements(By.CSS_SELECTOR, "table.diff tr")
        if r.text.startswith("penalty.fine_amount")
    )
    assert row.text.split()[1:] == ["0", "18.900000"]  # as the database and replay hold it
    shot(b, "replay-dry-run")

    # The repair writes: refused without the agency typed again, then run and logged.
    b.find_element(By.CSS_SELECTOR, "button[value='repair']").click()
    wait_until(b, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".alert"), "确认框"))
    b.find_element(By.ID, "confirm").send_keys(QIJIANG)
    b.find_element(By.CSS_SELECTOR, "button[value='repair']").click()
    wait_until(b, EC.text_to_be_present_in_element((By.ID, "result"), "修复重放结果"))
    b.find_element(By.LINK_TEXT, "运行总览").click()
    wait_until(b, lambda d: d.current_url.endswith("/admin"))
    actions = b.find_element(By.ID, "actions").text
    assert "admin replay repair 500110-SAMR" in actions
    assert "admin replay dry-run 500110-SAMR" in actions


def _zero_the_fine(world: World) -> None:
    from sqlalchemy import text

    from agencydb.engine import make_engine

    engine = make_engine(world.settings.sync_database_url(QIJIANG))
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE penalty_decisions SET fine_amount = '0' WHERE record_id = :r"),
                {"r": "綦市监处罚〔2024〕153号"},
            )
    finally:
        engine.dispose()
