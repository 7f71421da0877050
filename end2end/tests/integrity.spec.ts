import { expect, test, type Page } from "@playwright/test";
import { call, login, OWNER } from "./helpers";

type FeedPage = { entries: { seq: number }[]; next_cursor: number | null };

/** The whole tenant log, oldest first, as NDJSON (what an export holds). */
async function exportAll(page: Page): Promise<string> {
  const all: object[] = [];
  let cursor: number | null = null;
  do {
    const p: FeedPage = await call<FeedPage>(page, "tenant_feed", { filter: {}, cursor });
    all.push(...p.entries);
    cursor = p.next_cursor;
  } while (cursor !== null);
  return all.reverse().map((e) => JSON.stringify(e)).join("\n");
}

test("verify integrity, sign a checkpoint, and check an export in the browser", async ({ page }) => {
  await login(page, OWNER);
  await page.getByText("Integrity", { exact: true }).click();
  await page.getByRole("button", { name: "Verify integrity" }).click();
  await expect(page.locator(".verify-result")).toContainText(/^OK: \d+ entries verify from genesis/);

  await page.getByRole("button", { name: "Sign a checkpoint now" }).click();
  await expect(page.locator("details.integrity")).toContainText(/Latest checkpoint: \d+ entries, root [0-9a-f]{64}/);
  const link = page.locator("a.verification-link");
  const path = await link.getAttribute("href");
  expect(path).toMatch(/^\/verify\/[0-9a-f]{64}$/);

  const ndjson = await exportAll(page);
  await page.goto(path!);
  await expect(page.getByRole("heading", { name: "Verify an audit log" })).toBeVisible();
  await expect(page.locator("code.public-key")).toHaveText(/^[0-9a-f]{64}$/);
  await expect(page.locator("table.checkpoints tbody tr").first()).toBeVisible();

  await page.getByLabel("Export file").setInputFiles({
    name: "audit-logs-northwind.ndjson",
    mimeType: "application/x-ndjson",
    buffer: Buffer.from(ndjson),
  });
  await expect(page.getByLabel("NDJSON export")).toHaveValue(ndjson);
  await page.getByRole("button", { name: "Verify in the browser" }).click();
  await expect(page.locator(".form-ok")).toContainText(/^OK: \d+ entries verify; the first \d+ match the checkpoint/);

  // One changed word in one entry is caught, with its line and seq.
  const lines = ndjson.split("\n");
  lines[4] = lines[4].replace(/"description":"([^"]*)"/, '"description":"$1 (edited)"');
  await page.getByLabel("NDJSON export").fill(lines.join("\n"));
  await page.getByRole("button", { name: "Verify in the browser" }).click();
  await expect(page.locator(".form-error")).toContainText("line 5 (seq 5): content changed");

  // One entry with its inclusion proof against the newest checkpoint covering it.
  const original = ndjson.split("\n");
  await page.getByLabel("One entry").fill(original[2]);
  await page.getByRole("button", { name: "Check this entry" }).click();
  await expect(page.locator(".entry-check")).toContainText(/^OK: entry 3 is in the log/);
  await page.getByLabel("One entry").fill(lines[4]);
  await page.getByRole("button", { name: "Check this entry" }).click();
  await expect(page.locator(".entry-check")).toContainText("entry 5: content changed");
});

test("an entry's page shows its verification state", async ({ page }) => {
  await login(page, OWNER);
  await page.locator("li.entry").first().getByRole("link", { name: "Details" }).click();
  await expect(page.locator(".verification")).toContainText("checked in your browser");
});

test("a wrong verification link says so", async ({ page }) => {
  await page.goto("/verify/not-a-real-token");
  await expect(page.locator(".state-error")).toContainText("no verification page at this address");
});
