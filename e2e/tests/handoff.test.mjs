// guichet e2e: a person takes over a web conversation. The resident asks for a person in
// the widget, an agent takes the ticket and answers through the agents' API, the answer
// appears in the open widget without a reload, with the agent's first name; the agent
// closes the ticket and the assistant answers again. Also: validated answers keep coming
// while the ticket waits, the person can cancel, and a reload keeps everything once.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, agentApi, askInWidget, axe, corpusEntry, launch, markdownWords, newestWebTicket,
  newPage, openWidget, shot, widgetMessages, words,
} from './lib.mjs';

const HOURS_ENTRY = 'horaires-mairie';
const AGENT_TEXT = 'Bonjour, je suis Camille, de l\u2019accueil. Votre dossier est bien arrivé : vous pouvez venir le retirer dès jeudi.';

let browser;
let messages;

before(async () => {
  browser = await launch();
  messages = await widgetMessages('fr');
});

after(async () => {
  await browser?.close();
});

function noProblems(page) {
  assert.deepEqual(page.problems, [], 'no script error, no console error');
}

async function askForPerson(page) {
  const reply = page.waitForResponse((r) => r.url().endsWith('/v1/chat') && r.request().method() === 'POST');
  await page.locator('.g-human').click();
  const body = await (await reply).json();
  assert.equal(body.outcome, 'handoff', JSON.stringify(body));
  assert.equal(body.ticket?.status, 'open', JSON.stringify(body));
  await page.locator('.g-ticket').waitFor();
  return body;
}

describe('a person takes over', () => {
  test('resident asks for a person, an agent takes the ticket and replies, the reply appears live, the agent closes it and the assistant answers again', async () => {
    const page = await newPage(browser.context, { allowFailed: ['/v1/feedback'] });
    await page.goto(`${BASE}/`);
    await openWidget(page);
    const asked = await askForPerson(page);

    // The widget says what happens next, in the validated words, and offers to cancel.
    const box = page.locator('.g-ticket');
    const notice = asked.ticket.attended ? messages.messages.ticket_waiting : messages.messages.ticket_unattended;
    assert.equal(asked.ticket.notice, notice);
    assert.equal((await box.locator('.g-ticket-notice').innerText()).trim(), notice);
    assert.equal(await box.getAttribute('role'), 'status');
    assert.ok(await box.locator('.g-cancel').isVisible());
    assert.equal(await page.locator('.g-human').isVisible(), false, 'no second request while one is open');
    await axe(page, 'ticket open, waiting');
    await shot(page, '20-ticket-waiting.png');

    // While it waits, a validated answer still comes word for word.
    const hours = corpusEntry(HOURS_ENTRY);
    const { body: answered, turn: answerTurn } = await askInWidget(page, hours.question);
    assert.equal(answered.outcome, 'answer', JSON.stringify(answered));
    assert.equal(answered.entry.answer, hours.body);
    assert.deepEqual(words(await answerTurn.locator('.g-answer-text').innerText()), markdownWords(hours.body));
    assert.ok(await box.isVisible(), 'the request is still open');

    // The agent finds the ticket with both questions, takes it and answers.
    const ticket = await newestWebTicket();
    assert.ok(ticket.questions.includes('Je veux parler à une personne'), JSON.stringify(ticket));
    assert.ok(ticket.questions.includes(hours.question), JSON.stringify(ticket));
    const claimed = await agentApi('POST', `/v1/handoffs/${ticket.id}/claim`, { agent: 'Camille' });
    assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
    const second = await agentApi('POST', `/v1/handoffs/${ticket.id}/claim`, { agent: 'Karim' });
    assert.equal(second.status, 409);
    assert.equal(second.body.error.claimed_by, 'Camille');
    const sent = await agentApi('POST', `/v1/handoffs/${ticket.id}/reply`, { text: AGENT_TEXT, agent: 'Camille' });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));

    // It appears in the open widget, without a reload, with who wrote it.
    const agentTurn = page.locator('.g-turns > li.g-agent');
    await agentTurn.waitFor({ timeout: 20_000 });
    assert.equal((await agentTurn.locator('.g-agent-text').innerText()).trim(), AGENT_TEXT);
    assert.equal((await agentTurn.locator('.g-who').innerText()).trim(), 'Camille');
    assert.match(await agentTurn.locator('.g-sr').innerText(), /Camille \(agent\)/);
    await box.locator('.g-ticket-agent', { hasText: 'Camille a pris votre demande.' }).waitFor();
    await axe(page, 'an agent answered');
    await shot(page, '21-agent-replied.png');

    // A reload keeps the conversation, and the agent's message appears once.
    await page.reload();
    await page.locator('.g-turns > li.g-agent').waitFor();
    await page.waitForTimeout(4000); // at least one poll after the reload
    assert.equal(await page.locator('.g-turns > li.g-agent').count(), 1);
    assert.ok(await page.locator('.g-ticket').isVisible());

    // The agent closes the ticket: the widget says so and the assistant is back.
    const resolved = await agentApi('POST', `/v1/handoffs/${ticket.id}/resolve`);
    assert.equal(resolved.status, 200);
    const closed = page.locator('.g-turns > li.g-event', { hasText: messages.messages.ticket_resolved });
    await closed.waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('.g-ticket').isVisible(), false);
    assert.ok(await page.locator('.g-human').isVisible());
    const { body: back } = await askInWidget(page, 'Quelle est la couleur préférée du maire ?');
    assert.equal(back.outcome, 'handoff');
    assert.equal(back.handoff.reason, 'low_confidence', 'a new hand-off, not "a person has your conversation"');
    await shot(page, '22-ticket-resolved.png');
    noProblems(page);
    await page.close();
  });

  test('the person can cancel their request; the agent sees it was the person', async () => {
    const page = await newPage(browser.context);
    await page.goto(`${BASE}/`);
    await openWidget(page);
    await askForPerson(page);
    const ticket = await newestWebTicket();
    const cancelled = page.waitForResponse((r) => r.url().includes('/cancel'));
    await page.locator('.g-cancel').click();
    assert.equal((await cancelled).status(), 200);
    await page.locator('.g-turns > li.g-event', { hasText: messages.messages.ticket_cancelled }).waitFor();
    assert.equal(await page.locator('.g-ticket').isVisible(), false);
    const { body } = await agentApi('GET', '/v1/handoffs?status=resolved');
    const mine = body.tickets.find((t) => t.id === ticket.id);
    assert.equal(mine?.closed_by, 'person', JSON.stringify(mine));
    await axe(page, 'request cancelled');
    await shot(page, '23-ticket-cancelled.png');
    noProblems(page);
    await page.close();
  });
});
