package quality

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// DefaultCompanySizes are the standard employee-count ranges, used when a
// company_size field configures none.
var DefaultCompanySizes = []string{
	"1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+",
}

// defaultSizeDescriptions maps descriptions (keys as stageKey folds them)
// to employee-count ranges; the range then maps to a configured bucket.
var defaultSizeDescriptions = map[string][2]int64{
	"micro": {1, 10}, "microbusiness": {1, 10}, "solo": {1, 10}, "selfemployed": {1, 10},
	"freelancer": {1, 10}, "freelance": {1, 10}, "soleproprietor": {1, 10},
	"small": {11, 50}, "smallbusiness": {11, 50}, "smallcompany": {11, 50},
	"medium": {51, 200}, "midsize": {51, 200}, "midsized": {51, 200}, "mediumsized": {51, 200},
	"mediumbusiness": {51, 200},
	"large":          {1001, 5000}, "largecompany": {1001, 5000}, "largebusiness": {1001, 5000},
	"enterprise": {10001, openEnded}, "largeenterprise": {10001, openEnded},
}

// openEnded is the upper bound of an open range such as "10001+".
const openEnded = math.MaxInt64

// minSizeOverlap is the share of a given range that must fall into one
// bucket for the range to map to it ("50-200" → "51-200").
const minSizeOverlap = 0.75

type sizeBucket struct {
	name   string
	lo, hi int64
}

// CompanySizes maps employee counts, ranges and descriptions to a list of
// standard ranges.
type CompanySizes struct {
	buckets      []sizeBucket
	descriptions map[string][2]int64
	named        map[string]string // description key → bucket name, from configuration
}

// NewCompanySizes returns a mapper onto ranges ("1-10", ..., "10001+":
// ascending, not overlapping; only the last may be open-ended) with
// descriptions mapping extra descriptions to one of the ranges. It fails
// naming the first malformed range.
func NewCompanySizes(ranges []string, descriptions map[string]string) (*CompanySizes, error) {
	c := &CompanySizes{descriptions: defaultSizeDescriptions, named: map[string]string{}}
	for i, r := range ranges {
		lo, hi, ok := parseRange(r)
		if !ok {
			return nil, fmt.Errorf("range %q is not of the form N-M or N+", r)
		}
		if hi == openEnded && i != len(ranges)-1 {
			return nil, fmt.Errorf("range %q is open-ended but not the last", r)
		}
		if i > 0 && lo <= c.buckets[i-1].hi {
			return nil, fmt.Errorf("range %q overlaps or precedes %q", r, c.buckets[i-1].name)
		}
		c.buckets = append(c.buckets, sizeBucket{name: r, lo: lo, hi: hi})
	}
	if len(c.buckets) == 0 {
		return nil, fmt.Errorf("no ranges")
	}
	for d, r := range descriptions {
		found := false
		for _, b := range c.buckets {
			found = found || b.name == r
		}
		if !found {
			return nil, fmt.Errorf("description %q: %q is not one of the ranges", d, r)
		}
		c.named[stageKey(d)] = r
	}
	return c, nil
}

var (
	rangeRe  = regexp.MustCompile(`^(\d+)\s*-\s*(\d+)$`)
	openRe   = regexp.MustCompile(`^(\d+)\s*\+$`)
	numberRe = `(\d[\d,.]*k?)`
	sizeREs  = []struct {
		re   *regexp.Regexp
		kind string
	}{
		{regexp.MustCompile(`^` + numberRe + `\s*(?:-|to)\s*` + numberRe + `$`), "range"},
		{regexp.MustCompile(`^` + numberRe + `\s*(?:\+|or more|and more|and up|or above|plus)$`), "atleast"},
		{regexp.MustCompile(`^(?:over|more than|above|greater than|>)\s*` + numberRe + `$`), "over"},
		{regexp.MustCompile(`^(?:at least|min(?:imum)?|>=)\s*` + numberRe + `$`), "atleast"},
		{regexp.MustCompile(`^(?:under|less than|fewer than|below|<)\s*` + numberRe + `$`), "under"},
		{regexp.MustCompile(`^(?:up to|at most|max(?:imum)?|<=)\s*` + numberRe + `$`), "upto"},
		{regexp.MustCompile(`^(?:about|around|approx(?:imately)?|~|ca)?\s*` + numberRe + `$`), "one"},
	}
	sizeNoise = strings.NewReplacer("\u2013", "-", "\u2014", "-", "employees", "", "employee", "",
		"people", "", "persons", "", "staff", "", "headcount", "", "ftes", "", "fte", "", "emps", "", "emp", "")
)

