package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"syncline/internal/testenv"
)

// peopleRun is `syncline run` of a pipeline from the people table of a
// fresh Postgres (id, email, name; rows are the values inserted first)
// into one sink: sink is its YAML as a sinks list item ("  - name: ..."),
// env the variables it refers to. It returns the binary, the config path,
// the environment for diffRun and the Postgres.
func peopleRun(t *testing.T, rows, sink string, env ...string) (bin, path string, runEnv []string, pg *testenv.Postgres) {
	t.Helper()
	bin = buildBinary(t)
	pg = testenv.StartPostgres(t)
	src := pg.CreateDatabase(t, "app")
	pg.Exec(t, "app", "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, name text); INSERT INTO people VALUES "+rows)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`name: diff
data_dir: %s
kafka: {embedded: {listen: "127.0.0.1:%d"}}
registry: {listen: "127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
sources: [{name: app, type: postgres, dsn: "${SRC}", tables: [people]}]
sinks:
%s`, dir, freePort(t), freePort(t), freePort(t), sink)
	path = filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	runEnv = append(append(os.Environ(), "SRC="+src), env...)
	startRun(t, bin, path, runEnv)
	return bin, path, runEnv, pg
}
