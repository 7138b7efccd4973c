<?php
// publish-pdo.php - publish events to an sselite event log from PHP with PDO
// (Debian: php-cli php-sqlite3, which also provides pdo_sqlite).
// SPDX-License-Identifier: MIT
//
// Usage: php publish-pdo.php DB CHANNEL COUNT NAME
// Publishes COUNT events of type "update" to CHANNEL; event i has the data
// and the idempotency key NAME-i. Prints each event's id on its own line; a
// retry with the same NAME prints the same ids and stores nothing new.
//
// PDO::beginTransaction() sends a plain (deferred) BEGIN, which can fail at
// once with "database is locked" when the transaction reads before it
// writes; BEGIN IMMEDIATE waits for the write lock instead.

function publish(PDO $db, string $channel, ?string $event, string $data, string $key): int
{
    $db->exec('BEGIN IMMEDIATE');
    try {
        $db->prepare('INSERT INTO events(channel, event, data, idem_key)'
            . ' VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
            ->execute([$channel, $event, $data, $key]);
        $sel = $db->prepare('SELECT id FROM events WHERE channel = ? AND idem_key = ?');
        $sel->execute([$channel, $key]);
        $id = (int)$sel->fetchColumn();
        $sel->closeCursor();
        $db->exec('COMMIT');
        return $id;
    } catch (Throwable $e) {
        $db->exec('ROLLBACK');
        throw $e;
    }
}

[, $path, $channel, $count, $name] = $argv;
$db = new PDO("sqlite:$path", null, null, [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    PDO::ATTR_TIMEOUT => 5, // the busy timeout, in seconds
]);
for ($i = 1; $i <= (int)$count; $i++) {
    $key = "$name-$i";
    echo publish($db, $channel, 'update', $key, $key), "\n";
}
