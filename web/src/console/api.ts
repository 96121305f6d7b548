// The console's calls: the three services over gRPC-Web on the same origin
// (the session cookie goes with each), and the session endpoints.
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { ArticleService } from '../gen/archive/v1/article_pb.js';
import { MediaService } from '../gen/archive/v1/media_pb.js';
import { MetadataService } from '../gen/archive/v1/metadata_pb.js';

const transport = createGrpcWebTransport({ baseUrl: new URL('rpc', location.href).href });

export const articles = createClient(ArticleService, transport);
export const metadata = createClient(MetadataService, transport);
export const media = createClient(MediaService, transport);

export type Scope = 'read' | 'write' | 'admin';

/** A console session, as `/console/session` describes it. */
export interface Session {
  name: string;
  scopes: Scope[];
  expires: string;
  /** False when archived runs without tokens. */
  auth: boolean;
}

const sessionUrl = new URL('session', location.href).href;

/** The session the cookie carries, or null when there is none. */
export async function currentSession(): Promise<Session | null> {
  const response = await fetch(sessionUrl, { credentials: 'same-origin' });
  return response.ok ? ((await response.json()) as Session) : null;
}

/** Exchanges a token for a session cookie; the token is not kept. */
export async function signIn(token: string): Promise<Session> {
  const response = await fetch(sessionUrl, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { authorization: `Bearer ${token.trim()}` },
  });
  if (!response.ok) throw new Error((await response.text()).trim() || response.statusText);
  return (await response.json()) as Session;
}

export async function signOut(): Promise<void> {
  await fetch(sessionUrl, { method: 'DELETE', credentials: 'same-origin' });
}

/** What a failed call says, for a person: the server's message and its code. */
export function explain(error: unknown): string {
  if (error instanceof ConnectError) return `${error.rawMessage} (${Code[error.code]})`;
  return error instanceof Error ? error.message : String(error);
}

/** True when a call failed because what it named does not exist (or is deleted). */
export function notFound(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.NotFound;
}

/** True when a call failed because the session is over. */
export function sessionOver(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}
