// guichet e2e: the coverage report (`guichet report`) in a real browser. Questions are sent
// through POST /v1/chat of the running server (each in its own session, so each is
// remembered); the report written before and after must differ by exactly what the server
// answered. The page is then opened from file:// (it is self-contained), checked with
// axe-core and screenshotted to target/e2e/report.png.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BASE, OUT, ROOT, axe, launch, newPage, shot } from './lib.mjs';

const BIN = process.env.GUICHET_BIN ?? join(ROOT, 'target', 'debug', 'guichet');

// Two the demo corpus answers, and paraphrases of topics it does not cover
// (docs/coverage-probe.txt): close cemetery paraphrases should share a gap, apart from the rest.
const QUESTIONS = [
  "comment inscrire mon fils à l'école ?",
  'quels sont les horaires de la mairie ?',
  'Comment acheter une concession au cimetière ?',
  'je voudrais réserver une place au cimetière communal pour ma famille',
  'renouveler la concession funéraire de mes grands-parents',
  'il y a un nid de frelons dans mon jardin',
  'mon voisin fait du bruit tous les soirs, que faire ?',
];

/** Writes the report with the server's own settings (GUICHET_DB...) and returns its HTML. */
function writeReport(name) {
  const path = join(OUT, name);
  execFileSync(BIN, ['report', '--out', path, '--days', '7'], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { path, html: readFileSync(path, 'utf8') };
}

const unescape = (s) => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** Cells of the body rows of the table with this id, tags stripped. */
function tableRows(html, id) {
  const start = html.indexOf(`<table id="${id}"`);
  assert.ok(start >= 0, `table ${id} in the report`);
  const table = html.slice(start, html.indexOf('</table>', start));
  const body = table.slice(table.indexOf('<tbody>'));
  return [...body.matchAll(/<tr>(.*?)<\/tr>/gs)].map((r) =>
    [...r[1].matchAll(/<t[hd][^>]*>(.*?)<\/t[hd]>/gs)].map((c) => unescape(c[1].replace(/<[^>]+>/g, '').trim())));
}

/** The web row of the channel table as numbers: total, answered, clarified, handed off. */
function webCounts(html) {
  const row = tableRows(html, 't-canal').find((r) => r[0] === 'Site web');
  assert.ok(row, 'a row for the website');
  return { total: +row[1], answer: +row[2], clarify: +row[4], handoff: +row[6] };
}

let browser;
let before_;
let after_;
const sent = { total: 0, answer: 0, clarify: 0, handoff: 0 };
const handedOff = [];

before(async () => {
  before_ = writeReport('report-before.html');
  for (const message of QUESTIONS) {
    const r = await fetch(`${BASE}/v1/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message, session_id: `e2e-report-${randomUUID()}` }),
    });
    assert.equal(r.status, 200, message);
    const reply = await r.json();
    sent.total += 1;
    sent[reply.outcome] += 1;
    if (reply.outcome === 'handoff') handedOff.push(message);
  }
  after_ = writeReport('report.html');
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

describe('the coverage report', () => {
  test('counts exactly the questions the server answered, clarified and handed off', () => {
    assert.ok(sent.answer >= 1 && sent.handoff >= 3, `the demo corpus answers some and hands off others: ${JSON.stringify(sent)}`);
    const was = webCounts(before_.html);
    const is = webCounts(after_.html);
    assert.deepEqual(
      { total: is.total - was.total, answer: is.answer - was.answer, clarify: is.clarify - was.clarify, handoff: is.handoff - was.handoff },
      sent,
    );
    // The total card says the same.
    const card = /<b>(\d+)<\/b><span>questions reçues<\/span>/.exec(after_.html);
    assert.ok(card, 'a card with the number of questions');
    const cardBefore = /<b>(\d+)<\/b><span>questions reçues<\/span>/.exec(before_.html);
    assert.equal(+card[1] - +cardBefore[1], sent.total);
  });

  test('lists the handed-off questions among the gaps', () => {
    const gaps = tableRows(after_.html, 't-lacunes').map((r) => r[4]).join('\n');
    const cemetery = handedOff.filter((q) => /cimetière|funéraire/.test(q));
    assert.ok(cemetery.length >= 2, `cemetery questions were handed off: ${handedOff}`);
    // Every question handed off is listed, and a gap holds one topic: the rows that hold
    // cemetery questions hold nothing else, and close paraphrases share a row (gap mining
    // prefers a looser paraphrase alone to a group that mixes topics).
    for (const q of handedOff) assert.ok(gaps.includes(q), `${q} among the gaps:\n${gaps}`);
    const rows = tableRows(after_.html, 't-lacunes').filter((r) => cemetery.some((q) => r[4].includes(q)));
    const others = handedOff.filter((q) => !cemetery.includes(q));
    for (const r of rows) {
      for (const q of others) assert.ok(!r[4].includes(q), `${q} is not grouped with the cemetery: ${r[4]}`);
    }
    assert.ok(rows.length < cemetery.length, `at least two cemetery paraphrases share a gap:\n${gaps}`);
  });

  test('renders from file:// with no script, no network, and no WCAG 2.1 A/AA violation', async () => {
    const page = await newPage(browser.context);
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(after_.path).href);
    assert.equal(await page.locator('h1').innerText(), "Rapport de couverture de l'assistant");
    assert.equal(await page.locator('svg[role="img"]').count(), 3);
    const day = page.locator('svg[role="img"]').first();
    assert.ok((await day.boundingBox()).height > 150, 'the chart per day is drawn');
    assert.equal(await page.locator('script').count(), 0);
    assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), [], 'no request leaves the file');
    await axe(page, 'coverage report');
    await shot(page, 'report.png', { fullPage: true });
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test('the report of the planted traffic (written by cargo test) renders too', async (t) => {
    const planted = join(OUT, 'report-planted.html');
    if (!existsSync(planted)) {
      t.skip('run `cargo test --test api report` first');
      return;
    }
    const page = await newPage(browser.context);
    await page.goto(pathToFileURL(planted).href);
    const channels = await page.locator('#t-canal tbody th').allInnerTexts();
    assert.deepEqual(channels, ['Site web', 'Messenger', 'WhatsApp', 'Telegram']);
    await axe(page, 'planted report');
    await shot(page, 'report-planted.png', { fullPage: true });
    await page.close();
  });
});
