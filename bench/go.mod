module github.com/selfhost-sdk/authclient/bench

go 1.25

require (
	github.com/coder/websocket v1.8.15
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/selfhost-sdk/authclient v0.0.0
)

require (
	github.com/google/go-querystring v1.2.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
)

replace github.com/selfhost-sdk/authclient => ../
