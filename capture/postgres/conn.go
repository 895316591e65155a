package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sessionParams fix the output formats of every connection syncline reads
// values through (pgoutput formats values with the walsender's session
// settings), so captured text never depends on the server's or the role's
// defaults: ISO dates, ISO 8601 intervals, UTC, shortest-exact floats, hex
// bytea and locale-free money.
var sessionParams = map[string]string{
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "iso_8601",
	"TimeZone":           "UTC",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	"lc_monetary":        "C",
	"application_name":   "syncline",
}

// ParseDSN parses a source DSN and applies the session settings captured
// values rely on. The changes stage uses it to re-read rows.
func ParseDSN(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, permanent(fmt.Errorf("source dsn: %w", err))
	}
	for k, v := range sessionParams {
		if _, set := cfg.RuntimeParams[k]; !set || k != "application_name" {
			cfg.RuntimeParams[k] = v
		}
	}
	return cfg, nil
}

// Connect opens a regular connection to a source with the capture's
// session settings.
func Connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func connectReplication(ctx context.Context, dsn string) (*pgconn.PgConn, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	pc := cfg.Config.Copy()
	pc.RuntimeParams["replication"] = "database"
	return pgconn.ConnectConfig(ctx, pc)
}
