package observe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// gelfListener collects GELF messages (UDP datagrams, chunked or not, or
// null-delimited TCP frames).
type gelfListener struct {
	mu     sync.Mutex
	msgs   []map[string]any
	chunks map[string]map[int][]byte
}

func (l *gelfListener) add(data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(data) > 12 && data[0] == 0x1e && data[1] == 0x0f {
		id, seq, n := string(data[2:10]), int(data[10]), int(data[11])
		if l.chunks == nil {
			l.chunks = map[string]map[int][]byte{}
		}
		if l.chunks[id] == nil {
			l.chunks[id] = map[int][]byte{}
		}
		l.chunks[id][seq] = append([]byte(nil), data[12:]...)
		if len(l.chunks[id]) < n {
			return
		}
		var whole []byte
		for i := 0; i < n; i++ {
			whole = append(whole, l.chunks[id][i]...)
		}
		delete(l.chunks, id)
		data = whole
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err == nil {
		l.msgs = append(l.msgs, m)
	}
}

func (l *gelfListener) find(instance, text string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m["_instance"] == instance && strings.Contains(m["short_message"].(string), text) {
			return m
		}
	}
	return nil
}

func listenUDP(t *testing.T) (*gelfListener, string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	l := &gelfListener{}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			l.add(append([]byte(nil), buf[:n]...))
		}
	}()
	return l, pc.LocalAddr().String()
}

func listenTCP(t *testing.T) (*gelfListener, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	l := &gelfListener{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					frame, err := r.ReadBytes(0)
					if err != nil {
						return
					}
					l.add(bytes.TrimSuffix(frame, []byte{0}))
				}
			}()
		}
	}()
	return l, ln.Addr().String()
}

func TestGELFShipsInstanceLogs(t *testing.T) {
	e := connect(t)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			var l *gelfListener
			var addr string
			if proto == "udp" {
				l, addr = listenUDP(t)
			} else {
				l, addr = listenTCP(t)
			}
			in := testInstance(t)
			g := &GELF{Engine: e, Addr: addr, Protocol: proto, ChunkSize: 1000, Host: "testhost"}
			go g.Run(t.Context())
			// A long line (3 chunks over UDP) and short lines on both streams;
			// the container starts after the shipper, as on a running host.
			long := strings.Repeat("x", 2500)
			run(t, in, "web", `trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo "hello $i"; echo "oops $i" >&2; echo "long `+long+`"; sleep 0.2; done`)
			eventually(t, 20*time.Second, "stdout, stderr and long messages at the listener", func() bool {
				return l.find(in, "hello") != nil && l.find(in, "oops") != nil && l.find(in, "long xxx") != nil
			})
			m := l.find(in, "hello")
			for k, want := range map[string]any{"version": "1.1", "host": "testhost", "_instance": in, "_service": "web", "_role": "app", "_container_name": in + "-web", "_stream": "stdout", "level": 6.0} {
				if m[k] != want {
					t.Errorf("field %s = %v, want %v (message %v)", k, m[k], want, m)
				}
			}
			if ts, _ := m["timestamp"].(float64); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
				t.Errorf("timestamp %v is not recent", m["timestamp"])
			}
			if m := l.find(in, "oops"); m["level"] != 3.0 || m["_stream"] != "stderr" {
				t.Errorf("stderr message: level %v stream %v, want 3 stderr", m["level"], m["_stream"])
			}
			if m := l.find(in, "long xxx"); len(m["short_message"].(string)) != len("long ")+len(long) {
				t.Errorf("long message truncated to %d bytes", len(m["short_message"].(string)))
			}
		})
	}
}

// With the GELF input unreachable, the shipper drops messages, and a
// chatty container still stops at once.
func TestGELFUnreachableNeverBlocksStop(t *testing.T) {
	e := connect(t)
	// A Graylog that accepts connections but never reads: writes stall.
	stalled, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	go func() {
		for {
			c, err := stalled.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	// A port nobody listens on: connections are refused.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct{ name, proto, addr string }{
		{"tcp stalled", "tcp", stalled.Addr().String()},
		{"tcp refused", "tcp", refused},
		{"udp refused", "udp", refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInstance(t)
			g := &GELF{Engine: e, Addr: tc.addr, Protocol: tc.proto, Buffer: 100}
			go g.Run(t.Context())
			id := run(t, in, "chatty", `trap 'exit 0' TERM; while :; do echo "line line line line line line line line"; done`)
			eventually(t, 30*time.Second, "messages to be dropped", func() bool {
				_, dropped := g.Stats()
				return dropped > 0
			})
			start := time.Now()
			docker(t, "stop", "-t", "10", id)
			took := time.Since(start)
			sent, dropped := g.Stats()
			t.Logf("docker stop took %s; shipper sent %d, dropped %d", took.Round(time.Millisecond), sent, dropped)
			if took >= 10*time.Second {
				t.Errorf("docker stop took %s while the GELF input is unreachable, want < 10 s", took)
			}
		})
	}
}

func TestChunks(t *testing.T) {
	msg := bytes.Repeat([]byte("a"), 2500)
	tests := []struct {
		name  string
		size  int
		count int
	}{
		{"fits", 3000, 1},
		{"three chunks", 1000, 3},
		{"exactly two", 1250, 2},
		{"over 128 chunks", 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := Chunks(msg, tt.size)
			if len(cs) != tt.count {
				t.Fatalf("%d chunks, want %d", len(cs), tt.count)
			}
			if tt.name == "over 128 chunks" {
				if cs[0] != nil {
					t.Errorf("want nil for a message over 128 chunks")
				}
				return
			}
			l := &gelfListener{}
			var total int
			for _, c := range cs {
				if len(c) > tt.size+12 {
					t.Errorf("chunk of %d bytes > %d", len(c), tt.size+12)
				}
				total += len(c)
			}
			_ = l
			if tt.count > 1 && total != len(msg)+12*tt.count {
				t.Errorf("chunks hold %d bytes, want %d", total, len(msg)+12*tt.count)
			}
		})
	}
}
