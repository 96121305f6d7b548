// A person in the web console, in headless Chromium: signs in with a read
// token, searches without diacritics, opens the article, plays its clip
// (poster, captions), sees a stored `<script>` as text and the write
// buttons disabled with their reason, switches language; then, signed in
// with a write token, uploads a clip over tus, closes the page in the
// middle, comes back, resumes and sees the clip's SHA-256. axe-core checks
// every page. Reports JSON; tests/it/console.rs drives it and checks.
//
//   node console.mjs GATEWAY READ_TOKEN WRITE_TOKEN HOSTILE_ARTICLE UPLOAD_FILE ATTACH_TO
import { readFileSync } from 'node:fs';
import { reportOn, require } from './harness.mjs';

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const [gateway, readToken, writeToken, hostile, uploadFile, attachTo] = process.argv.slice(2);
const consoleUrl = `${gateway}/console/`;
const report = { axe: {}, cspViolations: [], pageErrors: [] };

/** axe-core's serious and critical findings on what `page` shows now. */
async function axe(page, name) {
  await page.evaluate(axeSource);
  report.axe[name] = await page.evaluate(async () => (await window.axe.run(document)).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })));
}

function watch(page) {
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) report.cspViolations.push(message.text());
  });
  page.on('pageerror', (error) => report.pageErrors.push(String(error)));
}

async function signIn(page, token) {
  await page.goto(consoleUrl);
  await page.waitForSelector('form.signin');
  await page.fill('#token', token);
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('form.search');
}

await reportOn(report, async (browser) => {
  // ---- the archivist: a read token
  const reader = await browser.newContext();
  const page = await reader.newPage();
  watch(page);
  await page.goto(consoleUrl);
  await page.waitForSelector('form.signin');
  await axe(page, 'signIn');
  await signIn(page, readToken);
  report.tokenInStorage = await page.evaluate((token) =>
    JSON.stringify({ ...localStorage }).includes(token) || document.cookie.includes(token), readToken);
  report.cookieReadable = await page.evaluate(() => document.cookie.includes('archive_session'));

  await page.fill('#q', 'thai binh');
  await page.click('form.search button[type=submit]');
  await page.waitForSelector('ol.hits li.hit');
  report.search = await page.evaluate(() => ({
    total: document.querySelector('p.total').textContent,
    titles: [...document.querySelectorAll('li.hit h2')].map((h) => h.textContent.trim()),
    marks: [...document.querySelectorAll('li.hit mark')].map((m) => m.textContent),
    facets: [...document.querySelectorAll('.facet h3')].map((h) => h.textContent),
    hash: location.hash,
  }));
  await axe(page, 'search');

  // The first result, with its clip in the player.
  await page.click('li.hit h2 a');
  await page.waitForSelector('article.article h1');
  const frame = await (await page.waitForSelector('iframe.player', { timeout: 15000 })).contentFrame();
  await frame.waitForSelector('media-player[data-ready]', { timeout: 15000 });
  await frame.waitForFunction(() => document.querySelector('media-poster img')?.naturalWidth > 0, null, { timeout: 10000 });
  report.clip = await frame.evaluate(async () => {
    const player = document.querySelector('media-player');
    player.muted = true;
    await player.play();
    for (let i = 0; i < 100 && player.currentTime === 0; i++) await new Promise((r) => setTimeout(r, 50));
    return {
      poster: document.querySelector('media-poster img').naturalWidth > 0,
      tracks: player.textTracks.toArray().map((t) => t.language),
      playing: !player.paused && player.currentTime > 0,
    };
  });
  report.article = await page.evaluate(() => ({
    title: document.querySelector('article.article h1').textContent,
    body: document.querySelector('.body').textContent.length,
    deleteDisabled: document.querySelector('.actions button:last-of-type')?.disabled,
    reasons: [...document.querySelectorAll('.actions .why')].map((w) => w.textContent),
  }));
  await axe(page, 'article');

  // Stored HTML is text.
  await page.goto(`${consoleUrl}#/${hostile}`);
  await page.waitForSelector('.body');
  report.hostile = await page.evaluate(() => ({
    text: document.querySelector('.body').textContent,
    elements: document.querySelector('.body').children.length,
    title: document.querySelector('article.article h1').textContent,
    ran: window.__pwned === 1,
  }));

  // Switch language: the same page, in English.
  const before = await page.textContent('header nav');
  await page.click('header button.link >> nth=0');
  await page.waitForFunction((b) => document.querySelector('header nav').textContent !== b, before);
  report.language = { before, after: await page.textContent('header nav'), lang: await page.getAttribute('html', 'lang') };
  await page.goto(`${consoleUrl}#/changes`);
  await page.waitForSelector('table.changes');
  await axe(page, 'changes');
  await page.goto(`${consoleUrl}#/statistics`);
  await page.waitForSelector('dl.statistics');
  report.audit = await page.evaluate(() => document.querySelector('dl.audit')?.textContent ?? null);
  await axe(page, 'statistics');
  await reader.close();

  // ---- the producer: a write token, an upload cut in the middle
  const producer = await browser.newContext();
  let first = await producer.newPage();
  watch(first);
  await signIn(first, writeToken);
  await first.goto(`${consoleUrl}#/upload`);
  await first.waitForSelector('form.upload');
  await axe(first, 'upload');
  let patches = 0;
  const cut = new Promise((resolve) => {
    first.route('**/tus/**', async (route) => {
      if (route.request().method() === 'PATCH' && ++patches === 2) {
        resolve();
        return; // left hanging: the page closes under it
      }
      await route.continue();
    });
  });
  await first.setInputFiles('#file', uploadFile);
  await first.fill('#article', attachTo);
  await first.click('form.upload button[type=submit]');
  await cut;
  report.progressBeforeCut = await first.evaluate(() => document.querySelector('progress')?.value ?? 0);
  await first.close();

  const second = await producer.newPage();
  watch(second);
  const methods = [];
  const answers = [];
  second.on('request', (request) => {
    if (request.url().includes('/tus/')) methods.push(request.method());
  });
  second.on('response', (response) => {
    if (response.url().includes('/tus/')) answers.push(`${response.request().method()} ${response.status()}`);
  });
  await second.goto(`${consoleUrl}#/upload`);
  await second.waitForSelector('form.upload');
  await second.setInputFiles('#file', uploadFile);
  await second.fill('#article', attachTo);
  await second.click('form.upload button[type=submit]');
  await second.waitForSelector('p.uploaded', { timeout: 60000 });
  report.upload = { status: await second.textContent('p.uploaded'), methodsOnResume: methods, answers };

  // Delete the hostile article, find it gone, restore it.
  await second.goto(`${consoleUrl}#/${hostile}`);
  await second.waitForSelector('.actions');
  await second.click('.actions button:last-of-type');
  await second.waitForSelector('.actions p[role=status], p[role=status]');
  await second.reload();
  await second.waitForSelector('main button');
  report.deletedShows = await second.textContent('main p');
  await second.click('main button');
  await second.waitForSelector('article.article .body');
  report.restored = await second.textContent('article.article h1');
  await producer.close();
});
