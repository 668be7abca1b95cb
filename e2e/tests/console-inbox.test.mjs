// guichet e2e: the agents' inbox in the console. An agent signed in (a local account made
// with `guichet staff add`) has the inbox open; a resident asks for a person in the widget
// of a second page; the ticket appears in the inbox without a reload (server-sent events),
// the title count and the live region say so; the agent takes it, searches the knowledge
// base from the ticket, sends a validated answer, which the widget shows word for word;
// the agent closes it and the assistant answers the next question again. A second test
// does the same with the keyboard only. axe on the inbox and the ticket; 200 % zoom.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, askInWidget, axe, corpusEntry, launch, markdownWords, newPage, openWidget, shot,
  widgetMessages, words,
} from './lib.mjs';

const PASSWORD = 'une phrase de passe pour le navigateur';
const HOURS_ENTRY = 'horaires-mairie';
const SEARCH = "carte d'identité";

let browser;
let messages;

before(async () => {
  browser = await launch();
  messages = await widgetMessages('fr');
});

after(async () => {
  await browser?.close();
});

/** A local agent account, as an administrator makes one (`guichet staff add`). */
function addAgent(name) {
  const bin = process.env.GUICHET_BIN;
  assert.ok(bin && process.env.GUICHET_DB, 'e2e/run.sh exports GUICHET_BIN and GUICHET_DB');
  const email = `${name.toLowerCase()}.${randomBytes(4).toString('hex')}@belleval.fr`;
  execFileSync(bin, ['staff', 'add', email, '--role', 'agent', '--name', name], {
    env: { ...process.env, GUICHET_STAFF_PASSWORD: PASSWORD },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return email;
}

function noProblems(page) {
  assert.deepEqual(page.problems, [], 'no script error, no console error');
}

/** Signs in at /console/login (fields filled, the form sent with Enter). */
async function signIn(page, email) {
  await page.goto(`${BASE}/console/login?next=/console/inbox`);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('#password').press('Enter');
  await page.waitForURL(/\/console\/inbox$/);
}

/** The number in the document's title, "(3) Demandes · Console guichet". */
async function titleCount(page) {
  const m = /^\((\d+)\) Demandes · Console guichet$/.exec(await page.title());
  assert.ok(m, `the inbox's title carries the count: ${await page.title()}`);
  return Number(m[1]);
}

/** The resident asks for a person in the widget of `page`; returns the chat reply. */
async function residentAsksForPerson(page) {
  await page.goto(`${BASE}/`);
  await openWidget(page);
  const reply = page.waitForResponse((r) => r.url().endsWith('/v1/chat') && r.request().method() === 'POST');
  await page.locator('.g-human').click();
  const body = await (await reply).json();
  assert.equal(body.outcome, 'handoff', JSON.stringify(body));
  await page.locator('.g-ticket').waitFor();
  return body;
}

/** The newest ticket of the inbox list not in `known`, once it arrives: its id and service. */
async function arrives(inbox, known) {
  const handle = await inbox.waitForFunction((seen) => {
    const fresh = [...document.querySelectorAll('#inbox-list li[data-ticket]')]
      .filter((li) => !seen.includes(li.dataset.ticket));
    const li = fresh[fresh.length - 1];
    return li ? { id: li.dataset.ticket, service: li.dataset.service } : null;
  }, known, { timeout: 15_000 });
  return handle.jsonValue();
}

async function ticketIds(page) {
  return page.locator('#inbox-list li[data-ticket]').evaluateAll((els) => els.map((e) => e.dataset.ticket));
}

/** No horizontal scrolling of the page (the 200 % zoom check, at 640 CSS pixels). */
async function noSideScroll(page, label) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, width: window.innerWidth,
  }));
  assert.ok(scroll <= width, `${label}: ${scroll}px of content in a ${width}px window`);
}

/** The widget's agent turns, once `n` are there. */
async function agentTurn(page, n) {
  const turns = page.locator('.g-turns > li.g-agent');
  await turns.nth(n - 1).waitFor({ timeout: 20_000 });
  return turns.nth(n - 1);
}

