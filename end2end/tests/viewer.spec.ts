import { expect, test, type Page } from "@playwright/test";
import { call, login, OWNER, SUPER_ADMIN } from "./helpers";

type Entry = { id: string; seq: number; description: string; event_type: string; actor: { id: string | null; label: string } };
type FeedPage = { entries: Entry[]; next_cursor: number | null };

async function shownSeqs(page: Page): Promise<number[]> {
  // While a new filter loads, the previous rows stay (dimmed): wait for the answer.
  await expect(page.locator(".stale")).toHaveCount(0);
  const rows = page.locator("li.entry");
  await expect(rows.first()).toBeVisible();
  return rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-seq"))));
}

/** The feed the API gives for `filter`, from the newest seq the page shows. */
async function expectFeedToMatch(page: Page, filter: object) {
  const seqs = await shownSeqs(page);
  const data = await call<FeedPage>(page, "tenant_feed", { filter, cursor: seqs[0] + 1 });
  expect(data.entries.length).toBeGreaterThan(0);
  expect(seqs).toEqual(data.entries.map((e) => e.seq));
}

test.describe("the tenant feed's filters", () => {
  test.beforeEach(async ({ page }) => {
    await login(page, OWNER);
  });

  test("a filter lives in the URL: reload, back and a pasted link give the same view", async ({ page }) => {
    await page.getByLabel("Action", { exact: true }).selectOption("delete");
    await expect(page).toHaveURL(/\/audit\?action=delete$/);
    await expectFeedToMatch(page, { action: "delete" });
    await expect(page.locator(".chip")).toHaveText([/Action: delete/]);

    await page.getByLabel("Target kind", { exact: true }).fill("extension");
    await page.getByLabel("Target kind", { exact: true }).press("Enter");
    await expect(page).toHaveURL(/\/audit\?action=delete&target_kind=extension$/);
    await expectFeedToMatch(page, { action: "delete", target_kind: "extension" });
    const filtered = await shownSeqs(page);

    await page.reload();
    expect(await shownSeqs(page)).toEqual(filtered);
    await expect(page.getByLabel("Action", { exact: true })).toHaveValue("delete");

    await page.goBack();
    await expect(page).toHaveURL(/\/audit\?action=delete$/);
    await expectFeedToMatch(page, { action: "delete" });

    // A pasted link in a fresh tab.
    const other = await page.context().newPage();
    await other.goto("/audit?action=delete&target_kind=extension");
    expect(await shownSeqs(other)).toEqual(filtered);
  });

  test("search, chips and clear all", async ({ page }) => {
    await page.getByRole("combobox", { name: "Search" }).fill("Birchwood");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await expect(page).toHaveURL(/\/audit\?q=Birchwood$/);
    await expectFeedToMatch(page, { q: "Birchwood" });
    await expect(page.locator("li.entry .instance").first()).toHaveText("Birchwood Dental");

    await page.locator("nav.pills").getByRole("link", { name: "Config", exact: true }).click();
    await expect(page).toHaveURL(/\/audit\?category=config&q=Birchwood$/);
    await expectFeedToMatch(page, { q: "Birchwood", category: "config" });
    await expect(page.locator(".chip")).toHaveText([/Category: Config/, /Search: .Birchwood./]);

    await page.getByRole("button", { name: /Remove filter Search/ }).click();
    await expect(page).toHaveURL(/\/audit\?category=config$/);
    await page.getByLabel("Timeframe", { exact: true }).selectOption("7d");
    await expect(page).toHaveURL(/\/audit\?category=config&range=7d$/);
    await expect(page.locator(".chip")).toHaveText([/Category: Config/, /Time: Last 7 days/]);
    await page.getByRole("button", { name: "Clear all" }).click();
    await expect(page).toHaveURL(/\/audit$/);
    await expect(page.locator(".chip")).toHaveCount(0);
  });

  test("every other kind of filter, from a pasted link", async ({ page }) => {
    const cases: [string, object][] = [
      ["event_type=extension.updated", { event_type: "extension.updated" }],
      ["target_kind=extension&target_id=105", { target_kind: "extension", target_id: "105" }],
      ["resource=acme%20hq", { resource: "acme hq" }],
      ["actor=system", { actor: "system" }],
      ["range=30d&category=alerts", { category: "alerts", since: null }],
      ["q=ring%20timeout", { q: "ring timeout" }],
    ];
    for (const [qs, filter] of cases) {
      await page.goto(`/audit?${qs}`);
      if ("since" in filter) {
        // The page computes "30 days ago" itself; every row shown must be an alert.
        // Wait for the rows: right after navigation the list may still be loading.
        await expect(page.locator(".chip")).toHaveText([/Category: Alerts/, /Time: Last 30 days/]);
        await expect(page.locator("li.entry").first()).toBeVisible();
        const cats = await page.locator("li.entry").evaluateAll((els) => els.map((e) => e.getAttribute("data-category")));
        expect(cats.length).toBeGreaterThan(0);
        expect(new Set(cats)).toEqual(new Set(["alerts"]));
        await expect(page.locator(".chip")).toHaveText([/Category: Alerts/, /Time: Last 30 days/]);
      } else {
        await expectFeedToMatch(page, filter);
        await expect(page.locator(".chip")).toHaveCount(Object.keys(filter).length);
      }
    }
  });

  test("a custom timeframe and an empty result say why", async ({ page }) => {
    await page.getByLabel("Timeframe", { exact: true }).selectOption("custom");
    await page.getByLabel("From", { exact: true }).fill("2001-01-01");
    await page.getByLabel("From", { exact: true }).press("Enter");
    await page.getByLabel("To", { exact: true }).fill("2001-01-31");
    await page.getByLabel("To", { exact: true }).press("Enter");
    await expect(page).toHaveURL(/range=custom&from=2001-01-01&to=2001-01-31/);
    await expect(page.locator(".state-empty")).toContainText("No entries match these filters");
  });

  test("an actor's history link from administration", async ({ page }) => {
    await page.getByRole("link", { name: "Administration" }).click();
    await page.locator("table.users tr[data-email='marco@northwind.example']").getByRole("link", { name: "View history" }).click();
    await expect(page).toHaveURL(/\/audit\?actor=[0-9a-f-]{36}$/);
    const actor = new URL(page.url()).searchParams.get("actor");
    await expectFeedToMatch(page, { actor });
    const labels = await page.locator("li.entry .actor").evaluateAll((els) => els.map((e) => e.getAttribute("title") ?? ""));
    expect(labels.every((l) => l.includes("marco@northwind.example"))).toBe(true);
  });

  test("the detail page shows overview, diff, context and chain position", async ({ page }) => {
    const data = await call<FeedPage>(page, "tenant_feed", { filter: { event_type: "instance.credentials_saved" } });
    const entry = data.entries[0];
    await page.goto("/audit?event_type=instance.credentials_saved");
    await page.locator(`li.entry[data-seq="${entry.seq}"]`).getByRole("link", { name: "Details" }).click();
    await expect(page).toHaveURL(new RegExp(`/entries/${entry.id}\\?back=`));
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(entry.description);
    await expect(page.locator(".chain .seq")).toHaveText(String(entry.seq));
    await expect(page.locator(".chain .hash")).toHaveText(/^[0-9a-f]{64}$/);
    const masked = page.locator("table.diff tr", { hasText: "admin_password" });
    await expect(masked.locator("td.old .value")).toHaveText("*** (changed)");
    await expect(masked.locator("td.new .marker")).toHaveText("+");
    await expect(page.getByRole("heading", { name: "Context" })).toBeVisible();
  });
});

