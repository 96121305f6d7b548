// What every page gets: the session, what it may do, and where to go.
import type { Scope, Session } from './api.js';
import { t } from './i18n.js';

export interface Context {
  session: Session;
  /** Re-renders the whole console (after a language switch, a sign-out). */
  refresh(): void;
  /** Called when a call says the session is over. */
  sessionEnded(): void;
  /** Stops work a page left running (a live stream) when the page changes. */
  signal: AbortSignal;
}

export function may(context: Context, scope: Scope): boolean {
  return context.session.scopes.includes(scope);
}

/** Why an action needing `scope` is not offered, or undefined when it is. */
export function refusal(context: Context, scope: Scope): string | undefined {
  return may(context, scope) ? undefined : t('needs', scope, context.session.scopes.join(', '));
}
