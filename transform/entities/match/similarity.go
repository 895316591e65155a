package match

// String similarity used by the scorer. Jaro-Winkler is implemented here
// rather than taken from a library: it is forty lines, the well-known
// libraries allocate two slices per call, and the scorer calls it several
// times for every candidate pair, so an allocation-free version (fixed
// arrays for strings up to 64 bytes) matters for Add throughput. The inputs
// are already folded to lowercase ASCII where possible (see fold), so the
// comparison works on bytes.

// jaro returns the Jaro similarity of a and b in [0,1]; 0 when either is
// empty.
func jaro(a, b string) float64 {
	if a == b {
		if a == "" {
			return 0
		}
		return 1
	}
	la, lb := len(a), len(b)
	if la == 0 || lb == 0 {
		return 0
	}
	if la > lb {
		a, b = b, a
		la, lb = lb, la
	}
	window := lb/2 - 1
	if window < 0 {
		window = 0
	}
	var fa, fb [64]bool
	ma, mb := fa[:], fb[:]
	if lb > len(fb) {
		ma, mb = make([]bool, la), make([]bool, lb)
	}
	matches := 0
	for i := 0; i < la; i++ {
		lo, hi := max(0, i-window), min(lb-1, i+window)
		for j := lo; j <= hi; j++ {
			if !mb[j] && a[i] == b[j] {
				ma[i], mb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	half, k := 0, 0
	for i := 0; i < la; i++ {
		if !ma[i] {
			continue
		}
		for !mb[k] {
			k++
		}
		if a[i] != b[k] {
			half++
		}
		k++
	}
	m := float64(matches)
	return (m/float64(la) + m/float64(lb) + (m-float64(half)/2)/m) / 3
}

// jaroWinkler is the Jaro similarity boosted for a common prefix of up to
// four bytes (scaling factor 0.1, boost only above 0.7, as Winkler
// proposed).
func jaroWinkler(a, b string) float64 {
	j := jaro(a, b)
	if j <= 0.7 {
		return j
	}
	p := 0
	for p < 4 && p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	return j + float64(p)*0.1*(1-j)
}

// ramp maps a raw similarity onto [0,1]: values at or below lo give 0, at
// or above hi give 1, linear between. Raw Jaro-Winkler of two unrelated
// names is often 0.5–0.7, which a plain weighted average would count as
// half an agreement; the ramp makes "clearly different" count as 0.
func ramp(x, lo, hi float64) float64 {
	switch {
	case x <= lo:
		return 0
	case x >= hi:
		return 1
	}
	return (x - lo) / (hi - lo)
}

// soundex returns the American Soundex code of s (lowercase ASCII letters;
// other bytes are skipped), "" when s has no letters.
func soundex(s string) string {
	const codes = "01230120022455012623010202" // a..z
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(s) && n < 4; i++ {
		c := s[i]
		if c < 'a' || c > 'z' {
			continue
		}
		code := codes[c-'a']
		if n == 0 {
			out[0] = c - 'a' + 'A'
			n = 1
			last = code
			continue
		}
		switch {
		case c == 'h' || c == 'w':
			// h and w do not separate letters with the same code.
		case code == '0':
			last = '0'
		case code != last:
			out[n] = code
			n++
			last = code
		}
	}
	if n == 0 {
		return ""
	}
	for n < 4 {
		out[n] = '0'
		n++
	}
	return string(out[:])
}

// digitsSimilarity compares two digit strings of phone numbers: 1 when
// equal, 0.8 when they differ by one substituted digit or one adjacent
// transposition (a typing slip), 0.5 when only the last seven digits agree
// (the same subscriber number under another country or area code, often a
// missing or wrong default region), 0 otherwise.
func digitsSimilarity(a, b string) float64 {
	if a == b {
		return 1
	}
	if len(a) == len(b) {
		diff, first := 0, -1
		for i := 0; i < len(a); i++ {
			if a[i] != b[i] {
				if first < 0 {
					first = i
				}
				diff++
			}
		}
		if diff == 1 {
			return 0.8
		}
		if diff == 2 && first+1 < len(a) && a[first] == b[first+1] && a[first+1] == b[first] {
			return 0.8
		}
	}
	if len(a) >= 7 && len(b) >= 7 && a[len(a)-7:] == b[len(b)-7:] {
		return 0.5
	}
	return 0
}

// osaDistance is the optimal string alignment distance of a and b
// (Levenshtein with adjacent transpositions), computed only up to limit:
// any distance of limit or more is returned as limit.
func osaDistance(a, b string, limit int) int {
	if a == b {
		return 0
	}
	la, lb := len(a), len(b)
	if la-lb >= limit || lb-la >= limit {
		return limit
	}
	if lb > 62 || la > 62 {
		return limit
	}
	var rows [3][64]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= lb; j++ {
		prev[j] = j
	}
	for i := 1; i <= la; i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[lb], limit)
}
