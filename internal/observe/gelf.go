package observe

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// GELF ships the logs of every instance container to Graylog as GELF 1.1
// (UDP with chunking, or TCP with null-delimited frames), uncompressed.
//
// It reads the logs through the engine's API (follow streams) into a
// bounded buffer: when Graylog is slow or down, messages are dropped and
// counted, never held back, so neither the containers nor the engine ever
// wait for Graylog (unlike the gelf log driver, moby/moby#21966, #50766).
type GELF struct {
	Engine *engine.Engine
	Log    *slog.Logger
	// Addr is host:port of the GELF input; Protocol is "udp" or "tcp".
	Addr     string
	Protocol string
	// Buffer is the number of messages held while sending lags (default 10000).
	Buffer int
	// ChunkSize is the largest UDP datagram payload (default 8192 - 12 header bytes).
	ChunkSize int
	// Host is the GELF host field (default: this host's name).
	Host string
	// Site, when set, limits shipping to the containers of its instances.
	Site *site.Site
	// All ships every container's logs, not only instance containers.
	All bool

	queue     chan []byte
	sent      atomic.Uint64
	dropped   atomic.Uint64
	connected atomic.Bool
	mu        sync.Mutex
	following map[string]bool
	lastTime  map[string]time.Time
	wake      chan struct{}
	once      sync.Once
}

func (g *GELF) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return g.Log
}

// Run ships logs until ctx ends. Containers are discovered at start, on
// every container start event and once a minute.
func (g *GELF) Run(ctx context.Context) {
	g.setup()
	go g.send(ctx)
	g.run(ctx)
}

// setup fills the defaults and makes the queue, once: Collect may run
// before Run.
func (g *GELF) setup() {
	g.once.Do(g.init)
}

func (g *GELF) init() {
	if g.Buffer <= 0 {
		g.Buffer = 10000
	}
	if g.ChunkSize <= 0 {
		g.ChunkSize = 8192 - 12
	}
	if g.Host == "" {
		g.Host, _ = os.Hostname()
	}
	g.queue = make(chan []byte, g.Buffer)
	g.following, g.lastTime = map[string]bool{}, map[string]time.Time{}
	g.wake = make(chan struct{}, 1)
}

func (g *GELF) run(ctx context.Context) {
	go func() {
		backoff := time.Second
		for ctx.Err() == nil {
			o := engine.EventsOptions{Actions: []string{"start"}}
			if !g.All {
				o.Label = label.Instance
			}
			err := g.Engine.ContainerEvents(ctx, o, func(ev engine.ContainerEvent) {
				if ev.Action == "start" {
					g.poke()
				}
			})
			if ctx.Err() != nil {
				return
			}
			g.log().Warn("follow container events", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
		}
	}()
	start := time.Now()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		g.discover(ctx, start)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.wake:
		}
	}
}

func (g *GELF) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *GELF) discover(ctx context.Context, start time.Time) {
	var cs []engine.Container
	var err error
	if g.All {
		cs, err = g.Engine.Containers(ctx, nil)
	} else {
		cs, err = g.Engine.ContainersLabelled(ctx, label.Instance)
	}
	if err == nil && g.Site != nil && !g.All {
		cs, err = siteContainers(g.Site, cs)
	}
	if err != nil {
		g.log().Warn("list containers for log shipping", "err", err)
		return
	}
	for _, c := range cs {
		if c.State != "running" {
			continue
		}
		g.mu.Lock()
		busy := g.following[c.ID]
		since := g.lastTime[c.ID]
		if !busy {
			g.following[c.ID] = true
		}
		g.mu.Unlock()
		if busy {
			continue
		}
		if since.IsZero() {
			since = start // ship what is logged from now on, not the history
		}
		go g.follow(ctx, c, since)
	}
}

// follow reads one container's log until it stops.
func (g *GELF) follow(ctx context.Context, c engine.Container, since time.Time) {
	defer func() {
		g.mu.Lock()
		delete(g.following, c.ID)
		g.mu.Unlock()
	}()
	base := map[string]any{
		"version": "1.1", "host": g.Host,
		"_instance": c.Labels[label.Instance], "_service": c.Service, "_role": c.Labels[label.Role],
		"_container_name": c.Name, "_container_id": c.ID, "_image_name": c.Image,
	}
	mk := func(stream string, level int) *lineWriter {
		return newLineWriter(func(line []byte) {
			ts, text := splitTimestamp(string(line))
			if ts.After(since) || ts.IsZero() {
				g.enqueue(base, stream, level, ts, text)
			}
			if !ts.IsZero() {
				g.mu.Lock()
				if ts.After(g.lastTime[c.ID]) {
					g.lastTime[c.ID] = ts
				}
				g.mu.Unlock()
			}
		})
	}
	out, errw := mk("stdout", 6), mk("stderr", 3)
	sinceArg := fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	if err := g.Engine.Logs(ctx, c.ID, engine.LogsOptions{Follow: true, Timestamps: true, Since: sinceArg}, out, errw); err != nil && ctx.Err() == nil {
		g.log().Warn("follow logs", "container", c.Name, "err", err)
	}
	out.Flush()
	errw.Flush()
}

