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

// Harbor's owner, so the other specs' Northwind stays as the demo made it.
const HARBOR_OWNER = "olivia@harbor.example";

test("an owner switches a pack on and registers, sees and retires an own type", async ({ page }) => {
  await login(page, HARBOR_OWNER);
  await page.goto("/catalog");
  const gateway = page.locator("li[data-pack='api_gateway']");
  await expect(gateway).toHaveAttribute("data-enabled", "false");
  await expect(page.locator("table.catalog tr[data-type='byok.kms.rotate']")).toHaveCount(0);
  await gateway.getByRole("button", { name: "Switch on" }).click();
  await expect(page.getByRole("status")).toContainText("Switched on the API gateway pack");
  await expect(gateway).toHaveAttribute("data-enabled", "true");
  const row = (t: string) => page.locator(`table.catalog tr[data-type='${t}']`);
  await expect(row("byok.kms.rotate")).toContainText("critical: kept forever");
  await expect(row("byok.kms.rotate")).toContainText("pack: API gateway");
  await expect(row("route.update")).toContainText("purged with retention");

  // A bad name is refused at the form with what to do.
  await page.getByLabel("Type name").fill("backup.done");
  await page.getByLabel("Category", { exact: true }).fill("backups");
  await page.getByLabel("Category label").fill("Backups");
  await page.getByLabel("Description").fill("A nightly backup finished");
  await page.getByRole("button", { name: "Save type" }).click();
  await expect(page.getByRole("alert")).toContainText("custom.");
  await page.getByLabel("Type name").fill("custom.backup.done");
  await page.getByLabel("Metadata schema").fill('{"type": "object", "required": ["job"]}');
  await page.getByLabel("critical: keep forever").check();
  await page.getByRole("button", { name: "Save type" }).click();
  await expect(page.getByRole("status")).toContainText("Saved event type custom.backup.done");
  await expect(row("custom.backup.done")).toContainText("this tenant");
  await expect(row("custom.backup.done")).toContainText("Backups");
  await expect(row("custom.backup.done")).toContainText("critical: kept forever");
  await expect(row("custom.backup.done").getByText("metadata schema")).toBeVisible();

  // The tenant feed offers the new category as a pill and the type in its filter;
  // the registration itself is in the log.
  await page.goto("/audit");
  await expect(page.locator("nav.pills").getByRole("link", { name: "Backups" })).toBeVisible();
  await expect(page.locator("nav.pills").getByRole("link", { name: "KMS" })).toBeVisible();
  await expect(page.getByLabel("Event type").locator("option[value='custom.backup.done']")).toHaveCount(1);
  await expect(page.locator("li.entry", { hasText: "Registered event type custom.backup.done" })).toBeVisible();

  await page.goto("/catalog");
  await row("custom.backup.done").getByRole("button", { name: "Retire custom.backup.done" }).click();
  await expect(page.getByRole("status")).toContainText("Retired custom.backup.done");
  await expect(row("custom.backup.done")).toContainText("(retired)");
});

test("a member reads the catalog but cannot change it", async ({ page }) => {
  await login(page, MEMBER);
  await page.goto("/catalog");
  await expect(page.locator("li[data-pack='monitoring']")).toBeVisible();
  await expect(page.getByRole("button", { name: "Switch on" })).toHaveCount(0);
  await expect(page.getByRole("heading", { name: "Register an event type" })).toHaveCount(0);
});
