package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syncline/capture/saas"
	"syncline/transform/entities"
	"syncline/transform/entities/merge"
	"syncline/transform/quality"
	"testing"
	"time"
)

// unsetEnv unsets variables for the duration of the test.
func unsetEnv(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		t.Setenv(n, "") // registers the restore
		os.Unsetenv(n)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestLoad(t *testing.T) {
	unsetEnv(t, "KAFKA_PASSWORD", "REGISTRY_PASSWORD", "APP_DSN", "WAREHOUSE_DSN")

	t.Run("the full example decodes every field", func(t *testing.T) {
		got, err := Load("testdata/full.yaml")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		want := &Config{
			Name:    "quickstart",
			DataDir: mustAbs(t, "testdata/state"),
			Log:     Log{Level: LogDebug, Format: LogJSON},
			Kafka: Kafka{
				Brokers:            []string{"kafka-1:9092", "kafka-2:9092", "kafka-3:9092"},
				TopicPrefix:        "acme.cdc",
				Partitions:         12,
				ReplicationFactor:  3,
				TransactionTimeout: 90 * time.Second,
				SessionTimeout:     20 * time.Second,
				EmbeddedBroker:     EmbeddedBroker{Listen: "127.0.0.1:19092", SyncWrites: true},
				TLS: TLS{
					Enabled:    true,
					CAFile:     mustAbs(t, "testdata/certs/ca.pem"),
					ServerName: "kafka.internal",
				},
				SASL: SASL{Mechanism: SASLScramSHA512, Username: "syncline", Password: "kafka-pass"},
			},
			Registry: Registry{
				URL:      "https://registry.internal:8081",
				Listen:   "127.0.0.1:18081",
				Username: "registry-user",
				Password: "registry-pa$word",
				TLS:      TLS{Enabled: true, ServerName: "registry.internal"},
			},
			HTTP: HTTP{Listen: "0.0.0.0:8080", Token: "s3cr3t-token", TLS: ServerTLS{
				CertFile: mustAbs(t, "testdata/certs/server.pem"), KeyFile: mustAbs(t, "testdata/certs/server-key.pem"), ClientCAFile: mustAbs(t, "testdata/certs/ca.pem")}},
			Transform: Transform{Changes: ChangesTransform{BatchSize: 500}, State: StateStore{EncryptionKey: Secret(strings.Repeat("ab", 32))}},
			Sources: []Source{
				{
					Name:            "app",
					Type:            SourcePostgres,
					DSN:             "postgres://syncline:app-pass@db:5432/app?sslmode=disable",
					Tables:          []string{"public.customers", "public.orders", `"My Schema"."Odd.Name"`},
					Slot:            "app_slot",
					Publication:     "app_pub",
					Snapshot:        SnapshotNever,
					StatusInterval:  5 * time.Second,
					BatchMaxRecords: 5000,
					BatchMaxWait:    50 * time.Millisecond,

					HeartbeatInterval: 30 * time.Second,
					Messages:          []string{"outbox"},
					SignalTable:       "syncline.signals",
					MaxBackfills:      3,
					Keys:              []TableKey{{Table: "public.orders", Columns: []string{"tenant", "order_no"}}},
				},
				{
					Name:            "billing",
					Type:            SourcePostgres,
					DSN:             "host=billing-db user=syncline dbname=billing",
					Tables:          []string{"billing.invoices"},
					Slot:            "syncline_billing",
					Publication:     "syncline_billing",
					Snapshot:        SnapshotInitial,
					StatusInterval:  10 * time.Second,
					BatchMaxRecords: 10000,
					BatchMaxWait:    100 * time.Millisecond,

					HeartbeatInterval: 10 * time.Second,
					MaxBackfills:      2,
				},
				{
					Name: "crm", Type: SourceHubSpot,
					Slot: "syncline_crm", Publication: "syncline_crm", Snapshot: SnapshotInitial,
					StatusInterval: 10 * time.Second, BatchMaxRecords: 10000, BatchMaxWait: 100 * time.Millisecond,
					HeartbeatInterval: 10 * time.Second, MaxBackfills: 2,
					HubSpot: HubSpotSource{
						Token: "pat-na1-example", BaseURL: "https://api.hubapi.com",
						Objects:      []HubSpotObject{{Type: "contacts", Properties: []string{"email", "firstname", "hs_lead_score:float64"}}},
						PollInterval: 30 * time.Second, Lookback: 10 * time.Minute, Settle: 15 * time.Second, RequestsPerSecond: 3,
					},
				},
				saasSource("sfdc", SourceSalesforce, func(s *Source) {
					s.Salesforce = SalesforceSource{
						InstanceURL: "https://acme.my.salesforce.com", APIVersion: "61.0", Token: "00Dexample!token",
						Objects:           []SaaSObject{{Type: "Account", Properties: []string{"Name", "AnnualRevenue:float64", "Owner.Email"}}},
						ReconcileInterval: 12 * time.Hour,
						SaaSPolling:       SaaSPolling{PollInterval: 2 * time.Minute, Lookback: 5 * time.Minute, Settle: 30 * time.Second, RequestsPerSecond: 1},
					}
				}),
				saasSource("payments", SourceStripe, func(s *Source) {
					s.Stripe = StripeSource{
						APIKey: "rk_test_example", BaseURL: "https://api.stripe.com",
						Objects:     []SaaSObject{{Type: "customer", Properties: []string{"email", "name", "balance:int64", "metadata.plan"}}},
						SaaSPolling: SaaSPolling{PollInterval: 30 * time.Second, Lookback: 2 * time.Minute, Settle: 5 * time.Second, RequestsPerSecond: 10},
					}
				}),
				saasSource("support", SourceZendesk, func(s *Source) {
					s.Zendesk = ZendeskSource{
						Subdomain: "acme", BaseURL: "https://acme.zendesk.com", Email: "ops@acme.com", APIToken: "zd-example",
						Objects: []SaaSObject{
							{Type: "tickets", Properties: []string{"subject", "status", "requester_id:int64"}},
							{Type: "users", Properties: []string{"email", "name"}},
						},
						SaaSPolling: SaaSPolling{PollInterval: 2 * time.Minute, Lookback: 3 * time.Minute, Settle: 30 * time.Second, RequestsPerSecond: 0.1},
					}
				}),
				saasSource("email", SourceMailchimp, func(s *Source) {
					s.Mailchimp = MailchimpSource{
						APIKey: "0123456789abcdef0123456789abcdef-us6", BaseURL: "https://us6.api.mailchimp.com",
						Lists:             []MailchimpList{{ID: "a1b2c3d4e5", Name: "newsletter", Properties: []string{"email_address", "status", "merge_fields.FNAME"}}},
						ReconcileInterval: 12 * time.Hour,
						SaaSPolling:       SaaSPolling{PollInterval: 5 * time.Minute, Lookback: 10 * time.Minute, Settle: 5 * time.Second, RequestsPerSecond: 5},
					}
				}),
				saasSource("shop", SourceHTTP, func(s *Source) { s.HTTP = fullHTTPSource() }),
				saasSource("ledger", SourceHTTP, func(s *Source) {
					s.HTTP = HTTPSource{BaseURL: "https://ledger.example", Auth: HTTPAuth{RESTAuth: RESTAuth{Type: "api_key", Header: "X-Ledger-Key", Key: "lk-example"}},
						Objects: []HTTPObject{{Name: "entries", Request: saas.Request{Path: "/entries"}, IDFields: []string{"account", "number"}, Cursor: HTTPCursor{Field: "updated_at", Format: "unix_ms"}, Pagination: saas.Pagination{Type: "link"}}}}
				}),
				saasSource("tickets", SourceHTTP, func(s *Source) {
					s.HTTP = HTTPSource{BaseURL: "https://desk.example", Auth: HTTPAuth{RESTAuth: RESTAuth{Type: "bearer", Token: "desk-token"}},
						Objects: []HTTPObject{{Name: "tickets", Request: saas.Request{Path: "/tickets"}, RecordsPath: "tickets", Cursor: HTTPCursor{Field: "updated_at", Format: "unix"}, Pagination: saas.Pagination{Type: "offset"}}}}
				}),
				saasSource("legacy", SourceHTTP, func(s *Source) {
					s.HTTP = HTTPSource{BaseURL: "https://legacy.example", Auth: HTTPAuth{RESTAuth: RESTAuth{Type: "basic", Username: "sync", Password: "legacy-pass"}},
						Objects: []HTTPObject{{Name: "accounts", Request: saas.Request{Path: "/accounts"}, Cursor: HTTPCursor{Field: "modified"}, Pagination: saas.Pagination{Type: "none"}}}}
				}),
			},
			Sinks: []Sink{{
				Name:         "warehouse",
				Type:         SinkPostgres,
				DSN:          "postgres://loader:wh-pass@warehouse:5432/dw",
				Schema:       "analytics",
				From:         []string{"app.public.customers", `app."My Schema"."Odd.Name"`, "billing.*"},
				BatchSize:    2000,
				BatchTimeout: time.Second,
				DeleteMode:   DeleteSoft,
				Truncate:     TruncateIgnore,
				Audit:        SinkAudit{Enabled: true, Retention: 168 * time.Hour},
				Reconcile:    SinkReconcile{Interval: time.Hour, Repair: true, Settle: 10 * time.Second},
			}, {
				Name: "crm_out", Type: SinkHubSpot, Schema: "public", From: []string{"app.public.customers"}, System: "crm",
				BatchSize: 50, BatchTimeout: 2 * time.Second, DeleteMode: DeleteHard, Truncate: TruncateApply,
				Audit: SinkAudit{Enabled: true, Retention: 720 * time.Hour}, Reconcile: SinkReconcile{Settle: 5 * time.Second},
				HubSpot: HubSpotSink{
					Token: "pat-na1-example", BaseURL: "https://api.hubapi.com", ObjectType: "contacts", IDProperty: "email",
					DeleteMode: "ignore", RequestsPerSecond: 8,
					Properties: []HubSpotSinkProperty{
						{Name: "email", From: "email", Transform: "email", Required: true},
						{Name: "phone", From: "phone", Transform: "phone", Region: "US"},
						{Name: "firstname", From: "first_name"},
						{Name: "lifecyclestage", Value: "lead"},
					},
				},
				Retry: SinkRetry{MaxAttempts: 6, InitialBackoff: 10 * time.Second, MaxBackoff: 5 * time.Minute},
			}, {
				Name: "hook_out", Type: SinkWebhook, Schema: "public", From: []string{"app.public.customers"},
				BatchSize: 200, BatchTimeout: time.Second, DeleteMode: DeleteHard, Truncate: TruncateApply,
				Audit: SinkAudit{Enabled: true, Retention: 720 * time.Hour}, Reconcile: SinkReconcile{Settle: 5 * time.Second},
				Webhook: WebhookSink{
					URL: "https://hooks.example.com/syncline", Secret: "whsec-example",
					Headers: []WebhookHeader{{Name: "Authorization", Value: "Bearer example"}}, Timeout: 10 * time.Second,
				},
			}, {
				Name: "billing_api", Type: SinkREST, Schema: "public", From: []string{"app.public.customers"},
				BatchSize: 1, BatchTimeout: 500 * time.Millisecond, DeleteMode: DeleteHard, Truncate: TruncateApply,
				Audit: SinkAudit{Enabled: true, Retention: 720 * time.Hour}, Reconcile: SinkReconcile{Settle: 5 * time.Second},
				Retry: SinkRetry{MaxAttempts: 8, InitialBackoff: time.Second, MaxBackoff: time.Minute},
				REST: RESTSink{
					BaseURL: "https://api.example.com", Auth: RESTAuth{Type: "basic", Username: "syncline", Password: "example-password"},
					IDField: "id", Upsert: RESTRequest{Method: "PUT", Path: "/v1/customers/{id}"}, Delete: RESTRequest{Method: "DELETE", Path: "/v1/customers/{id}"},
					Read: RESTRequest{Method: "GET", Path: "/v1/customers/{id}"},
					Fields: []HubSpotSinkProperty{
						{Name: "id", From: "id"},
						{Name: "email", From: "email", Transform: "email", Required: true},
						{Name: "country", From: "country", Transform: "country"},
						{Name: "plan", Value: "free"},
					},
					IdempotencyHeader: "Idempotency-Key", Headers: []WebhookHeader{{Name: "X-Tenant", Value: "acme"}},
					RequestsPerSecond: 5, Timeout: 15 * time.Second,
				},
			}, {
				Name: "stripe_customers", Type: SinkStripe, Schema: "public", From: []string{"app.public.customers"}, System: "billing",
				BatchSize: 1000, BatchTimeout: 500 * time.Millisecond, DeleteMode: DeleteHard, Truncate: TruncateApply,
				Audit: SinkAudit{Enabled: true, Retention: 720 * time.Hour}, Reconcile: SinkReconcile{Settle: 5 * time.Second},
				Stripe: StripeSink{
					APIKey: "sk_test_example", BaseURL: "https://api.stripe.com", KeyField: "id",
					Fields: []HubSpotSinkProperty{
						{Name: "id", From: "id"},
						{Name: "email", From: "email", Transform: "email", Required: true},
						{Name: "address.country", From: "country", Transform: "country"},
						{Name: "metadata.plan", Value: "free"},
					},
					DeleteMode: "delete", RequestsPerSecond: 50, MaxConcurrent: 2,
				},
			}, {
				Name: "sf_contacts", Type: SinkSalesforce, Schema: "public", From: []string{"app.public.customers"},
				BatchSize: 200, BatchTimeout: 500 * time.Millisecond, DeleteMode: DeleteHard, Truncate: TruncateApply,
				Audit: SinkAudit{Enabled: true, Retention: 720 * time.Hour}, Reconcile: SinkReconcile{Settle: 5 * time.Second},
				Salesforce: SalesforceSink{
					InstanceURL: "https://acme.my.salesforce.com", AccessToken: "00Dexample", APIVersion: "60.0",
					SObject: "Contact", ExternalIDField: "Ext_Id__c",
					Fields: []HubSpotSinkProperty{
						{Name: "Ext_Id__c", From: "id"},
						{Name: "Email", From: "email", Transform: "email"},
						{Name: "LastName", From: "name", Required: true},
					},
					DeleteMode: "delete", RequestsPerSecond: 5,
				},
			}, {
				Name: "newsletter", Type: SinkMailchimp, Schema: "public", From: []string{"app.public.customers"},
				BatchSize: 1, BatchTimeout: 500 * time.Millisecond, DeleteMode: DeleteHard, Truncate: TruncateApply,
				Audit: SinkAudit{Enabled: true, Retention: 720 * time.Hour}, Reconcile: SinkReconcile{Settle: 5 * time.Second},
				Mailchimp: MailchimpSink{
					APIKey: "0123456789abcdef-us21", BaseURL: "https://us21.api.mailchimp.com", ListID: "a1b2c3d4e5",
					EmailField: "email_address", StatusIfNew: "pending",
					Fields: []HubSpotSinkProperty{
						{Name: "email_address", From: "email", Transform: "email", Required: true},
						{Name: "FNAME", From: "name"},
						{Name: "COUNTRY", From: "country", Transform: "country"},
					},
					DeleteMode: "archive", RequestsPerSecond: 20, MaxConcurrent: 3,
				},
			}, {
				Name: "app_back", Type: SinkPostgres, DSN: "postgres://syncline_writer:w-pass@db:5432/app", Schema: "syncline",
				From: []string{"entity.contact"}, System: "app",
				BatchSize: 1000, BatchTimeout: 500 * time.Millisecond, DeleteMode: DeleteHard, Truncate: TruncateApply,
				Audit: SinkAudit{Enabled: true, Retention: 720 * time.Hour}, Reconcile: SinkReconcile{Settle: 5 * time.Second},
				WriteBack: SinkWriteBack{Table: "public.customers", Key: "id", Insert: true, Columns: []HubSpotSinkProperty{
					{Name: "plan", From: "plan"}, {Name: "email", From: "email", Transform: "email"},
				}},
			}},
			Entities: []entities.Spec{{
				Name: "contact", Shards: 2,
				Sources: []entities.SourceSpec{
					{From: "app.public.customers"},
					{From: "billing.billing.invoices", Name: "billing_db", Fields: map[string]string{"email": "customer_email", "balance": "total"},
						ExternalIDs: map[string]string{"app": "customer_id"}},
				},
				Fields: map[string]entities.FieldSpec{
					"email":   {Type: "string", Field: merge.Field{Required: true}},
					"balance": {Type: "numeric", Field: merge.Field{Policy: merge.Sum, Anomaly: &merge.Anomaly{Factor: 10}}},
					"plan":    {Field: merge.Field{SystemOfRecord: "app", HighStakes: true}},
					"tier":    {Field: merge.Field{SourcePriority: []string{"billing_db", "app"}}},
				},
				Default:             merge.Field{Policy: merge.LastWriterWins},
				DeleteWhenNoSources: true,
				Quality: quality.EntityConfig{
					Spec: quality.Spec{
						Fields: map[string]quality.Field{"email": {Normalize: quality.NormalizeEmail}},
						Rules:  []quality.Rule{{Name: "positive_balance", When: "balance != null", Check: "balance >= 0"}},
					},
					Sources: map[string]quality.Spec{"billing_db": {Fields: map[string]quality.Field{"email": {Normalize: quality.NormalizeEmail, OnInvalid: quality.Drop}}}},
				},
				Match: entities.MatchSpec{AutoMerge: 0.9, ReviewFrom: 0.7, DefaultRegion: "GB", PlusAddressing: true,
					DotInsensitiveDomains: []string{"gmail.com"}, Fields: entities.MatchFields{Email: "email"}},
			}},
		}
		want.meta = got.meta
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Load mismatch\n got: %s\nwant: %s", dump(got), dump(want))
		}
		if got.Kafka.Embedded() {
			t.Error("Embedded() = true with brokers configured")
		}
	})

	t.Run("environment variables override the example's defaults", func(t *testing.T) {
		t.Setenv("APP_DSN", "postgres://u:from-env@h/db")
		got, err := Load("testdata/full.yaml")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if got.Sources[0].DSN.Value() != "postgres://u:from-env@h/db" {
			t.Errorf("DSN = %q, want the value of APP_DSN", got.Sources[0].DSN.Value())
		}
	})

	t.Run("a missing file is an error naming it", func(t *testing.T) {
		_, err := Load("testdata/does-not-exist.yaml")
		if err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
			t.Errorf("err = %v, want it to name the file", err)
		}
	})
}

