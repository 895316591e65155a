package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway cluster for one test (or a whole package via
// TestMain, see NewPostgres). Connect with DSN / ReplicationDSN; everything
// runs as the superuser "postgres" over TCP on 127.0.0.1 with trust auth.
type Postgres struct {
	srv *Server
}

// PGOption configures StartPostgres.
type PGOption func(*pgOptions)

type pgOptions struct {
	config map[string]string
}

// WithConfig adds (or overrides) a postgresql.conf setting, e.g.
// WithConfig("max_slot_wal_keep_size", "64MB").
func WithConfig(key, value string) PGOption {
	return func(o *pgOptions) { o.config[key] = value }
}

// StartPostgres initialises and starts a fresh cluster in a temporary
// directory and registers a cleanup that stops it (pg_ctl stop -m immediate)
// and removes the directory. If the PostgreSQL server binaries are missing or
// the server cannot start, the test fails (it is never skipped) with the
// reason and the tail of the server log.
func StartPostgres(tb testing.TB, opts ...PGOption) *Postgres {
	tb.Helper()
	o := pgOptions{config: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := StartPostgresServer(ctx, "", 0, o.config)
	if err != nil {
		tb.Fatalf("StartPostgres: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("postgres on port %d, tail of %s:\n%s", srv.Port(), srv.LogPath(), srv.LogTail(pgLogTailLines))
		}
		srv.Stop()
	})
	return &Postgres{srv: srv}
}

// NewPostgres wraps a Server started with StartPostgresServer, e.g. in
// TestMain where no testing.TB exists yet. The caller keeps ownership and
// must call srv.Stop when done:
//
//	func TestMain(m *testing.M) {
//		srv, err := testenv.StartPostgresServer(context.Background(), "", 0, nil)
//		if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }
//		pg = testenv.NewPostgres(srv)
//		code := m.Run()
//		srv.Stop()
//		os.Exit(code)
//	}
func NewPostgres(srv *Server) *Postgres { return &Postgres{srv: srv} }

// Server returns the underlying server (paths, BinDir for pg_recvlogical, ...).
func (p *Postgres) Server() *Server { return p.srv }

// Port returns the TCP port on 127.0.0.1.
func (p *Postgres) Port() int { return p.srv.Port() }

// DSN returns a postgres:// URL for database db ("" means "postgres"),
// connecting over TCP to 127.0.0.1 as the superuser with sslmode=disable.
func (p *Postgres) DSN(db string) string { return p.srv.DSN(db) }

// ReplicationDSN is DSN(db) plus replication=database.
func (p *Postgres) ReplicationDSN(db string) string { return p.srv.ReplicationDSN(db) }

// CreateDatabase creates database name and returns its DSN.
func (p *Postgres) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	p.Exec(tb, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return p.DSN(name)
}

// Exec runs sql (with optional arguments) on a fresh connection to database
// db and fails the test on error. Without arguments, sql may contain several
// statements.
func (p *Postgres) Exec(tb testing.TB, db, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		tb.Fatalf("testenv: connect to %s: %v", p.DSN(db), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("testenv: exec on database %q: %v\nSQL: %s", db, err, sql)
	}
}

// Conn opens a connection to database db; it is closed at test cleanup.
func (p *Postgres) Conn(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		tb.Fatalf("testenv: connect to %s: %v", p.DSN(db), err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

// Stop shuts the server down cleanly (pg_ctl stop -m fast, so asynchronously
// committed transactions survive) and keeps its data for Restart.
// Connections are terminated. Stopping a stopped server is a no-op.
func (p *Postgres) Stop(tb testing.TB) {
	tb.Helper()
	if err := p.srv.shutdown("fast"); err != nil {
		tb.Fatalf("testenv: stop postgres: %v\n--- tail of %s ---\n%s", err, p.srv.LogPath(), p.srv.LogTail(pgLogTailLines))
	}
}

// Restart stops the server if it is running and starts it again on the same
// port with the same data directory, waiting until it accepts connections.
func (p *Postgres) Restart(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.srv.restart(ctx); err != nil {
		tb.Fatalf("testenv: restart postgres: %v", err)
	}
}
