package match

import (
	"errors"
	"fmt"
	"strings"
)

// Config sets the thresholds, weights and key rules of an [Index]. The zero
// value is not valid; start from [DefaultConfig].
type Config struct {
	// AutoMerge is the score at or above which a pair is merged without a
	// human. Default 0.85 (the seeds: "fuzzy matching with 85% confidence
	// threshold").
	AutoMerge float64 `yaml:"auto_merge"`
	// ReviewFrom is the lower end of the review band: a pair scoring in
	// [ReviewFrom, AutoMerge) goes to the review queue, below it the
	// records are distinct. Default 0.65. Setting it equal to AutoMerge
	// turns the review band off.
	ReviewFrom float64 `yaml:"review_from"`
	// Weights are the per-field weights of the combined score.
	Weights Weights `yaml:"weights"`
	// MinCorroboration is the least agreement outside the names a fuzzy
	// score needs to auto-merge: the sum of weight × similarity over
	// email, phone and company, plus half that of location. Names alone,
	// however alike, are at most sent to review: namesakes are common.
	// Default 0.1 (the same company, or a matching phone, or a close
	// email, is enough; a matching city alone is not).
	MinCorroboration float64 `yaml:"min_corroboration"`
	// RareName is the expected number of namesakes at or below which a
	// name agreeing on both parts corroborates itself (counts as
	// MinCorroboration). The expectation is count(given name) ×
	// count(surname) / records over the records indexed so far: for a
	// common name ("Mary Smith") it is several, for a rare one well below
	// 0.01. This is the frequency adjustment of Fellegi–Sunter record
	// linkage: agreeing on a rare name is stronger evidence than agreeing
	// on a common one. Roughly, the share of such merges that join two
	// namesakes is RareName/(1+RareName). Default 0.01; 0 turns it off.
	RareName float64 `yaml:"rare_name"`
	// CommonName is the expected number of namesakes (as for RareName) at
	// or above which a pair that agrees on nothing but the name is not
	// sent to review: two "Mary Smith" records with different emails and
	// phones are most likely two people, and a review queue full of them
	// gets ignored. Default 0.5; 0 turns it off.
	CommonName float64 `yaml:"common_name"`
	// FirstNameConflictCap caps the score of a pair whose given names are
	// both present and clearly different (not equal, not nicknames of each
	// other, not an initial of the other, Jaro-Winkler below 0.75):
	// family members share a surname, an address and a phone. Default 0.6
	// (below the review band: such pairs are distinct).
	FirstNameConflictCap float64 `yaml:"first_name_conflict_cap"`
	// DefaultRegion is the ISO 3166-1 region assumed for phone numbers
	// written without a country code. Default "US".
	DefaultRegion string `yaml:"default_region"`
	// PlusAddressing treats "local+tag@domain" as "local@domain" in the
	// email match key. Default false: "+" is a legal character of a local
	// part and not every mail system treats it as a sub-address separator,
	// so by default two such addresses are different keys (the fuzzy
	// score still sees them as near-identical).
	PlusAddressing bool `yaml:"plus_addressing"`
	// DotInsensitiveDomains lists mail domains whose mailboxes ignore dots
	// in the local part (gmail.com does, most company servers do not:
	// j.smith@acme.com and jsmith@acme.com may be two people). Empty by
	// default; add "gmail.com" and "googlemail.com" to fold dots for them.
	DotInsensitiveDomains []string `yaml:"dot_insensitive_domains"`
	// FreeMailDomains lists consumer mail providers. A company domain
	// shared by two addresses says the people work at the same place; a
	// free-mail domain shared says nothing. Default: a list of common
	// providers (see DefaultFreeMailDomains).
	FreeMailDomains []string `yaml:"free_mail_domains"`
	// RoleLocalParts lists local parts of shared role mailboxes (info,
	// sales, support, ...). Such an address is neither a match key nor
	// evidence in the score: several people use info@acme.com. Default: see
	// DefaultRoleLocalParts.
	RoleLocalParts []string `yaml:"role_local_parts"`
	// MaxCandidates is how many candidates [Index.Add] returns at most,
	// best first (records sharing a deterministic key are always
	// returned). Default 5.
	MaxCandidates int `yaml:"max_candidates"`
	// MaxBlockScan bounds how many records of one blocking key (the newest
	// ones) a single Add compares with, so that a very common key
	// ("smith" + "j") cannot make Add linear in the index size. Default 200.
	MaxBlockScan int `yaml:"max_block_scan"`
}

// Weights are the relative weights of the fields in the combined score.
// Only fields present on both records count (a missing field is neither an
// agreement nor a disagreement); the score is the weighted mean over them.
type Weights struct {
	FirstName float64 `yaml:"first_name"`
	LastName  float64 `yaml:"last_name"`
	Email     float64 `yaml:"email"`
	Phone     float64 `yaml:"phone"`
	Company   float64 `yaml:"company"`
	Location  float64 `yaml:"location"`
}

