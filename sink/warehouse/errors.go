package warehouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/sr"
)

// errClass says what to do about an error.
type errClass int

const (
	// classTransient: roll back, reconnect with backoff, re-seek to the
	// stored offsets and try again. Nothing was applied.
	classTransient errClass = iota
	// classDrift: the warehouse no longer matches what the sink cached
	// (table or column dropped behind its back). Forget the cache, then as
	// transient.
	classDrift
	// classRow: the database rejected a value permanently (constraint,
	// invalid input). Retry row by row and park the offending rows.
	classRow
	// classFatal: retrying cannot help (missing privilege, a table whose
	// primary key does not match the source key, ...). Run returns it.
	classFatal
)

func (c errClass) String() string {
	switch c {
	case classDrift:
		return "drift"
	case classRow:
		return "row"
	case classFatal:
		return "fatal"
	}
	return "transient"
}

// errFenced means the stored offsets of a partition were not what this
// process believed: another process (or an earlier attempt whose commit
// outcome was lost) has written them. The batch is dropped and the
// partitions re-seek to the stored offsets.
var errFenced = errors.New("stored offsets moved underneath this sink")

// fatalError marks an error as fatal regardless of its cause.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

// classify maps a database error to what the sink does about it.
func classify(err error) errClass {
	var fe fatalError
	if errors.As(err, &fe) {
		return classFatal
	}
	if errors.Is(err, errFenced) {
		return classTransient
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		// Network errors, timeouts, closed connections, context expiry
		// of the apply deadline: all worth another try.
		return classTransient
	}
	code := pgErr.Code
	switch code {
	case "42P01", // undefined_table
		"42703", // undefined_column
		"3F000": // invalid_schema_name
		return classDrift
	case "42804": // datatype_mismatch: a value that does not fit the column
		return classRow
	}
	switch {
	case strings.HasPrefix(code, "22"), // data exception
		strings.HasPrefix(code, "23"): // integrity constraint violation
		return classRow
	case strings.HasPrefix(code, "42"), // syntax error or access rule violation
		strings.HasPrefix(code, "0A"), // feature not supported (e.g. TRUNCATE of a referenced table)
		strings.HasPrefix(code, "28"): // invalid authorization
		return classFatal
	}
	// 08 connection, 40 rollback (serialization, deadlock), 53 resources,
	// 55 object state (lock not available), 57 operator intervention
	// (admin shutdown), 58 system, XX internal and anything unknown.
	return classTransient
}

// decodeIsTransient reports whether a decode failure is the registry being
// unreachable (retry) rather than the record being undecodable (park it).
func decodeIsTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var re *sr.ResponseError
	if errors.As(err, &re) {
		// 404: unknown schema id: the record is the problem.
		// 5xx, 429, 401/403 (credentials being rotated): the registry is.
		return re.StatusCode != 404 && re.StatusCode != 422 && re.StatusCode != 0
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// rowError is a value the sink itself cannot render for the database.
type rowError struct {
	reason string
	err    error
}

func (e *rowError) Error() string { return e.reason + ": " + e.err.Error() }

func rowErrorf(reason, format string, args ...any) *rowError {
	return &rowError{reason: reason, err: fmt.Errorf(format, args...)}
}
