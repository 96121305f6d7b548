// What the archive holds: GetArchiveStatistics.
import { html, type TemplateResult } from 'lit';
import { explain, metadata, sessionOver } from '../api.js';
import type { Context } from '../context.js';
import { t } from '../i18n.js';
import { bytes } from '../text.js';

export function statisticsPage(context: Context, show: (content: TemplateResult) => void) {
  show(html`<h1>${t('statistics')}</h1><p>${t('loading')}</p>`);
  metadata
    .getArchiveStatistics({}, { signal: context.signal })
    .then((s) =>
      show(html`<h1>${t('statistics')}</h1>
        <dl class="fields statistics">
          <dt>${t('articles')}</dt><dd>${s.articleCount}</dd>
          <dt>${t('deletedArticles')}</dt><dd>${s.deletedArticleCount}</dd>
          <dt>${t('heldArticles')}</dt><dd>${s.heldArticleCount}</dd>
          <dt>${t('revisions')}</dt><dd>${s.revisionCount}</dd>
          <dt>${t('views')}</dt><dd>${s.viewCount}</dd>
          <dt>${t('clips')}</dt><dd>${s.mediaCount}</dd>
          <dt>${t('storedBytes')}</dt><dd>${bytes(Number(s.mediaStoredBytes))}</dd>
          <dt>${t('openUploads')}</dt><dd>${s.openUploadCount}</dd>
        </dl>`),
    )
    .catch((failure) => {
      if (sessionOver(failure)) return context.sessionEnded();
      show(html`<h1>${t('statistics')}</h1><p role="alert" class="error">${explain(failure)}</p>`);
    });
}
