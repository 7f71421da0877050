import { expect, test, type Page } from "@playwright/test";
import { call, login, OWNER } from "./helpers";

type Change = { path: string; old: unknown; new: unknown };
type Entry = { seq: number; description: string; event_type: string; changes: Change[] };
type FeedPage = { tenant_name: string; entries: Entry[]; next_cursor: number | null };

// The API the page itself calls, so the test can compare the screen with the data.
function feed(page: Page, filter: object = {}, cursor: number | null = null): Promise<FeedPage> {
  return call<FeedPage>(page, "tenant_feed", { filter, cursor });
}

// The tenant feed is for owners and admins: these tests read it as the owner.
test.beforeEach(async ({ page }) => {
  await login(page, OWNER);
});

function shown(value: unknown): string {
  if (value === null || value === undefined) return "(none)";
  if (value === "***") return "*** (changed)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

// Tests run in parallel and every login is audited, so the feed grows while a test
// runs: each test compares the screen with the API's page starting at the same seq.
async function shownSeqs(page: Page): Promise<number[]> {
  // While a new filter loads, the previous rows stay (dimmed): wait for the answer.
  await expect(page.locator(".stale")).toHaveCount(0);
  const rows = page.locator("li.entry");
  await expect(rows.first()).toBeVisible();
  return rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-seq"))));
}

test("the tenant feed loads newest first", async ({ page }) => {
  await expect(page).toHaveURL(/\/audit$/);
  await expect(page.getByRole("heading", { name: "Tenant feed" })).toBeVisible();
  const seqs = await shownSeqs(page);
  const data = await feed(page, {}, seqs[0] + 1);
  await expect(page.locator(".subtitle")).toHaveText(data.tenant_name);
  expect(seqs).toEqual(data.entries.map((e) => e.seq));
  expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
  const first = page.locator("li.entry").first();
  await expect(first.locator(".description")).toHaveText(data.entries[0].description);
  await expect(first.locator(".badge")).toHaveText(data.entries[0].event_type);
  await expect(first.locator(".actor")).toHaveAttribute("title", `Only ${data.entries[0].actor.label}`);
});

test("a category pill filters the feed and lives in the URL", async ({ page }) => {
  await page.goto("/audit");
  await expect(page.locator("li.entry").first()).toBeVisible();
  await page.locator("nav.pills").getByRole("link", { name: "Alerts", exact: true }).click();
  await expect(page).toHaveURL(/\/audit\?category=alerts$/);
  await expect(page.locator("nav.pills").getByRole("link", { name: "Alerts", exact: true })).toHaveAttribute("aria-current", "page");

  const expected = await feed(page, { category: "alerts" });
  expect(expected.entries.length).toBeGreaterThan(0);
  await expect(page.locator(".stale")).toHaveCount(0);
  const rows = page.locator("li.entry");
  await expect(rows).toHaveCount(expected.entries.length);
  const categories = await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-category")));
  expect(new Set(categories)).toEqual(new Set(["alerts"]));

  // A pasted link or a reload gives the same view.
  await page.reload();
  await expect(rows).toHaveCount(expected.entries.length);
  await expect(rows.first()).toHaveAttribute("data-category", "alerts");

  await page.locator("nav.pills").getByRole("link", { name: "All", exact: true }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await expect(rows.filter({ has: page.locator(".badge.cat-extensions") }).first()).toBeVisible();
});

test("the diff expander shows each changed field's old and new value", async ({ page }) => {
  const data = await feed(page);
  const withChanges = data.entries.find((e) => e.changes.length > 0 && e.changes.every((c) => c.old !== null && c.new !== null));
  expect(withChanges, "the demo history has an update with old and new values").toBeTruthy();
  const entry = withChanges!;

  await page.goto("/audit");
  const row = page.locator(`li.entry[data-seq="${entry.seq}"]`);
  const button = row.getByRole("button", { name: /Show changes/ });
  await expect(button).toHaveAttribute("aria-expanded", "false");
  await expect(row.locator("table.diff")).toHaveCount(0);
  await button.click();
  await expect(row.getByRole("button", { name: /Hide changes/ })).toHaveAttribute("aria-expanded", "true");

  const diffRows = row.locator("table.diff tbody tr");
  await expect(diffRows).toHaveCount(entry.changes.length);
  for (const [i, change] of entry.changes.entries()) {
    const r = diffRows.nth(i);
    await expect(r.locator(".path")).toHaveText(change.path);
    await expect(r.locator("td.old .value")).toHaveText(shown(change.old));
    await expect(r.locator("td.new .value")).toHaveText(shown(change.new));
    await expect(r.locator("td.old .marker")).toHaveText("−");
    await expect(r.locator("td.new .marker")).toHaveText("+");
  }
  // old reads red, new reads green
  const oldColor = await diffRows.first().locator("td.old").evaluate((el) => getComputedStyle(el).backgroundColor);
  const newColor = await diffRows.first().locator("td.new").evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(oldColor).toBe("rgb(253, 236, 236)");
  expect(newColor).toBe("rgb(232, 246, 236)");

  await row.getByRole("button", { name: /Hide changes/ }).click();
  await expect(row.locator("table.diff")).toHaveCount(0);
});

test("load more appends the next page by cursor", async ({ page }) => {
  await page.goto("/audit");
  const top = (await shownSeqs(page))[0];
  const first = await feed(page, {}, top + 1);
  expect(first.next_cursor).not.toBeNull();
  const second = await feed(page, {}, first.next_cursor);

  const rows = page.locator("li.entry");
  await expect(rows).toHaveCount(first.entries.length);
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(rows).toHaveCount(first.entries.length + second.entries.length);
  const seqs = await rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-seq"))));
  expect(seqs).toEqual([...first.entries, ...second.entries].map((e) => e.seq));
});
