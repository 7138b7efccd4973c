#!/usr/bin/tclsh
# publish.tcl - publish events to an sselite event log from Tcl with SQLite's
# own Tcl interface (Debian: tcl libsqlite3-tcl).
# SPDX-License-Identifier: MIT
#
# Usage: publish.tcl DB CHANNEL COUNT NAME
# Publishes COUNT events of type "update" to CHANNEL; event i has the data
# and the idempotency key NAME-i. Prints each event's id on its own line; a
# retry with the same NAME prints the same ids and stores nothing new.
package require sqlite3

# One short write transaction; returns the event's id, or the id of the
# event already stored under key in channel. Tcl variables in the SQL
# ($channel ...) are bound as parameters, never pasted into the text.
proc publish {db channel event data key} {
    # "transaction immediate" sends BEGIN IMMEDIATE; the script commits, or
    # rolls back on an error.
    $db transaction immediate {
        $db eval {INSERT INTO events(channel, event, data, idem_key)
                  VALUES ($channel, $event, $data, $key) ON CONFLICT DO NOTHING}
        set id [$db onecolumn {SELECT id FROM events WHERE channel = $channel AND idem_key = $key}]
    }
    return $id
}

lassign $argv path channel count name
sqlite3 db $path -create false
db timeout 5000 ;# the busy timeout, in milliseconds
for {set i 1} {$i <= $count} {incr i} {
    set key "$name-$i"
    puts [publish db $channel update $key $key]
    flush stdout
}
db close
