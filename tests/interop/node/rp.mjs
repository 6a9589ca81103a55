// Interop relying party: openid-client (panva, OpenID Certified RP library) against a
// running SatuAkun provider. Driven by tests/interop/test_openid_client.py.
//
// Input: the environment variable RP_CONFIG (or argv[2]) holds JSON:
//   {
//     "issuer": "http://127.0.0.1:PORT",
//     "citizen": {"nik": "...", "password": "..."},
//     "basic": {"client_id", "client_secret", "redirect_uri", "post_logout_redirect_uri", "alg"},
//     "pkjwt": {"client_id", "private_jwk", "redirect_uri", "alg"},
//     "dpop": {"client_id", "redirect_uri", "alg"}   (public client, dpop_bound_access_tokens)
//   }
// Output: one JSON line per step, {"step": NAME, "ok": true, ...observations}. The
// assertions live in the Python test; this script fails (exit 1, last line
// {"step", "ok": false, "error"}) only when a step cannot go on, e.g. when the library
// rejects a response (bad signature, iss, aud, nonce, state ...).
//
// The browser is simulated with fetch(redirect: 'manual') and a cookie jar: it follows the
// provider's redirects, fills the sign-in form and approves consent, and stops at the
// first redirect that leaves the provider (to the RP's redirect_uri, never contacted).

import { createHash, webcrypto } from 'node:crypto';
import * as client from 'openid-client';

const cfg = JSON.parse(process.env.RP_CONFIG ?? process.argv[2] ?? 'null');
if (!cfg || !cfg.issuer) {
  console.error('usage: RP_CONFIG=\'{"issuer": ...}\' node rp.mjs  (see the header of this file)');
  process.exit(2);
}
const issuer = new URL(cfg.issuer);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function describe(err) {
  const out = { name: err?.name, message: err?.message };
  for (const k of ['code', 'error', 'error_description', 'status']) {
    if (err?.[k] !== undefined) out[k] = err[k];
  }
  if (err?.cause !== undefined) {
    const c = err.cause;
    out.cause = c instanceof Error ? { name: c.name, message: c.message }
      : c instanceof URLSearchParams ? Object.fromEntries(c) : c;
  }
  // WWWAuthenticateChallengeError: the error code is in the parsed challenge.
  if (out.error === undefined && Array.isArray(err?.cause)) out.error = err.cause[0]?.parameters?.error;
  return out;
}

async function step(name, fn) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    emit({ step: name, ok: false, error: describe(err) });
    console.error(`rp.mjs: step "${name}" failed: ${err?.name}: ${err?.message}` +
      (err?.cause ? ` (cause: ${JSON.stringify(err.cause instanceof Error ? err.cause.message : err.cause)})` : ''));
    process.exit(1);
  }
  emit({ step: name, ok: true, ...result });
  return result;
}

function fail(message) {
  throw new Error(message);
}

// -- a minimal browser: cookie jar + manual redirects ---------------------------------------
const jar = new Map();

function storeCookies(resp) {
  for (const line of resp.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v = ''] = a.trim().split('=');
      if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
      if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
      return false;
    });
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

function cookieHeader() {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

// Follows redirects while they stay on the provider. Returns {leftTo: URL, status} when a
// redirect leaves the provider, or {page: URL, status, html} for a page.
async function navigate(url, { method = 'GET', form } = {}) {
  let current = new URL(url);
  const visited = [];
  for (let hops = 0; hops < 15; hops++) {
    const headers = { cookie: cookieHeader(), accept: 'text/html' };
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const resp = await fetch(current, { method, headers, body, redirect: 'manual' });
    storeCookies(resp);
    visited.push(`${method} ${current.pathname} -> ${resp.status}`);
    if (resp.status >= 300 && resp.status < 400) {
      const location = resp.headers.get('location') ?? fail(`${resp.status} without Location at ${current}`);
      const next = new URL(location, current);
      if (next.origin !== issuer.origin) return { leftTo: next, status: resp.status, visited };
      current = next;
      method = 'GET';
      form = undefined;
      continue;
    }
    return { page: current, status: resp.status, html: await resp.text(), visited };
  }
  fail(`too many redirects from ${url}`);
}

function csrfToken(html) {
  const input = html.match(/<input[^>]*name="csrf_token"[^>]*>/);
  const value = input?.[0].match(/value="([^"]*)"/);
  return value?.[1] ?? fail('no csrf_token in the form');
}

