package match

// blockingKeys appends to buf the keys under which p is indexed and looked
// up. Deterministic keys (external ids, email, phone) are keys too, so that
// records sharing them always meet; the others only bring candidates
// together for scoring:
//
//	n:  Soundex(surname) + Soundex(canonical given name)  per nickname group
//	ln: surname + postal code (or city)     given-name typos, unknown nicknames
//	fl: canonical given name + postal code  surname typos and changes
//	eb: first 4 (free mail: 6) characters of the local part + domain   local-part typos
//	el: local part (6+ characters)          same handle at another domain
//	ps: last 7 digits of the phone          country/area code differences
//	c:  company's first word + Soundex(surname)
//
// Role addresses give no email keys.
func blockingKeys(p *prepared, buf []string) []string {
	for _, x := range p.extIDs {
		buf = append(buf, "x:"+x)
	}
	if p.emailKey != "" {
		buf = append(buf, "e:"+p.emailKey)
	}
	if p.phone != "" {
		buf = append(buf, "p:"+p.phone)
		if len(p.phone) > 7 {
			buf = append(buf, "ps:"+p.phone[len(p.phone)-7:])
		}
	}
	lastCode := soundex(p.last)
	loc := p.postal
	if loc == "" {
		loc = p.city
	}
	var heads []string
	if p.first != "" {
		heads = nicknameHeads(p.first)
	}
	if lastCode != "" {
		if len(heads) == 0 {
			buf = append(buf, "n:"+lastCode+"|")
		}
		for _, h := range heads {
			buf = append(buf, "n:"+lastCode+"|"+soundex(h))
		}
		if loc != "" {
			buf = append(buf, "ln:"+p.last+"|"+loc)
		}
		if p.companyTok != "" {
			buf = append(buf, "c:"+p.companyTok+"|"+lastCode)
		}
	}
	if loc != "" {
		for _, h := range heads {
			buf = append(buf, "fl:"+h+"|"+loc)
		}
	}
	if p.emailDomain != "" && !p.roleEmail && p.emailLocal != "" {
		// At a free-mail domain four letters are shared by thousands
		// ("john" at gmail.com); six keep the block small and still
		// catch a typo after them.
		n := 4
		if p.freeMail {
			n = 6
		}
		prefix := p.emailLocal
		if len(prefix) > n {
			prefix = prefix[:n]
		}
		buf = append(buf, "eb:"+prefix+"@"+p.emailDomain)
		if len(p.emailLocal) >= 6 {
			buf = append(buf, "el:"+p.emailLocal)
		}
	}
	return buf
}
