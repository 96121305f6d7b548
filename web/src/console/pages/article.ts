// One article: its fields and body as text, its clips in the embeddable
// player, its revisions with what changed between two, and the actions the
// session's scopes allow (the others disabled, saying why).
import { durationFromMs, timestampDate } from '@bufbuild/protobuf/wkt';
import { diffWords } from 'diff';
import { html, type TemplateResult } from 'lit';
import { articles, explain, media, notFound, sessionOver } from '../api.js';
import { refusal, type Context } from '../context.js';
import { ArticleView, type Article } from '../../gen/archive/v1/article_pb.js';
import { t } from '../i18n.js';
import { vietnamTime } from '../text.js';

interface Clip {
  media: string;
  embedUrl: string;
}

export function articlePage(
  context: Context,
  name: string,
  params: URLSearchParams,
  show: (content: TemplateResult) => void,
) {
  let article: Article | undefined;
  let revisions: Article[] = [];
  let clips: Clip[] = [];
  let compared: [number, number] | undefined;
  let error = '';
  let status = '';
  let deleted = false;
  /** Not found: never was, purged, or deleted (and restorable). */
  let missing = false;

  const failed = (failure: unknown) => {
    if (sessionOver(failure)) return context.sessionEnded();
    error = explain(failure);
    draw();
  };

  const load = async () => {
    try {
      const current = (await articles.getArticle({ name, view: ArticleView.FULL }, { signal: context.signal })).article;
      article = current;
      draw();
      const listed = await articles.listArticleRevisions({ name, pageSize: 50 }, { signal: context.signal });
      revisions = listed.revisions;
      // A reference whose clip was never uploaded names no media.
      const named = (current?.media ?? []).filter((ref) => ref.media !== '');
      const settled = await Promise.allSettled(named.map((ref) => clip(ref.media)));
      clips = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      const failure = settled.find((s) => s.status === 'rejected');
      if (failure) failed(failure.reason);
      draw();
    } catch (failure) {
      if (!article && notFound(failure)) {
        missing = true;
        draw();
        return;
      }
      failed(failure);
    }
  };

  /** The embeddable player's URL for a clip, at the hash's second when it names this clip. */
  const clip = async (id: string): Promise<Clip> => {
    const second = params.get('media') === id ? Number(params.get('t') ?? 0) : 0;
    const answer = await media.getPlaybackUrl(
      { name: id, ttl: durationFromMs(3600_000) },
      { signal: context.signal },
    );
    const url = new URL(answer.embedUrl, location.href);
    if (second > 0) url.searchParams.set('t', String(second));
    return { media: id, embedUrl: url.href };
  };

  const act = async (action: () => Promise<unknown>, after?: () => void) => {
    try {
      await action();
      status = t('done');
      error = '';
      after?.();
      if (!deleted) article = (await articles.getArticle({ name, view: ArticleView.FULL })).article;
      draw();
    } catch (failure) {
      failed(failure);
    }
  };

  const actions = (current: Article): TemplateResult => {
    const write = refusal(context, 'write');
    const admin = refusal(context, 'admin');
    const held = current.legalHold ? t('held') : undefined;
    const button = (label: string, why: string | undefined, run: () => void, id: string) => html`
      <button type="button" ?disabled=${why !== undefined} aria-describedby=${why ? `${id}-why` : ''} @click=${run}>${label}</button>
      ${why ? html`<span id=${`${id}-why`} class="why">${why}</span>` : ''}`;
    return html`<div class="actions">
      ${deleted
        ? button(t('undelete'), write, () => act(() => articles.undeleteArticle({ name }), () => (deleted = false)), 'undelete')
        : html`
          ${button(current.legalHold ? t('release') : t('hold'), admin,
            () => act(() => articles.setLegalHold({ name, legalHold: !current.legalHold })), 'hold')}
          ${button(t('delete'), write ?? held,
            () => act(() => articles.deleteArticle({ name, etag: current.etag }), () => (deleted = true)), 'delete')}`}
    </div>`;
  };

  const comparison = (): TemplateResult => {
    if (!compared) return html``;
    const [a, b] = compared.map((n) => revisions.find((r) => Number(r.revision) === n));
    if (!a || !b) return html``;
    const fields: [string, string, string][] = [
      ['title', a.title, b.title],
      ['author', a.author, b.author],
      ['keywords', a.keywords.join(', '), b.keywords.join(', ')],
      ['body', a.body, b.body],
    ];
    const changed = fields.filter(([, x, y]) => x !== y);
    return html`<section class="diff" aria-label=${t('changed', compared[0], compared[1])}>
      <h3>${t('changed', compared[0], compared[1])}</h3>
      ${changed.length === 0 ? html`<p>${t('noChange')}</p>` : ''}
      ${changed.map(([field, x, y]) => html`<h4>${t(field as 'body')}</h4>
        <p class="text">${diffWords(x, y).map((part) =>
          part.added ? html`<ins>${part.value}</ins>` : part.removed ? html`<del>${part.value}</del>` : part.value)}</p>`)}
    </section>`;
  };

  const compare = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    compared = [Number(form.get('from')), Number(form.get('to'))];
    draw();
  };

  const restore = async () => {
    try {
      await articles.undeleteArticle({ name });
      missing = false;
      error = '';
      await load();
    } catch (failure) {
      failed(failure);
    }
  };

  const draw = () => {
    if (missing) {
      const why = refusal(context, 'write');
      show(html`<h1>${name}</h1>
        <p>${t('missing')}</p>
        <button type="button" ?disabled=${why !== undefined} aria-describedby=${why ? 'restore-why' : ''}
          @click=${restore}>${t('undelete')}</button>
        ${why ? html`<span id="restore-why" class="why">${why}</span>` : ''}
        ${error ? html`<p role="alert" class="error">${error}</p>` : ''}`);
      return;
    }
    if (!article) {
      show(html`${error ? html`<p role="alert" class="error">${error}</p>` : html`<p>${t('loading')}</p>`}`);
      return;
    }
    const a = article;
    document.title = `${a.title} · ${t('title')}`;
    const numbers = revisions.map((r) => Number(r.revision));
    show(html`
      <article class="article">
        <h1>${a.title}</h1>
        ${deleted ? html`<p role="status">${t('deleted')}</p>` : ''}
        <dl class="fields">
          <dt>${t('author')}</dt><dd>${a.author}</dd>
          <dt>${t('published')}</dt><dd>${vietnamTime(a.publishTime && timestampDate(a.publishTime))}</dd>
          <dt>${t('keywords')}</dt><dd>${a.keywords.join(', ')}</dd>
          <dt>${t('views')}</dt><dd>${a.viewCount}</dd>
          <dt>${t('revision')}</dt><dd>${a.revision}</dd>
          <dt>${t('legalHold')}</dt><dd>${a.legalHold ? t('yes') : t('no')}</dd>
        </dl>
        ${actions(a)}
        ${status ? html`<p role="status">${status}</p>` : ''}
        ${error ? html`<p role="alert" class="error">${error}</p>` : ''}
        ${clips.length ? html`<h2>${t('clips')}</h2>${clips.map((c, i) => html`
          <iframe class="player" src=${c.embedUrl} title=${`${t('clips')} ${i + 1}: ${a.title}`}
            allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>`)}` : ''}
        <h2>${t('body')}</h2>
        <div class="text body">${a.body}</div>
        <h2>${t('revisions')}</h2>
        <ol class="revisions">${revisions.map((r) => html`<li>${t('revision')} ${r.revision}:
          ${vietnamTime(r.updateTime && timestampDate(r.updateTime))} · ${r.title}</li>`)}</ol>
        ${numbers.length > 1 ? html`<form class="compare" @submit=${compare}>
          <label for="from">${t('revision')}</label>
          <select id="from" name="from">${numbers.map((n, i) => html`<option ?selected=${i === 1}>${n}</option>`)}</select>
          <label for="to">${t('revision')}</label>
          <select id="to" name="to">${numbers.map((n, i) => html`<option ?selected=${i === 0}>${n}</option>`)}</select>
          <button type="submit">${t('compare')}</button>
        </form>` : ''}
        ${comparison()}
      </article>`);
  };
  draw();
  void load();
}
