package audiobookshelf_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/audiobookshelf"
	"github.com/selfhost-sdk/authclient/authtest"
)

func ExampleNew() {
	srv := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs")) // an Audiobookshelf at /abs/
	defer srv.Close()
	srv.AddLibrary("Audiobooks")

	c, err := audiobookshelf.New(srv.BasePathURL(), authclient.WithLogin("root", "root"))
	if err != nil {
		log.Fatal(err)
	}
	libs, err := c.ListLibraries(context.Background())
	if err != nil {
		log.Fatal(err) // errors.Is(err, authclient.ErrUnauthorized) for a wrong password
	}
	for _, l := range libs {
		fmt.Println(l.Name, l.MediaType)
	}
	// Output: Audiobooks book
}

func ExampleClient_Authorize() {
	srv := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer srv.Close()
	key := srv.AddAPIKey("root", "script", 0, true)

	c, err := audiobookshelf.New(srv.BasePathURL(), authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	a, err := c.Authorize(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.User.Username, a.User.Audiobookshelf.Type, a.ServerVersion)
	// Output: root root 2.36.0
}

func ExampleClient_LibraryItems() {
	srv := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer srv.Close()
	lib := srv.AddLibrary("Audiobooks")
	srv.AddLibraryItems(lib, 3)

	c, err := audiobookshelf.New(srv.BasePathURL(), authclient.WithLogin("root", "root"))
	if err != nil {
		log.Fatal(err)
	}
	for it, err := range c.LibraryItems(context.Background(), lib, authclient.PageSize(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(it.Title)
	}
	// Output:
	// Book 00001
	// Book 00002
	// Book 00003
}

// A program that can open a browser signs in with the server's identity
// provider: it opens AuthURL, and gets back the URL the browser lands on
// (the app's redirect URI, with the code and state).
func ExampleClient_StartOpenIDLogin() {
	srv := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer srv.Close()
	srv.EnableOpenID("")
	ctx := context.Background()

	c, err := audiobookshelf.New(srv.BasePathURL())
	if err != nil {
		log.Fatal(err)
	}
	l, err := c.StartOpenIDLogin(ctx, "audiobookshelf://oauth")
	if err != nil {
		log.Fatal(err) // a 500 with a hint when OpenID is not configured
	}
	// Printed without its secrets (the fake's origin stands for the server's).
	fmt.Println(strings.Replace(fmt.Sprint(l), srv.HTTP.URL, "https://abs.example", 1))
	callback := openInBrowser(l.AuthURL)

	s, err := c.FinishOpenIDLogin(ctx, l, callback)
	var refused *audiobookshelf.IdPError
	switch {
	case errors.As(err, &refused): // also errors.Is(err, authclient.ErrUnauthorized)
		log.Fatal("the identity provider said ", refused.Code)
	case err != nil:
		log.Fatal(err)
	}
	me, err := c.Core().CurrentUser(ctx) // the client now uses (and refreshes) the session
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Username, s.RefreshToken != "")
	// Output:
	// OpenIDLogin(https://abs.example/fake-idp/authorize, state, verifier and cookies REDACTED)
	// root true
}

// openInBrowser stands in for a browser and the user signing in: it
// follows the identity provider's redirects until the app's URI.
func openInBrowser(authURL string) string {
	browser := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Scheme != "http" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(authURL)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Location")
}

func ExampleClient_SetAPIKeyActive() {
	srv := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer srv.Close()
	ctx := context.Background()

	c, err := audiobookshelf.New(srv.BasePathURL(), authclient.WithLogin("root", "root"))
	if err != nil {
		log.Fatal(err)
	}
	k, err := c.Core().CreateAPIKey(ctx, authclient.CreateAPIKeyRequest{Name: "nightly"})
	if err != nil {
		log.Fatal(err)
	}
	info, err := c.SetAPIKeyActive(ctx, k.ID, false)
	if err != nil {
		log.Fatal(err) // authclient.ErrForbidden for a user who is not an admin
	}
	fmt.Println(info.Name, info.Active)
	// Output: nightly false
}
