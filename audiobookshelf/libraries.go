package audiobookshelf

import (
	"context"
	"net/http"
)

// Library is a media library on the server.
type Library struct {
	// ID identifies the library.
	ID string
	// Name is the library's name.
	Name string
	// MediaType is what it holds: "book" or "podcast".
	MediaType string
	// Folders are the library's root folders on the server.
	Folders []string
}

// ListLibraries lists the Audiobookshelf libraries the account can see (GET
// /api/libraries, the call Audiobookshelf's own API-key documentation
// uses). Errors are the core's (a rejected credential matches
// authclient.ErrUnauthorized; a 503 is retried, then matches
// authclient.ErrUnavailable).
func (c *Client) ListLibraries(ctx context.Context) ([]Library, error) {
	core, err := c.client()
	if err != nil {
		return nil, err
	}
	var body struct {
		Libraries []struct {
			ID        string `json:"id"`
			Name      string `json:"name"`
			MediaType string `json:"mediaType"`
			Folders   []struct {
				FullPath string `json:"fullPath"`
			} `json:"folders"`
		} `json:"libraries"`
	}
	if err := core.Do(ctx, http.MethodGet, "api/libraries", nil, &body); err != nil {
		return nil, err
	}
	out := make([]Library, 0, len(body.Libraries))
	for _, l := range body.Libraries {
		lib := Library{ID: l.ID, Name: l.Name, MediaType: l.MediaType}
		for _, f := range l.Folders {
			lib.Folders = append(lib.Folders, f.FullPath)
		}
		out = append(out, lib)
	}
	return out, nil
}
