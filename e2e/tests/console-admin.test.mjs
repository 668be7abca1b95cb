// guichet e2e: the console's local accounts and administration, in Chromium. An admin
// (created as `make run` does, with `guichet staff add`) signs in with a password (a wrong
// one first), creates an agent's account in the administration page, the agent opens the
// one-time set-up link, chooses a password and lands in the console without the
// administration section; the audit log shows what happened. axe on every screen, 200 %
// zoom, screenshots under target/e2e/.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BASE, axe, launch, newPage, shot } from './lib.mjs';

const BIN = process.env.GUICHET_BIN;
const PASSWORD = 'une phrase de passe pour le test';
const browsers = [];

after(async () => {
  await Promise.all(browsers.map((b) => b.close()));
});

function addStaff(email, name, role) {
  execFileSync(BIN, ['staff', 'add', email, '--name', name, '--role', role], {
    env: { ...process.env, GUICHET_STAFF_PASSWORD: PASSWORD },
    stdio: 'pipe',
  });
}

async function signIn(page, email, password) {
  await page.goto(`${BASE}/console/login`);
  await page.getByLabel('Adresse e-mail').fill(email);
  await page.getByLabel('Mot de passe').fill(password);
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Se connecter' }).click()]);
}

/** No horizontal scrolling at 200 % zoom (a 1280 px screen seen as 640 CSS px). */
async function reflows(page, label) {
  await page.setViewportSize({ width: 640, height: 800 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.setViewportSize({ width: 1280, height: 800 });
  assert.ok(wide <= 1, `${label}: ${wide} px of horizontal scrolling at 200 % zoom`);
}

describe('console: local accounts and administration', () => {
  test('an admin signs in, creates an agent whose set-up link signs them in without admin rights, and the audit log shows it', async () => {
    const admin = `dominique.${Date.now()}@belleval.example`;
    addStaff(admin, 'Dominique', 'admin');
    const browser = await launch();
    browsers.push(browser);
    // The refused sign-in (401), the refused page (403) and the used link (410) are expected.
    const page = await newPage(browser.context, { allowFailed: ['status of 401'] });

    // A wrong password: a clear message, the email kept, nothing said about the account.
    await signIn(page, admin, 'pas le bon mot de passe');
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /Adresse e-mail ou mot de passe incorrect/);
    assert.equal(await page.getByLabel('Adresse e-mail').inputValue(), admin);
    await axe(page, 'sign-in page with an error');
    await shot(page, 'console-login-error.png');

    await signIn(page, admin, PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/console/');
    await page.locator('header .who').getByText('Dominique').waitFor();
    await axe(page, 'console home (admin)');
    await shot(page, 'console-home.png', { fullPage: true });
    await reflows(page, 'console home');

    // The administration page: create an agent's account.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Administration' }).click();
    await page.waitForURL(/\/console\/admin\/staff$/);
    const agent = `karim.${Date.now()}@belleval.example`;
    const form = page.locator('form[aria-labelledby="ajouter"]');
    await form.getByLabel('Adresse e-mail').fill(agent);
    await form.getByLabel(/Nom affiché/).fill('Karim');
    await Promise.all([page.waitForLoadState('load'), form.getByRole('button', { name: 'Créer le compte' }).click()]);
    const status = page.getByRole('status');
    await status.waitFor();
    const link = (await status.locator('code').innerText()).trim();
    assert.match(link, /\/console\/setup\/[0-9a-f]{64}$/, link);
    await axe(page, 'administration: accounts');
    await shot(page, 'console-admin-staff.png', { fullPage: true });
    await reflows(page, 'administration: accounts');

    // The agent, in another browser, opens the link and chooses a password.
    const other = await launch();
    browsers.push(other);
    const agentPage = await newPage(other.context, { allowFailed: ['status of 403', 'status of 410'] });
    await agentPage.goto(new URL(new URL(link).pathname, BASE).href);
    await agentPage.getByText('Bonjour Karim').waitFor();
    await axe(agentPage, 'set-up page');
    await shot(agentPage, 'console-setup.png');
    await agentPage.getByLabel('Nouveau mot de passe').fill('karim choisit une phrase');
    await agentPage.getByLabel('Le même, une seconde fois').fill('karim choisit une phrase');
    await Promise.all([agentPage.waitForLoadState('load'), agentPage.getByRole('button', { name: /Enregistrer/ }).click()]);
    assert.equal(new URL(agentPage.url()).pathname, '/console/');
    await agentPage.locator('header .who').getByText('Karim').waitFor();
    const nav = agentPage.getByRole('navigation', { name: 'Sections' });
    assert.equal(await nav.getByRole('link', { name: 'Administration' }).count(), 0, 'an agent is not offered administration');
    // ...and the server refuses it anyway.
    const refused = await agentPage.goto(`${BASE}/console/admin/staff`);
    assert.equal(refused.status(), 403);
    await axe(agentPage, 'access refused page');
    // The link worked once.
    const again = await agentPage.goto(new URL(new URL(link).pathname, BASE).href);
    assert.equal(again.status(), 410);

    // The audit log.
    await page.goto(`${BASE}/console/admin/audit`);
    const table = page.locator('table');
    await table.getByText('staff.add').first().waitFor();
    assert.ok(await table.getByText(agent).count() >= 2, 'the account created and its password set are both logged');
    await axe(page, 'audit log');
    await shot(page, 'console-audit.png', { fullPage: true });

    // Services' contacts and hours, and the coverage report inside the console.
    await page.goto(`${BASE}/console/admin/services`);
    await page.getByRole('heading', { name: 'Service État civil' }).waitFor();
    await axe(page, 'administration: services');
    await shot(page, 'console-admin-services.png');
    await reflows(page, 'administration: services');
    await page.goto(`${BASE}/console/coverage/report?days=7`, { timeout: 120_000 });
    await page.getByRole('heading', { name: /Rapport de couverture/ }).waitFor();
    await page.getByRole('navigation', { name: 'Sections' }).waitFor();
    await axe(page, 'coverage report in the console');
    await shot(page, 'console-report.png', { fullPage: true });
    await reflows(page, 'coverage report in the console');
    assert.deepEqual([...page.problems, ...agentPage.problems], [], 'no script or console error');
  });
});
