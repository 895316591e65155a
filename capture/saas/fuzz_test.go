package saas

import "testing"

// FuzzPage feeds arbitrary response bodies through what a page goes
// through: decoding, the records path, key and cursor extraction, and
// property conversion. The property: no panic, and errors are returned.
func FuzzPage(f *testing.F) {
	f.Add([]byte(`{"results":[{"id":"1","updatedAt":"2024-01-02T03:04:05.678Z","properties":{"score":"12","email":null}}],"paging":{"next":{"after":"200"}}}`))
	f.Add([]byte(`{"results":[{"id":1,"updatedAt":1700000000000}]}`))
	f.Add([]byte(`<html>502</html>`))
	f.Add([]byte(`{"results":{"id":"1"}}`))
	f.Add([]byte(`{"results":[{"id":["x"],"updatedAt":"yesterday"}]} trailing`))
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decodeJSON(body)
		if err != nil {
			return
		}
		lookup(v, "paging.next.after")
		rv, _ := lookup(v, "results")
		recs, _ := rv.([]any)
		for _, rec := range recs {
			for _, format := range []string{"rfc3339", "unix_ms", "unix"} {
				_, _, _ = recordKey(rec, "id", "updatedAt", format)
			}
			for _, typ := range []string{"string", "int64", "float64", "bool", "timestamp", "json"} {
				p, _ := lookup(rec, "properties.score")
				_, _ = propertyValue(p, typ, "rfc3339")
			}
		}
	})
}
