package authclient_test

import (
	"testing"

	"github.com/selfhost-sdk/authclient"
)

// FuzzParseSession feeds ParseSession any answer: it never panics, a
// session it returns has a token and is Audiobookshelf's, and its error is
// short and quotes nothing of the answer past a few bytes.
func FuzzParseSession(f *testing.F) {
	for _, seed := range []string{
		`{"user": {"username": "root", "accessToken": "a.b.c", "refreshToken": "r.s.t"}}`,
		`{"user": {"accessToken": ""}}`, `null`, `[]`, `{"user": null}`, ``, `{"user": {"refreshToken": 5}}`,
	} {
		f.Add([]byte(seed))
	}
	c, err := authclient.New(authclient.Audiobookshelf, "http://127.0.0.1:1/abs/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := c.ParseSession(data)
		if err != nil {
			if s != nil || len(err.Error()) > 300 {
				t.Fatalf("%v with %v", err, s)
			}
			return
		}
		if s.Token == "" || s.Server != authclient.Audiobookshelf {
			t.Fatalf("unusable session %v", s)
		}
	})
}

// FuzzParseUser feeds ParseUser any object: it never panics, and a user it
// returns has an id and the Audiobookshelf part.
func FuzzParseUser(f *testing.F) {
	for _, seed := range []string{
		`{"id": "u1", "username": "root", "type": "root", "permissions": {"download": true, "x": "y"}, "createdAt": 1}`,
		`{"id": ""}`, `null`, `{"id": "u", "createdAt": -9223372036854775808, "email": null}`, `{"permissions": []}`,
	} {
		f.Add([]byte(seed))
	}
	c, err := authclient.New(authclient.Audiobookshelf, "http://127.0.0.1:1/abs/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := c.ParseUser(data)
		if err != nil {
			if u != nil || len(err.Error()) > 300 {
				t.Fatalf("%v with %v", err, u)
			}
			return
		}
		if u.ID == "" || u.Audiobookshelf == nil {
			t.Fatalf("unusable user %+v", u)
		}
	})
}
