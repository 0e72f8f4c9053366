/**
 * Route sets of the box's dialogs (RFC 3261 12.1.1, 12.2.1.1, 16.12): the proxies that record-routed the INVITE
 * stay on the path of every later request in the dialog, both ways.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseUri, stringifyUri, type Message, type Remote, type Uri } from './stack.ts';

/** One proxy of a dialog's route set, as its Record-Route named it. */
export interface RouteHop {
  /** The URI as it goes into Route headers. */
  uri: string;
  /** A loose router (;lr); without it the proxy is a strict router (RFC 2543) and wants its URI as Request-URI. */
  loose: boolean;
}

/** How the box sends a request within a dialog. */
export interface DialogPath {
  /** Request-URI. */
  uri: string;
  /** Route header entries, in order; empty: none. */
  route: string[];
  /** The URI whose host, port and transport say where the request goes first; null: back where the peer last spoke from. */
  nextHop: string | null;
}

/** The Record-Route entries of a request in the order the UAS keeps them (top first), as URI texts. */
export function recordRoutes(rq: Message): RouteHop[] {
  const rr = rq.headers['record-route'];
  if (!Array.isArray(rr)) return [];
  const hops: RouteHop[] = [];
  for (const entry of rr) {
    const raw = entry.uri as unknown;
    const parsed = typeof raw === 'string' ? parseUri(raw) : (raw as Uri | undefined);
    if (!parsed?.host) continue;
    hops.push({ uri: typeof raw === 'string' ? raw : stringifyUri(parsed), loose: parsed.params !== undefined && 'lr' in parsed.params });
  }
  return hops;
}

/** The route set of the UAC side of a dialog (RFC 3261 12.1.2): the 2xx's Record-Route in reverse order. */
export function recordRoutesOfResponse(rs: Message): RouteHop[] {
  return recordRoutes(rs).reverse();
}

/** Record-Route to copy into a response that makes or confirms the dialog (RFC 3261 12.1.1): exactly what came. */
export function copiedRecordRoute(rq: Message): Message['headers']['record-route'] {
  const rr = rq.headers['record-route'];
  return Array.isArray(rr) && rr.length ? rr : undefined;
}

/** Request-URI, Route headers and first hop for a request of the UAS side of a dialog (RFC 3261 12.2.1.1). */
export function dialogPath(routeSet: readonly RouteHop[], remoteTarget: string): DialogPath {
  const first = routeSet[0];
  if (!first) return { uri: remoteTarget, route: [], nextHop: null };
  if (first.loose) return { uri: remoteTarget, route: routeSet.map((h) => h.uri), nextHop: first.uri };
  // A strict router: its URI (without parameters a Request-URI may not carry) is the Request-URI, the remote target goes last.
  return { uri: requestUriOf(first.uri), route: [...routeSet.slice(1).map((h) => h.uri), remoteTarget], nextHop: first.uri };
}

function requestUriOf(uri: string): string {
  const parsed = parseUri(uri);
  if (!parsed) return uri;
  const params = { ...parsed.params };
  delete params.method;
  return stringifyUri({ ...parsed, params, headers: undefined });
}

/**
 * Where a URI's request goes (RFC 3263 without SRV/NAPTR: the offices' proxies record-route with an address or a
 * name with A/AAAA records): its transport parameter (sips: TLS), its host and its port (5060, TLS 5061).
 */
export async function hopAddress(uri: string): Promise<Pick<Remote, 'protocol' | 'address' | 'port'>> {
  const parsed = parseUri(uri);
  if (!parsed?.host) throw new Error(`route "${uri.slice(0, 80)}" has no host`);
  const secure = /^sips$/i.test(parsed.schema ?? '');
  const transport = String(parsed.params?.transport ?? '').toLowerCase();
  const protocol = secure || transport === 'tls' ? 'TLS' : transport === 'tcp' ? 'TCP' : 'UDP';
  const host = parsed.host.replace(/^\[(.*)\]$/, '$1');
  const address = isIP(host) ? host : (await lookup(host)).address;
  const port = Number(parsed.port);
  return { protocol, address, port: Number.isInteger(port) && port > 0 && port < 65536 ? port : protocol === 'TLS' ? 5061 : 5060 };
}

/** The most proxies a registration's Path may name, and the longest it may be when stored. */
const MAX_PATH_HOPS = 4;
const MAX_PATH_TEXT = 1000;

/**
 * The Path of a REGISTER (RFC 3327): the proxies it came through that stay on the way to the phone, top first, as
 * the Route URIs a request to the phone carries. An error says what is wrong with it.
 */
export function registrationPath(rq: Message): { ok: true; path: string[] } | { ok: false; error: string } {
  const entries = (rq.headers as Record<string, unknown>).path;
  if (entries === undefined) return { ok: true, path: [] };
  if (!Array.isArray(entries)) return { ok: false, error: 'Path header unreadable' };
  const path: string[] = [];
  for (const entry of entries as Array<{ uri?: unknown }>) {
    const raw = entry?.uri;
    const parsed = typeof raw === 'string' ? parseUri(raw) : (raw as Uri | undefined);
    if (!parsed?.host) return { ok: false, error: 'Path names a proxy without an address' };
    path.push(typeof raw === 'string' ? raw : stringifyUri(parsed));
  }
  if (path.length > MAX_PATH_HOPS) return { ok: false, error: `Path names more than ${MAX_PATH_HOPS} proxies` };
  if (JSON.stringify(path).length > MAX_PATH_TEXT) return { ok: false, error: `Path is longer than ${MAX_PATH_TEXT} characters` };
  return { ok: true, path };
}
