package authtest

// The ComfyUI fake's /ws WebSocket: the handshake, frames and status
// messages.

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
)

// serveWS is GET /ws: aiohttp's handshake checks, then ComfyUI's greeting.
func (c *ComfyUI) serveWS(w http.ResponseWriter, r *http.Request) {
	bad := func(text string) { writeText(w, http.StatusBadRequest, "text/plain; charset=utf-8", text) }
	if strings.ToLower(strings.TrimSpace(r.Header.Get("Upgrade"))) != "websocket" {
		bad("No WebSocket UPGRADE hdr: " + comfyPyHeader(r.Header, "Upgrade", false) + "\n Can \"Upgrade\" only to \"WebSocket\".")
		return
	}
	if !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		bad("No CONNECTION upgrade hdr: " + comfyPyHeader(r.Header, "Connection", false))
		return
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" && v != "8" && v != "7" {
		bad("Unsupported version: " + v)
		return
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if !comfyWSKeyOK(key) {
		bad("Handshake error: " + comfyPyHeader(r.Header, "Sec-WebSocket-Key", true))
		return
	}
	sid := r.URL.Query().Get("clientId")
	if sid == "" {
		sid = strings.ReplaceAll(uuid4(), "-", "")
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		comfyWrite500(w)
		return
	}
	sock := &comfySocket{conn: conn, w: brw.Writer, sid: sid}
	sock.mu.Lock() // the greeting goes first, before any routed event
	c.st.mu.Lock()
	if c.st.closed {
		c.st.mu.Unlock()
		sock.mu.Unlock()
		_ = conn.Close()
		return
	}
	c.st.sockets[conn] = sock
	c.st.bySID[sid] = sock // an earlier socket of this id gets no more events
	remaining := len(c.st.pending) + len(c.st.running)
	hint := ""
	if sid == c.st.runSID {
		hint = c.st.runNode
	}
	c.st.mu.Unlock()
	defer func() {
		c.st.mu.Lock()
		delete(c.st.sockets, conn)
		if c.st.bySID[sid] == sock {
			delete(c.st.bySID, sid)
		}
		c.st.mu.Unlock()
		_ = conn.Close()
	}()

	sum := sha1.Sum([]byte(key + comfyWSGUID))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\nServer: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]), comfyServerHeader)
	send := func(event string, data any) error {
		b, err := comfyMarshalPython(comfyObject{{"type", event}, {"data", data}})
		if err != nil {
			return err
		}
		return sock.write(0x1, b)
	}
	greet, _ := comfyMarshalPython(comfyObject{{"type", "status"}, {"data",
		comfyObject{{"status", comfyObject{{"exec_info", comfyObject{{"queue_remaining", remaining}}}}}, {"sid", sid}}}})
	err = comfyWSWrite(brw.Writer, 0x1, greet)
	if err == nil && hint != "" {
		b, _ := comfyMarshalPython(comfyObject{{"type", "executing"}, {"data", comfyObject{{"node", hint}}}})
		err = comfyWSWrite(brw.Writer, 0x1, b)
	}
	sock.mu.Unlock()
	if err != nil {
		return
	}
	first := true
	var msg []byte  // the text message being assembled
	var ignore bool // the message being assembled is binary
	for {
		fin, op, payload, err := comfyWSRead(brw.Reader)
		if err != nil {
			return
		}
		switch op {
		case 0x8: // close: answer with 1000 and hang up
			_ = sock.write(0x8, []byte{0x03, 0xe8})
			return
		case 0x9:
			if sock.write(0xA, payload) != nil {
				return
			}
			continue
		case 0xA:
			continue
		case 0x1, 0x2:
			msg, ignore = nil, op == 0x2
		case 0x0:
		default:
			return
		}
		if ignore {
			continue
		}
		if msg = append(msg, payload...); len(msg) > comfyWSMaxMessage {
			return
		}
		if !fin {
			continue
		}
		data, isObj := comfyDecodeObject(msg)
		if json.Valid(msg) && isObj {
			if t, ok := data.get("type"); first && ok && string(t) == `"feature_flags"` {
				if send("feature_flags", comfyFeatures()) != nil {
					return
				}
			}
			first = false
		}
		msg = nil
	}
}

// comfySocket is one /ws connection; writes are serialised.
type comfySocket struct {
	conn net.Conn
	sid  string
	mu   sync.Mutex
	w    *bufio.Writer
}

// write sends one frame.
func (s *comfySocket) write(op byte, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return comfyWSWrite(s.w, op, payload)
}

// comfyWSKeyOK is aiohttp's check: the key decodes (leniently, as Python's
// base64.b64decode does) to 16 bytes.
func comfyWSKeyOK(key string) bool {
	clean := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=' {
			return r
		}
		return -1
	}, key)
	b, err := base64.StdEncoding.DecodeString(clean)
	return key != "" && err == nil && len(b) == 16
}

// comfyWSRead reads one client frame (masked, as RFC 6455 requires).
func comfyWSRead(r *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	if h[1]&0x80 == 0 {
		return false, 0, nil, fmt.Errorf("unmasked client frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > comfyWSMaxMessage {
		return false, 0, nil, fmt.Errorf("frame too large")
	}
	var mask [4]byte
	if _, err = io.ReadFull(r, mask[:]); err != nil {
		return
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return fin, op, payload, nil
}

// comfyWSWrite writes one unmasked server frame and flushes it.
func comfyWSWrite(w *bufio.Writer, op byte, payload []byte) error {
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, byte(n))
	case n <= math.MaxUint16:
		hdr = append(hdr, 126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return w.Flush()
}
