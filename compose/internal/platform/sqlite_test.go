// Tests that OpenSQLite persists across reopen (the property a kill test relies on).
package platform

import (
	"path/filepath"
	"testing"
)

func TestOpenSQLitePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	schema := `CREATE TABLE IF NOT EXISTS t (v INTEGER)`
	db, err := OpenSQLite(path, schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO t VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = OpenSQLite(path, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT v FROM t`).Scan(&v); err != nil || v != 7 {
		t.Fatalf("v=%d err=%v", v, err)
	}
}