// dump prints a Config with its secrets, for test failure messages.
func dump(c *Config) string {
	var b strings.Builder
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), prefix+"."+v.Type().Field(i).Name)
				}
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), prefix+"["+string(rune('0'+i))+"]")
			}
		default:
			if v.Type() == reflect.TypeFor[Secret]() {
				b.WriteString(prefix + "=" + v.String() + "\n")
			} else {
				b.WriteString(prefix + "=" + reflect.ValueOf(v.Interface()).String() + "\n")
			}
		}
	}
	walk(reflect.ValueOf(*c), "")
	return "\n" + b.String()
}

func TestParseAppliesDefaults(t *testing.T) {
	const doc = `
name: mini
sources:
  - name: app
    type: postgres
    dsn: postgres://localhost/app
    tables: [customers]
sinks:
  - name: wh
    type: postgres
    dsn: postgres://localhost/wh
    from: [app.*]
`
	got, err := Parse([]byte(doc), "/etc/syncline/pipeline.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Name = "mini"
	want.DataDir = "/etc/syncline/.syncline"
	want.Sources = []Source{{
		Name: "app", Type: SourcePostgres, DSN: "postgres://localhost/app",
		Tables: []string{"public.customers"},
		Slot:   "syncline_app", Publication: "syncline_app",
		Snapshot: SnapshotInitial, StatusInterval: 10 * time.Second,
		BatchMaxRecords: 10000, BatchMaxWait: 100 * time.Millisecond,
		HeartbeatInterval: 10 * time.Second, MaxBackfills: 2,
	}}
	want.Sinks = []Sink{{
		Name: "wh", Type: SinkPostgres, DSN: "postgres://localhost/wh",
		Schema: "public", From: []string{"app.*"},
		BatchSize: 1000, BatchTimeout: 500 * time.Millisecond,
		DeleteMode: DeleteHard, Truncate: TruncateApply,
		Audit:     SinkAudit{Enabled: true, Retention: 720 * time.Hour},
		Reconcile: SinkReconcile{Settle: 5 * time.Second},
	}}
	want.meta = got.meta
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse mismatch\n got: %s\nwant: %s", dump(got), dump(want))
	}

	checks := []struct {
		name string
		ok   bool
	}{
		{"the log level defaults to info", got.Log.Level == LogInfo},
		{"the embedded broker is used without brokers", got.Kafka.Embedded()},
		{"the embedded broker listens on 127.0.0.1:9092", got.Kafka.EmbeddedBroker.Listen == "127.0.0.1:9092"},
		{"the registry listens on 127.0.0.1:8081", got.Registry.Listen == "127.0.0.1:8081"},
		{"the HTTP server listens on 127.0.0.1:8080", got.HTTP.Listen == "127.0.0.1:8080"},
		{"the replication factor defaults to the broker's", got.Kafka.ReplicationFactor == -1},
		{"the transaction timeout is 60s", got.Kafka.TransactionTimeout == time.Minute},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Fail()
			}
		})
	}
}