test("the master view pages by number with a count", async ({ page }) => {
  await login(page, SUPER_ADMIN);
  await expect(page.locator(".count")).toHaveText(/\d+ entries/);
  const rows = page.locator("table.master tbody tr");
  await expect(rows).toHaveCount(50);
  const first = await rows.first().getAttribute("data-id");
  await page.locator(".pager").getByRole("link", { name: "2", exact: true }).click();
  await expect(page).toHaveURL(/\/master\?page=2$/);
  await expect(page.locator(".pager .current")).toHaveText("2");
  await expect(rows.first()).not.toHaveAttribute("data-id", first!);
  await page.getByLabel("Page size", { exact: true }).selectOption("25");
  await expect(page).toHaveURL(/\/master\?size=25$/);
  await expect(rows).toHaveCount(25);
  await page.getByRole("combobox", { name: "Search" }).fill("Lakeside");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await expect(page).toHaveURL(/q=Lakeside/);
  await expect(rows.first()).toHaveAttribute("data-tenant", "harbor");
});

test("the feed is usable at 390 px wide", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await login(page, OWNER);
  await expect(page.locator("li.entry").first()).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(1);
  await page.screenshot({ path: "test-results/feed-390px.png" });
});

test.describe("times in the feed", () => {
  test("exact times on a toggle that is remembered, the zone named, days separated", async ({ page }) => {
    await login(page, OWNER);
    await page.goto("/audit");
    await expect(page.locator("li.entry").first()).toBeVisible();
    await expect(page.locator(".feed-head .times")).toContainText(/your local time \(UTC[+-]\d\d:\d\d\)/);
    const firstTime = page.locator("li.entry time").first();
    await expect(firstTime).toHaveText(/ago|just now/);
    await page.getByRole("button", { name: "Show exact times" }).click();
    await expect(firstTime).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await page.reload();
    await expect(page.locator("li.entry time").first()).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await expect(page.getByRole("button", { name: "Show relative times" })).toHaveAttribute("aria-pressed", "true");
    // The demo's history spans days: each starts with its heading, the newest first.
    const days = page.locator("ol.entries li.day h2");
    await expect(days.first()).toBeVisible();
    expect(await days.count()).toBeGreaterThanOrEqual(1);
    await page.getByRole("button", { name: "Show relative times" }).click();
    await expect(page.locator("li.entry time").first()).toHaveText(/ago|just now/);
  });

  test("today and yesterday presets; a reversed range is explained at the field", async ({ page }) => {
    await login(page, OWNER);
    await page.goto("/audit");
    await page.getByLabel("Timeframe", { exact: true }).selectOption("today");
    await expect(page).toHaveURL(/range=today/);
    await page.getByLabel("Timeframe", { exact: true }).selectOption("yesterday");
    await expect(page).toHaveURL(/range=yesterday/);
    await page.goto("/audit?range=custom&from=2026-11-08&to=2026-11-01");
    await expect(page.locator("#range-error")).toContainText("is before");
    await expect(page.getByLabel("To", { exact: true })).toHaveAttribute("aria-invalid", "true");
    await expect(page.getByText("Something went wrong")).toHaveCount(0);
    await expect(page.locator("li.entry")).toHaveCount(0);
  });
});

