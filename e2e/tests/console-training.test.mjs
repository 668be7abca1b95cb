// guichet e2e: the training loop's screens in a real browser. A resident's question the
// demo corpus hands off is asked through the chat (in a conversation, so it is stored);
// an editor of état civil signs in, finds it on "Questions sans réponse", picks the entry
// that answers it and proposes the attachment. axe-core checks each screen; screenshots go
// to target/e2e/ (console-training*.png).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BASE, ROOT, axe, launch, newPage, shot } from './lib.mjs';

const BIN = process.env.GUICHET_BIN ?? join(ROOT, 'target', 'debug', 'guichet');
const EMAIL = `editeur-${randomUUID().slice(0, 8)}@belleval.example`;
const PASSWORD = 'une phrase de passe pour le navigateur';
// Handed off by the demo corpus; `recensement-citoyen` answers it.
const QUESTION = 'mon fils a eu 16 ans il doit aller où';
const ENTRY = 'recensement-citoyen';

let browser;
let page;

before(async () => {
  assert.ok(process.env.GUICHET_DB, 'e2e/run.sh exports GUICHET_DB');
  execFileSync(BIN, ['staff', 'add', EMAIL, '--role', 'editor', '--service', 'etat-civil', '--name', 'Nadia', '--password', PASSWORD], {
    env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r = await fetch(`${BASE}/v1/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: QUESTION, session_id: `e2e-training-${randomUUID()}` }),
  });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).outcome, 'handoff', 'handed off today');
  browser = await launch();
  page = await newPage(browser.context);
});

after(async () => {
  await browser?.close();
});

function noProblems(p) {
  assert.deepEqual(p.problems, [], 'no script error, no console error');
}

describe('the training loop in the console', () => {
  test('an editor finds the unanswered question under their service', async () => {
    await page.goto(`${BASE}/console/training`);
    await page.getByLabel('Adresse e-mail').fill(EMAIL);
    await page.getByLabel('Mot de passe').fill(PASSWORD);
    await page.getByRole('button', { name: /Se connecter/ }).click();
    await page.waitForURL(/\/console\/training$/);
    assert.equal(await page.locator('h1').innerText(), 'Questions sans réponse');
    const box = page.getByRole('checkbox', { name: new RegExp(QUESTION) });
    assert.ok(await box.isChecked(), 'checked by default');
    await axe(page, 'questions sans réponse');
    await shot(page, 'console-training.png', { fullPage: true });
    noProblems(page);
  });

  test('they pick the entry that answers it and propose the attachment', async () => {
    const group = page.locator('section.panel', { has: page.getByRole('checkbox', { name: new RegExp(QUESTION) }) });
    await group.getByRole('button', { name: 'Rattacher à une fiche…' }).click();
    await page.waitForURL(/\/console\/training\/attach\/choose$/);
    await page.locator(`input[type=radio][value="${ENTRY}"]`).check();
    await axe(page, 'choix de la fiche');
    await shot(page, 'console-training-choose.png', { fullPage: true });
    await page.getByRole('button', { name: 'Proposer le rattachement' }).click();
    await page.waitForURL(/\/console\/training\/attach$/);
    assert.match(await page.locator('main').innerText(), /Proposition n° \d+ enregistrée pour la fiche recensement-citoyen/);
    await axe(page, 'proposition enregistrée');
    await page.getByRole('link', { name: 'Retour aux questions sans réponse' }).click();
    await page.waitForURL(/\/console\/training\?days=30$/);
    assert.equal(await page.getByRole('checkbox', { name: new RegExp(QUESTION) }).count(), 0, 'labelled: not listed again');
    noProblems(page);
  });
});
