import { expect, test, type Page } from "@playwright/test";
import { call, login, OWNER } from "./helpers";

// Harbor's owner: what these tests write stays out of the other specs' Northwind.
const HARBOR_OWNER = "olivia@harbor.example";

async function pageIsNoWiderThanTheWindow(page: Page) {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(scroll, "the page scrolls sideways").toBeLessThanOrEqual(inner);
}

test("no text of any length widens the page, on a desktop or a phone", async ({ page }) => {
  await login(page, HARBOR_OWNER);
  const key = await call<{ secret: string }>(page, "create_api_key", { name: "long words", scopes: ["events:write"] });
  const word = "W".repeat(5000);
  const res = await page.request.post("/api/v1/events", {
    headers: { Authorization: `Bearer ${key.secret}` },
    data: {
      event_type: "extension.updated",
      description: "D".repeat(2000),
      actor: { kind: "user", id: "u-long", name: "N".repeat(400) },
      instance: { id: "pbx-long", name: "I".repeat(480) },
      target: { kind: "extension", id: "1".repeat(150), name: "T".repeat(480) },
      before: { label: "short" },
      after: { label: word },
      metadata: { note: word },
    },
  });
  expect(res.status(), await res.text()).toBe(200);
  const { results } = await res.json();
  for (const size of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    await page.goto("/audit");
    const row = page.locator("li.entry", { hasText: "DDDD" }).first();
    await expect(row).toBeVisible();
    await row.getByRole("button", { name: /Show changes/ }).click();
    await pageIsNoWiderThanTheWindow(page);
    await page.goto(`/entries/${results[0].id}`);
    await expect(page.locator(".entry-detail")).toBeVisible();
    await pageIsNoWiderThanTheWindow(page);
  }
});

test("changing a filter keeps the previous results, dimmed, until the new ones arrive", async ({ page }) => {
  await login(page, OWNER);
  await page.goto("/audit");
  await expect(page.locator("li.entry").first()).toBeVisible();
  // Hold the next feed answer back a moment.
  await page.route("**/api/tenant_feed", async (route) => {
    await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  });
  await page.locator("nav.pills").getByRole("link", { name: "Config", exact: true }).click();
  await expect(page.locator(".stale[aria-busy='true'] li.entry").first()).toBeVisible();
  await expect(page.locator(".stale")).toHaveCount(0, { timeout: 10_000 });
  await expect(page.locator("li.entry").first()).toHaveAttribute("data-category", "config");
});

test("logging in returns to the page that asked for it, and titles name the page", async ({ page }) => {
  await page.goto("/audit?category=config");
  await page.getByRole("link", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel("Email").fill(OWNER);
  await page.getByLabel("Password").fill("stele-demo-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/audit\?category=config$/);
  await expect(page.locator("li.entry").first()).toHaveAttribute("data-category", "config");
  await expect(page).toHaveTitle("Tenant feed · Category: Config · Stele");
  await page.goto("/catalog");
  await expect(page).toHaveTitle("Event catalog · Stele");
  await page.goto("/admin");
  await expect(page).toHaveTitle("Administration · Stele");
});
