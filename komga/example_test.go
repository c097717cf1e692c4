package komga_test

import (
	"context"
	"fmt"
	"log"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/komga"
)

func ExampleNew() {
	srv := authtest.NewKomga(authtest.WithPrefix("/komga")) // a Komga behind a proxy at /komga/
	defer srv.Close()
	srv.AddUser("me@example.org", "pw", "ADMIN")
	key := srv.AddAPIKey("me@example.org", "script")

	c, err := komga.New(srv.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	// The shared operations are on the core.
	u, err := c.Core().CurrentUser(context.Background())
	if err != nil {
		log.Fatal(err) // errors.Is(err, authclient.ErrUnauthorized) for a wrong key
	}
	fmt.Println(u.Email, "admin:", u.Admin)
	// Output: me@example.org admin: true
}

func ExampleWrap() {
	srv := authtest.NewKomga()
	defer srv.Close()
	srv.AddUser("me@example.org", "pw")
	// A client made for cross-server code…
	core, err := authclient.New(authclient.Komga, srv.URL, authclient.WithLogin("me@example.org", "pw"))
	if err != nil {
		log.Fatal(err)
	}
	// …gets the Komga operations by wrapping it.
	c, err := komga.Wrap(core)
	if err != nil {
		log.Fatal(err) // a *authclient.ConfigError for a client of another server
	}
	ck, err := c.SessionCookie(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ck.Name, "HttpOnly:", ck.HttpOnly)
	// Output: KOMGA-SESSION HttpOnly: true
}

func ExampleClient_SessionCookie() {
	srv := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer srv.Close()
	srv.AddUser("me@example.org", "pw")
	c, err := komga.New(srv.URL, authclient.WithLogin("me@example.org", "pw"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// Signs in (the client had not yet), then converts the session.
	ck, err := c.SessionCookie(ctx)
	if err != nil {
		log.Fatal(err) // a *authclient.ConfigError for a client with an API key
	}
	// Hand it to a web view; here, a second client shows it is the session.
	browser, err := komga.New(srv.URL, authclient.WithAuthenticator(authclient.SessionCookie(authclient.Komga, ck.Value)))
	if err != nil {
		log.Fatal(err)
	}
	u, err := browser.Core().CurrentUser(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ck.Name, "path", ck.Path, "signs in as", u.Email)
	// Output: KOMGA-SESSION path /komga/ signs in as me@example.org
}
