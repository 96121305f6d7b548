// The change feed, live: WatchChanges over gRPC-Web, newest first, kept to
// the last hundred; the stream ends when the page changes.
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { html, type TemplateResult } from 'lit';
import { explain, metadata, sessionOver } from '../api.js';
import type { Context } from '../context.js';
import { ChangeKind, type Change } from '../../gen/archive/v1/metadata_pb.js';
import { t } from '../i18n.js';
import { vietnamTime } from '../text.js';

const KEPT = 100;

export function changesPage(context: Context, show: (content: TemplateResult) => void) {
  let changes: Change[] = [];
  let error = '';

  const draw = () =>
    show(html`
      <h1>${t('changes')}</h1>
      <p>${t('live')}</p>
      ${error ? html`<p role="alert" class="error">${error}</p>` : ''}
      <table class="changes">
        <thead><tr><th scope="col">UTC+07:00</th><th scope="col">${t('changes')}</th><th scope="col">${t('articles')}</th></tr></thead>
        <tbody>${changes.map((change) => html`<tr>
          <td>${vietnamTime(change.commitTime && timestampDate(change.commitTime))}</td>
          <td>${ChangeKind[change.kind]}</td>
          <td>${change.name.startsWith('articles/')
            ? html`<a href=${`#/${change.name}`}>${change.title || change.name}</a>`
            : change.filename || change.name}</td>
        </tr>`)}</tbody>
      </table>`);

  const watch = async () => {
    try {
      const start = await metadata.getChangeCursor({}, { signal: context.signal });
      for await (const batch of metadata.watchChanges({ cursor: start.cursor }, { signal: context.signal })) {
        changes = [...[...batch.changes].reverse(), ...changes].slice(0, KEPT);
        draw();
      }
    } catch (failure) {
      if (context.signal.aborted) return;
      if (sessionOver(failure)) return context.sessionEnded();
      error = explain(failure);
      draw();
    }
  };
  draw();
  void watch();
}
