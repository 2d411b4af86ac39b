package token

// A strict reader for the two JSON objects of a token (header and claims).
//
// golang-jwt decodes them with encoding/json, which takes the last of two
// duplicate names, matches names case-insensitively, decodes \u escapes and
// replaces invalid UTF-8. Each of those lets two parsers disagree about what
// a token says. Our issuer never produces any of them, so this reader
// accepts only the flat shape the issuer writes: an object of known names,
// each at most once, whose values are ASCII strings without escapes,
// non-negative integers, or arrays of such strings. It runs before the
// signature check and allocates nothing.

import "time"

type valKind uint8

const (
	valString valKind = iota + 1
	valInt
	valArray // array of strings
)

type jsonVal struct {
	kind  valKind
	str   []byte // a string, or the first element of an array
	n     int64  // an integer
	count int    // number of elements of an array
}

// maxIntDigits keeps integers well inside int64 and time.Unix (year 33658).
const maxIntDigits = 12

// parseObject reads one JSON object from b. index maps a member name to its
// slot in vals, or -1 for a name that is not allowed. It returns the bit set
// of slots seen.
func parseObject(b []byte, index func(name []byte) int, vals []jsonVal) (seen uint, err *Error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, errJSON
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			var name []byte
			if name, i, err = parseString(b, i); err != nil {
				return 0, err
			}
			slot := index(name)
			if slot < 0 {
				return 0, errUnknownMember
			}
			if seen&(1<<slot) != 0 {
				return 0, errDuplicate
			}
			seen |= 1 << slot
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return 0, errJSON
			}
			if vals[slot], i, err = parseValue(b, skipWS(b, i+1)); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, errJSON
			}
			if b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if b[i] != '}' {
				return 0, errJSON
			}
			i++
			break
		}
	}
	if skipWS(b, i) != len(b) {
		return 0, errJSON
	}
	return seen, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// parseString reads a string at b[i] and returns its contents and the index
// after the closing quote.
func parseString(b []byte, i int) ([]byte, int, *Error) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, errJSON
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, nil
		case c == '\\':
			return nil, j, errEscape
		case c < 0x20 || c > 0x7e:
			return nil, j, errNonASCII
		}
	}
	return nil, len(b), errJSON
}

func parseValue(b []byte, i int) (jsonVal, int, *Error) {
	if i >= len(b) {
		return jsonVal{}, i, errJSON
	}
	switch c := b[i]; {
	case c == '"':
		s, j, err := parseString(b, i)
		return jsonVal{kind: valString, str: s}, j, err
	case c >= '0' && c <= '9':
		j, n := i, int64(0)
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			n = n*10 + int64(b[j]-'0')
			j++
		}
		if j-i > maxIntDigits || (b[i] == '0' && j-i > 1) {
			return jsonVal{}, j, errNumber
		}
		if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
			return jsonVal{}, j, errNumber
		}
		return jsonVal{kind: valInt, n: n}, j, nil
	case c == '-':
		return jsonVal{}, i, errNumber
	case c == '[':
		v := jsonVal{kind: valArray}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == ']' {
			return v, j + 1, nil
		}
		for {
			s, k, err := parseString(b, j)
			if err != nil {
				if err == errJSON {
					err = errValueType // an element that is not a string
				}
				return jsonVal{}, k, err
			}
			if v.count == 0 {
				v.str = s
			}
			v.count++
			j = skipWS(b, k)
			if j >= len(b) {
				return jsonVal{}, j, errJSON
			}
			if b[j] == ']' {
				return v, j + 1, nil
			}
			if b[j] != ',' {
				return jsonVal{}, j, errJSON
			}
			j = skipWS(b, j+1)
		}
	}
	return jsonVal{}, i, errValueType // object, true, false, null, garbage
}

// Header slots.
const (
	hAlg = iota
	hKid
	hTyp
	hCount
)

func headerIndex(name []byte) int {
	switch string(name) {
	case "alg":
		return hAlg
	case "kid":
		return hKid
	case "typ":
		return hTyp
	}
	return -1
}

// checkHeader reads a token header and returns its kid. alg must be EdDSA
// and typ that of kind; any other parameter (jku, jwk, x5u, x5c, crit, b64,
// cty...) is refused.
func checkHeader(b []byte, kind Kind) (kid []byte, err *Error) {
	var v [hCount]jsonVal
	seen, err := parseObject(b, headerIndex, v[:])
	if err != nil {
		return nil, err
	}
	if seen != 1<<hCount-1 {
		return nil, errMissing
	}
	for i := range v {
		if v[i].kind != valString {
			return nil, errValueType
		}
	}
	if string(v[hAlg].str) != "EdDSA" {
		return nil, errAlg
	}
	if string(v[hTyp].str) != kind.Type() {
		return nil, errTyp
	}
	if !validKid(v[hKid].str) {
		return nil, errKid
	}
	return v[hKid].str, nil
}

// Claim slots.
const (
	cIss = iota
	cSub
	cAud
	cExp
	cNbf
	cIat
	cJti
	cCount
)

func claimIndex(name []byte) int {
	switch string(name) {
	case "iss":
		return cIss
	case "sub":
		return cSub
	case "aud":
		return cAud
	case "exp":
		return cExp
	case "nbf":
		return cNbf
	case "iat":
		return cIat
	case "jti":
		return cJti
	}
	return -1
}

// checkClaims reads a claims set. It checks shape only: which claims, of
// which types, and that the lifetime is sane. Values against the clock, the
// issuer and the audience are checked by golang-jwt after the signature.
func checkClaims(b []byte) *Error {
	var v [cCount]jsonVal
	seen, err := parseObject(b, claimIndex, v[:])
	if err != nil {
		return err
	}
	const required = 1<<cIss | 1<<cSub | 1<<cAud | 1<<cExp | 1<<cIat | 1<<cJti
	if seen&required != required {
		return errMissing
	}
	for _, c := range [...]int{cIss, cSub, cJti} {
		if v[c].kind != valString || len(v[c].str) == 0 {
			return errValueType
		}
	}
	for _, c := range [...]int{cExp, cIat, cNbf} {
		if seen&(1<<c) != 0 && v[c].kind != valInt {
			return errValueType
		}
	}
	// golang-jwt accepts any one matching element of an array; we want the
	// audience to be exactly one, whichever way it is written.
	switch aud := v[cAud]; aud.kind {
	case valString:
	case valArray:
		if aud.count != 1 {
			return errAudShape
		}
	default:
		return errValueType
	}
	if life := v[cExp].n - v[cIat].n; life <= 0 || life > int64(MaxTTL/time.Second) {
		return errLifetime
	}
	return nil
}

// kidLen is the length of a base64url SHA-256 thumbprint.
const kidLen = 43

// validKid reports whether kid could be one of our key ids: exactly a
// base64url SHA-256. It is also what keeps kids safe as file names.
func validKid[S string | []byte](kid S) bool {
	if len(kid) != kidLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
