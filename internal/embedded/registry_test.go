package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"
)

const (
	orderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}`
	// orderV1Reformatted is orderV1 written differently.
	orderV1Reformatted = "{\n  \"name\": \"shop.Order\",\n  \"type\": \"record\",\n  \"fields\": [ { \"type\": \"long\", \"name\": \"id\" } ]\n}"
	// orderV2 adds a field with a default: compatible under every level.
	orderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
	// orderV2NoDefault adds a field without a default: not backward
	// compatible.
	orderV2NoDefault = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"}]}`
)

func avroSchema(s string) sr.Schema { return sr.Schema{Schema: s, Type: sr.TypeAvro} }

// startTestRegistry starts a registry on the broker's topic and serves it
// on a free port. The returned client talks to it.
func startTestRegistry(t *testing.T, brokers []string, topic string) (*Registry, *sr.Client) {
	t.Helper()
	reg, err := NewRegistry(testContext(t), RegistryConfig{Brokers: brokers, Topic: topic, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	t.Cleanup(reg.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url, err := reg.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return reg, cl
}

// wantCode asserts err is a schema registry error with the given code.
func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v (%T), want a registry error with code %d", err, err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("got error code %d (%s), want %d", re.ErrorCode, re.Message, code)
	}
}

func register(t *testing.T, cl *sr.Client, subject, schema string) sr.SubjectSchema {
	t.Helper()
	ss, err := cl.CreateSchema(testContext(t), subject, avroSchema(schema))
	if err != nil {
		t.Fatalf("registering under %s: %v", subject, err)
	}
	return ss
}

func TestRegistryServesTheConfluentAPI(t *testing.T) {
	t.Parallel()
	b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
	_, cl := startTestRegistry(t, b.Addrs(), "")

	t.Run("registering a schema twice returns the same id and version", func(t *testing.T) {
		ctx := testContext(t)
		first := register(t, cl, "idem-value", orderV1)
		again := register(t, cl, "idem-value", orderV1Reformatted)
		if first.ID != again.ID || first.Version != again.Version || first.Version != 1 {
			t.Fatalf("first %+v, again %+v: want the same id at version 1", first, again)
		}
		versions, err := cl.SubjectVersions(ctx, "idem-value")
		if err != nil || !slices.Equal(versions, []int{1}) {
			t.Fatalf("SubjectVersions = %v, %v; want [1]", versions, err)
		}
	})

	t.Run("the same schema under another subject gets the same id", func(t *testing.T) {
		a := register(t, cl, "shared-a", orderV2)
		b := register(t, cl, "shared-b", orderV2)
		if a.ID != b.ID {
			t.Fatalf("ids differ across subjects: %d vs %d", a.ID, b.ID)
		}
		subjects, err := cl.SubjectsByID(testContext(t), a.ID)
		if err != nil || !slices.Contains(subjects, "shared-a") || !slices.Contains(subjects, "shared-b") {
			t.Fatalf("SubjectsByID = %v, %v", subjects, err)
		}
	})

	t.Run("a schema is found by its id", func(t *testing.T) {
		ctx := testContext(t)
		ss := register(t, cl, "byid-value", orderV1)
		got, err := cl.SchemaByID(ctx, ss.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Schema != ss.Schema.Schema {
			t.Errorf("SchemaByID = %q, want %q", got.Schema, ss.Schema.Schema)
		}
		text, err := cl.SchemaTextByID(ctx, ss.ID)
		if err != nil || text != ss.Schema.Schema {
			t.Errorf("SchemaTextByID = %q, %v", text, err)
		}
		usages, err := cl.SchemaUsagesByID(ctx, ss.ID)
		if err != nil || len(usages) == 0 {
			t.Errorf("SchemaUsagesByID = %v, %v", usages, err)
		}
	})

	t.Run("the latest version of a subject is its newest registration", func(t *testing.T) {
		ctx := testContext(t)
		v1 := register(t, cl, "latest-value", orderV1)
		v2 := register(t, cl, "latest-value", orderV2)
		latest, err := cl.SchemaByVersion(ctx, "latest-value", -1)
		if err != nil {
			t.Fatal(err)
		}
		if latest.Version != 2 || latest.ID != v2.ID || latest.Subject != "latest-value" {
			t.Errorf("latest = %+v, want version 2 id %d", latest, v2.ID)
		}
		first, err := cl.SchemaByVersion(ctx, "latest-value", 1)
		if err != nil || first.ID != v1.ID {
			t.Errorf("version 1 = %+v, %v; want id %d", first, err, v1.ID)
		}
		text, err := cl.SchemaTextByVersion(ctx, "latest-value", -1)
		if err != nil || text != orderV2 {
			t.Errorf("SchemaTextByVersion = %q, %v", text, err)
		}
	})

	t.Run("looking up a schema under a subject returns its id and version", func(t *testing.T) {
		ctx := testContext(t)
		ss := register(t, cl, "lookup-value", orderV1)
		got, err := cl.LookupSchema(ctx, "lookup-value", avroSchema(orderV1Reformatted))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ss.ID || got.Version != 1 || got.Subject != "lookup-value" {
			t.Errorf("LookupSchema = %+v, want id %d version 1", got, ss.ID)
		}
		_, err = cl.LookupSchema(ctx, "lookup-value", avroSchema(orderV2))
		wantCode(t, err, sr.ErrSchemaNotFound.Code)
		_, err = cl.LookupSchema(ctx, "lookup-nobody", avroSchema(orderV1))
		wantCode(t, err, sr.ErrSubjectNotFound.Code)
	})

	t.Run("the compatibility check accepts a compatible schema and explains an incompatible one", func(t *testing.T) {
		ctx := testContext(t)
		register(t, cl, "check-value", orderV1)
		ok, err := cl.CheckCompatibility(ctx, "check-value", -1, avroSchema(orderV2))
		if err != nil || !ok.Is {
			t.Fatalf("compatible schema: %+v, %v", ok, err)
		}
		bad, err := cl.CheckCompatibility(ctx, "check-value", 1, avroSchema(orderV2NoDefault))
		if err != nil {
			t.Fatal(err)
		}
		if bad.Is || len(bad.Messages) == 0 || !strings.Contains(bad.Messages[0], incompatReaderFieldNoDflt) {
			t.Fatalf("incompatible schema: %+v", bad)
		}
		all, err := cl.CheckCompatibility(ctx, "check-value", -2, avroSchema(orderV2NoDefault))
		if err != nil || all.Is {
			t.Fatalf("check against all versions: %+v, %v", all, err)
		}
		fresh, err := cl.CheckCompatibility(ctx, "check-nobody", -1, avroSchema(orderV2NoDefault))
		if err != nil || !fresh.Is {
			t.Fatalf("a subject without versions is compatible with anything: %+v, %v", fresh, err)
		}
		_, err = cl.CheckCompatibility(ctx, "check-value", 7, avroSchema(orderV2))
		wantCode(t, err, sr.ErrVersionNotFound.Code)
	})

	t.Run("registering an incompatible schema is rejected with 409", func(t *testing.T) {
		ctx := testContext(t)
		register(t, cl, "reject-value", orderV1)
		_, err := cl.CreateSchema(ctx, "reject-value", avroSchema(orderV2NoDefault))
		wantCode(t, err, 409)
		var re *sr.ResponseError
		if errors.As(err, &re) && (re.StatusCode != http.StatusConflict || !strings.Contains(re.Message, incompatReaderFieldNoDflt)) {
			t.Errorf("status %d, message %q", re.StatusCode, re.Message)
		}
		versions, err := cl.SubjectVersions(ctx, "reject-value")
		if err != nil || !slices.Equal(versions, []int{1}) {
			t.Fatalf("a rejected schema created a version: %v, %v", versions, err)
		}
	})

	t.Run("compatibility levels are set per subject and fall back to the global level", func(t *testing.T) {
		ctx := testContext(t)
		const subject = "levels-value"
		global := cl.Compatibility(ctx)
		if global[0].Err != nil || global[0].Level != sr.CompatBackward {
			t.Fatalf("global level = %+v, want BACKWARD", global[0])
		}
		register(t, cl, subject, orderV2)

		res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForward}, subject)
		if res[0].Err != nil || res[0].Level != sr.CompatForward {
			t.Fatalf("SetCompatibility = %+v", res[0])
		}
		if got := cl.Compatibility(ctx, subject); got[0].Err != nil || got[0].Level != sr.CompatForward {
			t.Fatalf("subject level = %+v, want FORWARD", got[0])
		}
		// FORWARD: dropping the defaulted field is fine, adding a
		// field without a default too.
		register(t, cl, subject, orderV2NoDefault)
		// ... but an old reader cannot fill a removed field that has
		// no default.
		_, err := cl.CreateSchema(ctx, subject, avroSchema(`{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"double"}]}`))
		wantCode(t, err, 409)

		if got := cl.ResetCompatibility(ctx, subject); got[0].Err != nil || got[0].Level != sr.CompatForward {
			t.Fatalf("ResetCompatibility = %+v, want the deleted FORWARD", got[0])
		}
		got := cl.Compatibility(ctx, subject)
		wantCode(t, got[0].Err, sr.ErrSubjectLevelCompatibilityNotConfigured.Code)
		got = cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), subject)
		if got[0].Err != nil || got[0].Level != sr.CompatBackward {
			t.Fatalf("subject level with defaultToGlobal = %+v, want BACKWARD", got[0])
		}

		var into map[string]any
		err = cl.Do(ctx, http.MethodPut, "/config/"+subject, map[string]string{"compatibility": "SIDEWAYS"}, &into)
		wantCode(t, err, sr.ErrInvalidCompatibilityLevel.Code)
	})

	t.Run("the NONE level accepts any schema", func(t *testing.T) {
		ctx := testContext(t)
		const subject = "none-value"
		register(t, cl, subject, orderV1)
		if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, subject); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if ss := register(t, cl, subject, `"string"`); ss.Version != 2 {
			t.Fatalf("registered %+v, want version 2", ss)
		}
	})

	t.Run("the global level applies to subjects without their own", func(t *testing.T) {
		ctx := testContext(t)
		if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		defer cl.ResetCompatibility(ctx)
		if got := cl.Compatibility(ctx); got[0].Level != sr.CompatFullTransitive {
			t.Fatalf("global level = %+v", got[0])
		}
		register(t, cl, "global-value", orderV1)
		_, err := cl.CreateSchema(ctx, "global-value", avroSchema(orderV2NoDefault))
		wantCode(t, err, 409)
	})

	t.Run("an invalid schema is rejected with 42201", func(t *testing.T) {
		ctx := testContext(t)
		for _, s := range []sr.Schema{
			avroSchema(`{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}`),
			avroSchema(`not json`),
			avroSchema(``),
			{Schema: `syntax = "proto3";`, Type: sr.TypeProtobuf},
		} {
			_, err := cl.CreateSchema(ctx, "invalid-value", s)
			wantCode(t, err, sr.ErrInvalidSchema.Code)
		}
	})

	t.Run("missing subjects, versions and ids report Confluent error codes", func(t *testing.T) {
		ctx := testContext(t)
		register(t, cl, "codes-value", orderV1)
		_, err := cl.SchemaByVersion(ctx, "codes-nobody", 1)
		wantCode(t, err, sr.ErrSubjectNotFound.Code)
		_, err = cl.SchemaByVersion(ctx, "codes-value", 9)
		wantCode(t, err, sr.ErrVersionNotFound.Code)
		_, err = cl.SchemaByID(ctx, 999999)
		wantCode(t, err, sr.ErrSchemaNotFound.Code)
		_, err = cl.SubjectVersions(ctx, "codes-nobody")
		wantCode(t, err, sr.ErrSubjectNotFound.Code)
		err = cl.Do(ctx, http.MethodGet, "/subjects/codes-value/versions/zero", nil, nil)
		wantCode(t, err, sr.ErrInvalidVersion.Code)
		err = cl.Do(ctx, http.MethodGet, "/no/such/endpoint", nil, nil)
		wantCode(t, err, http.StatusNotFound)
	})

	t.Run("a deleted subject disappears but its schemas stay readable by id", func(t *testing.T) {
		ctx := testContext(t)
		const subject = "deleted-value"
		v1 := register(t, cl, subject, orderV1)
		register(t, cl, subject, orderV2)

		_, err := cl.DeleteSubject(ctx, subject, sr.HardDelete)
		wantCode(t, err, sr.ErrSubjectNotSoftDeleted.Code)

		deleted, err := cl.DeleteSubject(ctx, subject, sr.SoftDelete)
		if err != nil || !slices.Equal(deleted, []int{1, 2}) {
			t.Fatalf("DeleteSubject = %v, %v", deleted, err)
		}
		subjects, err := cl.Subjects(ctx)
		if err != nil || slices.Contains(subjects, subject) {
			t.Fatalf("Subjects after delete = %v, %v", subjects, err)
		}
		subjects, err = cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
		if err != nil || !slices.Contains(subjects, subject) {
			t.Fatalf("Subjects with deleted = %v, %v", subjects, err)
		}
		if _, err := cl.SchemaByID(ctx, v1.ID); err != nil {
			t.Fatalf("a soft-deleted schema is no longer readable by id: %v", err)
		}
		_, err = cl.SchemaByVersion(ctx, subject, -1)
		wantCode(t, err, sr.ErrSubjectNotFound.Code)
		_, err = cl.DeleteSubject(ctx, subject, sr.SoftDelete)
		wantCode(t, err, sr.ErrSubjectSoftDeleted.Code)

		// Registering again starts a new version with the old id.
		again := register(t, cl, subject, orderV1)
		if again.ID != v1.ID || again.Version != 3 {
			t.Fatalf("re-registered %+v, want id %d version 3", again, v1.ID)
		}

		if err := cl.DeleteSchema(ctx, subject, 3, sr.SoftDelete); err != nil {
			t.Fatal(err)
		}
		if deleted, err := cl.DeleteSubject(ctx, subject, sr.HardDelete); err != nil || !slices.Equal(deleted, []int{1, 2, 3}) {
			t.Fatalf("hard DeleteSubject = %v, %v", deleted, err)
		}
		_, err = cl.SchemaByVersion(sr.WithParams(ctx, sr.ShowDeleted), subject, 1)
		wantCode(t, err, sr.ErrSubjectNotFound.Code)
	})

	t.Run("a version can be deleted on its own", func(t *testing.T) {
		ctx := testContext(t)
		const subject = "version-delete-value"
		register(t, cl, subject, orderV1)
		register(t, cl, subject, orderV2)
		if err := cl.DeleteSchema(ctx, subject, 2, sr.HardDelete); err == nil {
			t.Fatal("hard-deleted a version that was not soft-deleted")
		}
		if err := cl.DeleteSchema(ctx, subject, -1, sr.SoftDelete); err != nil {
			t.Fatal(err)
		}
		latest, err := cl.SchemaByVersion(ctx, subject, -1)
		if err != nil || latest.Version != 1 {
			t.Fatalf("latest after deleting version 2 = %+v, %v", latest, err)
		}
		if err := cl.DeleteSchema(ctx, subject, 2, sr.HardDelete); err != nil {
			t.Fatal(err)
		}
		versions, err := cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), subject)
		if err != nil || !slices.Equal(versions, []int{1}) {
			t.Fatalf("versions = %v, %v", versions, err)
		}
	})

	t.Run("schema references resolve named types registered under other subjects", func(t *testing.T) {
		ctx := testContext(t)
		address := register(t, cl, "address-value", `{"type":"record","name":"Address","namespace":"common","fields":[{"name":"street","type":"string"}]}`)
		customer, err := cl.CreateSchema(ctx, "customer-value", sr.Schema{
			Schema:     `{"type":"record","name":"Customer","namespace":"common","fields":[{"name":"name","type":"string"},{"name":"home","type":"Address"}]}`,
			References: []sr.SchemaReference{{Name: "common.Address", Subject: "address-value", Version: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		byID, err := cl.SchemaByID(ctx, customer.ID)
		if err != nil || len(byID.References) != 1 || byID.References[0].Subject != "address-value" {
			t.Fatalf("SchemaByID = %+v, %v; want the reference", byID, err)
		}
		refs, err := cl.SchemaReferences(ctx, "address-value", 1)
		if err != nil || len(refs) != 1 || refs[0].ID != customer.ID {
			t.Fatalf("SchemaReferences = %+v, %v", refs, err)
		}
		// An incompatible change inside the referenced type is caught.
		_, err = cl.CreateSchema(ctx, "customer-value", sr.Schema{
			Schema:     `{"type":"record","name":"Customer","namespace":"common","fields":[{"name":"name","type":"string"},{"name":"home","type":"Address"},{"name":"work","type":"Address"}]}`,
			References: []sr.SchemaReference{{Name: "common.Address", Subject: "address-value", Version: 1}},
		})
		wantCode(t, err, 409)
		// A referenced version cannot be deleted.
		err = cl.DeleteSchema(ctx, "address-value", 1, sr.SoftDelete)
		wantCode(t, err, sr.ErrReferenceExists.Code)
		// Without the reference the schema does not parse.
		_, err = cl.CreateSchema(ctx, "orphan-value", avroSchema(`{"type":"record","name":"Orphan","fields":[{"name":"a","type":"common.Address"}]}`))
		wantCode(t, err, sr.ErrInvalidSchema.Code)
		_ = address
	})

	t.Run("subjects, schema lists and the mode endpoint answer like Confluent", func(t *testing.T) {
		ctx := testContext(t)
		register(t, cl, "list-a-value", orderV1)
		subjects, err := cl.Subjects(sr.WithParams(ctx, sr.SubjectPrefix("list-")))
		if err != nil || !slices.Equal(subjects, []string{"list-a-value"}) {
			t.Fatalf("Subjects with prefix = %v, %v", subjects, err)
		}
		all, err := cl.AllSchemas(sr.WithParams(ctx, sr.SubjectPrefix("list-")))
		if err != nil || len(all) != 1 || all[0].Subject != "list-a-value" {
			t.Fatalf("AllSchemas = %+v, %v", all, err)
		}
		types, err := cl.SupportedTypes(ctx)
		if err != nil || !slices.Equal(types, []sr.SchemaType{sr.TypeAvro}) {
			t.Fatalf("SupportedTypes = %v, %v", types, err)
		}
		if m := cl.Mode(ctx); m[0].Err != nil || m[0].Mode != sr.ModeReadWrite {
			t.Fatalf("Mode = %+v", m[0])
		}
	})
}

func TestRegistryHTTPDetails(t *testing.T) {
	t.Parallel()
	b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
	reg, cl := startTestRegistry(t, b.Addrs(), "")
	register(t, cl, "http-value", orderV1)
	url, err := reg.Serve(testContext(t), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, method, path, body, contentType string
		wantStatus                            int
		wantBody                              string
	}{
		{"the root answers with an empty object", http.MethodGet, "/", "", "", 200, `{}`},
		{"plain application/json requests are accepted", http.MethodPost, "/subjects/http-value", `{"schema":` + jsonString(orderV1) + `}`, "application/json", 200, `"version":1`},
		{"requests without a content type are accepted", http.MethodPost, "/subjects/http-value/", `{"schema":` + jsonString(orderV1) + `}`, "", 200, `"subject":"http-value"`},
		{"errors carry error_code and message", http.MethodGet, "/subjects/nobody/versions", "", "", 404, `{"error_code":40401,"message":"Subject 'nobody' not found."}`},
		{"an unparsable body is a 400", http.MethodPost, "/subjects/http-value/versions", `{"schema":`, "application/json", 400, `"error_code":400`},
		{"subjects with slashes work when escaped", http.MethodPost, "/subjects/a%2Fb/versions", `{"schema":"\"int\""}`, "application/json", 200, `"id":`},
		{"the raw schema endpoint returns the bare schema", http.MethodGet, "/subjects/http-value/versions/latest/schema", "", "", 200, orderV1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testContext(t), tc.method, url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("%s %s = %d %s, want %d containing %s", tc.method, tc.path, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); ct != contentType {
				t.Errorf("Content-Type = %q, want %q", ct, contentType)
			}
		})
	}
}

// registryDump is everything observable about a registry, for comparing
// instances.
type registryDump struct {
	Schemas     []sr.SubjectSchema
	Global      sr.CompatibilityLevel
	SubjectCfgs map[string]sr.CompatibilityLevel
}

func dumpRegistry(t *testing.T, cl *sr.Client) registryDump {
	t.Helper()
	ctx := testContext(t)
	all, err := cl.AllSchemas(sr.WithParams(ctx, sr.ShowDeleted))
	if err != nil {
		t.Fatalf("AllSchemas: %v", err)
	}
	d := registryDump{Schemas: all, SubjectCfgs: map[string]sr.CompatibilityLevel{}}
	d.Global = cl.Compatibility(ctx)[0].Level
	subjects, err := cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range cl.Compatibility(ctx, subjects...) {
		if res.Err == nil {
			d.SubjectCfgs[res.Subject] = res.Level
		}
	}
	return d
}

func (d registryDump) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "global=%s subjectLevels=%v\n", d.Global, d.SubjectCfgs)
	for _, s := range d.Schemas {
		fmt.Fprintf(&b, "  %s v%d id=%d %s\n", s.Subject, s.Version, s.ID, s.Schema.Schema)
	}
	return b.String()
}

