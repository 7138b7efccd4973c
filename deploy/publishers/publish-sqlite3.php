<?php
// publish-sqlite3.php - publish events to an sselite event log from PHP with
// the SQLite3 class (Debian: php-cli php-sqlite3).
// SPDX-License-Identifier: MIT
//
// Usage: php publish-sqlite3.php DB CHANNEL COUNT NAME
// Publishes COUNT events of type "update" to CHANNEL; event i has the data
// and the idempotency key NAME-i. Prints each event's id on its own line; a
// retry with the same NAME prints the same ids and stores nothing new.
//
// Do not add RETURNING to the INSERT with this class: SQLite3Stmt::execute
// runs a statement that returns rows again when the result is read.

function publish(SQLite3 $db, string $channel, ?string $event, string $data, string $key): int
{
    $db->exec('BEGIN IMMEDIATE'); // take the write lock now (waits up to the busy timeout)
    try {
        $ins = $db->prepare('INSERT INTO events(channel, event, data, idem_key)'
            . ' VALUES (:c, :e, :d, :k) ON CONFLICT DO NOTHING');
        $ins->bindValue(':c', $channel);
        $ins->bindValue(':e', $event);
        $ins->bindValue(':d', $data);
        $ins->bindValue(':k', $key);
        $ins->execute();
        $sel = $db->prepare('SELECT id FROM events WHERE channel = :c AND idem_key = :k');
        $sel->bindValue(':c', $channel);
        $sel->bindValue(':k', $key);
        $id = $sel->execute()->fetchArray(SQLITE3_NUM)[0];
        $db->exec('COMMIT');
        return $id;
    } catch (Throwable $e) {
        $db->exec('ROLLBACK');
        throw $e;
    }
}

[, $path, $channel, $count, $name] = $argv;
$db = new SQLite3($path, SQLITE3_OPEN_READWRITE);
$db->enableExceptions(true);
$db->busyTimeout(5000);
for ($i = 1; $i <= (int)$count; $i++) {
    $key = "$name-$i";
    echo publish($db, $channel, 'update', $key, $key), "\n";
}
$db->close();
