package bad // want "dot import of github.com/golang-jwt/jwt/v5"

import . "github.com/golang-jwt/jwt/v5"

func dotted(tok string) { Parse(tok, nil) }
