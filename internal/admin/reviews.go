package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"syncline/transform/entities"
)

func (h *handler) reviewsOff(w http.ResponseWriter) bool {
	if h.o.Reviews == nil {
		writeError(w, http.StatusNotImplemented, "no entities are configured: there is no review queue")
		return true
	}
	return false
}

func reviewErrorCode(err error) int {
	switch {
	case errors.Is(err, entities.ErrNoReview):
		return http.StatusNotFound
	case errors.Is(err, entities.ErrDecided):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	var re RequestError
	if errors.As(err, &re) {
		return http.StatusBadRequest
	}
	return http.StatusBadGateway
}

func (h *handler) reviewList(w http.ResponseWriter, r *http.Request) {
	if h.reviewsOff(w) {
		return
	}
	q := r.URL.Query()
	f := entities.ReviewFilter{Entity: q.Get("entity"), Status: q.Get("status"), Kind: q.Get("kind")}
	switch f.Status {
	case "", entities.StatusPending, entities.StatusApproved, entities.StatusRejected, entities.StatusSuperseded:
	case "all":
		f.Status = ""
	default:
		writeError(w, http.StatusBadRequest, "status must be pending, approved, rejected, superseded or all")
		return
	}
	list, err := h.o.Reviews.List(r.Context(), f)
	if err != nil {
		writeError(w, reviewErrorCode(err), err.Error())
		return
	}
	if list == nil {
		list = []*entities.Review{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reviews": list})
}

func (h *handler) reviewGet(w http.ResponseWriter, r *http.Request) {
	if h.reviewsOff(w) {
		return
	}
	rv, err := h.o.Reviews.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, reviewErrorCode(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rv)
}

// ReviewDecision is the body of POST /api/v1/reviews/{id}/{approve|reject}.
type ReviewDecision struct {
	By   string `json:"by"`
	Note string `json:"note"`
}

func (h *handler) reviewDecide(w http.ResponseWriter, r *http.Request) {
	if h.reviewsOff(w) {
		return
	}
	action := r.PathValue("action")
	if action != "approve" && action != "reject" {
		writeError(w, http.StatusNotFound, "unknown action "+action+"; use approve or reject")
		return
	}
	var req ReviewDecision
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.By == "" {
		req.By = "api"
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	rv, err := h.o.Reviews.Decide(ctx, r.PathValue("id"), action, req.By, req.Note)
	if err != nil {
		code := reviewErrorCode(err)
		if code == http.StatusConflict && rv != nil {
			writeJSON(w, code, map[string]any{"error": err.Error(), "review": rv})
			return
		}
		writeError(w, code, err.Error())
		return
	}
	h.o.Log.Info("review decided over the admin API", "review", rv.ID, "decision", action, "by", req.By, "status", rv.Status)
	writeJSON(w, http.StatusOK, rv)
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	if h.reviewsOff(w) {
		return
	}
	hist, err := h.o.Reviews.History(r.Context(), r.PathValue("entity"), r.PathValue("id"))
	if err != nil {
		code := http.StatusBadGateway
		var re RequestError
		if errors.As(err, &re) {
			code = http.StatusNotFound
		}
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, hist)
}
