package quality

import (
	"fmt"
	"strings"
	"unicode"
)

// DefaultLifecycleStages are the stages used when a lifecycle_stage field
// configures none.
var DefaultLifecycleStages = []string{
	"subscriber", "lead", "marketing_qualified_lead", "sales_qualified_lead",
	"opportunity", "customer", "evangelist", "other",
}

// lifecycleVariants groups the common ways of writing one stage, as stage
// keys (see stageKey). A configured stage whose key is in a group also
// matches the group's other keys.
var lifecycleVariants = [][]string{
	{"subscriber", "subscribed", "newsletter", "newslettersubscriber"},
	{"lead", "newlead", "rawlead", "prospect"},
	{"marketingqualifiedlead", "marketingqualified", "mql", "marketinglead"},
	{"salesacceptedlead", "salesaccepted", "sal"},
	{"salesqualifiedlead", "salesqualified", "sql", "salesready", "salesreadylead"},
	{"opportunity", "opp", "oppty", "opportunities"},
	{"customer", "client", "closedwon", "won", "payingcustomer"},
	{"evangelist", "advocate", "promoter", "champion"},
	{"other"},
}

// stageKey folds a stage name for matching: lowercase letters and digits
// only, so "Sales Qualified Lead", "sales-qualified-lead" and
// "SALES_QUALIFIED_LEAD" are one key.
func stageKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Lifecycle matches lifecycle stage names against a configured list.
type Lifecycle struct {
	byKey map[string]string
}

// NewLifecycle returns a matcher for stages (names as they are to be
// written) and aliases (other name → a stage of the list). It fails when a
// stage is empty or repeated, or an alias points outside the list.
func NewLifecycle(stages []string, aliases map[string]string) (*Lifecycle, error) {
	l := &Lifecycle{byKey: make(map[string]string)}
	for _, s := range stages {
		k := stageKey(s)
		if k == "" {
			return nil, fmt.Errorf("stage %q has no letters or digits", s)
		}
		if prev, dup := l.byKey[k]; dup {
			return nil, fmt.Errorf("stages %q and %q are the same stage", prev, s)
		}
		l.byKey[k] = s
	}
	for _, group := range lifecycleVariants {
		stage := ""
		for _, k := range group {
			if s, ok := l.byKey[k]; ok {
				stage = s
				break
			}
		}
		if stage == "" {
			continue
		}
		for _, k := range group {
			if _, taken := l.byKey[k]; !taken {
				l.byKey[k] = stage
			}
		}
	}
	for alias, stage := range aliases {
		target, ok := l.byKey[stageKey(stage)]
		if !ok || stageKey(target) != stageKey(stage) {
			return nil, fmt.Errorf("alias %q: %q is not one of the stages", alias, stage)
		}
		if stageKey(alias) == "" {
			return nil, fmt.Errorf("alias %q has no letters or digits", alias)
		}
		l.byKey[stageKey(alias)] = target
	}
	return l, nil
}

// Stage returns the configured stage s names, ignoring case, spaces and
// punctuation, and accepting common variants ("MQL", "Sales Qualified",
// "client") and plurals. The error wraps [ErrInvalid] when s matches no
// stage.
func (l *Lifecycle) Stage(s string) (string, error) {
	k := stageKey(s)
	if st, ok := l.byKey[k]; ok {
		return st, nil
	}
	if st, ok := l.byKey[strings.TrimSuffix(k, "s")]; ok && strings.HasSuffix(k, "s") {
		return st, nil
	}
	return "", invalidf("%q is not a known lifecycle stage", strings.TrimFunc(s, isSpace))
}
