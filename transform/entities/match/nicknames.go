package match

import "strings"

// nicknameGroups lists given names that refer to the same person. The first
// name of a group is its canonical form; a name may sit in several groups
// ("chris" is short for christopher and for christine), and two names are
// nickname-equal when they share a group. The table covers common English
// given names; it is data, not code, so extending it does not change the
// scorer.
var nicknameGroups = [][]string{
	{"abigail", "abby", "abbie", "gail"},
	{"albert", "al", "bert", "bertie"},
	{"alexander", "alex", "alec", "sasha", "xander", "sandy"},
	{"alexandra", "alex", "alexa", "lexi", "sandra", "sasha", "sandy"},
	{"alfred", "al", "alfie", "fred"},
	{"allison", "ally", "allie", "ali"},
	{"amanda", "mandy", "manda"},
	{"andrew", "andy", "drew"},
	{"angela", "angie"},
	{"anthony", "tony", "ant"},
	{"antonia", "toni", "tonia"},
	{"barbara", "barb", "barbie", "babs"},
	{"benjamin", "ben", "benny", "benji"},
	{"beverly", "bev"},
	{"bradley", "brad"},
	{"cameron", "cam"},
	{"catherine", "cathy", "cat", "kate", "katie", "kathy", "cate", "katherine", "kathryn", "kathleen", "kat", "kitty"},
	{"charles", "charlie", "chuck", "chas", "chaz"},
	{"charlotte", "charlie", "lottie", "lotte"},
	{"christina", "chris", "tina", "chrissy", "christine", "kristina", "kristine"},
	{"christopher", "chris", "kit", "topher", "kris"},
	{"cynthia", "cindy"},
	{"daniel", "dan", "danny"},
	{"danielle", "dani", "elle"},
	{"david", "dave", "davy", "davey"},
	{"deborah", "debbie", "deb", "debra", "debby"},
	{"dennis", "denny"},
	{"donald", "don", "donnie", "donny"},
	{"dorothy", "dot", "dottie", "dolly"},
	{"douglas", "doug"},
	{"edward", "ed", "eddie", "ted", "teddy", "ned", "eddy"},
	{"edwin", "ed", "eddie"},
	{"eleanor", "ellie", "nora", "elle", "nell", "nellie"},
	{"elizabeth", "liz", "lizzie", "beth", "betty", "eliza", "libby", "lisa", "betsy", "bess", "elsie", "liza", "lizzy"},
	{"emily", "em", "emmy", "millie"},
	{"eugene", "gene"},
	{"frances", "fran", "frankie", "fanny"},
	{"francis", "frank", "fran", "frankie"},
	{"frank", "frankie"},
	{"frederick", "fred", "freddie", "freddy", "fritz"},
	{"gabriel", "gabe"},
	{"gerald", "gerry", "jerry"},
	{"gregory", "greg"},
	{"harold", "harry", "hal"},
	{"henry", "hank", "harry", "hal"},
	{"isabel", "izzy", "isabelle", "bella", "belle", "isabella"},
	{"jacob", "jake", "jakob"},
	{"james", "jim", "jimmy", "jamie", "jimbo"},
	{"janet", "jan"},
	{"jeffrey", "jeff", "geoffrey", "geoff"},
	{"jennifer", "jen", "jenny", "jenn"},
	{"jessica", "jess", "jessie"},
	{"john", "jack", "johnny", "jon", "jonny"},
	{"jonathan", "jon", "jonny", "nathan"},
	{"joseph", "joe", "joey", "jo"},
	{"josephine", "jo", "josie", "jose"},
	{"joshua", "josh"},
	{"judith", "judy", "jude"},
	{"kenneth", "ken", "kenny"},
	{"kimberly", "kim", "kimmy"},
	{"laurence", "larry", "laurie", "lawrence", "lars"},
	{"leonard", "leo", "len", "lenny"},
	{"louis", "lou", "louie"},
	{"margaret", "maggie", "meg", "peggy", "marge", "margie", "greta", "madge", "megan", "peg", "maisie", "daisy"},
	{"martin", "marty"},
	{"matthew", "matt", "matty"},
	{"melissa", "mel", "missy", "lissa"},
	{"michael", "mike", "mikey", "mick", "mickey", "mitch"},
	{"nancy", "nan"},
	{"nathaniel", "nate", "nathan", "nat"},
	{"nicholas", "nick", "nicky", "nico", "klaus"},
	{"nicole", "nikki", "nicky", "cole"},
	{"oliver", "ollie"},
	{"pamela", "pam"},
	{"patricia", "pat", "patty", "trish", "tricia", "patsy"},
	{"patrick", "pat", "paddy", "rick"},
	{"peter", "pete"},
	{"philip", "phil", "pip", "phillip"},
	{"rebecca", "becky", "becca", "reba"},
	{"richard", "rick", "dick", "rich", "ricky", "richie", "rico"},
	{"robert", "bob", "rob", "bobby", "robbie", "bert", "robby"},
	{"ronald", "ron", "ronnie", "ronny"},
	{"samantha", "sam", "sammy", "sammie"},
	{"samuel", "sam", "sammy"},
	{"sandra", "sandy", "sandi"},
	{"sarah", "sally", "sadie", "sara"},
	{"stephanie", "steph", "stephie", "stevie"},
	{"stephen", "steve", "steven", "stevie"},
	{"susan", "sue", "susie", "suzy", "suzanne", "susanne"},
	{"theodore", "ted", "teddy", "theo"},
	{"thomas", "tom", "tommy", "thom"},
	{"timothy", "tim", "timmy"},
	{"valerie", "val"},
	{"victoria", "vicky", "tori", "vicki", "vic"},
	{"vincent", "vince", "vinny"},
	{"walter", "walt", "wally"},
	{"william", "bill", "will", "billy", "willie", "liam", "willy", "wil"},
	{"zachary", "zach", "zack", "zak"},
}

