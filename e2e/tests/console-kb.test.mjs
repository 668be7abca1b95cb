// guichet e2e: the staff console's knowledge base, "try it" pane and coverage section in a
// real browser. An agent account is made with `guichet staff add --password` (as the demo
// does), signs in through the form, searches the way a resident asks, opens an entry,
// tries a question, and prints a service's booklet to PDF: one A4 page per entry.
// axe-core checks every screen; screenshots go to target/e2e/ (console-*.png, booklet.pdf).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, OUT, ROOT, axe, corpusEntry, launch, newPage, shot } from './lib.mjs';

const BIN = process.env.GUICHET_BIN ?? join(ROOT, 'target', 'debug', 'guichet');
const EMAIL = `agent-kb-${randomUUID().slice(0, 8)}@belleval.example`;
const PASSWORD = 'une phrase de passe pour le navigateur';
// A resident's words, not the entry's question: the assistant answers with this entry.
const RESIDENT = 'il me faut un extrait de naissance pour mon dossier';
const ENTRY = 'acte-naissance-copie';
const SERVICE = 'etat-civil';

let browser;
let page;

/** The ids of a service's entries, from the corpus files (an oracle apart from the server). */
function entriesOf(service) {
  return readdirSync(join(ROOT, 'corpus', 'entries', service)).filter((f) => f.endsWith('.md'));
}

before(async () => {
  assert.ok(process.env.GUICHET_DB, 'e2e/run.sh exports GUICHET_DB');
  execFileSync(BIN, ['staff', 'add', EMAIL, '--role', 'agent', '--name', 'Camille', '--password', PASSWORD], {
    env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  browser = await launch();
  page = await newPage(browser.context);
});

after(async () => {
  await browser?.close();
});

function noProblems(p) {
  assert.deepEqual(p.problems, [], 'no script error, no console error');
}

describe('the knowledge base in the console', () => {
  test('an agent signs in and lands where they asked to go', async () => {
    await page.goto(`${BASE}/console/kb`);
    assert.match(page.url(), /\/console\/login\?next=/);
    await page.getByLabel('Adresse e-mail').fill(EMAIL);
    await page.getByLabel('Mot de passe').fill(PASSWORD);
    await page.getByRole('button', { name: /Se connecter/ }).click();
    await page.waitForURL(/\/console\/kb$/);
    assert.equal(await page.locator('h1').innerText(), 'Base de connaissances');
    await axe(page, 'knowledge base, by service');
  });

  test("a resident's phrasing finds the right entry first, marked as the assistant's answer", async () => {
    await page.getByLabel(/Question, comme une personne/).fill(RESIDENT);
    await page.getByRole('button', { name: 'Chercher' }).click();
    await page.locator('#kb-results').waitFor();
    const first = page.locator('ul.hits li').first();
    assert.match(await first.innerText(), /Réponse de l'assistant/);
    assert.equal(await first.locator('a').getAttribute('href'), `/console/kb/${ENTRY}`);
    await axe(page, 'knowledge base, search results');
    await shot(page, 'console-kb.png', { fullPage: true });
    noProblems(page);
  });

  test('the entry page shows the validated answer word for word, its service and hours', async () => {
    await page.locator('ul.hits li').first().locator('a').click();
    await page.waitForURL(new RegExp(`/console/kb/${ENTRY}$`));
    const { body, sha } = corpusEntry(ENTRY);
    assert.equal(await page.locator('div.answer').first().textContent(), body, 'byte for byte');
    assert.match(await page.locator('main').innerText(), new RegExp(sha));
    assert.match(await page.locator('aside').innerText(), /ouvert maintenant|fermé en ce moment/);
    assert.ok(await page.getByRole('link', { name: 'Imprimer cette fiche' }).isVisible());
    await axe(page, 'entry page');
    await shot(page, 'console-entry.png', { fullPage: true });
    noProblems(page);
  });

  test('the try pane shows what a resident would get and why', async () => {
    await page.getByRole('link', { name: 'Essayer' }).click();
    await page.getByLabel("Question d'un habitant").fill(RESIDENT);
    await page.getByRole('button', { name: 'Essayer' }).click();
    await page.locator('#try-why').waitFor();
    const { body } = corpusEntry(ENTRY);
    assert.equal(await page.locator('section[aria-labelledby="try-got"] div.answer').first().textContent(), body);
    const headers = await page.locator('table.trace th').allInnerTexts();
    assert.deepEqual(headers.slice(0, 4), ['Rang', 'Fiche', 'Service', 'Score']);
    assert.ok(await page.locator('table.trace tbody tr').count() >= 1);
    await axe(page, 'try pane');
    await shot(page, 'console-try.png', { fullPage: true });
    noProblems(page);
  });

  test('the coverage section offers the report and a probe form', async () => {
    await page.getByRole('link', { name: 'Couverture' }).click();
    await page.locator('#cov-probe').waitFor();
    await axe(page, 'coverage section');
    await shot(page, 'console-coverage.png', { fullPage: true });
    noProblems(page);
  });

  test("a service's booklet prints as one A4 page per entry, with the footer on paper", async () => {
    await page.goto(`${BASE}/console/kb/service/${SERVICE}/print`);
    const expected = entriesOf(SERVICE).length;
    assert.equal(await page.locator('article.sheet').count(), expected);
    await axe(page, 'booklet on screen');
    await shot(page, 'console-booklet.png');
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('.print-toolbar').isVisible(), false, 'no toolbar on paper');
    const { corpus_version: version } = await (await fetch(`${BASE}/readyz`)).json();
    const footers = page.locator('article.sheet .print-footer');
    assert.equal(await footers.count(), expected, 'each sheet ends with its footer');
    for (const f of await footers.all()) {
      assert.ok(await f.isVisible(), 'the footer is printed');
      assert.match(await f.innerText(), new RegExp(`Imprimé le .* corpus ${version}`));
    }
    // The first sheet as paper shows it (A4 at 96 dpi, less the page's margins).
    await page.setViewportSize({ width: 673, height: 979 });
    await shot(page, 'console-booklet-print.png');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ media: 'screen' });
    const pdf = await page.pdf({ format: 'A4', printBackground: true });
    const file = join(OUT, 'booklet.pdf');
    writeFileSync(file, pdf);
    const pages = (readFileSync(file, 'latin1').match(/\/Type\s*\/Page(?![s\w])/g) ?? []).length;
    assert.equal(pages, expected, `booklet.pdf has one page per entry of ${SERVICE}`);
    noProblems(page);
  });
});