func parseRange(s string) (lo, hi int64, ok bool) {
	s = strings.TrimSpace(s)
	if m := rangeRe.FindStringSubmatch(s); m != nil {
		lo, err1 := strconv.ParseInt(m[1], 10, 64)
		hi, err2 := strconv.ParseInt(m[2], 10, 64)
		return lo, hi, err1 == nil && err2 == nil && lo >= 1 && lo <= hi
	}
	if m := openRe.FindStringSubmatch(s); m != nil {
		lo, err := strconv.ParseInt(m[1], 10, 64)
		return lo, openEnded, err == nil && lo >= 1
	}
	return 0, 0, false
}

// parseCount reads "1,000", "1.5k", "200".
func parseCount(s string) (int64, bool) {
	mult := 1.0
	if strings.HasSuffix(s, "k") {
		mult, s = 1000, strings.TrimSuffix(s, "k")
	}
	if mult == 1 {
		s = strings.ReplaceAll(strings.ReplaceAll(s, ",", ""), ".", "")
	} else {
		s = strings.ReplaceAll(s, ",", ".")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*mult > 1e15 {
		return 0, false
	}
	return int64(math.Round(f * mult)), true
}

// Size returns the configured range v falls into. v is an employee count
// (a number or numeric text), a range ("50-200 employees", "11–50",
// "1000+", "over 500", "less than 10", "1k-5k") or a description ("small",
// "enterprise", or one configured). A range maps to the bucket that holds
// at least three quarters of it; when none does (or the description is not
// known) the error wraps [ErrInvalid] and says the size is unclear.
func (c *CompanySizes) Size(v any) (string, error) {
	if s, ok := v.(string); ok {
		return c.sizeText(s)
	}
	f, _, err := toFloat(v)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 1 || f > 1e15 {
		return "", invalidf("company size %s is not a positive employee count", fmt.Sprint(v))
	}
	n := int64(math.Round(f))
	return c.bucketFor(n, n, fmt.Sprint(v))
}

func (c *CompanySizes) sizeText(s string) (string, error) {
	orig := strings.TrimFunc(s, isSpace)
	key := stageKey(orig)
	if name, ok := c.named[key]; ok {
		return name, nil
	}
	if r, ok := c.descriptions[key]; ok {
		return c.bucketFor(r[0], r[1], orig)
	}
	for _, b := range c.buckets {
		if b.name == orig {
			return b.name, nil
		}
	}
	t := collapseSpaces(sizeNoise.Replace(strings.ToLower(orig)))
	for _, p := range sizeREs {
		m := p.re.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		a, ok := parseCount(m[1])
		if !ok {
			break
		}
		switch p.kind {
		case "range":
			b, ok := parseCount(m[2])
			if !ok || b < a {
				return "", invalidf("company size %q is unclear: not a range from low to high", orig)
			}
			return c.bucketFor(max(a, 1), b, orig)
		case "atleast":
			return c.bucketFor(max(a, 1), openEnded, orig)
		case "over":
			return c.bucketFor(a+1, openEnded, orig)
		case "under":
			return c.bucketFor(1, a-1, orig)
		case "upto":
			return c.bucketFor(1, a, orig)
		default:
			return c.bucketFor(a, a, orig)
		}
	}
	return "", invalidf("company size %q is unclear: not a count, a range or a known description", orig)
}

func (c *CompanySizes) bucketFor(lo, hi int64, orig string) (string, error) {
	if hi < lo || hi < 1 {
		return "", invalidf("company size %q is unclear: an empty range", orig)
	}
	if hi == openEnded {
		last := c.buckets[len(c.buckets)-1]
		if last.hi == openEnded && lo >= last.lo-1 {
			return last.name, nil
		}
		for _, b := range c.buckets {
			if b.lo <= lo && b.hi == openEnded {
				return b.name, nil
			}
		}
		return "", invalidf("company size %q is unclear: an open range that spans several ranges", orig)
	}
	width := float64(hi-lo) + 1
	for _, b := range c.buckets {
		ov := float64(min(hi, b.hi)-max(lo, b.lo)) + 1
		if ov > 0 && ov/width >= minSizeOverlap {
			return b.name, nil
		}
	}
	return "", invalidf("company size %q is unclear: it spans several ranges", orig)
}
