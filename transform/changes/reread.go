package changes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"syncline/capture/postgres"
	"syncline/schemas"
)

// DefaultRereadTimeout bounds one re-read of a row from its source
// (connecting included).
const DefaultRereadTimeout = 10 * time.Second

// Results of a re-read, as in syncline_toast_rereads_total{result}.
const (
	rereadOK         = "ok"
	rereadRowDeleted = "row_deleted"
	rereadFailed     = "failed" // the record is parked
	rereadRetry      = "retry"  // the batch is retried
)

var (
	// errRowDeleted: the row no longer exists at the source.
	errRowDeleted = errors.New("the row no longer exists at the source (deleted since the change)")
	// errNoSource: no DSN is configured for the change's source.
	errNoSource = errors.New("no connection to the source is configured to re-read the row from")
)

// retryableError is a re-read failure that says nothing about the record:
// the source is down or unreachable. The batch is retried.
type retryableError struct{ err error }

func (e retryableError) Error() string { return e.err.Error() }
func (e retryableError) Unwrap() error { return e.err }

// rereader re-reads columns of rows from their source database, over one
// connection per source opened on first use and kept for later re-reads.
// It is used by the Run goroutine only; the mutex only guards close.
type rereader struct {
	cfgs    map[string]*pgx.ConnConfig // source name -> connection settings
	timeout time.Duration

	mu          sync.Mutex
	conns       map[string]*pgx.Conn
	partitioned map[string]bool // "source\x00ident" -> relkind 'p'
}

func newRereader(dsns map[string]string, timeout time.Duration) (*rereader, error) {
	r := &rereader{cfgs: map[string]*pgx.ConnConfig{}, timeout: timeout, conns: map[string]*pgx.Conn{}, partitioned: map[string]bool{}}
	for name, dsn := range dsns {
		if dsn == "" {
			continue
		}
		// ParseDSN sets the session settings the capture relies on (ISO
		// dates, iso_8601 intervals, UTC, hex bytea, ...), so the text
		// read here parses exactly like the text pgoutput sends.
		cfg, err := postgres.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", name, err)
		}
		if cfg.RuntimeParams["application_name"] == "syncline" {
			cfg.RuntimeParams["application_name"] = "syncline-changes"
		}
		r.cfgs[name] = cfg
	}
	return r, nil
}

func (r *rereader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, c := range r.conns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.Close(ctx)
		cancel()
		delete(r.conns, name)
	}
}

func (r *rereader) drop(source string) {
	r.mu.Lock()
	c := r.conns[source]
	delete(r.conns, source)
	r.mu.Unlock()
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.Close(ctx)
		cancel()
	}
}

func (r *rereader) conn(ctx context.Context, source string) (*pgx.Conn, error) {
	r.mu.Lock()
	c := r.conns[source]
	r.mu.Unlock()
	if c != nil && !c.IsClosed() {
		return c, nil
	}
	cfg, ok := r.cfgs[source]
	if !ok {
		return nil, errNoSource
	}
	c, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, retryableError{fmt.Errorf("connect to source %s: %w", source, err)}
	}
	r.mu.Lock()
	r.conns[source] = c
	r.mu.Unlock()
	return c, nil
}

// reread returns the current values of fields (Avro field names) of the
// row of t whose key is key, read from the source in the text format and
// parsed as capture parses pgoutput's text. A NULL value is left out of
// the row, as capture does. Errors: errNoSource, errRowDeleted, a
// retryableError (the source cannot be reached: retry later), or any
// other error, which is about the row or the table (dropped column or
// table, a value that cannot be parsed) and will not go away by retrying.
func (r *rereader) reread(ctx context.Context, t *schemas.Table, key schemas.Row, fields []string) (schemas.Row, error) {
	if _, ok := r.cfgs[t.Source]; !ok {
		return nil, errNoSource
	}
	var cols []schemas.Column
	for _, f := range fields {
		c, ok := t.Column(f)
		if !ok {
			return nil, fmt.Errorf("field %q is not a column of %s", f, t.ID())
		}
		cols = append(cols, c)
	}
	keys := t.KeyColumns()
	if len(keys) == 0 {
		return nil, fmt.Errorf("table %s has no key columns to find the row by", t.ID())
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	conn, err := r.conn(ctx, t.Source)
	if err != nil {
		return nil, err
	}
	row, err := r.query(ctx, conn, t, cols, keys, key)
	var re retryableError
	if errors.As(err, &re) {
		r.drop(t.Source)
	}
	return row, err
}

// dbError classifies an error of the source database or of the
// connection to it.
func dbError(source string, err error) error {
	if isRetryable(err) {
		return retryableError{fmt.Errorf("re-read from source %s: %w", source, err)}
	}
	return err
}

func (r *rereader) query(ctx context.Context, conn *pgx.Conn, t *schemas.Table, cols, keys []schemas.Column, key schemas.Row) (schemas.Row, error) {
	ident := pgx.Identifier{t.Schema, t.Name}.Sanitize()
	// ONLY keeps rows of inheritance children (captured as tables of their
	// own) out; a partitioned table holds no rows itself, so its rows are
	// read through it.
	pk := t.Source + "\x00" + ident
	part, known := r.partitioned[pk]
	if !known {
		var kind string
		err := conn.QueryRow(ctx, "SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)), '')", ident).Scan(&kind)
		if err != nil {
			return nil, dbError(t.Source, err)
		}
		if kind == "" {
			return nil, fmt.Errorf("table %s.%s does not exist at the source (dropped or renamed)", t.Schema, t.Name)
		}
		part = kind == "p"
		r.partitioned[pk] = part
	}
	from := "ONLY " + ident
	if part {
		from = ident
	}
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	var conds []string
	var params [][]byte
	for _, c := range keys {
		q := pgx.Identifier{c.Name}.Sanitize()
		v := key[c.Field]
		if v == nil {
			conds = append(conds, q+" IS NULL")
			continue
		}
		s, err := schemas.FormatText(c, v)
		if err != nil {
			return nil, fmt.Errorf("key column %q: %w", c.Name, err)
		}
		params = append(params, []byte(s))
		// The parameter's type is left to the server (OID 0): it takes the
		// column's, and the text is parsed by the column type's input.
		conds = append(conds, fmt.Sprintf("%s = $%d", q, len(params)))
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM " + from + " WHERE " + strings.Join(conds, " AND ")
	res := conn.PgConn().ExecParams(ctx, sql, params, make([]uint32, len(params)), nil, nil).Read()
	if res.Err != nil {
		return nil, dbError(t.Source, res.Err)
	}
	if len(res.Rows) == 0 {
		return nil, errRowDeleted
	}
	out := make(schemas.Row, len(cols))
	for i, c := range cols {
		b := res.Rows[0][i]
		if b == nil {
			out[c.Field] = nil
			continue
		}
		v, err := schemas.ParseText(c, string(b))
		if err != nil {
			return nil, err
		}
		out[c.Field] = v
	}
	return out, nil
}

// isRetryable tells a source that cannot serve the query now (connection,
// server shutting down, resources, locks, authentication or privileges
// being fixed) from a query that cannot succeed for this row or table.
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		// Network errors, timeouts, a closed connection.
		return true
	}
	if len(pgErr.Code) < 2 {
		return true
	}
	switch pgErr.Code[:2] {
	case "08", "28", "40", "53", "55", "57", "58", "XX":
		return true
	}
	return pgErr.Code == "42501" // insufficient_privilege: a GRANT fixes it
}
