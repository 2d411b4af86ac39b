package token

import "testing"

func TestCheckClaimsShapes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *Error
	}{
		{claimsAt(100, 200), nil},
		{` { "iss" : "i" , "sub":"s","aud":["a"],"exp":200,"nbf":0,"iat":100,"jti":"j" } `, nil},
		{`{"iss":"i","sub":"s","aud":"a","exp":200,"iat":100,"jti":"j"`, errJSON},
		{`{"iss":"i","sub":"s","aud":"a","exp":200,"iat":100,"jti":"j",}`, errJSON},
		{`{"iss":"i","sub":"s","aud":"a","exp":200,"iat":100,"jti":"j"}}`, errJSON},
		{`{"iss":"i","sub":"s","aud":"a","exp":200 "iat":100,"jti":"j"}`, errJSON},
		{`{"iss":"i","sub":"s","aud":["a",],"exp":200,"iat":100,"jti":"j"}`, errValueType},
		{`{"iss":"i","sub":"s","aud":["a" "b"],"exp":200,"iat":100,"jti":"j"}`, errJSON},
		{`{"iss":"i","sub":"s","aud":["a"`, errJSON},
		{`{"iss":"i","sub":"s","aud":"a","exp":200,"iat":100,"jti":"j`, errJSON},
		{`{"iss":"i","sub":"s","aud":"a","exp":1000000000000,"iat":100,"jti":"j"}`, errNumber},
		{`{"iss":"i","sub":"s","aud":"a","exp":200,"iat":100,"jti":"j","jti":"k"}`, errDuplicate},
		{`{"iss":"i","sub":"s","aud":"a","exp":200,"iat":100,"nbf":"1","jti":"j"}`, errValueType},
		{`{"iss":"i","sub":"s","aud":"a","exp":100000,"iat":1,"jti":"j"}`, errLifetime},
		{`{}`, errMissing},
		{``, errJSON},
		{`{`, errJSON},
		{`{"iss"`, errJSON},
		{`{"iss":`, errJSON},
	} {
		if got := checkClaims([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestScannerDoesNotAllocate(t *testing.T) {
	h := []byte(header("RdsIdO3CsMDzCjNZvzh9oqMmTgMASg3jgoAi8dXZLIQ", Installation))
	c := []byte(claims(t0))
	n := testing.AllocsPerRun(100, func() {
		if _, err := checkHeader(h, Installation); err != nil {
			t.Fatal(err)
		}
		if err := checkClaims(c); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}
