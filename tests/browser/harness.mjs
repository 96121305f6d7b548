// What the browser scripts share: npm packages from where the test command
// installed them, Debian's Chromium launched headless, a page served from
// another origin on loopback, and the report printed as JSON on stdout
// whatever happens (a failure is a field of it).
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';

// ES modules ignore NODE_PATH: resolve packages from where the test command
// installed them.
export const require = createRequire(path.join(process.env.ARCHIVE_TEST_NODE_PATH || '.', 'noop.js'));

export function launch() {
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: process.env.ARCHIVE_TEST_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

/** Text for HTML attributes and content. */
export const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** Serves `html` at the root of a loopback port of its own: another origin than the gateway's. */
export async function servePage(html) {
  const server = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

/** Runs `body(browser)`, notes a failure in `report`, closes everything, prints the report. */
export async function reportOn(report, body, ...closers) {
  const browser = await launch();
  try {
    await body(browser);
  } catch (error) {
    report.failure = String(error);
  } finally {
    await browser.close();
    for (const close of closers) await close();
  }
  console.log(JSON.stringify(report));
}