func TestParseExplicitValues(t *testing.T) {
	base := "name: x\nsources: [{name: app, type: postgres, dsn: 'host=h', tables: [t]}]\n"
	tests := []struct {
		name  string
		extra string
		check func(*Config) bool
	}{
		{"an explicitly empty http listen disables the server", "http: {listen: \"\"}\n",
			func(c *Config) bool { return c.HTTP.Listen == "" }},
		{"a null value keeps the default", "http: {listen: ~}\nkafka:\n  partitions:\n",
			func(c *Config) bool { return c.HTTP.Listen == defaultHTTPListen && c.Kafka.Partitions == 4 }},
		{"an empty mapping keeps all defaults", "kafka: {}\n",
			func(c *Config) bool { return c.Kafka.TopicPrefix == "syncline" }},
		{"the sasl mechanism is case-insensitive and upper-cased",
			"kafka: {brokers: [k:9092], sasl: {mechanism: plain, username: u, password: p}}\n",
			func(c *Config) bool { return c.Kafka.SASL.Mechanism == SASLPlain }},
		{"brokers from an unset variable fall back to the embedded broker", "kafka: {brokers: [\"${NO_SUCH_BROKERS:-}\"]}\n",
			func(c *Config) bool { return c.Kafka.Embedded() && c.Kafka.Brokers == nil }},
		{"an absolute data_dir is kept", "data_dir: /var/lib/syncline\n",
			func(c *Config) bool { return c.DataDir == "/var/lib/syncline" }},
		{"unquoted table names are folded to lower case", "sources: [{name: app, type: postgres, dsn: 'host=h', tables: [Public.Customers]}]\n",
			func(c *Config) bool { return c.Sources[0].Tables[0] == "public.customers" }},
		{"a quoted sink schema keeps its case", "sinks: [{name: s, type: postgres, dsn: 'host=h', schema: '\"Analytics\"', from: [app.*]}]\n",
			func(c *Config) bool {
				return c.Sinks[0].Schema == `"Analytics"` && c.Sinks[0].SchemaName() == "Analytics"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := base + tt.extra
			if strings.HasPrefix(tt.extra, "sources:") {
				doc = "name: x\n" + tt.extra
			}
			c, err := Parse([]byte(doc), "pipeline.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected result: %s", dump(c))
			}
		})
	}

	t.Run("merge keys and anchors share settings between sinks", func(t *testing.T) {
		doc := `
name: x
sources: [{name: app, type: postgres, dsn: 'host=h', tables: [t]}]
sinks:
  - &wh
    name: one
    type: postgres
    dsn: host=wh
    from: [app.*]
    batch_size: 7
  - <<: *wh
    name: two
`
		c, err := Parse([]byte(doc), "pipeline.yaml")
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if c.Sinks[1].Name != "two" || c.Sinks[1].BatchSize != 7 || c.Sinks[1].DSN.Value() != "host=wh" {
			t.Errorf("merged sink = %s", dump(c))
		}
	})
}