test("an instance's feed has search and timeframe too", async ({ page }) => {
  await login(page, "priya@northwind.example");
  await page.goto("/instances/pbx-birchwood");
  const rows = page.locator("li.entry");
  await expect(rows.first()).toBeVisible();
  // A word from the newest entry's description finds it, on this instance only.
  const text = (await rows.first().locator(".description").textContent()) ?? "";
  const word = text.split(/[^A-Za-z]+/).filter((w) => w.length >= 4).sort((a, b) => b.length - a.length)[0];
  expect(word).toBeTruthy();
  await page.getByRole("combobox", { name: "Search" }).fill(word);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/instances/pbx-birchwood\\?q=${word}$`));
  await expect(page.locator(".stale")).toHaveCount(0);
  await expect(rows.first()).toBeVisible();
  const instances = await page.locator("li.entry .instance").allTextContents();
  expect(new Set(instances)).toEqual(new Set(["Birchwood Dental"]));
  await page.getByLabel("Timeframe", { exact: true }).selectOption("all");
  await expect(page).toHaveURL(/range=all/);
  await page.getByLabel("Timeframe", { exact: true }).selectOption("today");
  await expect(page).toHaveURL(/q=.*&range=today|range=today.*q=/);
});

test("the detail page's back link returns to the view it came from, filters and all", async ({ page }) => {
  await login(page, OWNER);
  await page.goto("/audit?category=config&range=90d");
  await expect(page.locator(".stale")).toHaveCount(0);
  await page.locator("li.entry").first().getByRole("link", { name: "Details" }).click();
  await expect(page).toHaveURL(/\/entries\/[0-9a-f-]{36}\?back=/);
  await page.getByRole("link", { name: "← Back to the feed" }).click();
  await expect(page).toHaveURL(/\/audit\?category=config&range=90d$/);
  // A back link to another site is not followed: the feed is the way back.
  await expect(page.locator(".stale")).toHaveCount(0);
  const href = await page.locator("li.entry").first().getByRole("link", { name: "Details" }).getAttribute("href");
  const entryPath = (href ?? "").split("?")[0];
  await page.goto(`${entryPath}?back=${encodeURIComponent("https://evil.example/")}`);
  await expect(page.getByRole("link", { name: "← Back to the feed" })).toHaveAttribute("href", /^\/(audit|instances\/)/);
});
