"""STAC Browser 4's search page on ``harvester serve --api`` over the demo catalog, driven as a user drives it.

The landing page offers the search; on it the form is filled (two collections, a time range, newest first, a
small page size), submitted, and every page of results is read through its "Next" button, then one step back
with "Previous". What it shows must be what a brute-force filter over the demo's item JSON gives, with the
count of matches beside "Items". A second search uses one "Additional filter" (CQL2). STAC Browser posts its
searches as JSON (``POST /search``); the body it sent is checked too.

Screenshots: ``search-form.png`` (the form filled in), ``search.png`` (the first page of results),
``search-page-<n>.png`` (each further page), ``search-back.png`` (back one page), ``search-filter.png`` (the
results of the additional filter).

The cards are read by the item each one links to (``.../collections/<collection>/items/<id>``): STAC Browser
labels an item without a title by the last segment of its URL, with anything after a dot cut off as if it were
a file extension (``MOD13Q1.061_2020001_...`` shows as "MOD13Q1").
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Page

from tests.browser.browsing import LOAD_TIMEOUT_MS, Traffic, browse, check_page, external, heading, settle
from tests.demo_items import catalog_items, time_span

#: the date-time format of STAC Browser's range picker in English (vue2-datepicker), and its separator
PICKER_FORMAT = "%Y-%m-%d %H:%M:%S"
PICKER_SEPARATOR = " ~ "


@pytest.fixture
def served(served_api: str) -> str:
    return served_api


def matching(items: dict[str, dict[str, Any]], collections: set[str] | None, start: datetime,
             end: datetime) -> list[str]:
    """The ids of the items in ``collections`` (None: any) whose time span meets [start, end], newest first
    (``datetime`` descending, then the API's tie-break: collection and id)."""
    found = [(i, item) for i, item in items.items() if (collections is None or item["collection"] in collections)
             and time_span(item)[0] <= end and time_span(item)[1] >= start]
    found.sort(key=lambda kv: (kv[1]["collection"], kv[0]))
    found.sort(key=lambda kv: datetime.fromisoformat(kv[1]["properties"]["datetime"]), reverse=True)  # stable
    return [i for i, _ in found]


def shown_items(page: Page) -> list[str]:
    """The ids of the item cards shown, in order, from the API URL each card links to."""
    hrefs = page.eval_on_selector_all(".items .item-card .card-title a", "els => els.map(e => e.href)")
    ids = []
    for href in hrefs:
        path = urlsplit(href).path.split("/")
        assert path[-2] == "items", href
        ids.append(unquote(path[-1]))
    return ids


def badge_count(page: Page) -> int:
    """The count STAC Browser shows beside the "Items" heading of the results (the API's numberMatched)."""
    badge = page.locator(".items header .badge")
    assert badge.count() == 1, "no count beside the results' heading"
    return int(badge.inner_text())


def wait_for_results(page: Page, traffic: Traffic) -> None:
    """Wait until the results show, or an alert instead of them (STAC Browser's error or "no items")."""
    page.wait_for_selector(".items .item-card, .search .right .alert", timeout=LOAD_TIMEOUT_MS)
    alerts = page.locator(".search .right .alert")
    assert alerts.count() == 0, (alerts.first.inner_text(), traffic.failed)
    settle(page)


def turn(page: Page, button: str, shown: list[str]) -> list[str]:
    """Press ``button`` ("Next ›", "‹ Previous") above the results and wait until other cards show."""
    before = page.eval_on_selector_all(".items .item-card .card-title a", "els => els.map(e => e.href)")
    page.locator(".items .btn-group").first.get_by_role("button", name=button).click()
    page.wait_for_function(
        """before => {
            const now = Array.from(document.querySelectorAll('.items .item-card .card-title a')).map(e => e.href);
            return now.length > 0 && JSON.stringify(now) !== JSON.stringify(before)
                && !document.querySelector('.search .right > .loading');
        }""", arg=before, timeout=LOAD_TIMEOUT_MS)
    settle(page)
    after = shown_items(page)
    assert after != shown
    return after


def test_a_search_from_the_form_pages_through_what_a_brute_force_filter_returns(
        page: tuple[Page, Traffic], stac_browser: str, served_api: str, demo: Path, screenshots: Path) -> None:
    p, traffic = page
    items = catalog_items(demo)
    collections = {cid: (demo / cid / "collection.json") for cid in {i["collection"] for i in items.values()}}
    # the two collections with the most items, and a time range that leaves out the one of their items that
    # ends first and the one that starts last
    sizes = {cid: sum(1 for i in items.values() if i["collection"] == cid) for cid in collections}
    chosen = set(sorted(sizes, key=lambda cid: (-sizes[cid], cid))[:2])
    spans = [time_span(i) for i in items.values() if i["collection"] in chosen]
    start = min(end for _, end in spans) + timedelta(seconds=1)
    end = max(begin for begin, _ in spans) - timedelta(seconds=1)
    typed = f"{start.strftime(PICKER_FORMAT)}{PICKER_SEPARATOR}{end.strftime(PICKER_FORMAT)}"
    start, end = (datetime.strptime(t, PICKER_FORMAT).replace(tzinfo=timezone.utc)
                  for t in typed.split(PICKER_SEPARATOR))
    expected = matching(items, chosen, start, end)
    # each criterion matters: the time range leaves out items of the chosen collections, and other
    # collections have items in that range
    in_chosen = [i for i, item in items.items() if item["collection"] in chosen]
    assert 3 <= len(expected) < len(in_chosen)
    assert len(matching(items, None, start, end)) > len(expected)
    limit = (len(expected) - 1) // 2  # at least three pages
    pages_expected = [expected[k:k + limit] for k in range(0, len(expected), limit)]
    assert len(pages_expected) >= 3

    # the landing page of the API offers the search
    browse(p, stac_browser, served_api, "")
    assert heading(p) == json.loads((demo / "catalog.json").read_text())["title"]
    search_page = urlsplit(external(stac_browser, served_api, "", "/search")).path
    search_link = p.locator(f'a[href="{search_page}"]')
    assert search_link.inner_text().strip() == "Search"
    search_link.click()
    p.wait_for_selector(".filter-datetime input", timeout=LOAD_TIMEOUT_MS)
    settle(p)
    titles = {cid: json.loads(path.read_text())["title"] for cid, path in collections.items()}
    options = p.locator(".filter-collection li.multiselect__element").all_text_contents()
    assert sorted(o.strip() for o in options) == sorted(titles.values())  # from /collections

    # the form, filled in as a user does
    for cid in sorted(chosen):
        p.locator(".filter-collection .multiselect").click()
        p.locator(".filter-collection .multiselect__option", has_text=titles[cid]).click()
    p.locator("h1").click()  # closes the list
    dates = p.locator(".filter-datetime input")
    dates.fill(typed)
    dates.press("Enter")
    p.locator(".sort .multiselect").click()
    p.locator(".sort .multiselect__option", has_text="Time of Data").click()
    p.locator(".sort").get_by_role("button", name="Descending").click()
    p.locator(".limit input").fill(str(limit))
    p.locator(".limit input").press("Tab")
    check_page(p, traffic, screenshots, "search-form")
    with p.expect_request(lambda r: r.url == f"{served_api}search" and r.method == "POST") as sent:
        p.get_by_role("button", name="Submit").click()
    assert sent.value.post_data_json == {
        "collections": sorted(chosen),  # in the order they were picked
        "datetime": f"{start.strftime('%Y-%m-%dT%H:%M:%S')}.000Z/{end.strftime('%Y-%m-%dT%H:%M:%S')}.000Z",
        "limit": limit, "sortby": [{"field": "properties.datetime", "direction": "desc"}]}
    wait_for_results(p, traffic)

    # every page, forward with "Next", then one back with "Previous"
    shown = [shown_items(p)]
    assert badge_count(p) == len(expected)
    check_page(p, traffic, screenshots, "search")
    while p.locator(".items .btn-group").first.get_by_role("button", name="Next ›").is_enabled():
        shown.append(turn(p, "Next ›", shown[-1]))
        assert badge_count(p) == len(expected)
        check_page(p, traffic, screenshots, f"search-page-{len(shown)}")
    assert shown == pages_expected
    assert turn(p, "‹ Previous", shown[-1]) == pages_expected[-2]
    check_page(p, traffic, screenshots, "search-back")


def test_an_additional_filter_from_the_form_returns_what_a_brute_force_filter_returns(
        page: tuple[Page, Traffic], stac_browser: str, served_api: str, demo: Path, screenshots: Path) -> None:
    """One "Additional filter" (STAC Browser posts it as CQL2 JSON, wrapped in an "and" of one argument)."""
    p, traffic = page
    items = catalog_items(demo)
    name = "eo:cloud_cover"
    values = {i: item["properties"][name] for i, item in items.items()
              if isinstance(item["properties"].get(name), (int, float))}
    below = max(values.values())  # "less than" the largest: all but the item(s) that have it
    expected = sorted(i for i, value in values.items() if value < below)
    assert 0 < len(expected) < len(values)

    p.goto(external(stac_browser, served_api, "", "/search"))
    p.wait_for_selector(".filter-datetime input", timeout=LOAD_TIMEOUT_MS)
    settle(p)
    p.locator(".queryables .dropdown-toggle").click()
    p.locator(f'.queryables .dropdown-item:has(.badge:text-is("{name}"))').click()
    condition = p.locator(".queryable-group").first
    condition.locator(".op .dropdown-toggle-split").click()
    condition.locator('.op .dropdown-item:has(.badge:text-is("<"))').click()
    condition.locator("input.value").fill(str(below))
    with p.expect_request(lambda r: r.url == f"{served_api}search" and r.method == "POST") as sent:
        p.get_by_role("button", name="Submit").click()
    assert sent.value.post_data_json == {"filter-lang": "cql2-json", "filter": {
        "op": "and", "args": [{"op": "<", "args": [{"property": name}, below]}]}}
    wait_for_results(p, traffic)
    assert sorted(shown_items(p)) == expected  # one page; STAC Browser orders its cards by their label
    assert badge_count(p) == len(expected)
    check_page(p, traffic, screenshots, "search-filter")
