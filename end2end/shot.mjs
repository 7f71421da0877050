import { chromium } from "@playwright/test";
import fs from "node:fs";
const base = "http://127.0.0.1:3300";
const css = fs.readFileSync("/work/main/style/stele.css", "utf8");
const path = process.argv[2] ?? "/audit";
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
for (const [w, h] of [[1280, 900], [390, 844]]) {
  const page = await browser.newPage({ viewport: { width: w, height: h } });
  await page.goto(base + "/login");
  await page.getByLabel("Email").fill("jane@northwind.example");
  await page.getByLabel("Password").fill("stele-demo-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/audit/);
  await page.goto(base + path);
  await page.locator("li.entry").first().waitFor();
  await page.waitForTimeout(800);
  const n = await page.evaluate(() => [...document.querySelectorAll("li.entry")].filter((e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }).length);
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  console.log(w, "visible entries", n, "scrollWidth", sw);
  await page.screenshot({ path: `/tmp/shot/${w}.png` });
  await page.close();
}
await browser.close();
