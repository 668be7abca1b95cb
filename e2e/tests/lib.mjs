// guichet e2e helpers: the browser (Debian's chromium through playwright-core), axe-core,
// the widget's shadow root, the corpus files the answers must match, and the city site.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const BASE = process.env.GUICHET_URL ?? 'http://127.0.0.1:8080';
export const CITY_PORT = Number(process.env.CITY_PORT ?? 0);
export const ROOT = process.env.GUICHET_ROOT ?? join(import.meta.dirname, '..', '..');
export const OUT = process.env.E2E_OUT ?? join(ROOT, 'target', 'e2e');
mkdirSync(OUT, { recursive: true });

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** Debian's chromium with a fresh profile; the profile is removed on close. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'guichet-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
    locale: 'fr-FR',
    timezoneId: 'Europe/Paris',
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A page that records what should never happen: uncaught errors and console errors other
 * than failed loads the test expects (a feedback endpoint not built yet, a refused origin).
 */
export async function newPage(context, { viewport, allowFailed = [] } = {}) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = m.location()?.url ?? '';
    const text = m.text();
    if (allowFailed.some((p) => where.includes(p) || text.includes(p))) return;
    if (/favicon\.ico/.test(where + text)) return;
    page.problems.push(`console error: ${text} (${where})`);
  });
  return page;
}

/** Runs axe-core (WCAG 2.1 A and AA rules) on the page, widget's shadow root included. */
export async function axe(page, label) {
  // Colours measured mid fade-in (the widget panel's 160 ms animation) are blends, not the
  // page's: a busy machine once caught it there. Let finite animations end first.
  await page.evaluate(async () => {
    const roots = [document, ...[...document.querySelectorAll('*')].filter((e) => e.shadowRoot).map((e) => e.shadowRoot)];
    const finite = roots.flatMap((r) => r.getAnimations()).filter((a) => a.effect?.getComputedTiming().endTime !== Infinity);
    await Promise.all(finite.map((a) => a.finished.catch(() => {})));
  });
  // Evaluated over the DevTools protocol: the demo page's CSP (no inline script) stays on.
  await page.evaluate(AXE_SOURCE);
  const known = page.problems?.length ?? 0;
  const result = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return {
      violations: r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => `${JSON.stringify(n.target)} ${n.failureSummary}`),
      })),
      passes: r.passes.length,
    };
  }, WCAG_TAGS);
  // axe-core itself injects a style element while it measures, which the demo page's CSP
  // refuses: that report is about the test tool, not the widget.
  if (page.problems) {
    const during = page.problems.splice(known);
    page.problems.push(...during.filter((p) => !/inline style violates .*Content Security Policy/.test(p)));
  }
  assert.deepEqual(result.violations, [], `axe found WCAG 2.1 A/AA violations (${label}):\n${JSON.stringify(result.violations, null, 2)}`);
  return result;
}

/** What the widget's shadow root has focused, as a short description. */
export async function focused(page) {
  return page.evaluate(() => {
    const host = document.querySelector('[data-guichet]');
    const a = host?.shadowRoot?.activeElement;
    if (!a) return { inWidget: false, tag: document.activeElement?.tagName ?? null };
    return { inWidget: true, tag: a.tagName, cls: a.className, text: a.textContent.trim() };
  });
}

export async function shot(page, name, options = {}) {
  await page.screenshot({ path: join(OUT, name), fullPage: false, ...options });
}

/** POST /v1/chat, as any client would. */
export async function chat(message) {
  const r = await fetch(`${BASE}/v1/chat`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }),
  });
  assert.equal(r.status, 200, `POST /v1/chat ${message}`);
  return r.json();
}

export async function widgetMessages(lang = 'fr') {
  const r = await fetch(`${BASE}/v1/widget/messages?lang=${lang}`);
  assert.equal(r.status, 200);
  return r.json();
}

export const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest('hex');

