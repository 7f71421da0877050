import { expect, test, type Page } from "@playwright/test";
import { login, OWNER } from "./helpers";

/** The tenant's NDJSON export, fetched from Stele's own page as its Export link does. */
async function exportAll(page: Page): Promise<string> {
  const [status, text] = await page.evaluate(async () => {
    const r = await fetch("/api/v1/events/export?format=ndjson");
    return [r.status, await r.text()] as const;
  });
  expect(status).toBe(200);
  return text.trimEnd();
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
  await expect(page.locator(".form-ok")).toContainText(
    /^OK: \d+ entries \(seq 1–\d+\) are in the signed log at their seq, unchanged, under the checkpoint of \d+ entries; the export holds every entry/,
  );
  await expect(page.locator(".form-ok")).toContainText("signatures valid");

  // One changed word in one entry is caught, with its line and seq. Line 1 is the
  // header; entries follow in seq order.
  const original = ndjson.split("\n");
  const lines = [...original];
  const at = lines.findIndex((l) => l.startsWith('{"id"') && JSON.parse(l).seq === 5);
  lines[at] = lines[at].replace(/"description":"([^"]*)"/, '"description":"$1 (edited)"');
  await page.getByLabel("NDJSON export").fill(lines.join("\n"));
  await page.getByRole("button", { name: "Verify in the browser" }).click();
  await expect(page.locator(".form-error")).toContainText(`line ${at + 1} (seq 5): content changed`);

  // A line added after the export's end is refused, whatever it says.
  const appended = [...original.slice(0, -1), original[at], original[original.length - 1]];
  await page.getByLabel("NDJSON export").fill(appended.join("\n"));
  await page.getByRole("button", { name: "Verify in the browser" }).click();
  await expect(page.locator(".form-error")).toContainText("Verification failed");

  // One entry with its inclusion proof against the newest checkpoint covering it.
  const third = original.find((l) => l.startsWith('{"id"') && JSON.parse(l).seq === 3)!;
  await page.getByLabel("One entry").fill(third);
  await page.getByRole("button", { name: "Check this entry" }).click();
  await expect(page.locator(".entry-check")).toContainText(/^OK: entry 3 is in the log/);
  await page.getByLabel("One entry").fill(lines[at]);
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
