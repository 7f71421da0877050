import { expect, test, type Page } from "@playwright/test";
import { call, login, OWNER, SUPER_ADMIN } from "./helpers";

// The viewer an MSP lives in during an incident (issue 15): dense rows, links that
// narrow, the query language, the activity picture, keyboard, and keeping one's place.

type Entry = { id: string; seq: number; occurred_at: string; description: string; event_type: string; instance: { id: string; name: string } | null };
type FeedPage = { entries: Entry[]; next_cursor: number | null };
type Summary = { from: string; bucket_ms: number; counts: number[]; facets: { field: string; value: string; label: string; count: number }[] };

async function shownSeqs(page: Page): Promise<number[]> {
  await expect(page.locator(".stale")).toHaveCount(0);
  const rows = page.locator("li.entry");
  await expect(rows.first()).toBeVisible();
  return rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-seq"))));
}

/** The screen shows exactly what the API answers for `filter`, from the same seq. */
async function expectFeedToMatch(page: Page, filter: object): Promise<FeedPage> {
  const seqs = await shownSeqs(page);
  const data = await call<FeedPage>(page, "tenant_feed", { filter, cursor: seqs[0] + 1 });
  expect(data.entries.length).toBeGreaterThan(0);
  expect(seqs).toEqual(data.entries.map((e) => e.seq));
  return data;
}

/** How many entries lie wholly inside the window. */
function entriesInView(page: Page): Promise<number> {
  return page.evaluate(
    () =>
      [...document.querySelectorAll("li.entry")].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;
      }).length,
  );
}

const searchBox = (page: Page) => page.getByRole("combobox", { name: "Search" });

test.describe("density", () => {
  for (const [size, least] of [
    [{ width: 1280, height: 900 }, 15],
    [{ width: 390, height: 844 }, 6],
  ] as const) {
    test(`at least ${least} entries on the first screen at ${size.width}×${size.height}`, async ({ page }) => {
      await page.setViewportSize(size);
      await login(page, OWNER);
      await page.goto("/audit");
      await shownSeqs(page);
      await expect(page.locator(".activity")).toBeVisible();
      expect(await entriesInView(page)).toBeGreaterThanOrEqual(least);
      // Each row keeps its expander (when it changed something) and its details link
      // (among extension changes: logins of the parallel tests may fill the first page).
      await page.goto("/audit?category=extensions");
      await shownSeqs(page);
      const row = page.locator("li.entry", { has: page.locator(".expander") }).first();
      await expect(row.getByRole("link", { name: "Details" })).toBeVisible();
      await expect(row.locator(".expander")).toBeVisible();
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(sideways).toBeLessThanOrEqual(0);
    });
  }
});

test.describe("click to narrow", () => {
  // Extension changes name an instance, a target, an actor and a source (the first
  // page of the whole feed may be only the parallel tests' logins).
  test.beforeEach(async ({ page }) => {
    await login(page, OWNER);
    await page.goto("/audit?category=extensions");
    await shownSeqs(page);
  });

  // Each link in a row adds its filter to the view; the feed then holds only that.
  for (const [link, key] of [
    ["a.instance", "instance_id"],
    ["a.actor", "actor"],
    ["a.badge", "event_type"],
    ["a.category", "category"],
    ["a.target", "target_id"],
    ["a.source", "source"],
  ] as const) {
    test(`a row's ${link} adds ${key}`, async ({ page }) => {
      if (key === "category") {
        await page.goto("/audit");
        await shownSeqs(page);
      }
      const row = page.locator("li.entry", { has: page.locator(link) }).first();
      const seq = await row.getAttribute("data-seq");
      await row.locator(link).first().click();
      await expect(page).toHaveURL(new RegExp(`[?&]${key}=`));
      const url = new URL(page.url());
      const filter: Record<string, string> = {};
      for (const [k, v] of url.searchParams) filter[k] = v;
      await expectFeedToMatch(page, filter);
      // The entry clicked is in the narrowed view (it has what it was narrowed to).
      await expect(page.locator(`li.entry[data-seq="${seq}"]`)).toHaveCount(1);
      // And the chip says so.
      await expect(page.locator(".chip").first()).toBeVisible();
    });
  }

  test("facets count the view and add a filter on click", async ({ page }) => {
    const summary = await call<Summary>(page, "feed_summary", { filter: { category: "extensions" } });
    const top = summary.facets.find((f) => f.field === "instance_id")!;
    expect(top).toBeTruthy();
    const facet = page.locator("section.facet[data-facet='instance_id'] a").first();
    await expect(facet.locator(".facet-label")).toHaveText(top.label);
    await facet.click();
    await expect(page).toHaveURL(new RegExp(`instance_id=${top.value}`));
    const data = await expectFeedToMatch(page, { category: "extensions", instance_id: top.value });
    expect(new Set(data.entries.map((e) => e.instance?.id))).toEqual(new Set([top.value]));
    // The facets now describe the narrowed view: no instance facet, actors counted within it.
    await expect(page.locator("section.facet[data-facet='instance_id']")).toHaveCount(0);
    await expect(page.locator("section.facet[data-facet='actor'] a").first()).toBeVisible();
  });

  test("the detail page's facts narrow the feed too", async ({ page }) => {
    const row = page.locator("li.entry", { has: page.locator("a.instance") }).first();
    await row.getByRole("link", { name: "Details" }).click();
    await expect(page.locator(".entry-detail")).toBeVisible();
    await page.locator(".entry-detail a.instance").click();
    await expect(page).toHaveURL(/\/audit\?.*instance_id=/);
    await shownSeqs(page);
    await page.locator("li.entry").first().getByRole("link", { name: "Details" }).click();
    await page.locator(".entry-detail .actor a").click();
    await expect(page).toHaveURL(/\/audit\?.*actor=/);
    await shownSeqs(page);
  });
});

