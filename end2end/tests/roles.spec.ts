import { expect, test } from "@playwright/test";
import { login, MEMBER, OWNER, SUPER_ADMIN } from "./helpers";

test("a member sees only the feeds of granted instances, and the tenant feed is forbidden", async ({ page }) => {
  await login(page, MEMBER);
  await expect(page).toHaveURL(/\/instances$/);
  const cards = page.locator(".instance-card .name");
  await expect(cards).toHaveText(["Acme HQ", "Birchwood Dental"]);
  await expect(page.getByRole("link", { name: "Tenant feed" })).toHaveCount(0);

  await page.locator(".instance-card", { hasText: "Birchwood Dental" }).getByRole("link", { name: "View history" }).click();
  await expect(page).toHaveURL(/\/instances\/pbx-birchwood$/);
  await expect(page.getByRole("heading", { name: "Instance history: Birchwood Dental" })).toBeVisible();
  const instances = await page.locator("li.entry .instance").allTextContents();
  expect(instances.length).toBeGreaterThan(0);
  expect(new Set(instances)).toEqual(new Set(["Birchwood Dental"]));
  // Instance pills only
  await expect(page.getByRole("link", { name: "Security", exact: true })).toHaveCount(0);

  // Typing the URLs of what was hidden gets the server's answer.
  await page.goto("/audit");
  await expect(page.locator(".state-forbidden")).toContainText("Forbidden");
  await expect(page.locator(".state-forbidden")).toContainText("admins and owners");
  await page.goto("/instances/pbx-cobalt-wh");
  await expect(page.locator(".state-forbidden")).toContainText("no access to this instance");
  await page.goto("/master");
  await expect(page.locator(".state-forbidden")).toContainText("super admins");
});

test("an owner sees the tenant feed and administration", async ({ page }) => {
  await login(page, OWNER);
  await expect(page).toHaveURL(/\/audit$/);
  await expect(page.locator(".subtitle")).toHaveText("Northwind Managed Voice");
  await expect(page.locator("li.entry").first()).toBeVisible();
  await page.getByRole("link", { name: "Administration" }).click();
  await expect(page.locator("table.users tr[data-email='priya@northwind.example']")).toBeVisible();
  await expect(page.locator("table.users tr[data-email='olivia@harbor.example']")).toHaveCount(0);
});

test("the super admin sees the master view across tenants", async ({ page }) => {
  await login(page, SUPER_ADMIN);
  await expect(page).toHaveURL(/\/master$/);
  const rows = page.locator("table.master tbody tr");
  await expect(rows.first()).toBeVisible();
  const tenants = new Set(await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-tenant"))));
  expect(tenants.size).toBeGreaterThan(1);
  await page.getByLabel("Tenant", { exact: true }).selectOption("harbor");
  await expect(page).toHaveURL(/\/master\?tenant=harbor$/);
  await expect(rows.first()).toHaveAttribute("data-tenant", "harbor");
  const after = new Set(await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-tenant"))));
  expect(after).toEqual(new Set(["harbor"]));
});

test("a wrong password is refused and logging out ends the session", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Email").fill("tom@northwind.example");
  await page.getByLabel("Password").fill("definitely-wrong-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.locator(".form-error")).toHaveText("wrong email or password");

  await login(page, OWNER);
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/audit");
  await expect(page.locator(".state-error")).toContainText("Please log in");
});
