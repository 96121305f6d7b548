// Search: the query syntax as typed, sort, facets as filters, highlighted
// titles and snippets, and moments in clips that link to the second.
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { html, type TemplateResult } from 'lit';
import { explain, metadata, sessionOver } from '../api.js';
import type { Context } from '../context.js';
import {
  SearchFacet,
  SearchOrder,
  type FacetCounts,
  type SearchArticlesResponse,
  type SearchResult,
} from '../../gen/archive/v1/metadata_pb.js';
import { t } from '../i18n.js';
import { clock, highlighted, vietnamTime } from '../text.js';

const FACETS = [SearchFacet.AUTHOR, SearchFacet.KEYWORD, SearchFacet.PUBLISH_YEAR, SearchFacet.HAS_MEDIA];
const ORDERS: [string, SearchOrder][] = [
  ['relevance', SearchOrder.RELEVANCE],
  ['newest', SearchOrder.NEWEST],
  ['oldest', SearchOrder.OLDEST],
];

/** The search as the hash states it: `#/search?q=…&order=…&author=…&keyword=…&media=…`. */
interface Search {
  q: string;
  order: string;
  authors: string[];
  keywords: string[];
  media: string;
}

function read(params: URLSearchParams): Search {
  return {
    q: params.get('q') ?? '',
    order: params.get('order') ?? 'relevance',
    authors: params.getAll('author'),
    keywords: params.getAll('keyword'),
    media: params.get('media') ?? '',
  };
}

function hashOf(search: Search): string {
  const params = new URLSearchParams();
  params.set('q', search.q);
  if (search.order !== 'relevance') params.set('order', search.order);
  search.authors.forEach((a) => params.append('author', a));
  search.keywords.forEach((k) => params.append('keyword', k));
  if (search.media) params.set('media', search.media);
  return `#/search?${params}`;
}

export function searchPage(context: Context, params: URLSearchParams, show: (content: TemplateResult) => void) {
  const search = read(params);
  let results: SearchResult[] = [];
  let answer: SearchArticlesResponse | undefined;
  let error = '';
  let loading = false;

  const go = (next: Search) => {
    location.hash = hashOf(next);
  };
  const submit = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    go({ ...search, q: String(form.get('q') ?? ''), order: String(form.get('order') ?? 'relevance') });
  };
  const toggle = (list: string[], value: string) =>
    list.includes(value) ? list.filter((v) => v !== value) : [...list, value];

  const load = async (pageToken: string) => {
    loading = true;
    draw();
    try {
      const response = await metadata.searchArticles(
        {
          query: search.q,
          pageSize: 20,
          pageToken,
          orderBy: ORDERS.find(([name]) => name === search.order)?.[1] ?? SearchOrder.RELEVANCE,
          authors: search.authors,
          keywords: search.keywords,
          hasMedia: search.media === '' ? undefined : search.media === 'yes',
          facets: FACETS,
          facetSize: 8,
        },
        { signal: context.signal },
      );
      answer = response;
      results = pageToken ? [...results, ...response.results] : response.results;
      error = '';
    } catch (failure) {
      if (sessionOver(failure)) return context.sessionEnded();
      error = explain(failure);
    }
    loading = false;
    draw();
  };

  const facet = (counts: FacetCounts): TemplateResult => {
    const [label, selected, pick]: [string, (v: string) => boolean, (v: string) => Search] = (() => {
      switch (counts.facet) {
        case SearchFacet.AUTHOR:
          return [t('author'), (v: string) => search.authors.includes(v), (v: string) => ({ ...search, authors: toggle(search.authors, v) })];
        case SearchFacet.KEYWORD:
          return [t('keyword'), (v: string) => search.keywords.includes(v), (v: string) => ({ ...search, keywords: toggle(search.keywords, v) })];
        case SearchFacet.HAS_MEDIA:
          return [t('hasMedia'), (v: string) => search.media === (v === 'true' ? 'yes' : 'no'),
            (v: string) => ({ ...search, media: search.media ? '' : v === 'true' ? 'yes' : 'no' })];
        default:
          return [t('year'), () => false, () => search];
      }
    })();
    const name = (v: string) => (counts.facet === SearchFacet.HAS_MEDIA ? (v === 'true' ? t('yes') : t('no')) : v);
    const clickable = counts.facet !== SearchFacet.PUBLISH_YEAR;
    return html`<section class="facet" aria-label=${label}>
      <h3>${label}</h3>
      <ul>${counts.values.map((value) => html`<li>${clickable
        ? html`<button type="button" class="chip" aria-pressed=${selected(value.value) ? 'true' : 'false'}
            @click=${() => go(pick(value.value))}>${name(value.value)} <span class="count">${value.count}</span></button>`
        : html`${name(value.value)} <span class="count">${value.count}</span>`}</li>`)}</ul>
    </section>`;
  };

  const result = (hit: SearchResult): TemplateResult => {
    const article = hit.article!;
    const id = article.name;
    return html`<li class="hit">
      <h2><a href=${`#/${id}`}>${highlighted(article.title, hit.titleHighlights)}</a></h2>
      <p class="meta">${vietnamTime(article.publishTime && timestampDate(article.publishTime))} · ${article.author}</p>
      <p class="snippet">${highlighted(hit.snippet, hit.highlights)}</p>
      ${hit.moments.length
        ? html`<ul class="moments">${hit.moments.map((moment) => {
            const second = Number(moment.start?.seconds ?? 0n);
            return html`<li><a href=${`#/${id}?media=${encodeURIComponent(moment.media)}&t=${second}`}>${t('moment', clock(second))}</a>:
              ${highlighted(moment.text, moment.highlights)}</li>`;
          })}</ul>`
        : ''}
    </li>`;
  };

  const draw = () => {
    const total = answer
      ? answer.totalSizeIsLowerBound ? t('resultsAtLeast', Number(answer.totalSize)) : t('results', Number(answer.totalSize))
      : '';
    const filtered = search.authors.length || search.keywords.length || search.media;
    show(html`
      <h1>${t('search')}</h1>
      <form class="search" role="search" @submit=${submit}>
        <label for="q">${t('query')}</label>
        <input id="q" name="q" type="search" .value=${search.q} aria-describedby="q-help">
        <label for="order">${t('order')}</label>
        <select id="order" name="order">
          ${ORDERS.map(([name]) => html`<option value=${name} ?selected=${search.order === name}>${t(name as 'relevance')}</option>`)}
        </select>
        <button type="submit">${t('search')}</button>
        <p id="q-help" class="help">${t('queryHelp')}</p>
      </form>
      ${error ? html`<p role="alert" class="error">${error}</p>` : ''}
      <div class="searched">
        <aside class="facets">
          ${filtered ? html`<button type="button" class="link" @click=${() => go({ ...search, authors: [], keywords: [], media: '' })}>${t('clearFilters')}</button>` : ''}
          ${answer?.facets.map(facet)}
        </aside>
        <section class="results" aria-live="polite" aria-busy=${loading ? 'true' : 'false'}>
          <p class="total">${loading && !answer ? t('loading') : total}</p>
          ${answer && results.length === 0 ? html`<p>${t('noResults')}</p>` : ''}
          <ol class="hits">${results.map(result)}</ol>
          ${answer?.nextPageToken
            ? html`<button type="button" ?disabled=${loading} @click=${() => load(answer!.nextPageToken)}>${t('more')}</button>`
            : ''}
        </section>
      </div>`);
  };
  draw();
  if (search.q.trim()) void load('');
}
