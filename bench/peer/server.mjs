// node-oidc-provider configured like SatuAkun, as the comparison peer for bench/run.py.
//
//   node bench/peer/server.mjs [PORT]      (or PORT=... in the environment; default 3900)
//
// Listens on 127.0.0.1 only. State (grants, tokens, sessions) lives in process memory: in
// flat_adapter.mjs (O(1) Maps; see there why not the built-in development adapter, which
// PEER_ADAPTER=builtin selects instead). SatuAkun keeps its state in PostgreSQL. Prints "READY <issuer>" on stdout
// once it accepts connections, and exits on SIGTERM/SIGINT.
//
// What is set to match SatuAkun (bench/README.md "Equivalence"):
//   - ID tokens signed ES256 with a P-256 key generated in-process at start
//   - opaque access tokens (the provider's default format), TTL 600 s; ID token TTL 300 s
//   - refresh tokens issued to bench-rp (issueRefreshToken), never rotated for confidential
//     clients (rotateRefreshToken), absolute lifetime 12 h
//   - PKCE S256 required for every authorization request
//   - features: clientCredentials, introspection, revocation, userinfo, devInteractions
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

import FlatAdapter from './flat_adapter.mjs';

const port = Number.parseInt(process.argv[2] || process.env.PORT || '3900', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`server.mjs: bad port ${process.argv[2] || process.env.PORT}`);
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `bench-es256-${randomBytes(4).toString('hex')}`,
  alg: 'ES256',
  use: 'sig',
};

// One demo account; devInteractions accepts any login, which becomes the accountId.
// The claims mirror what SatuAkun's UserInfo returns for the bench citizen.
async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims(_use, _scope) {
      return {
        sub: id,
        name: 'Bench Citizen',
        birthdate: '1990-01-01',
        email: 'bench@example.test',
        email_verified: true,
      };
    },
  };
}

const configuration = {
  ...(process.env.PEER_ADAPTER === 'builtin' ? {} : { adapter: FlatAdapter }),
  clients: [
    {
      client_id: 'bench-rp',
      client_secret: 'bench-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:9/cb'],
      scope: 'openid profile email offline_access',
      id_token_signed_response_alg: 'ES256',
    },
    {
      client_id: 'bench-svc',
      client_secret: 'bench-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api',
    },
  ],
  clientDefaults: {
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount,
  scopes: ['openid', 'offline_access', 'api'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'birthdate'],
    email: ['email', 'email_verified'],
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  pkce: {
    // Every authorization request must carry an S256 code_challenge (S256 is the only method v9 knows).
    required: () => true,
  },
  // Refresh tokens for bench-rp whether or not offline_access was granted (the default issues
  // them only with offline_access, which the provider drops unless prompt=consent).
  issueRefreshToken: async (_ctx, client) => client.clientId === 'bench-rp'
    && client.grantTypeAllowed('refresh_token'),
  // Confidential clients keep their refresh token; public ones (none here) would rotate.
  rotateRefreshToken: (ctx) => ctx.oidc.client.clientAuthMethod === 'none',
  ttl: {
    AccessToken: 600,
    ClientCredentials: 600,
    IdToken: 300,
    AuthorizationCode: 60,
    RefreshToken: 43200,
    Interaction: 600,
    Session: 43200,
    Grant: 43200,
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
server.keepAliveTimeout = 65_000;

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