// Runs the front channel of an authorization request like a person would: sign in if asked,
// approve consent if asked. Returns the URL the provider finally redirected to.
async function browserAuthorize(authUrl) {
  let r = await navigate(authUrl);
  const pages = [];
  const visited = [...r.visited];
  for (let i = 0; i < 4 && !r.leftTo; i++) {
    const path = r.page.pathname;
    if (r.status !== 200) fail(`HTTP ${r.status} at ${path}: ${r.html.slice(0, 500)}`);
    if (/^\/interaction\/[^/]+\/login$/.test(path)) {
      pages.push('login');
      r = await navigate(r.page, {
        method: 'POST',
        form: { csrf_token: csrfToken(r.html), nik: cfg.citizen.nik, password: cfg.citizen.password },
      });
    } else if (/^\/interaction\/[^/]+\/consent$/.test(path)) {
      pages.push('consent');
      r = await navigate(r.page, { method: 'POST', form: { csrf_token: csrfToken(r.html), decision: 'approve' } });
    } else {
      fail(`unexpected page ${path}: ${r.html.slice(0, 500)}`);
    }
    visited.push(...r.visited);
  }
  if (!r.leftTo) fail(`the provider never redirected back (last page ${r.page})`);
  return { callback: r.leftTo, status: r.status, pages, visited };
}

// -- helpers ------------------------------------------------------------------------------------
function atHash(accessToken, alg) {
  // OIDC Core §3.1.3.6: left half of the hash of the ASCII octets, hash per the JWS alg.
  const bits = { ES256: 'sha256', RS256: 'sha256', PS256: 'sha256', ES384: 'sha384', RS384: 'sha384' }[alg];
  const digest = createHash(bits).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

function jwtHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString());
}

function tokenSummary(tokens) {
  const claims = tokens.claims();
  const header = tokens.id_token ? jwtHeader(tokens.id_token) : null;
  return {
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    has_access_token: typeof tokens.access_token === 'string',
    has_refresh_token: typeof tokens.refresh_token === 'string',
    has_id_token: typeof tokens.id_token === 'string',
    id_token_header: header,
    id_token_claims: claims ?? null,
    // at_hash is not checked by openid-client for the code flow (optional there): check it here.
    at_hash_expected: claims?.at_hash !== undefined ? atHash(tokens.access_token, header.alg) : null,
  };
}

// Calls UserInfo with a token that may be invalid: returns the HTTP outcome, not a throw.
async function userinfoOutcome(config, accessToken, expectedSub) {
  try {
    const body = await client.fetchUserInfo(config, accessToken, expectedSub);
    return { status: 200, body };
  } catch (err) {
    const status = err?.status ?? err?.response?.status ?? err?.cause?.status ?? null;
    const challenge = err?.cause?.[0] ?? null; // WWWAuthenticateChallengeError: cause = parsed challenges
    return {
      status,
      error: describe(err),
      www_authenticate: err?.response?.headers?.get?.('www-authenticate') ?? null,
      challenge_error: challenge?.parameters?.error ?? null,
    };
  }
}

async function configFor(c, auth) {
  const config = await client.discovery(
    issuer,
    c.client_id,
    { id_token_signed_response_alg: c.alg },
    auth,
    // Loopback test issuer over http; the ID token signature is verified against jwks_uri.
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
  );
  return config;
}

