#!/usr/bin/env node
// publish.js - publish events to an sselite event log from Node.js with the
// sqlite3 module: Debian's node-sqlite3 with Debian's nodejs, or npm's
// sqlite3 5.x built against the system SQLite for a Node.js from elsewhere
// (deploy/publishers/README.md says how; no prebuilt binary is downloaded).
// SPDX-License-Identifier: MIT
//
// Usage: node publish.js DB CHANNEL COUNT NAME
// Publishes COUNT events of type "update" to CHANNEL; event i has the data
// and the idempotency key NAME-i. Prints each event's id on its own line; a
// retry with the same NAME prints the same ids and stores nothing new.
'use strict';
const sqlite3 = require('sqlite3');

// The module's callbacks as promises.
const run = (db, sql, params = []) =>
  new Promise((resolve, reject) => db.run(sql, params, (err) => (err ? reject(err) : resolve())));
const get = (db, sql, params = []) =>
  new Promise((resolve, reject) => db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row))));

// One short write transaction; resolves to the event's id, or the id of the
// event already stored under key in channel. Calls on one connection must
// not interleave: await each publish before the next.
async function publish(db, channel, event, data, key) {
  await run(db, 'BEGIN IMMEDIATE'); // take the write lock now (waits up to the busy timeout)
  try {
    await run(db, 'INSERT INTO events(channel, event, data, idem_key) VALUES (?, ?, ?, ?)' +
      ' ON CONFLICT DO NOTHING', [channel, event, data, key]);
    const row = await get(db, 'SELECT id FROM events WHERE channel = ? AND idem_key = ?', [channel, key]);
    await run(db, 'COMMIT');
    return row.id;
  } catch (err) {
    await run(db, 'ROLLBACK').catch(() => {});
    throw err;
  }
}

async function main() {
  const [path, channel, count, name] = process.argv.slice(2);
  const db = await new Promise((resolve, reject) => {
    const d = new sqlite3.Database(path, sqlite3.OPEN_READWRITE, (err) => (err ? reject(err) : resolve(d)));
  });
  db.configure('busyTimeout', 5000); // milliseconds
  try {
    for (let i = 1; i <= Number(count); i++) {
      const key = `${name}-${i}`;
      process.stdout.write(`${await publish(db, channel, 'update', key, key)}\n`);
    }
  } finally {
    await new Promise((resolve) => db.close(resolve));
  }
}

main().catch((err) => {
  console.error(`publish.js: ${err.message}`);
  process.exitCode = 1;
});
