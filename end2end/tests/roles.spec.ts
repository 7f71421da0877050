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

test("a page a role cannot use explains itself once and shows no controls", async ({ page }) => {
  await login(page, MEMBER);
  await page.goto("/audit");
  await expect(page.locator(".state-forbidden")).toContainText("admins and owners");
  await expect(page.locator(".filters")).toHaveCount(0);
  await expect(page.locator("nav.pills")).toHaveCount(0);
  await expect(page.locator(".export-links")).toHaveCount(0);
  await page.goto("/admin");
  await expect(page.locator(".state-forbidden")).toBeVisible();
  await expect(page.locator("form")).toHaveCount(0);
  await expect(page.locator("table")).toHaveCount(0);
});

test("destructive admin actions ask first, and a refused change shows the real state", async ({ page }) => {
  await login(page, OWNER);
  await page.goto("/admin");
  // Refused self-demotion: the select goes back to the role the owner has.
  const own = page.getByLabel(`Role of ${OWNER}`);
  await expect(own).toHaveValue("owner");
  await own.selectOption("member");
  await expect(page.getByRole("alert")).toBeVisible();
  await expect(own).toHaveValue("owner");

  const email = `temp-${Date.now()}@northwind.example`;
  await page.getByLabel("Email of the new user").fill(email);
  await page.getByRole("button", { name: "Invite" }).click();
  await expect(page.getByRole("status")).toContainText(`Invited ${email}`);
  const remove = page.getByRole("button", { name: `Remove ${email}` });
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); void d.dismiss(); });
  await remove.click();
  await expect.poll(() => asked).toContain("can no longer log in");
  await expect(page.locator(`tr[data-email='${email}']`)).toHaveCount(1);
  page.once("dialog", (d) => void d.accept());
  await remove.click();
  await expect(page.getByRole("status")).toContainText("User removed");
  await expect(page.locator(`tr[data-email='${email}']`)).toHaveCount(0);

  const keyName = `temp key ${Date.now()}`;
  await page.getByLabel("API key name").fill(keyName);
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByRole("status")).toContainText(`Created API key "${keyName}"`);
  page.once("dialog", (d) => { asked = d.message(); void d.dismiss(); });
  await page.getByRole("button", { name: `Revoke ${keyName}` }).click();
  await expect.poll(() => asked).toContain("refused from now on");
  await expect(page.getByRole("button", { name: `Revoke ${keyName}` })).toBeVisible();
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: `Revoke ${keyName}` }).click();
  await expect(page.getByRole("status")).toContainText("API key revoked");
  await expect(page.getByRole("button", { name: `Revoke ${keyName}` })).toHaveCount(0);
});
