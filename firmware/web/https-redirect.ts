import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Sends a plain HTTP request to the same host name over HTTPS: 301 for GET and HEAD, 308 (which keeps
 * the method and body) for the rest. A request without a usable Host header gets 400.
 */
export function redirectToHttps(req: IncomingMessage, res: ServerResponse, httpsPort: number): void {
  const host = String(req.headers.host ?? '');
  let name = '';
  try {
    if (host) name = new URL(`http://${host}`).hostname;
  } catch {
    name = '';
  }
  req.resume();
  if (!name) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
    res.end('Open the page with https:// and the box\'s address.\n');
    return;
  }
  const url = req.url ?? '/';
  const path = url.startsWith('/') ? url : '/';
  const location = `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${path}`;
  const method = req.method ?? 'GET';
  res.writeHead(method === 'GET' || method === 'HEAD' ? 301 : 308, { location, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}
