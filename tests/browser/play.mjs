// Plays a signed clip URL in headless Chromium and reports what the <video>
// element saw, as JSON on stdout. Driven by tests/it/browser.rs.
//
//   node play.mjs URL EXPIRED_URL
//
// The download is throttled so that the clip does not arrive whole before the
// seek: the seek near the end must then fetch a Range with an offset > 0.
import { reportOn } from './harness.mjs';

const [url, expiredUrl] = process.argv.slice(2);
const report = { ranges: [], statuses: [] };
await reportOn(report, async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: 150 * 1024, uploadThroughput: -1,
  });
  page.on('request', (request) => {
    if (request.url() === url) report.ranges.push(request.headers()['range'] || '');
  });
  page.on('response', (response) => {
    if (response.url() === url) report.statuses.push(response.status());
  });
  await page.setContent('<video id="v" muted playsinline preload="auto"></video>');
  Object.assign(report, await page.evaluate(async (src) => {
    const video = document.getElementById('v');
    const once = (event, ms) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
      video.addEventListener(event, () => { clearTimeout(timer); resolve(); }, { once: true });
      video.addEventListener('error', () => { clearTimeout(timer); reject(new Error(`media error ${video.error && video.error.code}`)); }, { once: true });
    });
    const result = {};
    video.src = src;
    await once('loadedmetadata', 20000);
    result.duration = video.duration;
    result.width = video.videoWidth;
    result.height = video.videoHeight;
    await video.play();
    const started = Date.now();
    while (video.currentTime <= 1.0 && Date.now() - started < 20000) await new Promise((r) => setTimeout(r, 50));
    result.playedPastOneSecond = video.currentTime > 1.0;
    result.seekableEnd = video.seekable.length ? video.seekable.end(0) : 0;
    const seeked = once('seeked', 20000);
    video.currentTime = Math.max(0, video.duration - 0.5);
    await seeked;
    result.seekedTo = video.currentTime;
    return result;
  }, url));
  report.expiredError = await page.evaluate(async (src) => {
    const video = document.createElement('video');
    document.body.appendChild(video);
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve('no error event'), 15000);
      video.addEventListener('error', () => { clearTimeout(timer); resolve(`error ${video.error && video.error.code}`); });
      video.addEventListener('loadedmetadata', () => { clearTimeout(timer); resolve('loaded'); });
      video.src = src;
    });
  }, expiredUrl);
});
