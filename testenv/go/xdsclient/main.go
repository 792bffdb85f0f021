// Command xdsclient is gRPC-Go's own xDS client, for podreg's xDS server
// tests: it resolves -target (xds:///echo) through the xDS server named by the
// bootstrap in GRPC_XDS_BOOTSTRAP_CONFIG (or GRPC_XDS_BOOTSTRAP), which
// grpc-go reads itself, and calls /podreg.test.Echo/Echo
// (test/fixtures/echo.proto) every -interval until SIGTERM, SIGINT or the
// end of stdin (a test that dies without stopping it still ends it).
//
// stdout carries one JSON line per call:
//
//	{"ok":true,"server":"<EchoReply.server>","peer":"<address called>"}
//	{"ok":false,"error":"<status code>: <message>"}
//
// grpc-go's own logs go to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and the xDS balancers
)

// rawCodec passes bytes through, so the two tiny messages are written and read
// with protowire and the client needs no generated code. Named "proto" so the
// server sees an ordinary application/grpc+proto call.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...) // grpc may reuse data's buffer
	return nil
}
func (rawCodec) Name() string { return "proto" }

// echoRequest encodes EchoRequest{message: msg}.
func echoRequest(msg string) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendString(b, msg)
}

// replyServer decodes EchoReply.server (field 1), skipping anything else.
func replyServer(b []byte) (string, error) {
	server := ""
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			s, m := protowire.ConsumeString(b)
			if m < 0 {
				return "", protowire.ParseError(m)
			}
			server, b = s, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return "", protowire.ParseError(m)
		}
		b = b[m:]
	}
	return server, nil
}

func main() {
	target := flag.String("target", "", "gRPC target, e.g. xds:///echo")
	interval := flag.Duration("interval", 20*time.Millisecond, "pause between calls")
	timeout := flag.Duration("timeout", time.Second, "deadline of each call")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "xdsclient: -target is required")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	conn, err := grpc.NewClient(*target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fmt.Fprintf(os.Stderr, "xdsclient: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close()

	// os.Stdout is unbuffered and Encode makes one write per line: each line
	// reaches the test as soon as the call ends.
	out := json.NewEncoder(os.Stdout)
	req := echoRequest("ping")
	for ctx.Err() == nil {
		line := call(ctx, conn, req, *timeout)
		if ctx.Err() != nil {
			break // a call cut short by shutdown says nothing about the server
		}
		if err := out.Encode(line); err != nil {
			os.Exit(1) // nobody reads stdout any more
		}
		select {
		case <-ctx.Done():
		case <-time.After(*interval):
		}
	}
}

// Structs rather than maps: the fields keep the documented order.
type okLine struct {
	OK     bool   `json:"ok"`
	Server string `json:"server"`
	Peer   string `json:"peer"`
}

type errLine struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func call(ctx context.Context, conn *grpc.ClientConn, req []byte, timeout time.Duration) any {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var reply []byte
	var p peer.Peer
	if err := conn.Invoke(ctx, "/podreg.test.Echo/Echo", &req, &reply, grpc.Peer(&p)); err != nil {
		s := status.Convert(err)
		return errLine{Error: fmt.Sprintf("%s: %s", s.Code(), s.Message())}
	}
	server, err := replyServer(reply)
	if err != nil {
		return errLine{Error: fmt.Sprintf("Internal: bad EchoReply: %v", err)}
	}
	addr := ""
	if p.Addr != nil {
		addr = p.Addr.String()
	}
	return okLine{OK: true, Server: server, Peer: addr}
}
