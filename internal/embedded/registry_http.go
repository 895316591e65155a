package embedded

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// contentType is what the registry answers with, as Confluent's does.
const contentType = "application/vnd.schemaregistry.v1+json"

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 16 << 20

// registerRequest is the body of schema registration, lookup and
// compatibility requests.
type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []schemaRef `json:"references"`
	// ID and Version are sent by clients that register with a fixed ID
	// (import mode); we accept an ID only if it is the one we would
	// assign anyway.
	ID      int `json:"id"`
	Version int `json:"version"`
}

// subjectSchemaJSON is a schema under a subject in API responses.
type subjectSchemaJSON struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []schemaRef `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

// schemaJSON is a schema by ID in API responses.
type schemaJSON struct {
	SchemaType string      `json:"schemaType,omitempty"`
	References []schemaRef `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func (r *Registry) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, struct{}{}) })

	mux.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []string{"AVRO"})
	})
	mux.HandleFunc("GET /schemas", r.handleListSchemas)
	mux.HandleFunc("GET /schemas/ids/{id}", r.handleSchemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", r.handleSchemaTextByID)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", r.handleSchemaVersionsByID)
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", r.handleSchemaSubjectsByID)

	mux.HandleFunc("GET /subjects", r.handleListSubjects)
	mux.HandleFunc("POST /subjects/{subject}", r.handleLookup)
	mux.HandleFunc("POST /subjects/{subject}/{$}", r.handleLookup)
	mux.HandleFunc("DELETE /subjects/{subject}", r.handleDeleteSubject)
	mux.HandleFunc("GET /subjects/{subject}/versions", r.handleListVersions)
	mux.HandleFunc("POST /subjects/{subject}/versions", r.handleRegister)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", r.handleGetVersion)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", r.handleGetVersionText)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", r.handleReferencedBy)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", r.handleDeleteVersion)

	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", r.handleCompatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", r.handleCompatibility)

	mux.HandleFunc("GET /config", r.handleGetConfig)
	mux.HandleFunc("PUT /config", r.handlePutConfig)
	mux.HandleFunc("DELETE /config", r.handleDeleteConfig)
	mux.HandleFunc("GET /config/{subject}", r.handleGetConfig)
	mux.HandleFunc("PUT /config/{subject}", r.handlePutConfig)
	mux.HandleFunc("DELETE /config/{subject}", r.handleDeleteConfig)

	mux.HandleFunc("GET /mode", handleGetMode)
	mux.HandleFunc("GET /mode/{subject}", handleGetMode)
	mux.HandleFunc("PUT /mode", handlePutMode)
	mux.HandleFunc("PUT /mode/{subject}", handlePutMode)

	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, http.StatusNotFound, "HTTP 404 Not Found"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = fmt.Appendf(nil, `{"error_code":50001,"message":%s}`, jsonString(err.Error()))
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{e.code, e.msg})
}

// writeRaw writes a bare schema text, as the .../schema endpoints do.
func writeRaw(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, text)
}

func decodeBody(req *http.Request, into any) *apiError {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
	if err != nil {
		return &apiError{http.StatusBadRequest, http.StatusBadRequest, "reading request body: " + err.Error()}
	}
	if len(body) > maxBodyBytes {
		return &apiError{http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "request body too large"}
	}
	if err := json.Unmarshal(body, into); err != nil {
		return &apiError{http.StatusBadRequest, http.StatusBadRequest, "invalid JSON request body: " + err.Error()}
	}
	return nil
}

func queryBool(req *http.Request, name string) bool {
	b, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return b
}

// parseVersion parses a version path segment: a positive number, or
// "latest" / -1, which parse to 0.
func parseVersion(s string) (int, *apiError) {
	if s == "latest" || s == "-1" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 || n > math.MaxInt32 {
		return 0, errInvalidVersion(s)
	}
	return int(n), nil
}

func parseID(req *http.Request) (int, *apiError) {
	s := req.PathValue("id")
	id, err := strconv.Atoi(s)
	if err != nil || id < 1 {
		return 0, errSchemaNotFound(fmt.Sprintf("Schema %s not found", s))
	}
	return id, nil
}

