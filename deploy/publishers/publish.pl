#!/usr/bin/perl
# publish.pl - publish events to an sselite event log from Perl with DBI and
# DBD::SQLite (Debian: libdbd-sqlite3-perl).
# SPDX-License-Identifier: MIT
#
# Usage: publish.pl DB CHANNEL COUNT NAME
# Publishes COUNT events of type "update" to CHANNEL; event i has the data
# and the idempotency key NAME-i. Prints each event's id on its own line; a
# retry with the same NAME prints the same ids and stores nothing new.
use strict;
use warnings;
use DBI;

# One short write transaction; returns the event's id, or the id of the
# event already stored under $key in $channel.
sub publish {
    my ($dbh, $channel, $event, $data, $key) = @_;
    $dbh->begin_work;    # BEGIN IMMEDIATE: see sqlite_use_immediate_transaction
    my $id = eval {
        $dbh->do('INSERT INTO events(channel, event, data, idem_key) VALUES (?, ?, ?, ?)'
              . ' ON CONFLICT DO NOTHING', undef, $channel, $event, $data, $key);
        my ($id) = $dbh->selectrow_array(
            'SELECT id FROM events WHERE channel = ? AND idem_key = ?', undef, $channel, $key);
        $dbh->commit;
        $id;
    };
    if (!defined $id) {
        my $err = $@ || 'no id';
        eval { $dbh->rollback };
        die $err;
    }
    return $id;
}

my ($db, $channel, $count, $name) = @ARGV;
my $dbh = DBI->connect("dbi:SQLite:dbname=$db", '', '', {
    RaiseError => 1, PrintError => 0, AutoCommit => 1,
    sqlite_use_immediate_transaction => 1,    # begin_work sends BEGIN IMMEDIATE
    sqlite_unicode => 1,
});
$dbh->sqlite_busy_timeout(5000);
$| = 1;
for my $i (1 .. $count) {
    my $key = "$name-$i";
    print publish($dbh, $channel, 'update', $key, $key), "\n";
}
$dbh->disconnect;
