// A real OpenID Connect provider (the `oidc-provider` package) on loopback,
// for the control plane's federated-login tests and for `make up` without an
// identity provider of its own. NOT for production: anyone may sign in as any
// email address (there is no password), which is what a test needs.
//
//   node provider.mjs            # listens on 127.0.0.1:$CP_OIDC_PORT (55090)
//
// Issuer: http://127.0.0.1:<port>. Signing keys (RS256 and ES256) are made at
// start, so every run publishes a new JWKS.
//
// Clients (confidential, PKCE required, `native` so any loopback port of the
// registered redirect URI is accepted, RFC 8252):
//   control-plane / control-plane-secret  RS256  .../api/v1/auth/callback
//                                          (the control plane's browser login)
//   cp-cli / cp-cli-secret                ES256  http://127.0.0.1/callback
//                                          (a first-party app whose ID tokens
//                                          /auth/oidc-token also accepts)
//   other-app / other-app-secret          RS256  http://127.0.0.1/callback
//                                          (someone else's app: its ID tokens
//                                          carry the wrong audience)
//
// Sign-in: GET /interaction/<uid> shows a form with one field, `email`;
// POST /interaction/<uid>/login signs that email in (sub = the email).
// Consent is granted without asking. Accounts whose local part starts with
// `unverified` have `email_verified: false`; those starting with `expiring`
// get ID tokens that live 1 second (CP_OIDC_ID_TOKEN_TTL seconds otherwise,
// default 600).

import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.CP_OIDC_PORT || 55090);
const issuer = `http://127.0.0.1:${port}`;
const idTokenTtl = Number(process.env.CP_OIDC_ID_TOKEN_TTL || 600);

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${Date.now().toString(36)}` };
}

function client(clientId, alg, redirectUris) {
  return {
    client_id: clientId,
    client_secret: `${clientId}-secret`,
    application_type: 'native',
    redirect_uris: redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
  };
}

function account(accountId) {
  const local = accountId.split('@')[0] || '';
  return {
    accountId,
    async claims() {
      return {
        sub: accountId,
        email: accountId,
        email_verified: !local.startsWith('unverified'),
        name: local,
      };
    },
  };
}

const provider = new Provider(issuer, {
  clients: [
    client('control-plane', 'RS256', [
      'http://127.0.0.1/api/v1/auth/callback',
      'http://localhost/api/v1/auth/callback',
    ]),
    client('cp-cli', 'ES256', ['http://127.0.0.1/callback']),
    client('other-app', 'RS256', ['http://127.0.0.1/callback']),
  ],
  jwks: {
    keys: [
      signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
      signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  },
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'email', 'profile'],
  pkce: { required: () => true },
  // Scope claims (email, email_verified, name) in the ID token itself, not
  // only at the userinfo endpoint: the control plane reads the ID token.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (_ctx, id) => account(id),
  cookies: { keys: [`cp-test-oidc-${Date.now()}`] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    IdToken: (_ctx, token) => (String(token.available?.sub || '').startsWith('expiring') ? 1 : idTokenTtl),
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

function html(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html><body>${body}</body></html>`);
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The interaction pages: a one-field login form, and consent granted at once.
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return html(res, 400, 'interaction mismatch');
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (req.method === 'POST' && action === 'login') {
      const email = ((await formBody(req)).get('email') || '').trim().toLowerCase();
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) return html(res, 400, 'an email is required');
      return provider.interactionFinished(req, res, { login: { accountId: email } }, {
        mergeWithLastSubmission: false,
      });
    }
    return html(res, 200, `<h1>Sign in to the test identity provider</h1>
      <p>Client: ${escape(params.client_id)}</p>
      <form method="post" action="/interaction/${escape(uid)}/login">
        <input type="email" name="email" autofocus required>
        <button type="submit">Sign in</button>
      </form>`);
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
  }
  return html(res, 400, `unsupported prompt ${escape(prompt.name)}`);
}

const handle = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login))?(?:\?.*)?$/.exec(req.url || '');
  if (!match) return handle(req, res);
  interaction(req, res, match[1], match[2]).catch((err) => {
    html(res, 400, escape(err.message || 'interaction failed'));
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${issuer}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
