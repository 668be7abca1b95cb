// The city's identity provider for the browser tests: oidc-provider (a certified OpenID
// Connect implementation) on loopback, so that the console's single sign-on is tested
// against a real provider, not a stand-in of our own.
//
//   OIDC_PORT=9000 OIDC_CLIENT_ID=guichet OIDC_CLIENT_SECRET=... \
//   OIDC_REDIRECT_URI=http://127.0.0.1:8080/console/login/oidc/callback node e2e/oidc/provider.mjs
//
// Issuer http://127.0.0.1:$OIDC_PORT. One confidential client (client_secret_basic), code
// flow only, PKCE required. The development login page (oidc-provider's own) accepts the
// accounts below with any password; consent is implied, as a city's provider does for its
// own applications. Prints `oidc-provider ready on <issuer>` once listening.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('OIDC_PORT'));
const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUri = required('OIDC_REDIRECT_URI');
const issuer = `http://127.0.0.1:${port}`;

// Claims as a city's directory would give them. `roles` is the claim guichet reads by
// default (GUICHET_OIDC_ROLES_CLAIM); sam.sso has none, as a new member of staff whom an
// administrator has not yet given a role.
const ACCOUNTS = {
  'camille.sso': {
    email: 'camille.sso@ville.example', given_name: 'Camille', name: 'Camille Martin', roles: ['agent'],
  },
  'dominique.sso': {
    email: 'dominique.sso@ville.example', given_name: 'Dominique', name: 'Dominique Bernard', roles: ['admin'],
  },
  'sam.sso': { email: 'sam.sso@ville.example', given_name: 'Sam', name: 'Sam Petit' },
};

// A key made at each start: without one, oidc-provider signs with a development key it
// warns about on every start.
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  .export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  // `roles` rides on the profile scope, which guichet asks for with openid and email.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'roles'],
  },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email_verified: true, ...account };
      },
    };
  },
  // No consent page: every scope and claim the client asks for is granted, as a city's
  // provider does for its own applications (Keycloak's "consent required" off).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'given_name', 'family_name', 'roles']);
    await grant.save();
    return grant;
  },
  // Set, so that oidc-provider does not print a notice for each default it falls back on.
  ttl: {
    Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600,
  },
  jwks: { keys: [{ ...signing, kid: 'e2e', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: true } },
});

// The development pages import a web font from a public host: the tests reach nothing but
// loopback, so the import is taken out of every page the provider serves.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https?:\/\/[^)]*\);?/g, '');
  }
});

// A failure inside the provider shows in the test's log, not only as a 500 page.
provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready on ${issuer}`);
});