// nicknameIndex maps a folded given name to the groups it belongs to.
var nicknameIndex = func() map[string][]uint16 {
	m := make(map[string][]uint16)
	for g, names := range nicknameGroups {
		for _, n := range names {
			m[n] = append(m[n], uint16(g))
		}
	}
	return m
}()

// nicknameHeads returns the canonical names of every group name belongs
// to, or name itself when it is in none.
func nicknameHeads(name string) []string {
	gs, ok := nicknameIndex[name]
	if !ok {
		return []string{name}
	}
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, nicknameGroups[g][0])
	}
	return out
}

// canonicalFirst returns the canonical form of a folded given name: the
// head of its first nickname group, or the name itself when it is in no
// group. Blocking keys use it so that "bob" and "robert" land together.
func canonicalFirst(name string) string {
	if gs, ok := nicknameIndex[name]; ok {
		return nicknameGroups[gs[0]][0]
	}
	return name
}

// nicknameEqual reports whether a and b share a nickname group.
func nicknameEqual(a, b string) bool {
	ga, gb := nicknameIndex[a], nicknameIndex[b]
	for _, x := range ga {
		for _, y := range gb {
			if x == y {
				return true
			}
		}
	}
	return false
}

// NicknameGroups returns a copy of the nickname table (canonical name
// first in each group), for documentation and for test data generators.
func NicknameGroups() [][]string {
	out := make([][]string, len(nicknameGroups))
	for i, g := range nicknameGroups {
		out[i] = append([]string(nil), g...)
	}
	return out
}

// validNicknameTable reports whether every group has a canonical name and
// at least one variant, none empty or padded; a test checks it.
func validNicknameTable() bool {
	for _, g := range nicknameGroups {
		if len(g) < 2 {
			return false
		}
		for _, n := range g {
			if n == "" || strings.TrimSpace(n) != n {
				return false
			}
		}
	}
	return true
}
