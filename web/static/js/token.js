/**
 * Where a join token comes from, in order: the URL fragment
 * (`#token=…&session=…`), the embedding page (`postMessage` of
 * `{type: "sanctuary-token", token, session}` from an allowed origin), or in
 * dev mode the server's `/dev/token` endpoint. No DOM; `window`, `location`
 * and `fetch` are passed in so the rules are tested in node.
 * @module token
 */

/**
 * @typedef {object} TokenGrant
 * @property {string} token
 * @property {string} [session]
 */

/**
 * Reads a token from a URL fragment such as `#token=eyJ…&session=demo`.
 * @param {string} hash location.hash
 * @returns {TokenGrant|null}
 */
export function tokenFromFragment(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token');
  if (!token) return null;
  return { token, session: params.get('session') ?? undefined };
}

/**
 * The origins allowed to send a token by postMessage: this page's own
 * origin, plus those listed in the `origins` query parameter (comma
 * separated; `parentOrigin` is accepted too). Entries that are not exactly
 * an origin (scheme://host[:port]) are ignored; `*` is never allowed.
 * @param {string} search location.search
 * @param {string} selfOrigin location.origin
 * @returns {string[]}
 */
export function allowedOrigins(search, selfOrigin) {
  const params = new URLSearchParams(search);
  const listed = [params.get('origins'), params.get('parentOrigin')]
    .filter(Boolean)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => {
      try {
        return new URL(v).origin === v;
      } catch {
        return false;
      }
    });
  return [...new Set([selfOrigin, ...listed])];
}

/**
 * Checks one message event for a token from an allowed origin.
 * @param {{origin: string, data: any}} event a MessageEvent
 * @param {string[]} allowed from allowedOrigins
 * @returns {TokenGrant|null}
 */
export function tokenFromMessage(event, allowed) {
  if (!allowed.includes(event.origin)) return null;
  const d = event.data;
  if (!d || d.type !== 'sanctuary-token' || typeof d.token !== 'string' || !d.token) return null;
  return { token: d.token, session: typeof d.session === 'string' ? d.session : undefined };
}

/**
 * Listens for tokens sent by the embedding page and tells it the client is
 * ready (`{type: "sanctuary-ready"}` to each allowed origin).
 * @param {Window} win this window
 * @param {string[]} allowed from allowedOrigins
 * @param {(grant: TokenGrant) => void} onToken called for every valid token
 * @returns {() => void} stops listening
 */
export function listenForEmbedToken(win, allowed, onToken) {
  const handler = (e) => {
    const grant = tokenFromMessage(e, allowed);
    if (grant) onToken(grant);
  };
  win.addEventListener('message', handler);
  if (win.parent && win.parent !== win) {
    for (const origin of allowed) {
      try {
        win.parent.postMessage({ type: 'sanctuary-ready' }, origin);
      } catch {
        // a malformed origin: skip it
      }
    }
  }
  return () => win.removeEventListener('message', handler);
}

/**
 * Reports whether the server runs in dev mode (its /dev/token, asked with
 * no parameters, answers {"dev": true}; outside dev mode it is a 404).
 * @param {typeof fetch} fetchImpl
 * @returns {Promise<boolean>}
 */
export async function devModeAvailable(fetchImpl) {
  try {
    const res = await fetchImpl('/dev/token', { cache: 'no-store' });
    if (!res.ok) return false;
    const body = await res.json();
    return body?.dev === true;
  } catch {
    return false;
  }
}

/**
 * Gets a dev token from the server (dev mode only).
 * @param {typeof fetch} fetchImpl
 * @param {{session: string, role: string, user: string}} o
 * @returns {Promise<string>}
 */
export async function devToken(fetchImpl, o) {
  const q = new URLSearchParams({ session: o.session, role: o.role, user: o.user });
  const res = await fetchImpl(`/dev/token?${q}`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`dev token: HTTP ${res.status}`);
  const body = await res.json();
  return body.token;
}
