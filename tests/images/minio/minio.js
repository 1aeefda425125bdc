'use strict';
// MinIO's contract, as far as the stacks use it, around the s3rver S3 server:
// - `server DIR [--address HOST:PORT] [--console-address HOST:PORT]`;
// - credentials MINIO_ROOT_USER / MINIO_ROOT_PASSWORD: every S3 request must
//   carry an AWS signature v4 Authorization header made with them (s3rver
//   alone checks only the key ID, so the signature is verified here); the
//   payload hash is taken as declared, not recomputed;
// - bodies sent in signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, as the
//   MinIO Go SDK, restic's, sends them over plain HTTP), and the two
//   variants with trailing checksums: each chunk's signature verified, the
//   chunks joined and the object stored as sent (s3rver alone would store
//   the chunk framing with it); the trailers are dropped unchecked (their
//   checksums and x-amz-trailer-signature);
// - objects kept on disk under DIR, so a backup of the volume is real;
// - GET /minio/health/live and /minio/health/ready (200 once serving);
// - a console address that answers HTTP (a page, not MinIO's console).
// Anything else MinIO has (its console, admin API, IAM, policies) is absent.

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { Readable } = require('stream');
const S3rver = require('s3rver');
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');

function parseArgs(argv) {
  const [command, ...rest] = argv;
  if (command !== 'server') {
    throw new Error(`usage: minio server DIR [--address :9000] [--console-address :9001]`);
  }
  const options = { address: ':9000', consoleAddress: ':9001', directory: null, certsDir: null };
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i];
    const [flag, inline] = arg.split('=', 2);
    const value = () => (inline !== undefined ? inline : rest[++i]);
    if (flag === '--address') options.address = value();
    else if (flag === '--console-address') options.consoleAddress = value();
    else if (flag === '--certs-dir' || flag === '-S') options.certsDir = value();
    else if (!arg.startsWith('-') && options.directory === null) options.directory = arg;
    else throw new Error(`minio server: ${arg} is not supported by the S3 stand-in`);
  }
  if (options.directory === null) throw new Error('minio server: no data directory');
  return options;
}

const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
// RFC 3986 encoding, as signature v4 wants it.
const uriEncode = (text) => encodeURIComponent(text).replace(/[!'()*]/g,
  (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

// Returns null when the request is signed with the root credentials, else
// the S3 error code to answer with. A good request keeps what its chunks'
// signatures chain from in req.s3Signing.
function signatureError(req, user, password) {
  const auth = req.headers.authorization || '';
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!match) return 'AccessDenied';
  const [, keyId, date, region, signedHeaders, signature] = match;
  if (keyId !== user) return 'InvalidAccessKeyId';
  const [path, query = ''] = req.url.split('?', 2);
  const canonicalQuery = query.split('&').filter(Boolean)
    .map((pair) => pair.split('=', 2).map((part) => uriEncode(decodeURIComponent((part || '').replace(/\+/g, '%20')))))
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : (a < b ? -1 : 1)))
    .map(([key, value = '']) => `${key}=${value}`).join('&');
  const names = signedHeaders.split(';');
  const headers = names.map((name) => `${name}:${String(req.headers[name] || '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, path, canonicalQuery, headers, signedHeaders,
    req.headers['x-amz-content-sha256'] || 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope, sha256(canonical)].join('\n');
  let key = hmac(`AWS4${password}`, date);
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  const expected = hmac(key, toSign).toString('hex');
  const ok = crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  req.s3Signing = { key, scope, amzDate: req.headers['x-amz-date'], seed: signature };
  return ok ? null : 'SignatureDoesNotMatch';
}

// The chunked payloads S3 defines (x-amz-content-sha256).
const STREAMING = new Set(['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER']);

// A body in aws-chunked framing: "SIZE[;chunk-signature=SIG]\r\nDATA\r\n"
// again and again, a chunk of size 0 last, then trailer lines (checksums)
// and an empty line. Returns the data, or null when the framing or a
// chunk's signature (each chained from the previous one) is wrong.
function decodeChunks(body, signing, signed) {
  const parts = [];
  let at = 0;
  let previous = signing.seed;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) return null;
    const match = /^([0-9a-fA-F]+)(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(body.toString('latin1', at, eol));
    if (!match || (signed && !match[2])) return null;
    const size = parseInt(match[1], 16);
    const data = body.subarray(eol + 2, eol + 2 + size);
    if (data.length !== size) return null;
    if (signed) {
      const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, signing.scope, previous,
        sha256(''), sha256(data)].join('\n');
      const expected = hmac(signing.key, toSign).toString('hex');
      if (expected !== match[2]) return null;
      previous = expected;
    }
    at = eol + 2 + size;
    if (size === 0) {
      // Trailer lines ("name:value"), then an empty line, and nothing more.
      const rest = body.toString('latin1', at);
      return /^([A-Za-z0-9-]+:[^\r\n]*\r\n)*\r\n$/.test(rest) ? Buffer.concat(parts) : null;
    }
    if (body.toString('latin1', at, at + 2) !== '\r\n') return null;
    at += 2;
    parts.push(data);
  }
}

// The request as s3rver should see it: the chunks' data as its body.
function dechunked(req, data) {
  const headers = { ...req.headers, 'content-length': String(data.length),
    'x-amz-content-sha256': sha256(data) };
  delete headers['x-amz-decoded-content-length'];
  delete headers['x-amz-trailer'];
  delete headers['transfer-encoding'];
  const encoding = (headers['content-encoding'] || '').split(',').map((e) => e.trim())
    .filter((e) => e && e !== 'aws-chunked');
  if (encoding.length) headers['content-encoding'] = encoding.join(', ');
  else delete headers['content-encoding'];
  const copy = new Readable({ read() {} });
  copy.push(data);
  copy.push(null);
  return Object.assign(copy, {
    headers, rawHeaders: Object.entries(headers).flat(), method: req.method, url: req.url,
    httpVersion: req.httpVersion, httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor, socket: req.socket, connection: req.socket, complete: true,
  });
}

function s3Error(res, code, status = 403) {
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message></Error>`);
}