/** Presses Tab until `want` (a predicate run in the page on the focused element) holds. */
async function tabTo(page, want, arg, max = 80) {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(want, arg)) return i + 1;
  }
  assert.fail(`Tab never reached the element (${want})`);
}

const active = (page) => page.evaluate(() => {
  const a = document.activeElement;
  return { tag: a?.tagName, id: a?.id, text: a?.textContent.trim() };
});

describe('the agents\' inbox', () => {
  test('a hand-off appears live, the agent takes it, sends a validated answer word for word, closes it, and the assistant answers again', async () => {
    const email = addAgent('Camille');
    const inbox = await newPage(browser.context);
    await signIn(inbox, email);
    const before = await titleCount(inbox);
    const known = await ticketIds(inbox);
    // Set on this document: still there later means the page was never reloaded.
    await inbox.evaluate(() => { window.sameDocument = true; });
    await axe(inbox, 'inbox');

    const resident = await newPage(browser.context, { allowFailed: ['/v1/feedback'] });
    await residentAsksForPerson(resident);

    // The ticket appears without a reload; the title and the live region say so.
    const { id, service } = await arrives(inbox, known);
    assert.ok(service, 'the ticket names its service');
    assert.equal(await inbox.evaluate(() => window.sameDocument), true, 'no reload');
    await inbox.waitForFunction((n) => document.title.startsWith(`(${n}) `), before + 1);
    await inbox.locator('#inbox-live', { hasText: `Nouvelle demande : service ${service}` }).waitFor();
    const item = inbox.locator(`li[data-ticket="${id}"]`);
    assert.match(await item.innerText(), /en attente d'un agent/);
    assert.match(await item.innerText(), /chat du site/);
    await axe(inbox, 'inbox with a new ticket');
    await shot(inbox, 'console-inbox.png', { fullPage: true });

    // The agent opens it and takes it.
    await item.getByRole('link').click();
    await inbox.waitForURL(new RegExp(`/console/tickets/${id}$`));
    await axe(inbox, 'ticket, open');
    await inbox.getByRole('button', { name: 'Prendre la demande' }).click();
    await inbox.locator('#statut', { hasText: 'Vous avez pris la demande' }).waitFor();
    await resident.locator('.g-ticket-agent', { hasText: 'Camille' }).waitFor({ timeout: 20_000 });

    // Searches the knowledge base from the ticket and sends the first validated answer.
    await inbox.getByLabel('Chercher dans la base de connaissances').fill(SEARCH);
    await inbox.getByRole('button', { name: 'Chercher' }).click();
    await inbox.locator('#resultats').waitFor();
    const first = inbox.locator('ol.found > li').first();
    const entryId = await first.locator('input[name=entry]').getAttribute('value');
    const entry = corpusEntry(entryId);
    assert.match(entry.question, /identité/i, `the search finds the identity card: ${entry.question}`);
    // The exact text, folded under the rendered one: byte for byte.
    assert.equal(await first.locator('.answer').textContent(), entry.body, 'the page shows the validated text');
    assert.deepEqual(words(await first.locator('.md').innerText()), markdownWords(entry.body), 'rendered as the widget does');
    await axe(inbox, 'ticket, taken, with search results');
    await shot(inbox, 'console-ticket.png', { fullPage: true });

    await inbox.setViewportSize({ width: 640, height: 800 });
    await noSideScroll(inbox, 'ticket at 200 %');
    await shot(inbox, 'console-ticket-200.png');
    await inbox.goto(`${BASE}/console/inbox`);
    await noSideScroll(inbox, 'inbox at 200 %');
    await shot(inbox, 'console-inbox-200.png');
    await inbox.goBack();
    await inbox.setViewportSize({ width: 1280, height: 800 });

    await inbox.locator('ol.found > li').first().getByRole('button', { name: 'Envoyer cette réponse' }).click();
    await inbox.locator('#statut', { hasText: 'Réponse validée envoyée' }).waitFor();

    // The widget shows the entry's own words, signed with the agent's name.
    const turn = await agentTurn(resident, 1);
    const shown = turn.locator('.g-agent-text');
    assert.equal(await shown.getAttribute('data-entry'), entryId);
    assert.deepEqual(words(await shown.innerText()), markdownWords(entry.body));
    assert.equal((await turn.locator('.g-who').innerText()).trim(), 'Camille');

    // The agent closes it with a note; the assistant answers the next question.
    await inbox.getByLabel(/Note pour les collègues/).fill('Réponse envoyée, rien à suivre.');
    await inbox.getByRole('button', { name: 'Clore la demande' }).click();
    await inbox.locator('#statut', { hasText: 'Demande close' }).waitFor();
    await resident.locator('.g-turns > li.g-event', { hasText: messages.messages.ticket_resolved }).waitFor({ timeout: 20_000 });
    const hours = corpusEntry(HOURS_ENTRY);
    const { body } = await askInWidget(resident, hours.question);
    assert.equal(body.outcome, 'answer', JSON.stringify(body));
    assert.equal(body.entry.answer, hours.body);
    assert.ok(!body.ticket, 'no ticket open any more');
    noProblems(inbox);
    noProblems(resident);
    await inbox.close();
    await resident.close();
  });

  test('with the keyboard only: take, insert a validated answer, send it, close; focus follows', async () => {
    const email = addAgent('Karim');
    const inbox = await newPage(browser.context);
    await signIn(inbox, email);
    const known = await ticketIds(inbox);
    const resident = await newPage(browser.context, { allowFailed: ['/v1/feedback'] });
    await residentAsksForPerson(resident);
    const { id } = await arrives(inbox, known);

    await inbox.bringToFront();
    await tabTo(inbox, (href) => document.activeElement?.getAttribute('href') === href, `/console/tickets/${id}`);
    await inbox.keyboard.press('Enter');
    await inbox.waitForURL(new RegExp(`/console/tickets/${id}$`));

    await tabTo(inbox, () => document.activeElement?.textContent.trim() === 'Prendre la demande');
    await inbox.keyboard.press('Enter');
    await inbox.locator('#statut', { hasText: 'Vous avez pris la demande' }).waitFor();
    assert.equal((await active(inbox)).id, 'statut', 'after taking, focus is on the status notice');

    await tabTo(inbox, () => document.activeElement?.id === 'kb-q');
    await inbox.keyboard.type(SEARCH);
    await inbox.keyboard.press('Enter');
    await inbox.locator('#resultats').waitFor();
    assert.equal((await active(inbox)).id, 'resultats', 'after searching, focus is on the results');
    // Through the first result (its links, "Texte exact envoyé") to its button.
    let stops = 0;
    do {
      await inbox.keyboard.press('Tab');
      stops += 1;
    } while ((await active(inbox)).text !== 'Envoyer cette réponse' && stops < 8);
    assert.equal((await active(inbox)).text, 'Envoyer cette réponse', `the first result's button, ${stops} Tab away`);
    const entryId = await inbox.locator('ol.found > li').first().locator('input[name=entry]').getAttribute('value');
    await inbox.keyboard.press('Enter');
    await inbox.locator('#statut', { hasText: 'Réponse validée envoyée' }).waitFor();
    assert.equal((await active(inbox)).id, 'statut', 'after sending, focus is on the status notice');
    const turn = await agentTurn(resident, 1);
    assert.deepEqual(words(await turn.locator('.g-agent-text').innerText()), markdownWords(corpusEntry(entryId).body));

    await tabTo(inbox, () => document.activeElement?.id === 'close-note');
    await inbox.keyboard.type('Vu au clavier.');
    await inbox.keyboard.press('Tab');
    assert.equal((await active(inbox)).text, 'Clore la demande');
    await inbox.keyboard.press('Enter');
    await inbox.locator('#statut', { hasText: 'Demande close' }).waitFor();
    assert.equal((await active(inbox)).id, 'statut', 'after closing, focus is on the status notice');
    await axe(inbox, 'ticket, closed');
    noProblems(inbox);
    noProblems(resident);
    await inbox.close();
    await resident.close();
  });
});
