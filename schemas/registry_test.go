package schemas_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"syncline/internal/testenv"
	"syncline/schemas"
)

func table(extra ...schemas.Column) *schemas.Table {
	cols := append([]schemas.Column{
		{Name: "id", PGType: "bigint", Kind: schemas.KindInt64, Key: true},
		{Name: "email", PGType: "text", Kind: schemas.KindString},
		{Name: "balance", PGType: "numeric(12,2)", Kind: schemas.KindDecimal, Precision: 12, Scale: 2},
		{Name: "seen", PGType: "timestamp with time zone", Kind: schemas.KindTimestampTZ},
	}, extra...)
	schemas.SanitizeFields(cols)
	return &schemas.Table{System: "postgres", Source: "app", DB: "shop", Schema: "public", Name: "customers", Columns: cols}
}

func TestEnvelopeRoundTripsThroughTheRegistry(t *testing.T) {
	k := testenv.StartKafka(t)
	ctx := context.Background()
	writer := schemas.NewSerde(k.RegistryClient(t))
	enc, err := writer.Encoder(ctx, "syncline.raw.app.public.customers", table())
	if err != nil {
		t.Fatal(err)
	}
	after := schemas.Row{"id": int64(7), "email": "x@y.z", "balance": big.NewRat(1999, 100), "seen": time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)}
	ch := &schemas.Change{Op: schemas.OpCreate, After: after, Source: schemas.Source{System: "postgres", Name: "app", DB: "shop", Schema: "public", Table: "customers", Position: "0000000000000001/0000000000000001"}}
	key, val, err := enc.Encode(ch)
	if err != nil {
		t.Fatal(err)
	}

	// A reader that knows nothing but the registry URL.
	reader := schemas.NewSerde(k.RegistryClient(t))
	got, err := reader.Decode(ctx, key, val)
	if err != nil {
		t.Fatal(err)
	}
	if got.Table.ID() != "app.public.customers" || got.Op != schemas.OpCreate || got.Source != ch.Source {
		t.Errorf("decoded envelope: table %s op %s source %+v", got.Table.ID(), got.Op, got.Source)
	}
	if f := schemas.ChangedFields(got.Table, after, got.After); f != nil {
		t.Errorf("after image differs in %v", f)
	}
	kid, _ := schemas.SchemaID(key)
	vid, _ := schemas.SchemaID(val)
	if c, err := reader.Codec(ctx, kid, vid); err != nil || !c.Direct() {
		t.Errorf("the codec rebuilt from the registry's schemas does not use the direct reader (err %v)", err)
	}
	if got.Key["id"] != int64(7) {
		t.Errorf("key: %v", got.Key)
	}
	if c, _ := got.Table.Column("balance"); c.PGType != "numeric(12,2)" || c.Scale != 2 {
		t.Errorf("column metadata lost through the registry: %+v", c)
	}

	t.Run("adding a nullable column registers a compatible new version", func(t *testing.T) {
		t2 := table(schemas.Column{Name: "plan", PGType: "text", Kind: schemas.KindString})
		enc2, err := writer.Encoder(ctx, "syncline.raw.app.public.customers", t2)
		if err != nil {
			t.Fatal(err)
		}
		if enc2.ValueID == enc.ValueID {
			t.Fatalf("new schema got the old id %d", enc.ValueID)
		}
		versions, err := k.RegistryClient(t).SubjectVersions(ctx, "syncline.raw.app.public.customers-value")
		if err != nil || len(versions) != 2 {
			t.Fatalf("versions: %v %v", versions, err)
		}
	})

	t.Run("an incompatible change is refused by the registry", func(t *testing.T) {
		bad := table()
		bad.Columns[1].Kind = schemas.KindInt64 // email: string -> long
		_, err := writer.Encoder(ctx, "syncline.raw.app.public.customers", bad)
		var re *sr.ResponseError
		if err == nil {
			t.Fatal("incompatible schema was accepted")
		}
		if !asResponseError(err, &re) || re.StatusCode != 409 {
			t.Errorf("want HTTP 409 from the registry, got %v", err)
		}
	})
}

func asResponseError(err error, target **sr.ResponseError) bool {
	for err != nil {
		if re, ok := err.(*sr.ResponseError); ok {
			*target = re
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
