"""What every browser test does with a page: save its screenshots (desktop and 375 px)
under test-artifacts/screenshots/, and check it with axe-core (no serious or critical
violation), the same axe-core the web app pins (web/node_modules/axe-core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 375, "height": 812}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => 'axe' in window"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
            return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                               targets: v.nodes.map((n) => n.target.join(" ")) }));
        }""",
        AXE_TAGS,
    )
    return found


def check_page(page: Page, name: str) -> None:
    """Screenshots at desktop and mobile width, axe-clean at both, and nothing wider than
    a phone's screen at 375 px."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or DESKTOP
    try:
        for label, size in (("desktop", DESKTOP), ("mobile", MOBILE)):
            page.set_viewport_size(size)
            page.wait_for_timeout(50)  # a layout pass at the new width
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
            assert violations(page) == [], f"{name} ({label})"
            if label == "mobile":
                width = page.evaluate("() => document.documentElement.scrollWidth")
                assert width <= MOBILE["width"], f"{name} scrolls sideways at 375 px ({width} px)"
    finally:
        page.set_viewport_size(original)


def tab_to(page: Page, selector: str, limit: int = 200) -> None:
    """Press Tab until the focused element matches `selector` (CSS)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")
