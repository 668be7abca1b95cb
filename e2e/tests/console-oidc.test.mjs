// guichet e2e: staff sign in to the console with the city's account (OpenID Connect). The
// identity provider is a real one, oidc-provider on loopback (e2e/oidc/provider.mjs,
// started by e2e/run.sh): from the console's sign-in page, the person goes to the
// provider's login page, signs in there and comes back signed in to /console/. A member of
// staff the provider gives no role to is told to wait for an administrator.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, axe, launch, newPage, shot } from './lib.mjs';

const ISSUER = process.env.GUICHET_OIDC_ISSUER;
const SSO_LINK = 'Se connecter avec le compte de la ville';

const browsers = [];

before(() => {
  assert.ok(ISSUER, 'GUICHET_OIDC_ISSUER is set by e2e/run.sh (the provider it started)');
});

after(async () => {
  await Promise.all(browsers.map((b) => b.close()));
});

/** A browser of its own: no cookie of guichet's or of the provider's carries over. */
async function freshBrowser() {
  const b = await launch();
  browsers.push(b);
  return b;
}

/** Only guichet's pages are held to "no console error": the provider's are its own. */
function noProblems(page) {
  const ours = page.problems.filter((p) => !p.includes(ISSUER));
  assert.deepEqual(ours, [], 'no script error, no console error');
}

/**
 * From guichet's sign-in page through the provider's login form (`login`, any password)
 * and back to guichet. Returns the authorization request the browser made.
 */
async function signInWithCityAccount(page, login) {
  await page.goto(`${BASE}/console/login`);
  const sso = page.getByRole('link', { name: SSO_LINK }).or(page.getByRole('button', { name: SSO_LINK }));
  await sso.waitFor();
  // A link, or a button of a form: either way it goes to /console/login/oidc.
  const target = await sso.evaluate((e) => (e.tagName === 'A' ? e.getAttribute('href') : e.form?.getAttribute('action')));
  assert.equal(new URL(target, BASE).pathname, '/console/login/oidc', `${SSO_LINK} leads to /console/login/oidc`);
  await axe(page, 'console sign-in page');

  const authorization = page.waitForRequest((r) => r.url().startsWith(`${ISSUER}/auth?`));
  await sso.click();
  const request = new URL((await authorization).url());
  await page.waitForURL((u) => u.origin === new URL(ISSUER).origin);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await Promise.all([
    page.waitForURL((u) => u.origin === new URL(BASE).origin, { timeout: 15_000 }),
    page.locator('button[type="submit"]').click(),
  ]);
  // The callback redirects once more, to the console or to the sign-in page's message.
  await page.waitForLoadState('load');
  return request;
}

describe('staff sign in with the city account (OpenID Connect)', () => {
  test('camille.sso signs in at the identity provider and lands on the console with her name and the requests', async () => {
    const { context } = await freshBrowser();
    const page = await newPage(context);
    const request = await signInWithCityAccount(page, 'camille.sso');

    // The authorization request guichet built: code flow, PKCE, back to its callback.
    const asked = Object.fromEntries(request.searchParams);
    assert.equal(asked.response_type, 'code');
    assert.equal(asked.code_challenge_method, 'S256');
    assert.ok(asked.code_challenge && asked.state && asked.nonce, JSON.stringify(asked));
    assert.deepEqual(asked.scope.split(' ').sort(), ['email', 'openid', 'profile']);
    assert.equal(asked.redirect_uri, `${BASE}/console/login/oidc/callback`);

    assert.equal(new URL(page.url()).pathname, '/console/', `signed in, at ${page.url()}`);
    await assert.doesNotReject(page.locator('header .who').getByText('Camille').waitFor(), 'her name in the header');
    assert.ok(await page.locator('nav').getByRole('link', { name: 'Demandes' }).isVisible(), 'the requests are in the nav');
    await axe(page, 'console, signed in with the city account');
    await shot(page, 'console-oidc-signed-in.png');
    noProblems(page);
  });

  test('sam.sso, whom the provider gives no role, is told an administrator has to give one', async () => {
    const { context } = await freshBrowser();
    const page = await newPage(context);
    await signInWithCityAccount(page, 'sam.sso');

    assert.equal(new URL(page.url()).origin, new URL(BASE).origin, `back on guichet, at ${page.url()}`);
    const text = await page.locator('body').innerText();
    assert.match(text, /administrateur/, text);
    assert.equal(
      await page.locator('nav').getByRole('link', { name: 'Demandes' }).count(),
      0,
      'no access to the requests without a role',
    );
    await axe(page, 'signed in, waiting for a role');
    await shot(page, 'console-oidc-no-role.png');
    noProblems(page);
  });
});