// seedRegistry registers a mix of schemas, levels and deletions. It
// returns the ID of a schema it permanently deleted.
func seedRegistry(t *testing.T, cl *sr.Client) (purgedID int) {
	t.Helper()
	ctx := testContext(t)
	register(t, cl, "orders-value", orderV1)
	register(t, cl, "orders-value", orderV2)
	register(t, cl, "orders-copy", orderV2)
	register(t, cl, "keys", `"long"`)
	register(t, cl, "gone-value", `{"type":"enum","name":"Color","symbols":["RED"]}`)
	if _, err := cl.DeleteSubject(ctx, "gone-value", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	purgedID = register(t, cl, "purged", `{"type":"fixed","name":"Hash","size":16}`).ID
	if _, err := cl.DeleteSubject(ctx, "purged", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "purged", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "orders-value"); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForwardTransitive}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return purgedID
}

// wantFreshID registers a new schema and checks it gets an ID above every
// ID used so far, including purgedID.
func wantFreshID(t *testing.T, cl *sr.Client, before registryDump, purgedID int) {
	t.Helper()
	maxID := purgedID
	for _, s := range before.Schemas {
		maxID = max(maxID, s.ID)
	}
	if fresh := register(t, cl, "fresh-value", `"bytes"`); fresh.ID != maxID+1 {
		t.Fatalf("new schema got id %d, want %d (IDs of permanently deleted schemas are not reused)", fresh.ID, maxID+1)
	}
}