function hostPort(address) {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at) || '0.0.0.0', port: Number(address.slice(at + 1)) };
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const user = process.env.MINIO_ROOT_USER;
  const password = process.env.MINIO_ROOT_PASSWORD;
  if (!user || !password || password.length < 8) {
    throw new Error('MINIO_ROOT_USER and MINIO_ROOT_PASSWORD (8 characters or more) are required');
  }
  // MinIO makes its certificates' directory (${HOME}/.minio/certs/CAs, or
  // --certs-dir) at every start and stops when it cannot ("Unable to create
  // certs CA directory"): a read-only root needs a writable place there.
  const certsDir = options.certsDir || path.join(os.homedir(), '.minio', 'certs');
  fs.mkdirSync(path.join(certsDir, 'CAs'), { recursive: true });
  // Only the root credentials open the store, as on a fresh MinIO.
  DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  DUMMY_ACCOUNT.createKeyPair(user, password);

  const s3 = new S3rver({ directory: options.directory, silent: true, vhostBuckets: false });
  const handle = s3.callback();
  const api = http.createServer((req, res) => {
    if (req.url === '/minio/health/live' || req.url === '/minio/health/ready') {
      res.writeHead(200).end();
      return;
    }
    const error = signatureError(req, user, password);
    if (error) {
      s3Error(res, error);
      return;
    }
    const payload = req.headers['x-amz-content-sha256'] || '';
    if (!payload.startsWith('STREAMING-')) {
      handle(req, res);
      return;
    }
    if (!STREAMING.has(payload)) {
      s3Error(res, 'NotImplemented', 501);
      return;
    }
    const declared = req.headers['x-amz-decoded-content-length'];
    if (declared === undefined) {
      s3Error(res, 'MissingContentLength', 411);
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const data = decodeChunks(Buffer.concat(chunks), req.s3Signing, payload !== 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
      if (data === null || Number(declared) !== data.length) {
        s3Error(res, data === null ? 'SignatureDoesNotMatch' : 'IncompleteBody', data === null ? 403 : 400);
        return;
      }
      handle(dechunked(req, data), res);
    });
  });
  const consoleServer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>S3 console</title><p>S3 stand-in: no console.</p>');
  });
  const apiAt = hostPort(options.address);
  const consoleAt = hostPort(options.consoleAddress);
  api.listen(apiAt.port, apiAt.host);
  consoleServer.listen(consoleAt.port, consoleAt.host);
  process.stdout.write(`S3 API on ${options.address}, console on ${options.consoleAddress}, data in ${options.directory}\n`);
  const stop = () => { api.close(); consoleServer.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

try {
  main();
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
