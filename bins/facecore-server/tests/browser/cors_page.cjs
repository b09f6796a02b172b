// Opens a page served from another loopback origin in headless Chromium and
// lets its script call the facecore API with fetch(), as a browser app on
// another origin would: a JSON POST with an Authorization header (so the
// browser sends a CORS preflight first) and a CompreFace-style call with
// x-api-key. Prints one JSON line with what each call gave.
//
// Environment: PLAYWRIGHT_CORE, CHROMIUM, PAGES (JSON list of page URLs to
// open, each calling API), API (facecore's base URL), KEY (account key),
// IMAGE (path of a photo).
"use strict";

const fs = require("fs");
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

async function main() {
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
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
  const results = {};
  try {
    for (const url of JSON.parse(env("PAGES"))) {
      const page = await browser.newPage();
      page.setDefaultTimeout(60000);
      await page.goto(url);
      results[url] = await page.evaluate(
        async ({ api, key, image }) => {
          const call = async (path, init) => {
            try {
              const response = await fetch(api + path, init);
              return {
                status: response.status,
                body: await response.json(),
                requestId: response.headers.get("x-request-id"),
              };
            } catch (e) {
              // A CORS refusal: the browser hides the answer.
              return { blocked: String(e) };
            }
          };
          return {
            detect: await call("/v1/face-verification/detect-faces", {
              method: "POST",
              headers: { Authorization: "ApiKey " + key, "Content-Type": "application/json" },
              body: JSON.stringify({ image: { bytes: image } }),
            }),
            wrongKey: await call("/v1/collection/get-all", {
              headers: { Authorization: "ApiKey fc_wrong" },
            }),
            compreface: await call("/api/v1/recognition/subjects", {
              headers: { "x-api-key": "fc_not_a_service_key" },
            }),
          };
        },
        { api: env("API"), key: env("KEY"), image: fs.readFileSync(env("IMAGE")).toString("base64") },
      );
      await page.close();
    }
  } finally {
    await browser.close();
  }
  console.log("RESULT " + JSON.stringify(results));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