// splitTimestamp cuts the RFC 3339 time the engine puts before each line.
func splitTimestamp(line string) (time.Time, string) {
	ts, rest, ok := strings.Cut(line, " ")
	if !ok {
		ts, rest = line, ""
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, line
	}
	return t, rest
}

// enqueue encodes a message and queues it, dropping it when the queue is
// full: reading logs never waits for Graylog.
func (g *GELF) enqueue(base map[string]any, stream string, level int, ts time.Time, text string) {
	if strings.TrimSpace(text) == "" {
		return
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	m := make(map[string]any, len(base)+5)
	for k, v := range base {
		m[k] = v
	}
	m["short_message"] = text
	m["timestamp"] = float64(ts.UnixNano()) / 1e9
	m["level"] = level
	m["_stream"] = stream
	data, err := json.Marshal(m)
	if err != nil {
		g.dropped.Add(1)
		return
	}
	select {
	case g.queue <- data:
	default:
		g.dropped.Add(1)
	}
}

// send writes queued messages, reconnecting with backoff.
func (g *GELF) send(ctx context.Context) {
	var conn net.Conn
	backoff := 500 * time.Millisecond
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		var msg []byte
		select {
		case <-ctx.Done():
			return
		case msg = <-g.queue:
		}
		for conn == nil {
			d := net.Dialer{Timeout: 5 * time.Second}
			c, err := d.DialContext(ctx, g.Protocol, g.Addr)
			if err == nil {
				conn, backoff = c, 500*time.Millisecond
				g.connected.Store(true)
				break
			}
			g.connected.Store(false)
			g.log().Debug("connect to GELF input", "addr", g.Addr, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
		if err := g.write(conn, msg); err != nil {
			g.dropped.Add(1)
			g.connected.Store(false)
			g.log().Debug("write to GELF input", "addr", g.Addr, "err", err)
			conn.Close()
			conn = nil
			continue
		}
		g.sent.Add(1)
	}
}

var errTooLarge = errors.New("message needs more than 128 chunks")

func (g *GELF) write(conn net.Conn, msg []byte) error {
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if g.Protocol == "tcp" {
		_, err := conn.Write(append(msg, 0))
		return err
	}
	for _, d := range Chunks(msg, g.ChunkSize) {
		if d == nil {
			return errTooLarge
		}
		if _, err := conn.Write(d); err != nil {
			return err
		}
	}
	return nil
}

// Chunks splits a GELF message into UDP datagrams: the message itself when
// it fits in size bytes, else chunks with the 12-byte GELF chunk header
// (0x1e 0x0f, 8-byte message id, sequence number, count). A message needing
// more than 128 chunks gives a single nil.
func Chunks(msg []byte, size int) [][]byte {
	if len(msg) <= size {
		return [][]byte{msg}
	}
	n := (len(msg) + size - 1) / size
	if n > 128 {
		return [][]byte{nil}
	}
	var id [8]byte
	rand.Read(id[:])
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		part := msg[i*size : min((i+1)*size, len(msg))]
		d := make([]byte, 0, 12+len(part))
		d = append(d, 0x1e, 0x0f)
		d = append(d, id[:]...)
		d = append(d, byte(i), byte(n))
		out = append(out, append(d, part...))
	}
	return out
}

var (
	descGELFSent      = prometheus.NewDesc("dockerbank_gelf_messages_sent_total", "Log messages sent to the GELF input.", nil, nil)
	descGELFDropped   = prometheus.NewDesc("dockerbank_gelf_messages_dropped_total", "Log messages dropped because the GELF input was slow or unreachable.", nil, nil)
	descGELFConnected = prometheus.NewDesc("dockerbank_gelf_connected", "1 while the GELF input accepts messages.", nil, nil)
	descGELFQueue     = prometheus.NewDesc("dockerbank_gelf_queue_messages", "Log messages waiting to be sent.", nil, nil)
)

// Describe implements prometheus.Collector.
func (g *GELF) Describe(ch chan<- *prometheus.Desc) {
	ch <- descGELFSent
	ch <- descGELFDropped
	ch <- descGELFConnected
	ch <- descGELFQueue
}

// Collect implements prometheus.Collector.
func (g *GELF) Collect(ch chan<- prometheus.Metric) {
	g.setup()
	ch <- prometheus.MustNewConstMetric(descGELFSent, prometheus.CounterValue, float64(g.sent.Load()))
	ch <- prometheus.MustNewConstMetric(descGELFDropped, prometheus.CounterValue, float64(g.dropped.Load()))
	c := 0.0
	if g.connected.Load() {
		c = 1
	}
	ch <- prometheus.MustNewConstMetric(descGELFConnected, prometheus.GaugeValue, c)
	ch <- prometheus.MustNewConstMetric(descGELFQueue, prometheus.GaugeValue, float64(len(g.queue)))
}

// Stats returns the sent and dropped counts.
func (g *GELF) Stats() (sent, dropped uint64) { return g.sent.Load(), g.dropped.Load() }
