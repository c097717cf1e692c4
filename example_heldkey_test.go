package authclient_test

import (
	"context"
	"fmt"
	"log"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// A job rotates its own key without being told the key's id.
func ExampleClient_HeldAPIKey() {
	srv := authtest.NewAudiobookshelf(authtest.WithPrefix("/audiobookshelf"))
	defer srv.Close()
	key := srv.AddAPIKey("root", "nightly-backup", 0, true)

	ctx := context.Background()
	c, err := authclient.New(authclient.Audiobookshelf, srv.BasePathURL(), authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	mine, err := c.HeldAPIKey(ctx)
	if err != nil {
		log.Fatal(err) // Komga cannot tell: find the key by its name in ListAPIKeys
	}
	fmt.Println("this job uses", mine.Name)
	nk, err := c.RotateAPIKey(ctx, mine.ID, authclient.CreateAPIKeyRequest{Name: "nightly-backup-2"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("now", nk.Name) // store nk.Secret where the job reads its key
	// Output:
	// this job uses nightly-backup
	// now nightly-backup-2
}
