package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"syncline/capture/postgres"
	"syncline/internal/testenv"
	"syncline/schemas"
)

// Capture (snapshot, replication stream, catalog queries) over TLS with
// sslmode=verify-full against a server certificate from a private CA; a
// client trusting another CA is refused.
func TestCaptureOverVerifiedTLS(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ca, err := testenv.NewTestCA("syncline test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Server().EnableTLS(ca); err != nil {
		t.Fatal(err)
	}
	pg.Restart(t)
	pg.CreateDatabase(t, "app")
	pg.Exec(t, "app", `CREATE TABLE s (id int PRIMARY KEY, v text); INSERT INTO s VALUES (1, 'snap')`)
	caFile, err := ca.WriteCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("host=localhost port=%d user=%s dbname=app sslmode=verify-full sslrootcert=%s", pg.Port(), testenv.PGSuperuser, caFile)
	e := &env{t: t, pg: pg, k: testenv.StartKafka(t), dsn: dsn}
	e.serde = schemas.NewSerde(e.k.RegistryClient(t))
	stop := e.run(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "s"}}})
	defer stop()
	pg.Exec(t, "app", `INSERT INTO s VALUES (2, 'streamed')`)
	if got := e.opsOf("syncline.raw.app.public.s", 2); got != "id=1: r | id=2: c" {
		t.Errorf("captured %s", got)
	}
	var plain int
	if err := pg.Conn(t, "app").QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'syncline' AND NOT s.ssl`).Scan(&plain); err != nil {
		t.Fatal(err)
	}
	var walsenders int
	if err := pg.Conn(t, "app").QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.backend_type = 'walsender' AND s.ssl`).Scan(&walsenders); err != nil {
		t.Fatal(err)
	}
	if plain != 0 || walsenders != 1 {
		t.Errorf("%d syncline connections without TLS, %d walsenders with TLS; want 0 and 1", plain, walsenders)
	}

	other, err := testenv.NewTestCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherFile, err := other.WriteCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bad := fmt.Sprintf("host=localhost port=%d user=%s dbname=app sslmode=verify-full sslrootcert=%s", pg.Port(), testenv.PGSuperuser, otherFile)
	if conn, err := postgres.Connect(context.Background(), bad); err == nil {
		conn.Close(context.Background())
		t.Error("a client trusting another CA connected")
	}
}
