import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { call, login, MEMBER, OWNER, SUPER_ADMIN } from "./helpers";

// axe-core on every page, as each role sees it: no serious or critical violation.
async function expectNoSeriousViolations(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  expect(bad, what).toEqual([]);
}

async function settled(page: Page) {
  await expect(page.locator("#frame")).toHaveCount(0);
  await expect(page.locator("[role=status]", { hasText: /Loading/ })).toHaveCount(0, { timeout: 10_000 });
}

test("the login page", async ({ page }) => {
  await page.goto("/login");
  await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
  await expectNoSeriousViolations(page, "/login");
});

test("the public verification page and the set-password page", async ({ page }) => {
  await login(page, OWNER);
  const info = await call<{ verification_path: string }>(page, "integrity", {});
  await page.context().clearCookies();
  await page.goto(info.verification_path);
  await expect(page.getByRole("heading", { name: "Verify an audit log" })).toBeVisible();
  await settled(page);
  await expectNoSeriousViolations(page, info.verification_path);
  await page.goto("/set-password?token=not-a-token");
  await settled(page);
  await expectNoSeriousViolations(page, "/set-password");
});

test("an owner's pages", async ({ page }) => {
  await login(page, OWNER);
  const feed = await call<{ entries: { id: string }[] }>(page, "tenant_feed", { filter: {} });
  for (const path of [
    "/audit",
    "/audit?category=config&q=ring",
    "/instances",
    "/instances/pbx-acme-hq",
    `/entries/${feed.entries[0].id}`,
    "/admin",
    "/catalog",
  ]) {
    await page.goto(path);
    await settled(page);
    await expectNoSeriousViolations(page, path);
  }
  // With the changes open, the query's suggestions shown and a query error.
  await page.goto("/audit");
  await settled(page);
  await page.locator("li.entry .expander").first().click();
  await expectNoSeriousViolations(page, "/audit with a diff open");
  await page.getByRole("combobox", { name: "Search" }).fill("ac");
  await expect(page.locator("#query-options")).toBeVisible();
  await expectNoSeriousViolations(page, "/audit with suggestions");
  await page.getByRole("combobox", { name: "Search" }).fill("acter:x");
  await page.getByRole("combobox", { name: "Search" }).press("Enter");
  await expect(page.locator("#query-error")).toContainText("at character");
  await expectNoSeriousViolations(page, "/audit with a query error");
});

test("a member's and a super admin's pages", async ({ page }) => {
  await login(page, MEMBER);
  for (const path of ["/instances", "/instances/pbx-birchwood", "/audit", "/admin"]) {
    await page.goto(path);
    await settled(page);
    await expectNoSeriousViolations(page, `member ${path}`);
  }
  await page.context().clearCookies();
  await login(page, SUPER_ADMIN);
  for (const path of ["/master", "/instances", "/instances?tenant=northwind", "/audit?tenant=harbor", "/admin?tenant=northwind"]) {
    await page.goto(path);
    await settled(page);
    await expectNoSeriousViolations(page, `super admin ${path}`);
  }
});
