// SQLite access for state that must survive a kill: the pure-Go modernc driver keeps the
// binaries static, WAL keeps readers off the writer's back, and busy_timeout makes
// concurrent writers wait instead of failing.
package platform

import (
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// OpenSQLite opens (creating if needed) the database at path and applies schema.
// ":memory:" gives a private in-memory database, for tests and throwaway runs.
func OpenSQLite(path string, schema string) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One writer at a time is all SQLite allows; a single connection also keeps an
	// in-memory database a single database rather than one per connection.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
