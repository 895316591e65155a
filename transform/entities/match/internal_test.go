package match

import (
	"math"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.961},
		{"dwayne", "duane", 0.840},
		{"dixon", "dicksonx", 0.813},
		{"same", "same", 1},
		{"abc", "xyz", 0},
		{"", "x", 0},
	} {
		if got := jaroWinkler(tc.a, tc.b); math.Abs(got-tc.want) > 0.001 {
			t.Errorf("jaroWinkler(%q, %q) = %.4f, want %.3f", tc.a, tc.b, got, tc.want)
		}
		if jaroWinkler(tc.a, tc.b) != jaroWinkler(tc.b, tc.a) {
			t.Errorf("jaroWinkler(%q, %q) is not symmetric", tc.a, tc.b)
		}
	}
	long := "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	if got := jaroWinkler(long, long[1:]); got < 0.85 || got > 1 {
		t.Errorf("long strings (over the fixed buffer): %.3f", got)
	}
}

func TestSoundex(t *testing.T) {
	for in, want := range map[string]string{
		"robert": "R163", "rupert": "R163", "ashcraft": "A261", "tymczak": "T522",
		"pfister": "P236", "lee": "L000", "": "", "123": "",
	} {
		if got := soundex(in); got != want {
			t.Errorf("soundex(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOSADistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"john.smith", "john.smith", 0},
		{"john.smith", "john.smtih", 1},
		{"johnsmith", "john.smith", 1},
		{"donna_brown", "donna.borwn", 2},
		{"abc", "xyzuvw", 3},
	} {
		if got := osaDistance(tc.a, tc.b, 3); got != tc.want {
			t.Errorf("osaDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNicknames(t *testing.T) {
	if !validNicknameTable() {
		t.Fatal("nickname table has an empty or padded entry")
	}
	for _, p := range [][2]string{{"bob", "robert"}, {"bill", "william"}, {"liz", "elizabeth"}, {"beth", "liz"}, {"peggy", "margaret"}, {"chris", "christine"}, {"chris", "christopher"}} {
		if !nicknameEqual(p[0], p[1]) {
			t.Errorf("%s and %s are not nickname-equal", p[0], p[1])
		}
	}
	if nicknameEqual("bob", "william") || nicknameEqual("christopher", "christine") {
		t.Error("unrelated names are nickname-equal")
	}
	if canonicalFirst("bobby") != "robert" || canonicalFirst("zoltan") != "zoltan" {
		t.Errorf("canonicalFirst: %q %q", canonicalFirst("bobby"), canonicalFirst("zoltan"))
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"O'Brien-Núñez": "obriennunez", "  Van der Berg ": "vanderberg", "MÜLLER": "muller", "": "",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}
