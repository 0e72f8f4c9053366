import type { AuthFailureReason } from './auth-records.ts';
import { digestResponse, type DigestAlgorithm, type DigestCredentials } from './digest.ts';

/**
 * Why a known extension's digest answer was refused, for the admin: the phone gets the same challenge whatever the
 * reason. Called only after the answer failed; recomputes the answer the password would have given.
 */
export function diagnoseDigest(
  creds: DigestCredentials,
  method: string,
  ha1s: { md5: string; sha256: string },
  box: { realm: string; uriMatches: boolean },
): AuthFailureReason {
  if (creds.realm !== box.realm) return 'phone answered for another realm';
  if (!box.uriMatches) return 'answer was made for another address';
  const named = (creds.algorithm ?? 'MD5').toUpperCase();
  const sess = named.endsWith('-SESS');
  const base = sess ? named.slice(0, -5) : named;
  if (base !== 'MD5' && base !== 'SHA-256') return 'phone answered with an algorithm the box does not offer';
  const response = creds.response.toLowerCase();
  const expect = (algorithm: DigestAlgorithm) => {
    try {
      return digestResponse({
        algorithm,
        sess,
        ha1: algorithm === 'MD5' ? ha1s.md5 : ha1s.sha256,
        nonce: creds.nonce,
        cnonce: creds.cnonce ?? '',
        nc: creds.nc ?? '',
        qop: creds.qop,
        method,
        uri: creds.uri,
      });
    } catch {
      return '';
    }
  };
  // The right password, but the nonce is not one the box will take now (made by another box, or tampered with).
  if (response === expect(base)) return 'phone answered an expired or foreign challenge';
  // An MD5-sized answer, or MD5 worked out under the SHA-256 label: the phone does not really do SHA-256.
  if (base === 'SHA-256' && (/^[0-9a-f]{32}$/.test(response) || response === expect('MD5'))) return 'phone answered the SHA-256 challenge wrongly';
  return 'wrong password';
}