test.describe("the query language", () => {
  test.beforeEach(async ({ page }) => {
    await login(page, OWNER);
    await page.goto("/audit");
    await shownSeqs(page);
  });

  test("a query round-trips with the URL, the controls and a reload", async ({ page }) => {
    const q = 'action:update,create -category:security instance:"Acme HQ" -actor:system';
    await searchBox(page).fill(q);
    await searchBox(page).press("Enter");
    await expect(page).toHaveURL(/\/audit\?q=/);
    expect(new URL(page.url()).searchParams.get("q")).toBe(q);
    const data = await expectFeedToMatch(page, { q });
    expect(new Set(data.entries.map((e) => e.instance?.name))).toEqual(new Set(["Acme HQ"]));
    await page.reload();
    await expect(searchBox(page)).toHaveValue(q);
    // A single value of a field with its own control goes to that control, and back.
    await searchBox(page).fill("category:config ring");
    await searchBox(page).press("Enter");
    await expect(page).toHaveURL(/\/audit\?category=config&q=ring$/);
    await expect(page.locator("nav.pills").getByRole("link", { name: "Config", exact: true })).toHaveAttribute("aria-current", "page");
    await expectFeedToMatch(page, { category: "config", q: "ring" });
    await page.locator("nav.pills").getByRole("link", { name: "Alerts", exact: true }).click();
    await expect(searchBox(page)).toHaveValue("category:alerts ring");
    // A timeframe chosen with the control keeps the query.
    await page.getByLabel("Timeframe", { exact: true }).selectOption("30d");
    await expect(page).toHaveURL(/range=30d/);
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toEqual({ category: "alerts", q: "ring", range: "30d" });
    await expect(searchBox(page)).toHaveValue("category:alerts ring");
  });

  test("after: and before: are the timeframe; searching finds changed values", async ({ page }) => {
    await searchBox(page).fill("after:2020-01-01 before:2020-01-08");
    await searchBox(page).press("Enter");
    await expect(page).toHaveURL(/range=custom/);
    await expect(page.getByLabel("From", { exact: true })).toHaveValue("2020-01-01");
    await expect(page.getByLabel("To", { exact: true })).toHaveValue("2020-01-07");
    await expect(searchBox(page)).toHaveValue("after:2020-01-01 before:2020-01-08");
    await page.getByRole("button", { name: "Clear all" }).click();
    // "registrar" is a changed field of the demo's trunks, in no description.
    await searchBox(page).fill("registrar");
    await searchBox(page).press("Enter");
    const data = await expectFeedToMatch(page, { q: "registrar" });
    expect(data.entries.some((e) => !/registrar/i.test(e.description))).toBe(true);
  });

  test("field names and values complete from the list", async ({ page }) => {
    await searchBox(page).fill("ac");
    const options = page.locator("#query-options [role=option]");
    await expect(options.filter({ hasText: "actor:" })).toHaveCount(1);
    await expect(options.filter({ hasText: "action:" })).toHaveCount(1);
    await searchBox(page).fill("action:del");
    await expect(options.first()).toContainText("delete");
    await searchBox(page).press("ArrowDown");
    await searchBox(page).press("Enter");
    await expect(searchBox(page)).toHaveValue(/^action:delete\s?$/);
    await searchBox(page).fill("instance:Bir");
    await expect(options.first()).toContainText("Birchwood Dental");
    await searchBox(page).press("ArrowDown");
    await searchBox(page).press("Tab");
    await expect(searchBox(page)).toHaveValue(/^instance:"Birchwood Dental"\s?$/);
    await searchBox(page).press("Escape");
    await expect(page.locator("#query-options")).toHaveCount(0);
    await expect(searchBox(page)).toHaveValue(/^instance:"Birchwood Dental"\s?$/);
  });

  for (const [q, says] of [
    ["acter:jane", "did you mean actor:"],
    ["action:remove", "not an action"],
    ['instance:"Acme HQ', "never closed"],
    ["after:2026-11-08 before:2026-11-01", "not later"],
    ["after:yesterday", "wants a day"],
  ] as const) {
    test(`a malformed query says what is wrong where: ${q}`, async ({ page }) => {
      const before = page.url();
      await searchBox(page).fill(q);
      await searchBox(page).press("Enter");
      const error = page.locator("#query-error");
      await expect(error).toContainText("at character");
      await expect(error).toContainText(says);
      await expect(error.locator("mark")).not.toBeEmpty();
      await expect(searchBox(page)).toHaveAttribute("aria-invalid", "true");
      expect(page.url()).toBe(before);
      // The server says the same, as a 400 naming the place, never SQL.
      const res = await page.request.post("/api/tenant_feed", {
        data: { filter: { q } },
        headers: { Origin: new URL(page.url()).origin },
      });
      expect(res.status()).toBe(400);
      const body = await res.text();
      expect(body).toContain("at character");
      expect(body.toLowerCase()).not.toMatch(/sqlite|postgres|select |syntax/);
    });
  }
});

