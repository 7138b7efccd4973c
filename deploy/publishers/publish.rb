#!/usr/bin/ruby
# publish.rb - publish events to an sselite event log from Ruby with the
# sqlite3 gem (Debian: ruby ruby-sqlite3).
# SPDX-License-Identifier: MIT
#
# Usage: publish.rb DB CHANNEL COUNT NAME
# Publishes COUNT events of type "update" to CHANNEL; event i has the data
# and the idempotency key NAME-i. Prints each event's id on its own line; a
# retry with the same NAME prints the same ids and stores nothing new.
require 'sqlite3'

# One short write transaction; returns the event's id, or the id of the
# event already stored under key in channel.
def publish(db, channel, event, data, key)
  # :immediate sends BEGIN IMMEDIATE; the block commits, or rolls back on
  # an exception. (transaction returns true, not the block's value.)
  id = nil
  db.transaction(:immediate) do
    db.execute('INSERT INTO events(channel, event, data, idem_key) VALUES (?, ?, ?, ?)' \
               ' ON CONFLICT DO NOTHING', [channel, event, data, key])
    id = db.get_first_value('SELECT id FROM events WHERE channel = ? AND idem_key = ?',
                            [channel, key])
  end
  id
end

path, channel, count, name = ARGV
db = SQLite3::Database.new(path)
db.busy_timeout = 5000 # milliseconds
$stdout.sync = true
(1..Integer(count)).each do |i|
  key = "#{name}-#{i}"
  puts publish(db, channel, 'update', key, key)
end
db.close
