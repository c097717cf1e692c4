package authclient

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// jwtClaims are the claims the client reads from Audiobookshelf's tokens to
// tell them apart and to know when they expire. The signature is not
// checked (the client cannot, and need not: the server does), and nothing
// from a token is ever printed.
type jwtClaims struct {
	Type     string   `json:"type"` // "access", "refresh", "api"; empty for legacy tokens
	Exp      *float64 `json:"exp"`
	Iat      *float64 `json:"iat"`
	UserID   string   `json:"userId"`
	Username string   `json:"username"`
	KeyID    string   `json:"keyId"`
}

// expiry returns the exp claim as a time; zero when absent or absurd.
func (c jwtClaims) expiry() time.Time {
	if c.Exp == nil || math.IsNaN(*c.Exp) || *c.Exp <= 0 || *c.Exp > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(*c.Exp), 0)
}

// issued returns the iat claim as a time; zero when absent or absurd.
func (c jwtClaims) issued() time.Time {
	if c.Iat == nil || math.IsNaN(*c.Iat) || *c.Iat <= 0 || *c.Iat > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(*c.Iat), 0)
}

// decodeJWT reads the claims of a compact JWS without verifying it. It
// reports false for anything that is not three dot-separated parts with a
// JSON-object payload.
func decodeJWT(token string) (jwtClaims, bool) {
	var c jwtClaims
	if len(token) > 16<<10 {
		return c, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[1] == "" {
		return c, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, false
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return jwtClaims{}, false
	}
	return c, true
}
