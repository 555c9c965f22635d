// Starts s3rver (the S3-compatible test server) for PbsDatastore's tests: HTTPS on a free loopback port, the
// given buckets created, data in the given directory. Prints {"port":N} once listening and exits when stdin
// closes, so a crashed test run never leaves a server behind.
// Usage: node run.js DIRECTORY CERT.pem KEY.pem BUCKET...   (NODE_PATH must reach the installed s3rver)
'use strict';
const fs = require('fs');
const S3rver = require('s3rver');

const [directory, certFile, keyFile, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: true,
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  // virtual-host requests name the bucket as BUCKET.s3.localhost
  serviceEndpoint: 'localhost',
  configureBuckets: buckets.map(name => ({ name })),
});
server.run().then(
  address => process.stdout.write(JSON.stringify({ port: address.port }) + '\n'),
  err => { process.stderr.write(`s3rver failed to start: ${err.stack || err}\n`); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