async function codeFlow(config, redirectUri, extra = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  const front = await browserAuthorize(authUrl);
  const params = Object.fromEntries(front.callback.searchParams);
  // Verifies state, iss (RFC 9207), then the code exchange with the PKCE verifier, then the
  // ID token: signature (JWKS), iss, aud, azp, exp, iat, nonce.
  const tokens = await client.authorizationCodeGrant(config, front.callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  return { front, params, tokens, state, nonce, authUrl };
}

// -- the run --------------------------------------------------------------------------------------
const basic = cfg.basic;
const pkjwt = cfg.pkjwt;

let basicConfig;
await step('discovery', async () => {
  basicConfig = await configFor(basic, client.ClientSecretBasic(basic.client_secret));
  const md = basicConfig.serverMetadata();
  return {
    issuer: md.issuer,
    authorization_endpoint: md.authorization_endpoint,
    token_endpoint: md.token_endpoint,
    userinfo_endpoint: md.userinfo_endpoint,
    jwks_uri: md.jwks_uri,
    revocation_endpoint: md.revocation_endpoint,
    end_session_endpoint: md.end_session_endpoint,
    code_challenge_methods_supported: md.code_challenge_methods_supported,
    token_endpoint_auth_methods_supported: md.token_endpoint_auth_methods_supported,
    authorization_response_iss_parameter_supported: md.authorization_response_iss_parameter_supported,
    supports_pkce: md.supportsPKCE(),
  };
});

let basicRun;
await step('basic_code_flow', async () => {
  basicRun = await codeFlow(basicConfig, basic.redirect_uri);
  return {
    pages: basicRun.front.pages,
    visited: basicRun.front.visited,
    final_redirect_status: basicRun.front.status,
    callback_origin_path: basicRun.front.callback.origin + basicRun.front.callback.pathname,
    callback_params: Object.keys(basicRun.params).sort(),
    callback_iss: basicRun.params.iss ?? null,
    state_echoed: basicRun.params.state === basicRun.state,
    sent_nonce: basicRun.nonce,
    auth_request_params: Object.fromEntries(new URL(basicRun.authUrl).searchParams),
    ...tokenSummary(basicRun.tokens),
    // Filled only when the library fetched jwks_uri to verify the ID token signature.
    jwks_cache_kids: (client.getJwksCache(basicConfig)?.jwks.keys ?? []).map((k) => k.kid),
  };
});
const basicSub = basicRun.tokens.claims().sub;
const basicIdToken = basicRun.tokens.id_token;

await step('basic_userinfo', async () => {
  // fetchUserInfo checks that userinfo.sub equals the ID token's sub.
  const body = await client.fetchUserInfo(basicConfig, basicRun.tokens.access_token, basicSub);
  return { body };
});

let basicRefreshed;
await step('basic_refresh', async () => {
  basicRefreshed = await client.refreshTokenGrant(basicConfig, basicRun.tokens.refresh_token);
  return {
    ...tokenSummary(basicRefreshed),
    access_token_changed: basicRefreshed.access_token !== basicRun.tokens.access_token,
    refresh_token_rotated: basicRefreshed.refresh_token !== undefined && basicRefreshed.refresh_token !== basicRun.tokens.refresh_token,
  };
});
const basicRefreshToken = basicRefreshed.refresh_token ?? basicRun.tokens.refresh_token;

await step('basic_userinfo_after_refresh', async () => {
  return await userinfoOutcome(basicConfig, basicRefreshed.access_token, basicSub);
});

await step('basic_revoke_access_token', async () => {
  await client.tokenRevocation(basicConfig, basicRefreshed.access_token, { token_type_hint: 'access_token' });
  const after = await userinfoOutcome(basicConfig, basicRefreshed.access_token, basicSub);
  const first = await userinfoOutcome(basicConfig, basicRun.tokens.access_token, basicSub);
  return { revoked: true, userinfo_after: after, other_access_token_status: first.status };
});

await step('basic_revoke_unknown_token', async () => {
  // RFC 7009 §2.2: an invalid token is answered with 200 too.
  await client.tokenRevocation(basicConfig, 'not-a-token-' + client.randomState());
  return { revoked: true };
});

// -- private_key_jwt client ------------------------------------------------------------------------
let pkjwtConfig;
let pkjwtRun;
await step('pkjwt_code_flow', async () => {
  const jwk = pkjwt.private_jwk;
  const key = await webcrypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  pkjwtConfig = await configFor(pkjwt, client.PrivateKeyJwt({ key, kid: jwk.kid }));
  // Same browser: the SSO session from the first flow should be reused (consent only).
  pkjwtRun = await codeFlow(pkjwtConfig, pkjwt.redirect_uri);
  return {
    pages: pkjwtRun.front.pages,
    callback_iss: pkjwtRun.params.iss ?? null,
    state_echoed: pkjwtRun.params.state === pkjwtRun.state,
    sent_nonce: pkjwtRun.nonce,
    ...tokenSummary(pkjwtRun.tokens),
    jwks_cache_kids: (client.getJwksCache(pkjwtConfig)?.jwks.keys ?? []).map((k) => k.kid),
  };
});
const pkjwtSub = pkjwtRun.tokens.claims().sub;

let pkjwtRefreshed;
await step('pkjwt_refresh', async () => {
  pkjwtRefreshed = await client.refreshTokenGrant(pkjwtConfig, pkjwtRun.tokens.refresh_token);
  const ui = await userinfoOutcome(pkjwtConfig, pkjwtRefreshed.access_token, pkjwtSub);
  return { ...tokenSummary(pkjwtRefreshed), userinfo: ui };
});

await step('client_auth_negative', async () => {
  // The same requests with the wrong credentials must fail client authentication.
  async function refreshError(config, refreshToken) {
    try {
      await client.refreshTokenGrant(config, refreshToken);
      return null;
    } catch (err) {
      return describe(err);
    }
  }
  const wrongSecret = await configFor(basic, client.ClientSecretBasic(basic.client_secret + 'x'));
  const otherKey = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const wrongKey = await configFor(pkjwt, client.PrivateKeyJwt({ key: otherKey.privateKey, kid: pkjwt.private_jwk.kid }));
  return {
    wrong_secret: await refreshError(wrongSecret, basicRefreshToken),
    wrong_private_key: await refreshError(wrongKey, pkjwtRefreshed.refresh_token ?? pkjwtRun.tokens.refresh_token),
  };
});

await step('pkjwt_revoke_refresh_token', async () => {
  const rt = pkjwtRefreshed.refresh_token ?? pkjwtRun.tokens.refresh_token;
  await client.tokenRevocation(pkjwtConfig, rt, { token_type_hint: 'refresh_token' });
  let refreshError = null;
  try {
    await client.refreshTokenGrant(pkjwtConfig, rt);
  } catch (err) {
    refreshError = describe(err);
  }
  // RFC 7009 §2.1: revoking a refresh token should also invalidate the grant's access tokens.
  const ui = await userinfoOutcome(pkjwtConfig, pkjwtRefreshed.access_token, pkjwtSub);
  return { refresh_after_revoke_error: refreshError, userinfo_status_after: ui.status };
});

// -- RP-initiated logout and a silent re-authentication ------------------------------------------
let logoutState;
await step('logout', async () => {
  logoutState = client.randomState();
  const url = client.buildEndSessionUrl(basicConfig, {
    id_token_hint: basicIdToken,
    post_logout_redirect_uri: basic.post_logout_redirect_uri,
    state: logoutState,
  });
  const cookiesBefore = [...jar.keys()].sort();
  const r = await navigate(url);
  return {
    end_session_params: Object.keys(Object.fromEntries(url.searchParams)).sort(),
    redirected: Boolean(r.leftTo),
    status: r.status,
    location: r.leftTo ? r.leftTo.origin + r.leftTo.pathname : null,
    location_params: r.leftTo ? Object.fromEntries(r.leftTo.searchParams) : null,
    state_echoed: r.leftTo ? r.leftTo.searchParams.get('state') === logoutState : false,
    page: r.leftTo ? null : { path: r.page.pathname, html: r.html.slice(0, 800) },
    cookies_before: cookiesBefore,
    cookies_after: [...jar.keys()].sort(),
  };
});

await step('prompt_none_after_logout', async () => {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authUrl = client.buildAuthorizationUrl(basicConfig, {
    redirect_uri: basic.redirect_uri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce: client.randomNonce(),
    prompt: 'none',
  });
  const r = await navigate(authUrl);
  if (!r.leftTo) fail(`prompt=none showed a page (${r.page.pathname}) instead of redirecting back`);
  const params = Object.fromEntries(r.leftTo.searchParams);
  // Let the library process the error response: it checks state and iss (RFC 9207) before
  // surfacing the error as AuthorizationResponseError.
  let libraryError = null;
  try {
    await client.authorizationCodeGrant(basicConfig, r.leftTo, { pkceCodeVerifier: codeVerifier, expectedState: state });
  } catch (err) {
    libraryError = describe(err);
  }
  return {
    status: r.status,
    location: r.leftTo.origin + r.leftTo.pathname,
    params,
    state_echoed: params.state === state,
    library_error: libraryError,
  };
});

// -- DPoP (RFC 9449): a public client whose tokens are bound to its key --------------------------
const dpopClient = cfg.dpop;
let dpopConfig;
let dpopHandle;
let dpopRun;
await step('dpop_code_flow', async () => {
  dpopConfig = await configFor(dpopClient, client.None());
  const md = dpopConfig.serverMetadata();
  dpopHandle = client.getDPoPHandle(dpopConfig, await client.randomDPoPKeyPair('ES256'));
  const jkt = await dpopHandle.calculateThumbprint();
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(dpopConfig, {
    redirect_uri: dpopClient.redirect_uri,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    dpop_jkt: jkt, // RFC 9449 §10: the code can only be redeemed with this key
  });
  const front = await browserAuthorize(authUrl);
  const tokens = await client.authorizationCodeGrant(dpopConfig, front.callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  }, undefined, { DPoP: dpopHandle });
  dpopRun = { tokens };
  return {
    dpop_signing_alg_values_supported: md.dpop_signing_alg_values_supported ?? null,
    ...tokenSummary(tokens),
  };
});
const dpopSub = dpopRun.tokens.claims().sub;

