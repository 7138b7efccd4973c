// publish.go - publish events to an sselite event log from Go with
// database/sql and the go-sqlite3 driver (Debian: golang-go
// golang-github-mattn-go-sqlite3-dev, which links the system SQLite).
// SPDX-License-Identifier: MIT
//
// Build offline against Debian's packaged driver:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o publish-go publish.go
//
// Usage: publish-go DB CHANNEL COUNT NAME
// Publishes COUNT events of type "update" to CHANNEL; event i has the data
// and the idempotency key NAME-i. Prints each event's id on its own line; a
// retry with the same NAME prints the same ids and stores nothing new.
package main

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strconv"

	_ "github.com/mattn/go-sqlite3"
)

// publish runs one short write transaction and returns the event's id, or
// the id of the event already stored under key in channel.
func publish(db *sql.DB, channel, event, data, key string) (int64, error) {
	tx, err := db.Begin() // BEGIN IMMEDIATE: _txlock=immediate in the DSN
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // no-op after Commit
	if _, err = tx.Exec("INSERT INTO events(channel, event, data, idem_key) VALUES (?, ?, ?, ?)"+
		" ON CONFLICT DO NOTHING", channel, event, data, key); err != nil {
		return 0, err
	}
	var id int64
	if err = tx.QueryRow("SELECT id FROM events WHERE channel = ? AND idem_key = ?",
		channel, key).Scan(&id); err != nil {
		return 0, err
	}
	return id, tx.Commit()
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: publish-go DB CHANNEL COUNT NAME")
		os.Exit(2)
	}
	path, channel, name := os.Args[1], os.Args[2], os.Args[4]
	count, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "publish-go: bad COUNT:", err)
		os.Exit(2)
	}
	// _busy_timeout in milliseconds; _txlock=immediate makes Begin send
	// BEGIN IMMEDIATE; mode=rw: the log must exist (sselite init).
	dsn := "file:" + url.PathEscape(path) + "?mode=rw&_busy_timeout=5000&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "publish-go:", err)
		os.Exit(1)
	}
	defer db.Close()
	for i := 1; i <= count; i++ {
		key := fmt.Sprintf("%s-%d", name, i)
		id, err := publish(db, channel, "update", key, key)
		if err != nil {
			fmt.Fprintln(os.Stderr, "publish-go:", err)
			os.Exit(1)
		}
		fmt.Println(id)
	}
}
