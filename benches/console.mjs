// The console's first load in headless Chromium on loopback, driven by
// benches/console.rs: for each page, a fresh browser context per round
// (cold cache) and a second load in it (warm: revalidated), the bytes the
// browser received (encoded, headers included) and the time from
// navigation to the page being usable. The embeddable player's page is the
// baseline. Prints JSON.
//
//   node console.mjs GATEWAY EMBED_URL ROUNDS
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.ARCHIVE_TEST_NODE_PATH || '.', 'noop.js'));
const { chromium } = require('playwright-core');
const [gateway, embedUrl, rounds = '10'] = process.argv.slice(2);

const pages = {
  // What any page costs here: a new tab, a navigation, a tiny answer.
  floor: { url: `${gateway}/healthz`, ready: 'body' },
  embed: { url: embedUrl, ready: 'media-player[data-ready]' },
  signIn: { url: `${gateway}/console/`, ready: 'form.search' },
  search: { url: `${gateway}/console/#/search?q=thai+binh`, ready: 'li.hit' },
  article: { url: null, ready: 'iframe.player', frameReady: 'media-player[data-ready]' },
};

const browser = await chromium.launch({
  executablePath: process.env.ARCHIVE_TEST_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});

/** One load of `page` in `context`: bytes received and milliseconds to usable. */
async function load(context, spec) {
  let bytes = 0;
  const pending = [];
  const count = (request) => pending.push(request.sizes().then((s) => {
    bytes += s.responseBodySize + s.responseHeadersSize;
  }).catch(() => {}));
  context.on('requestfinished', count);
  const tab = await context.newPage();
  const start = performance.now();
  await tab.goto(spec.url);
  await tab.waitForSelector(spec.ready, { timeout: 30000 });
  if (spec.frameReady) {
    const frame = await (await tab.$(spec.ready)).contentFrame();
    await frame.waitForSelector(spec.frameReady, { timeout: 30000 });
  }
  const ms = performance.now() - start;
  await tab.waitForLoadState('networkidle').catch(() => {});
  await Promise.all(pending);
  context.off('requestfinished', count);
  await tab.close();
  return { bytes, ms };
}

const report = {};
try {
  // The article the search finds, for the article row.
  const probe = await browser.newContext();
  const tab = await probe.newPage();
  await tab.goto(pages.search.url);
  await tab.waitForSelector('li.hit h2 a');
  pages.article.url = new URL(await tab.getAttribute('li.hit h2 a', 'href'), pages.search.url).href;
  await probe.close();

  for (const [name, spec] of Object.entries(pages)) {
    for (const [variant, headers] of [['gzip', {}], ['identity', { 'accept-encoding': 'identity' }]]) {
      if (variant === 'identity' && name !== 'signIn' && name !== 'embed') continue;
      const rows = { cold: [], warm: [] };
      for (let round = 0; round < Number(rounds); round++) {
        const context = await browser.newContext({ extraHTTPHeaders: headers });
        rows.cold.push(await load(context, spec));
        rows.warm.push(await load(context, spec));
        await context.close();
      }
      report[`${name}/${variant}`] = rows;
    }
  }
} catch (error) {
  report.failure = String(error);
}
await browser.close();
console.log(JSON.stringify(report));