func TestParseErrors(t *testing.T) {
	const src = "sources:\n  - name: app\n    type: postgres\n    dsn: postgres://h/db\n    tables: [public.customers, public.orders]\n"
	tests := []struct {
		name string
		doc  string
		env  map[string]string
		// want are substrings that must all appear in the error.
		want []string
		// not are substrings that must not appear in the error.
		not []string
	}{
		{
			name: "an unknown top-level key names the key, its line and the known keys",
			doc:  "name: x\nsink: []\n" + src,
			want: []string{`pipeline.yaml:2: unknown key "sink" at top level (did you mean "sinks"?) (known: name, data_dir, log, kafka, registry, http, transform, sources, sinks, entities)`},
		},
		{
			name: "an unknown nested key names the key, its section and line",
			doc:  "name: x\nkafka:\n  topic_prefix: p\n  brokerz: [a:1]\n" + src,
			want: []string{`pipeline.yaml:4: unknown key "brokerz" in kafka (did you mean "brokers"?) (known: brokers, topic_prefix, partitions,`},
		},
		{
			name: "an unknown key inside a list item names the item",
			doc:  "name: x\n" + src + "    tabels: [x]\n",
			want: []string{`pipeline.yaml:7: unknown key "tabels" in sources[0] (did you mean "tables"?)`},
		},
		{
			name: "a duplicate key is reported with both lines",
			doc:  "name: x\nname: y\n" + src,
			want: []string{`pipeline.yaml:2: name: duplicate key "name" (first set on line 1)`},
		},
		{
			name: "a string where a number is expected names key and line",
			doc:  "name: x\nkafka:\n  partitions: four\n" + src,
			want: []string{`pipeline.yaml:3: kafka.partitions: expected an integer, got "four"`},
		},
		{
			name: "a list where a string is expected names key and line",
			doc:  "name: [x]\n" + src,
			want: []string{`pipeline.yaml:1: name: expected a string, got a list`},
		},
		{
			name: "a string where a list is expected explains list syntax",
			doc:  "name: x\nsources:\n  - name: app\n    type: postgres\n    dsn: host=h\n    tables: public.customers\n",
			want: []string{`pipeline.yaml:6: sources[0].tables: expected a list`},
			not:  []string{"at least one table"},
		},
		{
			name: "a non-boolean where a boolean is expected names key and line",
			doc:  "name: x\nkafka:\n  embedded: {sync_writes: maybe}\n" + src,
			want: []string{`pipeline.yaml:3: kafka.embedded.sync_writes: expected true or false, got "maybe"`},
		},
		{
			name: "a bad duration names key, line and the expected format",
			doc:  "name: x\nkafka:\n  transaction_timeout: 60\n" + src,
			want: []string{`pipeline.yaml:3: kafka.transaction_timeout: invalid duration "60" (a unit is required); use a Go duration such as "500ms"`},
		},
		{
			name: "a malformed duration in a list item names the item",
			doc:  "name: x\n" + src + "    batch_max_wait: soon\n",
			want: []string{`pipeline.yaml:7: sources[0].batch_max_wait: invalid duration "soon"`},
		},
		{
			name: "a missing name is required",
			doc:  src,
			want: []string{`pipeline.yaml: name: required`},
		},
		{
			name: "missing sources are required",
			doc:  "name: x\n",
			want: []string{`sources: at least one source is required`},
		},
		{
			name: "a source without dsn points at the source's line",
			doc:  "name: x\nsources:\n  - name: app\n    type: postgres\n    tables: [t]\n",
			want: []string{`pipeline.yaml:3: sources[0].dsn: required`},
		},
		{
			name: "a source without tables says how to list them",
			doc:  "name: x\nsources:\n  - name: app\n    type: postgres\n    dsn: host=h\n    tables: []\n",
			want: []string{`pipeline.yaml:6: sources[0].tables: at least one table is required`},
		},
		{
			name: "duplicate source names name both entries",
			doc:  "name: x\n" + src + "  - name: app\n    type: postgres\n    dsn: host=h\n    tables: [t]\n",
			want: []string{`pipeline.yaml:7: sources[1].name: duplicate source name "app" (also sources[0]); names must be unique`},
		},
		{
			name: "duplicate sink names name both entries",
			doc: "name: x\n" + src + "sinks:\n" +
				"  - {name: wh, type: postgres, dsn: host=h, from: [app.*]}\n" +
				"  - {name: wh, type: postgres, dsn: host=h, from: [app.*]}\n",
			want: []string{`pipeline.yaml:9: sinks[1].name: duplicate sink name "wh" (also sinks[0])`},
		},
		{
			name: "duplicate tables are an error even when spelled differently",
			doc:  "name: x\nsources:\n  - name: app\n    type: postgres\n    dsn: host=h\n    tables:\n      - public.customers\n      - Customers\n",
			want: []string{`pipeline.yaml:8: sources[0].tables[1]: duplicate table public.customers (also tables[0])`},
		},
		{
			name: "an invalid table name explains quoting",
			doc:  "name: x\nsources:\n  - name: app\n    type: postgres\n    dsn: host=h\n    tables:\n      - public.my-table\n",
			want: []string{`pipeline.yaml:7: sources[0].tables[0]: invalid table name "public.my-table"`, `double-quote it`},
		},
		{
			name: "an unknown source type lists the supported ones",
			doc:  "name: x\nsources:\n  - name: app\n    type: mysql\n    dsn: host=h\n    tables: [t]\n",
			want: []string{`pipeline.yaml:4: sources[0].type: unsupported source type "mysql"; supported source types: postgres`},
		},
		{
			name: "an unknown sink type lists the supported ones",
			doc:  "name: x\n" + src + "sinks:\n  - {name: wh, type: snowflake, dsn: host=h, from: [app.*]}\n",
			want: []string{`pipeline.yaml:8: sinks[0].type: unsupported sink type "snowflake"; supported sink types: postgres`},
		},
		{
			name: "a sink from an unknown source lists the configured sources",
			doc:  "name: x\n" + src + "sinks:\n  - name: wh\n    type: postgres\n    dsn: host=h\n    from:\n      - ap.public.customers\n",
			want: []string{`pipeline.yaml:12: sinks[0].from[0]: unknown source "ap" (did you mean "app"?); configured sources: app`},
		},
		{
			name: "a sink from an unknown table lists the source's tables",
			doc:  "name: x\n" + src + "sinks:\n  - name: wh\n    type: postgres\n    dsn: host=h\n    from:\n      - app.public.customer\n",
			want: []string{`pipeline.yaml:12: sinks[0].from[0]: source "app" has no table public.customer (did you mean "app.public.customers"?); its tables: app.public.customers, app.public.orders`},
		},
		{
			name: "a sink from entry without a schema suggests the full form",
			doc:  "name: x\n" + src + "sinks:\n  - {name: wh, type: postgres, dsn: host=h, from: [app.customers]}\n",
			want: []string{`sinks[0].from[0]: invalid entry "app.customers"`, `did you mean app.public.customers?`},
		},
		{
			name: "a bad enum value lists the allowed values",
			doc:  "name: x\nlog:\n  level: warning\n" + src,
			want: []string{`pipeline.yaml:3: log.level: invalid value "warning" (did you mean "warn"?); use one of debug, info, warn, error`},
		},
		{
			name: "a bad delete mode lists the allowed values",
			doc:  "name: x\n" + src + "sinks:\n  - {name: wh, type: postgres, dsn: host=h, from: [app.*], delete_mode: archive}\n",
			want: []string{`sinks[0].delete_mode: invalid value "archive"; use one of hard, soft`},
		},
		{
			name: "a negative audit retention is refused",
			doc:  "name: x\n" + src + "sinks:\n  - {name: wh, type: postgres, dsn: host=h, from: [app.*], audit: {retention: -1h}}\n",
			want: []string{`sinks[0].audit.retention: must be 0 (keep audit rows forever) or a positive duration`},
		},
		{
			name: "a negative reconcile interval is refused",
			doc:  "name: x\n" + src + "sinks:\n  - {name: wh, type: postgres, dsn: host=h, from: [app.*], reconcile: {interval: -1h}}\n",
			want: []string{`sinks[0].reconcile.interval: must not be negative`},
		},
		{
			name: "a bad sasl mechanism lists the supported ones",
			doc:  "name: x\nkafka:\n  brokers: [k:9092]\n  sasl: {mechanism: scram, username: u, password: p}\n" + src,
			want: []string{`pipeline.yaml:4: kafka.sasl.mechanism: unsupported SASL mechanism "SCRAM"`, "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"},
		},
		{
			name: "a sasl mechanism without credentials requires them",
			doc:  "name: x\nkafka:\n  brokers: [k:9092]\n  sasl:\n    mechanism: PLAIN\n" + src,
			want: []string{`pipeline.yaml:4: kafka.sasl.username: required when kafka.sasl.mechanism is PLAIN`, `kafka.sasl.password: required`},
		},
		{
			name: "out-of-range partitions give the range",
			doc:  "name: x\nkafka: {partitions: 0}\n" + src,
			want: []string{`pipeline.yaml:2: kafka.partitions: must be between 1 and 10000, got 0`},
		},
		{
			name: "a session timeout outside the brokers' bounds gives the range",
			doc:  "name: x\nkafka: {session_timeout: 2s}\n" + src,
			want: []string{`pipeline.yaml:2: kafka.session_timeout: must be between 6s and 30m (the brokers' default group session bounds), got 2s`},
		},
		{
			name: "an invalid pipeline name suggests a valid one",
			doc:  "name: Quick Start\n" + src,
			want: []string{`pipeline.yaml:1: name: "Quick Start" is not a valid pipeline name`, `(for example "quick_start")`},
		},
		{
			name: "the embedded registry needs a listen address with external brokers",
			doc:  "name: x\nkafka: {brokers: [k:9092]}\nregistry: {listen: \"\"}\n" + src,
			want: []string{`pipeline.yaml:3: registry.listen: required when kafka.brokers is set and registry.url is empty`},
		},
		{
			name: "tls on the embedded broker is refused",
			doc:  "name: x\nkafka:\n  tls: {enabled: true}\n" + src,
			want: []string{`pipeline.yaml:3: kafka.tls.enabled: TLS is only used with external brokers`},
		},
		{
			name: "tls settings without tls enabled are refused",
			doc:  "name: x\nkafka:\n  brokers: [k:9092]\n  tls:\n    ca_file: /etc/ca.pem\n" + src,
			want: []string{`pipeline.yaml:5: kafka.tls.ca_file: is set but kafka.tls.enabled is false; set enabled: true or remove ca_file`},
		},
		{
			name: "a missing tls file names the key and the file",
			doc:  "name: x\nkafka:\n  brokers: [k:9092]\n  tls:\n    enabled: true\n    ca_file: /nonexistent/ca.pem\n" + src,
			want: []string{`pipeline.yaml:6: kafka.tls.ca_file: stat /nonexistent/ca.pem: no such file or directory`},
		},
		{
			name: "a client certificate without a key is refused",
			doc:  "name: x\nkafka:\n  brokers: [k:9092]\n  tls:\n    enabled: true\n    cert_file: testdata/certs/ca.pem\n" + src,
			want: []string{`pipeline.yaml:4: kafka.tls.key_file: required: a client certificate needs both cert_file and key_file`},
		},
		{
			name: "registry tls with an http url is refused",
			doc:  "name: x\nregistry:\n  url: http://r:8081\n  tls: {enabled: true}\n" + src,
			want: []string{`pipeline.yaml:4: registry.tls.enabled: TLS is enabled but registry.url uses http://`},
		},
		{
			name: "a registry url without a scheme is refused",
			doc:  "name: x\nregistry:\n  url: registry:8081\n" + src,
			want: []string{`pipeline.yaml:3: registry.url: must start with http:// or https://`},
		},
		{
			name: "a bad broker address names the broker",
			doc:  "name: x\nkafka:\n  brokers:\n    - kafka-1\n" + src,
			want: []string{`pipeline.yaml:4: kafka.brokers[0]: "kafka-1" is not a host:port address`},
		},
		{
			name: "an unset environment variable names the variable, key and line",
			doc:  "name: x\nsources:\n  - name: app\n    type: postgres\n    dsn: ${SYNCLINE_TEST_UNSET}\n    tables: [t]\n",
			want: []string{`pipeline.yaml:5: sources[0].dsn: environment variable SYNCLINE_TEST_UNSET is not set; set it, or give a default with ${SYNCLINE_TEST_UNSET:-default}`},
			not:  []string{"dsn: required"},
		},
		{
			name: "an unterminated reference suggests $$",
			doc:  "name: x-${A\n" + src,
			want: []string{`pipeline.yaml:1: name: unterminated "${"`, `"$$"`},
		},
		{
			name: "a missing secret file names the key and the file",
			doc:  "name: x\nhttp: {token: '${file:/nonexistent/syncline-token}'}\n" + src,
			want: []string{`pipeline.yaml:2: http.token: reading secret file: open /nonexistent/syncline-token: no such file or directory`},
		},
		{
			name: "an invalid DSN never prints the DSN",
			doc:  "name: x\nsources:\n  - name: app\n    type: postgres\n    dsn: \"postgres://user:hunter2@host:5432/db\\x7f\"\n    tables: [t]\n",
			want: []string{`pipeline.yaml:5: sources[0].dsn: is not a valid postgres:// URL`},
			not:  []string{"hunter2"},
		},
		{
			name: "a secret of the wrong type does not print its value",
			doc:  "name: x\nhttp:\n  token: {value: hunter2}\n" + src,
			want: []string{`pipeline.yaml:3: http.token: expected a string, got a mapping`},
			not:  []string{"hunter2"},
		},
		{
			name: "invalid YAML gives the line",
			doc:  "name: x\nkafka: [\n",
			want: []string{`pipeline.yaml:2: invalid YAML:`},
		},
		{
			name: "tab indentation is explained",
			doc:  "name: x\nkafka:\n\tpartitions: 3\n",
			want: []string{`invalid YAML`, `spaces, not tabs`},
		},
		{
			name: "a second document is refused",
			doc:  "name: x\n" + src + "---\nname: y\n",
			want: []string{`pipeline.yaml:7: found a second YAML document`},
		},
		{
			name: "an empty document says what is needed",
			doc:  "# nothing\n",
			want: []string{`pipeline.yaml: the configuration is empty`},
		},
		{
			name: "a top-level list is refused",
			doc:  "- name: x\n",
			want: []string{`pipeline.yaml:1: expected a mapping (key: value pairs), got a list`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			_, err := parse([]byte(tt.doc), "pipeline.yaml", parseOptions{lookupEnv: env, readFile: readSecretFile})
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q; got:\n%s", w, msg)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(msg, n) {
					t.Errorf("error contains %q; got:\n%s", n, msg)
				}
			}
			// Every joined error is a *FieldError.
			var joined interface{ Unwrap() []error }
			if errors.As(err, &joined) {
				for _, e := range joined.Unwrap() {
					var fe *FieldError
					if !errors.As(e, &fe) {
						t.Errorf("%T is not a *FieldError: %v", e, e)
					}
				}
			} else if fe := (*FieldError)(nil); !errors.As(err, &fe) {
				t.Errorf("%T is not a *FieldError: %v", err, err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Run("all problems are reported at once, in line order", func(t *testing.T) {
		doc := "name: BAD\nkafka:\n  partitions: 0\nsources:\n  - name: app\n    type: mysql\n    tables: [t]\n"
		_, err := Parse([]byte(doc), "pipeline.yaml")
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		lines := strings.Split(err.Error(), "\n")
		want := []string{
			"pipeline.yaml:1: name:",
			"pipeline.yaml:3: kafka.partitions:",
			"pipeline.yaml:5: sources[0].dsn:",
			"pipeline.yaml:6: sources[0].type:",
		}
		if len(lines) != len(want) {
			t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(want), err)
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
			}
		}
	})

	t.Run("a hand-built config from Default reports paths without lines", func(t *testing.T) {
		c := Default()
		c.Name = "x"
		c.Sources = []Source{{Name: "a", Type: SourcePostgres, DSN: "host=h", Tables: []string{"t"},
			Snapshot: SnapshotInitial, StatusInterval: time.Second, BatchMaxRecords: 1, BatchMaxWait: time.Second}}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		c.Sources[0].BatchMaxRecords = 0
		err := c.Validate()
		if err == nil || err.Error() != "sources[0].batch_max_records: must be at least 1, got 0" {
			t.Errorf("Validate = %v", err)
		}
	})

	t.Run("the state encryption key is hex of an AES key and is never shown", func(t *testing.T) {
		base := "name: x\nsources: [{name: app, type: postgres, dsn: 'host=h', tables: [t]}]\ntransform:\n  state:\n    encryption_key: "
		good := strings.Repeat("ab", 32)
		c, err := Parse([]byte(base+good+"\n"), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if k := c.Transform.State.Key(); len(k) != 32 || k[0] != 0xab {
			t.Errorf("key %x", k)
		}
		for _, bad := range []string{"abc", strings.Repeat("zz", 16), strings.Repeat("ab", 20)} {
			_, err := Parse([]byte(base+bad+"\n"), "p.yaml")
			if err == nil || !strings.Contains(err.Error(), "p.yaml:5: transform.state.encryption_key: want 32, 48 or 64 hex digits") {
				t.Errorf("key %q: %v", bad, err)
			} else if strings.Contains(err.Error(), bad) {
				t.Errorf("the error shows the key: %v", err)
			}
		}
	})

	t.Run("source keys and sink target collisions", func(t *testing.T) {
		doc := `name: x
sources:
  - name: app
    type: postgres
    dsn: host=h
    tables: [public.customers, crm.customers]
    keys:
      - {table: public.nope, columns: [id]}
      - {table: customers, columns: []}
sinks:
  - {name: wh, type: postgres, dsn: host=h, from: [app.*]}
`
		_, err := Parse([]byte(doc), "p.yaml")
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		for _, want := range []string{
			"sources[0].keys[0].table: table public.nope is not in this source's tables",
			"sources[0].keys[1].columns: at least one key column is required",
			`sinks[0].from: app.public.customers and app.crm.customers would both be written to table "customers"`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("errors lack %q:\n%v", want, err)
			}
		}
	})

	t.Run("a valid parsed config validates again", func(t *testing.T) {
		c, err := Load("testdata/full.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate after Load: %v", err)
		}
	})
}

