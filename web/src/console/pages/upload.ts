// Uploads from the browser: a one-time tus URL minted by CreateUploadUrl,
// then tus-js-client with progress, pause and resume. The upload's URL is
// remembered (by file name, size and time) so choosing the same file again
// after the page was closed resumes where the server stopped, not at zero.
// Caption files go through PutCaptionTrack.
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { html, type TemplateResult } from 'lit';
import * as tus from 'tus-js-client';
import { explain, media, metadata, sessionOver } from '../api.js';
import { refusal, type Context } from '../context.js';
import { CaptionKind } from '../../gen/archive/v1/media_pb.js';
import { t } from '../i18n.js';
import { bytes } from '../text.js';

export function uploadPage(context: Context, show: (content: TemplateResult) => void) {
  const why = refusal(context, 'write');
  let upload: tus.Upload | undefined;
  let sent = 0;
  let total = 0;
  let paused = false;
  let done = '';
  let mediaName = '';
  let error = '';
  let captionStatus = '';

  const failed = (failure: unknown) => {
    if (sessionOver(failure)) return context.sessionEnded();
    error = explain(failure);
    draw();
  };

  const start = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const file = form.get('file') as File | null;
    if (!file || file.size === 0) return;
    const article = String(form.get('article') ?? '').trim();
    error = '';
    done = '';
    try {
      const fingerprint = async () => ['archive-console', file.name, file.size, file.lastModified, article].join('/');
      // The URL of an upload this file started before, if the server still has it.
      const probe = new tus.Upload(file, { endpoint: 'unused', fingerprint });
      const previous = await probe.findPreviousUploads();
      // A fresh URL too: the upload starts there if the previous one is gone.
      const { uploadUrl: endpoint } = await media.createUploadUrl({
        maxSizeBytes: BigInt(file.size),
        article,
        ttl: durationFromMs(3600_000),
      });
      total = file.size;
      upload = new tus.Upload(file, {
        endpoint,
        fingerprint,
        chunkSize: 8 * 1024 * 1024,
        retryDelays: [0, 1000, 3000, 5000],
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        metadata: { filename: file.name, filetype: file.type || 'video/mp4' },
        onProgress: (count) => {
          sent = count;
          draw();
        },
        onAfterResponse: (_request, response) => {
          mediaName = response.getHeader('Archive-Media') || mediaName;
        },
        onError: (failure) => {
          error = failure.message;
          draw();
        },
        onSuccess: async () => {
          try {
            const stored = (await metadata.getMedia({ name: mediaName })).media;
            done = t('uploaded', stored?.name ?? mediaName, stored?.sha256 ?? '');
            upload = undefined;
            draw();
          } catch (failure) {
            failed(failure);
          }
        },
      });
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
      paused = false;
      draw();
    } catch (failure) {
      failed(failure);
    }
  };

  const pauseOrResume = () => {
    if (!upload) return;
    if (paused) upload.start();
    else void upload.abort();
    paused = !paused;
    draw();
  };

  const putCaptions = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const file = form.get('captions') as File | null;
    if (!file) return;
    try {
      const { track } = await media.putCaptionTrack({
        media: String(form.get('media') ?? '').trim(),
        language: String(form.get('language') ?? '').trim(),
        label: String(form.get('label') ?? '').trim(),
        kind: CaptionKind.SUBTITLES,
        content: new Uint8Array(await file.arrayBuffer()),
      });
      captionStatus = `${track?.name} (${track?.cueCount})`;
      error = '';
      draw();
    } catch (failure) {
      failed(failure);
    }
  };

  const draw = () => {
    show(html`
      <h1>${t('upload')}</h1>
      ${why ? html`<p class="why" id="upload-why">${why}</p>` : ''}
      <form class="upload" @submit=${start}>
        <label for="file">${t('file')}</label>
        <input id="file" name="file" type="file" accept="video/mp4,video/*" required ?disabled=${why !== undefined}>
        <label for="article">${t('attachTo')}</label>
        <input id="article" name="article" placeholder="articles/…" ?disabled=${why !== undefined}>
        <button type="submit" ?disabled=${why !== undefined || upload !== undefined}
          aria-describedby=${why ? 'upload-why' : ''}>${t('start')}</button>
      </form>
      ${upload || sent ? html`
        <progress max=${total} .value=${sent} aria-label=${t('upload')}></progress>
        <p role="status" class="progress">${t('progress', bytes(sent), bytes(total))}</p>
        ${upload ? html`<button type="button" @click=${pauseOrResume}>${paused ? t('resume') : t('pause')}</button>` : ''}` : ''}
      ${done ? html`<p role="status" class="uploaded">${done}</p>` : ''}
      ${error ? html`<p role="alert" class="error">${error}</p>` : ''}
      <h2>${t('addCaptions')}</h2>
      <form class="captions" @submit=${putCaptions}>
        <label for="caption-media">media/…</label>
        <input id="caption-media" name="media" .value=${mediaName} required ?disabled=${why !== undefined}>
        <label for="captions">${t('captions')}</label>
        <input id="captions" name="captions" type="file" accept=".vtt,.srt,text/vtt" required ?disabled=${why !== undefined}>
        <label for="language">${t('language')}</label>
        <input id="language" name="language" value="vi" required ?disabled=${why !== undefined}>
        <label for="label">${t('label')}</label>
        <input id="label" name="label" value="Tiếng Việt" ?disabled=${why !== undefined}>
        <button type="submit" ?disabled=${why !== undefined}>${t('addCaptions')}</button>
      </form>
      ${captionStatus ? html`<p role="status">${captionStatus}</p>` : ''}`);
  };
  draw();
}
