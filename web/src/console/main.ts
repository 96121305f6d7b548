// The web console: a page of hash routes over the archive's services,
// reached with a session cookie (docs/console.md).
import { html, render, type TemplateResult } from 'lit';
import { currentSession, signIn, signOut, type Session } from './api.js';
import type { Context } from './context.js';
import { lang, setLang, t } from './i18n.js';
import { articlePage } from './pages/article.js';
import { changesPage } from './pages/changes.js';
import { searchPage } from './pages/search.js';
import { statisticsPage } from './pages/statistics.js';
import { uploadPage } from './pages/upload.js';

const root = document.getElementById('console') as HTMLElement;
let session: Session | null = null;
let notice = '';
let running = new AbortController();

function pages(): [string, string][] {
  return [
    ['#/search', t('search')],
    ['#/upload', t('upload')],
    ['#/changes', t('changes')],
    ['#/statistics', t('statistics')],
  ];
}

function shell(content: TemplateResult, current: string): TemplateResult {
  const who = session && session.auth ? t('signedInAs', session.name, session.scopes.join(', ')) : t('authOff');
  return html`
    <header>
      <a class="brand" href="#/search">${t('title')}</a>
      <nav aria-label=${t('title')}>
        ${pages().map(([href, label]) => html`<a href=${href} aria-current=${current === href ? 'page' : 'false'}>${label}</a>`)}
      </nav>
      <span class="who">${who}</span>
      <button type="button" class="link" @click=${switchLanguage}>${t('switchTo')}</button>
      ${session?.auth ? html`<button type="button" class="link" @click=${leave}>${t('signOut')}</button>` : ''}
    </header>
    <main id="main">${content}</main>`;
}

function switchLanguage() {
  setLang(lang() === 'vi' ? 'en' : 'vi');
  route();
}

async function leave() {
  await signOut();
  // Uploads this browser could resume are the session's, not the next person's.
  for (const key of Object.keys(localStorage)) if (key.startsWith('tus::')) localStorage.removeItem(key);
  session = null;
  route();
}

function showSignIn(): void {
  let error = '';
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const input = form.elements.namedItem('token') as HTMLInputElement;
    try {
      session = await signIn(input.value);
      notice = '';
      input.value = '';
      route();
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
      draw();
    }
  };
  const draw = () =>
    render(
      html`
        <header><span class="brand">${t('title')}</span>
          <button type="button" class="link" @click=${switchLanguage}>${t('switchTo')}</button></header>
        <main id="main">
          <h1>${t('signIn')}</h1>
          ${notice ? html`<p role="status">${notice}</p>` : ''}
          <form class="signin" @submit=${submit}>
            <label for="token">${t('token')}</label>
            <input id="token" name="token" type="password" autocomplete="off" required>
            <p class="help">${t('tokenHelp')}</p>
            <button type="submit">${t('signIn')}</button>
            ${error ? html`<p role="alert" class="error">${error}</p>` : ''}
          </form>
        </main>`,
      root,
    );
  draw();
}

/** Draws the page the hash names. */
function route() {
  running.abort();
  running = new AbortController();
  document.documentElement.lang = lang();
  if (!session) {
    showSignIn();
    return;
  }
  const hash = location.hash || '#/search';
  const [path, query = ''] = hash.slice(1).split('?', 2);
  const params = new URLSearchParams(query);
  const context: Context = {
    session,
    refresh: route,
    sessionEnded: () => {
      session = null;
      notice = t('sessionOver');
      route();
    },
    signal: running.signal,
  };
  const show = (current: string) => (content: TemplateResult) => {
    if (!context.signal.aborted) render(shell(content, current), root);
  };
  const parts = path.split('/').filter(Boolean);
  document.title = t('title');
  if (parts[0] === 'articles' && parts[1]) articlePage(context, `articles/${parts[1]}`, params, show(''));
  else if (parts[0] === 'upload') uploadPage(context, show('#/upload'));
  else if (parts[0] === 'changes') changesPage(context, show('#/changes'));
  else if (parts[0] === 'statistics') statisticsPage(context, show('#/statistics'));
  else searchPage(context, params, show('#/search'));
}

window.addEventListener('hashchange', route);
currentSession()
  .then((found) => {
    session = found;
    route();
  })
  .catch(() => route());
