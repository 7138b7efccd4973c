<?php
// outbox.php - publish an event in the same transaction as the application's
// own change (the outbox idiom), from PHP with PDO. The "orders" table stands
// for the application's data; it lives in the same SQLite file as the event
// log (sselite init leaves other tables alone). Either both rows commit, or
// neither: a rolled-back order never reaches a browser.
// SPDX-License-Identifier: MIT
//
// Usage: php outbox.php DB ORDER_ID TOTAL [--fail]
// Stores the order and its "order-created" event on channel "orders" and
// prints the event's id. --fail throws after both INSERTs, before COMMIT, as
// a failing application would: the transaction is rolled back.

function create_order(PDO $db, int $orderId, int $total, bool $fail): int
{
    $db->exec('BEGIN IMMEDIATE');
    try {
        $db->prepare('INSERT INTO orders(id, total) VALUES (?, ?)')->execute([$orderId, $total]);
        $key = "order-$orderId-created";
        $db->prepare("INSERT INTO events(channel, event, data, idem_key)"
            . " VALUES ('orders', 'order-created', ?, ?) ON CONFLICT DO NOTHING")
            ->execute([json_encode(['id' => $orderId, 'total' => $total]), $key]);
        $sel = $db->prepare("SELECT id FROM events WHERE channel = 'orders' AND idem_key = ?");
        $sel->execute([$key]);
        $id = (int)$sel->fetchColumn();
        $sel->closeCursor();
        if ($fail) {
            throw new RuntimeException('simulated failure before COMMIT');
        }
        $db->exec('COMMIT');
        return $id;
    } catch (Throwable $e) {
        $db->exec('ROLLBACK');
        throw $e;
    }
}

$db = new PDO("sqlite:$argv[1]", null, null, [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    PDO::ATTR_TIMEOUT => 5,
]);
$db->exec('CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)');
echo create_order($db, (int)$argv[2], (int)$argv[3], in_array('--fail', array_slice($argv, 4), true)), "\n";