test.describe("the picture of activity", () => {
  test("bars count the view, say their count, and a drag sets the timeframe", async ({ page }) => {
    await login(page, OWNER);
    await page.goto("/audit?range=7d");
    await shownSeqs(page);
    const bars = page.locator(".activity rect.bar");
    await expect(bars.first()).toBeAttached();
    const counts = (await bars.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-count")))));
    const seqs = await shownSeqs(page);
    const summary = await call<Summary>(page, "feed_summary", { filter: { since: new Date(Date.now() - 7 * 86_400_000).toISOString() } });
    // The same picture as the API's (entries may have arrived since: at most a few more).
    expect(counts.length).toBeGreaterThan(5);
    const total = counts.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(seqs.length);
    expect(summary.counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(total);
    const busiest = counts.indexOf(Math.max(...counts));
    await expect(bars.nth(busiest).locator("title")).toHaveText(new RegExp(`: ${counts[busiest]} entr`));

    // Drag over the middle third of the picture.
    const box = (await page.locator(".activity-area").boundingBox())!;
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width / 3, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, y, { steps: 5 });
    await expect(page.locator(".activity-selection")).toBeVisible();
    await page.mouse.move(box.x + (2 * box.width) / 3, y, { steps: 5 });
    await page.mouse.up();
    await expect(page).toHaveURL(/range=custom&from=\d{4}-\d\d-\d\dT\d\d%3A\d\d&to=/);
    const url = new URL(page.url());
    const from = new Date(url.searchParams.get("from")!);
    const to = new Date(url.searchParams.get("to")!);
    expect(to.getTime()).toBeGreaterThan(from.getTime());
    await expect(page.getByLabel("From", { exact: true })).toHaveValue(url.searchParams.get("from")!);
    await shownSeqs(page);
    const times = await page.locator("li.entry time").evaluateAll((els) => els.map((e) => e.getAttribute("datetime")!));
    for (const t of times) {
      const at = new Date(t).getTime();
      expect(at).toBeGreaterThanOrEqual(from.getTime());
      expect(at).toBeLessThan(to.getTime());
    }
    // The picture now spans the chosen time.
    const after = await page.locator(".activity rect.bar").evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-count"))));
    expect(after.length).toBeGreaterThan(1);
    expect(after.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(times.length);
    expect(after.reduce((a, b) => a + b, 0)).toBeLessThan(total);
  });

  test("an instance's page has its own picture", async ({ page }) => {
    await login(page, "priya@northwind.example");
    await page.goto("/instances/pbx-birchwood");
    await shownSeqs(page);
    const summary = await call<Summary>(page, "feed_summary", { instance_id: "pbx-birchwood", filter: {} });
    const shown = await page.locator(".activity rect.bar").evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-count"))));
    expect(shown.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(summary.counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(shown.reduce((a, b) => a + b, 0));
    expect(summary.facets.some((f) => f.field === "instance_id")).toBe(false);
  });
});

test("Back after Load more and a detail page restores the list and the scroll", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await login(page, OWNER);
  await page.goto("/audit");
  const first = (await shownSeqs(page)).length;
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(page.locator("li.entry")).not.toHaveCount(first);
  const loaded = await page.locator("li.entry").count();
  const target = page.locator("li.entry").nth(loaded - 5);
  await target.scrollIntoViewIfNeeded();
  await page.mouse.wheel(0, 200);
  const seq = await target.getAttribute("data-seq");
  const scrolled = await page.evaluate(() => window.scrollY);
  expect(scrolled).toBeGreaterThan(1000);
  await target.getByRole("link", { name: "Details" }).click();
  await expect(page.locator(".entry-detail")).toHaveAttribute("data-seq", seq!);
  await page.goBack();
  await expect(page.locator("li.entry")).toHaveCount(loaded);
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBeGreaterThan(scrolled - 60);
  expect(await page.evaluate(() => window.scrollY)).toBeLessThan(scrolled + 60);
  await expect(page.locator(`li.entry[data-seq="${seq}"]`)).toBeInViewport();
});

test("j and k move between entries, Enter opens one; the skip link and live region work", async ({ page }) => {
  await login(page, OWNER);
  await page.goto("/audit");
  const seqs = await shownSeqs(page);
  await page.locator("h1").click();
  await page.keyboard.press("j");
  await expect(page.locator("li.entry").first()).toBeFocused();
  await page.keyboard.press("j");
  await page.keyboard.press("j");
  await expect(page.locator("li.entry").nth(2)).toBeFocused();
  await page.keyboard.press("k");
  await expect(page.locator("li.entry").nth(1)).toBeFocused();
  // Typing j into the search box is typing.
  await searchBox(page).focus();
  await page.keyboard.type("jk");
  await expect(searchBox(page)).toHaveValue("jk");
  await page.locator("li.entry").nth(1).focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/entries\//);
  await expect(page.locator(".entry-detail")).toHaveAttribute("data-seq", String(seqs[1]));

  // The skip link is the first thing Tab reaches, and takes focus to the content.
  await page.goto("/audit");
  await shownSeqs(page);
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to content" });
  await expect(skip).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("main#main")).toBeFocused();
  // A change of results is announced.
  await page.locator("nav.pills").getByRole("link", { name: "Config", exact: true }).click();
  await shownSeqs(page);
  await expect(page.getByTestId("announce")).toHaveText(/\d+ entries shown/);
});

test("a super admin chooses a tenant on the instances page", async ({ page }) => {
  await login(page, SUPER_ADMIN);
  await page.goto("/instances");
  await expect(page.locator(".state-empty")).toContainText("Choose a tenant");
  await page.getByLabel("Tenant", { exact: true }).selectOption("northwind");
  await expect(page).toHaveURL(/\/instances\?tenant=northwind$/);
  await page.locator(".instance-card", { hasText: "Acme HQ" }).getByRole("link", { name: "View history" }).click();
  await expect(page).toHaveURL(/\/instances\/pbx-acme-hq\?tenant=northwind$/);
  await shownSeqs(page);
});

test("reading the feed is recorded, so an owner sees who looked", async ({ page }) => {
  await login(page, "marco@northwind.example");
  await page.goto("/audit?category=config");
  await shownSeqs(page);
  await page.context().clearCookies();
  await login(page, OWNER);
  await page.goto("/audit?event_type=audit.viewed");
  await shownSeqs(page);
  const marco = page.locator("li.entry", { has: page.locator("a.actor", { hasText: "Marco Rossi" }) });
  await expect(marco.first()).toBeVisible();
  await expect(marco.first().locator(".description")).toHaveText("Viewed the tenant feed, filtered");
});

test("a super admin chooses a tenant on the administration page and reads it without forms", async ({ page }) => {
  await login(page, SUPER_ADMIN);
  await page.goto("/admin");
  await expect(page.locator(".state-empty")).toContainText("Choose a tenant");
  await page.getByLabel("Tenant", { exact: true }).selectOption("harbor");
  await expect(page).toHaveURL(/\/admin\?tenant=harbor$/);
  await expect(page.locator("table.users tr[data-email='olivia@harbor.example']")).toBeVisible();
  await expect(page.locator("table.users")).not.toContainText("northwind.example");
  await expect(page.locator("table.keys")).toBeVisible();
  await expect(page.locator(".retention")).toContainText("kept");
  // Read only: no form, no role select, no remove button.
  await expect(page.locator("section.admin form")).toHaveCount(0);
  await expect(page.locator("table.users select")).toHaveCount(0);
  await expect(page.getByRole("button", { name: /Remove|Revoke/ })).toHaveCount(0);
});
