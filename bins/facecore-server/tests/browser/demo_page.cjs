// Drives the demo page in headless Chromium with playwright-core, as a user
// would: enter the key, compare two photos, create a collection, index a
// photo, search two photos, then with a CompreFace service key add two
// subjects' examples and recognize a photo of both. Prints one JSON line with what the page showed;
// tests/demo_browser.rs checks it against the API.
//
// Environment: PLAYWRIGHT_CORE (path of the playwright-core package),
// CHROMIUM (browser executable), BASE (server URL), KEY (API key), CF_KEY (a
// recognition service's key), TWO_PEOPLE (a photo of both fixtures' people),
// FIXTURES (directory with astronaut.png and camera.png), SCREENSHOT (path).
"use strict";

const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

async function main() {
  const fixtures = env("FIXTURES");
  const astronaut = path.join(fixtures, "astronaut.png");
  const camera = path.join(fixtures, "camera.png");
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    // This machine's network is closed: keep Chromium from phoning home.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const shown = {};
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
    page.setDefaultTimeout(60000);
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push("console error: " + m.text());
    });
    page.on("request", (r) => {
      if (!r.url().startsWith(env("BASE")) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) {
        problems.push("request to another origin: " + r.url());
      }
    });
    await page.goto(env("BASE") + "/");

    // Without a key the buttons stay disabled.
    shown.disabledWithoutKey = await page.getByTestId("compare-run").isDisabled();
    await page.fill("#api-key", env("KEY"));
    await page.click("#key-save");
    await page.getByTestId("key-state").filter({ hasText: "key set" }).waitFor();
    shown.keyInSessionStorage =
      (await page.evaluate(() => sessionStorage.getItem("facecore-api-key"))) === env("KEY");

    // Compare: two different people, then one person with itself.
    const compare = async (a, b) => {
      await page.getByTestId("photo-a").setInputFiles(a);
      await page.getByTestId("photo-b").setInputFiles(b);
      await page.getByTestId("compare-run").click();
      await page.getByTestId("compare-result").waitFor({ state: "visible" });
      return {
        similarity: Number(await page.getByTestId("similarity").textContent()),
        verdict: await page.getByTestId("verdict").textContent(),
        meaning: await page.getByTestId("meaning").textContent(),
        boxPixels: await page.evaluate(() => {
          // Green pixels drawn by the face box on photo A's canvas.
          const c = document.getElementById("canvas-a");
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i] === 0x2e && d[i + 1] === 0xa0 && d[i + 2] === 0x43) n++;
          }
          return n;
        }),
      };
    };
    shown.different = await compare(astronaut, camera);
    shown.same = await compare(astronaut, astronaut);

    // Collections: create, index one person, search for both.
    await page.getByTestId("new-collection").fill("demo e2e");
    await page.getByTestId("create-collection").click();
    await page.locator('tr[data-collection="demo e2e"]').waitFor();
    await page.locator('input[name="collection"][value="demo e2e"]').check();
    await page.getByTestId("index-photo").setInputFiles(astronaut);
    await page.getByTestId("index-run").click();
    await page.getByTestId("index-result").filter({ hasText: "Stored as face" }).waitFor();
    shown.indexed = await page.getByTestId("index-result").textContent();
    shown.faceCountCell = await page
      .locator('tr[data-collection="demo e2e"] td')
      .nth(3)
      .textContent();

    const search = async (file) => {
      await page.getByTestId("search-result").evaluate((e) => { e.textContent = ""; });
      await page.getByTestId("search-photo").setInputFiles(file);
      await page.getByTestId("search-run").click();
      await page.getByTestId("search-result").filter({ hasText: /\S/ }).waitFor();
      return page.getByTestId("search-result").textContent();
    };
    shown.searchSame = await search(astronaut);
    shown.searchOther = await search(camera);

    // CompreFace: a recognition service key, two subjects, then recognize a
    // photo of both people side by side.
    await page.fill("#cf-key", env("CF_KEY"));
    await page.click("#cf-key-save");
    await page.getByTestId("cf-key-state").filter({ hasText: "service key set" }).waitFor();
    const addExample = async (subject, file) => {
      await page.getByTestId("cf-subject").fill(subject);
      await page.getByTestId("cf-example-photo").setInputFiles(file);
      await page.getByTestId("cf-add-run").click();
      await page.getByTestId("cf-add-result").filter({ hasText: `added to ${subject}` }).waitFor();
      return page.getByTestId("cf-add-result").textContent();
    };
    shown.cfAdded = [await addExample("Eileen", astronaut), await addExample("Cam", camera)];
    await page.locator('[data-testid="cf-subjects"] li').nth(1).waitFor();
    shown.cfSubjects = await page.locator('[data-testid="cf-subjects"] li').allTextContents();
    await page.getByTestId("cf-recognize-photo").setInputFiles(env("TWO_PEOPLE"));
    await page.getByTestId("cf-recognize-run").click();
    await page.locator('[data-testid="cf-recognize-result"] li').nth(1).waitFor();
    shown.cfRecognized = await page.locator('[data-testid="cf-recognize-result"] li').allTextContents();
    await page.screenshot({ path: env("SCREENSHOT"), fullPage: true });
    shown.cfKeyInSessionStorage =
      (await page.evaluate(() => sessionStorage.getItem("facecore-compreface-key"))) === env("CF_KEY");

    // A wrong key is reported on the page, not swallowed.
    await page.fill("#api-key", "fc_wrong");
    await page.click("#key-save");
    await page.getByTestId("status").filter({ hasText: "ERR_API_KEY_NOT_VALID" }).waitFor();
    shown.wrongKeyStatus = await page.getByTestId("status").textContent();
  } finally {
    await browser.close();
  }
  shown.problems = problems.filter((p) => !p.includes("401"));
  console.log("RESULT " + JSON.stringify(shown));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
