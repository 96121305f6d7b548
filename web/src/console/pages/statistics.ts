// What the archive holds, and the last fixity audit: GetArchiveStatistics.
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { html, type TemplateResult } from 'lit';
import { explain, metadata, sessionOver } from '../api.js';
import type { Context } from '../context.js';
import { t } from '../i18n.js';
import type { FixityReport } from '../../gen/archive/v1/metadata_pb.js';
import { bytes, vietnamTime } from '../text.js';

function audit(report: FixityReport | undefined): TemplateResult {
  if (!report) return html`<p>${t('noAudit')}</p>`;
  const damaged = Number(report.mismatchedCount + report.missingCount);
  return html`<dl class="fields audit">
    <dt>${t('auditStarted')}</dt><dd>${vietnamTime(report.startTime && timestampDate(report.startTime))}</dd>
    <dt>${t('auditChecked')}</dt><dd>${report.checkedCount} (${bytes(Number(report.bytesRead))})</dd>
    <dt>${t('auditDamaged')}</dt><dd class=${damaged > 0 ? 'error' : ''}>${report.mismatchedCount} / ${report.missingCount}</dd>
    <dt>${t('auditSkipped')}</dt><dd>${report.skippedCount}</dd>
  </dl>`;
}

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
        </dl>
        <h2>${t('lastAudit')}</h2>
        ${audit(s.lastFixityAudit)}`),
    )
    .catch((failure) => {
      if (sessionOver(failure)) return context.sessionEnded();
      show(html`<h1>${t('statistics')}</h1><p role="alert" class="error">${explain(failure)}</p>`);
    });
}