func TestSinkTables(t *testing.T) {
	doc := `
name: x
sources:
  - {name: app, type: postgres, dsn: host=h, tables: [customers, orders, '"My Schema"."Odd.Name"']}
  - {name: billing, type: postgres, dsn: host=h, tables: [billing.invoices]}
sinks:
  - {name: all, type: postgres, dsn: host=h, from: [app.*, app.public.orders, billing.billing.invoices]}
  - {name: one, type: postgres, dsn: host=h, from: ['app."My Schema"."Odd.Name"']}
`
	c, err := Parse([]byte(doc), "pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sink Sink
		want []string
	}{
		{"a wildcard expands to all tables in order without duplicates", c.Sinks[0],
			[]string{"app.public.customers", "app.public.orders", `app."My Schema"."Odd.Name"`, "billing.billing.invoices"}},
		{"a quoted table resolves to itself", c.Sinks[1], []string{`app."My Schema"."Odd.Name"`}},
		{"unknown sources are skipped", Sink{From: []string{"nope.*"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, st := range c.SinkTables(tt.sink) {
				got = append(got, st.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SinkTables = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("QualifiedTables parses the normalized names", func(t *testing.T) {
		got := c.Sources[0].QualifiedTables()
		want := []TableName{{"public", "customers"}, {"public", "orders"}, {"My Schema", "Odd.Name"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("QualifiedTables = %#v, want %#v", got, want)
		}
	})
}

func TestLoadResolvesPathsAgainstTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte("postgres://u:p@h/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "name: x\ndata_dir: state\nsources:\n  - {name: app, type: postgres, dsn: '${file:dsn}', tables: [t]}\n"
	path := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("data_dir is relative to the file", func(t *testing.T) {
		if want := filepath.Join(dir, "state"); c.DataDir != want {
			t.Errorf("DataDir = %q, want %q", c.DataDir, want)
		}
	})
	t.Run("a relative file secret is read from the file's directory without its newline", func(t *testing.T) {
		if got := c.Sources[0].DSN.Value(); got != "postgres://u:p@h/db" {
			t.Errorf("DSN = %q", got)
		}
	})
}
