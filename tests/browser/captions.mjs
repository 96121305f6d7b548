// Loads a clip with its caption tracks the way a news page embeds it, from
// another origin, in headless Chromium, and reports every cue each track
// loaded, as JSON on stdout. Driven by tests/it/browser.rs.
//
//   node captions.mjs CLIP_URL TRACKS_JSON [POSTER_URL]
//
// TRACKS_JSON: [{"url", "language", "kind", "label"}, ...]; the first is
// the default track, the others are loaded by showing them hidden.
import { escape, reportOn, servePage } from './harness.mjs';

const [clipUrl, tracksJson, posterUrl] = process.argv.slice(2);
const tracks = JSON.parse(tracksJson);
const poster = posterUrl ? ` poster="${escape(posterUrl)}"` : '';
const page = `<!doctype html><meta charset="utf-8"><video id="v" crossorigin="anonymous" muted preload="auto"${poster} src="${escape(clipUrl)}">${
  tracks.map((t, i) => `<track ${i === 0 ? 'default ' : ''}kind="${escape(t.kind)}" srclang="${escape(t.language)}" label="${escape(t.label)}" src="${escape(t.url)}">`).join('')
}</video>`;
// The page's own origin: another port on loopback than the gateway's.
const host = await servePage(page);
const pageUrl = host.url;

const report = { pageOrigin: new URL(pageUrl).origin, trackRequests: [], posterRequests: [] };
await reportOn(report, async (browser) => {
  const tab = await browser.newPage();
  tab.on('response', async (response) => {
    if (posterUrl && response.url() === posterUrl) {
      report.posterRequests.push({ status: response.status(), type: response.headers()['content-type'] || '' });
    }
    if (tracks.some((t) => t.url === response.url())) {
      report.trackRequests.push({
        status: response.status(),
        origin: (await response.request().allHeaders())['origin'] || '',
        allowOrigin: response.headers()['access-control-allow-origin'] || '',
      });
    }
  });
  await tab.goto(pageUrl);
  report.tracks = await tab.evaluate(async () => {
    const video = document.getElementById('v');
    const elements = [...video.querySelectorAll('track')];
    // A track loads once it is showing or hidden: the default shows itself.
    elements.slice(1).forEach((element) => { element.track.mode = 'hidden'; });
    const loaded = (element) => new Promise((resolve) => {
      if (element.readyState === 2) return resolve('loaded');
      if (element.readyState === 3) return resolve('error');
      const timer = setTimeout(() => resolve(`readyState ${element.readyState} after 20 s`), 20000);
      element.addEventListener('load', () => { clearTimeout(timer); resolve('loaded'); });
      element.addEventListener('error', () => { clearTimeout(timer); resolve('error'); });
    });
    const out = [];
    for (const element of elements) {
      const state = await loaded(element);
      const cues = [...(element.track.cues || [])].map((cue) => ({
        id: cue.id, start: cue.startTime, end: cue.endTime, text: cue.text,
      }));
      out.push({ language: element.srclang, kind: element.kind, mode: element.track.mode, state, cues });
    }
    return out;
  });
  // The poster shows until the clip plays: the page asked for it.
  const waited = Date.now();
  while (posterUrl && report.posterRequests.length === 0 && Date.now() - waited < 10000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, host.close);