/** A corpus entry read from its file: the front matter's question and the body, as validated. */
export function corpusEntry(id) {
  const file = findFile(join(ROOT, 'corpus', 'entries'), `${id}.md`);
  assert.ok(file, `corpus entry ${id} exists`);
  const text = readFileSync(file, 'utf8');
  const parts = text.split(/^\+\+\+[ \t]*$/m);
  assert.ok(parts.length >= 3, `${file} has a +++ front matter`);
  const front = parts[1];
  const body = parts.slice(2).join('+++').trim();
  const question = /^question\s*=\s*"((?:[^"\\]|\\.)*)"/m.exec(front)?.[1];
  const sha = /^answer_sha256\s*=\s*"([0-9a-f]{64})"/m.exec(front)?.[1];
  return { file, question: question && JSON.parse(`"${question}"`), body, sha };
}

function findFile(dir, name) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const f = findFile(p, name);
      if (f) return f;
    } else if (e.name === name) return p;
  }
  return null;
}

/**
 * The words a reader sees in a validated Markdown text, in order: link targets, emphasis
 * markers and list markers are markup, everything else is text. An independent oracle for
 * the widget's renderer.
 */
export function markdownWords(md) {
  return md
    .split('\n')
    .map((l) => l.replace(/^\s{0,3}(?:[-*+]|\d{1,9}[.)])\s+/, '').replace(/^\s{0,3}#{1,6}\s+/, ''))
    .join('\n')
    .replace(/\[([^\]]+)\]\([^()\s]+\)/g, '$1')
    .replace(/\*\*|__/g, '')
    .replace(/\*/g, '')
    .replace(/(^|[^\p{L}\p{N}])_(?=\S)|(?<=\S)_(?=$|[^\p{L}\p{N}])/gu, '$1')
    .split(/\s+/)
    .filter(Boolean);
}

export const words = (text) => text.split(/\s+/).filter(Boolean);

/**
 * A second web site on its own origin (127.0.0.1:CITY_PORT, the allowed one, or
 * localhost:CITY_PORT, a refused one) whose pages embed the widget from guichet.
 */
export function startCitySite() {
  const html = `<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Belleval – site de la ville</title></head><body>
<main><h1>Site de la ville (autre origine)</h1><p>Page de test.</p></main>
<script src="${BASE}/widget.js" data-title="Assistant de Belleval" defer></script>
</body></html>`;
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  // The browser keeps connections alive: closing must not wait for them.
  const close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  return new Promise((resolve) => {
    server.listen(CITY_PORT, '127.0.0.1', () => resolve({
      allowed: `http://127.0.0.1:${CITY_PORT}/`,
      refused: `http://localhost:${CITY_PORT}/`,
      close,
    }));
  });
}

/** Opens the widget with the mouse and waits for the validated greeting. */
export async function openWidget(page) {
  await page.locator('.g-launcher').click();
  await page.locator('.g-greeting').waitFor();
}

/** Types a question in the widget and waits for the reply turn it adds. */
export async function askInWidget(page, question) {
  const before = await page.locator('.g-turns > li.g-bot').count();
  const reply = page.waitForResponse((r) => r.url().endsWith('/v1/chat') && r.request().method() === 'POST');
  await page.locator('.g-input').fill(question);
  await page.locator('.g-send').click();
  const body = await (await reply).json();
  await page.locator('.g-turns > li.g-bot').nth(before).waitFor();
  return { body, turn: page.locator('.g-turns > li.g-bot').nth(before) };
}

/** The agents' API (`/v1/handoffs`), with the token e2e/run.sh gave the server. */
export async function agentApi(method, path, body) {
  const token = process.env.GUICHET_ADMIN_TOKEN;
  assert.ok(token, 'GUICHET_ADMIN_TOKEN is set by e2e/run.sh');
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** The newest open web ticket (tests run one at a time: the one the test just opened). */
export async function newestWebTicket() {
  const { status, body } = await agentApi('GET', '/v1/handoffs?status=open');
  assert.equal(status, 200);
  const web = body.tickets.filter((t) => t.channel === 'web');
  assert.ok(web.length, 'an open web ticket');
  return web.reduce((a, b) => (b.id > a.id ? b : a));
}
