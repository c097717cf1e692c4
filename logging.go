package authclient

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/hashicorp/go-retryablehttp"
)

func (c *Client) logRequest(_ retryablehttp.Logger, req *http.Request, attempt int) {
	level := slog.LevelDebug
	if attempt > 0 {
		level = slog.LevelInfo
	}
	c.logger.LogAttrs(req.Context(), level, "authclient request",
		slog.String("server", string(c.spec.server)),
		slog.String("method", req.Method),
		slog.String("url", c.redactedURL(req.URL)),
		slog.Int("attempt", attempt+1))
}

func (c *Client) logResponse(_ retryablehttp.Logger, resp *http.Response) {
	level := slog.LevelDebug
	if resp.StatusCode >= 400 {
		level = slog.LevelWarn
	}
	var ctx context.Context = context.Background()
	var method, u string
	if resp.Request != nil {
		ctx, method, u = resp.Request.Context(), resp.Request.Method, c.redactedURL(resp.Request.URL)
	}
	c.logger.LogAttrs(ctx, level, "authclient response",
		slog.String("server", string(c.spec.server)),
		slog.String("method", method),
		slog.String("url", u),
		slog.Int("status", resp.StatusCode))
}
