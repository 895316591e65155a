package saas

import (
	"errors"
	"fmt"
	"net/http"

	"syncline/capture/saas"
)

// Bisect sends ops in calls of at most size. A call the provider refuses
// as a whole for a reason retrying does not cure (refused reports it: a
// 400 for one invalid input, a 409, 413, 422) is split in halves down to
// single ops; a single op refused so is Rejected with what(op) and the
// provider's answer, and the rest of the batch proceeds. Any other error
// of send is returned.
func Bisect(ops []*Op, size int, send func([]*Op) error, refused func(error) bool, what func(*Op) string) error {
	for i := 0; i < len(ops); i += size {
		if err := bisect(ops[i:min(i+size, len(ops))], send, refused, what); err != nil {
			return err
		}
	}
	return nil
}

func bisect(ops []*Op, send func([]*Op) error, refused func(error) bool, what func(*Op) string) error {
	err := send(ops)
	if err == nil || !refused(err) {
		return err
	}
	if len(ops) == 1 {
		ops[0].Reject(fmt.Errorf("%s: %w", what(ops[0]), err))
		return nil
	}
	h := len(ops) / 2
	if err := bisect(ops[:h], send, refused, what); err != nil {
		return err
	}
	return bisect(ops[h:], send, refused, what)
}

// Refused reports whether err is an answer of capture/saas's HTTP client
// whose status RefusedStatus refuses: the refused func of Bisect for
// sinks that call through that client.
func Refused(err error) bool {
	var he *saas.HTTPError
	return errors.As(err, &he) && RefusedStatus(he.Status)
}

// RefusedStatus reports whether an HTTP status refuses a request for a
// reason retrying the same request does not cure: a 4xx other than 401,
// 403 and 404 (credentials, scopes, an unknown endpoint: a sink stops on
// them), 408 and 429 (transient).
func RefusedStatus(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return code >= 400 && code < 500
}
