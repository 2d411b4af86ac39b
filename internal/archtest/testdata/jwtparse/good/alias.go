package good

import (
	jwtv5 "github.com/golang-jwt/jwt/v5"
	// Another package named jwt: matched by import path, not by name.
	"example.com/not/golang/jwt"
)

func alias() *jwtv5.Parser {
	return jwtv5.NewParser(jwtv5.WithValidMethods([]string{"EdDSA"}), jwtv5.WithIssuer("i"), jwtv5.WithAudience("a"), jwtv5.WithExpirationRequired())
}

func otherLibrary(tok string) { jwt.Parse(tok) }
