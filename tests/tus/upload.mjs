// tus-js-client, as a page would use it, against a one-time upload URL:
// uploads a file in chunks that do not fall on the server's part
// boundaries, aborts once half is sent (Node reports progress per request,
// so between requests; tests/it/media/tus.rs cuts one mid-body), asks the
// server where the upload stands, resumes with a new Upload at the same
// URL, and prints what happened as JSON.
//
//   node upload.mjs URL FILE CHUNK_BYTES
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.ARCHIVE_TEST_NODE_PATH || '.', 'noop.js'));
const tus = require('tus-js-client');

const [endpoint, file, chunk] = process.argv.slice(2);
const data = readFileSync(file);
const metadata = { filename: 'Phóng sự Thái Bình.bin', filetype: 'application/octet-stream' };

// Starts an upload; resolves when `stop(bytesSent)` says so (the upload
// aborted, not terminated) or when it succeeds.
function run(options, stop = () => false) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      ...options,
      chunkSize: Number(chunk),
      retryDelays: null,
      onError: reject,
      onProgress: (sent) => {
        if (stop(sent)) upload.abort(false).then(() => resolve({ upload, abortedAt: sent }), reject);
      },
      onSuccess: (payload) => resolve({ upload, payload }),
    });
    upload.start();
  });
}

try {
  const first = await run({ endpoint, metadata }, (sent) => sent >= data.length / 2);
  const head = await fetch(first.upload.url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
  const resumedFrom = Number(head.headers.get('upload-offset'));
  const second = await run({ uploadUrl: first.upload.url, metadata });
  const last = second.payload.lastResponse;
  console.log(JSON.stringify({
    abortedAt: first.abortedAt,
    resumedFrom,
    offset: Number(last.getHeader('Upload-Offset')),
    media: last.getHeader('Archive-Media'),
  }));
} catch (error) {
  console.log(JSON.stringify({ failure: String(error) }));
}
