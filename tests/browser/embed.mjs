// Puts the embeddable player in an iframe on a page of another origin, the
// way a CMS does, in headless Chromium, and reports as JSON: the poster
// shown, the caption tracks offered and the cues of the one switched to,
// the storyboard tile shown over the seek bar, where playback starts, the
// CSP violations, and axe-core's serious and critical findings.
// Driven by tests/it/browser.rs.
//
//   node embed.mjs EMBED_URL
import { readFileSync } from 'node:fs';
import { escape, reportOn, require, servePage } from './harness.mjs';

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const [embedUrl] = process.argv.slice(2);
const hostPage = `<!doctype html><html lang="en"><meta charset="utf-8"><title>A news page</title><main>`
  + `<iframe title="Clip" width="640" height="360" allow="autoplay; fullscreen" src="${escape(embedUrl)}"></iframe></main></html>`;
const host = await servePage(hostPage);

const report = { cspViolations: [], responses: {} };
await reportOn(report, async (browser) => {
  const tab = await browser.newPage();
  tab.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) report.cspViolations.push(message.text());
  });
  tab.on('response', (response) => {
    const name = new URL(response.url()).pathname.split('/').pop();
    if (['poster', 'storyboard.vtt', 'storyboard.jpg'].includes(name)) report.responses[name] = response.status();
  });
  await tab.goto(host.url);
  const frame = await (await tab.waitForSelector('iframe')).contentFrame();
  await frame.waitForSelector('media-player[data-ready]', { timeout: 15000 });
  await frame.waitForFunction(() => document.querySelector('media-player').state.canPlay, null, { timeout: 15000 });
  // Seeking to the start takes a moment after the clip can play.
  await frame.waitForFunction(() => document.querySelector('media-player').currentTime > 0, null, { timeout: 5000 })
    .catch(() => {});
  await frame.waitForFunction(() => document.querySelector('media-poster img')?.naturalWidth > 0, null, { timeout: 10000 });
  Object.assign(report, await frame.evaluate(() => {
    const player = document.querySelector('media-player');
    return {
      currentTime: player.currentTime,
      duration: player.state.duration,
      posterWidth: document.querySelector('media-poster img').naturalWidth,
      captionButton: !!document.querySelector('media-caption-button'),
      tracks: player.textTracks.toArray().map((t) => ({ language: t.language, label: t.label, kind: t.kind, mode: t.mode })),
    };
  }));

  // Switch to the English track: its cues load and show.
  report.switched = await frame.evaluate(async () => {
    const player = document.querySelector('media-player');
    const english = player.textTracks.toArray().find((t) => t.language === 'en');
    english.mode = 'showing';
    for (let i = 0; i < 100 && english.cues.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    return {
      showing: player.textTracks.toArray().filter((t) => t.mode === 'showing').map((t) => t.language),
      cues: english.cues.map((cue) => cue.text),
    };
  });

  // Over the seek bar (shown once playback started and the pointer is over
  // the player), the storyboard tile of that time.
  report.played = await frame.evaluate(async () => {
    const player = document.querySelector('media-player');
    player.muted = true;
    await player.play();
    return !player.paused;
  });
  const player = await (await frame.$('media-player')).boundingBox();
  await tab.mouse.move(player.x + player.width / 2, player.y + player.height / 2);
  const slider = await frame.waitForSelector('media-time-slider', { state: 'visible' });
  const box = await slider.boundingBox();
  await tab.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  await frame.waitForFunction(() => {
    const img = document.querySelector('media-slider-thumbnail img, media-thumbnail img');
    return img && img.src.includes('storyboard.jpg') && img.naturalWidth > 0;
  }, null, { timeout: 10000 });
  report.thumbnail = await frame.evaluate(() => document.querySelector('media-slider-thumbnail img, media-thumbnail img').src);

  await frame.evaluate(axeSource);
  const axe = await frame.evaluate(async () => (await window.axe.run(document)).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })));
  report.axe = axe;
}, host.close);
