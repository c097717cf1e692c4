package audiobookshelf_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/audiobookshelf"
	"github.com/selfhost-sdk/authclient/authtest"
)

// FuzzFinishOpenIDLoginCallback feeds FinishOpenIDLogin any callback URL
// ("STATE" in it stands for the login's state): it never panics or signs
// in, an identity provider's error is an *IdPError with a clean code and
// description, and no error names the state or the verifier.
func FuzzFinishOpenIDLoginCallback(f *testing.F) {
	for _, seed := range []string{
		appURI + "?code=abc&state=STATE", appURI + "?error=access_denied&state=STATE",
		appURI + "?error=x&error_description=STATE%0D%0Aline", appURI + "?state=STATE", "http://[::1", "%zz",
		appURI + "?error=%E2%80%AE&error_description=%FF%FE", appURI + "?code=&state=STATE&state=other",
	} {
		f.Add(seed)
	}
	a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	f.Cleanup(a.Close)
	a.EnableOpenID("")
	c, err := audiobookshelf.New(a.BasePathURL(), authclient.WithMaxRetries(0))
	if err != nil {
		f.Fatal(err)
	}
	l, err := c.StartOpenIDLogin(context.Background(), appURI)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, callback string) {
		s, err := c.FinishOpenIDLogin(context.Background(), l, strings.ReplaceAll(callback, "STATE", l.State))
		if err == nil || s != nil {
			t.Fatalf("signed in with %q", callback)
		}
		out := fmt.Sprintf("%v %+v %#v %q", err, err, err, err)
		if strings.Contains(out, l.State) || strings.Contains(out, l.CodeVerifier) {
			t.Fatalf("the error names a secret: %s", out)
		}
		var ie *audiobookshelf.IdPError
		if errors.As(err, &ie) {
			if !errors.Is(err, authclient.ErrUnauthorized) || ie.Code == "" || len(ie.Code) > 64 || len(ie.Description) > 204 ||
				strings.ContainsAny(ie.Code+ie.Description, "\r\n\x00") {
				t.Fatalf("unclean %#v", *ie)
			}
		}
	})
}
