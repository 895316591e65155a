package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry is the part of a Confluent schema registry client that Serde
// uses; *sr.Client implements it.
type Registry interface {
	CreateSchema(ctx context.Context, subject string, s sr.Schema) (sr.SubjectSchema, error)
	SchemaByID(ctx context.Context, id int) (sr.Schema, error)
}

var _ Registry = (*sr.Client)(nil)

// ErrNotSyncline is returned by Decode for a record whose schema was not
// written by syncline (it lacks the table properties).
var ErrNotSyncline = errors.New("not a syncline record")

// Serde encodes changes in the Confluent wire format (magic byte 0, 4-byte
// big-endian schema id, Avro binary) and decodes them, caching schemas and
// codecs. Subjects follow the TopicNameStrategy: "<topic>-key",
// "<topic>-value". It is safe for concurrent use.
type Serde struct {
	reg Registry

	mu       sync.Mutex
	encoders map[string]*Encoder // topic + "\x00" + key schema + "\x00" + value schema
	// byTable caches Encoder by (topic, *Table), so the schemas of a table
	// are rendered once, not for every record.
	byTable  map[tableTopic]*Encoder
	decoders map[[2]int]*Codec // (key id, value id); key id -1: keyless
	texts    map[int]string    // schema id -> text
}

type tableTopic struct {
	topic string
	t     *Table
}

// NewSerde returns a Serde over reg.
func NewSerde(reg Registry) *Serde {
	return &Serde{reg: reg, encoders: map[string]*Encoder{}, byTable: map[tableTopic]*Encoder{}, decoders: map[[2]int]*Codec{}, texts: map[int]string{}}
}

// Encoder writes one table's records to one topic.
type Encoder struct {
	Codec   *Codec
	KeyID   int
	ValueID int
}

// Encoder registers t's schemas for topic (the registry checks
// compatibility with earlier versions) and returns an encoder. Calls with
// the same topic and schema return the cached encoder. t must not be
// modified after the call: its encoder is cached by identity too.
func (s *Serde) Encoder(ctx context.Context, topic string, t *Table) (*Encoder, error) {
	tt := tableTopic{topic, t}
	s.mu.Lock()
	e := s.byTable[tt]
	s.mu.Unlock()
	if e != nil {
		return e, nil
	}
	e, err := s.encoder(ctx, topic, t)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.byTable) >= 4096 {
		// Callers that build a new Table per record would grow the
		// cache without bound; the schema-keyed cache still serves them.
		clear(s.byTable)
	}
	s.byTable[tt] = e
	s.mu.Unlock()
	return e, nil
}

func (s *Serde) encoder(ctx context.Context, topic string, t *Table) (*Encoder, error) {
	ks, vs := t.KeySchema(), t.ValueSchema()
	ck := topic + "\x00" + ks + "\x00" + vs
	s.mu.Lock()
	e := s.encoders[ck]
	s.mu.Unlock()
	if e != nil {
		return e, nil
	}
	codec, err := NewCodecFromSchemas(t, ks, vs)
	if err != nil {
		return nil, err
	}
	kss, err := s.reg.CreateSchema(ctx, topic+"-key", sr.Schema{Schema: ks, Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("register key schema of %s for %s: %w", t.ID(), topic, err)
	}
	vss, err := s.reg.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: vs, Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("register value schema of %s for %s: %w", t.ID(), topic, err)
	}
	e = &Encoder{Codec: codec, KeyID: kss.ID, ValueID: vss.ID}
	s.mu.Lock()
	s.encoders[ck] = e
	s.texts[kss.ID], s.texts[vss.ID] = ks, vs
	s.decoders[[2]int{kss.ID, vss.ID}] = codec
	s.mu.Unlock()
	return e, nil
}

// Encode returns the wire-format key and value of ch. A truncate (no key)
// gets a nil key.
func (e *Encoder) Encode(ch *Change) (key, value []byte, err error) {
	if ch.Op != OpTruncate {
		row := ch.Key
		if row == nil {
			row = ch.After
			if row == nil {
				row = ch.Before
			}
		}
		if key, err = e.Codec.AppendKey(header(e.KeyID), row); err != nil {
			return nil, nil, err
		}
	}
	value, err = e.Codec.AppendValue(header(e.ValueID), ch)
	if err != nil {
		return nil, nil, err
	}
	return key, value, nil
}

func header(id int) []byte {
	b := make([]byte, 5, 64)
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return b
}

// SchemaID returns the schema id of a wire-format message.
func SchemaID(b []byte) (int, error) {
	if len(b) < 5 {
		return 0, fmt.Errorf("wire format: %d bytes, want at least 5", len(b))
	}
	if b[0] != 0 {
		return 0, fmt.Errorf("wire format: magic byte %d at offset 0, want 0", b[0])
	}
	return int(binary.BigEndian.Uint32(b[1:5])), nil
}

func (s *Serde) text(ctx context.Context, id int) (string, error) {
	s.mu.Lock()
	t, ok := s.texts[id]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	sch, err := s.reg.SchemaByID(ctx, id)
	if err != nil {
		return "", fmt.Errorf("schema id %d: %w", id, err)
	}
	s.mu.Lock()
	s.texts[id] = sch.Schema
	s.mu.Unlock()
	return sch.Schema, nil
}

// Codec returns the codec for a (key schema id, value schema id) pair,
// fetching the schemas from the registry on first use.
func (s *Serde) Codec(ctx context.Context, keyID, valueID int) (*Codec, error) {
	s.mu.Lock()
	c := s.decoders[[2]int{keyID, valueID}]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	ks, err := s.text(ctx, keyID)
	if err != nil {
		return nil, err
	}
	vs, err := s.text(ctx, valueID)
	if err != nil {
		return nil, err
	}
	t, err := TableFromSchemas(ks, vs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSyncline, err)
	}
	c, err = NewCodecFromSchemas(t, ks, vs)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.decoders[[2]int{keyID, valueID}] = c
	s.mu.Unlock()
	return c, nil
}

// Decode decodes a wire-format record. A record with a nil key (truncate)
// decodes with a nil Key.
func (s *Serde) Decode(ctx context.Context, key, value []byte) (*Change, error) {
	vid, err := SchemaID(value)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	kid := -1
	if key != nil {
		if kid, err = SchemaID(key); err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
	}
	var c *Codec
	if kid >= 0 {
		c, err = s.Codec(ctx, kid, vid)
	} else {
		c, err = s.valueOnlyCodec(ctx, vid)
	}
	if err != nil {
		return nil, err
	}
	ch, err := c.DecodeValue(value[5:])
	if err != nil {
		return nil, err
	}
	if key != nil {
		if ch.Key, err = c.DecodeKey(key[5:]); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// valueOnlyCodec serves keyless records: the key schema is derived from the
// table the envelope describes.
func (s *Serde) valueOnlyCodec(ctx context.Context, vid int) (*Codec, error) {
	ck := [2]int{-1, vid}
	s.mu.Lock()
	c := s.decoders[ck]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	vs, err := s.text(ctx, vid)
	if err != nil {
		return nil, err
	}
	t, err := TableFromSchemas(`{"fields":[]}`, vs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSyncline, err)
	}
	if c, err = NewCodecFromSchemas(t, t.KeySchema(), vs); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.decoders[ck] = c
	s.mu.Unlock()
	return c, nil
}
