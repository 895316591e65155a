package embedded

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// This file holds the registry's in-memory state and how records of the
// schemas topic change it. The state is a pure function of the topic: the
// latest value of each key, applied in offset order. That keeps it
// consistent with log compaction, which keeps exactly the latest value of
// each key.
//
// Records (keys mirror Confluent's _schemas topic):
//
//	{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}
//	    => {"subject":S,"version":V,"id":N,"schema":"...","references":[...],"deleted":false}
//	    => null (tombstone): the version was permanently deleted
//	{"keytype":"CONFIG","subject":S|null,"magic":0}
//	    => {"compatibilityLevel":"FULL"}
//	    => null: the subject (or global) level was reset
//	{"keytype":"ID_WATERMARK","magic":0}
//	    => {"maxId":N}: IDs up to N are used, even if their schemas were
//	       permanently deleted and compacted away

// schemaRef is a Confluent schema reference.
type schemaRef struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaValue is the value of a SCHEMA record.
type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []schemaRef `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

// configValue is the value of a CONFIG record.
type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// watermarkValue is the value of an ID_WATERMARK record.
type watermarkValue struct {
	MaxID int `json:"maxId"`
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func schemaKey(subject string, version int) []byte {
	return fmt.Appendf(nil, `{"keytype":"SCHEMA","subject":%s,"version":%d,"magic":1}`, jsonString(subject), version)
}

// configKey is the key of a subject's level, or of the global level when
// subject is nil.
func configKey(subject *string) []byte {
	s := "null"
	if subject != nil {
		s = jsonString(*subject)
	}
	return fmt.Appendf(nil, `{"keytype":"CONFIG","subject":%s,"magic":0}`, s)
}

var watermarkKey = []byte(`{"keytype":"ID_WATERMARK","magic":0}`)

// storedSchema is one schema ID: its text as first registered, its
// references, and its parsed form.
type storedSchema struct {
	id     int
	text   string
	refs   []schemaRef
	parsed *parsedSchema
	// key decides identity: two registrations with the same key get the
	// same ID (see dedupeKey).
	key string
	// uses counts the subject versions (soft-deleted included) bound to
	// this ID; at zero the ID is forgotten.
	uses int
}

// subjectVersion binds a subject version to a schema ID.
type subjectVersion struct {
	id      int
	deleted bool
}

// registryState is everything the registry knows, rebuilt from the topic.
type registryState struct {
	schemas  map[int]*storedSchema
	byKey    map[string]*storedSchema
	subjects map[string]map[int]*subjectVersion

	globalLevel   compatLevel // "" means defaultCompatLevel
	subjectLevels map[string]compatLevel

	// maxID is the highest ID ever seen in the topic (or its watermark).
	maxID int
}

func newRegistryState() *registryState {
	return &registryState{
		schemas:       map[int]*storedSchema{},
		byKey:         map[string]*storedSchema{},
		subjects:      map[string]map[int]*subjectVersion{},
		subjectLevels: map[string]compatLevel{},
	}
}

// dedupeKey identifies a schema: its normalized form plus its references.
func dedupeKey(ps *parsedSchema, refs []schemaRef) string {
	if len(refs) == 0 {
		return ps.normalized
	}
	b, _ := json.Marshal(refs)
	return ps.normalized + "\x00" + string(b)
}

// apply applies one record of the schemas topic.
func (st *registryState) apply(rec *kgo.Record, log *slog.Logger) {
	var key struct {
		KeyType string  `json:"keytype"`
		Subject *string `json:"subject"`
		Version int     `json:"version"`
	}
	if err := json.Unmarshal(rec.Key, &key); err != nil {
		log.Warn("skipping schemas topic record with an unreadable key", "offset", rec.Offset, "err", err)
		return
	}
	switch key.KeyType {
	case "SCHEMA":
		if key.Subject == nil || key.Version <= 0 {
			log.Warn("skipping SCHEMA record without subject or version", "offset", rec.Offset)
			return
		}
		st.applySchema(*key.Subject, key.Version, rec, log)
	case "CONFIG":
		st.applyConfig(key.Subject, rec, log)
	case "ID_WATERMARK":
		var v watermarkValue
		if rec.Value != nil && json.Unmarshal(rec.Value, &v) == nil {
			st.maxID = max(st.maxID, v.MaxID)
		}
	default:
		// NOOP, MODE, DELETE_SUBJECT ... (Confluent writes these) carry
		// nothing we need.
	}
}

func (st *registryState) applySchema(subject string, version int, rec *kgo.Record, log *slog.Logger) {
	if rec.Value == nil {
		st.unbind(subject, version)
		return
	}
	var v schemaValue
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		log.Warn("skipping SCHEMA record with an unreadable value", "offset", rec.Offset, "subject", subject, "version", version, "err", err)
		return
	}
	if v.ID <= 0 {
		log.Warn("skipping SCHEMA record without an ID", "offset", rec.Offset, "subject", subject, "version", version)
		return
	}
	st.maxID = max(st.maxID, v.ID)
	ss := st.schemas[v.ID]
	if ss == nil || ss.text != v.Schema || !slices.Equal(ss.refs, v.References) {
		if v.SchemaType != "" && v.SchemaType != "AVRO" {
			log.Warn("skipping SCHEMA record of an unsupported type", "offset", rec.Offset, "subject", subject, "version", version, "schema_type", v.SchemaType)
			return
		}
		ps, err := st.parse(v.Schema, v.References)
		if err != nil {
			log.Warn("skipping SCHEMA record whose schema does not parse", "offset", rec.Offset, "subject", subject, "version", version, "id", v.ID, "err", err.msg)
			return
		}
		if ss != nil {
			log.Warn("schema ID rebound to a different schema; the later record wins", "offset", rec.Offset, "id", v.ID)
			delete(st.byKey, ss.key)
			ss.text, ss.refs, ss.parsed, ss.key = v.Schema, v.References, ps, dedupeKey(ps, v.References)
			st.byKey[ss.key] = ss
		} else {
			ss = &storedSchema{id: v.ID, text: v.Schema, refs: v.References, parsed: ps, key: dedupeKey(ps, v.References)}
		}
	}
	st.bind(subject, version, ss, v.Deleted)
}

func (st *registryState) bind(subject string, version int, ss *storedSchema, deleted bool) {
	vs := st.subjects[subject]
	if vs == nil {
		vs = map[int]*subjectVersion{}
		st.subjects[subject] = vs
	}
	ss.uses++
	st.schemas[ss.id] = ss
	if _, taken := st.byKey[ss.key]; !taken {
		st.byKey[ss.key] = ss
	}
	if old := vs[version]; old != nil {
		st.release(old.id)
	}
	vs[version] = &subjectVersion{id: ss.id, deleted: deleted}
}

func (st *registryState) unbind(subject string, version int) {
	vs := st.subjects[subject]
	if sv := vs[version]; sv != nil {
		delete(vs, version)
		st.release(sv.id)
	}
	if len(vs) == 0 {
		delete(st.subjects, subject)
	}
}

func (st *registryState) release(id int) {
	ss := st.schemas[id]
	if ss == nil {
		return
	}
	ss.uses--
	if ss.uses <= 0 {
		delete(st.schemas, id)
		if st.byKey[ss.key] == ss {
			delete(st.byKey, ss.key)
		}
	}
}

func (st *registryState) applyConfig(subject *string, rec *kgo.Record, log *slog.Logger) {
	var level compatLevel
	if rec.Value != nil {
		var v configValue
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			log.Warn("skipping CONFIG record with an unreadable value", "offset", rec.Offset, "err", err)
			return
		}
		l, ok := parseCompatLevel(v.CompatibilityLevel)
		if !ok {
			log.Warn("skipping CONFIG record with an unknown level", "offset", rec.Offset, "level", v.CompatibilityLevel)
			return
		}
		level = l
	}
	switch {
	case subject == nil:
		st.globalLevel = level
	case level == "":
		delete(st.subjectLevels, *subject)
	default:
		st.subjectLevels[*subject] = level
	}
}

// level is the level that applies to subject.
func (st *registryState) level(subject string) compatLevel {
	if l, ok := st.subjectLevels[subject]; ok {
		return l
	}
	return st.global()
}

func (st *registryState) global() compatLevel {
	if st.globalLevel != "" {
		return st.globalLevel
	}
	return defaultCompatLevel
}

// versions lists a subject's versions in ascending order; soft-deleted
// ones only if deleted is set.
func (st *registryState) versions(subject string, deleted bool) []int {
	var out []int
	for v, sv := range st.subjects[subject] {
		if deleted || !sv.deleted {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// latest is the subject's highest live version, or 0.
func (st *registryState) latest(subject string) int {
	vs := st.versions(subject, false)
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1]
}

// nextVersion is one more than the highest version ever used by subject,
// soft-deleted versions included, as Confluent numbers them.
func (st *registryState) nextVersion(subject string) int {
	n := 0
	for v := range st.subjects[subject] {
		n = max(n, v)
	}
	return n + 1
}

// liveSubject reports whether subject has a live version.
func (st *registryState) liveSubject(subject string) bool {
	for _, sv := range st.subjects[subject] {
		if !sv.deleted {
			return true
		}
	}
	return false
}

// previous returns the subject's live versions, oldest first, for
// compatibility checks.
func (st *registryState) previous(subject string) []versionedSchema {
	var out []versionedSchema
	for _, v := range st.versions(subject, false) {
		ss := st.schemas[st.subjects[subject][v].id]
		if ss == nil {
			continue
		}
		out = append(out, versionedSchema{version: v, schema: ss.parsed.root, text: ss.text})
	}
	return out
}

// resolveRefs resolves references to concrete versions and returns their
// parsed schemas. A version of -1 means the latest live version.
func (st *registryState) resolveRefs(refs []schemaRef) ([]schemaRef, []*parsedSchema, *apiError) {
	var (
		resolved []schemaRef
		parsed   []*parsedSchema
	)
	for _, ref := range refs {
		if ref.Name == "" || ref.Subject == "" {
			return nil, nil, errInvalidSchema("a schema reference needs a name and a subject")
		}
		if ref.Version == -1 {
			ref.Version = st.latest(ref.Subject)
		}
		sv := st.subjects[ref.Subject][ref.Version]
		if sv == nil {
			return nil, nil, errInvalidSchema(fmt.Sprintf("schema reference %q: subject %q has no version %d", ref.Name, ref.Subject, ref.Version))
		}
		ss := st.schemas[sv.id]
		if ss == nil {
			return nil, nil, errInvalidSchema(fmt.Sprintf("schema reference %q: schema of %s version %d is unknown", ref.Name, ref.Subject, ref.Version))
		}
		resolved = append(resolved, ref)
		parsed = append(parsed, ss.parsed)
	}
	return resolved, parsed, nil
}

// parse parses schema text with its references.
func (st *registryState) parse(text string, refs []schemaRef) (*parsedSchema, *apiError) {
	if text == "" {
		return nil, errInvalidSchema("empty schema")
	}
	_, parsedRefs, aerr := st.resolveRefs(refs)
	if aerr != nil {
		return nil, aerr
	}
	ps, err := parseAvro(text, parsedRefs)
	if err != nil {
		return nil, errInvalidSchema("Invalid schema: " + err.Error())
	}
	return ps, nil
}

// referencedBy lists the IDs of schemas that reference subject/version.
func (st *registryState) referencedBy(subject string, version int) []int {
	var out []int
	for id, ss := range st.schemas {
		for _, r := range ss.refs {
			if r.Subject == subject && r.Version == version {
				out = append(out, id)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// subjectVersionsOf lists the subject versions bound to id.
func (st *registryState) subjectVersionsOf(id int, deleted bool) []subjectVersionJSON {
	var out []subjectVersionJSON
	for subject, vs := range st.subjects {
		for v, sv := range vs {
			if sv.id == id && (deleted || !sv.deleted) {
				out = append(out, subjectVersionJSON{Subject: subject, Version: v})
			}
		}
	}
	slices.SortFunc(out, func(a, b subjectVersionJSON) int {
		if a.Subject != b.Subject {
			if a.Subject < b.Subject {
				return -1
			}
			return 1
		}
		return a.Version - b.Version
	})
	return out
}

// schemaRecord builds the record binding subject/version to ss.
func schemaRecord(topic, subject string, version int, ss *storedSchema, deleted bool) (*kgo.Record, error) {
	v, err := json.Marshal(schemaValue{
		Subject:    subject,
		Version:    version,
		ID:         ss.id,
		References: ss.refs,
		Schema:     ss.text,
		Deleted:    deleted,
	})
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Partition: 0, Key: schemaKey(subject, version), Value: v}, nil
}

// apiError is an error the HTTP API reports with a Confluent error code.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// Confluent's error codes.
const (
	codeSubjectNotFound           = 40401
	codeVersionNotFound           = 40402
	codeSchemaNotFound            = 40403
	codeSubjectSoftDeleted        = 40404
	codeSubjectNotSoftDeleted     = 40405
	codeVersionSoftDeleted        = 40406
	codeVersionNotSoftDeleted     = 40407
	codeSubjectLevelNotConfigured = 40408
	codeIncompatible              = 409
	codeInvalidSchema             = 42201
	codeInvalidVersion            = 42202
	codeInvalidCompatLevel        = 42203
	codeInvalidMode               = 42204
	codeOperationNotPermitted     = 42205
	codeReferenceExists           = 42206
	codeStoreError                = 50001
)

func errSubjectNotFound(subject string) *apiError {
	return &apiError{http.StatusNotFound, codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", subject)}
}

func errVersionNotFound(subject string, version int) *apiError {
	return &apiError{http.StatusNotFound, codeVersionNotFound, fmt.Sprintf("Version %d not found for subject '%s'.", version, subject)}
}

func errSchemaNotFound(msg string) *apiError {
	return &apiError{http.StatusNotFound, codeSchemaNotFound, msg}
}

func errInvalidSchema(msg string) *apiError {
	return &apiError{http.StatusUnprocessableEntity, codeInvalidSchema, msg}
}

func errInvalidVersion(v string) *apiError {
	return &apiError{http.StatusUnprocessableEntity, codeInvalidVersion, "The specified version '" + v +
		"' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""}
}

func errInvalidLevel(level string) *apiError {
	return &apiError{http.StatusUnprocessableEntity, codeInvalidCompatLevel, "Invalid compatibility level " + strconv.Quote(level) +
		". Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"}
}

func errStore(err error) *apiError {
	return &apiError{http.StatusInternalServerError, codeStoreError, "Error in the backend data store: " + err.Error()}
}

// subjectVersionJSON is a subject/version pair in API responses.
type subjectVersionJSON struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}
