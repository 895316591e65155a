package quality

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// PhoneNumber is a phone number normalized by [Phone].
type PhoneNumber struct {
	// E164 is the number in E.164 form, such as "+442079460958".
	E164 string
	// Extension is the extension that followed the number ("89" for
	// "... ext. 89"), "" when there was none. E.164 has no place for it.
	Extension string
}

// Phone parses s and returns it in E.164 form. A number written without a
// country code ("(555) 123-4567") is taken to belong to region, an ISO
// 3166-1 alpha-2 code such as "US"; with region "" such numbers are
// invalid. Punctuation, spaces, a leading "00" or "011" international
// prefix and an extension ("ext. 89", "x89", "#89") are accepted.
//
// By default a number is accepted when its length is possible for its
// country; strict also checks it against the country's numbering plan, which
// rejects numbers that cannot be assigned, such as US 555 numbers.
func Phone(s, region string, strict bool) (PhoneNumber, error) {
	s = strings.TrimFunc(s, isSpace)
	if s == "" {
		return PhoneNumber{}, invalidf("empty phone number")
	}
	if len(s) > 64 {
		return PhoneNumber{}, invalidf("phone number is longer than 64 characters")
	}
	region = strings.ToUpper(region)
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		switch err {
		case phonenumbers.ErrInvalidCountryCode:
			if region == "" {
				return PhoneNumber{}, invalidf("phone number %q has no country code and no default region is configured", s)
			}
			return PhoneNumber{}, invalidf("phone number %q has an unknown country code", s)
		case phonenumbers.ErrNotANumber:
			return PhoneNumber{}, invalidf("%q is not a phone number", s)
		case phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD:
			return PhoneNumber{}, invalidf("phone number %q is too short", s)
		case phonenumbers.ErrNumTooLong:
			return PhoneNumber{}, invalidf("phone number %q is too long", s)
		}
		return PhoneNumber{}, invalidf("phone number %q: %s", s, err.Error())
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return PhoneNumber{}, invalidf("phone number %q is a local number without an area code", s)
	case phonenumbers.TOO_SHORT:
		return PhoneNumber{}, invalidf("phone number %q is too short for its country", s)
	case phonenumbers.TOO_LONG:
		return PhoneNumber{}, invalidf("phone number %q is too long for its country", s)
	case phonenumbers.INVALID_COUNTRY_CODE:
		return PhoneNumber{}, invalidf("phone number %q has an unknown country code", s)
	default:
		return PhoneNumber{}, invalidf("phone number %q has an impossible length", s)
	}
	if strict && !phonenumbers.IsValidNumber(num) {
		return PhoneNumber{}, invalidf("phone number %q is not in its country's numbering plan", s)
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if e164 != s {
		// Some odd inputs (leading zeros after the country code, letters)
		// give an E.164 form that reads back as another number; such a
		// result could not be trusted as a match key.
		back, err := phonenumbers.Parse(e164, "")
		if err != nil || phonenumbers.Format(back, phonenumbers.E164) != e164 {
			return PhoneNumber{}, invalidf("phone number %q has no stable E.164 form", s)
		}
	}
	return PhoneNumber{E164: e164, Extension: num.GetExtension()}, nil
}

// validRegion reports whether region is a region phone numbers are known for.
func validRegion(region string) bool {
	return phonenumbers.GetSupportedRegions()[strings.ToUpper(region)]
}