// DefaultWeights are the weights of [DefaultConfig]: the name carries 0.45
// (given 0.20, surname 0.25), email 0.25, phone 0.15, company and location
// 0.10 each. The name weighs most because every source has it; email next
// because an address is nearly personal; phone, company and place are
// shared by households, colleagues and cities. doc.go says how the weights
// combine.
var DefaultWeights = Weights{
	FirstName: 0.20,
	LastName:  0.25,
	Email:     0.25,
	Phone:     0.15,
	Company:   0.10,
	Location:  0.10,
}

// DefaultFreeMailDomains are consumer mail providers.
var DefaultFreeMailDomains = []string{
	"gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com",
	"hotmail.com", "hotmail.co.uk", "outlook.com", "live.com", "msn.com", "aol.com",
	"icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de",
	"gmx.net", "web.de", "mail.com", "yandex.ru", "zoho.com", "fastmail.com", "comcast.net",
	"verizon.net", "att.net", "qq.com", "163.com", "mail.ru", "orange.fr", "free.fr",
}

// DefaultRoleLocalParts are local parts of shared role mailboxes.
var DefaultRoleLocalParts = []string{
	"info", "sales", "support", "admin", "contact", "hello", "office", "team", "billing",
	"accounts", "accounting", "hr", "jobs", "careers", "marketing", "enquiries", "inquiries",
	"help", "service", "noreply", "no-reply", "webmaster", "postmaster", "mail", "orders",
	"invoices", "finance", "press", "media", "reception", "general", "ops", "it", "legal",
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		AutoMerge:            0.85,
		ReviewFrom:           0.65,
		Weights:              DefaultWeights,
		MinCorroboration:     0.1,
		RareName:             0.01,
		CommonName:           0.5,
		FirstNameConflictCap: 0.6,
		DefaultRegion:        "US",
		FreeMailDomains:      append([]string(nil), DefaultFreeMailDomains...),
		RoleLocalParts:       append([]string(nil), DefaultRoleLocalParts...),
		MaxCandidates:        5,
		MaxBlockScan:         200,
	}
}

// ErrConfig is wrapped by every error of [Config.Validate].
var ErrConfig = errors.New("invalid match config")

// Validate checks c; the error names the offending key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: "+format, append([]any{ErrConfig, key}, args...)...))
	}
	if !(c.AutoMerge > 0 && c.AutoMerge <= 1) {
		bad("auto_merge", "must be in (0, 1], got %v", c.AutoMerge)
	}
	if !(c.ReviewFrom > 0 && c.ReviewFrom <= c.AutoMerge) {
		bad("review_from", "must be in (0, auto_merge=%v], got %v", c.AutoMerge, c.ReviewFrom)
	}
	if !(c.MinCorroboration >= 0 && c.MinCorroboration <= 1) {
		bad("min_corroboration", "must be in [0, 1], got %v", c.MinCorroboration)
	}
	if !(c.RareName >= 0) {
		bad("rare_name", "must be at least 0, got %v", c.RareName)
	}
	if !(c.CommonName >= 0) {
		bad("common_name", "must be at least 0, got %v", c.CommonName)
	}
	if !(c.FirstNameConflictCap >= 0 && c.FirstNameConflictCap <= 1) {
		bad("first_name_conflict_cap", "must be in [0, 1], got %v", c.FirstNameConflictCap)
	}
	w := c.Weights
	sum := 0.0
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"first_name", w.FirstName}, {"last_name", w.LastName}, {"email", w.Email},
		{"phone", w.Phone}, {"company", w.Company}, {"location", w.Location},
	} {
		if !(f.v >= 0 && f.v <= 1) {
			bad("weights."+f.key, "must be in [0, 1], got %v", f.v)
		}
		sum += f.v
	}
	if sum <= 0 {
		bad("weights", "at least one weight must be positive")
	}
	if c.DefaultRegion != "" && len(c.DefaultRegion) != 2 {
		bad("default_region", "must be an ISO 3166-1 alpha-2 code such as \"US\", got %q", c.DefaultRegion)
	}
	for i, d := range c.DotInsensitiveDomains {
		if d == "" || strings.ContainsAny(d, "@ ") {
			bad(fmt.Sprintf("dot_insensitive_domains[%d]", i), "must be a domain such as gmail.com, got %q", d)
		}
	}
	for i, d := range c.FreeMailDomains {
		if d == "" || strings.ContainsAny(d, "@ ") {
			bad(fmt.Sprintf("free_mail_domains[%d]", i), "must be a domain such as gmail.com, got %q", d)
		}
	}
	for i, l := range c.RoleLocalParts {
		if l == "" || strings.ContainsAny(l, "@ ") {
			bad(fmt.Sprintf("role_local_parts[%d]", i), "must be a local part such as info, got %q", l)
		}
	}
	if c.MaxCandidates < 1 {
		bad("max_candidates", "must be at least 1, got %d", c.MaxCandidates)
	}
	if c.MaxBlockScan < 1 {
		bad("max_block_scan", "must be at least 1, got %d", c.MaxBlockScan)
	}
	return errors.Join(errs...)
}
