import assert from 'node:assert/strict';
import type { Instance } from './harness.ts';

/** The origin inject requests come from (Fastify inject's Host is `localhost:80`). */
export const ORIGIN = 'http://localhost:80';

export interface Operator {
  email: string;
  password: string;
}

let n = 0;

/** Creates an operator through the service, as `tessera admin create` does. */
export async function createOperator(t: Instance, email = `ops${++n}@example.com`, password = 'correct horse battery staple'): Promise<Operator> {
  const created = await t.deps.services.operators.create({ email, password });
  assert.ok(!('error' in created), JSON.stringify(created));
  return { email, password };
}

export function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** Posts the sign-in form; returns the raw response. */
export function postLogin(t: Instance, email: string, password: string, headers: Record<string, string> = { origin: ORIGIN }) {
  return t.app.inject({ method: 'POST', url: '/dashboard/login', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: form({ email, password }) });
}

/** Signs in; returns the `name=value` cookie to send back. */
export async function signIn(t: Instance, op: Operator): Promise<string> {
  const res = await postLogin(t, op.email, op.password);
  assert.equal(res.statusCode, 303, res.body);
  const setCookie = String(res.headers['set-cookie']);
  return setCookie.split(';')[0]!;
}

/** A dashboard page as a signed-in operator. */
export function page(t: Instance, cookie: string | undefined, url: string) {
  return t.app.inject({ method: 'GET', url, headers: cookie ? { cookie } : {} });
}

/** The CSRF token in a page's forms. */
export function csrfOf(body: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(body);
  assert.ok(m, 'a CSRF field on the page');
  return m[1]!;
}

/** Posts a dashboard form as a signed-in operator. */
export function postForm(t: Instance, cookie: string, url: string, fields: Record<string, string>, headers: Record<string, string> = { origin: ORIGIN }) {
  return t.app.inject({ method: 'POST', url, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: form(fields) });
}
