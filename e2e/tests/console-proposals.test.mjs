// guichet e2e: the knowledge base's workflow in the console (issue 11), in Chromium. An
// editor of the état civil proposes a new entry and a changed answer from an entry's
// page; the service's validator reads the word diff and validates both with the keyboard
// only (Tab and Enter); without a restart of the server the widget of the demo page then
// answers with the new texts word for word and their sha256; the history shows both
// revisions. axe on the proposal, review and history screens; screenshots under
// target/e2e/ (proposal-*.png).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  BASE, askInWidget, axe, chat, corpusEntry, launch, newPage, openWidget, sha256, shot,
} from './lib.mjs';

const BIN = process.env.GUICHET_BIN;
const PASSWORD = 'une phrase de passe pour les propositions';
// An entry no other browser test reads (they compare answers with the corpus files).
const ENTRY = 'recensement-citoyen';
const ADDED = 'Vous pouvez aussi vous faire recenser à la mairie annexe du quartier Nord, le samedi matin.';
const NEW_QUESTION = 'Où faire légaliser une signature à Belleval ?';
const NEW_ID = 'ou-faire-legaliser-une-signature-a-belleval';
const NEW_ANSWER = 'La légalisation de signature se fait **à la mairie**, au guichet de l\'état civil, sur présentation d\'une pièce d\'identité. Elle est gratuite.';
// A liveness bound for the engine swap of a debug build on a busy machine, not a speed claim.
const SWAP_LIMIT_MS = 240_000;

const tag = randomBytes(4).toString('hex');
const EDITOR = `nadia.${tag}@belleval.fr`;
const VALIDATOR = `yann.${tag}@belleval.fr`;
const browsers = [];
let editorPage;
let validatorPage;
let expected;
let validatedAt;

function addStaff(email, name, role) {
  assert.ok(BIN && process.env.GUICHET_DB, 'e2e/run.sh exports GUICHET_BIN and GUICHET_DB');
  execFileSync(BIN, ['staff', 'add', email, '--name', name, '--role', role, '--service', 'etat-civil'], {
    env: { ...process.env, GUICHET_STAFF_PASSWORD: PASSWORD },
    stdio: 'pipe',
  });
}