await step('dpop_userinfo', async () => {
  const body = await client.fetchUserInfo(dpopConfig, dpopRun.tokens.access_token, dpopSub, { DPoP: dpopHandle });
  // The same token without the key (a copy in an attacker's hands): as a bearer token.
  const stolen = await userinfoOutcome(dpopConfig, dpopRun.tokens.access_token, dpopSub);
  // And with a proof from another key.
  const otherHandle = client.getDPoPHandle(dpopConfig, await client.randomDPoPKeyPair('ES256'));
  let otherKey;
  try {
    await client.fetchUserInfo(dpopConfig, dpopRun.tokens.access_token, dpopSub, { DPoP: otherHandle });
    otherKey = { status: 200 };
  } catch (err) {
    otherKey = { status: err?.response?.status ?? err?.status ?? null, error: describe(err),
      www_authenticate: err?.response?.headers?.get?.('www-authenticate') ?? null };
  }
  return { body, stolen, other_key: otherKey };
});

await step('dpop_refresh', async () => {
  const refreshed = await client.refreshTokenGrant(dpopConfig, dpopRun.tokens.refresh_token, undefined, { DPoP: dpopHandle });
  const ui = await client.fetchUserInfo(dpopConfig, refreshed.access_token, dpopSub, { DPoP: dpopHandle });
  // The rotated refresh token is bound to the key: without it, refresh fails.
  let withoutKey = null;
  try {
    await client.refreshTokenGrant(dpopConfig, refreshed.refresh_token);
  } catch (err) {
    withoutKey = describe(err);
  }
  return { ...tokenSummary(refreshed), userinfo_sub: ui.sub, refresh_without_key_error: withoutKey };
});

emit({ step: 'done', ok: true });