func (r *Registry) handleSchemaByID(w http.ResponseWriter, req *http.Request) {
	id, aerr := parseID(req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var ss *storedSchema
	r.view(func(st *registryState) { ss = st.schemas[id] })
	if ss == nil {
		writeError(w, errSchemaNotFound(fmt.Sprintf("Schema %d not found", id)))
		return
	}
	writeJSON(w, http.StatusOK, schemaJSON{References: ss.refs, Schema: ss.text})
}

func (r *Registry) handleSchemaTextByID(w http.ResponseWriter, req *http.Request) {
	id, aerr := parseID(req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var ss *storedSchema
	r.view(func(st *registryState) { ss = st.schemas[id] })
	if ss == nil {
		writeError(w, errSchemaNotFound(fmt.Sprintf("Schema %d not found", id)))
		return
	}
	writeRaw(w, ss.text)
}

func (r *Registry) handleSchemaVersionsByID(w http.ResponseWriter, req *http.Request) {
	id, aerr := parseID(req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var (
		found bool
		out   []subjectVersionJSON
	)
	r.view(func(st *registryState) {
		_, found = st.schemas[id]
		out = st.subjectVersionsOf(id, queryBool(req, "deleted"))
	})
	if !found {
		writeError(w, errSchemaNotFound(fmt.Sprintf("Schema %d not found", id)))
		return
	}
	if out == nil {
		out = []subjectVersionJSON{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *Registry) handleSchemaSubjectsByID(w http.ResponseWriter, req *http.Request) {
	id, aerr := parseID(req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var (
		found bool
		out   = []string{}
	)
	r.view(func(st *registryState) {
		_, found = st.schemas[id]
		for _, sv := range st.subjectVersionsOf(id, queryBool(req, "deleted")) {
			if !slices.Contains(out, sv.Subject) {
				out = append(out, sv.Subject)
			}
		}
	})
	if !found {
		writeError(w, errSchemaNotFound(fmt.Sprintf("Schema %d not found", id)))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *Registry) handleListSchemas(w http.ResponseWriter, req *http.Request) {
	prefix := req.URL.Query().Get("subjectPrefix")
	deleted, latestOnly := queryBool(req, "deleted"), queryBool(req, "latestOnly")
	out := []subjectSchemaJSON{}
	r.view(func(st *registryState) {
		for _, subject := range sortedSubjects(st, prefix, deleted) {
			vs := st.versions(subject, deleted)
			if latestOnly && len(vs) > 0 {
				vs = vs[len(vs)-1:]
			}
			for _, v := range vs {
				if ss := st.schemas[st.subjects[subject][v].id]; ss != nil {
					out = append(out, subjectSchemaJSON{Subject: subject, Version: v, ID: ss.id, References: ss.refs, Schema: ss.text})
				}
			}
		}
	})
	writeJSON(w, http.StatusOK, out)
}

// sortedSubjects lists subjects with a live version (or any version, with
// deleted) that start with prefix.
func sortedSubjects(st *registryState, prefix string, deleted bool) []string {
	var out []string
	for subject := range st.subjects {
		if strings.HasPrefix(subject, prefix) && len(st.versions(subject, deleted)) > 0 {
			out = append(out, subject)
		}
	}
	slices.Sort(out)
	return out
}

func (r *Registry) handleListSubjects(w http.ResponseWriter, req *http.Request) {
	prefix := req.URL.Query().Get("subjectPrefix")
	deleted, deletedOnly := queryBool(req, "deleted"), queryBool(req, "deletedOnly")
	out := []string{}
	r.view(func(st *registryState) {
		for _, subject := range sortedSubjects(st, prefix, deleted || deletedOnly) {
			if deletedOnly && st.liveSubject(subject) {
				continue
			}
			out = append(out, subject)
		}
	})
	writeJSON(w, http.StatusOK, out)
}

func (r *Registry) handleListVersions(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	deleted, deletedOnly := queryBool(req, "deleted"), queryBool(req, "deletedOnly")
	var out []int
	r.view(func(st *registryState) {
		for _, v := range st.versions(subject, deleted || deletedOnly) {
			if deletedOnly && !st.subjects[subject][v].deleted {
				continue
			}
			out = append(out, v)
		}
	})
	if len(out) == 0 {
		writeError(w, errSubjectNotFound(subject))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// lookupVersion resolves subject/version (0 = latest) to its schema.
func (r *Registry) lookupVersion(req *http.Request) (subjectSchemaJSON, *apiError) {
	subject := req.PathValue("subject")
	version, aerr := parseVersion(req.PathValue("version"))
	if aerr != nil {
		return subjectSchemaJSON{}, aerr
	}
	deleted := queryBool(req, "deleted")
	var out subjectSchemaJSON
	r.view(func(st *registryState) {
		if len(st.versions(subject, deleted)) == 0 {
			aerr = errSubjectNotFound(subject)
			return
		}
		v := version
		if v == 0 {
			vs := st.versions(subject, deleted)
			v = vs[len(vs)-1]
		}
		sv := st.subjects[subject][v]
		if sv == nil || (sv.deleted && !deleted) {
			aerr = errVersionNotFound(subject, v)
			return
		}
		ss := st.schemas[sv.id]
		if ss == nil {
			aerr = errSchemaNotFound(fmt.Sprintf("Schema %d not found", sv.id))
			return
		}
		out = subjectSchemaJSON{Subject: subject, Version: v, ID: ss.id, References: ss.refs, Schema: ss.text}
	})
	return out, aerr
}

func (r *Registry) handleGetVersion(w http.ResponseWriter, req *http.Request) {
	out, aerr := r.lookupVersion(req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *Registry) handleGetVersionText(w http.ResponseWriter, req *http.Request) {
	out, aerr := r.lookupVersion(req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeRaw(w, out.Schema)
}

func (r *Registry) handleReferencedBy(w http.ResponseWriter, req *http.Request) {
	out, aerr := r.lookupVersion(req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ids := []int{}
	r.view(func(st *registryState) { ids = append(ids, st.referencedBy(out.Subject, out.Version)...) })
	writeJSON(w, http.StatusOK, ids)
}

func (r *Registry) handleRegister(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	var body registerRequest
	if aerr := decodeBody(req, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	id, aerr := r.registerSchema(req.Context(), subject, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID int `json:"id"`
	}{id})
}

func (r *Registry) handleLookup(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	var body registerRequest
	if aerr := decodeBody(req, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := checkSchemaType(body.SchemaType); aerr != nil {
		writeError(w, aerr)
		return
	}
	deleted := queryBool(req, "deleted")
	var (
		out  subjectSchemaJSON
		aerr *apiError
	)
	r.view(func(st *registryState) {
		if len(st.versions(subject, deleted)) == 0 {
			aerr = errSubjectNotFound(subject)
			return
		}
		refs, _, e := st.resolveRefs(body.References)
		if e != nil {
			aerr = e
			return
		}
		ps, e := st.parse(body.Schema, refs)
		if e != nil {
			aerr = e
			return
		}
		ss := st.byKey[dedupeKey(ps, refs)]
		if ss != nil {
			vs := st.versions(subject, deleted)
			for i := len(vs) - 1; i >= 0; i-- {
				if st.subjects[subject][vs[i]].id == ss.id {
					out = subjectSchemaJSON{Subject: subject, Version: vs[i], ID: ss.id, References: ss.refs, Schema: ss.text}
					return
				}
			}
		}
		aerr = errSchemaNotFound("Schema not found")
	})
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *Registry) handleDeleteSubject(w http.ResponseWriter, req *http.Request) {
	versions, aerr := r.deleteSubject(req.Context(), req.PathValue("subject"), queryBool(req, "permanent"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, versions)
}

func (r *Registry) handleDeleteVersion(w http.ResponseWriter, req *http.Request) {
	version, aerr := parseVersion(req.PathValue("version"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	deleted, aerr := r.deleteVersion(req.Context(), req.PathValue("subject"), version, queryBool(req, "permanent"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, deleted)
}

// handleCompatibility serves both POST /compatibility/subjects/{s}/versions
// (the same check registration would do) and .../versions/{version}
// (against that one version, in the directions the subject's level asks
// for).
func (r *Registry) handleCompatibility(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	versionStr := req.PathValue("version")
	version, againstAll := 0, versionStr == ""
	if !againstAll {
		v, aerr := parseVersion(versionStr)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		version = v
	}
	var body registerRequest
	if aerr := decodeBody(req, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := checkSchemaType(body.SchemaType); aerr != nil {
		writeError(w, aerr)
		return
	}
	var (
		msgs []string
		aerr *apiError
	)
	r.view(func(st *registryState) {
		refs, _, e := st.resolveRefs(body.References)
		if e != nil {
			aerr = e
			return
		}
		ps, e := st.parse(body.Schema, refs)
		if e != nil {
			aerr = e
			return
		}
		level := st.level(subject)
		previous := st.previous(subject)
		if againstAll {
			msgs = checkCompatibility(level, ps.root, previous)
			return
		}
		if len(previous) == 0 {
			if version == 0 {
				return // nothing to be incompatible with
			}
			aerr = errSubjectNotFound(subject)
			return
		}
		against := previous[len(previous)-1]
		if version != 0 {
			i := slices.IndexFunc(previous, func(p versionedSchema) bool { return p.version == version })
			if i < 0 {
				aerr = errVersionNotFound(subject, version)
				return
			}
			against = previous[i]
		}
		msgs = checkCompatibility(level, ps.root, []versionedSchema{against})
	})
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, http.StatusOK, struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}{len(msgs) == 0, msgs})
}

// subjectParam returns the {subject} path value, or nil on the global
// /config endpoints.
func subjectParam(req *http.Request) *string {
	if s := req.PathValue("subject"); s != "" {
		return &s
	}
	return nil
}

func (r *Registry) handleGetConfig(w http.ResponseWriter, req *http.Request) {
	subject := subjectParam(req)
	var (
		level compatLevel
		ok    = true
	)
	r.view(func(st *registryState) {
		if subject == nil {
			level = st.global()
			return
		}
		level, ok = st.subjectLevels[*subject]
		if !ok && queryBool(req, "defaultToGlobal") {
			level, ok = st.global(), true
		}
	})
	if !ok {
		writeError(w, &apiError{http.StatusNotFound, codeSubjectLevelNotConfigured,
			fmt.Sprintf("Subject '%s' does not have subject-level compatibility configured", *subject)})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		CompatibilityLevel compatLevel `json:"compatibilityLevel"`
	}{level})
}

func (r *Registry) handlePutConfig(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Compatibility      string `json:"compatibility"`
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	if aerr := decodeBody(req, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	raw := body.Compatibility
	if raw == "" {
		raw = body.CompatibilityLevel
	}
	level, ok := parseCompatLevel(raw)
	if !ok {
		writeError(w, errInvalidLevel(raw))
		return
	}
	if _, aerr := r.setLevel(req.Context(), subjectParam(req), level); aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Compatibility compatLevel `json:"compatibility"`
	}{level})
}

func (r *Registry) handleDeleteConfig(w http.ResponseWriter, req *http.Request) {
	prev, aerr := r.setLevel(req.Context(), subjectParam(req), "")
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	// Confluent answers with the deleted config; clients read either key.
	writeJSON(w, http.StatusOK, struct {
		CompatibilityLevel compatLevel `json:"compatibilityLevel"`
		Compatibility      compatLevel `json:"compatibility"`
	}{prev, prev})
}

// The embedded registry is always READWRITE.
func handleGetMode(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"mode": "READWRITE"})
}

func handlePutMode(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Mode string `json:"mode"`
	}
	if aerr := decodeBody(req, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	if !strings.EqualFold(body.Mode, "READWRITE") {
		writeError(w, &apiError{http.StatusUnprocessableEntity, codeInvalidMode,
			fmt.Sprintf("Mode %q is not supported: the embedded registry is always READWRITE", body.Mode)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mode": "READWRITE"})
}