async function signIn(page, email, next) {
  await page.goto(`${BASE}/console/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Adresse e-mail').fill(email);
  await page.getByLabel('Mot de passe').fill(PASSWORD);
  await page.getByRole('button', { name: /Se connecter/ }).click();
  await page.waitForURL((u) => u.pathname === next);
}

function noProblems(page) {
  assert.deepEqual(page.problems, [], 'no script error, no console error');
}

/** Presses Tab until `name` (a button's text) has the focus, then Enter: keyboard only. */
async function tabToAndPress(page, name) {
  for (let i = 0; i < 300; i += 1) {
    await page.keyboard.press('Tab');
    const text = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    if (text === name) {
      await page.keyboard.press('Enter');
      return i + 1;
    }
  }
  throw new Error(`${name} never got the focus with Tab`);
}

/** Asks /v1/chat until `question` is answered with `answer`; the reply. */
async function servedWithin(question, answer, limit) {
  const started = Date.now();
  while (Date.now() - started < limit) {
    const reply = await chat(question);
    if (reply.entry?.answer === answer) return reply;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

before(async () => {
  addStaff(EDITOR, 'Nadia', 'editor');
  addStaff(VALIDATOR, 'Yann', 'validator');
  for (let i = 0; i < 2; i += 1) browsers.push(await launch());
  editorPage = await newPage(browsers[0].context);
  validatorPage = await newPage(browsers[1].context);
});

after(async () => {
  await Promise.all(browsers.map((b) => b.close()));
});

describe('proposals, review and history in the console', () => {
  test('an editor proposes a changed answer from the entry page', async () => {
    const page = editorPage;
    await signIn(page, EDITOR, `/console/kb/${ENTRY}`);
    await page.getByRole('link', { name: 'Proposer une modification' }).click();
    await page.waitForURL(new RegExp(`/console/kb/${ENTRY}/propose$`));
    const { body } = corpusEntry(ENTRY);
    const answer = page.getByLabel('Réponse en français (Markdown)');
    assert.equal(await answer.inputValue(), body, 'the form holds the live answer');
    await axe(page, 'proposal form');
    expected = `${body}\n\n${ADDED}`;
    await answer.fill(expected);
    await page.getByLabel('Commentaire pour le validateur (facultatif)').fill('Permanence du samedi ajoutée.');
    await shot(page, 'proposal-form.png', { fullPage: true });
    await page.getByRole('button', { name: 'Envoyer la proposition' }).click();
    await page.waitForURL(/\/console\/proposals\?fait=proposee/);
    assert.match(await page.locator('#statut').innerText(), /Proposition enregistrée/);
    noProblems(page);
  });

  test('and a new entry for the service', async () => {
    const page = editorPage;
    await page.getByRole('link', { name: 'Nouvelle fiche' }).click();
    await page.waitForURL(/\/console\/proposals\/new$/);
    await page.getByLabel('Question', { exact: true }).fill(NEW_QUESTION);
    await page.getByLabel('Réponse en français (Markdown)').fill(NEW_ANSWER);
    await page.getByLabel('Autres façons de le demander').fill('légalisation de signature\nfaire certifier ma signature');
    await axe(page, 'new entry form');
    await page.getByRole('button', { name: 'Envoyer la proposition' }).click();
    await page.waitForURL(/\/console\/proposals\?fait=proposee/);
    const rows = page.locator('table.mine tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).innerText(), /brouillon/);
    assert.match(await rows.nth(1).innerText(), /brouillon/);
    await axe(page, 'my proposals');
    await shot(page, 'proposal-mine.png', { fullPage: true });
    noProblems(page);
  });

  test('the validator reads the word diff and validates both with the keyboard only', async () => {
    const page = validatorPage;
    await signIn(page, VALIDATOR, '/console/review');
    const sections = page.locator('section.proposal-review');
    assert.equal(await sections.count(), 2);
    const change = sections.filter({ hasText: 'recensement' }).first();
    const ins = await change.locator('.diff ins').allTextContents();
    assert.ok(ins.some((t) => t.includes(ADDED)), `the added sentence is inside <ins>: ${JSON.stringify(ins)}`);
    assert.match(await change.innerText(), /Nadia/);
    assert.match(await change.innerText(), /Permanence du samedi ajoutée\./);
    assert.match(await page.locator('main').innerText(), /Légende : les mots ajoutés sont soulignés/);
    await axe(page, 'review queue');
    await shot(page, 'proposal-review.png', { fullPage: true });
    const ids = await sections.evaluateAll((s) => s.map((e) => e.getAttribute('data-revision')));
    for (const [n, id] of ids.entries()) {
      await tabToAndPress(page, `Valider la proposition n° ${id}`);
      if (n === ids.length - 1) validatedAt = Date.now();
      await page.waitForFunction((left) => document.querySelectorAll('section.proposal-review').length === left, ids.length - n - 1);
      assert.match(page.url(), /\/console\/review\?fait=validee/);
      assert.match(await page.locator('#statut').innerText(), /Proposition validée/);
    }
    assert.equal(await page.locator('section.proposal-review').count(), 0, 'nothing left to review');
    await shot(page, 'proposal-review-done.png');
    noProblems(page);
  });

  test('without a restart, the widget answers with the new texts word for word and their sha256', async () => {
    const { question } = corpusEntry(ENTRY);
    const served = await servedWithin(question, expected, SWAP_LIMIT_MS);
    assert.ok(served, 'the validated change is served within the bound');
    const servedNew = await servedWithin(NEW_QUESTION, NEW_ANSWER, SWAP_LIMIT_MS);
    assert.ok(servedNew, 'the new entry is served within the bound');
    console.log(`# validate -> served by /v1/chat: ${Date.now() - validatedAt} ms after the last validation (debug build)`);
    const page = await newPage(browsers[0].context);
    await page.goto(`${BASE}/`);
    await openWidget(page);
    const changed = await askInWidget(page, question);
    assert.equal(changed.body.entry.answer, expected, 'word for word');
    assert.equal(changed.body.entry.answer_sha256, sha256(expected));
    assert.match(await changed.turn.innerText(), /mairie annexe du quartier Nord, le samedi matin\./);
    const fresh = await askInWidget(page, NEW_QUESTION);
    assert.equal(fresh.body.entry.id, NEW_ID);
    assert.equal(fresh.body.entry.answer, NEW_ANSWER);
    assert.equal(fresh.body.entry.answer_sha256, sha256(NEW_ANSWER));
    await shot(page, 'proposal-widget.png');
    noProblems(page);
    await page.close();
  });

  test('the history shows both revisions, the live one with its hash', async () => {
    const page = editorPage;
    await page.goto(`${BASE}/console/kb/${ENTRY}`);
    await page.getByRole('link', { name: 'Historique' }).click();
    await page.waitForURL(new RegExp(`/console/kb/${ENTRY}/history$`));
    const revisions = page.locator('li.revision');
    assert.equal(await revisions.count(), 2);
    const newest = await revisions.nth(0).innerText();
    assert.match(newest, /validée/);
    assert.match(newest, /en ligne/);
    assert.match(newest, /Yann/);
    assert.ok(newest.includes(sha256(expected)), 'the served hash');
    assert.match(await revisions.nth(1).innerText(), /import d'un dossier/);
    await revisions.nth(0).locator('summary').click();
    const ins = await revisions.nth(0).locator('.diff ins').allTextContents();
    assert.ok(ins.some((t) => t.includes(ADDED)));
    assert.ok(await page.getByRole('button', { name: /Reprendre la version n° / }).isVisible(), 'the import can be taken up again');
    await axe(page, 'history');
    await shot(page, 'proposal-history.png', { fullPage: true });
    noProblems(page);
  });
});
