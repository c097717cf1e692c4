package main_test

import (
	"testing"

	"github.com/selfhost-sdk/authclient/authtest"
)

const (
	komgaEmail = "ci@example.org"
	komgaPass  = "komga-password-0123"
	khojEmail  = "ci@example.org"
	comfyKey   = "comfy-key-0123456789abcdef"
)

// komgaFake is a Komga under /komga with an admin and its key "ci".
func komgaFake(t *testing.T) (*authtest.Komga, string) {
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	t.Cleanup(k.Close)
	k.AddUser(komgaEmail, komgaPass, "ADMIN")
	return k, k.AddAPIKey(komgaEmail, "ci")
}

// absFake is an Audiobookshelf under /abs with root's key "ci".
func absFake(t *testing.T, opts ...authtest.Option) (*authtest.Audiobookshelf, string) {
	a := authtest.NewAudiobookshelf(append([]authtest.Option{authtest.WithPrefix("/abs")}, opts...)...)
	t.Cleanup(a.Close)
	return a, a.AddAPIKey("root", "ci", 0, true)
}

// khojFake is a Khoj under /khoj with a user and its token "ci".
func khojFake(t *testing.T) (*authtest.Khoj, string) {
	k := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
	t.Cleanup(k.Close)
	k.AddUser(khojEmail)
	return k, k.AddToken(khojEmail, "ci")
}

// comfyFake is a ComfyUI under /comfy with its key.
func comfyFake(t *testing.T) *authtest.ComfyUI {
	c := authtest.NewComfyUI(comfyKey, authtest.WithPrefix("/comfy"))
	t.Cleanup(c.Close)
	return c
}

// server is one fake with the environment that signs in to it with a key.
type server struct {
	name   string
	env    []string
	secret string
}

// everyServer starts the four fakes, each with a working key.
func everyServer(t *testing.T) []server {
	k, kkey := komgaFake(t)
	a, akey := absFake(t)
	c := comfyFake(t)
	j, jtok := khojFake(t)
	return []server{
		{"komga", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey}, kkey},
		{"audiobookshelf", []string{"AUDIOBOOKSHELF_URL=" + a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY=" + akey}, akey},
		{"comfyui", []string{"COMFYUI_URL=" + c.URL, "COMFYUI_API_KEY=" + comfyKey}, comfyKey},
		{"khoj", []string{"KHOJ_URL=" + j.URL, "KHOJ_API_KEY=" + jtok}, jtok},
	}
}

// authtestClosedURL is the URL of a server that no longer listens.
func authtestClosedURL(t *testing.T) string {
	k := authtest.NewKomga(authtest.WithPrefix("/gone"))
	u := k.URL
	k.Close()
	return u
}
