import { expect, type Page } from "@playwright/test";

export const PASSWORD = "stele-demo-password";
export const OWNER = "jane@northwind.example";
export const ADMIN = "marco@northwind.example";
export const MEMBER = "priya@northwind.example";
export const SUPER_ADMIN = "root@stele.example";

/** Logs in through the login form, as a person would. */
export async function login(page: Page, email: string, password = PASSWORD) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByTestId("whoami")).toContainText(email);
}

/** Calls a server function with the page's session, from Stele's own origin. */
export async function call<T>(page: Page, fn: string, data: object): Promise<T> {
  const origin = new URL(page.url()).origin;
  const res = await page.request.post(`/api/${fn}`, { data, headers: { Origin: origin } });
  expect(res.status(), await res.text()).toBe(200);
  return res.json();
}
