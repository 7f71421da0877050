import { expect, test } from "@playwright/test";
import { login, MEMBER } from "./helpers";

test("the catalog lists every event type with its category, action and retention", async ({ page }) => {
  await login(page, MEMBER);
  await page.getByRole("link", { name: "Catalog" }).click();
  await expect(page).toHaveURL(/\/catalog$/);
  await expect(page.getByRole("heading", { name: "Event catalog" })).toBeVisible();
  const rows = page.locator("table.catalog tbody tr");
  await expect(rows.first()).toBeVisible();
  // SPEC "The catalog" names 63 built-in types.
  expect(await rows.count()).toBeGreaterThanOrEqual(63);
  const row = (t: string) => page.locator(`table.catalog tr[data-type='${t}']`);
  await expect(row("audit.purged")).toContainText("Audit");
  await expect(row("audit.purged")).toContainText("critical: kept forever");
  await expect(row("user.role_changed")).toContainText("Access");
  await expect(row("user.role_changed")).toContainText("critical: kept forever");
  await expect(row("extension.updated")).toContainText("Extensions");
  await expect(row("extension.updated")).toContainText("update");
  await expect(row("extension.updated")).toContainText("purged with retention");
  await expect(row("auth.login_failed")).toContainText("purged with retention");
});
