import { expect, test } from "@playwright/test";
import * as fs from "node:fs";
import { call, login, OWNER } from "./helpers";

type FeedPage = { entries: { seq: number }[]; next_cursor: number | null };

test("the feed's Export button downloads exactly the filtered rows", async ({ page }) => {
  await login(page, OWNER);
  await page.goto("/audit?action=delete");
  await expect(page.locator("li.entry").first()).toBeVisible();
  const all: number[] = [];
  let cursor: number | null = null;
  do {
    const p: FeedPage = await call<FeedPage>(page, "tenant_feed", { filter: { action: "delete" }, cursor });
    all.push(...p.entries.map((e) => e.seq));
    cursor = p.next_cursor;
  } while (cursor !== null);

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator(".export-links").getByRole("link", { name: "CSV" }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^audit-logs-northwind-\d{8}T\d{6}Z\.csv$/);
  const text = fs.readFileSync((await download.path())!, "utf8");
  const lines = text.trim().split("\r\n");
  expect(lines[0].startsWith("id,tenant_id,seq,")).toBe(true);
  const seqs = lines.slice(1).map((l) => Number(l.split(",")[2]));
  expect(seqs).toEqual([...all].sort((a, b) => a - b));
});
