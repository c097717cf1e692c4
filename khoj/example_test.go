package khoj_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/khoj"
)

func ExampleNew() {
	srv := authtest.NewKhoj(authtest.WithPrefix("/khoj")) // a Khoj behind a proxy at /khoj/
	defer srv.Close()
	srv.AddUser("me@example.org")
	token := srv.AddToken("me@example.org", "script")

	c, err := khoj.New(srv.URL, authclient.WithAPIKey(token))
	if err != nil {
		log.Fatal(err)
	}
	// The shared operations are on the core.
	u, err := c.Core().CurrentUser(context.Background())
	if err != nil {
		log.Fatal(err) // errors.Is(err, authclient.ErrUnauthorized) for a wrong token
	}
	fmt.Println(u.Email)
	// Output: me@example.org
}

// A script sets itself up on Khoj without a browser: Khoj e-mails a code,
// the script (or its operator) passes it back, and gets an API token.
func ExampleClient_BootstrapToken() {
	srv := authtest.NewKhoj(authtest.WithPrefix("/khoj")) // stands in for https://khoj.example
	defer srv.Close()
	ctx := context.Background()

	c, err := khoj.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.SendMagicLink(ctx, "me@example.org"); err != nil {
		log.Fatal(err)
	}
	code := srv.MagicCode("me@example.org") // in real life: read from the e-mail
	tok, err := c.BootstrapToken(ctx, "me@example.org", code, "backup script")
	if err != nil {
		log.Fatal(err) // errors.Is(err, authclient.ErrUnauthorized): wrong or expired code
	}
	// Store tok.Secret (shown only once), e.g. as KHOJ_API_KEY.
	me, err := c.Core().CurrentUser(ctx) // now signed in with the new token
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Email, tok.Name, tok.Secret[:3])
	// Output: me@example.org backup script kk-
}

func ExampleClient_VerifyMagicLink() {
	srv := authtest.NewKhoj()
	defer srv.Close()
	srv.AddUser("me@example.org")
	ctx := context.Background()
	c, err := khoj.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.SendMagicLink(ctx, "me@example.org"); err != nil {
		log.Fatal(err)
	}
	code := srv.MagicCode("me@example.org") // in real life: read from the e-mail
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	err = c.VerifyMagicLink(ctx, "me@example.org", wrong)
	var e *authclient.Error
	if errors.As(err, &e) {
		fmt.Println("refused:", e.Code) // errors.Is(err, authclient.ErrUnauthorized) too
	}
	// The right code signs the client in with a session cookie.
	if err := c.VerifyMagicLink(ctx, "me@example.org", code); err != nil {
		log.Fatal(err)
	}
	me, err := c.Core().CurrentUser(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in as", me.Email)
	// Output:
	// refused: wrong_code
	// signed in as me@example.org
}