func dumpsEqual(a, b registryDump) bool {
	return a.String() == b.String()
}

func TestRegistryPersistence(t *testing.T) {
	t.Parallel()

	t.Run("a new registry on the same topic returns the same ids, versions and levels", func(t *testing.T) {
		t.Parallel()
		b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
		reg1, cl1 := startTestRegistry(t, b.Addrs(), "")
		purgedID := seedRegistry(t, cl1)
		before := dumpRegistry(t, cl1)
		reg1.Close()

		_, cl2 := startTestRegistry(t, b.Addrs(), "")
		if after := dumpRegistry(t, cl2); !dumpsEqual(before, after) {
			t.Fatalf("state changed across a registry restart:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		wantFreshID(t, cl2, before, purgedID)
	})

	t.Run("a registry survives a broker restart on the same data dir", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		b := startTestBroker(t, BrokerConfig{DataDir: dir, CompactInterval: -1})
		reg1, cl1 := startTestRegistry(t, b.Addrs(), "")
		seedRegistry(t, cl1)
		before := dumpRegistry(t, cl1)
		reg1.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}

		b2 := startTestBroker(t, BrokerConfig{DataDir: dir, CompactInterval: -1})
		_, cl2 := startTestRegistry(t, b2.Addrs(), "")
		if after := dumpRegistry(t, cl2); !dumpsEqual(before, after) {
			t.Fatalf("state changed across a broker restart:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if ss := register(t, cl2, "orders-value", orderV2); ss.Version != 2 {
			t.Fatalf("re-registering after restart gave %+v, want the existing version 2", ss)
		}
	})

	t.Run("compacting the registry topic keeps the registry's state", func(t *testing.T) {
		t.Parallel()
		b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
		const topic = "_compacted.schemas"
		reg1, cl1 := startTestRegistry(t, b.Addrs(), topic)
		purgedID := seedRegistry(t, cl1)
		ctx := testContext(t)
		// Churn the same keys so compaction has work to do.
		for _, l := range []sr.CompatibilityLevel{sr.CompatNone, sr.CompatBackward, sr.CompatFull} {
			if res := cl1.SetCompatibility(ctx, sr.SetCompatibility{Level: l}, "keys"); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
		}
		before := dumpRegistry(t, cl1)
		reg1.Close()

		beforeRecords := len(consumeAll(t, b.Addrs(), topic, false))
		if res, err := b.compactOnce(ctx); err != nil || !res.compacted {
			t.Fatalf("compactOnce = %+v, %v", res, err)
		}
		if after := len(consumeAll(t, b.Addrs(), topic, false)); after >= beforeRecords {
			t.Fatalf("compaction kept %d of %d records", after, beforeRecords)
		}
		info := b.cluster.TopicInfo(topic)
		if info == nil || !isCompacted(info.Configs) {
			t.Fatalf("registry topic is not compacted: %+v", info)
		}
		if parts := b.cluster.PartitionInfos(topic); len(parts) != 1 {
			t.Fatalf("registry topic has %d partitions, want 1", len(parts))
		}

		_, cl2 := startTestRegistry(t, b.Addrs(), topic)
		if after := dumpRegistry(t, cl2); !dumpsEqual(before, after) {
			t.Fatalf("state changed across compaction:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		wantFreshID(t, cl2, before, purgedID)
	})
}

func TestRegistryInstancesConverge(t *testing.T) {
	t.Parallel()
	b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
	_, clA := startTestRegistry(t, b.Addrs(), "")
	_, clB := startTestRegistry(t, b.Addrs(), "")
	ctx := testContext(t)

	t.Run("a second instance sees the first instance's registrations", func(t *testing.T) {
		a := register(t, clA, "converge-value", orderV1)
		// B syncs to the end of the topic before it writes, so its
		// registration sees A's version 1.
		bb := register(t, clB, "converge-value", orderV2)
		if bb.Version != 2 || bb.ID == a.ID {
			t.Fatalf("B registered %+v after A's %+v, want version 2 with a new id", bb, a)
		}
		waitFor(t, func() bool {
			latest, err := clA.SchemaByVersion(ctx, "converge-value", -1)
			return err == nil && latest.Version == 2
		})
	})

	t.Run("concurrent registrations on two instances never share an id or a version", func(t *testing.T) {
		const subject, perInstance = "race-value", 6
		if res := clA.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, subject); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			results []sr.SubjectSchema
		)
		for i := range 2 * perInstance {
			cl := clA
			if i%2 == 1 {
				cl = clB
			}
			wg.Go(func() {
				schema := fmt.Sprintf(`{"type":"record","name":"R%d","fields":[]}`, i)
				id, err := cl.RegisterSchema(ctx, subject, avroSchema(schema), -1, -1)
				if err != nil {
					t.Errorf("registration %d: %v", i, err)
					return
				}
				mu.Lock()
				results = append(results, sr.SubjectSchema{ID: id, Schema: avroSchema(schema)})
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		ids := map[int]string{}
		for _, r := range results {
			if other, dup := ids[r.ID]; dup {
				t.Fatalf("id %d was given to both %s and %s", r.ID, other, r.Schema.Schema)
			}
			ids[r.ID] = r.Schema.Schema
		}
		var dumpA, dumpB registryDump
		waitFor(t, func() bool {
			dumpA, dumpB = dumpRegistry(t, clA), dumpRegistry(t, clB)
			return dumpsEqual(dumpA, dumpB)
		})
		versions, err := clA.SubjectVersions(ctx, subject)
		if err != nil || len(versions) != 2*perInstance || versions[len(versions)-1] != 2*perInstance {
			t.Fatalf("versions = %v, %v; want 1..%d", versions, err, 2*perInstance)
		}
		for _, r := range results {
			got, err := clB.SchemaByID(ctx, r.ID)
			if err != nil || got.Schema != r.Schema.Schema {
				t.Fatalf("id %d resolves to %q, %v; want %q", r.ID, got.Schema, err, r.Schema.Schema)
			}
		}
	})
}

func TestRegistryVerifiesItsCommits(t *testing.T) {
	t.Parallel()
	t.Run("a write whose commit was silently turned into an abort is detected and retried", func(t *testing.T) {
		b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
		_, cl := startTestRegistry(t, b.Addrs(), "")
		// franz-go can end a transaction with an abort and still report
		// a successful commit. Simulate it: the broker aborts the first
		// commit it is asked for and answers success.
		var flipped atomic.Bool
		b.cluster.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
			if end, ok := req.(*kmsg.EndTxnRequest); ok && end.Commit && flipped.CompareAndSwap(false, true) {
				end.Commit = false
			}
			return nil, nil, false
		})
		ss := register(t, cl, "flipped-value", orderV1)
		if !flipped.Load() {
			t.Fatal("no commit was flipped")
		}
		if ss.ID != 1 || ss.Version != 1 {
			t.Fatalf("registered %+v, want id 1 version 1", ss)
		}
		recs := consumeAll(t, b.Addrs(), DefaultRegistryTopic, true)
		if len(recs) != 1 {
			t.Fatalf("committed records = %v, want exactly the retried registration", recs)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRegistryTopicSetup(t *testing.T) {
	t.Parallel()
	b := startTestBroker(t, BrokerConfig{CompactInterval: -1})

	t.Run("the default topic is created compacted with one partition", func(t *testing.T) {
		startTestRegistry(t, b.Addrs(), "")
		adm := kadm.NewClient(newTestClient(t, b.Addrs()))
		details, err := adm.ListTopics(testContext(t), DefaultRegistryTopic)
		if err != nil || len(details[DefaultRegistryTopic].Partitions) != 1 {
			t.Fatalf("topic details = %+v, %v", details, err)
		}
		if info := b.cluster.TopicInfo(DefaultRegistryTopic); info == nil || !isCompacted(info.Configs) {
			t.Fatalf("topic is not compacted: %+v", info)
		}
	})

	t.Run("a registry without brokers is refused", func(t *testing.T) {
		if _, err := NewRegistry(testContext(t), RegistryConfig{}); err == nil {
			t.Fatal("NewRegistry without brokers succeeded")
		}
	})

	t.Run("serving after close is refused", func(t *testing.T) {
		reg, _ := startTestRegistry(t, b.Addrs(), "_closed.schemas")
		reg.Close()
		if _, err := reg.Serve(testContext(t), "127.0.0.1:0"); err == nil {
			t.Fatal("Serve after Close succeeded")
		}
	})
}
